"""The formulation as an LP-based MIP through OR-Tools MathOpt (HiGHS, or SCIP).

Flows are continuous requests/s; racks and replicas are integers. Capacity rows
are divided by the replica's capacity (KV bytes, scale-out bytes/s) so every
row reads "replicas used <= replicas" with coefficients of a sane range.
The model is written straight into MathOpt's ``ModelProto`` from NumPy index
arrays (a family of rows for all scenarios at once) and solved by MathOpt's
core solver: building it through MathOpt's Python expressions took ~140 us per
row, 20-40 s on the medium and large sets. Both HiGHS and SCIP receive the warm
start as a MIP start; :func:`optimizer.solve` also keeps the warm start's plan,
returned when the MIP finds nothing cheaper.
"""

from __future__ import annotations

import datetime
import logging
import math
import re
import time
from collections import defaultdict
from collections.abc import Sequence

import numpy as np
from ortools.math_opt import model_parameters_pb2, model_pb2, result_pb2, solution_pb2, sparse_containers_pb2
from ortools.math_opt.python import mathopt

from optimizer.result import Limit
from solvers.mip.backend import BackendResult, Settings, Solution
from solvers.mip.formulation import Formulation, virtual_racks
from solvers.mip.guard import solve_in_child, solve_in_process

logger = logging.getLogger(__name__)

SOLVER_TYPES = {"highs": mathopt.SolverType.HIGHS, "scip": mathopt.SolverType.GSCIP}
GUARD_GRACE_S = 1.0
GUARD_GRACE_SHARE = 0.02
"""A MIP's child process is killed this long (s, and share of its time limit) after its time
limit: room for the solver to stop by itself and send its solution back (:mod:`solvers.mip.guard`)."""


class _Arrays:
    """A linear model as arrays: variables with bounds, rows ``lower <= a x <= upper``, objective."""

    def __init__(self) -> None:
        self.lower: list[np.ndarray] = []
        self.upper: list[np.ndarray] = []
        self.integer: list[np.ndarray] = []
        self.count = 0
        self.row_lower: list[np.ndarray] = []
        self.row_upper: list[np.ndarray] = []
        self.entries: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        """(row ids, column ids, coefficients) blocks"""
        self.rows = 0

    def variables(self, lower: np.ndarray, upper: np.ndarray, integer: bool) -> np.ndarray:
        """New variables with these bounds (arrays of one shape); their ids in that shape."""
        lower, upper = np.broadcast_arrays(np.asarray(lower, dtype=float), np.asarray(upper, dtype=float))
        ids = self.count + np.arange(lower.size).reshape(lower.shape)
        self.count += lower.size
        self.lower.append(lower.ravel())
        self.upper.append(upper.ravel())
        self.integer.append(np.full(lower.size, integer))
        return ids

    def rows_of(self, columns: np.ndarray, coefficients: np.ndarray, lower: np.ndarray | float,
                upper: np.ndarray | float) -> None:
        """Rows ``lower <= sum_j coefficients[i, j] x[columns[i, j]] <= upper`` for each i.

        ``columns`` is (rows, terms); ``coefficients`` broadcasts to it; ``lower`` and
        ``upper`` to (rows,). Repeated columns in a row are summed."""
        columns = np.atleast_2d(columns)
        coefficients = np.broadcast_to(np.asarray(coefficients, dtype=float), columns.shape)
        count = columns.shape[0]
        ids = self.rows + np.arange(count)
        self.entries.append((np.repeat(ids, columns.shape[1]), columns.ravel(), coefficients.ravel()))
        self.row_lower.append(np.broadcast_to(np.asarray(lower, dtype=float), (count,)))
        self.row_upper.append(np.broadcast_to(np.asarray(upper, dtype=float), (count,)))
        self.rows += count

    def row(self, terms: Sequence[tuple[int, float]], lower: float, upper: float) -> None:
        """One row ``lower <= sum coefficient x[column] <= upper`` from (column, coefficient) terms."""
        columns = np.array([[c for c, _ in terms]], dtype=np.int64).reshape(1, -1)
        self.rows_of(columns, np.array([[a for _, a in terms]], dtype=float).reshape(1, -1), lower, upper)

    def proto(self, name: str, objective: dict[int, float]) -> model_pb2.ModelProto:
        """The model (minimising ``objective``: column -> coefficient) as a ModelProto."""
        proto = model_pb2.ModelProto(name=name)
        proto.variables.ids.extend(range(self.count))
        proto.variables.lower_bounds.extend(np.concatenate(self.lower).tolist())
        proto.variables.upper_bounds.extend(np.concatenate(self.upper).tolist())
        proto.variables.integers.extend(np.concatenate(self.integer).tolist())
        if objective:
            keys = sorted(objective)
            proto.objective.linear_coefficients.ids.extend(keys)
            proto.objective.linear_coefficients.values.extend(objective[k] for k in keys)
        proto.linear_constraints.ids.extend(range(self.rows))
        if self.rows:
            proto.linear_constraints.lower_bounds.extend(np.concatenate(self.row_lower).tolist())
            proto.linear_constraints.upper_bounds.extend(np.concatenate(self.row_upper).tolist())
            rows, columns, values = (np.concatenate(part) for part in zip(*self.entries, strict=True))
            keys = rows.astype(np.int64) * self.count + columns
            unique, position = np.unique(keys, return_inverse=True)
            summed = np.bincount(position, weights=values, minlength=unique.size)
            kept = summed != 0
            matrix = proto.linear_constraint_matrix
            matrix.row_ids.extend((unique[kept] // self.count).tolist())
            matrix.column_ids.extend((unique[kept] % self.count).tolist())
            matrix.coefficients.extend(summed[kept].tolist())
        return proto


class Variables:
    """Column ids: ``y_p`` racks, ``n_g`` replicas, ``z_g`` replicas per rack of a spread group,
    ``q_{p,m}`` virtual racks of spread groups, ``w_{g,m}`` unspread replicas beside them
    (integer); ``r_{a,s}``, ``u_{k,s}`` requests/s (continuous); ``v_{a,e,s}`` failover requests/s
    and ``o_g`` (binary) of (12). With ``settings.fixed`` racks and replicas are fixed to its
    values (routing only: an LP) and (7)-(12) are left out."""

    def __init__(self, m: _Arrays, f: Formulation, settings: Settings) -> None:
        self.active = settings.active(len(f.scenarios))
        fixed = settings.fixed
        self.routing_only = fixed is not None
        self.elastic = settings.allow_unserved
        integer = not settings.relax_integrality and fixed is None
        pools_max = np.array([pool.max_racks for pool in f.pools], dtype=float)
        groups_max = np.array([group.max_replicas for group in f.groups], dtype=float)
        if fixed is None:
            self.racks = m.variables(np.zeros(len(f.pools)), pools_max, integer)
            self.replicas = m.variables(np.zeros(len(f.groups)), groups_max, integer)
        else:
            self.racks = m.variables(fixed.racks, fixed.racks, False)
            self.replicas = m.variables(fixed.replicas, fixed.replicas, False)
        spread = [g for g, group in enumerate(f.groups) if group.spread > 1] if fixed is None else []
        ids = m.variables(np.zeros(len(spread)), [groups_max[g] // f.groups[g].spread for g in spread], integer)
        self.per_rack = dict(zip(spread, ids.tolist(), strict=True))
        sets = f.spread_sets if fixed is None else []
        ids = m.variables(np.zeros(len(sets)), [pools_max[p] // k for p, k in sets], integer)
        self.spread_racks = dict(zip(sets, ids.tolist(), strict=True))
        beside = f.alongside_sets if fixed is None else []
        ids = m.variables(np.zeros(len(beside)), [groups_max[g] // k for g, k in beside], integer)
        self.alongside = dict(zip(beside, ids.tolist(), strict=True))
        active = list(self.active)
        demand = f.demand[:, active]
        arc_commodity = np.array([arc.commodity for arc in f.arcs], dtype=int)
        open_arc = np.array(
            [fixed is None or fixed.replicas[arc.group] > 0 for arc in f.arcs], dtype=bool
        )
        flow_upper = demand[arc_commodity] * open_arc[:, None]
        self.flows = m.variables(np.zeros_like(flow_upper), flow_upper, False)
        """ids, shape (arcs, active scenarios)"""
        unserved_upper = demand if settings.allow_unserved else np.zeros_like(demand)
        if settings.unserved_cap is not None:
            unserved_upper = np.minimum(unserved_upper, settings.unserved_cap[:, active])
        self.unserved = m.variables(np.zeros_like(demand), unserved_upper, False)
        """ids, shape (commodities, active scenarios)"""
        self.failover: dict[tuple[int, int], np.ndarray] = {}
        """(event, commodity) -> ids of ``v`` (12), shape (its failover arcs, every kept scenario)"""
        self.lost: dict[int, int] = {}
        """unspread group in a rack event's pool -> ``o_g`` (12): 1 when no failover flow uses it"""
        if self.routing_only:  # (12) binds replicas alone, fixed here
            return
        for e, event in enumerate(f.failure_events):
            for k in event.commodities:
                arcs = f.failover_arcs(event, k)
                upper = np.broadcast_to(f.demand[k], (len(arcs), len(f.scenarios)))
                self.failover[(e, k)] = m.variables(np.zeros_like(upper), upper, False)
            if event.kind == "rack":
                unspread = [g for g in f.groups_of_pool[event.pools[0]] if f.groups[g].spread == 1]
                ids = m.variables(np.zeros(len(unspread)), np.ones(len(unspread)), integer)
                self.lost.update(zip(unspread, ids.tolist(), strict=True))


class Constraints:
    """Constraints (1)-(12) of ``docs/formulation.md``, one method each."""

    def __init__(self, m: _Arrays, f: Formulation, v: Variables) -> None:
        self.m, self.f, self.v = m, f, v

    def add_constraints(self) -> None:
        self._demand_input()  # (1)
        self._demand_output()  # (2)
        self._disaggregated_balance()  # (3)
        self._group_capacity()  # (4)-(6)
        if not self.v.routing_only:  # racks and replicas fixed: (7)-(12) hold already
            self._rack_packing()  # (7)
            self._inventory()  # (8)
            self._site_power()  # (9)
            self._spread()  # (10)
            if not self.v.elastic:  # valid only when all demand is served
                self._covers()  # (11)
            self._survive()  # (12)

    def _demand(self, side: int) -> None:
        """Rows ``sum of the side's flows + u = demand`` per commodity, for all active scenarios."""
        active = list(self.v.active)
        for k, arcs in enumerate(self.f.arcs_of_commodity):
            chosen = [a for a in arcs if self.f.arcs[a].role != ("decode", "prefill")[side]]
            columns = np.concatenate([self.v.flows[chosen].T, self.v.unserved[k][:, None]], axis=1)
            demand = self.f.demand[k, active]
            self.m.rows_of(columns, 1.0, demand, demand)

    def _demand_input(self) -> None:
        """(1) input-side requests (aggregated + prefill) plus unserved equal demand."""
        self._demand(0)

    def _demand_output(self) -> None:
        """(2) output-side requests (aggregated + decode) plus unserved equal demand."""
        self._demand(1)

    def _disaggregated_balance(self) -> None:
        """(3) a tenant's prefill and decode requests balance within each fleet entry."""
        for _, prefills, decodes in self.f.balance_rows():
            columns = np.concatenate([self.v.flows[prefills].T, self.v.flows[decodes].T], axis=1)
            signs = np.array([1.0] * len(prefills) + [-1.0] * len(decodes))
            self.m.rows_of(columns, signs, 0.0, 0.0)

    def _group_capacity(self) -> None:
        """(4) engine time, (5) KV memory, (6) KV transfer: each row within a group's replicas."""
        for g, per_request in self.f.capacity_rows():
            arcs = self.f.arcs_of_group[g]
            used = [i for i, c in enumerate(per_request) if c > 0]
            if not used:
                continue
            flows = self.v.flows[[arcs[i] for i in used]].T
            replicas = np.full((flows.shape[0], 1), self.v.replicas[g])
            coefficients = np.array([per_request[i] for i in used] + [-1.0])
            self.m.rows_of(np.concatenate([flows, replicas], axis=1), coefficients, -np.inf, 0.0)

    def _unplaced(self, g: int) -> list[tuple[int, float]]:
        """n_g - sum_m m w_{g,m}: replicas of unspread group g in racks holding no spread replica."""
        return [(int(self.v.replicas[g]), 1.0)] + [
            (self.v.alongside[(g, k)], -float(k)) for k in self.f.alongside_of.get(g, [])
        ]

    def _rack_packing(self) -> None:
        """(7) per pool and size level L: GPUs of unspread replicas >= L GPUs not placed beside
        spread ones within cap_L x the racks not holding spread groups."""
        for p, pool in enumerate(self.f.pools):
            shared_racks = [(int(self.v.racks[p]), 1.0)] + [
                (q, -float(k)) for (q_pool, k), q in self.v.spread_racks.items() if q_pool == p
            ]
            self.m.row(shared_racks, 0.0, np.inf)
            for size, groups in self.f.levels(p):
                gpus = [(c, a * self.f.groups[g].config.gpus) for g in groups for c, a in self._unplaced(g)]
                capacity = [(c, -a * pool.level_capacity(size)) for c, a in shared_racks]
                self.m.row(gpus + capacity, -np.inf, 0.0)

    def _inventory(self) -> None:
        """(8) racks of a fleet entry (shared and private pools) within max_racks."""
        for pools, max_racks in self.f.inventory():
            self.m.row([(int(self.v.racks[p]), 1.0) for p in pools], -np.inf, max_racks)

    def _site_power(self) -> None:
        """(9) provisioned power of a site's opened racks within its budget, kW."""
        for pools, budget_kw in self.f.site_power():
            self.m.row([(int(self.v.racks[p]), self.f.pools[p].kw) for p in pools], -np.inf, budget_kw)

    def _spread(self) -> None:
        """(10) a spread group's replicas are m x z; the z's, and the w's of unspread groups
        beside them, pack into q_{p,m} virtual racks by levels; n_g >= sum_m m w_{g,m}."""
        for g, per_rack in self.v.per_rack.items():
            self.m.row([(int(self.v.replicas[g]), 1.0), (per_rack, -float(self.f.groups[g].spread))], 0.0, 0.0)
        for g in sorted(self.f.alongside_of):
            self.m.row(self._unplaced(g), 0.0, np.inf)
        for (p, k), q in self.v.spread_racks.items():
            for size, groups in self.f.levels(p, k):
                terms = [
                    (self.v.per_rack[g] if self.f.groups[g].spread > 1 else self.v.alongside[(g, k)],
                     float(self.f.groups[g].config.gpus))
                    for g in groups
                ]
                self.m.row(terms + [(q, -float(self.f.pools[p].level_capacity(size)))], -np.inf, 0.0)

    def _survive(self) -> None:
        """(12) per failure event and covered commodity, failover flows v serve share x demand in
        every kept scenario within what the event leaves of each group (docs/formulation.md)."""
        f, v = self.f, self.v
        per_request: dict[int, list[dict[int, float]]] = defaultdict(list)  # group -> per family: arc -> c
        for g, coefficients in f.capacity_rows():
            per_request[g].append(dict(zip(f.arcs_of_group[g], coefficients, strict=True)))
        for e, event in enumerate(f.failure_events):
            terms: dict[int, list[tuple[int, np.ndarray]]] = defaultdict(list)  # group -> (arc, v ids by scenario)
            for k in event.commodities:
                arcs, ids = f.failover_arcs(event, k), v.failover[(e, k)]
                role = [f.arcs[a].role for a in arcs]
                inputs = [i for i, r in enumerate(role) if r != "decode"]
                share = f.representatives[k].survive_share
                self.m.rows_of(ids[inputs].T.reshape(len(f.scenarios), len(inputs)), 1.0, share * f.demand[k], np.inf)
                prefills = [i for i, r in enumerate(role) if r == "prefill"]
                decodes = [i for i, r in enumerate(role) if r == "decode"]
                if prefills or decodes:
                    signs = np.array([1.0] * len(prefills) + [-1.0] * len(decodes))
                    self.m.rows_of(np.concatenate([ids[prefills].T, ids[decodes].T], axis=1), signs, 0.0, 0.0)
                for i, a in enumerate(arcs):
                    terms[f.arcs[a].group].append((a, ids[i]))
            for g, flows in terms.items():
                group = f.groups[g]
                hit = event.kind == "rack" and group.pool in event.pools
                columns = np.stack([ids for _, ids in flows], axis=1)  # (scenarios, arcs)
                replicas = np.full((len(f.scenarios), 1), v.replicas[g])
                for family in per_request[g]:
                    c = np.array([family[a] for a, _ in flows])
                    if not hit:  # sum c v <= n_g
                        self.m.rows_of(np.concatenate([columns, replicas], axis=1), np.append(c, -1.0), -np.inf, 0.0)
                    elif group.spread > 1:  # a rack holds z_g = n_g / m_g: sum c v <= (1 - 1/m_g) n_g
                        keep = 1.0 - 1.0 / group.spread
                        self.m.rows_of(np.concatenate([columns, replicas], axis=1), np.append(c, -keep), -np.inf, 0.0)
                    else:  # sum c v <= n_g - c_g (1 - o_g)
                        lost = np.full((len(f.scenarios), 1), v.lost[g])
                        loss = float(f.rack_loss(g))
                        self.m.rows_of(np.concatenate([columns, replicas, lost], axis=1),
                                       np.concatenate([c, [-1.0, -loss]]), -np.inf, -loss)
                if hit and group.spread == 1:  # o_g = 1: no failover flow on g
                    bound = float(sum(f.demand[f.arcs[a].commodity].max() for a, _ in flows))
                    lost = np.full((len(f.scenarios), 1), v.lost[g])
                    self.m.rows_of(np.concatenate([columns, lost], axis=1), np.append(np.ones(len(flows)), bound),
                                   -np.inf, bound)

    def _covers(self) -> None:
        """(11) at least the replicas and racks a commodity's peak demand needs."""
        replicas, racks = self.f.covers
        for groups, least in replicas:
            self.m.row([(int(self.v.replicas[g]), 1.0) for g in groups], least, np.inf)
        for pools, least in racks:
            self.m.row([(int(self.v.racks[p]), 1.0) for p in pools], least, np.inf)


class Objective:
    """$/hour of opened racks, or scenario-weighted unserved tokens/s (first phase)."""

    def __init__(self, f: Formulation, v: Variables) -> None:
        self.f, self.v = f, v

    def coefficients(self, settings: Settings) -> dict[int, float]:
        """Column -> objective coefficient (minimised)."""
        if settings.objective == "cost":
            return {int(y): pool.usd_per_hour for y, pool in zip(self.v.racks, self.f.pools, strict=True)}
        weights = self.f.scenario_weights
        return {
            int(self.v.unserved[k, i]): weights[s] * float(self.f.token_weights[k])
            for k in range(len(self.f.commodities))
            for i, s in enumerate(self.v.active)
        }


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
        self.bound: float | None = None
        """the best bound the table has shown ($/hour)"""

    def __call__(self, lines: Sequence[str]) -> None:
        for line in lines:
            logger.debug("%s", line)
            match = _HIGHS_ROW.match(line) or _SCIP_ROW.match(line)
            if not match:
                continue
            bound = _number(match["bound"])
            if bound is not None:
                self.bound = bound if self.bound is None else max(self.bound, bound)
            if self.settings.progress is not None:
                self.settings.progress(_number(match["incumbent"]), bound, float(match["time"]))


def solve_mathopt(f: Formulation, settings: Settings, solver: str = "highs") -> BackendResult:
    """Solve ``f`` with MathOpt's ``solver`` ("highs" or "scip") under ``settings``."""
    start = time.perf_counter()
    arrays = _Arrays()
    variables = Variables(arrays, f, settings)
    Constraints(arrays, f, variables).add_constraints()
    proto = arrays.proto(f.instance.name, Objective(f, variables).coefficients(settings))
    params = mathopt.SolveParameters(
        time_limit=datetime.timedelta(seconds=max(0.01, settings.time_limit - (time.perf_counter() - start))),
        relative_gap_tolerance=settings.gap,
        absolute_gap_tolerance=1e-6,
        random_seed=settings.seed,
    )
    model_params = model_parameters_pb2.ModelSolveParametersProto()
    if settings.hint is not None:
        model_params.solution_hints.append(_hint(f, variables, arrays, settings.hint))
    log = _LogProgress(settings)
    if settings.relax_integrality or settings.fixed is not None:  # an LP: its time limit holds
        result = solve_in_process(proto, SOLVER_TYPES[solver].value, params.to_proto(), model_params, log)
    else:
        deadline = start + settings.time_limit + GUARD_GRACE_S + GUARD_GRACE_SHARE * settings.time_limit
        result = solve_in_child(proto, SOLVER_TYPES[solver].value, params.to_proto(), model_params, log, deadline)
    runtime = time.perf_counter() - start
    if result is None:
        logger.info("%s stopped at its time limit by the guard after %.1f s, bound %s", solver, runtime, log.bound)
        return BackendResult("no-solution", Limit.TIME, solution=None, objective=None, bound=log.bound,
                             runtime_s=runtime)
    termination = result.termination
    values = _primal_values(result, arrays.count)
    reduced = _reduced_costs(result, arrays.count) if settings.relax_integrality else None
    bound = termination.objective_bounds.dual_bound
    bound = bound if math.isfinite(bound) else None
    reason = termination.reason
    if reason == result_pb2.TERMINATION_REASON_OPTIMAL:
        outcome, limit = "optimal", (Limit.GAP if settings.gap > 0 else Limit.NONE)
    elif reason == result_pb2.TERMINATION_REASON_INFEASIBLE:
        outcome, limit, bound = "infeasible", Limit.NONE, None
    elif reason in (result_pb2.TERMINATION_REASON_FEASIBLE, result_pb2.TERMINATION_REASON_NO_SOLUTION_FOUND):
        outcome = "feasible" if values is not None else "no-solution"
        limit = Limit.TIME if termination.limit == result_pb2.LIMIT_TIME else Limit.INTERRUPTED
    else:
        raise RuntimeError(f"{solver} stopped: {termination}")
    return BackendResult(
        outcome=outcome,  # type: ignore[arg-type]
        limit=limit,
        solution=_solution(f, variables, values, settings, reduced) if values is not None else None,
        objective=result.solutions[0].primal_solution.objective_value if values is not None else None,
        bound=bound,
        runtime_s=runtime,
    )


def _primal_values(result: result_pb2.SolveResultProto, count: int) -> np.ndarray | None:
    """Every column's value in the first feasible primal solution, or None."""
    for candidate in result.solutions:
        primal = candidate.primal_solution
        if candidate.HasField("primal_solution") and primal.feasibility_status == solution_pb2.SOLUTION_STATUS_FEASIBLE:
            values = np.zeros(count)
            values[np.asarray(primal.variable_values.ids, dtype=np.int64)] = primal.variable_values.values
            return values
    return None


def _reduced_costs(result: result_pb2.SolveResultProto, count: int) -> np.ndarray | None:
    """Every column's reduced cost in the first dual solution, or None."""
    for candidate in result.solutions:
        if candidate.HasField("dual_solution"):
            reduced = candidate.dual_solution.reduced_costs
            values = np.zeros(count)
            values[np.asarray(reduced.ids, dtype=np.int64)] = reduced.values
            return values
    return None


def _solution(f: Formulation, v: Variables, values: np.ndarray, settings: Settings,
              reduced: np.ndarray | None = None) -> Solution:
    flows = np.zeros((len(f.arcs), len(f.scenarios)))
    flows[:, list(v.active)] = np.maximum(values[v.flows], 0.0)
    unserved = np.zeros((len(f.commodities), len(f.scenarios)))
    unserved[:, list(v.active)] = np.maximum(values[v.unserved], 0.0)
    if settings.fixed is not None:  # routing: racks and replicas as fixed (fractional after an LP)
        fixed = settings.fixed
        return Solution(racks=fixed.racks, replicas=fixed.replicas, flows=flows, unserved=unserved,
                        alongside=fixed.alongside)
    if settings.relax_integrality:  # the LP relaxation: fractional racks and replicas
        return Solution(racks=values[v.racks], replicas=values[v.replicas], flows=flows, unserved=unserved,
                        replica_reduced_costs=reduced[v.replicas] if reduced is not None else None)
    alongside = {key: count for key, w in v.alongside.items() if (count := round(values[w])) > 0}
    return Solution(
        racks=np.round(values[v.racks]).astype(int),
        replicas=np.round(values[v.replicas]).astype(int),
        flows=flows,
        unserved=unserved,
        alongside=alongside,
    )


def _hint(f: Formulation, v: Variables, arrays: _Arrays, hint: Solution) -> model_parameters_pb2.SolutionHintProto:
    """``hint`` as a MIP start, clipped to the variables' bounds (HiGHS refuses others); the
    solver repairs what that breaks."""
    values = np.zeros(arrays.count)
    values[v.racks] = hint.racks
    values[v.replicas] = hint.replicas
    for g, z in v.per_rack.items():
        values[z] = hint.replicas[g] // f.groups[g].spread
    needed = virtual_racks(f, hint.replicas, hint.alongside)
    for key, q in v.spread_racks.items():
        values[q] = needed[key]
    for key, w in v.alongside.items():
        values[w] = hint.alongside.get(key, 0)
    values[v.flows] = hint.flows[:, list(v.active)]
    values = np.clip(values, np.concatenate(arrays.lower), np.concatenate(arrays.upper))
    return model_parameters_pb2.SolutionHintProto(
        variable_values=sparse_containers_pb2.SparseDoubleVectorProto(
            ids=range(arrays.count), values=values.tolist()
        )
    )
