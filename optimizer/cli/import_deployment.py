"""``tenantplan import-deployment DIR [-o plan.json]``: manifests written by ``export`` back into a plan.

Engine groups, replica counts and GPUs come from the workloads as they stand in DIR (edit a
``replicas`` and the plan follows), racks and the header from the plan ConfigMap, routes from
the routing ConfigMaps. The plan can then go to ``evaluate`` or ``solve --start``.
"""

from __future__ import annotations

import argparse
import sys

from optimizer.cli import EXIT_OK
from optimizer.deploy import import_plan, require_yaml
from optimizer.safe_io import refuse_unsafe_output


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "import-deployment",
        help="read manifests written by 'tenantplan export' back into a plan",
        description="Read the manifests under DIR (written by 'tenantplan export', edited or not) back into "
        "a plan: engine groups and replicas from the workloads, racks from the plan ConfigMap, routes "
        "from the routing ConfigMaps. Prints the plan as JSON, or writes it with -o. Exit 0, or 2 on "
        "bad input. Needs the deploy extra (pip install 'tenantplan[deploy]').",
    )
    parser.add_argument("folder", metavar="DIR", help="folder written by 'tenantplan export'")
    parser.add_argument("-o", "--output", metavar="FILE", help="write the plan here (JSON) instead of standard output")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    require_yaml()
    if args.output:
        refuse_unsafe_output("--output", args.output)
    plan = import_plan(args.folder)
    if args.output:
        plan.save(args.output)
        groups = sum(len(rack.engines) for rack in plan.racks)
        print(f"wrote {args.output}: {len(plan.racks)} racks, {groups} engine groups, {len(plan.routes)} routes",
              file=sys.stderr)
    else:
        sys.stdout.write(plan.to_json() + "\n")
    return EXIT_OK
