"""The instance file format: validation at the door, resolved views, round trips."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from repo_paths import DATA, EXAMPLES

from optimizer.cli import main
from optimizer.instance import (
    MAX_FILE_BYTES,
    Instance,
    InstanceError,
    bundled_example,
    load_instance,
    parse_instance,
    read_document,
)


BASE, BASE_JSON, PROFILES = "base.toml", "base.json", "profiles.toml"

# bad file -> (the good control it differs from, every problem it must report, in order)
BAD_FILES = {
    "unknown-key.toml": (BASE, [
        "tenants[0].model: is required",
        "tenants[0].modle: unknown key; did you mean 'model'?",
    ]),
    "unknown-key.json": (BASE_JSON, [
        "tenants[0].ttft_s: is required",
        "tenants[0].ttft: unknown key; did you mean 'ttft_s'?",
    ]),
    "unknown-top-level-key.toml": (BASE, [
        "tenants: is required",
        "tenant: unknown key; did you mean 'tenants'?",
    ]),
    "unknown-model.toml": (BASE, [
        "tenants[0].model: unknown model 'gpt-oss-12b'; did you mean 'gpt-oss-120b'?",
    ]),
    "unknown-system.toml": (BASE, [
        "fleet[1].system: unknown system 'gb200-nvl36'; did you mean 'gb200-nvl72'?",
    ]),
    "unknown-fleet-site.toml": (BASE, [
        "fleet[0].site: unknown site 'us-eats'; did you mean 'us-east'?",
    ]),
    "unknown-residency-site.toml": (BASE, [
        "tenants[1].sites: unknown site 'eu-wset'; did you mean 'eu-west'?",
    ]),
    "residency-without-fleet.toml": (BASE, [
        "tenants[1].sites: site 'ap-south' has no fleet entry",
    ]),
    "duplicate-tenant.toml": (BASE, ["tenants: tenant name 'acme-chat' appears more than once"]),
    "duplicate-site.toml": (BASE, ["sites: site name 'us-east' appears more than once"]),
    "duplicate-fleet-entry.toml": (BASE, ["fleet: 'hgx-b200 at us-east' is listed more than once"]),
    "nonpositive-number.toml": (BASE, ["tenants[0].ttft_s: must be >= 0.001"]),
    "negative-inventory.toml": (BASE, ["fleet[0].max_racks: must be >= 0"]),
    "nan.toml": (BASE, ["tenants[0].requests_per_s: must be a finite number"]),
    "inf-power.toml": (BASE, ["sites[0].power_mw: must be a finite number"]),
    "inf.json": (BASE_JSON, ["tenants[0].requests_per_s: must be a finite number"]),
    "wrong-enum.toml": (BASE, [
        "tenants[0].isolation: must be one of shared, dedicated, dedicated-rack; "
        "did you mean 'dedicated'?",
    ]),
    "wrong-precision.toml": (BASE, ["tenants[1].precisions[1]: must be one of bf16, fp8, fp4"]),
    "wrong-type.toml": (BASE, ["tenants[1].input_tokens: must be an integer, not a string"]),
    "fractional-count.toml": (BASE, ["tenants[1].output_tokens: must be a whole number (an integer)"]),
    "missing-field.toml": (BASE, ["tenants[1].requests_per_s: is required"]),
    "empty-tenants.toml": (BASE, ["tenants: must not be empty"]),
    "schema-version.toml": (BASE, ["schema_version: must be one of 1"]),
    "profile-lengths.toml": (BASE, ["tenants: demand_profile lengths differ: [2, 3]"]),
    "scenario-weights-length.toml": (BASE, [
        "scenario_weights: has 3 entries but the demand profiles have 2 scenarios",
    ]),
    "scenario-weights-zero.toml": (BASE, ["scenario_weights: must have a positive sum"]),
    "negative-demand.toml": (BASE, ["tenants[0].demand_profile[1]: must be >= 0"]),
    "gpus-per-rack.toml": (BASE, [
        "fleet[0].gpus_per_rack: must be a multiple of the 8-GPU NVLink domain of hgx-b200",
    ]),
    # a field error does not hide a cross-reference error: both come back together
    "field-and-reference-errors.toml": (BASE, [
        "tenants[0].ttft_s: must be >= 0.001",
        "tenants[1].model: unknown model 'llama-3.3-7b'; did you mean 'llama-3.3-70b'?",
    ]),
    "toml-syntax.toml": (BASE, ["TOML syntax error at line 6, column 16: Illegal character '\\n'"]),
    "json-syntax.json": (BASE_JSON, [
        "JSON syntax error at line 6, column 62: Expecting property name enclosed in double quotes",
    ]),
    "not-a-table.json": (BASE_JSON, ["the document must be a table (a JSON object)"]),
    "not-utf8.toml": (BASE, ["not UTF-8 text: byte 0xe9 on line 2"]),
    "wrong-extension.yaml": (BASE, ["unknown file type '.yaml': use .toml or .json"]),
    "profile-role-fields.toml": (PROFILES, ["profiles[2]: a decode profile needs output_tokens_per_s"]),
    "profile-unknown-system.toml": (PROFILES, [
        "profiles[0].system: unknown system 'hgx-b20'; did you mean 'hgx-b200'?",
    ]),
    "profile-gpus.toml": (PROFILES, [
        "profiles[2].gpus: 16 GPUs exceed the 8-GPU NVLink domain of lab-box",
    ]),
    "profile-precision.toml": (PROFILES, ["profiles[1].precision: tiny-moe has weights only in fp8"]),
    "profiles-missing-for-model.toml": (PROFILES, [
        "tenants[0].model: performance = 'profiles' but no [[profiles]] entry is for 'gpt-oss-120b'",
    ]),
    "tenant-precision.toml": (PROFILES, ["tenants[1].precisions: tiny-moe has weights only in fp8"]),
    "inline-system-invalid.toml": (PROFILES, [
        "systems[0]: gpus_per_rack 12 is not a multiple of gpus_per_nvlink_domain 8",
    ]),
    "duplicate-inline-model.toml": (PROFILES, ["models: id 'tiny-moe' appears more than once"]),
}


def _lines(error: InstanceError) -> list[str]:
    return [f"{path}: {reason}" if path else reason for path, reason in error.problems]


def test_every_bad_file_is_mapped() -> None:
    assert sorted(p.name for p in (DATA / "bad").iterdir()) == sorted(BAD_FILES)


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_file_reports_every_problem(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    control, expected = BAD_FILES[name]
    load_instance(DATA / "good" / control)  # the control passes

    with pytest.raises(InstanceError) as caught:
        load_instance(DATA / "bad" / name)
    assert _lines(caught.value) == expected
    assert caught.value.source == str(DATA / "bad" / name)

    # the command line: exit 2, each problem as "path: reason", no traceback
    assert main(["validate", str(DATA / "bad" / name)]) == 2
    err = capsys.readouterr().err
    assert [line.strip() for line in err.splitlines()[1:]] == expected
    assert "Traceback" not in err


def test_oversized_file_is_refused_before_parsing(tmp_path: Path) -> None:
    control = tmp_path / "control.toml"
    control.write_text((DATA / "good" / BASE).read_text())
    load_instance(control)

    huge = tmp_path / "huge.toml"
    huge.write_text((DATA / "good" / BASE).read_text())
    with huge.open("r+b") as handle:  # sparse: no disk is written
        handle.truncate(MAX_FILE_BYTES + 1)
    with pytest.raises(InstanceError) as caught:
        read_document(huge)
    assert _lines(caught.value) == ["file is larger than the 16 MiB limit for instance files"]


def test_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(InstanceError) as caught:
        load_instance(tmp_path / "absent.toml")
    assert _lines(caught.value) == ["cannot read file: No such file or directory"]


@pytest.mark.parametrize("name", sorted(p.name for p in (DATA / "good").iterdir()))
def test_good_controls_load(name: str) -> None:
    assert load_instance(DATA / "good" / name).name


# -- round trips ----------------------------------------------------------------------------

EXAMPLE_FILES = sorted(p.name for p in EXAMPLES.iterdir())


@pytest.mark.parametrize("name", EXAMPLE_FILES)
def test_example_round_trips_through_json(name: str, tmp_path: Path) -> None:
    original = load_instance(EXAMPLES / name)
    copy = tmp_path / "copy.json"
    copy.write_text(original.to_json())
    again = load_instance(copy)
    assert again == original
    assert again.digest() == original.digest()
    assert again.to_json() == original.to_json()


def test_json_twin_equals_toml() -> None:
    assert load_instance(EXAMPLES / "tiny.json") == load_instance(EXAMPLES / "tiny.toml")


def test_examples_cover_the_fleet_and_features_they_claim(enterprise_mix: Instance) -> None:
    inst = enterprise_mix
    assert len(inst.tenants) == 12
    assert {t.model for t in inst.tenants} == {"gpt-oss-120b", "deepseek-r1", "llama-3.3-70b"}
    assert {e.system for e in inst.fleet} == {"hgx-h200", "hgx-b200", "gb200-nvl72", "gb300-nvl72"}
    assert {(t.input_tokens, t.output_tokens) for t in inst.tenants} == {
        (1024, 1024), (1024, 8192), (8192, 1024)
    }
    isolation = [t.isolation for t in inst.tenants]
    assert isolation.count("dedicated") == 2 and isolation.count("dedicated-rack") == 1
    assert any(t.min_racks == 2 for t in inst.tenants)
    assert all(site.power_mw is not None for site in inst.sites) and len(inst.sites) == 2
    assert inst.num_scenarios == 24
    assert all(t.slo_class for t in inst.tenants)
    # profiles are scaled to mean 1 (two decimals), so requests_per_s is the daily mean
    for tenant in inst.tenants:
        assert sum(tenant.demand_profile) / 24 == pytest.approx(1.0, abs=0.005)


# -- resolved views (numbers from the example files and the catalog CSV) ---------------------


def test_scenarios_and_weights(two_tenants_profiles: Instance, tiny: Instance) -> None:
    assert two_tenants_profiles.num_scenarios == 2
    # scenario_weights = [16, 8] hours -> 16/24 and 8/24
    assert two_tenants_profiles.weights == pytest.approx((2 / 3, 1 / 3))
    assert tiny.num_scenarios == 1 and tiny.weights == (1.0,)


def test_tenant_demand(two_tenants_profiles: Instance) -> None:
    chat = two_tenants_profiles.tenant("chat")
    # 20 requests/s x 1.25 in the day, x 0.5 at night
    assert chat.demand(0) == pytest.approx(25.0)
    assert chat.demand(1) == pytest.approx(10.0)
    assert chat.input_tokens_per_s(0) == pytest.approx(25.0 * 1024)
    summaries = two_tenants_profiles.tenant("summaries")
    # 10 requests/s x 2.0 at night; 1024 output tokens each
    assert summaries.output_tokens_per_s(1) == pytest.approx(20.0 * 1024)


def test_flat_tenant_demand(tiny: Instance) -> None:
    tenant = tiny.tenants[0]
    assert tenant.demand(0) == 10.0
    assert tenant.output_tokens_per_s(0) == 10.0 * 1024


def test_prices_and_rack_sizes(enterprise_mix: Instance) -> None:
    inst = enterprise_mix
    assert inst.usd_per_gpu_hour(inst.fleet_entry("us-east", "hgx-h200")) == 1.10  # override
    assert inst.usd_per_gpu_hour(inst.fleet_entry("eu-west", "hgx-h200")) == 1.41  # catalog
    assert inst.gpus_per_rack(inst.fleet_entry("us-east", "gb300-nvl72")) == 72
    assert inst.gpus_per_rack(inst.fleet_entry("us-east", "hgx-b200")) == 32
    with pytest.raises(KeyError):
        inst.fleet_entry("eu-west", "gb300-nvl72")


def test_tco_basis_picks_the_catalog_column(tiny: Instance) -> None:
    entry = tiny.fleet[0]
    assert tiny.usd_per_gpu_hour(entry) == 1.95  # hgx-b200, hyperscaler
    rental = parse_instance({**json.loads(tiny.to_json()), "economics": {"tco_basis": "rental-3yr"}})
    assert rental.usd_per_gpu_hour(rental.fleet[0]) == 2.90


def test_allowed_precisions_and_sites(enterprise_mix: Instance) -> None:
    inst = enterprise_mix
    assert inst.allowed_precisions(inst.tenant("wayne-legal")) == ("fp8",)
    assert inst.allowed_precisions(inst.tenant("acme-chat")) == ("bf16", "fp8", "fp4")
    assert inst.allowed_sites(inst.tenant("wayne-legal")) == ("eu-west",)
    assert inst.allowed_sites(inst.tenant("acme-chat")) == ("us-east", "eu-west")


def test_inline_system_replaces_catalog_entry(tiny: Instance) -> None:
    doc = json.loads(tiny.to_json())
    b200 = tiny.system("hgx-b200").model_dump()
    doc["systems"] = [{**b200, "usd_per_gpu_hour_hyperscaler": 1.50, "source": "our contract"}]
    inst = parse_instance(doc)
    assert inst.usd_per_gpu_hour(inst.fleet[0]) == 1.50
    assert tiny.usd_per_gpu_hour(tiny.fleet[0]) == 1.95  # the built-in is untouched


# -- immutability and direct construction -----------------------------------------------------


def test_instance_is_frozen(tiny: Instance) -> None:
    with pytest.raises(ValidationError):
        tiny.name = "other"  # type: ignore[misc]
    assert isinstance(tiny.tenants, tuple)


def test_direct_construction_checks_cross_references(tiny: Instance) -> None:
    doc = json.loads(tiny.to_json())
    Instance.model_validate(doc)  # control
    doc["tenants"][0]["model"] = "gpt-oss-20b"
    with pytest.raises(InstanceError) as caught:
        Instance.model_validate(doc)
    assert _lines(caught.value) == [
        "tenants[0].model: unknown model 'gpt-oss-20b'; did you mean 'gpt-oss-120b'?"
    ]


def test_parse_instance_names_its_source() -> None:
    with pytest.raises(InstanceError) as caught:
        parse_instance({"name": "x"}, source="inline")
    assert caught.value.source == "inline"
    assert _lines(caught.value) == [
        "sites: is required", "fleet: is required", "tenants: is required"
    ]


def test_bundled_examples_are_found_by_name() -> None:
    path = bundled_example("enterprise-mix.toml")
    assert path.read_text() == (EXAMPLES / "enterprise-mix.toml").read_text()
    with pytest.raises(InstanceError) as caught:
        bundled_example("enterprise-mix")
    assert _lines(caught.value)[0].startswith(
        "unknown example 'enterprise-mix'; did you mean 'enterprise-mix.toml'? (bundled: "
    )
