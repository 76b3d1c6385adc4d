"""``tenantplan validate`` and ``tenantplan schema``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from repo_paths import DATA, EXAMPLES, ROOT

from optimizer.cli import main
from optimizer.cli.schema import field_tables
from optimizer.instance import Instance

BAD = DATA / "bad"


def test_validate_summarises_a_good_instance(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(EXAMPLES / "enterprise-mix.toml")]) == 0
    out = capsys.readouterr().out
    assert "enterprise-mix.toml: valid" in out
    for expected in ("deepseek-r1", "premium-chat", "gb300-nvl72", "site eu-west (1.2 MW budget)",
                     "scenarios: 24, equal weights"):
        assert expected in out
    assert len(out.splitlines()) <= 40  # one screen


def test_validate_json_figures(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--json", str(EXAMPLES / "two-tenants-profiles.toml")]) == 0
    report = json.loads(capsys.readouterr().out)  # stdout is JSON alone
    (entry,) = report["files"]
    assert entry["valid"]
    summary = entry["summary"]
    assert summary["scenarios"] == 2
    assert summary["weights"] == pytest.approx([2 / 3, 1 / 3])
    total = summary["total"]
    # weighted mean input: chat 20 req/s x 1024 x (2/3 x 1.25 + 1/3 x 0.5 = 1.0) = 20,480 tok/s,
    # summaries 10 x 8192 x (2/3 x 0.5 + 1/3 x 2.0 = 1.0) = 81,920; 102,400 tok/s = 368.64 Mtok/h
    assert total["mean_input_mtok_per_hour"] == pytest.approx(368.64)
    # night (scenario 1): chat 10 req/s, summaries 20 req/s
    #   input 10 x 1024 + 20 x 8192 = 174,080 tok/s = 626.688 Mtok/h
    #   output (10 + 20) x 1024 = 30,720 tok/s = 110.592 Mtok/h; the day has 97,280 tok/s in all
    assert total["peak_scenario"] == 1
    assert total["peak_input_mtok_per_hour"] == pytest.approx(626.688)
    assert total["peak_output_mtok_per_hour"] == pytest.approx(110.592)
    (site,) = summary["sites"]
    (entry,) = site["fleet"]
    # hgx-b200: 32 GPUs x 2.17 kW all-in = 69.44 kW per rack
    assert entry["allin_mw_per_rack"] == pytest.approx(0.06944)
    assert entry["usd_per_gpu_hour"] == 1.95


def test_validate_reports_each_of_several_files(capsys: pytest.CaptureFixture[str]) -> None:
    good, bad = EXAMPLES / "tiny.toml", BAD / "unknown-model.toml"
    assert main(["validate", str(good), str(good)]) == 0  # control
    capsys.readouterr()
    assert main(["validate", str(good), str(bad)]) == 2
    captured = capsys.readouterr()
    assert f"{good}: valid" in captured.out
    assert f"{bad}: invalid input (1 problem(s))" in captured.err


def test_validate_json_lists_problems(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--json", str(BAD / "field-and-reference-errors.toml")]) == 2
    captured = capsys.readouterr()
    (entry,) = json.loads(captured.out)["files"]
    assert not entry["valid"]
    assert [p["path"] for p in entry["problems"]] == ["tenants[0].ttft_s", "tenants[1].model"]
    assert captured.err == ""


@pytest.mark.parametrize("command", ["validate", "schema"])
def test_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    assert "usage: tenantplan" in capsys.readouterr().out


def test_schema_prints_the_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out) == Instance.model_json_schema()


def test_schema_writes_a_file(tmp_path: Path) -> None:
    target = tmp_path / "out" / "instance.schema.json"
    assert main(["schema", "-o", str(target)]) == 0
    assert json.loads(target.read_text()) == Instance.model_json_schema()
    assert [p.name for p in target.parent.iterdir()] == ["instance.schema.json"]  # no temp left


def test_docs_field_reference_is_current() -> None:
    """docs/instance-format.md carries the generated tables; regenerate with
    ``tenantplan schema --markdown`` when a field changes."""
    assert field_tables() in (ROOT / "docs" / "instance-format.md").read_text()


def test_every_field_is_documented() -> None:
    tables = field_tables()
    assert "|  |" not in tables  # no empty meaning column
