"""How a MIP run spends its time limit and which models it solves how: the whole budget in one place.

A run (:mod:`solvers.mip.run`) has five phases: the warm start, the LP relaxation by scenario
generation (with the bound over every candidate), the LP-guided rounds, the whole MIP, and
routing (inside the others). :class:`TimeBudget` gives each its share; :class:`ModelSize` says
which models are solved whole, shortlisted or given a bound over every candidate. Why each value
is what it is: ``docs/decisions.md``, "The MIP run's budget and phases".
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TimeBudget:
    """Shares of a run's time limit ``T`` (seconds) per phase.

    The warm start runs first, within ``T``; the solve phases then share the *solve time*
    ``S = (1 - finish) T - finish_per_check x (longest check of a warm-start plan) - (warm start's
    seconds)``, so the plans found last are still priced and checked within ``T``.
    """

    warm_start: float = 0.1
    """share of ``T`` within which the optional heuristics of the warm start may start"""
    finish: float = 0.05
    """share of ``T`` kept for turning solutions into priced, checked plans"""
    finish_per_check: float = 8.0
    """multiple of the warm start's longest check (seconds) kept besides ``finish``"""
    lp: float = 0.3
    """share of ``S`` within which the LP relaxation's rounds may start, when a whole MIP follows"""
    lp_generated: float = 0.5
    """the same when the MIP is solved by scenario generation (no whole MIP follows)"""
    every_candidate: float = 0.2
    """share of ``S`` within which the LP relaxation over every candidate's rounds may start"""
    lp_guided: float = 0.3
    """share of ``S`` the LP-guided rounds may use when a whole MIP follows (else all that is left)"""
    whole_mip: float = 0.1
    """least share of ``S`` left for a whole MIP to be attempted; and of ``T``, after the warm
    start, for the model to be built at all"""
    scenario_round: float = 0.5
    """share of the time left one round of a MIP's scenario generation may use while scenarios
    are missing"""

    def warm_start_s(self, limit_s: float) -> float:
        """Seconds within which optional warm-start heuristics may start."""
        return self.warm_start * limit_s

    def heuristics_s(self, limit_s: float) -> float:
        """Seconds by which every warm-start heuristic stops."""
        return (1 - self.finish) * limit_s

    def builds_model(self, limit_s: float, elapsed_s: float) -> bool:
        """Whether, ``elapsed_s`` into the run, the model is still worth building."""
        return elapsed_s <= self.build_by_s(limit_s)

    def build_by_s(self, limit_s: float) -> float:
        """Seconds into the run past which a model still being built is given up."""
        return (1 - self.whole_mip) * limit_s

    def solve_s(self, limit_s: float, elapsed_s: float, check_s: float) -> float:
        """The solve time ``S`` (seconds, at least 0.1) after a warm start of ``elapsed_s``
        seconds whose longest check took ``check_s``."""
        return max(0.1, (1 - self.finish) * limit_s - self.finish_per_check * check_s - elapsed_s)

    def lp_share(self, whole: bool) -> float:
        """Share of ``S`` for the LP relaxation's rounds (``whole``: a whole MIP follows)."""
        return self.lp if whole else self.lp_generated

    def lp_guided_share(self, whole: bool) -> float:
        """Share of ``S`` for the LP-guided rounds (``whole``: a whole MIP follows)."""
        return self.lp_guided if whole else 1.0

    def whole_mip_fits(self, left_s: float, solve_s: float) -> bool:
        """Whether ``left_s`` of the solve time ``solve_s`` is enough to attempt a whole MIP."""
        return left_s >= self.whole_mip * solve_s


@dataclass(frozen=True)
class ModelSize:
    """Model sizes (tenants, flow variables = arcs x scenarios) that decide how a run solves."""

    generate_scenarios_above: int = 200_000
    """flow variables above which a MIP's scenarios are generated rather than all modelled"""
    whole_flows_per_second: int = 2_000
    """... or above this many per second of the time limit"""
    shortlist_entries_above: int = 200
    """tenants above which each tenant keeps only its cheapest ``entries_per_tenant`` fleet entries"""
    entries_per_tenant: int = 3
    scenarios_per_round: int = 2
    """scenarios a MIP's scenario generation adds per round (those leaving most tokens unserved)"""
    lp_scenarios_per_round: int = 4
    """the same for the LP relaxation, whose rounds are cheaper"""
    every_candidate_max_tenants: int = 200
    """tenants above which no bound over every candidate is attempted"""
    every_candidate_flows_per_second: int = 20_000
    """flow variables per second of the LP over every candidate's share above which it is not attempted"""
    every_candidate_growth: int = 4
    """about the least ratio of flow variables over every candidate to the shortlist's where this
    guard decides: a shortlist whose flows times this exceed the LP's budget is not widened at
    all. With dominated groups left out (E7) the ratio is 4.6-5.3 on the medium set and 1.7-2.9
    on the small one (measured at d05500d), whose models over every candidate fit anyway."""

    def generates_scenarios(self, flows: int, limit_s: float) -> bool:
        """Whether a MIP of ``flows`` flow variables under a ``limit_s``-second run is solved by
        scenario generation."""
        return flows > min(self.generate_scenarios_above, self.whole_flows_per_second * limit_s)

    def shortlists_entries(self, tenants: int) -> bool:
        return tenants > self.shortlist_entries_above
