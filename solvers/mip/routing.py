"""Routing, the phase inside the others: flows for every scenario with racks and replicas fixed.

Scenario generation (the LP relaxation's rounds, a large MIP's rounds) models a few scenarios,
routes every scenario with the engines found (:func:`route_all`) and adds those left short.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from optimizer.result import Limit
from solvers.mip.backend import Settings, Solution
from solvers.mip.formulation import Formulation
from solvers.mip.mathopt import solve_mathopt

ROUTING_TOLERANCE = 1e-7
"""Unserved demand below this share of a tenant's demand counts as routed (checker: 1e-6)."""


def initial_scenarios(f: Formulation) -> tuple[int, ...]:
    """Positions of the scenarios to start from: the peak of all tokens and of each model's."""
    tokens = f.demand * f.token_weights[:, None]
    chosen = {int(np.argmax(tokens.sum(axis=0)))}
    for model in sorted({t.model for t in f.representatives}):
        rows = [k for k, t in enumerate(f.representatives) if t.model == model]
        chosen.add(int(np.argmax(tokens[rows].sum(axis=0))))
    return tuple(sorted(chosen))


def route(f: Formulation, solution: Solution, settings: Settings) -> Solution | None:
    """Flows for every scenario with the solution's racks and replicas fixed (an LP on HiGHS),
    least unserved; None when it stops at its time limit without a solution."""
    routing = Settings(
        time_limit=max(1.0, settings.time_limit), gap=0.0, threads=1, seed=settings.seed,
        objective="unserved", allow_unserved=True, fixed=solution,
    )
    result = solve_mathopt(f, routing, "highs")
    if result.solution is None and result.limit != Limit.TIME:
        raise RuntimeError(f"routing LP ended {result.outcome}")
    return result.solution


def route_all(f: Formulation, solution: Solution, settings: Settings) -> tuple[Solution | None, list[int] | None]:
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


def _unserved_tokens(f: Formulation, unserved: np.ndarray) -> np.ndarray:
    """Unserved tokens/s per kept scenario, ignoring amounts below the checker's tolerance."""
    significant = unserved > ROUTING_TOLERANCE * np.maximum(f.demand, 1e-12)
    return (np.where(significant, unserved, 0.0) * f.token_weights[:, None]).sum(axis=0)
