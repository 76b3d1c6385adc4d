"""Operating points of the calibrated roofline: candidates, the Pareto frontier, planner configs.

For (model, system, precision, isl, osl) the frontier is the best total tokens/s
per GPU at interactivity at least X (and TTFT at most T when given), over the
engine parallelisms that fit one NVLink domain. Aggregated: one engine type.
Disaggregated: a prefill and a decode engine type, their pools sized in the
ratio that balances them (input rate = output rate x isl/osl), so tokens/s per
GPU = (1 + r) / (r / prefill_rate + 1 / decode_rate) with r = isl/osl and the
rates per GPU of each pool.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from optimizer.catalog import Model, Precision, System
from optimizer.performance import roofline as rl
from optimizer.performance.calibration import Calibration
from optimizer.performance.contract import EngineConfig, Role, TokenLoad
from optimizer.performance.pareto import pareto_indices, spread
from optimizer.performance.profiles import MAX_CONFIGS_PER_ROLE

Mode = Literal["agg", "disagg"]

FRONTIER_INTERACTIVITY = np.geomspace(2.0, 3000.0, 120)
"""Interactivity grid the frontier is traced on, tokens/s per user."""

CONFIG_INTERACTIVITY = (5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 75.0, 100.0, 150.0, 200.0, 300.0, 500.0, 1000.0)
"""Operating points offered to the planner for aggregated and decode engines, tokens/s per user."""

CONFIG_TTFT_S = (0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)
"""TTFT targets offered to the planner for prefill engines, s."""


@dataclass(frozen=True)
class Parallelism:
    """How one replica splits the model: TP over ``tp`` GPUs, or DP attention with EP."""

    gpus: int
    tp: int
    ep: int
    dp_attention: bool

    @property
    def label(self) -> str:
        if self.dp_attention:
            return f"dep{self.gpus}"
        return f"tp{self.tp}" + (f"ep{self.ep}" if self.ep > 1 else "")


def parallelisms(model: Model, system: System) -> list[Parallelism]:
    """Candidate engines: power-of-two GPU counts inside one NVLink domain (at most 64).

    Dense models: tensor parallel over all GPUs. MoE models also: DP attention
    with the experts spread over all GPUs (expert parallel), from 2 GPUs.
    """
    sizes = [2**i for i in range(7) if 2**i <= min(system.gpus_per_nvlink_domain, 64)]
    options = [Parallelism(g, g, 1, False) for g in sizes]
    if model.is_moe:
        options += [Parallelism(g, g, g, True) for g in sizes if g > 1]
    return options


def _engines(model: Model, system: System, precision: Precision, options: list[Parallelism]) -> rl.Engines:
    return rl.engines([(model, system, precision, p.gpus, p.tp, p.dp_attention) for p in options])


def _config(
    model: Model, system: System, precision: Precision, role: Role, p: Parallelism,
    interactivity: float | None = None, ttft_s: float | None = None,
) -> EngineConfig:
    return EngineConfig(
        model=model.id, system=system.id, precision=precision, role=role, gpus=p.gpus, tp=p.tp,
        ep=p.ep, dp_attention=p.dp_attention, tokens_per_s_per_user=interactivity, ttft_s=ttft_s,
    )


@dataclass(frozen=True)
class OperatingPoint:
    """One point of a frontier.

    Per-GPU rates follow InferenceMAX: ``tput_per_gpu`` is input + output over
    all GPUs; ``input_tput_per_gpu`` is per prefill GPU and
    ``output_tput_per_gpu`` per decode GPU (the same GPUs when aggregated).
    """

    mode: Mode
    interactivity: float
    """tokens/s per user (1 / TPOT)"""
    ttft_s: float
    tput_per_gpu: float
    input_tput_per_gpu: float
    output_tput_per_gpu: float
    configs: tuple[EngineConfig, ...]
    """the aggregated engine, or the (prefill, decode) engines"""
    prefill_gpus_per_decode_gpu: float = 0.0

    @property
    def tpot_s(self) -> float:
        return 1.0 / self.interactivity

    @property
    def gpus(self) -> int:
        """GPUs of one replica (aggregated) or of one prefill plus one decode replica."""
        return sum(c.gpus for c in self.configs)

    @property
    def label(self) -> str:
        return " + ".join(f"{c.role} {_label(c)}" for c in self.configs)


def _label(config: EngineConfig) -> str:
    return Parallelism(config.gpus, config.tp, config.ep, config.dp_attention).label


class Frontier:
    """Frontier queries for one (model, system, precision) under fitted factors."""

    def __init__(
        self, model: Model, system: System, precision: Precision, factors: rl.Factors,
        max_batch: float = math.inf,
    ) -> None:
        """``factors``: the calibration's for ``system`` (:meth:`RooflineModel.frontier`);
        ``max_batch`` caps the sequences one (decode or aggregated) replica runs at once."""
        self.model, self.system, self.precision = model, system, precision
        self.max_batch = max_batch
        self.f = factors.as_array()
        options = parallelisms(model, system)
        engines = _engines(model, system, precision, options)
        fits = engines.kv_capacity_bytes[:, 0] > 0
        self.options = [p for p, ok in zip(options, fits, strict=True) if ok]
        self.engines = _engines(model, system, precision, self.options) if self.options else None

    def _output_rate(self, point: rl.DecodePoint, xs: np.ndarray) -> np.ndarray:
        """Output tokens/s per replica at the served batch, at most ``max_batch`` sequences."""
        return np.where(point.served_batch > self.max_batch, self.max_batch * xs[None, :], point.output_tokens_per_s)

    # -- aggregated -------------------------------------------------------------------

    def _aggregated(self, xs: np.ndarray, isl: int, osl: int, ttft_s: float | None) -> list[OperatingPoint | None]:
        """Best aggregated point at each interactivity of ``xs`` (running exactly there)."""
        e = self.engines
        point = rl.decode_points(e, self.f, xs[None, :], isl, osl, aggregated=True)
        ratio = isl / osl
        tput = self._output_rate(point, xs) * (1 + ratio) / e.gpus
        if ttft_s is not None:
            tput = np.where(point.ttft_s <= ttft_s, tput, np.nan)
        best: list[OperatingPoint | None] = []
        for j, x in enumerate(xs):
            column = tput[:, j]
            if np.all(np.isnan(column)):
                best.append(None)
                continue
            i = int(np.nanargmax(column))
            p = self.options[i]
            best.append(OperatingPoint(
                mode="agg", interactivity=float(x), ttft_s=float(point.ttft_s[i, j]),
                tput_per_gpu=float(column[i]),
                input_tput_per_gpu=float(column[i] * ratio / (1 + ratio)),
                output_tput_per_gpu=float(column[i] / (1 + ratio)),
                configs=(_config(self.model, self.system, self.precision, "aggregated", p, float(x)),),
            ))
        return best

    # -- disaggregated ----------------------------------------------------------------

    def _prefill_rates(self, isl: int, ttft_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(input tokens/s per GPU, TTFT s) of each prefill candidate for each TTFT budget."""
        e = self.engines
        if np.all(np.isinf(ttft_s)):
            service = rl.prefill_service_s(e, self.f, np.asarray(float(isl)))
            rho = rl.MAX_PREFILL_UTILISATION
            rate = rl.prefill_batch(e, np.asarray(float(isl))) * isl / service * rho / e.gpus
            ttft = self.f[rl.REQUEST] + service * (1 + rho / (2 * (1 - rho)))
            return np.broadcast_to(rate, (len(self.options), ttft_s.size)), np.broadcast_to(ttft, (len(self.options), ttft_s.size))
        rate, _, _ = rl.prefill_points(e, self.f, ttft_s[None, :], isl)
        return rate / e.gpus, np.broadcast_to(ttft_s[None, :], rate.shape)

    def _disaggregated(self, xs: np.ndarray, isl: int, osl: int, ttft_s: float | None) -> list[OperatingPoint | None]:
        e = self.engines
        ratio = isl / osl
        decode = rl.decode_points(e, self.f, xs[None, :], isl, osl, aggregated=False)
        decode_rate = self._output_rate(decode, xs) / e.gpus  # (D, X)
        # the prefill budget is the TTFT target less the decode side's KV transfer and first step
        budget = np.full(decode_rate.shape, np.inf) if ttft_s is None else ttft_s - decode.ttft_s
        flat_rate, flat_ttft = self._prefill_rates(isl, budget.reshape(-1))
        prefill_rate = flat_rate.reshape((len(self.options),) + decode_rate.shape)  # (P, D, X)
        prefill_ttft = flat_ttft.reshape(prefill_rate.shape)
        tput = (1 + ratio) / (ratio / prefill_rate + 1 / decode_rate[None, :, :])
        best: list[OperatingPoint | None] = []
        for j, x in enumerate(xs):
            plane = tput[:, :, j]
            if np.all(np.isnan(plane)):
                best.append(None)
                continue
            pi, di = np.unravel_index(int(np.nanargmax(plane)), plane.shape)
            pre, dec = self.options[pi], self.options[di]
            ttft_prefill = float(prefill_ttft[pi, di, j])
            best.append(OperatingPoint(
                mode="disagg", interactivity=float(x),
                ttft_s=ttft_prefill + float(decode.ttft_s[di, j]),
                tput_per_gpu=float(plane[pi, di]),
                input_tput_per_gpu=float(prefill_rate[pi, di, j]),
                output_tput_per_gpu=float(decode_rate[di, j]),
                configs=(
                    _config(self.model, self.system, self.precision, "prefill", pre, ttft_s=ttft_prefill),
                    _config(self.model, self.system, self.precision, "decode", dec, float(x)),
                ),
                prefill_gpus_per_decode_gpu=float(ratio * decode_rate[di, j] / prefill_rate[pi, di, j]),
            ))
        return best

    # -- queries ----------------------------------------------------------------------

    def points(self, xs: np.ndarray, isl: int, osl: int, mode: Mode, ttft_s: float | None = None) -> list[OperatingPoint | None]:
        """Best point running exactly at each interactivity of ``xs`` (None where none reaches it)."""
        if self.engines is None:
            return [None] * len(xs)
        xs = np.asarray(xs, dtype=float)
        if mode == "agg":
            return self._aggregated(xs, isl, osl, ttft_s)
        return self._disaggregated(xs, isl, osl, ttft_s)

    def best(self, interactivity: np.ndarray, isl: int, osl: int, mode: Mode, ttft_s: float | None = None) -> list[OperatingPoint | None]:
        """Best point at interactivity at least each of ``interactivity`` (the monotone frontier).

        Running faster than asked can pay when KV memory, not time, limits the
        batch, so each query takes the best over the grid at or above it.
        """
        queries = np.asarray(interactivity, dtype=float)
        grid = np.unique(np.concatenate([queries, FRONTIER_INTERACTIVITY]))
        candidates = self.points(grid, isl, osl, mode, ttft_s)
        answers: list[OperatingPoint | None] = []
        for x in queries:
            above = [p for g, p in zip(grid, candidates, strict=True) if g >= x and p is not None]
            answers.append(max(above, key=lambda p: p.tput_per_gpu) if above else None)
        return answers

    def pareto(self, isl: int, osl: int, mode: Mode, ttft_s: float | None = None) -> list[OperatingPoint]:
        """The frontier's corner points, fastest first: no point beats another on both
        interactivity and tokens/s per GPU."""
        found = [p for p in self.points(FRONTIER_INTERACTIVITY, isl, osl, mode, ttft_s) if p is not None]
        kept = [found[i] for i in pareto_indices([(p.tput_per_gpu, p.interactivity) for p in found])]
        return sorted(kept, key=lambda p: -p.interactivity)


class RooflineModel:
    """Planner-facing roofline: candidate configurations and loads for a catalog."""

    def __init__(self, systems: dict[str, System], models: dict[str, Model], calibration: Calibration) -> None:
        self.systems, self.models = systems, models
        self.calibration = calibration

    def factors(self, system: str) -> rl.Factors:
        """The calibration's factors for ``system``'s family, average software."""
        return self.calibration.for_system(self.systems[system])

    def frontier(self, model: str, system: str, precision: Precision) -> Frontier:
        return Frontier(self.models[model], self.systems[system], precision, self.factors(system))

    def configs(
        self, model: str, system: str, precision: Precision, role: Role, isl: int, osl: int
    ) -> tuple[EngineConfig, ...]:
        """Best configuration at each offered operating point, Pareto-pruned, at most 12."""
        m = self.models[model]
        if m.weights_gb(precision) is None:
            return ()
        front = self.frontier(model, system, precision)
        if front.engines is None:
            return ()
        if role == "prefill":
            targets = np.asarray(CONFIG_TTFT_S)
            rate, _ = front._prefill_rates(isl, targets)
            chosen = []
            for j, target in enumerate(targets):
                if not np.all(np.isnan(rate[:, j])):
                    i = int(np.nanargmax(rate[:, j]))
                    chosen.append((float(rate[i, j]), -float(target), front.options[i], None, float(target)))
        else:
            xs = np.asarray(CONFIG_INTERACTIVITY)
            aggregated = role == "aggregated"
            point = rl.decode_points(front.engines, front.f, xs[None, :], isl, osl, aggregated)
            per_gpu = point.output_tokens_per_s / front.engines.gpus
            chosen = []
            for j, x in enumerate(xs):
                if not np.all(np.isnan(per_gpu[:, j])):
                    i = int(np.nanargmax(per_gpu[:, j]))
                    chosen.append((float(per_gpu[i, j]), float(x), front.options[i], float(x), None))
        kept = [chosen[i] for i in pareto_indices([(c[0], c[1]) for c in chosen])]
        configs = [_config(m, self.systems[system], precision, role, c[2], c[3], c[4]) for c in kept]
        configs.sort(key=lambda c: (-(c.tokens_per_s_per_user or math.inf), c.ttft_s or 0.0))
        return spread(configs, MAX_CONFIGS_PER_ROLE)

    def loads(self, configs: Sequence[EngineConfig], isl: int, osl: int,
              speed: Sequence[float] | None = None) -> list[TokenLoad | None]:
        """See :func:`roofline.token_loads` (``speed``: per configuration, default 1); None where
        the precision has no weights."""
        found: list[TokenLoad | None] = [None] * len(configs)
        by_system: dict[str, list[int]] = {}
        for i, c in enumerate(configs):
            if self.models[c.model].weights_gb(c.precision) is not None:
                by_system.setdefault(c.system, []).append(i)
        for system, rows in by_system.items():
            chosen = [configs[i] for i in rows]
            e = rl.config_engines(chosen, self.models, self.systems)
            f = self.factors(system).as_array()
            fast = None if speed is None else np.array([speed[i] for i in rows])
            for i, load in zip(rows, rl.token_loads(e, f, chosen, isl, osl, fast), strict=True):
                found[i] = load
        return found

    def kv_capacity_bytes(self, config: EngineConfig) -> float:
        """HBM left for KV cache by one replica's weights, in full per-token KV bytes (>= 0)."""
        if self.models[config.model].weights_gb(config.precision) is None:
            return 0.0
        e = rl.config_engines([config], self.models, self.systems)
        return max(0.0, float(e.kv_capacity_bytes[0, 0]))
