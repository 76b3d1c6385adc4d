"""Measured profiles as engine configurations: semantics, source selection and SLO check."""

from __future__ import annotations

import math

import pytest

from optimizer.instance import Instance, Tenant, parse_instance
from optimizer.performance import EngineConfig, PerformanceModel, TokenLoad, meets_slo
from optimizer.performance.profiles import MAX_CONFIGS_PER_ROLE

AGG = {
    "model": "llama-3.3-70b", "system": "hgx-h100", "precision": "fp8", "role": "aggregated",
    "gpus": 4, "tokens_per_s_per_user": 50.0, "ttft_s": 0.5,
    "input_tokens_per_s": 3000.0, "output_tokens_per_s": 1000.0,
    "input_tokens": 1000, "output_tokens": 500,
}
PREFILL = {
    "model": "llama-3.3-70b", "system": "hgx-h100", "precision": "fp8", "role": "prefill",
    "gpus": 2, "ttft_s": 0.4, "input_tokens_per_s": 20000.0,
    "input_tokens": 1000, "output_tokens": 500,
}
DECODE = {
    "model": "llama-3.3-70b", "system": "hgx-h100", "precision": "fp8", "role": "decode",
    "gpus": 8, "tokens_per_s_per_user": 40.0, "output_tokens_per_s": 2500.0,
    "input_tokens": 1000, "output_tokens": 500,
}


def instance(profiles: list[dict], performance: str = "auto") -> Instance:
    """One site, one H100 fleet entry, one llama tenant (1000 in / 500 out), the given profiles."""
    return parse_instance({
        "name": "profiles",
        "performance": performance,
        "sites": [{"name": "east"}],
        "fleet": [{"system": "hgx-h100", "site": "east"}],
        "tenants": [{
            "name": "acme", "model": "llama-3.3-70b", "requests_per_s": 1.0,
            "input_tokens": 1000, "output_tokens": 500, "ttft_s": 1.0,
            "min_tokens_per_s_per_user": 30.0,
        }],
        "profiles": profiles,
    })


def tenant(ttft_s: float = 1.0, interactivity: float = 30.0) -> Tenant:
    return Tenant(
        name="t", model="llama-3.3-70b", requests_per_s=1.0, input_tokens=1000,
        output_tokens=500, ttft_s=ttft_s, min_tokens_per_s_per_user=interactivity,
    )


def test_aggregated_profile_becomes_config_and_load():
    perf = PerformanceModel(instance([AGG], "profiles"))
    (config,) = perf.configs("llama-3.3-70b", "hgx-h100", "fp8", "aggregated", 1000, 500)
    assert config == EngineConfig(
        model="llama-3.3-70b", system="hgx-h100", precision="fp8", role="aggregated",
        gpus=4, tp=4, tokens_per_s_per_user=50.0, ttft_s=0.5, source="profile",
    )
    # every token costs 1 / (3000 + 1000) replica-seconds
    assert perf.load(config, 1000, 500) == TokenLoad(1 / 4000, 1 / 4000, 0.0, 0.5, 50.0)
    assert perf.kv_capacity_bytes(config) == math.inf
    # llama-3.3-70b FP8 KV cache: 163840 bytes per token (models.csv)
    assert perf.kv_bytes_per_token(config) == 163840


def test_prefill_and_decode_profiles():
    perf = PerformanceModel(instance([PREFILL, DECODE], "profiles"))
    (prefill,) = perf.configs("llama-3.3-70b", "hgx-h100", "fp8", "prefill", 1000, 500)
    (decode,) = perf.configs("llama-3.3-70b", "hgx-h100", "fp8", "decode", 1000, 500)
    assert (prefill.gpus, prefill.tp, prefill.ttft_s, prefill.tokens_per_s_per_user) == (2, 2, 0.4, None)
    assert (decode.gpus, decode.tp, decode.ttft_s, decode.tokens_per_s_per_user) == (8, 8, None, 40.0)
    # prefill: 1 / 20000 s per input token, no output work, interactivity unbounded
    assert perf.load(prefill, 1000, 500) == TokenLoad(1 / 20000, 0.0, 0.0, 0.4, math.inf)
    # decode: 1 / 2500 s per output token, TTFT contribution 0
    assert perf.load(decode, 1000, 500) == TokenLoad(0.0, 1 / 2500, 0.0, 0.0, 40.0)
    assert perf.configs("llama-3.3-70b", "hgx-h100", "fp8", "aggregated", 1000, 500) == ()


def test_tenant_load_uses_the_tenant_shape():
    inst = instance([AGG, {**AGG, "input_tokens": 8000, "output_tokens": 1000, "input_tokens_per_s": 9000.0}],
                    "profiles")
    perf = PerformanceModel(inst)
    config = perf.configs("llama-3.3-70b", "hgx-h100", "fp8", "aggregated", 8000, 1000)[0]
    # both profiles share one configuration; the 8000/1000 one is nearest to an 8000/1000 tenant
    assert perf.load(config, 8000, 1000).sec_per_input_token == pytest.approx(1 / 10000)
    # the instance tenant asks 1000/500: the first profile, 1 / (3000 + 1000)
    assert perf.tenant_load(inst.tenant("acme"), config).sec_per_input_token == pytest.approx(1 / 4000)


def test_configs_are_pareto_pruned_and_capped():
    dominated = {**AGG, "tokens_per_s_per_user": 45.0, "ttft_s": 0.6, "output_tokens_per_s": 900.0}
    points = [
        {**AGG, "tokens_per_s_per_user": 10.0 + i, "output_tokens_per_s": 3000.0 - 50 * i}
        for i in range(30)
    ]
    perf = PerformanceModel(instance([AGG, dominated, *points], "profiles"))
    configs = perf.configs("llama-3.3-70b", "hgx-h100", "fp8", "aggregated", 1000, 500)
    assert all(c.tokens_per_s_per_user != 45.0 for c in configs)  # slower, later, less throughput than AGG
    assert len(configs) == MAX_CONFIGS_PER_ROLE
    rates = [c.tokens_per_s_per_user for c in configs]
    assert rates == sorted(rates, reverse=True)
    assert rates[0] == 50.0 and rates[-1] == 10.0  # ends of the curve kept
    assert all(perf.load(c, 1000, 500) is not None for c in configs)
    assert configs == perf.configs("llama-3.3-70b", "hgx-h100", "fp8", "aggregated", 1000, 500)


def test_non_power_of_two_profile_is_ignored():
    perf = PerformanceModel(instance([{**AGG, "gpus": 6}, AGG], "profiles"))
    configs = perf.configs("llama-3.3-70b", "hgx-h100", "fp8", "aggregated", 1000, 500)
    assert [c.gpus for c in configs] == [4]


def test_profiles_mode_uses_nothing_else():
    perf = PerformanceModel(instance([AGG], "profiles"))
    # no profile for Llama on H200, and no roofline in profiles mode
    assert perf.configs("llama-3.3-70b", "hgx-h200", "fp8", "aggregated", 1000, 500) == ()
    # bundled InferenceMAX profiles are not used either
    assert perf.configs("gpt-oss-120b", "hgx-b200", "fp4", "aggregated", 1024, 1024) == ()


def test_model_mode_ignores_profiles():
    perf = PerformanceModel(instance([AGG], "model"))
    configs = perf.configs("llama-3.3-70b", "hgx-h100", "fp8", "aggregated", 1000, 500)
    assert configs and all(c.source == "model" for c in configs)
    profile_config = EngineConfig(
        model="llama-3.3-70b", system="hgx-h100", precision="fp8", role="aggregated",
        gpus=4, tp=4, tokens_per_s_per_user=50.0, ttft_s=0.5, source="profile",
    )
    assert perf.load(profile_config, 1000, 500) is None


def test_auto_mode_prefers_the_instance_profiles_then_the_estimator():
    perf = PerformanceModel(instance([AGG], "auto"))
    own = perf.configs("llama-3.3-70b", "hgx-h100", "fp8", "aggregated", 1000, 500)
    assert [c.source for c in own] == ["profile"] and own[0].gpus == 4
    # the instance has no gpt-oss profile on B200: the estimator serves it, from the measured frontier
    measured = perf.configs("gpt-oss-120b", "hgx-b200", "fp4", "aggregated", 1024, 1024)
    assert measured and all(c.source == "model" for c in measured)
    assert {perf.basis(c, 1024, 1024) for c in measured} <= {"measured", "interpolated", "beyond-range"}
    # nothing measured Llama on H200: the estimator carries other models' corrections
    modelled = perf.configs("llama-3.3-70b", "hgx-h200", "fp8", "aggregated", 1000, 500)
    assert modelled and all(c.source == "model" for c in modelled)
    assert {perf.basis(c, 1000, 500) for c in modelled} == {"other-model"}
    # the built-in-catalog model (no instance) is auto mode too
    assert PerformanceModel().configs("gpt-oss-120b", "hgx-b200", "fp4", "aggregated", 1024, 1024) == measured


def test_unknown_model_or_missing_precision_has_no_configs():
    perf = PerformanceModel()
    assert perf.configs("no-such-model", "hgx-b200", "fp8", "aggregated", 1024, 1024) == ()
    assert perf.configs("gpt-oss-120b", "no-such-system", "fp4", "aggregated", 1024, 1024) == ()


LOAD = TokenLoad(1e-4, 1e-3, 0.0, 0.6, 35.0)


@pytest.mark.parametrize(
    ("loads", "ttft_s", "interactivity", "expected"),
    [
        ((LOAD,), 1.0, 30.0, True),
        ((LOAD,), 0.6, 35.0, True),  # targets met exactly
        ((LOAD,), 0.5, 30.0, False),  # TTFT 0.6 s > 0.5 s
        ((LOAD,), 1.0, 40.0, False),  # 35 tokens/s < 40
        # prefill 0.6 s + decode 0.3 s = 0.9 s <= 1 s; interactivity min(inf, 35) = 35
        ((TokenLoad(1e-4, 0.0, 0.0, 0.6, math.inf), TokenLoad(0.0, 1e-3, 0.0, 0.3, 35.0)), 1.0, 30.0, True),
        # 0.9 s > 0.8 s
        ((TokenLoad(1e-4, 0.0, 0.0, 0.6, math.inf), TokenLoad(0.0, 1e-3, 0.0, 0.3, 35.0)), 0.8, 30.0, False),
    ],
)
def test_meets_slo(loads, ttft_s, interactivity, expected):
    assert meets_slo(tenant(ttft_s, interactivity), *loads) is expected


def test_meets_slo_needs_a_load():
    with pytest.raises(ValueError):
        meets_slo(tenant())
