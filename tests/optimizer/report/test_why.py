"""Why a tenant's $/Mtok stands out, on the shop instance (``plan_fixtures``: one aggregated
8-GPU hgx-h200 replica serves 2 requests/s; a rack is 32 GPUs x $2 = $64/hour)."""

from __future__ import annotations

import pytest
from plan_fixtures import agg, make_plan, pooled_plan, rack, route, shop

from optimizer import check, evaluate
from optimizer.report import write_report
from optimizer.report.text import report_text
from optimizer.report.why import tenant_reasons
from optimizer.result import Limit, Result, Status


def test_busy_cost_leaves_out_idle_replica_time_and_stranded_gpus():
    instance = shop()
    report = evaluate(instance, pooled_plan(instance))
    tenants = {t.tenant: t for t in report.tenants}
    # the loaded group's own 16 GPUs cost $32/hour (the other 16 are stranded) and are busy all
    # the time (2 replica-seconds/s on 2 replicas): acme keeps 1.5/2 of it busy, bolt 0.5/2
    assert tenants["acme"].busy_usd_per_hour == pytest.approx(24.0)
    assert tenants["bolt"].busy_usd_per_hour == pytest.approx(8.0)
    # both pay $2 per $1 busy, as the plan does: neither stands out
    assert tenant_reasons(instance, report) == {}


def test_a_tenant_alone_on_a_rack_it_barely_uses_is_explained_by_its_idle_engines(tmp_path):
    instance = shop(bolt={"requests_per_s": 0.5, "isolation": "dedicated"})
    plan = make_plan(instance, [rack("r1", agg("pool", 2)), rack("r2", agg("solo", 1))],
                     [route("acme", "pool", 3.0), route("bolt", "solo", 0.5)])
    assert check(instance, plan) == []
    report = evaluate(instance, plan)
    # acme: r1's $64 over 43.2 Mtok/hour = $1.4815; bolt: r2's $64 over 2000 tokens/s = 7.2 Mtok/hour
    # = $8.8889; the plan: $128 over 50.4 Mtok/hour = $2.5397, so bolt is 3.5x it, acme 0.58x (not out).
    # Busy: acme 16 GPUs x $2 x 1.5/2 = $24, bolt 8 GPUs x $2 x 0.25 = $4, plan $28 of $128 (21.9%),
    # bolt $4 of $64 (6.25%). Busy $/Mtok: bolt 4 / 7.2 = 0.556, the plan 28 / 50.4 = 0.556: the same
    # engines, so only the idle factor (21.9% / 6.25% = 3.5) is named, with its isolation.
    assert tenant_reasons(instance, report) == {"bolt": (
        "$8.8889/Mtok, 3.5x the plan's $2.5397: its engines are busy 6% of the time it pays for "
        "(plan 22%): engines of its own"
    )}
    assert "bolt: $8.8889/Mtok, 3.5x" in report_text(report, instance)
    html = write_report(instance, Result("pooled", Status.FEASIBLE, Limit.NONE, 128.0, None, 0.1, plan), tmp_path)[0]
    assert "why its $/Mtok stands out" in html.read_text() and "3.5x the plan" in html.read_text()
