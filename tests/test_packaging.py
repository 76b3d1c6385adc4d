"""The installed package holds every module and the bundled data (pyproject.toml lists packages)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_package_is_installed() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    on_disk = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("optimizer", "solvers")
        for init in (ROOT / top).rglob("__init__.py")
        if "instances" not in init.parts  # the data folder is listed on its own
    }
    assert on_disk <= set(config["packages"])
    assert "optimizer.instances" in config["packages"]
    patterns = config["package-data"]["optimizer.instances"]
    for folder in ("catalog", "examples"):
        files = [p for p in (ROOT / "instances" / folder).iterdir() if p.is_file()]
        assert files and all(any(p.match(pattern) for pattern in patterns) for p in files), folder
