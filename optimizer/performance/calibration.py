"""Fitting the roofline's efficiency factors on measured serving points.

Each measured point fixes a decode step: the batch it ran is implied by its
output rate per replica over its interactivity, and its step took
``1 / interactivity`` seconds. Every point is used, not only those on the
measured frontier: the slow configurations are what keeps the model from
predicting that an unmeasured small engine runs fast. The fit chooses
the factors minimising the squared log error of the predicted step time, each
group weighted equally (a group with 100 points counts as much as one with 5):
a coarse grid, then Levenberg-Marquardt (NumPy only) on logit/log-transformed
factors so fractions stay in (0, 1) and times positive. The request overhead in
TTFT is then the median excess of measured over modelled TTFT at low
concurrency. ``FITTED`` holds the result of :func:`fit` on every point
(``benchmarks/perf_accuracy.py`` re-runs it and checks it).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from optimizer.catalog import Model, System, builtin_models, builtin_systems
from optimizer.performance import roofline as rl
from optimizer.performance.measurements import MeasuredPoint
from optimizer.performance.pareto import pareto_indices
from optimizer.performance.roofline import Factors

FITTED = Factors(
    flops_efficiency=0.1003,
    hbm_efficiency=0.5916,
    layer_overhead_s=38.26e-6,
    collective_latency_s=23.39e-6,
    request_overhead_s=0.02452,
)
"""Factors fitted on all InferenceMAX points (see docs/performance-model.md)."""

BENCHMARK_LENGTH_FACTOR = 0.9
"""InferenceMAX draws request lengths uniformly in [0.8, 1] x nominal: mean 0.9 x nominal."""

LOW_CONCURRENCY = 16
"""Points at or below this concurrency (little queueing) set the request overhead."""

GroupKey = tuple[str, str, str, str, str]


def group_key(point: MeasuredPoint) -> GroupKey:
    """(model, system, precision, scenario, mode): one group of measurements."""
    return (point.model, point.system, point.precision, point.scenario, "disagg" if point.disaggregated else "agg")


def measured_frontiers(points: Sequence[MeasuredPoint]) -> dict[GroupKey, list[MeasuredPoint]]:
    """Per group, the points no other point of the group beats on both tokens/s per GPU and
    interactivity, fastest first."""
    groups: dict[GroupKey, list[MeasuredPoint]] = defaultdict(list)
    for point in points:
        groups[group_key(point)].append(point)
    frontiers = {}
    for key, members in groups.items():
        kept = [members[i] for i in pareto_indices([(p.tput_per_gpu, p.interactivity) for p in members])]
        frontiers[key] = sorted(kept, key=lambda p: -p.interactivity)
    return frontiers


@dataclass(frozen=True)
class Observations:
    """Measured decode steps as arrays (one row per point, shape ``(n, 1)``)."""

    engines: rl.Engines
    batch: np.ndarray
    context: np.ndarray
    prompt_tokens: np.ndarray
    prompt_context: np.ndarray
    tpot_s: np.ndarray
    ttft_s: np.ndarray
    low_concurrency_aggregated: np.ndarray
    weight: np.ndarray


def observations(
    points: Sequence[MeasuredPoint],
    systems: dict[str, System] | None = None,
    models: dict[str, Model] | None = None,
) -> Observations:
    """The decode step each measured point implies (module docstring)."""
    systems = systems or builtin_systems()
    models = models or builtin_models()
    counts: dict[GroupKey, int] = defaultdict(int)
    for point in points:
        counts[group_key(point)] += 1
    rows, columns = [], defaultdict(list)
    for point in points:
        worker = point.engine or point.decode
        assert worker is not None
        model, system = models[point.model], systems[point.system]
        rows.append((model, system, point.precision, worker.gpus, worker.tp, worker.dp_attention))
        batch = point.output_tput_per_gpu * worker.gpus / point.interactivity
        isl = point.isl * BENCHMARK_LENGTH_FACTOR
        osl = point.osl * BENCHMARK_LENGTH_FACTOR
        prompts_per_output = 0.0 if point.disaggregated else point.input_tput_per_gpu / point.output_tput_per_gpu
        columns["batch"].append(batch)
        columns["context"].append(isl + osl / 2)
        columns["prompt_tokens"].append(batch * prompts_per_output)
        columns["prompt_context"].append(isl / 2)
        columns["tpot_s"].append(1.0 / point.interactivity)
        columns["ttft_s"].append(point.ttft_s)
        columns["low_concurrency_aggregated"].append(
            not point.disaggregated and point.concurrency <= LOW_CONCURRENCY
        )
        columns["weight"].append(1.0 / counts[group_key(point)])
    arrays = {name: np.asarray(values)[:, None] for name, values in columns.items()}
    return Observations(engines=rl.engines(rows), **arrays)


def predicted_step_s(obs: Observations, f: np.ndarray) -> np.ndarray:
    return rl.step_time(obs.engines, f, obs.batch, obs.context, obs.prompt_tokens, obs.prompt_context)


def _factors(theta: np.ndarray, request_overhead_s: float = 0.0) -> np.ndarray:
    """Factor array from fit coordinates (logit, logit, log, log)."""
    return np.array([
        1 / (1 + np.exp(-theta[0])), 1 / (1 + np.exp(-theta[1])),
        *np.exp(theta[2:]), request_overhead_s,
    ])


def _residuals(theta: np.ndarray, obs: Observations) -> np.ndarray:
    error = np.log(predicted_step_s(obs, _factors(theta)) / obs.tpot_s)
    return (error * np.sqrt(obs.weight)).ravel()


def _levenberg_marquardt(theta: np.ndarray, obs: Observations, iterations: int = 100) -> np.ndarray:
    residual = _residuals(theta, obs)
    cost = residual @ residual
    damping = 1e-2
    for _ in range(iterations):
        jacobian = np.empty((residual.size, theta.size))
        for k in range(theta.size):
            shifted = theta.copy()
            shifted[k] += 1e-6
            jacobian[:, k] = (_residuals(shifted, obs) - residual) / 1e-6
        normal = jacobian.T @ jacobian
        gradient = jacobian.T @ residual
        step = np.linalg.solve(normal + damping * np.diag(np.diag(normal) + 1e-12), -gradient)
        candidate = theta + step
        candidate_residual = _residuals(candidate, obs)
        candidate_cost = candidate_residual @ candidate_residual
        if candidate_cost < cost:
            theta, residual, cost = candidate, candidate_residual, candidate_cost
            damping /= 3
            if np.max(np.abs(step)) < 1e-7:
                break
        else:
            damping *= 4
            if damping > 1e8:
                break
    return theta


GRID = (
    (0.2, 0.35, 0.5, 0.7),  # flops efficiency
    (0.4, 0.55, 0.7, 0.85),  # HBM efficiency
    (5e-6, 15e-6, 40e-6),  # layer overhead, s
    (2e-6, 5e-6, 10e-6, 20e-6),  # collective latency, s
)
"""Starting grid of the fit; Levenberg-Marquardt refines the best of its 192 points."""


def _to_theta(values: Sequence[float]) -> np.ndarray:
    e_flops, e_hbm, *times = values
    return np.array([np.log(e_flops / (1 - e_flops)), np.log(e_hbm / (1 - e_hbm)), *np.log(times)])


def fit(
    points: Sequence[MeasuredPoint],
    systems: dict[str, System] | None = None,
    models: dict[str, Model] | None = None,
) -> Factors:
    """Factors fitted on ``points`` (module docstring)."""
    obs = observations(points, systems, models)

    def cost(theta: np.ndarray) -> float:
        r = _residuals(theta, obs)
        return float(r @ r)

    start = min((_to_theta(values) for values in itertools.product(*GRID)), key=cost)
    theta = _levenberg_marquardt(start, obs)
    f = _factors(theta)
    # TTFT at low concurrency = overhead + prompt alone (with the step's prefill share queued) + one step
    aggregated = obs.low_concurrency_aggregated.ravel()
    e = obs.engines
    share = 1 - rl.step_time(e, f, obs.batch, obs.context, np.zeros(1), obs.prompt_context) / predicted_step_s(obs, f)
    share = np.minimum(share, rl.MAX_PREFILL_UTILISATION)
    alone = rl.step_time(e, f, np.zeros(1), np.zeros(1), obs.prompt_context * 2, obs.prompt_context)
    modelled = alone * (1 + share / (2 * (1 - share))) + obs.tpot_s
    excess = (obs.ttft_s - modelled).ravel()[aggregated]
    request_overhead = max(0.0, float(np.median(excess))) if excess.size else 0.0
    return Factors(
        flops_efficiency=float(f[0]), hbm_efficiency=float(f[1]), layer_overhead_s=float(f[2]),
        collective_latency_s=float(f[3]), request_overhead_s=request_overhead,
    )
