"""``tenantplan compare INSTANCE``: which architecture serves the tenant mix most cheaply, and why.

Plans the instance under each option (each fleet system alone, the own fleet,
aggregated only, siloed tenancy, each tenant's isolation lifted, optionally each
TCO basis), prints one row per option and the reasons the cheapest wins, and
with ``--out DIR`` writes ``report.html`` and the figures as SVG files. Every
option is planned at ``--confidence`` and, unless ``--no-band``, the competing
options again at both ends of the performance band (confidence 0.9 and 0.1), to
say which conclusions hold across the band and which flip. Exit 0 when some
option serves every tenant, 3 when none does, 2 on bad input.
"""

from __future__ import annotations

import argparse
import sys

from optimizer.cli import EXIT_INFEASIBLE, EXIT_OK, add_executor_options, print_json, seconds
from optimizer.compare import DEFAULT_OPTIONS, OPTIMISTIC, OPTION_SETS, PESSIMISTIC, compare
from optimizer.executor import check_executor
from optimizer.instance import InstanceError, load_instance
from optimizer.performance import DEFAULT_CONFIDENCE
from optimizer.report import band_table, options_table, write_comparison_report
from optimizer.report.html import Table
from optimizer.safe_io import refuse_unsafe_output
from optimizer.solve import DEFAULT_SOLVER
from optimizer.methods import METHODS


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="which architecture serves the tenants most cheaply, and why",
        description="Plan INSTANCE under each architecture option and lay the results side by side: "
        "$/Mtok overall and per SLO class, $/hour, racks, GPUs, utilisation, stranded GPUs, tokens/s "
        "per MW, ROI; the cheapest option and what binds. Then the competing options are planned "
        f"again at both ends of the performance band (confidence {PESSIMISTIC:g}: every engine at the 10% "
        f"quantile of its throughput band; {OPTIMISTIC:g}: the 90% quantile), to say which conclusions hold "
        "across the band and which flip; this triples the runtime (--no-band skips it). Exit 0 when some "
        "option serves every tenant, 3 when none does, 2 on bad input.",
    )
    parser.add_argument("instance", metavar="INSTANCE", help="instance file (.toml or .json)")
    parser.add_argument(
        "--options", nargs="+", choices=OPTION_SETS, default=list(DEFAULT_OPTIONS), metavar="SET",
        help=f"option sets to compare, of {', '.join(OPTION_SETS)} (default: {' '.join(DEFAULT_OPTIONS)})",
    )
    parser.add_argument(
        "--systems", nargs="+", metavar="SYSTEM",
        help="systems for the 'systems' set (default: the fleet's systems; with --unlimited-systems every "
        "catalog system)",
    )
    parser.add_argument(
        "--unlimited-systems", action="store_true",
        help="plan each system alone with unlimited racks at catalog prices, a purchase what-if labelled so in "
        "every row (default: each fleet system alone with its own racks, inventory and prices)",
    )
    parser.add_argument("--method", default=DEFAULT_SOLVER, help=f"planning method (default: {DEFAULT_SOLVER})")
    parser.add_argument("--time-limit", type=seconds, default=30.0, metavar="S",
                        help="seconds per option, and per end of the band (default: 30)")
    parser.add_argument(
        "--confidence", type=float, default=DEFAULT_CONFIDENCE, metavar="P",
        help="plan on the throughput each engine reaches with probability P, the 1-P quantile of its band "
        f"(default: {DEFAULT_CONFIDENCE:g})",
    )
    parser.add_argument(
        "--no-band", dest="band", action="store_false",
        help=f"skip re-planning the competing options at the band's ends (confidence {PESSIMISTIC:g} and "
        f"{OPTIMISTIC:g}); the band check triples the runtime",
    )
    add_executor_options(parser, workers=1)
    parser.add_argument("--out", metavar="DIR", help="write report.html and the figures (SVG) here")
    parser.add_argument("--json", action="store_true", help="print the comparison as JSON")
    parser.set_defaults(run=run)


def text_table(table: Table) -> str:
    """``table`` as aligned plain text: the first column left, the others right."""
    columns = list(zip(table.headers, *table.rows, strict=True))
    widths = [max(len(cell) for cell in column) for column in columns]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    marks = ["* " if i == table.highlight else "  " for i in range(len(table.rows))]
    body = [mark + line(row) for mark, row in zip(marks, table.rows, strict=True)]
    return "\n".join(["  " + line(table.headers), "  " + line(tuple("-" * w for w in widths)), *body]) + "\n"


def run(args: argparse.Namespace) -> int:
    problems = []
    if args.method not in METHODS:
        problems.append(("--method", f"unknown method '{args.method}' (known: {', '.join(METHODS)})"))
    if not 0 < args.confidence < 1:
        problems.append(("--confidence", f"out of range: {args.confidence} (must lie strictly between 0 and 1)"))
    if problems:
        raise InstanceError(problems)
    check_executor(args.executor, args.workers)
    if args.out:
        refuse_unsafe_output("--out", args.out, directory=True)
    instance = load_instance(args.instance)
    comparison = compare(
        instance, options=args.options, time_limit=args.time_limit, systems=args.systems,
        method=args.method, unlimited_systems=args.unlimited_systems, confidence=args.confidence, band=args.band,
        executor=args.executor, workers=args.workers,
    )
    written = write_comparison_report(comparison, args.out) if args.out else []
    if args.json:
        print_json({**comparison.to_dict(), "files": [str(p) for p in written]})
    else:
        table = options_table(comparison)
        sys.stdout.write(text_table(Table(table.headers[:-1], tuple(r[:-1] for r in table.rows), table.highlight)))
        band = band_table(comparison)
        if band is not None and comparison.band is not None:
            verdict = "holds" if comparison.band.holds else "does not hold"
            sys.stdout.write(f"\nacross the performance band (the verdict {verdict}):\n" + text_table(band))
        sys.stdout.write("\n" + "\n".join(f"- {f}" for f in comparison.findings) + "\n")
        if written:
            sys.stdout.write(f"\nreport: {written[0]} ({len(written) - 1} figures beside it)\n")
    return EXIT_OK if comparison.winner is not None else EXIT_INFEASIBLE
