"""A self-contained HTML page: inline CSS and inline SVG, nothing fetched from anywhere.

The page is also well-formed XML (every element closed, text escaped), so tests
and tools can parse it with the standard library.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from optimizer.safe_io import file_stem, path_inside, write_atomic
from optimizer.report.svg import standalone

_CSS = """
body { font-family: Helvetica, Arial, sans-serif; color: #222; margin: 2em auto; max-width: 1340px;
       padding: 0 1em; line-height: 1.45; }
p { max-width: 60em; overflow-wrap: anywhere; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 1.8em; }
p.subtitle { color: #555; margin-top: 0; }
div.table { max-width: 100%; overflow-x: auto; margin: 0.8em 0; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }
th { background: #f2f2f2; }
td.text, th:first-child { text-align: left; }
tr.highlight td { background: #eaf4ea; font-weight: bold; }
figure { margin: 1em 0; max-width: 100%; overflow-x: auto; }
figure svg { display: block; }
figcaption { color: #555; font-size: 0.9em; }
"""


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Table:
    """A table of text cells; ``highlight`` is the index of a row to emphasise (the winner)."""

    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    highlight: int | None = None


@dataclass(frozen=True)
class Figure:
    """One chart: ``name`` is its file stem (``<name>.svg``), ``svg`` its text."""

    name: str
    svg: str
    caption: str = ""


Block = Paragraph | Table | Figure


@dataclass(frozen=True)
class Section:
    heading: str
    blocks: tuple[Block, ...]


def _cell(text: str) -> str:
    """A table cell: figures right-aligned, words left-aligned."""
    numeric = text[:1].isdigit() or text[:1] in "$-" and text[1:2] in "$0123456789" or text == "-"
    return f"<td>{escape(text)}</td>" if numeric else f'<td class="text">{escape(text)}</td>'


def _block(block: Block) -> str:
    if isinstance(block, Paragraph):
        return f"<p>{escape(block.text)}</p>"
    if isinstance(block, Table):
        head = "".join(f"<th>{escape(h)}</th>" for h in block.headers)
        rows = []
        for i, row in enumerate(block.rows):
            css = ' class="highlight"' if i == block.highlight else ""
            rows.append(f"<tr{css}>" + "".join(_cell(c) for c in row) + "</tr>")
        return f'<div class="table"><table><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'
    caption = f"<figcaption>{escape(block.caption)}</figcaption>" if block.caption else ""
    return f'<figure id="{escape(block.name)}">{block.svg}{caption}</figure>'


def html_document(title: str, subtitle: str, sections: Sequence[Section]) -> str:
    """The whole page as text."""
    body = "".join(
        f"<section><h2>{escape(s.heading)}</h2>{''.join(_block(b) for b in s.blocks)}</section>"
        for s in sections
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8"/>'
        '<meta name="viewport" content="width=device-width, initial-scale=1"/>'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head>"
        f"<body><h1>{escape(title)}</h1><p class=\"subtitle\">{escape(subtitle)}</p>{body}</body></html>\n"
    )


def figures(sections: Sequence[Section]) -> list[Figure]:
    """Every figure of the page, in order."""
    return [b for s in sections for b in s.blocks if isinstance(b, Figure)]


def write_page(out_dir: str | Path, title: str, subtitle: str, sections: Sequence[Section]) -> list[Path]:
    """Write ``report.html`` and each figure as ``<stem>.svg`` in ``out_dir``, each atomically.

    The stem is :func:`~optimizer.safe_io.file_stem` of the figure's name (which
    may hold input ids), and every path is checked to stay inside ``out_dir``;
    other files in ``out_dir`` are left alone.

    Returns the paths written, the page first.
    """
    out = Path(out_dir)
    page = path_inside(out, "report.html")
    write_atomic(page, html_document(title, subtitle, sections))
    written = [page]
    for figure in figures(sections):
        path = path_inside(out, f"{file_stem(figure.name)}.svg")
        write_atomic(path, standalone(figure.svg))
        written.append(path)
    return written
