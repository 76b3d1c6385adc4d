"""The benchmark harness: rows re-priced and re-checked, summaries, CSV, known-best table, CLI.

The "pair" instance (``performance = "profiles"``): two gpt-oss-120b tenants of
1000:1000 tokens with opposite peaks (3 requests/s in one of two scenarios, 0.6
in the other) and one 64-GPU aggregated profile serving 5 requests/s, on GB200
NVL72 racks at $2.21/GPU-hour ($159.12/hour a rack). Siloed: one replica each,
two racks, $318.24/hour. Pooled: peak 3.6 requests/s, one replica, one rack,
$159.12/hour.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from optimizer.harness import (
    BenchRow,
    capacity_fingerprint,
    format_rows,
    read_known_best,
    rows_to_csv,
    run_bench,
    summarize,
    update_known_best,
)
from optimizer.cli import main
from optimizer.performance import PerformanceModel

RACK_USD = 72 * 2.21
PAIR = {
    "name": "pair",
    "performance": "profiles",
    "sites": [{"name": "dc"}],
    "fleet": [{"system": "gb200-nvl72", "site": "dc"}],
    "tenants": [
        {"name": name, "model": "gpt-oss-120b", "requests_per_s": 3.0, "input_tokens": 1000,
         "output_tokens": 1000, "ttft_s": 2.0, "min_tokens_per_s_per_user": 40.0, "demand_profile": profile}
        for name, profile in (("day", [1.0, 0.2]), ("night", [0.2, 1.0]))
    ],
    "profiles": [{
        "model": "gpt-oss-120b", "system": "gb200-nvl72", "precision": "fp4", "role": "aggregated",
        "gpus": 64, "tokens_per_s_per_user": 50.0, "ttft_s": 1.0, "input_tokens_per_s": 5000.0,
        "output_tokens_per_s": 5000.0, "input_tokens": 1000, "output_tokens": 1000,
    }],
}
METHODS = ["siloed", "pooled", "pooled-aggregated"]


@pytest.fixture
def pair_file(tmp_path: Path) -> Path:
    path = tmp_path / "instances" / "pair.json"
    path.parent.mkdir()
    path.write_text(json.dumps(PAIR))
    return path


def row(instance: str, method: str, usd: float | None, violations: int | None = 0, bound: float | None = None,
        scope: str = "all", gap: float | None = None) -> BenchRow:
    return BenchRow(instance, method, "feasible", violations, usd, None, None, None, None, bound, gap, 1.0, 0,
                    bound_scope=None if bound is None else scope, bound_solver=None if bound is None else "highs")


def test_one_row_per_method_priced_and_checked(pair_file: Path):
    rows = run_bench([pair_file.parent], METHODS)  # a directory is expanded to its files
    assert [(r.instance, r.method) for r in rows] == [("pair", m) for m in METHODS]
    assert all(r.violations == 0 and r.status == "feasible" for r in rows)
    assert [r.usd_per_hour for r in rows] == pytest.approx([2 * RACK_USD, RACK_USD, RACK_USD])
    assert [r.racks for r in rows] == [2, 1, 1]
    assert [r.gpus for r in rows] == [144, 72, 72]
    # pooled at the peak: 3.6 requests/s of 5 on one 64-GPU replica = 0.72 x 64 GPUs busy of 72
    assert rows[1].utilisation == pytest.approx(0.72 * 64 / 72)
    # $/Mtok: both scenarios carry 3 + 0.6 = 3.6 requests/s x 2000 tokens x 3600 s = 25.92 Mtok/hour
    assert rows[1].usd_per_mtok == pytest.approx(RACK_USD / 25.92)


def test_summary_is_the_geometric_mean_of_cost_over_the_best():
    # instance a: best 100 (pooled); b: best 50 (pooled). siloed: 200/100 = 2 and 200/50 = 4,
    # geometric mean sqrt(2 x 4) = 2.828...; the broken plan of 'fast' on b is not counted.
    rows = [
        row("a", "siloed", 200.0), row("a", "pooled", 100.0), row("a", "fast", 150.0),
        row("b", "siloed", 200.0), row("b", "pooled", 50.0), row("b", "fast", 10.0, violations=3),
    ]
    summary = {s.method: s for s in summarize(rows)}
    assert summary["siloed"].geomean_ratio == pytest.approx(8**0.5)
    assert summary["pooled"].geomean_ratio == pytest.approx(1.0) and summary["pooled"].best == 2
    assert summary["fast"].geomean_ratio == pytest.approx(1.5) and summary["fast"].valid == 1


def test_rows_become_csv_and_markdown():
    rows = [row("a", "pooled", 100.0), row("a", "mip", None, violations=None, bound=90.0)]
    parsed = list(csv.DictReader(rows_to_csv(rows).splitlines()))
    assert [r["method"] for r in parsed] == ["pooled", "mip"]
    assert parsed[1]["usd_per_hour"] == "" and parsed[1]["bound"] == "90.0"
    table = format_rows(rows).splitlines()
    assert len(table) == 4 and table[2].startswith("| a | pooled | feasible | 0 | 100.00 |")
    # a bound over all with a stronger one over the shortlist: both gaps, the shortlist's named
    both = replace(row("a", "mip", 100.0, bound=80.0, gap=0.2), shortlist_gap=0.05)
    assert "| all (highs) | 20.00% (5.00% over the shortlist) |" in format_rows([both])
    assert list(csv.DictReader(rows_to_csv([both]).splitlines()))[0]["shortlist_gap"] == "0.05"


def test_known_best_keeps_the_cheapest_valid_plan_and_the_highest_bound(tmp_path: Path):
    path = tmp_path / "known_best.csv"
    changed = update_known_best(path, [row("a", "siloed", 200.0), row("a", "pooled", 100.0)], "abc1234", "2026-01-01", 60)
    assert changed == ["a"]
    assert read_known_best(path)["a"]["usd_per_hour"] == "100.0000"
    # a dearer plan, a broken cheaper plan, a bound and a higher bound over a shortlist only: only
    # the bound is taken
    later = [row("a", "x", 150.0), row("a", "y", 50.0, violations=2), row("a", "mip", None, None, bound=95.0),
             row("a", "mip", None, None, bound=99.0, scope="shortlist")]  # no bound over every plan
    update_known_best(path, later, "def5678", "2026-01-02", 60)
    entry = read_known_best(path)["a"]
    assert (entry["usd_per_hour"], entry["method"], entry["commit"], entry["bound"]) == (
        "100.0000", "pooled", "abc1234", "95.0000",
    )


def test_known_best_under_other_capacities_is_replaced(tmp_path: Path):
    """A refitted performance model changes every capacity: the old best plan (100) and bound
    (95) say nothing about the new model, so a dearer plan and a lower bound replace them, and
    an instance not measured again is dropped."""
    path = tmp_path / "known_best.csv"
    update_known_best(path, [row("a", "pooled", 100.0, bound=95.0), row("b", "pooled", 10.0)], "abc1234",
                      "2026-01-01", 60, capacities="old")
    assert update_known_best(path, [row("a", "mip", 120.0, bound=80.0)], "def5678", "2026-01-02", 60,
                             capacities="new") == ["a"]
    known = read_known_best(path)
    assert list(known) == ["a"]
    assert (known["a"]["usd_per_hour"], known["a"]["bound"], known["a"]["capacities"]) == ("120.0000", "80.0000", "new")


def test_capacity_fingerprint_follows_the_models_answers_not_its_code() -> None:
    """The fingerprint is what the performance model answers on a fixed probe grid: a fresh model
    gives the same digits, one that answers otherwise (planned at confidence 0.5, not 0.8)
    others. Source text plays no part (a docstring once dropped every known best: 0e420c3)."""
    fingerprint = capacity_fingerprint()
    assert re.fullmatch("[0-9a-f]{12}", fingerprint)
    assert capacity_fingerprint(PerformanceModel(None)) == fingerprint
    assert capacity_fingerprint(PerformanceModel(None, confidence=0.5)) != fingerprint


def test_cli_prints_the_table_writes_csv_and_exits_0(pair_file: Path, tmp_path: Path, capsys):
    out = tmp_path / "results.csv"
    assert main(["bench", str(pair_file), "--methods", "siloed,pooled", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| pair | pooled | feasible | 0 | 159.12 |" in printed
    assert "| siloed | 1 | 1 | 0 | 2.0000 |" in printed
    assert [r["method"] for r in csv.DictReader(out.read_text().splitlines())] == ["siloed", "pooled"]


def test_cli_refuses_unknown_methods_and_missing_files_with_exit_2(pair_file: Path, tmp_path: Path):
    assert main(["bench", str(pair_file), "--methods", "pooledd"]) == 2
    assert main(["bench", str(tmp_path / "nowhere.json"), "--methods", "pooled"]) == 2
    assert main(["bench", str(pair_file), "--methods", "pooled", "--json"]) == 0  # control

