"""The candidate stage: which engine configurations each tenant may use, at which fleet entries.

For each tenant (a commodity's representative): the configurations the performance model
offers for its own shape at every entry of its sites (E1, E2, E6), those offered to other
tenants of its model (pooling across shapes and SLO classes), kept when they meet its SLO
(E3: aggregated alone, disaggregated as prefill and decode sets whose every pair meets it),
then shortlisted per (entry, role) and ranked fleet entries. :mod:`solvers.mip.formulation`
builds its pools, groups and arcs from these options; this module never needs its types.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Collection, Sequence

import numpy as np

from optimizer.instance import Instance, Tenant
from optimizer.performance import EngineConfig, PerformanceModel, Role, TokenLoad, meets_slo
from optimizer.performance.capacity import replica_seconds
from optimizer.result import check_deadline

_ROLES: tuple[Role, ...] = ("aggregated", "prefill", "decode")
MAX_SHARED_CONFIGS = 4
"""With a shortlist: configurations per (entry, model, precision, role) offered to every tenant."""
ARCS_PER_SHORTLIST = 1
"""With a shortlist of n: each tenant keeps its best ``ARCS_PER_SHORTLIST x n`` arcs per (entry, role)."""

Option = tuple[int, EngineConfig, TokenLoad]
"""(fleet entry's position, configuration, the tenant's load on it)"""


# tenants' view of the rules, with relaxations -------------------------------------------


def sites(instance: Instance, tenant: Tenant, relaxed: frozenset[str]) -> tuple[str, ...]:
    """The sites the tenant may use (E2); every site when residency is relaxed."""
    if "residency" in relaxed:
        return tuple(site.name for site in instance.sites)
    return instance.allowed_sites(tenant)


def isolation(tenant: Tenant, relaxed: frozenset[str]) -> str:
    """The tenant's isolation, ``shared`` when isolation is relaxed."""
    return "shared" if "isolation" in relaxed else tenant.isolation


def min_racks(tenant: Tenant, relaxed: frozenset[str]) -> int:
    """The tenant's ``min_racks``, 1 when spread is relaxed."""
    return 1 if "spread" in relaxed else tenant.min_racks


def owner_of_racks(tenant: Tenant, relaxed: frozenset[str]) -> str | None:
    """The tenant when its racks are its own (``dedicated-rack``, E4); else None."""
    return tenant.name if isolation(tenant, relaxed) == "dedicated-rack" else None


def owner_of_engines(tenant: Tenant, relaxed: frozenset[str]) -> str | None:
    """The tenant when its engines are its own (``dedicated``, E4, or spread, E5); else None."""
    return tenant.name if isolation(tenant, relaxed) == "dedicated" or min_racks(tenant, relaxed) > 1 else None


# the stage -------------------------------------------------------------------------------


class Candidates:
    """The candidate stage for ``tenants`` of ``instance`` (module docstring; ``build_formulation``
    documents ``extra``, ``max_arcs_per_role`` and ``max_entries_per_tenant``)."""

    def __init__(
        self,
        instance: Instance,
        performance: PerformanceModel,
        relax: frozenset[str],
        tenants: Sequence[Tenant],
        extra: dict[str, set[EngineConfig]],
        max_arcs_per_role: int | None,
        max_entries_per_tenant: int | None,
        deadline: float | None = None,
    ) -> None:
        self.instance = instance
        self.performance = performance
        self.relax = relax
        self.tenants = tenants
        self.extra = extra
        """tenant's name -> configurations its warm start uses"""
        self.max_arcs_per_role = max_arcs_per_role
        self.max_entries_per_tenant = max_entries_per_tenant
        self.deadline = deadline
        """``time.perf_counter()`` value after which :meth:`choose` raises :class:`~optimizer.result.OutOfTime`; None: none"""
        self._usd_per_gpu_s = [instance.usd_per_gpu_hour(entry) / 3600 for entry in instance.fleet]
        """all-in $/GPU-second of each fleet entry"""

    def choose(self) -> tuple[dict[int, list[Option]], dict[int, str]]:
        """Each tenant's options (by position in ``tenants``), and why a tenant has none.

        Raises:
            OutOfTime: ``deadline`` passed (checked after each tenant's options).
        """
        own: dict[int, list[Option]] = {}
        for k, tenant in enumerate(self.tenants):
            own[k] = self._own_options(tenant)
            check_deadline(self.deadline)
        shared = self._shared_configs(own)
        tenant_options: dict[int, list[Option]] = {}
        reasons: dict[int, str] = {}
        for k, tenant in enumerate(self.tenants):
            offered = {(e, config) for e, config, _ in own[k]}
            options = own[k] + [
                (e, config, load) for e, config, load in self._loads(tenant, shared) if (e, config) not in offered
            ]
            eligible = _slo_filter(tenant, options, self.extra[tenant.name])
            warm = [o for o in eligible if o[1] in self.extra[tenant.name]]
            if self.max_entries_per_tenant is not None:
                eligible = self._cheapest_entries(tenant, eligible, self.max_entries_per_tenant)
            if self.max_arcs_per_role is not None:
                eligible = _best_per_role(tenant, eligible, ARCS_PER_SHORTLIST * self.max_arcs_per_role)
            eligible += [o for o in warm if o not in eligible]
            tenant_options[k] = eligible
            if not eligible:
                reasons[k] = _no_candidate_reason(self.instance, tenant, options)
            check_deadline(self.deadline)
        return tenant_options, reasons

    def _offered(self, tenant: Tenant, system: str) -> list[EngineConfig]:
        """The configurations offered for the tenant's shape on ``system`` (E1) and its warm
        start's there, by precision and role."""
        found = []
        shape = (tenant.input_tokens, tenant.output_tokens)
        extra = sorted(self.extra[tenant.name], key=repr)
        for precision in self.instance.allowed_precisions(tenant):
            for role in _ROLES:
                configs = list(self.performance.configs(tenant.model, system, precision, role, *shape))
                configs += [
                    c for c in extra
                    if (c.model, c.system, c.precision, c.role) == (tenant.model, system, precision, role)
                    and c not in configs
                ]
                found += configs
        return found

    def _cheapest_entries(
        self, tenant: Tenant, options: list[Option], count: int
    ) -> list[Option]:
        """Options at the ``count`` fleet entries where the tenant's cheapest way costs least ($/request)."""
        cost: dict[int, float] = {}
        by_role: dict[int, set[str]] = defaultdict(set)
        for e, config, load in options:
            cost[e] = min(cost.get(e, math.inf), load_gpu_seconds(tenant, config, load) * self._usd_per_gpu_s[e])
            by_role[e].add(config.role)
        # an entry offering only one half of disaggregation costs that half; rank it after whole ones
        complete = {e: "aggregated" in roles or {"prefill", "decode"} <= roles for e, roles in by_role.items()}
        ranked = sorted(cost, key=lambda e: (not complete[e], cost[e], e))[:count]
        return [o for o in options if o[0] in ranked]

    def _own_options(self, tenant: Tenant) -> list[Option]:
        """The configurations offered for the tenant's own shape (and the warm start's) at its
        entries (E1, E2) on which its shape has a load (E6). Each system's are asked once, however
        many entries have it, and their loads in one pass (10,000 tenants of xlarge-01 made 1.9 M
        calls of one (system, precision, role) each)."""
        allowed = sites(self.instance, tenant, self.relax)
        entries = [(e, entry.system) for e, entry in enumerate(self.instance.fleet) if entry.site in allowed]
        offered = {system: self._offered(tenant, system) for system in dict.fromkeys(system for _, system in entries)}
        loads = iter(self.performance.tenant_loads(tenant, [c for configs in offered.values() for c in configs]))
        with_loads = {system: [(c, next(loads)) for c in configs] for system, configs in offered.items()}
        return [
            (e, config, load) for e, system in entries for config, load in with_loads[system] if load is not None
        ]

    def _shared_configs(self, own: dict[int, list[Option]]) -> dict[int, list[EngineConfig]]:
        """Per fleet entry, configurations every tenant of the model may also use (SLO allowing).

        Without a shortlist: every configuration any tenant was offered. With one:
        those among most tenants' best ``max_arcs_per_role`` (SLO met), at most
        :data:`MAX_SHARED_CONFIGS` per (entry, model, precision, role).
        """
        votes: dict[tuple[int, EngineConfig], int] = defaultdict(int)
        for k, options in own.items():
            tenant = self.tenants[k]
            eligible = _slo_filter(tenant, options)
            if self.max_arcs_per_role is not None:
                eligible = _best_per_role(tenant, eligible, self.max_arcs_per_role)
            for e, config, _ in eligible:
                votes[(e, config)] += 1
        by_key: dict[tuple[int, str, str, str], list[tuple[int, EngineConfig]]] = defaultdict(list)
        for e, config in sorted(votes, key=lambda key: -votes[key]):  # stable: first offered first
            by_key[(e, config.model, config.precision, config.role)].append((e, config))
        shared: dict[int, list[EngineConfig]] = defaultdict(list)
        for ranked in by_key.values():
            limit = len(ranked) if self.max_arcs_per_role is None else MAX_SHARED_CONFIGS
            for e, config in ranked[:limit]:
                shared[e].append(config)
        return shared

    def _loads(self, tenant: Tenant, shared: dict[int, list[EngineConfig]]) -> list[Option]:
        """(entry, configuration, load) for the shared configurations the tenant may run on (E1, E2, E6)."""
        precisions = self.instance.allowed_precisions(tenant)
        allowed = [
            (e, config)
            for e, entry in enumerate(self.instance.fleet) if entry.site in sites(self.instance, tenant, self.relax)
            for config in shared.get(e, ()) if config.model == tenant.model and config.precision in precisions
        ]
        loads = self.performance.tenant_loads(tenant, [config for _, config in allowed])
        return [(e, config, load) for (e, config), load in zip(allowed, loads, strict=True) if load is not None]


# options ----------------------------------------------------------------------------------


def load_gpu_seconds(tenant: Tenant, config: EngineConfig, load: TokenLoad) -> float:
    """GPU-seconds one request of ``tenant`` takes on ``config`` (time only)."""
    return replica_seconds(load, tenant.input_tokens, tenant.output_tokens) * config.gpus


def _slo_filter(
    tenant: Tenant, options: list[Option], warm: Collection[EngineConfig] = ()
) -> list[Option]:
    """Aggregated options meeting the SLO, and the tenant's disaggregated sets (E3), which keep
    the ``warm`` start's configurations where they can."""
    aggregated = [o for o in options if o[1].role == "aggregated" and meets_slo(tenant, o[2])]
    prefills, decodes = _disaggregated_sets(
        tenant,
        [o for o in options if o[1].role == "prefill"],
        [o for o in options if o[1].role == "decode"],
        warm,
    )
    return aggregated + prefills + decodes


def _disaggregated_sets(
    tenant: Tenant,
    prefills: list[Option],
    decodes: list[Option],
    warm: Collection[EngineConfig] = (),
) -> tuple[list, list]:  # type: ignore[type-arg]
    """Prefill and decode options such that *every* pair meets the SLO (E3).

    The checker judges each (prefill, decode) pair a tenant uses, so the sets must
    be compatible pairwise. Decodes meeting interactivity are taken from the
    smallest decode TTFT up; for each prefix the prefills that meet the TTFT with
    the prefix's largest decode TTFT are kept; the prefix with the most pairs wins
    (ties: the longer prefix of decodes). Before the pairs, a prefix is ranked by how
    many ``warm`` configurations (the warm start's, whose pairs met the SLO) it keeps, so
    the warm start maps onto the model: large-01's `pooled-spread-apart` plan paired a
    prefill of 0.496 s TTFT with a fast decode for a 0.5 s tenant, and the prefix with
    most pairs had a slower decode, which dropped that prefill and left the MIP no start.
    """
    fast = sorted(
        (o for o in decodes if o[2].tokens_per_s_per_user >= tenant.min_tokens_per_s_per_user * (1 - 1e-9)),
        key=lambda o: o[2].ttft_s,
    )
    # TTFT budget each prefill leaves its decode (-inf: too slow a prefill), to count pairs fast
    slack = np.array([
        tenant.ttft_s * (1 + 1e-9) - o[2].ttft_s
        if o[2].tokens_per_s_per_user >= tenant.min_tokens_per_s_per_user * (1 - 1e-9) else -np.inf
        for o in prefills
    ])
    warm_decodes = np.array([i for i, o in enumerate(fast) if o[1] in warm])
    warm_slack = np.array([slack[i] for i, o in enumerate(prefills) if o[1] in warm])
    best: tuple[int, int, int] = (0, 0, 0)  # (warm configurations kept, pairs, decodes in the prefix)
    for i in range(len(fast)):
        worst = fast[i][2].ttft_s
        if i + 1 < len(fast) and fast[i + 1][2].ttft_s == worst:
            continue  # take ties together
        pairs = int(np.count_nonzero(slack >= worst)) * (i + 1)
        kept = int(np.count_nonzero(warm_decodes <= i) + np.count_nonzero(warm_slack >= worst))
        if pairs and (kept, pairs) >= best[:2]:
            best = (kept, pairs, i + 1)
    if not best[1]:
        return [], []
    decodes_kept = fast[: best[2]]
    return [o for o in prefills if meets_slo(tenant, o[2], decodes_kept[-1][2])], decodes_kept


def _best_per_role(
    tenant: Tenant, options: list[Option], limit: int
) -> list[Option]:
    """Per (entry, role): the ``limit`` options with the fewest GPU-seconds per request."""
    by_key: dict[tuple[int, str], list[tuple[float, int]]] = defaultdict(list)
    for i, (e, config, load) in enumerate(options):
        by_key[(e, config.role)].append((load_gpu_seconds(tenant, config, load), i))
    keep = sorted(i for ranked in by_key.values() for _, i in sorted(ranked)[:limit])
    return [options[i] for i in keep]


def _no_candidate_reason(
    instance: Instance, tenant: Tenant, options: list[Option]
) -> str:
    """Why no engine configuration may serve ``tenant`` (no arc survived E1-E3, E6)."""
    sites = ", ".join(instance.allowed_sites(tenant))
    precisions = ", ".join(instance.allowed_precisions(tenant))
    systems = sorted({e.system for e in instance.fleet if e.site in instance.allowed_sites(tenant)})
    if not options:
        return (
            f"no configuration of {tenant.model} in {precisions} on the systems at its sites "
            f"({sites}: {', '.join(systems) or 'none'})"
        )
    best_ttft = min((load.ttft_s for _, c, load in options if c.role != "decode"), default=math.inf)
    best_speed = max((load.tokens_per_s_per_user for _, c, load in options if c.role != "prefill"), default=0.0)
    return (
        f"no configuration meets its SLO (TTFT <= {tenant.ttft_s:g} s, >= "
        f"{tenant.min_tokens_per_s_per_user:g} tokens/s/user) on {', '.join(systems)} in {precisions}: "
        f"best TTFT {best_ttft:.3g} s, best interactivity {best_speed:.3g} tokens/s/user"
    )
