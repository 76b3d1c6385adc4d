"""The options of a comparison and their planning: option sets, the instance variants they
make, and each variant planned, priced by the evaluator and checked by the checker
(:class:`PricedVariant`), round after round so a variant starts from the plans of those it relaxes.

The option sets and why each is planned as it is: :mod:`optimizer.compare`.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import get_args

from optimizer.catalog import Precision, TcoBasis
from optimizer.check import check
from optimizer.evaluate import Report, report_of
from optimizer.executor import Executor
from optimizer.instance import FleetEntry, Instance, InstanceError, unknown_reason
from optimizer.methods import get_method
from optimizer.performance import DEFAULT_CONFIDENCE, EngineConfig, PerformanceModel, Role
from optimizer.plan import Plan
from optimizer.result import Result, Status
from optimizer.solve import DEFAULT_SOLVER, SOLVERS

logger = logging.getLogger(__name__)

OPTION_SETS: tuple[str, ...] = ("systems", "fleet", "aggregated", "tenancy", "isolation", "tco")
DEFAULT_OPTIONS: tuple[str, ...] = ("systems", "fleet", "aggregated", "tenancy", "isolation")
COMPETING: frozenset[str] = frozenset({"systems", "fleet", "aggregated", "tenancy"})
"""Option sets whose variants serve the same promises at the same prices: they compete for cheapest."""


class AggregatedOnly(PerformanceModel):
    """The instance's performance model with the disaggregated roles withdrawn."""

    def configs(
        self, model: str, system: str, precision: Precision, role: Role, isl: int, osl: int
    ) -> tuple[EngineConfig, ...]:
        if role != "aggregated":
            return ()
        return super().configs(model, system, precision, role, isl, osl)


@dataclass(frozen=True)
class Variant:
    """One architecture option: an instance variant and how to plan it."""

    name: str
    option_set: str
    instance: Instance
    method: str
    """planning method, a name in :data:`optimizer.methods.METHODS`"""
    aggregated_only: bool = False
    tenant: str = ""
    """the tenant whose isolation is lifted (``isolation`` set only)"""
    note: str = ""
    relaxes: tuple[str, ...] = ()
    """the variants whose plans are plans of this one too (it adds no rule): planned first,
    their plans start this one's MIP, so this one is never dearer than any of them"""


@dataclass(frozen=True)
class PricedVariant:
    """One variant planned, priced and checked."""

    variant: Variant
    result: Result
    report: Report | None
    """None when the method returned no plan"""
    violations: int
    """rules the plan breaks (the checker's errors); 0 without a plan"""
    performance: PerformanceModel = field(repr=False, compare=False)
    """the performance model the variant was planned, priced and checked with"""

    @property
    def complete(self) -> bool:
        """A plan that serves every tenant and breaks no rule."""
        return (
            self.report is not None
            and self.violations == 0
            and not self.result.unserved
            and self.result.status in (Status.OPTIMAL, Status.FEASIBLE)
        )

    @property
    def usd_per_hour(self) -> float | None:
        return self.report.usd_per_hour if self.report is not None else None

    def why_not(self) -> str:
        """Why this option has no complete plan ('' when it has one)."""
        if self.complete:
            return ""
        if self.result.unserved:
            by_reason: dict[str, list[str]] = defaultdict(list)
            for u in self.result.unserved:
                by_reason[u.reason].append(u.tenant)
            return "; ".join(
                f"{reason} ({', '.join(names[:3])}{f' and {len(names) - 3} more' if len(names) > 3 else ''})"
                for reason, names in by_reason.items()
            )
        if self.report is None:
            return f"no plan ({self.result.status.value}, limit {self.result.limit.value})"
        return f"plan breaks {self.violations} rule(s)"



# -- variants -----------------------------------------------------------------------------


FLEET = "own fleet"
AGGREGATED = f"{FLEET}, aggregated only"


UNLIMITED = "unlimited racks at catalog prices"
"""The label of every ``systems`` option planned with ``unlimited_systems``."""


def alone_name(system: str, unlimited: bool = False) -> str:
    """The option name of ``system`` alone; an unlimited one says so."""
    return f"{system} alone, unlimited" if unlimited else f"{system} alone"


def system_alone(instance: Instance, system: str, unlimited: bool = False) -> Instance:
    """``instance`` with a fleet of ``system`` only (module docstring: inventory and prices).

    Raises:
        InstanceError: without ``unlimited``, the instance's fleet has no ``system``.
    """
    if unlimited:
        fleet = tuple(FleetEntry(system=system, site=site.name) for site in instance.sites)
    else:
        fleet = tuple(e for e in instance.fleet if e.system == system)
        if not fleet:
            raise InstanceError([("systems", f"the fleet has no '{system}' racks; plan it at catalog prices "
                                             "with unlimited systems (--unlimited-systems)")])
    name = alone_name(system, unlimited)
    return instance.model_copy(update={"fleet": fleet, "name": f"{instance.name} / {name}"})


def with_tenant_shared(instance: Instance, tenant: str) -> Instance:
    """``instance`` with ``tenant``'s isolation relaxed to ``shared``."""
    tenants = tuple(t.model_copy(update={"isolation": "shared"}) if t.name == tenant else t for t in instance.tenants)
    return instance.model_copy(update={"tenants": tenants, "name": f"{instance.name} / {tenant} shared"})


def at_tco_basis(instance: Instance, basis: TcoBasis) -> Instance:
    """``instance`` priced at the catalog's ``basis`` column."""
    economics = instance.economics.model_copy(update={"tco_basis": basis})
    return instance.model_copy(update={"economics": economics, "name": f"{instance.name} / {basis}"})


def variants(
    instance: Instance,
    options: Sequence[str] = DEFAULT_OPTIONS,
    systems: Sequence[str] | None = None,
    method: str = DEFAULT_SOLVER,
    unlimited_systems: bool = False,
) -> list[Variant]:
    """The variants of ``options`` (module docstring), in a stable order.

    ``systems`` restricts the ``systems`` set (default: the fleet's systems, or with
    ``unlimited_systems`` every catalog system).

    Raises:
        InstanceError: an unknown option set or system, or without ``unlimited_systems`` a
            system the fleet has no racks of.
    """
    unknown = [o for o in options if o not in OPTION_SETS]
    if unknown:
        raise InstanceError([("options", f"unknown option set '{o}' (known: {', '.join(OPTION_SETS)})") for o in unknown])
    catalog = instance.system_catalog
    own = list(dict.fromkeys(e.system for e in instance.fleet))
    chosen = list(systems) if systems is not None else list(catalog) if unlimited_systems else own
    bad = [s for s in chosen if s not in catalog]
    if bad:
        raise InstanceError([("systems", unknown_reason("system", s, catalog)) for s in bad])
    found: list[Variant] = []
    # isolation and TCO variants are priced against the own fleet, so it is planned with them
    reference = "fleet" in options or "isolation" in options or "tco" in options
    if reference:
        # the own fleet lifts the rules of aggregated only, and of each fleet system alone (a part of it)
        alone = [alone_name(s) for s in chosen] if "systems" in options and not unlimited_systems else []
        found.append(Variant(FLEET, "fleet", instance, method, note="the instance as written",
                             relaxes=(*([AGGREGATED] if "aggregated" in options else []), *alone)))
    if "systems" in options:
        for system in chosen:
            found.append(Variant(
                alone_name(system, unlimited_systems), "systems", system_alone(instance, system, unlimited_systems),
                method, note=UNLIMITED if unlimited_systems else "the fleet's own racks of it: inventory and prices",
            ))
    if "aggregated" in options:
        found.append(Variant(AGGREGATED, "aggregated", instance, method, aggregated_only=True,
                             note="no prefill/decode disaggregation"))
    if "tenancy" in options:
        found.append(Variant(f"{FLEET}, siloed tenancy", "tenancy", instance, "siloed",
                             note="every tenant on engines of its own (heuristic)"))
    if "isolation" in options:
        for tenant in instance.tenants:
            if tenant.isolation != "shared":
                found.append(Variant(
                    f"{FLEET}, {tenant.name} shared", "isolation", with_tenant_shared(instance, tenant.name), method,
                    tenant=tenant.name, note=f"{tenant.name}'s '{tenant.isolation}' isolation lifted",
                    relaxes=(FLEET,),
                ))
    if "tco" in options:
        for basis in get_args(TcoBasis):
            if basis != instance.economics.tco_basis:
                found.append(Variant(f"{FLEET} at {basis} prices", "tco", at_tco_basis(instance, basis), method,
                                     note=f"catalog $/GPU-hour, '{basis}' column"))
    return found


# -- running ------------------------------------------------------------------------------


Planner = Callable[[Variant, PerformanceModel, float, Sequence[Plan]], Result]
"""Plans one variant with a performance model within a time limit in seconds, starting from
plans of it (the plan of the variant it relaxes, if any)."""


@dataclass(frozen=True)
class _RegistryPlanner:
    """:func:`registry_planner`'s planner: a class rather than a closure, so that it pickles."""

    seed: int
    threads: int

    def __call__(self, variant: Variant, performance: PerformanceModel, time_limit: float,
                 starts: Sequence[Plan]) -> Result:
        method = get_method(variant.method)
        if variant.method in SOLVERS:
            method = partial(method, starts=starts)
        return method(variant.instance, time_limit=time_limit, seed=self.seed, threads=self.threads,
                      performance=performance)


def registry_planner(seed: int = 0, threads: int = 1) -> Planner:
    """A planner that runs the variant's method from :data:`optimizer.methods.METHODS`; the MIP
    methods start from the given plans, heuristics make their own. It pickles, so it can plan
    in another process."""
    return _RegistryPlanner(seed, threads)


def performance_model(variant: Variant, confidence: float = DEFAULT_CONFIDENCE) -> PerformanceModel:
    """The performance model ``variant`` is planned, priced and checked with."""
    model_class = AggregatedOnly if variant.aggregated_only else PerformanceModel
    return model_class(variant.instance, confidence=confidence)


def judge(variant: Variant, result: Result, performance: PerformanceModel) -> PricedVariant:
    """``variant``'s planning ``result`` priced and checked at ``performance``'s confidence."""
    if result.plan is None:
        return PricedVariant(variant, result, None, 0, performance)
    if result.plan.confidence != performance.confidence:
        # a start made at another confidence, returned as it is: it was checked at this one, and is priced at it
        result = replace(result, plan=result.plan.model_copy(update={"confidence": performance.confidence}), report=None)
    report = report_of(variant.instance, result, performance)
    assert report is not None  # the result has a plan
    errors = [v for v in check(variant.instance, result.plan, performance) if v.severity == "error"]
    return PricedVariant(variant, result, report, len(errors), performance)


def run_variant(
    variant: Variant, time_limit: float, planner: Planner, starts: Sequence[Plan] = (),
    confidence: float = DEFAULT_CONFIDENCE,
) -> PricedVariant:
    """Plan, price and check one variant at ``confidence``, starting from ``starts``."""
    performance = performance_model(variant, confidence)
    logger.info("compare: planning '%s' with %s at confidence %g", variant.name, variant.method, confidence)
    return judge(variant, planner(variant, performance, time_limit, starts), performance)


@dataclass(frozen=True)
class Planning:
    """What every variant of one round shares: the time limit, s, the planner and the confidence."""

    time_limit: float
    planner: Planner
    confidence: float


def _plan_elsewhere(planning: Planning, job: tuple[Variant, Sequence[Plan]]) -> Result:
    """One variant planned in a worker; its :class:`PricedVariant` (whose performance model does not
    pickle) is made where the result arrives (:func:`judge`)."""
    variant, starts = job
    return planning.planner(variant, performance_model(variant, planning.confidence), planning.time_limit, starts)



def plan_variants(
    chosen: Sequence[Variant], planning: Planning, pool: Executor, earlier: dict[str, PricedVariant] | None = None,
) -> dict[str, PricedVariant]:
    """Each of ``chosen`` planned at ``planning.confidence``, each after the variant it relaxes and
    starting from that one's plan and from its own plan in ``earlier`` (made at another confidence);
    the variants of one round (:func:`_rounds`) together on ``pool``."""
    done: dict[str, PricedVariant] = {}
    for round_ in _rounds(chosen):
        jobs = []
        for v in round_:
            sources = [*(done.get(name) for name in v.relaxes), (earlier or {}).get(v.name)]
            jobs.append((v, [o.result.plan for o in sources if o is not None and o.complete and o.result.plan is not None]))
        if pool.serial:  # here, each with the one performance model it is judged by
            for v, starts in jobs:
                done[v.name] = run_variant(v, planning.time_limit, planning.planner, starts, planning.confidence)
            continue
        logger.info("compare: planning %d option(s) at confidence %g on %s, %d at a time",
                    len(jobs), planning.confidence, pool.kind, pool.workers)
        for i, result in pool.as_completed(_plan_elsewhere, planning, jobs):
            v = jobs[i][0]
            done[v.name] = judge(v, result, performance_model(v, planning.confidence))
    return done



def _rounds(chosen: Sequence[Variant]) -> list[list[Variant]]:
    """``chosen`` in rounds, each variant a round after the ones it relaxes, otherwise as listed."""
    by_name = {v.name: v for v in chosen}

    def depth(v: Variant) -> int:
        return 1 + max((depth(by_name[name]) for name in v.relaxes if name in by_name), default=-1)

    depths = [depth(v) for v in chosen]
    return [[v for v, d in zip(chosen, depths, strict=True) if d == level] for level in range(max(depths, default=-1) + 1)]


