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
