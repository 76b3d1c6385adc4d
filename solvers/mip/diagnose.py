"""Why demand cannot be served: elastic solves with one constraint family relaxed at a time.

A tenant no engine configuration may serve is named with the SLO reason found
while building candidates (:attr:`Formulation.no_candidate`). For the rest, the
model is solved with unserved-demand variables, minimising unserved tokens
(the *elastic* model); each tenant left unserved there is then attributed to
every constraint family (inventory, site power, isolation, residency, spread, survive)
whose relaxation alone lets the elastic model serve it, or to their combination
when only relaxing all of them does. The relaxed models are the one solved (its shortlist and
extra configurations, :func:`~solvers.mip.formulation.rebuild`) with the family dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

from optimizer.instance import Instance, Tenant
from optimizer.result import Unserved
from solvers.mip.backend import BackendResult, Settings
from solvers.mip.formulation import RELAXABLE, Formulation, rebuild
from solvers.mip.reconstruct import unserved_by_tenant

logger = logging.getLogger(__name__)

Backend = Callable[[Formulation, Settings], BackendResult]

MAX_LISTED = 4
"""Fleet entries or sites listed by value in a reason; the rest are counted."""


def reason(instance: Instance, tenant: Tenant, families: list[str]) -> str:
    """Why ``tenant`` cannot be served, given the families whose relaxation alone lets it be: the
    one that binds, or the alternatives, each with its values (the tenant's own where it sets them,
    else other tenants': the elastic model relaxes a family for every tenant at once)."""
    sites = instance.allowed_sites(tenant)
    fleet = sorted(instance.fleet, key=lambda e: e.site not in sites)  # its own sites' first
    stock = [f"{e.system} at {e.site} {e.max_racks}" for e in fleet if e.max_racks is not None]
    budgets = [f"{s.name} {s.power_mw:g} MW" for s in sorted(instance.sites, key=lambda s: s.name not in sites)
               if s.power_mw is not None]
    limits = {
        "inventory": f"inventory (max_racks: {_listed(stock)})",
        "site-power": f"site power ({_listed(budgets)})",
        "isolation": f"isolation (its {tenant.isolation} promise)" if tenant.isolation != "shared"
        else "isolation (other tenants' engines or racks of their own)",
        "residency": f"residency (its sites {', '.join(sites)})" if tenant.sites
        else "residency (other tenants' sites)",
        "spread": f"spread (its min_racks = {tenant.min_racks})" if tenant.min_racks > 1
        else "spread (other tenants' min_racks)",
        "survive": f"survive (its reserve for a {tenant.survive} failure)" if tenant.survive != "none"
        else "survive (other tenants' failover reserves)",
    }
    named = [limits[family] for family in families]
    if len(named) == 1:
        return f"{named[0]} binds: relaxing it alone would let it be served"
    return "any one of these limits, relaxed alone, would let it be served: " + "; ".join(named)


def _listed(items: list[str]) -> str:
    shown = ", ".join(items[:MAX_LISTED])
    return shown + (f" and {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else "")


def elastic_unserved(f: Formulation, backend: Backend, settings: Settings) -> tuple[dict[str, float], BackendResult]:
    """Peak unserved requests/s per tenant in the elastic model of ``f``."""
    result = backend(f, replace(settings, objective="unserved", allow_unserved=True, hint=None, progress=None))
    if result.solution is None:
        return {t.name: t.requests_per_s for t in f.instance.tenants}, result
    return unserved_by_tenant(f, result.solution), result


def diagnose(f: Formulation, backend: Backend, settings: Settings) -> tuple[Unserved, ...]:
    """Each tenant that cannot be served, with the binding reason (module docstring).

    ``settings.time_limit`` is shared by all the elastic solves.
    """
    share = replace(settings, time_limit=settings.time_limit / (len(RELAXABLE) + 2))
    unserved, _ = elastic_unserved(f, backend, share)
    if not unserved:
        return ()
    reasons: dict[str, list[str]] = {name: [] for name in unserved if name not in f.no_candidate}
    if reasons:
        for family in RELAXABLE:
            relaxed = rebuild(f, frozenset({family}))
            left, _ = elastic_unserved(relaxed, backend, share)
            for name in reasons:
                if name not in left:
                    reasons[name].append(family)
        if any(not families for families in reasons.values()):
            everything = rebuild(f, frozenset(RELAXABLE))
            left, _ = elastic_unserved(everything, backend, share)
    found = []
    for name, peak in sorted(unserved.items()):
        tenant = f.instance.tenant(name)
        if name in f.no_candidate:
            why = f.no_candidate[name]
        elif reasons[name]:
            why = reason(f.instance, tenant, reasons[name])
        elif name not in left:
            why = "inventory, site power, isolation, residency, spread and survive together leave no room for it"
        else:
            why = "no engine meeting its SLO fits the racks (rack power cap) at its allowed sites"
        found.append(Unserved(tenant=name, reason=why, requests_per_s=peak))
    return tuple(found)
