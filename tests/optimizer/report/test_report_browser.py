"""The report as a user sees it: headless Chromium loads it without errors and shows the figures.

Needs Debian's ``chromium`` at /usr/bin/chromium (``.ci/run`` installs it); skipped with that
reason when it is absent.
"""

from __future__ import annotations

import json
import re
from html import unescape
import struct
import subprocess
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import pytest

from repo_paths import DATA, EXAMPLES

from optimizer.compare import compare
from optimizer.instance import load_instance
from optimizer.methods import get_method
from optimizer.report import write_comparison_report, write_report
from optimizer.report.figures import system_colours
from optimizer.report.sweep import write_sweep_report
from optimizer.sweep import parse_axis, run_sweep

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--enable-logging=stderr", "--v=0",
)

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium")


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run headless Chromium with a throw-away profile; fails the test on a non-zero exit."""
    profile = tmp_path / "chromium-profile"
    done = subprocess.run(
        [str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def console_messages(stderr: str) -> list[str]:
    """Lines Chromium logs for the page's console (script errors, blocked loads)."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def png_pixels(path: Path) -> tuple[int, int, list[bytes]]:
    """Width, height and rows of RGB(A) bytes of an 8-bit, non-interlaced PNG (what Chromium writes)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        header = body if kind == b"IHDR" else header
        idat += body if kind == b"IDAT" else b""
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour in (2, 6) and interlace == 0
    channels = 3 if colour == 2 else 4
    raw, stride, rows, previous = zlib.decompress(idat), width * channels, [], bytearray(width * channels)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up, corner = previous[i], previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 255
            elif kind == 2:
                line[i] = (line[i] + up) & 255
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 255
        rows.append(bytes(line))
        previous = line
    return width, height, [bytes(r[i] for i in range(len(r)) if i % channels < 3) for r in rows]


@pytest.fixture(scope="module")
def report_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The comparison report of the tiny two-system instance of test_compare.py, planned by the
    ``pooled`` heuristic (fast; what is tested here is the page, not the plans)."""
    instance = load_instance(DATA / "compare" / "two-systems.toml")
    comparison = compare(instance, systems=("hgx-h200", "gb200-nvl72"), method="pooled", time_limit=10)
    out = tmp_path_factory.mktemp("report")
    write_comparison_report(comparison, out)
    return out / "report.html"


def test_report_loads_without_errors_and_the_dom_holds_every_figure(report_page: Path, tmp_path: Path) -> None:
    done = chromium(tmp_path, "--dump-dom", report_page.as_uri())
    assert console_messages(done.stderr) == []
    page = ET.fromstring(report_page.read_text().split("\n", 1)[1])
    source_titles = [svg.find("title").text for svg in page.iter("svg")]
    dom_titles = [unescape(t) for t in re.findall(r"<svg[^>]*><title>([^<]*)</title>", done.stdout)]
    # The cost chart, the rack map, the demand chart, the throughput chart and the $/Mtok-vs-interactivity
    # chart, as written.
    assert len(source_titles) == 5 and dom_titles == source_titles
    assert "Which architecture serves 'two-systems' most cheaply" in done.stdout.replace("&#39;", "'")


def test_report_screenshot_shows_the_figures(report_page: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    # 1000 x 3600 CSS pixels at half scale: the answer, the tables and the first figures, 500 x 1800 pixels.
    chromium(tmp_path, "--window-size=1000,3600", "--force-device-scale-factor=0.5", "--hide-scrollbars",
             f"--screenshot={shot}", report_page.as_uri())
    width, height, rows = png_pixels(shot)
    assert (width, height) == (500, 1800)
    # Not blank: plenty of non-white pixels, and a colour of the cost chart (one per system, the same
    # in every report) drawn somewhere.
    inked = sum(1 for row in rows for i in range(0, len(row), 3) if row[i:i + 3] != b"\xff\xff\xff")
    assert inked > 0.02 * width * height
    colours = [bytes.fromhex(c[1:]) for c in system_colours(["hgx-h200", "gb200-nvl72"]).values()]
    assert any(colour in row for row in rows for colour in colours)


def test_sweep_page_loads_without_errors_and_the_dom_holds_both_figures(tmp_path: Path) -> None:
    """A 2 x 2 sweep of the tiny instance (pooled, fast): the $/Mtok curves and the cheapest fleet."""
    sweep = run_sweep(load_instance(EXAMPLES / "tiny.toml"),
                      [parse_axis("demand=1,40"), parse_axis("fleet=own,hgx-h200")], method="pooled",
                      time_limit=5, workers=1)
    page_path = write_sweep_report(sweep, tmp_path / "out")
    done = chromium(tmp_path, "--dump-dom", page_path.as_uri())
    assert console_messages(done.stderr) == []
    page = ET.fromstring(page_path.read_text().split("\n", 1)[1])
    source_titles = [svg.find("title").text for svg in page.iter("svg")]
    dom_titles = [unescape(t) for t in re.findall(r"<svg[^>]*><title>([^<]*)</title>", done.stdout)]
    assert source_titles == ["$/Mtok against demand", "Cheapest fleet option per point"]
    assert dom_titles == source_titles


FIT_SCRIPT = """<script>addEventListener('load', () => {
  const clipped = [...document.querySelectorAll('figure, div.table')]
    .filter(box => box.scrollWidth > box.clientWidth + 1)
    .map(box => box.id || box.querySelector('th').textContent);
  const out = document.createElement('pre');
  out.id = 'fit';
  out.textContent = JSON.stringify({page: document.documentElement.scrollWidth, window: innerWidth, clipped});
  document.body.appendChild(out);
});</script>"""
"""Measures, once the page has loaded, how wide the page is and which figure or table box is wider than its
box (scrolls inside it); appended to a copy of the page only (the reports themselves hold no script)."""


@pytest.fixture(scope="module")
def plan_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report of one plan (``pooled``) of the same instance."""
    instance = load_instance(DATA / "compare" / "two-systems.toml")
    result = get_method("pooled")(instance, time_limit=10, seed=0, threads=1, performance=None)
    out = tmp_path_factory.mktemp("plan")
    write_report(instance, result, out)
    return out / "report.html"


def fit(page: Path, width: int, tmp_path: Path, change: tuple[str, str] = ("", "")) -> dict[str, object]:
    """The page's scroll width, the window's width and the clipped boxes, in Chromium at ``width`` CSS px
    (``change``: a first (old, new) replacement in the page's text, for controls)."""
    measured = tmp_path / f"fit-{page.parent.name}.html"
    text = page.read_text().replace(*change, 1) if change[0] else page.read_text()
    measured.write_text(text.replace("</body>", FIT_SCRIPT + "</body>"))
    done = chromium(tmp_path, f"--window-size={width},1000", "--virtual-time-budget=5000", "--dump-dom",
                    measured.as_uri())
    found = re.search(r'<pre id="fit">([^<]*)</pre>', done.stdout)
    assert found, done.stdout[-2000:]
    return json.loads(unescape(found.group(1)))


@pytest.mark.parametrize("width", [1000, 1400])
@pytest.mark.parametrize("which", ["report_page", "plan_page"])
def test_no_page_scrolls_sideways_and_at_1400_px_no_figure_or_table_is_clipped(
    which: str, width: int, request: pytest.FixtureRequest, tmp_path: Path,
) -> None:
    measured = fit(request.getfixturevalue(which), width, tmp_path)
    assert measured["page"] <= measured["window"], measured
    if width == 1400:
        assert measured["clipped"] == [], measured


def test_the_fit_check_sees_a_figure_wider_than_its_box(report_page: Path, tmp_path: Path) -> None:
    """Control: the first figure drawn 2,000 px wide (as figures were before they scaled) is clipped."""
    measured = fit(report_page, 1400, tmp_path, ('width="100%" style="max-width:', 'width="2000" style="min-width:'))
    assert measured["clipped"] == ["cost-per-mtok"], measured
