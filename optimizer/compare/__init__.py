"""Which architecture serves this tenant mix most cheaply, and why.

:func:`compare` builds variants of one instance, plans each with one method,
prices each with the one evaluator (:func:`optimizer.evaluate.evaluate`),
checks each with the one checker, and explains the winner from the figures
(:func:`explain`). The option sets (``options``):

- ``systems``: each system of the instance's fleet alone: its own entries of that
  system, with their inventory, prices and rack power caps, at the instance's sites
  and power budgets (what the provider may open); with ``unlimited_systems``, each
  catalog system alone at the instance's sites and budgets with unlimited racks at
  catalog prices and no rack power cap (a purchase what-if, labelled so in its name);
- ``fleet``: the instance's own mixed fleet, as written (the reference);
- ``aggregated``: the own fleet with aggregated engines only (no prefill/decode split);
- ``tenancy``: the own fleet with every tenant on engines of its own (the
  ``siloed`` heuristic: the value of pooling is its cost minus the reference's);
- ``isolation``: for each ``dedicated`` or ``dedicated-rack`` tenant, the own
  fleet with that tenant ``shared`` (its isolation's price is the reference's
  cost minus this one's);
- ``tco``: the own fleet priced at each other TCO basis (catalog prices; fleet
  price overrides kept).

``isolation`` and ``tco`` are measured against the own fleet, so ``fleet`` is planned
whenever either is asked for, and the verdict (the cheapest option) is the own fleet's.

An option that only lifts rules of others (the own fleet those of ``aggregated`` and of each
fleet system alone, a part of the fleet; each ``isolation`` variant those of the own fleet) is
planned after them and its MIP starts from their plans, so a time-limited run cannot price a
rule at less than nothing, nor find a part of the fleet cheaper than the whole.

The cheapest option is chosen among those that serve the same tenants on the
same terms at the instance's TCO basis (``systems``, ``fleet``, ``aggregated``,
``tenancy``); isolation and TCO variants change the question and are reported
beside it. A plan the checker rejects, or one that leaves demand unserved,
never wins.

Every option is planned at one ``confidence`` (default
:data:`~optimizer.performance.DEFAULT_CONFIDENCE`: each engine's capacity is the throughput it
reaches with that probability). With ``band`` (the default), the competing options are then
planned again at the two ends of the performance model's 80% interval: at confidence
:data:`PESSIMISTIC` (each engine at the 10% quantile of its band) and :data:`OPTIMISTIC` (the 90%
quantile), each starting from its plan at the run's confidence (the MIP sets a start aside where
it breaks the capacity rules of the other confidence), and :class:`BandVerdict` says which
conclusions hold across the band and which flip. That triples the planning time.
"""

from __future__ import annotations

from collections.abc import Sequence

from optimizer.executor import Executor
from optimizer.instance import Instance, InstanceError
from optimizer.performance import DEFAULT_CONFIDENCE
from optimizer.solve import DEFAULT_SOLVER

from .planning import (
    AGGREGATED,
    COMPETING,
    DEFAULT_OPTIONS,
    FLEET,
    OPTION_SETS,
    UNLIMITED,
    AggregatedOnly,
    Planner,
    Planning,
    PricedVariant,
    Variant,
    alone_name,
    at_tco_basis,
    judge,
    performance_model,
    plan_variants,
    registry_planner,
    run_variant,
    system_alone,
    variants,
    with_tenant_shared,
)
from .verdict import (
    BINDING_UTILISATION,
    CENT,
    CENTRAL,
    ENDS,
    OPTIMISTIC,
    PESSIMISTIC,
    SLO_FACTOR,
    STRANDED_SHARE,
    BandEnd,
    BandVerdict,
    Comparison,
    Contrast,
    band_verdict,
    cheapest,
    difference_proof,
    explain,
    proof,
    proven_cheaper,
    proven_optimal,
    rack_utilisation,
    ranked,
)

__all__ = [
    "AGGREGATED", "BINDING_UTILISATION", "CENT", "CENTRAL", "COMPETING", "DEFAULT_OPTIONS", "ENDS", "FLEET",
    "OPTIMISTIC", "OPTION_SETS", "PESSIMISTIC", "SLO_FACTOR", "STRANDED_SHARE", "UNLIMITED", "AggregatedOnly",
    "BandEnd", "BandVerdict", "Comparison", "Contrast", "Planner", "Planning", "PricedVariant", "Variant", "alone_name",
    "at_tco_basis", "band_verdict", "cheapest", "compare", "difference_proof", "explain", "judge",
    "performance_model", "plan_variants", "proof", "proven_cheaper", "proven_optimal", "rack_utilisation",
    "ranked", "registry_planner", "run_variant", "system_alone", "variants", "with_tenant_shared",
]


def compare(
    instance: Instance,
    options: Sequence[str] = DEFAULT_OPTIONS,
    time_limit: float = 30.0,
    systems: Sequence[str] | None = None,
    method: str = DEFAULT_SOLVER,
    unlimited_systems: bool = False,
    planner: Planner | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
    band: bool = True,
    executor: str = "local",
    workers: int = 1,
) -> Comparison:
    """Plan every variant of ``options`` at ``confidence`` and explain the cheapest (module docstring).

    ``time_limit`` is per variant and per point of the band, seconds; ``planner`` defaults to
    the method registry (:func:`registry_planner`). With ``band``, the competing options are
    planned again at :data:`PESSIMISTIC` and :data:`OPTIMISTIC` (:func:`band_verdict`), which
    triples the planning time of those options. Variants that do not wait for another's plan
    go to ``executor`` (:mod:`optimizer.executor`) ``workers`` at a time (``planner`` must then
    pickle); one worker (the default) plans them here one after another.

    Raises:
        InstanceError: an unknown option set or system, ``confidence`` outside (0, 1), or an
            unknown executor.
    """
    if not 0 < confidence < 1:
        raise InstanceError([("confidence", f"out of range: {confidence} (must lie strictly between 0 and 1)")])
    pool = Executor(executor, workers)
    planner = planner or registry_planner()
    chosen = variants(instance, options, systems, method, unlimited_systems)
    with pool:
        done = plan_variants(chosen, Planning(time_limit, planner, confidence), pool)
        outcomes = ranked(done[v.name] for v in chosen)
        winner = cheapest(outcomes)
        verdict = band_verdict(outcomes, time_limit, planner, confidence, pool) if band else None
    return Comparison(instance, outcomes, winner, tuple(explain(instance, outcomes, winner, verdict)),
                      confidence, verdict)


