"""``tenantplan stress INSTANCE PLAN [--fail rack|site|all] [--json]``: does the plan survive failures?

For every single rack (or site) loss, re-routes every tenant optimally over the engines that
remain (:mod:`optimizer.stress`) and reports the unserved requests/s per tenant and scenario.
Exit 0 when every tenant with a ``survive`` promise keeps ``survive_share`` of its demand under
each failure its promise covers, 1 naming each failure, tenant and scenario where one does not,
2 on bad input.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict

from optimizer.cli import EXIT_OK, EXIT_VIOLATIONS, print_json, printable
from optimizer.instance import load_instance
from optimizer.plan import Plan
from optimizer.stress import FAILURE_KINDS, TenantAfterFailure, stress


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "stress",
        help="re-route a plan after each single rack or site failure; check survive promises",
        description="For every single failure of the kind asked (each rack of PLAN, each site), "
        "re-route every tenant optimally over the engines that remain (an LP) and report the "
        "unserved requests/s per tenant and scenario. Exit 0 when every tenant with survive = "
        "rack or site keeps survive_share of its demand under each failure its promise covers, "
        "1 naming the failure, tenant and scenario where one does not, 2 on bad input.",
    )
    parser.add_argument("instance", metavar="INSTANCE", help="instance file (.toml or .json)")
    parser.add_argument("plan", metavar="PLAN", help="plan file (.json), from any method or written by hand")
    parser.add_argument("--fail", choices=("rack", "site", "all"), default="all",
                        help="which single failures to try (default all: every rack, then every site)")
    parser.add_argument("--json", action="store_true",
                        help="print every failure with each tenant's requests/s per scenario as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    instance = load_instance(args.instance)
    plan = Plan.load(args.plan)
    kinds = FAILURE_KINDS if args.fail == "all" else (args.fail,)
    outcomes = stress(instance, plan, kinds)
    broken = [o for o in outcomes if not o.kept]
    if args.json:
        print_json({"instance": instance.name, "fail": args.fail, "survives": not broken,
                    "failures": _as_json(outcomes), "broken": [_broken(o) for o in broken]})
    else:
        sys.stdout.write(_text(outcomes, broken))
    return EXIT_VIOLATIONS if broken else EXIT_OK


def _broken(o: TenantAfterFailure) -> dict:
    return {"kind": o.failure.kind, "failure": o.failure.name, "tenant": o.tenant, "scenario": o.scenario,
            "required_requests_per_s": o.required, "served_requests_per_s": o.served}


def _as_json(outcomes: list[TenantAfterFailure]) -> list[dict]:
    grouped: dict[tuple[str, str], list[TenantAfterFailure]] = defaultdict(list)
    for o in outcomes:
        grouped[(o.failure.kind, o.failure.name)].append(o)
    return [
        {"kind": kind, "failure": name, "racks": sorted(items[0].failure.racks),
         "outcomes": [{"tenant": o.tenant, "scenario": o.scenario, "demand_requests_per_s": o.demand,
                       "served_requests_per_s": o.served, "unserved_requests_per_s": o.unserved,
                       "required_requests_per_s": o.required, "kept": o.kept} for o in items]}
        for (kind, name), items in grouped.items()
    ]


def _text(outcomes: list[TenantAfterFailure], broken: list[TenantAfterFailure]) -> str:
    """Per failure, each tenant left short: its worst scenario; then every broken promise."""
    worst: dict[tuple[str, str, str], TenantAfterFailure] = {}
    for o in outcomes:
        key = (o.failure.kind, o.failure.name, o.tenant)
        if o.unserved > 1e-9 and (key not in worst or o.unserved > worst[key].unserved):
            worst[key] = o
    failures = list(dict.fromkeys((o.failure.kind, o.failure.name) for o in outcomes))
    lines = [f"{len(failures)} single failure(s) re-routed"]
    for kind, name in failures:
        short = [o for (k, n, _), o in worst.items() if (k, n) == (kind, name)]
        lines.append(f"{kind} {printable(name)}: " + ("every tenant fully served" if not short else "tenants left short"))
        lines.extend(
            f"  {printable(o.tenant):<24} unserved {o.unserved:.4g} of {o.demand:.4g} requests/s "
            f"(worst scenario {o.scenario})" for o in short
        )
    if not broken:
        lines.append("survive: every promise kept")
    else:
        lines.append(f"survive: {len(broken)} promise(s) broken")
        lines.extend(
            f"  {o.failure.kind} {printable(o.failure.name)}: tenant {printable(o.tenant)}, scenario "
            f"{o.scenario}: served {o.served:.4g} of the {o.required:.4g} requests/s promised" for o in broken
        )
    return "\n".join(lines) + "\n"
