"""The page of a what-if sweep (``tenantplan sweep ... --out DIR``): ``DIR/sweep.html``.

Figures, inline SVG from :mod:`optimizer.report.svg`: $/Mtok against the first numeric key,
one curve per value of the other keys (e.g. per fleet option); with ``fleet`` varied, the
cheapest fleet option per combination of the other keys; and the table of every point.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from optimizer.report.html import Figure, Paragraph, Section, Table, html_document
from optimizer.report.svg import Bar, Series, colour_map, line_chart, stacked_bar_chart
from optimizer.safe_io import path_inside, write_atomic
from optimizer.sweep import Point, Row, Sweep, format_value, label

PAGE = "sweep.html"


def _cell(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def points_table(sweep: Sweep) -> Table:
    """One row per point: its values, status, $/hour, $/Mtok, gap, racks, GPUs, rules broken."""
    headers = (*(a.key for a in sweep.axes), "status", "$/hour", "$/Mtok", "gap", "racks", "GPUs", "rules broken")
    rows = tuple(
        (*(format_value(v) for _, v in point), row.status, _cell(row.usd_per_hour, 2), _cell(row.usd_per_mtok, 4),
         "-" if row.gap is None else f"{100 * row.gap:.2f}%", _cell(row.racks, 0), _cell(row.gpus, 0),
         _cell(row.violations, 0))
        for point, row in zip(sweep.points, sweep.rows, strict=True)
    )
    return Table(headers, rows)


def _others(point: Point, key: str) -> Point:
    return tuple((k, v) for k, v in point if k != key)


def cost_curve_figure(sweep: Sweep) -> Figure | None:
    """$/Mtok against the first numeric key, a curve per value of the other keys; None when no
    key is numeric. Points without a complete plan are left out of their curve."""
    key = next((a.key for a in sweep.axes if a.key != "fleet"), None)
    if key is None:
        return None
    curves: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for point, row in zip(sweep.points, sweep.rows, strict=True):
        name = label(_others(point, key)) or sweep.instance.name
        if row.complete and row.usd_per_mtok is not None:
            curves[name].append((float(dict(point)[key]), row.usd_per_mtok))
    series = [Series(name, tuple(points)) for name, points in curves.items()]
    svg = line_chart(f"$/Mtok against {key}", key, "$ per million tokens (input + output)", series,
                     description=f"Cost per million tokens of each point's plan against {key}.")
    return Figure("cost-per-mtok", svg, f"Each curve holds the other keys fixed; a point without a plan that "
                                        f"keeps every rule is left out ({sweep.method}, {sweep.time_limit:g} s a point).")


def cheapest_fleet_figure(sweep: Sweep) -> Figure | None:
    """With ``fleet`` varied over two or more options: per combination of the other keys, the
    cheapest option's $/Mtok, coloured by the option; None otherwise."""
    fleet_axis = next((a for a in sweep.axes if a.key == "fleet"), None)
    if fleet_axis is None or len(fleet_axis.values) < 2:
        return None
    best: dict[str, tuple[str, Row] | None] = {}
    for point, row in zip(sweep.points, sweep.rows, strict=True):
        group = label(_others(point, "fleet")) or "the instance as written"
        held = best.setdefault(group, None)
        if row.complete and (held is None or row.usd_per_hour < held[1].usd_per_hour):  # type: ignore[operator]
            best[group] = (str(dict(point)["fleet"]), row)
    bars = [Bar(group, ((held[0], held[1].usd_per_mtok or 0.0),), held[0]) if held is not None
            else Bar(group, (), "no plan") for group, held in best.items()]
    svg = stacked_bar_chart("Cheapest fleet option per point", "$ per million tokens (input + output)", bars,
                            colours=colour_map(str(v) for v in fleet_axis.values),
                            description="The fleet option with the lowest $/hour at each combination of the other keys.")
    return Figure("cheapest-fleet", svg, "Each bar is the cheapest fleet option's plan at that combination; "
                                         "differences within the plans' gaps are not proven.")


def write_sweep_report(sweep: Sweep, out_dir: str | Path) -> Path:
    """Write ``sweep.html`` into ``out_dir``, atomically; returns its path."""
    figures = [(heading, f) for heading, f in (("Cost per million tokens", cost_curve_figure(sweep)),
                                                ("Cheapest fleet option", cheapest_fleet_figure(sweep)))
               if f is not None]
    planned = sum(r.complete for r in sweep.rows)
    sections = [
        Section("Points", (
            Paragraph(f"{len(sweep.points)} points, {planned} with a plan that keeps every rule; each planned with "
                      f"{sweep.method} within {sweep.time_limit:g} s, priced by the evaluator and checked by the "
                      "checker. A gap above zero means the point stopped at its time limit before proving optimality."),
            points_table(sweep),
        )),
        *(Section(heading, (f,)) for heading, f in figures),
    ]
    page = path_inside(out_dir, PAGE)
    write_atomic(page, html_document(f"What-if sweep of '{sweep.instance.name}'",
                                     f"tenantplan sweep over {', '.join(a.key for a in sweep.axes)}; instance "
                                     f"sha256 {sweep.instance.digest()[:12]}", sections))
    return page
