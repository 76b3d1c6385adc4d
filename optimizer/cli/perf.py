"""``tenantplan perf``: query the performance model (one point, the frontier, or a CSV batch).

- single: the best operating point at interactivity at least ``--interactivity``
  (and TTFT at most ``--ttft``): configuration, tokens/s per GPU, TTFT, TPOT and
  $/Mtok at the system's all-in $/GPU-hour; exit 3 when nothing reaches it;
- ``--pareto``: the frontier's corner points as a table;
- ``--query points.csv [--out predictions.csv]``: one prediction per row.

Per-GPU rates follow InferenceMAX (``tput_per_gpu`` over all GPUs, input per
prefill GPU, output per decode GPU). The calibrated roofline answers every
catalog model and system.
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from optimizer.catalog import PRECISIONS, Model, System, builtin_models, builtin_systems
from optimizer.cli import EXIT_INFEASIBLE, EXIT_OK, print_json
from optimizer.instance import InstanceError, _unknown
from optimizer.performance.frontier import Frontier, OperatingPoint
from optimizer.plan import write_atomic

logger = logging.getLogger(__name__)

QUERY_COLUMNS = ("model", "system", "precision", "isl", "osl", "interactivity", "mode")
RESULT_COLUMNS = ("tput_per_gpu", "input_tput_per_gpu", "output_tput_per_gpu", "ttft_s", "gpus", "config", "reason")
MODES = ("agg", "disagg")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "perf",
        help="predict throughput, TTFT and interactivity of a model on a system",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument("--model", help="catalog model id")
    parser.add_argument("--system", help="catalog system id")
    parser.add_argument("--precision", choices=PRECISIONS, help="weight precision")
    parser.add_argument("--isl", type=int, help="input tokens per request")
    parser.add_argument("--osl", type=int, help="output tokens per request")
    parser.add_argument("--interactivity", type=float, help="minimum tokens/s per user")
    parser.add_argument("--mode", choices=MODES, default="agg", help="aggregated or disaggregated serving")
    parser.add_argument("--ttft", type=float, help="maximum median TTFT, s")
    parser.add_argument(
        "--tco-basis", choices=("hyperscaler", "neocloud", "rental-3yr"), default="hyperscaler",
        help="all-in $/GPU-hour column for $/Mtok",
    )
    parser.add_argument("--pareto", action="store_true", help="print the frontier instead of one point")
    parser.add_argument("--query", metavar="CSV", help="batch: one prediction per row of this CSV")
    parser.add_argument("--out", metavar="CSV", help="with --query: write predictions here (default stdout)")
    parser.add_argument("--json", action="store_true", help="JSON on stdout")
    parser.set_defaults(run=run)


def _lookup(model_id: str | None, system_id: str | None, where: str = "") -> tuple[Model, System]:
    models, systems = builtin_models(), builtin_systems()
    problems = []
    if model_id not in models:
        problems.append((f"{where}model", _unknown("model", str(model_id), models)))
    if system_id not in systems:
        problems.append((f"{where}system", _unknown("system", str(system_id), systems)))
    if problems:
        raise InstanceError(problems)
    return models[model_id], systems[system_id]  # type: ignore[index]


def _check_precision(model: Model, precision: str, where: str = "") -> None:
    if precision not in model.precisions:
        raise InstanceError([(f"{where}precision", f"{model.id} has weights only in {', '.join(model.precisions)}")])


def _point_dict(point: OperatingPoint, usd_per_gpu_hour: float) -> dict[str, Any]:
    return {
        "mode": point.mode,
        "config": point.label,
        "gpus": point.gpus,
        "engines": [c.model_dump() for c in point.configs],
        "prefill_gpus_per_decode_gpu": point.prefill_gpus_per_decode_gpu or None,
        "interactivity": point.interactivity,
        "tpot_s": point.tpot_s,
        "ttft_s": point.ttft_s,
        "tput_per_gpu": point.tput_per_gpu,
        "input_tput_per_gpu": point.input_tput_per_gpu,
        "output_tput_per_gpu": point.output_tput_per_gpu,
        "usd_per_mtok": usd_per_gpu_hour / (point.tput_per_gpu * 3600 / 1e6),
    }


def _require(args: argparse.Namespace, names: tuple[str, ...]) -> None:
    missing = [f"--{n}" for n in names if getattr(args, n) is None]
    if missing:
        raise InstanceError([(name, "is required") for name in missing])
    for name in ("isl", "osl", "interactivity", "ttft"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            raise InstanceError([(f"--{name}", "must be > 0")])


def run(args: argparse.Namespace) -> int:
    if args.query:
        return _run_query(args)
    _require(args, ("model", "system", "precision", "isl", "osl") + (() if args.pareto else ("interactivity",)))
    model, system = _lookup(args.model, args.system, "--")
    _check_precision(model, args.precision, "--")
    front = Frontier(model, system, args.precision)
    price = system.usd_per_gpu_hour(args.tco_basis)
    if args.pareto:
        points = front.pareto(args.isl, args.osl, args.mode, args.ttft)
        rows = [_point_dict(p, price) for p in points]
        if args.json:
            print_json(rows)
        else:
            _print_table(rows)
        return EXIT_OK if rows else EXIT_INFEASIBLE
    (point,) = front.best(np.array([args.interactivity]), args.isl, args.osl, args.mode, args.ttft)
    if point is None:
        reason = _no_point_reason(args.interactivity, args.ttft)
        if args.json:
            print_json({"reason": reason})
        else:
            print(reason, file=sys.stderr)
        return EXIT_INFEASIBLE
    result = _point_dict(point, price)
    if args.json:
        print_json(result)
    else:
        _print_table([result])
    return EXIT_OK


def _no_point_reason(interactivity: float, ttft: float | None) -> str:
    limit = f" with TTFT at most {ttft:g} s" if ttft is not None else ""
    return f"no configuration reaches {interactivity:g} tokens/s per user{limit}"


TABLE = (
    ("config", "{}"), ("gpus", "{}"), ("interactivity", "{:.1f}"), ("tpot_s", "{:.4f}"), ("ttft_s", "{:.3f}"),
    ("tput_per_gpu", "{:.0f}"), ("input_tput_per_gpu", "{:.0f}"), ("output_tput_per_gpu", "{:.0f}"),
    ("usd_per_mtok", "{:.4f}"),
)


def _print_table(rows: list[dict[str, Any]]) -> None:
    cells = [[name for name, _ in TABLE]] + [[fmt.format(row[name]) for name, fmt in TABLE] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(TABLE))]
    for r in cells:
        print("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)))


def _read_query(path: str) -> tuple[list[str], list[dict[str, str]]]:
    try:
        text = Path(path).read_text("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InstanceError([("", f"cannot read file: {error}")], path) from None
    reader = csv.DictReader(io.StringIO(text))
    header = list(reader.fieldnames or [])
    missing = [c for c in QUERY_COLUMNS if c not in header]
    if missing:
        raise InstanceError([("header", f"missing column(s) {', '.join(missing)}")], path)
    return header, list(reader)


def _parse_row(index: int, row: dict[str, str]) -> tuple[Model, System, str, int, int, float, str]:
    """One query row checked; raises InstanceError naming row and column."""
    where = f"row {index + 2}: "
    model, system = _lookup(row["model"], row["system"], where)
    _check_precision(model, row["precision"], where)
    problems = []
    values: dict[str, float] = {}
    for column, kind in (("isl", int), ("osl", int), ("interactivity", float)):
        try:
            values[column] = kind(row[column])
            if values[column] <= 0:
                problems.append((f"{where}{column}", "must be > 0"))
        except (TypeError, ValueError):
            problems.append((f"{where}{column}", f"must be a positive {'integer' if kind is int else 'number'}"))
    if row["mode"] not in MODES:
        problems.append((f"{where}mode", "must be agg or disagg"))
    if problems:
        raise InstanceError(problems)
    return model, system, row["precision"], int(values["isl"]), int(values["osl"]), values["interactivity"], row["mode"]


def _run_query(args: argparse.Namespace) -> int:
    header, rows = _read_query(args.query)
    problems, parsed = [], []
    for i, row in enumerate(rows):
        try:
            parsed.append(_parse_row(i, row))
        except InstanceError as error:
            problems.extend(error.problems)
    if problems:
        raise InstanceError(problems, args.query)
    # one vectorised frontier call per (model, system, precision, isl, osl, mode)
    batches: dict[tuple, list[int]] = defaultdict(list)
    for i, (model, system, precision, isl, osl, _, mode) in enumerate(parsed):
        batches[(model.id, system.id, precision, isl, osl, mode)].append(i)
    answers: dict[int, OperatingPoint | None] = {}
    for (model_id, system_id, precision, isl, osl, mode), indices in batches.items():
        front = Frontier(builtin_models()[model_id], builtin_systems()[system_id], precision)  # type: ignore[arg-type]
        found = front.best(np.array([parsed[i][5] for i in indices]), isl, osl, mode)
        answers.update(zip(indices, found, strict=True))
    out_rows = []
    for i, row in enumerate(rows):
        point = answers[i]
        extra: dict[str, Any]
        if point is None:
            extra = {c: "" for c in RESULT_COLUMNS} | {"reason": _no_point_reason(parsed[i][5], None)}
        else:
            extra = {
                "tput_per_gpu": f"{point.tput_per_gpu:.3f}",
                "input_tput_per_gpu": f"{point.input_tput_per_gpu:.3f}",
                "output_tput_per_gpu": f"{point.output_tput_per_gpu:.3f}",
                "ttft_s": f"{point.ttft_s:.5f}",
                "gpus": str(point.gpus),
                "config": point.label,
                "reason": "",
            }
        out_rows.append({**row, **extra})
    logger.info("%d rows, %d without a configuration", len(rows), sum(p is None for p in answers.values()))
    if args.json:
        print_json(out_rows)
        return EXIT_OK
    columns = header + [c for c in RESULT_COLUMNS if c not in header]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(out_rows)
    if args.out:
        write_atomic(args.out, buffer.getvalue())
        logger.info("wrote %s", args.out)
    else:
        sys.stdout.write(buffer.getvalue())
    return EXIT_OK
