"""The MIP on every backend (``--solvers``): tiny instances with optima derived by hand.

Every instance uses ``performance = "profiles"``, so capacities are the numbers
written here. Unless a test says otherwise:

- model gpt-oss-120b in fp4; tenants send 500 input + 500 output tokens per
  request and promise TTFT <= 1 s and >= 40 tokens/s per user;
- the aggregated profile on hgx-b200 is 1 GPU at 500 input + 500 output
  tokens/s, 50 tokens/s per user, TTFT 0.5 s: a request (1000 tokens) takes
  1000 / 1000 = 1 replica-second, so **one replica serves 1 request/s**;
- racks are hgx-b200 overridden to 8 GPUs (one 8-GPU NVLink domain) at
  $1/GPU-hour: **a rack costs $8/hour**.

Each test asserts: objective == the evaluator's $/hour == the backend's own
objective == the derived value, the bound is at most it, and the checker finds
nothing.
"""

from __future__ import annotations

import json
import time
from dataclasses import FrozenInstanceError, replace
from pathlib import Path

import pytest

from mip_fixtures import fleet, make, profile, system, tenant
from repo_paths import BENCH, EXAMPLES

from optimizer.check import check
from optimizer.cli import EXIT_BAD_INPUT, EXIT_INFEASIBLE, main
from optimizer.cli.solve import _ProgressLines
from optimizer.evaluate import evaluate
from optimizer.generate import generate_instance
from optimizer.instance import Instance, load_instance
from optimizer.methods import METHODS
from optimizer.performance import PerformanceModel
from optimizer.plan import Plan
from optimizer.result import Interrupted, Limit, OutOfTime, Result, Status
from optimizer.solve import solve
from optimizer.stress import stress
from solvers.heuristics import pooled, pooled_spread_apart, siloed
from solvers.mip.backend import Settings
from solvers.mip.budget import TimeBudget
from solvers.mip.cpsat import FLOW_STEPS, solve_cpsat
from solvers.mip.formulation import build_formulation
from solvers.mip.mathopt import solve_mathopt
from solvers.mip.reconstruct import from_plan
from solvers.mip.routing import route
from solvers.mip.run import PHASES
from solvers.mip.warm_start import WARM_START_ALWAYS

TIME_LIMIT_S = 20.0


def backend_objective(instance: Instance, solver: str) -> float | None:
    """The backend's own optimum of the formulation (no warm start, every scenario)."""
    f = build_formulation(instance, PerformanceModel(instance))
    settings = Settings(time_limit=TIME_LIMIT_S, gap=0.0, threads=1, seed=0)
    if solver == "cp-sat":
        return solve_cpsat(f, settings).objective
    return solve_mathopt(f, settings, solver).objective


def assert_optimum(instance: Instance, solver: str, usd_per_hour: float) -> None:
    result = solve(instance, solver, time_limit=TIME_LIMIT_S, gap=0.0)
    assert result.status == Status.OPTIMAL
    assert result.plan is not None
    assert result.objective == pytest.approx(usd_per_hour)
    assert evaluate(instance, result.plan).usd_per_hour == pytest.approx(usd_per_hour)
    assert result.report == evaluate(instance, result.plan)  # the run's report is its plan's, record and all
    assert backend_objective(instance, solver) == pytest.approx(usd_per_hour)
    assert result.bound is not None and result.bound <= usd_per_hour + 1e-6
    assert [v for v in check(instance, result.plan) if v.severity == "error"] == []


# -- one tiny instance per constraint family ----------------------------------------


def test_demand_and_engine_time(solver: str) -> None:
    """(1), (2), (4): 10 requests/s need 10 one-GPU replicas = 10 GPUs = 2 racks = $16/h."""
    assert_optimum(make([tenant("a", 10.0)]), solver, 16.0)


def test_slo_eligibility(solver: str) -> None:
    """(E3): a slow profile (20 tokens/s/user) serves 2 requests/s per replica.

    a promises 40 tokens/s/user, so only the fast profile: 8 requests/s = 8 GPUs.
    b promises 10: slow profile, 4 / 2 = 2 GPUs. 10 GPUs = 2 racks = $16/h
    (were a allowed the slow profile: 4 + 2 = 6 GPUs, one rack).
    """
    slow = profile(tokens_per_s_per_user=20, input_tokens_per_s=1000, output_tokens_per_s=1000)
    instance = make(
        [tenant("a", 8.0), tenant("b", 4.0, min_tokens_per_s_per_user=10)], profiles=[profile(), slow]
    )
    assert_optimum(instance, solver, 16.0)


def test_scenarios_share_engines(solver: str) -> None:
    """Engines static, routing moves: x = 6 x [1, 0.25], y = 6 x [0.25, 1] requests/s.

    Each scenario totals 6 + 1.5 = 7.5 requests/s: 8 shared replicas, one rack,
    $8/h (each tenant sized for its own peak would need 6 + 6 = 12 GPUs, 2 racks).
    """
    instance = make([
        tenant("x", 6.0, demand_profile=[1.0, 0.25]),
        tenant("y", 6.0, demand_profile=[0.25, 1.0]),
    ])
    assert_optimum(instance, solver, 8.0)


def test_packing_into_nvlink_domains(solver: str) -> None:
    """(7): racks of 24 GPUs in two 12-GPU NVLink domains; 8-GPU engines serving 1 request/s.

    3 requests/s = 3 replicas = 24 GPUs, but each 12-GPU domain holds one 8-GPU
    engine (level 8: cap = 2 x 8 = 16 GPUs per rack): 2 racks x 24 x $1 = $48/h.
    """
    toy = system("hgx-b200", "toy-12", gpus_per_nvlink_domain=12, gpus_per_rack=24)
    instance = make(
        [tenant("a", 3.0)],
        fleet_entries=[fleet("toy-12", gpus_per_rack=24)],
        profiles=[profile(system="toy-12", gpus=8)],
        systems=[toy],
    )
    assert_optimum(instance, solver, 48.0)


def test_rack_power_cap(solver: str) -> None:
    """Rack power folded into (7): 32-GPU racks capped at 10 kW hold floor(10 / 1.7875) = 5
    engine GPUs. 10 requests/s = 10 replicas = 2 racks x 32 GPUs x $1 = $64/h (uncapped: 1 rack)."""
    instance = make([tenant("a", 10.0)], fleet_entries=[fleet(gpus_per_rack=32, rack_power_kw=10.0)])
    assert_optimum(instance, solver, 64.0)


def test_inventory(solver: str) -> None:
    """(8): one b200 rack ($8/h) in stock; h200 racks cost $2/GPU = $16/h, same profile.

    12 requests/s = 12 GPUs: the b200 rack (8) and an h200 rack (4) = $24/h."""
    instance = make(
        [tenant("a", 12.0)],
        fleet_entries=[fleet(max_racks=1), fleet("hgx-h200", usd_per_gpu_hour=2.0)],
        profiles=[profile(), profile(system="hgx-h200")],
    )
    assert_optimum(instance, solver, 24.0)


def test_site_power(solver: str) -> None:
    """(9): site a ($1/GPU) has 20 kW, one b200 rack provisions 8 x 2.17 = 17.36 kW; site b
    costs $2/GPU. 12 requests/s = 12 GPUs: a rack at a ($8) + one at b ($16) = $24/h."""
    instance = make(
        [tenant("a", 12.0)],
        sites=[{"name": "a", "power_mw": 0.02}, {"name": "b"}],
        fleet_entries=[fleet(site="a"), fleet(site="b", usd_per_gpu_hour=2.0)],
    )
    assert_optimum(instance, solver, 24.0)


def test_dedicated_engines(solver: str) -> None:
    """(E4): racks of one GPU ($1/h). p and q send 0.5 requests/s each: shared they fill one
    replica ($1/h); q dedicated needs its own replica: $2/h."""
    one_gpu = {
        "fleet_entries": [fleet("one-gpu", gpus_per_rack=1)],
        "profiles": [profile(system="one-gpu")],
        "systems": [system("hgx-b200", "one-gpu", gpus_per_nvlink_domain=1, gpus_per_rack=1)],
    }
    assert_optimum(make([tenant("p", 0.5), tenant("q", 0.5)], **one_gpu), solver, 1.0)
    dedicated = make([tenant("p", 0.5), tenant("q", 0.5, isolation="dedicated")], **one_gpu)
    assert_optimum(dedicated, solver, 2.0)


def test_dedicated_racks(solver: str) -> None:
    """(E4): p and q at 0.5 requests/s share one rack ($8/h); q on racks of its own: $16/h."""
    assert_optimum(make([tenant("p", 0.5), tenant("q", 0.5, isolation="dedicated-rack")]), solver, 16.0)


def test_residency(solver: str) -> None:
    """(E2): site a costs $1/GPU, b $2/GPU; a tenant resident in b pays 2 GPUs' rack there: $16/h."""
    instance = make(
        [tenant("a", 2.0, sites=["b"])],
        sites=[{"name": "a"}, {"name": "b"}],
        fleet_entries=[fleet(site="a"), fleet(site="b", usd_per_gpu_hour=2.0)],
    )
    assert_optimum(instance, solver, 16.0)


def test_spread(solver: str) -> None:
    """(10): 2 requests/s fit one rack ($8/h); with min_racks = 2 each of two racks carries
    at most half: 2 racks x $8 = $16/h."""
    assert_optimum(make([tenant("a", 2.0, min_racks=2)]), solver, 16.0)


def test_spread_beside_shared_tenants(solver: str) -> None:
    """(10) beside (7): a (min_racks = 2) needs 2 one-GPU replicas, one in each of 2 racks; b
    needs 6, 8 GPUs in all. One rack would carry all of a; two hold everything: the virtual
    rack holds z_a = 1 beside w_b = 3 and is built twice, $16/h, each rack with one replica of
    a and three of b; the plan has exactly the racks the solver opened."""
    instance = make([tenant("a", 2.0, min_racks=2), tenant("b", 6.0)])
    assert backend_objective(instance, solver) == pytest.approx(16.0)
    result = solve(instance, solver, time_limit=TIME_LIMIT_S, gap=0.0, warm_start=False)
    assert result.plan is not None and result.objective == pytest.approx(16.0)
    assert [v for v in check(instance, result.plan) if v.severity == "error"] == []
    rack_of = {e.id: r.id for r in result.plan.racks for e in r.engines}
    racks_of = {name: {rack_of[x.engine] for x in result.plan.routes if x.tenant == name} for name in "ab"}
    assert len(result.plan.racks) == 2 and len(racks_of["a"]) == 2 and racks_of["a"] == racks_of["b"]


def test_the_warm_start_keeps_spread_tenants_apart_so_its_plan_maps() -> None:
    """``pooled`` routes a (min_racks = 2) to the engines it shares with b; (E5) gives a spread
    tenant only engines of its own, so that plan has no MIP solution to start from.
    ``pooled-spread-apart`` gives a engines of its own: its plan maps, and the warm start always
    runs it."""
    instance = make([tenant("a", 2.0, min_racks=2), tenant("b", 6.0)])
    performance = PerformanceModel(instance)
    f = build_formulation(instance, performance)
    assert from_plan(f, pooled(instance, performance=performance).plan) is None
    assert from_plan(f, pooled_spread_apart(instance, performance=performance).plan) is not None
    assert pooled_spread_apart in WARM_START_ALWAYS


def test_a_plan_is_rebuilt_into_a_start_that_keeps_every_row() -> None:
    """A plan gives a (2 requests/s, one request/s per one-GPU replica, min_racks = 2) 3
    replicas, one in each of 3 racks; (10) builds a spread group in whole copies. The
    start has 4 replicas, 2 in each of 2 racks (z = 2, one 2-GPU virtual rack built twice, which
    (7) and (10) need and no more), and its fixed racks and replicas route every scenario."""
    instance = make([tenant("a", 2.0, min_racks=2)])
    performance = PerformanceModel(instance)
    f = build_formulation(instance, performance)
    plan = siloed(instance, performance=performance).plan
    first = plan.racks[0].model_copy(update={"engines": (plan.racks[0].engines[0].model_copy(update={"count": 1}),)})
    racks = [first.model_copy(update={"id": f"dc/hgx-b200/000{i}", "engines": (
        first.engines[0].model_copy(update={"id": f"dc/hgx-b200/000{i}/a/aggregated"}),)}) for i in range(3)]
    routes = [r.model_copy(update={"engine": rack.engines[0].id}) for r in plan.routes
              if r.engine == plan.racks[0].engines[0].id for rack in racks]
    start = from_plan(f, plan.model_copy(update={"racks": tuple(racks), "routes": tuple(routes)}))
    assert start is not None and start.replicas.sum() == 4 and start.racks.sum() == 2
    routed = route(f, start, Settings(time_limit=TIME_LIMIT_S, gap=0.0, threads=1, seed=0))
    assert routed is not None and routed.unserved.max() == pytest.approx(0.0, abs=1e-9)


def _start_from_layout(  # type: ignore[no-untyped-def]
    a_requests_per_s: float, layout: list[dict[str, int]], max_racks: int | None = None,
):
    """(formulation, start) for a (``a_requests_per_s``, min_racks = 2) and b (8 requests/s), one
    request/s per one-GPU replica on 8-GPU racks (``max_racks`` in stock), from a plan holding
    ``layout[i]`` replicas per tenant in rack i, each tenant's routes split over its engines by replicas."""
    tenants = [tenant("a", a_requests_per_s, min_racks=2), tenant("b", 8.0)]
    instance = make(tenants)
    performance = PerformanceModel(instance)
    f = build_formulation(make(tenants, fleet_entries=[fleet(max_racks=max_racks)]), performance)
    plan = siloed(instance, performance=performance).plan
    engine_of = {r.tenant: next(e for rack in plan.racks for e in rack.engines if e.id == r.engine) for r in plan.routes}
    racks = [plan.racks[0].model_copy(update={"id": f"dc/hgx-b200/000{i}", "engines": tuple(
        engine_of[name].model_copy(update={"id": f"dc/hgx-b200/000{i}/{name}/aggregated", "count": count})
        for name, count in counts.items())}) for i, counts in enumerate(layout)]
    routes = [r.model_copy(update={"engine": f"dc/hgx-b200/000{i}/{r.tenant}/aggregated",
                                   "input_tokens_per_s": r.input_tokens_per_s * share,
                                   "output_tokens_per_s": r.output_tokens_per_s * share})
              for r in plan.routes for i, counts in enumerate(layout) if r.tenant in counts
              for share in [counts[r.tenant] / sum(c.get(r.tenant, 0) for c in layout)]]
    return f, from_plan(f, plan.model_copy(update={"racks": tuple(racks), "routes": tuple(routes)}))


def test_a_start_moves_unspread_replicas_beside_spread_ones_where_there_is_room() -> None:
    """a 2 requests/s, b 8 (:func:`_start_from_layout`). A plan packs a 1 + b 3, a 1, and b 5
    into three racks. Only 3 // 2 = 1 b per copy sits beside a by the plan's own racks: z = 1 +
    w = 1 fills 2 GPUs of a virtual rack built twice, and the other 6 b need a rack of their
    own (3 racks). Each copy has room for 6 more GPUs, so the start puts w = 4 b beside a (all
    8 b in the 2 copies, 5 GPUs each): 2 racks, fewer than the plan's, and every row holds."""
    f, start = _start_from_layout(2.0, [{"a": 1, "b": 3}, {"a": 1}, {"b": 5}])
    assert start is not None and start.replicas.sum() == 10 and start.racks.sum() == 2
    assert sum(start.alongside.values()) == 4
    routed = route(f, start, Settings(time_limit=TIME_LIMIT_S, gap=0.0, threads=1, seed=0))
    assert routed is not None and routed.unserved.max() == pytest.approx(0.0, abs=1e-9)


def test_a_start_places_unspread_replicas_afresh_when_the_plans_placement_needs_more_racks() -> None:
    """a 12 requests/s, b 8 (:func:`_start_from_layout`). A plan packs a 4 + b 4, a 4 + b 4,
    and a 4 into three racks. By its own placement 8 // 2 = 4 b sit beside a per copy: z = 6 +
    w = 4 = 10 GPUs, 2 virtual racks built twice, 4 racks. From none beside: z = 6 needs one
    virtual rack (2 racks), its 2 free GPUs per copy take w = 2, and the other 4 b one rack of
    their own: 3 racks, which the start keeps."""
    f, start = _start_from_layout(12.0, [{"a": 4, "b": 4}, {"a": 4, "b": 4}, {"a": 4}])
    assert start is not None and start.replicas.sum() == 20 and start.racks.sum() == 3
    assert sum(start.alongside.values()) == 2


def test_a_start_beyond_the_inventory_is_no_start() -> None:
    """The plan above needs 3 racks however it is mapped; with 2 racks in stock it gives no start
    (HiGHS would clip the racks to 2 and then find (7) broken, and drop the start: medium-03)."""
    assert _start_from_layout(12.0, [{"a": 4, "b": 4}, {"a": 4, "b": 4}, {"a": 4}], max_racks=3)[1] is not None
    assert _start_from_layout(12.0, [{"a": 4, "b": 4}, {"a": 4, "b": 4}, {"a": 4}], max_racks=2)[1] is None


def test_disaggregation(solver: str) -> None:
    """(3): prefill 4000 input tokens/s = 8 requests/s per GPU; decode 1000 output tokens/s =
    2 requests/s per GPU. 12 requests/s: ceil(12/8) = 2 prefill + 6 decode = 8 GPUs, one rack,
    $8/h; aggregated alone would need 12 GPUs (2 racks)."""
    instance = make([tenant("a", 12.0)], profiles=[profile(), profile("prefill"), profile("decode")])
    assert_optimum(instance, solver, 8.0)


def test_kv_transfer(solver: str) -> None:
    """(6): scale-out cut to 0.073728 Gbit/s per GPU = 9.216 MB/s, the KV of one request/s
    (500 input tokens x 18432 bytes/token, gpt-oss-120b fp8-cache). Decode then serves
    1 request/s per GPU: 2 prefill + 12 decode = 14 GPUs, or 12 aggregated: 2 racks, $16/h."""
    slow_net = system("hgx-b200", "slow-net", gpus_per_rack=8, scaleout_gbit_s=0.073728)
    instance = make(
        [tenant("a", 12.0)],
        fleet_entries=[fleet("slow-net")],
        profiles=[profile(system="slow-net"), profile("prefill", system="slow-net"),
                  profile("decode", system="slow-net")],
        systems=[slow_net],
    )
    assert_optimum(instance, solver, 16.0)


# -- infeasible instances -----------------------------------------------------------


def test_no_configuration_meets_the_slo(solver: str) -> None:
    """A promise of 1000 tokens/s/user: no profile reaches it; the tenant is named, with the SLO."""
    instance = make([tenant("ok", 1.0), tenant("greedy", 1.0, min_tokens_per_s_per_user=1000)])
    result = solve(instance, solver, time_limit=TIME_LIMIT_S)
    assert result.status == Status.INFEASIBLE
    assert result.plan is None
    assert [u.tenant for u in result.unserved] == ["greedy"]
    assert "SLO" in result.unserved[0].reason


def test_inventory_binds(solver: str) -> None:
    """One 8-GPU rack in stock, 12 requests/s: infeasible by inventory; with allow_unserved the
    rack serves 8 requests/s ($8/h) and 4 are left, named."""
    instance = make([tenant("big", 12.0)], fleet_entries=[fleet(max_racks=1)])
    result = solve(instance, solver, time_limit=TIME_LIMIT_S)
    assert result.status == Status.INFEASIBLE
    assert [u.tenant for u in result.unserved] == ["big"]
    assert result.unserved[0].reason.startswith("inventory")

    partial = solve(instance, solver, time_limit=TIME_LIMIT_S, allow_unserved=True)
    assert partial.plan is not None
    assert partial.objective == pytest.approx(8.0)
    # CP-SAT routes in units of 1/FLOW_STEPS of the peak: 8 of 12 requests/s is 6666.7 units
    assert [u.tenant for u in partial.unserved] == ["big"]
    assert partial.unserved[0].requests_per_s == pytest.approx(4.0, rel=1 / FLOW_STEPS * 12 / 4)
    assert {v.rule for v in check(instance, partial.plan) if v.severity == "error"} == {"demand"}


def test_alternative_limits_are_named_with_their_values(solver: str) -> None:
    """'big' may use site a only, where one 8-GPU rack (8 requests/s) is in stock; site b has
    stock to spare. Relaxing inventory alone, or residency alone, serves its 12 requests/s: the
    reason names both, as alternatives, with the tenant's values."""
    instance = make(
        [tenant("big", 12.0, sites=["a"])],
        fleet_entries=[fleet(site="a", max_racks=1), fleet(site="b")],
        sites=[{"name": "a"}, {"name": "b"}],
    )
    result = solve(instance, solver, time_limit=TIME_LIMIT_S)
    assert result.status == Status.INFEASIBLE
    assert [u.reason for u in result.unserved] == [
        "any one of these limits, relaxed alone, would let it be served: inventory (max_racks: "
        "hgx-b200 at a 1); residency (its sites a)"
    ]


def test_site_power_binds(solver: str) -> None:
    """A 10 kW site cannot power one 17.36 kW rack: infeasible by site power."""
    instance = make([tenant("a", 1.0)], sites=[{"name": "dc", "power_mw": 0.01}])
    result = solve(instance, solver, time_limit=TIME_LIMIT_S)
    assert result.status == Status.INFEASIBLE
    assert result.unserved[0].reason.startswith("site power")


def test_feasible_control_has_no_unserved(solver: str) -> None:
    """Control for the infeasible cases: the same tenant with stock to spare is served fully."""
    result = solve(make([tenant("big", 12.0)], fleet_entries=[fleet(max_racks=2)]), solver, time_limit=TIME_LIMIT_S)
    assert result.status == Status.OPTIMAL
    assert result.unserved == ()


# -- settings and determinism -------------------------------------------------------


def test_same_seed_same_plan(solver: str, two_tenants_profiles: Instance) -> None:
    first = solve(two_tenants_profiles, solver, time_limit=TIME_LIMIT_S, seed=7)
    second = solve(two_tenants_profiles, solver, time_limit=TIME_LIMIT_S, seed=7)
    assert first.plan is not None and second.plan is not None
    assert first.plan.racks == second.plan.racks
    assert first.plan.routes == second.plan.routes


def test_given_starts_are_checked_and_the_cheapest_starts_the_mip(caplog: pytest.LogCaptureFixture) -> None:
    """A start the checker accepts starts the MIP (the heuristics are off here, so the warm start
    can only be it); one it rejects (a plan of another instance: tenant 'b' unknown here) is set
    aside."""
    instance = make([tenant("a", 10.0)])  # 10 one-GPU replicas in 2 racks: $16/h
    optimum = solve(instance, time_limit=TIME_LIMIT_S)
    other = solve(make([tenant("b", 1.0)]), time_limit=TIME_LIMIT_S)
    assert optimum.plan is not None and other.plan is not None
    with caplog.at_level("INFO", logger="solvers.mip"):
        result = solve(instance, time_limit=TIME_LIMIT_S, starts=[other.plan, optimum.plan], warm_start=False)
    assert result.objective == pytest.approx(16.0)
    assert "warm start: a given start is a plan the checker rejects; not used" in caplog.text
    assert "warm start: $16.00/h" in caplog.text


def test_progress_reports_the_best_bound_so_far() -> None:
    """small-02 (8 tenants): HiGHS's first log row of the whole MIP shows a bound of 0, which the
    CLI printed as "gap 100.00%"; progress reports the LP relaxation's bound instead. Every bound
    reported holds (at most the returned plan's cost, proven optimal or not: a loaded machine may
    stop the run at its time limit) and none falls below an earlier one."""
    instance = load_instance(BENCH / "small" / "small-02.json")
    reported: list[tuple[float | None, float | None]] = []
    result = solve(
        instance, time_limit=TIME_LIMIT_S, progress=lambda incumbent, bound, _: reported.append((incumbent, bound))
    )
    assert result.status in (Status.OPTIMAL, Status.FEASIBLE) and result.objective is not None
    bounds = [bound for _, bound in reported if bound is not None]
    assert bounds, "the whole MIP reported its bound"
    assert min(bounds) > 0
    assert bounds == sorted(bounds)
    assert max(bounds) <= result.objective * (1 + 1e-9)
    assert all(incumbent is None or incumbent >= result.objective * (1 - 1e-9) for incumbent, _ in reported)


def test_an_interrupted_run_keeps_its_best_plan_and_bound() -> None:
    """Ctrl-C arriving while the solver reports progress (here raised by the progress callback on
    its first report with a bound) stops the run with an :class:`Interrupted` carrying the cheapest
    plan the checker accepted so far, priced by the evaluator, and the LP bound proven by then."""
    instance = load_instance(BENCH / "small" / "small-02.json")

    def interrupt(incumbent: float | None, bound: float | None, elapsed: float) -> None:
        if bound is not None:
            raise KeyboardInterrupt

    with pytest.raises(Interrupted) as stopped:
        solve(instance, time_limit=TIME_LIMIT_S, progress=interrupt)
    result = stopped.value.result
    assert str(stopped.value) == "SIGINT"
    assert (result.status, result.limit) == (Status.FEASIBLE, Limit.INTERRUPTED)
    assert result.plan is not None and result.objective is not None and result.bound is not None
    assert not [v for v in check(instance, result.plan) if v.severity == "error"]
    assert result.objective == pytest.approx(evaluate(instance, result.plan).usd_per_hour)
    assert result.report == evaluate(instance, result.plan)
    assert 0 < result.bound <= result.objective
    assert result.plan.solve is not None and result.plan.solve.limit == Limit.INTERRUPTED  # the proof travels


def test_cli_solve_stopped_by_sigterm_writes_the_best_plan_and_exits_143(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The CLI writes the interrupted run's plan (atomically, as always) and exits 128 + 15."""
    instance = make([tenant("a", 1.0)])
    path = tmp_path / "one.json"
    path.write_text(instance.to_json())
    plan = pooled(instance, time_limit=5, seed=0, threads=1, performance=None).plan
    assert plan is not None
    cost = evaluate(instance, plan).usd_per_hour
    stopped = Result("highs", Status.FEASIBLE, Limit.INTERRUPTED, cost, None, 1.0, plan)

    def interrupted_solve(*args: object, **kwargs: object) -> Result:
        raise Interrupted(stopped, "SIGTERM")

    monkeypatch.setattr("optimizer.cli.solve.solve", interrupted_solve)
    out = tmp_path / "plan.json"
    assert main(["solve", str(path), "-o", str(out)]) == 143
    assert Plan.load(out) == plan
    summary = capsys.readouterr().out
    assert "limit: interrupted" in summary
    assert "overall: $" in summary  # a result without its run's report is evaluated (evaluate.report_of)


def test_bad_settings_are_refused() -> None:
    instance = make([tenant("a", 1.0)])
    with pytest.raises(ValueError, match="unknown solver"):
        solve(instance, "gurobi")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="time_limit"):
        solve(instance, time_limit=0)
    with pytest.raises(ValueError, match="gap"):
        solve(instance, gap=1.5)
    assert solve(instance, time_limit=TIME_LIMIT_S).status == Status.OPTIMAL  # control


def test_settings_refuse_assignment() -> None:
    """A backend run's settings cannot change under it: assigning a field raises; ``replace``
    makes new settings and leaves the old as they were (the control)."""
    settings = Settings(time_limit=1.0, gap=0.0, threads=1, seed=0)
    with pytest.raises(FrozenInstanceError):
        settings.seed = 3  # type: ignore[misc]
    assert settings.seed == 0
    assert replace(settings, seed=3).seed == 3 and settings.seed == 0


# -- generated instances ------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2])
def test_generated_instance_against_heuristics(solver: str, seed: int) -> None:
    """A generated 3-tenant, 24-scenario book: the MIP's plan passes the checker, costs no more
    than any heuristic's, and its bound is at most every plan's cost."""
    instance = generate_instance(3, sites=1, seed=seed)
    performance = PerformanceModel(instance)
    heuristics = [
        METHODS[name](instance, time_limit=10.0, seed=0, threads=1, performance=performance)
        for name in ("siloed", "pooled", "pooled-aggregated")
    ]
    result = solve(instance, solver, time_limit=8.0, performance=performance)
    assert result.plan is not None
    assert [v for v in check(instance, result.plan, performance) if v.severity == "error"] == []
    assert result.objective == pytest.approx(evaluate(instance, result.plan, performance).usd_per_hour)
    costs = [h.objective for h in heuristics if h.objective is not None and not h.unserved]
    assert costs, "control: the heuristics serve this instance"
    assert all(result.objective <= cost + 1e-6 for cost in costs)
    assert result.bound is not None
    assert all(result.bound <= cost + 1e-6 for cost in [*costs, result.objective])


# -- command line -------------------------------------------------------------------


def test_cli_json_carries_result_and_report(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """``tenantplan solve FILE --json -o PLAN``: stdout is only the JSON; the plan file is written."""
    source = tmp_path / "hand.json"
    source.write_text(make([tenant("a", 10.0)]).to_json())
    plan_path = tmp_path / "plan.json"
    report_dir = tmp_path / "report"
    code = main([
        "solve", str(source), "--json", "--time-limit", "10", "-o", str(plan_path), "--report", str(report_dir)
    ])
    payload = json.loads(capsys.readouterr().out)
    assert code == 0
    assert "<svg" in (report_dir / "report.html").read_text()  # --report writes the plan's page
    assert payload["status"] == "optimal" and payload["objective"] == pytest.approx(16.0)  # 2 racks
    assert payload["report"]["usd_per_hour"] == pytest.approx(16.0)
    assert {"bound", "gap", "runtime_s", "plan", "unserved"} <= set(payload)
    assert set(payload["phases_s"]) == set(PHASES)
    # within the runtime, but for rounding: each of the 8 phases is rounded to the ms (at most 4 ms over)
    assert 0 < sum(payload["phases_s"].values()) <= payload["runtime_s"] + 0.004
    assert (payload["bound_scope"], payload["bound_solver"]) == ("all", "highs")  # one profile: nothing left out
    assert Plan.load(plan_path).racks == Plan.model_validate(payload["plan"]).racks
    # the proof travels with the plan: the file's solve record is the run's, and the page says it
    record = json.loads(plan_path.read_text())["solve"]
    assert record["status"] == "optimal" and record["objective"] == pytest.approx(16.0)
    assert record["bound"] == payload["bound"] and record["gap"] == payload["gap"] <= 1e-4
    assert (record["solver"], record["time_limit_s"], record["seed"], record["confidence"]) == ("highs", 10.0, 0, 0.8)
    assert record["runtime_s"] <= payload["runtime_s"] and sum(record["bases"].values()) == len(
        payload["report"]["engines"])
    assert record["bound_scope"].startswith("every candidate configuration the performance model offers (proved by highs")
    page = (report_dir / "report.html").read_text()
    assert "Proven optimal, gap " in page and f"bound ${payload['bound']:,.2f}/hour" in page
    # the written plan starts a new run (`--start`): the same optimum
    assert main(["solve", str(source), "--json", "--time-limit", "10", "--start", str(plan_path)]) == 0
    assert json.loads(capsys.readouterr().out)["objective"] == pytest.approx(16.0)


def test_cli_infeasible_exits_3_and_names_the_tenant(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "hand.json"
    source.write_text(make([tenant("big", 12.0)], fleet_entries=[fleet(max_racks=1)]).to_json())
    assert main(["solve", str(source), "--time-limit", "10"]) == EXIT_INFEASIBLE
    out = capsys.readouterr().out
    assert "big" in out and "inventory" in out
    assert main(["solve", str(source), "--time-limit", "10", "--allow-unserved"]) == 0  # control


def test_cli_bad_input_exits_2(tmp_path) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "hand.json"
    source.write_text(make([tenant("a", 1.0)]).to_json())
    assert main(["solve", str(tmp_path / "missing.toml")]) == EXIT_BAD_INPUT
    assert main(["solve", str(source), "--gap", "2"]) == EXIT_BAD_INPUT
    assert main(["solve", str(source), "--start", str(tmp_path / "missing-plan.json")]) == EXIT_BAD_INPUT


def test_cli_progress_prints_each_new_incumbent_or_bound_once(caplog: pytest.LogCaptureFixture) -> None:
    """One line per incumbent or bound that changes to the cent: a solver's 884.4600000001 is the
    evaluator's 884.46, and a call without a bound keeps the last one."""
    lines = _ProgressLines()
    with caplog.at_level("INFO", logger="optimizer.cli.solve"):
        lines(884.46, None, 1.0)
        lines(884.4600000001, 594.72, 2.0)  # a new bound
        lines(884.46, 594.72, 3.0)  # nothing new
        lines(858.88, None, 4.0)  # a new incumbent; the bound stays
    assert [record.getMessage().split() for record in caplog.records] == [
        ["incumbent", "$", "884.46/h", "bound", "-", "gap", "-", "1.0", "s"],
        ["incumbent", "$", "884.46/h", "bound", "$", "594.72/h", "gap", "32.76%", "2.0", "s"],
        ["incumbent", "$", "858.88/h", "bound", "$", "594.72/h", "gap", "30.76%", "4.0", "s"],
    ]


# -- failure survival (12) ------------------------------------------------------------


@pytest.mark.parametrize("share, demand, usd_per_hour, plain_usd_per_hour", [
    # without survive: 6 replicas, one rack, $8/h. One rack cannot survive its own loss, and a
    # rack holds at most 8 replicas, so (12) asks n - 8 >= 6: 14 replicas, 2 racks, $16/h
    (1.0, 6.0, 16.0, 8.0),
    # 12 requests/s (2 racks without survive): n - 8 >= 12, 20 replicas, 3 racks (8 + 8 + 4:
    # any two hold 12), $24/h
    (1.0, 12.0, 24.0, 16.0),
    # keeping half: n - 8 >= 6 and n >= 12: 14 replicas in 2 racks (8 + 6), the $16/h the 12
    # replicas cost anyway; survival is free here
    (0.5, 12.0, 16.0, 16.0),
])
def test_survive_a_rack_plans_the_reserve(share, demand, usd_per_hour, plain_usd_per_hour) -> None:
    instance = make([tenant("a", demand, survive="rack", survive_share=share)])
    assert_survives(instance, usd_per_hour, plain_usd_per_hour)


def test_survive_a_site_needs_capacity_at_the_other() -> None:
    """6 requests/s at sites dc and dc2: losing either site must leave 6 replicas, so each
    site has a rack: $16/h (without survive, one rack: $8/h). Losing a rack is covered too."""
    instance = make([tenant("a", 6.0, survive="site")], fleet_entries=[fleet(), fleet(site="dc2")],
                    sites=[{"name": "dc"}, {"name": "dc2"}])
    assert_survives(instance, 16.0, 8.0)


def test_survive_reserve_is_shared_between_tenants() -> None:
    """a and b, 6 requests/s each, both survive a rack: one failure hits one rack, so they share
    the reserve: n - 8 >= 12, 20 replicas, 3 racks, $24/h (reserves of their own: 4 racks).
    Without survive: 12 replicas, $16/h."""
    assert_survives(make([tenant("a", 6.0, survive="rack"), tenant("b", 6.0, survive="rack")]), 24.0, 16.0)


def test_bundled_survive_example_costs_three_racks_against_one() -> None:
    """instances/examples/survive.toml: acme-chat (dc1 only) survives a rack loss, so dc1 has
    2 racks; bolt-api keeps half of its 6 requests/s after losing dc1, so dc2 has 1: 3 hgx-b200
    racks x 32 GPUs x $1.95 = $187.20/h. Without survive both fit one rack, $62.40/h (tiny's
    10 requests/s need 7 one-GPU replicas, 16 need 11 of the rack's 32 GPUs)."""
    instance = load_instance(EXAMPLES / "survive.toml")
    assert_survives(instance, 187.2, 62.4)


def test_survive_is_refused_on_cp_sat() -> None:
    with pytest.raises(ValueError, match="cp-sat"):
        solve(make([tenant("a", 6.0, survive="rack")]), "cp-sat", time_limit=1.0)


def assert_survives(instance: Instance, usd_per_hour: float, plain_usd_per_hour: float) -> None:
    """Optimal at ``usd_per_hour`` on highs with every survive promise kept by
    ``optimizer.stress``; the same instance without survive costs ``plain_usd_per_hour``, and
    where that is less its plan breaks the promise."""
    result = solve(instance, "highs", time_limit=TIME_LIMIT_S, gap=0.0)
    assert result.status == Status.OPTIMAL and result.plan is not None
    assert result.objective == pytest.approx(usd_per_hour)
    assert result.bound is not None and result.bound <= usd_per_hour + 1e-6
    assert [v for v in check(instance, result.plan) if v.severity == "error"] == []
    assert all(o.kept for o in stress(instance, result.plan))
    plain = instance.model_copy(update={"tenants": tuple(
        t.model_copy(update={"survive": "none"}) for t in instance.tenants)})
    cheaper = solve(plain, "highs", time_limit=TIME_LIMIT_S, gap=0.0)
    assert cheaper.plan is not None and cheaper.objective == pytest.approx(plain_usd_per_hour)
    if plain_usd_per_hour < usd_per_hour:
        assert "survive" in {v.rule for v in check(instance, cheaper.plan)}


class _NoTimeToBuild(TimeBudget):
    """A budget that starts every build and gives it up at once (build_by_s = 0)."""

    def builds_model(self, limit_s: float, elapsed_s: float) -> bool:
        return True

    def build_by_s(self, limit_s: float) -> float:
        return 0.0


def test_a_build_past_its_deadline_keeps_the_warm_start_within_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """xlarge-01 at 600 s built its model for 411 s after a 396-s warm start and ended at 818 s.
    Now a build still choosing candidates past the budget's build_by_s is given up: the run
    returns the warm start's cheapest plan (pooled's or cheaper), limit TIME, with no bound, and
    no LP or MIP ran."""
    instance = load_instance(EXAMPLES / "tiny.toml")
    with pytest.raises(OutOfTime):
        build_formulation(instance, deadline=time.perf_counter())
    monkeypatch.setattr("solvers.mip.run.BUDGET", _NoTimeToBuild())
    result = solve(instance, time_limit=30.0)
    warm = pooled(instance, time_limit=30.0)
    assert (result.status, result.limit, result.bound) == (Status.FEASIBLE, Limit.TIME, None)
    assert result.plan is not None and result.objective <= warm.objective + 1e-9
    assert result.report == evaluate(instance, result.plan)
    assert not [v for v in check(instance, result.plan) if v.severity == "error"]
    assert result.phases_s["warm start"] > 0 and result.phases_s["LP"] == result.phases_s["MIP"] == 0
