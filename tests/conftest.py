"""Shared fixtures: the bundled example instances, loaded once per test."""

from __future__ import annotations

from pathlib import Path

import pytest

from optimizer.instance import Instance, load_instance

EXAMPLES = Path(__file__).resolve().parent.parent / "instances" / "examples"


@pytest.fixture
def tiny() -> Instance:
    """One tenant (gpt-oss-120b chat, 10 requests/s, 1k/1k) on hgx-b200 at one site, one scenario."""
    return load_instance(EXAMPLES / "tiny.toml")


@pytest.fixture
def two_tenants_profiles() -> Instance:
    """performance = "profiles": chat and summarization on gpt-oss-120b, two measured
    hgx-b200 profiles, day/night scenarios weighted 16 h and 8 h."""
    return load_instance(EXAMPLES / "two-tenants-profiles.toml")


@pytest.fixture
def enterprise_mix() -> Instance:
    """The realistic book: 12 tenants, three models, two sites, 24 hourly scenarios."""
    return load_instance(EXAMPLES / "enterprise-mix.toml")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--solvers",
        default="highs,cp-sat,scip",
        help="comma-separated MIP backends that tests taking a 'solver' run on (highs, cp-sat, scip)",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run every test that takes ``solver`` once per backend named by ``--solvers``."""
    if "solver" in metafunc.fixturenames:
        solvers = [name.strip() for name in metafunc.config.getoption("solvers").split(",") if name.strip()]
        metafunc.parametrize("solver", solvers)
