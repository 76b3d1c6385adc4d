"""The independent checker: every promise a plan must keep, one small function per rule.

:func:`check` trusts nothing a solver says: capacities come from the
performance model or the instance's profiles (:class:`~optimizer.usage.PlanUsage`),
and each rule re-derives what it needs from the instance and the plan. The rule
names in :data:`RULES` are stable; tests and tools match on them.

Tolerance: a quantity breaks its limit when it exceeds it by more than a relative
``1e-6`` of the limit (plus ``1e-9`` absolute, for limits of zero);
:data:`REL_TOL`, :data:`ABS_TOL`.

Co-location of disaggregated prefill and decode (rule ``kv-transfer``): a plan
does not say which NVLink domain of a rack a replica sits in, so two engine
groups count as sharing a domain only when they are in the same rack and that
rack is a single domain (NVL72). Per tenant, scenario and such domain, the
requests whose prefill and decode both run there, ``min(prefill requests/s,
decode requests/s)``, move their KV over NVLink; every other decode request
receives ``input_tokens x kv_bytes_per_token`` bytes over the scale-out network,
spread over the domain's decode groups by their request rates. Each decode
group's scale-out inflow must stay within ``count x gpus x scaleout_gbit_s / 8``
GB/s.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from typing import Literal

from pydantic import BaseModel, ConfigDict

from optimizer.instance import Instance, Tenant
from optimizer.packing import domain_gpus, pack_into_domains
from optimizer.performance import PerformanceModel, meets_slo
from optimizer.performance.capacity import allin_kw, it_kw, scaleout_bytes_per_s
from optimizer.plan import EngineGroup, Plan, Rack
from optimizer.stress import FailureKind, stress
from optimizer.usage import PlanUsage

REL_TOL = 1e-6
"""Relative slack before a limit counts as broken."""
ABS_TOL = 1e-9
"""Absolute slack (same unit as the limit), for limits of zero."""

RULES: dict[str, str] = {
    "instance-hash": "the plan records another instance's name or digest (warning)",
    "duplicate-id": "a rack id or engine-group id appears more than once",
    "unknown-reference": "a rack's site or system, an engine's model, or a route's tenant, "
    "engine or scenario is not in the instance or the plan",
    "fleet": "a rack of a system its site's fleet does not offer",
    "demand": "a tenant's input or output tokens/s in a scenario are not all routed",
    "overrouted": "more input or output tokens/s routed than a tenant's demand",
    "role": "a prefill route carries output tokens, a decode route input tokens, or an "
    "aggregated route is off the tenant's input:output ratio",
    "model": "a tenant routed to an engine serving another model",
    "precision": "a tenant routed to an engine in a precision it does not allow",
    "no-load": "an engine's configuration has no load for a routed tenant's request shape",
    "slo": "an engine (or prefill + decode pair) misses a routed tenant's TTFT or interactivity",
    "capacity-time": "an engine group's replica-seconds per second exceed its replicas",
    "capacity-kv": "an engine group's KV cache exceeds its replicas' KV memory",
    "nvlink-domain": "a replica larger than one NVLink domain, or replicas that do not pack "
    "into the rack's domains",
    "rack-gpus": "engines occupy more GPUs than the rack has",
    "rack-power": "IT power of the GPUs engines occupy exceeds the rack's cap",
    "site-power": "provisioned power of a site's opened racks exceeds its budget",
    "inventory": "more racks of a system at a site than max_racks",
    "dedicated": "an engine group of a 'dedicated' tenant carries another tenant",
    "dedicated-rack": "a rack of a 'dedicated-rack' tenant carries another tenant",
    "residency": "a tenant routed to a rack outside its allowed sites",
    "spread": "one rack carries more than 1/min_racks of a tenant's tokens in a scenario",
    "kv-transfer": "KV moving prefill -> decode over the scale-out network exceeds the decode "
    "group's bandwidth",
    "survive": "after a rack (site) loss its survive promise covers, re-routing serves a tenant less "
    "than survive_share of its demand (optimizer.stress)",
    "idle-engine": "an engine group no route uses in any scenario, not labelled reserve (warning)",
}


class Violation(BaseModel):
    """One broken rule, naming what it concerns and by how much."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    rule: str
    message: str
    severity: Literal["error", "warning"] = "error"
    tenant: str | None = None
    site: str | None = None
    rack: str | None = None
    engine: str | None = None
    scenario: int | None = None
    amount: float | None = None
    """how far past the limit, in ``unit``"""
    unit: str = ""


def exceeds(value: float, limit: float) -> bool:
    """Whether ``value`` is over ``limit`` beyond the checker's tolerance."""
    return value > limit + REL_TOL * abs(limit) + ABS_TOL


def check(
    instance: Instance, plan: Plan, performance: PerformanceModel | None = None
) -> list[Violation]:
    """Every rule ``plan`` breaks for ``instance``, in rule order (see :data:`RULES`).

    ``performance`` defaults to ``PerformanceModel(instance)`` at the plan's confidence; pass
    one in to reuse its caches.
    """
    usage = PlanUsage(instance, plan, performance)
    return [violation for rule in _RULE_CHECKS for violation in rule(usage)]


Check = Callable[[PlanUsage], Iterator[Violation]]


# -- plan structure -----------------------------------------------------------------


def _instance_hash(u: PlanUsage) -> Iterator[Violation]:
    if u.plan.instance != u.instance.name or u.plan.instance_sha256 != u.instance.digest():
        yield Violation(
            rule="instance-hash",
            severity="warning",
            message=f"plan made for '{u.plan.instance}' ({u.plan.instance_sha256[:12]}), "
            f"checked against '{u.instance.name}' ({u.instance.digest()[:12]})",
        )


def _duplicate_ids(u: PlanUsage) -> Iterator[Violation]:
    racks = Counter(rack.id for rack in u.plan.racks)
    engines = Counter(group.id for rack in u.plan.racks for group in rack.engines)
    for rack, n in racks.items():
        if n > 1:
            yield Violation(
                rule="duplicate-id", rack=rack, message=f"rack id '{rack}' appears {n} times"
            )
    for engine, n in engines.items():
        if n > 1:
            yield Violation(
                rule="duplicate-id", engine=engine, message=f"engine id '{engine}' appears {n} times"
            )


def _idle_engines(u: PlanUsage) -> Iterator[Violation]:
    routed = {route.engine for route in u.plan.routes}
    for rack in u.plan.racks:
        for group in rack.engines:
            if group.id not in routed and group.purpose != "reserve":
                yield Violation(
                    rule="idle-engine", severity="warning", rack=rack.id, engine=group.id,
                    amount=group.count * group.gpus, unit="GPUs",
                    message=f"{group.count} x {group.gpus}-GPU replicas carry no route in any scenario "
                    "and are not labelled reserve",
                )


def _unknown_references(u: PlanUsage) -> Iterator[Violation]:
    sites = {site.name for site in u.instance.sites}
    for rack in u.plan.racks:
        if rack.site not in sites:
            yield Violation(
                rule="unknown-reference", rack=rack.id, site=rack.site,
                message=f"unknown site '{rack.site}'",
            )
        if rack.system not in u.instance.system_catalog:
            yield Violation(
                rule="unknown-reference", rack=rack.id, message=f"unknown system '{rack.system}'"
            )
        for group in rack.engines:
            if group.model not in u.instance.model_catalog:
                yield Violation(
                    rule="unknown-reference",
                    rack=rack.id,
                    engine=group.id,
                    message=f"unknown model '{group.model}'",
                )
    tenants = {t.name for t in u.instance.tenants}
    for i, route in enumerate(u.plan.routes):
        problems = []
        if route.tenant not in tenants:
            problems.append(f"unknown tenant '{route.tenant}'")
        if route.engine not in u.groups:
            problems.append(f"unknown engine group '{route.engine}'")
        if route.scenario >= u.instance.num_scenarios:
            problems.append(
                f"scenario {route.scenario} out of range (the instance has {u.instance.num_scenarios})"
            )
        for problem in problems:
            yield Violation(
                rule="unknown-reference",
                tenant=route.tenant,
                engine=route.engine,
                scenario=route.scenario,
                message=f"routes[{i}]: {problem}",
            )


def _fleet(u: PlanUsage) -> Iterator[Violation]:
    sites = {site.name for site in u.instance.sites}
    for rack in u.plan.racks:
        if rack.site in sites and u.system(rack) is not None and u.fleet_entry(rack) is None:
            yield Violation(
                rule="fleet", rack=rack.id, site=rack.site,
                message=f"site '{rack.site}' has no {rack.system} in its fleet",
            )


# -- demand and routing -------------------------------------------------------------


def _demand(u: PlanUsage) -> Iterator[Violation]:
    for tenant, s, kind, routed, demand in _routed_and_demand(u):
        if exceeds(demand, routed):
            yield Violation(
                rule="demand", tenant=tenant, scenario=s, amount=demand - routed, unit="tokens/s",
                message=f"{kind} tokens routed {routed:.6g}/s of a demand of {demand:.6g}/s",
            )


def _overrouted(u: PlanUsage) -> Iterator[Violation]:
    for tenant, s, kind, routed, demand in _routed_and_demand(u):
        if exceeds(routed, demand):
            yield Violation(
                rule="overrouted", tenant=tenant, scenario=s, amount=routed - demand, unit="tokens/s",
                message=f"{kind} tokens routed {routed:.6g}/s for a demand of {demand:.6g}/s",
            )


def _routed_and_demand(u: PlanUsage) -> Iterator[tuple[str, int, str, float, float]]:
    """(tenant, scenario, "input" or "output", tokens/s routed, tokens/s of demand), every tenant
    and scenario (``PlanUsage.served``)."""
    routed: dict[tuple[str, int], list[float]] = defaultdict(lambda: [0.0, 0.0])
    for (tenant, scenario, _), (i, o) in u.served.items():
        routed[(tenant, scenario)][0] += i
        routed[(tenant, scenario)][1] += o
    for tenant in u.instance.tenants:
        for s in range(u.instance.num_scenarios):
            got = routed.get((tenant.name, s), [0.0, 0.0])
            wanted = (tenant.input_tokens_per_s(s), tenant.output_tokens_per_s(s))
            for kind, have, need in zip(("input", "output"), got, wanted, strict=True):
                yield tenant.name, s, kind, have, need


def _roles(u: PlanUsage) -> Iterator[Violation]:
    for (name, s, engine), (i, o) in u.flows.items():
        rack, group = u.groups[engine]
        tenant = u.instance.tenant(name)
        common = {"rule": "role", "tenant": name, "rack": rack.id, "engine": engine, "scenario": s}
        if group.role == "prefill" and o > 0:
            yield Violation(**common, amount=o, unit="tokens/s",
                            message=f"prefill group receives {o:.6g} output tokens/s")
        elif group.role == "decode" and i > 0:
            yield Violation(**common, amount=i, unit="tokens/s",
                            message=f"decode group receives {i:.6g} input tokens/s")
        elif group.role == "aggregated":
            # whole requests: input / isl = output / osl
            requests_in, requests_out = i / tenant.input_tokens, o / tenant.output_tokens
            if exceeds(abs(requests_in - requests_out), REL_TOL * max(requests_in, requests_out)):
                yield Violation(
                    **common,
                    amount=abs(requests_in - requests_out),
                    unit="requests/s",
                    message=f"aggregated route of {requests_in:.6g} requests/s of input but "
                    f"{requests_out:.6g} of output (shape {tenant.input_tokens}:{tenant.output_tokens})",
                )


def _model(u: PlanUsage) -> Iterator[Violation]:
    for tenant, engine, rack, group in _tenant_engines(u):
        if group.model != tenant.model:
            yield Violation(
                rule="model", tenant=tenant.name, rack=rack.id, engine=engine,
                message=f"engine serves {group.model}, tenant uses {tenant.model}",
            )


def _precision(u: PlanUsage) -> Iterator[Violation]:
    for tenant, engine, rack, group in _tenant_engines(u):
        if group.model == tenant.model and group.model in u.instance.model_catalog:
            allowed = u.instance.allowed_precisions(tenant)
            if group.precision not in allowed:
                yield Violation(
                    rule="precision", tenant=tenant.name, rack=rack.id, engine=engine,
                    message=f"engine runs {group.precision}; tenant allows {', '.join(allowed)}",
                )


def _no_load(u: PlanUsage) -> Iterator[Violation]:
    for tenant, engine, rack, group in _tenant_engines(u):
        if group.model == tenant.model and u.resolvable(engine) and u.load(tenant.name, engine) is None:
            yield Violation(
                rule="no-load", tenant=tenant.name, rack=rack.id, engine=engine,
                message=f"{group.role} {group.gpus}-GPU {group.precision} engine on {rack.system} has "
                f"no operating point for {tenant.input_tokens}:{tenant.output_tokens}-token requests",
            )


def _tenant_engines(u: PlanUsage) -> Iterator[tuple[Tenant, str, Rack, EngineGroup]]:
    """(tenant, engine group id, its rack, the group) for every pair with a positive flow in some
    scenario, sorted by tenant name and group id."""
    for name, engine in sorted({(tenant, engine) for tenant, _, engine in u.flows}):
        rack, group = u.groups[engine]
        yield u.instance.tenant(name), engine, rack, group


# -- service level ------------------------------------------------------------------


def _slo(u: PlanUsage) -> Iterator[Violation]:
    """Each aggregated group a tenant uses, and each (prefill, decode) pair it uses in one
    scenario (a request may take any pair), must meet its promises (``meets_slo``)."""
    pairs: set[tuple[str, str | None, str | None]] = set()
    used: dict[tuple[str, int], dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for tenant, s, engine in u.flows:
        used[(tenant, s)][u.groups[engine][1].role].append(engine)
    for (tenant, _), by_role in used.items():
        pairs.update((tenant, engine, None) for engine in by_role["aggregated"])
        if by_role["prefill"] or by_role["decode"]:
            prefills, decodes = by_role["prefill"] or [None], by_role["decode"] or [None]
            pairs.update((tenant, p, d) for p in prefills for d in decodes)
    for name, prefill_or_agg, decode in sorted(pairs, key=lambda x: (x[0], x[1] or "", x[2] or "")):
        engines = [e for e in (prefill_or_agg, decode) if e is not None]
        loads = [u.load(name, e) for e in engines]
        if any(load is None for load in loads):
            continue  # reported by no-load / model / unknown-reference
        tenant = u.instance.tenant(name)
        if meets_slo(tenant, *loads):  # type: ignore[arg-type]
            continue
        ttft = sum(load.ttft_s for load in loads)  # type: ignore[union-attr]
        speed = min(load.tokens_per_s_per_user for load in loads)  # type: ignore[union-attr]
        last = engines[-1]
        common = {"rule": "slo", "tenant": name, "rack": u.groups[last][0].id, "engine": last}
        where = " + ".join(engines)
        if ttft > tenant.ttft_s:
            yield Violation(
                **common, amount=ttft - tenant.ttft_s, unit="s",
                message=f"{where}: TTFT {ttft:.4g} s, promised {tenant.ttft_s:.4g} s",
            )
        if speed < tenant.min_tokens_per_s_per_user:
            yield Violation(
                **common, amount=tenant.min_tokens_per_s_per_user - speed, unit="tokens/s/user",
                message=f"{where}: interactivity {speed:.4g} tokens/s/user, promised "
                f"{tenant.min_tokens_per_s_per_user:.4g}",
            )


# -- engine capacity ----------------------------------------------------------------


def _capacity_time(u: PlanUsage) -> Iterator[Violation]:
    for engine, (rack, group) in u.groups.items():
        for s in range(u.instance.num_scenarios):
            used = u.time_used(engine, s)
            if exceeds(used, group.count):
                yield Violation(
                    rule="capacity-time", rack=rack.id, engine=engine, scenario=s,
                    amount=used - group.count, unit="replica-seconds/s",
                    message=f"load {used:.6g} replica-seconds/s on {group.count} replica(s)",
                )


def _capacity_kv(u: PlanUsage) -> Iterator[Violation]:
    for engine, (rack, _) in u.groups.items():
        capacity = u.kv_capacity(engine)
        if capacity is None or math.isinf(capacity):
            continue
        for s in range(u.instance.num_scenarios):
            used = u.kv_used(engine, s)
            if exceeds(used, capacity):
                yield Violation(
                    rule="capacity-kv", rack=rack.id, engine=engine, scenario=s,
                    amount=(used - capacity) / 1e9, unit="GB",
                    message=f"KV cache {used / 1e9:.6g} GB in {capacity / 1e9:.6g} GB",
                )


# -- racks, power, inventory --------------------------------------------------------


def _known_racks(u: PlanUsage) -> list[Rack]:
    """Racks whose system the instance knows (others are reported as unknown references)."""
    return [rack for rack in u.plan.racks if u.system(rack) is not None]


def _nvlink_domain(u: PlanUsage) -> Iterator[Violation]:
    for rack in _known_racks(u):
        rack_gpus = u.rack_gpus(rack)
        domain = domain_gpus(u.system(rack), rack_gpus)  # type: ignore[arg-type]
        too_big = [group for group in rack.engines if group.gpus > domain]
        for group in too_big:
            yield Violation(
                rule="nvlink-domain", rack=rack.id, engine=group.id, amount=group.gpus - domain,
                unit="GPUs", message=f"{group.gpus}-GPU replica, NVLink domains of {domain} GPUs",
            )
        fits_rack = not too_big and sum(group.gpus * group.count for group in rack.engines) <= rack_gpus
        replicas = [group.gpus for group in rack.engines for _ in range(group.count)] if fits_rack else []
        if fits_rack and pack_into_domains(replicas, rack_gpus, domain) is None:  # at most rack_gpus replicas
            yield Violation(
                rule="nvlink-domain", rack=rack.id,
                message=f"replicas of {sorted(replicas, reverse=True)} GPUs do not pack into "
                f"{rack_gpus // domain} NVLink domains of {domain} GPUs",
            )


def _rack_gpus(u: PlanUsage) -> Iterator[Violation]:
    for rack in _known_racks(u):
        occupied, capacity = u.occupied_gpus(rack), u.rack_gpus(rack)
        if occupied > capacity:
            yield Violation(
                rule="rack-gpus", rack=rack.id, amount=occupied - capacity, unit="GPUs",
                message=f"engines occupy {occupied} GPUs of {capacity}",
            )


def _rack_power(u: PlanUsage) -> Iterator[Violation]:
    for rack in _known_racks(u):
        entry = u.fleet_entry(rack)
        if entry is None or entry.rack_power_kw is None:
            continue
        kw = it_kw(u.system(rack), u.occupied_gpus(rack))  # type: ignore[arg-type]
        if exceeds(kw, entry.rack_power_kw):
            yield Violation(
                rule="rack-power", rack=rack.id, amount=kw - entry.rack_power_kw, unit="kW",
                message=f"IT power {kw:.6g} kW over the {entry.rack_power_kw:.6g} kW cap",
            )


def _site_power(u: PlanUsage) -> Iterator[Violation]:
    kw: dict[str, float] = defaultdict(float)
    for rack in _known_racks(u):
        kw[rack.site] += allin_kw(u.system(rack), u.rack_gpus(rack))  # type: ignore[arg-type]
    for site in u.instance.sites:
        if site.power_mw is not None and exceeds(kw[site.name], site.power_mw * 1000):
            yield Violation(
                rule="site-power", site=site.name, unit="kW",
                amount=kw[site.name] - site.power_mw * 1000,
                message=f"site '{site.name}': racks provision {kw[site.name]:.6g} kW of "
                f"{site.power_mw * 1000:.6g} kW",
            )


def _inventory(u: PlanUsage) -> Iterator[Violation]:
    opened = Counter((rack.site, rack.system) for rack in u.plan.racks)
    for entry in u.instance.fleet:
        n = opened[(entry.site, entry.system)]
        if entry.max_racks is not None and n > entry.max_racks:
            yield Violation(
                rule="inventory", site=entry.site, amount=n - entry.max_racks, unit="racks",
                message=f"{n} {entry.system} racks at '{entry.site}', max_racks {entry.max_racks}",
            )


# -- isolation, residency, spread ---------------------------------------------------


def _dedicated(u: PlanUsage) -> Iterator[Violation]:
    for engine, (rack, _) in u.groups.items():
        tenants = u.tenants_on(engine)
        if len(tenants) < 2:
            continue
        for name in sorted(tenants):
            if u.instance.tenant(name).isolation == "dedicated":
                others = ", ".join(sorted(tenants - {name}))
                yield Violation(
                    rule="dedicated", tenant=name, rack=rack.id, engine=engine,
                    message=f"dedicated engine group also carries {others}",
                )


def _dedicated_rack(u: PlanUsage) -> Iterator[Violation]:
    for rack in u.plan.racks:
        tenants = set().union(*(u.tenants_on(group.id) for group in rack.engines))
        if len(tenants) < 2:
            continue
        for name in sorted(tenants):
            if u.instance.tenant(name).isolation == "dedicated-rack":
                others = ", ".join(sorted(tenants - {name}))
                yield Violation(
                    rule="dedicated-rack", tenant=name, rack=rack.id,
                    message=f"dedicated rack also carries {others}",
                )


def _residency(u: PlanUsage) -> Iterator[Violation]:
    seen = set()
    for tenant, _, rack, _ in _tenant_engines(u):
        allowed = u.instance.allowed_sites(tenant)
        if rack.site not in allowed and (tenant.name, rack.id) not in seen:
            seen.add((tenant.name, rack.id))
            yield Violation(
                rule="residency", tenant=tenant.name, rack=rack.id, site=rack.site,
                message=f"rack at '{rack.site}'; tenant allows {', '.join(allowed)}",
            )


def _spread(u: PlanUsage) -> Iterator[Violation]:
    per_rack: dict[tuple[str, int], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for (name, s, engine), (i, o) in u.flows.items():
        per_rack[(name, s)][u.groups[engine][0].id] += i + o
    for (name, s), racks in sorted(per_rack.items()):
        tenant = u.instance.tenant(name)
        if tenant.min_racks < 2:
            continue
        limit = sum(racks.values()) / tenant.min_racks
        for rack, tokens in sorted(racks.items()):
            if exceeds(tokens, limit):
                yield Violation(
                    rule="spread", tenant=name, rack=rack, scenario=s, amount=tokens - limit,
                    unit="tokens/s",
                    message=f"rack carries {tokens:.6g} of {sum(racks.values()):.6g} tokens/s, "
                    f"more than 1/{tenant.min_racks}",
                )


# -- disaggregated KV transfer ------------------------------------------------------


def _domain_key(u: PlanUsage, engine: str) -> str:
    """Which NVLink domain a group counts as sharing (module docstring)."""
    rack = u.groups[engine][0]
    system = u.system(rack)
    if system is not None and domain_gpus(system, u.rack_gpus(rack)) >= u.rack_gpus(rack):
        return f"rack:{rack.id}"
    return f"engine:{engine}"


def scaleout_inflow(u: PlanUsage) -> dict[tuple[str, int], float]:
    """KV bytes/s each decode group receives over the scale-out network, per scenario."""
    prefill: dict[tuple[str, int, str], float] = defaultdict(float)  # requests/s by domain
    decode: dict[tuple[str, int, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for (name, s, engine), (i, o) in u.flows.items():
        tenant = u.instance.tenant(name)
        role = u.groups[engine][1].role
        if role == "prefill":
            prefill[(name, s, _domain_key(u, engine))] += i / tenant.input_tokens
        elif role == "decode":
            decode[(name, s, _domain_key(u, engine))][engine] += o / tenant.output_tokens
    inflow: dict[tuple[str, int], float] = defaultdict(float)
    for (name, s, domain), groups in decode.items():
        tenant = u.instance.tenant(name)
        total = sum(groups.values())
        remote_fraction = 1 - min(prefill.get((name, s, domain), 0.0), total) / total
        for engine, requests in groups.items():
            if u.resolvable(engine):
                per_token = u.performance.kv_bytes_per_token(u.config(engine))
                inflow[(engine, s)] += requests * remote_fraction * tenant.input_tokens * per_token
    return inflow


def _kv_transfer(u: PlanUsage) -> Iterator[Violation]:
    for (engine, s), bytes_per_s in sorted(scaleout_inflow(u).items()):
        rack, group = u.groups[engine]
        system = u.system(rack)
        bandwidth = scaleout_bytes_per_s(system, group.count * group.gpus)  # type: ignore[arg-type]
        if exceeds(bytes_per_s, bandwidth):
            yield Violation(
                rule="kv-transfer", rack=rack.id, engine=engine, scenario=s,
                amount=(bytes_per_s - bandwidth) / 1e9, unit="GB/s",
                message=f"KV arriving over scale-out {bytes_per_s / 1e9:.6g} GB/s, bandwidth "
                f"{bandwidth / 1e9:.6g} GB/s",
            )


# -- failure survival ---------------------------------------------------------------


def _survive(u: PlanUsage) -> Iterator[Violation]:
    """Per failure and survive tenant left short, its worst scenario."""
    promised = [t for t in u.instance.tenants if t.survive != "none"]
    if not promised:
        return
    kinds: tuple[FailureKind, ...] = ("rack", "site") if any(t.survive == "site" for t in promised) else ("rack",)
    worst: dict[tuple[str, str, str], tuple[float, int, float]] = {}
    for o in stress(u.instance, u.plan, kinds, u.performance, promised_only=True):
        key = (o.failure.kind, o.failure.name, o.tenant)
        if not o.kept and (key not in worst or o.required - o.served > worst[key][0]):
            worst[key] = (o.required - o.served, o.scenario, o.required)
    for (kind, name, tenant), (short, s, required) in worst.items():
        yield Violation(
            rule="survive", tenant=tenant, scenario=s, amount=short, unit="requests/s",
            **({"rack": name} if kind == "rack" else {"site": name}),
            message=f"after losing {kind} '{name}' re-routing serves {required - short:.6g} of the "
            f"{required:.6g} requests/s promised",
        )


_RULE_CHECKS: tuple[Check, ...] = (
    _instance_hash,
    _duplicate_ids,
    _unknown_references,
    _fleet,
    _demand,
    _overrouted,
    _roles,
    _model,
    _precision,
    _no_load,
    _slo,
    _capacity_time,
    _capacity_kv,
    _nvlink_domain,
    _rack_gpus,
    _rack_power,
    _site_power,
    _inventory,
    _dedicated,
    _dedicated_rack,
    _residency,
    _spread,
    _kv_transfer,
    _survive,
    _idle_engines,
)
