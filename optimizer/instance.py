"""The instance: tenants, fleet, sites and economics a capacity planner writes.

One schema serves TOML (for people) and JSON (for tools). Every model is frozen,
forbids unknown keys and holds tuples, so an ``Instance`` is immutable once
validated. Cross-references (tenant models and sites, fleet systems, profile
lengths) are checked after parsing, and on the raw document when fields fail, so
every problem is reported at once as ``path: reason`` through
:class:`InstanceError`. ``docs/instance-format.md`` documents every field with
its unit.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import tomllib
from collections.abc import Iterable, Mapping
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from optimizer.catalog import (
    PRECISIONS,
    Model,
    Name,
    Precision,
    System,
    TcoBasis,
    builtin_models,
    builtin_systems,
)

SCHEMA_VERSION = 1
MAX_FILE_BYTES = 16 * 2**20
"""Instance files above this size are refused before parsing (16 MiB; a thousand tenants
with hourly profiles over a week take 1.1 MiB of TOML)."""

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
MAX_TOTAL_TOKENS_PER_S = 1e9
"""Peak input + output tokens/s of all tenants together at most (the largest benchmark has 3.9e8)."""

_FROZEN = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class InstanceError(Exception):
    """An instance that cannot be used; ``problems`` lists ``(path, reason)`` pairs."""

    def __init__(self, problems: Iterable[tuple[str, str]], source: str = "") -> None:
        self.problems = list(problems)
        self.source = source
        lines = [f"{path}: {reason}" if path else reason for path, reason in self.problems]
        super().__init__("\n".join(lines))


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


DIGEST_SKIPS_AT_DEFAULT = {"survive": "none", "survive_share": 1.0}
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
        min_length=1, max_length=5000, description="customers and their demand (1 to 5,000)"
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
        problems = _cross_reference_problems(self.model_dump()) or self._volume_problems()
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


# -- cross-reference checks -----------------------------------------------------------
#
# These run on plain data (a parsed document, or a validated instance's dump), so a
# file whose fields are wrong still gets its cross-reference problems reported in the
# same pass. Entries whose own fields are invalid are checked as far as they can be.


def closest(name: str, valid: Iterable[str]) -> str | None:
    """The valid name ``name`` most likely stands for: of those that contain it (``gb200`` ->
    ``gb200-nvl72``), else of all, the nearest in spelling (difflib, similarity at least 0.5); None."""
    names = list(valid)
    holding = [v for v in names if name and name.lower() in v.lower()]
    close = difflib.get_close_matches(name, holding or names, n=1, cutoff=0.0 if holding else 0.5)
    return close[0] if close else None


def did_you_mean(name: str, valid: Iterable[str]) -> str:
    """"; did you mean 'x'?" with :func:`closest`, or '' when nothing is close."""
    close = closest(name, valid)
    return f"; did you mean '{close}'?" if close is not None else ""


def unknown_reason(kind: str, name: str, valid: Iterable[str]) -> str:
    return f"unknown {kind} '{name}'{did_you_mean(name, valid)}"


def _duplicates(names: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    repeated: list[str] = []
    for name in names:
        if name in seen and name not in repeated:
            repeated.append(name)
        seen.add(name)
    return repeated


def _tables(doc: Mapping[str, Any], key: str) -> list[tuple[int, Mapping[str, Any]]]:
    """``(index, table)`` for each table in the array ``doc[key]``; non-tables skipped."""
    value = doc.get(key)
    if not isinstance(value, list | tuple):
        return []
    return [(i, table) for i, table in enumerate(value) if isinstance(table, Mapping)]


def _text(table: Mapping[str, Any], key: str) -> str | None:
    value = table.get(key)
    return value if isinstance(value, str) and value else None


def _numbers(value: Any) -> list[float] | None:
    """``value`` as a list of numbers, or None when it is not one."""
    if not isinstance(value, list | tuple):
        return None
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        return None
    return [float(v) for v in value]


def _catalog_entries(
    doc: Mapping[str, Any], key: str, kind: type[System] | type[Model], builtin: Mapping[str, Any]
) -> dict[str, Any]:
    """Built-in entries plus the document's inline ones, by id (None for an invalid one)."""
    entries: dict[str, Any] = dict(builtin)
    for _, table in _tables(doc, key):
        entry_id = _text(table, "id")
        if entry_id is None:
            continue
        try:
            entries[entry_id] = kind.model_validate(table)
        except ValidationError:
            entries[entry_id] = None
    return entries


def _cross_reference_problems(doc: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Problems between the tables of ``doc``: unknown ids, repeats, lengths that disagree."""
    problems: list[tuple[str, str]] = []
    systems: dict[str, System | None] = _catalog_entries(doc, "systems", System, builtin_systems())
    models: dict[str, Model | None] = _catalog_entries(doc, "models", Model, builtin_models())
    for key in ("systems", "models"):
        for entry_id in _duplicates(_text(t, "id") or "" for _, t in _tables(doc, key)):
            if entry_id:
                problems.append((key, f"id '{entry_id}' appears more than once"))

    site_names = [name for _, t in _tables(doc, "sites") if (name := _text(t, "name"))]
    for name in _duplicates(site_names):
        problems.append(("sites", f"site name '{name}' appears more than once"))
    tenants = _tables(doc, "tenants")
    for name in _duplicates(_text(t, "name") or "" for _, t in tenants):
        if name:
            problems.append(("tenants", f"tenant name '{name}' appears more than once"))

    fleet_pairs = []
    for i, entry in _tables(doc, "fleet"):
        system_id, site = _text(entry, "system"), _text(entry, "site")
        if system_id is not None and system_id not in systems:
            problems.append((f"fleet[{i}].system", unknown_reason("system", system_id, systems)))
        if site is not None and site not in site_names:
            problems.append((f"fleet[{i}].site", unknown_reason("site", site, site_names)))
        system = systems.get(system_id or "")
        gpus_per_rack = entry.get("gpus_per_rack")
        if system is not None and isinstance(gpus_per_rack, int) and gpus_per_rack >= 1:
            if gpus_per_rack % system.gpus_per_nvlink_domain:
                problems.append((
                    f"fleet[{i}].gpus_per_rack",
                    f"must be a multiple of the {system.gpus_per_nvlink_domain}-GPU NVLink domain "
                    f"of {system_id}",
                ))
        if system_id is not None and site is not None:
            fleet_pairs.append(f"{system_id} at {site}")
    for pair in _duplicates(fleet_pairs):
        problems.append(("fleet", f"'{pair}' is listed more than once"))
    fleet_sites = {_text(entry, "site") for _, entry in _tables(doc, "fleet")}

    profile_lengths = {
        len(profile)
        for _, t in tenants
        if (profile := _numbers(t.get("demand_profile"))) is not None
    }
    if len(profile_lengths) > 1:
        problems.append(("tenants", f"demand_profile lengths differ: {sorted(profile_lengths)}"))
    weights = _numbers(doc.get("scenario_weights"))
    if weights:
        if len(profile_lengths) == 1 and len(weights) not in profile_lengths:
            problems.append((
                "scenario_weights",
                f"has {len(weights)} entries but the demand profiles have "
                f"{profile_lengths.pop()} scenarios",
            ))
        if all(w >= 0 for w in weights) and sum(weights) <= 0:
            problems.append(("scenario_weights", "must have a positive sum"))

    for i, tenant in tenants:
        path = f"tenants[{i}]"
        model_id = _text(tenant, "model")
        if model_id is not None and model_id not in models:
            problems.append((f"{path}.model", unknown_reason("model", model_id, models)))
        model = models.get(model_id or "")
        precisions = tenant.get("precisions")
        if model is not None and isinstance(precisions, list | tuple):
            known = set(precisions) & set(PRECISIONS)
            if known and not known & set(model.precisions):
                problems.append((
                    f"{path}.precisions",
                    f"{model_id} has weights only in {', '.join(model.precisions)}",
                ))
        sites = tenant.get("sites")
        for site in sites if isinstance(sites, list | tuple) else ():
            if not isinstance(site, str):
                continue
            if site not in site_names:
                problems.append((f"{path}.sites", unknown_reason("site", site, site_names)))
            elif site not in fleet_sites:
                problems.append((f"{path}.sites", f"site '{site}' has no fleet entry"))

    profiles = _tables(doc, "profiles")
    for i, profile in profiles:
        model_id, system_id = _text(profile, "model"), _text(profile, "system")
        if model_id is not None and model_id not in models:
            problems.append((f"profiles[{i}].model", unknown_reason("model", model_id, models)))
        model = models.get(model_id or "")
        precision = profile.get("precision")
        if model is not None and precision in PRECISIONS and precision not in model.precisions:
            problems.append((
                f"profiles[{i}].precision",
                f"{model_id} has weights only in {', '.join(model.precisions)}",
            ))
        if system_id is not None and system_id not in systems:
            problems.append((f"profiles[{i}].system", unknown_reason("system", system_id, systems)))
        system = systems.get(system_id or "")
        gpus = profile.get("gpus")
        if system is not None and isinstance(gpus, int) and gpus > system.gpus_per_nvlink_domain:
            problems.append((
                f"profiles[{i}].gpus",
                f"{gpus} GPUs exceed the {system.gpus_per_nvlink_domain}-GPU NVLink domain "
                f"of {system_id}",
            ))
    if doc.get("performance") == "profiles":
        profiled = {_text(p, "model") for _, p in profiles}
        for i, tenant in tenants:
            model_id = _text(tenant, "model")
            if model_id in models and model_id not in profiled:
                problems.append((
                    f"tenants[{i}].model",
                    f"performance = 'profiles' but no [[profiles]] entry is for '{model_id}'",
                ))
    return problems


# -- field errors, in words -------------------------------------------------------------


_PYDANTIC_REASONS = {
    "greater_than": "must be > {gt}",
    "greater_than_equal": "must be >= {ge}",
    "less_than": "must be < {lt}",
    "less_than_equal": "must be <= {le}",
    "finite_number": "must be a finite number",
    "missing": "is required",
    "too_short": "must have at least {min_length} entries",
    "string_too_short": "must not be empty",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "string_type": "must be a string",
    "tuple_type": "must be an array",
    "model_type": "must be a table",
    "model_attributes_type": "must be a table",
    "bool_type": "must be true or false",
    "too_long": "must have at most {max_length} entries",
    "string_too_long": "must be at most {max_length} characters",
    "string_pattern_mismatch": "must not contain control characters",
}


def _format_loc(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def _known_keys(loc: tuple[Any, ...]) -> list[str]:
    """Field names valid at the table that holds ``loc`` (for suggestions)."""
    owner: type[BaseModel] = Instance
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        annotation = owner.model_fields[part].annotation
        nested = [a for a in getattr(annotation, "__args__", (annotation,)) if a is not Ellipsis]
        owner = next((a for a in nested if isinstance(a, type) and issubclass(a, BaseModel)), owner)
    return list(owner.model_fields)


def _reason(detail: Mapping[str, Any]) -> str:
    """One pydantic error in the words of the file format."""
    kind = detail["type"]
    loc = tuple(detail["loc"])
    if kind == "extra_forbidden":
        return "unknown key" + did_you_mean(str(loc[-1]), _known_keys(loc))
    if kind == "literal_error":
        expected = re.findall(r"'([^']*)'", detail["ctx"]["expected"]) or [detail["ctx"]["expected"]]
        given = detail["input"]
        hint = did_you_mean(given, expected) if isinstance(given, str) else ""
        return f"must be one of {', '.join(expected)}{hint}"
    if kind == "value_error":
        return str(detail["ctx"]["error"])
    if kind in ("int_type", "float_type") and isinstance(detail["input"], bool | str):
        what = "an integer" if kind == "int_type" else "a number"
        return f"must be {what}, not {'a boolean' if isinstance(detail['input'], bool) else 'a string'}"
    if kind == "int_type" and isinstance(detail["input"], float):
        return "must be a whole number (an integer)"
    if kind == "too_short" and detail["ctx"]["min_length"] == 1:
        return "must not be empty"
    if kind in _PYDANTIC_REASONS:
        ctx = {k: f"{v:g}" if isinstance(v, float) else v for k, v in detail.get("ctx", {}).items()}
        return _PYDANTIC_REASONS[kind].format(**ctx)
    return str(detail["msg"])


def parse_instance(data: Mapping[str, Any], source: str = "") -> Instance:
    """Validate ``data`` (parsed TOML or JSON) as an :class:`Instance`.

    Field errors and cross-reference errors are reported together: when fields
    fail, the cross-reference checks still run on the raw document (they skip
    values that failed their own field checks).

    Raises:
        InstanceError: every problem found, each with its path and reason.
    """
    if not isinstance(data, Mapping):
        raise InstanceError([("", "the document must be a table (a JSON object)")], source)
    try:
        return Instance.model_validate(data)
    except InstanceError as error:
        raise InstanceError(error.problems, source) from None
    except ValidationError as error:
        problems = field_problems(error)
    raise InstanceError(problems + _cross_reference_problems(data), source)


def field_problems(error: ValidationError) -> list[tuple[str, str]]:
    """Pydantic's errors as ``(path, reason)`` pairs in the words of the file format."""
    return [
        (_format_loc(tuple(d["loc"])), _reason(d))
        for d in error.errors(include_url=False)
        if not _counts_failed_items(d)
    ]


def _counts_failed_items(detail: Mapping[str, Any]) -> bool:
    """A "too short" error that pydantic raises only because items failed (reported already)."""
    given = detail["input"]
    return (
        detail["type"] == "too_short"
        and isinstance(given, list | tuple)
        and len(given) >= detail["ctx"]["min_length"]
    )


MAX_NESTING = 8
"""Arrays and tables nested deeper than this are refused (plans need 6, instances 4)."""


def _nesting_depth(document: Any) -> int:
    """How many arrays and tables are nested in ``document`` at most (without recursion)."""
    deepest, stack = 0, [(document, 1)]
    while stack:
        value, depth = stack.pop()
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        if depth <= MAX_NESTING:
            stack.extend((child, depth + 1) for child in children)
    return deepest


_SYNTAX_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")


def _decode(text: str, suffix: str) -> Any:
    """Parse TOML or JSON text; syntax errors name the line and column, deep nesting is refused."""
    too_deep = InstanceError([("", f"arrays and tables nested deeper than {MAX_NESTING} levels")])
    try:
        document = _parse(text, suffix)
    except RecursionError:
        raise too_deep from None
    if _nesting_depth(document) > MAX_NESTING:
        raise too_deep
    return document


def _parse(text: str, suffix: str) -> Any:
    if suffix == ".toml":
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            message = str(error)
            where = _SYNTAX_POSITION.search(message)
            if where is None:
                reason = f"TOML syntax error: {message}"
            else:
                line, column = where.groups()
                reason = (
                    f"TOML syntax error at line {line}, column {column}: "
                    f"{message[: where.start()]}"
                )
            raise InstanceError([("", reason)]) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        reason = f"JSON syntax error at line {error.lineno}, column {error.colno}: {error.msg}"
        raise InstanceError([("", reason)]) from None


def read_document(path: str | Path) -> dict[str, Any]:
    """Read a TOML or JSON file (by extension) into a dict, refusing huge files.

    Raises:
        InstanceError: unreadable file, unknown extension, over
            :data:`MAX_FILE_BYTES`, or a syntax error (with line and column).
    """
    path = Path(path)
    source = str(path)
    if path.suffix not in (".toml", ".json"):
        raise InstanceError([("", f"unknown file type '{path.suffix}': use .toml or .json")], source)
    too_large = InstanceError(
        [("", f"file is larger than the {MAX_FILE_BYTES // 2**20} MiB limit for instance files")],
        source,
    )
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise too_large
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)  # bounded even if the file grows or is a pipe
        if len(raw) > MAX_FILE_BYTES:
            raise too_large
        text = raw.decode("utf-8")
    except OSError as error:
        raise InstanceError([("", f"cannot read file: {error.strerror or error}")], source) from None
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        reason = f"not UTF-8 text: byte 0x{raw[error.start]:02x} on line {line}"
        raise InstanceError([("", reason)], source) from None
    try:
        return _decode(text, path.suffix)
    except InstanceError as error:
        raise InstanceError(error.problems, source) from None


def bundled_example(name: str) -> Path:
    """Path of an example shipped with the package, e.g. ``"enterprise-mix.toml"``.

    Raises:
        InstanceError: no bundled example has that name (the message lists them).
    """
    folder = resources.files("optimizer.instances").joinpath("examples")
    path = Path(str(folder.joinpath(name)))
    if not path.is_file():
        names = sorted(p.name for p in Path(str(folder)).iterdir())
        reason = f"{unknown_reason('example', name, names)} (bundled: {', '.join(names)})"
        raise InstanceError([("", reason)])
    return path


def load_instance(path: str | Path) -> Instance:
    """Read and validate an instance file (``.toml`` or ``.json``).

    Raises:
        InstanceError: every problem found, each as ``path: reason``.
    """
    doc = read_document(path)
    if isinstance(doc, dict) and isinstance(doc.get("calibration"), str) and not Path(doc["calibration"]).is_absolute():
        doc["calibration"] = str(Path(path).parent / doc["calibration"])
    return parse_instance(doc, str(path))
