"""The estimator: measured frontiers carried by the roofline, with a basis and an 80% interval.

``Estimator`` answers every throughput question in tenantplan: ``tenantplan perf``, the
planner's engine loads (through :class:`~optimizer.performance.PerformanceModel`), the
heuristics and the report. :mod:`optimizer.performance.anchors` gives the rule; this module
evaluates it. The interval of an answer is ``T x exp(q)`` for the 10% and 90% quantiles ``q`` of
the held-out log residuals ``log(measured / estimate)`` at the answer's detail label
(:class:`Bands`); planning at a confidence ``p`` uses the ``1 - p`` quantile.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from optimizer.catalog import Precision
from optimizer.performance.anchors import (
    AT_POINT,
    BASIS_OF_DETAIL,
    DETAILS,
    Basis,
    GroupKey,
    MeasuredFrontier,
    Mode,
    nearest_anchors,
)
from optimizer.performance.frontier import FRONTIER_INTERACTIVITY, Frontier, OperatingPoint, RooflineModel

QUANTILES = tuple(round(0.05 * k, 2) for k in range(1, 20))
"""Levels at which :class:`Bands` stores residual quantiles: 0.05, 0.10, ..., 0.95."""

TRANSFER = {"other-system": 0.5, "other-vendor": 0.25, "other-model": 0.25}
"""Share of the nearest anchors' log correction carried to a query on another system: software
maturity differs from system to system, so only part of one system's distance from the roofline
carries to another (chosen on leave-one-system-out fits, docs/perf-accuracy.md)."""

MAX_BEYOND_REACH = 2.0
SLOPE_SPAN = 1.5
"""Past the fastest interactivity the roofline reaches (``x_r``) and every anchor's measurements,
answers go at most 2 x ``x_r`` further, along the estimate's slope between ``x_r / 1.5`` and
``x_r``: the fastest measured points of held-out systems lie there (the roofline's kernel floor
is slower than the best software's single-sequence steps)."""

MODE_GAP = 3.0
"""How far the other serving mode is, in the units of log request-shape ratios, when a system's own
measurements at another shape or mode carry to a query (:meth:`Estimator._own_system`)."""

DEFAULT_CONFIDENCE = 0.8
"""The planner's default: plan on the throughput each engine reaches with 80% probability (the
20% quantile of its band), so a plan rests on capacities that four in five held-out
measurements met or beat."""

INTERVAL = (0.1, 0.9)
"""The reported interval: 10% and 90% quantiles (an 80% interval)."""


@dataclass(frozen=True)
class Bands:
    """Held-out log residuals ``log(measured / estimate)`` per detail label, as quantiles.

    ``quantiles[detail]`` holds the residual at each level of :data:`QUANTILES`; ``counts`` how
    many held-out points it rests on. A detail without its own residuals borrows the next
    wider label's (:data:`~optimizer.performance.anchors.DETAILS` order).
    """

    quantiles: dict[str, tuple[float, ...]]
    counts: dict[str, int]

    def residual(self, detail: str, level: float) -> float:
        """The log residual at quantile ``level`` (0-1) for ``detail``; 0 when none is known."""
        for label in DETAILS[DETAILS.index(detail):]:
            if label in self.quantiles:
                return float(np.interp(level, QUANTILES, self.quantiles[label]))
        return 0.0

    def factor(self, detail: str, level: float) -> float:
        return math.exp(self.residual(detail, level))

    @staticmethod
    def from_residuals(residuals: dict[str, Sequence[float]], minimum: int = 10) -> Bands:
        """Quantiles of each label with at least ``minimum`` residuals."""
        kept = {d: np.asarray(r) for d, r in residuals.items() if len(r) >= minimum}
        return Bands(
            {d: tuple(float(v) for v in np.quantile(r, QUANTILES)) for d, r in kept.items()},
            {d: int(r.size) for d, r in kept.items()},
        )


@dataclass(frozen=True)
class Estimate:
    """One answer: tokens/s per GPU at an interactivity, its basis and 80% interval."""

    tput_per_gpu: float
    low: float
    """10% quantile of what the system delivers, tokens/s per GPU"""
    high: float
    """90% quantile, tokens/s per GPU"""
    detail: str
    """finer basis label (:data:`~optimizer.performance.anchors.DETAILS`)"""
    correction: float
    """``tput_per_gpu`` over the calibrated roofline's (1 where the roofline alone answers)"""
    anchors: tuple[GroupKey, ...]
    """the measured groups the answer rests on"""
    point: OperatingPoint | None
    """the roofline's best engine configuration at that interactivity (None where the roofline
    reaches no configuration and the measured frontier alone answers)"""

    @property
    def basis(self) -> Basis:
        return BASIS_OF_DETAIL.get(self.detail, "modelled")


@dataclass
class _Curve:
    """A roofline frontier's monotone envelope on :data:`FRONTIER_INTERACTIVITY` (NaN: unreachable)."""

    log_tput: np.ndarray

    def at(self, x: np.ndarray) -> np.ndarray:
        logs = np.log(FRONTIER_INTERACTIVITY)
        values = np.interp(np.log(x), logs, np.nan_to_num(self.log_tput, nan=-np.inf))
        # beyond the last reachable grid point, or past the grid, nothing reaches x
        reachable = np.isfinite(self.log_tput)
        last = logs[reachable].max() if reachable.any() else -np.inf
        return np.where((np.log(x) <= last + 1e-12) & np.isfinite(values), np.exp(values), np.nan)


@dataclass
class Estimator:
    """Measured-first answers for one catalog, one roofline calibration and one measured set."""

    roofline: RooflineModel
    measured: dict[GroupKey, MeasuredFrontier]
    bands: Bands
    by_software: dict[tuple[GroupKey, str], MeasuredFrontier] = field(default_factory=dict)
    """each (group, serving software)'s own measured frontier, for queries that name their software"""
    _curves: dict[tuple, _Curve] = field(default_factory=dict)
    _anchors: dict[GroupKey, tuple] = field(default_factory=dict)

    def frontier(self, model: str, system: str, precision: Precision) -> Frontier:
        """The calibrated roofline's frontier of a (model, system, precision)."""
        return self.roofline.frontier(model, system, precision)

    def _curve(self, key: GroupKey, ttft_s: float | None = None) -> _Curve:
        if (key, ttft_s) not in self._curves:
            model, system, precision, isl, osl, mode = key
            points = self.frontier(model, system, precision).points(
                FRONTIER_INTERACTIVITY, isl, osl, mode, ttft_s  # type: ignore[arg-type]
            )
            tput = np.array([np.nan if p is None else p.tput_per_gpu for p in points])
            envelope = np.fmax.accumulate(tput[::-1])[::-1]  # best at this interactivity or faster
            self._curves[(key, ttft_s)] = _Curve(np.log(envelope))
        return self._curves[(key, ttft_s)]

    def anchors(self, key: GroupKey) -> tuple[list[tuple[MeasuredFrontier, float]], str]:
        """(anchors with weights, nearest detail) of a query group (cached)."""
        if key not in self._anchors:
            self._anchors[key] = nearest_anchors(key, self.measured, self.roofline.systems)
        return self._anchors[key]

    def _log_correction(self, frontier: MeasuredFrontier, xs: np.ndarray) -> np.ndarray:
        """``log c_a`` of one anchor at each interactivity (held at the ends of the measured
        interactivities the roofline reaches; NaN where it reaches none of them)."""
        curve = self._curve(frontier.key)
        usable = np.isfinite(curve.at(frontier.interactivity))
        if not usable.any():
            return np.full(xs.shape, np.nan)
        at = np.clip(xs, frontier.interactivity[usable].min(), frontier.interactivity[usable].max())
        return np.log(frontier.at(at)) - np.log(curve.at(at))

    def _own_system(self, key: GroupKey, xs: np.ndarray) -> tuple[np.ndarray, str] | None:
        """Correction from the query system's own measurements at another shape or mode ``A``,
        times how that difference moves the correction on the other systems measured at both
        (``c_B / c_C``, B at the query's shape and mode, C at A's: the geometric mean over the
        same vendor's systems; another vendor's software moves differently, and on held-out
        shapes using every vendor's was worse: docs/decisions.md); None when the system has no
        measurement of this model and precision."""
        model, system, precision, isl, osl, mode = key
        own = [k for k in self.measured if k[:3] == key[:3] and k != key]
        if not own:
            return None
        def shape_gap(k: GroupKey) -> float:
            return MODE_GAP * (k[5] != mode) + abs(math.log(isl / k[3])) + abs(math.log(osl / k[4]))
        nearest = min(own, key=lambda k: (shape_gap(k), k))
        log_c = self._log_correction(self.measured[nearest], xs)
        vendor = self.roofline.systems[system].vendor
        shifts = [
            self._log_correction(self.measured[b], xs) - self._log_correction(self.measured[c], xs)
            for other in sorted({k[1] for k in self.measured} - {system})
            if self.roofline.systems[other].vendor == vendor
            for b, c in [((model, other, precision, isl, osl, mode), (model, other, precision, *nearest[3:]))]
            if b in self.measured and c in self.measured
        ]
        if shifts:
            shift = np.nanmean(np.array(shifts), axis=0)
            log_c = log_c + np.nan_to_num(shift)
        return log_c, ("other-mode" if nearest[5] != mode else "other-shape")

    def correction(self, key: GroupKey, xs: np.ndarray) -> tuple[np.ndarray, str]:
        """(correction ``c`` at each interactivity, detail label of the answer's basis).

        The query's own group: its measured frontier over the roofline's. Another shape or mode of
        the same system: :meth:`_own_system`. Otherwise the nearest anchors'
        (:func:`~optimizer.performance.anchors.nearest_anchors`) weighted mean of ``log c_a``,
        shrunk by :data:`TRANSFER` at that distance. ``c`` is 1 (label ``roofline``) where no
        anchor's correction can be formed.
        """
        xs = np.asarray(xs, dtype=float)
        if key not in self.measured:
            own = self._own_system(key, xs)
            if own is not None and np.isfinite(own[0]).any():
                log_c, detail = own
                return np.exp(np.nan_to_num(log_c)), detail
        anchors, detail = self.anchors(key)
        log_c = np.zeros(xs.shape)
        weight = np.zeros(xs.shape)
        for frontier, w in anchors:
            ratio = self._log_correction(frontier, xs)
            ok = np.isfinite(ratio)
            log_c += np.where(ok, w * ratio, 0.0)
            weight += np.where(ok, w, 0.0)
        if not anchors or not weight.any():
            return np.ones(xs.shape), "roofline"
        mean = np.divide(log_c, weight, out=np.zeros(xs.shape), where=weight > 0)
        return np.exp(mean * TRANSFER.get(detail, 1.0)), detail

    def estimate(
        self, key: GroupKey, xs: Sequence[float], ttft_s: float | None = None, configurations: bool = True,
        software: str | None = None,
    ) -> list[Estimate | None]:
        """The answer at each interactivity of ``xs`` (at least that many tokens/s per user, and
        TTFT at most ``ttft_s``); None where neither the roofline nor the measured frontier
        reaches it. ``configurations=False`` leaves out the roofline's best engine at each point
        (``Estimate.point`` None), which the planner does not need.

        ``software`` (a :data:`~optimizer.performance.measurements.SOFTWARE` name; None: the best
        measured) answers a measured group from that software's own measurements; where only
        other software measured the group, the answer is theirs, labelled ``other-software``
        (its band: how far one software's frontier lies from the others' on held-out groups).
        Groups nobody measured, and answers under a TTFT limit, are modelled for the average
        software either way."""
        model, system, precision, isl, osl, mode = key
        xs_arr = np.asarray(xs, dtype=float)
        correction, detail = self.correction(key, xs_arr)
        roofline = self._curve(key, ttft_s).at(xs_arr)
        points = (
            self.frontier(model, system, precision).best(xs_arr, isl, osl, mode, ttft_s)  # type: ignore[arg-type]
            if configurations else [None] * len(xs_arr)
        )
        own = self.measured.get(key) if ttft_s is None else None
        other_software = False
        if own is not None and software is not None:
            mine = self.by_software.get((key, software))
            other_software = mine is None
            if mine is not None:
                own = mine
                correction = np.exp(np.nan_to_num(self._log_correction(mine, xs_arr)))
        anchors = tuple(f.key for f, _ in self.anchors(key)[0]) if detail != "roofline" else ()
        answers: list[Estimate | None] = []
        for j, x in enumerate(xs_arr):
            label = detail
            if own is not None:
                inside = bool(own.inside(xs_arr[j:j + 1])[0])
                label = ("measured" if own.at_point(xs_arr[j:j + 1])[0] else "interpolated") if inside else "beyond-range"
            if own is not None and label != "beyond-range":
                value = float(own.at(xs_arr[j:j + 1])[0])
                c = value / roofline[j] if np.isfinite(roofline[j]) else math.nan
            elif np.isfinite(roofline[j]):
                c = float(correction[j])
                value = float(roofline[j]) * c
            else:
                value = self._beyond_reach(key, float(x), ttft_s)
                if value is None:
                    answers.append(None)
                    continue
                c = math.nan
            if other_software:
                label = "other-software"
            answers.append(Estimate(
                tput_per_gpu=value, low=value * self.bands.factor(label, INTERVAL[0]),
                high=value * self.bands.factor(label, INTERVAL[1]), detail=label, correction=c,
                anchors=anchors, point=points[j],
            ))
        return answers

    def _beyond_reach(self, key: GroupKey, x: float, ttft_s: float | None) -> float | None:
        """Past the roofline's fastest reachable interactivity ``x_r``: the estimate at ``x_r``
        falling off as the nearest anchor's measured frontier does from ``x_r`` to ``x``, or, where
        no anchor was measured that fast, as the estimate itself falls just below ``x_r`` (its
        log-log slope, at least as steep as 1/x), up to :data:`MAX_BEYOND_REACH` x ``x_r``; None
        farther out or when nothing is reachable."""
        anchors, _ = self.anchors(key)
        curve = self._curve(key, ttft_s)
        reachable = np.isfinite(curve.log_tput)
        if not anchors or not reachable.any():
            return None
        anchor = anchors[0][0]
        x_r = float(FRONTIER_INTERACTIVITY[reachable].max())
        below = x_r / SLOPE_SPAN
        at_reach, at_below = self.estimate(key, [x_r, below], ttft_s, configurations=False)
        if at_reach is None:
            return None
        if x <= anchor.interactivity[-1] * (1 + AT_POINT):
            return at_reach.tput_per_gpu * float(anchor.at(np.array([x]))[0] / anchor.at(np.array([x_r]))[0])
        if x > x_r * MAX_BEYOND_REACH or at_below is None:
            return None
        slope = min(math.log(at_reach.tput_per_gpu / at_below.tput_per_gpu) / math.log(SLOPE_SPAN), -1.0)
        return at_reach.tput_per_gpu * (x / x_r) ** slope

    def planning_factor(self, key: GroupKey, x: float | None, confidence: float) -> tuple[float, str]:
        """(multiplier of the roofline's throughput the planner uses, detail label) for engines of
        a query group at interactivity ``x``, at ``confidence`` (the ``1 - confidence`` quantile
        of the band). Prefill engines (``x`` None) take the correction at the geometric middle of
        the nearest anchor's measured interactivities. Only a measured group's answer needs the
        roofline's frontier at the query's shape; any other group's factor is its correction
        (:meth:`correction`), the same value :meth:`estimate` would give, without that frontier
        (which costs 20 ms per request shape, most of a warm start on 100 tenants)."""
        if x is None:
            anchors, _ = self.anchors(key)
            x = math.sqrt(anchors[0][0].interactivity[0] * anchors[0][0].interactivity[-1]) if anchors else 30.0
        answer = self.estimate(key, [x], configurations=False)[0] if key in self.measured else None
        if answer is None or not math.isfinite(answer.correction):
            correction, detail = self.correction(key, np.array([x]))
            return float(correction[0]) * self.bands.factor(detail, 1 - confidence), detail
        return answer.correction * self.bands.factor(answer.detail, 1 - confidence), answer.detail


def query_key(model: str, system: str, precision: Precision, isl: int, osl: int, mode: Mode) -> GroupKey:
    return (model, system, precision, int(isl), int(osl), mode)
