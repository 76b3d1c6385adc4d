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

The band check (the competing options planned again at confidence 0.9 and 0.1) is tested on this
instance, whose profiles carry no band, and on the bundled tiny instance, which rests on the
estimator (its bands are 80% intervals about 3x wide).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest
from repo_paths import DATA, EXAMPLES

import optimizer.compare.planning
import optimizer.compare.verdict
from optimizer.cli import main
from optimizer.compare import (
    OPTIMISTIC,
    PESSIMISTIC,
    Comparison,
    PricedVariant,
    Variant,
    compare,
    difference_proof,
    proven_cheaper,
    registry_planner,
    system_alone,
    variants,
)
from optimizer.compare.planning import COMPETING
from optimizer.evaluate import evaluate
from optimizer.instance import InstanceError, load_instance
from optimizer.performance import DEFAULT_CONFIDENCE, PerformanceModel
from optimizer.performance.estimate import Estimator
from optimizer.plan import Plan
from optimizer.report import options_table, versus_cell
from optimizer.report.figures import cost_bars_figure
from optimizer.result import Result, Status

DATA = DATA / "compare" / "two-systems.toml"
TINY = EXAMPLES / "tiny.toml"
SYSTEMS = ("hgx-h200", "gb200-nvl72")


@pytest.fixture(scope="module")
def comparison() -> Comparison:
    """The default options, the two systems each alone with unlimited racks at catalog prices."""
    return compare(load_instance(DATA), systems=SYSTEMS, time_limit=20, unlimited_systems=True)


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


def test_a_system_alone_keeps_the_fleets_inventory_unless_unlimited() -> None:
    instance = load_instance(DATA)
    kept = system_alone(instance, "hgx-h200")
    assert [(e.system, e.max_racks) for e in kept.fleet] == [("hgx-h200", 1)]
    assert kept.sites == instance.sites
    with pytest.raises(InstanceError, match="the fleet has no 'mi300x' racks"):
        system_alone(instance, "mi300x")
    alone = system_alone(instance, "hgx-h200", unlimited=True)
    assert [(e.system, e.site, e.max_racks) for e in alone.fleet] == [("hgx-h200", "dc", None)]
    # by default the options are the fleet's own systems; every row of the what-if says it is one
    assert [v.name for v in variants(instance, options=("systems",))] == ["hgx-h200 alone", "gb200-nvl72 alone"]
    unlimited = variants(instance, options=("systems",), systems=("mi300x",), unlimited_systems=True)
    assert [(v.name, v.note) for v in unlimited] == [("mi300x alone, unlimited", "unlimited racks at catalog prices")]


def test_by_default_the_winner_is_one_the_fleet_may_open() -> None:
    """hgx-h200 alone keeps its one rack in stock: big's 5 replicas (40 GPUs) do not fit it, so it
    has no complete plan; gb200-nvl72 alone (unlimited in the fleet) costs $318.24/hour as in the
    module docstring; the own fleet $204.24 wins (not the unlimited H200 racks' $135.36)."""
    result = compare(load_instance(DATA), options=("fleet", "systems"), time_limit=10, band=False)
    assert result.winner is result.outcome("own fleet")
    assert not result.outcome("hgx-h200 alone").complete
    assert result.outcome("gb200-nvl72 alone").usd_per_hour == pytest.approx(318.24)
    # sorted by $/Mtok, the option without a complete plan last
    assert [o.variant.name for o in result.outcomes] == ["own fleet", "gb200-nvl72 alone", "hgx-h200 alone"]
    # each fleet system alone is a part of the fleet: planned first, its plan starts the own fleet's MIP
    assert result.outcome("own fleet").variant.relaxes == ("hgx-h200 alone", "gb200-nvl72 alone")


def test_the_bundled_architecture_example_is_answered_with_proof() -> None:
    """instances/examples/architecture.toml is small enough that every competing option with a bound
    is solved to proven optimality well inside its time limit: the winner costs less than the
    runner-up's bound, so the headline says "proven", and the price of the bank's isolation is
    the difference of two proven optima."""
    comparison = compare(load_instance(EXAMPLES / "architecture.toml"), band=False)
    winner = comparison.winner
    assert winner is not None and winner.variant.name == "own fleet"
    bounded = [o for o in comparison.outcomes if o.complete and o.result.bound is not None]
    assert all(o.result.status == Status.OPTIMAL for o in bounded)
    runner = min((o for o in bounded if o is not winner and o.variant.option_set in COMPETING), key=lambda o: o.usd_per_hour)
    assert proven_cheaper(winner, runner)
    assert comparison.findings[0].startswith("own fleet is cheapest at") and ", proven: no plan of" in comparison.findings[0]
    assert any("'dedicated-rack' isolation costs" in f and "both plans proven optimal" in f for f in comparison.findings)


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
        "hgx-h200 alone, unlimited": 135.36,
        "gb200-nvl72 alone, unlimited": 318.24,
        "own fleet, aggregated only": 204.24,
        "own fleet, siloed tenancy": 204.24,
        "own fleet, vault shared": 159.12,
    })
    assert all(o.complete and o.violations == 0 for o in comparison.outcomes)


def test_the_cheapest_option_wins_and_its_figures_come_from_the_evaluator(comparison: Comparison) -> None:
    winner = comparison.winner
    assert winner is not None and winner.variant.name == "hgx-h200 alone, unlimited"
    report = winner.report
    assert report.usd_per_mtok == pytest.approx(135.36 / 81.1008)
    assert (report.num_racks, report.gpus, report.gpus_stranded) == (3, 96, 48)
    # Per SLO class: big (chat) and vault (secure) each pay for their own GPUs. vault's rack is
    # its own: $45.12 over 3,072 x 3,600 / 1e6 = 11.0592 Mtok/hour = $4.0799/Mtok.
    assert report.usd_per_mtok_by_slo_class["secure"] == pytest.approx(45.12 / 11.0592)


def test_the_findings_say_why_from_the_figures(comparison: Comparison) -> None:
    findings = "\n".join(comparison.findings)
    # Runner-up: the own fleet at $204.24; saving 1 - 135.36 / 204.24 = 33.7%.
    # Both are proven optimal, and the winner's $135.36 is below the runner-up's bound $204.24: proven.
    assert ("hgx-h200 alone, unlimited is cheapest at $135.36/hour ($1.6690/Mtok; proven optimal, gap 0%), 33.7% "
            "below the runner-up own fleet ($204.24/hour; proven optimal, gap 0%), proven: no plan of own fleet "
            "costs less than $204.24/hour.") in findings
    # 48 of the 96 paid GPUs are stranded: 48 x $1.41 = $67.68/hour.
    assert "Rack granularity binds: 48 of 96 GPUs (50%) are stranded in whole racks, $67.68/hour" in findings
    assert ("vault's 'dedicated-rack' isolation costs $45.12/hour (own fleet with it shared: $159.12/hour; both plans "
            "proven optimal).") in findings
    assert ("Pooling tenants saves nothing (0.0%) against siloed engines ($204.24/hour; not proven: own fleet, siloed "
            "tenancy is a heuristic's plan, with no bound).") in findings
    # No engine is wider than 8 GPUs, so the NVLink domain does not bind.
    assert "NVLink domain size does not bind" in findings


def test_the_status_column_says_what_is_proven(comparison: Comparison) -> None:
    """The MIP proves every option of the tiny instance optimal; the siloed heuristic has no bound."""
    table = options_table(comparison)
    status = {row[0]: row[1:3] for row in table.rows}
    assert status["own fleet"] == ("ok (optimal)", "+50.9% (proven)")  # 204.24 / 135.36 - 1
    assert status["hgx-h200 alone, unlimited"] == ("ok (optimal)", "cheapest")
    assert status["own fleet, siloed tenancy"] == ("ok (heuristic, no bound)", "+50.9% (not proven)")
    # rows by $/Mtok: 135.36, three at 204.24 (as listed), 318.24 over the same tokens; then the variant
    # that changes the question (vault shared, 159.12)
    assert [row[0] for row in table.rows] == [
        "hgx-h200 alone, unlimited", "own fleet", "own fleet, aggregated only", "own fleet, siloed tenancy",
        "gb200-nvl72 alone, unlimited", "own fleet, vault shared"]


def _priced(outcome: PricedVariant, cost: float, bound: float | None, status: Status = Status.FEASIBLE) -> PricedVariant:
    """``outcome`` with its plan re-priced at ``cost`` $/hour and its run's bound set to ``bound``."""
    result = replace(outcome.result, status=status, objective=cost, bound=bound,
                     plan=outcome.result.plan.model_copy(update={"solve": None}))
    return replace(outcome, result=result, report=outcome.report.model_copy(update={"usd_per_hour": cost}))


def test_a_difference_within_the_gaps_is_not_proven(comparison: Comparison) -> None:
    """A costs $100 with bound $90 (gap 10%); B costs $104 with bound $95 (gap 1 - 95/104 = 8.65%).
    B's best plan may cost as little as $95, below A's $100: the 4% is not proven. The difference
    of the best plans lies between 95 - 100 = -$5 and 104 - 90 = $14. Control: B' costs $120 with
    bound $110 > $100: proven, between 110 - 100 = $10 and 120 - 90 = $30."""
    a = _priced(comparison.outcome("own fleet"), 100.0, 90.0)
    b = _priced(comparison.outcome("gb200-nvl72 alone, unlimited"), 104.0, 95.0)
    b_far = _priced(b, 120.0, 110.0)
    assert not proven_cheaper(a, b) and proven_cheaper(a, b_far)
    assert versus_cell(b, a) == "+4.0% (not proven)" and versus_cell(b_far, a) == "+20.0% (proven)"
    assert versus_cell(a, b) == "-3.8% (not proven)"  # 100 / 104 - 1
    assert difference_proof(b, a) == ("not proven: with the plans' gaps (8.65% and 10%) the difference between the "
                                      "best plans lies between -$5.00 and $14.00/hour")
    assert difference_proof(b_far, a).endswith("between $10.00 and $30.00/hour")
    headline = optimizer.compare.verdict._versus_runner_up([a, b], a)
    assert headline.startswith("own fleet has the cheapest plan found, $100.00/hour")
    assert ("not proven the cheapest option: gb200-nvl72 alone, unlimited's bound, $95.00/hour, is below it, so its "
            "best plan may cost less.") in headline
    assert "proven: no plan of gb200-nvl72 alone, unlimited costs less than $110.00/hour" in (
        optimizer.compare.verdict._versus_runner_up([a, b_far], a))
    # the chart draws the unproven one as a tie, with whiskers down to each bound
    bars = cost_bars_figure(optimizer.report._costed([a, b, b_far], a), "t", {})
    assert "(tie)" in bars and bars.count("proven at least") == 3


def test_a_site_power_budget_that_binds_is_named() -> None:
    # 0.17 MW = 170 kW of all-in power. Three H200 racks provision 3 x 32 x 1.73 = 166.08 kW (98%);
    # any plan with an NVL72 rack (72 x 2.10 = 151.2 kW) also needs a rack of its own for vault
    # (at least 55.36 kW more): 206.56 kW, over the budget. Only hgx-h200 alone has a plan.
    instance = load_instance(DATA)
    instance = instance.model_copy(update={"sites": (instance.sites[0].model_copy(update={"power_mw": 0.17}),)})
    result = compare(instance, options=("fleet", "systems"), systems=SYSTEMS, time_limit=10, band=False,
                     unlimited_systems=True)
    assert [o.complete for o in result.outcomes] == [True, False, False]  # by $/Mtok: the complete one first
    assert result.winner is result.outcome("hgx-h200 alone, unlimited")
    assert "Site power binds at dc: racks provision 166 kW of its 170 kW budget." in result.findings
    assert "hgx-h200 alone, unlimited is the only option with a complete plan: $135.36/hour (proven optimal, gap 0%)." in result.findings


def test_an_option_without_a_complete_plan_never_wins() -> None:
    # The instance has profiles for H200 and GB200 only: MI300X alone has no configuration.
    result = compare(load_instance(DATA), options=("systems",), systems=("mi300x", "gb200-nvl72"), time_limit=10,
                     unlimited_systems=True)
    mi300x = result.outcome("mi300x alone, unlimited")
    assert not mi300x.complete and mi300x.why_not()
    assert result.winner is not None and result.winner.variant.name == "gb200-nvl72 alone, unlimited"
    assert any(f.startswith("mi300x alone, unlimited has no complete plan") for f in result.findings)
    # nor at either end of the band: it has no configuration at any confidence
    assert result.band is not None and set(result.band.winners.values()) == {"gb200-nvl72 alone, unlimited"}
    assert [o.complete for o in result.band.end("pessimistic").outcomes] == [True, False]


def test_a_relaxed_option_starts_from_the_plan_it_relaxes() -> None:
    """The own fleet only adds disaggregated engines to 'aggregated only', and 'vault shared'
    only lifts a rule of the own fleet: each is planned after the option it relaxes and starts
    from its plan ($204.24/hour, derived above), so a time-limited run cannot come out dearer
    (the isolation price cannot turn negative). At each end of the band the competing options
    (not 'vault shared') are planned again, in the same order, each starting from the plan it
    relaxes at that end and from its own plan at the run's confidence."""
    inner = registry_planner()
    seen: list[tuple[str, float, list[float]]] = []

    def planner(variant: Variant, performance: PerformanceModel, time_limit: float, starts: Sequence[Plan]) -> Result:
        costs = [evaluate(variant.instance, plan).usd_per_hour for plan in starts]
        seen.append((variant.name, performance.confidence, costs))
        return inner(variant, performance, time_limit, starts)

    result = compare(load_instance(DATA), options=("fleet", "aggregated", "isolation"), time_limit=10, planner=planner)
    agg, fleet, shared = "own fleet, aggregated only", "own fleet", "own fleet, vault shared"
    cost = pytest.approx(204.24)
    assert seen == [
        (agg, DEFAULT_CONFIDENCE, []), (fleet, DEFAULT_CONFIDENCE, [cost]), (shared, DEFAULT_CONFIDENCE, [cost]),
        (agg, PESSIMISTIC, [cost]), (fleet, PESSIMISTIC, [cost, cost]),
        (agg, OPTIMISTIC, [cost]), (fleet, OPTIMISTIC, [cost, cost]),
    ]
    assert [o.variant.name for o in result.outcomes] == [fleet, agg, shared]  # competing by $/Mtok, ties as listed


def test_cli_prints_the_table_and_writes_the_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report"
    code = main(["compare", str(DATA), "--systems", *SYSTEMS, "--options", "fleet", "systems", "--unlimited-systems",
                 "--time-limit", "10", "--out", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    assert "* hgx-h200 alone, unlimited" in text  # the winner's row is marked
    assert "own fleet" in text and "$135.36" in text
    assert sorted(p.name for p in out.iterdir()) == [
        "cost-per-mtok.svg", "demand-vs-capacity.svg", "rack-map.svg", "report.html", "throughput-llama-3.3-70b-1024-1024.svg", "usd-per-mtok-llama-3.3-70b-1024-1024.svg",
    ]
    page = ET.fromstring((out / "report.html").read_text().split("\n", 1)[1])
    assert page.find(".//tr[@class='highlight']/td").text == "hgx-h200 alone, unlimited"
    # the band verdict: a section of the page and a table in the text (profiles carry no band)
    assert "Across the performance band" in [h.text for h in page.iter("h2")]
    assert "across the performance band (the verdict holds):" in text
    assert "hgx-h200 alone, unlimited is cheapest at the pessimistic end (confidence 0.9)" in text


def test_cli_json_carries_the_comparison_alone(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["compare", str(DATA), "--options", "fleet", "--time-limit", "10", "--json"])
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["winner"] == "own fleet"
    assert [o["usd_per_hour"] for o in payload["options"]] == pytest.approx([204.24])
    assert payload["options"][0]["proof"].startswith("proven optimal") and payload["options"][0]["bound"] > 0
    band = payload["band"]
    assert band["holds"] is True
    assert band["confidence"] == {"pessimistic": 0.9, "central": 0.8, "optimistic": 0.1}
    assert band["winner"] == dict.fromkeys(("pessimistic", "central", "optimistic"), "own fleet")
    assert band["options"][0]["usd_per_hour"] == pytest.approx(dict.fromkeys(band["confidence"], 204.24))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--time-limit", "0"], "--time-limit: must be > 0 seconds"),
        (["--method", "magic"], "--method: unknown method 'magic'"),
        (["--systems", "h100"], "systems: unknown system 'h100'"),
        (["--confidence", "1"], "--confidence: out of range: 1.0"),
    ],
)
def test_cli_bad_input_exits_2_with_the_reason(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", str(DATA), *args]) == 2
    assert message in capsys.readouterr().err


# -- the band check --------------------------------------------------------------------------


def _tiny(requests_per_s: float = 10.0):
    instance = load_instance(TINY)
    tenant = instance.tenants[0].model_copy(update={"requests_per_s": requests_per_s})
    return instance.model_copy(update={"tenants": (tenant,)})


def test_profiles_carry_no_band_so_every_conclusion_holds(comparison: Comparison) -> None:
    """Every engine of two-systems.toml rests on its profiles, which carry no band: at both ends
    each competing option costs what the hand derivation says, and the verdict holds."""
    band = comparison.band
    assert band is not None
    assert [(e.name, e.confidence) for e in band.ends] == [
        ("pessimistic", PESSIMISTIC), ("central", DEFAULT_CONFIDENCE), ("optimistic", OPTIMISTIC)]
    assert (PESSIMISTIC, OPTIMISTIC) == (0.9, 0.1)
    # the isolation variant changes the question: it is not planned again
    assert [o.variant.name for o in band.end("optimistic").outcomes] == [
        "hgx-h200 alone, unlimited", "own fleet", "own fleet, aggregated only", "own fleet, siloed tenancy",
        "gb200-nvl72 alone, unlimited"]
    for e in band.ends:
        assert {o.variant.name: o.usd_per_hour for o in e.outcomes} == pytest.approx({
            "own fleet": 204.24, "hgx-h200 alone, unlimited": 135.36, "gb200-nvl72 alone, unlimited": 318.24,
            "own fleet, aggregated only": 204.24, "own fleet, siloed tenancy": 204.24,
        })
        assert all(o.result.plan.confidence == e.confidence for o in e.outcomes)
    assert band.holds and set(band.winners.values()) == {"hgx-h200 alone, unlimited"}
    assert all(c.holds for c in band.contrasts)
    findings = "\n".join(comparison.findings)
    assert "The verdict holds across the band (the pessimistic end" in findings
    assert ("hgx-h200 alone, unlimited is cheapest at the pessimistic end (confidence 0.9), at confidence 0.8 and at the "
            "optimistic end (confidence 0.1), at $135.36/hour at each.") in findings
    # runner-up: 204.24 - 135.36 = $68.88/hour at every point
    assert ("hgx-h200 alone, unlimited stays cheaper than the runner-up own fleet across the band: "
            "it saves $68.88/hour.") in findings
    assert "Allowing disaggregation saves nothing across the band." in findings
    assert "Pooling tenants saves nothing across the band." in findings


def test_the_band_ends_bracket_the_central_cost_when_solved_to_optimality() -> None:
    """Why the pessimistic end costs at least the central plan and the optimistic end at most:
    at confidence 0.9 each engine is planned on the 10% quantile of its band, at 0.8 on the 20%,
    at 0.1 on the 90%, so its planning factor can only grow from the pessimistic end to the
    optimistic one, and with it every configuration's capacity (its load per token is the
    roofline's over that factor); configurations, TTFTs, interactivities and KV capacities do not
    depend on the confidence. So every plan that keeps the rules at 0.9 keeps them at 0.8, and
    every one at 0.8 keeps them at 0.1: the optimum can only fall from end to end. That holds
    for optimal solves only (a time-limited run may stop above the optimum), so the instance is
    small enough for the MIP to prove each plan optimal, and the test asserts that it did.

    The tiny instance at 150 requests/s (307,200 tokens/s) needs more than one 32-GPU rack at
    confidence 0.8 and a band about 3x wide moves its rack counts."""
    result = compare(_tiny(150.0), options=("systems",), systems=("mi300x", "hgx-h100"), time_limit=10,
                     unlimited_systems=True)
    band = result.band
    assert band is not None
    ends = {e.name: e for e in band.ends}
    moved = False
    for name in ("mi300x alone, unlimited", "hgx-h100 alone, unlimited"):
        assert all(e.outcome(name).result.status == Status.OPTIMAL for e in band.ends)
        pessimistic, central, optimistic = (ends[e].usd_per_hour(name) for e in ("pessimistic", "central",
                                                                                   "optimistic"))
        assert pessimistic >= central - 1e-6 and optimistic <= central + 1e-6
        assert central == pytest.approx(result.outcome(name).usd_per_hour)
        moved |= pessimistic > central + 1 or optimistic < central - 1
        for e in band.ends:  # each end planned, priced and checked at its own confidence
            o = e.outcome(name)
            assert o.performance.confidence == o.result.plan.confidence == o.report.confidence == e.confidence
    assert moved  # control: the band is wide enough to matter here, so the bracket is not vacuous


def test_a_band_wide_on_one_system_flips_the_verdict(monkeypatch: pytest.MonkeyPatch) -> None:
    """The estimator's bands are pinned to their central point for every system but mi300x, whose
    pessimistic end is 1/50 of its central throughput. At confidence 0.8 and 0.1, tiny's 20,480
    tokens/s fit one rack on either system: mi300x 32 x $1.12 = $35.84/hour, hgx-h100 32 x $1.30 =
    $41.60. At 0.9 mi300x needs 50x the GPU-seconds of its central plan: its one 8-GPU replica
    is about 90% busy there, and no configuration is more than about 3x as efficient (the
    latency finding), so at least 8 x 0.9 / 3 x 50 = 120 GPUs, four racks: hgx-h100 wins."""
    planning_factor = Estimator.planning_factor

    def wide_on_mi300x(self: Estimator, key: tuple, x: float | None, confidence: float) -> tuple[float, str]:
        factor, detail = planning_factor(self, key, x, DEFAULT_CONFIDENCE)
        return (factor / 50 if key[1] == "mi300x" and confidence > DEFAULT_CONFIDENCE else factor), detail

    monkeypatch.setattr(Estimator, "planning_factor", wide_on_mi300x)
    result = compare(_tiny(), options=("systems",), systems=("mi300x", "hgx-h100"), time_limit=10,
                     unlimited_systems=True)
    band = result.band
    assert band is not None and not band.holds
    assert band.winners == {"pessimistic": "hgx-h100 alone, unlimited", "central": "mi300x alone, unlimited", "optimistic": "mi300x alone, unlimited"}
    assert band.end("optimistic").usd_per_hour("mi300x alone, unlimited") == pytest.approx(35.84)
    assert band.end("pessimistic").usd_per_hour("mi300x alone, unlimited") >= 4 * 35.84 - 1e-6
    assert [band.end(e).usd_per_hour("hgx-h100 alone, unlimited") for e in ("pessimistic", "central", "optimistic")] == (
        pytest.approx([41.60] * 3))
    (contrast,) = band.contrasts
    assert (contrast.topic, contrast.option, contrast.against, contrast.holds) == (
        "runner-up", "mi300x alone, unlimited", "hgx-h100 alone, unlimited", False)
    assert contrast.saving["central"] == pytest.approx(41.60 - 35.84) and contrast.saving["pessimistic"] < 0
    findings = "\n".join(result.findings)
    assert ("hgx-h100 alone, unlimited at the pessimistic end (confidence 0.9), $41.60/hour; mi300x alone, unlimited at the optimistic "
            "end (confidence 0.1), $35.84/hour; mi300x alone, unlimited at confidence 0.8, $35.84/hour.") in findings
    assert "The verdict flips across the band (the pessimistic end plans every engine on the 10% quantile" in findings
    assert ("mi300x alone, unlimited against the runner-up hgx-h100 alone, unlimited flips across the band: it costs $"
            in findings) and "saves $5.76/hour at confidence 0.8, saves $5.76/hour at the optimistic end" in findings
    assert result.to_dict()["band"]["holds"] is False


def test_the_confidence_reaches_every_model_plan_and_price() -> None:
    result = compare(_tiny(), options=("fleet", "aggregated"), time_limit=10, confidence=0.5, band=False)
    assert result.confidence == 0.5 and result.to_dict()["confidence"] == 0.5
    for o in result.outcomes:
        assert o.performance.confidence == o.result.plan.confidence == o.report.confidence == 0.5
    assert type(result.outcome("own fleet, aggregated only").performance).__name__ == "AggregatedOnly"
    with pytest.raises(InstanceError, match="confidence"):
        compare(_tiny(), options=("fleet",), confidence=1.0)


def test_no_band_skips_the_re_plans(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    calls: list[tuple[str, float]] = []
    run_variant = optimizer.compare.planning.run_variant

    def counted(variant: Variant, *args: object, **kwargs: object) -> PricedVariant:
        outcome = run_variant(variant, *args, **kwargs)  # type: ignore[arg-type]
        calls.append((variant.name, outcome.performance.confidence))
        return outcome

    monkeypatch.setattr(optimizer.compare.planning, "run_variant", counted)
    args = ["compare", str(DATA), "--options", "fleet", "systems", "--systems", *SYSTEMS, "--time-limit", "10",
            "--unlimited-systems"]
    assert main([*args, "--no-band", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["band"] is None and not any("band" in f for f in payload["findings"])
    assert calls == [("own fleet", 0.8), ("hgx-h200 alone, unlimited", 0.8), ("gb200-nvl72 alone, unlimited", 0.8)]
    calls.clear()
    assert main(args) == 0  # control: without --no-band each option is planned at 0.8, 0.9 and 0.1
    assert "across the performance band" in capsys.readouterr().out
    assert sorted(c for _, c in calls) == [0.1] * 3 + [0.8] * 3 + [0.9] * 3


def without_runtimes(comparison: Comparison) -> dict[str, object]:
    """The comparison's JSON summary less each option's runtime, the one figure that differs run to run."""
    payload = comparison.to_dict()
    for option in payload["options"]:  # type: ignore[union-attr]
        option.pop("runtime_s")
    return payload


def test_a_pool_of_two_gives_the_comparison_of_one_worker(comparison: Comparison) -> None:
    """Every option of the two-systems instance is proven optimal within its time limit, at the
    run's confidence and at the band's ends, so planning each round (the own fleet after
    'aggregated only', 'vault shared' after the own fleet) two at a time changes no figure but
    the runtimes."""
    pooled = compare(load_instance(DATA), systems=SYSTEMS, time_limit=20, unlimited_systems=True, workers=2)
    assert without_runtimes(pooled) == without_runtimes(comparison)
    assert pooled.outcome("own fleet").usd_per_hour == pytest.approx(204.24)  # module docstring
    assert pooled.winner is not None and pooled.winner.variant.name == "hgx-h200 alone, unlimited"


def test_ray_gives_the_comparison_of_one_worker(comparison: Comparison) -> None:
    """As the pool of two, on Ray (the optional extra ``tenantplan[ray]``)."""
    pytest.importorskip("ray")
    on_ray = compare(load_instance(DATA), systems=SYSTEMS, time_limit=20, unlimited_systems=True, executor="ray", workers=2)
    assert without_runtimes(on_ray) == without_runtimes(comparison)
