"""Tiny instances with exact (profile) capacities, and builders for hand-made plans.

The "shop" instance (``performance = "profiles"``), one scenario:

- site ``east`` (fleet: ``hgx-h200`` at $2.00/GPU-hour, 32-GPU racks of four
  8-GPU NVLink domains = $64/hour a rack; ``slow-nvl72`` at $2.00/GPU-hour,
  one 72-GPU domain = $144/hour a rack) and site ``west`` (``hgx-h200``, $2.00).
- ``slow-nvl72`` is a GB200 NVL72 whose NICs carry only 0.1 Gbit/s per GPU, so
  KV moving between its racks is easy to overrun.
- profiles, all measured at 3000 input / 1000 output tokens per request:
  aggregated gpt-oss-120b 8 GPUs on hgx-h200 in fp8 and bf16: 6000 input +
  2000 output tokens/s per replica (1/8000 s per token: 2 requests/s), TTFT
  0.5 s, 100 tokens/s/user; prefill 4 GPUs on slow-nvl72 fp8: 30000 input
  tokens/s (10 requests/s), TTFT 0.4 s; decode 4 GPUs on slow-nvl72 fp8: 4000
  output tokens/s (4 requests/s), 100 tokens/s/user (TTFT 0).
- tenants on gpt-oss-120b, 3000:1000 tokens per request, TTFT 1 s, 50 tokens/s/user:
  ``acme`` 3 requests/s (9000 + 3000 tokens/s = 1.5 aggregated replicas),
  ``bolt`` 1 request/s (3000 + 1000 tokens/s = 0.5 aggregated replicas).

Every tenant uses exactly the profiles' shape, so a profile's throughput is the
capacity whatever the input/output split of its per-token cost.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from optimizer.catalog import builtin_systems
from optimizer.instance import Instance, parse_instance
from optimizer.performance import PerformanceModel
from optimizer.plan import EngineGroup, Parallelism, Plan, Rack, Route

ISL, OSL = 3000, 1000

_PROFILE_SHAPE = {"model": "gpt-oss-120b", "input_tokens": ISL, "output_tokens": OSL}
_AGG = {
    **_PROFILE_SHAPE, "system": "hgx-h200", "role": "aggregated", "gpus": 8,
    "tokens_per_s_per_user": 100.0, "ttft_s": 0.5,
    "input_tokens_per_s": 6000.0, "output_tokens_per_s": 2000.0,
}


def slow_nvl72() -> dict[str, Any]:
    system = builtin_systems()["gb200-nvl72"].model_dump()
    return {**system, "id": "slow-nvl72", "scaleout_gbit_s": 0.1, "source": "test: 0.1 Gbit/s NICs"}


def shop_data() -> dict[str, Any]:
    """The shop instance as a dict, for tests to change before parsing."""
    tenant = {
        "model": "gpt-oss-120b", "input_tokens": ISL, "output_tokens": OSL,
        "ttft_s": 1.0, "min_tokens_per_s_per_user": 50.0,
    }
    return copy.deepcopy({
        "name": "shop",
        "performance": "profiles",
        "sites": [{"name": "east"}, {"name": "west"}],
        "fleet": [
            {"system": "hgx-h200", "site": "east", "usd_per_gpu_hour": 2.0},
            {"system": "slow-nvl72", "site": "east", "usd_per_gpu_hour": 2.0},
            {"system": "hgx-h200", "site": "west", "usd_per_gpu_hour": 2.0},
        ],
        "systems": [slow_nvl72()],
        "tenants": [
            {**tenant, "name": "acme", "requests_per_s": 3.0},
            {**tenant, "name": "bolt", "requests_per_s": 1.0},
        ],
        "profiles": [
            {**_AGG, "precision": "fp8"},
            {**_AGG, "precision": "bf16"},
            {
                **_PROFILE_SHAPE, "system": "slow-nvl72", "precision": "fp8", "role": "prefill",
                "gpus": 4, "ttft_s": 0.4, "input_tokens_per_s": 30000.0,
            },
            {
                **_PROFILE_SHAPE, "system": "slow-nvl72", "precision": "fp8", "role": "decode",
                "gpus": 4, "tokens_per_s_per_user": 100.0, "output_tokens_per_s": 4000.0,
            },
        ],
    })


def shop(**tenant_changes: dict[str, Any]) -> Instance:
    """The shop instance; ``acme={"ttft_s": 0.4}`` changes fields of tenant ``acme``."""
    data = shop_data()
    for tenant in data["tenants"]:
        tenant.update(tenant_changes.get(tenant["name"], {}))
    return parse_instance(data)


class KvPerformance(PerformanceModel):
    """The profiles, with KV memory charged: 1 GB per replica, 0.6 MB held per output token/s."""

    def kv_capacity_bytes(self, config):
        return 1e9

    def tenant_load(self, tenant, config):
        load = super().tenant_load(tenant, config)
        return None if load is None else dataclasses.replace(load, kv_bytes_per_output_rate=6e5)


# -- plan builders ------------------------------------------------------------------


def agg(engine_id: str, count: int, gpus: int = 8, precision: str = "fp8", model: str = "gpt-oss-120b",
        ttft_s: float = 0.5) -> EngineGroup:
    """Aggregated group at the profiles' operating point (100 tokens/s/user, TTFT 0.5 s)."""
    return EngineGroup(
        id=engine_id, model=model, precision=precision, role="aggregated", gpus=gpus, count=count,
        parallelism=Parallelism(tp=gpus), tokens_per_s_per_user=100.0, ttft_s=ttft_s, source="profile",
    )


def prefill(engine_id: str, count: int) -> EngineGroup:
    return EngineGroup(
        id=engine_id, model="gpt-oss-120b", precision="fp8", role="prefill", gpus=4, count=count,
        parallelism=Parallelism(tp=4), ttft_s=0.4, source="profile",
    )


def decode(engine_id: str, count: int) -> EngineGroup:
    return EngineGroup(
        id=engine_id, model="gpt-oss-120b", precision="fp8", role="decode", gpus=4, count=count,
        parallelism=Parallelism(tp=4), tokens_per_s_per_user=100.0, source="profile",
    )


def rack(rack_id: str, *engines: EngineGroup, site: str = "east", system: str = "hgx-h200") -> Rack:
    return Rack(id=rack_id, site=site, system=system, engines=engines)


def route(tenant: str, engine: str, requests_per_s: float, role: str = "aggregated",
          scenario: int = 0) -> Route:
    """``requests_per_s`` of a 3000:1000 tenant: input to aggregated/prefill, output to
    aggregated/decode groups."""
    return Route(
        tenant=tenant, scenario=scenario, engine=engine,
        input_tokens_per_s=0.0 if role == "decode" else requests_per_s * ISL,
        output_tokens_per_s=0.0 if role == "prefill" else requests_per_s * OSL,
    )


def make_plan(instance: Instance, racks: list[Rack], routes: list[Route]) -> Plan:
    return Plan.new(instance, "hand", tuple(racks), tuple(routes))


def pooled_plan(instance: Instance) -> Plan:
    """acme (3 req/s) and bolt (1 req/s) share two aggregated replicas in one hgx-h200 rack."""
    return make_plan(
        instance,
        [rack("r1", agg("pool", 2))],
        [route("acme", "pool", 3.0), route("bolt", "pool", 1.0)],
    )


def two_racks_plan(instance: Instance, replicas_per_rack: int, west: bool = False) -> Plan:
    """acme and bolt split evenly over r1 (east) and r2 (east, or ``west``), each rack with
    ``replicas_per_rack`` aggregated replicas."""
    return make_plan(
        instance,
        [rack("r1", agg("pool", replicas_per_rack)),
         rack("r2", agg("pool2", replicas_per_rack), site="west" if west else "east")],
        [route("acme", "pool", 1.5), route("acme", "pool2", 1.5), route("bolt", "pool", 0.5),
         route("bolt", "pool2", 0.5)],
    )


def disaggregated_plan(instance: Instance, split: bool = False) -> Plan:
    """acme and bolt on one prefill and one decode replica of slow-nvl72: in one rack, or
    (``split``) in two racks so the KV crosses the scale-out network."""
    if split:
        racks = [rack("n1", prefill("pre", 1), system="slow-nvl72"),
                 rack("n2", decode("dec", 1), system="slow-nvl72")]
    else:
        racks = [rack("n1", prefill("pre", 1), decode("dec", 1), system="slow-nvl72")]
    routes = [
        route("acme", "pre", 3.0, "prefill"), route("acme", "dec", 3.0, "decode"),
        route("bolt", "pre", 1.0, "prefill"), route("bolt", "dec", 1.0, "decode"),
    ]
    return make_plan(instance, racks, routes)
