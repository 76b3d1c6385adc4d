"""Fitting the roofline's efficiency factors on measured serving points.

Each measured point fixes a decode step: the batch it ran is implied by its
output rate per replica over its interactivity, and its step took
``1 / interactivity`` seconds. Every point is used, not only those on the
measured frontier: the slow configurations are what keeps the model from
predicting that an unmeasured small engine runs fast. The fit chooses
the factors minimising the squared log error of the predicted step time, each
group weighted equally (a group with 100 points counts as much as one with 5),
together with the log error of the prefill capacity where a disaggregated run's
prefill pool was saturated (its input rate per prefill GPU; each group of those
weighted like one group of steps):
a coarse grid, then Levenberg-Marquardt (NumPy only) on logit/log-transformed
factors so fractions stay in (0, 1) (HBM efficiency in (0, 0.9): :data:`CEILING`)
and times and the GEMM half-efficiency rows positive. The request overhead in TTFT is then
the median excess of measured over modelled TTFT at low concurrency.

The serving software sets the fixed costs: at the same engine and batch, gpt-oss TP8 on
B200 steps in 2.2 ms with TensorRT-LLM and 2.9 ms with vLLM. Each software (:data:`SOFTWARE`)
gets one fitted multiplier of the kernel overhead and the collective latency, shrunk toward 1
(:data:`SOFTWARE_PRIOR`); the factors themselves describe the average software, which is what
the planner assumes. ``FITTED`` and ``FITTED_SOFTWARE`` hold the result of :func:`fit` on every
point, written to ``instances/catalog/calibration.json`` by ``tenantplan calibrate -o
instances/catalog/calibration.json`` (no points: the bundled ones alone).
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from optimizer.catalog import Model, Precision, System, builtin_models, builtin_systems
from optimizer.performance import roofline as rl
from optimizer.performance.measurements import SOFTWARE, MeasuredPoint, Worker
from optimizer.performance.pareto import pareto_indices
from optimizer.performance.roofline import Factors

SOFTWARE_PRIOR = 0.1
"""Weight of each software's squared log multiplier in the fit's cost, which shrinks the
multipliers toward 1 so the factors describe the average software and one measured on little
data stays near it (a group of steps weighs 1, so a multiplier of 0.75 costs as much as a group
whose steps are all 9% off). Tried at 0.01-1 (docs/performance-model.md)."""

FAMILY_PRIOR = 0.3
"""Weight of each hardware family's squared log efficiency multipliers in the fit's cost: partial
pooling, so a family measured on little data stays near the shared factors (a multiplier of 0.5
costs as much as a group of steps all 15% off). A family nobody measured runs at the shared
factors."""

BENCHMARK_LENGTH_FACTOR = 0.9
"""InferenceMAX draws request lengths uniformly in [0.8, 1] x nominal: mean 0.9 x nominal."""

FRONTIER_WEIGHT = 4.0
"""Weight of a point on its group's measured frontier relative to one off it: the planner runs
frontier configurations, so their step times matter most; the others keep unmeasured slow
configurations from looking fast."""

LOW_CONCURRENCY = 16
"""Points at or below this concurrency (little queueing) set the request overhead."""

SATURATED_TTFT_S = 1.0
"""A disaggregated run whose median TTFT exceeds this had requests queueing for prefill (one
prefill batch takes well under a second in these runs), so its prefill pool ran at capacity."""

GroupKey = tuple[str, str, str, str, str]


@dataclass(frozen=True)
class Calibration:
    """Fitted factors of the average serving software on the average hardware, each software's
    overhead multiplier and each hardware family's efficiency multipliers."""

    factors: Factors
    software_overhead: dict[str, float]
    """multiplier of the kernel overhead and collective latency per :data:`SOFTWARE` name"""
    family_efficiency: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    """per hardware family (``System.efficiency_family``), multipliers of the GEMM FLOPS and HBM
    efficiencies (each capped at :data:`CEILING`) and of the GEMM half-efficiency rows"""

    def overhead(self, software: str) -> float:
        """``software``'s multiplier; 1 (the average) for one not fitted."""
        return self.software_overhead.get(software, 1.0)

    def efficiency(self, family: str) -> np.ndarray:
        """``family``'s :data:`FAMILY_FACTORS` multipliers; 1 (the average) for one not fitted."""
        return np.asarray(self.family_efficiency.get(family, (1.0,) * FAMILY_FACTORS))

    def for_system(self, system: System, framework: str | None = None) -> Factors:
        """The factors of ``system``'s family, run with InferenceMAX's ``framework`` (None: the
        average software, what the planner assumes)."""
        scale = 1.0 if framework is None else self.overhead(SOFTWARE[framework])
        f = self.factors
        scaled = np.array([f.gemm_flops_efficiency, f.hbm_efficiency, f.gemm_half_rows])
        gemm, hbm, half_rows = scaled * self.efficiency(system.efficiency_family)
        return replace(
            f, gemm_flops_efficiency=float(min(gemm, CEILING[0])), hbm_efficiency=float(min(hbm, CEILING[1])),
            gemm_half_rows=float(half_rows), kernel_overhead_s=f.kernel_overhead_s * scale,
            collective_latency_s=f.collective_latency_s * scale,
        )

    def row_factors(self, software: np.ndarray, names: Sequence[str], family: np.ndarray,
                    families: Sequence[str]) -> np.ndarray:
        """Factor columns of engine rows run with ``names[software]`` on ``families[family]``
        (shape ``(6, rows, 1)``; :func:`roofline.step_time` broadcasts them like
        :meth:`Factors.as_array`)."""
        rows = np.repeat(self.factors.as_array()[:, None, None], software.shape[0], axis=1)
        rows[rl.OVERHEADS] *= np.array([self.overhead(n) for n in names])[software][:, None]
        multipliers = np.array([self.efficiency(n) for n in families]).reshape(-1, FAMILY_FACTORS)[family]
        rows[:FAMILY_FACTORS] *= multipliers.T[:, :, None]
        rows[:FRACTIONS] = np.minimum(rows[:FRACTIONS], CEILING[:, None, None])
        return rows


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
    prefill_engines: rl.Engines
    """prefill workers of disaggregated deployments measured at saturation (:data:`SATURATED_TTFT_S`)"""
    prefill_isl: np.ndarray
    prefill_rate: np.ndarray
    """measured input tokens/s per prefill GPU at saturation: the pool's capacity"""
    prefill_weight: np.ndarray
    software_names: tuple[str, ...]
    """the :data:`SOFTWARE` names of the points, sorted"""
    software: np.ndarray
    """per step, the index of its software in ``software_names`` (shape ``(n,)``)"""
    prefill_software: np.ndarray
    """the same per saturated prefill pool"""
    family_names: tuple[str, ...]
    """the hardware families (``System.efficiency_family``) of the points, sorted"""
    family: np.ndarray
    """per step, the index of its system's family in ``family_names``"""
    prefill_family: np.ndarray
    """the same per saturated prefill pool"""


def observations(
    points: Sequence[MeasuredPoint],
    systems: dict[str, System] | None = None,
    models: dict[str, Model] | None = None,
) -> Observations:
    """The decode step each measured point implies (module docstring)."""
    systems = systems or builtin_systems()
    models = models or builtin_models()
    on_frontier = {id(p) for members in measured_frontiers(points).values() for p in members}
    counts: dict[GroupKey, float] = defaultdict(float)
    for point in points:
        counts[group_key(point)] += FRONTIER_WEIGHT if id(point) in on_frontier else 1.0
    rows, columns = [], defaultdict(list)
    for point in points:
        worker = point.engine or point.decode
        assert worker is not None
        rows.append(_engine_row(point, worker, systems, models))
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
        columns["weight"].append((FRONTIER_WEIGHT if id(point) in on_frontier else 1.0) / counts[group_key(point)])
    arrays = {name: np.asarray(values)[:, None] for name, values in columns.items()}
    saturated = _saturated_prefill(points)
    prefill_counts = Counter(group_key(point) for point in saturated)
    names = tuple(sorted({p.software for p in points}))
    families = tuple(sorted({systems[p.system].efficiency_family for p in points}))
    return Observations(
        engines=rl.engines(rows), **arrays,
        prefill_engines=rl.engines([_engine_row(p, p.prefill, systems, models) for p in saturated]),
        prefill_isl=_column([p.isl * BENCHMARK_LENGTH_FACTOR for p in saturated]),
        prefill_rate=_column([p.input_tput_per_gpu for p in saturated]),
        prefill_weight=_column([1.0 / prefill_counts[group_key(p)] for p in saturated]),
        software_names=names,
        software=np.array([names.index(p.software) for p in points], dtype=int),
        prefill_software=np.array([names.index(p.software) for p in saturated], dtype=int),
        family_names=families,
        family=np.array([families.index(systems[p.system].efficiency_family) for p in points], dtype=int),
        prefill_family=np.array([families.index(systems[p.system].efficiency_family) for p in saturated], dtype=int),
    )


def _engine_row(
    point: MeasuredPoint, worker: Worker | None, systems: dict[str, System], models: dict[str, Model]
) -> tuple[Model, System, Precision, int, int, bool]:
    """The :func:`roofline.engines` row of one of ``point``'s workers."""
    assert worker is not None
    return models[point.model], systems[point.system], point.precision, worker.gpus, worker.tp, worker.dp_attention


def _column(values: list[float]) -> np.ndarray:
    return np.asarray(values, dtype=float)[:, None]


def _saturated_prefill(points: Sequence[MeasuredPoint]) -> list[MeasuredPoint]:
    """Per disaggregated deployment, its point of highest input rate when that point's TTFT shows
    requests queueing for prefill (:data:`SATURATED_TTFT_S`)."""
    sweeps: dict[tuple, list[MeasuredPoint]] = defaultdict(list)
    for point in points:
        if point.disaggregated:
            sweeps[(group_key(point), deployment_key(point))].append(point)
    fastest = (max(sweep, key=lambda p: p.input_tput_per_gpu) for sweep in sweeps.values())
    return [p for p in fastest if p.ttft_s >= SATURATED_TTFT_S]


def predicted_step_s(obs: Observations, calibration: Calibration) -> np.ndarray:
    """Seconds the model gives each observed step, with its serving software's factors."""
    f = calibration.row_factors(obs.software, obs.software_names, obs.family, obs.family_names)
    return rl.step_time(obs.engines, f, obs.batch, obs.context, obs.prompt_tokens, obs.prompt_context)


FRACTIONS = 2
"""The first two factors are fractions (fitted as logits), the three other step factors the GEMM
half-efficiency rows and two times (fitted as logs)."""

FAMILY_FACTORS = 3
"""Each hardware family multiplies the first three factors: GEMM FLOPS efficiency, HBM efficiency and
the GEMM half-efficiency rows (tile shapes and SM counts differ by generation)."""

STEP_FACTORS = 5
"""Fit coordinates of the step factors; one log multiplier per software follows them."""

CEILING = np.array([1.0, 0.9])
"""Upper bounds of the two fractions in the fit (each fitted as ``CEILING x logistic``): the
GEMM efficiency at most the peak, HBM efficiency at most 0.9. Not fitted: streaming copies
reach about 90% of the datasheet HBM bandwidth (H100 SXM5 D2D copy and STREAM triad ~3.0-3.1 of
3.35 TB/s) and coalesced weight loads in LLM decode 78-84% (Nsight Compute on H100,
mikamirai.com/blog/gpu-memory-bandwidth, 2026-03-28); the reference data's note puts decode at
35-80%. Without it the fit that leaves out GB200 (aggregated batches of at most 128 per scheduler,
where weight reads and the kernel floor trade off) ran to 100% of the bandwidth."""


def _calibration(
    theta: np.ndarray, names: Sequence[str], families: Sequence[str], request_overhead_s: float = 0.0
) -> Calibration:
    """Calibration from fit coordinates (logits of the fractions, logs of the rows, times and
    multipliers: one per software, then :data:`FAMILY_FACTORS` per family)."""
    fractions = CEILING / (1 + np.exp(-theta[:FRACTIONS]))
    positive = np.exp(theta[FRACTIONS:STEP_FACTORS])
    factors = Factors(*(float(v) for v in (*fractions, *positive)), request_overhead_s=request_overhead_s)
    software = np.exp(theta[STEP_FACTORS:STEP_FACTORS + len(names)])
    family = np.exp(theta[STEP_FACTORS + len(names):]).reshape(-1, FAMILY_FACTORS)
    return Calibration(
        factors, dict(zip(names, software.tolist(), strict=True)),
        {name: tuple(float(v) for v in row) for name, row in zip(families, family, strict=True)},
    )


def predicted_prefill_rate(obs: Observations, calibration: Calibration) -> np.ndarray:
    """Input tokens/s per GPU the model's prefill workers sustain at full utilisation."""
    e = obs.prefill_engines
    f = calibration.row_factors(obs.prefill_software, obs.software_names, obs.prefill_family, obs.family_names)
    return rl.prefill_batch(e, obs.prefill_isl) * obs.prefill_isl / rl.prefill_service_s(e, f, obs.prefill_isl) / e.gpus


def _residuals(theta: np.ndarray, obs: Observations) -> np.ndarray:
    calibration = _calibration(theta, obs.software_names, obs.family_names)
    steps = np.log(predicted_step_s(obs, calibration) / obs.tpot_s) * np.sqrt(obs.weight)
    prefill = np.log(obs.prefill_rate / predicted_prefill_rate(obs, calibration)) * np.sqrt(obs.prefill_weight)
    software = len(obs.software_names)
    prior = theta[STEP_FACTORS:STEP_FACTORS + software] * np.sqrt(SOFTWARE_PRIOR)
    family = theta[STEP_FACTORS + software:] * np.sqrt(FAMILY_PRIOR)
    return np.concatenate([steps.ravel(), prefill.ravel(), prior, family])


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
    (0.15, 0.5),  # GEMM FLOPS efficiency
    (0.5, 0.75),  # HBM efficiency
    (4.0, 32.0, 256.0),  # GEMM half-efficiency rows: a few rows up to a 256-row tile
    (2e-6, 8e-6),  # kernel overhead, s
    (5e-6, 20e-6),  # collective latency, s
)
"""Starting grid of the fit (every software's multiplier 1); Levenberg-Marquardt refines the best of its 48 points."""


def _to_theta(values: Sequence[float], multipliers: int) -> np.ndarray:
    fractions = np.asarray(values[:FRACTIONS]) / CEILING
    return np.array([*np.log(fractions / (1 - fractions)), *np.log(values[FRACTIONS:]), *np.zeros(multipliers)])


def fit(
    points: Sequence[MeasuredPoint],
    systems: dict[str, System] | None = None,
    models: dict[str, Model] | None = None,
) -> Calibration:
    """Factors and software multipliers fitted on ``points`` (module docstring)."""
    obs = observations(points, systems, models)

    def cost(theta: np.ndarray) -> float:
        r = _residuals(theta, obs)
        return float(r @ r)

    multipliers = len(obs.software_names) + FAMILY_FACTORS * len(obs.family_names)
    start = min((_to_theta(values, multipliers) for values in itertools.product(*GRID)), key=cost)
    theta = _levenberg_marquardt(start, obs)
    f = _calibration(theta, obs.software_names, obs.family_names).row_factors(
        obs.software, obs.software_names, obs.family, obs.family_names
    )
    # TTFT at low concurrency = overhead + prompt alone (with the step's prefill share queued) + one step
    aggregated = obs.low_concurrency_aggregated.ravel()
    e = obs.engines
    step = rl.step_time(e, f, obs.batch, obs.context, obs.prompt_tokens, obs.prompt_context)
    share = 1 - rl.step_time(e, f, obs.batch, obs.context, np.zeros(1), obs.prompt_context) / step
    share = np.minimum(share, rl.MAX_PREFILL_UTILISATION)
    alone = rl.prompt_alone_s(e, f, obs.prompt_context * 2)
    modelled = alone * (1 + share / (2 * (1 - share))) + obs.tpot_s
    excess = (obs.ttft_s - modelled).ravel()[aggregated]
    request_overhead = max(0.0, float(np.median(excess))) if excess.size else 0.0
    return _calibration(theta, obs.software_names, obs.family_names, request_overhead)


DEPLOYMENT_BATCHES = 96
"""Decode batches per measured deployment at which :func:`deployment_curve` evaluates the model."""


def deployment_key(point: MeasuredPoint) -> tuple:
    """What InferenceMAX fixed for a sweep over concurrency: the workers and the pool sizes."""
    return (point.engine, point.prefill, point.decode, point.prefill_gpus, point.decode_gpus)


def deployment_curve(
    sweep: Sequence[MeasuredPoint], calibration: Calibration,
    systems: dict[str, System] | None = None, models: dict[str, Model] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(interactivity, tokens/s per GPU) the model predicts for one measured deployment.

    ``sweep``: the points of one deployment (:func:`deployment_key`) at its measured
    concurrencies. The model runs the same engines at decode batches from 1 to the
    largest measured concurrency per decode worker. Aggregated: tokens/s per GPU
    = B X (1 + isl/osl) / GPUs, X = 1 / step time with the batch's share of prompts.
    Disaggregated: the measured prefill and decode pools; the decode workers' output
    rate ``W_d B X`` needs ``isl/osl`` times as many input tokens/s from the prefill
    pool, which runs at most at full utilisation, so batches the prefill pool cannot
    feed are left out (in the closed-loop benchmark requests queue for prefill instead);
    tokens/s per GPU counts both pools.
    """
    systems = systems or builtin_systems()
    models = models or builtin_models()
    first = sweep[0]
    model, system = models[first.model], systems[first.system]
    f = calibration.for_system(system, first.framework).as_array()
    isl, osl = first.isl * BENCHMARK_LENGTH_FACTOR, first.osl * BENCHMARK_LENGTH_FACTOR
    ratio = isl / osl
    decode = first.engine or first.decode
    assert decode is not None
    workers = first.decode_gpus // decode.gpus
    largest = max(p.concurrency for p in sweep) / workers
    batch = np.geomspace(1.0, max(largest, 1.0), DEPLOYMENT_BATCHES)[None, :]
    e = rl.engines([(model, system, first.precision, decode.gpus, decode.tp, decode.dp_attention)])
    prompts = batch * ratio if not first.disaggregated else np.zeros(1)
    step = rl.step_time(e, f, batch, np.asarray(isl + osl / 2), prompts, np.asarray(isl / 2))[0]
    interactivity = 1.0 / step
    output = workers * batch[0] * interactivity
    if not first.disaggregated:
        return interactivity, output * (1 + ratio) / decode.gpus
    prefill = first.prefill
    assert prefill is not None
    p = rl.engines([(model, system, first.precision, prefill.gpus, prefill.tp, prefill.dp_attention)])
    service = rl.prefill_service_s(p, f, np.asarray(isl))[0, 0]
    capacity = first.prefill_gpus // prefill.gpus * float(rl.prefill_batch(p, np.asarray(isl))[0, 0]) * isl / service
    fed = output * ratio <= capacity
    tput = output * (1 + ratio) / (first.prefill_gpus + first.decode_gpus)
    return interactivity[fed], tput[fed]
