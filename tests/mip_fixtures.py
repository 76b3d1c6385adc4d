"""Builders of tiny ``performance = "profiles"`` instances for the MIP tests (see test_solve.py)."""

from __future__ import annotations

from typing import Any

from optimizer.catalog import builtin_systems
from optimizer.instance import Instance, parse_instance

MODEL = "gpt-oss-120b"
"""Every test tenant and profile uses this model, in fp4."""


def tenant(name: str, requests_per_s: float, **fields: Any) -> dict[str, Any]:
    return {
        "name": name, "model": MODEL, "requests_per_s": requests_per_s, "input_tokens": 500,
        "output_tokens": 500, "ttft_s": 1.0, "min_tokens_per_s_per_user": 40, "precisions": ["fp4"],
        **fields,
    }


TWO_PEAKS = [tenant("a", 10.0, demand_profile=[1.0, 2.5]), tenant("b", 10.0, ttft_s=0.9, demand_profile=[2.0, 1.0])]
"""'a' asks 10 then 25 requests/s, 'b' (another TTFT: a commodity of its own) 20 then 10."""


def profile(role: str = "aggregated", system: str = "hgx-b200", gpus: int = 1, **fields: Any) -> dict[str, Any]:
    rates = {
        "aggregated": {"tokens_per_s_per_user": 50, "ttft_s": 0.5, "input_tokens_per_s": 500, "output_tokens_per_s": 500},
        "prefill": {"ttft_s": 0.3, "input_tokens_per_s": 4000},
        "decode": {"tokens_per_s_per_user": 50, "output_tokens_per_s": 1000},
    }[role]
    return {
        "model": MODEL, "system": system, "precision": "fp4", "role": role, "gpus": gpus,
        "input_tokens": 500, "output_tokens": 500, **rates, **fields,
    }


def fleet(system: str = "hgx-b200", site: str = "dc", **fields: Any) -> dict[str, Any]:
    return {"system": system, "site": site, "gpus_per_rack": 8, "usd_per_gpu_hour": 1.0, **fields}


def make(
    tenants: list[dict[str, Any]],
    fleet_entries: list[dict[str, Any]] | None = None,
    profiles: list[dict[str, Any]] | None = None,
    sites: list[dict[str, Any]] | None = None,
    **fields: Any,
) -> Instance:
    return parse_instance({
        "name": "hand",
        "performance": "profiles",
        "sites": sites or [{"name": "dc"}],
        "fleet": fleet_entries or [fleet()],
        "tenants": tenants,
        "profiles": profiles or [profile()],
        **fields,
    })


def system(base: str, new_id: str, **changes: Any) -> dict[str, Any]:
    """A catalog system copied under ``new_id`` with ``changes``."""
    return {**builtin_systems()[base].model_dump(), "id": new_id, **changes}
