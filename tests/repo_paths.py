"""Where the tests find the repository's files, wherever in ``tests/`` they sit."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
"""the repository's root"""
EXAMPLES = ROOT / "instances" / "examples"
BENCH = ROOT / "instances" / "bench"
DATA = ROOT / "tests" / "data"
"""the tests' own input files"""
