"""``tenantplan evaluate INSTANCE PLAN [--json]``: price a plan and check every rule.

Prints the report (totals, per system and site, per tenant, racks, engines),
then the violations. Exit 0 when the plan breaks no rule, 1 when it breaks any
(warnings alone, such as a plan made for another version of the instance, do
not fail it), 2 on bad input.
"""

from __future__ import annotations

import argparse
import sys

from optimizer.check import Violation, check
from optimizer.cli import EXIT_OK, EXIT_VIOLATIONS, print_json
from optimizer.evaluate import evaluate
from optimizer.instance import load_instance
from optimizer.performance import PerformanceModel
from optimizer.plan import Plan
from optimizer.report.text import report_text


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="price a plan in $/hour and $/Mtok and check it keeps every rule",
        description="Price PLAN for INSTANCE ($/hour of whole racks, $/Mtok, per tenant, per "
        "system and site, utilisation, power, ROI) and list every rule it breaks. Exit 0 when it "
        "breaks none, 1 when it breaks any, 2 on bad input.",
    )
    parser.add_argument("instance", metavar="INSTANCE", help="instance file (.toml or .json)")
    parser.add_argument("plan", metavar="PLAN", help="plan file (.json)")
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the report as JSON with a 'violations' list (empty when the plan keeps every rule)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    instance = load_instance(args.instance)
    plan = Plan.load(args.plan)
    performance = PerformanceModel(instance, confidence=plan.confidence)
    report = evaluate(instance, plan, performance)
    violations = check(instance, plan, performance)
    if args.json:
        print_json({
            **report.model_dump(mode="json"),
            "violations": [v.model_dump(mode="json") for v in violations],
        })
    else:
        sys.stdout.write(report_text(report, instance) + "\n\n" + render_violations(violations))
    errors = [v for v in violations if v.severity == "error"]
    return EXIT_VIOLATIONS if errors else EXIT_OK


def render_violations(violations: list[Violation]) -> str:
    """One line per violation, prefixed by its rule; a line saying so when there are none."""
    if not violations:
        return "violations: none, the plan keeps every rule\n"
    errors = sum(v.severity == "error" for v in violations)
    lines = [f"violations: {errors} error(s), {len(violations) - errors} warning(s)"]
    for v in violations:
        where = ", ".join(
            f"{name} {value}"
            for name, value in (("tenant", v.tenant), ("site", v.site), ("rack", v.rack),
                                ("engine", v.engine), ("scenario", v.scenario))
            if value is not None
        )
        lines.append(f"  {v.severity} [{v.rule}] {where + ': ' if where else ''}{v.message}")
    return "\n".join(lines) + "\n"
