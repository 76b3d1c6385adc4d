"""``tenantplan solve [INSTANCE]``: plan an instance with the MIP and summarise the plan.

Progress lines (incumbent $/hour, bound, gap, elapsed) go to standard error while
the solver works; then a summary: racks per system and site, engines per model
and role, per-tenant $/Mtok, overall $/Mtok and gap. With no INSTANCE the bundled
``enterprise-mix`` example is solved. Exit 0 with a plan, 3 when no plan serves
all demand (each tenant left out is named with the reason), 2 on bad input. Stopped by
Ctrl-C or SIGTERM once the warm start has a plan, it writes the best plan so far (limit
``interrupted``) and exits 130 or 143.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections import Counter
from importlib import resources
from pathlib import Path

from optimizer.cli import EXIT_INFEASIBLE, EXIT_OK, MAX_THREADS, print_json, seconds, seed, stopped_exit
from optimizer.evaluate import BASIS_ORDER, Report, report_of
from optimizer.instance import InstanceError, load_instance
from optimizer.performance import DEFAULT_CONFIDENCE, PerformanceModel
from optimizer.plan import Plan
from optimizer.report import write_report
from optimizer.result import Interrupted, Result, relative_gap
from optimizer.safe_io import refuse_unsafe_output
from optimizer.solve import DEFAULT_GAP, DEFAULT_SOLVER, DEFAULT_TIME_LIMIT_S, SOLVERS, solve

logger = logging.getLogger(__name__)

DEFAULT_INSTANCE = "enterprise-mix.toml"
"""Solved when no INSTANCE is given (``instances/examples/``, installed as package data)."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "solve",
        help="plan an instance with the MIP (cheapest racks, engines and routes)",
        description="Solve INSTANCE (default: the bundled enterprise-mix example) as a MIP: which "
        "racks to open, which engines to run in them, how each tenant's tokens flow in every "
        "scenario, at the lowest $/hour. Progress goes to stderr. Exit 0 with a plan, 3 when no "
        "plan serves all demand, 2 on bad input.",
    )
    parser.add_argument("instance", nargs="?", metavar="INSTANCE", help="instance file (.toml or .json)")
    parser.add_argument(
        "--report", metavar="DIR", help="write the plan's HTML report and SVG figures to DIR"
    )
    parser.add_argument(
        "--solver", choices=SOLVERS, default=DEFAULT_SOLVER, help=f"MIP backend (default {DEFAULT_SOLVER})"
    )
    parser.add_argument(
        "--time-limit", type=seconds, default=DEFAULT_TIME_LIMIT_S, metavar="S",
        help=f"wall-clock limit in seconds (default {DEFAULT_TIME_LIMIT_S:g})",
    )
    parser.add_argument(
        "--gap", type=float, default=DEFAULT_GAP, metavar="G",
        help=f"stop at this relative gap (default {DEFAULT_GAP:g} = {DEFAULT_GAP * 100:g}%%)",
    )
    parser.add_argument("--threads", type=int, default=1, metavar="N", help="solver threads (default 1)")
    parser.add_argument("--seed", type=seed, default=0, metavar="N", help="solver random seed (default 0)")
    parser.add_argument(
        "--start", metavar="PLAN", action="append", default=[],
        help="start from this plan (e.g. the plan in service), kept when nothing cheaper is found; "
        "a plan that breaks a rule of INSTANCE is set aside with a warning (repeatable)",
    )
    parser.add_argument(
        "--confidence", type=float, default=DEFAULT_CONFIDENCE, metavar="P",
        help="plan on the throughput each engine reaches with probability P, from its 80%% band "
        f"(default {DEFAULT_CONFIDENCE:g}: conservative; 0.5: the central estimate); the plan records it",
    )
    parser.add_argument(
        "--calibration", metavar="JSON",
        help="use this `tenantplan calibrate` file instead of the instance's calibration field",
    )
    parser.add_argument("-o", "--output", metavar="PLAN", help="write the plan as JSON (atomically)")
    parser.add_argument(
        "--json", action="store_true", help="print the result and the evaluator's report as JSON only"
    )
    parser.add_argument(
        "--allow-unserved", action="store_true",
        help="when not all demand can be served, return the cheapest plan serving the most and list the rest",
    )
    parser.set_defaults(run=run)


def _instance_path(arg: str | None) -> str:
    if arg is not None:
        return arg
    return str(resources.files("optimizer.instances").joinpath("examples").joinpath(DEFAULT_INSTANCE))


class _ProgressLines:
    """Writes one progress line per new incumbent or bound, to the cent, to the log (stderr)."""

    def __init__(self) -> None:
        self.incumbent: float | None = None
        self.bound: float | None = None
        self.shown: tuple[str, str] | None = None

    def __call__(self, incumbent: float | None, bound: float | None, elapsed: float) -> None:
        self.incumbent = incumbent if incumbent is not None else self.incumbent
        self.bound = bound if bound is not None else self.bound
        shown = (_money(self.incumbent), _money(self.bound))
        if shown == self.shown:
            return
        self.shown = shown
        gap = relative_gap(self.incumbent, self.bound)
        logger.info("  incumbent %s  bound %s  gap %s  %6.1f s", *shown,
                    f"{gap:7.2%}" if gap is not None else "      -", elapsed)


def _money(value: float | None) -> str:
    return f"${value:>11,.2f}/h" if value is not None else "           -  "


def run(args: argparse.Namespace) -> int:
    path = _instance_path(args.instance)
    if args.output:
        refuse_unsafe_output("--output", args.output, [path, *args.start])
    if args.report:
        refuse_unsafe_output("--report", args.report, directory=True)
    instance = load_instance(path)
    for name, value, ok in (
        ("--gap", args.gap, 0 <= args.gap < 1),
        ("--threads", args.threads, 1 <= args.threads <= MAX_THREADS),
        ("--confidence", args.confidence, 0 < args.confidence < 1),
    ):
        if not ok:
            raise InstanceError([(name, f"out of range: {value}")], "command line")
    if args.solver == "cp-sat" and any(t.survive != "none" for t in instance.tenants):
        raise InstanceError([("--solver", "survive promises are planned by highs and scip, not cp-sat")], "command line")
    starts = [Plan.load(start) for start in args.start]
    logger.info("solving %s with %s (time limit %g s, gap %g)", Path(path).name, args.solver, args.time_limit, args.gap)
    if args.calibration:
        instance = instance.model_copy(update={"calibration": args.calibration})
    performance = PerformanceModel(instance, confidence=args.confidence)
    stopped_by = None
    try:
        result = solve(
            instance,
            args.solver,
            time_limit=args.time_limit,
            gap=args.gap,
            threads=args.threads,
            seed=args.seed,
            allow_unserved=args.allow_unserved,
            performance=performance,
            progress=_ProgressLines(),
            starts=starts,
        )
    except Interrupted as stop:
        result, stopped_by = stop.result, str(stop)
        logger.warning("stopped by %s: %s", stopped_by,
                       "writing the best plan found so far" if result.plan is not None else "no plan found yet")
    report = report_of(instance, result, performance)
    if args.output and result.plan is not None:
        result.plan.save(args.output)
        logger.info("plan written to %s", args.output)
    if args.report and result.plan is not None:
        pages = write_report(instance, result, args.report, performance)
        logger.info("report written to %s", pages[0])
    if args.json:
        payload = result.to_dict()
        payload["report"] = report.model_dump(mode="json") if report is not None else None
        print_json(payload)
    else:
        sys.stdout.write(render(result, report))
    if stopped_by is not None:
        return stopped_exit(stopped_by)
    if result.plan is None:  # infeasible, or no plan within the time limit
        return EXIT_INFEASIBLE
    return EXIT_OK


def _bound_over(result: Result) -> str:
    """`` over all candidates (highs)`` or `` over the shortlist only (...)``: what the bound
    holds over and the solver that proved it (docs/formulation.md, "What the bound covers")."""
    if result.bound_scope is None:
        return ""
    scope = "all candidates" if result.bound_scope == "all" else "the shortlist only"
    return f" over {scope} ({result.bound_solver})"


def render(result: Result, report: Report | None) -> str:
    """The human summary of a solve."""
    lines = [
        f"status: {result.status.value} (limit: {result.limit.value}), method {result.method}, "
        f"{result.runtime_s:.1f} s",
    ]
    if result.phases_s:
        lines.append("seconds per phase: " + ", ".join(f"{name} {s:.1f}" for name, s in result.phases_s.items() if s >= 0.05))
    if result.objective is not None:
        gap = f"{result.gap:.2%}" if result.gap is not None else "-"
        bound = f"${result.bound:,.2f}/h{_bound_over(result)}" if result.bound is not None else "-"
        lines.append(f"cost: ${result.objective:,.2f}/hour, bound {bound}, gap {gap}")
        if result.shortlist_bound is not None and result.shortlist_gap is not None:
            lines.append(f"over the shortlist searched: bound ${result.shortlist_bound:,.2f}/h, gap {result.shortlist_gap:.2%}")
    elif result.bound is not None:
        lines.append(f"no plan; best bound ${result.bound:,.2f}/hour{_bound_over(result)}")
    if report is not None and result.plan is not None:
        mtok = f"${report.usd_per_mtok:.4f}/Mtok" if report.usd_per_mtok is not None else "-"
        lines.append(f"overall: {mtok} (input + output), {report.num_racks} racks, {report.gpus} GPUs, "
                     f"{report.gpus_stranded} stranded")
        racks = Counter((rack.system, rack.site) for rack in result.plan.racks)
        lines.append("racks per system and site:")
        lines += [f"  {system:<14} {site:<12} {count:>5}" for (system, site), count in sorted(racks.items())]
        engines: Counter[tuple[str, str, str]] = Counter()
        for rack in result.plan.racks:
            for group in rack.engines:
                engines[(group.model, group.role, f"{group.gpus}-GPU")] += group.count
        bases = Counter(engine.basis for engine in report.engines)
        lines.append(
            f"capacities planned at confidence {report.confidence:g}; engine groups by basis: "
            + ", ".join(f"{basis} {count}" for basis, count in sorted(bases.items(), key=lambda b: BASIS_ORDER.index(b[0])))
        )
        lines.append("engines per model and role (replicas):")
        lines += [
            f"  {model:<18} {role:<11} {size:<7} {count:>5}" for (model, role, size), count in sorted(engines.items())
        ]
        lines.append("tenants:")
        for tenant in report.tenants:
            per_mtok = f"${tenant.usd_per_mtok:.4f}/Mtok" if tenant.usd_per_mtok is not None else "-"
            lines.append(f"  {tenant.tenant:<20} {tenant.isolation:<15} ${tenant.usd_per_hour:>10,.2f}/h  {per_mtok}")
    if result.unserved:
        lines.append("unserved:" if result.plan is not None else "cannot be served:")
        for item in result.unserved:
            rate = f" ({item.requests_per_s:.4g} requests/s at peak)" if item.requests_per_s else ""
            lines.append(f"  {item.tenant}{rate}: {item.reason}")
    return "\n".join(lines) + "\n"
