"""``tenantplan perf``: query the performance model (one point, the frontier, or a CSV batch).

- single: the best operating point at interactivity at least ``--interactivity``
  (and TTFT at most ``--ttft``): configuration, tokens/s per GPU, TTFT, TPOT and
  $/Mtok at the system's all-in $/GPU-hour; exit 3 when nothing reaches it;
- ``--pareto``: the frontier's corner points as a table;
- ``--query points.csv [--out predictions.csv]``: one prediction per row.

Per-GPU rates follow InferenceMAX (``tput_per_gpu`` over all GPUs, input per
prefill GPU, output per decode GPU). Every answer comes from the estimator the planner
uses (:mod:`optimizer.performance.estimate`): the measured frontier where one is measured,
carried by the roofline's ratios elsewhere, with its ``basis`` (measured, interpolated or
modelled, and a finer ``basis_detail``) and an 80% interval (``tput_per_gpu_low`` ..
``tput_per_gpu_high``). ``--calibration calib.json`` answers from a ``tenantplan calibrate`` file.
"""

from __future__ import annotations

import argparse
import csv
import io
import itertools
import logging
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from optimizer.catalog import PRECISIONS, Name, Precision, builtin_models, builtin_systems
from optimizer.cli import EXIT_INFEASIBLE, EXIT_OK, print_json
from optimizer.evaluate import usd_per_mtok_of_gpu
from optimizer.instance import InstanceError, field_problems, unknown_reason
from optimizer.performance import PerformanceModel
from optimizer.performance.calibrate import default_data, load_calibration
from optimizer.performance.capacity import allin_kw
from optimizer.performance.estimate import Estimate, Estimator, query_key
from optimizer.performance.frontier import FRONTIER_INTERACTIVITY
from optimizer.performance.measurements import SOFTWARE
from optimizer.performance.pareto import pareto_indices
from optimizer.safe_io import refuse_unsafe_output, write_atomic

logger = logging.getLogger(__name__)

QUERY_COLUMNS = ("model", "system", "precision", "isl", "osl", "interactivity", "mode")
OPTIONAL_QUERY_COLUMNS = ("software",)
SOFTWARE_NAMES = tuple(sorted(set(SOFTWARE.values())))
RESULT_COLUMNS = (
    "tput_per_gpu", "tput_per_gpu_low", "tput_per_gpu_high", "basis", "basis_detail",
    "input_tput_per_gpu", "output_tput_per_gpu", "ttft_s", "gpus", "config", "reason",
)
MODES = ("agg", "disagg")
MAX_QUERY_ROWS = 100_000
"""Rows one ``--query`` file may hold."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "perf",
        help="predict throughput, TTFT and interactivity of a model on a system",
        usage="tenantplan perf --model M --system S --precision P --isl N --osl N (--interactivity X | --pareto)\n"
        "                       [--mode agg|disagg] [--ttft T] [--software W] [--tco-basis B] [--calibration JSON]\n"
        "                       [--json]\n"
        "       tenantplan perf --rank --model M --isl N --osl N --interactivity X [--ttft T] [--system S]\n"
        "                       [--precision P] [--tco-basis B] [--calibration JSON] [--json]\n"
        "       tenantplan perf --query CSV [--out CSV] [--calibration JSON]",
        description="Query the performance model: the best operating point of a model on a system at an "
        "interactivity (and TTFT), its frontier (--pareto), every system ranked for one workload (--rank), or "
        "one prediction per row of a CSV (--query). "
        "Every answer says its basis (measured, interpolated or modelled) and its 80% interval.",
        epilog="Per-GPU rates follow InferenceMAX: tokens/s per GPU counts input and output over all GPUs; "
        "in disaggregated serving the input rate is per prefill GPU and the output rate per decode GPU, "
        "so the two do not add up to the total. $/Mtok is at the system's catalog all-in $/GPU-hour.",
    )
    parser.add_argument("--model", metavar="M", help="catalog model id (tenantplan catalog models)")
    parser.add_argument("--system", metavar="S", help="catalog system id (tenantplan catalog systems)")
    parser.add_argument("--precision", metavar="P", choices=PRECISIONS, help=f"weight precision: {', '.join(PRECISIONS)}")
    parser.add_argument("--isl", metavar="N", help="input tokens per request (1 to 10 million)")
    parser.add_argument("--osl", metavar="N", help="output tokens per request (1 to 1 million)")
    parser.add_argument("--interactivity", metavar="X", help="minimum tokens/s per user (0.001 to 100,000)")
    parser.add_argument("--mode", choices=MODES, default="agg", help="aggregated or disaggregated serving (default agg)")
    parser.add_argument("--ttft", metavar="T", help="maximum median TTFT, s (0.001 to 3,600)")
    parser.add_argument(
        "--software", metavar="W", choices=SOFTWARE_NAMES,
        help=f"serving software you run ({', '.join(SOFTWARE_NAMES)}): a measured group answers from that "
        "software's own measurements, or is labelled other-software with its wider band (default: the best "
        "measured; a query CSV may carry a software column)",
    )
    parser.add_argument(
        "--tco-basis", metavar="B", choices=("hyperscaler", "neocloud", "rental-3yr"), default="hyperscaler",
        help="all-in $/GPU-hour column for $/Mtok: hyperscaler (default), neocloud or rental-3yr",
    )
    parser.add_argument("--pareto", action="store_true", help="print the frontier instead of one point")
    parser.add_argument(
        "--rank", action="store_true",
        help="rank every (system, precision, serving mode) for one workload (--model, --isl, --osl, "
        "--interactivity, optional --ttft; --system and --precision narrow it) by $/Mtok, with tokens/s per MW",
    )
    parser.add_argument("--query", metavar="CSV", help="batch: one prediction per row of this CSV")
    parser.add_argument("--out", metavar="CSV", help="with --query: write predictions here (default stdout)")
    parser.add_argument("--calibration", metavar="JSON", help="answer from this `tenantplan calibrate` file")
    parser.add_argument("--json", action="store_true", help="JSON on stdout")
    parser.set_defaults(run=run)


def _estimator(args: argparse.Namespace) -> Estimator:
    models, systems = builtin_models(), builtin_systems()
    data = load_calibration(args.calibration, systems, models) if args.calibration else default_data()
    return PerformanceModel(None, data=data).estimator


class Query(BaseModel):
    """One question: a (model, system, precision, request shape, mode) at an interactivity."""

    model_config = ConfigDict(frozen=True, extra="ignore", allow_inf_nan=False)

    model: Name
    system: Name
    precision: Precision
    isl: int = Field(ge=1, le=10_000_000, strict=True)
    osl: int = Field(ge=1, le=1_000_000, strict=True)
    interactivity: float | None = Field(default=None, ge=1e-3, le=1e5, strict=True)
    mode: Literal["agg", "disagg"] = "agg"
    ttft: float | None = Field(default=None, ge=1e-3, le=3600, strict=True)
    software: Literal[SOFTWARE_NAMES] | None = None  # type: ignore[valid-type]

    @property
    def key(self) -> tuple:
        return query_key(self.model, self.system, self.precision, self.isl, self.osl, self.mode)


def _typed(text: str | None) -> Any:
    """A command-line or CSV cell as the value it spells: an integer, a number, or the text."""
    if text is None:
        return None
    if text.strip().lstrip("+-").isdigit():
        return int(text)
    try:
        return float(text)
    except ValueError:
        return text


def _query(values: dict[str, str | None], where: str, required: tuple[str, ...]) -> Query:
    """A checked query; raises InstanceError naming ``where`` + field and the reason."""
    problems = [(f"{where}{name}", "is required") for name in required if values.get(name) in (None, "")]
    if problems:
        raise InstanceError(problems)
    try:
        query = Query.model_validate({k: _typed(v) if k in _NUMERIC else v for k, v in values.items() if v not in (None, "")})
    except ValidationError as error:
        raise InstanceError([(f"{where}{path}", reason) for path, reason in field_problems(error)]) from None
    models, systems = builtin_models(), builtin_systems()
    if query.model not in models:
        problems.append((f"{where}model", unknown_reason("model", query.model, models)))
    if query.system not in systems:
        problems.append((f"{where}system", unknown_reason("system", query.system, systems)))
    elif query.model in models and query.precision not in models[query.model].precisions:
        model = models[query.model]
        problems.append((f"{where}precision", f"{model.id} has weights only in {', '.join(model.precisions)}"))
    if problems:
        raise InstanceError(problems)
    return query


_NUMERIC = frozenset({"isl", "osl", "interactivity", "ttft"})


def _answer_dict(answer: Estimate, query: Query, interactivity: float, usd_per_gpu_hour: float) -> dict[str, Any]:
    """One answer as the CLI prints it: the roofline's configuration at that point, the
    estimator's throughput (per-GPU input and output rates scaled alike) and its basis."""
    point = answer.point
    scale = answer.tput_per_gpu / point.tput_per_gpu if point is not None else 1.0
    ratio = query.isl / query.osl
    return {
        "mode": query.mode,
        "config": point.label if point is not None else "as measured",
        "gpus": point.gpus if point is not None else None,
        "engines": [c.model_dump() for c in point.configs] if point is not None else [],
        "prefill_gpus_per_decode_gpu": (point.prefill_gpus_per_decode_gpu or None) if point is not None else None,
        "interactivity": point.interactivity if point is not None else interactivity,
        "tpot_s": 1.0 / (point.interactivity if point is not None else interactivity),
        "ttft_s": point.ttft_s if point is not None else None,
        "tput_per_gpu": answer.tput_per_gpu,
        "tput_per_gpu_low": answer.low,
        "tput_per_gpu_high": answer.high,
        "basis": answer.basis,
        "basis_detail": answer.detail,
        "anchors": ["/".join(str(v) for v in key) for key in answer.anchors],
        "input_tput_per_gpu": point.input_tput_per_gpu * scale if point is not None else answer.tput_per_gpu * ratio / (1 + ratio),
        "output_tput_per_gpu": point.output_tput_per_gpu * scale if point is not None else answer.tput_per_gpu / (1 + ratio),
        "usd_per_mtok": usd_per_mtok_of_gpu(usd_per_gpu_hour, answer.tput_per_gpu),
    }


def run(args: argparse.Namespace) -> int:
    if args.query:
        return _run_query(args)
    if args.rank:
        return _run_rank(args)
    fields = ("model", "system", "precision", "isl", "osl", "interactivity", "mode", "ttft", "software")
    query = _query(
        {name: getattr(args, name) for name in fields}, "--",
        ("model", "system", "precision", "isl", "osl") + (() if args.pareto else ("interactivity",)),
    )
    estimator = _estimator(args)
    price = builtin_systems()[query.system].usd_per_gpu_hour(args.tco_basis)
    if args.pareto:
        found = [
            (x, a) for x, a in zip(
                FRONTIER_INTERACTIVITY,
                estimator.estimate(query.key, FRONTIER_INTERACTIVITY, query.ttft, software=query.software), strict=True,
            )
            if a is not None
        ]
        kept = [found[i] for i in pareto_indices([(a.tput_per_gpu, x) for x, a in found])]
        rows = [_answer_dict(a, query, float(x), price) for x, a in sorted(kept, key=lambda p: -p[0])]
        if args.json:
            print_json(rows)
        else:
            _print_table(rows)
        return EXIT_OK if rows else EXIT_INFEASIBLE
    assert query.interactivity is not None
    (answer,) = estimator.estimate(query.key, [query.interactivity], query.ttft, software=query.software)
    if answer is None:
        reason = _no_point_reason(estimator, query)
        if args.json:
            print_json({"reason": reason})
        else:
            print(reason, file=sys.stderr)
        return EXIT_INFEASIBLE
    result = _answer_dict(answer, query, query.interactivity, price)
    if args.json:
        print_json(result)
    else:
        _print_table([result])
    return EXIT_OK


RANK_TABLE = (
    ("rank", "{}"), ("system", "{}"), ("precision", "{}"), ("mode", "{}"), ("config", "{}"), ("gpus", "{}"),
    ("interactivity", "{:.1f}"), ("tput_per_gpu", "{:.0f}"), ("tput_per_gpu_low", "{:.0f}"),
    ("tput_per_gpu_high", "{:.0f}"), ("basis_detail", "{}"), ("usd_per_gpu_hour", "{:.2f}"),
    ("usd_per_mtok", "{:.4f}"), ("tokens_per_s_per_mw", "{:,.0f}"),
)


def _run_rank(args: argparse.Namespace) -> int:
    """Every (system, precision, mode) for one workload, cheapest $/Mtok first; those reaching no point after."""
    models, systems = builtin_models(), builtin_systems()
    if args.model and args.model not in models:
        raise InstanceError([("--model", unknown_reason("model", args.model, models))])
    values = {"model": args.model, "isl": args.isl, "osl": args.osl, "interactivity": args.interactivity,
              "ttft": args.ttft, "software": args.software}
    chosen_systems = [args.system] if args.system else list(systems)
    precisions = [args.precision] if args.precision else list(models[args.model].precisions) if args.model else []
    queries = [
        _query({**values, "system": system, "precision": precision, "mode": mode}, "--",
               ("model", "isl", "osl", "interactivity"))
        for system in chosen_systems for precision in precisions or [PRECISIONS[0]] for mode in MODES
    ]
    estimator = _estimator(args)
    ranked, unreachable = [], []
    for query in queries:
        assert query.interactivity is not None
        (answer,) = estimator.estimate(query.key, [query.interactivity], query.ttft, software=query.software)
        if answer is None:
            unreachable.append({"system": query.system, "precision": query.precision, "mode": query.mode,
                                "reason": _no_point_reason(estimator, query)})
            continue
        system = systems[query.system]
        price = system.usd_per_gpu_hour(args.tco_basis)
        ranked.append({"system": query.system, "precision": query.precision, "usd_per_gpu_hour": price,
                       **_answer_dict(answer, query, query.interactivity, price),
                       "tokens_per_s_per_mw": answer.tput_per_gpu / allin_kw(system, 1) * 1000})
    ranked.sort(key=lambda row: row["usd_per_mtok"])
    for i, row in enumerate(ranked):
        row["rank"] = i + 1
    if args.json:
        print_json({"ranked": ranked, "unreachable": unreachable})
    else:
        _print_table(ranked, RANK_TABLE)
        for row in unreachable:
            print(f"  no point: {row['system']} {row['precision']} {row['mode']}: {row['reason']}")
    return EXIT_OK if ranked else EXIT_INFEASIBLE


def _no_point_reason(estimator: Estimator, query: Query) -> str:
    """Why nothing answers: the weights do not fit any engine, or the speed is out of reach."""
    front = estimator.frontier(query.model, query.system, query.precision)
    interactivity, ttft = query.interactivity, query.ttft
    if front.engines is None:
        model, system = estimator.roofline.models[query.model], estimator.roofline.systems[query.system]
        largest = min(system.gpus_per_nvlink_domain, 64)
        return (
            f"{model.id} {query.precision} weights ({model.weights_gb(query.precision):g} GB) do not fit one engine of "
            f"{largest} {system.id} GPUs ({largest * system.hbm_gb:g} GB of HBM, "
            f"{largest * system.hbm_gb * 0.9:g} GB usable)"
        )
    limit = f" with TTFT at most {ttft:g} s" if ttft is not None else ""
    return f"no configuration reaches {interactivity:g} tokens/s per user{limit}"


TABLE = (
    ("config", "{}"), ("gpus", "{}"), ("interactivity", "{:.1f}"), ("tpot_s", "{:.4f}"), ("ttft_s", "{:.3f}"),
    ("tput_per_gpu", "{:.0f}"), ("tput_per_gpu_low", "{:.0f}"), ("tput_per_gpu_high", "{:.0f}"),
    ("basis_detail", "{}"), ("input_tput_per_gpu", "{:.0f}"), ("output_tput_per_gpu", "{:.0f}"),
    ("usd_per_mtok", "{:.4f}"),
)


def _print_table(rows: list[dict[str, Any]], table: tuple[tuple[str, str], ...] = TABLE) -> None:
    cells = [[name for name, _ in table]] + [
        ["-" if row[name] is None else fmt.format(row[name]) for name, fmt in table] for row in rows
    ]
    widths = [max(len(r[i]) for r in cells) for i in range(len(table))]
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
    rows = list(itertools.islice(reader, MAX_QUERY_ROWS + 1))
    if len(rows) > MAX_QUERY_ROWS:
        raise InstanceError([("", f"more than {MAX_QUERY_ROWS:,} query rows")], path)
    return header, rows


def _run_query(args: argparse.Namespace) -> int:
    if args.out:
        refuse_unsafe_output("--out", args.out, [args.query, *([args.calibration] if args.calibration else [])])
    header, rows = _read_query(args.query)
    problems, parsed = [], []
    for i, row in enumerate(rows):
        try:
            parsed.append(_query({c: row.get(c) for c in QUERY_COLUMNS + OPTIONAL_QUERY_COLUMNS}, f"row {i + 2}: ",
                                 QUERY_COLUMNS))
        except InstanceError as error:
            problems.extend(error.problems)
    if problems:
        raise InstanceError(problems[:50], args.query)
    # one vectorised frontier call per (model, system, precision, isl, osl, mode) and software
    batches: dict[tuple, list[int]] = defaultdict(list)
    for i, query in enumerate(parsed):
        batches[(query.key, query.software)].append(i)
    estimator = _estimator(args)
    answers: dict[int, Estimate | None] = {}
    for (key, software), indices in batches.items():
        found = estimator.estimate(key, [parsed[i].interactivity for i in indices], software=software)
        answers.update(zip(indices, found, strict=True))
    out_rows = []
    for i, row in enumerate(rows):
        answer = answers[i]
        extra: dict[str, Any]
        if answer is None:
            extra = {c: "" for c in RESULT_COLUMNS} | {"reason": _no_point_reason(estimator, parsed[i])}
        else:
            shown = _answer_dict(answer, parsed[i], parsed[i].interactivity, 1.0)
            extra = {
                **{c: f"{shown[c]:.3f}" for c in ("tput_per_gpu", "tput_per_gpu_low", "tput_per_gpu_high",
                                                 "input_tput_per_gpu", "output_tput_per_gpu")},
                "basis": answer.basis, "basis_detail": answer.detail,
                "ttft_s": "" if shown["ttft_s"] is None else f"{shown['ttft_s']:.5f}",
                "gpus": "" if shown["gpus"] is None else str(shown["gpus"]),
                "config": shown["config"], "reason": "",
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
