"""The formulation as an LP-based MIP through OR-Tools MathOpt (HiGHS, or SCIP).

Flows are continuous requests/s; racks and replicas are integers. Capacity rows
are divided by the replica's capacity (KV bytes, scale-out bytes/s) so every
row reads "replicas used <= replicas" with coefficients of a sane range.
Both HiGHS and SCIP receive the warm start as a MIP start; :func:`optimizer.solve`
also keeps the warm start's plan, returned when the MIP finds nothing cheaper.
"""

from __future__ import annotations

import datetime
import logging
import math
import re
import time
from collections.abc import Sequence

import numpy as np
from ortools.math_opt.python import mathopt

from optimizer.result import Limit
from solvers.mip.backend import BackendResult, Settings, Solution
from solvers.mip.cpsat import _scenario_weights
from solvers.mip.formulation import Formulation, racks_for, virtual_racks

logger = logging.getLogger(__name__)

SOLVER_TYPES = {"highs": mathopt.SolverType.HIGHS, "scip": mathopt.SolverType.GSCIP}


class Variables:
    """``y_p`` racks, ``n_g`` replicas, ``z_g`` replicas per rack of a spread group, ``q_{p,m}``
    virtual racks of spread groups (integer); ``r_{a,s}``, ``u_{k,s}`` requests/s (continuous)."""

    def __init__(self, model: mathopt.Model, f: Formulation, settings: Settings) -> None:
        self.active = settings.active(len(f.scenarios))
        fixed = settings.fixed
        self.routing_only = fixed is not None
        if fixed is None:
            integer = not settings.relax_integrality
            self.racks = [
                model.add_variable(lb=0, ub=pool.max_racks, is_integer=integer, name=f"y[{p}]")
                for p, pool in enumerate(f.pools)
            ]
            self.replicas = [
                model.add_variable(lb=0, ub=group.max_replicas, is_integer=integer, name=f"n[{g}]")
                for g, group in enumerate(f.groups)
            ]
            self.per_rack = {
                g: model.add_variable(lb=0, ub=group.max_replicas // group.spread, is_integer=integer, name=f"z[{g}]")
                for g, group in enumerate(f.groups) if group.spread > 1
            }
            self.spread_racks = {
                (p, m): model.add_variable(lb=0, ub=f.pools[p].max_racks // m, is_integer=integer, name=f"q[{p},{m}]")
                for p, m in f.spread_sets
            }
        else:  # routing only: racks and replicas are constants, the model is an LP
            self.per_rack, self.spread_racks = {}, {}
            self.racks = [float(y) for y in fixed.racks]
            self.replicas = [float(n) for n in fixed.replicas]
        open_group = [fixed is None or fixed.replicas[g] > 0 for g in range(len(f.groups))]
        self.flows = [
            {
                s: model.add_variable(lb=0, ub=f.flow_bound(a, s) if open_group[arc.group] else 0.0, name=f"r[{a},{s}]")
                for s in self.active
            }
            for a, arc in enumerate(f.arcs)
        ]
        self.unserved: list[dict[int, mathopt.Variable | float]] = []
        for k in range(len(f.commodities)):
            row: dict[int, mathopt.Variable | float] = {}
            for s in self.active:
                upper = float(f.demand[k, s]) if settings.allow_unserved else 0.0
                if settings.unserved_cap is not None:
                    upper = min(upper, float(settings.unserved_cap[k, s]))
                row[s] = model.add_variable(lb=0, ub=upper, name=f"u[{k},{s}]") if upper > 0 else 0.0
            self.unserved.append(row)


class Constraints:
    """Constraints (1)-(10) of ``docs/formulation.md``, one method each."""

    def __init__(self, model: mathopt.Model, f: Formulation, v: Variables) -> None:
        self.model, self.f, self.v = model, f, v

    def add_constraints(self) -> None:
        self._demand_input()  # (1)
        self._demand_output()  # (2)
        self._disaggregated_balance()  # (3)
        self._group_capacity()  # (4)-(6)
        if not self.v.routing_only:  # racks and replicas fixed: (7)-(10) hold already
            self._rack_packing()  # (7)
            self._inventory()  # (8)
            self._site_power()  # (9)
            self._spread()  # (10)

    def _sum(self, terms: Sequence) -> mathopt.LinearExpression:  # type: ignore[type-arg]
        return mathopt.fast_sum(terms)

    def _demand_input(self) -> None:
        """(1) input-side requests (aggregated + prefill) plus unserved equal demand."""
        for k, s, inputs, _ in self.f.demand_rows(self.v.active):
            self.model.add_linear_constraint(
                self._sum([self.v.flows[a][s] for a in inputs]) + self.v.unserved[k][s] == float(self.f.demand[k, s])
            )

    def _demand_output(self) -> None:
        """(2) output-side requests (aggregated + decode) plus unserved equal demand."""
        for k, s, _, outputs in self.f.demand_rows(self.v.active):
            self.model.add_linear_constraint(
                self._sum([self.v.flows[a][s] for a in outputs]) + self.v.unserved[k][s] == float(self.f.demand[k, s])
            )

    def _disaggregated_balance(self) -> None:
        """(3) a tenant's prefill and decode requests balance within each fleet entry."""
        for _, prefills, decodes in self.f.balance_rows():
            for s in self.v.active:
                self.model.add_linear_constraint(
                    self._sum([self.v.flows[a][s] for a in prefills])
                    - self._sum([self.v.flows[a][s] for a in decodes]) == 0
                )

    def _capacity_rows(self, per_request: list[float], g: int) -> None:
        arcs = self.f.arcs_of_group[g]
        if not any(c > 0 for c in per_request):
            return
        for s in self.v.active:
            self.model.add_linear_constraint(
                self._sum([c * self.v.flows[a][s] for c, a in zip(per_request, arcs, strict=True) if c > 0])
                - self.v.replicas[g] <= 0
            )

    def _group_capacity(self) -> None:
        """(4) engine time, (5) KV memory, (6) KV transfer: each row within a group's replicas."""
        for g, coefficients in self.f.capacity_rows():
            self._capacity_rows(coefficients, g)

    def _rack_packing(self) -> None:
        """(7) per pool and size level L: GPUs of shared-part replicas >= L GPUs within cap_L x the
        racks not holding spread groups."""
        for p, pool in enumerate(self.f.pools):
            shared_racks = self.v.racks[p] - self._sum(
                [m * q for (q_pool, m), q in self.v.spread_racks.items() if q_pool == p]
            )
            self.model.add_linear_constraint(shared_racks >= 0)
            for size, groups in self.f.levels(p):
                self.model.add_linear_constraint(
                    self._sum([self.f.groups[g].config.gpus * self.v.replicas[g] for g in groups])
                    - pool.level_capacity(size) * shared_racks <= 0
                )

    def _inventory(self) -> None:
        """(8) racks of a fleet entry (shared, private and single pools) within max_racks."""
        for pools, max_racks in self.f.inventory():
            self.model.add_linear_constraint(self._sum([self.v.racks[p] for p in pools]) <= max_racks)

    def _site_power(self) -> None:
        """(9) provisioned power of a site's opened racks within its budget, kW."""
        for pools, budget_kw in self.f.site_power():
            self.model.add_linear_constraint(
                self._sum([self.f.pools[p].kw * self.v.racks[p] for p in pools]) <= budget_kw
            )

    def _spread(self) -> None:
        """(10) a spread group's replicas are m x z; the z's pack into q_{p,m} virtual racks by levels."""
        for g, per_rack in self.v.per_rack.items():
            self.model.add_linear_constraint(self.v.replicas[g] - self.f.groups[g].spread * per_rack == 0)
        for (p, m), virtual_racks in self.v.spread_racks.items():
            for size, groups in self.f.levels(p, m):
                self.model.add_linear_constraint(
                    self._sum([self.f.groups[g].config.gpus * self.v.per_rack[g] for g in groups])
                    - self.f.pools[p].level_capacity(size) * virtual_racks <= 0
                )


class Objective:
    """$/hour of opened racks, or scenario-weighted unserved tokens/s (first phase)."""

    def __init__(self, model: mathopt.Model, f: Formulation, v: Variables) -> None:
        self.model, self.f, self.v = model, f, v

    def set_objective(self, settings: Settings) -> None:
        if settings.objective == "cost":
            self.model.minimize(mathopt.fast_sum(
                pool.usd_per_hour * self.v.racks[p] for p, pool in enumerate(self.f.pools)
            ))
            return
        weights = _scenario_weights(self.f)
        self.model.minimize(mathopt.fast_sum(
            weights[s] * self.f.token_weights[k] * u
            for k, row in enumerate(self.v.unserved)
            for s, u in row.items()
            if not isinstance(u, float)
        ))


_HIGHS_ROW = re.compile(
    r"^\s*[A-Za-z]?\s+\d+\s+\d+\s+\d+\s+[\d.]+%\s+(?P<bound>\S+)\s+(?P<incumbent>\S+)\s+\S+\s+.*\s(?P<time>[\d.]+)s\s*$"
)
_SCIP_ROW = re.compile(r"^.?\s*(?P<time>[\d.]+)s\|.*\|\s*(?P<bound>\S+)\s*\|\s*(?P<incumbent>\S+)\s*\|\s*\S+\s*\|")


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and abs(value) < 1e20 else None


class _LogProgress:
    """Reads the solver's progress table (HiGHS or SCIP log lines) into progress calls."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def __call__(self, lines: Sequence[str]) -> None:
        for line in lines:
            logger.debug("%s", line)
            match = _HIGHS_ROW.match(line) or _SCIP_ROW.match(line)
            if match and self.settings.progress is not None:
                self.settings.progress(
                    _number(match["incumbent"]), _number(match["bound"]), float(match["time"])
                )


def solve_mathopt(f: Formulation, settings: Settings, solver: str = "highs") -> BackendResult:
    """Solve ``f`` with MathOpt's ``solver`` ("highs" or "scip") under ``settings``."""
    start = time.perf_counter()
    model = mathopt.Model(name=f.instance.name)
    variables = Variables(model, f, settings)
    Constraints(model, f, variables).add_constraints()
    Objective(model, f, variables).set_objective(settings)
    params = mathopt.SolveParameters(
        time_limit=datetime.timedelta(seconds=max(0.01, settings.time_limit - (time.perf_counter() - start))),
        relative_gap_tolerance=settings.gap,
        absolute_gap_tolerance=1e-6,
        random_seed=settings.seed,
    )
    model_params = mathopt.ModelSolveParameters()
    if settings.hint is not None:
        model_params = mathopt.ModelSolveParameters(solution_hints=[_hint(f, variables, settings.hint)])
    result = mathopt.solve(
        model, SOLVER_TYPES[solver], params=params, model_params=model_params, msg_cb=_LogProgress(settings)
    )
    runtime = time.perf_counter() - start
    reason = result.termination.reason
    has_solution = result.has_primal_feasible_solution()
    bound = result.termination.objective_bounds.dual_bound
    bound = bound if math.isfinite(bound) else None
    if reason == mathopt.TerminationReason.OPTIMAL:
        outcome, limit = "optimal", (Limit.GAP if settings.gap > 0 else Limit.NONE)
    elif reason == mathopt.TerminationReason.INFEASIBLE:
        outcome, limit, bound = "infeasible", Limit.NONE, None
    elif reason in (mathopt.TerminationReason.FEASIBLE, mathopt.TerminationReason.NO_SOLUTION_FOUND):
        outcome = "feasible" if has_solution else "no-solution"
        limit = Limit.TIME if result.termination.limit == mathopt.Limit.TIME else Limit.INTERRUPTED
    else:
        raise RuntimeError(f"{solver} stopped: {result.termination}")
    solution = _solution(f, variables, result, settings) if has_solution else None
    return BackendResult(
        outcome=outcome,  # type: ignore[arg-type]
        limit=limit,
        solution=solution,
        objective=result.objective_value() if has_solution else None,
        bound=bound,
        runtime_s=runtime,
    )


def _solution(f: Formulation, v: Variables, result: mathopt.SolveResult, settings: Settings) -> Solution:
    values = result.variable_values()

    def value(x: mathopt.Variable | float) -> float:
        return x if isinstance(x, float) else values[x]

    flows = np.zeros((len(f.arcs), len(f.scenarios)))
    for a, row in enumerate(v.flows):
        for s, x in row.items():
            flows[a, s] = max(0.0, values[x])
    unserved = np.zeros((len(f.commodities), len(f.scenarios)))
    for k, urow in enumerate(v.unserved):
        for s, u in urow.items():
            unserved[k, s] = max(0.0, value(u))
    if settings.relax_integrality:  # the LP relaxation's fractional replicas, rounded up (10)
        replicas = np.array([
            group.spread * math.ceil(value(n) / group.spread - 1e-6)
            for n, group in zip(v.replicas, f.groups, strict=True)
        ], dtype=int)
        return Solution(racks=racks_for(f, replicas), replicas=replicas, flows=flows, unserved=unserved)
    return Solution(
        racks=np.array([round(value(y)) for y in v.racks], dtype=int),
        replicas=np.array([round(value(n)) for n in v.replicas], dtype=int),
        flows=flows,
        unserved=unserved,
    )


def _hint(f: Formulation, v: Variables, hint: Solution) -> mathopt.SolutionHint:
    values: dict[mathopt.Variable, float] = {}
    values.update(zip(v.racks, hint.racks.astype(float), strict=True))
    values.update(zip(v.replicas, hint.replicas.astype(float), strict=True))
    values.update({z: float(hint.replicas[g] // f.groups[g].spread) for g, z in v.per_rack.items()})
    needed = virtual_racks(f, hint.replicas)
    values.update({q: float(needed[key]) for key, q in v.spread_racks.items()})
    for a in range(len(f.arcs)):
        for s, x in v.flows[a].items():
            values[x] = float(hint.flows[a, s])
    # within each variable's bounds (HiGHS refuses others); the solver repairs what this breaks
    return mathopt.SolutionHint(variable_values={
        x: min(max(value, x.lower_bound), x.upper_bound) for x, value in values.items()
    })
