"""Baseline planners: ``siloed``, ``pooled`` and ``pooled-aggregated``.

What operators do today, as plans the checker accepts; they bound every
benchmark table and warm-start the MIP. All three share one pipeline:

1. **Units.** Tenants are grouped into units, each served by engines of its own:
   ``siloed`` makes one unit per tenant; ``pooled`` one per (model, precision,
   latency class, residency), where the latency class is a tier of the tenants'
   (interactivity, TTFT) promises (:func:`latency_class`) and each tenant takes
   the cheapest precision it allows, then merges neighbouring classes while the
   merged pool is cheaper; ``dedicated`` and ``dedicated-rack`` tenants always
   form units of their own (and, in ``pooled-spread-apart``, the MIP's warm start,
   tenants with ``min_racks`` > 1).
2. **Design.** For every (system, precision) a unit may use, the cheapest engine
   set in GPU-hours meeting every member's SLO (``meets_slo``): one aggregated
   configuration, or (``siloed`` and ``pooled``) a prefill + decode pair where
   that is cheaper. Replicas are sized for the peak scenario of the members'
   summed demand, each request charged the larger of its engine time and its
   share of KV memory (and, for decode, of the scale-out bandwidth its KV needs,
   so no pair depends on sharing an NVLink domain). A unit with ``min_racks`` =
   k gets at least k replicas per role.
3. **Placement.** Units, those pinned to fewer sites first, then biggest
   engines first, take the cheapest (site, system, precision) option that fits:
   replicas go first-fit into the NVLink domains of opened racks
   (:class:`optimizer.packing.RackPacker`), new racks are opened as needed,
   within rack GPUs, rack power, inventory (``max_racks``) and site power;
   ``dedicated-rack`` units open racks of their own; a unit with ``min_racks``
   = k puts at most 1/k of each role's replicas in one rack. A pool that fits
   nowhere is split into single tenants; a tenant that fits nowhere is reported
   with the reason.
4. **Routing.** Per scenario, tenants with ``min_racks`` = k > 1 take at most
   1/k of their demand from each of their unit's engine groups, group after
   group (in proportion to replicas when that does not fit); the others fill the
   remaining capacity group by group, so each tenant touches few groups.

The result is priced by :func:`optimizer.evaluate.evaluate`. Every step is
deterministic; ``seed`` and ``threads`` are accepted for the common method signature
and not needed. ``time_limit`` holds: the designs (where the time goes: the performance
model's answers for every unit, system and precision) check the clock, and a run out of
time returns no plan, limit ``TIME``.
"""

from .design import INTERACTIVITY_TIERS, TTFT_TIERS_S, latency_class
from .placement import Baseline, pooled, pooled_aggregated, pooled_spread_apart, siloed

__all__ = ["INTERACTIVITY_TIERS", "TTFT_TIERS_S", "Baseline", "latency_class", "pooled", "pooled_aggregated",
           "pooled_spread_apart", "siloed"]
