"""compare(): every option planned, priced by the evaluator, the cheapest found and explained.

The instance ``tests/data/compare/two-systems.toml`` is small enough to solve by hand. Both
tenants run llama-3.3-70b at 1024 in / 1024 out on measured 8-GPU aggregated replicas:
an H200 replica serves 4,096 tokens/s, a GB200 replica 16,384. ``big`` sends 19,456 tokens/s;
``vault`` 3,072 tokens/s on racks of its own (``dedicated-rack``). Racks at catalog prices:
hgx-h200 32 GPUs x $1.41 = $45.12/hour (one in stock), gb200-nvl72 72 x $2.21 = $159.12/hour.

- own fleet: big needs 19,456 / 4,096 = 4.75 -> 5 H200 replicas (40 GPUs: more than the one
  H200 rack) or 2 GB200 replicas (one NVL72 rack); vault takes one replica in a rack of its
  own, the H200 rack. Splitting big over the H200 rack and an NVL72 rack leaves vault a
  second NVL72 rack, dearer. Cheapest: $159.12 + $45.12 = $204.24/hour.
- hgx-h200 alone (unlimited racks): big's 5 replicas need 2 racks, vault a third:
  3 x $45.12 = $135.36/hour, with 96 - 6 x 8 = 48 GPUs stranded.
- gb200-nvl72 alone: one rack for big, one for vault: 2 x $159.12 = $318.24/hour.
- aggregated only: no disaggregated profiles exist, so the same as the own fleet, $204.24.
- siloed tenancy: each tenant is already its own unit here: $204.24.
- own fleet with vault shared: 22,528 tokens/s fit 2 GB200 replicas in one rack, $159.12;
  vault's isolation costs $204.24 - $159.12 = $45.12/hour.

The cheapest is hgx-h200 alone: $135.36/hour over (19,456 + 3,072) x 3,600 = 81.1008 Mtok/hour
= $1.66903/Mtok.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

import pytest

from optimizer.cli import main
from optimizer.compare import Comparison, Variant, compare, registry_planner, system_alone, variants
from optimizer.evaluate import evaluate
from optimizer.instance import InstanceError, load_instance
from optimizer.performance import PerformanceModel
from optimizer.plan import Plan
from optimizer.report import options_table
from optimizer.result import Result

DATA = Path(__file__).parent / "data" / "compare" / "two-systems.toml"
SYSTEMS = ("hgx-h200", "gb200-nvl72")


@pytest.fixture(scope="module")
def comparison() -> Comparison:
    """The default options on the two systems of the tiny instance."""
    return compare(load_instance(DATA), systems=SYSTEMS, time_limit=20)


def test_variants_are_the_options_asked_for() -> None:
    instance = load_instance(DATA)
    found = variants(instance, options=("fleet", "systems", "aggregated", "tenancy", "isolation", "tco"), systems=SYSTEMS)
    assert [(v.name, v.option_set) for v in found] == [
        ("own fleet", "fleet"),
        ("hgx-h200 alone", "systems"),
        ("gb200-nvl72 alone", "systems"),
        ("own fleet, aggregated only", "aggregated"),
        ("own fleet, siloed tenancy", "tenancy"),
        ("own fleet, vault shared", "isolation"),  # only vault is isolated
        ("own fleet at neocloud prices", "tco"),
        ("own fleet at rental-3yr prices", "tco"),
    ]
    assert [v.method for v in found if v.option_set == "tenancy"] == ["siloed"]
    shared = next(v for v in found if v.option_set == "isolation").instance
    assert [t.isolation for t in shared.tenants] == ["shared", "shared"]


def test_a_system_alone_has_unlimited_racks_unless_the_inventory_is_kept() -> None:
    instance = load_instance(DATA)
    alone = system_alone(instance, "hgx-h200")
    assert [(e.system, e.site, e.max_racks) for e in alone.fleet] == [("hgx-h200", "dc", None)]
    kept = system_alone(instance, "hgx-h200", keep_inventory=True)
    assert [(e.system, e.max_racks) for e in kept.fleet] == [("hgx-h200", 1)]
    with pytest.raises(InstanceError, match="mi300x"):
        system_alone(instance, "mi300x", keep_inventory=True)


def test_unknown_option_sets_and_systems_are_refused() -> None:
    instance = load_instance(DATA)
    with pytest.raises(InstanceError, match="unknown option set 'gpus'"):
        variants(instance, options=("gpus",))
    with pytest.raises(InstanceError, match="unknown system 'h100'"):
        variants(instance, systems=("h100",))
    assert variants(instance, options=("fleet",))  # control: a known set


def test_every_option_costs_what_the_hand_derivation_says(comparison: Comparison) -> None:
    costs = {o.variant.name: o.usd_per_hour for o in comparison.outcomes}
    assert costs == pytest.approx({
        "own fleet": 204.24,
        "hgx-h200 alone": 135.36,
        "gb200-nvl72 alone": 318.24,
        "own fleet, aggregated only": 204.24,
        "own fleet, siloed tenancy": 204.24,
        "own fleet, vault shared": 159.12,
    })
    assert all(o.complete and o.violations == 0 for o in comparison.outcomes)


def test_the_cheapest_option_wins_and_its_figures_come_from_the_evaluator(comparison: Comparison) -> None:
    winner = comparison.winner
    assert winner is not None and winner.variant.name == "hgx-h200 alone"
    report = winner.report
    assert report.usd_per_mtok == pytest.approx(135.36 / 81.1008)
    assert (report.num_racks, report.gpus, report.gpus_stranded) == (3, 96, 48)
    # Per SLO class: big (chat) and vault (secure) each pay for their own GPUs. vault's rack is
    # its own: $45.12 over 3,072 x 3,600 / 1e6 = 11.0592 Mtok/hour = $4.0799/Mtok.
    assert winner.usd_per_mtok_by_class()["secure"] == pytest.approx(45.12 / 11.0592)


def test_the_findings_say_why_from_the_figures(comparison: Comparison) -> None:
    findings = "\n".join(comparison.findings)
    # Runner-up: the own fleet at $204.24; saving 1 - 135.36 / 204.24 = 33.7%.
    assert "hgx-h200 alone is cheapest at $135.36/hour ($1.6690/Mtok), 33.7% below the runner-up own fleet" in findings
    # 48 of the 96 paid GPUs are stranded: 48 x $1.41 = $67.68/hour.
    assert "Rack granularity binds: 48 of 96 GPUs (50%) are stranded in whole racks, $67.68/hour" in findings
    assert "vault's 'dedicated-rack' isolation costs $45.12/hour" in findings
    # No engine is wider than 8 GPUs, so the NVLink domain does not bind.
    assert "NVLink domain size does not bind" in findings


def test_the_status_column_says_what_is_proven(comparison: Comparison) -> None:
    """The MIP proves every option of the tiny instance optimal; the siloed heuristic has no bound."""
    status = {row[0]: row[1] for row in options_table(comparison).rows}
    assert status["own fleet"] == "ok (optimal)"
    assert status["own fleet, siloed tenancy"] == "ok (feasible, no bound)"


def test_a_site_power_budget_that_binds_is_named() -> None:
    # 0.17 MW = 170 kW of all-in power. Three H200 racks provision 3 x 32 x 1.73 = 166.08 kW (98%);
    # any plan with an NVL72 rack (72 x 2.10 = 151.2 kW) also needs a rack of its own for vault
    # (at least 55.36 kW more): 206.56 kW, over the budget. Only hgx-h200 alone has a plan.
    instance = load_instance(DATA)
    instance = instance.model_copy(update={"sites": (instance.sites[0].model_copy(update={"power_mw": 0.17}),)})
    result = compare(instance, options=("fleet", "systems"), systems=SYSTEMS, time_limit=10)
    assert [o.complete for o in result.outcomes] == [False, True, False]
    assert result.winner is result.outcome("hgx-h200 alone")
    assert "Site power binds at dc: racks provision 166 kW of its 170 kW budget." in result.findings
    assert "hgx-h200 alone is the only option with a complete plan: $135.36/hour." in result.findings


def test_an_option_without_a_complete_plan_never_wins() -> None:
    # The instance has profiles for H200 and GB200 only: MI300X alone has no configuration.
    result = compare(load_instance(DATA), options=("systems",), systems=("mi300x", "gb200-nvl72"), time_limit=10)
    mi300x = result.outcome("mi300x alone")
    assert not mi300x.complete and mi300x.why_not()
    assert result.winner is not None and result.winner.variant.name == "gb200-nvl72 alone"
    assert any(f.startswith("mi300x alone has no complete plan") for f in result.findings)


def test_a_relaxed_option_starts_from_the_plan_it_relaxes() -> None:
    """The own fleet only adds disaggregated engines to 'aggregated only', and 'vault shared'
    only lifts a rule of the own fleet: each is planned after the option it relaxes and starts
    from its plan ($204.24/hour, derived above), so a time-limited run cannot come out dearer
    (the isolation price cannot turn negative)."""
    inner = registry_planner()
    seen: list[tuple[str, list[float]]] = []

    def planner(variant: Variant, performance: PerformanceModel, time_limit: float, starts: Sequence[Plan]) -> Result:
        seen.append((variant.name, [evaluate(variant.instance, plan).usd_per_hour for plan in starts]))
        return inner(variant, performance, time_limit, starts)

    result = compare(load_instance(DATA), options=("fleet", "aggregated", "isolation"), time_limit=10, planner=planner)
    assert [name for name, _ in seen] == ["own fleet, aggregated only", "own fleet", "own fleet, vault shared"]
    assert [costs for _, costs in seen] == [[], [pytest.approx(204.24)], [pytest.approx(204.24)]]
    assert [o.variant.name for o in result.outcomes] == ["own fleet", "own fleet, aggregated only",
                                                          "own fleet, vault shared"]  # as listed


def test_cli_prints_the_table_and_writes_the_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report"
    code = main(["compare", str(DATA), "--systems", *SYSTEMS, "--options", "fleet", "systems",
                 "--time-limit", "10", "--out", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    assert "* hgx-h200 alone" in text  # the winner's row is marked
    assert "own fleet" in text and "$135.36" in text
    assert sorted(p.name for p in out.iterdir()) == [
        "cost-per-mtok.svg", "demand-vs-capacity.svg", "rack-map.svg", "report.html", "throughput-llama-3.3-70b.svg",
    ]
    page = ET.fromstring((out / "report.html").read_text().split("\n", 1)[1])
    assert page.find(".//tr[@class='highlight']/td").text == "hgx-h200 alone"


def test_cli_json_carries_the_comparison_alone(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["compare", str(DATA), "--options", "fleet", "--time-limit", "10", "--json"])
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["winner"] == "own fleet"
    assert [o["usd_per_hour"] for o in payload["options"]] == pytest.approx([204.24])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--time-limit", "0"], "--time-limit: must be > 0 seconds"),
        (["--method", "magic"], "--method: unknown method 'magic'"),
        (["--systems", "h100"], "systems: unknown system 'h100'"),
    ],
)
def test_cli_bad_input_exits_2_with_the_reason(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", str(DATA), *args]) == 2
    assert message in capsys.readouterr().err
