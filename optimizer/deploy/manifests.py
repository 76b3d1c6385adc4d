"""A plan as Kubernetes manifests: one workload per engine group, routing tables per scenario.

Three formats (``docs/deploy.md``):

- ``k8s``: plain vLLM (NVIDIA) or SGLang (AMD) servers, a ``Deployment`` per engine group whose
  replica fits one node and a ``LeaderWorkerSet`` per group whose replica spans nodes, each
  with a ``Service``;
- ``dynamo``: NVIDIA Dynamo ``DynamoGraphDeployment`` objects, one per (namespace, site, model),
  a frontend and one worker service per engine group (prefill and decode workers apart);
- ``llm-d``: the ``k8s`` workloads behind Gateway API inference extension ``InferencePool``
  objects, one per (namespace, site, model), and an ``InferenceModel`` per tenant and pool.

Every format adds the ``Namespace`` objects, one ``ConfigMap`` of routes per scenario (tenant ->
engine groups, weights and tokens/s) and a ``ConfigMap`` holding the plan's header and racks.
The workloads carry the engine group's exact fields as ``tenantplan.io/*`` annotations, so
:func:`optimizer.deploy.read.import_plan` rebuilds the same plan from the folder.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import re
from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

from optimizer.catalog import Model, System
from optimizer.instance import Instance, InstanceError, Tenant
from optimizer.performance import PerformanceModel
from optimizer.performance.capacity import sequences_in_flight
from optimizer.plan import EngineGroup, Plan, Rack, Route
from optimizer.safe_io import file_stem

try:  # the deploy extra: pip install 'tenantplan[deploy]'
    import yaml
except ImportError:  # pragma: no cover - exercised by monkeypatching in the tests
    yaml = None

Format = Literal["k8s", "dynamo", "llm-d"]
FORMATS: tuple[Format, ...] = ("k8s", "dynamo", "llm-d")

PREFIX = "tenantplan.io/"
"""Label and annotation prefix of everything the export writes for the round trip."""
KIND_LABEL = PREFIX + "kind"
"""Label naming what a tenantplan ConfigMap holds: ``plan`` or ``routes``."""
GROUP_LABEL = PREFIX + "group"
"""Label of a group's pods (its workload name), which Services, pools and pod affinity select."""
MANAGED = {"app.kubernetes.io/managed-by": "tenantplan"}

ENGINE_BY_VENDOR = {"nvidia": "vllm", "amd": "sglang"}
"""Serving engine per GPU vendor: vLLM on NVIDIA (llm-d's model server), SGLang on AMD (the
engine of every AMD point in the catalog's InferenceMAX measurements)."""
IMAGES = {
    "vllm": "vllm/vllm-openai:v0.10.2",
    "sglang": "lmsysorg/sglang:v0.5.2-rocm630-mi30x",
    "dynamo": "nvcr.io/nvidia/ai-dynamo/vllm-runtime:0.5.0",
}
"""Default container images (public tags; ``--image`` sets your own)."""
PORT = 8000
"""Port every model server listens on."""
MAX_DYNAMO_WORKERS = 24
"""Worker services per DynamoGraphDeployment: the CRD allows 25 services (``maxProperties``), one
is the frontend."""
RACK_SCALE_NODE_GPUS = 4
"""GPUs per Kubernetes node (server) of a system whose NVLink domain spans servers: a GB200 or
GB300 NVL72 compute tray holds 4 GPUs (18 trays per rack, NVIDIA NVL72 specifications). Systems
whose domain is at most 8 GPUs (HGX and AMD 8-GPU platforms) are one domain per server."""


@dataclass(frozen=True)
class ExportOptions:
    """How a plan becomes manifests: the format, the namespace and the node label keys."""

    format: Format = "k8s"
    namespace: str = "tenantplan"
    """namespace of shared engines and routing; a dedicated tenant's is ``NAMESPACE-TENANT``"""
    scenario: int | None = None
    """the one scenario whose routing table to write; None: every scenario"""
    zone_label: str = "topology.kubernetes.io/zone"
    """node label holding the site (Kubernetes' well-known zone label)"""
    rack_label: str = "tenantplan.io/rack"
    """node label holding the rack (the plan's rack id as a label value)"""
    clique_label: str = "nvidia.com/gpu.clique"
    """node label of the NVLink domain (set by the NVIDIA GPU operator on GB200/GB300)"""
    image: str | None = None
    """container image of every model server; None: :data:`IMAGES`"""


def require_yaml() -> Any:
    """The ``yaml`` module.

    Raises:
        InstanceError: PyYAML is not installed (the ``deploy`` extra).
    """
    if yaml is None:
        raise InstanceError(
            [("", "writing and reading manifests needs PyYAML: pip install 'tenantplan[deploy]'")], "command line"
        )
    return yaml


def k8s_name(text: str, limit: int = 63) -> str:
    """``text`` as a DNS-1123 label (also a valid label value): itself when it already is one,
    else its lower-case slug, cut to fit, plus 8 hex digits of its SHA-256 (distinct texts,
    distinct names)."""
    if re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", text) and len(text) <= limit:
        return text
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[: limit - 9].strip("-") or "x"
    return f"{slug}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


@cache
def _checkpoints() -> dict[tuple[str, str], str]:
    text = resources.files("optimizer.deploy").joinpath("checkpoints.csv").read_text("utf-8")
    return {(row["model"], row["precision"]): row["checkpoint"] for row in csv.DictReader(text.splitlines())}


def checkpoint(model: Model, precision: str) -> str:
    """The Hugging Face checkpoint of ``model`` in ``precision`` (``checkpoints.csv``, every row
    sourced), else the catalog's ``hf_model`` (quantized on load), else the model id."""
    return _checkpoints().get((model.id, precision)) or model.hf_model or model.id


def node_gpus(system: System) -> int:
    """GPUs per Kubernetes node of ``system`` (:data:`RACK_SCALE_NODE_GPUS`)."""
    domain = system.gpus_per_nvlink_domain
    return domain if domain <= 8 else RACK_SCALE_NODE_GPUS


def pods_per_replica(group: EngineGroup, system: System) -> tuple[int, int]:
    """(pods, GPUs per pod) of one replica of ``group``: one pod when it fits a node.

    Raises:
        InstanceError: a replica spanning nodes whose GPUs do not divide into whole nodes.
    """
    per_node = node_gpus(system)
    if group.gpus <= per_node:
        return 1, group.gpus
    if group.gpus % per_node:
        raise InstanceError(
            [(f"engine {group.id}", f"{group.gpus} GPUs do not fill whole {per_node}-GPU nodes of {system.id}")],
            "plan",
        )
    return group.gpus // per_node, per_node


# -- engine arguments ---------------------------------------------------------------


def engine_args(
    engine: str, group: EngineGroup, model: Model, max_seqs: int | None, pods: int, dynamo: bool = False
) -> list[str]:
    """Command-line arguments of ``engine`` (``vllm`` or ``sglang``) serving one replica of ``group``.

    Attention splits over ``tp`` GPUs, or over one with DP attention (every GPU its own
    sequences, as the performance model counts attention ranks); experts spread over ``ep``.
    ``max_seqs`` is the replica's batch at its operating point; ``pods`` > 1 is a replica over
    several nodes (SGLang's own multinode flags; vLLM over a Ray cluster in the group; under
    Dynamo the operator joins the nodes). ``dynamo`` marks the disaggregated role Dynamo's way.
    """
    split = 1 if group.parallelism.dp_attention else min(group.parallelism.tp, group.gpus)
    dp = group.gpus // split
    ckpt = checkpoint(model, group.precision)
    if engine == "vllm":
        args = [*(["--model", ckpt] if dynamo else [ckpt]), "--served-model-name", model.id,
                "--tensor-parallel-size", str(split)]
        if dp > 1:
            args += ["--data-parallel-size", str(dp)]
        if group.parallelism.ep > 1:
            args.append("--enable-expert-parallel")
        args += {"bf16": ["--dtype", "bfloat16"], "fp8": ["--quantization", "fp8", "--kv-cache-dtype", "fp8"],
                 "fp4": ["--kv-cache-dtype", "fp8"]}[group.precision]
        if max_seqs is not None:
            args += ["--max-num-seqs", str(max_seqs)]
        if pods > 1 and not dynamo:
            args += ["--distributed-executor-backend", "ray"] + (["--data-parallel-backend", "ray"] if dp > 1 else [])
        if group.role != "aggregated":
            if dynamo:
                args.append(f"--is-{group.role}-worker")
            else:
                args += ["--kv-transfer-config", '{"kv_connector":"NixlConnector","kv_role":"kv_both"}']
        return args + ([] if dynamo else ["--port", str(PORT)])
    args = ["--model-path", ckpt, "--served-model-name", model.id, "--tp", str(group.gpus)]
    if group.parallelism.dp_attention:
        args += ["--dp", str(dp), "--enable-dp-attention"]
    if group.parallelism.ep > 1:
        args += ["--ep-size", str(group.parallelism.ep)]
    args += {"bf16": ["--dtype", "bfloat16"], "fp8": ["--quantization", "fp8", "--kv-cache-dtype", "fp8_e4m3"],
             "fp4": ["--kv-cache-dtype", "fp8_e4m3"]}[group.precision]
    if max_seqs is not None:
        args += ["--max-running-requests", str(max_seqs)]
    if pods > 1 and not dynamo:
        args += ["--nnodes", str(pods), "--node-rank", "$(LWS_WORKER_INDEX)",
                 "--dist-init-addr", "$(LWS_LEADER_ADDRESS):5000"]
    if group.role != "aggregated":
        args += ["--disaggregation-mode", group.role, "--disaggregation-transfer-backend", "nixl"]
    return args + ["--host", "0.0.0.0", "--port", str(PORT)]


# -- the plan as groups with their place --------------------------------------------


@dataclass(frozen=True)
class Placed:
    """One engine group with everything its manifests need."""

    group: EngineGroup
    rack: Rack
    index: int
    """position of the group in its rack's engines"""
    system: System
    namespace: str
    owner: str | None
    """the dedicated or dedicated-rack tenant it belongs to; None when shared"""
    rack_owner: bool
    """``owner`` is a dedicated-rack tenant: its pods tolerate the taint of the tenant's nodes"""
    max_seqs: int | None
    """sequences per replica at its operating point, the most any routed tenant's shape needs"""

    @property
    def name(self) -> str:
        return k8s_name(self.group.id)

    @property
    def engine(self) -> str:
        return ENGINE_BY_VENDOR[self.system.vendor]

    @property
    def gpu_resource(self) -> str:
        return f"{self.system.vendor}.com/gpu"


def _owners(instance: Instance, plan: Plan) -> dict[str, str]:
    """Engine group id -> the dedicated or dedicated-rack tenant routed to it (every group of a
    dedicated-rack tenant's racks)."""
    tenants = {t.name: t for t in instance.tenants}
    groups = plan.engine_groups()
    owners: dict[str, str] = {}
    for route in plan.routes:
        tenant = tenants.get(route.tenant)
        if tenant is None or tenant.isolation == "shared" or route.engine not in groups:
            continue
        owners.setdefault(route.engine, tenant.name)
        if tenant.isolation == "dedicated-rack":
            for group in groups[route.engine][0].engines:
                owners.setdefault(group.id, tenant.name)
    return owners


def _max_seqs(instance: Instance, plan: Plan, performance: PerformanceModel) -> dict[str, int]:
    """Engine group id -> sequences per replica: the most any tenant routed to it holds at once on
    a replica filled with its requests (:func:`sequences_in_flight` at the group's load)."""
    tenants = {t.name: t for t in instance.tenants}
    groups = plan.engine_groups()
    most: dict[str, float] = {}
    for tenant_name, engine in dict.fromkeys((r.tenant, r.engine) for r in plan.routes):
        if tenant_name not in tenants or engine not in groups:
            continue
        rack, group = groups[engine]
        tenant = tenants[tenant_name]
        load = performance.load(group.config(rack.system), tenant.input_tokens, tenant.output_tokens)
        if load is not None:
            seqs = sequences_in_flight(load, tenant.input_tokens, tenant.output_tokens)
            most[engine] = max(most.get(engine, 0.0), seqs)
    return {engine: max(1, math.ceil(seqs - 1e-9)) for engine, seqs in most.items()}


def place(instance: Instance, plan: Plan, performance: PerformanceModel, namespace: str) -> list[Placed]:
    """Every engine group of ``plan`` in rack order, with its system, namespace, owner and batch.

    Raises:
        InstanceError: a rack names a system the instance does not know.
    """
    owners = _owners(instance, plan)
    seqs = _max_seqs(instance, plan, performance)
    placed = []
    for i, rack in enumerate(plan.racks):
        if rack.system not in instance.system_catalog:
            raise InstanceError([(f"racks[{i}].system", f"unknown system '{rack.system}'")], "plan")
        system = instance.system(rack.system)
        for index, group in enumerate(rack.engines):
            owner = owners.get(group.id)
            ns = namespace if owner is None else k8s_name(f"{namespace}-{owner}")
            rack_owner = owner is not None and instance.tenant(owner).isolation == "dedicated-rack"
            placed.append(Placed(group, rack, index, system, ns, owner, rack_owner, seqs.get(group.id)))
    return placed


def group_annotations(p: Placed) -> dict[str, str]:
    """The engine group's exact fields, for the round trip (``count`` and GPUs are read from the
    workload itself: replicas, and GPU limit x pods per replica)."""
    g = p.group
    notes = {
        "group-id": g.id, "rack-id": p.rack.id, "engine-index": str(p.index), "model": g.model,
        "precision": g.precision, "role": g.role,
        "parallelism": json.dumps(g.parallelism.model_dump(), separators=(",", ":")), "source": g.source,
    }
    if g.tokens_per_s_per_user is not None:
        notes["tokens-per-s-per-user"] = repr(g.tokens_per_s_per_user)
    if g.ttft_s is not None:
        notes["ttft-s"] = repr(g.ttft_s)
    if p.max_seqs is not None:
        notes["max-sequences"] = str(p.max_seqs)
    return {PREFIX + key: value for key, value in notes.items()}


def pool_name(p: Placed) -> str:
    """The (namespace, site, model) pool of the group: its DynamoGraphDeployment or InferencePool."""
    return k8s_name(f"{p.group.model}-{p.rack.site}")


def group_labels(p: Placed) -> dict[str, str]:
    return {**MANAGED, GROUP_LABEL: p.name, PREFIX + "pool": pool_name(p), PREFIX + "role": p.group.role}


def pod_placement(p: Placed, options: ExportOptions) -> dict[str, Any]:
    """Affinity (site, rack and, where a domain spans nodes, one NVLink clique per group) and the
    toleration a dedicated-rack tenant's tainted nodes need."""
    terms = [
        {"key": options.zone_label, "operator": "In", "values": [k8s_name(p.rack.site)]},
        {"key": options.rack_label, "operator": "In", "values": [k8s_name(p.rack.id)]},
    ]
    affinity: dict[str, Any] = {
        "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": terms}]}}
    }
    if p.system.gpus_per_nvlink_domain > node_gpus(p.system):
        affinity["podAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {GROUP_LABEL: p.name}}, "topologyKey": options.clique_label}
        ]}
    spec: dict[str, Any] = {"affinity": affinity}
    if p.rack_owner:
        spec["tolerations"] = [{"key": PREFIX + "dedicated", "operator": "Equal", "value": k8s_name(p.owner),
                                "effect": "NoSchedule"}]
    return spec


# -- formats ------------------------------------------------------------------------


def _metadata(name: str, namespace: str, labels: dict[str, str], annotations: dict[str, str] | None = None) -> dict:
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "labels": labels}
    if annotations:
        meta["annotations"] = annotations
    return meta


def _container(p: Placed, instance: Instance, options: ExportOptions, pods: int, gpus: int,
               leader: bool = True) -> dict[str, Any]:
    model = instance.model(p.group.model)
    args = engine_args(p.engine, p.group, model, p.max_seqs, pods)
    image = options.image or IMAGES[p.engine]
    limits = {p.gpu_resource: gpus}
    if p.engine == "vllm":
        serve = ["vllm", "serve", *args]
        if pods > 1:  # the LWS vLLM pattern: a Ray cluster per group, vLLM started on the leader
            script = "/vllm-workspace/examples/online_serving/multi-node-serving.sh"
            start = (f"{script} leader --ray_cluster_size=$(LWS_GROUP_SIZE); " + " ".join(_quote(a) for a in serve)
                     if leader else f"{script} worker --ray_address=$(LWS_LEADER_ADDRESS)")
            command, args = ["sh", "-c", start], []
        else:
            command, args = ["vllm", "serve"], args
    else:
        command = ["python3", "-m", "sglang.launch_server"]
    container: dict[str, Any] = {"name": "server", "image": image, "command": command}
    if args:
        container["args"] = args
    container["ports"] = [{"containerPort": PORT, "name": "http"}]
    container["resources"] = {"limits": limits, "requests": dict(limits)}
    return container


def _quote(arg: str) -> str:
    return arg if re.fullmatch(r"[A-Za-z0-9_./:=$()-]+", arg) else "'" + arg.replace("'", "'\\''") + "'"


def _pod_template(p: Placed, instance: Instance, options: ExportOptions, pods: int, gpus: int,
                  leader: bool = True) -> dict[str, Any]:
    return {
        "metadata": {"labels": group_labels(p), "annotations": {PREFIX + "group-id": p.group.id}},
        "spec": {**pod_placement(p, options), "containers": [_container(p, instance, options, pods, gpus, leader)]},
    }


def k8s_workload(p: Placed, instance: Instance, options: ExportOptions) -> list[dict[str, Any]]:
    """A Deployment (a replica on one node) or a LeaderWorkerSet (a replica over nodes), and its Service."""
    pods, gpus = pods_per_replica(p.group, p.system)
    meta = _metadata(p.name, p.namespace, group_labels(p), group_annotations(p))
    if pods == 1:
        workload = {
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
            "spec": {"replicas": p.group.count, "selector": {"matchLabels": {GROUP_LABEL: p.name}},
                     "template": _pod_template(p, instance, options, pods, gpus)},
        }
        selector = {GROUP_LABEL: p.name}
    else:
        workload = {
            "apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet", "metadata": meta,
            "spec": {"replicas": p.group.count, "leaderWorkerTemplate": {
                "size": pods,
                "leaderTemplate": _pod_template(p, instance, options, pods, gpus),
                "workerTemplate": _pod_template(p, instance, options, pods, gpus, leader=False),
            }},
        }
        selector = {GROUP_LABEL: p.name, "leaderworkerset.sigs.k8s.io/worker-index": "0"}
    service = {
        "apiVersion": "v1", "kind": "Service", "metadata": _metadata(p.name, p.namespace, {**MANAGED, GROUP_LABEL: p.name}),
        "spec": {"selector": selector, "ports": [{"name": "http", "port": PORT, "targetPort": PORT}]},
    }
    return [workload, service]


def _pool_key(p: Placed) -> tuple[str, str, str]:
    return p.namespace, p.rack.site, p.group.model


def dynamo_graphs(placed: list[Placed], instance: Instance, options: ExportOptions) -> dict[str, dict[str, Any]]:
    """DynamoGraphDeployments by file name: one per (namespace, site, model), split every
    :data:`MAX_DYNAMO_WORKERS` workers.

    Raises:
        InstanceError: an engine group on AMD GPUs (Dynamo's runtime images are built for NVIDIA).
    """
    amd = [p.group.id for p in placed if p.system.vendor != "nvidia"]
    if amd:
        raise InstanceError([(f"engine {amd[0]}", "runs on AMD GPUs; the Dynamo runtime images are built for "
                              "NVIDIA GPUs: export --format k8s or llm-d")], "plan")
    by_key: dict[tuple[str, str, str], list[Placed]] = defaultdict(list)
    for p in placed:
        by_key[_pool_key(p)].append(p)
    image = options.image or IMAGES["dynamo"]
    graphs = {}
    for (namespace, site, model), members in by_key.items():
        for start in range(0, len(members), MAX_DYNAMO_WORKERS):
            chunk = members[start:start + MAX_DYNAMO_WORKERS]
            part = f"-{start // MAX_DYNAMO_WORKERS + 1}" if len(members) > MAX_DYNAMO_WORKERS else ""
            name = k8s_name(f"{model}-{site}{part}", limit=45)
            services: dict[str, Any] = {"frontend": {
                "componentType": "frontend", "replicas": 1,
                "extraPodSpec": {"mainContainer": {"name": "main", "image": image,
                                                   "command": ["python3", "-m", "dynamo.frontend"]}},
            }}
            for i, p in enumerate(chunk, 1):
                services[f"{_SERVICE_PREFIX[p.group.role]}-{i}"] = _dynamo_worker(p, instance, image, options)
            graphs[f"{file_stem(site)}/{namespace}/{name}.yaml"] = {
                "apiVersion": "nvidia.com/v1alpha1", "kind": "DynamoGraphDeployment",
                "metadata": _metadata(name, namespace, {**MANAGED, PREFIX + "model": k8s_name(model)}),
                "spec": {"backendFramework": "vllm", "services": services},
            }
    return graphs


_SERVICE_PREFIX = {"aggregated": "worker", "prefill": "prefill", "decode": "decode"}


def _dynamo_worker(p: Placed, instance: Instance, image: str, options: ExportOptions) -> dict[str, Any]:
    pods, gpus = pods_per_replica(p.group, p.system)
    worker: dict[str, Any] = {"componentType": "worker"}
    if p.group.role != "aggregated":
        worker["subComponentType"] = p.group.role
    worker |= {
        "replicas": p.group.count,
        "labels": group_labels(p),
        "annotations": group_annotations(p),
        "resources": {"limits": {"gpu": str(gpus)}, "requests": {"gpu": str(gpus)}},
    }
    if pods > 1:
        worker["multinode"] = {"nodeCount": pods}
    worker["extraPodSpec"] = {**pod_placement(p, options), "mainContainer": {
        "name": "main", "image": image, "command": ["python3", "-m", "dynamo.vllm"],
        "args": engine_args("vllm", p.group, instance.model(p.group.model), p.max_seqs, pods, dynamo=True),
    }}
    return worker


def criticality(tenant: Tenant) -> str:
    """InferenceModel criticality: ``Critical`` for dedicated and dedicated-rack tenants and SLO
    classes starting ``premium``, ``Sheddable`` for classes starting ``batch``, else ``Standard``."""
    label = tenant.slo_class.lower()
    if tenant.isolation != "shared" or label.startswith("premium"):
        return "Critical"
    return "Sheddable" if label.startswith("batch") else "Standard"


def llmd_pools(placed: list[Placed], instance: Instance, plan: Plan) -> dict[str, list[dict[str, Any]]]:
    """Per (namespace, site, model): an InferencePool over its groups' pods and an InferenceModel
    for each tenant routed to them, by file name."""
    pools: dict[tuple[str, str, str], list[Placed]] = defaultdict(list)
    for p in placed:
        pools[_pool_key(p)].append(p)
    tenants_of: dict[str, list[str]] = defaultdict(list)
    for route in plan.routes:
        if route.tenant not in tenants_of[route.engine]:
            tenants_of[route.engine].append(route.tenant)
    files = {}
    for (namespace, site, model), members in pools.items():
        name = pool_name(members[0])
        pool_label = {PREFIX + "pool": name}
        docs: list[dict[str, Any]] = [{
            "apiVersion": "inference.networking.x-k8s.io/v1alpha2", "kind": "InferencePool",
            "metadata": _metadata(name, namespace, dict(MANAGED)),
            "spec": {"selector": pool_label, "targetPortNumber": PORT,
                     "extensionRef": {"name": k8s_name(f"{name}-epp")}},
        }]
        tenants = dict.fromkeys(t for p in members for t in tenants_of[p.group.id])
        for tenant_name in tenants:
            tenant = instance.tenant(tenant_name)
            docs.append({
                "apiVersion": "inference.networking.x-k8s.io/v1alpha2", "kind": "InferenceModel",
                "metadata": _metadata(k8s_name(f"{tenant_name}-{name}"), namespace, dict(MANAGED),
                                      {PREFIX + "tenant": tenant_name}),
                "spec": {"modelName": tenant_name, "criticality": criticality(tenant),
                         "poolRef": {"name": name}, "targetModels": [{"name": model, "weight": 1}]},
            })
        files[f"{file_stem(site)}/{namespace}/pool-{name}.yaml"] = docs
    return files


def routing_tables(plan: Plan, placed: list[Placed], scenarios: range) -> dict[str, dict[str, Any]]:
    """One ConfigMap per scenario by file name: each tenant's engine groups in route order with
    their weight (the share of its prompts a prefill or aggregated group takes, of its output a
    decode group takes) and exact tokens/s."""
    where = {p.group.id: p for p in placed}
    by_scenario: dict[int, dict[str, list[Route]]] = defaultdict(lambda: defaultdict(list))
    for route in plan.routes:
        by_scenario[route.scenario][route.tenant].append(route)
    files = {}
    for s in scenarios:
        tenants = []
        for tenant, routes in by_scenario[s].items():
            total_in = sum(r.input_tokens_per_s for r in routes)
            total_out = sum(r.output_tokens_per_s for r in routes)
            engines = []
            for r in routes:
                p = where.get(r.engine)
                decode = p is not None and p.group.role == "decode"
                part, total = (r.output_tokens_per_s, total_out) if decode else (r.input_tokens_per_s, total_in)
                engines.append({
                    "engine": r.engine, "workload": p.name if p else None, "namespace": p.namespace if p else None,
                    "weight": round(part / total, 6) if total > 0 else 0.0,
                    "input_tokens_per_s": r.input_tokens_per_s, "output_tokens_per_s": r.output_tokens_per_s,
                })
            tenants.append({"tenant": tenant, "engines": engines})
        files[f"routing/scenario-{s:03d}.yaml"] = {
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": f"tenantplan-routes-{s:03d}", "labels": {**MANAGED, KIND_LABEL: "routes"},
                         "annotations": {PREFIX + "scenario": str(s)}},
            "data": {"routes.json": json.dumps({"scenario": s, "tenants": tenants}, indent=1)},
        }
    return files


def plan_config_map(plan: Plan, options: ExportOptions, scenarios: range) -> dict[str, Any]:
    """The plan's header, its racks (empty racks included) with the node labels their nodes must
    carry, and which routing tables were written."""
    header = plan.model_dump(mode="json", exclude={"racks", "routes"})
    racks = [{"id": r.id, "site": r.site, "system": r.system,
              "node_labels": {options.zone_label: k8s_name(r.site), options.rack_label: k8s_name(r.id)}}
             for r in plan.racks]
    return {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "tenantplan-plan", "namespace": options.namespace,
                     "labels": {**MANAGED, KIND_LABEL: "plan"}},
        "data": {"plan.json": json.dumps({**header, "format": options.format,
                                          "scenarios": [scenarios.start, scenarios.stop]}, indent=1),
                 "racks.json": json.dumps(racks, indent=1)},
    }


def export_plan(
    instance: Instance, plan: Plan, options: ExportOptions = ExportOptions(), performance: PerformanceModel | None = None
) -> dict[str, str]:
    """``plan`` as YAML files by path relative to the output folder: ``SITE/NAMESPACE/*.yaml`` for
    the workloads (and pools), ``routing/scenario-NNN.yaml``, ``namespaces.yaml`` and ``plan.yaml``.

    The plan should keep every rule (``tenantplan export`` refuses one that does not); its
    routing ConfigMaps carry the namespace of the shared engines.

    Raises:
        InstanceError: PyYAML missing, a scenario out of range, a rack of an unknown system, a
            replica that does not fill whole nodes, or AMD GPUs in the ``dynamo`` format.
    """
    dump = require_yaml().safe_dump_all
    if options.scenario is not None and not 0 <= options.scenario < instance.num_scenarios:
        raise InstanceError([("--scenario", f"{options.scenario} is out of range: the instance has "
                              f"{instance.num_scenarios} scenario(s), 0 to {instance.num_scenarios - 1}")], "command line")
    scenarios = (range(instance.num_scenarios) if options.scenario is None
                 else range(options.scenario, options.scenario + 1))
    performance = performance or PerformanceModel(instance, confidence=plan.confidence)
    placed = place(instance, plan, performance, options.namespace)
    docs: dict[str, list[dict[str, Any]]] = {}
    if options.format == "dynamo":
        docs |= {path: [graph] for path, graph in dynamo_graphs(placed, instance, options).items()}
    else:
        docs |= {f"{file_stem(p.rack.site)}/{p.namespace}/{p.name}.yaml": k8s_workload(p, instance, options) for p in placed}
    if options.format == "llm-d":
        docs |= llmd_pools(placed, instance, plan)
    namespaces = dict.fromkeys([options.namespace, *(p.namespace for p in placed)])
    docs["namespaces.yaml"] = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": dict(MANAGED)}}
                               for ns in namespaces]
    docs["plan.yaml"] = [plan_config_map(plan, options, scenarios)]
    for path, table in routing_tables(plan, placed, scenarios).items():
        table["metadata"]["namespace"] = options.namespace
        docs[path] = [table]
    return {path: dump(items, sort_keys=False, width=120) for path, items in docs.items()}
