"""``tenantplan bench PATH... --methods ...``: compare planning methods on instance files."""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict

from optimizer.harness import format_rows, format_summary, rows_to_csv, run_bench, summarize
from optimizer.cli import EXIT_OK, EXIT_VIOLATIONS, MAX_THREADS, add_executor_options, print_json, seconds, seed
from optimizer.executor import check_executor
from optimizer.instance import InstanceError
from optimizer.safe_io import refuse_unsafe_output, write_atomic
from optimizer.methods import METHODS


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="run planning methods on instance files and compare them",
        description="Run each method on each instance (files or directories of .json/.toml), "
        "re-price every plan with the evaluator and re-check it with the checker, and print one "
        "row per (instance, method) and a summary per method (geometric mean of $/hour over the "
        "best plan's). Exit 0 when every plan keeps every rule, 1 when one breaks a rule or a "
        "method raised, "
        "2 on bad input.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="instance files or directories")
    parser.add_argument(
        "--methods",
        default=",".join(METHODS),
        help=f"comma-separated methods (known: {', '.join(METHODS)}; default all)",
    )
    parser.add_argument("--time-limit", type=seconds, default=60.0, metavar="S",
                        help="seconds per method and instance (default 60)")
    parser.add_argument("--seed", type=seed, default=0, help="random seed passed to every method")
    parser.add_argument("--threads", type=int, default=1, help="threads per method (default 1)")
    add_executor_options(parser, workers=1)
    parser.add_argument("--out", metavar="FILE", help="also write the rows as CSV")
    parser.add_argument("--json", action="store_true", help="print rows and summary as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    problems = []
    if unknown or not methods:
        problems.append(("--methods", f"unknown method(s) {', '.join(unknown) or '(none given)'}; "
                                      f"known: {', '.join(METHODS)}"))
    if not 1 <= args.threads <= MAX_THREADS:
        problems.append(("--threads", f"must be from 1 to {MAX_THREADS}, got {args.threads}"))
    if problems:
        raise InstanceError(problems, "command line")
    check_executor(args.executor, args.workers)
    if args.out:
        refuse_unsafe_output("--out", args.out, args.paths)
    rows = run_bench(args.paths, methods, time_limit=args.time_limit, seed=args.seed, threads=args.threads,
                     executor=args.executor, workers=args.workers)
    summaries = summarize(rows)
    if args.out:
        write_atomic(args.out, rows_to_csv(rows))
    if args.json:
        print_json({"rows": [asdict(r) for r in rows], "summary": [asdict(s) for s in summaries]})
    else:
        sys.stdout.write(format_rows(rows) + "\n\n" + format_summary(summaries) + "\n")
    failed = any(r.violations or r.status == "error" for r in rows)
    return EXIT_VIOLATIONS if failed else EXIT_OK
