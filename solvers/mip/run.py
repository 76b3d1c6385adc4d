"""How :func:`optimizer.solve` runs the MIP, in named phases under one :class:`TimeBudget`.

1. **Warm start** (:func:`~solvers.mip.warm_start.warm_start_plans`): the checked plans of the
   caller and the heuristics; their engines join the candidates, the cheapest is the incumbent
   and the cheapest that maps onto the model starts the MIP.
2. **LP relaxation by scenario generation** (:meth:`_Run.lp_relaxation`): its bound holds; with
   a shortlist, also the LP over every candidate (:meth:`_Run.bound_over_every_candidate`).
3. **LP-guided rounds** (:meth:`_Run.lp_guided_rounds`): MIPs restricted to the groups the LP
   uses, widened by the groups of least reduced cost while each round solves to optimality.
4. **Whole MIP** (:meth:`_Run.whole_mip`), when the model is small enough to solve whole, for
   the time left; over every candidate too when its LP left the gap open.
5. **Routing** (:mod:`solvers.mip.routing`), inside 2-4: every scenario routed with the engines
   found, the scenarios left short added to the next round.

With a warm-start plan in hand, a model still being built past the budget's ``build_by_s`` is
given up and that plan returned (limit ``TIME``). :class:`PhaseClock` times the phases
(:attr:`~optimizer.result.Result.phases_s`).

Every plan is priced by the evaluator and the cheapest the checker accepts is returned. When
no plan serves all demand the result is ``INFEASIBLE`` and names each tenant left out with the
binding reason; with ``allow_unserved`` the cheapest plan serving the most demand is returned
instead, in two MIPs (most demand served, then cheapest with each tenant's unserved demand
capped at the first's). ``docs/formulation.md``, "Solving", writes the phases out.

Determinism: candidates, pools and arcs are built in instance order and the backends run with
a fixed seed, so the same input, seed and threads give the same plan whenever the run ends by
the gap or optimality; a run stopped by the time limit may end on a different incumbent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import TypeVar

import numpy as np

from optimizer.check import check
from optimizer.evaluate import Report, evaluate
from optimizer.instance import Instance
from optimizer.performance import EngineConfig, PerformanceModel
from optimizer.plan import Plan
from optimizer.result import BoundScope, Interrupted, Limit, OutOfTime, Result, Status, Unserved, relative_gap
from solvers.mip.backend import BackendResult, Progress, Settings, Solution
from solvers.mip.budget import ModelSize, TimeBudget
from solvers.mip.cpsat import solve_cpsat
from solvers.mip.diagnose import diagnose, elastic_unserved
from solvers.mip.formulation import Formulation, build_formulation, restrict
from solvers.mip.mathopt import solve_mathopt
from solvers.mip.reconstruct import from_plan, to_plan, unserved_by_tenant
from solvers.mip.routing import initial_scenarios, route_all
from solvers.mip.warm_start import warm_start_plans

logger = logging.getLogger(__name__)

PHASES = ("warm start", "candidates", "LP", "MIP", "routing", "plans", "checking", "diagnosis")
"""The phases :attr:`Result.phases_s` times: the heuristics' plans and their checks; building the
formulations; LP relaxations; MIPs (backend calls); routing LPs; turning solutions into plans and
back (routes, MIP starts); the evaluator and checker on the run's plans; diagnosing infeasibility."""

R = TypeVar("R")


class PhaseClock:
    """Wall-clock seconds per phase of one run, each second counted once: a phase entered
    inside another (a MIP inside diagnosis) pauses the outer one."""

    def __init__(self) -> None:
        self.seconds = dict.fromkeys(PHASES, 0.0)
        self._open: list[str] = []
        self._since = time.perf_counter()

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        self._switch()
        self._open.append(name)
        try:
            yield
        finally:
            self._switch()
            self._open.pop()

    def timed(self, name: str, function: Callable[..., R]) -> Callable[..., R]:
        """``function`` with its calls counted under ``name``."""
        def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
            with self.phase(name):
                return function(*args, **kwargs)
        return counted

    def totals(self) -> dict[str, float]:
        """Seconds per phase of :data:`PHASES`, rounded to ms."""
        return {name: round(seconds, 3) for name, seconds in self.seconds.items()}

    def _switch(self) -> None:
        now = time.perf_counter()
        if self._open:
            self.seconds[self._open[-1]] += now - self._since
        self._since = now


FLUID_BOUND = "fluid-bound"
"""``Result.bound_solver`` of a bound no solver raised above :attr:`Formulation.fluid_bound`
(arithmetic over the arcs, no solver)."""
BUDGET = TimeBudget()
"""How every run spends its time limit."""
SIZES = ModelSize()
"""Which models every run solves whole, shortlists or bounds over every candidate."""


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
    clock = PhaseClock()
    backend = clock.timed("MIP", backend_for(solver))
    performance = performance if performance is not None else PerformanceModel(instance)
    with clock.phase("warm start"):
        warm, check_s = warm_start_plans(instance, performance, BUDGET, time_limit, seed, starts, warm_start)

    def warm_only(why: str) -> Result:
        """The warm start's cheapest plan, limit TIME: no model was solved."""
        logger.info("%s after %.1f of %g s: the warm start's plan is kept", why, time.perf_counter() - start, time_limit)
        report, plan = warm[0]
        return Result(solver, Status.FEASIBLE, Limit.TIME, report.usd_per_hour, None, time.perf_counter() - start,
                      plan.model_copy(update={"method": solver}), phases_s=clock.totals(),
                      report=report.model_copy(update={"method": solver}))

    if warm and not BUDGET.builds_model(time_limit, time.perf_counter() - start):
        return warm_only("the warm start ended")
    try:  # with a plan in hand, a build past the budget's build_by_s is given up for it
        with clock.phase("candidates"):
            deadline = start + BUDGET.build_by_s(time_limit) if warm else None
            f = _model(instance, performance, warm, max_arcs_per_role, deadline=deadline)
    except OutOfTime:
        return warm_only("the model was still being built")
    shortlisted = max_arcs_per_role is not None or SIZES.shortlists_entries(len(instance.tenants))
    run = _Run(instance, performance, f, backend, solver, start, warm, time_limit, gap, shortlisted, clock)
    try:
        settings = Settings(
            time_limit=BUDGET.solve_s(time_limit, time.perf_counter() - start, check_s),
            gap=gap,
            threads=threads,
            seed=seed,
            hint=run.mip_start(f, run.warm),
            progress=_since(start, progress) if progress is not None else None,
        )
        if allow_unserved:
            result = run.most_served(settings)
        elif f.no_candidate:
            result = run.infeasible(settings)
        else:
            result = run.cheapest(settings)
    except KeyboardInterrupt as stop:
        raise Interrupted(replace(run.so_far(), phases_s=clock.totals()), str(stop) or "SIGINT") from None
    return replace(result, phases_s=clock.totals())


def formulation_for(
    instance: Instance,
    performance: PerformanceModel,
    *,
    time_limit: float,
    seed: int,
    starts: tuple[Plan, ...],
    warm_start: bool,
    max_arcs_per_role: int | None,
) -> tuple[Formulation, list[tuple[Report, Plan]], float]:
    """The model :func:`optimizer.solve` builds for ``instance`` under ``time_limit`` seconds,
    the warm start's engines among its candidates; and the warm start's (report, plan),
    cheapest first, and the most seconds the checker took on one of them."""
    warm, check_s = warm_start_plans(instance, performance, BUDGET, time_limit, seed, starts, warm_start)
    return _model(instance, performance, warm, max_arcs_per_role), warm, check_s


def _model(
    instance: Instance, performance: PerformanceModel, warm: list[tuple[Report, Plan]], max_arcs_per_role: int | None,
    deadline: float | None = None,
) -> Formulation:
    """The formulation of ``instance``, with the ``warm`` plans' engines among its candidates
    (:class:`OutOfTime` past the ``time.perf_counter()`` value ``deadline``)."""
    f = build_formulation(
        instance,
        performance,
        extra_configs=_routed_configs([plan for _, plan in warm]),
        max_arcs_per_role=max_arcs_per_role,
        max_entries_per_tenant=SIZES.entries_per_tenant if SIZES.shortlists_entries(len(instance.tenants)) else None,
        deadline=deadline,
    )
    logger.info("formulation: %s", f.summary())
    return f


_SKIPPED = BackendResult("no-solution", Limit.TIME, solution=None, objective=None, bound=None, runtime_s=0.0)
"""The outcome of a phase not run."""


class _Run:
    """One call of :func:`optimizer.solve`: its phases and the plans and bounds they share."""

    def __init__(self, instance, performance, f: Formulation, backend, solver: str, start: float,  # type: ignore[no-untyped-def]
                 warm: list[tuple[Report, Plan]], time_limit: float, gap: float, shortlisted: bool, clock: PhaseClock):
        self.instance, self.performance, self.f = instance, performance, f
        self.clock = clock
        """times the phases; ``backend`` comes timed as ``MIP``"""
        self.backend, self.solver, self.start = backend, solver, start
        self.warm = [plan for _, plan in warm]
        """the warm start's plans, checked, cheapest first"""
        self.time_limit = time_limit
        """seconds, the whole run's"""
        self.gap = gap
        """the relative gap asked for"""
        self.scope: BoundScope = "shortlist" if shortlisted else "all"
        """what bounds over ``f`` hold over (:meth:`bound_over_every_candidate` may widen it to ``all``)"""
        self.bound: float | None = None
        """$/hour, the best bound over ``f`` proven so far: ``f.fluid_bound`` once phase 2 starts
        (:meth:`cheapest`), then each LP relaxation round's that is higher"""
        self.bound_solver = FLUID_BOUND
        """who proved ``bound``: :data:`FLUID_BOUND` or ``highs`` (an LP relaxation)"""
        self.all_bound: float | None = None
        """$/hour, the bound over every candidate proven so far while ``scope`` is ``shortlist``"""
        self.all_bound_solver = "highs"
        """the solver that proved ``all_bound``"""
        self.every: Formulation | None = None
        """the formulation over every candidate, once built, when the shortlist left some out"""
        self.solve_start = time.perf_counter()
        self._reports: dict[int, tuple[Report, Plan]] = {}
        """id(plan) -> (the evaluator's report, the plan, kept so its id stays its own)"""
        for report, plan in warm:
            self.priced(plan, report)

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def cheapest(self, settings: Settings) -> Result:
        """The cheapest plan serving all demand, or INFEASIBLE with reasons: phases 2-4 in turn.

        A model solved by scenario generation (:meth:`generates_scenarios`) gets no whole MIP:
        its LP relaxation gets the budget's ``lp_generated`` share and the LP-guided rounds the
        rest. The LP's replicas rounded up are never priced as a plan (they break inventory and
        site power).
        """
        whole = not self.generates_scenarios(self.f)
        self.bound, self.bound_solver = self.f.fluid_bound, FLUID_BOUND  # a bound before any LP finishes
        lp, binding = self.lp_relaxation(settings, BUDGET.lp_share(whole))
        if lp.outcome == "infeasible":
            return self.infeasible(replace(settings, time_limit=max(0.1, self.time_left(settings))))
        if self.scope == "shortlist":
            self.bound_over_every_candidate(settings)
        progress = settings.progress
        if progress is not None and self.all_bound is not None:  # the shortlist's bounds are no bounds over all
            settings = replace(settings, progress=_bounded_below(self.all_bound, progress, own=False))
        elif progress is not None:
            settings = replace(settings, progress=_bounded_below(self.bound, progress))
        plans = list(self.warm)
        outcome: BackendResult | None = None
        if lp.solution is not None:
            guided_s = min(settings.time_limit * BUDGET.lp_guided_share(whole), self.time_left(settings))
            found, outcome = self.lp_guided_rounds(
                lp.solution, plans, replace(settings, time_limit=guided_s), binding, self.time_left(settings),
            )
            plans += found
        if outcome is None:
            outcome = self.whole_mip(settings, plans) if whole else _SKIPPED
        logger.info(
            "%s: %s after %.1f s, objective %s, bound %s (LP bound %s)",
            self.solver, outcome.outcome, outcome.runtime_s, outcome.objective, outcome.bound, lp.bound,
        )
        if outcome.outcome == "infeasible":
            return self.infeasible(replace(settings, time_limit=max(0.1, self.time_left(settings))))
        bound_solver = self.solver
        if outcome.bound is None or (self.bound is not None and self.bound > outcome.bound):
            outcome, bound_solver = replace(outcome, bound=self.bound), self.bound_solver
        if self.every is not None and self.all_bound is not None:
            shortlisted = self.checked_plan(self.f, outcome)
            widened = None if progress is None else _bounded_below(self.all_bound, progress)
            plans += self.whole_mip_over_every_candidate(
                replace(settings, progress=widened), plans + ([] if shortlisted is None else [shortlisted]),
            )
        return self.result(outcome, unserved=(), extra_plans=plans, bound_solver=bound_solver)

    def whole_mip(self, settings: Settings, plans: list[Plan]) -> BackendResult:
        """Phase 4: the whole MIP for the time left, started from the cheapest of ``plans`` that
        maps onto it (else ``settings.hint``); not run (no solution) when less than the budget's
        ``whole_mip`` share of the solve time is left."""
        if not BUDGET.whole_mip_fits(self.time_left(settings), settings.time_limit):
            logger.info("%.1f s left: the whole MIP is skipped", self.time_left(settings))
            return _SKIPPED
        start = self.mip_start(self.f, plans)
        hint = start if start is not None else settings.hint
        return self.backend(self.f, replace(settings, hint=hint, time_limit=self.time_left(settings)))

    def whole_mip_over_every_candidate(self, settings: Settings, plans: list[Plan]) -> list[Plan]:
        """Phase 4 over every candidate: when the cheapest of ``plans`` is farther than the gap
        asked for from ``all_bound`` and the budget's ``whole_mip`` share is left, the MIP over
        ``every`` (solved whole only) for the time left, started from the cheapest of ``plans``
        that maps onto it. Its bound, when higher, becomes ``all_bound``; its plan, if the
        checker accepts it, is returned."""
        assert self.every is not None and self.all_bound is not None
        cheapest = min((self.cost(plan) for plan in plans), default=None)
        left = self.time_left(settings)
        if (relative_gap(cheapest, self.all_bound) or 0.0) <= self.gap or not BUDGET.whole_mip_fits(left, settings.time_limit) \
                or self.generates_scenarios(self.every):
            return []
        outcome = self.backend(self.every, replace(settings, hint=self.mip_start(self.every, plans), time_limit=left))
        logger.info("MIP over every candidate: %s, bound %s", outcome.outcome, outcome.bound)
        if outcome.bound is not None and outcome.outcome != "infeasible" and outcome.bound > self.all_bound:
            self.all_bound, self.all_bound_solver = outcome.bound, self.solver
        plan = self.checked_plan(self.every, outcome)
        return [] if plan is None else [plan]

    def bound_over_every_candidate(self, settings: Settings) -> None:
        """Phase 2 over every candidate the performance model offers (docs/formulation.md, "What
        the bound covers"). The formulation without a shortlist is built; when the shortlist left
        none of its arcs out, bounds over ``f`` hold over all of them (``scope``); else the LP
        relaxation of that formulation, by scenario generation within the budget's
        ``every_candidate`` share, proves ``all_bound``. Nothing is attempted above
        ``SIZES.every_candidate_max_tenants`` tenants, nor an LP above
        ``SIZES.every_candidate_flows_per_second`` flow variables per second of its share."""
        share = BUDGET.every_candidate
        budget = SIZES.every_candidate_flows_per_second * share * settings.time_limit
        if len(self.instance.tenants) > SIZES.every_candidate_max_tenants \
                or _flows(self.f) * SIZES.every_candidate_growth > budget:
            return
        with self.clock.phase("candidates"):
            every = build_formulation(self.instance, self.performance, extra_configs=self.f.extra_configs)
        left_out = _candidate_keys(every) - _candidate_keys(self.f)
        logger.info("every candidate: %s; the shortlist left out %d arcs", every.summary(), len(left_out))
        if not left_out:
            self.scope = "all"
            return
        if _flows(every) > budget:
            logger.info("%d flow variables over every candidate: too many for %.0f s, the bound stays over the shortlist",
                        _flows(every), share * settings.time_limit)
            return
        self.every = every
        lp, _ = self.lp_relaxation(settings, share, every)
        if lp.outcome != "infeasible":
            self.all_bound = lp.bound
        logger.info("LP relaxation over every candidate: bound %s", lp.bound)

    def lp_relaxation(
        self, settings: Settings, share: float, f: Formulation | None = None
    ) -> tuple[BackendResult, tuple[int, ...]]:
        """Phase 2: the LP relaxation (HiGHS) of ``f`` (the run's by default) by scenario
        generation, and the scenarios it modelled.

        Rounds start from the peak scenarios and add the ``SIZES.lp_scenarios_per_round``
        its fractional engines leave most short, until they route every scenario (then
        it is the whole LP's optimum) or ``share`` of the solve time is spent. Each
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
            with self.clock.phase("LP"):
                lp = solve_mathopt(f, replace(lp_settings, scenarios=active, time_limit=left), "highs")
            if lp.solution is None:
                return last if last is not None and lp.outcome != "infeasible" else (lp, active)
            last = (lp, active)
            if own and lp.bound is not None and (self.bound is None or lp.bound > self.bound):
                self.bound, self.bound_solver = lp.bound, "highs"
            if len(active) == len(f.scenarios):
                return last
            routing_s = self.time_left(settings) if own else deadline - self.solving_time()
            with self.clock.phase("routing"):
                routed, worst = route_all(f, lp.solution, replace(settings, time_limit=routing_s))
            if routed is not None:
                return replace(lp, solution=replace(routed, replica_reduced_costs=lp.solution.replica_reduced_costs)), active
            if worst is None or self.solving_time() >= deadline:
                return last
            logger.info("LP relaxation on scenarios %s: bound $%.2f/h, %d scenarios short",
                        [f.scenarios[s] for s in active], lp.bound or 0.0, len(worst))
            active = tuple(sorted(set(active) | set(worst[:SIZES.lp_scenarios_per_round])))

    def lp_guided_rounds(
        self, relaxed: Solution, starts: list[Plan], settings: Settings, binding: tuple[int, ...], whole_s: float
    ) -> tuple[list[Plan], BackendResult | None]:
        """Phase 3: plans from MIPs restricted to the groups the LP relaxation (or the warm start) uses,
        widened by the groups the LP prices cheapest; and, when a round took every group, its
        outcome: that round was the whole MIP, given ``whole_s`` seconds from the start instead
        of ``settings.time_limit``, and its bound holds for the whole model.

        A small MIP on the LP's support finds a good plan fast; every plan of it is feasible
        for the whole model, which keeps its own bound. Once a round is solved to optimality
        (its groups can give no cheaper plan), the next adds the groups not yet in whose
        replicas have the least reduced cost in the LP: as many as the support has, then
        twice as many, and so on, for the time left.
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
        with self.clock.phase("plans"):
            plan = to_plan(f, outcome.solution, self.solver)
        with self.clock.phase("checking"):
            errors = [v for v in check(self.instance, plan, self.performance) if v.severity == "error"]
        if errors:
            logger.warning("the LP-guided plan breaks a rule; not used")
            return None
        return plan

    def mip_start(self, f: Formulation, plans: list[Plan]) -> Solution | None:
        """The MIP start: the cheapest of ``plans`` that maps onto ``f`` (:func:`from_plan`), if any."""
        ranked = sorted(plans, key=self.cost)
        with self.clock.phase("plans"):
            return next((s for s in (from_plan(f, plan) for plan in ranked) if s is not None), None)

    def cost(self, plan: Plan) -> float:
        """The evaluator's $/hour of ``plan``, priced once (:meth:`report`)."""
        return self.report(plan).usd_per_hour

    def report(self, plan: Plan) -> Report:
        """The evaluator's report of ``plan``, made once."""
        if id(plan) not in self._reports:
            with self.clock.phase("checking"):
                self.priced(plan, evaluate(self.instance, plan, self.performance))
        return self._reports[id(plan)][0]

    def so_far(self) -> Result:
        """The cheapest checked plan found so far and the best bound proven by now: what an
        interrupted run returns (limit ``INTERRUPTED``; no plan when none was found yet)."""
        report, plan = min(self._reports.values(), key=lambda item: item[0].usd_per_hour, default=(None, None))
        bound, scope, solver = (
            (self.all_bound, "all", self.all_bound_solver) if self.all_bound is not None
            else (self.bound, self.scope, self.bound_solver)
        )
        cost = None if report is None else report.usd_per_hour
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
            report=None if report is None else report.model_copy(update={"method": self.solver}),
        )

    def priced(self, plan: Plan, report: Report) -> None:
        """Record the evaluator's report of ``plan``."""
        self._reports[id(plan)] = (report, plan)

    def solve_mip(self, f: Formulation, settings: Settings, binding: tuple[int, ...]) -> BackendResult:
        """``f`` solved whole, or, when large (:meth:`generates_scenarios`), by
        scenario generation from the scenarios the LP relaxation modelled (``binding``).

        Smaller models are solved whole (faster to a good plan on the small set: docs/decisions.md).
        A MIP over a subset of scenarios is a relaxation, so its bound holds for the
        whole problem; once its engines route every scenario (an LP with racks and
        replicas fixed, :func:`~solvers.mip.routing.route`) its plan is feasible and the loop stops.
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
                left *= BUDGET.scenario_round
            outcome = self.backend(f, replace(settings, scenarios=active, hint=hint, time_limit=max(0.1, left)))
            if outcome.bound is not None:  # each round relaxes the whole problem
                best_bound = max(outcome.bound, best_bound) if best_bound is not None else outcome.bound
            outcome = replace(outcome, bound=best_bound)
            if outcome.solution is None or len(active) == len(f.scenarios):
                return outcome
            with self.clock.phase("routing"):
                routed, worst = route_all(f, outcome.solution, replace(settings, time_limit=deadline - self.solving_time()))
            if routed is not None:
                return replace(outcome, solution=routed)
            if worst is None or self.solving_time() >= deadline:
                logger.info("time limit reached before every scenario was routed")
                return replace(outcome, outcome="no-solution", solution=None, objective=None)
            logger.info(
                "scenarios %s: plan at $%.2f/h routes all but %d of %d scenarios",
                [f.scenarios[s] for s in active], outcome.objective or 0.0, len(worst), len(f.scenarios),
            )
            active = tuple(sorted(set(active) | set(worst[:SIZES.scenarios_per_round])))
            hint = outcome.solution

    def generates_scenarios(self, f: Formulation) -> bool:
        """Whether ``f`` is large enough to be solved by scenario generation (:class:`ModelSize`)."""
        return SIZES.generates_scenarios(_flows(f), self.time_limit)

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
        with self.clock.phase("diagnosis"):
            reasons = {u.tenant: u.reason for u in diagnose(self.f, self.backend, replace(settings, time_limit=remaining))} if left else {}
        unserved = tuple(
            Unserved(tenant=name, reason=reasons.get(name, "capacity"), requests_per_s=peak)
            for name, peak in sorted(unserved_by_tenant(self.f, result.solution).items())
        )
        return self.result(result, unserved=unserved, extra_plans=[] if unserved else self.warm)

    def infeasible(self, settings: Settings) -> Result:
        with self.clock.phase("diagnosis"):
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
        with self.clock.phase("plans"):
            plans = [to_plan(self.f, outcome.solution, self.solver)] if outcome.solution is not None else []
        plans += list(extra_plans or ())
        priced = [(self.cost(plan), i, plan) for i, plan in enumerate(plans)]
        cost, index, plan = min(priced, key=lambda item: item[:2]) if priced else (None, 0, None)
        report = None
        if plan is not None:
            report = self.report(plan).model_copy(update={"method": self.solver})
            plan = plan.model_copy(update={"method": self.solver})
        if index > 0 or (outcome.solution is None and plan is not None):
            logger.info("a warm-start or LP-guided plan ($%.2f/h) is the cheapest; kept", cost)
        bound, scope, bound_solver = outcome.bound, self.scope, bound_solver or self.solver
        widened = self.scope == "shortlist" and self.all_bound is not None
        shortlist_bound = None
        if widened:
            # shown only when it proves more than the bound over all by the gap asked for (a plan
            # beyond the shortlist cheaper than its bound leaves it nothing to say)
            searched = bound if cost is None or bound is None else min(bound, cost)
            if searched is not None and self.all_bound is not None and searched > self.all_bound + self.gap * searched:
                shortlist_bound = searched
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
            shortlist_bound=shortlist_bound,
            report=report,
        )


def _flows(f: Formulation) -> int:
    """Flow variables of ``f``: arcs x scenarios kept."""
    return len(f.arcs) * len(f.scenarios)


def _candidate_keys(f: Formulation) -> set[tuple[object, ...]]:
    """Each arc of ``f`` as (commodity, fleet entry, rack owner, configuration, engine owner),
    comparable across formulations of one instance."""
    keys = set()
    for arc in f.arcs:
        group = f.groups[arc.group]
        pool = f.pools[group.pool]
        keys.add((arc.commodity, pool.entry, pool.owner, group.config, group.owner))
    return keys


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
