"""Sweeps: keys parsed and applied to the instance, points planned like separate solves, in point order.

The sweeps run ``pooled`` (a deterministic heuristic, a fraction of a second a point) on the
bundled tiny instance: one gpt-oss-120b tenant at 10 requests/s of 1024 in / 1024 out on
hgx-b200 racks of 32 GPUs at the catalog's $1.95/GPU-hour (hyperscaler), so one rack costs
32 x $1.95 = $62.40/hour. At demand x1 one rack serves the tenant; at x40 (400 requests/s,
819,200 tokens/s) pooled opens two, $124.80/hour (the separate pooled call says the same).
"""

from __future__ import annotations

import csv
import io
import json
import sys
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest

from repo_paths import EXAMPLES

from optimizer.cli import main
from optimizer.compare import AGGREGATED, FLEET
from optimizer.evaluate import evaluate
from optimizer.executor import Executor, check_executor
from optimizer.instance import Instance, InstanceError
from optimizer.report.sweep import write_sweep_report
from optimizer.sweep import (
    Axis,
    check_keys,
    grid,
    parse_axis,
    point_variant,
    run_sweep,
    sweep_csv,
)
from solvers.heuristics import pooled

TINY = EXAMPLES / "tiny.toml"


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def without_runtime(text: str) -> list[dict[str, str]]:
    """The CSV rows less ``runtime_s``, the one column that differs from run to run."""
    return [{k: v for k, v in row.items() if k != "runtime_s"} for row in rows(text)]


# -- keys -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "axis"), [
    ("demand=1,1.5,2", Axis("demand", (1.0, 1.5, 2.0))),
    ("demand.acme-chat=0.5", Axis("demand.acme-chat", (0.5,))),
    ("price.hgx-b200=0.8, 1", Axis("price.hgx-b200", (0.8, 1.0))),
    ("ttft.chat=0.5,2", Axis("ttft.chat", (0.5, 2.0))),
    ("interactivity.chat=20", Axis("interactivity.chat", (20.0,))),
    ("power.us-east=1.5,3", Axis("power.us-east", (1.5, 3.0))),
    ("fleet=own,hgx-h200,aggregated", Axis("fleet", ("own", "hgx-h200", "aggregated"))),
])
def test_a_good_key_parses_to_its_values(text: str, axis: Axis) -> None:
    assert parse_axis(text) == axis


@pytest.mark.parametrize(("text", "path", "reason"), [
    ("demand", "--vary demand", "not KEY=V1,V2"),
    ("=1,2", "--vary", "not KEY=V1,V2"),
    ("demand=", "--vary demand", "needs values"),
    ("demand=1,,2", "--vary demand", "needs values"),
    ("demand=1,1", "--vary demand", "repeats a value"),
    ("demand=abc", "--vary demand", "'abc' is not a number"),
    ("demand=-1", "--vary demand", "not a finite number > 0"),
    ("demand=0", "--vary demand", "not a finite number > 0"),
    ("demand=nan", "--vary demand", "not a finite number > 0"),
    ("demand=inf", "--vary demand", "not a finite number > 0"),
    ("price=0.8", "--vary price", "unknown key"),
    ("fleet.x=own", "--vary fleet.x", "unknown key"),
    ("demands=2", "--vary demands", "unknown key"),
])
def test_a_bad_key_or_value_names_the_key(text: str, path: str, reason: str) -> None:
    with pytest.raises(InstanceError) as raised:
        parse_axis(text)
    assert [p for p, _ in raised.value.problems] == [path]
    assert reason in raised.value.problems[0][1]


@pytest.mark.parametrize(("text", "reason"), [
    ("demand.nobody=2", "unknown tenant 'nobody'"),
    ("price.gb300-nvl72=0.8", "unknown system in the fleet 'gb300-nvl72'"),
    ("ttft.chat=0.5", "unknown SLO class 'chat'"),  # tiny's tenant has no SLO class
    ("power.dc2=1", "unknown site 'dc2'"),
    ("fleet=own,hgx-b300x", "unknown fleet option 'hgx-b300x'"),
])
def test_a_key_whose_target_the_instance_lacks_is_refused(tiny: Instance, text: str, reason: str) -> None:
    axis = parse_axis(text)
    with pytest.raises(InstanceError) as raised:
        check_keys(tiny, [axis])
    assert raised.value.problems[0][0] == f"--vary {axis.key}"
    assert reason in raised.value.problems[0][1]


def test_the_targets_the_instance_has_pass(tiny: Instance) -> None:
    """Control: the same kinds of key, naming what tiny has (a system of a ``fleet`` value may be priced)."""
    check_keys(tiny, [parse_axis(t) for t in ("demand.acme-chat=2", "price.hgx-b200=0.8", "power.dc1=1",
                                              "fleet=own,hgx-h200", "price.hgx-h200=0.5")])


# -- each key's effect ----------------------------------------------------------------------


def changed(instance: Instance, *pairs: tuple[str, float | str], method: str = "highs") -> Instance:
    return point_variant(instance, tuple(pairs), method).instance


def test_demand_scales_every_tenant_and_demand_tenant_one(enterprise_mix: Instance) -> None:
    doubled = changed(enterprise_mix, ("demand", 2.0))
    assert [t.requests_per_s for t in doubled.tenants] == [2 * t.requests_per_s for t in enterprise_mix.tenants]
    one = changed(enterprise_mix, ("demand.acme-chat", 1.5))
    for before, after in zip(enterprise_mix.tenants, one.tenants, strict=True):
        assert after.requests_per_s == before.requests_per_s * (1.5 if before.name == "acme-chat" else 1)
        assert after.demand_profile == before.demand_profile


def test_price_scales_the_gpu_hour_of_that_system_only(enterprise_mix: Instance) -> None:
    cheaper = changed(enterprise_mix, ("price.gb300-nvl72", 0.8))
    for before, after in zip(enterprise_mix.fleet, cheaper.fleet, strict=True):
        factor = 0.8 if before.system == "gb300-nvl72" else 1.0
        assert cheaper.usd_per_gpu_hour(after) == pytest.approx(factor * enterprise_mix.usd_per_gpu_hour(before))
    assert any(e.system == "gb300-nvl72" for e in enterprise_mix.fleet)


def test_ttft_and_interactivity_set_the_promise_of_one_slo_class(enterprise_mix: Instance) -> None:
    tight = changed(enterprise_mix, ("ttft.chat", 0.5), ("interactivity.chat", 80.0))
    for before, after in zip(enterprise_mix.tenants, tight.tenants, strict=True):
        chat = before.slo_class == "chat"
        assert after.ttft_s == (0.5 if chat else before.ttft_s)
        assert after.min_tokens_per_s_per_user == (80.0 if chat else before.min_tokens_per_s_per_user)
    assert sum(t.slo_class == "chat" for t in enterprise_mix.tenants) >= 2


def test_power_sets_one_site(enterprise_mix: Instance) -> None:
    more = changed(enterprise_mix, ("power.us-east", 4.0))
    assert {s.name: s.power_mw for s in more.sites} == {
        s.name: 4.0 if s.name == "us-east" else s.power_mw for s in enterprise_mix.sites}


def test_fleet_picks_compares_option_and_prices_apply_after_it(tiny: Instance) -> None:
    """``fleet=hgx-h200``, a system tiny's fleet lacks: compare's 'hgx-h200 alone, unlimited' (catalog
    prices, $1.41/GPU-hour), then priced; ``fleet=hgx-b200``, its own system: the fleet's racks of it."""
    assert point_variant(tiny, (("fleet", "hgx-b200"),), "highs").name == "hgx-b200 alone"
    alone = point_variant(tiny, (("fleet", "hgx-h200"), ("price.hgx-h200", 0.5)), "highs")
    assert alone.name == "hgx-h200 alone, unlimited"
    assert [(e.system, e.site) for e in alone.instance.fleet] == [("hgx-h200", "dc1")]
    assert alone.instance.usd_per_gpu_hour(alone.instance.fleet[0]) == pytest.approx(0.5 * 1.41)
    assert point_variant(tiny, (("fleet", "own"),), "highs").name == FLEET
    aggregated = point_variant(tiny, (("fleet", "aggregated"),), "highs")
    assert (aggregated.name, aggregated.aggregated_only) == (AGGREGATED, True)
    assert point_variant(tiny, (("fleet", "siloed"),), "highs").method == "siloed"


def test_a_point_past_the_file_formats_limits_names_the_point(tiny: Instance) -> None:
    """requests_per_s is at most 100,000: 10 x 20,000 = 200,000 is refused; x1,000 is fine."""
    with pytest.raises(InstanceError) as raised:
        changed(tiny, ("demand", 20_000.0))
    assert raised.value.problems[0][0] == "--vary demand=20000"
    assert "tenants[0].requests_per_s" in raised.value.problems[0][1]
    assert changed(tiny, ("demand", 1_000.0)).tenants[0].requests_per_s == 10_000.0


def test_the_grid_is_every_combination_first_key_slowest_or_zipped() -> None:
    demand, fleet = Axis("demand", (1.0, 2.0)), Axis("fleet", ("own", "hgx-h200"))
    assert grid([demand, fleet]) == [
        (("demand", 1.0), ("fleet", "own")), (("demand", 1.0), ("fleet", "hgx-h200")),
        (("demand", 2.0), ("fleet", "own")), (("demand", 2.0), ("fleet", "hgx-h200")),
    ]
    assert grid([demand, fleet], zip_values=True) == [(("demand", 1.0), ("fleet", "own")),
                                                      (("demand", 2.0), ("fleet", "hgx-h200"))]
    with pytest.raises(InstanceError, match="same number of values"):
        grid([demand, Axis("fleet", ("own",))], zip_values=True)
    with pytest.raises(InstanceError, match="varied twice"):
        grid([demand, demand])


# -- running --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pooled_sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """``tenantplan sweep tiny --vary demand=1,40 --method pooled --workers 2``: (DIR, its sweep.csv)."""
    out = tmp_path_factory.mktemp("sweep") / "out"
    code = main(["sweep", str(TINY), "--vary", "demand=1,40", "--method", "pooled", "--time-limit", "5",
                 "--workers", "2", "--out", str(out)])
    assert code == 0
    return out, (out / "sweep.csv").read_text()


def test_a_sweep_row_is_the_separate_solve_of_that_points_instance(
    pooled_sweep: tuple[Path, str], tiny: Instance
) -> None:
    found = rows(pooled_sweep[1])
    assert [r["demand"] for r in found] == ["1", "40"]
    assert [float(r["usd_per_hour"]) for r in found] == pytest.approx([62.4, 124.8])  # module docstring
    for row, factor in zip(found, (1.0, 40.0), strict=True):
        instance = changed(tiny, ("demand", factor), method="pooled")
        result = pooled(instance, time_limit=5, seed=0, threads=1, performance=None)
        assert result.plan is not None
        report = evaluate(instance, result.plan)
        assert float(row["usd_per_hour"]) == report.usd_per_hour
        assert float(row["usd_per_mtok"]) == report.usd_per_mtok
        assert (int(row["racks"]), int(row["gpus"]), row["status"], row["violations"]) == (
            report.num_racks, report.gpus, result.status.value, "0")


def test_one_worker_and_two_give_the_same_csv(pooled_sweep: tuple[Path, str], tiny: Instance) -> None:
    serial = run_sweep(tiny, [parse_axis("demand=1,40")], method="pooled", time_limit=5, workers=1)
    assert without_runtime(sweep_csv(serial)) == without_runtime(pooled_sweep[1])


def test_each_points_plan_and_row_are_written_and_the_page_has_its_figure(pooled_sweep: tuple[Path, str]) -> None:
    out, _ = pooled_sweep
    assert sorted(p.name for p in (out / "plans").iterdir()) == ["00000.json", "00001.json"]
    assert len(json.loads((out / "plans" / "00001.json").read_text())["racks"]) == 2
    page = ET.parse(out / "sweep.html").getroot()  # the page is well-formed XML
    titles = [t.text for t in page.iter("title")]
    assert "$/Mtok against demand" in titles
    assert {p.name for p in out.iterdir()} == {"sweep.csv", "sweep.html", "plans", "points"}


def test_resume_reads_back_the_points_of_the_same_sweep_only(tiny: Instance, tmp_path: Path) -> None:
    axes = [parse_axis("demand=1,40")]
    first = run_sweep(tiny, axes, method="pooled", time_limit=5, workers=1, out=tmp_path)
    saved = tmp_path / "points" / "00000.json"
    marked = json.loads(saved.read_text())
    marked["row"]["usd_per_hour"] = 1.0  # a figure no solve gives: seen again only if read back
    saved.write_text(json.dumps(marked))
    resumed = run_sweep(tiny, axes, method="pooled", time_limit=5, workers=1, out=tmp_path, resume=True)
    assert resumed.rows == (replace(first.rows[0], usd_per_hour=1.0), first.rows[1])
    other = run_sweep(tiny, axes, method="pooled", time_limit=6, workers=1, out=tmp_path, resume=True)
    assert other.rows[0].usd_per_hour == 62.4  # another time limit: another sweep, planned again


def test_the_cheapest_fleet_figure_colours_each_point_by_its_winner(tiny: Instance, tmp_path: Path) -> None:
    """hgx-h200 racks cost 32 x $1.41 = $45.12/hour against hgx-b200's $62.40: at demand x1 one
    rack of either serves the tenant, so hgx-h200 alone wins at $45.12 / 73.728 Mtok/hour
    (10 x 2,048 tokens/s x 3,600 s) = $0.612/Mtok."""
    sweep = run_sweep(tiny, [parse_axis("demand=1"), parse_axis("fleet=own,hgx-h200")], method="pooled",
                      time_limit=5, workers=1)
    assert [r.usd_per_hour for r in sweep.rows] == pytest.approx([62.4, 45.12])
    page = ET.parse(write_sweep_report(sweep, tmp_path)).getroot()
    chart = next(svg for svg in page.iter("svg") if svg.find("title").text == "Cheapest fleet option per point")
    assert "demand=1, hgx-h200: 0.612" in [t.text for t in chart.iter("title")]


# -- the command line -----------------------------------------------------------------------


def test_a_bad_key_is_exit_2_naming_it_and_nothing_is_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["sweep", str(TINY), "--vary", "demand=1,x", "--out", str(out)]) == 2
    assert "--vary demand: 'x' is not a number" in capsys.readouterr().err
    assert main(["sweep", str(TINY), "--vary", "power.nowhere=1", "--out", str(out)]) == 2
    assert "--vary power.nowhere: unknown site 'nowhere'" in capsys.readouterr().err
    assert not out.exists()


def test_an_out_that_is_a_file_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep", str(TINY), "--vary", "demand=1", "--out", str(TINY)]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_ray_without_ray_installed_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    with pytest.raises(InstanceError) as raised:
        check_executor("ray", None)
    assert raised.value.problems == [("--executor", "'ray' needs Ray, which is not installed: "
                                                    "pip install 'tenantplan[ray]'")]
    check_executor("local", 2)  # control


def square(offset: int, x: int) -> int:
    return x * x + offset


def test_one_worker_runs_here_and_hands_back_every_result_with_its_index() -> None:
    """(The pool of two is the fixture's sweep.)"""
    with Executor("local", 1) as pool:
        assert pool.serial
        assert list(pool.as_completed(square, 1, [1, 2, 3])) == [(0, 2), (1, 5), (2, 10)]
    with pytest.raises(InstanceError, match="--workers"):
        Executor("local", 0)


def test_ray_gives_the_same_rows_as_the_local_pool(pooled_sweep: tuple[Path, str], tiny: Instance) -> None:
    pytest.importorskip("ray")
    on_ray = run_sweep(tiny, [parse_axis("demand=1,40")], method="pooled", time_limit=5, executor="ray", workers=2)
    assert without_runtime(sweep_csv(on_ray)) == without_runtime(pooled_sweep[1])
