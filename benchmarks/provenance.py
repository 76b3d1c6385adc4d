"""Which code a benchmark page was measured with: shared by the scripts in ``benchmarks/``.

The scripts run as ``python benchmarks/<name>.py``, so they import this module by its bare name.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
"""The repository root."""


def commit() -> str:
    """Short hash of HEAD, with ``+dirty`` when tracked files have uncommitted changes;
    ``unknown`` outside a git checkout."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT, capture_output=True, text=True, check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
