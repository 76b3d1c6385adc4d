"""Chart primitives that write SVG text: no dependencies, no scripts, no fonts to fetch.

Each function takes plain data (numbers and labels) and returns one standalone
``<svg>`` element with a ``<title>`` (what screen readers and browsers show) and
a legend, drawn in a ``viewBox`` and scaled to the width of its box (never wider
than drawn), so a figure never makes its page scroll; the report modules turn instances and plans into that data. Colours
come from the Okabe-Ito palette, which colour-blind readers tell apart.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

PALETTE = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # green
    "#CC79A7",  # pink
    "#56B4E9",  # sky blue
    "#D55E00",  # vermillion
    "#F0E442",  # yellow
    "#000000",  # black
    "#7F6A93",  # muted purple (beyond Okabe-Ito's eight)
    "#8C6D31",  # ochre
)
STRANDED_COLOUR = "#FFFFFF"
"""Fill of a GPU no engine occupies (outlined in grey and struck through)."""
GUIDE_COLOUR = "#B00020"
SVG_NAMESPACE = "http://www.w3.org/2000/svg"
FONT = "font-family=\"Helvetica, Arial, sans-serif\""
CHAR_WIDTH = 0.58
"""Average glyph width of the sans-serif font, in units of the font size (layout estimate)."""


def standalone(svg: str) -> str:
    """An ``.svg`` file's text for a chart: XML declaration and the SVG namespace added.

    Charts leave the namespace out so that HTML pages that inline them hold no URL at all
    (the HTML parser puts ``<svg>`` in the SVG namespace by itself).
    """
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + svg.replace("<svg ", f'<svg xmlns="{SVG_NAMESPACE}" ', 1) + "\n"


def colour_map(names: Iterable[str]) -> dict[str, str]:
    """A stable colour per distinct name, in order of first appearance (palette cycles)."""
    colours: dict[str, str] = {}
    for name in names:
        if name not in colours:
            colours[name] = PALETTE[len(colours) % len(PALETTE)]
    return colours


def shaded(colour: str, amount: float) -> str:
    """``#RRGGBB`` moved toward white (``amount`` > 0) or black (< 0) by that share, -1 to 1."""
    channels = [int(colour[i:i + 2], 16) for i in (1, 3, 5)]
    target = 255 if amount > 0 else 0
    return "#" + "".join(f"{round(c + (target - c) * abs(amount)):02X}" for c in channels)


def format_number(value: float) -> str:
    """A short label: 0.02, 1.5, 250, 12k, 3.4M."""
    magnitude = abs(value)
    if magnitude >= 1e6:
        return f"{value / 1e6:.3g}M"
    if magnitude >= 1e4:
        return f"{value / 1e3:.3g}k"
    if magnitude >= 100 or value == 0:
        return f"{value:.0f}"
    return f"{value:.3g}"


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering ``[low, high]`` in about ``count`` steps of 1, 2, 2.5 or 5 x 10^k."""
    if not high > low:
        high = low + (abs(low) or 1.0)
    span = high - low
    magnitude = 10 ** math.floor(math.log10(span / count))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if span / (m * magnitude) <= count)
    first = math.floor(low / step + 1e-9) * step
    last = math.ceil(high / step - 1e-9) * step
    return [first + i * step for i in range(round((last - first) / step) + 1)]


def _text_width(text: str, size: float) -> float:
    return len(text) * size * CHAR_WIDTH


@dataclass
class _Canvas:
    """An SVG document under construction."""

    width: float
    height: float
    title: str
    description: str = ""
    parts: list[str] = field(default_factory=list)

    def add(self, element: str) -> None:
        self.parts.append(element)

    def text(self, x: float, y: float, text: str, size: float = 12, anchor: str = "start",
             weight: str = "normal", rotate: bool = False, colour: str = "#222", halo: bool = False) -> None:
        """``halo``: a white outline under the glyphs, so a label drawn over curves and markers stays legible."""
        transform = f' transform="rotate(-90 {x:.1f} {y:.1f})"' if rotate else ""
        outline = ' stroke="white" stroke-width="3" stroke-linejoin="round" paint-order="stroke"' if halo else ""
        self.add(
            f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
            f'font-weight="{weight}" fill="{colour}"{outline}{transform}>{escape(text)}</text>'
        )

    def render(self) -> str:
        head = (
            f'<svg viewBox="0 0 {self.width:.0f} {self.height:.0f}" '
            f'width="100%" style="max-width:{self.width:.0f}px;height:auto" role="img" {FONT}>'
            f"<title>{escape(self.title)}</title>"
        )
        desc = f"<desc>{escape(self.description)}</desc>" if self.description else ""
        background = f'<rect width="{self.width:.0f}" height="{self.height:.0f}" fill="#FFFFFF"/>'
        return head + desc + background + "".join(self.parts) + "</svg>"


@dataclass(frozen=True)
class _Frame:
    """The plotting area and its linear scales."""

    left: float
    top: float
    width: float
    height: float
    x_min: float
    x_max: float
    y_min: float
    y_max: float

    def x(self, value: float) -> float:
        return self.left + (value - self.x_min) / (self.x_max - self.x_min) * self.width

    def y(self, value: float) -> float:
        return self.top + self.height - (value - self.y_min) / (self.y_max - self.y_min) * self.height


def _axes(canvas: _Canvas, frame: _Frame, x_ticks: Sequence[float] | None, y_ticks: Sequence[float],
          x_label: str, y_label: str) -> None:
    """Grid lines, tick labels and axis titles; ``x_ticks`` None for a categorical x axis."""
    bottom = frame.top + frame.height
    for tick in y_ticks:
        y = frame.y(tick)
        canvas.add(f'<line x1="{frame.left:.1f}" y1="{y:.1f}" x2="{frame.left + frame.width:.1f}" '
                   f'y2="{y:.1f}" stroke="#E3E3E3"/>')
        canvas.text(frame.left - 6, y + 4, format_number(tick), size=11, anchor="end")
    for tick in x_ticks or ():
        x = frame.x(tick)
        canvas.add(f'<line x1="{x:.1f}" y1="{frame.top:.1f}" x2="{x:.1f}" y2="{bottom:.1f}" stroke="#EFEFEF"/>')
        canvas.text(x, bottom + 16, format_number(tick), size=11, anchor="middle")
    canvas.add(f'<line x1="{frame.left:.1f}" y1="{bottom:.1f}" x2="{frame.left + frame.width:.1f}" '
               f'y2="{bottom:.1f}" stroke="#444"/>')
    canvas.add(f'<line x1="{frame.left:.1f}" y1="{frame.top:.1f}" x2="{frame.left:.1f}" y2="{bottom:.1f}" '
               'stroke="#444"/>')
    canvas.text(frame.left + frame.width / 2, bottom + 36, x_label, size=12, anchor="middle")
    canvas.text(16, frame.top + frame.height / 2, y_label, size=12, anchor="middle", rotate=True)


def _legend(canvas: _Canvas, left: float, top: float, width: float,
            entries: Sequence[tuple[str, str, str]]) -> float:
    """Legend swatches laid out in rows from (left, top); entries are (label, colour, kind).

    ``kind`` is ``box``, ``line``, ``dash`` or ``stranded``. Returns the height used.
    """
    x, y, row_height = left, top, 18.0
    for label, colour, kind in entries:
        item_width = 22 + _text_width(label, 11) + 14
        if x + item_width > left + width and x > left:
            x, y = left, y + row_height
        if kind == "box":
            canvas.add(f'<rect x="{x:.1f}" y="{y + 2:.1f}" width="12" height="12" fill="{colour}"/>')
        elif kind == "stranded":
            canvas.add(f'<rect x="{x + 0.5:.1f}" y="{y + 2.5:.1f}" width="11" height="11" '
                       f'fill="{STRANDED_COLOUR}" stroke="#888"/>'
                       f'<line x1="{x + 1:.1f}" y1="{y + 13:.1f}" x2="{x + 11:.1f}" y2="{y + 3:.1f}" stroke="#888"/>')
        else:
            dash = ' stroke-dasharray="5 3"' if kind == "dash" else ""
            canvas.add(f'<line x1="{x:.1f}" y1="{y + 8:.1f}" x2="{x + 16:.1f}" y2="{y + 8:.1f}" '
                       f'stroke="{colour}" stroke-width="2.5"{dash}/>')
        canvas.text(x + 20, y + 12, label, size=11)
        x += item_width
    return y + row_height - top


def _legend_height(width: float, labels: Sequence[str]) -> float:
    """Height the legend of ``labels`` needs in ``width`` (same layout as :func:`_legend`)."""
    rows, x = 1, 0.0
    for label in labels:
        item_width = 22 + _text_width(label, 11) + 14
        if x + item_width > width and x > 0:
            rows, x = rows + 1, 0.0
        x += item_width
    return rows * 18.0


# -- line chart -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Series:
    """One curve: (x, y) points drawn in x order, each marked."""

    name: str
    points: tuple[tuple[float, float], ...]
    dashed: bool = False


@dataclass(frozen=True)
class Guide:
    """A labelled reference line across the plot: a vertical one at ``x`` or a horizontal one at ``y``."""

    label: str
    x: float | None = None
    y: float | None = None


def line_chart(title: str, x_label: str, y_label: str, series: Sequence[Series],
               guides: Sequence[Guide] = (), width: float = 760, height: float = 420,
               description: str = "", colours: Mapping[str, str] | None = None) -> str:
    """Curves on linear axes from zero, with a legend and labelled guide lines.

    ``colours`` fixes the colour of some series names (others take the palette in order).
    """
    xs = [x for s in series for x, _ in s.points] + [g.x for g in guides if g.x is not None]
    ys = [y for s in series for _, y in s.points] + [g.y for g in guides if g.y is not None]
    x_ticks = nice_ticks(min([0.0, *xs]), max([1.0, *xs]))
    y_ticks = nice_ticks(min([0.0, *ys]), max([1.0, *ys]))
    legend_width = width - 90
    legend_h = _legend_height(legend_width, [s.name for s in series])
    canvas = _Canvas(width, height + legend_h, title, description)
    canvas.text(width / 2, 22, title, size=15, anchor="middle", weight="bold")
    frame = _Frame(70, 40, width - 90, height - 100, x_ticks[0], x_ticks[-1], y_ticks[0], y_ticks[-1])
    _axes(canvas, frame, x_ticks, y_ticks, x_label, y_label)
    colours = {**colour_map(s.name for s in series), **(colours or {})}
    for line in series:
        colour = colours[line.name]
        points = sorted(line.points)
        path = " ".join(f"{frame.x(x):.1f},{frame.y(y):.1f}" for x, y in points)
        dash = ' stroke-dasharray="6 4"' if line.dashed else ""
        canvas.add(f'<g><title>{escape(line.name)}</title>'
                   f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2.5"{dash}/>')
        for x, y in points:
            canvas.add(f'<circle cx="{frame.x(x):.1f}" cy="{frame.y(y):.1f}" r="3" fill="{colour}">'
                       f"<title>{escape(line.name)}: {format_number(x)}, {format_number(y)}</title></circle>")
        canvas.add("</g>")
    for guide in guides:
        if guide.x is not None:
            x = frame.x(guide.x)
            canvas.add(f'<line x1="{x:.1f}" y1="{frame.top:.1f}" x2="{x:.1f}" y2="{frame.top + frame.height:.1f}" '
                       f'stroke="{GUIDE_COLOUR}" stroke-width="1.5" stroke-dasharray="3 3"/>')
            # written upwards along the line, ending at the top of the plot
            canvas.text(x + 10, frame.top + 4, guide.label, size=10, anchor="end", rotate=True, colour=GUIDE_COLOUR,
                        halo=True)
        if guide.y is not None:
            y = frame.y(guide.y)
            canvas.add(f'<line x1="{frame.left:.1f}" y1="{y:.1f}" x2="{frame.left + frame.width:.1f}" y2="{y:.1f}" '
                       f'stroke="{GUIDE_COLOUR}" stroke-width="1.5" stroke-dasharray="3 3"/>')
            canvas.text(frame.left + frame.width - 3, y - 4, guide.label, size=10, anchor="end",
                        colour=GUIDE_COLOUR, halo=True)
    entries = [(s.name, colours[s.name], "dash" if s.dashed else "line") for s in series]
    _legend(canvas, frame.left, height - 10, legend_width, entries)
    return canvas.render()


# -- bar charts -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    """One stacked bar: (segment name, value) from the bottom up, and a note above it."""

    label: str
    segments: tuple[tuple[str, float], ...]
    note: str = ""
    low: float | None = None
    """a proven lower end of the bar's value (a bound), drawn as a whisker from it to the top; None: none"""


def stacked_bar_chart(title: str, y_label: str, bars: Sequence[Bar], width: float | None = None,
                      height: float = 420, description: str = "", colours: Mapping[str, str] | None = None) -> str:
    """Vertical stacked bars on a categorical x axis, one colour per segment name (``colours`` fixes some)."""
    width = width or max(520.0, 110 + 90 * len(bars))
    totals = [sum(v for _, v in bar.segments) for bar in bars]
    y_ticks = nice_ticks(0.0, max([1e-12, *totals]) * 1.08)
    segment_names = [name for bar in bars for name, _ in bar.segments]
    colours = {name: (colours or {}).get(name, c) for name, c in colour_map(segment_names).items()}
    legend_width = width - 90
    legend_h = _legend_height(legend_width, list(colours))
    label_lines = max((len(_wrap(bar.label, 14)) for bar in bars), default=1)
    canvas = _Canvas(width, height + legend_h + 14 * (label_lines - 1), title, description)
    canvas.text(width / 2, 22, title, size=15, anchor="middle", weight="bold")
    frame = _Frame(70, 40, width - 90, height - 100, 0, 1, y_ticks[0], y_ticks[-1])
    _axes(canvas, frame, None, y_ticks, "", y_label)
    slot = frame.width / max(1, len(bars))
    bar_width = min(56.0, slot * 0.6)
    for i, (bar, total) in enumerate(zip(bars, totals, strict=True)):
        centre = frame.left + slot * (i + 0.5)
        base = 0.0
        canvas.add(f"<g><title>{escape(bar.label)}: {format_number(total)}</title>")
        for name, value in bar.segments:
            top, bottom = frame.y(base + value), frame.y(base)
            canvas.add(f'<rect x="{centre - bar_width / 2:.1f}" y="{top:.1f}" width="{bar_width:.1f}" '
                       f'height="{max(0.0, bottom - top):.1f}" fill="{colours[name]}">'
                       f"<title>{escape(bar.label)}, {escape(name)}: {format_number(value)}</title></rect>")
            base += value
        if bar.low is not None and bar.low < total:
            low, top = frame.y(bar.low), frame.y(total)
            canvas.add(f'<path d="M{centre:.1f},{top:.1f}V{low:.1f}M{centre - 6:.1f},{low:.1f}H{centre + 6:.1f}" '
                       f'stroke="#222" stroke-width="1.5" fill="none"><title>{escape(bar.label)}: proven at least '
                       f"{format_number(bar.low)}</title></path>")
        canvas.add("</g>")
        note = bar.note or format_number(total)
        canvas.text(centre, frame.y(total) - 5, note, size=11, anchor="middle")
        for j, line in enumerate(_wrap(bar.label, 14)):
            canvas.text(centre, frame.top + frame.height + 16 + 13 * j, line, size=11, anchor="middle")
    legend_top = height - 10 + 14 * (label_lines - 1)
    _legend(canvas, frame.left, legend_top, legend_width, [(n, c, "box") for n, c in colours.items()])
    return canvas.render()


def grouped_bar_chart(title: str, y_label: str, groups: Sequence[str],
                      series: Sequence[tuple[str, Sequence[float]]], width: float | None = None,
                      height: float = 380, description: str = "") -> str:
    """Bars side by side per group (e.g. demand and capacity per scenario), one colour per series."""
    width = width or min(940.0, max(520.0, 110 + (30 + 22 * len(series)) * len(groups)))
    values = [v for _, vs in series for v in vs]
    y_ticks = nice_ticks(0.0, max([1e-12, *values]) * 1.08)
    colours = colour_map(name for name, _ in series)
    legend_width = width - 90
    legend_h = _legend_height(legend_width, list(colours))
    canvas = _Canvas(width, height + legend_h, title, description)
    canvas.text(width / 2, 22, title, size=15, anchor="middle", weight="bold")
    frame = _Frame(70, 40, width - 90, height - 100, 0, 1, y_ticks[0], y_ticks[-1])
    _axes(canvas, frame, None, y_ticks, "", y_label)
    slot = frame.width / max(1, len(groups))
    bar_width = min(28.0, slot * 0.8 / max(1, len(series)))
    for i, group in enumerate(groups):
        left = frame.left + slot * (i + 0.5) - bar_width * len(series) / 2
        for j, (name, vs) in enumerate(series):
            top, bottom = frame.y(vs[i]), frame.y(0)
            canvas.add(f'<rect x="{left + j * bar_width:.1f}" y="{top:.1f}" width="{bar_width - 1:.1f}" '
                       f'height="{max(0.0, bottom - top):.1f}" fill="{colours[name]}">'
                       f"<title>{escape(group)}, {escape(name)}: {format_number(vs[i])}</title></rect>")
        canvas.text(frame.left + slot * (i + 0.5), frame.top + frame.height + 16, group, size=11,
                    anchor="middle")
    _legend(canvas, frame.left, height - 10, legend_width, [(n, c, "box") for n, c in colours.items()])
    return canvas.render()


def _hard_wrap(text: str, columns: int) -> list[str]:
    """``text`` in lines of at most ``columns`` characters, every character kept (ids have no spaces)."""
    return [text[i:i + columns] for i in range(0, len(text), columns)] or [""]


def _wrap(text: str, columns: int) -> list[str]:
    """Greedy word wrap (a word longer than ``columns`` keeps its own line)."""
    lines: list[str] = []
    for word in text.split():
        if lines and len(lines[-1]) + 1 + len(word) <= columns:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines or [""]


# -- rack map ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RackCells:
    """One rack: the occupant of each GPU slot in order (None = stranded) and its NVLink domain size.

    An occupant is ``(category, tooltip)``: the category picks the colour (e.g.
    ``"deepseek-r1 decode"``), the tooltip names the engine replica.
    """

    label: str
    cells: tuple[tuple[str, str] | None, ...]
    domain_size: int
    detail: str = ""
    """shown on hover beside the label, e.g. the rack's system and site"""


LABEL_SIZE = 9
"""Font size of a rack card's label, px."""


def rack_map(title: str, racks: Sequence[RackCells], colours: Mapping[str, str] | None = None, columns: int = 8,
             cell: float = 13, width: float = 900, description: str = "") -> str:
    """Racks as cards of GPU cells, ``columns`` per row, a gap between NVLink domains.

    Occupied cells take their category's colour (``colours`` fixes some); stranded cells are
    white, outlined and struck through, so idle GPUs that are paid for stand out. Each card
    shows its whole label, over as many lines as it needs.
    """
    gap, pad = 2.0, 8.0
    chars = int((2 * pad + columns * (cell + gap) - 2 * pad + 4) / (LABEL_SIZE * CHAR_WIDTH))
    header = 6 + 11 * max((len(_hard_wrap(rack.label, chars)) for rack in racks), default=1)
    found = colour_map(c[0] for rack in racks for c in rack.cells if c is not None)
    categories = {name: (colours or {}).get(name, colour) for name, colour in found.items()}
    legend_entries = [(name, colour, "box") for name, colour in categories.items()]
    if any(c is None for rack in racks for c in rack.cells):
        legend_entries.append(("stranded GPU (paid for, idle)", STRANDED_COLOUR, "stranded"))

    def card_size(rack: RackCells) -> tuple[float, float]:
        rows = math.ceil(len(rack.cells) / columns)
        domain_gaps = sum(1 for r in range(1, rows) if (r * columns) % rack.domain_size == 0)
        card_w = 2 * pad + columns * (cell + gap)
        card_h = header + pad + rows * (cell + gap) + domain_gaps * 4 + pad
        return card_w, card_h

    sizes = [card_size(rack) for rack in racks]
    card_w = max((w for w, _ in sizes), default=2 * pad + columns * (cell + gap))
    per_row = max(1, int((width - 20) // (card_w + 10)))
    row_heights = [max(h for _, h in sizes[i:i + per_row]) for i in range(0, len(sizes), per_row)]
    legend_h = _legend_height(width - 20, [label for label, _, _ in legend_entries])
    total_h = 40 + sum(h + 10 for h in row_heights) + legend_h + 10
    canvas = _Canvas(width, total_h, title, description)
    canvas.text(width / 2, 22, title, size=15, anchor="middle", weight="bold")
    y0 = 36.0
    for row_index, row_height in enumerate(row_heights):
        for k, rack in enumerate(racks[row_index * per_row:(row_index + 1) * per_row]):
            left = 10 + k * (card_w + 10)
            _rack_card(canvas, rack, left, y0, card_w, sizes[row_index * per_row + k][1], columns, cell,
                       gap, pad, header, categories, chars)
        y0 += row_height + 10
    _legend(canvas, 10, y0, width - 20, legend_entries)
    return canvas.render()


def _rack_card(canvas: _Canvas, rack: RackCells, left: float, top: float, card_w: float, card_h: float,
               columns: int, cell: float, gap: float, pad: float, header: float,
               categories: Mapping[str, str], chars: int) -> None:
    stranded = sum(1 for c in rack.cells if c is None)
    detail = f" ({rack.detail})" if rack.detail else ""
    canvas.add(f"<g><title>{escape(rack.label)}{escape(detail)}: {len(rack.cells) - stranded} of "
               f"{len(rack.cells)} GPUs used</title>")
    canvas.add(f'<rect x="{left:.1f}" y="{top:.1f}" width="{card_w:.1f}" height="{card_h:.1f}" rx="4" '
               'fill="#F6F6F6" stroke="#BBB"/>')
    for i, line in enumerate(_hard_wrap(rack.label, chars)):
        canvas.text(left + pad - 2, top + 13 + 11 * i, line, size=LABEL_SIZE, weight="bold")
    y = top + header + pad
    for index, occupant in enumerate(rack.cells):
        row, col = divmod(index, columns)
        if col == 0 and row > 0:
            y += cell + gap + (4 if (row * columns) % rack.domain_size == 0 else 0)
        x = left + pad + col * (cell + gap)
        if occupant is None:
            canvas.add(f'<rect x="{x + 0.5:.1f}" y="{y + 0.5:.1f}" width="{cell - 1:.1f}" height="{cell - 1:.1f}" '
                       f'fill="{STRANDED_COLOUR}" stroke="#888"><title>stranded GPU {index}</title></rect>'
                       f'<line x1="{x + 1:.1f}" y1="{y + cell - 1:.1f}" x2="{x + cell - 1:.1f}" y2="{y + 1:.1f}" '
                       'stroke="#888"/>')
        else:
            category, tooltip = occupant
            canvas.add(f'<rect x="{x:.1f}" y="{y:.1f}" width="{cell:.1f}" height="{cell:.1f}" '
                       f'fill="{categories[category]}"><title>GPU {index}: {escape(tooltip)}</title></rect>')
    canvas.add("</g>")

