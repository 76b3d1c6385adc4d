"""``tenantplan validate FILE...``: check instance files and summarise the good ones.

A good file gets a one-screen summary (tenants by model and SLO class, token
volume, fleet, scenarios); a bad one gets every problem as ``path: reason``.
Exit 0 when every file is good, 2 when any is bad.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from typing import Any

from optimizer.cli import EXIT_BAD_INPUT, EXIT_OK, print_json, report_problems
from optimizer.instance import Instance, InstanceError, load_instance
from optimizer.performance.capacity import allin_kw

TOKENS_PER_MTOK = 1e6
SECONDS_PER_HOUR = 3600.0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="check instance files and summarise them",
        description="Check instance files (.toml or .json). A good file is summarised; a bad one "
        "lists every problem as 'path: reason'. Exit 0 when all are good, 2 when any is bad.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="instance file(s)")
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object per run: a report per file"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    reports = []
    for path in args.files:
        try:
            instance = load_instance(path)
        except InstanceError as error:
            reports.append({"file": path, "valid": False, "problems": _problems(error)})
            if not args.json:
                report_problems(error)
            continue
        summary = summarize(instance)
        reports.append({"file": path, "valid": True, "summary": summary})
        if not args.json:
            sys.stdout.write(render(path, summary))
    if args.json:
        print_json({"files": reports})
    return EXIT_OK if all(report["valid"] for report in reports) else EXIT_BAD_INPUT


def _problems(error: InstanceError) -> list[dict[str, str]]:
    return [{"path": path, "reason": reason} for path, reason in error.problems]


def _mtok_per_hour(tokens_per_s: float) -> float:
    return tokens_per_s * SECONDS_PER_HOUR / TOKENS_PER_MTOK


def summarize(instance: Instance) -> dict[str, Any]:
    """The facts ``validate`` prints, as JSON-ready data (token volumes in Mtok/hour)."""
    scenarios = range(instance.num_scenarios)
    weights = instance.weights

    def volume(tenants: list[Any]) -> dict[str, float]:
        """Weighted-mean and peak-scenario input and output Mtok/hour of ``tenants``."""
        per_scenario = [
            (
                _mtok_per_hour(sum(t.input_tokens_per_s(s) for t in tenants)),
                _mtok_per_hour(sum(t.output_tokens_per_s(s) for t in tenants)),
            )
            for s in scenarios
        ]
        peak = max(scenarios, key=lambda s: sum(per_scenario[s]))
        return {
            "mean_input_mtok_per_hour": sum(w * i for w, (i, _) in zip(weights, per_scenario)),
            "mean_output_mtok_per_hour": sum(w * o for w, (_, o) in zip(weights, per_scenario)),
            "peak_input_mtok_per_hour": per_scenario[peak][0],
            "peak_output_mtok_per_hour": per_scenario[peak][1],
            "peak_scenario": peak,
        }

    groups: dict[tuple[str, str], list[Any]] = {}
    for tenant in instance.tenants:
        groups.setdefault((tenant.model, tenant.slo_class), []).append(tenant)
    tenant_groups = [
        {
            "model": model,
            "slo_class": slo_class,
            "tenants": [t.name for t in members],
            "isolation": dict(Counter(t.isolation for t in members)),
            **volume(members),
        }
        for (model, slo_class), members in sorted(groups.items())
    ]

    sites = []
    for site in instance.sites:
        entries = [e for e in instance.fleet if e.site == site.name]
        sites.append({
            "name": site.name,
            "power_mw": site.power_mw,
            "fleet": [
                {
                    "system": e.system,
                    "max_racks": e.max_racks,
                    "gpus_per_rack": instance.gpus_per_rack(e),
                    "usd_per_gpu_hour": instance.usd_per_gpu_hour(e),
                    "allin_mw_per_rack": allin_kw(instance.system(e.system), instance.gpus_per_rack(e)) / 1000,
                    "rack_power_kw": e.rack_power_kw,
                }
                for e in entries
            ],
        })

    return {
        "name": instance.name,
        "performance": instance.performance,
        "tco_basis": instance.economics.tco_basis,
        "digest": instance.digest(),
        "scenarios": instance.num_scenarios,
        "weights": list(weights),
        "tenants": len(instance.tenants),
        "tenant_groups": tenant_groups,
        "total": volume(list(instance.tenants)),
        "sites": sites,
        "profiles": len(instance.profiles),
        "inline_systems": [s.id for s in instance.systems],
        "inline_models": [m.id for m in instance.models],
    }


_ISOLATION_LETTER = {"shared": "s", "dedicated": "d", "dedicated-rack": "R"}


def _volume_text(v: dict[str, float]) -> str:
    return (
        f"{v['mean_input_mtok_per_hour']:9.1f} {v['mean_output_mtok_per_hour']:9.1f}"
        f"   {v['peak_input_mtok_per_hour']:9.1f} {v['peak_output_mtok_per_hour']:9.1f}"
    )


def render(path: str, summary: dict[str, Any]) -> str:
    """The one-screen text summary of a good instance."""
    lines = [
        f"{path}: valid",
        f"  instance {summary['name']}  performance={summary['performance']}  "
        f"tco_basis={summary['tco_basis']}  profiles={summary['profiles']}",
    ]
    if summary["inline_systems"] or summary["inline_models"]:
        inline = ", ".join(summary["inline_systems"] + summary["inline_models"])
        lines.append(f"  inline catalog entries: {inline}")

    lines.append("")
    lead = f"  {'model':16}{'class':16}{'count':>5}  {'isolation':10}"
    lines.append(f"  {'tenants by model and SLO class':{len(lead) - 2}}"
                 f"{'mean Mtok/hour':>19}   {'peak Mtok/hour':>19}")
    lines.append(f"{lead}{'input':>9} {'output':>9}   {'input':>9} {'output':>9}")
    for group in summary["tenant_groups"]:
        isolation = ",".join(
            f"{n}{_ISOLATION_LETTER[kind]}" for kind, n in sorted(group["isolation"].items())
        )
        lines.append(
            f"  {group['model']:16}{group['slo_class'] or '-':16}{len(group['tenants']):>5}  "
            f"{isolation:10}{_volume_text(group)}"
        )
    total = summary["total"]
    lines.append(
        f"  {'all':32}{summary['tenants']:>5}  {'':10}{_volume_text(total)}"
    )
    lines.append(
        f"  peak = each row's busiest scenario (all tenants: scenario {total['peak_scenario']})"
    )
    lines.append("  isolation: s = shared, d = dedicated engines, R = dedicated racks")

    lines.append("")
    lines.append(f"  {'fleet':30}{'max racks':>10}{'GPUs/rack':>10}{'$/GPU-h':>9}{'MW/rack':>9}")
    for site in summary["sites"]:
        budget = "no power budget" if site["power_mw"] is None else f"{site['power_mw']:g} MW budget"
        lines.append(f"  site {site['name']} ({budget})")
        for entry in site["fleet"]:
            racks = "any" if entry["max_racks"] is None else str(entry["max_racks"])
            lines.append(
                f"    {entry['system']:28}{racks:>10}{entry['gpus_per_rack']:>10}"
                f"{entry['usd_per_gpu_hour']:>9.3f}{entry['allin_mw_per_rack']:>9.3f}"
            )

    lines.append("")
    weights = summary["weights"]
    if len(set(weights)) == 1:
        weight_text = "equal weights"
    else:
        weight_text = "weights " + " ".join(f"{w:.3f}" for w in weights)
    lines.append(f"  scenarios: {summary['scenarios']}, {weight_text}")
    return "\n".join(lines) + "\n"
