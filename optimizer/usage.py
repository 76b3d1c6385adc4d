"""How a plan loads its engines: the one reading of routes shared by evaluator and checker.

A route's token rates become engine time and KV memory through the
performance model's :class:`~optimizer.performance.TokenLoad` for the routed
tenant's request shape on the group's configuration (common load model:
``in * sec_per_input_token + out * sec_per_output_token`` replica-seconds per
second against ``count``; ``out * kv_bytes_per_output_rate`` bytes against
``count * kv_capacity_bytes``). Capacity always comes from the performance model
or the instance's profiles, never from the plan.
"""

from __future__ import annotations

from collections import defaultdict
from functools import cached_property

from optimizer.catalog import System
from optimizer.instance import FleetEntry, Instance
from optimizer.performance import EngineConfig, PerformanceModel, TokenLoad
from optimizer.performance.capacity import replica_seconds
from optimizer.plan import EngineGroup, Plan, Rack

FlowKey = tuple[str, int, str]
"""(tenant, scenario, engine group id)"""


class PlanUsage:
    """Routes of ``plan`` resolved against ``instance``: flows, loads, capacities.

    Routes naming an unknown tenant, engine group or scenario are left out of
    every figure (the checker reports them). Repeated routes for the same
    (tenant, scenario, engine) add up.
    """

    def __init__(self, instance: Instance, plan: Plan, performance: PerformanceModel | None = None):
        self.instance = instance
        self.plan = plan
        self.performance = (
            performance if performance is not None else PerformanceModel(instance, confidence=plan.confidence)
        )
        self._loads: dict[tuple[str, str], TokenLoad | None] = {}

    # -- plan structure ---------------------------------------------------------------

    @cached_property
    def groups(self) -> dict[str, tuple[Rack, EngineGroup]]:
        """Engine groups by id with their rack (the first one when an id repeats)."""
        found: dict[str, tuple[Rack, EngineGroup]] = {}
        for rack in self.plan.racks:
            for group in rack.engines:
                found.setdefault(group.id, (rack, group))
        return found

    def system(self, rack: Rack) -> System | None:
        """The rack's catalog system; None when the instance does not know it."""
        return self.instance.system_catalog.get(rack.system)

    def fleet_entry(self, rack: Rack) -> FleetEntry | None:
        try:
            return self.instance.fleet_entry(rack.site, rack.system)
        except KeyError:
            return None

    def rack_gpus(self, rack: Rack) -> int:
        """GPUs in the rack (fleet override, else catalog). The system must be known."""
        entry = self.fleet_entry(rack)
        if entry is not None:
            return self.instance.gpus_per_rack(entry)
        return self.instance.system(rack.system).gpus_per_rack

    def usd_per_gpu_hour(self, rack: Rack) -> float:
        """All-in $/GPU-hour of the rack (fleet override, else catalog at the TCO basis)."""
        entry = self.fleet_entry(rack)
        if entry is not None:
            return self.instance.usd_per_gpu_hour(entry)
        return self.instance.system(rack.system).usd_per_gpu_hour(self.instance.economics.tco_basis)

    @staticmethod
    def occupied_gpus(rack: Rack) -> int:
        """GPUs the rack's engine replicas occupy."""
        return sum(group.gpus * group.count for group in rack.engines)

    def config(self, engine: str) -> EngineConfig:
        rack, group = self.groups[engine]
        return group.config(rack.system)

    def resolvable(self, engine: str) -> bool:
        """Whether the group's system and model are known, so its performance can be asked."""
        rack, group = self.groups[engine]
        return rack.system in self.instance.system_catalog and group.model in self.instance.model_catalog

    # -- flows ------------------------------------------------------------------------

    @cached_property
    def flows(self) -> dict[FlowKey, tuple[float, float]]:
        """(input, output) tokens/s per (tenant, scenario, engine), valid routes only."""
        names = {t.name for t in self.instance.tenants}
        groups, scenarios = self.groups, self.instance.num_scenarios
        totals: dict[FlowKey, list[float]] = defaultdict(lambda: [0.0, 0.0])
        for route in self.plan.routes:
            if route.tenant in names and route.engine in groups and route.scenario < scenarios:
                total = totals[(route.tenant, route.scenario, route.engine)]
                total[0] += route.input_tokens_per_s
                total[1] += route.output_tokens_per_s
        return {key: (i, o) for key, (i, o) in totals.items() if i > 0 or o > 0}

    @cached_property
    def served(self) -> dict[FlowKey, tuple[float, float]]:
        """(input, output) tokens/s each flow serves: input on aggregated and prefill groups,
        output on aggregated and decode groups (the rest is a role violation, not service)."""
        served = {}
        for key, (i, o) in self.flows.items():
            role = self.groups[key[2]][1].role
            served[key] = (0.0 if role == "decode" else i, 0.0 if role == "prefill" else o)
        return served

    @cached_property
    def flows_by_engine(self) -> dict[str, list[tuple[str, int, float, float]]]:
        """Per engine: (tenant, scenario, input, output) of each positive flow."""
        found: dict[str, list[tuple[str, int, float, float]]] = defaultdict(list)
        for (tenant, scenario, engine), (i, o) in self.flows.items():
            found[engine].append((tenant, scenario, i, o))
        return found

    def tenants_on(self, engine: str) -> set[str]:
        """Tenants with a positive flow to ``engine`` in some scenario."""
        return {tenant for tenant, _, _, _ in self.flows_by_engine.get(engine, ())}

    # -- loads and capacity -----------------------------------------------------------

    def load(self, tenant: str, engine: str) -> TokenLoad | None:
        """The load ``tenant``'s request shape puts on one replica of ``engine``; None if none."""
        key = (tenant, engine)
        if key not in self._loads:
            if self.resolvable(engine):
                load = self.performance.tenant_load(self.instance.tenant(tenant), self.config(engine))
            else:
                load = None
            self._loads[key] = load
        return self._loads[key]

    @cached_property
    def used(self) -> dict[tuple[str, int], tuple[float, float]]:
        """(replica-seconds per second, KV bytes) the flows put on each (engine, scenario) with
        a flow, flows without a load skipped."""
        totals: dict[tuple[str, int], list[float]] = defaultdict(lambda: [0.0, 0.0])
        for (tenant, scenario, engine), (i, o) in self.flows.items():
            load = self.load(tenant, engine)
            if load is not None:
                total = totals[(engine, scenario)]
                total[0] += replica_seconds(load, i, o)
                total[1] += o * load.kv_bytes_per_output_rate
        return {key: (time, kv) for key, (time, kv) in totals.items()}

    def time_used(self, engine: str, scenario: int) -> float:
        """Replica-seconds per second the flows of ``scenario`` use (flows without a load skipped)."""
        return self.used.get((engine, scenario), (0.0, 0.0))[0]

    def tenant_time(self, tenant: str, engine: str, scenario: int) -> float:
        """Replica-seconds per second ``tenant`` uses on ``engine`` in ``scenario``."""
        flow = self.flows.get((tenant, scenario, engine))
        load = self.load(tenant, engine)
        if flow is None or load is None:
            return 0.0
        return replica_seconds(load, *flow)

    def kv_used(self, engine: str, scenario: int) -> float:
        """KV bytes the flows of ``scenario`` hold on ``engine``."""
        return self.used.get((engine, scenario), (0.0, 0.0))[1]

    def kv_capacity(self, engine: str) -> float | None:
        """KV bytes all replicas of ``engine`` hold; None when its model or system is unknown."""
        if not self.resolvable(engine):
            return None
        _, group = self.groups[engine]
        return group.count * self.performance.kv_capacity_bytes(self.config(engine))
