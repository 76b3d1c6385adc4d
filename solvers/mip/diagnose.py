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

from optimizer.result import Unserved
from solvers.mip.backend import BackendResult, Settings
from solvers.mip.formulation import RELAXABLE, Formulation, rebuild
from solvers.mip.reconstruct import unserved_by_tenant

logger = logging.getLogger(__name__)

Backend = Callable[[Formulation, Settings], BackendResult]

REASONS = {
    "inventory": "inventory: the racks it needs exceed max_racks at its allowed sites",
    "site-power": "site power: the racks it needs exceed the power budget of its allowed sites",
    "isolation": "isolation: its {isolation} engines or racks do not fit the racks and power left",
    "residency": "residency: its allowed sites ({sites}) cannot hold it",
    "spread": "spread: min_racks = {min_racks} cannot be met with the racks available",
    "survive": "survive: the reserve its survive = {survive} promise needs does not fit the racks available",
}


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
            reason = f.no_candidate[name]
        elif reasons[name]:
            reason = "; ".join(
                REASONS[family].format(
                    isolation=tenant.isolation,
                    sites=", ".join(f.instance.allowed_sites(tenant)),
                    min_racks=tenant.min_racks,
                    survive=tenant.survive,
                )
                for family in reasons[name]
            )
        elif name not in left:
            reason = "inventory, site power, isolation, residency and spread together leave no room for it"
        else:
            reason = "no engine meeting its SLO fits the racks (rack power cap) at its allowed sites"
        found.append(Unserved(tenant=name, reason=reason, requests_per_s=peak))
    return tuple(found)
