"""The built-in catalog: accelerator systems and LLM architectures.

Rows come from ``instances/catalog/systems.csv`` and ``models.csv`` (installed as
package data under ``optimizer.instances``); every row names its source. An
instance may add or override entries inline with ``[[systems]]`` and
``[[models]]`` tables that use the same field names.
"""

from __future__ import annotations

import csv
from functools import cache
from importlib import resources
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Precision = Literal["bf16", "fp8", "fp4"]
PRECISIONS: tuple[Precision, ...] = ("bf16", "fp8", "fp4")
TcoBasis = Literal["hyperscaler", "neocloud", "rental-3yr"]

_FROZEN = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

Name = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]*$")]
"""An id or name: 1-128 characters, no control characters (they would reach terminals raw)."""


class System(BaseModel):
    """An accelerator system (server or rack type), one catalog row."""

    model_config = _FROZEN

    id: Name = Field(description="system id that fleet entries and profiles use")
    gpu: str = Field(min_length=1, description="GPU product name")
    vendor: Literal["nvidia", "amd"] = Field(description="GPU vendor")
    family: Name | None = Field(
        default=None,
        description="GPU architecture family whose systems share fitted efficiencies (hopper, "
        "blackwell, cdna3, cdna4: NVIDIA and AMD architecture names); absent = its vendor",
    )
    gpus_per_nvlink_domain: int = Field(
        ge=1, le=1024, strict=True, description="GPUs in one scale-up (NVLink or Infinity Fabric) domain"
    )
    gpus_per_rack: int = Field(
        ge=1, le=4096, strict=True, description="GPUs in one rack, the unit of purchase; a multiple of the domain size"
    )
    hbm_gb: float = Field(ge=1e-3, le=100000, strict=True, description="HBM per GPU, GB")
    hbm_tb_s: float = Field(ge=1e-3, le=1000, strict=True, description="HBM bandwidth per GPU, TB/s")
    bf16_tflops: float = Field(ge=1e-3, le=1e+06, strict=True, description="dense BF16 tensor TFLOPS per GPU")
    fp8_tflops: float = Field(ge=1e-3, le=1e+06, strict=True, description="dense FP8 tensor TFLOPS per GPU")
    fp4_tflops: float | None = Field(
        default=None,
        ge=1e-3, le=1e+06, strict=True, description="dense FP4 tensor TFLOPS per GPU; absent = no FP4 units (FP4 weights run at "
        "the FP8 rate)",
    )
    scaleup_gb_s: float = Field(ge=1e-3, le=1e+06, strict=True, description="scale-up bandwidth per GPU, one direction, GB/s")
    scaleout_gbit_s: float = Field(ge=1e-3, le=1e+06, strict=True, description="scale-out NIC bandwidth per GPU, Gbit/s")
    gpu_tdp_w: float = Field(ge=1e-3, le=100000, strict=True, description="GPU thermal design power, W")
    it_kw_per_gpu: float = Field(ge=1e-3, le=100, strict=True, description="server or rack IT power per GPU, kW")
    allin_kw_per_gpu: float = Field(
        ge=1e-3, le=100, strict=True, description="provisioned power per GPU incl. facility overhead, kW"
    )
    usd_per_gpu_hour_hyperscaler: float = Field(
        ge=1e-3, le=1000, strict=True, description="all-in $/GPU-hour owned by a hyperscaler (capital over 4 years, hosting, "
        "power)",
    )
    usd_per_gpu_hour_neocloud: float = Field(
        ge=1e-3, le=1000, strict=True, description="all-in $/GPU-hour owned by a neocloud"
    )
    usd_per_gpu_hour_rental_3yr: float = Field(
        ge=1e-3, le=1000, strict=True, description="$/GPU-hour rented for 3 years (25% upfront)"
    )
    source: str = Field(default="instance file", description="where the numbers come from")

    @model_validator(mode="after")
    def _racks_hold_whole_domains(self) -> System:
        if self.gpus_per_rack % self.gpus_per_nvlink_domain:
            raise ValueError(
                f"gpus_per_rack {self.gpus_per_rack} is not a multiple of "
                f"gpus_per_nvlink_domain {self.gpus_per_nvlink_domain}"
            )
        return self

    @property
    def efficiency_family(self) -> str:
        """The family whose fitted efficiencies this system uses (its vendor when none is named)."""
        return self.family or self.vendor

    def tflops(self, precision: Precision) -> float:
        """Dense tensor TFLOPS per GPU for weights in ``precision``.

        Hardware without FP4 units runs FP4 weights at its FP8 rate (the best
        precision it supports), so only the bytes read shrink.
        """
        if precision == "fp4" and self.fp4_tflops is not None:
            return self.fp4_tflops
        return self.bf16_tflops if precision == "bf16" else self.fp8_tflops

    def usd_per_gpu_hour(self, basis: TcoBasis) -> float:
        """All-in $/GPU-hour under the TCO ``basis``."""
        return {
            "hyperscaler": self.usd_per_gpu_hour_hyperscaler,
            "neocloud": self.usd_per_gpu_hour_neocloud,
            "rental-3yr": self.usd_per_gpu_hour_rental_3yr,
        }[basis]


class Model(BaseModel):
    """An LLM architecture, one catalog row."""

    model_config = _FROZEN

    id: Name = Field(description="model id that tenants and profiles use")
    hf_model: str = Field(default="", description="Hugging Face checkpoint")
    total_params_b: float = Field(ge=1e-3, le=100000, strict=True, description="all parameters, billions")
    active_params_b: float = Field(ge=1e-3, le=100000, strict=True, description="parameters used per token, billions")
    layers: int = Field(ge=1, le=10_000, strict=True, description="transformer layers")
    hidden: int = Field(ge=1, le=1_000_000, strict=True, description="model width (hidden size)")
    q_heads: int = Field(ge=1, le=10_000, strict=True, description="attention query heads")
    kv_heads: int = Field(ge=1, le=10_000, strict=True, description="attention key/value heads (1 for MLA's latent)")
    head_dim: int | None = Field(
        default=None, ge=1, le=100_000, strict=True, description="attention head width; absent for MLA"
    )
    experts: int = Field(ge=0, le=100_000, strict=True, description="routed experts per MoE layer; 0 = dense")
    top_k: int = Field(ge=0, le=10_000, strict=True, description="routed experts per token")
    shared_experts: int = Field(ge=0, le=10_000, strict=True, description="experts every token uses, per MoE layer")
    expert_ffn: int = Field(ge=1, le=10_000_000, strict=True, description="FFN width of one expert (dense FFN width if dense)")
    attention: str = Field(default="", description="attention type, free text")
    kv_bytes_per_token_bf16: float = Field(ge=1e-3, le=1e+09, strict=True, description="KV cache per token, BF16, bytes")
    kv_bytes_per_token_fp8: float = Field(ge=1e-3, le=1e+09, strict=True, description="KV cache per token, FP8, bytes")
    weights_gb_bf16: float | None = Field(
        default=None, ge=1e-3, le=1e+06, strict=True, description="BF16 weights, GB; absent = not served in BF16"
    )
    weights_gb_fp8: float | None = Field(
        default=None, ge=1e-3, le=1e+06, strict=True, description="FP8 weights, GB; absent = not served in FP8"
    )
    weights_gb_fp4: float | None = Field(
        default=None, ge=1e-3, le=1e+06, strict=True, description="FP4 (NVFP4 / MXFP4) weights, GB; absent = not served in FP4"
    )
    fp4_dense_precision: Precision | None = Field(
        default=None,
        description="MoE models: precision the FP4 checkpoint keeps its non-routed weights in "
        "(attention, dense FFN, shared experts, embeddings); absent = whatever the checkpoint "
        "size leaves after the experts, at most BF16",
    )
    source: str = Field(default="instance file", description="where the numbers come from")

    @property
    def is_moe(self) -> bool:
        return self.experts > 0

    @property
    def precisions(self) -> tuple[Precision, ...]:
        """Weight precisions with a known checkpoint size."""
        return tuple(p for p in PRECISIONS if self.weights_gb(p) is not None)

    def weights_gb(self, precision: Precision) -> float | None:
        """Weight bytes of the whole model in ``precision``, GB; None if unavailable."""
        return getattr(self, f"weights_gb_{precision}")

    def kv_bytes_per_token(self, precision: Precision) -> float:
        """KV cache bytes per token: BF16 cache for BF16 weights, FP8 cache otherwise."""
        return self.kv_bytes_per_token_bf16 if precision == "bf16" else self.kv_bytes_per_token_fp8


def _read_rows(name: str) -> list[dict[str, str]]:
    text = resources.files("optimizer.instances").joinpath("catalog").joinpath(name).read_text("utf-8")
    return list(csv.DictReader(text.splitlines()))


def _clean(row: dict[str, str], kind: type[BaseModel]) -> dict[str, Any]:
    """A CSV row as typed values: empty cells dropped, numeric columns parsed (fields are strict)."""
    typed: dict[str, Any] = {}
    for key, value in row.items():
        if value == "":
            continue
        annotation = str(kind.model_fields[key].annotation)
        typed[key] = int(value) if "int" in annotation else float(value) if "float" in annotation else value
    return typed


@cache
def builtin_systems() -> dict[str, System]:
    """The built-in systems by id."""
    return {row["id"]: System.model_validate(_clean(row, System)) for row in _read_rows("systems.csv")}


@cache
def builtin_models() -> dict[str, Model]:
    """The built-in models by id."""
    return {row["id"]: Model.model_validate(_clean(row, Model)) for row in _read_rows("models.csv")}
