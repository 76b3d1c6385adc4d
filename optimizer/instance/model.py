"""The instance's data model: tenants, fleet, sites and economics a capacity planner writes.

Every model is frozen, forbids unknown keys and holds tuples, so an :class:`Instance` is
immutable once validated; validation checks the cross-references too
(:func:`~optimizer.instance.references.cross_reference_problems`). ``docs/instance-format.md``
documents every field with its unit.
"""

from __future__ import annotations

import hashlib
import json
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from optimizer.catalog import (
    Model,
    Name,
    Precision,
    System,
    TcoBasis,
    builtin_models,
    builtin_systems,
)

from .references import InstanceError, cross_reference_problems

SCHEMA_VERSION = 1

Isolation = Literal["shared", "dedicated", "dedicated-rack"]
Role = Literal["aggregated", "prefill", "decode"]
PerformanceSource = Literal["auto", "model", "profiles"]
NonNegative = Annotated[float, Field(ge=0, strict=True)]
Multiplier = Annotated[float, Field(ge=0, le=1000, strict=True)]
"""A demand multiplier, dimensionless (0 to 1000)."""

MAX_SCENARIOS = 168
"""Demand scenarios at most: every hour of a week."""
MAX_TENANT_TOKENS_PER_S = 1e8
"""Peak input + output tokens/s of one tenant at most (the largest benchmark tenant has 2.2e7)."""
MAX_TOTAL_TOKENS_PER_S = 1e10
"""Peak input + output tokens/s of all tenants together at most (the largest benchmark, xlarge-01, has 3.5e9)."""

_FROZEN = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class Economics(BaseModel):
    """How GPU-hours are priced."""

    model_config = _FROZEN

    tco_basis: TcoBasis = Field(
        default="hyperscaler",
        description="which catalog all-in $/GPU-hour column prices every system: hyperscaler "
        "(owned), neocloud, rental-3yr",
    )
    energy_usd_per_kwh: float | None = Field(
        default=None,
        ge=0,
        le=100,
        strict=True,
        description="electricity price, $/kWh (0 to 100); when given, reports split all-in cost into energy "
        "(all-in kW per GPU x price) and capital plus hosting (the rest); absent = no split",
    )


class Site(BaseModel):
    """A data-centre site."""

    model_config = _FROZEN

    name: Name = Field(description="unique site name that fleet entries refer to")
    power_mw: float | None = Field(
        default=None,
        ge=1e-3,
        le=1e5,
        strict=True,
        description="budget of provisioned (all-in) power of the racks opened here, MW: each "
        "rack counts GPUs per rack x the system's all-in kW per GPU (0.001 to 100,000); absent = no budget",
    )


class FleetEntry(BaseModel):
    """Racks of one system that may be opened at one site."""

    model_config = _FROZEN

    system: Name = Field(description="catalog system id (built-in or [[systems]])")
    site: Name = Field(description="name of a [[sites]] entry")
    max_racks: int | None = Field(
        default=None, ge=0, le=100_000, strict=True,
        description="inventory: racks that may be opened (0 to 100,000); absent = unlimited",
    )
    usd_per_gpu_hour: float | None = Field(
        default=None,
        ge=1e-3,
        le=1000,
        strict=True,
        description="all-in cost, $/GPU-hour (0.001 to 1,000); absent = the catalog value at economics.tco_basis",
    )
    gpus_per_rack: int | None = Field(
        default=None,
        ge=1,
        le=4096,
        strict=True,
        description="GPUs per rack, a multiple of the NVLink domain size (1 to 4,096); absent = "
        "catalog value",
    )
    rack_power_kw: float | None = Field(
        default=None,
        ge=1e-3,
        le=1e4,
        strict=True,
        description="cap on the IT power of the GPUs engines occupy in one rack "
        "(GPUs x it_kw_per_gpu), kW (0.001 to 10,000); absent = no cap",
    )


DIGEST_SKIPS_AT_DEFAULT = {
    "survive": "none", "survive_share": 1.0, "ttft_attainment": 0.95, "ttft_p99_s": None, "arrival_cv": 1.0,
}
"""Tenant fields added after plans recorded digests: at these values they leave the digest as it was."""


class Tenant(BaseModel):
    """An enterprise customer: one model, a token volume and latency promises."""

    model_config = _FROZEN

    name: Name = Field(description="unique tenant name")
    model: Name = Field(description="catalog model id (built-in or [[models]])")
    requests_per_s: float = Field(
        ge=1e-6, le=1e5, strict=True,
        description="mean request rate, requests/s (0.000001 to 100,000; scaled per scenario by "
        "demand_profile)",
    )
    input_tokens: int = Field(
        ge=1, le=10_000_000, strict=True, description="mean prompt tokens per request (1 to 10 million)"
    )
    output_tokens: int = Field(
        ge=1, le=1_000_000, strict=True, description="mean generated tokens per request (1 to 1 million)"
    )
    ttft_s: float = Field(
        ge=1e-3, le=3600, strict=True,
        description="promised median time to first token, s (0.001 to 3,600)",
    )
    min_tokens_per_s_per_user: float = Field(
        ge=1e-3, le=1e5, strict=True,
        description="promised median interactivity (1 / TPOT), tokens/s per user (0.001 to 100,000)",
    )
    ttft_attainment: float = Field(
        default=0.95, gt=0.5, le=0.999, strict=True,
        description="share of requests that must meet ttft_s under random (Poisson) arrivals, for which "
        "the planner leaves queueing headroom (above 0.5, at most 0.999)",
    )
    ttft_p99_s: float | None = Field(
        default=None, ge=1e-3, le=3600, strict=True,
        description="promised 99th-percentile time to first token under the tenant's arrivals, s "
        "(0.001 to 3,600); the planner leaves the queueing headroom for it; absent = no tail promise",
    )
    arrival_cv: float = Field(
        default=1.0, gt=0.0, le=10.0, strict=True,
        description="coefficient of variation of the tenant's request inter-arrival times that the "
        "queueing headroom is sized for and simulate draws: 1 = Poisson, above 1 = bursty (above 0, at most 10)",
    )
    isolation: Isolation = Field(
        default="shared",
        description="shared = engines may serve other tenants; dedicated = engines of its own; "
        "dedicated-rack = racks of its own",
    )
    sites: tuple[Name, ...] | None = Field(
        default=None, min_length=1, max_length=1000, description="residency: sites that may serve it; absent = any"
    )
    min_racks: int = Field(
        default=1,
        ge=1,
        le=1000,
        strict=True,
        description="spread over failure domains: no rack carries more than 1/min_racks of its "
        "tokens (1 to 1,000)",
    )
    precisions: tuple[Precision, ...] | None = Field(
        default=None,
        min_length=1,
        description="allowed weight precisions; absent = any its model has weights for",
    )
    survive: Literal["none", "rack", "site"] = Field(
        default="none",
        description="failure survival: rack (site) = after the loss of any one rack (site) of the "
        "plan, re-routing to what remains still serves survive_share of its demand in every scenario",
    )
    survive_share: float = Field(
        default=1.0, gt=0, le=1, strict=True,
        description="share of its demand kept after a failure its survive names (above 0, at most 1)",
    )
    demand_profile: tuple[Multiplier, ...] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_SCENARIOS,
        description="multiplier of requests_per_s in each scenario (0 to 1,000); every tenant's has "
        "the same length S, the number of scenarios (at most 168); absent = 1 in every scenario",
    )
    price_usd_per_mtok: float | None = Field(
        default=None,
        ge=0,
        le=1e6,
        strict=True,
        description="revenue, $ per million tokens (input + output; 0 to 1 million), for margin and "
        "ROI reports; "
        "absent = not priced",
    )
    slo_class: str = Field(
        default="", max_length=128, pattern=r"^[^\x00-\x1f\x7f]*$", description="free label grouping tenants in reports, e.g. chat, reasoning, batch"
    )

    @model_validator(mode="after")
    def _tail_after_median(self) -> Tenant:
        if self.ttft_p99_s is not None and self.ttft_p99_s < self.ttft_s:
            raise ValueError(f"ttft_p99_s ({self.ttft_p99_s:g} s) is below ttft_s ({self.ttft_s:g} s): "
                             "a 99th percentile cannot be below the median")
        return self

    def demand(self, scenario: int) -> float:
        """Request rate in ``scenario``, requests/s."""
        if self.demand_profile is None:
            return self.requests_per_s
        return self.requests_per_s * self.demand_profile[scenario]

    def input_tokens_per_s(self, scenario: int) -> float:
        return self.demand(scenario) * self.input_tokens

    def output_tokens_per_s(self, scenario: int) -> float:
        return self.demand(scenario) * self.output_tokens


class Profile(BaseModel):
    """A measured operating point of one engine replica (bring your own benchmarks)."""

    model_config = _FROZEN

    model: Name = Field(description="catalog model id")
    system: Name = Field(description="catalog system id")
    precision: Precision = Field(description="weight precision served")
    role: Role = Field(
        description="aggregated = prefill and decode in one engine; prefill or decode = one "
        "phase of disaggregated serving"
    )
    gpus: int = Field(
        ge=1, le=4096, strict=True, description="GPUs per engine replica, at most one NVLink domain"
    )
    tokens_per_s_per_user: float | None = Field(
        default=None,
        ge=1e-3,
        le=1e5,
        strict=True,
        description="median interactivity (1 / TPOT), tokens/s per user (0.001 to 100,000); needed by aggregated "
        "and decode",
    )
    ttft_s: float | None = Field(
        default=None, ge=1e-3, le=3600, strict=True,
        description="median TTFT, s (0.001 to 3,600); needed by aggregated and prefill",
    )
    input_tokens_per_s: float | None = Field(
        default=None,
        ge=1e-3,
        le=1e9,
        strict=True,
        description="input tokens/s one replica processes (0.001 to 1e9); needed by aggregated and "
        "prefill",
    )
    output_tokens_per_s: float | None = Field(
        default=None,
        ge=1e-3,
        le=1e9,
        strict=True,
        description="output tokens/s one replica generates (0.001 to 1e9); needed by aggregated and "
        "decode",
    )
    input_tokens: int = Field(
        ge=1, le=10_000_000, strict=True,
        description="mean prompt tokens per request when measured (1 to 10 million)",
    )
    output_tokens: int = Field(
        ge=1, le=1_000_000, strict=True,
        description="mean generated tokens per request when measured (1 to 1 million)",
    )

    @model_validator(mode="after")
    def _fields_for_role(self) -> Profile:
        needed = {
            "aggregated": ("tokens_per_s_per_user", "ttft_s", "input_tokens_per_s", "output_tokens_per_s"),
            "prefill": ("ttft_s", "input_tokens_per_s"),
            "decode": ("tokens_per_s_per_user", "output_tokens_per_s"),
        }[self.role]
        missing = [name for name in needed if getattr(self, name) is None]
        if missing:
            raise ValueError(f"a {self.role} profile needs {', '.join(missing)}")
        return self


class Instance(BaseModel):
    """A planning problem. Load files with :func:`load_instance`."""

    model_config = _FROZEN

    schema_version: Literal[1] = Field(
        default=SCHEMA_VERSION, description="version of this file format"
    )
    name: Name = Field(description="instance name, recorded in plans and reports")
    performance: PerformanceSource = Field(
        default="auto",
        description="where engine capacities come from: profiles = only [[profiles]]; model = "
        "only the performance model; auto = profiles where given, the model elsewhere",
    )
    calibration: str | None = Field(
        default=None,
        min_length=1,
        max_length=4096,
        description="calibration file from `tenantplan calibrate` the performance model uses "
        "(relative to the instance file); absent = the bundled measurements",
    )
    scenario_weights: tuple[Multiplier, ...] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_SCENARIOS,
        description="weight (e.g. hours) of each demand scenario (0 to 1,000), normalised to sum 1; "
        "length S; absent = equal",
    )
    economics: Economics = Field(default=Economics(), description="how GPU-hours are priced")
    sites: tuple[Site, ...] = Field(min_length=1, max_length=100, description="data-centre sites (1 to 100)")
    fleet: tuple[FleetEntry, ...] = Field(
        min_length=1, max_length=1000, description="rack types that may be opened, per site (1 to 1,000)"
    )
    tenants: tuple[Tenant, ...] = Field(
        min_length=1, max_length=20_000, description="customers and their demand (1 to 20,000)"
    )
    profiles: tuple[Profile, ...] = Field(
        default=(), max_length=10_000,
        description="measured operating points (bring your own benchmarks; at most 10,000)",
    )
    systems: tuple[System, ...] = Field(
        default=(), max_length=100, description="catalog systems added, or replaced by id (at most 100)"
    )
    models: tuple[Model, ...] = Field(
        default=(), max_length=100, description="catalog models added, or replaced by id (at most 100)"
    )

    @model_validator(mode="after")
    def _cross_references(self) -> Instance:
        problems = cross_reference_problems(self.model_dump()) or self._volume_problems()
        if problems:
            raise InstanceError(problems)
        return self

    def _volume_problems(self) -> list[tuple[str, str]]:
        """Token volumes past :data:`MAX_TENANT_TOKENS_PER_S` and :data:`MAX_TOTAL_TOKENS_PER_S`."""
        problems = []
        scenarios = range(self.num_scenarios)
        totals = [0.0 for _ in scenarios]
        for i, tenant in enumerate(self.tenants):
            rates = [tenant.input_tokens_per_s(s) + tenant.output_tokens_per_s(s) for s in scenarios]
            totals = [total + rate for total, rate in zip(totals, rates, strict=True)]
            if max(rates) > MAX_TENANT_TOKENS_PER_S:
                problems.append((f"tenants[{i}]", f"peak {max(rates):.3g} tokens/s (requests_per_s x demand_profile x "
                                 f"(input_tokens + output_tokens)) is above the {MAX_TENANT_TOKENS_PER_S:g} limit"))
        if max(totals) > MAX_TOTAL_TOKENS_PER_S:
            problems.append(("tenants", f"all tenants together peak at {max(totals):.3g} tokens/s, above the "
                             f"{MAX_TOTAL_TOKENS_PER_S:g} limit"))
        return problems

    # -- resolved views -------------------------------------------------------------

    @cached_property
    def system_catalog(self) -> dict[str, System]:
        """Built-in systems with this instance's inline entries applied, by id."""
        return {**builtin_systems(), **{s.id: s for s in self.systems}}

    @cached_property
    def model_catalog(self) -> dict[str, Model]:
        """Built-in models with this instance's inline entries applied, by id."""
        return {**builtin_models(), **{m.id: m for m in self.models}}

    @property
    def calibration_path(self) -> Path | None:
        """The calibration file's path, or None for the bundled measurements."""
        return Path(self.calibration) if self.calibration is not None else None

    @property
    def num_scenarios(self) -> int:
        """S: the length of the demand profiles (1 when every tenant is flat)."""
        for tenant in self.tenants:
            if tenant.demand_profile is not None:
                return len(tenant.demand_profile)
        return len(self.scenario_weights) if self.scenario_weights else 1

    @property
    def weights(self) -> tuple[float, ...]:
        """Scenario weights normalised to sum to 1."""
        raw = self.scenario_weights or (1.0,) * self.num_scenarios
        total = sum(raw)
        return tuple(w / total for w in raw)

    def system(self, system_id: str) -> System:
        return self.system_catalog[system_id]

    def model(self, model_id: str) -> Model:
        return self.model_catalog[model_id]

    def tenant(self, name: str) -> Tenant:
        return self._tenants_by_name[name]

    @cached_property
    def _tenants_by_name(self) -> dict[str, Tenant]:
        return {t.name: t for t in self.tenants}

    def usd_per_gpu_hour(self, entry: FleetEntry) -> float:
        """All-in $/GPU-hour of racks from ``entry`` (override, else catalog at the TCO basis)."""
        if entry.usd_per_gpu_hour is not None:
            return entry.usd_per_gpu_hour
        return self.system(entry.system).usd_per_gpu_hour(self.economics.tco_basis)

    def gpus_per_rack(self, entry: FleetEntry) -> int:
        """GPUs in one rack of ``entry`` (override, else catalog)."""
        return entry.gpus_per_rack or self.system(entry.system).gpus_per_rack

    def fleet_entry(self, site: str, system: str) -> FleetEntry:
        """The fleet entry for ``system`` at ``site``; KeyError when there is none."""
        for entry in self.fleet:
            if entry.site == site and entry.system == system:
                return entry
        raise KeyError(f"no fleet entry for {system} at {site}")

    def allowed_precisions(self, tenant: Tenant) -> tuple[Precision, ...]:
        """Precisions ``tenant`` accepts that its model has weights for."""
        available = self.model(tenant.model).precisions
        return tuple(p for p in available if tenant.precisions is None or p in tenant.precisions)

    def allowed_sites(self, tenant: Tenant) -> tuple[str, ...]:
        return tenant.sites or tuple(site.name for site in self.sites)

    # -- serialisation --------------------------------------------------------------

    def to_json(self, indent: int | None = 2) -> str:
        """JSON text that :func:`load_instance` reads back to an equal instance."""
        return self.model_dump_json(indent=indent, exclude_defaults=True)

    def digest(self) -> str:
        """SHA-256 of the canonical JSON form: what a plan records it was made for. Tenant fields
        of :data:`DIGEST_SKIPS_AT_DEFAULT` at their default are left out, so an instance written
        before they existed keeps its digest (and its plans their match)."""
        data = self.model_dump(mode="json")
        for tenant in data["tenants"]:
            for name, default in DIGEST_SKIPS_AT_DEFAULT.items():
                if tenant[name] == default:
                    del tenant[name]
        canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

