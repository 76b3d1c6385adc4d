"""From the MIP's aggregate solution to a :class:`~optimizer.plan.Plan`, and back for warm starts.

Racks: each pool's replicas are packed first-fit decreasing into racks of its
usable GPUs (:func:`optimizer.packing.pack_into_racks`); with power-of-two sizes
that needs no more racks than the solution opened (constraint (7) is exact).
Routes: a group's replicas may land in several racks; each tenant's flow to the
group is split over them in proportion to their replicas, so every piece keeps
the group's load per replica. A scenario pruned as dominated takes the flows of
the scenario representing it, scaled per tenant by the ratio of demands.
Flows are finally scaled per tenant, scenario and side so that each side adds up
exactly to the served demand (CP-SAT's integer units round demand up).
"""

from __future__ import annotations

import logging
from collections import defaultdict

import numpy as np

from optimizer.packing import pack_into_racks
from optimizer.plan import EngineGroup, Plan, Rack, Route
from solvers.mip.backend import Solution
from solvers.mip.formulation import Formulation

logger = logging.getLogger(__name__)

_NEGLIGIBLE = 1e-12
"""Relative flow below which a route is left out (requests/s of a tenant's peak)."""


def to_plan(f: Formulation, solution: Solution, method: str) -> Plan:
    """The plan the solution describes (module docstring)."""
    racks: list[Rack] = []
    numbered: dict[str, int] = defaultdict(int)
    pieces: dict[int, list[tuple[str, int]]] = defaultdict(list)  # group -> (engine id, replicas)
    for p, pool in enumerate(f.pools):
        groups = [g for g in f.groups_of_pool[p] if solution.replicas[g] > 0]
        if not groups:
            continue
        items = [g for g in groups for _ in range(int(solution.replicas[g]))]
        packed = pack_into_racks(
            [f.groups[g].config.gpus for g in items], pool.usable_gpus, min(pool.domain_gpus, pool.usable_gpus)
        )
        if len(packed) > solution.racks[p]:
            logger.warning(
                "pool %s/%s: replicas need %d racks, the solution opened %d",
                pool.site, pool.system, len(packed), solution.racks[p],
            )
        prefix = f"{pool.site}/{pool.system}/" + (f"{pool.owner}/" if pool.owner else "")
        for domains in packed:
            numbered[prefix] += 1
            rack_id = f"{prefix}r{numbered[prefix]}"
            counts: dict[int, int] = defaultdict(int)
            for domain in domains:
                for index in domain:
                    counts[items[index]] += 1
            engines = []
            for g, count in sorted(counts.items()):
                engine_id = f"{rack_id}/e{len(engines) + 1}"
                engines.append(EngineGroup.from_config(engine_id, f.groups[g].config, count))
                pieces[g].append((engine_id, count))
            racks.append(Rack(id=rack_id, site=pool.site, system=pool.system, engines=tuple(engines)))
    return Plan.new(f.instance, method, tuple(racks), _routes(f, solution, pieces))


def served_flows(f: Formulation, solution: Solution) -> np.ndarray:
    """Flows per arc and kept scenario scaled so each tenant's side adds up to its served demand.

    Aggregated arcs (on both sides) are scaled by one factor, prefill and decode
    arcs each by the factor that makes their side exact.
    """
    flows = solution.flows.copy()
    idle = np.array([solution.replicas[arc.group] == 0 for arc in f.arcs], dtype=bool)
    flows[idle] = 0.0  # within a solver's tolerance only: no replica carries them
    for k in range(len(f.tenants)):
        arcs = f.arcs_of_tenant[k]
        by_role = {role: [a for a in arcs if f.arcs[a].role == role] for role in ("aggregated", "prefill", "decode")}
        for s in range(len(f.scenarios)):
            served = max(0.0, f.demand[k, s] - solution.unserved[k, s])
            total = {role: flows[group, s].sum() for role, group in by_role.items()}
            mean = total["aggregated"] + (total["prefill"] + total["decode"]) / 2
            if mean <= 0:
                continue
            flows[by_role["aggregated"], s] *= served / mean
            rest = served - flows[by_role["aggregated"], s].sum()
            for role in ("prefill", "decode"):
                if total[role] > 0:
                    flows[by_role[role], s] *= rest / total[role]
    return flows


def _routes(f: Formulation, solution: Solution, pieces: dict[int, list[tuple[str, int]]]) -> tuple[Route, ...]:
    flows = served_flows(f, solution)
    position = {s: i for i, s in enumerate(f.scenarios)}
    routes = []
    for scenario in range(f.instance.num_scenarios):
        kept = position[f.represented_by[scenario]]
        for a, arc in enumerate(f.arcs):
            tenant = f.tenants[arc.tenant]
            base = f.demand[arc.tenant, kept]
            if base <= 0:
                continue
            requests = flows[a, kept] * tenant.demand(scenario) / base
            if requests <= _NEGLIGIBLE * max(base, 1.0):
                continue
            replicas = solution.replicas[arc.group]
            for engine_id, count in pieces[arc.group]:
                share = requests * count / replicas
                routes.append(Route(
                    tenant=tenant.name,
                    scenario=scenario,
                    engine=engine_id,
                    input_tokens_per_s=share * tenant.input_tokens if arc.role != "decode" else 0.0,
                    output_tokens_per_s=share * tenant.output_tokens if arc.role != "prefill" else 0.0,
                ))
    return tuple(routes)


def unserved_by_tenant(f: Formulation, solution: Solution) -> dict[str, float]:
    """Peak unserved requests/s over all scenarios, per tenant with any left."""
    position = {s: i for i, s in enumerate(f.scenarios)}
    left: dict[str, float] = {}
    for k, tenant in enumerate(f.tenants):
        peak = 0.0
        for scenario in range(f.instance.num_scenarios):
            kept = position[f.represented_by[scenario]]
            base = f.demand[k, kept]
            if base > 0:
                peak = max(peak, solution.unserved[k, kept] * tenant.demand(scenario) / base)
        if peak > 1e-9 * max(tenant.requests_per_s, 1.0):
            left[tenant.name] = float(peak)
    return left


def from_plan(f: Formulation, plan: Plan) -> Solution | None:
    """The MIP variables a plan (a heuristic's, say) corresponds to; None when it does not map.

    A plan maps when each of its engine groups matches a group of the formulation
    (pool by site, system and isolation; same configuration) and its racks are
    shared-pool or private-pool racks (single racks are not recovered).
    """
    index = {}
    for g, group in enumerate(f.groups):
        pool = f.pools[group.pool]
        if not pool.single:
            index[(pool.site, pool.system, group.config, group.owner, pool.owner)] = g
    replicas = np.zeros(len(f.groups), dtype=int)
    racks = np.zeros(len(f.pools), dtype=int)
    group_of_engine: dict[str, int] = {}
    tenants_on: dict[str, set[str]] = defaultdict(set)
    for route in plan.routes:
        tenants_on[route.engine].add(route.tenant)
    for rack in plan.racks:
        rack_tenants = set().union(*(tenants_on[e.id] for e in rack.engines)) if rack.engines else set()
        rack_owner = _owner(f, rack_tenants, "dedicated-rack")
        pool_of_rack = None
        for engine in rack.engines:
            owner = _owner(f, tenants_on[engine.id], "dedicated")
            g = index.get((rack.site, rack.system, engine.config(rack.system), owner, rack_owner))
            if g is None:
                return None
            replicas[g] += engine.count
            group_of_engine[engine.id] = g
            pool_of_rack = f.groups[g].pool
        if pool_of_rack is not None:
            racks[pool_of_rack] += 1
    arc_index = {(arc.tenant, arc.group): a for a, arc in enumerate(f.arcs)}
    tenant_index = {t.name: k for k, t in enumerate(f.tenants)}
    position = {s: i for i, s in enumerate(f.scenarios)}
    flows = np.zeros((len(f.arcs), len(f.scenarios)))
    for route in plan.routes:
        if route.scenario not in position or route.engine not in group_of_engine:
            continue
        k = tenant_index[route.tenant]
        a = arc_index.get((k, group_of_engine[route.engine]))
        if a is None:
            return None
        tenant = f.tenants[k]
        flows[a, position[route.scenario]] += max(
            route.input_tokens_per_s / tenant.input_tokens, route.output_tokens_per_s / tenant.output_tokens
        )
    return Solution(racks=racks, replicas=replicas, flows=flows, unserved=np.zeros_like(f.demand))


def _owner(f: Formulation, tenants: set[str], isolation: str) -> str | None:
    names = [name for name in tenants if f.instance.tenant(name).isolation == isolation]
    return names[0] if len(names) == 1 and len(tenants) == 1 else None
