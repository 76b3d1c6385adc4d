"""Baseline planners: ``siloed``, ``pooled`` and ``pooled-aggregated``.

What operators do today, as plans the checker accepts; they bound every
benchmark table and warm-start the MIP. All three share one pipeline:

1. **Units.** Tenants are grouped into units, each served by engines of its own:
   ``siloed`` makes one unit per tenant; ``pooled`` one per (model, precision,
   latency class, residency), where the latency class is a tier of the tenants'
   (interactivity, TTFT) promises (:func:`latency_class`) and each tenant takes
   the cheapest precision it allows, then merges neighbouring classes while the
   merged pool is cheaper; ``dedicated`` and ``dedicated-rack`` tenants always
   form units of their own (and, in ``pooled-spread-apart``, the MIP's warm start,
   tenants with ``min_racks`` > 1).
2. **Design.** For every (system, precision) a unit may use, the cheapest engine
   set in GPU-hours meeting every member's SLO (``meets_slo``): one aggregated
   configuration, or (``siloed`` and ``pooled``) a prefill + decode pair where
   that is cheaper. Replicas are sized for the peak scenario of the members'
   summed demand, each request charged the larger of its engine time and its
   share of KV memory (and, for decode, of the scale-out bandwidth its KV needs,
   so no pair depends on sharing an NVLink domain). A unit with ``min_racks`` =
   k gets at least k replicas per role.
3. **Placement.** Units, those pinned to fewer sites first, then biggest
   engines first, take the cheapest (site, system, precision) option that fits:
   replicas go first-fit into the NVLink domains of opened racks
   (:class:`optimizer.packing.RackPacker`), new racks are opened as needed,
   within rack GPUs, rack power, inventory (``max_racks``) and site power;
   ``dedicated-rack`` units open racks of their own; a unit with ``min_racks``
   = k puts at most 1/k of each role's replicas in one rack. A pool that fits
   nowhere is split into single tenants; a tenant that fits nowhere is reported
   with the reason.
4. **Routing.** Per scenario, tenants with ``min_racks`` > 1 are spread over
   their unit's engine groups in proportion to replicas; the others fill the
   remaining capacity group by group, so each tenant touches few groups.

The result is priced by :func:`optimizer.evaluate.evaluate`. Every step is
deterministic; ``seed`` and ``threads`` are accepted for the common method signature
and not needed. ``time_limit`` holds: the designs (where the time goes: the performance
model's answers for every unit, system and precision) check the clock, and a run out of
time returns no plan, limit ``TIME``.
"""

from __future__ import annotations

import logging
import math
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from optimizer.catalog import Precision, System
from optimizer.evaluate import evaluate
from optimizer.instance import FleetEntry, Instance, Tenant
from optimizer.packing import Move, RackPacker, domain_gpus
from optimizer.performance import EngineConfig, PerformanceModel, TokenLoad, meets_slo
from optimizer.performance.capacity import allin_kw, it_kw, replica_seconds, scaleout_bytes_per_s, usable_gpus
from optimizer.plan import EngineGroup, Plan, Rack, Route
from optimizer.result import Limit, Result, Status, Unserved

logger = logging.getLogger(__name__)

_SIZING_HEADROOM = 1e-7
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
class _Unit:
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
class _Stage:
    """One role of a design: ``replicas`` of ``config``."""

    config: EngineConfig
    replicas: int
    per_request: tuple[float, ...]
    """replicas one request/s of each member occupies (the binding resource)"""

    @property
    def gpus(self) -> int:
        return self.config.gpus * self.replicas


@dataclass(frozen=True)
class _Design:
    """How a unit is served on one system in one precision."""

    system: str
    precision: Precision
    stages: tuple[_Stage, ...]
    """(aggregated,) or (prefill, decode)"""

    @property
    def gpus(self) -> int:
        return sum(stage.gpus for stage in self.stages)


class _OutOfTime(Exception):
    """The run's deadline passed while designing."""


class _Designer:
    """Cheapest designs per (unit, system, precision), with the performance model's answers cached."""

    def __init__(self, instance: Instance, performance: PerformanceModel, disaggregation: bool, deadline: float):
        self.instance = instance
        self.performance = performance
        self.disaggregation = disaggregation
        self.deadline = deadline
        """``time.perf_counter()`` value after which :meth:`design` raises :class:`_OutOfTime`"""
        scenarios = range(instance.num_scenarios)
        self.demand = {t.name: np.array([t.demand(s) for s in scenarios]) for t in instance.tenants}
        self._designs: dict[tuple[tuple[str, ...], str, Precision], _Design | None] = {}
        self._demand_matrices: dict[tuple[str, ...], np.ndarray] = {}

    def demand_matrix(self, unit: _Unit) -> np.ndarray:
        """Requests/s per (scenario, member)."""
        key = tuple(t.name for t in unit.tenants)
        if key not in self._demand_matrices:
            self._demand_matrices[key] = np.stack([self.demand[name] for name in key], axis=1)
        return self._demand_matrices[key]

    def candidates(self, unit: _Unit, system: str, precision: Precision, role: str) -> list[EngineConfig]:
        """Configurations of ``role`` offered for any member's request shape, in a fixed order.

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
        for isl, osl in shapes:  # every member's loads on them in one vectorised pass, for :meth:`loads`
            self.performance.loads(list(found), isl, osl)
        return list(found)

    def loads(self, unit: _Unit, config: EngineConfig) -> list[TokenLoad] | None:
        """Each member's load on ``config``; None when some member has none."""
        loads = [self.performance.tenant_load(t, config) for t in unit.tenants]
        return None if any(load is None for load in loads) else loads  # type: ignore[return-value]

    def stage(self, unit: _Unit, config: EngineConfig, loads: Sequence[TokenLoad]) -> _Stage:
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
        replicas = math.ceil(peak * (1 + _SIZING_HEADROOM))
        if demand.any():
            replicas = max(replicas, unit.spread)
        return _Stage(config, replicas, tuple(per_request))

    def design(self, unit: _Unit, system: str, precision: Precision) -> _Design | None:
        """The design with the fewest GPUs meeting every member's SLO; None when there is none."""
        key = (tuple(t.name for t in unit.tenants), system, precision)
        if key not in self._designs:
            if time.perf_counter() > self.deadline:
                raise _OutOfTime
            self._designs[key] = self._cheapest(unit, system, precision)
        return self._designs[key]

    def _cheapest(self, unit: _Unit, system: str, precision: Precision) -> _Design | None:
        best: _Design | None = None
        for config in self.candidates(unit, system, precision, "aggregated"):
            loads = self.loads(unit, config)
            if loads is None or not all(meets_slo(t, l) for t, l in zip(unit.tenants, loads, strict=True)):
                continue
            option = _Design(system, precision, (self.stage(unit, config, loads),))
            if best is None or option.gpus < best.gpus:
                best = option
        if self.disaggregation:
            pair = self._disaggregated(unit, system, precision)
            if pair is not None and (best is None or pair.gpus < best.gpus):
                best = pair
        return best

    def _disaggregated(self, unit: _Unit, system: str, precision: Precision) -> _Design | None:
        """The cheapest prefill + decode pair meeting every member's SLO."""
        prefills = []
        for config in self.candidates(unit, system, precision, "prefill"):
            loads = self.loads(unit, config)
            if loads is not None:
                prefills.append((self.stage(unit, config, loads), loads))
        prefills.sort(key=lambda item: item[0].gpus)
        best: _Design | None = None
        for config in self.candidates(unit, system, precision, "decode"):
            decode_loads = self.loads(unit, config)
            if decode_loads is None:
                continue
            decode = self.stage(unit, config, decode_loads)
            for prefill, prefill_loads in prefills:  # cheapest first: the first that meets the SLO
                if best is not None and prefill.gpus + decode.gpus >= best.gpus:
                    break
                if all(
                    meets_slo(t, p, d)
                    for t, p, d in zip(unit.tenants, prefill_loads, decode_loads, strict=True)
                ):
                    best = _Design(system, precision, (prefill, decode))
                    break
        return best


# -- racks ----------------------------------------------------------------------------


class _RackSet:
    """The racks of one system at one site: a :class:`~optimizer.packing.RackPacker` and what they cost."""

    def __init__(self, instance: Instance, entry: FleetEntry):
        self.entry = entry
        self.system: System = instance.system(entry.system)
        rack_gpus = instance.gpus_per_rack(entry)
        usable = usable_gpus(self.system, rack_gpus, entry.rack_power_kw)
        self.packer = RackPacker(rack_gpus, domain_gpus(self.system, rack_gpus), usable)
        self.kw_per_rack = allin_kw(self.system, rack_gpus)
        """provisioned power of one opened rack (kW)"""


class _Placer:
    """Every (site, system) rack set, with site power shared among them."""

    def __init__(self, instance: Instance):
        self.instance = instance
        self.sets = {(e.site, e.system): _RackSet(instance, e) for e in instance.fleet}
        self.site_kw = {s.name: (s.power_mw * 1000 if s.power_mw is not None else math.inf) for s in instance.sites}

    def site_kw_used(self, site: str) -> float:
        """Provisioned power of the racks opened at ``site`` (kW)."""
        return sum(len(r.packer.racks) * r.kw_per_rack for (s, _), r in self.sets.items() if s == site)

    def place(self, unit: _Unit, design: _Design, site: str) -> str | None:
        """Place ``unit``'s replicas at ``site``; None on success, else why it does not fit."""
        rack_set = self.sets[(site, design.system)]
        packer, entry = rack_set.packer, rack_set.entry
        largest = max(stage.config.gpus for stage in design.stages)
        if largest > max(packer.domains):
            return f"NVLink domain: a {largest}-GPU engine does not fit {design.system} racks at {site}"
        if not packer.fits(largest):
            return (
                f"rack power: a {largest}-GPU engine needs {it_kw(rack_set.system, largest):.3g} kW, "
                f"{design.system} racks at {site} are capped at {entry.rack_power_kw:.3g} kW"
            )
        moves: list[Move] = []
        for index, stage in sorted(enumerate(design.stages), key=lambda item: -item[1].config.gpus):
            moves += packer.place(
                (unit.id, index), stage.config.gpus, stage.replicas,
                per_rack=stage.replicas // unit.spread, owner=unit.rack_owner,
            )
        if entry.max_racks is not None and len(packer.racks) > entry.max_racks:
            packer.undo(moves)
            return f"inventory: {design.system} at {site} has max_racks {entry.max_racks}"
        if self.site_kw_used(site) > self.site_kw[site]:
            packer.undo(moves)
            return f"site power: {site} has a {self.site_kw[site] / 1000:.4g} MW budget"
        return None


# -- the pipeline ----------------------------------------------------------------------


def _single(tenant: Tenant, instance: Instance) -> _Unit:
    return _Unit(
        id=tenant.name,
        tenants=(tenant,),
        precisions=instance.allowed_precisions(tenant),
        sites=instance.allowed_sites(tenant),
    )


def _silo_units(instance: Instance) -> list[_Unit]:
    return [_single(tenant, instance) for tenant in instance.tenants]


def _options(designer: _Designer, unit: _Unit) -> list[tuple[float, str, _Design]]:
    """(USD/hour of the design's GPUs, site, design) per (site, system, precision), cheapest first."""
    instance = designer.instance
    designs: dict[tuple[str, Precision], _Design | None] = {}
    options = []
    for entry in instance.fleet:
        if entry.site not in unit.sites:
            continue
        for precision in unit.precisions:
            key = (entry.system, precision)
            if key not in designs:
                designs[key] = designer.design(unit, entry.system, precision)
            design = designs[key]
            if design is not None:
                options.append((design.gpus * instance.usd_per_gpu_hour(entry), entry.site, design))
    options.sort(key=lambda o: (o[0], o[1], o[2].system, o[2].precision))
    return options


def _pool_units(instance: Instance, designer: _Designer, spread_apart: bool) -> list[_Unit]:
    """Pools per (model, precision, latency class, residency), merged where cheaper; isolated
    tenants, and with ``spread_apart`` tenants with ``min_racks`` > 1, alone.

    Within a (model, latency class, residency) group, precisions are ranked by the
    cost per request of serving every member that allows them (cheapest design on
    any system); each tenant joins the cheapest precision it allows. Then pools of
    one model, precision and residency are merged, strictest class first, as long
    as the merged pool's cheapest design costs less than the two apart
    (:func:`_merge_classes`).
    """
    units, groups = [], defaultdict(list)
    for tenant in instance.tenants:
        if tenant.isolation != "shared" or (spread_apart and tenant.min_racks > 1):
            units.append(_single(tenant, instance))
        else:
            key = (tenant.model, latency_class(tenant), instance.allowed_sites(tenant))
            groups[key].append(tenant)
    pools: dict[tuple[str, Precision, tuple[str, ...]], list[tuple[str, tuple[Tenant, ...]]]] = defaultdict(list)
    for (model, (speed, ttft), sites), members in groups.items():
        label = f"i{speed}t{ttft}"
        ranking = []
        for precision in instance.model(model).precisions:
            allowing = tuple(t for t in members if precision in instance.allowed_precisions(t))
            if not allowing:
                continue
            options = _options(designer, _pool(instance, label, allowing, precision, sites))
            if options:
                requests = sum(float(designer.demand[t.name].mean()) for t in allowing)
                ranking.append((options[0][0] / requests if requests > 0 else options[0][0], precision))
        ranking.sort()
        left = list(members)
        for _, precision in ranking:
            joining = tuple(t for t in left if precision in instance.allowed_precisions(t))
            if joining:
                pools[(model, precision, sites)].append((label, joining))
                left = [t for t in left if t not in joining]
        units.extend(_single(t, instance) for t in left)  # no precision works: reported per tenant
    for (_, precision, sites), classes in pools.items():
        units.extend(_merge_classes(instance, designer, classes, precision, sites))
    return units


def _pool(
    instance: Instance, label: str, members: tuple[Tenant, ...], precision: Precision, sites: tuple[str, ...]
) -> _Unit:
    where = "" if len(sites) == len(instance.sites) else ":" + "+".join(sites)
    return _Unit(f"pool:{members[0].model}:{label}{where}:{precision}", members, (precision,), sites)


def _merge_classes(
    instance: Instance,
    designer: _Designer,
    classes: list[tuple[str, tuple[Tenant, ...]]],
    precision: Precision,
    sites: tuple[str, ...],
) -> list[_Unit]:
    """Pools of one model, precision and residency, neighbouring latency classes merged while cheaper.

    Classes are taken strictest first (interactivity, then TTFT); each is merged
    into the pool before it when the merged pool's cheapest option costs less
    than both apart, else it starts a new pool.
    """

    def cost(unit: _Unit) -> float:
        options = _options(designer, unit)
        return options[0][0] if options else math.inf

    def strictness(item: tuple[str, tuple[Tenant, ...]]) -> tuple[float, float, str]:
        members = item[1]
        return (-max(t.min_tokens_per_s_per_user for t in members), min(t.ttft_s for t in members), item[0])

    merged: list[tuple[_Unit, float]] = []
    for label, members in sorted(classes, key=strictness):
        unit = _pool(instance, label, members, precision, sites)
        alone = cost(unit)
        if merged:
            last, last_cost = merged[-1]
            label_so_far = last.id.split(":")[2]
            joined = _pool(instance, f"{label_so_far}+{label}", last.tenants + members, precision, sites)
            together = cost(joined)
            if together < (last_cost + alone) * (1 - 1e-9):
                merged[-1] = (joined, together)
                continue
        merged.append((unit, alone))
    return [unit for unit, _ in merged]


def _no_design_reason(unit: _Unit, instance: Instance) -> str:
    tenant = unit.tenants[0]
    systems = sorted({e.system for e in instance.fleet if e.site in unit.sites})
    return (
        f"no configuration meets its SLO (TTFT <= {tenant.ttft_s:g} s, >= "
        f"{tenant.min_tokens_per_s_per_user:g} tokens/s/user) for {tenant.model} "
        f"{tenant.input_tokens}:{tenant.output_tokens} on {', '.join(systems) or 'no system'} "
        f"in {', '.join(unit.precisions)}"
    )


@dataclass(frozen=True)
class _Placed:
    unit: _Unit
    design: _Design
    site: str


def _place_all(
    units: list[_Unit], designer: _Designer, placer: _Placer
) -> tuple[list[_Placed], list[Unserved]]:
    """Units in :func:`_size_key` order, each on its cheapest option that fits.

    A pool that no design serves, or that fits no option (inventory, power), is
    split into single tenants, which are placed at once.
    """
    instance = designer.instance
    placed: list[_Placed] = []
    unserved: list[Unserved] = []

    def place(unit: _Unit, options: list[tuple[float, str, _Design]]) -> None:
        reasons = []
        for _, site, design in options:
            reason = placer.place(unit, design, site)
            if reason is None:
                placed.append(_Placed(unit, design, site))
                return
            reasons.append(reason)
        if len(unit.tenants) > 1:
            for single in (_single(t, instance) for t in unit.tenants):
                place(single, _options(designer, single))
        elif not options:
            unserved.append(_unserved(unit, _no_design_reason(unit, instance), designer))
        else:
            distinct = list(dict.fromkeys(reasons))
            unserved.append(_unserved(unit, "no capacity left: " + "; ".join(distinct), designer))

    for unit, options in sorted(((u, _options(designer, u)) for u in units), key=_size_key):
        place(unit, options)
    return placed, unserved


def _size_key(item: tuple[_Unit, list]) -> tuple:
    """Units pinned to fewer sites first (they have fewer places to go), then biggest engines first."""
    unit, options = item
    if not options:
        return (1, 0, 0, 0, unit.id)
    design = options[0][2]
    return (0, len(unit.sites), -max(s.config.gpus for s in design.stages), -design.gpus, unit.id)


def _unserved(unit: _Unit, reason: str, designer: _Designer) -> Unserved:
    tenant = unit.tenants[0]
    return Unserved(tenant.name, reason, float(designer.demand[tenant.name].max()))


def _build_plan(
    instance: Instance, method: str, placed: list[_Placed], placer: _Placer, designer: _Designer
) -> Plan:
    """Racks with their engine groups, and routes for every tenant and scenario."""
    racks: list[Rack] = []
    # (unit id, stage index) -> [(engine group id, replicas)]
    groups: dict[tuple[str, int], list[tuple[str, int]]] = defaultdict(list)
    stages = {(p.unit.id, i): stage for p in placed for i, stage in enumerate(p.design.stages)}
    for (site, system), rack_set in placer.sets.items():
        for n, state in enumerate(rack_set.packer.racks):
            rack_id = f"{site}/{system}/{n:04d}"
            engines = []
            for (unit_id, index), count in sorted(state.replicas.items()):
                config = stages[(unit_id, index)].config
                group_id = f"{rack_id}/{unit_id}/{config.role}"
                groups[(unit_id, index)].append((group_id, count))
                engines.append(EngineGroup.from_config(group_id, config, count))
            racks.append(Rack(id=rack_id, site=site, system=system, engines=tuple(engines)))
    routes = [
        route
        for p in placed
        for index, stage in enumerate(p.design.stages)
        for route in _routes(p.unit, stage, groups[(p.unit.id, index)], designer)
    ]
    return Plan.new(instance, method, tuple(racks), tuple(routes), designer.performance.confidence)


def _routes(unit: _Unit, stage: _Stage, groups: list[tuple[str, int]], designer: _Designer) -> list[Route]:
    """Routes of ``unit``'s tenants to the engine groups of one stage (module docstring, step 4)."""
    if not groups:
        return []  # no demand in any scenario
    role = stage.config.role
    total = sum(count for _, count in groups)
    spread = [(t, u) for t, u in zip(unit.tenants, stage.per_request, strict=True) if t.min_racks > 1]
    filling = [(t, u) for t, u in zip(unit.tenants, stage.per_request, strict=True) if t.min_racks == 1]
    routes = []

    def route(tenant: Tenant, s: int, engine: str, requests: float) -> None:
        if requests > 0:
            routes.append(Route(
                tenant=tenant.name,
                scenario=s,
                engine=engine,
                input_tokens_per_s=0.0 if role == "decode" else requests * tenant.input_tokens,
                output_tokens_per_s=0.0 if role == "prefill" else requests * tenant.output_tokens,
            ))

    for s in range(designer.instance.num_scenarios):
        spread_load = sum(t.demand(s) * u for t, u in spread)
        room = [count * (1 - spread_load / total) for _, count in groups]
        for tenant, _ in spread:
            for engine, count in groups:
                route(tenant, s, engine, tenant.demand(s) * count / total)
        g = 0
        for tenant, per_request in filling:
            left = tenant.demand(s)
            if per_request == 0:
                route(tenant, s, groups[0][0], left)
                continue
            while left > 0:
                if g == len(groups) - 1 or room[g] >= left * per_request:
                    route(tenant, s, groups[g][0], left)  # the last group takes any rounding remainder
                    room[g] -= left * per_request
                    break
                take = max(room[g], 0.0) / per_request
                route(tenant, s, groups[g][0], take)
                left -= take
                g += 1
    return routes


@dataclass(frozen=True)
class Baseline:
    """A baseline planner, called like every method in :mod:`optimizer.methods` (module docstring)."""

    name: str
    """the method name results and tables carry"""
    disaggregation: bool
    """whether a unit may take a prefill + decode pair where that is cheaper"""
    pooling: bool
    """whether shared tenants are pooled (else every tenant is a unit of its own)"""
    spread_apart: bool = False
    """whether tenants with ``min_racks`` > 1 stay out of pools (the MIP's (E5) rule)"""

    def __call__(
        self,
        instance: Instance,
        *,
        time_limit: float = math.inf,
        seed: int = 0,
        threads: int = 1,
        performance: PerformanceModel | None = None,
    ) -> Result:
        """Plan ``instance`` within ``time_limit`` seconds (else no plan, limit ``TIME``); ``seed``
        and ``threads`` are not needed (deterministic)."""
        start = time.perf_counter()
        performance = performance if performance is not None else PerformanceModel(instance)
        designer = _Designer(instance, performance, self.disaggregation, deadline=start + time_limit)
        try:
            units = _pool_units(instance, designer, self.spread_apart) if self.pooling else _silo_units(instance)
            placer = _Placer(instance)
            placed, unserved = _place_all(units, designer, placer)
        except _OutOfTime:
            logger.info("%s: out of time after %.1f s, no plan", self.name, time.perf_counter() - start)
            return Result(self.name, Status.NO_SOLUTION, Limit.TIME, None, None, time.perf_counter() - start)
        if unserved:
            logger.info("%s: %d tenant(s) cannot be placed", self.name, len(unserved))
            return Result(
                method=self.name,
                status=Status.INFEASIBLE,
                limit=Limit.NONE,
                objective=None,
                bound=None,
                runtime_s=time.perf_counter() - start,
                unserved=tuple(sorted(unserved, key=lambda u: u.tenant)),
            )
        plan = _build_plan(instance, self.name, placed, placer, designer)
        report = evaluate(instance, plan, performance)
        logger.info(
            "%s: %d units, %d racks, $%.2f/hour", self.name, len(placed), len(plan.racks), report.usd_per_hour
        )
        return Result(
            method=self.name,
            status=Status.FEASIBLE,
            limit=Limit.NONE,
            objective=report.usd_per_hour,
            bound=None,
            runtime_s=time.perf_counter() - start,
            plan=plan,
        )


siloed = Baseline("siloed", disaggregation=True, pooling=False)
"""One deployment per tenant at its cheapest configuration (aggregated or disaggregated)."""
pooled = Baseline("pooled", disaggregation=True, pooling=True)
"""Shared pools per (model, precision, latency class, residency), disaggregated where cheaper."""
pooled_aggregated = Baseline("pooled-aggregated", disaggregation=False, pooling=True)
"""``pooled`` with aggregated engines only: what disaggregation is worth, by difference."""
pooled_spread_apart = Baseline("pooled-spread-apart", disaggregation=True, pooling=True, spread_apart=True)
"""``pooled`` with every spread tenant on engines of its own, as the MIP's (E5) has it: a plan
that maps onto the MIP, so it can start it (``pooled`` plans pool spread tenants and do not map)."""
