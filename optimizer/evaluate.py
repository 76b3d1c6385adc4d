"""The cost evaluator: the one place a plan is priced, in $/hour and $/Mtok.

Conventions (each figure of :class:`Report` follows these):

- **Cost.** Every opened rack costs ``gpus_per_rack x usd_per_gpu_hour`` per hour,
  used or not: the fleet entry's override, else the catalog at the instance's TCO
  basis. That is an all-in figure (capital over the system's life, hosting,
  power). When ``economics.energy_usd_per_kwh`` is given it is split: energy =
  ``gpus_per_rack x allin_kw_per_gpu x price`` per hour, capital = the rest
  (capital and hosting).
- **Tokens.** A scenario's tokens are the routed token rates actually served
  (input on aggregated and prefill groups, output on aggregated and decode
  groups), per hour; totals are the mean over scenarios weighted by
  ``scenario_weights``. $/Mtok = $/hour / mean Mtok/hour of input + output
  tokens (the SemiAnalysis/NVIDIA convention); $/M output tokens is the
  alternative convention that prices output alone.
- **Per tenant.** A rack's cost is split over its engine groups that carry load
  in proportion to the GPUs they occupy, so stranded GPUs and idle groups are
  paid pro rata by the loaded groups beside them. A group's cost is split over
  its tenants by their share of its engine-seconds (replica-seconds, scenario-
  weighted mean); a dedicated engine or a rack carrying one tenant is thus
  charged whole to it. Racks carrying no load at all are spread over every
  tenant in proportion to the cost already attributed to it (equally if none
  is). The tenants' costs add up to the plan's $/hour.
- **Utilisation** is load / capacity in the peak scenario (the one serving the
  most tokens): per engine group in replica time and in KV memory; per rack,
  its groups' time weighted by GPUs over all the rack's GPUs (stranded GPUs
  count as idle), and KV used over KV capacity.
- **Power.** Provisioned power = opened racks' GPUs x all-in kW per GPU (what a
  site budget counts); rack IT power = GPUs engines occupy x IT kW per GPU
  (what a rack cap counts). Tokens/s per MW uses provisioned power.
- **ROI** = token revenue per year of the tenants with a price over the all-in
  cost per year attributed to those same tenants (the per-tenant rule above:
  capital, hosting and power). None when no tenant has a price.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict

from optimizer.instance import Instance, InstanceError
from optimizer.performance import PerformanceModel
from optimizer.performance.anchors import DETAILS
from optimizer.performance.capacity import allin_kw, it_kw
from optimizer.plan import Plan, SolveRecord
from optimizer.result import Result
from optimizer.usage import PlanUsage

BASIS_ORDER = ("profile", *DETAILS)
"""Basis details from nearest to farthest: a measured profile, then the estimator's labels."""

HOURS_PER_YEAR = 8760
_FROZEN = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class ScenarioTokens(BaseModel):
    model_config = _FROZEN

    scenario: int
    weight: float = 0.0
    """normalised scenario weight"""
    input_tokens_per_hour: float = 0.0
    output_tokens_per_hour: float = 0.0


class TenantCost(BaseModel):
    """What one tenant is served and costs (module docstring: attribution rule)."""

    model_config = _FROZEN

    tenant: str
    model: str
    slo_class: str
    isolation: str
    usd_per_hour: float
    busy_usd_per_hour: float
    """the part of ``usd_per_hour`` its engines spend busy (:meth:`_Evaluation.tenant_costs`); the
    rest pays for idle engine time: peaks, isolation, whole replicas, failover reserve"""
    input_tokens_per_hour: float
    """scenario-weighted mean"""
    output_tokens_per_hour: float
    usd_per_mtok: float | None
    """$/hour over mean Mtok/hour of input + output; None when nothing is served"""
    price_usd_per_mtok: float | None
    revenue_usd_per_hour: float | None
    margin_usd_per_hour: float | None
    margin: float | None
    """margin over revenue; None without a price or revenue"""


class EngineUse(BaseModel):
    model_config = _FROZEN

    engine: str
    rack: str
    model: str
    precision: str
    role: str
    gpus: int
    """per replica"""
    count: int
    tenants: tuple[str, ...]
    purpose: str = "serving"
    """the plan's label: ``serving``, or ``reserve`` (failover capacity, idle in every scenario)"""
    usd_per_hour: float
    """its GPUs at the rack's $/GPU-hour"""
    time_utilisation: float
    """replica-seconds per second over replicas, peak scenario"""
    kv_utilisation: float | None
    """KV bytes over KV capacity, peak scenario; None when capacity is not modelled (profiles)"""
    basis: str
    """what its capacity rests on: the farthest basis detail over its tenants' request shapes
    (measured, interpolated, beyond-range, other-shape, ... roofline; profile)"""
    band_low: float
    """10% quantile of the capacity it delivers over the capacity planned (1 for a profile)"""
    band_high: float
    """90% quantile of the same"""


class RackUse(BaseModel):
    model_config = _FROZEN

    rack: str
    site: str
    system: str
    gpus: int
    gpus_occupied: int
    gpus_stranded: int
    usd_per_hour: float
    it_kw: float
    """IT power of occupied GPUs"""
    rack_power_kw: float | None
    """cap; None = no cap"""
    provisioned_kw: float
    time_utilisation: float
    kv_utilisation: float | None


class Subtotal(BaseModel):
    """Totals over the racks of one system or one site."""

    model_config = _FROZEN

    name: str
    racks: int
    gpus: int
    gpus_stranded: int
    usd_per_hour: float
    provisioned_kw: float
    power_cap_kw: float | None
    """site budget (sites only)"""
    input_tokens_per_hour: float
    output_tokens_per_hour: float
    usd_per_mtok: float | None
    """$/hour of these racks over the Mtok/hour (input + output) they serve"""
    usd_per_plan_mtok: float | None
    """$/hour of these racks over the whole plan's Mtok/hour (input + output): this part's share
    of the plan's $/Mtok (the shares of all systems, or of all sites, add up to it)"""


class Report(BaseModel):
    """A plan priced and measured. ``model_dump(mode="json")`` is the ``--json`` form."""

    model_config = _FROZEN

    instance: str
    method: str
    confidence: float
    """the plan's planning confidence (:attr:`Plan.confidence`)"""
    convention: str
    """how $/GPU-hour is read and split"""
    usd_per_hour: float
    capital_usd_per_hour: float | None
    """None when no energy price is given (then the whole cost is all-in)"""
    energy_usd_per_hour: float | None
    input_tokens_per_hour: float
    output_tokens_per_hour: float
    usd_per_mtok: float | None
    """$/hour over mean Mtok/hour of input + output tokens"""
    usd_per_m_output_tokens: float | None
    """alternative convention: $/hour over mean M output tokens/hour"""
    usd_per_mtok_by_slo_class: dict[str, float | None]
    """$/Mtok (input + output) per tenant SLO class ('' = unlabelled), sorted by class: the
    class's tenant costs over its tenants' tokens; None for a class that served none"""
    usd_per_gpu_hour: float | None
    """$/hour over every GPU paid for (stranded ones included); None without GPUs"""
    stranded_usd_per_hour: float
    """$/hour paid for stranded GPUs: each rack's $/hour x its stranded share of its GPUs"""
    scenarios: tuple[ScenarioTokens, ...]
    peak_scenario: int
    num_racks: int
    gpus: int
    gpus_stranded: int
    provisioned_kw: float
    tokens_per_s_per_mw: float | None
    """mean input + output tokens/s per MW of provisioned power"""
    output_tokens_per_s_per_mw: float | None
    revenue_usd_per_year: float | None
    """token revenue per year of the tenants with a price; None when none has one"""
    priced_cost_usd_per_year: float | None
    """all-in cost per year attributed to the tenants with a price; None when none has one"""
    roi: float | None
    """revenue per year over the same tenants' all-in cost per year; None without prices"""
    tenants: tuple[TenantCost, ...]
    systems: tuple[Subtotal, ...]
    sites: tuple[Subtotal, ...]
    racks: tuple[RackUse, ...]
    engines: tuple[EngineUse, ...]
    solve: SolveRecord | None = None
    """the plan's record of how good it is proven to be (:attr:`Plan.solve`); None: not recorded"""

    def usd_per_mtok_of(self, usd_per_hour: float) -> float | None:
        """$/Mtok of ``usd_per_hour`` (e.g. a bound) over this plan's Mtok/hour (input + output);
        None when the plan serves no tokens."""
        return _per_million(usd_per_hour, self.input_tokens_per_hour + self.output_tokens_per_hour)


def evaluate(instance: Instance, plan: Plan, performance: PerformanceModel | None = None) -> Report:
    """Price ``plan`` for ``instance`` (module docstring: every convention).

    ``performance`` defaults to ``PerformanceModel(instance)`` at the plan's confidence;
    capacities are always recomputed from it, never read from the plan.

    Raises:
        InstanceError: a rack names a system the instance does not know.
    """
    unknown = [
        (f"racks[{i}].system", f"unknown system '{rack.system}'")
        for i, rack in enumerate(plan.racks)
        if rack.system not in instance.system_catalog
    ]
    if unknown:
        raise InstanceError(unknown, "plan")
    return _Evaluation(PlanUsage(instance, plan, performance)).report()


def report_of(instance: Instance, result: Result, performance: PerformanceModel | None = None) -> Report | None:
    """The report of ``result``'s plan: the one its run made (:attr:`Result.report`, with the
    performance model it planned with), else :func:`evaluate` now; None without a plan."""
    if result.plan is None:
        return None
    return result.report if result.report is not None else evaluate(instance, result.plan, performance)


class _Evaluation:
    def __init__(self, usage: PlanUsage) -> None:
        self.u = usage
        self.instance = usage.instance
        self.weights = usage.instance.weights
        self.rack_cost = {
            id(rack): usage.rack_gpus(rack) * usage.usd_per_gpu_hour(rack) for rack in usage.plan.racks
        }

    # -- tokens ---------------------------------------------------------------------

    def mean_tokens_per_hour(self, keys: Iterable[tuple[str, int, str]]) -> tuple[float, float]:
        """Scenario-weighted mean (input, output) tokens/hour served by these flows."""
        tokens_in = tokens_out = 0.0
        for key in keys:
            i, o = self.u.served[key]
            tokens_in += self.weights[key[1]] * i * 3600
            tokens_out += self.weights[key[1]] * o * 3600
        return tokens_in, tokens_out

    def scenarios(self) -> tuple[ScenarioTokens, ...]:
        totals = [[0.0, 0.0] for _ in self.weights]
        for (_, s, _), (i, o) in self.u.served.items():
            totals[s][0] += i * 3600
            totals[s][1] += o * 3600
        return tuple(
            ScenarioTokens(scenario=s, weight=w, input_tokens_per_hour=i, output_tokens_per_hour=o)
            for s, (w, (i, o)) in enumerate(zip(self.weights, totals, strict=True))
        )

    # -- attribution ----------------------------------------------------------------

    def engine_seconds(self, engine: str) -> dict[str, float]:
        """Scenario-weighted replica-seconds/s per tenant on ``engine``; tokens when no load is known."""
        seconds: dict[str, float] = defaultdict(float)
        tokens: dict[str, float] = defaultdict(float)
        for tenant, s, i, o in self.u.flows_by_engine.get(engine, ()):
            seconds[tenant] += self.weights[s] * self.u.tenant_time(tenant, engine, s)
            tokens[tenant] += self.weights[s] * (i + o)
        return seconds if sum(seconds.values()) > 0 else tokens

    def tenant_costs(self) -> tuple[dict[str, float], dict[str, float]]:
        """($/hour attributed to each tenant (module docstring), which sums to the plan's $/hour;
        $/hour of the engine time each keeps busy).

        A tenant's busy $/hour is its share of each group's own GPUs' cost (the rack's $/GPU-hour)
        times that group's scenario-weighted mean time utilisation (1 for a group whose load is
        unknown): what it would pay were its engines never idle and no GPU stranded.
        """
        cost = dict.fromkeys((t.name for t in self.instance.tenants), 0.0)
        busy = dict.fromkeys(cost, 0.0)
        unattributed = 0.0
        for rack in self.u.plan.racks:
            shares = {g.id: self.engine_seconds(g.id) for g in rack.engines}
            loaded = [g for g in rack.engines if sum(shares[g.id].values()) > 0]
            loaded_gpus = sum(g.gpus * g.count for g in loaded)
            if not loaded_gpus:
                unattributed += self.rack_cost[id(rack)]
                continue
            for group in loaded:
                group_cost = self.rack_cost[id(rack)] * group.gpus * group.count / loaded_gpus
                total = sum(shares[group.id].values())
                seconds = sum(self.weights[s] * self.u.time_used(group.id, s) for s in range(len(self.weights)))
                utilisation = min(seconds / group.count, 1.0) if seconds > 0 else 1.0
                own_cost = self.rack_cost[id(rack)] * group.gpus * group.count / self.u.rack_gpus(rack)
                for tenant, amount in shares[group.id].items():
                    cost[tenant] += group_cost * amount / total
                    busy[tenant] += own_cost * utilisation * amount / total
        attributed = sum(cost.values())
        for tenant in cost:
            share = cost[tenant] / attributed if attributed > 0 else 1 / len(cost)
            cost[tenant] += unattributed * share
        return cost, busy

    def tenants(self, revenue: dict[str, float]) -> tuple[TenantCost, ...]:
        costs, busy = self.tenant_costs()
        keys_by_tenant: dict[str, list[tuple[str, int, str]]] = defaultdict(list)
        for key in self.u.served:
            keys_by_tenant[key[0]].append(key)
        rows = []
        for tenant in self.instance.tenants:
            tokens_in, tokens_out = self.mean_tokens_per_hour(keys_by_tenant[tenant.name])
            cost = costs[tenant.name]
            earned = revenue.get(tenant.name)
            rows.append(TenantCost(
                tenant=tenant.name,
                model=tenant.model,
                slo_class=tenant.slo_class,
                isolation=tenant.isolation,
                usd_per_hour=cost,
                busy_usd_per_hour=busy[tenant.name],
                input_tokens_per_hour=tokens_in,
                output_tokens_per_hour=tokens_out,
                usd_per_mtok=_per_million(cost, tokens_in + tokens_out),
                price_usd_per_mtok=tenant.price_usd_per_mtok,
                revenue_usd_per_hour=earned,
                margin_usd_per_hour=None if earned is None else earned - cost,
                margin=(earned - cost) / earned if earned else None,
            ))
        return tuple(rows)

    def revenue(self) -> dict[str, float]:
        """$/hour each priced tenant earns at its price on its mean served tokens."""
        tokens: dict[str, float] = defaultdict(float)
        for (tenant, s, _), (i, o) in self.u.served.items():
            tokens[tenant] += self.weights[s] * (i + o) * 3600
        return {
            t.name: t.price_usd_per_mtok * tokens[t.name] / 1e6
            for t in self.instance.tenants
            if t.price_usd_per_mtok is not None
        }

    # -- utilisation ----------------------------------------------------------------

    def peak_scenario(self) -> int:
        scenarios = self.scenarios()
        return max(range(len(scenarios)), key=lambda s: (
            scenarios[s].input_tokens_per_hour + scenarios[s].output_tokens_per_hour, -s
        ))

    def kv(self, engine: str, scenario: int) -> tuple[float, float] | None:
        """(used, capacity) KV bytes; None when capacity is not modelled."""
        capacity = self.u.kv_capacity(engine)
        if capacity is None or capacity == float("inf"):
            return None
        return self.u.kv_used(engine, scenario), capacity

    def engines(self, peak: int) -> tuple[EngineUse, ...]:
        rows = []
        for rack in self.u.plan.racks:
            per_gpu = self.rack_cost[id(rack)] / self.u.rack_gpus(rack)
            for group in rack.engines:
                kv = self.kv(group.id, peak) if self.u.groups[group.id][1] is group else None
                basis = self.basis(group.id)
                low, high = self.u.performance.band(basis)
                rows.append(EngineUse(
                    engine=group.id,
                    rack=rack.id,
                    model=group.model,
                    precision=group.precision,
                    role=group.role,
                    gpus=group.gpus,
                    count=group.count,
                    tenants=tuple(sorted(self.u.tenants_on(group.id))),
                    purpose=group.purpose,
                    usd_per_hour=per_gpu * group.gpus * group.count,
                    time_utilisation=self.u.time_used(group.id, peak) / group.count,
                    kv_utilisation=None if kv is None or not kv[1] else kv[0] / kv[1],
                    basis=basis, band_low=low, band_high=high,
                ))
        return tuple(rows)

    def basis(self, engine: str) -> str:
        """The farthest basis detail of an engine group's capacity over its tenants' shapes."""
        config = self.u.config(engine)
        shapes = {(t.input_tokens, t.output_tokens) for t in map(self.instance.tenant, self.u.tenants_on(engine))}
        found = [self.u.performance.basis(config, isl, osl) for isl, osl in sorted(shapes)]
        if not found:
            return "profile" if config.source == "profile" else "roofline"
        return max(found, key=BASIS_ORDER.index)

    def racks(self, engines: tuple[EngineUse, ...], peak: int) -> tuple[RackUse, ...]:
        by_rack: dict[str, list[EngineUse]] = defaultdict(list)
        for engine in engines:
            by_rack[engine.rack].append(engine)
        rows = []
        for rack in self.u.plan.racks:
            system = self.u.system(rack)
            gpus, occupied = self.u.rack_gpus(rack), self.u.occupied_gpus(rack)
            kvs = [self.kv(group.id, peak) for group in rack.engines]
            kv_known = [kv for kv in kvs if kv is not None]
            kv_capacity = sum(capacity for _, capacity in kv_known)
            entry = self.u.fleet_entry(rack)
            rows.append(RackUse(
                rack=rack.id,
                site=rack.site,
                system=rack.system,
                gpus=gpus,
                gpus_occupied=occupied,
                gpus_stranded=max(gpus - occupied, 0),
                usd_per_hour=self.rack_cost[id(rack)],
                it_kw=it_kw(system, occupied),  # type: ignore[arg-type]
                rack_power_kw=entry.rack_power_kw if entry is not None else None,
                provisioned_kw=allin_kw(system, gpus),  # type: ignore[arg-type]
                time_utilisation=sum(
                    e.time_utilisation * e.gpus * e.count for e in by_rack[rack.id]
                ) / gpus,
                kv_utilisation=sum(used for used, _ in kv_known) / kv_capacity if kv_capacity else None,
            ))
        return tuple(rows)

    def subtotals(self, racks: tuple[RackUse, ...], by: str, plan_tokens_per_hour: float) -> tuple[Subtotal, ...]:
        """Totals per system (``by="system"``) or per site (``by="site"``); ``plan_tokens_per_hour``
        is the whole plan's mean input + output tokens/hour."""
        keys_by_rack: dict[str, list[tuple[str, int, str]]] = defaultdict(list)
        for key in self.u.served:
            keys_by_rack[self.u.groups[key[2]][0].id].append(key)
        caps = {s.name: s.power_mw * 1000 if s.power_mw else None for s in self.instance.sites}
        grouped: dict[str, list[RackUse]] = defaultdict(list)
        for rack in racks:
            grouped[getattr(rack, by)].append(rack)
        rows = []
        for name, members in sorted(grouped.items()):
            rack_ids = dict.fromkeys(r.rack for r in members)
            keys = [key for rack_id in rack_ids for key in keys_by_rack[rack_id]]
            tokens_in, tokens_out = self.mean_tokens_per_hour(keys)
            cost = sum(r.usd_per_hour for r in members)
            rows.append(Subtotal(
                name=name,
                racks=len(members),
                gpus=sum(r.gpus for r in members),
                gpus_stranded=sum(r.gpus_stranded for r in members),
                usd_per_hour=cost,
                provisioned_kw=sum(r.provisioned_kw for r in members),
                power_cap_kw=caps.get(name) if by == "site" else None,
                input_tokens_per_hour=tokens_in,
                output_tokens_per_hour=tokens_out,
                usd_per_mtok=_per_million(cost, tokens_in + tokens_out),
                usd_per_plan_mtok=_per_million(cost, plan_tokens_per_hour),
            ))
        return tuple(rows)

    @staticmethod
    def usd_per_mtok_by_slo_class(tenants: tuple[TenantCost, ...]) -> dict[str, float | None]:
        """$/Mtok (input + output) per SLO class, from the tenants' attributed costs, sorted by class."""
        cost: dict[str, float] = defaultdict(float)
        tokens: dict[str, float] = defaultdict(float)
        for tenant in tenants:
            cost[tenant.slo_class] += tenant.usd_per_hour
            tokens[tenant.slo_class] += tenant.input_tokens_per_hour + tenant.output_tokens_per_hour
        return {c: _per_million(cost[c], tokens[c]) for c in sorted(cost)}

    # -- the report -----------------------------------------------------------------

    def report(self) -> Report:
        u, economics = self.u, self.instance.economics
        usd_per_hour = sum(self.rack_cost.values())
        provisioned_kw = sum(allin_kw(u.instance.system(rack.system), u.rack_gpus(rack)) for rack in u.plan.racks)
        basis = (
            f"all-in $/GPU-hour at the '{economics.tco_basis}' TCO basis (fleet overrides where given)"
        )
        if economics.energy_usd_per_kwh is not None:
            energy = provisioned_kw * economics.energy_usd_per_kwh
            capital: float | None = usd_per_hour - energy
            convention = (
                f"{basis}, split into energy (provisioned all-in kW x {economics.energy_usd_per_kwh:g} "
                "$/kWh) and capital plus hosting (the rest)"
            )
        else:
            energy = capital = None
            convention = (
                f"{basis}: capital, hosting and power together (no energy price given, no split)"
            )
        revenue = self.revenue()
        tokens_in, tokens_out = self.mean_tokens_per_hour(u.served)
        peak = self.peak_scenario()
        engines = self.engines(peak)
        racks = self.racks(engines, peak)
        megawatts = provisioned_kw / 1000
        tenants = self.tenants(revenue)
        gpus = sum(r.gpus for r in racks)
        revenue_per_year = sum(revenue.values()) * HOURS_PER_YEAR if revenue else None
        priced_cost_per_year = sum(t.usd_per_hour for t in tenants if t.tenant in revenue) * HOURS_PER_YEAR \
            if revenue else None
        return Report(
            instance=self.instance.name,
            method=u.plan.method,
            confidence=u.plan.confidence,
            convention=convention,
            usd_per_hour=usd_per_hour,
            capital_usd_per_hour=capital,
            energy_usd_per_hour=energy,
            input_tokens_per_hour=tokens_in,
            output_tokens_per_hour=tokens_out,
            usd_per_mtok=_per_million(usd_per_hour, tokens_in + tokens_out),
            usd_per_m_output_tokens=_per_million(usd_per_hour, tokens_out),
            usd_per_mtok_by_slo_class=self.usd_per_mtok_by_slo_class(tenants),
            usd_per_gpu_hour=usd_per_hour / gpus if gpus else None,
            stranded_usd_per_hour=sum(r.usd_per_hour * r.gpus_stranded / r.gpus for r in racks if r.gpus),
            scenarios=self.scenarios(),
            peak_scenario=peak,
            num_racks=len(racks),
            gpus=gpus,
            gpus_stranded=sum(r.gpus_stranded for r in racks),
            provisioned_kw=provisioned_kw,
            tokens_per_s_per_mw=(tokens_in + tokens_out) / 3600 / megawatts if megawatts else None,
            output_tokens_per_s_per_mw=tokens_out / 3600 / megawatts if megawatts else None,
            revenue_usd_per_year=revenue_per_year,
            priced_cost_usd_per_year=priced_cost_per_year,
            roi=revenue_per_year / priced_cost_per_year
            if revenue_per_year is not None and priced_cost_per_year
            else None,
            tenants=tenants,
            systems=self.subtotals(racks, "system", tokens_in + tokens_out),
            sites=self.subtotals(racks, "site", tokens_in + tokens_out),
            racks=racks,
            engines=engines,
            solve=u.plan.solve,
        )


def usd_per_mtok_of_gpu(usd_per_gpu_hour: float, tokens_per_s_per_gpu: float) -> float | None:
    """$/Mtok (input + output) of one GPU paid ``usd_per_gpu_hour`` that serves ``tokens_per_s_per_gpu``:
    the report's $/Mtok convention for one GPU (``tenantplan perf``'s prices); None when it serves nothing."""
    return _per_million(usd_per_gpu_hour, tokens_per_s_per_gpu * 3600)


def _per_million(usd_per_hour: float, tokens_per_hour: float) -> float | None:
    return usd_per_hour / (tokens_per_hour / 1e6) if tokens_per_hour > 0 else None
