"""How far the performance model's frontier is from the measured InferenceMAX frontier.

For each (model, system, precision, scenario, mode) group of
``inferencemax_points.csv`` (speculative decoding left out), the measured
frontier is the set of points no other point of the group beats on both
tokens/s per GPU and interactivity. At each of those interactivities the
model's frontier (running at that interactivity or faster) predicts tokens/s
per GPU; the absolute percentage error is |predicted - measured| / measured.
Two model frontiers are compared:

- like with like: over the deployments the group measured (same engines, worker
  counts and pool sizes, batches up to the measured concurrency, the serving
  software's fitted overheads; ``calibration.deployment_curve``);
- planner: over every parallelism the planner considers, prefill and decode
  pools in the balancing ratio, replicas held to the group's measured concurrency,
  the average software's factors (what the planner assumes).

Four fits are judged:

- in-sample: the shipped factors (``calibration.FITTED`` and ``FITTED_SOFTWARE``, fitted on all points);
- leave-one-system-out: refit without the system's points, predict its groups (a software
  measured only on that system then runs at the average software's overheads);
- leave-one-scenario-out: refit without the scenario (1k/1k or 8k/1k), predict it;
- naive roofline: 100% of peak FLOPS and bandwidth, no overheads (for scale).

A group the model cannot serve at a measured interactivity counts as 100% error.
Writes ``docs/perf-accuracy.md``. Run: ``python benchmarks/perf_accuracy.py``.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np

from optimizer.catalog import builtin_models, builtin_systems
from optimizer.performance.calibration import (
    BENCHMARK_LENGTH_FACTOR,
    FITTED,
    FITTED_SOFTWARE,
    SOFTWARE,
    Calibration,
    GroupKey,
    deployment_curve,
    deployment_key,
    fit,
    group_key,
    measured_frontiers,
    observations,
    predicted_step_s,
)
from optimizer.performance.frontier import Frontier
from optimizer.performance.measurements import MeasuredPoint, measured_points
from optimizer.performance.roofline import Factors
from optimizer.safe_io import write_atomic
from provenance import commit

logger = logging.getLogger("perf_accuracy")

NAIVE = Factors(
    prefill_flops_efficiency=1.0, decode_flops_efficiency=1.0, hbm_efficiency=1.0, kernel_overhead_s=0.0,
    collective_latency_s=0.0, request_overhead_s=0.0,
)
"""A roofline at datasheet peaks with no overheads."""


def deployment_errors(
    members: list[MeasuredPoint], group: list[MeasuredPoint], calibration: Calibration
) -> list[float]:
    """Like with like: the model's frontier over the deployments the group measured.

    Each deployment (engines, worker counts, pool sizes) is run by the model at
    decode batches up to its largest measured concurrency (``deployment_curve``);
    at each measured-frontier interactivity the prediction is the best tokens/s per
    GPU of any deployment at that interactivity or faster.
    """
    sweeps: dict[tuple, list[MeasuredPoint]] = defaultdict(list)
    for point in group:
        sweeps[deployment_key(point)].append(point)
    curves = [deployment_curve(sweep, calibration) for sweep in sweeps.values()]
    xs = np.concatenate([c[0] for c in curves])
    tput = np.concatenate([c[1] for c in curves])
    errors = []
    for m in members:
        reached = tput[xs >= m.interactivity]
        errors.append(1.0 if reached.size == 0 else abs(reached.max() - m.tput_per_gpu) / m.tput_per_gpu)
    return errors


def group_errors(key: GroupKey, members: list[MeasuredPoint], factors: Factors) -> list[float]:
    """Absolute percentage errors of the planner's frontier (every parallelism it considers)
    at the measured frontier's interactivities.

    The benchmark swept concurrency only up to a limit per group (64 or 128 for
    aggregated engines), so the model's replicas are held to the same limit.
    """
    model_id, system_id, precision, _, mode = key
    isl = round(members[0].isl * BENCHMARK_LENGTH_FACTOR)
    osl = round(members[0].osl * BENCHMARK_LENGTH_FACTOR)
    max_concurrency = max(p.concurrency for p in members)
    front = Frontier(
        builtin_models()[model_id], builtin_systems()[system_id], precision, factors,  # type: ignore[arg-type]
        max_batch=max_concurrency,
    )
    predicted = front.best(np.array([p.interactivity for p in members]), isl, osl, mode)  # type: ignore[arg-type]
    return [
        1.0 if point is None else abs(point.tput_per_gpu - m.tput_per_gpu) / m.tput_per_gpu
        for m, point in zip(members, predicted, strict=True)
    ]


def evaluate(
    frontiers: dict[GroupKey, list[MeasuredPoint]], groups: dict[GroupKey, list[MeasuredPoint]],
    calibration_for: Callable[[GroupKey], Calibration], like_with_like: bool,
) -> dict[GroupKey, list[float]]:
    """Errors per group: over the measured deployments (``like_with_like``) or the planner's
    candidates (the average software's factors)."""
    if like_with_like:
        return {key: deployment_errors(m, groups[key], calibration_for(key)) for key, m in frontiers.items()}
    return {key: group_errors(key, m, calibration_for(key).factors) for key, m in frontiers.items()}


def held_out_fits(points: tuple[MeasuredPoint, ...], attribute: str) -> dict[str, Calibration]:
    """Calibrations refitted without each value of ``attribute`` (``system`` or ``scenario``)."""
    values = sorted({getattr(p, attribute) for p in points})
    return {v: fit([p for p in points if getattr(p, attribute) != v]) for v in values}


def summary(errors: list[float]) -> str:
    values = np.asarray(errors) * 100
    return f"{np.median(values):.0f}% / {np.percentile(values, 90):.0f}%"


def pooled(results: dict[GroupKey, list[float]]) -> list[float]:
    return [e for errors in results.values() for e in errors]


def factor_row(name: str, c: Calibration) -> str:
    f = c.factors
    software = " | ".join(
        f"{c.software_overhead[s]:.2f}" if s in c.software_overhead else "-" for s in sorted(set(SOFTWARE.values()))
    )
    return (
        f"| {name} | {f.prefill_flops_efficiency:.3f} | {f.decode_flops_efficiency:.3f} | {f.hbm_efficiency:.3f} "
        f"| {f.kernel_overhead_s * 1e6:.2f} | {f.collective_latency_s * 1e6:.1f} | {f.request_overhead_s * 1e3:.0f} "
        f"| {software} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/perf-accuracy.md", help="markdown report to write")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    points = measured_points()
    frontiers = measured_frontiers(points)
    groups: dict[GroupKey, list[MeasuredPoint]] = defaultdict(list)
    for point in points:
        groups[group_key(point)].append(point)
    started = time.perf_counter()
    refit = fit(points)
    by_system = held_out_fits(points, "system")
    by_scenario = held_out_fits(points, "scenario")
    fit_s = time.perf_counter() - started

    started = time.perf_counter()
    shipped = Calibration(FITTED, FITTED_SOFTWARE)
    fits: dict[str, Callable[[GroupKey], Calibration]] = {
        "in-sample (shipped factors)": lambda key: shipped,
        "leave-one-system-out": lambda key: by_system[key[1]],
        "leave-one-scenario-out": lambda key: by_scenario[key[3]],
        "naive roofline (peaks, no overheads)": lambda key: Calibration(NAIVE, {}),
    }
    results = {name: evaluate(frontiers, groups, calibration_for, True) for name, calibration_for in fits.items()}
    planner = {name: evaluate(frontiers, groups, calibration_for, False) for name, calibration_for in fits.items()}
    predict_s = time.perf_counter() - started
    frontier_count = sum(len(v) for v in results.values()) + sum(len(v) for v in planner.values())
    logger.info("fits %.1f s, %d frontier predictions %.1f s", fit_s, frontier_count, predict_s)

    in_sample, system_out, scenario_out, naive = results.values()
    p_in, p_system, p_scenario, _ = planner.values()
    missing = sum(e == 1.0 for e in pooled(in_sample))
    steps = observations(points)
    step_error = np.abs(predicted_step_s(steps, shipped) / steps.tpot_s - 1).ravel() * 100
    lines = [
        "# Performance model accuracy",
        "",
        f"Measured at commit `{commit()}` by `python benchmarks/perf_accuracy.py` "
        f"({time.strftime('%Y-%m-%d')}). Data: `instances/catalog/inferencemax_points.csv`, "
        f"{len(points)} rows without speculative decoding, "
        f"{sum(len(m) for m in frontiers.values())} of them on their group's measured frontier, "
        f"{len(frontiers)} groups. Error: |model frontier - measured frontier| / measured, in "
        "tokens/s per GPU at each measured-frontier interactivity (see the script's docstring). "
        "Target under leave-one-out: median <= 20%, 90th percentile <= 50%.",
        "",
        "Two views. **Like with like** (the headline, judged against the target): the model runs "
        "the deployments InferenceMAX measured in the group (same engines, worker counts and pool "
        "sizes, batches up to the measured concurrency, the serving software's fitted overheads). "
        "**Planner**: the model's own best over every "
        "parallelism it considers (balanced prefill:decode pools, at most the group's measured "
        "concurrency per replica, the average software), what `tenantplan perf` and the planner use; "
        "its extra error is the model's optimism or pessimism about configurations nobody measured.",
        "",
        "## Overall (all frontier points pooled): median / 90th percentile",
        "",
        "| fit | like with like | planner |",
        "|---|---|---|",
        *(f"| {name} | {summary(pooled(r))} | {summary(pooled(planner[name]))} |" for name, r in results.items()),
        "",
        f"In-sample, {missing} frontier points are ones the model cannot reach at all (counted as 100%).",
        "",
        "Step time of each measured configuration at its own batch (all points, shipped factors; "
        "what the fit minimises): median "
        f"{np.median(step_error):.0f}%, 90th percentile {np.percentile(step_error, 90):.0f}%.",
        "",
        "## Per group: median / 90th percentile",
        "",
        "Like with like, then planner view.",
        "",
        "| model | system | precision | scenario | mode | points | in-sample | leave system out "
        "| leave scenario out | planner in-sample | planner system out | planner scenario out |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key in sorted(frontiers):
        lines.append(
            f"| {' | '.join(key)} | {len(frontiers[key])} | {summary(in_sample[key])} "
            f"| {summary(system_out[key])} | {summary(scenario_out[key])} "
            f"| {summary(p_in[key])} | {summary(p_system[key])} | {summary(p_scenario[key])} |"
        )
    lines += [
        "",
        "## Fitted factors",
        "",
        "The last columns: each serving software's multiplier of the kernel overhead and collective "
        "latency (`-`: not in the fit's points, so the average's 1).",
        "",
        "| fit | prefill FLOPS eff. | decode FLOPS eff. | HBM eff. | kernel overhead, us "
        "| collective latency, us | request overhead, ms | "
        + " | ".join(sorted(set(SOFTWARE.values()))) + " |",
        "|---|---|---|---|---|---|---|" + "---|" * len(set(SOFTWARE.values())),
        factor_row("shipped (`calibration.FITTED`, `FITTED_SOFTWARE`)", shipped),
        factor_row("refit on all points now", refit),
        *(factor_row(f"without {system}", f) for system, f in by_system.items()),
        *(factor_row(f"without {scenario}", f) for scenario, f in by_scenario.items()),
        "",
        f"Fitting the {2 + len(by_system) + len(by_scenario) - 1} fits took {fit_s:.1f} s; "
        f"the {frontier_count} frontier predictions {predict_s:.1f} s.",
        "",
    ]
    write_atomic(Path(args.out), "\n".join(lines))
    logger.info("wrote %s", args.out)


if __name__ == "__main__":
    main()
