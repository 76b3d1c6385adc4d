"""Which code a benchmark page was measured with: shared by the scripts in ``benchmarks/``.

The scripts run as ``python benchmarks/<name>.py``, so they import this module by its bare name.
"""

from __future__ import annotations

import os
import platform
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


def measured_on(measured_at: str, day: str, command: str) -> str:
    """The sentence a benchmark page opens with: the commit (:func:`commit`, taken before the
    run) and day it was measured at, the machine, and the command that produced it."""
    return (
        f"Measured at commit `{measured_at}` on {day}, on {os.cpu_count()} CPU(s), "
        f"Python {platform.python_version()}, {platform.system()} {platform.machine()}. "
        f"Produced by `{command}`."
    )
