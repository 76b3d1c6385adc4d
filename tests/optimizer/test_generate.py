"""The instance generator: deterministic by seed, always valid, shaped like a provider's book."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from repo_paths import BENCH

from optimizer.cli import main
from optimizer.generate import DEFAULT_SYSTEMS, generate_instance, instance_to_compact_json
from optimizer.instance import load_instance, parse_instance



def test_same_arguments_give_the_same_instance_and_another_seed_another():
    first = instance_to_compact_json(generate_instance(30, sites=3, seed=7))
    again = instance_to_compact_json(generate_instance(30, sites=3, seed=7))
    other = instance_to_compact_json(generate_instance(30, sites=3, seed=8))
    assert first == again
    assert first != other


def test_the_compact_json_reads_back_to_the_same_instance():
    instance = generate_instance(40, sites=4, seed=3)
    text = instance_to_compact_json(instance)
    assert parse_instance(json.loads(text)) == instance
    # one line per tenant, fleet entry and site, plus "{", schema_version, name, three "[" and "]", "}"
    assert len(text.splitlines()) == 40 + len(instance.fleet) + len(instance.sites) + 10


def test_the_book_has_the_promised_shape():
    instance = generate_instance(300, sites=4, seed=5)
    assert len(instance.tenants) == 300
    assert [s.name for s in instance.sites] == ["us-east", "eu-west", "us-west", "ap-northeast"]
    assert {e.system for e in instance.fleet} <= set(DEFAULT_SYSTEMS)
    assert {t.model for t in instance.tenants} == {"gpt-oss-120b", "deepseek-r1", "llama-3.3-70b", "qwen3-235b-a22b"}
    assert {t.slo_class for t in instance.tenants} == {"chat", "reasoning", "summarization", "batch"}
    assert {t.isolation for t in instance.tenants} == {"shared", "dedicated", "dedicated-rack"}
    assert any(t.sites for t in instance.tenants) and any(t.min_racks == 2 for t in instance.tenants)
    for tenant in instance.tenants:
        profile = tenant.demand_profile
        assert len(profile) == 24
        # each multiplier is rounded to 3 significant digits, so the mean is 1 within 0.5%
        assert sum(profile) / 24 == pytest.approx(1.0, rel=5e-3)
        assert all(float(f"{m:.3g}") == m for m in profile)
    # rates are log-normal truncated at the 1st/99th percentiles: three orders of magnitude
    # between the extremes of one class, never more (allowing 3-significant-digit rounding)
    for slo_class in ("chat", "batch"):
        rates = [t.requests_per_s for t in instance.tenants if t.slo_class == slo_class]
        assert 100 < max(rates) / min(rates) <= 1000 * 1.01


def test_site_power_and_inventories_are_set_and_some_system_is_always_unlimited():
    instance = generate_instance(50, sites=3, seed=9)
    assert all(site.power_mw is not None and site.power_mw > 0 for site in instance.sites)
    assert any(entry.max_racks is not None for entry in instance.fleet)
    for site in instance.sites:
        assert any(e.max_racks is None for e in instance.fleet if e.site == site.name)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tenants": 0}, "tenants must be >= 1"),
        ({"tenants": 5, "sites": 9}, "sites must be between 1 and 8"),
        ({"tenants": 5, "systems": ["hgx-b900"]}, "unknown system"),
        ({"tenants": 5, "systems": ["hgx-b200", "hgx-b200"]}, "systems repeat"),
    ],
)
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        generate_instance(**kwargs)
    generate_instance(5, sites=1, systems=["hgx-b200"])  # control: a valid call


def test_cli_writes_a_valid_file_named_after_it(tmp_path: Path):
    out = tmp_path / "book.json"
    assert main(["generate", "--tenants", "6", "--sites", "1", "--systems", "hgx-b200,gb200-nvl72",
                 "--seed", "4", "-o", str(out)]) == 0
    instance = load_instance(out)
    assert instance.name == "book" and len(instance.tenants) == 6
    assert {e.system for e in instance.fleet} == {"hgx-b200", "gb200-nvl72"}


def test_cli_refuses_bad_arguments_with_exit_2(tmp_path: Path):
    assert main(["generate", "--tenants", "6", "--systems", "nope", "-o", str(tmp_path / "a.json")]) == 2
    assert main(["generate", "--tenants", "6", "-o", str(tmp_path / "a.toml")]) == 2
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("path", sorted(BENCH.rglob("*.json")), ids=lambda p: p.stem)
def test_every_committed_bench_file_validates_and_stays_small(path: Path):
    instance = load_instance(path)
    assert instance.name == path.stem
    assert path.stat().st_size < (8 if path.parent.name == "xlarge" else 2) * 2**20
    low, high = {"small": (5, 20), "medium": (80, 150), "large": (800, 1500), "xlarge": (8000, 12000)}[path.parent.name]
    assert low <= len(instance.tenants) <= high
