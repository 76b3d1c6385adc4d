"""Failure survival (``optimizer.stress``, ``tenantplan stress``) on hand-made plans of the shop.

Shop capacities (``plan_fixtures``): one aggregated replica serves 2 requests/s; ``acme``
sends 3 requests/s, ``bolt`` 1. Every expected figure is derived in a comment.
"""

from __future__ import annotations

import json

import pytest
from plan_fixtures import shop, two_racks_plan

from optimizer.cli import main
from optimizer.stress import failures, stress


def test_failures_are_each_rack_and_each_site():
    plan = two_racks_plan(shop(), 1, west=True)
    assert [(f.kind, f.name, sorted(f.racks)) for f in failures(plan, "rack")] == [
        ("rack", "r1", ["r1"]), ("rack", "r2", ["r2"])]
    assert [(f.kind, f.name, sorted(f.racks)) for f in failures(plan, "site")] == [
        ("site", "east", ["r1"]), ("site", "west", ["r2"])]


def test_a_survive_tenant_is_served_first_and_others_lose_what_is_left():
    # 1 replica a rack: losing r1 leaves 2 requests/s on r2, all to acme (its promise comes
    # first) and none to bolt; acme still misses its 3
    instance = shop(acme={"survive": "rack"})
    outcomes = {(o.failure.name, o.tenant): o for o in stress(instance, two_racks_plan(instance, 1), ("rack",))}
    acme, bolt = outcomes[("r1", "acme")], outcomes[("r1", "bolt")]
    assert (acme.served, acme.required, acme.kept) == (pytest.approx(2.0), 3.0, False)
    assert (bolt.served, bolt.unserved, bolt.required, bolt.kept) == (pytest.approx(0.0, abs=1e-6), pytest.approx(1.0), 0.0, True)


def test_survive_share_lowers_what_must_be_kept():
    # share 0.6: 0.6 x 3 = 1.8 requests/s of acme fit the 2 left after either rack; bolt gets 0.2
    instance = shop(acme={"survive": "rack", "survive_share": 0.6})
    outcomes = stress(instance, two_racks_plan(instance, 1), ("rack",))
    assert all(o.kept for o in outcomes)
    assert sum(o.served for o in outcomes if o.failure.name == "r1") == pytest.approx(2.0)


def test_stress_cli_exit_0_when_every_promise_holds(tmp_path, capsys):
    # 2 replicas a rack: either rack alone serves 4 requests/s >= acme's 3
    instance = shop(acme={"survive": "rack"})
    paths = _write(tmp_path, instance, two_racks_plan(instance, 2))
    assert main(["stress", *paths, "--fail", "rack", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["survives"] is True and out["broken"] == []
    assert [f["failure"] for f in out["failures"]] == ["r1", "r2"]


def test_stress_cli_exit_1_names_failure_tenant_and_scenario(tmp_path, capsys):
    instance = shop(acme={"survive": "rack"})
    paths = _write(tmp_path, instance, two_racks_plan(instance, 1))
    assert main(["stress", *paths, "--fail", "rack"]) == 1
    out = capsys.readouterr().out
    assert "rack r1: tenant acme, scenario 0: served 2 of the 3 requests/s promised" in out
    assert "rack r2: tenant acme, scenario 0" in out


def test_site_promise_fails_where_both_racks_share_a_site(tmp_path, capsys):
    # both racks at east: losing east loses everything; at east and west, either site alone holds 4
    instance = shop(acme={"survive": "site"})
    assert main(["stress", *_write(tmp_path, instance, two_racks_plan(instance, 2)), "--fail", "site"]) == 1
    assert "site east: tenant acme" in capsys.readouterr().out
    assert main(["stress", *_write(tmp_path, instance, two_racks_plan(instance, 2, west=True))]) == 0


def test_stress_cli_bad_input_exit_2(tmp_path, capsys):
    instance = shop()
    paths = _write(tmp_path, instance, two_racks_plan(instance, 1))
    assert main(["stress", paths[0], str(tmp_path / "missing.json")]) == 2
    assert main(["stress", *paths, "--fail", "galaxy"]) == 2
    assert "Traceback" not in capsys.readouterr().err


def _write(tmp_path, instance, plan) -> list[str]:
    instance_path, plan_path = tmp_path / "shop.json", tmp_path / "plan.json"
    instance_path.write_text(instance.to_json())
    plan.save(plan_path)
    return [str(instance_path), str(plan_path)]
