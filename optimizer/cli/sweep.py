"""``tenantplan sweep INSTANCE --vary KEY=V1,V2,... --out DIR``: what-if questions as a grid of solves.

Plans INSTANCE at every point of the grid (or, with ``--zip``, of the lists taken in step), each
within ``--time-limit``, on a local process pool or on Ray, and writes ``DIR/sweep.csv`` (a row per
point, in point order), ``DIR/sweep.html`` (figures), and as each point finishes
``DIR/points/NNNNN.json`` and ``DIR/plans/NNNNN.json``. Keys: ``docs/sweep.md``. Exit 0 when every
point ran, 1 when a point's plan breaks a rule or its method raised, 3 when no point has a plan,
2 on bad input.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import asdict
from pathlib import Path

from optimizer.cli import EXIT_INFEASIBLE, EXIT_OK, EXIT_VIOLATIONS, add_executor_options, print_json, seconds, seed
from optimizer.executor import check_executor
from optimizer.instance import load_instance
from optimizer.report.sweep import PAGE, write_sweep_report
from optimizer.safe_io import path_inside, refuse_unsafe_output, write_atomic
from optimizer.solve import DEFAULT_SOLVER
from optimizer.sweep import KEYS, Point, Row, label, parse_axis, run_sweep, sweep_csv

logger = logging.getLogger(__name__)

CSV = "sweep.csv"
DEFAULT_TIME_LIMIT_S = 60.0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sweep",
        help="plan an instance over a grid of what-if changes (demand, prices, SLOs, power, fleet)",
        description="Plan INSTANCE at every combination of the --vary values, each point within --time-limit, "
        "on a local process pool (default) or on Ray; write DIR/sweep.csv (a row per point), DIR/sweep.html "
        f"and each point's plan under DIR/plans/. Keys: {', '.join(KEYS)} (docs/sweep.md). Exit 0 when every "
        "point ran, 1 when a plan breaks a rule or a method raised, 3 when no point has a plan, 2 on bad input.",
    )
    parser.add_argument("instance", metavar="INSTANCE", help="instance file (.toml or .json)")
    parser.add_argument("--vary", action="append", required=True, metavar="KEY=V1,V2,...",
                        help="a key and its values, comma-separated (repeatable; e.g. demand=1,1.5,2, "
                        "price.gb300-nvl72=0.8,1, fleet=own,hgx-b200)")
    parser.add_argument("--zip", dest="zip_values", action="store_true",
                        help="take the lists in step (the i-th value of every key together) instead of every combination")
    parser.add_argument("--method", default=DEFAULT_SOLVER, help=f"planning method (default: {DEFAULT_SOLVER})")
    parser.add_argument("--time-limit", type=seconds, default=DEFAULT_TIME_LIMIT_S, metavar="S",
                        help=f"seconds per point (default: {DEFAULT_TIME_LIMIT_S:g})")
    parser.add_argument("--seed", type=seed, default=0, metavar="N", help="random seed of every point (default: 0)")
    add_executor_options(parser, workers=None)
    parser.add_argument("--resume", action="store_true",
                        help="read back the points a run of the same sweep already wrote to DIR/points/")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for sweep.csv, sweep.html, points/ and plans/")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.set_defaults(run=run)


def _progress(done: int, total: int, point: Point, row: Row) -> None:
    cost = "no plan" if row.usd_per_hour is None else f"${row.usd_per_hour:,.2f}/hour"
    gap = "" if row.gap is None else f", gap {100 * row.gap:.2f}%"
    logger.info("[%d/%d] %s: %s, %s%s, %.1f s", done, total, label(point), row.status, cost, gap, row.runtime_s)


def run(args: argparse.Namespace) -> int:
    axes = [parse_axis(text) for text in args.vary]
    check_executor(args.executor, args.workers)
    refuse_unsafe_output("--out", args.out, directory=True)
    for name in (CSV, PAGE):
        refuse_unsafe_output("--out", Path(args.out) / name, [args.instance])
    instance = load_instance(args.instance)
    sweep = run_sweep(
        instance, axes, zip_values=args.zip_values, method=args.method, time_limit=args.time_limit,
        seed=args.seed, executor=args.executor, workers=args.workers, out=args.out, resume=args.resume,
        on_row=_progress,
    )
    csv_path = path_inside(args.out, CSV)
    write_atomic(csv_path, sweep_csv(sweep))
    page = write_sweep_report(sweep, args.out)
    if args.json:
        print_json({"rows": [{**{k: v for k, v in point}, **asdict(row)} for point, row in
                             zip(sweep.points, sweep.rows, strict=True)], "files": [str(csv_path), str(page)]})
    else:
        sys.stdout.write(sweep_csv(sweep) + f"\nwritten: {csv_path}, {page}\n")
    if any(row.status == "error" or row.violations for row in sweep.rows):
        return EXIT_VIOLATIONS
    return EXIT_OK if any(row.usd_per_hour is not None for row in sweep.rows) else EXIT_INFEASIBLE
