"""What-if sweeps: one instance planned over a grid of changes, one time-limited solve per point.

A sweep varies keys (``docs/sweep.md``), each over a list of values:

=============================  ===========================  =====================================================
key                            value                        what it changes
=============================  ===========================  =====================================================
``demand``                     multiplier > 0               every tenant's ``requests_per_s``
``demand.<tenant>``            multiplier > 0               that tenant's ``requests_per_s``
``price.<system>``             multiplier > 0               $/GPU-hour of every fleet entry of that system (its
                                                            override, else the catalog's at the TCO basis)
``ttft.<slo_class>``           seconds                      ``ttft_s`` of every tenant of that SLO class
``interactivity.<slo_class>``  tokens/s per user            ``min_tokens_per_s_per_user`` of that class's tenants
``power.<site>``               MW                           that site's ``power_mw``
``fleet``                      ``own``, ``aggregated``,     which of :mod:`optimizer.compare`'s options plans the
                               ``siloed`` or a system id    point: the own fleet, it with aggregated engines only,
                                                            it with siloed tenancy, or that system alone: the
                                                            fleet's racks of it, or where the fleet has none
                                                            unlimited racks at catalog prices (labelled so)
=============================  ===========================  =====================================================

The points are every combination of the values (the first key slowest), or with ``zip`` the
values taken in step. At each point ``fleet`` is applied first (:func:`optimizer.compare.variants`
builds the option), then the other keys in the order given, and the result is validated like an
instance file, so every limit still holds. Each point is planned, priced by the evaluator and
checked by the checker (:func:`optimizer.compare.run_variant`) on an executor
(:mod:`optimizer.executor`); rows come back in point order whatever order the points finish in.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from optimizer.compare import Variant, registry_planner, run_variant, variants
from optimizer.executor import Executor
from optimizer.instance import Instance, InstanceError, parse_instance, unknown_reason
from optimizer.methods import get_method
from optimizer.safe_io import path_inside, write_atomic

logger = logging.getLogger(__name__)

Value = float | str
"""A key's value: a number, or for ``fleet`` an option's name."""
Point = tuple[tuple[str, Value], ...]
"""One point of a sweep: (key, value) for every varied key, in the order the keys were given."""

KEYS: tuple[str, ...] = ("demand", "demand.<tenant>", "price.<system>", "ttft.<slo_class>",
                         "interactivity.<slo_class>", "power.<site>", "fleet")
"""The keys a sweep varies, as the documentation writes them."""
_TARGETED = ("demand", "price", "ttft", "interactivity", "power")
"""Key kinds followed by ``.<name>`` (``demand`` also alone)."""
FLEET_OPTIONS: dict[str, str] = {"own": "fleet", "aggregated": "aggregated", "siloed": "tenancy"}
"""``fleet`` values other than a system id, and the compare option set each names."""
DEFAULT_FLEET = "own"


@dataclass(frozen=True)
class Axis:
    """One varied key and its values."""

    key: str
    values: tuple[Value, ...]


@dataclass(frozen=True)
class Row:
    """One point planned, as the evaluator and the checker see its plan."""

    status: str
    """the method's status (optimal, feasible, infeasible, no-solution), or ``error`` when it raised"""
    usd_per_hour: float | None
    usd_per_mtok: float | None
    """input + output tokens"""
    bound: float | None
    """the method's best lower bound on $/hour (None for heuristics)"""
    gap: float | None
    racks: int | None
    gpus: int | None
    runtime_s: float
    """the method's own runtime, s: the one column that differs from run to run"""
    violations: int | None
    """rules the plan breaks (the checker's errors); None without a plan"""

    @property
    def complete(self) -> bool:
        """A plan that keeps every rule."""
        return self.violations == 0 and self.usd_per_hour is not None


@dataclass(frozen=True)
class Setup:
    """What every point shares: sent with each point to a worker process, once per sweep to Ray."""

    instance: Instance
    method: str
    time_limit: float
    """seconds per point"""
    seed: int = 0


@dataclass(frozen=True)
class Sweep:
    """Every point of a sweep with its row, in point order."""

    instance: Instance
    axes: tuple[Axis, ...]
    points: tuple[Point, ...]
    rows: tuple[Row, ...]
    method: str
    time_limit: float


# -- keys and points ------------------------------------------------------------------------


def parse_axis(text: str) -> Axis:
    """``KEY=V1,V2,...`` as an :class:`Axis` (numbers for every key but ``fleet``).

    Raises:
        InstanceError: a malformed text, an unknown key, or a value that is not a number > 0,
            named ``--vary KEY``.
    """
    key, sep, values = text.partition("=")
    key = key.strip()
    where = f"--vary {key}" if key else "--vary"
    if not sep or not key:
        raise InstanceError([(where, f"'{text}' is not KEY=V1,V2,... (keys: {', '.join(KEYS)})")])
    kind, dot, target = key.partition(".")
    known = kind == "fleet" and not dot or kind in _TARGETED and (bool(target) or kind == "demand" and not dot)
    if not known:
        raise InstanceError([(where, f"unknown key (keys: {', '.join(KEYS)})")])
    texts = [v.strip() for v in values.split(",")]
    if not all(texts):
        raise InstanceError([(where, f"needs values separated by commas, got '{values}'")])
    if len(set(texts)) < len(texts):
        raise InstanceError([(where, "repeats a value")])
    if kind == "fleet":
        return Axis(key, tuple(texts))
    numbers = []
    for t in texts:
        try:
            number = float(t)
        except ValueError:
            raise InstanceError([(where, f"'{t}' is not a number")]) from None
        if not (math.isfinite(number) and number > 0):
            raise InstanceError([(where, f"{t} is not a finite number > 0")])
        numbers.append(number)
    return Axis(key, tuple(numbers))


def grid(axes: Sequence[Axis], zip_values: bool = False) -> list[Point]:
    """The points of ``axes``: every combination (the first axis slowest), or with ``zip_values``
    the i-th value of every axis together.

    Raises:
        InstanceError: a key varied twice, or with ``zip_values`` lists of different lengths.
    """
    keys = [a.key for a in axes]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise InstanceError([(f"--vary {k}", "is varied twice; give its values in one --vary") for k in twice])
    if zip_values:
        lengths = {len(a.values) for a in axes}
        if len(lengths) > 1:
            raise InstanceError([("--zip", "needs the same number of values for every key, got "
                                  + ", ".join(f"{a.key} {len(a.values)}" for a in axes))])
        combos = list(zip(*(a.values for a in axes)))
    else:
        combos = list(itertools.product(*(a.values for a in axes)))
    return [tuple(zip(keys, combo)) for combo in combos]


def label(point: Point) -> str:
    """``demand=2, fleet=own``."""
    return ", ".join(f"{key}={format_value(value)}" for key, value in point)


def format_value(value: Value) -> str:
    return value if isinstance(value, str) else f"{value:.12g}"


def check_keys(instance: Instance, axes: Sequence[Axis]) -> None:
    """Refuse a key whose target the instance lacks, or a ``fleet`` value that names no option.

    Raises:
        InstanceError: every such key, named ``--vary KEY``.
    """
    fleet_values = [v for a in axes if a.key == "fleet" for v in a.values]
    fleet_systems = {e.system for e in instance.fleet} | {v for v in fleet_values if v not in FLEET_OPTIONS}
    known = {
        "demand": [t.name for t in instance.tenants],
        "price": sorted(fleet_systems),
        "ttft": sorted({t.slo_class for t in instance.tenants if t.slo_class}),
        "interactivity": sorted({t.slo_class for t in instance.tenants if t.slo_class}),
        "power": [s.name for s in instance.sites],
    }
    kinds = {"demand": "tenant", "price": "system in the fleet", "ttft": "SLO class",
             "interactivity": "SLO class", "power": "site"}
    problems = []
    for axis in axes:
        kind, _, target = axis.key.partition(".")
        if target and target not in known[kind]:
            names = known[kind]
            listed = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
            problems.append((f"--vary {axis.key}", unknown_reason(kinds[kind], target, names)
                             + f" (known: {listed or 'none'})"))
        if kind == "fleet":
            options = [*FLEET_OPTIONS, *sorted(instance.system_catalog)]
            problems += [("--vary fleet", unknown_reason("fleet option", str(v), options)
                          + f" (options: {', '.join(FLEET_OPTIONS)} or a system id)")
                         for v in axis.values if v not in options]
    if problems:
        raise InstanceError(problems)


def apply(instance: Instance, key: str, value: float) -> Instance:
    """``instance`` with one numeric key set to ``value`` (module docstring), not yet re-validated."""
    kind, _, target = key.partition(".")
    if kind == "demand":
        return instance.model_copy(update={"tenants": tuple(
            t.model_copy(update={"requests_per_s": t.requests_per_s * value}) if target in ("", t.name) else t
            for t in instance.tenants)})
    if kind == "price":
        return instance.model_copy(update={"fleet": tuple(
            e.model_copy(update={"usd_per_gpu_hour": instance.usd_per_gpu_hour(e) * value}) if e.system == target
            else e for e in instance.fleet)})
    if kind in ("ttft", "interactivity"):
        name = "ttft_s" if kind == "ttft" else "min_tokens_per_s_per_user"
        return instance.model_copy(update={"tenants": tuple(
            t.model_copy(update={name: value}) if t.slo_class == target else t for t in instance.tenants)})
    if kind == "power":
        return instance.model_copy(update={"sites": tuple(
            s.model_copy(update={"power_mw": value}) if s.name == target else s for s in instance.sites)})
    raise ValueError(f"not a numeric key: {key}")


def point_variant(instance: Instance, point: Point, method: str) -> Variant:
    """The compare option that plans ``point``, its instance changed by every key and validated.

    Raises:
        InstanceError: the changed instance breaks a limit of the file format, named by the point.
    """
    values = dict(point)
    fleet = str(values.get("fleet", DEFAULT_FLEET))
    option_set, systems = (FLEET_OPTIONS[fleet], None) if fleet in FLEET_OPTIONS else ("systems", [fleet])
    unlimited = systems is not None and all(e.system != fleet for e in instance.fleet)  # a purchase what-if
    (variant,) = (v for v in variants(instance, [option_set], systems, method, unlimited) if v.option_set == option_set)
    changed = variant.instance
    for key, value in point:
        if key != "fleet":
            changed = apply(changed, key, float(value))
    try:
        valid = parse_instance(json.loads(changed.to_json()))
    except InstanceError as error:
        raise InstanceError([(f"--vary {label(point)}", f"{path}: {reason}" if path else reason)
                             for path, reason in error.problems]) from None
    return replace(variant, instance=valid)


def solve_point(setup: Setup, point: Point) -> tuple[Row, str | None]:
    """Plan, price and check one point; returns its row and its plan as JSON (None without one).

    A method that raises gives a row with status ``error`` (logged), so one point cannot stop a sweep.
    """
    try:
        variant = point_variant(setup.instance, point, setup.method)
        outcome = run_variant(variant, setup.time_limit, registry_planner(setup.seed))
    except Exception:  # noqa: BLE001 - reported in the row; the other points go on
        logger.exception("sweep: %s raised", label(point))
        return Row("error", None, None, None, None, None, None, 0.0, None), None
    result, report = outcome.result, outcome.report
    row = Row(
        status=result.status.value,
        usd_per_hour=report.usd_per_hour if report else None,
        usd_per_mtok=report.usd_per_mtok if report else None,
        bound=result.bound,
        gap=result.gap,
        racks=report.num_racks if report else None,
        gpus=report.gpus if report else None,
        runtime_s=result.runtime_s,
        violations=outcome.violations if report else None,
    )
    return row, result.plan.to_json() if result.plan is not None else None


# -- running --------------------------------------------------------------------------------


def sweep_key(setup: Setup, points: Sequence[Point]) -> str:
    """SHA-256 of what decides a sweep's rows: the instance, the points, method, time limit and seed."""
    canonical = json.dumps([setup.instance.digest(), [[list(kv) for kv in p] for p in points], setup.method,
                            setup.time_limit, setup.seed])
    return hashlib.sha256(canonical.encode()).hexdigest()


def _point_file(out: Path, index: int) -> Path:
    return path_inside(out / "points", f"{index:05d}.json")


def _done_before(out: Path, key: str, index: int, point: Point) -> Row | None:
    """The row a run of the same sweep wrote for point ``index``; None when there is none."""
    try:
        saved = json.loads(_point_file(out, index).read_text(encoding="utf-8"))
        if saved["sweep"] == key and saved["point"] == [list(kv) for kv in point]:
            return Row(**saved["row"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def run_sweep(
    instance: Instance,
    axes: Sequence[Axis],
    zip_values: bool = False,
    method: str = "highs",
    time_limit: float = 60.0,
    seed: int = 0,
    executor: str = "local",
    workers: int | None = None,
    out: str | Path | None = None,
    resume: bool = False,
    on_row: Callable[[int, int, Point, Row], None] | None = None,
) -> Sweep:
    """Plan every point of ``axes`` (module docstring), each within ``time_limit`` seconds.

    With ``out``, each point is written as it finishes, atomically: its row to
    ``out/points/NNNNN.json`` and its plan to ``out/plans/NNNNN.json``, so a killed sweep loses
    only the points in flight; with ``resume``, points a run of the same sweep (same instance,
    points, method, time limit and seed) wrote there are read back instead of planned again.
    ``on_row(done, total, point, row)`` is called as each point finishes.

    Raises:
        InstanceError: a bad key or value (:func:`parse_axis`, :func:`grid`, :func:`check_keys`),
            a point whose instance breaks a limit, an unknown method or executor.
    """
    try:
        get_method(method)
    except KeyError as error:
        raise InstanceError([("--method", error.args[0])]) from None
    pool = Executor(executor, workers)
    if not axes:
        raise InstanceError([("--vary", "give at least one KEY=V1,V2,...")])
    check_keys(instance, axes)
    points = grid(axes, zip_values)
    for point in points:  # every point's instance checked before any is planned
        point_variant(instance, point, method)
    setup = Setup(instance, method, time_limit, seed)
    key = sweep_key(setup, points)
    folder = Path(out) if out is not None else None
    rows: dict[int, Row] = {}
    if folder is not None and resume:
        for i, point in enumerate(points):
            if (row := _done_before(folder, key, i, point)) is not None:
                rows[i] = row
        logger.info("sweep: %d of %d points done before, read back", len(rows), len(points))
    todo = [i for i in range(len(points)) if i not in rows]
    with pool:
        for j, (row, plan) in pool.as_completed(solve_point, setup, [points[i] for i in todo]):
            index = todo[j]
            rows[index] = row
            if folder is not None:
                if plan is not None:
                    write_atomic(path_inside(folder / "plans", f"{index:05d}.json"), plan)
                saved = {"sweep": key, "point": [list(kv) for kv in points[index]], "row": asdict(row)}
                write_atomic(_point_file(folder, index), json.dumps(saved, indent=1) + "\n")
            if on_row is not None:
                on_row(len(rows), len(points), points[index], row)
    return Sweep(instance, tuple(axes), tuple(points), tuple(rows[i] for i in range(len(points))), method, time_limit)


def sweep_csv(sweep: Sweep) -> str:
    """CSV text: one line per point in point order, a column per varied key, then :class:`Row`'s fields."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*(a.key for a in sweep.axes), *(f.name for f in fields(Row))])
    for point, row in zip(sweep.points, sweep.rows, strict=True):
        cells: Mapping[str, object] = asdict(row)
        writer.writerow([*(format_value(v) for _, v in point), *("" if v is None else v for v in cells.values())])
    return out.getvalue()
