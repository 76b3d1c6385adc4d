"""The MIP's data, independent of any solver: pools, engine groups and eligible flows, built
from the candidate stage's options (:mod:`solvers.mip.candidates`).

``docs/formulation.md`` writes the model out; the numbers (1)-(12) and the
eligibility rules (E1)-(E7) below are the ones it uses, and every backend cites them.

Sets
    K commodities: tenants the model cannot tell apart (``shared``, no spread,
    same model, request shape, SLO, sites, precisions, survive promise and queueing
    headroom: ``headroom_promise``) merged into one, their
    demand summed; exact, as each member's requests can take its share of every
    flow. S scenarios kept after dominance pruning (a scenario whose every
    commodity's demand is at most that of another is served by scaling the
    other's flows down); P pools of interchangeable racks; G engine groups (pool,
    configuration, owner); A arcs (tenant, group) a tenant may send requests to.

Pools
    Each fleet entry (site, system) gives a *shared* pool of interchangeable racks
    (integer ``y_p``) and a *private* pool per ``dedicated-rack`` tenant that may
    live there.
    Replicas of a pool are packed into its racks' NVLink domains in aggregate:
    engine sizes are powers of two, so they fit ``y`` racks iff for each size
    level ``L`` present, the GPUs of replicas of at least ``L`` GPUs are at most
    ``cap_L * y`` (7) (Coffman, Garey and Johnson 1987, divisible item sizes;
    :mod:`optimizer.packing`). A rack power cap limits the GPUs engines may
    occupy to ``floor(rack_power_kw / it_kw_per_gpu)``, folded into ``cap_L``.

Eligibility (an arc exists only when all hold)
    (E1) same model; precision allowed by the tenant; (E2) the pool's site is
    allowed (residency); (E3) the configuration meets the tenant's SLO:
    aggregated ``meets_slo(tenant, load)``; disaggregated, every prefill of the
    tenant's set with every decode of its set (:mod:`solvers.mip.candidates`);
    (E4) isolation: ``shared`` tenants use shared groups in shared pools,
    ``dedicated`` tenants groups they own in shared pools, ``dedicated-rack``
    tenants groups of their private pools; (E5) spread: a tenant with
    ``min_racks = m > 1`` uses only groups it owns, *spread groups*: ``n = m z``
    replicas, of which ``z`` are packed into ``q_{p,m}`` virtual racks (10)
    copied into ``m`` physical racks each, beside ``w`` replicas of unspread
    groups per copy; so no rack carries more than ``1/m`` of the group's
    requests, hence of the tenant's, and the packing stays exact; (E6) the
    shape has a load on the configuration (``PerformanceModel.tenant_load`` is
    not None); (E7) dominance: no group left out by :meth:`_Builder.drop_dominated`
    (exact: some other group does all its work on no more GPUs).
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Literal

import numpy as np

from optimizer.catalog import System
from optimizer.check import REL_TOL
from optimizer.instance import FleetEntry, Instance, Tenant
from optimizer.packing import domain_gpus, domain_sizes
from optimizer.performance import EngineConfig, PerformanceModel, Role, headroom_promise
from optimizer.performance.capacity import allin_kw, replica_seconds, scaleout_bytes_per_s, usable_gpus
from solvers.mip.candidates import Candidates, Option, isolation, min_racks, owner_of_engines, owner_of_racks, sites

logger = logging.getLogger(__name__)

RELAXABLE = ("inventory", "site-power", "isolation", "residency", "spread", "survive")
"""Constraint families :func:`build_formulation` can drop, to diagnose what binds."""



@dataclass(frozen=True)
class Pool:
    """Interchangeable racks of one fleet entry (``y_p`` racks opened)."""

    entry: int
    """index into ``instance.fleet``"""
    site: str
    system: str
    owner: str | None
    """the ``dedicated-rack`` tenant these racks belong to; None when shared"""
    rack_gpus: int
    usable_gpus: int
    """GPUs engines may occupy in one rack: ``rack_gpus``, less under a rack power cap"""
    domain_gpus: int
    """NVLink domain size used for packing (the system's, capped by ``usable_gpus``)"""
    usd_per_hour: float
    """cost of one opened rack: rack GPUs x all-in $/GPU-hour"""
    kw: float
    """provisioned power of one opened rack: rack GPUs x all-in kW per GPU"""
    max_racks: int
    """upper bound on ``y_p`` (inventory, or what all eligible demand could need)"""

    def level_capacity(self, size: int) -> int:
        """GPUs one rack offers to replicas of at least ``size`` GPUs (``cap_L`` of (7))."""
        domains = domain_sizes(self.usable_gpus, min(self.domain_gpus, self.usable_gpus))
        return sum(d // size * size for d in domains)


@dataclass(frozen=True)
class Group:
    """Replicas of one configuration in one pool (``n_g`` integer)."""

    pool: int
    config: EngineConfig
    owner: str | None
    """the ``dedicated`` or spread tenant whose engines these are; None when shared"""
    spread: int
    """racks the replicas spread over (the owner's ``min_racks``; 1: any placement) (10)"""
    kv_capacity_bytes: float
    """KV memory of one replica (``inf`` when not charged)"""
    scaleout_bytes_per_s: float
    """scale-out bandwidth of one replica, bytes/s: gpus x scaleout_gbit_s / 8 x 1e9"""
    max_replicas: int


@dataclass(frozen=True)
class Arc:
    """Requests of one commodity to one group (``r_{a,s}`` requests/s per scenario)."""

    commodity: int
    group: int
    role: Role
    sec_per_request: float
    """replica-seconds per request: isl x sec/input token + osl x sec/output token"""
    kv_bytes_per_request_rate: float
    """KV bytes held per request/s: osl x kv bytes per output rate"""
    transfer_bytes_per_request: float
    """KV bytes moved prefill -> decode per request (decode arcs; else 0)"""
    tokens_per_request: int
    """tokens per request this arc carries: isl + osl, isl (prefill) or osl (decode)"""


@dataclass(frozen=True)
class FailureEvent:
    """One failure a survive commodity's promise covers (12): one rack of a pool, or one site, lost."""

    kind: Literal["rack", "site"]
    pools: tuple[int, ...]
    """the pool one of whose racks is lost (rack), or every pool at the site (site)"""
    commodities: tuple[int, ...]
    """commodities whose ``survive`` covers it; each gets failover flows ``v``"""


@dataclass(frozen=True)
class Commodity:
    """Tenants served as one flow: ``k`` of the model (module docstring)."""

    members: tuple[int, ...]
    """indices into ``instance.tenants``, in instance order"""
    tenant: Tenant
    """the first member: the shape, SLO and rules every member shares"""


@dataclass(frozen=True)
class Formulation:
    """The MIP's data. Build with :func:`build_formulation`."""

    instance: Instance
    performance: PerformanceModel
    scenarios: tuple[int, ...]
    """instance scenarios kept, in order"""
    represented_by: dict[int, int]
    """every instance scenario -> the kept scenario whose flows serve it, scaled down"""
    commodities: tuple[Commodity, ...]
    demand: np.ndarray
    """requests/s per commodity and kept scenario, shape (K, len(scenarios))"""
    pools: tuple[Pool, ...]
    groups: tuple[Group, ...]
    arcs: tuple[Arc, ...]
    no_candidate: dict[str, str] = field(default_factory=dict)
    """tenants with no arc at all -> why (these cannot be served)"""
    dominated_groups: int = 0
    """groups (E7) left out, each dominated by one kept"""
    relaxed: frozenset[str] = frozenset()
    extra_configs: tuple[tuple[str, EngineConfig], ...] = ()
    max_arcs_per_role: int | None = None
    max_entries_per_tenant: int | None = None
    """the candidates' rules it was built with (:func:`build_formulation`; :func:`rebuild`)"""

    @cached_property
    def representatives(self) -> tuple[Tenant, ...]:
        """The tenant standing for each commodity (its shape, SLO and rules)."""
        return tuple(c.tenant for c in self.commodities)

    @cached_property
    def kept_position(self) -> np.ndarray:
        """For each instance scenario, the position in ``scenarios`` of the kept scenario serving it."""
        position = {s: i for i, s in enumerate(self.scenarios)}
        return np.array([position[self.represented_by[s]] for s in range(self.instance.num_scenarios)], dtype=int)

    @cached_property
    def scenario_weights(self) -> list[float]:
        """Weight of each kept scenario (by position in ``scenarios``): its own plus those it represents."""
        weights = [0.0] * len(self.scenarios)
        for s, kept in enumerate(self.kept_position):
            weights[kept] += self.instance.weights[s]
        return weights

    @cached_property
    def arcs_of_group(self) -> list[list[int]]:
        found: list[list[int]] = [[] for _ in self.groups]
        for a, arc in enumerate(self.arcs):
            found[arc.group].append(a)
        return found

    @cached_property
    def arcs_of_commodity(self) -> list[list[int]]:
        found: list[list[int]] = [[] for _ in self.commodities]
        for a, arc in enumerate(self.arcs):
            found[arc.commodity].append(a)
        return found

    @cached_property
    def groups_of_pool(self) -> list[list[int]]:
        found: list[list[int]] = [[] for _ in self.pools]
        for g, group in enumerate(self.groups):
            found[group.pool].append(g)
        return found

    @cached_property
    def pools_of_entry(self) -> dict[int, list[int]]:
        found: dict[int, list[int]] = defaultdict(list)
        for p, pool in enumerate(self.pools):
            found[pool.entry].append(p)
        return dict(found)

    def levels(self, pool: int, spread: int = 1) -> list[tuple[int, list[int]]]:
        """(size L, groups with at least L GPUs per replica) for each size present among them:
        rows of (7) over the pool's unspread groups, or, when ``spread`` = m > 1, of (10) over
        its groups spread over m (their ``z``) and its unspread ones (their ``w_{g,m}``)."""
        members = [g for g in self.groups_of_pool[pool] if self.groups[g].spread in (1, spread)]
        sizes = sorted({self.groups[g].config.gpus for g in members})
        return [(size, [g for g in members if self.groups[g].config.gpus >= size]) for size in sizes]

    @cached_property
    def spread_sets(self) -> list[tuple[int, int]]:
        """(pool, m) for each pool holding groups spread over m > 1 racks: ``q_{p,m}`` of (10)."""
        return sorted({(group.pool, group.spread) for group in self.groups if group.spread > 1})

    @cached_property
    def alongside_sets(self) -> list[tuple[int, int]]:
        """(unspread group g, m) for each m its pool spreads groups over: ``w_{g,m}`` of (10)."""
        return [(g, m) for p, m in self.spread_sets for g in self.groups_of_pool[p] if self.groups[g].spread == 1]

    @cached_property
    def alongside_of(self) -> dict[int, list[int]]:
        """Unspread group g -> the m's of its ``w_{g,m}`` (:attr:`alongside_sets`)."""
        found: dict[int, list[int]] = defaultdict(list)
        for g, m in self.alongside_sets:
            found[g].append(m)
        return dict(found)

    @cached_property
    def replicas_per_request(self) -> np.ndarray:
        """Replicas one request/s of each arc uses, per capacity family: engine time (4), KV
        memory (5; 0 where the group's KV is not charged), KV transfer (6; 0 off decode
        groups). Shape (arcs, 3)."""
        rows = [_per_request(arc, self.groups[arc.group]) for arc in self.arcs]
        return np.array(rows, dtype=float).reshape(len(self.arcs), 3)

    def capacity_rows(self) -> list[tuple[int, list[float]]]:
        """(group g, coefficient per request/s of each arc of ``arcs_of_group[g]``) for every row
        ``sum(coefficient x flow) <= replicas[g]``: engine time (4), then KV memory (5) where it is
        charged, then KV transfer (6) into decode groups; each family in group order."""
        use = self.replicas_per_request
        time_rows, kv_rows, transfer_rows = [], [], []
        for g, group in enumerate(self.groups):
            arcs = self.arcs_of_group[g]
            time_rows.append((g, use[arcs, 0].tolist()))
            if math.isfinite(group.kv_capacity_bytes):
                kv_rows.append((g, use[arcs, 1].tolist()))
            if group.config.role == "decode":
                transfer_rows.append((g, use[arcs, 2].tolist()))
        return time_rows + kv_rows + transfer_rows

    def inventory(self) -> list[tuple[list[int], int]]:
        """(pools, max_racks) per fleet entry with an inventory (8)."""
        if "inventory" in self.relaxed:
            return []
        return [
            (pools, self.instance.fleet[entry].max_racks)  # type: ignore[misc]
            for entry, pools in sorted(self.pools_of_entry.items())
            if self.instance.fleet[entry].max_racks is not None
        ]

    def site_power(self) -> list[tuple[list[int], float]]:
        """(pools, budget kW) per site with a power budget (9)."""
        if "site-power" in self.relaxed:
            return []
        return [
            ([p for p, pool in enumerate(self.pools) if pool.site == site.name], site.power_mw * 1000)
            for site in self.instance.sites
            if site.power_mw is not None
        ]

    def demand_rows(self, active: tuple[int, ...] | None = None) -> list[tuple[int, int, list[int], list[int]]]:
        """(tenant, scenario position, input-side arcs, output-side arcs) for (1) and (2)."""
        rows = []
        for k in range(len(self.commodities)):
            arcs = self.arcs_of_commodity[k]
            inputs = [a for a in arcs if self.arcs[a].role != "decode"]
            outputs = [a for a in arcs if self.arcs[a].role != "prefill"]
            for s in range(len(self.scenarios)) if active is None else active:
                rows.append((k, s, inputs, outputs))
        return rows

    def balance_rows(self) -> list[tuple[int, list[int], list[int]]]:
        """(tenant, its prefill arcs, its decode arcs) per fleet entry, for (3)."""
        rows = []
        for k in range(len(self.commodities)):
            by_entry: dict[int, tuple[list[int], list[int]]] = defaultdict(lambda: ([], []))
            for a in self.arcs_of_commodity[k]:
                arc = self.arcs[a]
                if arc.role != "aggregated":
                    entry = self.pools[self.groups[arc.group].pool].entry
                    by_entry[entry][0 if arc.role == "prefill" else 1].append(a)
            for _, (prefills, decodes) in sorted(by_entry.items()):
                rows.append((k, prefills, decodes))
        return rows

    @cached_property
    def covers(self) -> tuple[list[tuple[list[int], int]], list[tuple[list[int], int]]]:
        """Valid inequalities (11): (groups, least replicas) rows ``sum n_g >= least`` and
        (pools, least racks) rows ``sum y_p >= least``, one per commodity and side (input:
        aggregated and prefill arcs; output: aggregated and decode), the largest ``least``
        kept per index set.

        Each capacity family (4)-(6) gives ``sum_g n_g >= peak x min_a c_a`` over the side's
        groups, and integer replicas (in multiples of m for a spread tenant) round it up.
        Its GPUs, at least that x the fewest GPUs per replica and at least peak x the fewest
        GPU-seconds per request, fill whole racks of at most ``usable_gpus`` each, m at a
        time for a spread tenant (10). The LP relaxation otherwise serves a small tenant
        with a sliver of an engine in a sliver of a rack.
        """
        replicas: dict[tuple[int, ...], int] = {}
        racks: dict[tuple[int, ...], int] = {}
        for k, arcs in enumerate(self.arcs_of_commodity):
            peak = float(self.demand[k].max(initial=0.0))
            for excluded in ("decode", "prefill"):
                side = [a for a in arcs if self.arcs[a].role != excluded]
                if not side or peak <= 0:
                    continue
                groups = [self.groups[self.arcs[a].group] for a in side]
                per_request = self.replicas_per_request[side].T  # (families (4)-(6), arcs)
                gpus = np.array([group.config.gpus for group in groups], dtype=float)
                m = groups[0].spread  # (E5): a spread tenant's groups all spread over its m
                least = m * _round_up(peak * per_request.min(axis=1).max() / m)
                least_gpus = max(gpus.min() * least, peak * (per_request * gpus).min(axis=1).max())
                usable = max(self.pools[group.pool].usable_gpus for group in groups)
                key = tuple(sorted({self.arcs[a].group for a in side}))
                replicas[key] = max(replicas.get(key, 0), least)
                key = tuple(sorted({group.pool for group in groups}))
                racks[key] = max(racks.get(key, 0), m * _round_up(least_gpus / m / usable))
        return ([(list(key), least) for key, least in replicas.items() if least > 0],
                [(list(key), least) for key, least in racks.items() if least > 0])

    @cached_property
    def fluid_bound(self) -> float:
        """$/hour below which no plan of this model serving all demand costs, with no solver:
        in the kept scenario where it is highest, the sum over commodities of their demand on
        their cheapest GPU-time; or, when more, the whole racks a cover (11) asks for at the
        cheapest of its pools.

        An arc's request/s takes ``sec_per_request`` replicas (4) of ``gpus`` GPUs each, and an
        opened rack of pool p pays ``usd_per_hour`` for at most ``usable_gpus`` busy GPUs (7), so
        it costs at least ``usd_per_hour / usable_gpus x gpus x sec_per_request`` $/hour per
        request/s. A commodity's input side takes aggregated or prefill arcs and its output side
        aggregated or decode arcs ((1), (2)), so each request/s costs at least the least of the
        cheapest aggregated arc and the cheapest prefill plus the cheapest decode arc. Every
        other limit (integer racks and replicas, KV, inventory, power, balance, spread,
        failover) is relaxed; a commodity without arcs counts 0.
        """
        _, rack_covers = self.covers
        whole_racks = max((least * min(self.pools[p].usd_per_hour for p in pools) for pools, least in rack_covers),
                          default=0.0)
        cheapest = np.full((len(self.commodities), 3), np.inf)  # aggregated, prefill, decode
        column = {"aggregated": 0, "prefill": 1, "decode": 2}
        for arc in self.arcs:
            group = self.groups[arc.group]
            pool = self.pools[group.pool]
            usd = pool.usd_per_hour / pool.usable_gpus * group.config.gpus * arc.sec_per_request
            k, role = arc.commodity, column[arc.role]
            cheapest[k, role] = min(cheapest[k, role], usd)
        per_request = np.minimum(cheapest[:, 0], cheapest[:, 1] + cheapest[:, 2])
        per_request[~np.isfinite(per_request)] = 0.0
        return max(float((per_request @ self.demand).max(initial=0.0)), whole_racks)

    def flow_bound(self, arc: int, s: int) -> float:
        """Largest useful flow on ``arc`` in kept scenario ``s``: the tenant's demand."""
        return float(self.demand[self.arcs[arc].commodity, s])

    @cached_property
    def token_weights(self) -> np.ndarray:
        """Tokens per request of each commodity (isl + osl), for the unserved objective."""
        return np.array([t.input_tokens + t.output_tokens for t in self.representatives], dtype=float)

    @cached_property
    def failure_events(self) -> tuple[FailureEvent, ...]:
        """(12): a rack event per pool holding an arc of a commodity surviving rack losses
        (``survive`` rack or site), a site event per site holding an arc of one surviving site losses."""
        if "survive" in self.relaxed:
            return ()
        events = []
        for kind, kinds in (("rack", ("rack", "site")), ("site", ("site",))):
            covered = tuple(k for k, t in enumerate(self.representatives) if t.survive in kinds)
            touched = {self.groups[self.arcs[a].group].pool for k in covered for a in self.arcs_of_commodity[k]}
            if kind == "rack":
                domains = [(p,) for p in sorted(touched)]
            else:
                sites = sorted({self.pools[p].site for p in touched})
                domains = [tuple(p for p, pool in enumerate(self.pools) if pool.site == site) for site in sites]
            events += [FailureEvent(kind, pools, covered) for pools in domains]
        return tuple(events)

    def failover_arcs(self, event: FailureEvent, k: int) -> list[int]:
        """Arcs of commodity ``k`` that may carry its failover flows in ``event`` (all but those
        into the lost site's pools)."""
        lost = set(event.pools) if event.kind == "site" else set()
        return [a for a in self.arcs_of_commodity[k] if self.groups[self.arcs[a].group].pool not in lost]

    def rack_loss(self, g: int) -> int:
        """Most replicas of group ``g`` one rack holds (``c_g`` of (12)): those a rack's GPUs
        offer replicas of its size (for a spread group, ``z_g`` = n_g / m_g is used instead)."""
        group = self.groups[g]
        return self.pools[group.pool].level_capacity(group.config.gpus) // group.config.gpus

    def summary(self) -> str:
        return (
            f"{len(self.instance.tenants)} tenants in {len(self.commodities)} commodities, "
            f"{len(self.scenarios)}/{self.instance.num_scenarios} scenarios kept, {len(self.pools)} pools, "
            f"{len(self.groups)} engine groups ({self.dominated_groups} dominated left out), {len(self.arcs)} arcs, "
            f"{len(self.arcs) * len(self.scenarios)} flow variables"
        )


# -- building -------------------------------------------------------------------------


def build_formulation(
    instance: Instance,
    performance: PerformanceModel | None = None,
    *,
    relax: frozenset[str] = frozenset(),
    extra_configs: tuple[tuple[str, EngineConfig], ...] = (),
    max_arcs_per_role: int | None = None,
    max_entries_per_tenant: int | None = None,
    deadline: float | None = None,
) -> Formulation:
    """The MIP data for ``instance`` (module docstring).

    ``relax`` drops constraint families named in :data:`RELAXABLE` (diagnosis);
    ``extra_configs``: (tenant, configuration) pairs that join that tenant's
    candidates and survive every shortlist (the engines a warm start routes it to);
    Every tenant may use the configurations offered for its own shape and those
    offered to other tenants of its model (pooling across shapes and SLO classes).
    ``max_arcs_per_role`` = n shortlists: shared configurations are those among most
    tenants' best n (fewest GPU-seconds per request) per fleet entry and role, at
    most :data:`~solvers.mip.candidates.MAX_SHARED_CONFIGS` per (entry, model, precision, role), and each
    tenant keeps its best ``ARCS_PER_SHORTLIST x n`` arcs per (entry, role) plus
    its ``extra_configs``. ``max_entries_per_tenant`` = m keeps each tenant at
    the m fleet entries where its cheapest option costs least per request.
    None keeps everything; with a shortlist the bound is over
    the kept candidates only.

    Raises:
        OutOfTime: the ``time.perf_counter()`` value ``deadline`` passed while the candidates
            were chosen (the longest step of a build).
    """
    unknown = set(relax) - set(RELAXABLE)
    if unknown:
        raise ValueError(f"cannot relax {sorted(unknown)}; known: {RELAXABLE}")
    performance = performance if performance is not None else PerformanceModel(instance)
    commodities = _commodities(instance, relax)
    table = np.array(
        [[sum(instance.tenants[i].demand(s) for i in c.members) for s in range(instance.num_scenarios)]
         for c in commodities],
        dtype=float,
    ).reshape(len(commodities), instance.num_scenarios)
    scenarios, represented_by = _prune_scenarios(table)
    demand = table[:, list(scenarios)]
    extra: dict[str, set[EngineConfig]] = defaultdict(set)
    tenant_of = {t.name: c.tenant.name for c in commodities for t in (instance.tenants[i] for i in c.members)}
    for name, config in extra_configs:
        extra[tenant_of[name]].add(config)
    builder = _Builder(
        instance, performance, relax, commodities, extra, max_arcs_per_role, max_entries_per_tenant, demand, deadline
    )
    builder.build()
    formulation = Formulation(
        instance=instance,
        performance=performance,
        scenarios=scenarios,
        represented_by=represented_by,
        commodities=commodities,
        demand=demand,
        pools=tuple(builder.pools),
        groups=tuple(builder.groups),
        arcs=tuple(builder.arcs),
        no_candidate=builder.no_candidate,
        dominated_groups=builder.dominated_groups,
        relaxed=frozenset(relax),
        extra_configs=extra_configs,
        max_arcs_per_role=max_arcs_per_role,
        max_entries_per_tenant=max_entries_per_tenant,
    )
    logger.debug("formulation: %s", formulation.summary())
    return formulation


def _commodities(instance: Instance, relax: frozenset[str]) -> tuple[Commodity, ...]:
    """Tenants merged into commodities (module docstring), in order of their first member."""
    members: dict[object, list[int]] = {}
    for i, tenant in enumerate(instance.tenants):
        key: object = tenant.name
        if isolation(tenant, relax) == "shared" and min_racks(tenant, relax) == 1:
            key = (tenant.model, tenant.input_tokens, tenant.output_tokens, tenant.ttft_s,
                   tenant.min_tokens_per_s_per_user, sites(instance, tenant, relax),
                   instance.allowed_precisions(tenant), tenant.survive, tenant.survive_share,
                   headroom_promise(tenant))  # members must have equal loads: the arcs carry the first's
        members.setdefault(key, []).append(i)
    return tuple(Commodity(members=tuple(m), tenant=instance.tenants[m[0]]) for m in members.values())


def _prune_scenarios(demand: np.ndarray) -> tuple[tuple[int, ...], dict[int, int]]:
    """Scenarios not dominated by another, and for each scenario the kept one serving it.

    ``demand``: requests/s per commodity and scenario. Scenario ``s`` is dominated
    by ``t`` when every commodity's demand in ``s`` is at most its demand in ``t``
    (ties: the earlier scenario is kept). Engines are static, so flows of ``t``
    scaled per commodity by demand(s) / demand(t) <= 1 serve ``s``.
    """
    count = demand.shape[1]
    table = demand.T
    kept: list[int] = []
    for s in range(count):
        dominated = any(
            np.all(table[s] <= table[t]) and (t < s or np.any(table[s] < table[t]))
            for t in range(count)
            if t != s
        )
        if not dominated:
            kept.append(s)
    represented = {}
    for s in range(count):
        represented[s] = s if s in kept else next(t for t in kept if np.all(table[s] <= table[t]))
    return tuple(kept), represented


class _Builder:
    def __init__(
        self,
        instance: Instance,
        performance: PerformanceModel,
        relax: frozenset[str],
        commodities: tuple[Commodity, ...],
        extra: dict[str, set[EngineConfig]],
        max_arcs_per_role: int | None,
        max_entries_per_tenant: int | None,
        demand: np.ndarray,
        deadline: float | None,
    ) -> None:
        self.instance = instance
        self.performance = performance
        self.relax = relax
        self.commodities = commodities
        self.tenants = [c.tenant for c in commodities]
        self.candidates = Candidates(
            instance, performance, relax, self.tenants, extra, max_arcs_per_role, max_entries_per_tenant, deadline
        )
        self.peak = demand.max(axis=1) if demand.size else np.zeros(len(commodities))
        self.pools: list[Pool] = []
        self.groups: list[Group] = []
        self.arcs: list[Arc] = []
        self.no_candidate: dict[str, str] = {}
        self.dominated_groups = 0
        self._group_index: dict[tuple[int, EngineConfig, str | None], int] = {}

    def build(self) -> None:
        tenant_options, reasons = self.candidates.choose()
        for k, reason in reasons.items():
            for i in self.commodities[k].members:
                self.no_candidate[self.instance.tenants[i].name] = reason
        self._make_pools(tenant_options)
        pool_of = {(pool.entry, pool.owner): p for p, pool in enumerate(self.pools)}
        for k, tenant in enumerate(self.tenants):
            self._make_arcs(k, tenant, tenant_options[k], pool_of)
        self.drop_dominated()
        self._size_bounds()

    def _make_pools(self, tenant_options: dict[int, list[Option]]) -> None:
        """A shared pool per entry some tenant may use; a private pool per dedicated-rack tenant there."""
        for e, entry in enumerate(self.instance.fleet):
            users = [self.tenants[k] for k, options in tenant_options.items() if any(o[0] == e for o in options)]
            owners = [owner_of_racks(t, self.relax) for t in users]
            for owner in ([None] if None in owners else []) + [o for o in owners if o is not None]:
                self.pools.append(self._pool(e, entry, owner))

    def _pool(self, e: int, entry: FleetEntry, owner: str | None) -> Pool:
        system = self.instance.system(entry.system)
        rack_gpus = self.instance.gpus_per_rack(entry)
        usable = usable_gpus(system, rack_gpus, entry.rack_power_kw)
        return Pool(
            entry=e,
            site=entry.site,
            system=entry.system,
            owner=owner,
            rack_gpus=rack_gpus,
            usable_gpus=usable,
            domain_gpus=domain_gpus(system, rack_gpus),
            usd_per_hour=rack_gpus * self.instance.usd_per_gpu_hour(entry),
            kw=allin_kw(system, rack_gpus),
            max_racks=0,  # sized in _size_bounds
        )

    def _make_arcs(
        self,
        k: int,
        tenant: Tenant,
        options: list[Option],
        pool_of: dict[tuple[int, str | None], int],
    ) -> None:
        """Arcs of commodity ``k`` to its options' groups; ``pool_of``: (entry, rack owner) -> pool."""
        for e, config, load in options:
            p = pool_of[(e, owner_of_racks(tenant, self.relax))]
            if self.pools[p].level_capacity(config.gpus) >= config.gpus:
                g = self._group(p, config, tenant, self.instance.system(self.instance.fleet[e].system))
                self.arcs.append(Arc(
                    commodity=k,
                    group=g,
                    role=config.role,
                    sec_per_request=replica_seconds(load, tenant.input_tokens, tenant.output_tokens),
                    kv_bytes_per_request_rate=tenant.output_tokens * load.kv_bytes_per_output_rate,
                    transfer_bytes_per_request=(
                        tenant.input_tokens * self.performance.kv_bytes_per_token(config)
                        if config.role == "decode" else 0.0
                    ),
                    tokens_per_request={
                        "aggregated": tenant.input_tokens + tenant.output_tokens,
                        "prefill": tenant.input_tokens,
                        "decode": tenant.output_tokens,
                    }[config.role],
                ))

    def _group(self, p: int, config: EngineConfig, tenant: Tenant, system: System) -> int:
        owner = owner_of_engines(tenant, self.relax)
        key = (p, config, owner)
        if key not in self._group_index:
            self._group_index[key] = len(self.groups)
            self.groups.append(Group(
                pool=p,
                config=config,
                owner=owner,
                spread=min_racks(tenant, self.relax),
                kv_capacity_bytes=self.performance.kv_capacity_bytes(config),
                scaleout_bytes_per_s=scaleout_bytes_per_s(system, config.gpus),
                max_replicas=0,  # sized in _size_bounds
            ))
        return self._group_index[key]

    def _fails_over(self, commodities: Iterable[int]) -> bool:
        """Whether (12) gives any of ``commodities`` failover flows (a ``survive`` promise, not relaxed)."""
        return "survive" not in self.relax and any(self.tenants[k].survive != "none" for k in commodities)

    def drop_dominated(self) -> None:
        """(E7): leave out every group g' some other group g of its pool, owner, spread and role
        dominates; the optimum stays that of every group (docs/formulation.md, "Dominated groups").

        g dominates g' when g's replicas have no more GPUs (gamma_g <= gamma_g', so gamma_g divides
        it), every commodity of g' has an arc into g, and, per GPU, with u_k and u'_k commodity
        k's replicas per request/s in families (4)-(6) times gamma: either u_k <= u'_k in every
        family (A), or max(u_k) <= u'_k[f] for one family f shared by every k (B). A plan using
        g' then swaps each replica of g' for gamma_g'/gamma_g of g on the same GPUs (7) and moves
        g''s flows to g: (4)-(6) hold, as max over families of the moved use is at most
        gamma_g'/gamma_g x n_g' under A or B, and the racks, power and cost stay. Groups a
        ``survive`` commodity uses are kept, since a rack may hold more of g than of g' (12),
        and so are the engines of ``extra`` (warm-start plans map onto the model). Both relations
        compose, so a dominated group's dominator may itself be left out; ties fall to the
        smaller per-GPU use, the more commodities, the fewer GPUs, then the earlier group.
        """
        arcs_of: list[list[int]] = [[] for _ in self.groups]
        for a, arc in enumerate(self.arcs):
            arcs_of[arc.group].append(a)
        commodities, members, use, kept_anyway = [], [], [], []
        for g, group in enumerate(self.groups):
            arcs = sorted(arcs_of[g], key=lambda a: self.arcs[a].commodity)
            ks = [self.arcs[a].commodity for a in arcs]
            commodities.append(np.array(ks, dtype=int))
            members.append(frozenset(ks))
            use.append(group.config.gpus * np.array(
                [_per_request(self.arcs[a], group) for a in arcs], dtype=float).reshape(len(arcs), 3))
            kept_anyway.append(
                any(group.config in self.candidates.extra[self.tenants[k].name] for k in ks)
                or self._fails_over(ks))
        buckets: dict[tuple[object, ...], list[int]] = defaultdict(list)
        for g, group in enumerate(self.groups):
            buckets[(group.pool, group.owner, group.spread, group.config.role)].append(g)

        def dominates(g: int, h: int) -> bool:
            if g == h or self.groups[g].config.gpus > self.groups[h].config.gpus or not members[h] <= members[g]:
                return False
            mine, theirs = use[g][np.searchsorted(commodities[g], commodities[h])], use[h]
            worst = mine.max(axis=1)
            if not (np.all(mine <= theirs) or any(np.all(worst <= theirs[:, f]) for f in range(3))):
                return False
            return bool(np.any(worst < theirs.max(axis=1))) or len(members[g]) > len(members[h]) \
                or self.groups[g].config.gpus < self.groups[h].config.gpus or g < h

        dropped = set()
        for bucket in buckets.values():
            likeliest = sorted((g for g in bucket if np.all(np.isfinite(use[g]))),  # dominators first
                               key=lambda g: (-len(members[g]), float(use[g].max(axis=1).mean())))
            dropped |= {h for h in bucket if not kept_anyway[h] and any(dominates(g, h) for g in likeliest)}
        index = {g: i for i, g in enumerate(g for g in range(len(self.groups)) if g not in dropped)}
        self.groups = [group for g, group in enumerate(self.groups) if g in index]
        self.arcs = [replace(arc, group=index[arc.group]) for arc in self.arcs if arc.group in index]
        self.dominated_groups = len(dropped)

    def _size_bounds(self) -> None:
        """Upper bounds: replicas a group could need if every eligible tenant used it alone at
        peak; racks a pool could need to hold every group at that bound (or its inventory)."""
        arcs_of_group: list[list[Arc]] = [[] for _ in self.groups]
        for arc in self.arcs:
            arcs_of_group[arc.group].append(arc)
        for g, group in enumerate(self.groups):
            arcs = arcs_of_group[g]
            time = sum(self.peak[a.commodity] * a.sec_per_request for a in arcs)
            kv = sum(self.peak[a.commodity] * a.kv_bytes_per_request_rate for a in arcs)
            transfer = sum(self.peak[a.commodity] * a.transfer_bytes_per_request for a in arcs)
            need = time
            if math.isfinite(group.kv_capacity_bytes) and group.kv_capacity_bytes > 0:
                need = max(need, kv / group.kv_capacity_bytes)
            if group.config.role == "decode" and group.scaleout_bytes_per_s > 0:
                need = max(need, transfer / group.scaleout_bytes_per_s)
            if self._fails_over(a.commodity for a in arcs):
                # (12): room for the whole need after losing the most of g one rack holds
                pool = self.pools[group.pool]
                need = need * group.spread / (group.spread - 1) if group.spread > 1 else (
                    need + pool.level_capacity(group.config.gpus) // group.config.gpus)
            replicas = group.spread * max(1, math.ceil(need * (1 + 1e-6) / group.spread))
            self.groups[g] = replace(group, max_replicas=replicas)
        for p, pool in enumerate(self.pools):
            racks = sum(  # a spread group's z = n / m replicas per rack, in m racks
                group.spread * math.ceil(
                    group.max_replicas // group.spread / (pool.level_capacity(group.config.gpus) // group.config.gpus)
                )
                for group in self.groups if group.pool == p
            )
            entry = self.instance.fleet[pool.entry]
            if entry.max_racks is not None and "inventory" not in self.relax:
                racks = min(racks, entry.max_racks)
            self.pools[p] = replace(pool, max_racks=racks)


def rebuild(f: Formulation, relax: frozenset[str]) -> Formulation:
    """``f`` built again under the same candidates' rules (shortlist, extra configurations) with
    the families in ``relax`` dropped: the model solved, relaxed (diagnosis)."""
    return build_formulation(
        f.instance, f.performance, relax=relax, extra_configs=f.extra_configs,
        max_arcs_per_role=f.max_arcs_per_role, max_entries_per_tenant=f.max_entries_per_tenant,
    )


def restrict(f: Formulation, groups: set[int]) -> Formulation:
    """``f`` with only ``groups`` (and the arcs into them): a smaller MIP whose plans suit ``f``."""
    kept = sorted(groups)
    new_index = {g: i for i, g in enumerate(kept)}
    return replace(
        f,
        groups=tuple(f.groups[g] for g in kept),
        arcs=tuple(replace(a, group=new_index[a.group]) for a in f.arcs if a.group in new_index),
    )


def placed_replicas(
    f: Formulation, replicas: np.ndarray, alongside: dict[tuple[int, int], int]
) -> dict[int, np.ndarray]:
    """Per m > 1 of the spread groups, replicas per group in one copy of the virtual racks
    spread over m (the z's and w's of (10)); for m = 1, those in racks holding no spread
    replica ((7))."""
    spreads = np.array([group.spread for group in f.groups], dtype=int)
    counts = np.asarray(replicas, dtype=int)
    placed = {1: np.where(spreads == 1, counts, 0)}
    for m in sorted(set(spreads.tolist()) - {1}):
        placed[m] = np.where(spreads == m, counts // m, 0)
    for (g, m), w in alongside.items():
        placed[m][g] += w
        placed[1][g] -= m * w
    return placed


def virtual_racks(
    f: Formulation, replicas: np.ndarray, alongside: dict[tuple[int, int], int]
) -> dict[tuple[int, int], int]:
    """Per (pool, m): fewest racks holding :func:`placed_replicas` by the packing levels: racks
    holding no spread replica (m = 1, (7)), or ``q_{p,m}`` virtual racks (10).

    ``replicas`` of a group spread over m racks must be a multiple of m."""
    placed = placed_replicas(f, replicas, alongside)
    needed: dict[tuple[int, int], int] = {}
    for p, pool in enumerate(f.pools):
        for m in sorted({f.groups[g].spread for g in f.groups_of_pool[p]}):
            needed[(p, m)] = max(
                (math.ceil(sum(f.groups[g].config.gpus * int(placed[m][g]) for g in groups)
                           / pool.level_capacity(size))
                 for size, groups in f.levels(p, m)),
                default=0,
            )
    return needed


def _per_request(arc: Arc, group: Group) -> tuple[float, float, float]:
    """Replicas of ``group`` one request/s of ``arc`` uses per capacity family: engine time (4),
    KV memory (5; 0 where the group's KV is not charged), KV transfer (6; 0 off decode groups)."""
    capacity = group.kv_capacity_bytes
    kv = 0.0 if math.isinf(capacity) else arc.kv_bytes_per_request_rate / capacity if capacity > 0 else math.inf
    transfer = arc.transfer_bytes_per_request / group.scaleout_bytes_per_s if group.config.role == "decode" else 0.0
    return arc.sec_per_request, kv, transfer


def _round_up(value: float) -> int:
    """Smallest integer at least ``value`` less the checker's relative tolerance, so a plan
    filling its engines exactly within that tolerance is not cut off."""
    return max(0, math.ceil(value * (1 - REL_TOL)))
