"""What burst headroom costs on the bundled example, and what the simulator shows of it.

For each coefficient of variation CV of ``--cvs``, every tenant of ``enterprise-mix`` gets
``arrival_cv = CV``; the plan is solved (``optimizer.solve``, the default method, ``--time-limit``),
priced by the evaluator and simulated in every scenario under gamma arrivals of that CV (each
tenant's own ``arrival_cv``, as ``tenantplan simulate`` draws by default). As a control, the plan
sized for Poisson arrivals (CV 1) is simulated under the same arrivals. Writes
``docs/burst-headroom.md``.

Run: ``python benchmarks/burst_headroom.py [--cvs 1,1.5,2] [--time-limit 30] [--duration 600]``.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from optimizer import evaluate, solve
from optimizer.instance import Instance, bundled_example, load_instance, parse_instance
from optimizer.plan import Plan
from optimizer.safe_io import write_atomic
from optimizer.simulate import simulate
from provenance import ROOT, commit, measured_on

logger = logging.getLogger("burst_headroom")

TARGET = 0.95
"""Attainment every tenant should keep in every scenario (issue 20)."""


def with_cv(instance: Instance, cv: float) -> Instance:
    """``instance`` with every tenant's ``arrival_cv`` set to ``cv``."""
    data = instance.model_dump(mode="json")
    for tenant in data["tenants"]:
        tenant["arrival_cv"] = cv
    return parse_instance(data)


def lowest_attainment(instance: Instance, plan: Plan, duration_s: float) -> dict[str, float]:
    """Each tenant's lowest ``slo_attainment`` over every scenario, its arrivals at its ``arrival_cv``."""
    tenants, _ = simulate(instance, plan, list(range(instance.num_scenarios)), duration_s, seed=1)
    lowest: dict[str, float] = {}
    for stats in tenants:
        lowest[stats.tenant] = min(lowest.get(stats.tenant, 1.0), stats.slo_attainment)
    return lowest


def kept(lowest: dict[str, float]) -> str:
    """'9 of 12 (lowest: name 54.4%)'."""
    worst = min(lowest, key=lowest.__getitem__)
    return f"{sum(v >= TARGET for v in lowest.values())} of {len(lowest)} (lowest: {worst} {lowest[worst]:.1%})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cvs", default="1,1.5,2", help="arrival CVs, comma-separated (default 1,1.5,2)")
    parser.add_argument("--time-limit", type=float, default=30.0, help="seconds per solve (default 30)")
    parser.add_argument("--duration", type=float, default=600.0, help="simulated seconds per scenario (default 600)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "burst-headroom.md")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    measured_at, day = commit(), time.strftime("%Y-%m-%d")
    example = load_instance(bundled_example("enterprise-mix.toml"))
    rows, poisson_plan, poisson_cost = [], None, None
    for cv in (float(v) for v in args.cvs.split(",")):
        instance = with_cv(example, cv)
        result = solve(instance, time_limit=args.time_limit)
        assert result.plan is not None, f"no plan at CV {cv}"
        report = evaluate(instance, result.plan)
        if poisson_plan is None:
            poisson_plan, poisson_cost = result.plan, report.usd_per_hour
        own = lowest_attainment(instance, result.plan, args.duration)
        control = lowest_attainment(instance, poisson_plan, args.duration)
        logger.info("CV %g: $%.2f/h, own plan %s, CV-1 plan %s", cv, report.usd_per_hour, kept(own), kept(control))
        rows.append(
            f"| {cv:g} | ${report.usd_per_hour:,.2f} | {100 * (report.usd_per_hour / poisson_cost - 1):+.1f}% | "
            f"{report.gpus} | {100 * (result.gap or 0):.1f}% | {kept(own)} | {kept(control)} |"
        )
    command = f"python benchmarks/burst_headroom.py --cvs {args.cvs} --time-limit {args.time_limit:g} " \
              f"--duration {args.duration:g}"
    page = "\n".join([
        "# Burst headroom on the bundled example",
        "",
        measured_on(measured_at, day, command),
        "",
        "Every tenant of `instances/examples/enterprise-mix.toml` is given `arrival_cv = CV`, so the planner sizes its "
        "queueing headroom for gamma inter-arrival times of that CV (`docs/simulate.md`, \"The headroom rule\": the "
        "wait stretched by Allen and Cunneen's (CV^2 + 1) / 2). Each plan is solved with the default method within "
        "the time limit (its gap is the solve's, over the candidates its bound covers) and simulated in all 24 "
        "scenarios under those arrivals (seed 1). \"Tenants at 95%\" counts the tenants whose attainment is at "
        "least 95% in every scenario. The last column simulates the plan sized for Poisson arrivals (CV 1) under "
        "the same bursty arrivals: what the headroom buys. Costs are modelled (the performance model's "
        "capacities at confidence 0.8) and time-limited, so a difference of a few percent between rows is within "
        "the solves' gaps.",
        "",
        "| arrival CV | plan $/hour | vs CV 1 | GPUs | gap | tenants at 95%, own plan | tenants at 95%, CV-1 plan |",
        "|---:|---:|---:|---:|---:|---|---|",
        *rows,
        "",
    ])
    write_atomic(args.out, page)
    logger.info("wrote %s", args.out)


if __name__ == "__main__":
    main()
