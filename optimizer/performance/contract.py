"""The contract between the performance model and everything that plans or prices.

``EngineConfig`` names one replica's configuration and operating point;
``TokenLoad`` is the linear load one request shape puts on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from optimizer.catalog import Precision

Role = Literal["aggregated", "prefill", "decode"]


class EngineConfig(BaseModel):
    """One engine replica's configuration and operating point."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    model: str
    system: str
    precision: Precision
    role: Role
    gpus: int = Field(ge=1, description="GPUs per replica")
    tp: int = Field(ge=1, description="tensor-parallel degree")
    ep: int = Field(default=1, ge=1, description="expert-parallel degree")
    dp_attention: bool = False
    tokens_per_s_per_user: float | None = Field(
        default=None, gt=0, description="interactivity the engine is run at (aggregated, decode)"
    )
    ttft_s: float | None = Field(
        default=None, gt=0, description="TTFT target the engine is run at, s (aggregated, prefill)"
    )
    source: Literal["model", "profile"] = "model"


@dataclass(frozen=True)
class TokenLoad:
    """The linear load one tenant request shape puts on one replica of a configuration.

    A replica supplies 1 replica-second per second and ``kv_capacity_bytes`` of KV
    memory; routing ``i`` input and ``o`` output tokens/s of this shape to it uses
    ``i * sec_per_input_token + o * sec_per_output_token`` replica-seconds per
    second and ``o * kv_bytes_per_output_rate`` bytes.
    """

    sec_per_input_token: float
    """replica-seconds per input token (0 for decode engines)"""
    sec_per_output_token: float
    """replica-seconds per output token (0 for prefill engines)"""
    kv_bytes_per_output_rate: float
    """KV bytes held per (output token/s) routed: Little's law, TPOT x context x KV bytes/token"""
    ttft_s: float
    """median time to first token this shape sees on the engine, s"""
    tokens_per_s_per_user: float
    """interactivity this shape sees (inf for prefill engines)"""
    utilisation: float = 1.0
    """share of a replica's time this shape may keep busy, the headroom left for queueing
    (:func:`~optimizer.performance.capacity.queue_utilisation`); ``sec_per_*`` are already divided
    by it, so a replica planned full is this busy"""
    queue_wait_s: float = 0.0
    """seconds of ``ttft_s`` left for waiting in the engine's own queue: a prefill engine's TTFT
    target less its request overhead and service (0 where ``ttft_s`` is an idle engine's)"""
