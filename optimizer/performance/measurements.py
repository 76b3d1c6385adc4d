"""Measured serving points: SemiAnalysis InferenceMAX rows, read once.

``instances/catalog/inferencemax_points.csv`` holds one row per (deployment,
concurrency); its README gives every column's meaning. Speculative-decoding
rows (``spec_decoding = mtp``) are left out everywhere in tenantplan: their speed
depends on the draft acceptance rate of the benchmark's prompts, which neither
the catalog nor the roofline knows.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources

from optimizer.catalog import Precision


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

    @property
    def scenario(self) -> str:
        """Request shape label, e.g. ``1k/1k``."""
        return f"{self.isl // 1024}k/{self.osl // 1024}k"


def _worker(row: dict[str, str], prefix: str, gpus: int, workers: int) -> Worker:
    return Worker(
        gpus=gpus // workers,
        tp=int(row[f"{prefix}tp"]),
        ep=int(row[f"{prefix}ep"]),
        dp_attention=row[f"{prefix}dp_attention"] == "true",
    )


def _point(row: dict[str, str]) -> MeasuredPoint:
    disaggregated = row["disagg"] == "True"
    prefill_gpus = int(row["num_prefill_gpus"] or 0)
    decode_gpus = int(row["num_decode_gpus"] or 0)
    if disaggregated:
        # GPUs per worker = pool GPUs / workers (the *_tp columns of some Dynamo runs
        # describe a 4-GPU tray as tp 1, so the pool size is the reliable figure).
        engine = None
        prefill = _worker(row, "prefill_", prefill_gpus, int(row["prefill_workers"]))
        decode = _worker(row, "decode_", decode_gpus, int(row["decode_workers"]))
    else:
        engine = _worker(row, "", int(row["num_gpus"]), 1)
        prefill = decode = None
        prefill_gpus = decode_gpus = engine.gpus
    return MeasuredPoint(
        model=row["model"],
        system=row["system"],
        precision=row["precision"],  # type: ignore[arg-type]
        framework=row["framework"],
        disaggregated=disaggregated,
        isl=int(row["isl"]),
        osl=int(row["osl"]),
        concurrency=int(row["concurrency"]),
        engine=engine,
        prefill=prefill,
        decode=decode,
        prefill_gpus=prefill_gpus,
        decode_gpus=decode_gpus,
        tput_per_gpu=float(row["tput_per_gpu"]),
        input_tput_per_gpu=float(row["input_tput_per_gpu"]),
        output_tput_per_gpu=float(row["output_tput_per_gpu"]),
        interactivity=float(row["median_intvty"]),
        ttft_s=float(row["median_ttft_s"]),
    )


@cache
def measured_points() -> tuple[MeasuredPoint, ...]:
    """Every InferenceMAX row without speculative decoding, in file order."""
    text = (
        resources.files("optimizer.instances")
        .joinpath("catalog")
        .joinpath("inferencemax_points.csv")
        .read_text("utf-8")
    )
    rows = csv.DictReader(text.splitlines())
    return tuple(_point(row) for row in rows if row["spec_decoding"] == "none")
