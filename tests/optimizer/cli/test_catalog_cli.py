"""``tenantplan catalog``: every id of the catalog CSVs, with sources; suggestions for unknown ids."""

from __future__ import annotations

import csv
import json

import pytest

from repo_paths import ROOT

from optimizer.cli import EXIT_BAD_INPUT, main
from optimizer.instance import closest, unknown_reason
from optimizer.methods import get_method

CATALOG = ROOT / "instances" / "catalog"


def _ids(name: str) -> list[str]:
    with open(CATALOG / name, newline="", encoding="utf-8") as handle:
        return [row["id"] for row in csv.DictReader(handle)]


def test_catalog_json_lists_every_system_and_model_of_the_csvs_with_its_source(capsys):
    assert main(["catalog", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert [s["id"] for s in payload["systems"]] == _ids("systems.csv")
    assert [m["id"] for m in payload["models"]] == _ids("models.csv")
    assert all(row["source"] for kind in ("systems", "models") for row in payload[kind])


def test_catalog_text_names_one_kind_with_its_sources(capsys):
    assert main(["catalog", "models"]) == 0
    out = capsys.readouterr().out
    assert all(f"  {model}: " in out for model in _ids("models.csv"))  # one source line each
    assert "gb200-nvl72" not in out and "systems (" not in out
    assert main(["catalog", "gpus"]) == EXIT_BAD_INPUT  # control: only systems or models


@pytest.mark.parametrize(
    "typed, meant",
    [
        ("gb200", "gb200-nvl72"),  # a substring wins over a closer spelling (hgx-b200)
        ("GB300", "gb300-nvl72"),  # case does not matter
        ("hgx-b20", "hgx-b200"),
        ("hgx-b2000", "hgx-b200"),  # no id contains it: the nearest spelling
        ("tpu-v5", None),  # nothing close
    ],
)
def test_suggestions_match_substrings_then_spelling(typed, meant):
    assert closest(typed, _ids("systems.csv")) == meant


def test_every_unknown_id_message_uses_the_one_suggestion(capsys):
    assert unknown_reason("system", "gb200", _ids("systems.csv")) == "unknown system 'gb200'; did you mean 'gb200-nvl72'?"
    with pytest.raises(KeyError, match="did you mean 'pooled'"):
        get_method("pool")
    code = main(["perf", "--model", "gpt-oss-120b", "--system", "gb200", "--precision", "fp4", "--isl", "1024",
                 "--osl", "1024", "--interactivity", "50"])
    assert code == EXIT_BAD_INPUT and "did you mean 'gb200-nvl72'" in capsys.readouterr().err
