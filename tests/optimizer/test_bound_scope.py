"""What a bound holds over (``Result.bound_scope``) and who proved it (``Result.bound_solver``):
docs/formulation.md, "What the bound covers"."""

from __future__ import annotations

from dataclasses import replace

import pytest

from mip_fixtures import TWO_PEAKS, make
from repo_paths import EXAMPLES

from optimizer.cli.solve import render
from optimizer.instance import load_instance
from optimizer.performance import PerformanceModel
from optimizer.result import Limit, Result, Status
from optimizer.solve import MAX_ARCS_PER_ROLE, solve
from solvers.heuristics import pooled
from solvers.mip import run
from solvers.mip.formulation import build_formulation

TIME_LIMIT_S = 10.0


def test_tiny_bound_holds_over_every_candidate() -> None:
    """tiny: the shortlist keeps 6 of the 50 configurations the performance model offers
    acme-chat, and its bound still holds over all 50: one hgx-b200 rack of 32 GPUs at
    $1.95/GPU-hour is the least any plan opens, $62.40/h, the optimum over every candidate."""
    tiny = load_instance(EXAMPLES / "tiny.toml")
    performance = PerformanceModel(tiny)
    shortlist = build_formulation(tiny, performance, max_arcs_per_role=MAX_ARCS_PER_ROLE)
    every = build_formulation(tiny, performance)
    assert len(shortlist.arcs) < len(every.arcs)  # the shortlist left candidates out
    everything = solve(tiny, time_limit=TIME_LIMIT_S, max_arcs_per_role=None, performance=performance)
    result = solve(tiny, time_limit=TIME_LIMIT_S, performance=performance)
    assert everything.objective == pytest.approx(62.4) and result.objective == pytest.approx(62.4)
    assert (result.bound_scope, result.bound_solver) == ("all", "highs")
    assert result.bound is not None and result.bound <= everything.objective + 1e-6
    assert result.to_dict(include_plan=False)["bound_scope"] == "all"


def test_survive_bound_over_all_is_the_lp_without_time_for_the_mip(monkeypatch: pytest.MonkeyPatch) -> None:
    """survive.toml: the shortlist's MIP proves $187.20/h (3 hgx-b200 racks, tests/optimizer/test_solve.py)
    but holds over the shortlist only. Over every candidate the LP relaxation proves less
    ($62.98/h, measured): the bound reported is that one, below the shortlist's, and the plan
    is no longer called optimal, but the shortlist's $187.20/h is reported beside it
    (``shortlist_bound``). Given time, the MIP over every candidate proves $187.20/h."""
    survive = load_instance(EXAMPLES / "survive.toml")
    performance = PerformanceModel(survive)
    proven = solve(survive, time_limit=TIME_LIMIT_S, gap=0.0, performance=performance)
    assert (proven.status, proven.bound_scope, proven.bound_solver) == (Status.OPTIMAL, "all", "highs")
    assert proven.objective == pytest.approx(187.2) and proven.bound == pytest.approx(187.2)

    monkeypatch.setattr(run, "BUDGET", replace(run.BUDGET, whole_mip=2.0))  # never time left for the MIP over all
    lp_only = solve(survive, time_limit=TIME_LIMIT_S, gap=0.0, performance=performance)
    monkeypatch.setattr(run, "SIZES", replace(run.SIZES, every_candidate_max_tenants=0))  # no bound over all attempted
    shortlist = solve(survive, time_limit=TIME_LIMIT_S, gap=0.0, performance=performance)
    assert shortlist.bound_scope == "shortlist" and shortlist.bound == pytest.approx(187.2)
    assert lp_only.bound_scope == "all" and lp_only.bound is not None
    assert lp_only.bound < shortlist.bound - 1.0
    assert (lp_only.status, lp_only.limit) == (Status.FEASIBLE, Limit.NONE)
    assert lp_only.objective == pytest.approx(187.2)
    # the shortlist's proof travels beside the weaker one over all: gap 0 over what was searched
    assert lp_only.shortlist_bound == pytest.approx(187.2) and lp_only.shortlist_gap == pytest.approx(0.0)
    assert lp_only.to_dict(include_plan=False)["shortlist_gap"] == pytest.approx(0.0)
    assert "over the shortlist searched: bound $187.20/h, gap 0.00%" in render(lp_only, None)
    assert proven.shortlist_bound is None and shortlist.shortlist_bound is None  # nothing stronger to show


def test_a_run_whose_solver_never_answers_keeps_the_fluid_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """No LP relaxation nor MIP returns (each stops at its time limit without a solution): the
    warm start's plan still comes with a bound, the fluid bound: $35/h on TWO_PEAKS
    (mip_fixtures; tests/solvers/mip/test_formulation.py), over all candidates (its one profile
    leaves the shortlist nothing to leave out). The warm start finds the optimum: 35 1-GPU replicas serve both scenarios,
    5 racks of 8 GPUs at $1/GPU-hour, $40/h."""

    def no_answer(f, settings, solver="highs"):  # type: ignore[no-untyped-def]
        return run.BackendResult("no-solution", Limit.TIME, None, None, None, settings.time_limit)

    monkeypatch.setattr(run, "solve_mathopt", no_answer)
    result = solve(make(TWO_PEAKS), time_limit=TIME_LIMIT_S)
    assert (result.status, result.limit) == (Status.FEASIBLE, Limit.TIME)
    assert (result.bound_scope, result.bound_solver) == ("all", run.FLUID_BOUND)
    assert (result.objective, result.bound) == (pytest.approx(40.0), pytest.approx(35.0))


def test_heuristics_have_no_bound_scope() -> None:
    result = pooled(load_instance(EXAMPLES / "tiny.toml"), time_limit=TIME_LIMIT_S)
    assert result.bound is None and result.bound_scope is None and result.bound_solver is None


def test_the_summary_line_says_what_the_bound_covers() -> None:
    shortlist = Result("highs", Status.FEASIBLE, Limit.TIME, 10.0, 9.0, 1.0, bound_scope="shortlist", bound_solver="scip")
    assert "bound $9.00/h over the shortlist only (scip), gap 10.00%" in render(shortlist, None)
    every = Result("highs", Status.FEASIBLE, Limit.TIME, 10.0, 9.0, 1.0, bound_scope="all", bound_solver="highs")
    assert "bound $9.00/h over all candidates (highs)" in render(every, None)
