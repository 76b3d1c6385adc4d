"""Figures of tenantplan's results: instances, plans and evaluations turned into chart data.

Every number drawn here comes from the performance model, the plan, the plan's
usage (:class:`~optimizer.usage.PlanUsage`) or the evaluator's
:class:`~optimizer.evaluate.Report`; nothing is priced twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from optimizer.catalog import PRECISIONS, Precision, builtin_models, builtin_systems
from optimizer.evaluate import Report
from optimizer.instance import Instance
from optimizer.packing import domain_gpus, pack_into_domains
from optimizer.instance import Role
from optimizer.plan import Plan, Rack
from optimizer.report.svg import (
    PALETTE,
    Bar,
    Guide,
    RackCells,
    Series,
    grouped_bar_chart,
    line_chart,
    rack_map,
    shaded,
    stacked_bar_chart,
)
from optimizer.usage import PlanUsage


def engine_category(model: str, precision: str, role: str) -> str:
    """The colour key of an engine in the rack map: model, precision and role."""
    return f"{model} {precision} {role}"


def _catalog_order(names: Iterable[str], catalog: Iterable[str]) -> list[str]:
    """The built-in catalog's ids in its order, then the other ``names`` by name: an order the same in every report."""
    order = list(catalog)
    return order + sorted(set(names) - set(order))


def system_colours(systems: Iterable[str]) -> dict[str, str]:
    """One colour per system, the same in every report: the palette at its place in the catalog."""
    systems = list(systems)
    order = _catalog_order(systems, builtin_systems())
    return {s: PALETTE[order.index(s) % len(PALETTE)] for s in systems}


ROLES: tuple[Role, ...] = ("aggregated", "prefill", "decode")
SHADES = (0.0, 0.45, -0.35, 0.7, -0.6, 0.25, -0.2, 0.85, -0.8)
"""Per (precision, role) of one model: how far its colour moves from the model's toward white (+) or black (-)."""


def engine_colours(engines: Iterable[tuple[str, Precision, Role]]) -> dict[str, str]:
    """One colour per (model, precision, role) engine category (:func:`engine_category`), the same in every
    report: the model's palette colour at its place in the catalog, shaded by precision and role."""
    engines = list(dict.fromkeys(engines))
    models = _catalog_order((m for m, _, _ in engines), builtin_models())
    colours = {}
    for model, precision, role in engines:
        base = PALETTE[models.index(model) % len(PALETTE)]
        shade = SHADES[PRECISIONS.index(precision) * len(ROLES) + ROLES.index(role)]
        colours[engine_category(model, precision, role)] = shaded(base, shade)
    return colours


def rack_cells(instance: Instance, rack: Rack) -> RackCells:
    """Each GPU slot of ``rack`` with the engine replica in it, domain by domain (None = stranded).

    Replicas are placed into NVLink domains with the same first-fit-decreasing
    packing the checker and the planners use; a rack whose replicas do not pack
    (a plan the checker rejects) is drawn in plan order.
    """
    system = instance.system(rack.system)
    try:
        rack_gpus = instance.gpus_per_rack(instance.fleet_entry(rack.site, rack.system))
    except KeyError:
        rack_gpus = system.gpus_per_rack
    domain = domain_gpus(system, rack_gpus)
    replicas = [(group, k) for group in rack.engines for k in range(group.count)]
    sizes = [group.gpus for group, _ in replicas]
    placement = pack_into_domains(sizes, rack_gpus, domain)
    if placement is None:
        placement = [list(range(len(replicas)))]
    cells: list[tuple[str, str] | None] = []
    for d, indices in enumerate(placement):
        domain_start = d * domain
        for index in indices:
            group, k = replicas[index]
            tip = (f"{group.id} replica {k + 1}/{group.count}, {group.gpus} GPUs, "
                   f"TP{group.parallelism.tp} EP{group.parallelism.ep}")
            cells.extend([(engine_category(group.model, group.precision, group.role), tip)] * group.gpus)
        domain_end = min(domain_start + domain, rack_gpus)
        cells.extend([None] * max(0, domain_end - len(cells)))
    cells.extend([None] * max(0, rack_gpus - len(cells)))
    return RackCells(rack.id, tuple(cells), domain, f"{rack.system} at {rack.site}")


def rack_map_figure(instance: Instance, plan: Plan, title: str) -> str:
    """Every opened rack of ``plan``, its GPUs coloured by model, precision and role (:func:`engine_colours`)."""
    racks = [rack_cells(instance, rack) for rack in plan.racks]
    stranded = sum(1 for rack in racks for cell in rack.cells if cell is None)
    total = sum(len(rack.cells) for rack in racks)
    colours = engine_colours(sorted((g.model, g.precision, g.role) for rack in plan.racks for g in rack.engines))
    return rack_map(
        title, racks, colours,
        description=f"{len(racks)} racks, {total} GPUs paid for, {stranded} stranded (no engine on them)",
    )


def cost_bars_figure(rows: Sequence[tuple[str, Report, str, float | None]], title: str,
                     colours: Mapping[str, str]) -> str:
    """$/Mtok of each (label, report, note, bound $/hour or None), stacked by system.

    A system's segment is its racks' $/hour over the option's total Mtok/hour,
    so the segments add up to the option's $/Mtok; a bound is drawn as a whisker
    down to the bound's $/Mtok (the best plan of the option costs no less).
    """
    bars = []
    for label, report, note, bound in rows:
        if report.usd_per_mtok is None:  # no tokens served
            continue
        segments = tuple((s.name, s.usd_per_plan_mtok or 0.0) for s in report.systems)
        price = f"${report.usd_per_mtok:.3g}"
        bars.append(Bar(label, segments, f"{price} {note}" if note else price,
                        None if bound is None else report.usd_per_mtok_of(bound)))
    return stacked_bar_chart(title, "$ per million tokens (input + output)", bars, colours=colours,
                             description="Cost per million tokens of each option, split by the system its racks are; "
                             "whiskers reach down to what the option's bound proves")


def demand_capacity_figure(instance: Instance, plan: Plan, usage: PlanUsage, title: str) -> str:
    """Per scenario, in GPUs: engine time the demand uses, GPUs in engines, GPUs paid for.

    Demand is ``sum over engine groups of replica-seconds per second used x GPUs
    per replica`` (the shared load model); the gap to GPUs in engines is
    headroom, the gap to GPUs paid for adds stranded GPUs.
    """
    groups = [group for rack in plan.racks for group in rack.engines]
    in_engines = sum(g.gpus * g.count for g in groups)
    paid = sum(usage.rack_gpus(rack) for rack in plan.racks)
    busy = [
        sum(usage.time_used(g.id, s) * g.gpus for g in groups if usage.resolvable(g.id))
        for s in range(instance.num_scenarios)
    ]
    labels = [f"s{s}" for s in range(instance.num_scenarios)]
    return grouped_bar_chart(
        title, "GPUs", labels,
        [("GPUs busy serving demand", busy), ("GPUs in engines", [float(in_engines)] * len(labels)),
         ("GPUs paid for", [float(paid)] * len(labels))],
        description="Demand in GPU-equivalents per scenario against the capacity the plan holds",
    )


def throughput_figure(
    curves: Sequence[tuple[str, Sequence[tuple[float, float]]]],
    slos: Sequence[tuple[str, float]],
    title: str,
    colours: Mapping[str, str],
) -> str:
    """Tokens/s per GPU against tokens/s per user, one curve per system, tenants' SLOs as guides."""
    return line_chart(
        title, "interactivity, tokens/s per user", "tokens/s per GPU (input + output)",
        [Series(name, tuple(points)) for name, points in curves if points],
        guides=[Guide(label, x=x) for label, x in slos], colours=colours,
        description="Throughput per GPU against interactivity (the Pareto frontier of the "
        "performance model's operating points); dashed red lines are tenants' interactivity promises",
    )
