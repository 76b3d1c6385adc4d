"""Phase 1 of a MIP run: the warm start, the checked plans of the caller and the heuristics.

Their engines join the candidates; the cheapest is the incumbent, and the cheapest that maps
onto the model (:func:`solvers.mip.reconstruct.from_plan`) starts the MIP.
"""

from __future__ import annotations

import logging
import time

from optimizer.check import check
from optimizer.evaluate import Report, evaluate
from optimizer.instance import Instance
from optimizer.performance import PerformanceModel
from optimizer.plan import Plan
from solvers.heuristics import pooled, pooled_aggregated, pooled_spread_apart, siloed
from solvers.mip.budget import TimeBudget

logger = logging.getLogger(__name__)

WARM_START_ALWAYS = (pooled, pooled_spread_apart)
"""Heuristics the warm start always runs: ``pooled``, the plan to beat, and, where some tenant
spreads, ``pooled-spread-apart``, whose plan maps onto the model (``pooled`` shares engines
between spread tenants and others, which (E5) does not allow)."""
WARM_START_IF_TIME = (pooled_aggregated, siloed)
"""Heuristics the warm start runs after those, in order, while the budget's ``warm_start`` share lasts."""


def warm_start_plans(
    instance: Instance, performance: PerformanceModel, budget: TimeBudget, time_limit: float, seed: int,
    starts: tuple[Plan, ...], heuristics: bool,
) -> tuple[list[tuple[Report, Plan]], float]:
    """(the evaluator's report, plan) of the plans the checker accepts among ``starts`` and, with
    ``heuristics``, the heuristics' plans that serve all, cheapest first; and the most seconds the
    checker took on one plan.

    Heuristics: :data:`WARM_START_ALWAYS` (``pooled-spread-apart`` only where some tenant
    spreads: else it is ``pooled``), then :data:`WARM_START_IF_TIME`. Once a plan is found, a
    heuristic starts only within ``budget.warm_start_s`` of the run's ``time_limit`` seconds
    (:data:`WARM_START_IF_TIME`) or half of ``budget.heuristics_s``; each stops when
    ``budget.heuristics_s`` have passed.
    """
    share_s, limit_s = budget.warm_start_s(time_limit), budget.heuristics_s(time_limit)
    found: list[tuple[Report, Plan]] = []
    longest = 0.0

    def consider(plan: Plan, name: str, report: Report | None = None) -> None:
        nonlocal longest
        begun = time.perf_counter()
        rejected = any(v.severity == "error" for v in check(instance, plan, performance))
        longest = max(longest, time.perf_counter() - begun)
        if rejected:
            logger.warning("warm start: %s is a plan the checker rejects; not used", name)
        else:
            found.append((report if report is not None else evaluate(instance, plan, performance), plan))

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
        if result.plan is not None and not result.unserved and result.report is not None:
            consider(result.plan, method.name, result.report)
    found.sort(key=lambda item: item[0].usd_per_hour)
    if found:
        logger.info("warm start: $%.2f/h (checking a plan took up to %.1f s)", found[0][0].usd_per_hour, longest)
    return found, longest
