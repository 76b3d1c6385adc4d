"""The simulator (``optimizer.simulate``, ``tenantplan simulate``) on the shop's pooled plan.

Shop capacities (``plan_fixtures``): an aggregated replica serves 2 requests/s of the
3000:1000 shape (S = 0.5 replica-seconds a request), TTFT 0.5 s, 100 tokens/s per user. A
request holds the batch D = 0.5 + 1000 / 100 = 10.5 s at a share S / D = 1/21 of a replica:
21 requests at once per replica, 42 on the pooled plan's 2 replicas (4 requests/s).
"""

from __future__ import annotations

import dataclasses
import json
import types

import numpy as np
import pytest
from plan_fixtures import agg, decode, disaggregated_plan, make_plan, pooled_plan, prefill, rack, route, shop

from optimizer.cli import main
from optimizer.performance import PerformanceModel
from optimizer.simulate import Arrivals, _Option, _Stage, simulate


def scaled(scale: float):
    """The shop with both tenants' rates times ``scale`` (acme 3, bolt 1 requests/s at 1)."""
    return shop(acme={"requests_per_s": 3.0 * scale}, bolt={"requests_per_s": 1.0 * scale})


def test_light_load_ttft_is_the_engines_own():
    # 0.4 requests/s in all: on average 0.4 x 10.5 = 4.2 requests in a batch of 42, so none
    # waits; TTFT is the operating point's 0.5 s, interactivity its 100, utilisation
    # 0.4 x 0.5 / 2 = 10%
    tenants, groups = simulate(scaled(0.1), pooled_plan(shop()), [0], 600.0, seed=3)
    for t in tenants:
        assert (t.ttft_p50_s, t.ttft_p99_s) == (pytest.approx(0.5), pytest.approx(0.5))
        assert (t.interactivity_p10, t.slo_attainment) == (100.0, 1.0)
    (pool,) = groups
    assert pool.utilisation == pytest.approx(0.10, abs=0.02) and pool.queue_max == 0


def test_overload_grows_the_queue():
    # 1.5 x 4 = 6 requests/s on 4 requests/s of engines: the backlog grows by 2 requests/s,
    # ~1,000 waiting by the end and waits of minutes; the engines run full
    tenants, (pool,) = simulate(scaled(1.5), pooled_plan(shop()), [0], 600.0, seed=3)
    assert all(t.slo_attainment < 0.1 and t.ttft_p50_s > 60 for t in tenants)
    assert pool.utilisation > 0.97 and pool.queue_max > 800


def test_same_seed_same_figures_other_seed_others():
    plan = pooled_plan(shop())
    first = simulate(scaled(0.9), plan, [0], 300.0, seed=7)
    assert simulate(scaled(0.9), plan, [0], 300.0, seed=7) == first
    assert simulate(scaled(0.9), plan, [0], 300.0, seed=8) != first


def test_bursts_lengthen_the_tail():
    # at 80% load gamma inter-arrivals of CV 4 queue far more than Poisson (CV 1)
    plan = pooled_plan(shop())
    poisson, _ = simulate(scaled(0.8), plan, [0], 600.0, seed=1)
    bursty, _ = simulate(scaled(0.8), plan, [0], 600.0, Arrivals("gamma", 4.0), seed=1)
    assert bursty[0].ttft_p99_s > 2 * poisson[0].ttft_p99_s


def test_cli_exit_0_at_light_load_1_when_attainment_falls_short(tmp_path, capsys):
    plan = tmp_path / "plan.json"
    pooled_plan(shop()).save(plan)
    light, heavy = tmp_path / "light.json", tmp_path / "heavy.json"
    light.write_text(scaled(0.1).to_json())
    heavy.write_text(scaled(1.5).to_json())
    assert main(["simulate", str(light), str(plan), "--seed", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [t["tenant"] for t in out["tenants"]] == ["acme", "bolt"] and out["meets_target"] is True
    assert {"slo_attainment", "ttft_p50_s", "ttft_p99_s"} <= set(out["tenants"][0])
    assert main(["simulate", str(heavy), str(plan), "--seed", "1"]) == 1
    assert "tenant acme, scenario 0:" in capsys.readouterr().out


@pytest.mark.parametrize("extra, problem", [
    (["--scenario", "3"], "--scenario: must be from 0 to 0"),
    (["--arrivals", "gamma:0"], "gamma:CV"),
    (["--duration", "-5"], "--duration"),
    (["--duration", "86400"], "more than 10,000,000"),  # 1,004 requests/s x 86,400 s
])
def test_cli_bad_input_exit_2(tmp_path, capsys, extra, problem):
    plan, instance = tmp_path / "plan.json", tmp_path / "shop.json"
    pooled_plan(shop()).save(plan)
    instance.write_text(shop(acme={"requests_per_s": 1003.0}).to_json())
    assert main(["simulate", str(instance), str(plan), *extra]) == 2
    err = capsys.readouterr().err
    assert problem in err and "Traceback" not in err


def test_requests_an_aggregated_engine_served_do_not_go_on_to_decode():
    # acme (3 requests/s) may take an aggregated pool or prefill then decode; bolt (1/s) the pool.
    # 4 requests/s arrive, 2,160 counted in 600 s less the 10% warm-up, each on the pool or on
    # prefill; the decode group sees the prefilled ones alone, give or take the few prefilled
    # around the warm-up's end (it once saw every acme request as well)
    instance = shop()
    plan = make_plan(instance, [rack("r1", agg("pool", 2)),
                                rack("n1", prefill("pre", 1), decode("dec", 1), system="slow-nvl72")],
                     [route("acme", "pool", 2.0), route("acme", "pre", 1.0, "prefill"),
                      route("acme", "dec", 1.0, "decode"), route("bolt", "pool", 1.0)])
    _, groups = simulate(instance, plan, [0], 600.0, seed=3)
    counts = {g.engine: g.requests for g in groups}
    assert counts["pre"] > 100 and abs(counts["dec"] - counts["pre"]) <= 5
    assert counts["pool"] + counts["pre"] == pytest.approx(2160, rel=0.1)


def test_a_tenants_arrival_cv_is_its_arrivals_unless_the_run_says_otherwise():
    # acme declares CV 4: by default it arrives in bursts (its tail far longer than under Poisson,
    # as above), and --arrivals poisson overrides every tenant's
    plan = pooled_plan(shop())
    bursty = shop(acme={"requests_per_s": 3.0 * 0.8, "arrival_cv": 4.0}, bolt={"requests_per_s": 1.0 * 0.8})
    declared, _ = simulate(bursty, plan, [0], 600.0, seed=1)
    poisson, _ = simulate(bursty, plan, [0], 600.0, Arrivals(), seed=1)
    assert poisson == simulate(scaled(0.8), plan, [0], 600.0, seed=1)[0]
    assert declared[0].ttft_p99_s > 2 * poisson[0].ttft_p99_s


def test_cli_exit_1_names_a_broken_ttft_p99_promise(tmp_path, capsys):
    # light load: TTFT p99 is the engines' 0.5 s, within a 1-s tail promise; at 1.5x the queue
    # grows without bound and p99 runs to minutes (--target 0 leaves the attainment rule out)
    plan = tmp_path / "plan.json"
    pooled_plan(shop()).save(plan)
    light, heavy = tmp_path / "light.json", tmp_path / "heavy.json"
    light.write_text(shop(acme={"requests_per_s": 0.3, "ttft_p99_s": 1.0}, bolt={"requests_per_s": 0.1}).to_json())
    heavy.write_text(shop(acme={"requests_per_s": 4.5, "ttft_p99_s": 1.0}, bolt={"requests_per_s": 1.5}).to_json())
    assert main(["simulate", str(light), str(plan), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["meets_tail_promises"] is True
    assert main(["simulate", str(heavy), str(plan), "--target", "0"]) == 1
    out = capsys.readouterr().out
    assert "TTFT p99 above the tenant's ttft_p99_s promise:" in out and "tenant acme, scenario 0:" in out
    assert "tenant bolt" not in out.split("ttft_p99_s promise:")[1]  # bolt promised no tail


class PlannedWaitPerformance(PerformanceModel):
    """The profiles, with 0.3 s of the prefill engine's 0.4-s TTFT target left for its queue."""

    def tenant_load(self, tenant, config):
        load = super().tenant_load(tenant, config)
        return dataclasses.replace(load, queue_wait_s=0.3) if config.role == "prefill" else load


def test_the_wait_a_prefill_target_plans_for_is_simulated_not_added():
    # shop at a tenth of its rates, prefill and decode in one rack (no KV crossing the network):
    # 0.4 requests/s on a prefill replica of 10/s (0.1 replica-seconds a request, so one at a
    # time, busy 4% of the time) and a decode replica of 4/s. A request that does not wait has
    # the prefill engine's idle TTFT 0.4 - 0.3 = 0.1 s plus the decode engine's 0 (the profiles'
    # first step): the median; the 0.3 s planned for waiting is what a wait may take (the ~4% that
    # find the prefill busy wait under 0.1 s more), not a time every request spends
    instance = scaled(0.1)
    plan = disaggregated_plan(instance)
    tenants, _ = simulate(instance, plan, [0], 600.0, seed=3, performance=PlannedWaitPerformance(instance))
    for t in tenants:
        assert t.ttft_p50_s == pytest.approx(0.1) and t.ttft_p99_s < 0.2 and t.slo_attainment == 1.0


def test_a_request_takes_the_least_loaded_group_its_tenant_may_use_and_waits_its_turn_there():
    # two one-replica groups, each request holding a whole replica for 10 s, arrivals at 0, 0.1
    # and 0.2 s. At 0 both groups are empty: group 0 (ties go to the lower). At 0.1 group 0 is
    # full, load (1 + 0 + 1) / 1 = 2 against group 1's 1: group 1. At 0.2 both would be at 2:
    # group 0, where the request waits for the first to end at 10 s, and its first token is
    # 0.5 s after it starts
    scenario = types.SimpleNamespace(capacity=[1.0, 1.0], engines=["a", "b"], duration=100.0, warm_up=0.0, s=0)
    offer = [_Option(0, 1.0, 10.0, 0.5, 50.0), _Option(1, 1.0, 10.0, 0.5, 50.0)]
    stage = _Stage(scenario, np.array([0.0, 0.1, 0.2]), np.zeros(3, dtype=int), [offer])
    assert stage.group.tolist() == [0, 1, 0]
    assert stage.start.tolist() == pytest.approx([0.0, 0.1, 10.0])
    assert stage.ready.tolist() == pytest.approx([0.5, 0.6, 10.5])
    busy_a, busy_b = stage.stats()
    # group 0 busy 0-10 and 10-20 of 100 s, one request waiting 9.8 s; group 1 busy 0.1-10.1
    assert (busy_a.utilisation, busy_a.queue_max, busy_a.queue_mean) == pytest.approx((0.2, 1, 0.098))
    assert (busy_b.utilisation, busy_b.queue_max) == pytest.approx((0.1, 0))
