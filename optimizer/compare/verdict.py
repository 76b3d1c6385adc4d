"""The verdict of a comparison: the options ranked by $/Mtok, the cheapest, what each plan's
bound proves, the band verdict (which conclusions hold across the performance model's 80%
interval) and the sentences that explain the winner, each from evaluated figures.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from optimizer.evaluate import Report
from optimizer.executor import Executor
from optimizer.instance import Instance
from optimizer.performance import DEFAULT_CONFIDENCE, EngineConfig, PerformanceModel
from optimizer.performance.capacity import replica_seconds
from optimizer.performance.estimate import INTERVAL
from optimizer.plan import OPTIMAL_GAP, percent, proof_words
from optimizer.result import Status
from optimizer.usage import PlanUsage

from .planning import COMPETING, FLEET, Planner, Planning, PricedVariant, plan_variants

logger = logging.getLogger(__name__)

BINDING_UTILISATION = 0.9
"""A resource binds when its peak-scenario utilisation reaches this share of its capacity."""
STRANDED_SHARE = 0.05
"""Stranded GPUs are reported as a cost driver above this share of the GPUs paid for."""
SLO_FACTOR = 1.2
"""An SLO is reported as binding when it costs at least this factor in GPU-seconds per request."""

PESSIMISTIC = round(1 - INTERVAL[0], 6)
"""The band's pessimistic end, a confidence (0.9): every engine at the 10% quantile of its band."""
OPTIMISTIC = round(1 - INTERVAL[1], 6)
"""The band's optimistic end, a confidence (0.1): every engine at the 90% quantile of its band."""
CENTRAL = "central"
ENDS: tuple[str, str, str] = ("pessimistic", CENTRAL, "optimistic")
"""The points of the band a :class:`BandVerdict` plans at, dearest capacities first."""
CENT = 0.005
"""$/hour differences below this are no difference."""



@dataclass(frozen=True)
class Comparison:
    """Every option's outcome, the cheapest, and the reasons."""

    instance: Instance
    outcomes: tuple[PricedVariant, ...]
    winner: PricedVariant | None
    findings: tuple[str, ...] = field(default=())
    """sentences explaining the winner, each derived from evaluated figures"""
    confidence: float = DEFAULT_CONFIDENCE
    """the confidence every option was planned at (:attr:`Plan.confidence`)"""
    band: BandVerdict | None = None
    """the competing options re-planned at the band's ends; None when the band check was skipped"""

    def outcome(self, name: str) -> PricedVariant:
        return next(o for o in self.outcomes if o.variant.name == name)

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready summary: one row per option, the winner, the findings and the band verdict."""
        return {
            "instance": self.instance.name,
            "confidence": self.confidence,
            "winner": self.winner.variant.name if self.winner else None,
            "findings": list(self.findings),
            "options": [_outcome_dict(o) for o in self.outcomes],
            "band": self.band.to_dict() if self.band is not None else None,
        }


@dataclass(frozen=True)
class BandEnd:
    """The competing options planned at one confidence of the band."""

    name: str
    """one of :data:`ENDS`: ``pessimistic``, ``central`` (the run's confidence) or ``optimistic``"""
    confidence: float
    outcomes: tuple[PricedVariant, ...]
    """the competing options, in the comparison's order"""
    winner: PricedVariant | None
    """the cheapest complete one (:func:`cheapest`)"""

    def outcome(self, name: str) -> PricedVariant | None:
        return next((o for o in self.outcomes if o.variant.name == name), None)

    def usd_per_hour(self, name: str) -> float | None:
        """$/hour of option ``name``'s complete plan here; None without one."""
        o = self.outcome(name)
        return o.usd_per_hour if o is not None and o.complete else None

    def usd_per_mtok(self, name: str) -> float | None:
        o = self.outcome(name)
        return o.report.usd_per_mtok if o is not None and o.complete and o.report is not None else None


@dataclass(frozen=True)
class Contrast:
    """One pairwise conclusion across the band: what ``option`` saves against ``against``."""

    topic: str
    """what it weighs: ``runner-up`` (the winner against the runner-up at the run's confidence),
    ``disaggregation`` (own fleet against aggregated only) or ``pooling`` (own fleet against siloed)"""
    option: str
    against: str
    saving: dict[str, float | None]
    """$/hour of ``against`` minus $/hour of ``option`` at each of :data:`ENDS`; None where
    either has no complete plan"""

    def direction(self, end: str) -> int | None:
        """+1: ``option`` is cheaper at ``end``; -1: dearer; 0: within a cent; None: unknown."""
        s = self.saving[end]
        return None if s is None else (0 if abs(s) < CENT else (1 if s > 0 else -1))

    @property
    def holds(self) -> bool:
        """The conclusion (cheaper, dearer or the same) is the same at every point of the band."""
        directions = {self.direction(end) for end in ENDS}
        return len(directions) == 1 and None not in directions


@dataclass(frozen=True)
class BandVerdict:
    """Which conclusions of a comparison hold across the performance band and which flip."""

    ends: tuple[BandEnd, BandEnd, BandEnd]
    """pessimistic, central and optimistic (:data:`ENDS`)"""
    contrasts: tuple[Contrast, ...]
    findings: tuple[str, ...]

    def end(self, name: str) -> BandEnd:
        return next(e for e in self.ends if e.name == name)

    @property
    def winners(self) -> dict[str, str | None]:
        """The cheapest option's name at each of :data:`ENDS` (None: no complete plan there)."""
        return {e.name: e.winner.variant.name if e.winner else None for e in self.ends}

    @property
    def holds(self) -> bool:
        """One option is cheapest at both ends and at the run's confidence."""
        names = set(self.winners.values())
        return len(names) == 1 and None not in names

    def to_dict(self) -> dict[str, object]:
        names = [o.variant.name for o in self.end(CENTRAL).outcomes]
        return {
            "holds": self.holds,
            "confidence": {e.name: e.confidence for e in self.ends},
            "winner": self.winners,
            "options": [
                {
                    "option": name,
                    "complete": {e.name: e.usd_per_hour(name) is not None for e in self.ends},
                    "usd_per_hour": {e.name: e.usd_per_hour(name) for e in self.ends},
                    "usd_per_mtok": {e.name: e.usd_per_mtok(name) for e in self.ends},
                    "status": {e.name: o.result.status.value for e in self.ends if (o := e.outcome(name))},
                    "gap": {e.name: o.result.gap for e in self.ends if (o := e.outcome(name))},
                }
                for name in names
            ],
            "contrasts": [
                {"topic": c.topic, "option": c.option, "against": c.against, "saving_usd_per_hour": c.saving,
                 "holds": c.holds}
                for c in self.contrasts
            ],
            "findings": list(self.findings),
        }



def band_verdict(
    outcomes: Sequence[PricedVariant], time_limit: float, planner: Planner, confidence: float = DEFAULT_CONFIDENCE,
    pool: Executor | None = None,
) -> BandVerdict:
    """The competing options of ``outcomes`` (planned at ``confidence``) planned again at the
    band's ends, :data:`PESSIMISTIC` and :data:`OPTIMISTIC`, with the same planner and time
    limit, each starting from its plan at ``confidence``, on ``pool`` (default: here, one after
    another); and what holds across the band.

    An end at ``confidence`` itself reuses ``outcomes``. The ends bracket the central cost only
    for plans solved to optimality: at a higher confidence every engine's planning factor is
    lower or equal (a lower quantile of its band), so its load per token is higher or equal and
    every plan that keeps the rules there keeps them at ``confidence`` too (the engine
    configurations, TTFTs and interactivities do not depend on the confidence): the optimum at
    the pessimistic end costs at least the central optimum, the optimistic at most. A
    time-limited run can break that; :attr:`BandVerdict.findings` says when one stopped short.
    """
    competing = [o for o in outcomes if o.variant.option_set in COMPETING]
    central = {o.variant.name: o for o in competing}
    ends = []
    for name, level in (("pessimistic", PESSIMISTIC), ("optimistic", OPTIMISTIC)):
        if abs(level - confidence) < 1e-9:
            done = central
        else:
            logger.info("compare: planning the competing options at the band's %s end (confidence %g)", name, level)
            done = plan_variants([o.variant for o in competing], Planning(time_limit, planner, level),
                                  pool or Executor(workers=1), central)
        planned = tuple(done[o.variant.name] for o in competing)
        ends.append(BandEnd(name, level, planned, cheapest(planned)))
    middle = BandEnd(CENTRAL, confidence, tuple(competing), cheapest(competing))
    triple = (ends[0], middle, ends[1])
    contrasts = tuple(_contrasts(triple))
    return BandVerdict(triple, contrasts, tuple(_band_findings(triple, contrasts)))



def ranked(outcomes: Iterable[PricedVariant]) -> tuple[PricedVariant, ...]:
    """``outcomes`` by $/Mtok, cheapest first: the competing options, then those that change the question
    (isolation, TCO); within each, those without a complete plan last, in the order given."""
    listed = list(outcomes)
    return tuple(sorted(listed, key=lambda o: (
        o.variant.option_set not in COMPETING,
        not o.complete or o.report is None or o.report.usd_per_mtok is None,
        o.report.usd_per_mtok if o.complete and o.report is not None and o.report.usd_per_mtok is not None else 0.0,
    )))


def proven_cheaper(cheap: PricedVariant, dear: PricedVariant) -> bool:
    """Whether ``cheap``'s plan costs less than any plan of ``dear`` can: below ``dear``'s bound.

    Otherwise the difference lies within the gaps: the best plan of ``dear`` may cost less
    than ``cheap``'s (a heuristic's plan, with no bound, proves nothing of the best)."""
    return cheap.usd_per_hour is not None and dear.result.bound is not None and cheap.usd_per_hour < dear.result.bound


def cheapest(outcomes: Sequence[PricedVariant]) -> PricedVariant | None:
    """The lowest-$/hour complete outcome among the competing option sets (ties: first listed)."""
    candidates = [o for o in outcomes if o.variant.option_set in COMPETING and o.complete]
    return min(candidates, key=lambda o: o.usd_per_hour, default=None)  # type: ignore[arg-type,return-value]



# -- explaining ---------------------------------------------------------------------------


def explain(
    instance: Instance, outcomes: Sequence[PricedVariant], winner: PricedVariant | None, band: BandVerdict | None = None,
) -> list[str]:
    """Sentences that say why ``winner`` is cheapest and what binds in its plan, and with
    ``band`` which of those conclusions hold across the performance band (:attr:`BandVerdict.findings`).

    Each one is computed from evaluated figures: the cost decomposition against
    the runner-up (price per GPU-hour, tokens per paid GPU-hour), the peak
    utilisation of engine time and KV memory, the GPU-seconds an SLO costs
    against the same hardware's throughput-optimal point, NVLink domain sizes of
    the engines, site power and inventory use, stranded GPUs, and the values of
    pooling, disaggregation and each tenant's isolation.
    """
    if winner is None:
        reasons = [f"{o.variant.name}: {o.why_not()}" for o in outcomes if o.variant.option_set in COMPETING]
        found = ["No option serves every tenant with a plan that keeps every rule. " + " | ".join(reasons)]
        return found + list(band.findings if band is not None else ())
    assert winner.report is not None and winner.result.plan is not None
    findings = [_versus_runner_up(outcomes, winner)]
    findings += _binding_resources(winner)
    findings += _slo_costs(winner)
    findings += _domain_sizes(instance, outcomes, winner)
    findings += _power_and_inventory(winner)
    findings += _stranding(winner)
    findings += _option_values(outcomes)
    findings += list(band.findings if band is not None else ())
    findings += _unproven(outcomes)
    findings += [f"{o.variant.name} has no complete plan: {o.why_not()}" for o in outcomes
                 if o.variant.option_set in COMPETING and not o.complete]
    return [f for f in findings if f]


def _gpu_figures(report: Report) -> tuple[float, float]:
    """($ per paid GPU-hour, tokens per paid GPU-second) of a report."""
    tokens_per_s = (report.input_tokens_per_hour + report.output_tokens_per_hour) / 3600
    assert report.usd_per_gpu_hour is not None
    return report.usd_per_gpu_hour, tokens_per_s / report.gpus


def proof(o: PricedVariant) -> str:
    """What ``o``'s run proves about its plan, in words (:func:`~optimizer.plan.proof_words`)."""
    plan = o.result.plan
    if plan is not None and plan.solve is not None:
        return plan.solve.words()
    return proof_words(o.result.status, o.result.limit, o.result.gap)


def proven_optimal(o: PricedVariant) -> bool:
    """The solver proved ``o``'s plan optimal (within :data:`~optimizer.plan.OPTIMAL_GAP`)."""
    gap = o.result.gap
    return o.result.status == Status.OPTIMAL and gap is not None and gap <= OPTIMAL_GAP


def _signed(usd: float) -> str:
    return f"-${-usd:,.2f}" if usd < 0 else f"${usd:,.2f}"


def difference_proof(dear: PricedVariant, cheap: PricedVariant) -> str:
    """How far the $/hour difference between the best plans of ``dear`` and ``cheap`` is proven:
    exact when both are proven optimal, else the range their bounds leave."""
    if proven_optimal(dear) and proven_optimal(cheap):
        return "both plans proven optimal"
    unbounded = [o.variant.name for o in (dear, cheap) if o.result.bound is None]
    if unbounded:
        return f"not proven: {' and '.join(unbounded)} is a heuristic's plan, with no bound"
    assert dear.result.bound is not None and cheap.result.bound is not None
    assert dear.usd_per_hour is not None and cheap.usd_per_hour is not None
    low, high = dear.result.bound - cheap.usd_per_hour, dear.usd_per_hour - cheap.result.bound
    return (f"not proven: with the plans' gaps ({percent(dear.result.gap or 0)} and {percent(cheap.result.gap or 0)}) "
            f"the difference between the best plans lies between {_signed(low)} and {_signed(high)}/hour")


def _versus_runner_up(outcomes: Sequence[PricedVariant], winner: PricedVariant) -> str:
    others = sorted(
        (o for o in outcomes if o.variant.option_set in COMPETING and o.complete and o is not winner),
        key=lambda o: o.usd_per_hour,  # type: ignore[arg-type,return-value]
    )
    w = winner.report
    assert w is not None
    if not others:
        return (f"{winner.variant.name} is the only option with a complete plan: ${w.usd_per_hour:,.2f}/hour "
                f"({proof(winner)}).")
    runner = others[0]
    r = runner.report
    assert r is not None
    w_price, w_tokens = _gpu_figures(w)
    r_price, r_tokens = _gpu_figures(r)
    saving = 1 - w.usd_per_hour / r.usd_per_hour
    figures = (f"${w.usd_per_hour:,.2f}/hour (${w.usd_per_mtok:.4f}/Mtok; {proof(winner)}), {100 * saving:.1f}% "
               f"below the runner-up {runner.variant.name} (${r.usd_per_hour:,.2f}/hour; {proof(runner)})")
    if abs(r.usd_per_hour - w.usd_per_hour) < CENT and proven_optimal(winner) and proven_optimal(runner):
        head = (f"{winner.variant.name} and {runner.variant.name} tie at ${w.usd_per_hour:,.2f}/hour "
                f"(${w.usd_per_mtok:.4f}/Mtok), both plans proven optimal")
    elif proven_cheaper(winner, runner):
        head = (f"{winner.variant.name} is cheapest at {figures}, proven: no plan of {runner.variant.name} "
                f"costs less than ${runner.result.bound:,.2f}/hour")
    elif runner.result.bound is None:
        head = (f"{winner.variant.name} has the cheapest plan found, {figures}; not proven the cheapest option: "
                f"{runner.variant.name}'s plan is a heuristic's, with no bound")
    else:
        head = (f"{winner.variant.name} has the cheapest plan found, {figures}; not proven the cheapest option: "
                f"{runner.variant.name}'s bound, ${runner.result.bound:,.2f}/hour, is below it, so its best plan "
                "may cost less")
    return (
        f"{head}. Its GPUs cost {w_price / r_price:.2f}x as much per hour "
        f"(${w_price:.2f} vs ${r_price:.2f}) and each paid GPU serves {w_tokens / r_tokens:.2f}x the tokens "
        f"({w_tokens:,.0f} vs {r_tokens:,.0f} tokens/s per GPU, utilisation and stranding included)."
    )


def _binding_resources(winner: PricedVariant) -> list[str]:
    report = winner.report
    assert report is not None
    engines = report.engines
    if not engines:
        return []
    gpus = sum(e.gpus * e.count for e in engines)
    kv_bound = [e for e in engines if e.kv_utilisation is not None
                and e.kv_utilisation >= BINDING_UTILISATION and e.kv_utilisation >= e.time_utilisation]
    time_bound = [e for e in engines if e.time_utilisation >= BINDING_UTILISATION and e not in kv_bound]
    findings = []
    if kv_bound:
        share = sum(e.gpus * e.count for e in kv_bound) / gpus
        worst = max(kv_bound, key=lambda e: e.kv_utilisation or 0.0)
        findings.append(
            f"KV memory binds on {len(kv_bound)} of {len(engines)} engine groups ({100 * share:.0f}% of engine GPUs) "
            f"in the peak scenario {report.peak_scenario}: e.g. {worst.engine} ({worst.model} {worst.role}) holds "
            f"{100 * (worst.kv_utilisation or 0):.0f}% of its KV memory at {100 * worst.time_utilisation:.0f}% "
            "of its engine time."
        )
    if time_bound:
        share = sum(e.gpus * e.count for e in time_bound) / gpus
        findings.append(
            f"Engine time binds on {len(time_bound)} of {len(engines)} engine groups ({100 * share:.0f}% of engine "
            f"GPUs) in the peak scenario {report.peak_scenario}: they are at least "
            f"{100 * BINDING_UTILISATION:.0f}% busy at their operating points."
        )
    mean_time = sum(e.time_utilisation * e.gpus * e.count for e in engines) / gpus
    findings.append(
        f"Peak-scenario engine time utilisation, weighted by GPUs: {100 * mean_time:.0f}% of engine GPUs, "
        f"{100 * (rack_utilisation(report) or 0):.0f}% of all paid GPUs (stranded GPUs count as idle)."
    )
    return findings


def _gpu_seconds_per_request(config: EngineConfig, performance: PerformanceModel, isl: int, osl: int) -> float | None:
    load = performance.load(config, isl, osl)
    if load is None:
        return None
    seconds = replica_seconds(load, isl, osl)
    return seconds * config.gpus if seconds > 0 else None


def _slo_costs(winner: PricedVariant) -> list[str]:
    """Tenants whose latency promise makes their engines run far from the throughput-optimal point."""
    plan = winner.result.plan
    assert plan is not None
    instance, performance = winner.variant.instance, winner.performance
    usage = PlanUsage(instance, plan, performance)
    worst: dict[str, tuple[float, str, str]] = {}
    for tenant_name, _, engine in usage.flows:
        if not usage.resolvable(engine):
            continue
        tenant = instance.tenant(tenant_name)
        config = usage.config(engine)
        isl, osl = tenant.input_tokens, tenant.output_tokens
        chosen = _gpu_seconds_per_request(config, performance, isl, osl)
        options = [
            _gpu_seconds_per_request(c, performance, isl, osl)
            for c in performance.configs(config.model, config.system, config.precision, config.role, isl, osl)
        ]
        best = min((s for s in options if s is not None), default=None)
        if chosen is None or best is None:
            continue
        factor = chosen / best
        if factor > worst.get(tenant_name, (0.0, "", ""))[0]:
            worst[tenant_name] = (factor, config.system, config.role)
    findings = []
    for name, (factor, system, role) in sorted(worst.items(), key=lambda kv: -kv[1][0]):
        if factor < SLO_FACTOR:
            continue
        tenant = instance.tenant(name)
        promise = {
            "prefill": f"TTFT of {tenant.ttft_s:g} s",
            "decode": f"{tenant.min_tokens_per_s_per_user:g} tokens/s per user",
        }.get(role, f"{tenant.min_tokens_per_s_per_user:g} tokens/s per user within a TTFT of {tenant.ttft_s:g} s")
        findings.append(
            f"Latency binds for {name}: its promise of {promise} runs its {role} engines on {system} at "
            f"{factor:.1f}x the GPU-seconds per request of that hardware's throughput-optimal operating point."
        )
    return findings[:3]


def _domain_sizes(instance: Instance, outcomes: Sequence[PricedVariant], winner: PricedVariant) -> list[str]:
    plan = winner.result.plan
    assert plan is not None
    widest = max((g for r in plan.racks for g in r.engines), key=lambda g: g.gpus, default=None)
    if widest is None:
        return []
    rack = next(r for r in plan.racks if widest in r.engines)
    small_domains = sorted({
        o.variant.name for o in outcomes
        if o.variant.option_set == "systems"
        and all(instance.system(e.system).gpus_per_nvlink_domain < widest.gpus for e in o.variant.instance.fleet)
    })
    if widest.gpus <= 8:
        return [f"NVLink domain size does not bind: the widest engine has {widest.gpus} GPUs, which an 8-GPU domain holds."]
    costlier = [n for n in small_domains if n != winner.variant.name]
    return [
        f"NVLink domain size matters: the plan runs {widest.model} on {widest.gpus}-GPU engines "
        f"(TP{widest.parallelism.tp} EP{widest.parallelism.ep}) in {rack.system}'s "
        f"{instance.system(rack.system).gpus_per_nvlink_domain}-GPU domain"
        + (f"; no {widest.gpus}-GPU engine fits the options {', '.join(costlier)}." if costlier else ".")
    ]


def _power_and_inventory(winner: PricedVariant) -> list[str]:
    report = winner.report
    assert report is not None
    findings = []
    for site in report.sites:
        if site.power_cap_kw and site.provisioned_kw >= BINDING_UTILISATION * site.power_cap_kw:
            findings.append(
                f"Site power binds at {site.name}: racks provision {site.provisioned_kw:,.0f} kW of its "
                f"{site.power_cap_kw:,.0f} kW budget."
            )
    opened: dict[tuple[str, str], int] = defaultdict(int)
    for rack in report.racks:
        opened[(rack.site, rack.system)] += 1
    for entry in winner.variant.instance.fleet:
        if entry.max_racks and opened[(entry.site, entry.system)] >= entry.max_racks:
            findings.append(f"Inventory binds: all {entry.max_racks} {entry.system} racks at {entry.site} are open.")
    for rack in report.racks:
        if rack.rack_power_kw and rack.it_kw >= BINDING_UTILISATION * rack.rack_power_kw:
            findings.append(f"Rack power binds in {rack.rack}: {rack.it_kw:.1f} kW of its {rack.rack_power_kw:.1f} kW cap.")
    return findings


def _stranding(winner: PricedVariant) -> list[str]:
    report = winner.report
    assert report is not None
    if report.gpus == 0 or report.gpus_stranded <= STRANDED_SHARE * report.gpus:
        return [f"Rack granularity costs little: {report.gpus_stranded} of {report.gpus} GPUs are stranded."]
    return [
        f"Rack granularity binds: {report.gpus_stranded} of {report.gpus} GPUs "
        f"({100 * report.gpus_stranded / report.gpus:.0f}%) are stranded in whole racks, "
        f"${report.stranded_usd_per_hour:,.2f}/hour paid for GPUs no engine uses."
    ]


def _unproven(outcomes: Sequence[PricedVariant]) -> list[str]:
    """A caution when time-limited runs leave gaps larger than some differences between options."""
    gaps = [o.result.gap for o in outcomes if o.complete and o.result.gap is not None and o.result.gap > 1e-3]
    unbounded = [o.variant.name for o in outcomes if o.complete and o.result.bound is None]
    findings = []
    if gaps:
        findings.append(
            f"{len(gaps)} option(s) stopped before proving optimality, with gaps up to {100 * max(gaps):.1f}%: "
            "differences between options smaller than their gaps are not proven."
        )
    complete = [o for o in outcomes if o.complete]
    if unbounded and len(unbounded) == len(complete):
        findings.append("Every option was planned by a heuristic: no bound says how far from optimal any is.")
    elif unbounded:
        names = ", ".join(f"'{name}'" for name in unbounded)
        findings.append(f"Planned by a heuristic, with no bound on how far from optimal: {names}.")
    return findings


def _usd_change(delta: float) -> str:
    """``delta`` $/hour as a saving ('saves $x/hour'), or 'saves nothing' within half a cent."""
    if abs(delta) < 0.005:
        return "saves nothing"
    return f"saves ${delta:,.2f}/hour" if delta > 0 else f"costs ${-delta:,.2f}/hour more"


def _option_values(outcomes: Sequence[PricedVariant]) -> list[str]:
    by_name = {o.variant.name: o for o in outcomes}
    reference = by_name.get(FLEET)
    if reference is None or not reference.complete:
        return []
    base = reference.usd_per_hour
    assert base is not None
    findings = []
    for o in outcomes:
        if not o.complete or o.usd_per_hour is None:
            continue
        delta = o.usd_per_hour - base
        if o.variant.option_set == "tenancy":
            findings.append(f"Pooling tenants {_usd_change(delta)} ({100 * delta / o.usd_per_hour:.1f}%) "
                            f"against siloed engines (${o.usd_per_hour:,.2f}/hour; {difference_proof(o, reference)}).")
        elif o.variant.option_set == "aggregated":
            findings.append(f"Allowing disaggregation {_usd_change(delta)} against aggregated engines only "
                            f"(${o.usd_per_hour:,.2f}/hour; {difference_proof(o, reference)}).")
        elif o.variant.option_set == "tco":
            findings.append(f"Priced at the catalog's '{o.variant.instance.economics.tco_basis}' column, the own "
                            f"fleet's plan costs ${o.usd_per_hour:,.2f}/hour ({100 * delta / base:+.1f}%; {proof(o)}).")
        elif o.variant.option_set == "isolation":
            isolation = reference.variant.instance.tenant(o.variant.tenant).isolation
            price = "costs nothing" if abs(delta) < 0.005 else f"costs ${-delta:,.2f}/hour"
            findings.append(f"{o.variant.tenant}'s '{isolation}' isolation {price} "
                            f"(own fleet with it shared: ${o.usd_per_hour:,.2f}/hour; {difference_proof(reference, o)}).")
    return findings


def _contrasts(ends: Sequence[BandEnd]) -> list[Contrast]:
    """The pairwise conclusions :func:`explain` draws, weighed at each point of the band: the
    winner against the runner-up, and the values of disaggregation and of pooling."""
    central = next(e for e in ends if e.name == CENTRAL)
    pairs: list[tuple[str, str, str]] = []
    ranked = sorted(
        (o for o in central.outcomes if o.complete), key=lambda o: o.usd_per_hour,  # type: ignore[arg-type,return-value]
    )
    if len(ranked) >= 2:
        pairs.append(("runner-up", ranked[0].variant.name, ranked[1].variant.name))
    names = {o.variant.name: o.variant.option_set for o in central.outcomes}
    if FLEET in names:
        pairs += [("disaggregation", FLEET, name) for name, kind in names.items() if kind == "aggregated"]
        pairs += [("pooling", FLEET, name) for name, kind in names.items() if kind == "tenancy"]
    found = []
    for topic, option, against in pairs:
        saving: dict[str, float | None] = {}
        for e in ends:
            a, b = e.usd_per_hour(option), e.usd_per_hour(against)
            saving[e.name] = b - a if a is not None and b is not None else None
        found.append(Contrast(topic, option, against, saving))
    return found


def _at(end: BandEnd) -> str:
    if end.name == CENTRAL:
        return f"at confidence {end.confidence:g}"
    return f"at the {end.name} end (confidence {end.confidence:g})"


_BAND_NOTE = ("(the pessimistic end plans every engine on the 10% quantile of its throughput band, "
              "the optimistic end on the 90% quantile)")


def _span(values: Sequence[float]) -> str:
    """'$a-$b' of positive amounts, or '$a' when they agree to the cent."""
    lo, hi = min(values), max(values)
    return f"${lo:,.2f}" if hi - lo < CENT else f"${lo:,.2f}-${hi:,.2f}"


def _band_findings(ends: Sequence[BandEnd], contrasts: Sequence[Contrast]) -> list[str]:
    by_name = {e.name: e for e in ends}
    pess, central, opt = by_name["pessimistic"], by_name[CENTRAL], by_name["optimistic"]

    def who(e: BandEnd) -> str:
        if e.winner is None:
            return f"no option has a complete plan {_at(e)}"
        return f"{e.winner.variant.name} {_at(e)}, ${e.winner.usd_per_hour:,.2f}/hour"

    names = {e.name: e.winner.variant.name if e.winner else None for e in ends}
    if len(set(names.values())) == 1 and None not in names.values():
        costs = [e.winner.usd_per_hour for e in (pess, central, opt) if e.winner and e.winner.usd_per_hour is not None]
        at = (f"${costs[0]:,.2f}/hour at each" if max(costs) - min(costs) < CENT
              else f"${costs[0]:,.2f}, ${costs[1]:,.2f} and ${costs[2]:,.2f}/hour respectively")
        findings = [f"The verdict holds across the band {_BAND_NOTE}: {names[CENTRAL]} is cheapest {_at(pess)}, "
                    f"{_at(central)} and {_at(opt)}, at {at}."]
    elif names["pessimistic"] != names["optimistic"]:
        findings = [f"The verdict flips across the band {_BAND_NOTE}: {who(pess)}; {who(opt)}; {who(central)}."]
    else:
        findings = [f"The verdict does not hold across the band {_BAND_NOTE}: {who(pess)} and {who(opt)}, "
                    f"but {who(central)}."]
    subjects = {"disaggregation": "Allowing disaggregation", "pooling": "Pooling tenants"}
    for c in contrasts:
        subject = subjects.get(c.topic, f"{c.option} against the runner-up {c.against}")
        direction = c.direction(CENTRAL)
        known = [s for s in c.saving.values() if s is not None]
        if c.holds and direction == 1:
            verb = (f"stays cheaper than the runner-up {c.against} across the band: it saves"
                    if c.topic == "runner-up" else "saves")
            head = f"{c.option} {verb}" if c.topic == "runner-up" else f"{subject} {verb}"
            tail = "" if c.topic == "runner-up" else " across the band"
            findings.append(f"{head} {_span(known)}/hour{tail}.")
        elif c.holds and direction == 0:
            findings.append(f"{subject} saves nothing across the band.")
        elif c.holds:
            findings.append(f"{subject} costs {_span([-s for s in known])}/hour more across the band.")
        else:
            directions = {c.direction(e.name) for e in ends}
            verb = "flips" if {1, -1} <= directions or (c.topic == "runner-up" and -1 in directions) else "changes"
            parts = []
            for e in ends:
                s = c.saving[e.name]
                if s is None:
                    missing = [n for n in (c.option, c.against) if e.usd_per_hour(n) is None]
                    parts.append(f"unknown {_at(e)} ({' and '.join(missing)} without a complete plan)")
                else:
                    parts.append(f"{_usd_change(s)} {_at(e)}")
            findings.append(f"{subject} {verb} across the band: it " + ", ".join(parts) + ".")
    gaps = [o.result.gap for e in (pess, opt) if e is not central for o in e.outcomes
            if o.complete and o.result.gap is not None and o.result.gap > 1e-3]
    if gaps:
        findings.append(
            f"{len(gaps)} plan(s) at the band's ends stopped before proving optimality, with gaps up to "
            f"{100 * max(gaps):.1f}%: only optimal plans are sure to cost at least the central plan at the "
            "pessimistic end and at most at the optimistic end, and differences within the gaps are not proven."
        )
    return findings


# -- serialising --------------------------------------------------------------------------


def _outcome_dict(o: PricedVariant) -> dict[str, object]:
    r = o.report
    return {
        "option": o.variant.name,
        "option_set": o.variant.option_set,
        "method": o.variant.method,
        "note": o.variant.note,
        "status": o.result.status.value,
        "limit": o.result.limit.value,
        "bound": o.result.bound,
        "gap": o.result.gap,
        "proof": proof(o),
        "runtime_s": o.result.runtime_s,
        "complete": o.complete,
        "why_not": o.why_not(),
        "violations": o.violations,
        "usd_per_hour": r.usd_per_hour if r else None,
        "usd_per_mtok": r.usd_per_mtok if r else None,
        "usd_per_mtok_by_slo_class": r.usd_per_mtok_by_slo_class if r else {},
        "racks": r.num_racks if r else None,
        "gpus": r.gpus if r else None,
        "gpus_stranded": r.gpus_stranded if r else None,
        "utilisation": rack_utilisation(r) if r else None,
        "tokens_per_s_per_mw": r.tokens_per_s_per_mw if r else None,
        "roi": r.roi if r else None,
        "usd_per_hour_by_system": {s.name: s.usd_per_hour for s in r.systems} if r else {},
    }


def rack_utilisation(report: Report) -> float | None:
    """Peak-scenario engine time over every paid GPU (stranded GPUs idle), GPU-weighted; None without GPUs."""
    if not report.gpus:
        return None
    return sum(r.time_utilisation * r.gpus for r in report.racks) / report.gpus
