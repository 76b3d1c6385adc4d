"""MIP solves in a child process (solvers.mip.guard) and what the LP hands the LP-guided MIP."""

from __future__ import annotations

import numpy as np
import pytest
from mip_fixtures import make, tenant

from optimizer.instance import load_instance
from optimizer.result import Limit
from solvers.mip import mathopt
from solvers.mip.backend import Settings
from solvers.mip.formulation import build_formulation
from solvers.mip.mathopt import solve_mathopt


def test_a_mip_solved_in_the_child_process_returns_its_plan_and_bound() -> None:
    # 0.3 requests/s need 0.6 of a 1-GPU replica: one replica in one 8-GPU rack at $1/GPU-hour, $8/h
    f = build_formulation(make([tenant("a", 0.3)]))
    result = solve_mathopt(f, Settings(time_limit=10, gap=0.0, threads=1, seed=0))
    assert (result.outcome, result.objective, result.bound) == ("optimal", pytest.approx(8.0), pytest.approx(8.0))
    assert result.solution is not None and result.solution.racks.tolist() == [1]


def test_a_mip_past_its_deadline_is_stopped_with_no_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mathopt, "GUARD_GRACE_S", -60.0)  # the child is killed as soon as it starts
    f = build_formulation(make([tenant("a", 0.3)]))
    result = solve_mathopt(f, Settings(time_limit=10, gap=0.0, threads=1, seed=0))
    assert (result.outcome, result.limit, result.solution) == ("no-solution", Limit.TIME, None)
    assert result.runtime_s < 5


def test_the_lp_relaxation_carries_reduced_costs_of_its_replicas() -> None:
    # LP optimality (minimising, replicas >= 0): every reduced cost >= 0, and 0 on a group the LP
    # uses below its bound; the widening of the LP-guided MIP ranks the unused groups by them
    f = build_formulation(load_instance("instances/examples/enterprise-mix.toml"), max_arcs_per_role=2)
    lp = solve_mathopt(f, Settings(time_limit=30, gap=0.0, threads=1, seed=0, relax_integrality=True))
    reduced = lp.solution.replica_reduced_costs
    assert reduced is not None and reduced.shape == (len(f.groups),)
    assert reduced.min() >= -1e-6 and (reduced > 1e-6).any()
    used = (lp.solution.replicas > 1e-9) & (lp.solution.replicas < np.array([g.max_replicas for g in f.groups]))
    assert used.any() and np.abs(reduced[used]).max() <= 1e-6
