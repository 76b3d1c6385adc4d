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
import re
import signal
import sys
from typing import Any, NoReturn

from optimizer.executor import EXECUTORS, RAY_INSTALL, default_workers
from optimizer.instance import InstanceError

EXIT_OK = 0
EXIT_VIOLATIONS = 1
EXIT_BAD_INPUT = 2
EXIT_INFEASIBLE = 3

SUBCOMMANDS = (
    "validate", "schema", "catalog", "perf", "calibrate", "solve", "evaluate", "stress", "simulate", "compare",
    "sweep", "generate", "bench", "export", "import-deployment",
)
"""Subcommands in the order a user meets them (and ``--help`` lists them); each is the module
``optimizer.cli.<name>`` with ``-`` written ``_``."""


MAX_TIME_LIMIT_S = 7 * 86400.0
"""The longest ``--time-limit`` accepted: a week, s."""
MAX_THREADS = 1024
"""The most solver threads accepted."""
MAX_SEED = 2**31 - 1
"""Seeds run from 0 to this (what every solver backend accepts)."""


def seconds(text: str) -> float:
    """An argparse type: a time limit in seconds, finite, above 0 and at most a week."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got '{text}'") from None
    if not 0 < value <= MAX_TIME_LIMIT_S:  # also refuses nan and inf
        raise argparse.ArgumentTypeError(f"must be > 0 seconds and at most {MAX_TIME_LIMIT_S:g}, got {text}")
    return value


def seed(text: str) -> int:
    """An argparse type: a random seed, an integer from 0 to 2**31 - 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer from 0 to {MAX_SEED}, got '{text}'") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be an integer from 0 to {MAX_SEED}, got {text}")
    return value


def add_executor_options(parser: argparse.ArgumentParser, workers: int | None) -> None:
    """``--executor`` and ``--workers`` as ``sweep``, ``compare`` and ``bench`` take them
    (:mod:`optimizer.executor`); ``workers`` is the default count, None for the cores."""
    parser.add_argument("--executor", choices=EXECUTORS, default="local",
                        help="local: a process pool; ray: Ray tasks, on the cluster at RAY_ADDRESS when set, "
                        f"else a local Ray ({RAY_INSTALL}) (default: local)")
    default = f"the cores, here {default_workers()}" if workers is None else str(workers)
    parser.add_argument("--workers", type=int, default=workers, metavar="N",
                        help=f"runs at a time: processes (local) or CPUs of a local Ray (default: {default})")


def print_json(payload: Any) -> None:
    """Write ``payload`` as the only content of standard output."""
    json.dump(payload, sys.stdout, indent=2, allow_nan=False)
    sys.stdout.write("\n")


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` with control characters (terminal escapes, newlines) shown as ``\\xNN``."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m[0]):02x}", text)


def report_problems(error: InstanceError, as_json: bool = False) -> None:
    """Print every problem of a bad input to standard error, one per line, control characters
    escaped; with ``as_json`` also the JSON error object on standard output:
    ``{"error": ..., "problems": [[path, reason], ...], "exit": 2}``."""
    prefix = f"{printable(error.source)}: " if error.source else ""
    print(f"{prefix}invalid input ({len(error.problems)} problem(s))", file=sys.stderr)
    for path, reason in error.problems:
        print(f"  {printable(path)}: {printable(reason)}" if path else f"  {printable(reason)}", file=sys.stderr)
    if as_json:
        print_json({
            "error": f"{prefix}invalid input",
            "problems": [[path, reason] for path, reason in error.problems],
            "exit": EXIT_BAD_INPUT,
        })


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are bad input like any other (exit 2, JSON with --json)."""

    def error(self, message: str) -> NoReturn:
        raise InstanceError([("", f"{message} (see '{self.prog} --help')")], "command line")


class _Printable(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return _CONTROL.sub(lambda m: m[0] if m[0] == "\n" else f"\\x{ord(m[0]):02x}", super().format(record))


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="tenantplan",
        description="Plan multi-tenant LLM serving on shared accelerator racks, priced in $/Mtok.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages to stderr")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"optimizer.cli.{name.replace('-', '_')}").register(subparsers)
    return parser


def stopped_exit(signal_name: str) -> int:
    """The exit code of a run stopped by the signal called ``signal_name``: 128 + its number
    (130 for SIGINT, 143 for SIGTERM)."""
    return 128 + signal.Signals[signal_name].value


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code.

    Bad input is exit 2 with every problem named; Ctrl-C (SIGINT) and SIGTERM stop
    the run, with nothing half-written (every output is written atomically at the
    end), exit 130 or 143; any other error is exit 1 with one line (``-v`` shows the
    traceback). No traceback otherwise reaches the terminal.
    """
    argv = sys.argv[1:] if argv is None else argv
    as_json = "--json" in argv
    try:
        args = build_parser().parse_args(argv)
    except InstanceError as error:
        report_problems(error, as_json)
        return EXIT_BAD_INPUT
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Printable("%(message)s"))
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, handlers=[handler])
    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        return args.run(args)
    except InstanceError as error:
        report_problems(error, as_json)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt as stop:
        name = str(stop) or "SIGINT"
        print(f"stopped by {name}: no output was half-written", file=sys.stderr)
        return stopped_exit(name)
    except Exception as error:  # noqa: BLE001 - the last line of defence: one line, never a traceback
        logging.getLogger(__name__).debug("internal error", exc_info=True)
        text = printable(f"{type(error).__name__}: {error}")[:300]
        print(f"internal error: {text} (run with -v for the traceback)", file=sys.stderr)
        if as_json:
            print_json({"error": f"internal error: {text}", "problems": [], "exit": EXIT_VIOLATIONS})
        return EXIT_VIOLATIONS
    finally:
        signal.signal(signal.SIGTERM, previous)
