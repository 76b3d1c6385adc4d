"""Failure survival: each single rack or site loss of a plan, re-routed optimally by an LP.

For one failure (the racks lost) and one scenario the LP routes every tenant's
requests/s ``x_{t,g}`` over the engine groups that remain:

- capacity, the common load model of :mod:`optimizer.usage`: per group
  ``sum_t x_{t,g} x replica_seconds(load_{t,g}, isl_t, osl_t) <= count`` and
  ``sum_t x_{t,g} x osl_t x kv_bytes_per_output_rate <= count x kv_capacity``;
- a disaggregated tenant's prefill and decode requests balance (``sum prefill =
  sum decode``); served requests are its aggregated plus prefill ones, at most its demand;
- it first minimises the shortfall of the tenants whose promise covers the failure
  (``survive = "site"`` covers rack and site losses, ``"rack"`` rack losses) below
  ``survive_share x demand``, then, that shortfall kept, maximises the requests served.

A tenant may be re-routed to a remaining group (the plan's own routes need not be
kept) when the group serves its model at an allowed precision, at an allowed site,
has a load for its request shape, keeps isolation (a ``dedicated`` tenant's groups and
a ``dedicated-rack`` tenant's racks carry no one else) and meets its SLO: an
aggregated group by :func:`~optimizer.performance.meets_slo`; disaggregated groups
join its prefill and decode sets, starting from those it is routed to, only while
every (prefill, decode) pair of the sets meets it. After a failure the plan runs
degraded: ``min_racks`` spread and the scale-out KV transfer are not re-checked.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Literal

from ortools.linear_solver import pywraplp

from optimizer.instance import Instance, Tenant
from optimizer.performance import PerformanceModel, meets_slo
from optimizer.performance.capacity import replica_seconds
from optimizer.plan import Plan
from optimizer.usage import PlanUsage

FailureKind = Literal["rack", "site"]
FAILURE_KINDS: tuple[FailureKind, ...] = ("rack", "site")
SHORTFALL_TOL = 1e-6
"""Relative shortfall (of the required requests/s) below which a promise counts as kept (checker's REL_TOL)."""


@dataclass(frozen=True)
class Failure:
    """The loss of one rack or one site of a plan."""

    kind: FailureKind
    name: str
    """the rack id or the site name"""
    racks: frozenset[str]
    """ids of the racks lost"""


@dataclass(frozen=True)
class TenantAfterFailure:
    """One tenant in one scenario after one failure, requests/s."""

    failure: Failure
    tenant: str
    scenario: int
    demand: float
    served: float
    required: float
    """``survive_share x demand`` when the tenant's promise covers this failure, else 0"""

    @property
    def unserved(self) -> float:
        return max(0.0, self.demand - self.served)

    @property
    def kept(self) -> bool:
        """Whether the tenant's survival promise holds (always, when it makes none for this failure)."""
        return self.served >= self.required * (1 - SHORTFALL_TOL) - 1e-9


def covers(tenant: Tenant, kind: FailureKind) -> bool:
    """Whether ``tenant``'s ``survive`` promise covers a failure of ``kind``."""
    return tenant.survive == "site" or tenant.survive == kind


def failures(plan: Plan, kind: FailureKind) -> list[Failure]:
    """Every single failure of ``kind`` the plan can suffer, in plan order."""
    if kind == "rack":
        return [Failure("rack", rack.id, frozenset({rack.id})) for rack in plan.racks]
    by_site: dict[str, set[str]] = defaultdict(set)
    for rack in plan.racks:
        by_site[rack.site].add(rack.id)
    return [Failure("site", site, frozenset(racks)) for site, racks in by_site.items()]


def stress(
    instance: Instance,
    plan: Plan,
    kinds: tuple[FailureKind, ...] = FAILURE_KINDS,
    performance: PerformanceModel | None = None,
    promised_only: bool = False,
) -> list[TenantAfterFailure]:
    """Every tenant's outcome in every scenario after each failure of ``kinds`` (module docstring).

    ``promised_only`` re-routes only the tenants whose promise covers the failure and returns
    only theirs, after the first stage of the LP (the checker: they are served first, so the
    others cannot change whether a promise holds). Failures that take none of the re-routed
    tenants' engines share one LP per scenario.
    """
    usage = PlanUsage(instance, plan, performance)
    eligible = _eligible(usage)
    solved: dict[tuple[FailureKind, frozenset[str], int], dict[str, float]] = {}
    outcomes: list[TenantAfterFailure] = []
    for kind in kinds:
        routed = [t for t in instance.tenants if covers(t, kind) or not promised_only]
        usable = {g for t in routed for g in eligible[t.name]}
        for failure in failures(plan, kind):
            lost = frozenset(g for g in usable if usage.groups[g][0].id in failure.racks)
            for s in range(instance.num_scenarios):
                key = (kind, lost, s)
                if key not in solved:
                    solved[key] = _reroute(usage, routed, eligible, lost, kind, s, not promised_only)
                outcomes.extend(
                    TenantAfterFailure(
                        failure=failure, tenant=t.name, scenario=s, demand=t.demand(s), served=solved[key][t.name],
                        required=t.survive_share * t.demand(s) if covers(t, kind) else 0.0,
                    )
                    for t in routed
                )
    return outcomes


def _eligible(u: PlanUsage) -> dict[str, list[str]]:
    """Per tenant, the engine groups it may be re-routed to (module docstring), in plan order."""
    found: dict[str, list[str]] = {}
    for tenant in u.instance.tenants:
        compatible = [g for g in u.groups if _compatible(u, tenant, g)]
        role = {g: u.groups[g][1].role for g in compatible}
        aggregated = [g for g in compatible if role[g] == "aggregated" and meets_slo(tenant, u.load(tenant.name, g))]
        sets: dict[str, list[str]] = {"prefill": [], "decode": []}
        routed = {g for (name, _, g) in u.flows if name == tenant.name}
        for g in sorted((g for g in compatible if role[g] != "aggregated"), key=lambda g: g not in routed):
            other = sets["decode" if role[g] == "prefill" else "prefill"]
            pairs = [(g, o) if role[g] == "prefill" else (o, g) for o in other]
            if all(meets_slo(tenant, u.load(tenant.name, p), u.load(tenant.name, d)) for p, d in pairs):
                sets[role[g]].append(g)
        found[tenant.name] = [g for g in u.groups if g in aggregated or g in sets["prefill"] or g in sets["decode"]]
    return found


def _compatible(u: PlanUsage, tenant: Tenant, engine: str) -> bool:
    """Model, precision, site, load and isolation allow ``tenant`` on ``engine``."""
    rack, group = u.groups[engine]
    if group.model != tenant.model or not u.resolvable(engine) or rack.site not in u.instance.allowed_sites(tenant):
        return False
    if group.precision not in u.instance.allowed_precisions(tenant) or u.load(tenant.name, engine) is None:
        return False
    others = u.tenants_on(engine) - {tenant.name}
    rack_others = set().union(*(u.tenants_on(g.id) for g in rack.engines)) - {tenant.name}
    if tenant.isolation == "dedicated" and others or tenant.isolation == "dedicated-rack" and rack_others:
        return False
    isolation = {name: u.instance.tenant(name).isolation for name in rack_others}
    return not any(isolation[n] == "dedicated" for n in others) and "dedicated-rack" not in isolation.values()


def _reroute(
    u: PlanUsage, tenants: list[Tenant], eligible: dict[str, list[str]], lost: frozenset[str], kind: FailureKind,
    s: int, serve_most: bool,
) -> dict[str, float]:
    """Requests/s each of ``tenants`` gets in scenario ``s`` with the ``lost`` groups gone after a
    failure of ``kind`` (the LP of the module docstring; ``serve_most``: its second stage too)."""
    solver = pywraplp.Solver.CreateSolver("GLOP")
    time_used: dict[str, list] = defaultdict(list)
    kv_used: dict[str, list] = defaultdict(list)
    served: dict[str, pywraplp.LinearExpr] = {}
    shortfall = []
    for tenant in tenants:
        demand = tenant.demand(s)
        flows = {g: solver.NumVar(0.0, demand, "") for g in eligible[tenant.name] if g not in lost}
        by_role: dict[str, list] = defaultdict(list)
        for g, x in flows.items():
            load = u.load(tenant.name, g)
            by_role[u.groups[g][1].role].append(x)
            time_used[g].append(x * replica_seconds(load, tenant.input_tokens, tenant.output_tokens))
            kv_used[g].append(x * (tenant.output_tokens * load.kv_bytes_per_output_rate))
        if by_role["prefill"] or by_role["decode"]:
            solver.Add(sum(by_role["prefill"], 0.0) == sum(by_role["decode"], 0.0))
        served[tenant.name] = solver.Sum(by_role["aggregated"] + by_role["prefill"])
        solver.Add(served[tenant.name] <= demand)
        if covers(tenant, kind) and demand > 0:
            short = solver.NumVar(0.0, demand, "")
            solver.Add(short + served[tenant.name] >= tenant.survive_share * demand)
            shortfall.append(short * (1.0 / demand))  # as a share, so large tenants do not crowd out small
    for g, terms in time_used.items():
        count = u.groups[g][1].count
        solver.Add(solver.Sum(terms) <= count)
        capacity = u.kv_capacity(g)
        if capacity is not None and capacity != float("inf"):
            solver.Add(solver.Sum(kv_used[g]) <= capacity)
    if shortfall:
        solver.Minimize(solver.Sum(shortfall))
        _solve(solver)
    if serve_most or not shortfall:
        if shortfall:
            solver.Add(solver.Sum(shortfall) <= solver.Objective().Value() + 1e-9)
        solver.Maximize(solver.Sum(list(served.values())))
        _solve(solver)
    return {name: float(expression.solution_value()) for name, expression in served.items()}


def _solve(solver: pywraplp.Solver) -> None:
    status = solver.Solve()
    if status != pywraplp.Solver.OPTIMAL:  # all zero is feasible: only a numerical failure lands here
        raise RuntimeError(f"failure re-routing LP ended with status {status}")
