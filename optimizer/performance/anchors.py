"""Measured first: the measured frontier where it exists, carried by the roofline's ratios elsewhere.

A *query* is a (model, system, precision, isl, osl, mode) at an interactivity ``x`` (tokens/s per
user). Its estimate of tokens/s per GPU is

    T(q, x) = R(q, x) * c(q, x)

with ``R`` the calibrated roofline's frontier (the best over every engine it considers at
interactivity ``x`` or faster, :class:`~optimizer.performance.frontier.Frontier`) and the
*correction* ``c`` the weighted geometric mean, over the nearest measured groups ``a`` (the
anchors, :func:`anchor_distance`), of

    c_a(x) = M_a(x) / R(a, x),

``M_a`` being group ``a``'s measured frontier, interpolated linearly in log-log between its
points and held at its end values outside the measured interactivities. Where the query's own
group is measured, ``c = M_q / R_q`` and the estimate is the measured frontier itself; a group
measured at another request shape is carried to this one by the roofline's own shape ratio
``R(q, x) / R(a, x)``, another system by its hardware ratio, and so on. Nothing measured at all
leaves the calibrated roofline (``c = 1``).

Each answer carries its *basis* (:data:`BASES`): ``measured`` at a measured point,
``interpolated`` between two, ``modelled`` otherwise, with a finer label (:data:`DETAILS`) that
names how far the nearest anchor is. The 80% interval comes from held-out residuals at that
label (:mod:`optimizer.performance.calibrate`).

Newer measurements of the same configuration replace older ones (:func:`latest`): plans use
today's software.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from optimizer.catalog import System
from optimizer.performance.measurements import MeasuredPoint
from optimizer.performance.pareto import pareto_indices

Mode = Literal["agg", "disagg"]
Basis = Literal["measured", "interpolated", "modelled"]
BASES: tuple[Basis, ...] = ("measured", "interpolated", "modelled")

DETAILS = (
    "measured", "interpolated", "beyond-range", "other-software", "other-shape", "other-mode",
    "other-system", "other-vendor", "other-model", "roofline",
)
"""Finer labels of an answer's basis, nearest first: at a measured point; between two of its own
group's measured points; its own group, outside the measured interactivities; its own group,
measured only with other serving software than the query names; the same system at
another request shape; the same system in the other serving mode; another system (or another
weight precision) of the same vendor; another vendor's system; another model; nothing measured
(the calibrated roofline)."""

BASIS_OF_DETAIL: dict[str, Basis] = {"measured": "measured", "interpolated": "interpolated"}
"""Every other detail is ``modelled``."""

AT_POINT = 0.02
"""An interactivity within 2% of a measured frontier point counts as that point (``measured``)."""

GroupKey = tuple[str, str, str, int, int, str]
"""(model, system, precision, isl, osl, mode)."""

WEIGHT_PER_DISTANCE = 2.0
"""Anchor weight ``exp(-2 (d - d_min))``; anchors with ``d > d_min + 1`` are left out."""


def group_of(point: MeasuredPoint) -> GroupKey:
    return (
        point.model, point.system, point.precision, point.isl, point.osl,
        "disagg" if point.disaggregated else "agg",
    )


def configuration_of(point: MeasuredPoint) -> tuple:
    """What identifies one measured configuration at one load: engines, pools, software, concurrency."""
    return (
        group_of(point), point.framework, point.engine, point.prefill, point.decode,
        point.prefill_gpus, point.decode_gpus, point.concurrency,
    )


def latest(points: Iterable[MeasuredPoint]) -> list[MeasuredPoint]:
    """Each configuration's newest measurement only (the mean of that date's rows)."""
    newest: dict[tuple, list[MeasuredPoint]] = defaultdict(list)
    for point in points:
        kept = newest[configuration_of(point)]
        if kept and kept[0].date > point.date:
            continue
        if kept and kept[0].date < point.date:
            kept.clear()
        kept.append(point)
    return [max(rows, key=lambda p: p.tput_per_gpu) for rows in newest.values()]


@dataclass(frozen=True)
class MeasuredFrontier:
    """One group's measured frontier: interactivities ascending, tokens/s per GPU descending."""

    key: GroupKey
    interactivity: np.ndarray
    tput_per_gpu: np.ndarray
    software: tuple[str, ...] = ()
    """the serving software that measured each point"""

    @staticmethod
    def of(key: GroupKey, points: Sequence[MeasuredPoint]) -> MeasuredFrontier:
        kept = [points[i] for i in pareto_indices([(p.tput_per_gpu, p.interactivity) for p in points])]
        kept.sort(key=lambda p: p.interactivity)
        return MeasuredFrontier(
            key, np.array([p.interactivity for p in kept]), np.array([p.tput_per_gpu for p in kept]),
            tuple(p.software for p in kept),
        )

    def at(self, x: np.ndarray) -> np.ndarray:
        """Tokens/s per GPU at ``x``: log-log interpolation, held at the ends outside the range."""
        logs = np.log(self.interactivity)
        return np.exp(np.interp(np.log(x), logs, np.log(self.tput_per_gpu)))

    def inside(self, x: np.ndarray) -> np.ndarray:
        """Whether each ``x`` lies within the measured interactivities (2% slack at the ends)."""
        return (x >= self.interactivity[0] * (1 - AT_POINT)) & (x <= self.interactivity[-1] * (1 + AT_POINT))

    def at_point(self, x: np.ndarray) -> np.ndarray:
        """Whether each ``x`` is within :data:`AT_POINT` of a measured point."""
        gaps = np.abs(np.log(np.asarray(x)[:, None] / self.interactivity[None, :]))
        return gaps.min(axis=1) <= math.log1p(AT_POINT)


def frontiers(points: Iterable[MeasuredPoint]) -> dict[GroupKey, MeasuredFrontier]:
    """Each group's measured frontier from its newest measurements (:func:`latest`), over every
    serving software: what the best software measured delivers."""
    groups: dict[GroupKey, list[MeasuredPoint]] = defaultdict(list)
    for point in latest(points):
        groups[group_of(point)].append(point)
    return {key: MeasuredFrontier.of(key, members) for key, members in sorted(groups.items())}


def software_frontiers(points: Iterable[MeasuredPoint]) -> dict[tuple[GroupKey, str], MeasuredFrontier]:
    """Each (group, serving software)'s own measured frontier from its newest measurements."""
    groups: dict[tuple[GroupKey, str], list[MeasuredPoint]] = defaultdict(list)
    for point in latest(points):
        groups[(group_of(point), point.software)].append(point)
    return {key: MeasuredFrontier.of(key[0], members) for key, members in sorted(groups.items())}


def _hardware_distance(target: System, anchor: System, precision: str) -> float:
    """How unlike two systems are: log ratios of HBM bandwidth and tensor rate, domain size."""
    return (
        abs(math.log(target.hbm_tb_s / anchor.hbm_tb_s))
        + abs(math.log(target.tflops(precision) / anchor.tflops(precision)))  # type: ignore[arg-type]
        + 0.5 * (target.gpus_per_nvlink_domain != anchor.gpus_per_nvlink_domain)
    )


def anchor_distance(query: GroupKey, anchor: GroupKey, systems: dict[str, System]) -> tuple[float, str]:
    """(distance, detail label) of a measured group from a query's group; smaller is nearer.

    Another model costs 16, another precision 8, another vendor 4, another system 2 plus how
    unlike the hardware is, another mode 1.5, another request shape 1 plus its log distance.
    """
    model, system, precision, isl, osl, mode = query
    a_model, a_system, a_precision, a_isl, a_osl, a_mode = anchor
    target, source = systems[system], systems[a_system]
    shape = abs(math.log(isl / a_isl)) + abs(math.log(osl / a_osl))
    distance = (
        16.0 * (model != a_model) + 8.0 * (precision != a_precision)
        + 4.0 * (target.vendor != source.vendor)
        + (2.0 + _hardware_distance(target, source, precision)) * (system != a_system)
        + 1.5 * (mode != a_mode) + (1.0 + shape) * (shape > 0)
    )
    if model != a_model:
        detail = "other-model"
    elif target.vendor != source.vendor:
        detail = "other-vendor"
    elif system != a_system or precision != a_precision:
        detail = "other-system"
    elif mode != a_mode:
        detail = "other-mode"
    elif shape > 0:
        detail = "other-shape"
    else:
        detail = "measured"
    return distance, detail


def nearest_anchors(
    query: GroupKey, measured: dict[GroupKey, MeasuredFrontier], systems: dict[str, System],
) -> tuple[list[tuple[MeasuredFrontier, float]], str]:
    """The anchors of a query with their weights (summing to 1) and the nearest one's detail
    label; ``([], "roofline")`` when nothing usable is measured."""
    scored = []
    for key, frontier in measured.items():
        if key[1] not in systems:
            continue
        distance, detail = anchor_distance(query, key, systems)
        scored.append((distance, detail, frontier))
    if not scored:
        return [], "roofline"
    scored.sort(key=lambda s: (s[0], s[2].key))
    nearest = scored[0][0]
    kept = [(f, math.exp(-WEIGHT_PER_DISTANCE * (d - nearest))) for d, _, f in scored if d <= nearest + 1.0]
    total = sum(w for _, w in kept)
    return [(f, w / total) for f, w in kept], scored[0][1]
