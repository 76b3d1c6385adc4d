"""The installed package holds every module and the bundled data (pyproject.toml lists packages)."""

from __future__ import annotations

import ast
import re
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


def test_every_declared_dependency_is_imported() -> None:
    """Each name in ``dependencies`` is imported by some module of the two packages."""
    declared = {
        re.split(r"[<>=!~ ;\[]", requirement, maxsplit=1)[0]
        for requirement in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    }
    imported = set()
    for path in (p for top in ("optimizer", "solvers") for p in (ROOT / top).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                imported.add(node.module.split(".")[0])
    assert declared, "control: the dependencies are read"
    assert declared - imported == set()
