"""The baselines' pipeline around the designs (steps 1, 3 and 4 of :mod:`solvers.heuristics`):
tenants grouped into units, each unit's design placed first-fit into racks within rack,
inventory and site power limits, routed per scenario and priced by the evaluator; the
planners ``siloed``, ``pooled``, ``pooled-aggregated`` and ``pooled-spread-apart``.
"""

from __future__ import annotations

import logging
import math
import time
from collections import defaultdict
from dataclasses import dataclass

from optimizer.catalog import Precision, System
from optimizer.evaluate import evaluate
from optimizer.instance import FleetEntry, Instance, Tenant
from optimizer.packing import Move, RackPacker, domain_gpus
from optimizer.performance import PerformanceModel
from optimizer.performance.capacity import allin_kw, it_kw, usable_gpus
from optimizer.plan import EngineGroup, Plan, Rack, Route
from optimizer.result import Limit, OutOfTime, Result, Status, Unserved

from .design import Design, Designer, Stage, Unit, latency_class

logger = logging.getLogger(__name__)


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

    def place(self, unit: Unit, design: Design, site: str) -> str | None:
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


def _single(tenant: Tenant, instance: Instance) -> Unit:
    return Unit(
        id=tenant.name,
        tenants=(tenant,),
        precisions=instance.allowed_precisions(tenant),
        sites=instance.allowed_sites(tenant),
    )


def _silo_units(instance: Instance) -> list[Unit]:
    return [_single(tenant, instance) for tenant in instance.tenants]


def _options(designer: Designer, unit: Unit) -> list[tuple[float, str, Design]]:
    """(USD/hour of the design's GPUs, site, design) per (site, system, precision), cheapest first."""
    instance = designer.instance
    designs: dict[tuple[str, Precision], Design | None] = {}
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


def _pool_units(instance: Instance, designer: Designer, spread_apart: bool) -> list[Unit]:
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
) -> Unit:
    where = "" if len(sites) == len(instance.sites) else ":" + "+".join(sites)
    return Unit(f"pool:{members[0].model}:{label}{where}:{precision}", members, (precision,), sites)


def _merge_classes(
    instance: Instance,
    designer: Designer,
    classes: list[tuple[str, tuple[Tenant, ...]]],
    precision: Precision,
    sites: tuple[str, ...],
) -> list[Unit]:
    """Pools of one model, precision and residency, neighbouring latency classes merged while cheaper.

    Classes are taken strictest first (interactivity, then TTFT); each is merged
    into the pool before it when the merged pool's cheapest option costs less
    than both apart, else it starts a new pool.
    """

    def cost(unit: Unit) -> float:
        options = _options(designer, unit)
        return options[0][0] if options else math.inf

    def strictness(item: tuple[str, tuple[Tenant, ...]]) -> tuple[float, float, str]:
        members = item[1]
        return (-max(t.min_tokens_per_s_per_user for t in members), min(t.ttft_s for t in members), item[0])

    merged: list[tuple[Unit, float]] = []
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


def _no_design_reason(unit: Unit, instance: Instance) -> str:
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
    unit: Unit
    design: Design
    site: str


def _place_all(
    units: list[Unit], designer: Designer, placer: _Placer
) -> tuple[list[_Placed], list[Unserved]]:
    """Units in :func:`_size_key` order, each on its cheapest option that fits.

    A pool that no design serves, or that fits no option (inventory, power), is
    split into single tenants, which are placed at once.
    """
    instance = designer.instance
    placed: list[_Placed] = []
    unserved: list[Unserved] = []

    def place(unit: Unit, options: list[tuple[float, str, Design]]) -> None:
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


def _size_key(item: tuple[Unit, list]) -> tuple:
    """Units pinned to fewer sites first (they have fewer places to go), then biggest engines first."""
    unit, options = item
    if not options:
        return (1, 0, 0, 0, unit.id)
    design = options[0][2]
    return (0, len(unit.sites), -max(s.config.gpus for s in design.stages), -design.gpus, unit.id)


def _unserved(unit: Unit, reason: str, designer: Designer) -> Unserved:
    tenant = unit.tenants[0]
    return Unserved(tenant.name, reason, float(designer.demand[tenant.name].max()))


def _build_plan(
    instance: Instance, method: str, placed: list[_Placed], placer: _Placer, designer: Designer
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


def _routes(unit: Unit, stage: Stage, groups: list[tuple[str, int]], designer: Designer) -> list[Route]:
    """Routes of ``unit``'s tenants to the engine groups of one stage (module docstring, step 4)."""
    if not groups:
        return []  # no demand in any scenario
    role = stage.config.role
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
        spread_routes, room = _spread_over(spread, groups, s)
        for tenant, engine, requests in spread_routes:
            route(tenant, s, engine, requests)
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


def _spread_over(
    spread: list[tuple[Tenant, float]], groups: list[tuple[str, int]], s: int,
) -> tuple[list[tuple[Tenant, str, float]], list[float]]:
    """(tenant, engine group, requests/s) of the ``spread`` tenants (with their replicas per
    request/s) in scenario ``s``, and the replicas each group has left.

    Each tenant takes at most 1/``min_racks`` of its demand from a group (each group of a unit
    is in a rack of its own), group after group round the unit from where the last one stopped,
    within the groups' room: a tenant touches about ``min_racks`` groups, not all. When that
    leaves some demand over, every spread tenant is split in proportion to the groups' replicas.
    """
    room = [float(count) for _, count in groups]
    found: list[tuple[Tenant, str, float]] = []
    g = 0
    for tenant, per_request in spread:
        left, cap = tenant.demand(s), tenant.demand(s) / tenant.min_racks
        for _ in range(len(groups)):
            if left <= 1e-12 * cap:
                break
            take = min(left, cap, room[g] / per_request) if per_request > 0 else min(left, cap)
            if take > 0:
                found.append((tenant, groups[g][0], take))
                room[g] -= take * per_request
                left -= take
            g = (g + 1) % len(groups)
        if left > 1e-12 * cap:
            break
    else:
        return found, room
    total = sum(count for _, count in groups)
    spread_load = sum(tenant.demand(s) * per_request for tenant, per_request in spread)
    return (
        [(tenant, engine, tenant.demand(s) * count / total) for tenant, _ in spread for engine, count in groups],
        [count * (1 - spread_load / total) for _, count in groups],
    )


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
        designer = Designer(instance, performance, self.disaggregation, deadline=start + time_limit)
        try:
            units = _pool_units(instance, designer, self.spread_apart) if self.pooling else _silo_units(instance)
            placer = _Placer(instance)
            placed, unserved = _place_all(units, designer, placer)
        except OutOfTime:
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
            report=report,
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
