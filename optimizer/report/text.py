"""The evaluator's report as plain text: what ``tenantplan evaluate`` prints."""

from __future__ import annotations

from collections.abc import Sequence

from optimizer.evaluate import Report, Subtotal
from optimizer.instance import Instance
from optimizer.plan import SolveRecord, percent
from optimizer.report.why import tenant_reasons
from optimizer.result import relative_gap

TEXT_ROWS = 40
"""Rack and engine tables in the text report stop after this many rows (``--json`` has all)."""


def report_text(report: Report, instance: Instance) -> str:
    """A readable report: totals, per system and site, per tenant and why a tenant's $/Mtok stands
    out, racks and engines (``instance``: the one ``report`` priced)."""
    return "\n".join(_lines(report, instance))


NO_RECORD = ("the plan carries no record of how good it is (a heuristic's plan, or a plan file written "
             "before plan version 2)")


def proof_rows(record: SolveRecord) -> list[tuple[str, str]]:
    """The solve record as (what, value) rows: status, bound, gap, the run's settings, the capacities' bases."""
    bound = "-" if record.bound is None else f"{_money(record.bound)}/hour"
    shortlist_gap = relative_gap(record.objective, record.shortlist_bound)
    searched = [] if shortlist_gap is None else [
        ("over the shortlist searched", f"bound {_money(record.shortlist_bound)}/hour, gap {percent(shortlist_gap)}"),
    ]
    return [
        ("proof", record.words()),
        ("status (limit)", f"{record.status.value} ({record.limit.value})"),
        ("cost, bound, gap", f"{_money(record.objective)}/hour, bound {bound}, gap "
                             f"{'-' if record.gap is None else percent(record.gap)}"),
        ("bound holds over", record.bound_scope or "-"),
        *searched,
        ("solver, seed", f"{record.solver}, seed {record.seed}"),
        ("time limit, runtime", f"{record.time_limit_s:g} s, {record.runtime_s:.1f} s"),
        ("capacities", f"at confidence {record.confidence:g}; engine groups by basis: "
                       + (", ".join(f"{basis} {count}" for basis, count in record.bases.items()) or "-")),
    ]


def _money(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"${value:,.{digits}f}"


def _number(value: float | None, fmt: str = ",.0f") -> str:
    return "-" if value is None else format(value, fmt)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _idle(purpose: str) -> str:
    """The tenants cell of an engine group that carries none: ``reserve`` (failover) or ``idle``."""
    return "reserve (failover)" if purpose == "reserve" else "idle"


def table_lines(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    """An aligned text table: the first column left, the others right."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]

    def line(cells: tuple[str, ...]) -> str:
        padded = (
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        )
        return "  ".join(padded).rstrip()

    return [line(header), line(tuple("-" * w for w in widths)), *(line(row) for row in rows)]


def _truncated(rows: list[tuple[str, ...]], what: str) -> tuple[list[tuple[str, ...]], list[str]]:
    if len(rows) <= TEXT_ROWS:
        return rows, []
    return rows[:TEXT_ROWS], [f"... {len(rows) - TEXT_ROWS} more {what} (see --json)"]


SUBTOTAL_HEADER = ("name", "racks", "GPUs", "stranded", "$/hour", "kW", "kW cap", "Mtok/h", "$/Mtok")
RACK_HEADER = ("rack", "site", "system", "GPUs used", "$/hour", "IT kW", "kW cap", "time", "KV")


def subtotal_rows(subtotals: Sequence[Subtotal]) -> list[tuple[str, ...]]:
    """Per system or per site: racks, GPUs, $/hour, provisioned kW against the cap, Mtok/hour, $/Mtok."""
    return [
        (s.name, str(s.racks), str(s.gpus), str(s.gpus_stranded), _money(s.usd_per_hour),
         _number(s.provisioned_kw, ",.1f"), _number(s.power_cap_kw, ",.1f"),
         _number((s.input_tokens_per_hour + s.output_tokens_per_hour) / 1e6, ",.3f"), _money(s.usd_per_mtok, 4))
        for s in subtotals
    ]


def rack_rows(r: Report) -> list[tuple[str, ...]]:
    """Per rack: GPUs used, $/hour, IT kW against its cap, engine-time and KV utilisation in the peak scenario."""
    return [
        (k.rack, k.site, k.system, f"{k.gpus_occupied}/{k.gpus}", _money(k.usd_per_hour),
         f"{k.it_kw:,.1f}", _number(k.rack_power_kw, ",.1f"), _percent(k.time_utilisation),
         _percent(k.kv_utilisation))
        for k in r.racks
    ]


def _lines(r: Report, instance: Instance) -> list[str]:
    mtok = (r.input_tokens_per_hour + r.output_tokens_per_hour) / 1e6
    lines = [
        f"plan '{r.method}' for instance '{r.instance}'",
        f"  cost        {_money(r.usd_per_hour)}/hour: {r.num_racks} rack(s), {r.gpus} GPUs "
        f"({r.gpus_stranded} stranded)",
        f"  convention  {r.convention}",
    ]
    if r.solve is None:
        lines.append(f"  proof       {NO_RECORD}")
    else:
        rows = proof_rows(r.solve)
        lines += [f"  proof       {rows[0][1]}"] + [f"              {what}: {value}" for what, value in rows[1:]]
    if r.capital_usd_per_hour is not None:
        lines.append(
            f"              capital + hosting {_money(r.capital_usd_per_hour)}/hour, "
            f"energy {_money(r.energy_usd_per_hour)}/hour"
        )
    lines += [
        f"  tokens      {mtok:,.3f} Mtok/hour (input {r.input_tokens_per_hour / 1e6:,.3f}, output "
        f"{r.output_tokens_per_hour / 1e6:,.3f}), scenario-weighted mean",
        f"  $/Mtok      {_money(r.usd_per_mtok, 4)} (input + output); alternative convention: "
        f"{_money(r.usd_per_m_output_tokens, 4)} per M output tokens",
        f"  power       {r.provisioned_kw:,.1f} kW provisioned; "
        f"{_number(r.tokens_per_s_per_mw)} tokens/s per MW",
    ]
    if r.roi is not None:
        lines.append(
            f"  revenue     {_money(r.revenue_usd_per_year, 0)}/year of the tenants with a price; ROI "
            f"{r.roi:.2f}x of their all-in cost {_money(r.priced_cost_usd_per_year, 0)}/year"
        )
    lines += ["", "scenarios"] + table_lines(
        ("scenario", "weight", "input tok/h", "output tok/h"),
        [
            (f"{s.scenario}{' (peak)' if s.scenario == r.peak_scenario else ''}", f"{s.weight:.3f}",
             _number(s.input_tokens_per_hour), _number(s.output_tokens_per_hour))
            for s in r.scenarios
        ],
    )
    for title, subtotals in (("per system", r.systems), ("per site", r.sites)):
        lines += ["", title] + table_lines(SUBTOTAL_HEADER, subtotal_rows(subtotals))
    lines += ["", "per tenant (cost attributed by share of engine-seconds)"] + table_lines(
        ("tenant", "model", "isolation", "$/hour", "Mtok/h", "$/Mtok", "price", "margin"),
        [
            (t.tenant, t.model, t.isolation, _money(t.usd_per_hour),
             _number((t.input_tokens_per_hour + t.output_tokens_per_hour) / 1e6, ",.3f"),
             _money(t.usd_per_mtok, 4), _money(t.price_usd_per_mtok, 4), _percent(t.margin))
            for t in r.tenants
        ],
    )
    reasons = tenant_reasons(instance, r)
    if reasons:
        lines += ["", "why these tenants' $/Mtok stand out"] + [f"  {name}: {why}" for name, why in reasons.items()]
    rows, more = _truncated(rack_rows(r), "racks")
    lines += ["", f"racks (utilisation in peak scenario {r.peak_scenario})"] + table_lines(RACK_HEADER, rows) + more
    engine_rows, more = _truncated([
        (e.engine, e.rack, e.model, e.precision, e.role, f"{e.count}x{e.gpus}",
         _percent(e.time_utilisation), _percent(e.kv_utilisation), e.basis,
         f"x{e.band_low:.2f}-{e.band_high:.2f}", ", ".join(e.tenants) or _idle(e.purpose))
        for e in r.engines
    ], "engine groups")
    lines += ["", f"engine groups (capacity planned at confidence {r.confidence:g}; band: 80% interval "
              "of the capacity delivered over the capacity planned)"] + table_lines(
        ("engine", "rack", "model", "precision", "role", "replicas", "time", "KV", "basis", "band", "tenants"),
        engine_rows,
    ) + more
    return lines
