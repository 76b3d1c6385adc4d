"""The plan file: stable names, exact round trip, atomic writes, clear errors."""

import json

import pytest
from plan_fixtures import disaggregated_plan, pooled_plan, shop

from optimizer.instance import InstanceError
from optimizer.plan import EngineGroup, Limit, Plan, SolveRecord, Status, proof_words
from optimizer.safe_io import write_atomic


def test_plan_records_instance_method_and_time():
    instance = shop()
    plan = pooled_plan(instance)
    assert (plan.instance, plan.instance_sha256, plan.method) == ("shop", instance.digest(), "hand")
    assert plan.created_at.endswith("+00:00")
    assert set(plan.engine_groups()) == {"pool"}


def test_plan_file_keeps_the_documented_names():
    data = json.loads(disaggregated_plan(shop()).to_json())
    top = {"plan_version", "instance", "instance_sha256", "method", "created_at", "racks", "routes"}
    assert top <= set(data)
    rack = data["racks"][0]
    assert {"id", "site", "system", "engines"} <= set(rack)
    engine = rack["engines"][0]
    assert {"id", "model", "precision", "role", "gpus", "count", "parallelism",
            "tokens_per_s_per_user", "ttft_s"} <= set(engine)
    assert set(data["routes"][0]) == {
        "tenant", "scenario", "engine", "input_tokens_per_s", "output_tokens_per_s"
    }


def test_save_and_load_round_trip_exactly(tmp_path):
    plan = disaggregated_plan(shop())
    # a rate with a long binary expansion survives the round trip bit for bit
    odd = plan.routes[0].model_copy(update={"input_tokens_per_s": 0.1 + 0.2})
    plan = plan.model_copy(update={"routes": (odd, *plan.routes[1:])})
    path = tmp_path / "plan.json"
    plan.save(path)
    loaded = Plan.load(path)
    assert loaded == plan
    assert loaded.routes[0].input_tokens_per_s == 0.1 + 0.2
    loaded.save(tmp_path / "again.json")
    assert (tmp_path / "again.json").read_text() == path.read_text()


def test_an_engine_group_rebuilt_from_its_configuration_is_the_same_group():
    # every field of a group but its id and count is its replica's configuration, and back
    plan = disaggregated_plan(shop())
    for rack in plan.racks:
        for group in rack.engines:
            assert EngineGroup.from_config(group.id, group.config(rack.system), group.count) == group


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "plan.json"
    pooled_plan(shop()).save(path)
    before = path.read_text()
    with pytest.raises(UnicodeEncodeError):
        write_atomic(path, "half a plan \ud800")  # a lone surrogate cannot be encoded mid-write
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["plan.json"]


@pytest.mark.parametrize(
    "change, where",
    [
        (lambda d: d["racks"][0]["engines"][0].update(count=0), "racks[0].engines[0].count"),
        (lambda d: d["routes"][0].update(input_tokens_per_s=-1), "routes[0].input_tokens_per_s"),
        (lambda d: d["racks"][0]["engines"][0].update(role="both"), "racks[0].engines[0].role"),
        (lambda d: d.update(plan_version=3), "plan_version"),
        (lambda d: d.update(colour="red"), "colour"),
    ],
)
def test_bad_plan_files_name_the_field(tmp_path, change, where):
    good = json.loads(pooled_plan(shop()).to_json())
    (tmp_path / "good.json").write_text(json.dumps(good))
    assert Plan.load(tmp_path / "good.json") == pooled_plan(shop()).model_copy(
        update={"created_at": good["created_at"]}
    )
    change(good)
    (tmp_path / "bad.json").write_text(json.dumps(good))
    with pytest.raises(InstanceError) as error:
        Plan.load(tmp_path / "bad.json")
    assert where in [path for path, _ in error.value.problems]


RECORD = SolveRecord(
    status=Status.FEASIBLE, limit=Limit.TIME, objective=100.0, bound=89.5, gap=0.105,
    bound_scope="the shortlisted candidates", solver="highs", time_limit_s=60.0, runtime_s=60.4, seed=3,
    confidence=0.8, bases={"measured": 2, "roofline": 1},
)


def test_the_solve_record_round_trips_and_version_1_plans_still_load(tmp_path):
    plan = pooled_plan(shop()).model_copy(update={"solve": RECORD})
    plan.save(tmp_path / "plan.json")
    assert Plan.load(tmp_path / "plan.json") == plan
    old = json.loads(pooled_plan(shop()).to_json())
    del old["solve"]
    old["plan_version"] = 1
    (tmp_path / "old.json").write_text(json.dumps(old))
    loaded = Plan.load(tmp_path / "old.json")
    assert loaded.solve is None and loaded.plan_version == 1 and loaded.racks == plan.racks


@pytest.mark.parametrize(
    "status, limit, gap, words",
    [
        (Status.FEASIBLE, Limit.TIME, 0.105,
         "within 10.5% of the best possible plan, not proven optimal; stopped by its 60-s time limit"),
        # a gap of 0 without the solver's proof is not called optimal; small gaps keep their digits
        (Status.FEASIBLE, Limit.TIME, 0.0, "within 0% of the best possible plan, not proven optimal; "
         "stopped by its 60-s time limit"),
        (Status.FEASIBLE, Limit.INTERRUPTED, 3.14e-5, "within 0.00314% of the best possible plan, not proven "
         "optimal; interrupted"),
        (Status.OPTIMAL, Limit.GAP, 1e-4, "proven optimal, gap 0.01%"),
        (Status.FEASIBLE, Limit.TIME, 2e-9, "within <0.001% of the best possible plan, not proven optimal; "
         "stopped by its 60-s time limit"),
        (Status.OPTIMAL, Limit.GAP, 0.05, "proven within 5% of the best possible plan (its requested gap)"),
        (Status.FEASIBLE, Limit.NONE, None, "a heuristic's plan: no bound says how far from the best possible "
         "plan it is"),
    ],
)
def test_proof_words_say_optimal_only_when_proven(status, limit, gap, words):
    assert proof_words(status, limit, gap, 60.0) == words
