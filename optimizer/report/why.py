"""Why a tenant's $/Mtok stands out: one line for each tenant at least 2x from the plan's.

A tenant's $/Mtok is the product of two factors, each compared with the plan's own:

- **busy $/Mtok**: what its tokens cost on its engines while they are busy
  (:attr:`~optimizer.evaluate.TenantCost.busy_usd_per_hour` over its Mtok/hour). The model, the
  request shape, the promise and the system set it.
- **paid over busy**: the engine time it pays for over the engine time it keeps busy. Demand
  peaks, isolation, spreading, whole replicas and a failover reserve raise it.

The line names the factors that differ from the plan's by at least :data:`NOTABLE`, the larger first,
with the tenant's facts that drive each.
"""

from __future__ import annotations

import math

from optimizer.evaluate import Report, TenantCost
from optimizer.instance import Instance

STANDS_OUT = 2.0
"""A tenant's $/Mtok stands out at 2x the plan's or more, or at half or less (a choice: on the bundled
example's 30-s plan it names 5 of its 12 tenants, the two ends of a 58x range; docs/reports.md)."""

NOTABLE = 1.25
"""A factor is named when it is 1.25x the plan's or more, or 0.8x or less; a tenant that stands out
has at least one such factor (1.25 x 1.25 < 2)."""

PEAKY = 1.5
"""Demand peaking at 1.5x its mean or more is named among the causes of idle engine time."""


def tenant_reasons(instance: Instance, report: Report) -> dict[str, str]:
    """One line per tenant whose $/Mtok stands out (:data:`STANDS_OUT`), in the report's tenant order."""
    tokens = sum(_mtok(t) for t in report.tenants)
    busy = sum(t.busy_usd_per_hour for t in report.tenants)
    if report.usd_per_mtok is None or not tokens or busy <= 0:
        return {}
    plan_busy_per_mtok = busy / tokens
    plan_busy_share = busy / report.usd_per_hour
    lines = {}
    for cost in report.tenants:
        if cost.usd_per_mtok is None or cost.busy_usd_per_hour <= 0:
            continue
        ratio = cost.usd_per_mtok / report.usd_per_mtok
        if 1 / STANDS_OUT < ratio < STANDS_OUT:
            continue
        busy_ratio = cost.busy_usd_per_hour / _mtok(cost) / plan_busy_per_mtok
        busy_share = cost.busy_usd_per_hour / cost.usd_per_hour
        factors = [
            (busy_ratio, _busy_words(instance, cost, busy_ratio)),
            (plan_busy_share / busy_share, _idle_words(instance, cost, busy_share, plan_busy_share)),
        ]
        named = sorted((f for f in factors if not 1 / NOTABLE < f[0] < NOTABLE), key=lambda f: -abs(math.log(f[0])))
        lines[cost.tenant] = (
            f"${cost.usd_per_mtok:.4f}/Mtok, {ratio:.2g}x the plan's ${report.usd_per_mtok:.4f}: "
            + "; ".join(words for _, words in named)
        )
    return lines


def _mtok(cost: TenantCost) -> float:
    return (cost.input_tokens_per_hour + cost.output_tokens_per_hour) / 1e6


def _busy_words(instance: Instance, cost: TenantCost, busy_ratio: float) -> str:
    tenant = instance.tenant(cost.tenant)
    return (
        f"its tokens cost {busy_ratio:.2g}x the plan's on busy engines ({tenant.model}: "
        f"{instance.model(tenant.model).active_params_b:g}B active parameters, "
        f"{tenant.input_tokens:,} in / {tenant.output_tokens:,} out per request, "
        f"{tenant.min_tokens_per_s_per_user:g} tokens/s per user, TTFT {tenant.ttft_s:g} s)"
    )


def _idle_words(instance: Instance, cost: TenantCost, busy_share: float, plan_busy_share: float) -> str:
    tenant = instance.tenant(cost.tenant)
    words = f"its engines are busy {busy_share:.0%} of the time it pays for (plan {plan_busy_share:.0%})"
    if busy_share > plan_busy_share:
        return words
    weights = instance.weights
    mean = sum(w * tenant.demand(s) for s, w in enumerate(weights))
    peak = max(tenant.demand(s) for s in range(len(weights)))
    causes = [
        {"dedicated": "engines of its own", "dedicated-rack": "racks of its own"}.get(tenant.isolation, ""),
        f"capacity to survive a {tenant.survive} failure" if tenant.survive != "none" else "",
        f"spread over at least {tenant.min_racks} racks" if tenant.min_racks > 1 else "",
        f"demand peaking at {peak / mean:.2g}x its mean" if mean > 0 and peak / mean >= PEAKY else "",
    ]
    named = [c for c in causes if c]
    return words + (f": {', '.join(named)}" if named else "")
