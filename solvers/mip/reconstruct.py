"""From the MIP's aggregate solution to a :class:`~optimizer.plan.Plan`, and back for warm starts.

Racks: each pool's replicas are packed first-fit decreasing into racks of its
usable GPUs (:class:`optimizer.packing.RackPacker`); with power-of-two sizes
that needs no more racks than the solution opened (constraint (7) is exact). The
spread groups of one ``m`` are packed the same way as ``z = n / m`` replicas, with
the ``w`` replicas of unspread groups beside them, into virtual racks, each copied
into ``m`` racks ((10), exact too).
Routes: a group's replicas may land in several racks, and each piece takes its
share of the group's replicas of every capacity family (engine time, KV memory,
KV transfer). Tenants with a spread or survive promise are split over the pieces
in proportion to their replicas; the others fill the engine time left piece
after piece, so a tenant lands on one or two pieces rather than on every one (a
10,000-tenant plan would otherwise need tens of millions of routes). When that
fill would overload a piece's KV memory or transfer, the group's flows are split
in proportion instead. A scenario pruned as dominated takes the flows of
the scenario representing it, scaled per tenant by the ratio of demands.
Flows are finally scaled per tenant, scenario and side so that each side adds up
exactly to the served demand (CP-SAT's integer units round demand up).
Groups no route uses in any scenario are left out (their GPUs stay free: the cost counts
racks only, so a solver may leave idle replicas in them), except groups a ``survive``
tenant may fail over to (12), whose replicas may be idle in every scenario and are kept
as ``reserve``.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import replace

import numpy as np

from optimizer.packing import RackPacker
from optimizer.plan import EngineGroup, Plan, Rack, Route
from solvers.mip.backend import Solution
from solvers.mip.candidates import owner_of_engines, owner_of_racks
from solvers.mip.formulation import Formulation, placed_replicas, virtual_racks

logger = logging.getLogger(__name__)

_NEGLIGIBLE = 1e-12
"""Relative flow below which a route is left out (requests/s of a tenant's peak)."""


def to_plan(f: Formulation, solution: Solution, method: str) -> Plan:
    """The plan the solution describes (module docstring)."""
    flows = served_flows(f, solution)
    shares = member_shares(f)
    carrying = _carrying(f, flows, shares)
    solution = _without(solution, ~carrying & ~_failover_groups(f))
    racks: list[Rack] = []
    numbered: dict[str, int] = defaultdict(int)
    pieces: dict[int, list[tuple[str, int]]] = defaultdict(list)  # group -> (engine id, replicas)
    placed = placed_replicas(f, solution.replicas, solution.alongside)
    for p, pool in enumerate(f.pools):
        prefix = f"{pool.site}/{pool.system}/" + (f"{pool.owner}/" if pool.owner else "")
        packed = _pack(f, p, placed)
        if len(packed) > solution.racks[p]:
            logger.warning(
                "pool %s: replicas need %d racks, the solution opened %d", prefix, len(packed), solution.racks[p],
            )
        for content in packed:
            numbered[prefix] += 1
            rack_id = f"{prefix}r{numbered[prefix]}"
            engines = []
            for g, count in sorted(content.items()):
                engine_id = f"{rack_id}/e{len(engines) + 1}"
                purpose = "serving" if carrying[g] else "reserve"
                engines.append(EngineGroup.from_config(engine_id, f.groups[g].config, count, purpose))
                pieces[g].append((engine_id, count))
            racks.append(Rack(id=rack_id, site=pool.site, system=pool.system, engines=tuple(engines)))
    routes = _routes(f, pieces, flows, shares)
    return Plan.new(f.instance, method, tuple(racks), routes, f.performance.confidence)


def _carrying(f: Formulation, flows: np.ndarray, shares: list[np.ndarray]) -> np.ndarray:
    """Per group, whether :func:`_routes` gives it a route in some scenario (``flows``:
    :func:`served_flows`; ``shares``: :func:`member_shares`)."""
    carrying = np.zeros(len(f.groups), dtype=bool)
    for a, arc in enumerate(f.arcs):
        if not carrying[arc.group]:
            base = np.maximum(f.demand[arc.commodity, f.kept_position], 1.0)  # per instance scenario
            requests = flows[a, f.kept_position] * shares[arc.commodity]  # (members, instance scenarios)
            carrying[arc.group] = bool(np.any(requests > _NEGLIGIBLE * base))
    return carrying


def _failover_groups(f: Formulation) -> np.ndarray:
    """Per group, whether a ``survive`` commodity has an arc into it: its failover flows may use
    the group's replicas after a loss (12)."""
    reserve = np.zeros(len(f.groups), dtype=bool)
    for arc in f.arcs if "survive" not in f.relaxed else ():
        reserve[arc.group] |= f.representatives[arc.commodity].survive != "none"
    return reserve


def _without(solution: Solution, dropped: np.ndarray) -> Solution:
    """``solution`` with no replicas in the ``dropped`` groups (nor beside spread ones, (10))."""
    return replace(
        solution,
        replicas=np.where(dropped, 0, solution.replicas),
        alongside={(g, m): w for (g, m), w in solution.alongside.items() if not dropped[g]},
    )


def served_flows(f: Formulation, solution: Solution) -> np.ndarray:
    """Flows per arc and kept scenario scaled so each commodity's side adds up to its served demand.

    Aggregated arcs (on both sides) are scaled by one factor, prefill and decode
    arcs each by the factor that makes their side exact.
    """
    flows = solution.flows.copy()
    idle = np.array([solution.replicas[arc.group] == 0 for arc in f.arcs], dtype=bool)
    flows[idle] = 0.0  # within a solver's tolerance only: no replica carries them
    for k in range(len(f.commodities)):
        arcs = f.arcs_of_commodity[k]
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


def _pack(f: Formulation, p: int, placed: dict[int, np.ndarray]) -> list[dict[int, int]]:
    """Replicas per group of each rack of pool ``p``: per spread m the z = n / m replicas of its
    groups and the w's of unspread groups beside them (``placed``, :func:`placed_replicas`)
    first-fit decreasing into virtual racks, each copied into m racks; then the other unspread
    replicas first-fit decreasing."""
    pool = f.pools[p]
    racks: list[dict[int, int]] = []
    for m in sorted({f.groups[g].spread for g in f.groups_of_pool[p]}):
        packer = RackPacker(pool.usable_gpus, min(pool.domain_gpus, pool.usable_gpus))
        for g in sorted(f.groups_of_pool[p], key=lambda g: (-f.groups[g].config.gpus, g)):
            packer.place(g, f.groups[g].config.gpus, int(placed[m][g]))
        racks += [dict(virtual.replicas) for virtual in packer.racks for _ in range(m)]
    return racks


def member_shares(f: Formulation) -> list[np.ndarray]:
    """Per commodity, shape (members, instance scenarios): each member's demand over the
    commodity's demand in the kept scenario representing that scenario (0 where that is 0).

    A member's flow on an arc in a scenario is the commodity's flow in the kept
    scenario times this share; shares of one scenario add up to at most 1."""
    shares = []
    for k, commodity in enumerate(f.commodities):
        base = f.demand[k, f.kept_position]
        demand = np.array([[f.instance.tenants[i].demand(s) for s in range(f.instance.num_scenarios)]
                           for i in commodity.members])
        shares.append(np.divide(demand, base, out=np.zeros_like(demand), where=base > 0))
    return shares


def _routes(
    f: Formulation, pieces: dict[int, list[tuple[str, int]]], flows: np.ndarray, shares: list[np.ndarray],
) -> tuple[Route, ...]:
    routes = []
    for scenario in range(f.instance.num_scenarios):
        kept = f.kept_position[scenario]
        on_group: dict[int, list[tuple[int, int, float]]] = defaultdict(list)  # group -> [(arc, tenant, requests/s)]
        for a, arc in enumerate(f.arcs):
            commodity = f.commodities[arc.commodity]
            base = f.demand[arc.commodity, kept]
            for i, share in zip(commodity.members, shares[arc.commodity][:, scenario], strict=True):
                requests = flows[a, kept] * share
                if requests > _NEGLIGIBLE * max(base, 1.0):
                    on_group[arc.group].append((a, i, requests))
        for g, entries in on_group.items():
            for (a, i, _), piece, requests in split_over_pieces(f, entries, pieces[g]):
                tenant, role = f.instance.tenants[i], f.arcs[a].role
                routes.append(Route(
                    tenant=tenant.name,
                    scenario=scenario,
                    engine=pieces[g][piece][0],
                    input_tokens_per_s=requests * tenant.input_tokens if role != "decode" else 0.0,
                    output_tokens_per_s=requests * tenant.output_tokens if role != "prefill" else 0.0,
                ))
    return tuple(routes)


FlowEntry = tuple[int, int, float]
"""(arc, tenant index, requests/s) of one group in one scenario"""


def split_over_pieces(
    f: Formulation, entries: list[FlowEntry], pieces: list[tuple[str, int]],
) -> list[tuple[FlowEntry, int, float]]:
    """(entry, piece index, requests/s): one group's ``entries`` in one scenario over its ``pieces``
    (engine id, replicas), each piece taking its share of the group's replicas of every capacity
    family (module docstring)."""
    if len(pieces) == 1:
        return [(e, 0, e[2]) for e in entries]
    counts = np.array([count for _, count in pieces], dtype=float)
    fraction = counts / counts.sum()

    def in_proportion(some: list[FlowEntry]) -> list[tuple[FlowEntry, int, float]]:
        return [(e, j, e[2] * share) for e in some for j, share in enumerate(fraction)]

    tenants, use = f.instance.tenants, f.replicas_per_request
    filling = [e for e in entries if tenants[e[1]].min_racks == 1 and tenants[e[1]].survive == "none" and use[e[0], 0] > 0]
    if not filling:
        return in_proportion(entries)
    filled = set(filling)
    split = in_proportion([e for e in entries if e not in filled])
    times = np.array([requests * use[a, 0] for a, _, requests in filling])
    edges = np.concatenate(([0.0], np.cumsum(times)))  # each filling entry's stretch of engine time
    bounds = np.concatenate(([0.0], np.cumsum(fraction))) * edges[-1]  # each piece's
    bounds[-1] = edges[-1]
    e = j = 0
    while e < len(filling) and j < len(pieces):
        overlap = min(edges[e + 1], bounds[j + 1]) - max(edges[e], bounds[j])
        if overlap > _NEGLIGIBLE * times[e]:
            split.append((filling[e], j, filling[e][2] * overlap / times[e]))
        if edges[e + 1] <= bounds[j + 1]:
            e += 1
        else:
            j += 1
    load = np.zeros((len(pieces), 3))  # replicas per capacity family
    for (a, _, _), piece, requests in split:
        load[piece] += requests * use[a]
    share_of_total = load.sum(axis=0) * fraction[:, None]
    if np.all(load[:, 1:] <= np.maximum(counts[:, None], share_of_total[:, 1:]) * (1 + 1e-9)):
        return split
    return in_proportion(entries)


def unserved_by_tenant(f: Formulation, solution: Solution) -> dict[str, float]:
    """Peak unserved requests/s over all scenarios, per tenant with any left."""
    left: dict[str, float] = {}
    for k, (commodity, shares) in enumerate(zip(f.commodities, member_shares(f), strict=True)):
        for i, share in zip(commodity.members, shares, strict=True):
            tenant = f.instance.tenants[i]
            peak = float((solution.unserved[k, f.kept_position] * share).max(initial=0.0))
            if peak > 1e-9 * max(tenant.requests_per_s, 1.0):
                left[tenant.name] = peak
    return left


def from_plan(f: Formulation, plan: Plan) -> Solution | None:
    """The MIP variables a plan (a heuristic's, say) corresponds to; None when it does not map.

    A plan maps when each of its engine groups matches a group of the formulation (pool by
    site, system and rack owner; same configuration and engine owner) and the racks it maps
    onto keep the formulation's limits (:func:`_within_limits`). Its
    replicas are kept, a spread group's rounded up to whole copies (10), with the fewest
    racks (7) and (10) need for them (:func:`virtual_racks`): a heuristic packs its racks
    its own way (medium-01's `pooled-spread-apart` plan: 3 spread groups of an odd number
    of replicas, 2 pools a rack short), and a start breaking a row is no start to HiGHS;
    unspread replicas then move beside spread ones where (10) has room (:func:`_fill_alongside`),
    from the plan's placement or from none, whichever needs fewer racks in a pool (medium-01's
    `siloed` plan: 5 GB300 racks at us-east, 7 from its own placement, over the site's power).
    """
    index = {}
    for g, group in enumerate(f.groups):
        pool = f.pools[group.pool]
        index[(pool.site, pool.system, group.config, group.owner, pool.owner)] = g
    replicas = np.zeros(len(f.groups), dtype=int)
    group_of_engine: dict[str, int] = {}
    tenants_on: dict[str, set[str]] = defaultdict(set)
    for route in plan.routes:
        tenants_on[route.engine].add(route.tenant)
    beside: dict[tuple[int, int], int] = defaultdict(int)  # (unspread g, m) -> its replicas in spread racks
    for rack in plan.racks:
        rack_tenants = set().union(*(tenants_on[e.id] for e in rack.engines)) if rack.engines else set()
        rack_owner = _owner(f, rack_tenants, owner_of_racks)
        in_rack: list[tuple[int, int]] = []
        for engine in rack.engines:
            owner = _owner(f, tenants_on[engine.id], owner_of_engines)
            g = index.get((rack.site, rack.system, engine.config(rack.system), owner, rack_owner))
            if g is None:
                return None
            replicas[g] += engine.count
            group_of_engine[engine.id] = g
            in_rack.append((g, engine.count))
        m = max(f.groups[g].spread for g, _ in in_rack) if in_rack else 1
        for g, count in in_rack:
            if m > 1 and f.groups[g].spread == 1:
                beside[(g, m)] += count
    arc_index = {(arc.commodity, arc.group): a for a, arc in enumerate(f.arcs)}
    commodity_of = {f.instance.tenants[i].name: k for k, c in enumerate(f.commodities) for i in c.members}
    position = {s: i for i, s in enumerate(f.scenarios)}
    flows = np.zeros((len(f.arcs), len(f.scenarios)))
    for route in plan.routes:
        if route.scenario not in position or route.engine not in group_of_engine:
            continue
        k = commodity_of[route.tenant]
        a = arc_index.get((k, group_of_engine[route.engine]))
        if a is None:
            return None
        tenant = f.commodities[k].tenant
        flows[a, position[route.scenario]] += max(
            route.input_tokens_per_s / tenant.input_tokens, route.output_tokens_per_s / tenant.output_tokens
        )
    replicas += -replicas % np.array([group.spread for group in f.groups], dtype=int)
    # per pool, the fewer racks of two placements: the plan's own (count // m of the unspread
    # replicas its racks hold beside spread ones), or none beside them; each then filled
    options = [_fill_alongside(f, replicas, start) for start in (
        {(g, m): count // m for (g, m), count in beside.items() if count >= m}, {})]
    racks_of = [_racks(f, replicas, option) for option in options]
    best = np.argmin(racks_of, axis=0)
    alongside = {(g, m): w for i, option in enumerate(options) for (g, m), w in option.items()
                 if best[f.groups[g].pool] == i}
    racks = np.min(racks_of, axis=0)  # pools pack apart
    if not _within_limits(f, racks):
        return None
    return Solution(racks=racks, replicas=replicas, flows=flows, unserved=np.zeros_like(f.demand), alongside=alongside)


def _within_limits(f: Formulation, racks: np.ndarray) -> bool:
    """Whether ``racks`` keep each pool's bound, the inventory (8) and site power (9). A plan the
    checker accepts can still need more: its racks map onto virtual racks (10) of identical
    copies, which a heuristic's uneven packing may not fit (medium-03's `pooled-spread-apart`
    plan: 9 racks of a pool bounded at 8), and a start the solver must repair is no start to it."""
    return bool(np.all(racks <= [pool.max_racks for pool in f.pools])) \
        and all(racks[pools].sum() <= limit for pools, limit in f.inventory()) \
        and all(sum(racks[p] * f.pools[p].kw for p in pools) <= budget + 1e-9 for pools, budget in f.site_power())


def _racks(f: Formulation, replicas: np.ndarray, alongside: dict[tuple[int, int], int]) -> np.ndarray:
    """Racks per pool that (7) and (10) need for ``replicas`` with ``alongside`` (:func:`virtual_racks`)."""
    racks = np.zeros(len(f.pools), dtype=int)
    for (p, m), count in virtual_racks(f, replicas, alongside).items():
        racks[p] += m * count
    return racks


def _fill_alongside(
    f: Formulation, replicas: np.ndarray, alongside: dict[tuple[int, int], int]
) -> dict[tuple[int, int], int]:
    """``alongside`` with unspread replicas moved beside spread ones wherever the virtual racks
    (10) have room: a heuristic packs its racks unevenly (medium-03's `pooled-spread-apart`
    plan: 13 racks, which ``count // m`` per rack mapped onto 14, one over the inventory). A
    move keeps every virtual rack count and never adds a rack holding no spread replica.
    Larger replicas move first."""
    alongside = dict(alongside)
    placed = placed_replicas(f, replicas, alongside)
    needed = virtual_racks(f, replicas, alongside)
    for p, m in f.spread_sets:
        capacity = f.pools[p].level_capacity
        slack = {  # GPUs per copy of the virtual racks left free at each packing level
            size: capacity(size) * needed[(p, m)] - sum(f.groups[g].config.gpus * int(placed[m][g]) for g in groups)
            for size, groups in f.levels(p, m)
        }
        movable = [g for g in f.groups_of_pool[p] if f.groups[g].spread == 1 and placed[1][g] >= m]
        for g in sorted(movable, key=lambda g: -f.groups[g].config.gpus):
            gpus = f.groups[g].config.gpus
            room = min((left // gpus for size, left in slack.items() if size <= gpus), default=0)
            moved = min(int(placed[1][g]) // m, room)
            if moved > 0:
                alongside[(g, m)] = alongside.get((g, m), 0) + moved
                placed[1][g] -= m * moved
                for size in slack:
                    if size <= gpus:
                        slack[size] -= moved * gpus
    return alongside


def _owner(f: Formulation, tenants: set[str], owner_of) -> str | None:  # type: ignore[no-untyped-def]
    """The one tenant of ``tenants`` when ``owner_of`` says it owns them (rack or engine); else None."""
    if len(tenants) != 1:
        return None
    return owner_of(f.instance.tenant(next(iter(tenants))), f.relaxed)
