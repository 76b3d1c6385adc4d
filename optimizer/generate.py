"""Generate instances that look like a provider's book of business.

:func:`generate_instance` draws, deterministically from a seed:

- tenants on the four catalog models, weighted by popularity, each in one of
  four workload classes (interactive chat, reasoning with long outputs,
  summarization with long inputs, batch with loose SLOs) with the request shapes
  and latency promises of that class;
- request rates log-normal over three orders of magnitude;
- some ``dedicated`` and ``dedicated-rack`` tenants, data residency (most of it
  in the EU), spread over two racks, tenants that refuse FP4 weights;
- 24 hourly demand profiles: a class-specific daily curve in the tenant's local
  time (its home site's time zone, jittered), with noise and rare spikes,
  normalised to mean 1;
- sites with time zones and power budgets, and a fleet per site whose
  inventories (``max_racks``) and power budgets are sized from a rough estimate
  of the GPUs the book needs, so that they bind on some instances and not others.

The numbers below are illustrative assumptions about a plausible provider, not
measurements (there is no public per-tenant data); the comment beside each says
what it stands for. Output is validated through :func:`optimizer.parse_instance`
before it is returned, so every generated file loads.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from optimizer.catalog import builtin_systems
from optimizer.instance import Instance, parse_instance

DEFAULT_SYSTEMS: tuple[str, ...] = ("hgx-h200", "hgx-b200", "gb200-nvl72", "gb300-nvl72", "mi355x")
"""Fleet offered when ``systems`` is not given: Hopper, Blackwell HGX and NVL72, AMD."""

HOURS = 24
"""Scenarios: one per hour of a day, in UTC."""


@dataclass(frozen=True)
class _SiteTemplate:
    name: str
    utc_offset_h: int
    region: str


# Sites in the order they are used; --sites K takes the first K.
_SITES = (
    _SiteTemplate("us-east", -5, "us"),
    _SiteTemplate("eu-west", 1, "eu"),
    _SiteTemplate("us-west", -8, "us"),
    _SiteTemplate("ap-northeast", 9, "ap"),
    _SiteTemplate("eu-central", 1, "eu"),
    _SiteTemplate("us-central", -6, "us"),
    _SiteTemplate("ap-south", 5, "ap"),
    _SiteTemplate("sa-east", -3, "sa"),
)
_REGION_WEIGHT = {"us": 0.5, "eu": 0.3, "ap": 0.15, "sa": 0.05}
"""Share of tenants homed in each region (assumption: a US-based provider)."""

_MODEL_POPULARITY = {
    "gpt-oss-120b": 0.35,
    "llama-3.3-70b": 0.25,
    "deepseek-r1": 0.20,
    "qwen3-235b-a22b": 0.20,
}
"""Share of tenants per model (assumption: open-weight models enterprises deploy, late 2025)."""

_LIST_PRICE_USD_PER_MTOK = {
    "gpt-oss-120b": 0.30,
    "llama-3.3-70b": 0.70,
    "deepseek-r1": 2.50,
    "qwen3-235b-a22b": 0.60,
}
"""Blended input + output list price per model (assumption: order of public API prices, late 2025)."""

_NOMINAL_TOKENS_PER_S_PER_GPU = {
    "gpt-oss-120b": 10000.0,
    "llama-3.3-70b": 1500.0,
    "deepseek-r1": 1500.0,
    "qwen3-235b-a22b": 2500.0,
}
"""Rough total tokens/s per GPU at ~50 tokens/s/user, only to size inventories and power budgets.
gpt-oss-120b and deepseek-r1: between the InferenceMAX 1k/1k H200/B200/GB200 points at
>= 50 tokens/s/user (instances/catalog/inferencemax_points.csv); llama-3.3-70b and
qwen3-235b-a22b: estimates from their active parameters (70.6B dense, 22B active)."""


@dataclass(frozen=True)
class _Shape:
    input_tokens: int
    output_tokens: int


@dataclass(frozen=True)
class _SloTier:
    ttft_s: float
    min_tokens_per_s_per_user: float


@dataclass(frozen=True)
class _WorkloadClass:
    name: str
    shapes: tuple[_Shape, ...]
    tiers: tuple[_SloTier, ...]
    """latency promises, strictest first; drawn with ``tier_weights``"""
    tier_weights: tuple[float, ...]
    median_requests_per_s: float
    """median of the log-normal request rate"""
    peak_local_hour: float
    """hour of day (local time) of the demand peak"""
    peak_width_h: float
    """spread of the daily peak, hours"""
    trough: float
    """demand at the quietest hour relative to the peak, before normalisation"""


_CLASSES = {
    # Shapes sit on or near the InferenceMAX scenarios (1k/1k, 8k/1k, 1k/8k); SLO
    # tiers span the interactivity range InferenceMAX measures (roughly 10-300
    # tokens/s/user). Median rates are set so that a 100-tenant book needs a few
    # hundred racks (checked by benchmarks/run_bench.py on the medium set).
    "chat": _WorkloadClass(
        name="chat",
        shapes=(_Shape(1024, 512), _Shape(1024, 1024), _Shape(2048, 1024)),
        tiers=(_SloTier(0.5, 100.0), _SloTier(1.0, 50.0), _SloTier(2.0, 30.0)),
        tier_weights=(0.25, 0.5, 0.25),
        median_requests_per_s=40.0,
        peak_local_hour=14.0,
        peak_width_h=4.5,
        trough=0.2,
    ),
    "reasoning": _WorkloadClass(
        name="reasoning",
        shapes=(_Shape(1024, 4096), _Shape(1024, 8192)),
        tiers=(_SloTier(2.0, 75.0), _SloTier(3.0, 50.0)),
        tier_weights=(0.4, 0.6),
        median_requests_per_s=6.0,
        peak_local_hour=13.0,
        peak_width_h=4.0,
        trough=0.15,
    ),
    "summarization": _WorkloadClass(
        name="summarization",
        shapes=(_Shape(8192, 1024), _Shape(16384, 512)),
        tiers=(_SloTier(3.0, 30.0), _SloTier(6.0, 20.0)),
        tier_weights=(0.5, 0.5),
        median_requests_per_s=12.0,
        peak_local_hour=11.0,
        peak_width_h=3.5,
        trough=0.1,
    ),
    "batch": _WorkloadClass(
        name="batch",
        shapes=(_Shape(4096, 1024), _Shape(8192, 1024)),
        tiers=(_SloTier(30.0, 10.0), _SloTier(60.0, 5.0)),
        tier_weights=(0.5, 0.5),
        median_requests_per_s=25.0,
        peak_local_hour=2.0,  # batch jobs run overnight
        peak_width_h=5.0,
        trough=0.3,
    ),
}

_CLASS_MIX = {
    "gpt-oss-120b": {"chat": 0.45, "reasoning": 0.2, "summarization": 0.15, "batch": 0.2},
    "llama-3.3-70b": {"chat": 0.4, "reasoning": 0.0, "summarization": 0.35, "batch": 0.25},
    "deepseek-r1": {"chat": 0.2, "reasoning": 0.6, "summarization": 0.1, "batch": 0.1},
    "qwen3-235b-a22b": {"chat": 0.35, "reasoning": 0.35, "summarization": 0.15, "batch": 0.15},
}
"""Workload class mix per model (assumption: reasoning models get reasoning traffic)."""

_RATE_SIGMA = math.log(1000.0) / (2 * 2.326)
"""Log-normal sigma putting the 1st and 99th percentiles three orders of magnitude apart."""
_RATE_Z_CLIP = 2.326
"""Rates are truncated at the 1st and 99th percentiles: exactly three orders of magnitude."""

_P_DEDICATED = 0.08
_P_DEDICATED_RACK = 0.04
_P_SPREAD = 0.10
"""share of tenants asking for replicas over at least two racks (failure domains)"""
_P_NO_FP4 = 0.15
"""share of tenants that refuse FP4 weights (quality-sensitive)"""
_P_RESIDENCY = {"eu": 0.6, "us": 0.1, "ap": 0.3, "sa": 0.3}
"""share of tenants pinned to their home region's sites, by region (GDPR-like rules in the EU)"""
_P_SPIKE = 0.15
"""share of tenants with one unannounced spike hour in the day"""
_NOISE_SIGMA = 0.1
"""hour-to-hour multiplicative noise of the demand profiles"""


def _round_sig(value: float, digits: int = 3) -> float:
    """``value`` rounded to ``digits`` significant digits."""
    if value == 0:
        return 0.0
    return float(f"{value:.{digits}g}")


def _pick(rng: np.random.Generator, weights: dict[str, float]) -> str:
    names = [name for name, w in weights.items() if w > 0]
    p = np.array([weights[name] for name in names])
    return names[int(rng.choice(len(names), p=p / p.sum()))]


def _daily_profile(rng: np.random.Generator, cls: _WorkloadClass, utc_offset_h: float) -> list[float]:
    """24 multipliers (UTC hours 0..23) with mean 1, rounded to 3 significant digits."""
    utc_hours = np.arange(HOURS)
    local = (utc_hours + utc_offset_h) % HOURS
    distance = np.minimum(np.abs(local - cls.peak_local_hour), HOURS - np.abs(local - cls.peak_local_hour))
    curve = cls.trough + (1 - cls.trough) * np.exp(-((distance / cls.peak_width_h) ** 2))
    curve = curve * rng.lognormal(0.0, _NOISE_SIGMA, HOURS)
    if rng.random() < _P_SPIKE:
        curve[rng.integers(HOURS)] *= rng.uniform(1.5, 3.0)
    curve = curve / curve.mean()
    return [_round_sig(float(v)) for v in curve]


def _tenant(
    rng: np.random.Generator, index: int, sites: Sequence[_SiteTemplate]
) -> dict[str, Any]:
    model = _pick(rng, _MODEL_POPULARITY)
    cls = _CLASSES[_pick(rng, _CLASS_MIX[model])]
    shape = cls.shapes[int(rng.integers(len(cls.shapes)))]
    tier_index = int(rng.choice(len(cls.tiers), p=np.array(cls.tier_weights)))
    tier = cls.tiers[tier_index]
    z = float(np.clip(rng.standard_normal(), -_RATE_Z_CLIP, _RATE_Z_CLIP))
    rate = cls.median_requests_per_s * math.exp(_RATE_SIGMA * z)

    regions = sorted({s.region for s in sites})
    region = _pick(rng, {r: _REGION_WEIGHT[r] for r in regions})
    home_sites = [s for s in sites if s.region == region]
    home = home_sites[int(rng.integers(len(home_sites)))]
    utc_offset = home.utc_offset_h + int(rng.integers(-1, 2))

    tenant: dict[str, Any] = {
        "name": f"t{index:04d}-{cls.name}-{model.split('-')[0]}",
        "model": model,
        "requests_per_s": _round_sig(rate),
        "input_tokens": shape.input_tokens,
        "output_tokens": shape.output_tokens,
        "ttft_s": tier.ttft_s,
        "min_tokens_per_s_per_user": tier.min_tokens_per_s_per_user,
        "slo_class": cls.name,
    }
    draw = rng.random()
    if draw < _P_DEDICATED_RACK:
        tenant["isolation"] = "dedicated-rack"
    elif draw < _P_DEDICATED_RACK + _P_DEDICATED:
        tenant["isolation"] = "dedicated"
    if len(sites) > 1 and rng.random() < _P_RESIDENCY[region]:
        tenant["sites"] = [s.name for s in home_sites]
    if rng.random() < _P_SPREAD:
        tenant["min_racks"] = 2
    if rng.random() < _P_NO_FP4:
        tenant["precisions"] = ["bf16", "fp8"]
    tenant["demand_profile"] = _daily_profile(rng, cls, utc_offset)
    # Tighter tiers pay more (tier 0 is the strictest); enterprise deals vary +-30%.
    premium = 1.0 + 0.25 * (len(cls.tiers) - 1 - tier_index)
    price = _LIST_PRICE_USD_PER_MTOK[model] * premium * rng.uniform(0.7, 1.3)
    tenant["price_usd_per_mtok"] = _round_sig(price)
    return tenant


def _estimated_gpus(tenants: Sequence[dict[str, Any]]) -> np.ndarray:
    """GPUs each tenant needs per hour, roughly (nominal throughput per model): (tenants, 24)."""
    return np.array([
        t["requests_per_s"] * (t["input_tokens"] + t["output_tokens"]) * np.array(t["demand_profile"])
        / _NOMINAL_TOKENS_PER_S_PER_GPU[t["model"]]
        for t in tenants
    ])


def _fleet(
    rng: np.random.Generator,
    sites: Sequence[_SiteTemplate],
    systems: Sequence[str],
    tenants: Sequence[dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Sites with power budgets and fleet entries with inventories.

    The first site offers every system; others a random subset of at least two.
    A site's power budget (all-in kW of the fleet's mean system) covers twice the
    sum of the peaks of the tenants pinned to it (shared among the sites they
    allow), plus 1-2.5x its share of the peak of everyone else, so site power
    binds on some instances without leaving pinned tenants homeless. The oldest
    system (first in ``systems``) and the newest NVL72 system in the fleet have
    limited inventory (existing racks, scarce new racks); the rest can be bought
    as needed. Sites offering fewer than three systems have no limits, and every
    site keeps at least one system without a limit.
    """
    catalog = builtin_systems()
    gpus = _estimated_gpus(tenants)
    free = np.array(["sites" not in t for t in tenants])
    share = float(gpus[free].sum(axis=0).max()) / len(sites) if free.any() else 0.0
    pinned = dict.fromkeys((s.name for s in sites), 0.0)
    for t, hourly in zip(tenants, gpus, strict=True):
        for name in t.get("sites", ()):
            pinned[name] += float(hourly.max()) / len(t["sites"])
    mean_allin_kw = float(np.mean([catalog[s].allin_kw_per_gpu for s in systems]))
    nvl = [s for s in systems if catalog[s].gpus_per_nvlink_domain > 8]
    limited = {systems[0], *(nvl[-1:] if nvl else ())}
    site_rows, fleet_rows = [], []
    for i, site in enumerate(sites):
        need = 2.0 * pinned[site.name] + share * rng.uniform(1.0, 2.5)
        site_rows.append({"name": site.name, "power_mw": _round_sig(max(need * mean_allin_kw / 1000, 0.5))})
        if i == 0 or len(systems) <= 2:
            offered = list(systems)
        else:
            size = int(rng.integers(2, len(systems) + 1))
            offered = [systems[j] for j in sorted(rng.choice(len(systems), size, replace=False))]
        # a site with few systems, or only limited ones, keeps one it can always buy more of
        unlimited = [s for s in offered if s not in limited or len(offered) < 3] or offered[-1:]
        for system in offered:
            entry: dict[str, Any] = {"system": system, "site": site.name}
            if system not in unlimited:
                racks = share * rng.uniform(0.2, 0.6) / catalog[system].gpus_per_rack
                entry["max_racks"] = max(2, round(racks))
            fleet_rows.append(entry)
    return site_rows, fleet_rows


def generate_instance(
    tenants: int,
    sites: int = 2,
    systems: Sequence[str] | None = None,
    seed: int = 0,
    name: str | None = None,
) -> Instance:
    """A validated instance with ``tenants`` tenants over ``sites`` sites.

    The same arguments always give the same instance.

    Raises:
        ValueError: ``tenants`` < 1, ``sites`` outside 1..8, an unknown or repeated system.
    """
    if tenants < 1:
        raise ValueError(f"tenants must be >= 1, got {tenants}")
    if not 1 <= sites <= len(_SITES):
        raise ValueError(f"sites must be between 1 and {len(_SITES)}, got {sites}")
    systems = tuple(systems or DEFAULT_SYSTEMS)
    unknown = [s for s in systems if s not in builtin_systems()]
    if unknown or not systems:
        raise ValueError(
            f"unknown system(s) {', '.join(unknown)}; choose from {', '.join(builtin_systems())}"
        )
    if len(set(systems)) != len(systems):
        raise ValueError(f"systems repeat: {', '.join(systems)}")

    rng = np.random.default_rng(seed)
    site_templates = _SITES[:sites]
    tenant_rows = [_tenant(rng, i, site_templates) for i in range(tenants)]
    site_rows, fleet_rows = _fleet(rng, site_templates, systems, tenant_rows)
    document = {
        "schema_version": 1,
        "name": name or f"gen-{tenants}t-{sites}s-seed{seed}",
        "sites": site_rows,
        "fleet": fleet_rows,
        "tenants": tenant_rows,
    }
    return parse_instance(document, source=document["name"])


def instance_to_compact_json(instance: Instance) -> str:
    """JSON text of ``instance`` with one site, fleet entry or tenant per line.

    Compact enough for thousand-tenant files, and line-oriented so that diffs stay readable.
    """
    data = instance.model_dump(mode="json", exclude_defaults=True)
    lines = ["{", f'"schema_version": {instance.schema_version},']
    items = list(data.items())
    for i, (key, value) in enumerate(items):
        comma = "," if i < len(items) - 1 else ""
        if isinstance(value, list) and value and isinstance(value[0], dict):
            rows = [json.dumps(row, separators=(", ", ": ")) for row in value]
            lines.append(f"{json.dumps(key)}: [")
            lines.extend(f"  {row}{',' if j < len(rows) - 1 else ''}" for j, row in enumerate(rows))
            lines.append(f"]{comma}")
        else:
            lines.append(f"{json.dumps(key)}: {json.dumps(value)}{comma}")
    lines.append("}")
    return "\n".join(lines) + "\n"
