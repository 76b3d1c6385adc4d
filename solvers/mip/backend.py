"""What every MIP backend takes and returns, so :func:`optimizer.solve` treats them alike."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from optimizer.result import Limit

Progress = Callable[[float | None, float | None, float], None]
"""Called while solving with (incumbent $/hour or None, best bound or None, elapsed s)."""

ObjectiveMode = Literal["cost", "unserved"]
"""``cost``: $/hour of opened racks; ``unserved``: scenario-weighted unserved tokens/s."""

Outcome = Literal["optimal", "feasible", "infeasible", "no-solution"]


@dataclass(frozen=True)
class Settings:
    """How one backend run is bounded and what it minimises."""

    time_limit: float
    """seconds of wall-clock time"""
    gap: float
    """relative gap at which to stop"""
    threads: int
    seed: int
    objective: ObjectiveMode = "cost"
    allow_unserved: bool = False
    """add unserved-demand variables ``u`` (elastic demand rows)"""
    unserved_cap: np.ndarray | None = None
    """requests/s per (tenant, kept scenario): upper bound on ``u`` (second phase)"""
    hint: Solution | None = None
    progress: Progress | None = None
    scenarios: tuple[int, ...] | None = None
    """positions in ``Formulation.scenarios`` to model (None: all); flows elsewhere are 0"""
    fixed: Solution | None = None
    """fix racks and replicas to this solution's (routing only: an LP)"""
    relax_integrality: bool = False
    """racks and replicas continuous: the LP relaxation (MathOpt backends; CP-SAT refuses it)"""

    def active(self, count: int) -> tuple[int, ...]:
        """Positions of the modelled scenarios among ``count`` kept ones."""
        return tuple(range(count)) if self.scenarios is None else self.scenarios


@dataclass(frozen=True)
class Solution:
    """Values of the MIP's variables in physical units."""

    racks: np.ndarray
    """``y_p``: racks opened per pool (int; fractional in the LP relaxation)"""
    replicas: np.ndarray
    """``n_g``: replicas per group (int; fractional in the LP relaxation)"""
    flows: np.ndarray
    """``r_{a,s}``: requests/s per arc and kept scenario (0 in scenarios not modelled)"""
    unserved: np.ndarray
    """``u_{k,s}``: requests/s per tenant and kept scenario"""
    replica_reduced_costs: np.ndarray | None = None
    """$/hour per replica: the LP relaxation's reduced cost of each ``n_g`` (LP only)"""
    alongside: dict[tuple[int, int], int] = field(default_factory=dict)
    """``w_{g,m}`` (nonzero only): replicas of unspread group g in each copy of its pool's
    virtual racks spread over m, so ``m w`` of its replicas share racks with spread ones (10)"""


@dataclass(frozen=True)
class BackendResult:
    outcome: Outcome
    limit: Limit
    solution: Solution | None
    objective: float | None
    """the backend's own objective value (tests compare it with the evaluator's)"""
    bound: float | None
    runtime_s: float
