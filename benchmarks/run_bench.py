"""Run the benchmark sets and write ``docs/benchmarks.md`` and ``instances/known_best.csv``.

    python benchmarks/run_bench.py [--sets small,medium,large,xlarge] [--methods siloed,pooled,pooled-aggregated]
                                   [--time-limit 60 | --time-limit small=60,medium=60,large=600]
                                   [--out docs/benchmarks.md]

Every method runs through :func:`optimizer.harness.run_bench` (the harness behind
``tenantplan bench``): each plan is re-priced by the evaluator and re-checked by
the checker. The page names the commit it was measured at (``+dirty`` when the
working tree had uncommitted changes), the date and the machine.
"""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path

from optimizer.harness import BenchRow, format_rows, format_summary, instance_paths, run_bench, summarize, update_known_best
from optimizer.instance import load_instance
from optimizer.safe_io import write_atomic
from provenance import ROOT, commit, measured_on

HEURISTICS = ("siloed", "pooled", "pooled-aggregated")


def _saving(dearer: float | None, cheaper: float | None) -> str:
    """How much cheaper ``cheaper`` is than ``dearer``, as a percentage of ``dearer``."""
    if dearer is None or cheaper is None:
        return "-"
    return f"{(dearer - cheaper) / dearer:.1%}"


def value_table(rows: list[BenchRow]) -> str:
    """Per instance: the value of pooling (siloed vs pooled) and of disaggregation
    (pooled-aggregated vs pooled), from valid plans only."""
    cost: dict[tuple[str, str], float] = {(r.instance, r.method): r.usd_per_hour for r in rows if r.valid}  # type: ignore[misc]
    lines = [
        "| instance | siloed $/hour | pooled $/hour | pooled-aggregated $/hour | pooling saves | disaggregation saves |",
        "|---|---|---|---|---|---|",
    ]
    for instance in dict.fromkeys(r.instance for r in rows):
        siloed, pooled, aggregated = (cost.get((instance, m)) for m in HEURISTICS)
        shown = ["-" if c is None else f"{c:,.2f}" for c in (siloed, pooled, aggregated)]
        lines.append(
            f"| {instance} | {' | '.join(shown)} | {_saving(siloed, pooled)} | {_saving(aggregated, pooled)} |"
        )
    return "\n".join(lines)


def instance_table(paths: list[Path]) -> str:
    lines = [
        "| instance | tenants | sites | fleet entries | scenarios | mean Mtok/hour (in + out) | file KB |",
        "|---|---|---|---|---|---|---|",
    ]
    for path in paths:
        instance = load_instance(path)
        tokens = sum(
            w * (t.input_tokens_per_s(s) + t.output_tokens_per_s(s))
            for t in instance.tenants
            for s, w in enumerate(instance.weights)
        )
        lines.append(
            f"| {instance.name} | {len(instance.tenants)} | {len(instance.sites)} | {len(instance.fleet)} "
            f"| {instance.num_scenarios} | {tokens * 3600 / 1e6:,.0f} | {path.stat().st_size / 1024:,.0f} |"
        )
    return "\n".join(lines)


def time_limits(text: str, sets: list[str]) -> dict[str, float]:
    """Seconds per method and instance for each set: one number for all, or ``set=seconds,...``."""
    if "=" not in text:
        return dict.fromkeys(sets, float(text))
    given = {name.strip(): float(value) for name, value in (item.split("=") for item in text.split(","))}
    missing = [name for name in sets if name not in given]
    if missing:
        raise SystemExit(f"--time-limit gives no value for set(s) {', '.join(missing)}")
    return {name: given[name] for name in sets}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="small,medium,large", help="instance sets under instances/bench")
    parser.add_argument("--methods", default=",".join(HEURISTICS), help="methods from optimizer.methods")
    parser.add_argument(
        "--time-limit", default="60", help="seconds per method and instance: N, or set=N,... per set"
    )
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    parser.add_argument("--known-best", default=str(ROOT / "instances" / "known_best.csv"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)

    sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    limits = time_limits(args.time_limit, sets)
    measured_at, today = commit(), datetime.now(UTC).date().isoformat()
    command = "python benchmarks/run_bench.py " + " ".join(sys.argv[1:])
    sections, all_rows, all_paths = [], [], []
    for name in sets:
        paths = instance_paths([ROOT / "instances" / "bench" / name])
        rows = run_bench(paths, methods, time_limit=limits[name])
        update_known_best(args.known_best, rows, measured_at, today, limits[name])
        all_rows += rows
        all_paths += paths
        sections += [
            f"## {name}", "", f"Time limit {limits[name]:g} s per method and instance.", "", format_rows(rows), "", format_summary(summarize(rows)), "",
            "Value of pooling and of disaggregation (valid plans; savings as a share of the dearer plan):",
            "", value_table(rows), "",
        ]

    page = [
        "# Benchmarks",
        "",
        measured_on(measured_at, today, command.strip()),
        "",
        "Every plan is re-priced by the evaluator and re-checked by the checker (`violations` = "
        "errors the checker finds); no method's own figures are used except its bound. `util` is "
        "the busy share of all opened GPUs in the peak scenario. The summary's geometric mean is "
        "of each method's $/hour over the cheapest valid plan per instance. Runtimes include the "
        "performance model's answers, which each method computes afresh. Best known values are "
        "kept in `instances/known_best.csv`. Time per phase and peak memory of one solve per set, "
        "small to xlarge: `docs/benchmarks-growth.md` (`benchmarks/growth.py`).",
        "",
        "Baselines (`solvers/heuristics/`): `siloed` gives each tenant its own engines at its "
        "cheapest configuration, sized for its own peak; `pooled` shares engines per (model, "
        "precision, latency class, residency), merging neighbouring classes where cheaper, sized "
        "for the peak of the summed demand, disaggregated where cheaper; `pooled-aggregated` is "
        "`pooled` without disaggregation. All pack replicas first-fit into NVLink domains of racks.",
        "",
        *sections,
        "## Instances",
        "",
        "Generated by `tenantplan generate` (commands in `instances/bench/README.md`).",
        "",
        instance_table(all_paths),
        "",
    ]
    write_atomic(args.out, "\n".join(page))
    logging.info("wrote %s and %s", args.out, args.known_best)
    return 1 if any(r.violations for r in all_rows) else 0


if __name__ == "__main__":
    sys.exit(main())
