"""The checker: for each rule, a plan breaking it is caught by name beside a plan that keeps it.

Instances and plans come from ``plan_fixtures`` (its docstring gives the
capacities): one aggregated gpt-oss-120b replica serves 2 requests/s of the
tenants' 3000:1000 shape; ``acme`` sends 3 requests/s, ``bolt`` 1.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import pytest
from plan_fixtures import (
    KvPerformance,
    agg,
    decode,
    disaggregated_plan,
    make_plan,
    pooled_plan,
    rack,
    route,
    shop,
    shop_data,
    two_racks_plan,
)

from optimizer.check import REL_TOL, RULES, check
from optimizer.instance import Instance, parse_instance
from optimizer.performance import PerformanceModel
from optimizer.plan import EngineGroup, Plan, Route


class Case(NamedTuple):
    instance: Instance
    good: Plan
    bad: Plan
    performance: type[PerformanceModel] = PerformanceModel
    good_instance: Instance | None = None
    """what ``good`` is checked against, when the rule lives in the instance (default: ``instance``)"""


def _with_data(change: Callable[[dict], None]) -> Instance:
    data = shop_data()
    change(data)
    return parse_instance(data)


def _pooled_with(instance: Instance, *extra_racks, routes=None) -> Plan:
    base = pooled_plan(instance)
    return make_plan(instance, [*base.racks, *extra_racks], list(routes or base.routes))


def instance_hash() -> Case:
    instance = shop()
    good = pooled_plan(instance)
    return Case(instance, good, good.model_copy(update={"instance_sha256": "0" * 64}))


def _reserve(group: EngineGroup) -> EngineGroup:
    return group.model_copy(update={"purpose": "reserve"})


def duplicate_id() -> Case:
    instance = shop()
    return Case(
        instance,
        _pooled_with(instance, rack("r2", _reserve(agg("spare", 1)))),
        _pooled_with(instance, rack("r2", agg("pool", 1))),
    )


def unknown_reference() -> Case:
    instance = shop()
    good = pooled_plan(instance)
    bad = make_plan(instance, list(good.racks), [*good.routes, route("acme", "nowhere", 1.0)])
    return Case(instance, good, bad)


def fleet() -> Case:
    # slow-nvl72 is in the fleet at east only
    instance = shop()
    return Case(
        instance,
        _pooled_with(instance, rack("n1", system="slow-nvl72", site="east")),
        _pooled_with(instance, rack("n1", system="slow-nvl72", site="west")),
    )


def demand() -> Case:
    instance = shop()
    routes = [route("acme", "pool", 2.0), route("bolt", "pool", 1.0)]
    bad = make_plan(instance, [rack("r1", agg("pool", 2))], routes)
    return Case(instance, pooled_plan(instance), bad)


def overrouted() -> Case:
    # three replicas hold 6 requests/s: 3.5 + 1 fits, but acme asks for only 3
    instance = shop()
    racks = [rack("r1", agg("pool", 3))]
    return Case(
        instance,
        make_plan(instance, racks, [route("acme", "pool", 3.0), route("bolt", "pool", 1.0)]),
        make_plan(instance, racks, [route("acme", "pool", 3.5), route("bolt", "pool", 1.0)]),
    )


def role() -> Case:
    # acme's prefill route also carries its 3000 output tokens/s
    instance = shop()
    good = disaggregated_plan(instance)
    wrong = Route(
        tenant="acme", scenario=0, engine="pre", input_tokens_per_s=9000, output_tokens_per_s=3000
    )
    return Case(instance, good, make_plan(instance, list(good.racks), [wrong, *good.routes[1:]]))


def aggregated_off_ratio() -> Case:
    # whole requests: 9000 input tokens/s (3 requests/s) come with 3000 output, not 2000 + 1000 elsewhere
    instance = shop()
    racks = [rack("r1", agg("pool", 2)), rack("n1", decode("dec", 1), system="slow-nvl72")]
    routes = [
        Route(
            tenant="acme", scenario=0, engine="pool", input_tokens_per_s=9000, output_tokens_per_s=2000
        ),
        route("acme", "dec", 1.0, "decode"),
        route("bolt", "pool", 1.0),
    ]
    return Case(instance, pooled_plan(instance), make_plan(instance, racks, routes))


def _acme_third_request_on(instance: Instance, odd: EngineGroup) -> Case:
    """acme sends 2 of its 3 requests/s to the shared pool and the third to ``odd``; bolt uses the pool."""
    bad = make_plan(
        instance,
        [rack("r1", agg("pool", 2), odd)],
        [route("acme", "pool", 2.0), route("acme", odd.id, 1.0), route("bolt", "pool", 1.0)],
    )
    return Case(instance, pooled_plan(instance), bad)


def model() -> Case:
    # acme's third request/s goes to a Llama engine
    return _acme_third_request_on(shop(), agg("llama", 1, model="llama-3.3-70b"))


def precision() -> Case:
    # acme accepts fp8 weights only; a bf16 replica (profiled, so it has a load) breaks that
    return _acme_third_request_on(shop(acme={"precisions": ["fp8"]}), agg("bf16", 1, precision="bf16"))


def no_load() -> Case:
    # no profile measures fp4 on hgx-h200, and performance = "profiles"
    return _acme_third_request_on(shop(), agg("fp4", 1, precision="fp4"))


def slo_ttft() -> Case:
    # the aggregated engine's TTFT is 0.5 s: a promise of 0.5 s holds, 0.45 s does not
    return _two_instances(shop(acme={"ttft_s": 0.5}), shop(acme={"ttft_s": 0.45}), pooled_plan)


def slo_interactivity() -> Case:
    # the engines run at 100 tokens/s/user: a promise of 100 holds, 120 does not
    return _two_instances(
        shop(bolt={"min_tokens_per_s_per_user": 100.0}),
        shop(bolt={"min_tokens_per_s_per_user": 120.0}),
        pooled_plan,
    )


def slo_disaggregated() -> Case:
    # prefill TTFT 0.4 s + decode 0 s: a promise of 0.4 s holds, 0.35 s does not
    return _two_instances(shop(acme={"ttft_s": 0.4}), shop(acme={"ttft_s": 0.35}), disaggregated_plan)


def _two_instances(good: Instance, bad: Instance, plan: Callable[[Instance], Plan]) -> Case:
    """A case whose rule lives in the instance: the same plan checked against each."""
    return Case(bad, plan(good), plan(bad), good_instance=good)


def capacity_time() -> Case:
    # 4 requests/s need 2 replicas
    instance = shop()
    bad = make_plan(instance, [rack("r1", agg("pool", 1))], list(pooled_plan(instance).routes))
    return Case(instance, pooled_plan(instance), bad)


def capacity_kv() -> Case:
    # 4000 output tokens/s x 0.6 MB = 2.4 GB of KV: 3 replicas hold 3 GB, 2 hold 2 GB
    # (2 replicas have the time: 16000 tokens/s x 1/8000 s = 2 replica-seconds/s)
    instance = shop()
    routes = list(pooled_plan(instance).routes)
    good = make_plan(instance, [rack("r1", agg("pool", 3))], routes)
    return Case(instance, good, pooled_plan(instance), KvPerformance)


def nvlink_domain_engine() -> Case:
    # an idle 16-GPU replica cannot sit in an 8-GPU HGX domain; two 8-GPU replicas can (idle
    # capacity: labelled reserve in the good plan, so the checker accepts it without a warning)
    instance = shop()
    return Case(instance, _pooled_with(instance, rack("r2", _reserve(agg("big", 2)))),
                _pooled_with(instance, rack("r2", agg("big", 1, gpus=16))))


def nvlink_domain_packing() -> Case:
    # four idle 6-GPU replicas leave 2 GPUs per 8-GPU domain: a 2-GPU replica fits, a 4-GPU one
    # does not although 28 GPUs <= 32
    instance = shop()
    return Case(
        instance,
        _pooled_with(instance, rack("r2", _reserve(agg("six", 4, gpus=6)), _reserve(agg("two", 1, gpus=2)))),
        _pooled_with(instance, rack("r2", agg("six", 4, gpus=6), agg("four", 1, gpus=4))),
    )


def rack_gpus() -> Case:
    # 16 GPUs serve; 16 more idle GPUs fill the 32-GPU rack, 24 overfill it
    instance = shop()
    routes = list(pooled_plan(instance).routes)
    return Case(
        instance,
        make_plan(instance, [rack("r1", agg("pool", 2), _reserve(agg("idle", 2)))], routes),
        make_plan(instance, [rack("r1", agg("pool", 2), agg("idle", 3))], routes),
    )


def rack_power() -> Case:
    # cap 20.4 kW = 16 occupied GPUs x 1.275 kW; one more idle GPU draws 21.675 kW
    def cap(data):
        data["fleet"][0]["rack_power_kw"] = 20.4

    instance = _with_data(cap)
    routes = list(pooled_plan(instance).routes)
    return Case(
        instance,
        pooled_plan(instance),
        make_plan(instance, [rack("r1", agg("pool", 2), agg("one", 1, gpus=1))], routes),
    )


def site_power() -> Case:
    # east budget 60 kW: one hgx-h200 rack provisions 32 x 1.73 = 55.36 kW, two 110.72 kW
    def budget(data):
        data["sites"][0]["power_mw"] = 0.06

    instance = _with_data(budget)
    return Case(instance, pooled_plan(instance), _pooled_with(instance, rack("r2")))


def inventory() -> Case:
    def limit(data):
        data["fleet"][0]["max_racks"] = 1

    instance = _with_data(limit)
    return Case(instance, pooled_plan(instance), _pooled_with(instance, rack("r2")))


def dedicated() -> Case:
    # bolt is dedicated: its own replica beside acme's two is fine, sharing acme's pool is not
    instance = shop(bolt={"isolation": "dedicated"})
    good = make_plan(
        instance,
        [rack("r1", agg("pool", 2), agg("bolt", 1))],
        [route("acme", "pool", 3.0), route("bolt", "bolt", 1.0)],
    )
    return Case(instance, good, pooled_plan(instance))


def dedicated_rack() -> Case:
    # bolt needs a rack of its own: its replica in acme's rack breaks that
    instance = shop(bolt={"isolation": "dedicated-rack"})
    routes = [route("acme", "pool", 3.0), route("bolt", "bolt", 1.0)]
    return Case(
        instance,
        make_plan(instance, [rack("r1", agg("pool", 2)), rack("r2", agg("bolt", 1))], routes),
        make_plan(instance, [rack("r1", agg("pool", 2), agg("bolt", 1))], routes),
    )


def residency() -> Case:
    instance = shop(bolt={"sites": ["west"]})
    routes = [route("acme", "pool", 3.0), route("bolt", "bolt", 1.0)]
    return Case(
        instance,
        make_plan(
            instance, [rack("r1", agg("pool", 2)), rack("w1", agg("bolt", 1), site="west")], routes
        ),
        make_plan(instance, [rack("r1", agg("pool", 2), agg("bolt", 1))], routes),
    )


def spread() -> Case:
    # acme over at least 2 racks: 1.5 + 1.5 requests/s keeps each rack at half its tokens
    instance = shop(acme={"min_racks": 2})
    return Case(instance, two_racks_plan(instance, 1), pooled_plan(instance))


def kv_transfer() -> Case:
    # prefill and decode in one NVL72 domain move KV over NVLink; in two racks the KV of
    # 4 requests/s x 3000 tokens x 18432 B (gpt-oss fp8 KV) = 221.184 MB/s crosses NICs of
    # 4 GPUs x 0.1 Gbit/s / 8 = 50 MB/s
    instance = shop()
    return Case(instance, disaggregated_plan(instance), disaggregated_plan(instance, split=True))


def survive() -> Case:
    # acme (3 requests/s) survives a rack loss when each of its two racks alone holds 2
    # replicas = 4 requests/s; on one rack, losing it serves none of the 3
    instance = shop(acme={"survive": "rack"})
    return Case(instance, two_racks_plan(instance, 2), pooled_plan(instance))


def idle_engine() -> Case:
    # a spare replica no route uses: a warning unless the plan labels it reserve
    instance = shop()
    spare = agg("spare", 1)
    return Case(instance, _pooled_with(instance, rack("r2", _reserve(spare))), _pooled_with(instance, rack("r2", spare)))


CASES: dict[str, tuple[str, Callable[[], Case]]] = {
    "instance-hash": ("instance-hash", instance_hash),
    "duplicate-id": ("duplicate-id", duplicate_id),
    "unknown-reference": ("unknown-reference", unknown_reference),
    "fleet": ("fleet", fleet),
    "demand": ("demand", demand),
    "overrouted": ("overrouted", overrouted),
    "role": ("role", role),
    "role-aggregated-ratio": ("role", aggregated_off_ratio),
    "model": ("model", model),
    "precision": ("precision", precision),
    "no-load": ("no-load", no_load),
    "slo-ttft": ("slo", slo_ttft),
    "slo-interactivity": ("slo", slo_interactivity),
    "slo-disaggregated": ("slo", slo_disaggregated),
    "capacity-time": ("capacity-time", capacity_time),
    "capacity-kv": ("capacity-kv", capacity_kv),
    "nvlink-domain-engine": ("nvlink-domain", nvlink_domain_engine),
    "nvlink-domain-packing": ("nvlink-domain", nvlink_domain_packing),
    "rack-gpus": ("rack-gpus", rack_gpus),
    "rack-power": ("rack-power", rack_power),
    "site-power": ("site-power", site_power),
    "inventory": ("inventory", inventory),
    "dedicated": ("dedicated", dedicated),
    "dedicated-rack": ("dedicated-rack", dedicated_rack),
    "residency": ("residency", residency),
    "spread": ("spread", spread),
    "kv-transfer": ("kv-transfer", kv_transfer),
    "survive": ("survive", survive),
    "idle-engine": ("idle-engine", idle_engine),
}


def test_every_rule_has_a_case():
    assert {rule for rule, _ in CASES.values()} == set(RULES)


@pytest.mark.parametrize("name", list(CASES))
def test_rule_caught_by_name_beside_a_plan_that_keeps_it(name):
    rule, build = CASES[name]
    case = build()
    good_instance = case.good_instance or case.instance
    assert check(good_instance, case.good, case.performance(good_instance)) == []
    found = check(case.instance, case.bad, case.performance(case.instance))
    assert rule in {v.rule for v in found}, found


def test_violations_name_what_they_concern_and_by_how_much():
    by_rule = {}
    for name in ("capacity-time", "kv-transfer", "spread", "site-power", "survive"):
        case = CASES[name][1]()
        by_rule[name] = {v.rule: v for v in check(case.instance, case.bad, case.performance(case.instance))}
    # 16000 tokens/s x 1/8000 s = 2 replica-seconds/s on 1 replica: 1 over
    over = by_rule["capacity-time"]["capacity-time"]
    assert (over.rack, over.engine, over.scenario, over.amount) == ("r1", "pool", 0, pytest.approx(1.0))
    # 221.184 MB/s of KV against 50 MB/s of NIC: 0.171184 GB/s over, at the decode group
    over = by_rule["kv-transfer"]["kv-transfer"]
    assert (over.engine, over.unit, over.amount) == ("dec", "GB/s", pytest.approx(0.171184))
    # acme's 12000 tokens/s all in r1 where at most 12000 / 2 may go
    over = by_rule["spread"]["spread"]
    assert (over.tenant, over.rack, over.amount) == ("acme", "r1", pytest.approx(6000.0))
    # two racks of 55.36 kW in a 60 kW budget
    over = by_rule["site-power"]["site-power"]
    assert (over.site, over.amount) == ("east", pytest.approx(2 * 55.36 - 60))
    # losing r1, the only rack, leaves acme 0 of its 3 requests/s
    over = by_rule["survive"]["survive"]
    assert (over.tenant, over.rack, over.scenario, over.amount) == ("acme", "r1", 0, pytest.approx(3.0))


@pytest.mark.parametrize("shortfall, caught", [(0.5 * REL_TOL, False), (2 * REL_TOL, True)])
def test_relative_tolerance(shortfall, caught):
    # acme's 3 requests/s routed short by a relative `shortfall`
    instance = shop()
    plan = make_plan(
        instance,
        [rack("r1", agg("pool", 2))],
        [route("acme", "pool", 3.0 * (1 - shortfall)), route("bolt", "pool", 1.0)],
    )
    assert ("demand" in {v.rule for v in check(instance, plan)}) is caught
