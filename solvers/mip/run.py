"""How :func:`optimizer.solve` runs the MIP: warm start, LP relaxation, LP-guided and full MIP.

Steps: warm start from the heuristics' plans (the cheapest is the incumbent, the
cheapest that maps onto the model starts the MIP), build the formulation (with
their engines among the candidates),
solve the LP relaxation by scenario generation (its bound holds), a MIP restricted
to the groups the LP uses (a good plan fast; widened by the groups of least reduced
cost while its rounds solve to optimality), then, when the model is small enough
to solve whole, the whole MIP within the time limit; every plan is priced by the evaluator
and the cheapest the checker accepts is returned. When no plan serves all demand
the result is ``INFEASIBLE`` and names each tenant left out with the binding
reason; with ``allow_unserved`` the cheapest plan serving the most demand is
returned instead, in two phases (most demand served, then cheapest with each
tenant's unserved demand capped at the first phase's).

Determinism: candidates, pools and arcs are built in instance order and the
backends run with a fixed seed (CP-SAT with several workers interleaves them
deterministically), so the same input, seed and threads give the same plan
whenever the run ends by the gap or optimality; a run stopped by the time limit
may end on a different incumbent.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace

import numpy as np

from optimizer.check import check
from optimizer.evaluate import evaluate
from optimizer.instance import Instance
from optimizer.performance import EngineConfig, PerformanceModel
from optimizer.plan import Plan
from optimizer.result import BoundScope, Interrupted, Limit, Result, Status, Unserved, relative_gap
from solvers.heuristics import pooled, pooled_aggregated, pooled_spread_apart, siloed
from solvers.mip.backend import BackendResult, Progress, Settings, Solution
from solvers.mip.cpsat import solve_cpsat
from solvers.mip.diagnose import diagnose, elastic_unserved
from solvers.mip.formulation import Formulation, build_formulation, restrict
from solvers.mip.mathopt import solve_mathopt
from solvers.mip.reconstruct import from_plan, to_plan, unserved_by_tenant

logger = logging.getLogger(__name__)

WARM_START_ALWAYS = (pooled, pooled_spread_apart)
"""Heuristics the warm start always runs: ``pooled``, the plan to beat, and, where some tenant
spreads, ``pooled-spread-apart``, a plan that maps onto the model and so can start the MIP
(``pooled`` plans pool spread tenants, which (E5) does not allow: they map onto no medium or
large instance). The second takes 1-2 s on medium instances after the first's 9 s: the
performance model's answers are cached."""
WARM_START_IF_TIME = (pooled_aggregated, siloed)
"""Heuristics the warm start runs after those, in order, while :data:`WARM_START_SHARE` of the
time limit lasts."""
WARM_START_SHARE = 0.1
"""Once this share of the time limit has gone, no :data:`WARM_START_IF_TIME` heuristic is started."""
FINISH_SHARE = 0.05
"""Share of the time limit kept for turning solutions into priced, checked plans after solving."""
FINISH_PER_CHECK = 8.0
"""... and this many times the seconds the checker took on the warm start, kept besides: the
LP-guided plan is built, checked and priced (and mapped into the whole MIP's start) after its
MIP, and it has more routes than the heuristic's (large-02 at 600 s, 3988104: 81.5 s for that
against the warm start's 10.8 s check, 7.5 times; with 3 times the run ended at 620-636 s)."""
SCENARIO_GENERATION_ABOVE = 200_000
"""Flow variables (arcs x scenarios) above which scenarios are generated rather than all modelled:
at 600 s the whole MIP of medium-03 (175k) finished its root and raised the bound; that of
large-01 (198-211k) found no plan in any of the five runs logged (61-211 s each) and left the
LP's rounds and the LP-guided MIP less time (docs/formulation.md, step 4)."""
WHOLE_FLOWS_PER_SECOND = 2_000
"""... and above this many per second of the time limit: a whole MIP HiGHS cannot finish the
root of in the time gives neither plan nor bound (medium-03, 175k flow variables, at 60 s: gap
13.5% whole against 7.1% by generation)."""
ENTRY_SHORTLIST_ABOVE = 200
"""Tenants above which each tenant keeps only its cheapest ``MAX_ENTRIES_PER_TENANT`` fleet entries."""
MAX_ENTRIES_PER_TENANT = 3
WHOLE_MIP_SHARE = 0.1
"""Least share of the time limit left for the whole MIP to be attempted."""
LP_GUIDED_SHARE = 0.3
"""Share of the time limit the MIP restricted to the LP relaxation's support may use."""
ROUND_SHARE = 0.5
"""Share of the time left a round of scenario generation may use while scenarios are missing."""
SCENARIOS_PER_ROUND = 2
"""Scenarios added per round of scenario generation (the ones leaving most tokens unserved)."""
LP_SCENARIOS_PER_ROUND = 4
"""The same for the LP relaxation, whose rounds are cheaper."""
LP_SHARE = 0.3
"""Share of the time limit the LP relaxation's rounds may start within."""
LP_SHARE_GENERATED = 0.5
"""The same when the MIP would need scenario generation (no whole MIP follows)."""
EVERY_CANDIDATE_SHARE = 0.2
"""Share of the time limit the LP relaxation over every candidate (the bound over ``all``, when
the shortlist left some out) may start rounds within, after the shortlist's LP relaxation."""
EVERY_CANDIDATE_MAX_TENANTS = 200
"""Tenants above which no bound over every candidate is attempted: large-01 (1000 tenants) has
237,012 arcs over every candidate against 7,658 shortlisted, 26.8 s to build
(``build_formulation(load_instance("instances/bench/large/large-01.json"))`` after the
shortlist's, which had filled the performance model's caches), an LP a 60-s run cannot start."""
EVERY_CANDIDATE_FLOWS_PER_SECOND = 20_000
"""Flow variables per second of :data:`EVERY_CANDIDATE_SHARE` of the time limit above which the
LP over every candidate is not attempted (the bound stays over the shortlist): at 60 s, small-06's
234,552 flows gave a bound within its 12 s, while medium-01's 938,736 gave none and medium-03's
1,874,664 cost the LP-guided MIP its time (the pooled plan, $43,432.48/h, against $37,372.51/h
at 0d55f27 with no such attempt; ``tenantplan solve instances/bench/medium/medium-03.json
--time-limit 60``, 2 shared cores)."""
EVERY_CANDIDATE_GROWTH = 7
"""About the least ratio of flow variables over every candidate to the shortlist's (7.8x on
small-04, 8.0x enterprise-mix, up to 12.2x medium-02; ``build_formulation`` with and without
``max_arcs_per_role=2`` on the small and medium bench sets): a shortlist whose flows times this
exceed the LP's budget is not widened at all (building the wider model alone took 4 s on
medium-03, time the LP-guided MIP then lacked)."""
ROUTING_TOLERANCE = 1e-7
"""Unserved demand below this share of a tenant's demand counts as routed (checker: 1e-6)."""


def backend_for(solver: str):  # type: ignore[no-untyped-def]
    """The backend function ``(formulation, settings) -> BackendResult`` called ``solver``."""
    if solver == "cp-sat":
        return solve_cpsat
    if solver in ("highs", "scip"):
        return lambda f, settings: solve_mathopt(f, settings, solver)
    raise ValueError(f"unknown solver '{solver}'; choose highs, cp-sat or scip")


def run_mip(
    instance: Instance,
    solver: str,
    *,
    time_limit: float,
    gap: float,
    threads: int,
    seed: int,
    allow_unserved: bool,
    performance: PerformanceModel | None,
    progress: Progress | None,
    warm_start: bool,
    max_arcs_per_role: int | None,
    starts: tuple[Plan, ...],
    start: float,
) -> Result:
    """The body of :func:`optimizer.solve` (arguments checked there)."""
    backend = backend_for(solver)
    performance = performance if performance is not None else PerformanceModel(instance)
    warm, check_s = _warm_start(
        instance, performance, time_limit * WARM_START_SHARE, time_limit * (1 - FINISH_SHARE), seed, starts, warm_start,
    )
    if warm and time.perf_counter() - start > (1 - WHOLE_MIP_SHARE) * time_limit:
        usd_per_hour, plan = warm[0]
        logger.info("the warm start took %.1f of %g s: its plan is kept, the model is not built",
                    time.perf_counter() - start, time_limit)
        return Result(solver, Status.FEASIBLE, Limit.TIME, usd_per_hour, None, time.perf_counter() - start,
                      plan.model_copy(update={"method": solver}))
    f = _model(instance, performance, warm, max_arcs_per_role)
    shortlisted = max_arcs_per_role is not None or len(instance.tenants) > ENTRY_SHORTLIST_ABOVE
    run = _Run(instance, performance, f, backend, solver, start, warm, time_limit, gap, shortlisted)
    try:
        settings = Settings(
            time_limit=max(0.1, time_limit * (1 - FINISH_SHARE) - FINISH_PER_CHECK * check_s - (time.perf_counter() - start)),
            gap=gap,
            threads=threads,
            seed=seed,
            hint=run.mip_start(f, run.warm),
            progress=_since(start, progress) if progress is not None else None,
        )
        if allow_unserved:
            return run.most_served(settings)
        if f.no_candidate:
            return run.infeasible(settings)
        return run.cheapest(settings)
    except KeyboardInterrupt as stop:
        raise Interrupted(run.so_far(), str(stop) or "SIGINT") from None


def formulation_for(
    instance: Instance,
    performance: PerformanceModel,
    *,
    time_limit: float,
    seed: int,
    starts: tuple[Plan, ...],
    warm_start: bool,
    max_arcs_per_role: int | None,
) -> tuple[Formulation, list[tuple[float, Plan]], float]:
    """The model :func:`optimizer.solve` builds for ``instance`` under ``time_limit`` seconds,
    the warm start's engines among its candidates; and the warm start's ($/hour, plan),
    cheapest first, and the most seconds the checker took on one of them."""
    warm, check_s = _warm_start(
        instance, performance, time_limit * WARM_START_SHARE, time_limit * (1 - FINISH_SHARE), seed, starts, warm_start,
    )
    return _model(instance, performance, warm, max_arcs_per_role), warm, check_s


def _model(
    instance: Instance, performance: PerformanceModel, warm: list[tuple[float, Plan]], max_arcs_per_role: int | None,
) -> Formulation:
    """The formulation of ``instance``, with the ``warm`` plans' engines among its candidates."""
    f = build_formulation(
        instance,
        performance,
        extra_configs=_routed_configs([plan for _, plan in warm]),
        max_arcs_per_role=max_arcs_per_role,
        max_entries_per_tenant=MAX_ENTRIES_PER_TENANT if len(instance.tenants) > ENTRY_SHORTLIST_ABOVE else None,
    )
    logger.info("formulation: %s", f.summary())
    return f


class _Run:
    """One call of :func:`solve`: the pieces its paths share."""

    def __init__(self, instance, performance, f: Formulation, backend, solver: str, start: float,  # type: ignore[no-untyped-def]
                 warm: list[tuple[float, Plan]], time_limit: float, gap: float, shortlisted: bool):
        self.instance, self.performance, self.f = instance, performance, f
        self.backend, self.solver, self.start = backend, solver, start
        self.warm = [plan for _, plan in warm]
        """the warm start's plans, checked, cheapest first"""
        self.time_limit = time_limit
        """seconds, the whole run's"""
        self.gap = gap
        """the relative gap asked for"""
        self.scope: BoundScope = "shortlist" if shortlisted else "all"
        """what bounds over ``f`` hold over (:meth:`every_candidate` may widen it to ``all``)"""
        self.bound: float | None = None
        """$/hour, the best bound over ``f`` proven so far: the last LP relaxation round's"""
        self.all_bound: float | None = None
        """$/hour, the bound over every candidate proven so far while ``scope`` is ``shortlist``"""
        self.all_bound_solver = "highs"
        """the solver that proved ``all_bound``"""
        self.every: Formulation | None = None
        """the formulation over every candidate, once built, when the shortlist left some out"""
        self.solve_start = time.perf_counter()
        self._costs: dict[int, tuple[float, Plan]] = {}
        """id(plan) -> ($/hour, the plan, kept so its id stays its own)"""
        for usd_per_hour, plan in warm:
            self.priced(plan, usd_per_hour)

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def cheapest(self, settings: Settings) -> Result:
        """The cheapest plan serving all demand, or INFEASIBLE with reasons.

        The LP relaxation comes first: its bound holds, and its support guides a
        small MIP (:meth:`lp_guided`). A model solved whole then gets the whole MIP,
        started from the cheapest plan so far, for the time left (skipped when less
        than :data:`WHOLE_MIP_SHARE` of it is left: building it alone would overrun),
        unless the LP-guided MIP's rounds grew to every group, which was the whole MIP.
        A model solved by scenario generation does not: on large-02 its first round
        found no plan in 5 s (raising the bound 2.0%), and even solved whole the MIP of
        large-01 found none in 207-211 s; so there the LP gets
        :data:`LP_SHARE_GENERATED` of the time for its bound and the LP-guided MIP the rest. The LP's replicas rounded up are not priced as a
        plan: on medium-01 $25,649/h against the LP's $21,464/h, breaking inventory
        and site power.
        """
        whole = not self.generates_scenarios(self.f)
        lp, binding = self.relaxation(settings, LP_SHARE if whole else LP_SHARE_GENERATED)
        if lp.outcome == "infeasible":
            return self.infeasible(replace(settings, time_limit=max(0.1, self.time_left(settings))))
        if self.scope == "shortlist":
            self.every_candidate(settings)
        progress = settings.progress
        if progress is not None and self.all_bound is not None:  # the shortlist's bounds are no bounds over all
            settings = replace(settings, progress=_bounded_below(self.all_bound, progress, own=False))
        elif progress is not None and lp.bound is not None:
            settings = replace(settings, progress=_bounded_below(lp.bound, progress))
        extra = list(self.warm)
        complete: BackendResult | None = None
        if lp.solution is not None:
            share = LP_GUIDED_SHARE if whole else 1.0
            guided = replace(settings, time_limit=min(settings.time_limit * share, self.time_left(settings)))
            plans, complete = self.lp_guided(lp.solution, extra, guided, binding, self.time_left(settings))
            extra += plans
        left = self.time_left(settings)
        if complete is not None:
            outcome = complete
        elif not whole or left < WHOLE_MIP_SHARE * settings.time_limit:
            logger.info("%.1f s left: the whole MIP is skipped", left)
            outcome = BackendResult("no-solution", Limit.TIME, solution=None, objective=None, bound=None, runtime_s=0.0)
        else:
            start = self.mip_start(self.f, extra)
            if start is not None:
                settings = replace(settings, hint=start)
            outcome = self.backend(self.f, replace(settings, time_limit=self.time_left(settings)))
        logger.info(
            "%s: %s after %.1f s, objective %s, bound %s (LP bound %s)",
            self.solver, outcome.outcome, outcome.runtime_s, outcome.objective, outcome.bound, lp.bound,
        )
        if outcome.outcome == "infeasible":
            return self.infeasible(replace(settings, time_limit=max(0.1, self.time_left(settings))))
        bound_solver = self.solver
        if lp.bound is not None and (outcome.bound is None or lp.bound > outcome.bound):
            outcome, bound_solver = replace(outcome, bound=lp.bound), "highs"
        if self.every is not None and self.all_bound is not None:
            shortlisted = self.checked_plan(self.f, outcome)
            widened = None if progress is None else _bounded_below(self.all_bound, progress)
            extra += self.every_mip(replace(settings, progress=widened), extra + ([] if shortlisted is None else [shortlisted]))
        return self.result(outcome, unserved=(), extra_plans=extra, bound_solver=bound_solver)

    def every_mip(self, settings: Settings, plans: list[Plan]) -> list[Plan]:
        """When the cheapest of ``plans`` is farther than the gap asked for from ``all_bound``
        and at least :data:`WHOLE_MIP_SHARE` of the time is left, the MIP over every candidate
        (``every``, solved whole only) for the time left, started from the cheapest of ``plans``
        that maps onto it: its bound, when higher, becomes ``all_bound``; its plan, if the
        checker accepts it, is returned. The survive example's shortlist proves $187.20/h
        optimal, the LP over every candidate only $62.98/h; this MIP proves $187.20/h over all
        (`solve(load_instance("instances/examples/survive.toml"), time_limit=20)`)."""
        assert self.every is not None and self.all_bound is not None
        cheapest = min((self.cost(plan) for plan in plans), default=None)
        left = self.time_left(settings)
        if (relative_gap(cheapest, self.all_bound) or 0.0) <= self.gap or left < WHOLE_MIP_SHARE * settings.time_limit \
                or self.generates_scenarios(self.every):
            return []
        outcome = self.backend(self.every, replace(settings, hint=self.mip_start(self.every, plans), time_limit=left))
        logger.info("MIP over every candidate: %s, bound %s", outcome.outcome, outcome.bound)
        if outcome.bound is not None and outcome.outcome != "infeasible" and outcome.bound > self.all_bound:
            self.all_bound, self.all_bound_solver = outcome.bound, self.solver
        plan = self.checked_plan(self.every, outcome)
        return [] if plan is None else [plan]

    def every_candidate(self, settings: Settings) -> None:
        """Widen the bound to every candidate the performance model offers (docs/formulation.md,
        "What the bound covers"). The formulation without a shortlist is built; when the
        shortlist left none of its arcs out, bounds over ``f`` hold over all of them (``scope``);
        else the LP relaxation of that formulation, by scenario generation within
        :data:`EVERY_CANDIDATE_SHARE` of the time, proves ``all_bound``. Nothing is attempted
        above :data:`EVERY_CANDIDATE_MAX_TENANTS` tenants, and no LP above
        :data:`EVERY_CANDIDATE_FLOWS_PER_SECOND` flow variables per second of its share."""
        budget = EVERY_CANDIDATE_FLOWS_PER_SECOND * EVERY_CANDIDATE_SHARE * settings.time_limit
        if len(self.instance.tenants) > EVERY_CANDIDATE_MAX_TENANTS or _flows(self.f) * EVERY_CANDIDATE_GROWTH > budget:
            return
        every = build_formulation(self.instance, self.performance, extra_configs=self.f.extra_configs)
        left_out = _candidate_keys(every) - _candidate_keys(self.f)
        logger.info("every candidate: %s; the shortlist left out %d arcs", every.summary(), len(left_out))
        if not left_out:
            self.scope = "all"
            return
        if _flows(every) > budget:
            logger.info("%d flow variables over every candidate: too many for %.0f s, the bound stays over the shortlist",
                        _flows(every), EVERY_CANDIDATE_SHARE * settings.time_limit)
            return
        self.every = every
        lp, _ = self.relaxation(settings, EVERY_CANDIDATE_SHARE, every)
        if lp.outcome != "infeasible":
            self.all_bound = lp.bound
        logger.info("LP relaxation over every candidate: bound %s", lp.bound)

    def relaxation(
        self, settings: Settings, share: float, f: Formulation | None = None
    ) -> tuple[BackendResult, tuple[int, ...]]:
        """The LP relaxation (HiGHS) of ``f`` (the run's by default) by scenario generation, and
        the scenarios it modelled.

        Rounds start from the peak scenarios and add the :data:`LP_SCENARIOS_PER_ROUND`
        its fractional engines leave most short, until they route every scenario (then
        it is the whole LP's optimum) or ``share`` of the time is spent. Each
        round relaxes the whole LP, so its bound holds, and adding scenarios only
        raises it: the last round solved gives the bound and guides the MIP. For the run's
        own ``f`` each round's bound is kept in ``bound`` (an interrupt reports it); another
        ``f``'s routing stops at the rounds' deadline too.
        """
        own = f is None
        f = self.f if f is None else f
        deadline = self.solving_time() + settings.time_limit * share
        lp_settings = replace(settings, relax_integrality=True, hint=None, progress=None)
        active = initial_scenarios(f)
        last: tuple[BackendResult, tuple[int, ...]] | None = None
        while True:
            left = max(0.1, deadline - self.solving_time())
            lp = solve_mathopt(f, replace(lp_settings, scenarios=active, time_limit=left), "highs")
            if lp.solution is None:
                return last if last is not None and lp.outcome != "infeasible" else (lp, active)
            last = (lp, active)
            if own:
                self.bound = lp.bound
            if len(active) == len(f.scenarios):
                return last
            routing_s = self.time_left(settings) if own else deadline - self.solving_time()
            routed, worst = self.route_all(f, lp.solution, replace(settings, time_limit=routing_s))
            if routed is not None:
                return replace(lp, solution=replace(routed, replica_reduced_costs=lp.solution.replica_reduced_costs)), active
            if worst is None or self.solving_time() >= deadline:
                return last
            logger.info("LP relaxation on scenarios %s: bound $%.2f/h, %d scenarios short",
                        [f.scenarios[s] for s in active], lp.bound or 0.0, len(worst))
            active = tuple(sorted(set(active) | set(worst[:LP_SCENARIOS_PER_ROUND])))

    def lp_guided(
        self, relaxed: Solution, starts: list[Plan], settings: Settings, binding: tuple[int, ...], whole_s: float
    ) -> tuple[list[Plan], BackendResult | None]:
        """Plans from MIPs restricted to the groups the LP relaxation (or the warm start) uses,
        widened by the groups the LP prices cheapest; and, when a round took every group, its
        outcome: that round was the whole MIP, given ``whole_s`` seconds from the start instead
        of ``settings.time_limit``, and its bound holds for the whole model.

        A small MIP on the LP's support finds a good plan fast; every plan of it is feasible
        for the whole model, which keeps its own bound. Once a round is solved to optimality
        (its groups can give no cheaper plan), the next adds the groups not yet in whose
        replicas have the least reduced cost in the LP: as many as the support has, then
        twice as many, and so on, for the time left. On small-06 at 60 s the LP's 47 groups
        gave $2,041/h, rounds of 94 and 141 groups $1,994 and $1,914/h (docs/formulation.md).
        Each round starts from the cheapest of ``starts`` and the rounds' plans that maps onto
        it; plans the checker rejects are dropped.
        """
        groups = range(len(self.f.groups))
        support = {g for g in groups if relaxed.replicas[g] > 0}
        if settings.hint is not None:  # the cheapest start (solve()'s hint), so it maps onto every round
            support |= {g for g in groups if settings.hint.replicas[g] > 0}
        reduced = relaxed.replica_reduced_costs
        ranked = [] if reduced is None else [g for g in np.argsort(reduced, kind="stable").tolist() if g not in support]
        deadline = self.solving_time() + settings.time_limit
        whole_deadline = self.solving_time() + whole_s
        plans: list[Plan] = []
        added = 0
        while True:
            small = restrict(self.f, support | set(ranked[:added]))
            every = len(small.groups) == len(self.f.groups)
            round_settings = replace(
                settings, time_limit=max(0.1, (whole_deadline if every else deadline) - self.solving_time()),
                hint=self.mip_start(small, starts + plans), progress=settings.progress if every else None,
            )
            outcome = self.solve_mip(small, round_settings, binding)
            logger.info(
                "LP-guided MIP on %d of %d groups: %s, $%s/h", len(small.groups), len(self.f.groups),
                outcome.outcome, f"{outcome.objective:.2f}" if outcome.objective is not None else "-",
            )
            if every:
                return plans, outcome
            plan = self.checked_plan(small, outcome)
            if plan is not None:
                plans.append(plan)
                cost = self.cost(plan)  # priced now, so an interrupt keeps it (:meth:`so_far`)
                if settings.progress is not None:
                    settings.progress(cost, None, self.solving_time())
            if outcome.outcome != "optimal" or added >= len(ranked) or self.solving_time() >= deadline:
                return plans, None
            added = max(len(support), 2 * added)

    def checked_plan(self, f: Formulation, outcome: BackendResult) -> Plan | None:
        """``outcome``'s plan when it has one the checker accepts."""
        if outcome.solution is None:
            return None
        plan = to_plan(f, outcome.solution, self.solver)
        if [v for v in check(self.instance, plan, self.performance) if v.severity == "error"]:
            logger.warning("the LP-guided plan breaks a rule; not used")
            return None
        return plan

    def mip_start(self, f: Formulation, plans: list[Plan]) -> Solution | None:
        """The MIP start: the cheapest of ``plans`` that maps onto ``f`` (:func:`from_plan`), if any."""
        return next((s for s in (from_plan(f, plan) for plan in sorted(plans, key=self.cost)) if s is not None), None)

    def cost(self, plan: Plan) -> float:
        """The evaluator's $/hour of ``plan``, priced once."""
        if id(plan) not in self._costs:
            self.priced(plan, evaluate(self.instance, plan, self.performance).usd_per_hour)
        return self._costs[id(plan)][0]

    def so_far(self) -> Result:
        """The cheapest checked plan found so far and the best bound proven by now: what an
        interrupted run returns (limit ``INTERRUPTED``; no plan when none was found yet)."""
        cost, plan = min(self._costs.values(), key=lambda item: item[0], default=(None, None))
        bound, scope, solver = (
            (self.all_bound, "all", self.all_bound_solver) if self.all_bound is not None else (self.bound, self.scope, "highs")
        )
        bound = bound if cost is None or bound is None else min(bound, cost)
        return Result(
            method=self.solver,
            status=Status.NO_SOLUTION if plan is None else Status.FEASIBLE,
            limit=Limit.INTERRUPTED,
            objective=cost,
            bound=bound,
            runtime_s=self.elapsed(),
            plan=None if plan is None else plan.model_copy(update={"method": self.solver}),
            bound_scope=None if bound is None else scope,  # type: ignore[arg-type]
            bound_solver=None if bound is None else solver,
        )

    def priced(self, plan: Plan, usd_per_hour: float) -> None:
        """Record the evaluator's $/hour of ``plan``."""
        self._costs[id(plan)] = (usd_per_hour, plan)

    def solve_mip(self, f: Formulation, settings: Settings, binding: tuple[int, ...]) -> BackendResult:
        """``f`` solved whole, or, when large (:meth:`generates_scenarios`), by
        scenario generation from the scenarios the LP relaxation modelled (``binding``).

        Smaller models are solved whole (measured faster to a good plan on the small set).
        A MIP over a subset of scenarios is a relaxation, so its bound holds for the
        whole problem; once its engines route every scenario (an LP with racks and
        replicas fixed, :func:`route`) its plan is feasible and the loop stops.
        """
        if not self.generates_scenarios(f):
            return self.backend(f, settings)
        deadline = self.solving_time() + settings.time_limit
        active = binding
        hint = settings.hint
        best_bound: float | None = None
        while True:
            left = deadline - self.solving_time()
            if len(active) < len(f.scenarios):
                left *= ROUND_SHARE
            outcome = self.backend(f, replace(settings, scenarios=active, hint=hint, time_limit=max(0.1, left)))
            if outcome.bound is not None:  # each round relaxes the whole problem
                best_bound = max(outcome.bound, best_bound) if best_bound is not None else outcome.bound
            outcome = replace(outcome, bound=best_bound)
            if outcome.solution is None or len(active) == len(f.scenarios):
                return outcome
            routed, worst = self.route_all(f, outcome.solution, replace(settings, time_limit=deadline - self.solving_time()))
            if routed is not None:
                return replace(outcome, solution=routed)
            if worst is None or self.solving_time() >= deadline:
                logger.info("time limit reached before every scenario was routed")
                return replace(outcome, outcome="no-solution", solution=None, objective=None)
            logger.info(
                "scenarios %s: plan at $%.2f/h routes all but %d of %d scenarios",
                [f.scenarios[s] for s in active], outcome.objective or 0.0, len(worst), len(f.scenarios),
            )
            active = tuple(sorted(set(active) | set(worst[:SCENARIOS_PER_ROUND])))
            hint = outcome.solution

    def generates_scenarios(self, f: Formulation) -> bool:
        """Whether ``f`` is large enough to be solved by scenario generation: above
        :data:`SCENARIO_GENERATION_ABOVE` flow variables, or :data:`WHOLE_FLOWS_PER_SECOND`
        per second of the run's time limit."""
        return len(f.arcs) * len(f.scenarios) > min(SCENARIO_GENERATION_ABOVE, WHOLE_FLOWS_PER_SECOND * self.time_limit)

    @staticmethod
    def route_all(
        f: Formulation, solution: Solution, settings: Settings
    ) -> tuple[Solution | None, list[int] | None]:
        """``solution``'s engines with flows for every scenario (:func:`route`), or None and the
        scenarios left short, those leaving most tokens unserved first; (None, None) when the
        routing LP did not finish within ``settings.time_limit``."""
        routed = route(f, solution, settings)
        if routed is None:
            return None, None
        unserved = _unserved_tokens(f, routed.unserved)
        short = sorted(np.flatnonzero(unserved > 0).tolist(), key=lambda s: -unserved[s])
        if short:
            return None, short
        return replace(routed, unserved=np.zeros_like(routed.unserved)), []

    def time_left(self, settings: Settings) -> float:
        """Seconds of ``settings.time_limit`` not yet used."""
        return settings.time_limit - self.solving_time()

    def solving_time(self) -> float:
        """Seconds of ``settings.time_limit`` used so far (it starts after the warm start)."""
        return time.perf_counter() - self.solve_start

    def most_served(self, settings: Settings) -> Result:
        """Phase 1: least unserved demand; phase 2: cheapest plan leaving no more than that."""
        first = replace(settings, time_limit=settings.time_limit / 2)
        left, outcome = elastic_unserved(self.f, self.backend, first)
        if outcome.solution is None:
            return self.result(outcome, unserved=(), extra_plans=self.warm)
        cap = outcome.solution.unserved * (1 + 1e-9) + 1e-9 * np.maximum(self.f.demand, 1.0)
        if not left:
            cap = None
        remaining = max(0.1, settings.time_limit - outcome.runtime_s)
        second = replace(settings, time_limit=remaining, allow_unserved=cap is not None, unserved_cap=cap)
        result = self.backend(self.f, second)
        if result.solution is None:
            return self.result(result, unserved=(), extra_plans=self.warm)
        reasons = {u.tenant: u.reason for u in diagnose(self.f, self.backend, replace(settings, time_limit=remaining))} if left else {}
        unserved = tuple(
            Unserved(tenant=name, reason=reasons.get(name, "capacity"), requests_per_s=peak)
            for name, peak in sorted(unserved_by_tenant(self.f, result.solution).items())
        )
        return self.result(result, unserved=unserved, extra_plans=[] if unserved else self.warm)

    def infeasible(self, settings: Settings) -> Result:
        unserved = diagnose(self.f, self.backend, settings)
        if not unserved:
            unserved = tuple(
                Unserved(tenant=name, reason=reason) for name, reason in sorted(self.f.no_candidate.items())
            )
        return Result(
            method=self.solver,
            status=Status.INFEASIBLE,
            limit=Limit.NONE,
            objective=None,
            bound=None,
            runtime_s=self.elapsed(),
            unserved=unserved,
        )

    def result(
        self, outcome: BackendResult, unserved: tuple[Unserved, ...], extra_plans: list[Plan] | None = None,
        bound_solver: str | None = None,
    ) -> Result:
        """Price the backend's plan with the evaluator; a cheaper ``extra_plans`` one wins.

        ``extra_plans`` are complete plans the checker accepted (the warm start,
        the LP-guided MIP's); the result is then as good as the best of them.
        ``outcome.bound`` holds over ``scope``, proven by ``bound_solver`` (default: the
        backend); once ``all_bound`` is proven it is the bound reported instead, and an
        optimal outcome farther from it than the gap asked for is ``FEASIBLE``, limit ``NONE``
        (the shortlist's search ended; the gap over every candidate stays open).
        """
        plans = [to_plan(self.f, outcome.solution, self.solver)] if outcome.solution is not None else []
        plans += list(extra_plans or ())
        priced = [(self.cost(plan), i, plan) for i, plan in enumerate(plans)]
        cost, index, plan = min(priced, key=lambda item: item[:2]) if priced else (None, 0, None)
        if plan is not None:
            plan = plan.model_copy(update={"method": self.solver})
        if index > 0 or (outcome.solution is None and plan is not None):
            logger.info("a warm-start or LP-guided plan ($%.2f/h) is the cheapest; kept", cost)
        bound, scope, bound_solver = outcome.bound, self.scope, bound_solver or self.solver
        widened = self.scope == "shortlist" and self.all_bound is not None
        if widened:
            bound, scope, bound_solver = self.all_bound, "all", self.all_bound_solver
        limit = outcome.limit
        if plan is None:
            status = Status.NO_SOLUTION
        elif outcome.outcome == "optimal" and not (widened and (relative_gap(cost, bound) or 0.0) > self.gap + 1e-12):
            # 1e-12: a bound over all equal to the cost but for the solver's rounding still proves it
            status = Status.OPTIMAL
        else:
            status = Status.FEASIBLE
            limit = Limit.NONE if outcome.outcome == "optimal" else limit
        if bound is not None and cost is not None and bound > cost:
            bound = cost  # a plan cheaper than the solver's bound over its candidates
        return Result(
            method=self.solver,
            status=status,
            limit=limit,
            objective=cost,
            bound=bound,
            runtime_s=self.elapsed(),
            plan=plan,
            unserved=unserved,
            bound_scope=None if bound is None else scope,
            bound_solver=None if bound is None else bound_solver,
        )


def _flows(f: Formulation) -> int:
    """Flow variables of ``f``: arcs x scenarios kept."""
    return len(f.arcs) * len(f.scenarios)


def initial_scenarios(f: Formulation) -> tuple[int, ...]:
    """Positions of the scenarios to start from: the peak of all tokens and of each model's."""
    tokens = f.demand * f.token_weights[:, None]
    chosen = {int(np.argmax(tokens.sum(axis=0)))}
    for model in sorted({t.model for t in f.representatives}):
        rows = [k for k, t in enumerate(f.representatives) if t.model == model]
        chosen.add(int(np.argmax(tokens[rows].sum(axis=0))))
    return tuple(sorted(chosen))


def route(f: Formulation, solution: Solution, settings: Settings) -> Solution | None:
    """Flows for every scenario with the solution's racks and replicas fixed (an LP), least
    unserved; None when it stops at its time limit without a solution."""
    routing = Settings(
        time_limit=max(1.0, settings.time_limit), gap=0.0, threads=1, seed=settings.seed,
        objective="unserved", allow_unserved=True, fixed=solution,
    )
    result = solve_mathopt(f, routing, "highs")
    if result.solution is None and result.limit != Limit.TIME:
        raise RuntimeError(f"routing LP ended {result.outcome}")
    return result.solution


def _candidate_keys(f: Formulation) -> set[tuple[object, ...]]:
    """Each arc of ``f`` as (commodity, fleet entry, rack owner, configuration, engine owner),
    comparable across formulations of one instance."""
    keys = set()
    for arc in f.arcs:
        group = f.groups[arc.group]
        pool = f.pools[group.pool]
        keys.add((arc.commodity, pool.entry, pool.owner, group.config, group.owner))
    return keys


def _unserved_tokens(f: Formulation, unserved: np.ndarray) -> np.ndarray:
    """Unserved tokens/s per kept scenario, ignoring amounts below the checker's tolerance."""
    significant = unserved > ROUTING_TOLERANCE * np.maximum(f.demand, 1e-12)
    return (np.where(significant, unserved, 0.0) * f.token_weights[:, None]).sum(axis=0)


def _routed_configs(plans: list[Plan]) -> tuple[tuple[str, EngineConfig], ...]:
    """(tenant, engine configuration) for every route of ``plans``, sorted."""
    found = set()
    for plan in plans:
        groups = plan.engine_groups()
        found |= {(route.tenant, groups[route.engine][1].config(groups[route.engine][0].system))
                  for route in plan.routes if route.engine in groups}
    return tuple(sorted(found, key=repr))


def _bounded_below(bound: float, progress: Progress, own: bool = True) -> Progress:
    """``progress`` reporting at least ``bound`` ($/hour) as the best bound: the LP relaxation's
    holds for the plans found after it, and while the whole MIP runs, whose first log rows show
    a bound of 0 (the CLI printed "gap 100.00%" for them). Without ``own`` the backend's bounds
    (over the shortlist, while ``bound`` is over every candidate) are not reported: ``bound`` is."""
    return lambda incumbent, found, elapsed: progress(
        incumbent, bound if found is None or not own else max(found, bound), elapsed
    )


def _since(start: float, progress: Progress) -> Progress:
    """``progress`` with the elapsed seconds counted from ``start`` (each backend's log counts
    from its own start)."""
    return lambda incumbent, bound, _: progress(incumbent, bound, time.perf_counter() - start)


def _warm_start(
    instance: Instance, performance: PerformanceModel, share_s: float, limit_s: float, seed: int,
    starts: tuple[Plan, ...], heuristics: bool,
) -> tuple[list[tuple[float, Plan]], float]:
    """($/hour, plan) of the plans the checker accepts among ``starts`` and, with ``heuristics``,
    the heuristics' plans that serve all, cheapest first; and the most seconds the checker took
    on one plan.

    Heuristics: :data:`WARM_START_ALWAYS` (``pooled-spread-apart`` only where some tenant
    spreads: else it is ``pooled``), then :data:`WARM_START_IF_TIME`. Once a plan is found, a
    heuristic starts only within ``share_s`` seconds (:data:`WARM_START_IF_TIME`) or half of
    ``limit_s`` (the whole run's seconds); each stops when ``limit_s`` have passed.
    """
    found: list[tuple[float, Plan]] = []
    longest = 0.0

    def consider(plan: Plan, name: str, usd_per_hour: float | None = None) -> None:
        nonlocal longest
        begun = time.perf_counter()
        rejected = any(v.severity == "error" for v in check(instance, plan, performance))
        longest = max(longest, time.perf_counter() - begun)
        if rejected:
            logger.warning("warm start: %s is a plan the checker rejects; not used", name)
        else:
            if usd_per_hour is None:
                usd_per_hour = evaluate(instance, plan, performance).usd_per_hour
            found.append((usd_per_hour, plan))

    start = time.perf_counter()
    for plan in starts:
        consider(plan, "a given start")
    spreads = any(t.min_racks > 1 for t in instance.tenants)
    for method in WARM_START_ALWAYS + WARM_START_IF_TIME if heuristics else ():
        elapsed = time.perf_counter() - start
        late = found and elapsed > (share_s if method in WARM_START_IF_TIME else limit_s / 2)
        if late or (method.spread_apart and not spreads):
            continue
        result = method(instance, time_limit=limit_s - elapsed, seed=seed, threads=1, performance=performance)
        if result.plan is not None and not result.unserved and result.objective is not None:
            consider(result.plan, method.name, result.objective)
    found.sort(key=lambda item: item[0])
    if found:
        logger.info("warm start: $%.2f/h (checking a plan took up to %.1f s)", found[0][0], longest)
    return found, longest
