"""Manifests back into a plan: what :mod:`optimizer.deploy.manifests` wrote, as it now stands.

Engine groups come from the workloads (Deployments, LeaderWorkerSets, DynamoGraphDeployment
worker services) that carry a ``tenantplan.io/group-id`` annotation: the replica count from
their ``replicas``, the GPUs per replica from their GPU limit times the pods per replica, the
rest from their annotations. Racks (with their order, empty ones included) and the plan's
header come from the ``tenantplan-plan`` ConfigMap, routes from the routing ConfigMaps, in
scenario order. A folder exported from a plan whose routes run scenario by scenario (as every
planner writes them) reads back to an equal plan.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from optimizer.instance import InstanceError, field_problems
from optimizer.deploy.manifests import KIND_LABEL, PREFIX, require_yaml
from optimizer.plan import EngineGroup, Parallelism, Plan, Rack, Route

MAX_FILES = 100_000
"""Most YAML files read from one folder."""


def _documents(folder: Path) -> Iterator[tuple[str, Any]]:
    """(``file[index]``, document) of every YAML document under ``folder``."""
    yaml = require_yaml()
    paths = sorted(p for p in folder.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
    if len(paths) > MAX_FILES:
        raise InstanceError([("", f"{len(paths)} YAML files, more than {MAX_FILES:,}")], str(folder))
    for path in paths:
        where = path.relative_to(folder).as_posix()
        try:
            docs = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
            raise InstanceError([(where, f"cannot be read as YAML: {str(error).splitlines()[0]}")], str(folder)) from None
        for i, doc in enumerate(docs):
            yield f"{where}[{i}]", doc


def _get(doc: Any, *keys: str | int, default: Any = None) -> Any:
    """``doc[k1][k2]...``, or ``default`` where any step is missing or of the wrong type."""
    for key in keys:
        if isinstance(key, int):
            if not isinstance(doc, list) or len(doc) <= key:
                return default
        elif not isinstance(doc, dict) or key not in doc:
            return default
        doc = doc[key]
    return doc


def _gpu_limit(container: Any) -> Any:
    limits = _get(container, "resources", "limits", default={})
    return next((value for key, value in limits.items() if key.endswith(".com/gpu")), None) if isinstance(limits, dict) else None


def _workload_groups(doc: dict[str, Any]) -> Iterator[tuple[dict[str, Any], Any, Any, Any, str]]:
    """(annotations, replicas, GPU limit per pod, pods per replica, field path) per engine group of a workload."""
    kind = doc.get("kind")
    if kind == "Deployment":
        container = _get(doc, "spec", "template", "spec", "containers", 0)
        yield _get(doc, "metadata", "annotations", default={}), _get(doc, "spec", "replicas", default=1), \
            _gpu_limit(container), 1, "spec"
    elif kind == "LeaderWorkerSet":
        template = _get(doc, "spec", "leaderWorkerTemplate", default={})
        container = _get(template, "leaderTemplate", "spec", "containers", 0) or _get(
            template, "workerTemplate", "spec", "containers", 0)
        yield _get(doc, "metadata", "annotations", default={}), _get(doc, "spec", "replicas", default=1), \
            _gpu_limit(container), _get(template, "size", default=1), "spec"
    elif kind == "DynamoGraphDeployment":
        for name, service in (_get(doc, "spec", "services", default={}) or {}).items():
            yield _get(service, "annotations", default={}), _get(service, "replicas", default=1), \
                _get(service, "resources", "limits", "gpu"), _get(service, "multinode", "nodeCount", default=1), \
                f"spec.services.{name}"


def _number(text: str | None) -> float | None:
    return None if text is None else float(text)


def _group(notes: dict[str, Any], replicas: Any, gpu_limit: Any, pods: Any) -> tuple[str, int, EngineGroup]:
    """(rack id, index in the rack, engine group) from a workload's annotations and sizes.

    Raises:
        ValueError, KeyError, TypeError, ValidationError: a missing or malformed field.
    """
    def note(key: str) -> str:
        value = notes[PREFIX + key]
        if not isinstance(value, str):
            raise TypeError(f"annotation {PREFIX + key} must be a string")
        return value

    gpus = int(gpu_limit) * int(pods)
    group = EngineGroup(
        id=note("group-id"), model=note("model"), precision=note("precision"), role=note("role"),
        gpus=gpus, count=replicas, parallelism=Parallelism.model_validate(json.loads(note("parallelism"))),
        tokens_per_s_per_user=_number(notes.get(PREFIX + "tokens-per-s-per-user")),
        ttft_s=_number(notes.get(PREFIX + "ttft-s")), source=note("source"),
    )
    return note("rack-id"), int(note("engine-index")), group


def import_plan(folder: str | Path) -> Plan:
    """The plan the manifests under ``folder`` describe (module docstring).

    Raises:
        InstanceError: not a folder, unreadable YAML, no plan ConfigMap, or a workload or table
            whose fields are missing or malformed, every problem with its file, document and field.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InstanceError([("", "is not a folder")], str(folder))
    problems: list[tuple[str, str]] = []
    header: dict[str, Any] | None = None
    rack_rows: list[Any] = []
    tables: dict[int, list[Route]] = {}
    groups: list[tuple[str, int, EngineGroup, str]] = []
    for where, doc in _documents(folder):
        if not isinstance(doc, dict):
            continue
        kind = _get(doc, "metadata", "labels", KIND_LABEL)
        try:
            if doc.get("kind") == "ConfigMap" and kind == "plan":
                header = json.loads(doc["data"]["plan.json"])
                rack_rows = json.loads(doc["data"]["racks.json"])
            elif doc.get("kind") == "ConfigMap" and kind == "routes":
                table = json.loads(doc["data"]["routes.json"])
                tables[int(table["scenario"])] = [
                    Route(tenant=t["tenant"], scenario=int(table["scenario"]), engine=e["engine"],
                          input_tokens_per_s=e["input_tokens_per_s"], output_tokens_per_s=e["output_tokens_per_s"])
                    for t in table["tenants"] for e in t["engines"]
                ]
        except (KeyError, TypeError, ValueError, ValidationError) as error:
            problems.append((where, f"malformed tenantplan {kind} ConfigMap: {_reason(error)}"))
        for notes, replicas, limit, pods, path in _workload_groups(doc):
            if not isinstance(notes, dict) or PREFIX + "group-id" not in notes:
                continue
            try:
                rack, index, group = _group(notes, replicas, limit, pods)
            except (KeyError, TypeError, ValueError, ValidationError) as error:
                problems.append((f"{where}.{path}", f"malformed engine group: {_reason(error)}"))
                continue
            groups.append((rack, index, group, f"{where}.{path}"))
    if header is None:
        problems.append(("", "no tenantplan-plan ConfigMap: not a folder written by 'tenantplan export'"))
    if problems:
        raise InstanceError(problems, str(folder))
    try:
        racks = _racks(rack_rows, groups)
        routes = tuple(route for s in sorted(tables) for route in tables[s])
        fields = {k: v for k, v in header.items() if k not in ("format", "scenarios")}
        return Plan.model_validate({**fields, "racks": racks, "routes": routes})
    except ValidationError as error:
        raise InstanceError(field_problems(error), str(folder)) from None


def _racks(rows: Any, groups: list[tuple[str, int, EngineGroup, str]]) -> tuple[Rack, ...]:
    """The racks of ``rows`` in order, each holding its groups by engine index.

    Raises:
        InstanceError: a malformed row, or a group in a rack the plan ConfigMap does not list.
    """
    try:
        bare = [Rack(id=r["id"], site=r["site"], system=r["system"]) for r in rows]
    except (KeyError, TypeError, ValidationError) as error:
        raise InstanceError([("plan.yaml", f"malformed racks.json: {_reason(error)}")], "manifests") from None
    known = {rack.id for rack in bare}
    stray = [(where, f"engine group in rack '{rack}', which the plan ConfigMap does not list")
             for rack, _, _, where in groups if rack not in known]
    if stray:
        raise InstanceError(stray, "manifests")
    return tuple(
        rack.model_copy(update={"engines": tuple(g for _, _, g, _ in sorted(
            (entry for entry in groups if entry[0] == rack.id), key=lambda entry: entry[1]))})
        for rack in bare
    )


def _reason(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return "; ".join(f"{path}: {reason}" for path, reason in field_problems(error))
    if isinstance(error, KeyError):
        return f"missing {error}"
    return str(error)
