"""tenantplan export / import-deployment: a plan as Kubernetes manifests and back.

The manifests are checked against the trimmed CRD and API schemas in ``tests/data/schemas``
(each names its source repository, path and commit), their GPUs against the plan's, their
routing tables against its routes, and reading them back against the plan itself.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")
jsonschema = pytest.importorskip("jsonschema")

from repo_paths import DATA, EXAMPLES

from optimizer.cli import main  # noqa: E402
from optimizer.deploy import ExportOptions, export_plan, import_plan  # noqa: E402
from optimizer.deploy import manifests  # noqa: E402
from optimizer.instance import InstanceError  # noqa: E402
from optimizer.methods import METHODS  # noqa: E402
from optimizer.performance import TokenLoad  # noqa: E402
from optimizer.performance.capacity import sequences_in_flight  # noqa: E402
from optimizer.plan import EngineGroup, Parallelism, Plan, Rack, Route  # noqa: E402
from optimizer.safe_io import write_folder_atomic  # noqa: E402
from tests.plan_fixtures import shop  # noqa: E402

SCHEMAS = DATA / "schemas"
KIND_SCHEMA = {
    "Deployment": "deployment.json", "Service": "service.json", "ConfigMap": "configmap.json",
    "Namespace": "namespace.json", "LeaderWorkerSet": "leaderworkerset.json",
    "DynamoGraphDeployment": "dynamographdeployment.json", "InferencePool": "inferencepool.json",
    "InferenceModel": "inferencemodel.json",
}


def validator(kind: str) -> jsonschema.Draft202012Validator:
    """The kept schema of ``kind`` with the shared Kubernetes definitions merged in."""
    schema = json.loads((SCHEMAS / KIND_SCHEMA[kind]).read_text())
    common = json.loads((SCHEMAS / "k8s-common.json").read_text())
    return jsonschema.Draft202012Validator({**schema, "$defs": common["$defs"]})


def documents(folder: Path) -> list[dict]:
    return [doc for path in sorted(folder.rglob("*.yaml")) for doc in yaml.safe_load_all(path.read_text())]


def requested_gpus(docs: list[dict]) -> int:
    """GPUs the workloads ask for: replicas x pods per replica x GPU limit per pod."""
    total = 0
    for doc in docs:
        if doc["kind"] == "Deployment":
            limits = doc["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
            total += doc["spec"]["replicas"] * sum(limits.values())
        elif doc["kind"] == "LeaderWorkerSet":
            template = doc["spec"]["leaderWorkerTemplate"]
            limits = template["workerTemplate"]["spec"]["containers"][0]["resources"]["limits"]
            total += doc["spec"]["replicas"] * template["size"] * sum(limits.values())
        elif doc["kind"] == "DynamoGraphDeployment":
            for service in doc["spec"]["services"].values():
                if service["componentType"] == "worker":
                    nodes = service.get("multinode", {}).get("nodeCount", 1)
                    total += service["replicas"] * nodes * int(service["resources"]["limits"]["gpu"])
    return total


def plan_gpus(plan: Plan) -> int:
    return sum(g.count * g.gpus for rack in plan.racks for g in rack.engines)


@pytest.fixture
def tiny_plan(tiny, tmp_path) -> Path:
    """The tiny instance planned by ``pooled`` (one rack of 8 GPUs, its aggregated engines),
    saved as JSON."""
    plan = METHODS["pooled"](tiny, time_limit=5, seed=0, threads=1, performance=None).plan
    path = tmp_path / "plan.json"
    plan.save(path)
    return path


@pytest.mark.parametrize("form", ["k8s", "dynamo", "llm-d"])
def test_export_validates_asks_for_the_plans_gpus_routes_every_tenant_and_reads_back_equal(form, tiny_plan, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["export", str(EXAMPLES / "tiny.toml"), str(tiny_plan), "--format", form, "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    plan = Plan.load(tiny_plan)
    docs = documents(out)
    kinds = {doc["kind"] for doc in docs}
    assert {"Namespace", "ConfigMap"} <= kinds
    assert ("DynamoGraphDeployment" in kinds) == (form == "dynamo")
    assert ("InferencePool" in kinds and "InferenceModel" in kinds) == (form == "llm-d")
    for doc in docs:
        errors = [e.message for e in validator(doc["kind"]).iter_errors(doc)]
        assert errors == [], (doc["kind"], doc["metadata"]["name"], errors)
    # 10 requests/s of 1k/1k on the plan's one 8-GPU fp4 replica at 100 tok/s per user: 1024 x
    # 3.48 us + 1024 x 11.74 us = 15.6 ms of replica time per request (PerformanceModel.tenant_load),
    # so one replica at its 0.95 queueing utilisation carries 60.9 requests/s: 8 GPUs
    assert requested_gpus(docs) == plan_gpus(plan) == summary["gpus"] == 8
    tables = [json.loads(d["data"]["routes.json"]) for d in docs if d["metadata"]["name"].startswith("tenantplan-routes")]
    assert [t["scenario"] for t in tables] == [0]
    assert [t["tenant"] for t in tables[0]["tenants"]] == ["acme-chat"]
    assert sum(e["weight"] for e in tables[0]["tenants"][0]["engines"]) == pytest.approx(1.0)
    assert summary["round_trip_equal"] is True
    assert import_plan(out) == plan


def test_import_deployment_reads_the_workloads_as_they_stand(tiny_plan, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["export", str(EXAMPLES / "tiny.toml"), str(tiny_plan), "--out", str(out)]) == 0
    (workload,) = [p for p in out.rglob("*.yaml") if "Deployment" in p.read_text()]
    docs = list(yaml.safe_load_all(workload.read_text()))
    docs[0]["spec"]["replicas"] = 5  # an operator scaled the group down from 7
    workload.write_text(yaml.safe_dump_all(docs))
    back = tmp_path / "back.json"
    assert main(["import-deployment", str(out), "-o", str(back)]) == 0
    (group,) = Plan.load(back).racks[0].engines
    assert group.count == 5
    assert Plan.load(back) != Plan.load(tiny_plan)  # control: the edit shows


def test_a_plan_for_another_instance_is_bad_input_and_writes_nothing(tiny_plan, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["export", str(EXAMPLES / "two-tenants-profiles.toml"), str(tiny_plan), "--out", str(out)]) == 2
    assert "made for instance 'tiny'" in capsys.readouterr().err
    assert not out.exists()


def test_a_plan_that_breaks_rules_is_refused_and_writes_nothing(tiny_plan, tmp_path, capsys):
    plan = Plan.load(tiny_plan)
    rack = plan.racks[0]
    slow = rack.engines[0].model_copy(update={"tokens_per_s_per_user": 20.0})  # the promise is 50
    short = plan.model_copy(update={"racks": (rack.model_copy(update={"engines": (slow,)}),)})
    bad = tmp_path / "short.json"
    short.save(bad)
    out = tmp_path / "out"
    assert main(["export", str(EXAMPLES / "tiny.toml"), str(bad), "--out", str(out)]) == 1
    assert "interactivity" in capsys.readouterr().err  # 20 tokens/s per user, below the promised 50
    assert not out.exists()
    assert main(["export", str(EXAMPLES / "tiny.toml"), str(tiny_plan), "--out", str(out)]) == 0  # control


def test_bad_options_and_a_full_folder_are_refused_before_any_work(tiny_plan, tmp_path, capsys):
    full = tmp_path / "full"
    full.mkdir()
    (full / "old.yaml").write_text("kind: Deployment\n")
    base = ["export", str(EXAMPLES / "tiny.toml"), str(tiny_plan)]
    assert main([*base, "--out", str(full)]) == 2
    assert "already holds files" in capsys.readouterr().err
    assert [p.name for p in full.iterdir()] == ["old.yaml"]
    assert main([*base, "--out", str(tmp_path / "a"), "--scenario", "1"]) == 2  # tiny has scenario 0 only
    assert "out of range" in capsys.readouterr().err
    assert main([*base, "--out", str(tmp_path / "b"), "--namespace", "Prod_NS"]) == 2
    assert "--namespace" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_without_pyyaml_both_commands_say_how_to_install_it(tiny_plan, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(manifests, "yaml", None)
    assert main(["export", str(EXAMPLES / "tiny.toml"), str(tiny_plan), "--out", str(tmp_path / "o")]) == 2
    assert "pip install 'tenantplan[deploy]'" in capsys.readouterr().err
    assert main(["import-deployment", str(tmp_path)]) == 2
    assert "pip install 'tenantplan[deploy]'" in capsys.readouterr().err


def test_import_names_the_file_and_field_of_a_broken_manifest(tiny_plan, tmp_path, capsys):
    assert main(["import-deployment", str(tmp_path)]) == 2  # no plan ConfigMap
    assert "not a folder written by 'tenantplan export'" in capsys.readouterr().err
    out = tmp_path / "out"
    assert main(["export", str(EXAMPLES / "tiny.toml"), str(tiny_plan), "--out", str(out)]) == 0
    capsys.readouterr()
    (workload,) = [p for p in out.rglob("*.yaml") if "Deployment" in p.read_text()]
    precision = Plan.load(tiny_plan).racks[0].engines[0].precision
    workload.write_text(workload.read_text().replace(f"tenantplan.io/precision: {precision}", "tenantplan.io/precision: fp3"))
    assert main(["import-deployment", str(out)]) == 2
    err = capsys.readouterr().err
    assert workload.name in err and "precision" in err


# -- a hand-made plan that uses every kind of workload --------------------------------


def mixed_plan():
    """The shop instance (profiles at 3000/1000 tokens) with ``acme`` on dedicated racks, and a
    plan by hand: acme's rack on ``slow-nvl72`` (an NVL72, 4-GPU nodes) with a 4-GPU prefill group
    and an 8-GPU decode group (two nodes a replica: a LeaderWorkerSet), bolt on an aggregated
    ``hgx-h200`` group and an ``mi355x`` group (AMD: SGLang), and an empty rack. Capacities are not
    checked: the export of a plan is what is tested."""
    instance = shop(acme={"isolation": "dedicated-rack"})
    nvl = Rack(id="east/nvl/1", site="east", system="slow-nvl72", engines=(
        EngineGroup(id="east/nvl/1/p", model="gpt-oss-120b", precision="fp8", role="prefill", gpus=4, count=1,
                    parallelism=Parallelism(tp=4), ttft_s=0.4, source="profile"),
        EngineGroup(id="east/nvl/1/d", model="gpt-oss-120b", precision="fp8", role="decode", gpus=8, count=2,
                    parallelism=Parallelism(tp=8, ep=8, dp_attention=True), tokens_per_s_per_user=100.0,
                    source="profile"),
    ))
    h200 = Rack(id="east/h200/1", site="east", system="hgx-h200", engines=(
        EngineGroup(id="east/h200/1/a", model="gpt-oss-120b", precision="fp8", role="aggregated", gpus=8, count=1,
                    parallelism=Parallelism(tp=8), tokens_per_s_per_user=100.0, ttft_s=0.5, source="profile"),
    ))
    amd = Rack(id="west/mi355x/1", site="west", system="mi355x", engines=(
        EngineGroup(id="west/mi355x/1/a", model="gpt-oss-120b", precision="bf16", role="aggregated", gpus=2, count=3,
                    parallelism=Parallelism(tp=2), tokens_per_s_per_user=50.0, ttft_s=1.0),
    ))
    empty = Rack(id="west/h200/9", site="west", system="hgx-h200")
    routes = (
        Route(tenant="acme", scenario=0, engine="east/nvl/1/p", input_tokens_per_s=9000.0),
        Route(tenant="acme", scenario=0, engine="east/nvl/1/d", output_tokens_per_s=3000.0),
        Route(tenant="bolt", scenario=0, engine="east/h200/1/a", input_tokens_per_s=2000.0, output_tokens_per_s=666.5),
        Route(tenant="bolt", scenario=0, engine="west/mi355x/1/a", input_tokens_per_s=1000.0, output_tokens_per_s=333.5),
    )
    return instance, Plan.new(instance, "hand", (nvl, h200, amd, empty), routes)


def export_docs(instance, plan, tmp_path, **options) -> tuple[Path, list[dict]]:
    out = tmp_path / options.get("format", "k8s")
    write_folder_atomic(out, export_plan(instance, plan, ExportOptions(**options)))
    return out, documents(out)


def by_group(docs: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["annotations"]["tenantplan.io/group-id"]: d for d in docs if d["kind"] == kind}


def test_k8s_places_each_group_in_its_rack_with_its_engine_and_isolation(tmp_path):
    instance, plan = mixed_plan()
    out, docs = export_docs(instance, plan, tmp_path)
    for doc in docs:
        assert [e.message for e in validator(doc["kind"]).iter_errors(doc)] == []
    # 4 + 2 x 8 + 8 + 3 x 2 = 34 GPUs, asked for as 1x4 + 2 groups x 2 pods x 4 + 1x8 + 3x2
    assert requested_gpus(docs) == plan_gpus(plan) == 34
    lws = by_group(docs, "LeaderWorkerSet")["east/nvl/1/d"]
    assert lws["spec"]["replicas"] == 2 and lws["spec"]["leaderWorkerTemplate"]["size"] == 2
    assert lws["metadata"]["namespace"] == "tenantplan-acme"  # acme's racks: its own namespace
    worker = lws["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]
    assert worker["tolerations"][0]["value"] == "acme"  # and its tainted nodes
    assert worker["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]["topologyKey"] == \
        "nvidia.com/gpu.clique"  # an NVL72 group stays in one NVLink domain
    deployments = by_group(docs, "Deployment")
    assert set(deployments) == {"east/nvl/1/p", "east/h200/1/a", "west/mi355x/1/a"}
    h200 = deployments["east/h200/1/a"]["spec"]["template"]["spec"]
    assert "podAffinity" not in h200["affinity"] and "tolerations" not in h200  # HGX: one domain per node; shared
    terms = h200["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert {t["key"]: t["values"] for t in terms[0]["matchExpressions"]} == {
        "topology.kubernetes.io/zone": ["east"], "tenantplan.io/rack": [manifests.k8s_name("east/h200/1")]}
    assert h200["containers"][0]["resources"]["limits"] == {"nvidia.com/gpu": 8}
    assert h200["containers"][0]["command"] == ["vllm", "serve"]
    args = h200["containers"][0]["args"]
    assert args[:6] == ["openai/gpt-oss-120b", "--served-model-name", "gpt-oss-120b", "--tensor-parallel-size", "8",
                        "--quantization"]
    amd = deployments["west/mi355x/1/a"]["spec"]["template"]["spec"]["containers"][0]
    assert amd["resources"]["limits"] == {"amd.com/gpu": 2}
    assert amd["command"] == ["python3", "-m", "sglang.launch_server"]
    assert amd["args"][amd["args"].index("--tp") + 1] == "2" and "--dtype" in amd["args"]
    assert import_plan(out) == plan  # the empty rack too


def test_disaggregated_and_multinode_engine_arguments(tmp_path):
    instance, plan = mixed_plan()
    _, docs = export_docs(instance, plan, tmp_path)
    lws = by_group(docs, "LeaderWorkerSet")["east/nvl/1/d"]["spec"]["leaderWorkerTemplate"]
    leader = " ".join(lws["leaderTemplate"]["spec"]["containers"][0]["command"])
    # DP attention over 8 GPUs: attention TP 1, data parallel 8, experts spread; two nodes over Ray
    for flag in ("--tensor-parallel-size 1", "--data-parallel-size 8", "--enable-expert-parallel",
                 "--distributed-executor-backend ray", "kv_role", "ray_cluster_size"):
        assert flag in leader
    assert "worker --ray_address=$(LWS_LEADER_ADDRESS)" in " ".join(lws["workerTemplate"]["spec"]["containers"][0]["command"])
    prefill = by_group(docs, "Deployment")["east/nvl/1/p"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--kv-transfer-config" in prefill


def test_dynamo_graphs_split_prefill_and_decode_and_refuse_amd(tmp_path):
    instance, plan = mixed_plan()
    with pytest.raises(InstanceError, match="AMD GPUs"):
        export_plan(instance, plan, ExportOptions(format="dynamo"))
    nvidia = plan.model_copy(update={"racks": plan.racks[:2], "routes": plan.routes[:3]})
    out, docs = export_docs(instance, nvidia, tmp_path, format="dynamo")
    graphs = [d for d in docs if d["kind"] == "DynamoGraphDeployment"]
    for doc in docs:
        assert [e.message for e in validator(doc["kind"]).iter_errors(doc)] == []
    # one graph for acme's namespace (prefill and decode), one for the shared h200 group
    assert sorted(g["metadata"]["namespace"] for g in graphs) == ["tenantplan", "tenantplan-acme"]
    acme = next(g for g in graphs if g["metadata"]["namespace"] == "tenantplan-acme")["spec"]["services"]
    assert {s.get("subComponentType") for s in acme.values() if s["componentType"] == "worker"} == {"prefill", "decode"}
    decode = next(s for s in acme.values() if s.get("subComponentType") == "decode")
    assert decode["multinode"] == {"nodeCount": 2} and decode["resources"]["limits"]["gpu"] == "4"
    assert "--is-decode-worker" in decode["extraPodSpec"]["mainContainer"]["args"]
    assert requested_gpus(docs) == plan_gpus(nvidia) == 28  # 4 + 2 x 8 + 8
    assert import_plan(out) == nvidia


def test_llmd_pools_and_tenant_models_with_criticality(tmp_path):
    instance, plan = mixed_plan()
    _, docs = export_docs(instance, plan, tmp_path, format="llm-d")
    for doc in docs:
        assert [e.message for e in validator(doc["kind"]).iter_errors(doc)] == []
    pools = {(d["metadata"]["namespace"], d["metadata"]["name"]) for d in docs if d["kind"] == "InferencePool"}
    assert pools == {("tenantplan-acme", "gpt-oss-120b-east"), ("tenantplan", "gpt-oss-120b-east"),
                     ("tenantplan", "gpt-oss-120b-west")}
    models = {(d["spec"]["modelName"], d["metadata"]["namespace"]): d["spec"]["criticality"]
              for d in docs if d["kind"] == "InferenceModel"}
    # acme is on dedicated racks: Critical; bolt is shared with no SLO class: Standard
    assert models == {("acme", "tenantplan-acme"): "Critical", ("bolt", "tenantplan"): "Standard"}


def test_max_sequences_follow_littles_law_on_the_groups_load():
    # a replica filled with 100-in / 200-out requests: 100 x 0.001 + 200 x 0.01 = 2.1 replica-seconds
    # each, so 1/2.1 requests/s; each stays TTFT 0.5 s + 200 tokens at 50 tokens/s = 4.5 s: 4.5 / 2.1
    load = TokenLoad(0.001, 0.01, 0.0, 0.5, 50.0)
    assert sequences_in_flight(load, 100, 200) == pytest.approx(4.5 / 2.1)
    # a prefill replica: 1000 x 0.001 = 1 s a prompt, each in it for its TTFT of 0.4 s
    assert sequences_in_flight(TokenLoad(0.001, 0.0, 0.0, 0.4, math.inf), 1000, 50) == pytest.approx(0.4)


def test_names_are_valid_and_distinct():
    names = [manifests.k8s_name(text) for text in ("dc1/hgx-b200/0000", "dc1-hgx-b200-0000", "a" * 80, "ok-name")]
    assert names[3] == "ok-name"
    assert len(set(names)) == 4 and all(len(n) <= 63 for n in names)
    assert all(n[0].isalnum() and n[-1].isalnum() and n == n.lower() for n in names)


def test_write_folder_atomic_is_all_or_nothing(tmp_path):
    with pytest.raises(InstanceError, match="not a path inside"):
        write_folder_atomic(tmp_path / "x", {"a.yaml": "a", "../escape.yaml": "b"})
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    assert write_folder_atomic(tmp_path / "x", {"a.yaml": "a", "s/b.yaml": "b"}) == [tmp_path / "x/a.yaml", tmp_path / "x/s/b.yaml"]
    assert (tmp_path / "x" / "s" / "b.yaml").read_text() == "b"


def test_the_kept_schemas_refuse_what_the_crds_refuse():
    """Controls: the validators above can fail."""
    graph = {"apiVersion": "nvidia.com/v1alpha1", "kind": "DynamoGraphDeployment", "metadata": {"name": "g"},
             "spec": {"services": {"w": {"componentType": "worker", "replicas": 1, "multinode": {"nodeCount": 2}}}}}
    assert list(validator("DynamoGraphDeployment").iter_errors(graph)) == []
    graph["spec"]["services"]["w"]["multinode"]["nodeCount"] = 1  # the CRD's minimum is 2
    assert list(validator("DynamoGraphDeployment").iter_errors(graph))
    graph["spec"]["services"] = {f"s{i}": {} for i in range(26)}  # at most 25 services
    assert list(validator("DynamoGraphDeployment").iter_errors(graph))
    model = {"apiVersion": "inference.networking.x-k8s.io/v1alpha2", "kind": "InferenceModel",
             "metadata": {"name": "m"}, "spec": {"modelName": "t", "poolRef": {"name": "p"}, "criticality": "Default"}}
    assert list(validator("InferenceModel").iter_errors(model))  # v1alpha1's value, gone in v1alpha2
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "Bad_Name"},
                  "spec": {"selector": {"matchLabels": {}}, "template": {"spec": {"containers": [{"name": "c"}]}}}}
    assert list(validator("Deployment").iter_errors(deployment))
