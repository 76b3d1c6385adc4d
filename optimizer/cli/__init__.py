"""The ``tenantplan`` command: one entry point, one module per subcommand.

Each subcommand module defines ``register(subparsers)``, which adds its parser
and sets ``run=<function(args) -> int>`` as a default. Exit codes: 0 success,
1 a plan that breaks rules, 2 bad input, 3 infeasible. With ``--json`` standard
output carries the JSON alone; progress and logs go to standard error.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
from typing import Any

from optimizer.instance import InstanceError

EXIT_OK = 0
EXIT_VIOLATIONS = 1
EXIT_BAD_INPUT = 2
EXIT_INFEASIBLE = 3

SUBCOMMANDS = ("validate", "schema", "perf", "calibrate", "solve", "evaluate", "compare", "generate", "bench")
"""Subcommand modules under ``optimizer.cli``, in the order a user meets them (and ``--help`` lists them)."""


def print_json(payload: Any) -> None:
    """Write ``payload`` as the only content of standard output."""
    json.dump(payload, sys.stdout, indent=2, allow_nan=False)
    sys.stdout.write("\n")


def report_problems(error: InstanceError) -> None:
    """Print every problem of a bad input to standard error, one per line."""
    prefix = f"{error.source}: " if error.source else ""
    print(f"{prefix}invalid input ({len(error.problems)} problem(s))", file=sys.stderr)
    for path, reason in error.problems:
        print(f"  {path}: {reason}" if path else f"  {reason}", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tenantplan",
        description="Plan multi-tenant LLM serving on shared accelerator racks, priced in $/Mtok.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages to stderr")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"optimizer.cli.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(message)s",
        stream=sys.stderr,
    )
    try:
        return args.run(args)
    except InstanceError as error:
        report_problems(error)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
