"""The formulation on OR-Tools CP-SAT: integer flows, integer-scaled coefficients.

CP-SAT has no continuous variables or fractional coefficients, so flows and
capacities are scaled, in one documented way (``docs/formulation.md``, "CP-SAT
scaling"):

- Flows are integer *units* of ``q_k = peak demand_k / FLOW_STEPS`` requests/s;
  demand in units is ``ceil(lambda / q_k)`` (at most one unit, 1/FLOW_STEPS of the
  peak, more than asked; the plan's flows are scaled back to the exact demand).
- A capacity row ``sum_a c_a r_a <= n`` is multiplied by a power of two ``S``
  chosen so its smallest coefficient is at least ``COEFFICIENT_RESOLUTION``;
  coefficients are rounded to nearest (relative error <= 1.2e-7) and the
  right-hand side is given ``CAPACITY_SLACK`` (4e-7) of room, so exactly full
  engines stay feasible and every plan stays within the checker's 1e-6
  tolerance. A row whose activity could overflow 2^62 is scaled down with a warning.
- The balance rows (3) are exact in units; (7)-(11) are integer already.
"""

from __future__ import annotations

import logging
import math
import time

import numpy as np
from ortools.sat.python import cp_model

from optimizer.result import Limit
from solvers.mip.backend import BackendResult, Settings, Solution
from solvers.mip.formulation import Formulation, virtual_racks

logger = logging.getLogger(__name__)

FLOW_STEPS = 10_000
"""Flow units per tenant's peak demand: the flow resolution, 1e-4 of the peak."""
COEFFICIENT_RESOLUTION = 2**22
"""Smallest scaled coefficient of a capacity row (rounding error <= 0.5 / 2^22 = 1.2e-7)."""
CAPACITY_SLACK = 4e-7
"""Relative room on a capacity row's right-hand side, above the rounding error and
below the checker's tolerance (``optimizer.check.REL_TOL`` = 1e-6)."""
_MAX_ACTIVITY = 2**62


class Variables:
    """``y_p`` racks, ``n_g`` replicas, ``z_g`` replicas per rack of a spread group, ``q_{p,m}`` virtual
    racks of spread groups, ``w_{g,m}`` unspread replicas beside them, ``r_{a,s}`` flow units,
    ``u_{k,s}`` unserved units."""

    def __init__(self, model: cp_model.CpModel, f: Formulation, settings: Settings) -> None:
        self.unit = np.array([
            (f.demand[k].max() / FLOW_STEPS) if f.demand[k].max() > 0 else 1.0 for k in range(len(f.commodities))
        ])
        demand = f.demand / self.unit[:, None]
        self.demand_units = np.where(
            np.abs(demand - np.round(demand)) <= 1e-6 * np.maximum(demand, 1), np.round(demand), np.ceil(demand)
        ).astype(np.int64)
        self.active = settings.active(len(f.scenarios))
        self.elastic = settings.allow_unserved
        fixed = settings.fixed
        self.racks = [
            model.new_int_var(*_domain(pool.max_racks, fixed and fixed.racks[p]), f"y[{p}]")
            for p, pool in enumerate(f.pools)
        ]
        self.replicas = [
            model.new_int_var(*_domain(group.max_replicas, fixed and fixed.replicas[g]), f"n[{g}]")
            for g, group in enumerate(f.groups)
        ]
        self.per_rack = {
            g: model.new_int_var(0, group.max_replicas // group.spread, f"z[{g}]")
            for g, group in enumerate(f.groups) if group.spread > 1
        }
        self.spread_racks = {
            (p, m): model.new_int_var(0, f.pools[p].max_racks // m, f"q[{p},{m}]") for p, m in f.spread_sets
        }
        self.alongside = {
            (g, m): model.new_int_var(0, f.groups[g].max_replicas // m, f"w[{g},{m}]") for g, m in f.alongside_sets
        }
        self.flows = [
            {s: model.new_int_var(0, int(self.demand_units[arc.commodity, s]), f"r[{a},{s}]") for s in self.active}
            for a, arc in enumerate(f.arcs)
        ]
        self.unserved: list[dict[int, cp_model.IntVar | int]] = []
        for k in range(len(f.commodities)):
            row: dict[int, cp_model.IntVar | int] = {}
            for s in self.active:
                upper = int(self.demand_units[k, s]) if settings.allow_unserved else 0
                if settings.unserved_cap is not None:
                    upper = min(upper, math.ceil(settings.unserved_cap[k, s] / self.unit[k] - 1e-9))
                row[s] = model.new_int_var(0, upper, f"u[{k},{s}]") if upper > 0 else 0
            self.unserved.append(row)


def _domain(upper: int, fixed: int | None) -> tuple[int, int]:
    return (int(fixed), int(fixed)) if fixed is not None else (0, int(upper))


class Constraints:
    """Constraints (1)-(11) of ``docs/formulation.md``, one method each."""

    def __init__(self, model: cp_model.CpModel, f: Formulation, v: Variables) -> None:
        self.model, self.f, self.v = model, f, v

    def add_constraints(self) -> None:
        self._demand_input()  # (1)
        self._demand_output()  # (2)
        self._disaggregated_balance()  # (3)
        self._group_capacity()  # (4)-(6)
        self._rack_packing()  # (7)
        self._inventory()  # (8)
        self._site_power()  # (9)
        self._spread()  # (10)
        if not self.v.elastic:  # valid only when all demand is served
            self._covers()  # (11)

    def _demand_input(self) -> None:
        """(1) input-side requests (aggregated + prefill) plus unserved equal demand."""
        for k, s, inputs, _ in self.f.demand_rows(self.v.active):
            self.model.add(
                sum(self.v.flows[a][s] for a in inputs) + self.v.unserved[k][s] == int(self.v.demand_units[k, s])
            )

    def _demand_output(self) -> None:
        """(2) output-side requests (aggregated + decode) plus unserved equal demand."""
        for k, s, _, outputs in self.f.demand_rows(self.v.active):
            self.model.add(
                sum(self.v.flows[a][s] for a in outputs) + self.v.unserved[k][s] == int(self.v.demand_units[k, s])
            )

    def _disaggregated_balance(self) -> None:
        """(3) a tenant's prefill and decode requests balance within each fleet entry."""
        for _, prefills, decodes in self.f.balance_rows():
            for s in self.v.active:
                self.model.add(
                    sum(self.v.flows[a][s] for a in prefills) == sum(self.v.flows[a][s] for a in decodes)
                )

    def _capacity_rows(self, per_request: list[float], g: int) -> None:
        """``sum_a per_request[a] * r_a <= n_g`` per scenario, integer-scaled (module docstring)."""
        arcs = self.f.arcs_of_group[g]
        per_unit = [per_request[i] * self.v.unit[self.f.arcs[a].commodity] for i, a in enumerate(arcs)]
        positive = [c for c in per_unit if c > 0]
        if not positive:
            return
        scale = 2.0 ** math.ceil(math.log2(COEFFICIENT_RESOLUTION / min(positive)))
        bounds = [int(self.v.demand_units[self.f.arcs[a].commodity].max()) for a in arcs]
        activity = sum(c * scale * b for c, b in zip(per_unit, bounds, strict=True))
        if activity > _MAX_ACTIVITY:
            shrink = 2.0 ** math.ceil(math.log2(activity / _MAX_ACTIVITY))
            scale /= shrink
            logger.warning(
                "CP-SAT: capacity row of group %d scaled down %gx to avoid overflow; "
                "its coefficients are rounded more coarsely", g, shrink,
            )
        coefficients = [round(c * scale) for c in per_unit]
        rhs = math.floor(scale * (1 + CAPACITY_SLACK))
        for s in self.v.active:
            self.model.add(
                sum(c * self.v.flows[a][s] for c, a in zip(coefficients, arcs, strict=True) if c)
                <= rhs * self.v.replicas[g]
            )

    def _group_capacity(self) -> None:
        """(4) engine time, (5) KV memory, (6) KV transfer: each row within a group's replicas."""
        for g, coefficients in self.f.capacity_rows():
            self._capacity_rows(coefficients, g)

    def _rack_packing(self) -> None:
        """(7) per pool and size level L: GPUs of unspread replicas >= L GPUs not placed beside
        spread ones within cap_L x the racks not holding spread groups."""
        for p, pool in enumerate(self.f.pools):
            shared_racks = self.v.racks[p] - sum(m * q for (q_pool, m), q in self.v.spread_racks.items() if q_pool == p)
            self.model.add(shared_racks >= 0)
            for size, groups in self.f.levels(p):
                self.model.add(
                    sum(self.f.groups[g].config.gpus * self._unplaced(g) for g in groups)
                    <= pool.level_capacity(size) * shared_racks
                )

    def _unplaced(self, g: int) -> cp_model.LinearExpr:
        """Replicas of unspread group g in racks holding no spread replica: n_g - sum_m m w_{g,m}."""
        return self.v.replicas[g] - sum(m * self.v.alongside[(g, m)] for m in self.f.alongside_of.get(g, []))

    def _inventory(self) -> None:
        """(8) racks of a fleet entry (shared and private pools) within max_racks."""
        for pools, max_racks in self.f.inventory():
            self.model.add(sum(self.v.racks[p] for p in pools) <= max_racks)

    def _site_power(self) -> None:
        """(9) provisioned power of a site's opened racks within its budget (kW, scaled to mW)."""
        for pools, budget_kw in self.f.site_power():
            self.model.add(
                sum(round(self.f.pools[p].kw * 1e6) * self.v.racks[p] for p in pools)
                <= math.floor(budget_kw * 1e6 * (1 + CAPACITY_SLACK))
            )

    def _spread(self) -> None:
        """(10) a spread group's replicas are m x z; the z's, and the w's of unspread groups
        beside them, pack into q_{p,m} virtual racks by levels; n_g >= sum_m m w_{g,m}."""
        for g, per_rack in self.v.per_rack.items():
            self.model.add(self.v.replicas[g] == self.f.groups[g].spread * per_rack)
        for g in sorted(self.f.alongside_of):
            self.model.add(self._unplaced(g) >= 0)
        for (p, m), q in self.v.spread_racks.items():
            for size, groups in self.f.levels(p, m):
                self.model.add(
                    sum(
                        self.f.groups[g].config.gpus * (self.v.per_rack[g] if self.f.groups[g].spread > 1
                                                        else self.v.alongside[(g, m)])
                        for g in groups
                    )
                    <= self.f.pools[p].level_capacity(size) * q
                )

    def _covers(self) -> None:
        """(11) at least the replicas and racks a commodity's peak demand needs."""
        replicas, racks = self.f.covers
        for groups, least in replicas:
            self.model.add(sum(self.v.replicas[g] for g in groups) >= least)
        for pools, least in racks:
            self.model.add(sum(self.v.racks[p] for p in pools) >= least)


class Objective:
    """$/hour of opened racks, or scenario-weighted unserved tokens/s (first phase)."""

    def __init__(self, model: cp_model.CpModel, f: Formulation, v: Variables) -> None:
        self.model, self.f, self.v = model, f, v

    def set_objective(self, settings: Settings) -> None:
        if settings.objective == "cost":
            self.model.minimize(
                sum(pool.usd_per_hour * self.v.racks[p] for p, pool in enumerate(self.f.pools))
            )
            return
        weights = self.f.scenario_weights
        self.model.minimize(sum(
            weights[s] * self.f.token_weights[k] * self.v.unit[k] * u
            for k, row in enumerate(self.v.unserved)
            for s, u in row.items()
            if not isinstance(u, int)
        ))


class _Progress(cp_model.CpSolverSolutionCallback):
    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.settings = settings

    def on_solution_callback(self) -> None:
        if self.settings.progress is not None:
            self.settings.progress(self.objective_value, self.best_objective_bound, self.wall_time)


def solve_cpsat(f: Formulation, settings: Settings) -> BackendResult:
    """Solve ``f`` with CP-SAT under ``settings``; raises ``ValueError`` for
    ``relax_integrality`` (CP-SAT has no continuous variables: MathOpt solves LPs)."""
    if settings.relax_integrality:
        raise ValueError("CP-SAT cannot solve the LP relaxation (relax_integrality): use solve_mathopt")
    start = time.perf_counter()
    model = cp_model.CpModel()
    variables = Variables(model, f, settings)
    Constraints(model, f, variables).add_constraints()
    Objective(model, f, variables).set_objective(settings)
    if settings.hint is not None:
        _add_hint(model, f, variables, settings.hint)
    solver = cp_model.CpSolver()
    params = solver.parameters
    params.max_time_in_seconds = max(0.01, settings.time_limit - (time.perf_counter() - start))
    params.relative_gap_limit = settings.gap
    params.num_workers = settings.threads
    params.random_seed = settings.seed
    if settings.threads > 1:
        params.interleave_search = True  # deterministic with several workers
    if settings.progress is not None:
        progress = settings.progress
        solver.best_bound_callback = lambda bound: progress(None, bound, time.perf_counter() - start)
    status = solver.solve(model, _Progress(settings))
    runtime = time.perf_counter() - start
    has_solution = status in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    bound = solver.best_objective_bound if status != cp_model.INFEASIBLE else None
    if status == cp_model.OPTIMAL:
        outcome, limit = "optimal", (Limit.GAP if settings.gap > 0 else Limit.NONE)
    elif status == cp_model.FEASIBLE:
        outcome, limit = "feasible", Limit.TIME
    elif status == cp_model.INFEASIBLE:
        outcome, limit = "infeasible", Limit.NONE
    elif status == cp_model.MODEL_INVALID:
        raise RuntimeError(f"CP-SAT rejected the model: {model.validate()}")
    else:
        outcome, limit = "no-solution", Limit.TIME
    solution = _solution(f, variables, solver) if has_solution else None
    return BackendResult(
        outcome=outcome,  # type: ignore[arg-type]
        limit=limit,
        solution=solution,
        objective=solver.objective_value if has_solution else None,
        bound=bound if bound is not None and math.isfinite(bound) else None,
        runtime_s=runtime,
    )


def _value(solver: cp_model.CpSolver, var: cp_model.IntVar | int) -> int:
    return var if isinstance(var, int) else solver.value(var)


def _solution(f: Formulation, v: Variables, solver: cp_model.CpSolver) -> Solution:
    flows = np.zeros((len(f.arcs), len(f.scenarios)))
    for a, row in enumerate(v.flows):
        for s, x in row.items():
            flows[a, s] = solver.value(x) * v.unit[f.arcs[a].commodity]
    unserved = np.zeros((len(f.commodities), len(f.scenarios)))
    for k, row in enumerate(v.unserved):
        for s, x in row.items():
            unserved[k, s] = _value(solver, x) * v.unit[k]
    return Solution(
        racks=np.array([solver.value(y) for y in v.racks], dtype=int),
        replicas=np.array([solver.value(n) for n in v.replicas], dtype=int),
        flows=flows,
        unserved=unserved,
        alongside={key: count for key, w in v.alongside.items() if (count := solver.value(w)) > 0},
    )


def _add_hint(model: cp_model.CpModel, f: Formulation, v: Variables, hint: Solution) -> None:
    for var, value in zip(v.racks, hint.racks, strict=True):
        model.add_hint(var, int(min(value, var.proto.domain[-1])))
    for var, value in zip(v.replicas, hint.replicas, strict=True):
        model.add_hint(var, int(min(value, var.proto.domain[-1])))
    for g, z in v.per_rack.items():
        model.add_hint(z, int(hint.replicas[g] // f.groups[g].spread))
    needed = virtual_racks(f, hint.replicas, hint.alongside)
    for key, q in v.spread_racks.items():
        model.add_hint(q, needed[key])
    for key, w in v.alongside.items():
        model.add_hint(w, hint.alongside.get(key, 0))
    for a, arc in enumerate(f.arcs):
        for s in v.active:
            units = round(hint.flows[a, s] / v.unit[arc.commodity])
            model.add_hint(v.flows[a][s], int(min(units, v.demand_units[arc.commodity, s])))
