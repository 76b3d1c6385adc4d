"""Measured serving points: SemiAnalysis InferenceMAX rows, read once.

``instances/catalog/inferencemax_points.csv`` holds one row per (deployment,
concurrency); its README gives every column's meaning. Speculative-decoding
rows (``spec_decoding = mtp``) are left out everywhere in tenantplan: their speed
depends on the draft acceptance rate of the benchmark's prompts, which neither
the catalog nor the roofline knows.
"""

from __future__ import annotations

import csv
import datetime
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path

from optimizer.catalog import PRECISIONS, Precision, builtin_models, builtin_systems
from optimizer.instance import InstanceError

SOFTWARE = {
    "trt": "tensorrt-llm", "dynamo-trt": "tensorrt-llm",
    "sglang": "sglang", "dynamo-sglang": "sglang", "sglang-disagg": "sglang",
    "vllm": "vllm", "atom": "atom",
}
"""Serving software of each InferenceMAX ``framework`` label: Dynamo orchestrates TensorRT-LLM or
SGLang workers, whose kernels and collectives are those of the engine they run."""


@dataclass(frozen=True)
class Worker:
    """One engine replica of a measured deployment."""

    gpus: int
    tp: int
    ep: int
    dp_attention: bool


@dataclass(frozen=True)
class MeasuredPoint:
    """One measured deployment at one concurrency.

    Aggregated runs have ``engine`` set; disaggregated runs ``prefill`` and
    ``decode`` (one worker of each pool) and the pool sizes in GPUs.
    """

    date: str
    """run date, ISO (``date_est``)"""
    model: str
    system: str
    precision: Precision
    framework: str
    disaggregated: bool
    isl: int
    osl: int
    concurrency: int
    engine: Worker | None
    prefill: Worker | None
    decode: Worker | None
    prefill_gpus: int
    decode_gpus: int
    tput_per_gpu: float
    """input + output tokens/s over all GPUs of the deployment"""
    input_tput_per_gpu: float
    """input tokens/s per prefill GPU (per GPU when aggregated)"""
    output_tput_per_gpu: float
    """output tokens/s per decode GPU (per GPU when aggregated)"""
    interactivity: float
    """median tokens/s per user (1 / TPOT)"""
    ttft_s: float
    """median time to first token, s (includes queueing)"""
    row: dict[str, str] = field(default_factory=dict, compare=False, hash=False, repr=False)
    """the :data:`REQUIRED_COLUMNS` cells it was read from"""

    @property
    def software(self) -> str:
        """The serving software (:data:`SOFTWARE`) of its ``framework``."""
        return SOFTWARE[self.framework]

    @property
    def scenario(self) -> str:
        """Request shape label, e.g. ``1k/1k``."""
        return f"{self.isl // 1024}k/{self.osl // 1024}k"


REQUIRED_COLUMNS = (
    "date_est", "model", "system", "framework", "precision", "spec_decoding", "disagg", "isl", "osl",
    "concurrency", "tp", "ep", "dp_attention", "prefill_tp", "prefill_ep", "prefill_dp_attention",
    "prefill_workers", "decode_tp", "decode_ep", "decode_dp_attention", "decode_workers",
    "num_prefill_gpus", "num_decode_gpus", "num_gpus", "tput_per_gpu", "input_tput_per_gpu",
    "output_tput_per_gpu", "median_intvty", "median_ttft_s",
)
"""The columns of ``inferencemax_points.csv`` a measured point is read from (others are ignored)."""

MAX_GPUS = 4096
MAX_TOKENS = 10_000_000
MAX_RATE = 1e9
"""Bounds of a plausible measurement: GPUs in one deployment, tokens per request, tokens/s."""


def _worker(row: dict[str, str], prefix: str, gpus: int, workers: int) -> Worker:
    return Worker(
        gpus=gpus // workers,
        tp=_int(row, f"{prefix}tp"),
        ep=_int(row, f"{prefix}ep"),
        dp_attention=_flag(row, f"{prefix}dp_attention"),
    )


class _RowError(ValueError):
    """A bad cell: ``column`` and the reason."""

    def __init__(self, column: str, reason: str) -> None:
        super().__init__(reason)
        self.column = column


def _int(row: dict[str, str], column: str, low: int = 1, high: int = MAX_GPUS, default: int | None = None) -> int:
    text = (row.get(column) or "").strip()
    if not text and default is not None:
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise _RowError(column, f"must be a whole number from {low} to {high}, not {text!r}")
    return int(text)


def _float(row: dict[str, str], column: str, high: float = MAX_RATE) -> float:
    text = (row.get(column) or "").strip()
    try:
        value = float(text)
    except ValueError:
        raise _RowError(column, f"must be a number, not {text!r}") from None
    if not 0 < value <= high:
        raise _RowError(column, f"must be > 0 and at most {high:g}, not {text}")
    return value


def _flag(row: dict[str, str], column: str) -> bool:
    text = (row.get(column) or "").strip().lower()
    if text not in ("true", "false", ""):
        raise _RowError(column, f"must be true or false, not {text!r}")
    return text == "true"


def _point(row: dict[str, str]) -> MeasuredPoint:
    disaggregated = _flag(row, "disagg")
    if disaggregated:
        # GPUs per worker = pool GPUs / workers (the *_tp columns of some Dynamo runs
        # describe a 4-GPU tray as tp 1, so the pool size is the reliable figure).
        prefill_gpus, decode_gpus = _int(row, "num_prefill_gpus"), _int(row, "num_decode_gpus")
        engine = None
        prefill = _worker(row, "prefill_", prefill_gpus, _int(row, "prefill_workers"))
        decode = _worker(row, "decode_", decode_gpus, _int(row, "decode_workers"))
        if prefill.gpus < 1 or decode.gpus < 1:
            raise _RowError("prefill_workers", "more workers than GPUs in a pool")
    else:
        engine = _worker(row, "", _int(row, "num_gpus"), 1)
        prefill = decode = None
        prefill_gpus = decode_gpus = engine.gpus
    date = (row.get("date_est") or "").strip()
    try:
        datetime.date.fromisoformat(date)
    except ValueError:
        raise _RowError("date_est", f"must be an ISO date (YYYY-MM-DD), not {date!r}") from None
    precision = row.get("precision", "")
    if precision not in PRECISIONS:
        raise _RowError("precision", f"must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    return MeasuredPoint(
        date=date,
        model=row["model"],
        system=row["system"],
        precision=precision,  # type: ignore[arg-type]
        framework=row["framework"],
        disaggregated=disaggregated,
        isl=_int(row, "isl", high=MAX_TOKENS),
        osl=_int(row, "osl", high=MAX_TOKENS),
        concurrency=_int(row, "concurrency", high=10_000_000),
        engine=engine,
        prefill=prefill,
        decode=decode,
        prefill_gpus=prefill_gpus,
        decode_gpus=decode_gpus,
        tput_per_gpu=_float(row, "tput_per_gpu"),
        input_tput_per_gpu=_float(row, "input_tput_per_gpu"),
        output_tput_per_gpu=_float(row, "output_tput_per_gpu"),
        interactivity=_float(row, "median_intvty"),
        ttft_s=_float(row, "median_ttft_s", high=86400.0),
        row={column: row.get(column) or "" for column in REQUIRED_COLUMNS},
    )


def parse_points(
    source: Path | str, systems: Mapping[str, object], models: Mapping[str, object], where: str | None = None
) -> tuple[MeasuredPoint, ...]:
    """Measured points of a CSV file (a path) or CSV text, speculative-decoding rows left out.

    Raises ``InstanceError`` listing ``row N: column`` and the reason of every bad cell, an
    unknown model, system or serving software, or a missing column.
    """
    if isinstance(source, Path):
        where = where or str(source)
        try:
            text = source.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise InstanceError([("", f"cannot read file: {error}")], where) from None
    else:
        text = source
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise InstanceError([("header", f"missing column(s) {', '.join(missing)}")], where or "")
    points, problems = [], []
    for index, row in enumerate(reader):
        line = f"row {index + 2}"
        if row.get("spec_decoding", "none") != "none":
            continue
        for column, known in (("model", models), ("system", systems), ("framework", SOFTWARE)):
            if row.get(column) not in known:
                problems.append((f"{line}: {column}", f"unknown {column} {row.get(column)!r}"))
        try:
            points.append(_point(row))
        except _RowError as error:
            problems.append((f"{line}: {error.column}", str(error)))
        if len(problems) >= 50:
            break
    if problems:
        raise InstanceError(problems, where or "")
    return tuple(points)


@cache
def measured_points() -> tuple[MeasuredPoint, ...]:
    """Every bundled InferenceMAX row without speculative decoding, in file order."""
    text = (
        resources.files("optimizer.instances")
        .joinpath("catalog")
        .joinpath("inferencemax_points.csv")
        .read_text("utf-8")
    )
    return parse_points(text, builtin_systems(), builtin_models(), "inferencemax_points.csv")
