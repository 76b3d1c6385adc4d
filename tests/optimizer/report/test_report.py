"""The SVG charts and the HTML page, on hand-made data: what was passed in is what is drawn."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from mip_fixtures import make, tenant
from repo_paths import DATA, EXAMPLES

from optimizer.instance import load_instance
from optimizer.performance import PerformanceModel
from optimizer.performance.calibrate import PerformanceData, default_data
from optimizer.catalog import PRECISIONS, builtin_models, builtin_systems
from optimizer.report import (
    cost_interactivity_figures,
    frontier_curve,
    priced_curves,
    shape_curves,
    throughput_figures,
    write_report,
)
from optimizer.report.figures import ROLES, engine_colours, system_colours
from optimizer.report.html import Figure, Paragraph, Section, Table, html_document, write_page
from optimizer.report.svg import (
    SVG_NAMESPACE,
    Bar,
    Guide,
    RackCells,
    Series,
    format_number,
    grouped_bar_chart,
    line_chart,
    nice_ticks,
    rack_map,
    stacked_bar_chart,
)
from optimizer.result import Limit, Result, Status
from optimizer.methods import get_method


def texts(root: ET.Element) -> list[str]:
    """Every <text> element's content."""
    return [t.text or "" for t in root.iter("text")]


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        # span 97 / 5 steps = 19.4 -> magnitude 10; steps of 10 give 9.7 > 5 intervals, of 20 give 4.85
        (0.0, 97.0, [0, 20, 40, 60, 80, 100]),
        # span 1.2 / 5 = 0.24 -> magnitude 0.1; 0.1 -> 12, 0.2 -> 6, 0.25 -> 4.8 intervals
        (0.0, 1.2, [0, 0.25, 0.5, 0.75, 1.0, 1.25]),
        # an empty range widens to [low, 2 low]: span 5 / 5 = 1 -> step 1
        (5.0, 5.0, [5, 6, 7, 8, 9, 10]),
    ],
)
def test_nice_ticks_cover_the_range_in_round_steps(low: float, high: float, expected: list[float]) -> None:
    assert nice_ticks(low, high) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("value", "label"),
    [(0.0, "0"), (0.02, "0.02"), (1.5, "1.5"), (250.0, "250"), (12_000.0, "12k"), (3_400_000.0, "3.4M")],
)
def test_format_number_is_short(value: float, label: str) -> None:
    assert format_number(value) == label


def test_line_chart_draws_every_series_point_and_guide_where_the_axes_say() -> None:
    series = [
        Series("GB200 NVL72", ((10.0, 5000.0), (50.0, 2000.0), (100.0, 900.0))),
        Series("H200", ((10.0, 1200.0), (40.0, 400.0)), dashed=True),
    ]
    svg = line_chart(
        "Throughput vs interactivity", "tokens/s per user", "tokens/s per GPU", series,
        guides=[Guide("chat SLO", x=50.0)], width=760, height=420,
    )
    root = ET.fromstring(svg)
    assert root.find("title").text == "Throughput vs interactivity"
    labels = texts(root)
    for expected in ("tokens/s per user", "tokens/s per GPU", "GB200 NVL72", "H200", "chat SLO"):
        assert expected in labels
    assert len(list(root.iter("polyline"))) == 2
    # Five points, one circle each, each with its own tooltip.
    circles = list(root.iter("circle"))
    assert len(circles) == 5
    # Scales: the plot spans x = 70 .. 70 + (760 - 90) = 740 and y = 40 .. 40 + (420 - 100) = 360.
    # x ticks 0..100 (step 20), y ticks 0..5000 (span 5000 / 5 = 1000): (10, 5000) sits at
    # x = 70 + 10/100 * 670 = 137, y = 40 (the top); (100, 900) at x = 740, y = 360 - 0.18 * 320 = 302.4.
    assert (float(circles[0].get("cx")), float(circles[0].get("cy"))) == pytest.approx((137.0, 40.0))
    last = next(c for c in circles if "100, 900" in c.find("title").text)
    assert (float(last.get("cx")), float(last.get("cy"))) == pytest.approx((740.0, 302.4))
    # The SLO guide at x = 50: 70 + 0.5 * 670 = 405.
    guide = [line for line in root.iter("line") if line.get("stroke-dasharray") == "3 3"]
    assert [float(line.get("x1")) for line in guide] == pytest.approx([405.0])
    # Its label is drawn after every marker, on a white halo, so markers it crosses never hide it.
    elements = list(root.iter())
    label = next(e for e in elements if e.tag.endswith("text") and e.text == "chat SLO")
    assert (label.get("stroke"), label.get("paint-order")) == ("white", "stroke")
    assert elements.index(label) > max(elements.index(c) for c in circles)


def test_stacked_bars_stack_segments_in_proportion_and_colour_them_by_name() -> None:
    bars = [
        Bar("mixed fleet", (("hgx-h200", 0.5), ("gb200-nvl72", 0.3))),
        Bar("GB200 alone", (("gb200-nvl72", 0.8),), note="cheapest"),
    ]
    root = ET.fromstring(stacked_bar_chart("$/Mtok per option", "$ per Mtok", bars))
    rects = [r for r in root.iter("rect") if r.find("title") is not None]
    heights = {r.find("title").text: float(r.get("height")) for r in rects}
    # Same scale for every segment: height is proportional to value, 0.5 : 0.3 : 0.8.
    assert heights["mixed fleet, hgx-h200: 0.5"] / heights["GB200 alone, gb200-nvl72: 0.8"] == pytest.approx(0.5 / 0.8)
    assert heights["mixed fleet, gb200-nvl72: 0.3"] / heights["GB200 alone, gb200-nvl72: 0.8"] == pytest.approx(0.3 / 0.8)
    fills = {r.find("title").text.split(", ")[1].split(":")[0]: r.get("fill") for r in rects}
    assert fills["hgx-h200"] != fills["gb200-nvl72"]
    both_gb200 = {r.get("fill") for r in rects if "gb200-nvl72" in r.find("title").text}
    assert len(both_gb200) == 1
    labels = texts(root)
    assert {"mixed fleet", "cheapest", "0.8", "hgx-h200", "gb200-nvl72", "$ per Mtok"} <= set(labels)


def test_grouped_bars_show_each_series_per_group() -> None:
    root = ET.fromstring(
        grouped_bar_chart("Demand vs capacity", "output tokens/s", ["s0", "s1"],
                          [("demand", [100.0, 200.0]), ("capacity", [220.0, 220.0])])
    )
    titled = [r.find("title").text for r in root.iter("rect") if r.find("title") is not None]
    assert titled == ["s0, demand: 100", "s0, capacity: 220", "s1, demand: 200", "s1, capacity: 220"]
    assert {"s0", "s1", "demand", "capacity"} <= set(texts(root))


def test_rack_map_colours_engines_by_category_and_shows_stranded_gpus() -> None:
    decode = ("deepseek-r1 fp4 decode", "d0 replica 0")
    prefill = ("deepseek-r1 fp4 prefill", "p0 replica 0")
    racks = [
        RackCells("r0 gb200-nvl72", (decode,) * 64 + (None,) * 8, domain_size=72),
        RackCells("r1 hgx-h200", (prefill,) * 24 + (None,) * 8, domain_size=8),
    ]
    root = ET.fromstring(rack_map("Rack map", racks))
    cells = [r for r in root.iter("rect") if (r.find("title") is not None)]
    stranded = [r for r in cells if r.find("title").text.startswith("stranded")]
    assert len(stranded) == 8 + 8
    by_fill: dict[str, int] = {}
    for r in cells:
        if not r.find("title").text.startswith("stranded"):
            by_fill[r.get("fill")] = by_fill.get(r.get("fill"), 0) + 1
    assert sorted(by_fill.values()) == [24, 64]
    labels = texts(root)
    assert {"r0 gb200-nvl72", "r1 hgx-h200", "deepseek-r1 fp4 decode", "stranded GPU (paid for, idle)"} <= set(labels)
    # The HGX rack's rows of 8 are separate NVLink domains: a 4-unit gap is added between rows,
    # so its third row starts 2 x (13 + 2) + 2 x 4 = 38 below its first; the NVL72 rack's only 30.
    def row_starts(rack_label: str) -> list[float]:
        group = next(g for g in root.iter("g") if g.find("title").text.startswith(rack_label))
        return sorted({float(r.get("y")) for r in group.iter("rect") if r.find("title") is not None})

    nvl, hgx = row_starts("r0"), row_starts("r1")
    assert nvl[2] - nvl[0] == pytest.approx(30.0)
    assert hgx[2] - hgx[0] == pytest.approx(38.0)


def test_text_is_escaped() -> None:
    svg = line_chart("a < b & c", "x", "y", [Series("<script>", ((1.0, 1.0),))])
    root = ET.fromstring(svg)
    assert root.find("title").text == "a < b & c"
    assert "<script>" in texts(root)
    assert root.find(".//script") is None


def sample_sections() -> list[Section]:
    chart = line_chart("Throughput", "x", "y", [Series("H200", ((1.0, 2.0), (2.0, 1.0)))])
    bars = stacked_bar_chart("Cost", "$", [Bar("a", (("h200", 1.0),))])
    return [
        Section("Summary", (Paragraph("Cheapest: <GB200>"), Table(("option", "$/Mtok"), (("a", "1.0"), ("b", "2.0")), 0))),
        Section("Figures", (Figure("throughput", chart, "caption"), Figure("cost", bars))),
    ]


def test_html_document_is_well_formed_and_self_contained() -> None:
    page = html_document("Report & title", "sub", sample_sections())
    assert page.startswith("<!DOCTYPE html>\n")
    root = ET.fromstring(page.split("\n", 1)[1])
    assert root.find("head/title").text == "Report & title"
    assert [f.get("id") for f in root.iter("figure")] == ["throughput", "cost"]
    assert [s.find("title").text for s in root.iter("svg")] == ["Throughput", "Cost"]
    assert root.find(".//tr[@class='highlight']/td").text == "a"
    # Nothing to fetch: no URL (not even the SVG namespace, which HTML implies), no script, no link.
    assert "http" not in page
    assert root.find(".//script") is None and root.find(".//link") is None


def test_write_page_writes_the_page_and_each_figure_as_a_standalone_svg(tmp_path: Path) -> None:
    written = write_page(tmp_path / "out", "Report", "sub", sample_sections())
    assert [p.name for p in written] == ["report.html", "throughput.svg", "cost.svg"]
    svg = ET.parse(tmp_path / "out" / "throughput.svg").getroot()
    assert svg.tag == f"{{{SVG_NAMESPACE}}}svg"
    assert svg.find(f"{{{SVG_NAMESPACE}}}title").text == "Throughput"
    # Written through a temporary file and a rename: nothing else is left behind.
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["cost.svg", "report.html", "throughput.svg"]


# -- reports of plans ---------------------------------------------------------------------------

COMPARE_DATA = DATA / "compare" / "two-systems.toml"


def test_write_report_draws_the_plan_it_is_given(tmp_path: Path) -> None:

    instance = load_instance(COMPARE_DATA)
    result = get_method("pooled")(instance, time_limit=10, seed=0, threads=1, performance=None)
    written = write_report(instance, result, tmp_path)
    assert [p.name for p in written] == [
        "report.html", "cost-per-mtok.svg", "rack-map.svg", "demand-vs-capacity.svg", "throughput-llama-3.3-70b-1024-1024.svg", "usd-per-mtok-llama-3.3-70b-1024-1024.svg",
    ]
    racks = ET.parse(tmp_path / "rack-map.svg").getroot()
    cells = [r for r in racks.iter(f"{{{SVG_NAMESPACE}}}rect") if r.find(f"{{{SVG_NAMESPACE}}}title") is not None]
    stranded = [r for r in cells if r.find(f"{{{SVG_NAMESPACE}}}title").text.startswith("stranded")]
    # Every GPU of every opened rack is one cell; the ones no replica occupies are stranded.
    paid = sum(instance.system(rack.system).gpus_per_rack for rack in result.plan.racks)
    occupied = sum(g.gpus * g.count for rack in result.plan.racks for g in rack.engines)
    assert (len(cells), len(stranded)) == (paid, paid - occupied)
    page = (tmp_path / "report.html").read_text()
    assert "http" not in page and f"Plan '{result.plan.method}' for 'two-systems'" in page
    # a heuristic's plan carries no solve record, and the page says so first
    assert page.index("How good this plan is") < page.index("Summary")
    assert "The plan carries no record of how good it is" in page
    # the evaluator's per-site, per-system and per-rack tables are on the page too
    tables = [[th.text for th in t.iter("th")] for t in ET.fromstring(page.split("\n", 1)[1]).iter("table")]
    assert ["site", "racks", "GPUs", "stranded", "$/hour", "kW", "kW cap", "Mtok/h", "$/Mtok"] in tables
    assert ["rack", "site", "system", "GPUs used", "$/hour", "IT kW", "kW cap", "time", "KV"] in tables
    # every figure scales to its box from its viewBox, never wider than drawn: no page scrolls for it
    for svg in ET.fromstring(page.split("\n", 1)[1]).iter("svg"):
        drawn = float(svg.get("viewBox").split()[2])
        assert svg.get("width") == "100%" and svg.get("style") == f"max-width:{drawn:.0f}px;height:auto"


def test_write_report_refuses_a_result_without_a_plan(tmp_path: Path) -> None:

    empty = Result("highs", Status.INFEASIBLE, Limit.NONE, None, None, 0.1)
    with pytest.raises(ValueError, match="no plan"):
        write_report(load_instance(COMPARE_DATA), empty, tmp_path)
    assert not any(tmp_path.iterdir())


def test_frontier_curve_trades_throughput_for_interactivity() -> None:

    curve = frontier_curve(PerformanceModel(), "llama-3.3-70b", "hgx-h200", ("fp8",), 1024, 1024)
    assert len(curve) > 3
    # Fastest first; each slower point must carry more tokens per GPU, or it is not on the frontier.
    speeds = [x for x, _ in curve]
    rates = [y for _, y in curve]
    assert speeds == sorted(speeds, reverse=True)
    assert rates == sorted(rates) and len(set(rates)) == len(rates)


def test_colours_are_one_per_system_and_engine_category_and_the_same_in_every_report() -> None:
    systems = list(builtin_systems())
    colours = system_colours(systems)
    assert len(set(colours.values())) == len(systems)  # 9 catalog systems, 10 palette colours
    assert system_colours(["gb200-nvl72"]) == {"gb200-nvl72": colours["gb200-nvl72"]}  # not by order of appearance
    everything = [(m, p, r) for m in builtin_models() for p in PRECISIONS for r in ROLES]
    all_colours = engine_colours(everything)
    assert len(set(all_colours.values())) == len(everything) == 36  # no two categories share a colour
    assert engine_colours([everything[-1]]) == {"qwen3-235b-a22b fp4 decode": all_colours["qwen3-235b-a22b fp4 decode"]}


def test_rack_cards_show_whole_labels_and_hover_detail() -> None:
    """Two ids that agree in their first and last 12 characters stay apart: each is drawn whole."""
    ids = ("us-east/gb200-nvl72/rack-0001/spare", "us-east/gb200-nvl72/rack-0002/spare")
    racks = [RackCells(i, (("m fp8 aggregated", "e0"),) * 8, domain_size=8, detail="gb200-nvl72 at us-east")
             for i in ids]
    root = ET.fromstring(rack_map("Rack map", racks))
    for rack_id in ids:
        group = next(g for g in root.iter("g") if g.find("title").text.startswith(rack_id))
        assert group.find("title").text == f"{rack_id} (gb200-nvl72 at us-east): 8 of 8 GPUs used"
        assert "".join(t.text for t in group.iter("text")) == rack_id  # over two lines, every character kept


def test_throughput_figures_are_per_request_shape_with_that_shapes_promises_only() -> None:
    """two-tenants-profiles: chat sends 1k/1k with a 50 tokens/s promise, summaries 8k/1k with 30."""
    instance = load_instance(EXAMPLES / "two-tenants-profiles.toml")
    figures = throughput_figures(instance, ("hgx-b200",), PerformanceModel(instance))
    assert [f.name for f in figures] == ["throughput-gpt-oss-120b-1024-1024", "throughput-gpt-oss-120b-8192-1024"]
    chat, summaries = (texts(ET.fromstring(f.svg)) for f in figures)
    assert "chat (50)" in chat and not any("summaries" in t for t in chat)
    assert "summaries (30)" in summaries and not any("chat" in t for t in summaries)


def test_the_inferencex_view_prices_each_frontier_at_the_instances_own_gpu_hour() -> None:
    """two-systems.toml with its H200 racks at $1.10/GPU-hour (an override) and GB200 at the catalog's
    $2.21: each (interactivity, tokens/s per GPU) corner becomes (interactivity, price / (tokens/s x 3,600
    / 10^6)), the same $/Mtok rule the evaluator applies to a plan."""
    instance = load_instance(COMPARE_DATA)
    h200 = instance.fleet[0].model_copy(update={"usd_per_gpu_hour": 1.10})
    instance = instance.model_copy(update={"fleet": (h200, *instance.fleet[1:])})
    performance = PerformanceModel(instance)
    (shape,) = shape_curves(instance, ("hgx-h200", "gb200-nvl72"), performance)
    priced = priced_curves(instance, shape)
    assert set(priced) == {"hgx-h200 ($1.10/GPU-h)", "gb200-nvl72 ($2.21/GPU-h)"}
    for label, price in (("hgx-h200 ($1.10/GPU-h)", 1.10), ("gb200-nvl72 ($2.21/GPU-h)", 2.21)):
        system, points = priced[label]
        assert points and points == tuple((x, price / (y * 3600 / 1e6)) for x, y in shape.curves[system])
    (figure,) = cost_interactivity_figures(instance, ("hgx-h200", "gb200-nvl72"), performance, [shape])
    labels = texts(ET.fromstring(figure.svg))
    assert "hgx-h200 ($1.10/GPU-h)" in labels and any(label.startswith("big, vault (40)") for label in labels)


def test_systems_with_one_curve_share_a_line() -> None:
    """With nothing measured, DeepSeek-R1 in FP8 runs the same on GB200 and GB300 NVL72 in the
    roofline at 1k/1k (the same FP8 FLOPS and HBM bandwidth, one family's factors; HBM capacity
    does not bind on this frontier, as it does at 1k/8k where GB300's larger HBM holds more
    sequences), so one line stands for both instead of one hidden under the other; H200's differs."""
    shape = {"model": "deepseek-r1", "precisions": ["fp8"], "input_tokens": 1024, "output_tokens": 1024}
    instance = make([tenant("a", 1.0, **shape)], performance="model")
    systems = ("gb200-nvl72", "gb300-nvl72", "hgx-h200")
    shipped = default_data()
    unmeasured = PerformanceData(shipped.calibration, (), shipped.bands)
    (figure,) = throughput_figures(instance, systems, PerformanceModel(instance, data=unmeasured))
    legend = [t.text for t in ET.fromstring(figure.svg).iter("text")]
    assert "gb200-nvl72 = gb300-nvl72" in legend and "hgx-h200" in legend, legend
    assert "gb300-nvl72" not in legend
