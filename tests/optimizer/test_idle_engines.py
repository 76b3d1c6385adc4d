"""Plans carry no engine group that serves nobody, except failover reserve, labelled so.

Capacities as in test_solve.py: a 1-GPU aggregated replica serves 1 request/s; the 2-GPU
profile here serves 2.4 (at 100 tokens/s per user, TTFT 0.8 s); racks of 8 GPUs at $1/GPU-hour, $8/hour.
"""

from __future__ import annotations


import numpy as np
import pytest

from mip_fixtures import make, profile, tenant
from repo_paths import EXAMPLES

from optimizer.check import check
from optimizer.evaluate import evaluate
from optimizer.instance import Instance, load_instance
from optimizer.plan import Plan
from optimizer.report.text import report_text
from optimizer.solve import solve
from solvers.mip.backend import Solution
from solvers.mip.formulation import build_formulation
from solvers.mip.reconstruct import to_plan

PROFILES = [profile(), profile(gpus=2, input_tokens_per_s=1200, output_tokens_per_s=1200, tokens_per_s_per_user=100,
                               ttft_s=0.8)]
"""1-GPU and 2-GPU aggregated profiles: the second does more per GPU but answers slower (so the
performance model keeps both), the first has fewer GPUs (so neither dominates, E7)"""


def hand_plan(instance: Instance, replicas_by_gpus: dict[int, int], flow_by_gpus: dict[int, float]) -> Plan:
    """to_plan of one rack holding replicas of the 1- and 2-GPU groups with these flows (requests/s)."""
    f = build_formulation(instance)
    assert len(f.scenarios) == 1 and len(f.commodities) == 1
    assert sorted(group.config.gpus for group in f.groups) == [1, 2]
    replicas = np.array([replicas_by_gpus[group.config.gpus] for group in f.groups], dtype=float)
    flows = np.array([[flow_by_gpus[f.groups[arc.group].config.gpus]] for arc in f.arcs])
    solution = Solution(racks=np.array([1.0]), replicas=replicas, flows=flows, unserved=np.zeros((1, 1)))
    return to_plan(f, solution, "hand")


def groups(plan: Plan) -> list[tuple[int, int, str]]:
    return [(group.gpus, group.count, group.purpose) for rack in plan.racks for group in rack.engines]


def test_idle_replicas_are_left_out_and_the_cost_stays() -> None:
    """3 requests/s on three 1-GPU replicas; the solver also left two idle 2-GPU replicas in the
    rack (3 + 4 = 7 of 8 GPUs, free in the objective). The plan keeps only the serving group:
    one rack, $8/h either way, 5 GPUs free, and the checker has nothing to say."""
    instance = make([tenant("a", 3.0)], profiles=PROFILES)
    plan = hand_plan(instance, {1: 3, 2: 2}, {1: 3.0, 2: 0.0})
    assert groups(plan) == [(1, 3, "serving")]
    assert evaluate(instance, plan).usd_per_hour == pytest.approx(8.0)
    assert check(instance, plan) == []


def test_idle_failover_capacity_stays_as_reserve() -> None:
    """The same with tenant a surviving a rack loss: the idle 2-GPU replicas may carry its
    failover flows (12), so they stay, labelled reserve, and the checker does not call them idle."""
    instance = make([tenant("a", 3.0, survive="rack")], profiles=PROFILES)
    plan = hand_plan(instance, {1: 3, 2: 2}, {1: 3.0, 2: 0.0})
    assert sorted(groups(plan)) == [(1, 3, "serving"), (2, 2, "reserve")]
    assert "idle-engine" not in {v.rule for v in check(instance, plan)}


def test_survive_example_labels_its_reserve_in_plan_and_report() -> None:
    """survive.toml (3 racks, test_solve.py): its plan's groups without routes are all reserve,
    and the text report names them so."""
    instance = load_instance(EXAMPLES / "survive.toml")
    plan = solve(instance, time_limit=10.0).plan
    assert plan is not None
    routed = {route.engine for route in plan.routes}
    idle = [group for rack in plan.racks for group in rack.engines if group.id not in routed]
    assert idle and all(group.purpose == "reserve" for group in idle)
    assert "reserve (failover)" in report_text(evaluate(instance, plan), instance)
