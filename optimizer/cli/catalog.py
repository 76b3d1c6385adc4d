"""``tenantplan catalog [systems|models] [--json]``: the built-in systems and models, with their key
specifications and where the numbers come from (``instances/catalog/*.csv``).

Text: one table per kind, then each row's source. ``--json``: every field of every row.
"""

from __future__ import annotations

import argparse
import sys

from optimizer.catalog import PRECISIONS, Model, System, builtin_models, builtin_systems
from optimizer.cli import EXIT_OK, print_json
from optimizer.report.text import table_lines

KINDS = ("systems", "models")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "catalog",
        help="list the built-in system and model ids with key specifications and sources",
        description="List the catalog's systems (the ids fleet entries use) and models (the ids tenants use) "
        "with their key specifications and the source of each row; an instance may add its own with "
        "[[systems]] and [[models]] tables (docs/instance-format.md).",
    )
    parser.add_argument("kind", nargs="?", choices=KINDS, help="only systems or only models (default: both)")
    parser.add_argument("--json", action="store_true", help="every field of every row as JSON on stdout")
    parser.set_defaults(run=run)


def _system_row(s: System) -> tuple[str, ...]:
    fp4 = f"{s.fp4_tflops:,.0f}" if s.fp4_tflops is not None else "-"
    return (s.id, s.gpu, str(s.gpus_per_rack), str(s.gpus_per_nvlink_domain), f"{s.hbm_gb:g}", f"{s.hbm_tb_s:g}",
            f"{s.fp8_tflops:,.0f}", fp4, f"{s.allin_kw_per_gpu:g}", f"${s.usd_per_gpu_hour_hyperscaler:.2f}")


SYSTEM_HEADER = ("id", "GPU", "GPUs/rack", "NVLink domain", "HBM GB", "HBM TB/s", "FP8 TFLOPS", "FP4 TFLOPS",
                 "all-in kW/GPU", "$/GPU-h hyperscaler")


def _model_row(m: Model) -> tuple[str, ...]:
    weights = ", ".join(f"{p} {m.weights_gb(p):g}" for p in PRECISIONS if m.weights_gb(p) is not None)
    moe = f"{m.experts} (top {m.top_k})" if m.is_moe else "dense"
    return (m.id, m.hf_model or "-", f"{m.total_params_b:g}", f"{m.active_params_b:g}", str(m.layers), moe, weights)


MODEL_HEADER = ("id", "Hugging Face", "params B", "active B", "layers", "experts", "weights GB")


def run(args: argparse.Namespace) -> int:
    kinds = [args.kind] if args.kind else list(KINDS)
    rows = {"systems": builtin_systems(), "models": builtin_models()}
    if args.json:
        print_json({kind: [row.model_dump(mode="json") for row in rows[kind].values()] for kind in kinds})
        return EXIT_OK
    lines: list[str] = []
    for kind in kinds:
        header, make = (SYSTEM_HEADER, _system_row) if kind == "systems" else (MODEL_HEADER, _model_row)
        lines += [f"{kind} ({len(rows[kind])})", *table_lines(header, [make(r) for r in rows[kind].values()]),
                  "", "sources:", *(f"  {r.id}: {r.source}" for r in rows[kind].values()), ""]
    sys.stdout.write("\n".join(lines))
    return EXIT_OK
