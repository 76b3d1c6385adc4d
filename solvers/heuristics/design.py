"""The baselines' designs (step 2 of :mod:`solvers.heuristics`): for each unit (tenants served
together) and (system, precision), the cheapest engine set in GPU-hours that keeps every
member's SLO, with replicas sized for the peak of the members' summed demand.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from optimizer.catalog import Precision
from optimizer.instance import Instance, Tenant
from optimizer.performance import EngineConfig, PerformanceModel, TokenLoad, meets_slo
from optimizer.performance.capacity import replica_seconds, scaleout_bytes_per_s
from optimizer.result import check_deadline

SIZING_HEADROOM = 1e-7
"""Replicas are sized for peak load x (1 + this), so routing never exceeds capacity by rounding."""

INTERACTIVITY_TIERS: tuple[float, ...] = (10.0, 20.0, 30.0, 50.0, 75.0, 100.0, 150.0, 200.0)
"""Upper bounds (tokens/s per user) of the interactivity tiers pooled planning groups by."""
TTFT_TIERS_S: tuple[float, ...] = (0.5, 1.0, 2.0, 3.0, 6.0, 15.0, 30.0, 60.0)
"""Lower bounds (s) of the TTFT tiers pooled planning groups by."""


def latency_class(tenant: Tenant) -> tuple[int, int]:
    """(interactivity tier, TTFT tier) of ``tenant``: pools share engines within one class.

    Tier i of interactivity holds promises up to ``INTERACTIVITY_TIERS[i]`` (the
    last tier everything above); tier j of TTFT holds promises from
    ``TTFT_TIERS_S[j]`` up to the next bound (tier 0 everything below). A pool
    runs at the strictest promise of its members.
    """
    speed = sum(tenant.min_tokens_per_s_per_user > bound for bound in INTERACTIVITY_TIERS)
    ttft = max(sum(tenant.ttft_s >= bound for bound in TTFT_TIERS_S) - 1, 0)
    return speed, ttft


# -- units and designs ----------------------------------------------------------------


@dataclass(frozen=True)
class Unit:
    """Tenants served together by engines of their own, on one site and system."""

    id: str
    tenants: tuple[Tenant, ...]
    precisions: tuple[Precision, ...]
    """precisions every member allows"""
    sites: tuple[str, ...]
    """sites every member allows"""

    @property
    def model(self) -> str:
        """The model every member uses."""
        return self.tenants[0].model

    @property
    def spread(self) -> int:
        """Racks each role's replicas spread over at least: the largest member ``min_racks``."""
        return max(t.min_racks for t in self.tenants)

    @property
    def rack_owner(self) -> str | None:
        """The tenant whose racks these are, for a ``dedicated-rack`` unit."""
        first = self.tenants[0]
        return first.name if first.isolation == "dedicated-rack" else None


@dataclass(frozen=True)
class Stage:
    """One role of a design: ``replicas`` of ``config``."""

    config: EngineConfig
    replicas: int
    per_request: tuple[float, ...]
    """replicas one request/s of each member occupies (the binding resource)"""

    @property
    def gpus(self) -> int:
        return self.config.gpus * self.replicas


@dataclass(frozen=True)
class Design:
    """How a unit is served on one system in one precision."""

    system: str
    precision: Precision
    stages: tuple[Stage, ...]
    """(aggregated,) or (prefill, decode)"""

    @property
    def gpus(self) -> int:
        return sum(stage.gpus for stage in self.stages)


class Designer:
    """Cheapest designs per (unit, system, precision), with the performance model's answers cached."""

    def __init__(self, instance: Instance, performance: PerformanceModel, disaggregation: bool, deadline: float):
        self.instance = instance
        self.performance = performance
        self.disaggregation = disaggregation
        self.deadline = deadline
        """``time.perf_counter()`` value after which :meth:`design` raises :class:`~optimizer.result.OutOfTime`"""
        scenarios = range(instance.num_scenarios)
        self.demand = {t.name: np.array([t.demand(s) for s in scenarios]) for t in instance.tenants}
        self._designs: dict[tuple[tuple[str, ...], str, Precision], Design | None] = {}
        self._demand_matrices: dict[tuple[str, ...], np.ndarray] = {}

    def demand_matrix(self, unit: Unit) -> np.ndarray:
        """Requests/s per (scenario, member)."""
        key = tuple(t.name for t in unit.tenants)
        if key not in self._demand_matrices:
            self._demand_matrices[key] = np.stack([self.demand[name] for name in key], axis=1)
        return self._demand_matrices[key]

    def candidates(self, unit: Unit, system: str, precision: Precision, role: str) -> list[tuple[EngineConfig, list[TokenLoad]]]:
        """Configurations of ``role`` offered for any member's request shape, in a fixed order,
        each with every member's load on it (headroom included); those some member has no load
        on are left out.

        Operating points that cannot keep the strictest member's promise (run
        below its interactivity, or a prefill TTFT target above its TTFT) are
        left out before their loads are asked for.
        """
        shapes = sorted({(t.input_tokens, t.output_tokens) for t in unit.tenants})
        speed = max(t.min_tokens_per_s_per_user for t in unit.tenants)
        ttft = min(t.ttft_s for t in unit.tenants)
        found: dict[EngineConfig, None] = {}
        for isl, osl in shapes:
            for config in self.performance.configs(unit.model, system, precision, role, isl, osl):  # type: ignore[arg-type]
                too_slow = config.tokens_per_s_per_user is not None and config.tokens_per_s_per_user < speed
                too_late = config.role == "prefill" and config.ttft_s is not None and config.ttft_s > ttft
                if not (too_slow or too_late):
                    found.setdefault(config)
        configs = list(found)
        by_member = [self.performance.tenant_loads(tenant, configs) for tenant in unit.tenants]
        return [(config, list(loads)) for config, *loads in zip(configs, *by_member, strict=True)
                if all(load is not None for load in loads)]

    def stage(self, unit: Unit, config: EngineConfig, loads: Sequence[TokenLoad]) -> Stage:
        """Replicas of ``config`` for the peak of the members' summed demand."""
        system = self.instance.system(config.system)
        kv_capacity = self.performance.kv_capacity_bytes(config)
        bandwidth = scaleout_bytes_per_s(system, config.gpus)
        kv_per_token = self.performance.kv_bytes_per_token(config)
        per_request = []
        for tenant, load in zip(unit.tenants, loads, strict=True):
            isl, osl = tenant.input_tokens, tenant.output_tokens
            time_used = replica_seconds(load, isl, osl)
            kv_used = 0.0 if config.role == "prefill" else osl * load.kv_bytes_per_output_rate / kv_capacity
            network = isl * kv_per_token / bandwidth if config.role == "decode" else 0.0
            per_request.append(max(time_used, kv_used, network))
        demand = self.demand_matrix(unit)
        peak = float((demand @ np.array(per_request)).max())
        replicas = math.ceil(peak * (1 + SIZING_HEADROOM))
        if demand.any():
            replicas = max(replicas, unit.spread)
        return Stage(config, replicas, tuple(per_request))

    def design(self, unit: Unit, system: str, precision: Precision) -> Design | None:
        """The design with the fewest GPUs meeting every member's SLO; None when there is none."""
        key = (tuple(t.name for t in unit.tenants), system, precision)
        if key not in self._designs:
            check_deadline(self.deadline)
            self._designs[key] = self._cheapest(unit, system, precision)
        return self._designs[key]

    def _cheapest(self, unit: Unit, system: str, precision: Precision) -> Design | None:
        best: Design | None = None
        for config, loads in self.candidates(unit, system, precision, "aggregated"):
            if not all(meets_slo(t, l) for t, l in zip(unit.tenants, loads, strict=True)):
                continue
            option = Design(system, precision, (self.stage(unit, config, loads),))
            if best is None or option.gpus < best.gpus:
                best = option
        if self.disaggregation:
            pair = self._disaggregated(unit, system, precision)
            if pair is not None and (best is None or pair.gpus < best.gpus):
                best = pair
        return best

    def _disaggregated(self, unit: Unit, system: str, precision: Precision) -> Design | None:
        """The cheapest prefill + decode pair meeting every member's SLO."""
        prefills = []
        for config, loads in self.candidates(unit, system, precision, "prefill"):
            prefills.append((self.stage(unit, config, loads), loads))
        prefills.sort(key=lambda item: item[0].gpus)
        best: Design | None = None
        for config, decode_loads in self.candidates(unit, system, precision, "decode"):
            decode = self.stage(unit, config, decode_loads)
            for prefill, prefill_loads in prefills:  # cheapest first: the first that meets the SLO
                if best is not None and prefill.gpus + decode.gpus >= best.gpus:
                    break
                if all(
                    meets_slo(t, p, d)
                    for t, p, d in zip(unit.tenants, prefill_loads, decode_loads, strict=True)
                ):
                    best = Design(system, precision, (prefill, decode))
                    break
        return best
