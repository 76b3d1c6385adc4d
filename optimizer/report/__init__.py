"""Reports people read: a self-contained HTML page with inline SVG figures, and the figures as files.

:func:`write_report` writes the report of one plan (``tenantplan solve ... --report DIR``);
:func:`write_comparison_report` the report of a comparison (``tenantplan compare ... --out DIR``).
Both write ``report.html`` and one ``<figure>.svg`` per figure, each file atomically.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from optimizer.compare import CENT, Comparison, PricedVariant, proven_cheaper, proven_optimal, rack_utilisation
from optimizer.evaluate import Report, evaluate, report_of, usd_per_mtok_of_gpu
from optimizer.instance import FleetEntry, Instance
from optimizer.performance import PerformanceModel
from optimizer.performance.estimate import query_key
from optimizer.performance.frontier import FRONTIER_INTERACTIVITY
from optimizer.performance.pareto import pareto_indices
from optimizer.plan import Plan, SolveRecord, percent
from optimizer.report.figures import (
    cost_bars_figure,
    demand_capacity_figure,
    rack_map_figure,
    system_colours,
    throughput_figure,
)
from optimizer.report.html import Figure, Paragraph, Section, Table, write_page
from optimizer.report.svg import Guide, Series, line_chart
from optimizer.report.text import NO_RECORD, RACK_HEADER, SUBTOTAL_HEADER, proof_rows, rack_rows, subtotal_rows
from optimizer.report.why import tenant_reasons
from optimizer.result import Limit, Result
from optimizer.usage import PlanUsage

__all__ = ["band_table", "cost_interactivity_figures", "frontier_curve", "options_table", "shape_curves",
           "throughput_figures", "write_comparison_report", "write_report"]


# -- the throughput-interactivity figure --------------------------------------------------


def frontier_curve(
    performance: PerformanceModel, model: str, system: str, precisions: Iterable[str], isl: int, osl: int
) -> list[tuple[float, float]]:
    """(tokens/s per user, tokens/s per GPU) corners of the best any of ``precisions`` and either
    serving mode (aggregated, disaggregated) reaches on ``system``, fastest first.

    The estimator's answers (``performance.estimator``: what ``tenantplan perf`` answers and
    the planner plans on, before its confidence); empty when the model fits nowhere on the system.
    """
    points: list[tuple[float, float]] = []
    for precision in precisions:
        if performance.models[model].weights_gb(precision) is None:  # type: ignore[arg-type]
            continue
        for mode in ("agg", "disagg"):
            key = query_key(model, system, precision, isl, osl, mode)  # type: ignore[arg-type]
            answers = performance.estimator.estimate(key, FRONTIER_INTERACTIVITY, configurations=False)
            points += [(float(x), a.tput_per_gpu) for x, a in zip(FRONTIER_INTERACTIVITY, answers, strict=True) if a]
    kept = [points[i] for i in pareto_indices([(y, x) for x, y in points])]
    return sorted(set(kept), reverse=True)


def _slo_guides(instance: Instance, model: str, isl: int, osl: int) -> list[tuple[str, float]]:
    """One guide per distinct interactivity promise among the tenants of ``model`` at this request shape, naming them."""
    names: dict[float, list[str]] = defaultdict(list)
    for tenant in instance.tenants:
        if (tenant.model, tenant.input_tokens, tenant.output_tokens) == (model, isl, osl):
            names[tenant.min_tokens_per_s_per_user].append(tenant.name)
    guides = []
    for x, who in sorted(names.items()):
        label = ", ".join(who[:2]) + (f" +{len(who) - 2}" if len(who) > 2 else "")
        guides.append((f"{label} ({x:g})", x))
    return guides


@dataclass(frozen=True)
class ShapeCurves:
    """The frontier of every system for the tenants of one model sending one request shape."""

    model: str
    isl: int
    osl: int
    precisions: tuple[str, ...]
    curves: dict[str, tuple[tuple[float, float], ...]]
    """(tokens/s per user, tokens/s per GPU) corners per system (:func:`frontier_curve`)"""


def shape_curves(instance: Instance, systems: Sequence[str], performance: PerformanceModel) -> list[ShapeCurves]:
    """One :class:`ShapeCurves` per (model, request shape) of the tenants, models in order of appearance."""
    models = list(dict.fromkeys(t.model for t in instance.tenants))
    shapes = {(t.model, t.input_tokens, t.output_tokens) for t in instance.tenants}
    found = []
    for model, isl, osl in sorted(shapes, key=lambda shape: (models.index(shape[0]), shape[1:])):
        precisions = tuple(dict.fromkeys(
            p for t in instance.tenants if (t.model, t.input_tokens, t.output_tokens) == (model, isl, osl)
            for p in instance.allowed_precisions(t)))
        curves = {system: tuple(frontier_curve(performance, model, system, precisions, isl, osl)) for system in systems}
        found.append(ShapeCurves(model, isl, osl, precisions, curves))
    return found


def _shared_lines(curves: dict[str, tuple[tuple[float, float], ...]]) -> list[tuple[str, list[tuple[float, float]], str]]:
    """(label, points, first system) per distinct curve: systems with one curve share a line ('a = b')."""
    same: dict[tuple[tuple[float, float], ...], list[str]] = {}
    for system, points in curves.items():
        same.setdefault(points, []).append(system)
    return [(" = ".join(names), list(points), names[0]) for points, names in same.items()]


def throughput_figures(instance: Instance, systems: Sequence[str], performance: PerformanceModel,
                       shapes: Sequence[ShapeCurves] | None = None) -> list[Figure]:
    """One throughput-vs-interactivity figure per (model, request shape) of the tenants, with the
    promises of the tenants of that model and shape only."""
    colours = system_colours(systems)
    found = []
    for shape in shapes if shapes is not None else shape_curves(instance, systems, performance):
        lines = _shared_lines(shape.curves)
        svg = throughput_figure([(label, points) for label, points, _ in lines],
                                _slo_guides(instance, shape.model, shape.isl, shape.osl),
                                f"{shape.model}, {shape.isl} in / {shape.osl} out: tokens/s per GPU vs interactivity",
                                {label: colours[first] for label, _, first in lines})
        found.append(Figure(
            f"throughput-{shape.model}-{shape.isl}-{shape.osl}", svg,
            f"Best tokens/s per GPU the estimator answers (measured where measured) over the precisions "
            f"{', '.join(shape.precisions)} and both serving modes; red dashed lines: the interactivity promises of "
            f"the {shape.model} tenants sending {shape.isl} input and {shape.osl} output tokens per request.",
        ))
    return found


def usd_per_gpu_hour(instance: Instance, system: str) -> float:
    """What a GPU of ``system`` costs this instance per hour: its cheapest fleet entry's price (overrides
    included), else the catalog's at the instance's TCO basis."""
    entries = [e for e in instance.fleet if e.system == system] or [FleetEntry(system=system, site=instance.sites[0].name)]
    return min(instance.usd_per_gpu_hour(e) for e in entries)


def priced_curves(instance: Instance, shape: ShapeCurves) -> dict[str, tuple[str, tuple[tuple[float, float], ...]]]:
    """Per system, labelled with its price: (system, (tokens/s per user, $/Mtok) points) of its frontier at
    :func:`usd_per_gpu_hour` (the evaluator's $/Mtok of one GPU)."""
    priced = {}
    for system, points in shape.curves.items():
        price = usd_per_gpu_hour(instance, system)
        priced[f"{system} (${price:.2f}/GPU-h)"] = (system, tuple(
            (x, cost) for x, y in points if (cost := usd_per_mtok_of_gpu(price, y)) is not None))
    return priced


def cost_interactivity_figures(instance: Instance, systems: Sequence[str], performance: PerformanceModel,
                               shapes: Sequence[ShapeCurves] | None = None) -> list[Figure]:
    """InferenceX's view: $/Mtok against interactivity per (model, request shape) of the tenants, each
    system at the instance's own $/GPU-hour (:func:`usd_per_gpu_hour`), the shape's promises marked."""
    colours = system_colours(systems)
    found = []
    for shape in shapes if shapes is not None else shape_curves(instance, systems, performance):
        priced = priced_curves(instance, shape)
        system_of = {label: system for label, (system, _) in priced.items()}
        lines = _shared_lines({label: points for label, (_, points) in priced.items()})
        svg = line_chart(
            f"{shape.model}, {shape.isl} in / {shape.osl} out: $/Mtok vs interactivity",
            "interactivity, tokens/s per user", "$ per million tokens (input + output)",
            [Series(label, tuple(points)) for label, points, _ in lines if points],
            guides=[Guide(label, x=x) for label, x in _slo_guides(instance, shape.model, shape.isl, shape.osl)],
            colours={label: colours[system_of[first]] for label, _, first in lines},
            description="Cost per million tokens of the best operating point at each interactivity, at the "
            "instance's own $/GPU-hour; dashed red lines are the tenants' interactivity promises",
        )
        found.append(Figure(
            f"usd-per-mtok-{shape.model}-{shape.isl}-{shape.osl}", svg,
            f"The throughput frontier above priced at this instance's $/GPU-hour per system (its cheapest fleet "
            f"entry, else the catalog at its TCO basis): $/Mtok = $/GPU-hour / (tokens/s per GPU x 3,600 / 10^6), "
            f"before utilisation and stranding; red dashed lines: the promises of the {shape.model} tenants "
            f"sending {shape.isl} in / {shape.osl} out.",
        ))
    return found


# -- shared sections --------------------------------------------------------------------------


def _money(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"${value:,.{digits}f}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _tenant_table(report: Report) -> Table:
    return Table(
        ("tenant", "model", "SLO class", "isolation", "$/hour", "Mtok/hour", "$/Mtok", "price $/Mtok", "margin"),
        tuple(
            (t.tenant, t.model, t.slo_class or "-", t.isolation, _money(t.usd_per_hour),
             f"{(t.input_tokens_per_hour + t.output_tokens_per_hour) / 1e6:,.2f}", _money(t.usd_per_mtok, 4),
             _money(t.price_usd_per_mtok, 2), _percent(t.margin))
            for t in report.tenants
        ),
    )


def _why_table(instance: Instance, report: Report) -> tuple[Table, ...]:
    """Why each tenant whose $/Mtok stands out costs what it does (:mod:`optimizer.report.why`); none when none does."""
    reasons = tenant_reasons(instance, report)
    return (Table(("tenant", "why its $/Mtok stands out"), tuple(reasons.items())),) if reasons else ()


def _summary_table(report: Report) -> Table:
    rows = [
        ("cost", f"{_money(report.usd_per_hour)}/hour"),
        ("$/Mtok (input + output)", _money(report.usd_per_mtok, 4)),
        ("$/M output tokens", _money(report.usd_per_m_output_tokens, 4)),
        ("racks, GPUs (stranded)", f"{report.num_racks}, {report.gpus} ({report.gpus_stranded})"),
        ("utilisation of paid GPUs, peak scenario", _percent(rack_utilisation(report))),
        ("provisioned power", f"{report.provisioned_kw:,.0f} kW"),
        ("tokens/s per MW", _number(report.tokens_per_s_per_mw)),
        ("ROI of the tenants with a price", "-" if report.roi is None else f"{report.roi:.2f}x"),
    ]
    return Table(("figure", "value"), tuple(rows))


def _plan_sections(instance: Instance, plan: Plan, report: Report, performance: PerformanceModel,
                   systems: Sequence[str], what: str) -> list[Section]:
    usage = PlanUsage(instance, plan, performance)
    shapes = shape_curves(instance, systems, performance)
    return [
        Section(f"Rack map of {what}", (Figure(
            "rack-map", rack_map_figure(instance, plan, f"Racks of {what}: GPUs by model, precision and role"),
            "Each card is one rack; each square one GPU; gaps separate NVLink domains. "
            "White struck-through squares are stranded GPUs: paid for, no engine on them.",
        ),)),
        Section("Demand and capacity per scenario", (Figure(
            "demand-vs-capacity", demand_capacity_figure(instance, plan, usage, f"Demand vs capacity of {what}"),
            "GPUs busy: replica-seconds per second the routed demand uses, times GPUs per replica.",
        ),)),
        Section("Throughput per GPU against interactivity", tuple(throughput_figures(instance, systems, performance, shapes))),
        Section("Cost per million tokens against interactivity",
                tuple(cost_interactivity_figures(instance, systems, performance, shapes))),
        Section(f"Tenants in {what}", (_tenant_table(report), Paragraph(report.convention), *_why_table(instance, report))),
        Section(f"Sites, systems and racks of {what}", (
            Paragraph("Provisioned (all-in) kW against each site's budget; each rack's IT kW against its cap; "
                      f"utilisation of engine time and KV memory in the peak scenario {report.peak_scenario}."),
            Table(("site", *SUBTOTAL_HEADER[1:]), tuple(subtotal_rows(report.sites))),
            Table(("system", *SUBTOTAL_HEADER[1:]), tuple(subtotal_rows(report.systems))),
            Table(RACK_HEADER, tuple(rack_rows(report))),
        )),
    ]


# -- one plan ---------------------------------------------------------------------------------


def proof_section(record: SolveRecord | None) -> Section:
    """What the plan's solve record proves, in words and as a table; says so when there is none."""
    if record is None:
        return Section("How good this plan is", (Paragraph(NO_RECORD[0].upper() + NO_RECORD[1:] + "."),))
    words = record.words()
    sentence = words[0].upper() + words[1:] + "."
    if record.bound is not None and record.objective is not None:
        sentence += (f" It costs {_money(record.objective)}/hour; no plan over {record.bound_scope or 'its candidates'} "
                     f"costs less than {_money(record.bound)}/hour.")
    return Section("How good this plan is", (Paragraph(sentence), Table(("what", "value"), tuple(proof_rows(record)))))



def write_report(instance: Instance, result_or_plan: Result | Plan, out_dir: str | Path,
                 performance: PerformanceModel | None = None) -> list[Path]:
    """Write the report of one plan to ``out_dir``; returns the paths written, the page first. A
    result's own :attr:`~optimizer.result.Result.report` (made by the run, with the performance
    model it planned with) is used rather than evaluating its plan again.

    Raises:
        ValueError: a result without a plan.
    """
    plan = result_or_plan.plan if isinstance(result_or_plan, Result) else result_or_plan
    if plan is None:
        raise ValueError("the result has no plan to report")
    performance = performance or PerformanceModel(instance, confidence=plan.confidence)
    report = report_of(instance, result_or_plan, performance) if isinstance(result_or_plan, Result) \
        else evaluate(instance, plan, performance)
    assert report is not None
    systems = list(dict.fromkeys(entry.system for entry in instance.fleet))
    sections = [
        proof_section(plan.solve),
        Section("Summary", (_summary_table(report),)),
        Section("Cost per million tokens", (Figure(
            "cost-per-mtok", cost_bars_figure([(plan.method, report, "", plan.solve.bound if plan.solve else None)],
                                              "$/Mtok of the plan, by system",
                                              system_colours(systems)),
        ),)),
        *_plan_sections(instance, plan, report, performance, systems, "the plan"),
    ]
    return write_page(out_dir, f"Plan '{plan.method}' for '{instance.name}'",
                      f"{plan.created_at}; instance sha256 {plan.instance_sha256[:12]}", sections)


# -- a comparison -----------------------------------------------------------------------------


def status_cell(outcome: PricedVariant) -> str:
    """'ok' or 'incomplete', with what the run proves: optimal, the gap to its bound, or no bound."""
    result = outcome.result
    if result.plan is None:
        proven = result.status.value
    elif proven_optimal(outcome):
        proven = "optimal"
    elif result.gap is None:
        proven = "heuristic, no bound"
    else:
        proven = f"within {percent(result.gap)}" + (f", {result.limit.value} limit" if result.limit != Limit.NONE else "")
    return f"{'ok' if outcome.complete else 'incomplete'} ({proven})"


def versus_cell(outcome: PricedVariant, winner: PricedVariant | None) -> str:
    """$/hour against the cheapest option's, and whether the bounds prove the difference."""
    if winner is None or not outcome.complete or outcome.usd_per_hour is None or winner.usd_per_hour is None:
        return "-"
    if outcome is winner:
        return "cheapest"
    change = outcome.usd_per_hour / winner.usd_per_hour - 1
    if abs(outcome.usd_per_hour - winner.usd_per_hour) < CENT:
        return "tie"
    cheap, dear = (winner, outcome) if change > 0 else (outcome, winner)
    return f"{100 * change:+.1f}% ({'proven' if proven_cheaper(cheap, dear) else 'not proven'})"


def options_table(comparison: Comparison) -> Table:
    """One row per option, by $/Mtok: what is proven, $/hour, $/Mtok overall and per SLO class, size,
    utilisation, power, ROI."""
    classes = sorted({t.slo_class for o in comparison.outcomes if o.report for t in o.report.tenants})
    headers = ("option", "status", "vs cheapest", "$/hour", "$/Mtok", *(f"$/Mtok {c or 'unlabelled'}" for c in classes),
               "racks", "GPUs", "stranded", "utilisation", "tokens/s per MW", "ROI", "note")
    rows = []
    for o in comparison.outcomes:
        r = o.report
        by_class = r.usd_per_mtok_by_slo_class if r else {}
        rows.append((
            o.variant.name, status_cell(o), versus_cell(o, comparison.winner), _money(o.usd_per_hour),
            _money(r.usd_per_mtok if r else None, 4),
            *(_money(by_class.get(c), 4) for c in classes),
            _number(r.num_racks if r else None), _number(r.gpus if r else None),
            _number(r.gpus_stranded if r else None), _percent(rack_utilisation(r) if r else None),
            _number(r.tokens_per_s_per_mw if r else None),
            "-" if r is None or r.roi is None else f"{r.roi:.2f}x",
            _shorten(o.why_not() or o.variant.note, NOTE_CHARS),
        ))
    highlight = comparison.outcomes.index(comparison.winner) if comparison.winner else None
    return Table(headers, tuple(rows), highlight)


NOTE_CHARS = 60
"""Notes in the options table are cut to this many characters (the findings carry them whole)."""


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "\u2026"


def band_table(comparison: Comparison) -> Table | None:
    """One row per competing option: $/hour and $/Mtok at each point of the performance band
    (pessimistic end, the run's confidence, optimistic end) and where it is cheapest; None
    when the band check was skipped. The highlighted row is the winner at the run's confidence."""
    band = comparison.band
    if band is None:
        return None
    labels = [f"{e.name} ({e.confidence:g})" if e.name != "central" else f"at {e.confidence:g}" for e in band.ends]
    headers = ("option", *(f"$/hour {label}" for label in labels), *(f"$/Mtok {label}" for label in labels),
               "cheapest at")
    names = [o.variant.name for o in band.end("central").outcomes]
    winners = band.winners
    rows = tuple(
        (name, *(_money(e.usd_per_hour(name)) for e in band.ends),
         *(_money(e.usd_per_mtok(name), 4) for e in band.ends),
         _cheapest_at([end for end, winner in winners.items() if winner == name]))
        for name in names
    )
    highlight = names.index(winners["central"]) if winners["central"] in names else None
    return Table(headers, rows, highlight)


def _cheapest_at(ends: Sequence[str]) -> str:
    return "all" if len(ends) == 3 else ", ".join(ends) or "-"


def _band_sections(comparison: Comparison) -> list[Section]:
    """The band verdict's section of the comparison page (none when the band check was skipped)."""
    table = band_table(comparison)
    if comparison.band is None or table is None:
        return []
    verdict = "holds" if comparison.band.holds else "does not hold"
    return [Section("Across the performance band", (
        Paragraph(f"The verdict {verdict} across the band."),
        table,
        Paragraph("Each competing option planned again at the ends of the performance model's 80% interval: at "
                  "the pessimistic end every engine delivers the 10% quantile of its throughput band, at the "
                  "optimistic end the 90% quantile. Profiles carry no band."),
        *(Paragraph(f) for f in comparison.band.findings),
    ))]


def _costed(outcomes: Sequence[PricedVariant], winner: PricedVariant | None) -> list[tuple[str, Report, str, float | None]]:
    """Each option's bar: its report, 'incomplete', or '(tie)' when not proven dearer than the winner, and its bound."""
    def note(o: PricedVariant) -> str:
        if not o.complete:
            return "incomplete"
        versus = versus_cell(o, winner) if winner is not None and o is not winner else ""
        return "(tie)" if versus == "tie" or versus.endswith("(not proven)") else ""

    return [(o.variant.name, o.report, note(o), o.result.bound) for o in outcomes if o.report is not None]


def write_comparison_report(comparison: Comparison, out_dir: str | Path) -> list[Path]:
    """Write the report of ``comparison`` to ``out_dir``; returns the paths written, the page first."""
    instance, winner = comparison.instance, comparison.winner
    answer: list[Paragraph] = [Paragraph(f) for f in comparison.findings]
    systems = list(dict.fromkeys(
        e.system for o in comparison.outcomes for e in o.variant.instance.fleet
    ))
    sections = [
        Section("Answer", tuple(answer)),
        Section("Options side by side", (
            options_table(comparison),
            Paragraph("utilisation: engine time used over every paid GPU in the peak scenario (stranded GPUs "
                      "count as idle). ROI: token revenue of the tenants with a price over the all-in cost (capital, hosting, power) attributed to those same tenants."),
        )),
        *_band_sections(comparison),
        Section("Cost per million tokens by option", (Figure(
            "cost-per-mtok", cost_bars_figure(_costed(comparison.outcomes, winner), "$/Mtok per option, by system",
                                              system_colours(systems)),
            "Each bar is one option's $/hour over its Mtok/hour, split by the system its racks are, by $/Mtok. "
            "A whisker reaches down to the option's bound: its best plan costs no less. '(tie)': the bounds do "
            "not prove the option dearer than the cheapest.",
        ),)),
    ]
    if winner is not None and winner.result.plan is not None and winner.report is not None:
        sections += _plan_sections(winner.variant.instance, winner.result.plan, winner.report, winner.performance,
                                   systems, f"the winner ({winner.variant.name})")
    else:
        sections.append(Section("Throughput per GPU against interactivity",
                                tuple(throughput_figures(instance, systems, PerformanceModel(instance)))))
    return write_page(out_dir, f"Which architecture serves '{instance.name}' most cheaply",
                      f"tenantplan compare: {len(comparison.outcomes)} options; instance sha256 "
                      f"{instance.digest()[:12]}", sections)

