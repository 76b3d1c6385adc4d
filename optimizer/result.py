"""What every planning method returns: status, limit, objective, bound, gap, plan.

Follows MathOpt's vocabulary: the termination status is kept apart from the
limit that stopped the run, and the best bound is kept even when no plan was
found. ``OPTIMAL`` under a gap limit means "within the gap", not proven optimal.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from optimizer.plan import Limit, Plan, Status

if TYPE_CHECKING:
    from optimizer.evaluate import Report

__all__ = ["BoundScope", "Limit", "OutOfTime", "Result", "Status", "Unserved", "check_deadline", "relative_gap"]

BoundScope = Literal["all", "shortlist"]
"""What a bound holds over: ``all``, every candidate the performance model offers; ``shortlist``,
only the candidates the MIP kept (docs/formulation.md, "What the bound covers")."""


@dataclass(frozen=True)
class Unserved:
    """Demand a plan leaves unserved, and the binding reason."""

    tenant: str
    reason: str
    """which limit binds: no configuration meets the SLO, inventory, site power, isolation, ..."""
    requests_per_s: float = 0.0
    """peak unserved request rate over scenarios"""


def relative_gap(cost: float | None, bound: float | None) -> float | None:
    """(cost - bound) / cost, at least 0; 0 when cost <= 0; None without both ($/hour)."""
    if cost is None or bound is None:
        return None
    if cost <= 0:
        return 0.0
    return max(0.0, (cost - bound) / cost)


@dataclass(frozen=True)
class Result:
    """The outcome of one planning run."""

    method: str
    status: Status
    limit: Limit
    objective: float | None
    """$/hour of the returned plan, as priced by the evaluator"""
    bound: float | None
    """best proven lower bound on $/hour (None for heuristics)"""
    runtime_s: float
    plan: Plan | None = None
    unserved: tuple[Unserved, ...] = field(default=())
    bound_scope: BoundScope | None = None
    """the candidates ``bound`` holds over (None without a bound)"""
    bound_solver: str | None = None
    """the solver that proved ``bound``: "highs" for an LP relaxation, "fluid-bound" for the bound
    no solver's beat (:attr:`solvers.mip.formulation.Formulation.fluid_bound`), else the MIP
    backend's name"""
    shortlist_bound: float | None = None
    """where ``bound`` holds over every candidate: the stronger bound the backend proved over the
    shortlist it searched (None otherwise), so a reader sees both what is proven about the whole
    problem and how far the search over its candidates got"""
    phases_s: dict[str, float] = field(default_factory=dict)
    """wall-clock seconds per phase of the run (the MIP's: :data:`solvers.mip.run.PHASES`); empty for heuristics"""
    report: Report | None = None
    """the evaluator's report of ``plan``, made by the run that priced it (None without a plan), so
    callers need not evaluate the plan again"""

    @property
    def gap(self) -> float | None:
        """:func:`relative_gap` of the objective and the bound."""
        return relative_gap(self.objective, self.bound)

    @property
    def shortlist_gap(self) -> float | None:
        """:func:`relative_gap` of the objective and :attr:`shortlist_bound`."""
        return relative_gap(self.objective, self.shortlist_bound)

    def to_dict(self, include_plan: bool = True) -> dict[str, Any]:
        """A JSON-ready dict: status, limit, objective, bound, bound_scope, bound_solver, gap,
        shortlist_bound, shortlist_gap, runtime_s, phases_s, unserved, plan."""
        payload: dict[str, Any] = {
            "method": self.method,
            "status": self.status.value,
            "limit": self.limit.value,
            "objective": self.objective,
            "bound": self.bound,
            "bound_scope": self.bound_scope,
            "bound_solver": self.bound_solver,
            "gap": self.gap,
            "shortlist_bound": self.shortlist_bound,
            "shortlist_gap": self.shortlist_gap,
            "runtime_s": self.runtime_s,
            "phases_s": self.phases_s,
            "unserved": [vars(u) for u in self.unserved],
        }
        if include_plan:
            payload["plan"] = None if self.plan is None else self.plan.model_dump(mode="json")
        return payload


class OutOfTime(Exception):
    """A run's deadline passed inside a step that cannot return part of its work (a heuristic's
    designs, the MIP's formulation)."""


def check_deadline(deadline: float | None) -> None:
    """Raise :class:`OutOfTime` once ``time.perf_counter()`` is past ``deadline`` (None: never)."""
    if deadline is not None and time.perf_counter() > deadline:
        raise OutOfTime


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) or SIGTERM stopped a run: a ``KeyboardInterrupt`` (so it stops callers
    that do not look) carrying the best result found before it, whose limit is ``INTERRUPTED``.
    ``str(error)`` is the signal's name."""

    def __init__(self, result: Result, signal_name: str) -> None:
        super().__init__(signal_name)
        self.result = result
