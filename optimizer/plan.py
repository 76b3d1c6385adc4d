"""The plan: which racks are open, which engines run in them, how tokens flow.

Every method (MIP backends and heuristics) returns a :class:`Plan`; one
evaluator prices it (:func:`optimizer.evaluate`) and one checker proves it keeps
every promise (:func:`optimizer.check`). A plan is a versioned JSON file people
diff and other tools read, so the field names below are kept stable.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from optimizer.catalog import Name, Precision
from optimizer.instance import MAX_SCENARIOS, Instance, InstanceError, Role, field_problems, read_document
from optimizer.performance import EngineConfig
from optimizer.performance.estimate import DEFAULT_CONFIDENCE
from optimizer.safe_io import write_atomic

PLAN_VERSION = 2
"""2 adds :attr:`Plan.solve`; version-1 files (without it) still load."""
_FROZEN = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)
OPTIMAL_GAP = 1e-4
"""A plan proven within this relative gap (0.01%) of its bound is called optimal."""


class Status(StrEnum):
    """How a planning run ended (MathOpt's vocabulary: kept apart from the :class:`Limit` that stopped it)."""

    OPTIMAL = "optimal"
    """a plan within the requested relative gap of the best bound"""
    FEASIBLE = "feasible"
    """a plan, optimality not proven (heuristics, or a limit was hit)"""
    INFEASIBLE = "infeasible"
    """no plan serves all demand; ``unserved`` says which tenants and why"""
    NO_SOLUTION = "no-solution"
    """a limit stopped the run before any plan was found"""


class Limit(StrEnum):
    NONE = "none"
    TIME = "time"
    GAP = "gap"
    INTERRUPTED = "interrupted"


class Parallelism(BaseModel):
    """How one engine replica splits the model over its GPUs."""

    model_config = _FROZEN

    tp: int = Field(ge=1, le=4096, strict=True, description="tensor-parallel degree (1 to 4,096)")
    ep: int = Field(default=1, ge=1, le=4096, strict=True, description="expert-parallel degree (1 to 4,096)")
    dp_attention: bool = Field(default=False, strict=True, description="data-parallel attention")


class EngineGroup(BaseModel):
    """``count`` identical engine replicas of one configuration, inside one rack."""

    model_config = _FROZEN

    id: Name = Field(description="unique in the plan; routes refer to it")
    model: Name
    precision: Precision
    role: Role
    gpus: int = Field(ge=1, le=4096, strict=True, description="GPUs per replica (1 to 4,096)")
    count: int = Field(ge=1, le=4096, strict=True, description="replicas (1 to 4,096, a rack's GPUs at most)")
    parallelism: Parallelism
    tokens_per_s_per_user: float | None = Field(
        default=None, ge=1e-3, le=1e5, strict=True,
        description="operating point: interactivity, tokens/s per user (0.001 to 100,000; aggregated, decode)",
    )
    ttft_s: float | None = Field(
        default=None, ge=1e-3, le=3600, strict=True,
        description="operating point: TTFT target, s (0.001 to 3,600; aggregated, prefill)",
    )
    source: Literal["model", "profile"] = Field(
        default="model", description="where capacity comes from: the performance model or profiles"
    )
    purpose: Literal["serving", "reserve"] = Field(
        default="serving",
        description="serving: carries routes; reserve: kept for failover (survive), idle in every scenario",
    )

    @classmethod
    def from_config(
        cls, group_id: str, config: EngineConfig, count: int, purpose: Literal["serving", "reserve"] = "serving"
    ) -> EngineGroup:
        """``count`` replicas of ``config`` as engine group ``group_id`` (the inverse of :meth:`config`)."""
        return cls(
            id=group_id,
            model=config.model,
            precision=config.precision,
            role=config.role,
            gpus=config.gpus,
            count=count,
            parallelism=Parallelism(tp=config.tp, ep=config.ep, dp_attention=config.dp_attention),
            tokens_per_s_per_user=config.tokens_per_s_per_user,
            ttft_s=config.ttft_s,
            source=config.source,
            purpose=purpose,
        )

    def config(self, system: str) -> EngineConfig:
        """The engine configuration of one replica on ``system``."""
        return EngineConfig(
            model=self.model,
            system=system,
            precision=self.precision,
            role=self.role,
            gpus=self.gpus,
            tp=self.parallelism.tp,
            ep=self.parallelism.ep,
            dp_attention=self.parallelism.dp_attention,
            tokens_per_s_per_user=self.tokens_per_s_per_user,
            ttft_s=self.ttft_s,
            source=self.source,
        )


class Rack(BaseModel):
    """One opened rack: the whole rack is paid for, used or not."""

    model_config = _FROZEN

    id: Name
    site: Name
    system: Name
    engines: tuple[EngineGroup, ...] = Field(default=(), max_length=4096)


class Route(BaseModel):
    """Token rates one tenant sends to one engine group in one scenario."""

    model_config = _FROZEN

    tenant: Name
    scenario: int = Field(ge=0, lt=MAX_SCENARIOS, strict=True, description="scenario index (0 to 167)")
    engine: Name = Field(description="engine group id")
    input_tokens_per_s: float = Field(default=0.0, ge=0, le=1e13, strict=True, description="tokens/s (0 to 1e13)")
    output_tokens_per_s: float = Field(default=0.0, ge=0, le=1e13, strict=True, description="tokens/s (0 to 1e13)")


class SolveRecord(BaseModel):
    """How good the plan is proven to be, and the run that found it: what a colleague handed the
    plan file needs to trust it (``tenantplan solve`` writes it; heuristics' plans carry none)."""

    model_config = _FROZEN

    status: Status
    limit: Limit = Field(description="the limit that stopped the run ('none': it ran to the end)")
    objective: float | None = Field(ge=0, description="$/hour of the plan, as priced by the evaluator")
    bound: float | None = Field(description="best proven lower bound on $/hour; None without one")
    gap: float | None = Field(ge=0, le=1, description="(objective - bound) / objective; None without a bound")
    bound_scope: str | None = Field(
        default=None, description="the plans the bound holds over (e.g. the shortlisted candidates); None: unknown",
    )
    shortlist_bound: float | None = Field(
        default=None, ge=0,
        description="where the bound holds over every candidate, the stronger bound proven over the shortlist searched",
    )
    solver: str = Field(description="the MIP backend, e.g. 'highs'")
    time_limit_s: float = Field(gt=0, description="the run's wall-clock limit, s")
    runtime_s: float = Field(ge=0, description="wall-clock time the run took, s")
    seed: int = Field(ge=0, description="the solver's random seed")
    confidence: float = Field(gt=0, lt=1, description="the planning confidence (:attr:`Plan.confidence`)")
    bases: dict[str, int] = Field(
        default_factory=dict,
        description="engine groups by the basis of their capacity (measured, interpolated, modelled, profile)",
    )

    def words(self) -> str:
        """The proof in a sentence, e.g. 'within 10.5% of the best possible plan; stopped by its 60-s time limit'."""
        return proof_words(self.status, self.limit, self.gap, self.time_limit_s)


def percent(share: float) -> str:
    """A share as a percentage with three significant digits: 0.105 -> '10.5%', 3.14e-5 -> '0.00314%';
    '<0.001%' below that, so a gap that is not 0 never reads as 0."""
    value = 100 * share
    return "<0.001%" if 0 < value < 1e-3 else f"{value:.3g}%"


def proof_words(status: Status, limit: Limit, gap: float | None, time_limit_s: float | None = None) -> str:
    """What a run's status, limit and gap prove about its plan, in words; 'optimal' only when
    the solver proved it (a gap of 0 alone is not said to be optimal)."""
    stopped = {
        Limit.TIME: f"stopped by its {time_limit_s:g}-s time limit" if time_limit_s else "stopped by its time limit",
        Limit.GAP: "stopped at its requested gap",
        Limit.INTERRUPTED: "interrupted",
    }.get(limit, "")
    if status == Status.INFEASIBLE:
        return "no plan serves every tenant"
    if status == Status.NO_SOLUTION:
        return "no plan found" + (f": {stopped}" if stopped else "")
    if gap is None:
        text = "a heuristic's plan: no bound says how far from the best possible plan it is"
    elif status == Status.OPTIMAL:
        return (f"proven optimal, gap {percent(gap)}" if gap <= OPTIMAL_GAP
                else f"proven within {percent(gap)} of the best possible plan (its requested gap)")
    else:
        text = f"within {percent(gap)} of the best possible plan, not proven optimal"
    return f"{text}; {stopped}" if stopped else text


class Plan(BaseModel):
    """A complete serving plan for one instance."""

    model_config = _FROZEN

    plan_version: Literal[1, 2] = PLAN_VERSION
    instance: str = Field(description="instance name")
    instance_sha256: str = Field(description="Instance.digest() of the instance it was made for")
    method: str = Field(description="what produced it, e.g. 'cp-sat' or 'pooled'")
    created_at: str = Field(description="UTC ISO-8601 time of creation")
    confidence: float = Field(
        default=DEFAULT_CONFIDENCE, gt=0, lt=1, strict=True,
        description="capacities planned on: the throughput each engine reaches with this probability "
        "(the 1 - confidence quantile of its 80%-interval band); the evaluator and checker use the same",
    )
    racks: tuple[Rack, ...] = Field(default=(), max_length=1_000_000)
    routes: tuple[Route, ...] = Field(
        default=(), max_length=5_000_000,
        description="at most 5,000,000 (xlarge-01's 10,000 tenants over 24 scenarios need about 1,000,000)",
    )
    solve: SolveRecord | None = Field(
        default=None, description="how good the plan is proven to be and the run that found it; None: not recorded",
    )

    @classmethod
    def new(
        cls, instance: Instance, method: str, racks: tuple[Rack, ...], routes: tuple[Route, ...],
        confidence: float = DEFAULT_CONFIDENCE,
    ) -> Plan:
        """A plan for ``instance`` stamped with its digest, the planning confidence and the current time."""
        return cls(
            instance=instance.name,
            instance_sha256=instance.digest(),
            method=method,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            confidence=confidence,
            racks=racks,
            routes=routes,
        )

    def engine_groups(self) -> dict[str, tuple[Rack, EngineGroup]]:
        """Every engine group by id, with the rack that holds it."""
        return {group.id: (rack, group) for rack in self.racks for group in rack.engines}

    def to_json(self, indent: int | None = 2) -> str:
        return self.model_dump_json(indent=indent)

    def save(self, path: str | Path) -> None:
        """Write the plan as JSON atomically: a crash never leaves half a file."""
        write_atomic(path, self.to_json() + "\n")

    @classmethod
    def load(cls, path: str | Path) -> Plan:
        """Read a plan file.

        Raises:
            InstanceError: unreadable file or invalid plan, with paths and reasons.
        """
        data = read_document(path)
        try:
            return cls.model_validate(data)
        except ValidationError as error:
            raise InstanceError(field_problems(error), str(path)) from None

