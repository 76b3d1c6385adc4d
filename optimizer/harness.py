"""The benchmark harness: every method on every instance, judged by one evaluator and checker.

:func:`run_bench` runs methods from :data:`optimizer.methods.METHODS` on
instance files and returns one :class:`BenchRow` per (instance, method). A
method's own figures are never trusted: each returned plan is re-priced by
:func:`optimizer.evaluate.evaluate` and re-checked by :func:`optimizer.check.check`;
only the best bound (which no plan can show) is taken from the method.
:func:`summarize` compares methods by the geometric mean of their cost ratio to
the best plan per instance. ``instances/known_best.csv`` keeps the best known
$/hour per instance (:func:`update_known_best`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from importlib import resources
from pathlib import Path
from typing import get_args

from optimizer.catalog import Precision
from optimizer.check import check
from optimizer.evaluate import evaluate
from optimizer.executor import Executor
from optimizer.instance import Instance, InstanceError, Tenant, load_instance
from optimizer.methods import get_method
from optimizer.performance import PerformanceModel, Role
from optimizer.result import relative_gap
from optimizer.safe_io import write_atomic

logger = logging.getLogger(__name__)

INSTANCE_SUFFIXES = (".json", ".toml")


@dataclass(frozen=True)
class BenchRow:
    """One method on one instance, as the evaluator and checker see its plan."""

    instance: str
    """instance name"""
    method: str
    status: str
    """the method's status, or ``error`` when it raised"""
    violations: int | None
    """errors the checker finds in the plan (warnings not counted); None without a plan"""
    usd_per_hour: float | None
    usd_per_mtok: float | None
    racks: int | None
    gpus: int | None
    utilisation: float | None
    """busy fraction of all opened GPUs in the peak scenario (replica time used x GPUs / GPUs)"""
    bound: float | None
    """the method's best lower bound on $/hour (None for heuristics)"""
    gap: float | None
    """(usd_per_hour - bound) / usd_per_hour"""
    runtime_s: float
    unserved: int
    """tenants the method reports it could not serve"""
    bound_scope: str | None = None
    """what ``bound`` holds over: ``all`` candidates or the ``shortlist`` (:class:`~optimizer.result.Result`)"""
    bound_solver: str | None = None
    """the solver that proved ``bound``"""
    shortlist_gap: float | None = None
    """where ``bound`` holds over every candidate, the gap against the stronger bound over the
    shortlist searched (:attr:`~optimizer.result.Result.shortlist_bound`)"""

    @property
    def valid(self) -> bool:
        """A plan that serves everything and breaks no rule."""
        return self.violations == 0 and self.usd_per_hour is not None


@dataclass(frozen=True)
class MethodSummary:
    method: str
    instances: int
    valid: int
    """instances with a plan that breaks no rule"""
    best: int
    """instances where its plan is the cheapest (ties count for each)"""
    geomean_ratio: float | None
    """geometric mean over its valid instances of $/hour over the best valid $/hour"""
    mean_runtime_s: float


def instance_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files named in ``paths``, directories expanded to their instance files (recursively, sorted).

    Raises:
        InstanceError: a path that does not exist, or a directory without instance files.
    """
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            inside = sorted(p for p in path.rglob("*") if p.suffix in INSTANCE_SUFFIXES and p.is_file())
            if not inside:
                raise InstanceError([("", "no .json or .toml instance files in this directory")], str(path))
            found.extend(inside)
        elif path.is_file():
            found.append(path)
        else:
            raise InstanceError([("", "no such file or directory")], str(path))
    return found


def _row(
    instance: Instance, method: str, time_limit: float, seed: int, threads: int
) -> BenchRow:
    performance = PerformanceModel(instance)
    start = time.perf_counter()
    try:
        result = get_method(method)(
            instance, time_limit=time_limit, seed=seed, threads=threads, performance=performance
        )
    except Exception:
        logger.exception("%s on %s raised", method, instance.name)
        return BenchRow(
            instance.name, method, "error", None, None, None, None, None, None, None, None,
            time.perf_counter() - start, 0,
        )
    runtime = time.perf_counter() - start
    if result.plan is None:
        return BenchRow(
            instance.name, method, result.status.value, None, None, None, None, None, None,
            result.bound, None, runtime, len(result.unserved), result.bound_scope, result.bound_solver,
        )
    report = evaluate(instance, result.plan, performance)  # re-priced here, not taken from the method's result
    violations = [v for v in check(instance, result.plan, performance) if v.severity == "error"]
    busy = sum(e.time_utilisation * e.gpus * e.count for e in report.engines)
    cost = report.usd_per_hour
    return BenchRow(
        instance=instance.name,
        method=method,
        status=result.status.value,
        violations=len(violations),
        usd_per_hour=cost,
        usd_per_mtok=report.usd_per_mtok,
        racks=report.num_racks,
        gpus=report.gpus,
        utilisation=busy / report.gpus if report.gpus else None,
        bound=result.bound,
        gap=relative_gap(cost, result.bound),
        runtime_s=runtime,
        unserved=len(result.unserved),
        bound_scope=result.bound_scope,
        bound_solver=result.bound_solver,
        shortlist_gap=relative_gap(cost, result.shortlist_bound),
    )


@dataclass(frozen=True)
class _Settings:
    """What every (instance, method) run of a bench shares."""

    instances: tuple[Instance, ...]
    time_limit: float
    seed: int
    threads: int


def _run(settings: _Settings, job: tuple[int, str]) -> BenchRow:
    """The row of method ``job[1]`` on instance ``job[0]``."""
    index, method = job
    return _row(settings.instances[index], method, settings.time_limit, settings.seed, settings.threads)


def run_bench(
    paths: Sequence[str | Path],
    methods: Sequence[str],
    time_limit: float = 60.0,
    seed: int = 0,
    threads: int = 1,
    on_row: Callable[[BenchRow], None] | None = None,
    executor: str = "local",
    workers: int = 1,
) -> list[BenchRow]:
    """Run every method on every instance file; progress is logged at INFO as each run finishes.

    Every instance is loaded (and validated) before any method runs. A method
    that raises gets a row with status ``error`` and the run goes on. The runs go to
    ``executor`` (:mod:`optimizer.executor`), ``workers`` at a time; one (the default) runs them
    here one after another, so that time-limited runs do not share the cores. Rows come back
    instance by instance, methods in the order given, whatever order the runs finish in;
    ``on_row`` is called with each as it finishes.

    Raises:
        KeyError: an unknown method name.
        InstanceError: a path that is missing or an instance file that is invalid, or an
            unknown executor (:func:`optimizer.executor.check_executor`).
    """
    for method in methods:
        get_method(method)
    pool = Executor(executor, workers)
    instances = [load_instance(path) for path in instance_paths(paths)]
    jobs = [(i, method) for i in range(len(instances)) for method in methods]
    settings = _Settings(tuple(instances), time_limit, seed, threads)
    found: dict[int, BenchRow] = {}
    with pool:
        for k, row in pool.as_completed(_run, settings, jobs):
            found[k] = row
            cost = "no plan" if row.usd_per_hour is None else f"${row.usd_per_hour:,.2f}/hour"
            checked = "" if row.violations is None else f", {row.violations} violation(s)"
            logger.info("[%d/%d] %s: %s: %s: %s%s, %.2f s", len(found), len(jobs), row.instance, row.method,
                        row.status, cost, checked, row.runtime_s)
            if on_row is not None:
                on_row(row)
    return [found[k] for k in range(len(jobs))]


def best_per_instance(rows: Iterable[BenchRow]) -> dict[str, float]:
    """The lowest $/hour of a valid plan per instance."""
    best: dict[str, float] = {}
    for row in rows:
        if row.valid:
            best[row.instance] = min(best.get(row.instance, math.inf), row.usd_per_hour)  # type: ignore[arg-type]
    return best


def summarize(rows: Sequence[BenchRow]) -> list[MethodSummary]:
    """Per method, in first-seen order: valid plans, wins, geometric-mean cost ratio to the best."""
    best = best_per_instance(rows)
    by_method: dict[str, list[BenchRow]] = defaultdict(list)
    for row in rows:
        by_method[row.method].append(row)
    summaries = []
    for method, own in by_method.items():
        ratios = [row.usd_per_hour / best[row.instance] for row in own if row.valid and best[row.instance] > 0]  # type: ignore[operator]
        summaries.append(MethodSummary(
            method=method,
            instances=len(own),
            valid=sum(row.valid for row in own),
            best=sum(row.valid and row.usd_per_hour <= best[row.instance] * (1 + 1e-9) for row in own),  # type: ignore[operator]
            geomean_ratio=math.exp(sum(map(math.log, ratios)) / len(ratios)) if ratios else None,
            mean_runtime_s=sum(row.runtime_s for row in own) / len(own),
        ))
    return summaries


def _cell(value: object, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def format_rows(rows: Sequence[BenchRow]) -> str:
    """The per-(instance, method) table as Markdown."""
    header = ("| instance | method | status | violations | $/hour | $/Mtok | racks | GPUs | util | bound "
              "| bound over | gap | runtime s | unserved |")
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for r in rows:
        lines.append(
            f"| {r.instance} | {r.method} | {r.status} | {_cell(r.violations)} | {_cell(r.usd_per_hour)} "
            f"| {_cell(r.usd_per_mtok, 4)} | {_cell(r.racks)} | {_cell(r.gpus)} "
            f"| {'-' if r.utilisation is None else f'{r.utilisation:.0%}'} | {_cell(r.bound)} "
            f"| {_bound_over(r.bound_scope, r.bound_solver)} "
            f"| {'-' if r.gap is None else f'{r.gap:.2%}'}"
            f"{'' if r.shortlist_gap is None else f' ({r.shortlist_gap:.2%} over the shortlist)'} "
            f"| {r.runtime_s:.2f} | {r.unserved} |"
        )
    return "\n".join(lines)


def _bound_over(scope: str | None, solver: str | None) -> str:
    """``all (highs)``: what a bound holds over and the solver that proved it; ``-`` without one."""
    return "-" if scope is None else f"{scope} ({solver})"


def format_summary(summaries: Sequence[MethodSummary]) -> str:
    """The per-method summary as Markdown."""
    lines = [
        "| method | instances | valid plans | best | geo-mean cost / best | mean runtime s |",
        "|---|---|---|---|---|---|",
    ]
    for s in summaries:
        ratio = "-" if s.geomean_ratio is None else f"{s.geomean_ratio:.4f}"
        lines.append(
            f"| {s.method} | {s.instances} | {s.valid} | {s.best} | {ratio} | {s.mean_runtime_s:.2f} |"
        )
    return "\n".join(lines)


def rows_to_csv(rows: Sequence[BenchRow]) -> str:
    """CSV text, one line per row, columns in :class:`BenchRow` field order."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=[f.name for f in fields(BenchRow)], lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in asdict(row).items()})
    return out.getvalue()


KNOWN_BEST_COLUMNS = ("instance", "usd_per_hour", "method", "bound", "capacities", "commit", "date", "time_limit_s")


CAPACITY_PROBES: tuple[tuple[str, str, Precision], ...] = (
    ("gpt-oss-120b", "hgx-b200", "fp4"),
    ("deepseek-r1", "gb200-nvl72", "fp8"),
    ("llama-3.3-70b", "hgx-h100", "fp8"),
    ("qwen3-235b-a22b", "mi355x", "fp8"),
)
"""(model, system, precision) the capacity fingerprint asks about, in every role: a measured
system, a rack-scale one, an older one and another vendor's."""
PROBE_SHAPES: tuple[tuple[int, int], ...] = ((1024, 1024), (8192, 1024))
"""(input, output) tokens per request of the capacity fingerprint's probes"""
PROBE_TTFT_S = 1.0
"""TTFT promise of the probes (1 request/s, default attainment), so the queueing headroom counts"""


def capacity_fingerprint(performance: PerformanceModel | None = None) -> str:
    """12 hex digits of what sets every engine's capacity and every rack's price: the answers
    of ``performance`` (default: the catalog's model at the default confidence) on
    :data:`CAPACITY_PROBES` x roles x :data:`PROBE_SHAPES` (configurations, loads with the headroom
    of a :data:`PROBE_TTFT_S` promise, KV bytes, to
    6 significant digits) and the bundled catalog. Known-best plans and bounds compare only under
    one fingerprint: a refit changes every capacity, a refactor none."""
    performance = performance if performance is not None else PerformanceModel(None)
    digest = hashlib.sha256()
    for model, system, precision in CAPACITY_PROBES:
        for role in get_args(Role):
            for isl, osl in PROBE_SHAPES:
                configs = performance.configs(model, system, precision, role, isl, osl)
                probe = Tenant(name="probe", model=model, requests_per_s=1.0, input_tokens=isl, output_tokens=osl,
                               ttft_s=PROBE_TTFT_S, min_tokens_per_s_per_user=1.0)
                for config, load in zip(configs, performance.tenant_loads(probe, configs), strict=True):
                    answer = [config.model_dump(), None if load is None else asdict(load),
                              performance.kv_capacity_bytes(config), performance.kv_bytes_per_token(config)]
                    digest.update(_rounded(answer).encode() + b"\0")
    catalog = resources.files("optimizer.instances").joinpath("catalog")
    for item in sorted(catalog.iterdir(), key=lambda item: item.name):
        if item.name.endswith(".csv"):
            digest.update(item.name.encode() + b"\0" + item.read_bytes())
    return digest.hexdigest()[:12]


def _rounded(value: object) -> str:
    """``value`` written with every float to 6 significant digits."""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{_rounded(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(map(_rounded, value)) + "]"
    return repr(value)


def read_known_best(path: str | Path) -> dict[str, dict[str, str]]:
    """Rows of a known-best CSV by instance; empty when the file does not exist."""
    path = Path(path)
    if not path.exists():
        return {}
    with path.open(newline="", encoding="utf-8") as handle:
        return {row["instance"]: row for row in csv.DictReader(handle)}


def update_known_best(
    path: str | Path, rows: Iterable[BenchRow], commit: str, date: str, time_limit: float,
    capacities: str | None = None,
) -> list[str]:
    """Record in ``path`` every valid plan cheaper than the known best, and every higher bound.

    A cheaper plan replaces $/hour, method, commit, date and time limit; a bound
    only ever rises, and only a bound over every candidate (``bound_scope`` ``all``) is taken:
    a bound over a run's shortlist (which grows with the time limit: medium-02 has 2,032
    groups at 60 s and 2,048 at 600 s) is no bound on every plan. Entries measured under other ``capacities`` (default: the current
    :func:`capacity_fingerprint`) are not comparable: they are dropped. Returns the
    instances whose row changed.
    """
    capacities = capacities if capacities is not None else capacity_fingerprint()
    known = {name: entry for name, entry in read_known_best(path).items() if entry.get("capacities") == capacities}
    changed = []
    for row in rows:
        entry = known.get(row.instance)
        updated = dict(entry) if entry else {
            "instance": row.instance, "usd_per_hour": "", "method": "", "bound": "", "capacities": capacities,
        }
        if row.valid and (not updated["usd_per_hour"] or row.usd_per_hour < float(updated["usd_per_hour"]) * (1 - 1e-9)):  # type: ignore[operator]
            updated.update({
                "usd_per_hour": f"{row.usd_per_hour:.4f}",
                "method": row.method,
                "commit": commit,
                "date": date,
                "time_limit_s": f"{time_limit:g}",
            })
        proven = row.bound is not None and row.bound_scope == "all"
        if proven and (not updated["bound"] or row.bound > float(updated["bound"])):  # type: ignore[arg-type]
            updated["bound"] = f"{row.bound:.4f}"
        if updated != entry and updated["usd_per_hour"]:
            known[row.instance] = updated
            changed.append(row.instance)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=KNOWN_BEST_COLUMNS, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for instance in sorted(known):
        writer.writerow({column: known[instance].get(column, "") for column in KNOWN_BEST_COLUMNS})
    write_atomic(path, out.getvalue())
    return list(dict.fromkeys(changed))

