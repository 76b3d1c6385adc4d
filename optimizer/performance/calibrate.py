"""What the estimator rests on, and how a user's own benchmarks change it.

``PerformanceData`` is the roofline's fitted factors, the measured points and the bands of the
80% interval. A calibration file (``tenantplan calibrate POINTS.csv -o calib.json``) holds the
user's points, the factors refitted on them together with the bundled ones (or on theirs alone
with ``standalone``), and the bands recomputed from held-out residuals on that union
(:func:`held_out_residuals`). The default, ``instances/catalog/calibration.json``, is the same
with no points of its own: ``tenantplan calibrate -o instances/catalog/calibration.json``.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from optimizer.catalog import Model, System, builtin_models, builtin_systems
from optimizer.performance.anchors import frontiers, group_of, software_frontiers
from optimizer.instance import InstanceError
from optimizer.performance.calibration import Calibration, fit
from optimizer.performance.estimate import Bands, Estimator
from optimizer.performance.frontier import RooflineModel
from optimizer.performance.measurements import REQUIRED_COLUMNS, MeasuredPoint, measured_points, parse_points
from optimizer.performance.roofline import Factors

FORMAT = "tenantplan-calibration"
VERSION = 1


@dataclass(frozen=True)
class PerformanceData:
    """The roofline's factors, the measured points and the interval bands the estimator uses."""

    calibration: Calibration
    points: tuple[MeasuredPoint, ...]
    bands: Bands

    def estimator(self, models: dict[str, Model], systems: dict[str, System]) -> Estimator:
        known = [p for p in self.points if p.model in models and p.system in systems]
        return Estimator(
            RooflineModel(systems, models, self.calibration), frontiers(known), self.bands, software_frontiers(known),
        )


def _bands_of(doc: dict[str, Any]) -> Bands:
    return Bands(
        {d: tuple(float(v) for v in q) for d, q in doc["quantiles"].items()},
        {d: int(n) for d, n in doc["counts"].items()},
    )


def _bands_doc(bands: Bands) -> dict[str, Any]:
    return {
        "quantiles": {d: [round(v, 5) for v in q] for d, q in bands.quantiles.items()},
        "counts": bands.counts,
    }


@cache
def default_data() -> PerformanceData:
    """The bundled points with the shipped calibration (``instances/catalog/calibration.json``)."""
    text = resources.files("optimizer.instances").joinpath("catalog").joinpath("calibration.json").read_text("utf-8")
    doc = json.loads(text)
    return PerformanceData(_calibration_of(doc), measured_points(), _bands_of(doc["bands"]))


def held_out_residuals(
    points: Sequence[MeasuredPoint], calibration: Calibration,
    models: dict[str, Model] | None = None, systems: dict[str, System] | None = None,
) -> dict[str, list[float]]:
    """``log(measured / estimate)`` of held-out measured frontier points, by detail label.

    Held out in turn: each interior point of a measured frontier (interpolated from its two
    neighbours, as the estimator would), each system's groups at each request shape (the rest
    of the system stays), each system, each vendor, each model, each serving software (its
    points in groups another software measured, asked for with that software: the
    ``other-software`` residuals), and the last two months of runs
    (fit on the earlier ones, judged on their own frontier as ``benchmarks/perf_accuracy.py``
    judges a time split: later runs were sometimes slower); and the roofline alone. The
    roofline's factors are ``calibration``'s throughout (not refitted per split), so the bands
    are a little narrower than a refit's.
    """
    models = models or builtin_models()
    systems = systems or builtin_systems()
    points = [p for p in points if p.model in models and p.system in systems]
    residuals: dict[str, list[float]] = defaultdict(list)
    roofline = RooflineModel(systems, models, calibration)

    def judge(train: Sequence[MeasuredPoint], test: Sequence[MeasuredPoint], software: str | None = None) -> None:
        """Residuals of ``test``'s frontier points under an estimator of ``train``, asked as the
        planner asks (no software named); with ``software``, only the groups ``train`` measured,
        asked for with that software."""
        by_software = software_frontiers(train) if software is not None else {}
        estimator = Estimator(roofline, frontiers(train), Bands({}, {}), by_software)
        for key, frontier in frontiers(test).items():
            if software is not None and key not in estimator.measured:
                continue
            answers = estimator.estimate(key, frontier.interactivity, configurations=False, software=software)
            for answer, measured in zip(answers, frontier.tput_per_gpu, strict=True):
                if answer is not None:
                    residuals[answer.detail].append(math.log(measured / answer.tput_per_gpu))

    for frontier in frontiers(points).values():  # each interior frontier point from its neighbours
        x, t = np.log(frontier.interactivity), np.log(frontier.tput_per_gpu)
        for i in range(1, x.size - 1):
            between = t[i - 1] + (t[i + 1] - t[i - 1]) * (x[i] - x[i - 1]) / (x[i + 1] - x[i - 1])
            residuals["interpolated"].append(float(t[i] - between))
    shapes = sorted({(p.system, p.isl, p.osl) for p in points})
    for system, isl, osl in shapes:
        held = [p for p in points if (p.system, p.isl, p.osl) == (system, isl, osl)]
        judge([p for p in points if (p.system, p.isl, p.osl) != (system, isl, osl)], held)
    for attribute in ("system", "model"):
        for value in sorted({getattr(p, attribute) for p in points}):
            judge([p for p in points if getattr(p, attribute) != value], [p for p in points if getattr(p, attribute) == value])
    for vendor in sorted({systems[p.system].vendor for p in points}):
        judge([p for p in points if systems[p.system].vendor != vendor], [p for p in points if systems[p.system].vendor == vendor])
    for software in sorted({p.software for p in points}):
        judge([p for p in points if p.software != software], [p for p in points if p.software == software], software)
    months = sorted({p.date[:7] for p in points})
    for month in months[1:][-2:]:
        judge([p for p in points if p.date[:7] < month], [p for p in points if p.date[:7] == month])
    judge([], points)
    return dict(residuals)


def _factors_doc(c: Calibration) -> dict[str, Any]:
    return {
        "factors": {name: getattr(c.factors, name) for name in Factors.__dataclass_fields__},
        "software_overhead": c.software_overhead,
        "family_efficiency": {k: list(v) for k, v in c.family_efficiency.items()},
    }


def _calibration_of(doc: dict[str, Any]) -> Calibration:
    return Calibration(
        Factors(**{name: float(doc["factors"][name]) for name in Factors.__dataclass_fields__}),
        {k: float(v) for k, v in doc["software_overhead"].items()},
        {k: tuple(float(x) for x in v) for k, v in doc["family_efficiency"].items()},  # type: ignore[misc]
    )


def read_points(paths: Sequence[str | Path], systems: dict[str, System], models: dict[str, Model]) -> list[MeasuredPoint]:
    """Measured points from CSV files in the catalog's InferenceMAX schema (speculative decoding
    left out); raises ``InstanceError`` naming the file, row and column of each problem."""
    found: list[MeasuredPoint] = []
    for path in paths:
        found.extend(parse_points(Path(path), systems, models))
    return found


def calibrate(
    points: Sequence[MeasuredPoint], standalone: bool = False,
    models: dict[str, Model] | None = None, systems: dict[str, System] | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """(calibration document, what changed) for ``points``: factors refitted on them with the
    bundled points (alone when ``standalone``), bands from held-out residuals on the same set."""
    models = models or builtin_models()
    systems = systems or builtin_systems()
    bundled = measured_points()
    union = list(points) if standalone else [*bundled, *points]
    calibration = fit(union, systems, models)
    bands = Bands.from_residuals(held_out_residuals(union, calibration, models, systems))
    changes = _changes(bundled, calibration, bands, points, standalone)
    doc = {
        "format": FORMAT, "version": VERSION, "standalone": standalone,
        **_factors_doc(calibration), "bands": _bands_doc(bands),
        "points": [p.row for p in points], "changes": changes,
    }
    return doc, changes


def _changes(
    bundled: Sequence[MeasuredPoint], calibration: Calibration, bands: Bands, points: Sequence[MeasuredPoint],
    standalone: bool,
) -> list[str]:
    """What a calibration changes from the shipped one."""
    base = default_data()
    groups = sorted({group_of(p) for p in points})
    known = {group_of(p) for p in bundled}
    if not points:
        lines = ["no points of your own: refitted on the bundled points alone (the shipped calibration)"]
    else:
        lines = [
            f"{len(points)} points in {len(groups)} groups"
            + ("" if standalone else f" ({sum(g in known for g in groups)} already bundled, newer runs replace older)"),
            ("standalone: the bundled points are not used" if standalone else "added to the bundled points"),
        ]
    for name in Factors.__dataclass_fields__:
        before, after = getattr(base.calibration.factors, name), getattr(calibration.factors, name)
        if not math.isclose(before, after, rel_tol=1e-3):
            lines.append(f"factor {name}: {before:.4g} -> {after:.4g}")
    for family, after in sorted(calibration.family_efficiency.items()):
        before = base.calibration.efficiency(family)
        if not np.allclose(before, after, rtol=1e-3):
            lines.append(f"family {family} efficiency multipliers: {_triple(before)} -> {_triple(after)}")
    for software, after in sorted(calibration.software_overhead.items()):
        before = base.calibration.overhead(software)
        if not math.isclose(before, after, rel_tol=1e-3):
            lines.append(f"software {software} overhead multiplier: {before:.3f} -> {after:.3f}")
    for detail, quantiles in bands.quantiles.items():
        low, high = math.exp(quantiles[1]), math.exp(quantiles[-2])
        lines.append(f"band {detail}: x{low:.2f} .. x{high:.2f} ({bands.counts[detail]} held-out points)")
    return lines


def _triple(values: Iterable[float]) -> str:
    return "(" + ", ".join(f"{v:.3f}" for v in values) + ")"


def load_calibration(path: str | Path, systems: dict[str, System], models: dict[str, Model]) -> PerformanceData:
    """The performance data of a calibration file; raises ``InstanceError`` naming the field."""
    try:
        doc = json.loads(Path(path).read_text("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as error:
        raise InstanceError([("", f"cannot read calibration: {error}")], str(path)) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("version") != VERSION:
        raise InstanceError([("format", f"not a {FORMAT} version {VERSION} file")], str(path))
    try:
        calibration = _calibration_of(doc)
        bands = _bands_of(doc["bands"])
        rows = doc["points"]
        if not isinstance(rows, list):
            raise TypeError("points must be a list")
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=REQUIRED_COLUMNS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    except (KeyError, TypeError, ValueError) as error:
        raise InstanceError([("", f"malformed calibration: {error!r}")], str(path)) from None
    points = parse_points(text.getvalue(), systems, models, where=str(path))
    base = () if doc.get("standalone") else default_data().points
    return PerformanceData(calibration, (*base, *points), bands)
