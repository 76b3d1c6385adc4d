"""``tenantplan export INSTANCE PLAN --format k8s|dynamo|llm-d --out DIR``: the plan as Kubernetes manifests.

Writes one workload per engine group (``SITE/NAMESPACE/*.yaml``), the namespaces, a routing
ConfigMap per scenario and the plan's own ConfigMap, all at once (a new folder or nothing), then
reads the folder back and says whether it gives the same plan. A plan made for another instance
is bad input (exit 2); a plan that breaks a rule is refused with its violations (exit 1);
nothing is written either way. ``docs/deploy.md``.
"""

from __future__ import annotations

import argparse
import re
import sys

from optimizer.check import check
from optimizer.cli import EXIT_OK, EXIT_VIOLATIONS, print_json, printable
from optimizer.cli.evaluate import render_violations
from optimizer.deploy import FORMATS, ExportOptions, export_plan, import_plan, require_yaml
from optimizer.evaluate import evaluate
from optimizer.instance import InstanceError, load_instance
from optimizer.performance import PerformanceModel
from optimizer.plan import Plan
from optimizer.safe_io import refuse_unsafe_folder, write_folder_atomic

_DEFAULTS = ExportOptions()
_LABEL_KEY = re.compile(r"([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
"""A Kubernetes label key: an optional DNS-subdomain prefix and '/', then a name of up to 63 characters."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="write a plan as Kubernetes manifests (vLLM/SGLang, NVIDIA Dynamo or llm-d) with routing tables",
        description="Write PLAN for INSTANCE as Kubernetes manifests in DIR (a new or empty folder, written "
        "all at once): one workload per engine group, placed in its rack and site, the namespaces "
        "(dedicated tenants get their own), a routing ConfigMap per scenario and the plan's ConfigMap. "
        "Exit 0 when written, 1 when the plan breaks a rule, 2 on bad input; nothing is written "
        "unless it succeeds. Needs the deploy extra (pip install 'tenantplan[deploy]').",
    )
    parser.add_argument("instance", metavar="INSTANCE", help="instance file (.toml or .json)")
    parser.add_argument("plan", metavar="PLAN", help="plan file (.json) made for INSTANCE")
    parser.add_argument("--format", choices=FORMATS, default="k8s",
                        help="k8s: Deployments and LeaderWorkerSets of vLLM (NVIDIA) or SGLang (AMD); dynamo: "
                        "NVIDIA Dynamo DynamoGraphDeployments; llm-d: the k8s workloads with InferencePools "
                        "and InferenceModels (default k8s)")
    parser.add_argument("--out", metavar="DIR", required=True, help="output folder: new or empty")
    parser.add_argument("--namespace", default=_DEFAULTS.namespace,
                        help=f"namespace of shared engines and routing (default {_DEFAULTS.namespace}); a "
                        "dedicated tenant's engines go to NAMESPACE-TENANT")
    parser.add_argument("--scenario", type=int, metavar="N", help="write the routing table of scenario N only")
    parser.add_argument("--zone-label", default=_DEFAULTS.zone_label, help=f"node label of the site (default {_DEFAULTS.zone_label})")
    parser.add_argument("--rack-label", default=_DEFAULTS.rack_label, help=f"node label of the rack (default {_DEFAULTS.rack_label})")
    parser.add_argument("--clique-label", default=_DEFAULTS.clique_label,
                        help=f"node label of the NVLink domain (default {_DEFAULTS.clique_label}, the NVIDIA GPU operator's)")
    parser.add_argument("--image", help="container image of every model server (default: a public vLLM, SGLang "
                        "or Dynamo image by engine)")
    parser.add_argument("--json", action="store_true", help="print the summary (or the violations) as JSON")
    parser.set_defaults(run=run)


def options(args: argparse.Namespace) -> ExportOptions:
    """The export options of the command line.

    Raises:
        InstanceError: a namespace that is not a DNS-1123 label, or a label key that is not one.
    """
    problems = []
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", args.namespace) or len(args.namespace) > 63:
        problems.append(("--namespace", f"'{args.namespace}' is not a Kubernetes namespace (lower-case letters, "
                         "digits and '-', at most 63)"))
    for option in ("zone_label", "rack_label", "clique_label"):
        value = getattr(args, option)
        if not _LABEL_KEY.fullmatch(value) or len(value) > 317:
            problems.append((f"--{option.replace('_', '-')}", f"'{value}' is not a Kubernetes label key"))
    if problems:
        raise InstanceError(problems, "command line")
    return ExportOptions(format=args.format, namespace=args.namespace, scenario=args.scenario,
                         zone_label=args.zone_label, rack_label=args.rack_label,
                         clique_label=args.clique_label, image=args.image)


def run(args: argparse.Namespace) -> int:
    settings = options(args)
    require_yaml()
    refuse_unsafe_folder("--out", args.out)
    instance = load_instance(args.instance)
    plan = Plan.load(args.plan)
    if plan.instance != instance.name or plan.instance_sha256 != instance.digest():
        raise InstanceError([(args.plan, f"made for instance '{plan.instance}' ({plan.instance_sha256[:12]}), not "
                              f"'{instance.name}' ({instance.digest()[:12]}); nothing written")], "plan")
    performance = PerformanceModel(instance, confidence=plan.confidence)
    evaluate(instance, plan, performance)
    violations = check(instance, plan, performance)
    if any(v.severity == "error" for v in violations):
        if args.json:
            print_json({"error": "the plan breaks rules; nothing written",
                        "violations": [v.model_dump(mode="json") for v in violations], "exit": EXIT_VIOLATIONS})
        print(render_violations(violations) + "the plan breaks rules: nothing written", file=sys.stderr)
        return EXIT_VIOLATIONS
    files = export_plan(instance, plan, settings, performance)
    written = write_folder_atomic(args.out, files)
    back = import_plan(args.out)
    if settings.scenario is not None:  # only that scenario's routing table was written
        plan = plan.model_copy(update={"routes": tuple(r for r in plan.routes if r.scenario == settings.scenario)})
    groups = [group for rack in back.racks for group in rack.engines]
    summary = {
        "out": str(args.out), "format": settings.format, "files": len(written),
        "workloads": len(groups), "replicas": sum(g.count for g in groups),
        "gpus": sum(g.count * g.gpus for g in groups),
        "plan_gpus": sum(g.count * g.gpus for rack in plan.racks for g in rack.engines),
        "tenants_routed": len({r.tenant for r in back.routes}), "tenants": len(instance.tenants),
        "routing_tables": len({r.scenario for r in back.routes}), "round_trip_equal": back == plan,
    }
    if args.json:
        print_json(summary)
    else:
        print(f"wrote {summary['files']} files to {printable(summary['out'])} ({settings.format}): "
              f"{summary['workloads']} engine groups, {summary['replicas']} replicas, {summary['gpus']} GPUs "
              f"requested (plan: {summary['plan_gpus']}); {summary['tenants_routed']} of {summary['tenants']} "
              f"tenants routed in {summary['routing_tables']} routing table(s); read back: "
              f"{'the same plan' if summary['round_trip_equal'] else 'a different plan'}"
              + (f" (routes of scenario {settings.scenario} only)" if settings.scenario is not None else ""))
    return EXIT_OK
