"""Imports run one way: the base of ``optimizer`` -> ``solvers`` -> the application layer;
none inside a function, and no module takes another's private names (tests may).

Every module is read with :mod:`ast`, not imported: a layer broken in a branch not run
by the tests still fails here. Each rule has a control, a source that breaks it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ("optimizer", "solvers")

APPLICATION = ("optimizer.solve", "optimizer.methods", "optimizer.harness", "optimizer.compare",
               "optimizer.sweep", "optimizer.executor", "optimizer.generate", "optimizer.report", "optimizer.deploy",
               "optimizer.cli", "optimizer.__main__")
"""Modules (and packages) of the application layer; the rest of ``optimizer`` is the base."""

BASE, SOLVERS, APP = 0, 1, 2
"""Floors, lowest first: a module imports only from its own floor or those below."""


def floor(module: str) -> int:
    """The floor of a dotted module name; ``optimizer`` itself re-exports ``solve``, so it is the roof."""
    if module.split(".")[0] == "solvers":
        return SOLVERS
    if module == "optimizer" or any(module == a or module.startswith(a + ".") for a in APPLICATION):
        return APP
    return BASE


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(tree: ast.Module, module: str, is_package: bool) -> list[tuple[ast.stmt, str, bool]]:
    """(statement, module imported, inside a function) for every project import of ``tree``."""
    found: list[tuple[ast.stmt, str, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.Import):
                found.extend((child, alias.name, inner) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                name = child.module or ""
                if child.level:
                    parts = module.split(".")
                    name = ".".join([*parts[: len(parts) - child.level + is_package], *([name] if name else [])])
                found.append((child, name, inner))
            visit(child, inner)

    visit(tree, False)
    return [(node, name, inner) for node, name, inner in found if name.split(".")[0] in PROJECT]


def violations(source: str, module: str, is_package: bool = False) -> list[str]:
    """Every project import of ``source`` (module ``module``) that sits in a function, or, from a
    project module, climbs a floor or takes another module's private name.

    A bare ``import optimizer`` climbs nothing: every ``optimizer.x`` import loads the package too.
    """
    found = []
    for node, imported, in_function in imports(ast.parse(source), module, is_package):
        if in_function:
            found.append(f"{module}:{node.lineno}: imports {imported} inside a function")
        if module.split(".")[0] not in PROJECT:
            continue
        bare = isinstance(node, ast.Import) and imported in PROJECT
        if not bare and floor(imported) > floor(module):
            found.append(f"{module}:{node.lineno}: imports {imported}, a floor above it")
        if isinstance(node, ast.ImportFrom) and any(a.name.startswith("_") for a in node.names):
            found.append(f"{module}:{node.lineno}: imports a private name of {imported}")
    return found


def project_files() -> list[Path]:
    return sorted(p for folder in (*PROJECT, "tests", "benchmarks") for p in (ROOT / folder).rglob("*.py"))


def test_the_tree_has_the_modules_the_layers_name() -> None:
    """Control: the walk finds both packages and the application modules named above."""
    names = {module_name(p) for p in project_files()}
    assert {"optimizer.instance", "solvers.heuristics", "solvers.mip.formulation"} <= names
    assert all(any(n == a or n.startswith(a + ".") for n in names) for a in APPLICATION)


@pytest.mark.parametrize("path", project_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_run_one_way_and_sit_at_module_level(path: Path) -> None:
    assert violations(path.read_text(), module_name(path), path.name == "__init__.py") == []


@pytest.mark.parametrize(("source", "module", "reason"), [
    ("def f():\n    from optimizer.instance import Instance\n", "optimizer.check", "inside a function"),
    ("class C:\n    def m(self):\n        import solvers.heuristics\n", "tests.test_x", "inside a function"),
    ("from optimizer.solve import solve\n", "solvers.mip.run", "a floor above it"),
    ("from optimizer.cli import main\n", "solvers.heuristics", "a floor above it"),
    ("from optimizer import solve\n", "solvers.mip.cpsat", "a floor above it"),
    ("from .solve import solve\n", "optimizer.check", "a floor above it"),
    ("def f():\n    import optimizer\n", "solvers.heuristics", "inside a function"),
    ("from solvers.mip.run import run_mip\n", "optimizer.evaluate", "a floor above it"),
    ("from solvers.mip.cpsat import _add_hint\n", "solvers.mip.mathopt", "a private name"),
])
def test_a_function_level_or_upward_import_is_reported(source: str, module: str, reason: str) -> None:
    """Each rule breaks on a source made to break it (``.solve`` from ``optimizer.check`` is
    ``optimizer.solve``)."""
    assert [v for v in violations(source, module) if reason in v] != []


def test_a_relative_import_is_read_from_its_package() -> None:
    """``..solve`` from the package ``optimizer.performance`` (its ``__init__``) is ``optimizer.solve``."""
    assert violations("from ..solve import solve\n", "optimizer.performance", is_package=True) != []


def test_imports_down_or_across_at_module_level_pass() -> None:
    """Control: the same imports, each made from a floor at or above the one imported."""
    assert violations("from optimizer.solve import solve\n", "optimizer.compare") == []
    assert violations("from optimizer.instance import Instance\nimport optimizer\n", "solvers.heuristics") == []
    assert violations("from solvers.mip.run import run_mip\n", "optimizer.solve") == []
    assert violations("from .formulation import Formulation\n", "solvers.mip.cpsat") == []
    assert violations("from .svg import Figure\n", "optimizer.report", is_package=True) == []


def layout_rows(readme: str) -> list[str]:
    """The paths in the first column of the README's "Layout" table, in order."""
    section = readme.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    return [line.split("`")[1] for line in section.splitlines() if line.startswith("| `")]


def listed_modules() -> list[str]:
    """Every module of ``optimizer`` and ``solvers`` the layout table must name (a package's
    ``__init__`` and ``__main__`` may be left out)."""
    return sorted(str(p.relative_to(ROOT)) for folder in PROJECT for p in (ROOT / folder).rglob("*.py")
                  if p.name not in ("__init__.py", "__main__.py"))


def test_the_readme_layout_table_names_every_module_and_nothing_that_is_gone() -> None:
    rows = layout_rows((ROOT / "README.md").read_text())
    assert [m for m in listed_modules() if m not in rows] == []
    assert [r for r in rows if not (ROOT / r).exists()] == []
    assert len(rows) == len(set(rows))


def test_a_layout_table_missing_a_module_is_caught() -> None:
    """Control: the table without its ``optimizer/evaluate.py`` row leaves that module unnamed."""
    readme = (ROOT / "README.md").read_text()
    rows = layout_rows("\n".join(line for line in readme.splitlines() if not line.startswith("| `optimizer/evaluate.py`")))
    assert "optimizer/evaluate.py" in listed_modules() and "optimizer/evaluate.py" not in rows
