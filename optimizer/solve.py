"""``solve()``: the MIP, on any backend, from instance to priced :class:`~optimizer.result.Result`.

The objective is always the evaluator's $/hour of the returned plan, never the
solver's. How a run proceeds (warm start, LP relaxation, LP-guided MIP, whole
MIP, diagnosis of infeasibility) is in :mod:`solvers.mip.run`; the model is in
``docs/formulation.md``.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from typing import Literal

from optimizer.evaluate import BASIS_ORDER, report_of
from optimizer.instance import Instance
from optimizer.performance import PerformanceModel
from optimizer.plan import OPTIMAL_GAP, Plan, SolveRecord
from optimizer.result import Interrupted, Result
from solvers.mip.backend import Progress
from solvers.mip.run import run_mip

Solver = Literal["highs", "cp-sat", "scip"]
SOLVERS: tuple[Solver, ...] = ("highs", "cp-sat", "scip")
DEFAULT_SOLVER: Solver = "highs"
DEFAULT_TIME_LIMIT_S = 60.0
DEFAULT_GAP = OPTIMAL_GAP
"""Relative gap at which a run stops: 0.01%, what the reports call "proven optimal"."""
MAX_ARCS_PER_ROLE = 2
"""Candidate shortlist: ``build_formulation``'s ``max_arcs_per_role`` (docs/formulation.md)."""

BOUND_SCOPE_WORDS = {
    "all": "every candidate configuration the performance model offers",
    "shortlist": "the shortlisted candidates only",
}
""":attr:`Result.bound_scope` in the words of the plan's solve record."""


def solve(
    instance: Instance,
    solver: Solver = DEFAULT_SOLVER,
    *,
    time_limit: float = DEFAULT_TIME_LIMIT_S,
    gap: float = DEFAULT_GAP,
    threads: int = 1,
    seed: int = 0,
    allow_unserved: bool = False,
    performance: PerformanceModel | None = None,
    progress: Progress | None = None,
    warm_start: bool = True,
    max_arcs_per_role: int | None = MAX_ARCS_PER_ROLE,
    starts: Sequence[Plan] = (),
) -> Result:
    """Plan ``instance`` with the MIP on ``solver`` (module docstring).

    Args:
        time_limit: wall-clock seconds for the whole run (warm start included).
        gap: relative gap at which to stop, e.g. 1e-4.
        threads: solver threads (CP-SAT workers; HiGHS and SCIP use one).
        seed: solver random seed.
        allow_unserved: return the cheapest plan serving the most demand instead
            of ``INFEASIBLE`` when not all demand can be served.
        progress: called with (incumbent $/hour, bound, elapsed s) while solving.
        warm_start: also start from the heuristics' plans.
        starts: plans of ``instance`` to start from, e.g. a plan of a more
            constrained variant of it, or the plan in service today. Of the plans
            the checker accepts (heuristics' included), the cheapest that maps onto
            the MIP's model starts it, and the result is never dearer than the cheapest.
        max_arcs_per_role: candidate shortlist (:data:`MAX_ARCS_PER_ROLE`); None keeps
            every configuration, so the bound holds over all of them.

    Raises:
        ValueError: unknown solver, a time limit or gap out of range, or cp-sat for an instance
            with survive promises.
        Interrupted: Ctrl-C or SIGTERM (raised as ``KeyboardInterrupt``) stopped the run once
            its model was built; it carries the best plan found so far and the bound by then.
    """
    if solver not in SOLVERS:
        raise ValueError(f"unknown solver '{solver}'; choose one of {', '.join(SOLVERS)}")
    if not time_limit > 0:
        raise ValueError(f"time_limit must be > 0 s, got {time_limit}")
    if not 0 <= gap < 1:
        raise ValueError(f"gap must be in [0, 1), got {gap}")
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    if solver == "cp-sat" and any(t.survive != "none" for t in instance.tenants):
        raise ValueError("survive promises are planned by highs and scip (constraint (12)), not cp-sat")
    performance = performance or PerformanceModel(instance)
    try:
        result = run_mip(
            instance, solver, time_limit=time_limit, gap=gap, threads=threads, seed=seed,
            allow_unserved=allow_unserved, performance=performance, progress=progress,
            warm_start=warm_start, max_arcs_per_role=max_arcs_per_role, starts=tuple(starts),
            start=time.perf_counter(),
        )
    except Interrupted as stop:
        raise Interrupted(_recorded(stop.result, instance, performance, solver, time_limit, seed), str(stop)) from None
    return _recorded(result, instance, performance, solver, time_limit, seed)


def _recorded(
    result: Result, instance: Instance, performance: PerformanceModel, solver: str, time_limit: float, seed: int,
) -> Result:
    """``result`` with its plan (if any) and the plan's report carrying the run's :class:`SolveRecord`:
    the proof travels with it."""
    if result.plan is None:
        return result
    scope = None if result.bound_scope is None else (
        f"{BOUND_SCOPE_WORDS[result.bound_scope]} (proved by {result.bound_solver}; docs/formulation.md, "
        "'What the bound covers')")
    report = report_of(instance, result, performance)
    assert report is not None  # the result has a plan
    bases = Counter(engine.basis for engine in report.engines)
    record = SolveRecord(
        status=result.status, limit=result.limit, objective=result.objective, bound=result.bound, gap=result.gap,
        bound_scope=scope, shortlist_bound=result.shortlist_bound, solver=solver, time_limit_s=time_limit,
        runtime_s=result.runtime_s, seed=seed, confidence=result.plan.confidence,
        bases={basis: bases[basis] for basis in sorted(bases, key=BASIS_ORDER.index)},
    )
    return replace(result, plan=result.plan.model_copy(update={"solve": record}),
                   report=report.model_copy(update={"solve": record}))
