"""The built-in catalog: every system and model the issue names, with sources and sane units."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from optimizer.catalog import PRECISIONS, Model, System, builtin_models, builtin_systems

SYSTEMS = ("hgx-h100", "hgx-h200", "hgx-b200", "hgx-b300", "gb200-nvl72", "gb300-nvl72",
           "mi300x", "mi325x", "mi355x")
MODELS = ("gpt-oss-120b", "deepseek-r1", "llama-3.3-70b", "qwen3-235b-a22b")


def test_catalog_has_every_named_entry_with_a_source() -> None:
    assert sorted(builtin_systems()) == sorted(SYSTEMS)
    assert sorted(builtin_models()) == sorted(MODELS)
    for entry in [*builtin_systems().values(), *builtin_models().values()]:
        assert entry.source not in ("", "instance file"), entry.id


@pytest.mark.parametrize("system_id", SYSTEMS)
def test_racks_hold_whole_nvlink_domains(system_id: str) -> None:
    system = builtin_systems()[system_id]
    if system_id.endswith("nvl72"):
        assert (system.gpus_per_nvlink_domain, system.gpus_per_rack) == (72, 72)
    else:  # HGX and AMD platforms: 8-GPU domains, 4 servers per rack (tenantplan convention)
        assert (system.gpus_per_nvlink_domain, system.gpus_per_rack) == (8, 32)
    # provisioned power covers the IT power, which covers the GPU itself
    assert system.allin_kw_per_gpu >= system.it_kw_per_gpu >= system.gpu_tdp_w / 1000
    # owning is cheaper than renting from a neocloud
    assert system.usd_per_gpu_hour("hyperscaler") <= system.usd_per_gpu_hour("neocloud")


def test_tflops_and_prices_read_their_columns() -> None:
    gb200 = builtin_systems()["gb200-nvl72"]
    # systems.csv row gb200-nvl72: 2500 / 5000 / 10000 TFLOPS; $2.21 / 2.75 / 3.30 per GPU-hour
    assert [gb200.tflops(p) for p in PRECISIONS] == [2500, 5000, 10000]
    assert [gb200.usd_per_gpu_hour(b) for b in ("hyperscaler", "neocloud", "rental-3yr")] == [
        2.21, 2.75, 3.30
    ]
    # Hopper has no FP4 units: FP4 weights run at the FP8 rate (1979 TFLOPS)
    assert builtin_systems()["hgx-h200"].tflops("fp4") == 1979


# KV bytes per token = layers x (K and V) x kv_heads x head_dim x bytes, by architecture:
#   llama-3.3-70b: 80 x 2 x 8 x 128 x 2 B = 327,680 (BF16)
#   gpt-oss-120b: 18 full-attention layers x 2 x 8 x 64 x 2 B = 36,864 (sliding layers hold 128)
#   qwen3-235b-a22b: 94 x 2 x 4 x 128 x 2 B = 192,512
#   deepseek-r1 (MLA, one latent of 512 + 64 rope dims): 61 x 576 x 2 B = 70,272
KV_BF16 = {"llama-3.3-70b": 327_680, "gpt-oss-120b": 36_864, "qwen3-235b-a22b": 192_512,
           "deepseek-r1": 70_272}


@pytest.mark.parametrize("model_id", MODELS)
def test_kv_bytes_follow_the_architecture(model_id: str) -> None:
    model = builtin_models()[model_id]
    assert model.kv_bytes_per_token("bf16") == KV_BF16[model_id]
    # FP8 and FP4 weights use an FP8 cache: half the bytes
    assert model.kv_bytes_per_token("fp8") == model.kv_bytes_per_token("fp4") == KV_BF16[model_id] / 2
    assert model.precisions == PRECISIONS
    # fewer bits, fewer bytes
    assert model.weights_gb("bf16") > model.weights_gb("fp8") > model.weights_gb("fp4")
    assert model.active_params_b <= model.total_params_b
    assert model.is_moe == (model.experts > 0)


def test_model_precisions_follow_known_weights() -> None:
    fields = builtin_models()["llama-3.3-70b"].model_dump()
    fields.update(id="fp8-only", weights_gb_bf16=None, weights_gb_fp4=None)
    model = Model.model_validate(fields)
    assert model.precisions == ("fp8",)
    assert model.weights_gb("fp4") is None


def test_system_rejects_a_rack_that_splits_a_domain() -> None:
    fields = builtin_systems()["hgx-b200"].model_dump()
    System.model_validate(fields)  # control: 32 GPUs = 4 domains of 8
    with pytest.raises(ValidationError, match="not a multiple of gpus_per_nvlink_domain 8"):
        System.model_validate({**fields, "gpus_per_rack": 36})


def test_catalog_numbers_are_finite() -> None:
    fields = builtin_systems()["hgx-b200"].model_dump()
    with pytest.raises(ValidationError, match="finite"):
        System.model_validate({**fields, "hbm_tb_s": float("inf")})
