"""The evaluator prices hand-built plans; every expected figure is derived in a comment.

Capacities (``plan_fixtures``): an aggregated gpt-oss-120b replica (8 GPUs of
hgx-h200) serves 8000 tokens/s = 2 requests/s of 3000:1000; ``acme`` sends 3
requests/s (12000 tokens/s, 1.5 replicas), ``bolt`` 1 (4000 tokens/s, 0.5
replicas). An hgx-h200 rack: 32 GPUs x $2.00 = $64/hour, 32 x 1.73 kW = 55.36 kW
provisioned. A slow-nvl72 rack: 72 x $2.00 = $144/hour.
"""

from __future__ import annotations

import json

import pytest
from plan_fixtures import (
    KvPerformance,
    agg,
    disaggregated_plan,
    make_plan,
    pooled_plan,
    rack,
    route,
    shop,
    shop_data,
)

from optimizer import Report, check, evaluate
from optimizer.cli import main
from optimizer.instance import InstanceError, parse_instance
from optimizer.report.text import report_text

approx = pytest.approx


def test_pooled_plan_costs_its_whole_rack():
    report = evaluate(shop(), pooled_plan(shop()))
    # one rack of 32 GPUs x $2 = $64/hour, though only 16 GPUs run engines
    assert report.usd_per_hour == approx(64.0)
    assert (report.num_racks, report.gpus, report.gpus_stranded) == (1, 32, 16)
    # 16000 tokens/s x 3600 = 57.6 Mtok/hour -> $64 / 57.6 = $1.1111/Mtok;
    # output alone 4000 x 3600 = 14.4 M/hour -> $4.4444 per M output tokens
    assert report.input_tokens_per_hour == approx(43.2e6)
    assert report.output_tokens_per_hour == approx(14.4e6)
    assert report.usd_per_mtok == approx(64 / 57.6)
    assert report.usd_per_m_output_tokens == approx(64 / 14.4)
    # no energy price: all-in, no split; no tenant price: no revenue, no ROI
    assert report.capital_usd_per_hour is None and report.energy_usd_per_hour is None
    assert "all-in" in report.convention and "no split" in report.convention
    assert report.roi is None and report.revenue_usd_per_year is None
    # 16000 tokens/s over 55.36 kW = 0.05536 MW
    assert report.provisioned_kw == approx(55.36)
    assert report.tokens_per_s_per_mw == approx(16000 / 0.05536)
    assert report.output_tokens_per_s_per_mw == approx(4000 / 0.05536)


def test_pooled_plan_money_subtotals_come_from_the_evaluator():
    report = evaluate(shop(), pooled_plan(shop()))
    # $64/hour over 32 paid GPUs = $2/GPU-hour; 16 of the rack's 32 GPUs stranded: $64 x 16/32 = $32/hour
    assert report.usd_per_gpu_hour == approx(2.0)
    assert report.stranded_usd_per_hour == approx(32.0)
    # one system, one site: each share of the plan's $/Mtok is the whole $64 / 57.6 Mtok/hour
    assert [s.usd_per_plan_mtok for s in (*report.systems, *report.sites)] == approx([64 / 57.6] * 2)
    # a $48/hour bound over the same 57.6 Mtok/hour
    assert report.usd_per_mtok_of(48.0) == approx(48 / 57.6)
    # acme ($48) and bolt ($16) have no SLO class (''): $64 over their 57.6 Mtok/hour
    assert report.usd_per_mtok_by_slo_class == approx({"": 64 / 57.6})


def test_pooled_plan_splits_cost_by_engine_seconds():
    report = evaluate(shop(), pooled_plan(shop()))
    tenants = {t.tenant: t for t in report.tenants}
    # the rack's $64 goes to its one loaded group; acme uses 1.5 of its 2 replica-seconds/s
    assert tenants["acme"].usd_per_hour == approx(48.0)
    assert tenants["bolt"].usd_per_hour == approx(16.0)
    # $48 / (12000 x 3600 / 1e6 = 43.2 Mtok/hour)
    assert tenants["acme"].usd_per_mtok == approx(48 / 43.2)
    assert tenants["acme"].margin is None


def test_pooled_plan_utilisation_and_power():
    report = evaluate(shop(), pooled_plan(shop()))
    (engine,) = report.engines
    (rack_use,) = report.racks
    # 2 replica-seconds/s on 2 replicas; the rack: 16 busy GPUs of 32
    assert engine.time_utilisation == approx(1.0)
    assert engine.kv_utilisation is None  # profiles do not model KV memory
    assert engine.tenants == ("acme", "bolt")
    assert engine.usd_per_hour == approx(32.0)  # 16 GPUs x $2
    assert rack_use.time_utilisation == approx(0.5)
    # IT power of 16 occupied GPUs x 1.275 kW
    assert rack_use.it_kw == approx(20.4)
    assert rack_use.gpus_stranded == 16


def test_scenarios_are_weighted_and_prices_give_margin_and_roi():
    data = shop_data()
    data["scenario_weights"] = [1.0, 3.0]  # normalised 0.25, 0.75
    data["economics"] = {"energy_usd_per_kwh": 0.1}
    # acme: 3, then 1.5 requests/s, priced at $2/Mtok
    data["tenants"][0].update(demand_profile=[1.0, 0.5], price_usd_per_mtok=2.0)
    instance = parse_instance(data)
    plan = make_plan(instance, [rack("r1", agg("pool", 2))], [
        route("acme", "pool", 3.0, scenario=0), route("bolt", "pool", 1.0, scenario=0),
        route("acme", "pool", 1.5, scenario=1), route("bolt", "pool", 1.0, scenario=1),
    ])
    assert check(instance, plan) == []
    report = evaluate(instance, plan)
    # tokens/s: scenario 0 16000, scenario 1 6000 + 4000 = 10000;
    # mean 0.25 x 16000 + 0.75 x 10000 = 11500
    assert [s.input_tokens_per_hour + s.output_tokens_per_hour for s in report.scenarios] == approx(
        [16000 * 3600, 10000 * 3600]
    )
    assert report.peak_scenario == 0
    assert report.usd_per_mtok == approx(64 / 41.4)  # 11500 x 3600 = 41.4 Mtok/hour
    # output: 0.25 x 4000 + 0.75 x 2500 = 2875 tokens/s = 10.35 M/hour
    assert report.usd_per_m_output_tokens == approx(64 / 10.35)
    # energy: 32 GPUs x 1.73 kW x $0.1/kWh = $5.536/hour; capital + hosting the rest
    assert report.energy_usd_per_hour == approx(5.536)
    assert report.capital_usd_per_hour == approx(64 - 5.536)
    assert "0.1 $/kWh" in report.convention
    # engine-seconds: acme 0.25 x 1.5 + 0.75 x 0.75 = 0.9375, bolt 0.5: acme pays 15/23 of $64
    tenants = {t.tenant: t for t in report.tenants}
    assert tenants["acme"].usd_per_hour == approx(64 * 15 / 23)
    assert tenants["bolt"].usd_per_hour == approx(64 * 8 / 23)
    # acme: 0.25 x 12000 + 0.75 x 6000 = 7500 tokens/s = 27 Mtok/hour, at $2 = $54/hour
    assert tenants["acme"].input_tokens_per_hour + tenants["acme"].output_tokens_per_hour == approx(27e6)
    assert tenants["acme"].usd_per_mtok == approx(64 * 15 / 23 / 27)
    assert tenants["acme"].revenue_usd_per_hour == approx(54.0)
    assert tenants["acme"].margin_usd_per_hour == approx(54 - 64 * 15 / 23)
    assert tenants["acme"].margin == approx((54 - 64 * 15 / 23) / 54)
    assert tenants["bolt"].revenue_usd_per_hour is None
    # ROI over the same tenants: only acme has a price, so its $54 x 8760 revenue a year over
    # its own all-in cost 64 x 15 / 23 x 8760 a year (not the whole plan's $64, bolt's included)
    assert report.revenue_usd_per_year == approx(54 * 8760)
    assert report.priced_cost_usd_per_year == approx(64 * 15 / 23 * 8760)
    assert report.roi == approx(54 / (64 * 15 / 23))


def test_idle_groups_dedicated_engines_and_empty_racks_are_attributed_in_full():
    data = shop_data()
    carl = {"name": "carl", "requests_per_s": 0.5, "isolation": "dedicated"}
    data["tenants"].append({**data["tenants"][1], **carl})
    instance = parse_instance(data)
    plan = make_plan(
        instance,
        [rack("r1", agg("pool", 2), agg("spare", 1)), rack("r2", agg("carl", 1)), rack("r3")],
        [route("acme", "pool", 3.0), route("bolt", "pool", 1.0), route("carl", "carl", 0.5)],
    )
    assert [(v.rule, v.severity, v.engine) for v in check(instance, plan)] == [("idle-engine", "warning", "spare")]
    report = evaluate(instance, plan)
    assert report.usd_per_hour == approx(192.0)  # 3 racks x $64
    # r1: the idle 'spare' group's GPUs are paid by 'pool', the one loaded group: acme $48, bolt $16.
    # r2: carries carl alone: $64. r3 carries nothing: its $64 goes pro rata to $48 : $16 : $64,
    # i.e. acme + $24, bolt + $8, carl + $32.
    costs = {t.tenant: t.usd_per_hour for t in report.tenants}
    assert costs == approx({"acme": 72.0, "bolt": 24.0, "carl": 96.0})
    assert sum(costs.values()) == approx(report.usd_per_hour, rel=1e-12)
    assert report.gpus_stranded == 8 + 24 + 32


def test_disaggregated_plan_splits_rack_cost_over_prefill_and_decode():
    report = evaluate(shop(), disaggregated_plan(shop()))
    assert report.usd_per_hour == approx(144.0)
    assert report.usd_per_mtok == approx(144 / 57.6)
    # 4-GPU prefill and 4-GPU decode share the rack's $144: $72 each. Prefill seconds: acme
    # 9000/30000 = 0.3, bolt 0.1; decode: acme 3000/4000 = 0.75, bolt 0.25 -> acme 3/4 of each.
    costs = {t.tenant: t.usd_per_hour for t in report.tenants}
    assert costs == approx({"acme": 108.0, "bolt": 36.0})
    utilisation = {e.engine: e.time_utilisation for e in report.engines}
    assert utilisation == approx({"pre": 0.4, "dec": 1.0})
    # rack: (0.4 x 4 + 1.0 x 4 GPUs) / 72 GPUs
    assert report.racks[0].time_utilisation == approx(5.6 / 72)


def test_subtotals_per_system_and_site():
    instance = shop()
    plan = make_plan(
        instance,
        [
            rack("r1", agg("pool", 2)),
            rack("w1", agg("bolt", 1), site="west"),
            rack("n1", system="slow-nvl72"),
        ],
        [route("acme", "pool", 3.0), route("bolt", "bolt", 1.0)],
    )
    report = evaluate(instance, plan)
    assert report.usd_per_hour == approx(64 + 64 + 144)
    systems = {s.name: s for s in report.systems}
    # hgx-h200: r1 + w1, $128, all 57.6 Mtok/hour; slow-nvl72: an empty $144 rack, no tokens
    assert (systems["hgx-h200"].racks, systems["hgx-h200"].gpus) == (2, 64)
    assert systems["hgx-h200"].usd_per_mtok == approx(128 / 57.6)
    assert systems["slow-nvl72"].usd_per_mtok is None
    assert systems["slow-nvl72"].gpus_stranded == 72
    sites = {s.name: s for s in report.sites}
    # east: r1 + n1 = $208 for acme's 43.2 Mtok/hour; west: $64 for bolt's 14.4
    assert sites["east"].usd_per_hour == approx(208.0)
    assert sites["east"].usd_per_mtok == approx(208 / 43.2)
    assert sites["west"].usd_per_mtok == approx(64 / 14.4)
    assert sites["east"].provisioned_kw == approx(32 * 1.73 + 72 * 2.10)
    # the empty rack's $144 is shared pro rata to $64 : $64 -> $136 each
    assert {t.tenant: t.usd_per_hour for t in report.tenants} == approx({"acme": 136.0, "bolt": 136.0})


def test_kv_utilisation_when_the_model_charges_kv():
    instance = shop()
    plan = make_plan(instance, [rack("r1", agg("pool", 3))], list(pooled_plan(instance).routes))
    report = evaluate(instance, plan, KvPerformance(instance))
    # 4000 output tokens/s x 0.6 MB = 2.4 GB in 3 replicas x 1 GB; time 2 of 3 replica-seconds/s
    assert report.engines[0].kv_utilisation == approx(0.8)
    assert report.engines[0].time_utilisation == approx(2 / 3)
    assert report.racks[0].kv_utilisation == approx(0.8)


def test_report_is_json_and_text():
    report = evaluate(shop(), disaggregated_plan(shop()))
    assert Report.model_validate_json(report.model_dump_json()) == report
    text = report_text(report, shop())
    expected_parts = ("$144.00/hour", "$2.5000", "per system", "per site", "per tenant", "acme", "dec")
    for expected in expected_parts:
        assert expected in text


def test_plan_with_an_unknown_system_is_bad_input():
    instance = shop()
    plan = make_plan(instance, [rack("x1", system="tpu-v9")], [])
    with pytest.raises(InstanceError, match=r"racks\[0\].system: unknown system 'tpu-v9'"):
        evaluate(instance, plan)
    assert "unknown-reference" in {v.rule for v in check(instance, plan)}


# -- CLI --------------------------------------------------------------------------------


@pytest.fixture
def files(tmp_path):
    instance = shop()
    (tmp_path / "shop.json").write_text(instance.to_json())
    pooled_plan(instance).save(tmp_path / "good.json")
    short = make_plan(instance, [rack("r1", agg("pool", 1))], list(pooled_plan(instance).routes))
    short.save(tmp_path / "bad.json")
    return tmp_path


def test_cli_json_for_a_plan_that_keeps_every_rule(files, capsys):
    assert main(["evaluate", str(files / "shop.json"), str(files / "good.json"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["usd_per_hour"] == approx(64.0)
    assert out["usd_per_mtok"] == approx(64 / 57.6)
    assert [t["tenant"] for t in out["tenants"]] == ["acme", "bolt"]
    assert out["violations"] == []


def test_cli_text_then_violations_and_exit_1(files, capsys):
    assert main(["evaluate", str(files / "shop.json"), str(files / "bad.json")]) == 1
    out = capsys.readouterr().out
    assert out.index("per tenant") < out.index("violations: 1 error(s)")
    assert "[capacity-time] rack r1, engine pool, scenario 0" in out


def test_cli_warnings_alone_exit_0(files, capsys):
    plan = json.loads((files / "good.json").read_text())
    plan["instance_sha256"] = "0" * 64
    (files / "stale.json").write_text(json.dumps(plan))
    assert main(["evaluate", str(files / "shop.json"), str(files / "stale.json"), "--json"]) == 0
    assert [v["rule"] for v in json.loads(capsys.readouterr().out)["violations"]] == ["instance-hash"]


def test_cli_bad_plan_file_exits_2(files, capsys):
    (files / "broken.json").write_text('{"racks": [}')
    assert main(["evaluate", str(files / "shop.json"), str(files / "broken.json")]) == 2
    assert "JSON syntax error" in capsys.readouterr().err
