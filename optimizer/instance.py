"""The instance: tenants, fleet, sites and economics a capacity planner writes.

One schema serves TOML (for people) and JSON (for tools). Every model is frozen,
forbids unknown keys and holds tuples, so an ``Instance`` is immutable once
validated. Cross-references (tenant models and sites, fleet systems, profile
lengths) are checked after parsing; every problem is reported at once as
``path: reason`` through :class:`InstanceError`. ``docs/instance-format.md``
documents every field with its unit.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import tomllib
from collections.abc import Iterable, Mapping
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from optimizer.catalog import (
    Model,
    Precision,
    System,
    TcoBasis,
    builtin_models,
    builtin_systems,
)

SCHEMA_VERSION = 1
MAX_FILE_BYTES = 64 * 2**20
"""Instance files above this size are refused before parsing (64 MiB)."""

Isolation = Literal["shared", "dedicated", "dedicated-rack"]
Role = Literal["aggregated", "prefill", "decode"]
PerformanceSource = Literal["auto", "model", "profiles"]

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
        default="hyperscaler", description="catalog $/GPU-hour column used for every system"
    )
    energy_usd_per_kwh: float | None = Field(
        default=None,
        ge=0,
        description="electricity price; when given, all-in cost is split into energy "
        "(all-in kW per GPU x price) and capital plus hosting (the rest)",
    )


class Site(BaseModel):
    """A data-centre site."""

    model_config = _FROZEN

    name: str = Field(min_length=1)
    power_mw: float | None = Field(
        default=None, gt=0, description="budget of provisioned (all-in) power of opened racks, MW"
    )


class FleetEntry(BaseModel):
    """Racks of one system that may be opened at one site."""

    model_config = _FROZEN

    system: str = Field(min_length=1, description="catalog system id")
    site: str = Field(min_length=1, description="site name")
    max_racks: int | None = Field(default=None, ge=0, description="inventory; None = unlimited")
    usd_per_gpu_hour: float | None = Field(
        default=None, gt=0, description="all-in $/GPU-hour; None = catalog value at the TCO basis"
    )
    gpus_per_rack: int | None = Field(
        default=None, ge=1, description="GPUs per rack; None = catalog value"
    )
    rack_power_kw: float | None = Field(
        default=None,
        gt=0,
        description="cap on the IT power of the GPUs engines occupy in one rack, kW; None = no cap",
    )


class Tenant(BaseModel):
    """An enterprise customer: one model, a token volume and latency promises."""

    model_config = _FROZEN

    name: str = Field(min_length=1)
    model: str = Field(min_length=1, description="catalog model id")
    requests_per_s: float = Field(gt=0, description="mean request rate, requests/s")
    input_tokens: int = Field(ge=1, description="mean prompt tokens per request")
    output_tokens: int = Field(ge=1, description="mean generated tokens per request")
    ttft_s: float = Field(gt=0, description="promised median time to first token, s")
    min_tokens_per_s_per_user: float = Field(
        gt=0, description="promised median interactivity (1 / TPOT), tokens/s per user"
    )
    isolation: Isolation = "shared"
    sites: tuple[str, ...] | None = Field(
        default=None, min_length=1, description="residency: allowed sites; None = any"
    )
    min_racks: int = Field(
        default=1, ge=1, description="spread: no rack carries more than 1/min_racks of its tokens"
    )
    precisions: tuple[Precision, ...] | None = Field(
        default=None, min_length=1, description="allowed weight precisions; None = any"
    )
    demand_profile: tuple[float, ...] | None = Field(
        default=None, min_length=1, description="multiplier of requests_per_s per scenario"
    )
    price_usd_per_mtok: float | None = Field(
        default=None, ge=0, description="revenue per million tokens (input + output), $"
    )
    slo_class: str = Field(default="", description="free label for reports, e.g. chat, batch")

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

    model: str = Field(min_length=1)
    system: str = Field(min_length=1)
    precision: Precision
    role: Role
    gpus: int = Field(ge=1, description="GPUs per engine replica")
    tokens_per_s_per_user: float | None = Field(
        default=None, gt=0, description="interactivity, tokens/s per user (aggregated, decode)"
    )
    ttft_s: float | None = Field(default=None, gt=0, description="median TTFT, s (aggregated, prefill)")
    input_tokens_per_s: float | None = Field(
        default=None, gt=0, description="input tokens/s per replica (aggregated, prefill)"
    )
    output_tokens_per_s: float | None = Field(
        default=None, gt=0, description="output tokens/s per replica (aggregated, decode)"
    )
    input_tokens: int = Field(ge=1, description="prompt tokens per request when measured")
    output_tokens: int = Field(ge=1, description="generated tokens per request when measured")

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

    schema_version: Literal[1] = SCHEMA_VERSION
    name: str = Field(min_length=1)
    performance: PerformanceSource = Field(
        default="auto",
        description="operating points allowed: auto = profiles where given, model elsewhere",
    )
    scenario_weights: tuple[float, ...] | None = Field(
        default=None, min_length=1, description="weight (e.g. hours) of each demand scenario"
    )
    economics: Economics = Economics()
    sites: tuple[Site, ...] = Field(min_length=1)
    fleet: tuple[FleetEntry, ...] = Field(min_length=1)
    tenants: tuple[Tenant, ...] = Field(min_length=1)
    profiles: tuple[Profile, ...] = ()
    systems: tuple[System, ...] = Field(default=(), description="catalog systems added or replaced")
    models: tuple[Model, ...] = Field(default=(), description="catalog models added or replaced")

    @model_validator(mode="after")
    def _cross_references(self) -> Instance:
        problems = _cross_reference_problems(self)
        if problems:
            raise InstanceError(problems)
        return self

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
        """SHA-256 of the canonical JSON form: what a plan records it was made for."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


# -- validation helpers ---------------------------------------------------------------


def _suggest(name: str, valid: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(valid), n=1, cutoff=0.5)
    return f"; did you mean '{close[0]}'?" if close else ""


def _unknown(kind: str, name: str, valid: Iterable[str]) -> str:
    return f"unknown {kind} '{name}'{_suggest(name, valid)}"


def _duplicates(names: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    return [n for n in names if n in seen or seen.add(n)]  # type: ignore[func-returns-value]


def _cross_reference_problems(inst: Instance) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    systems, models = inst.system_catalog, inst.model_catalog
    site_names = [s.name for s in inst.sites]
    for name in _duplicates(site_names):
        problems.append(("sites", f"site name '{name}' appears more than once"))
    for name in _duplicates(t.name for t in inst.tenants):
        problems.append(("tenants", f"tenant name '{name}' appears more than once"))
    for i, entry in enumerate(inst.fleet):
        if entry.system not in systems:
            problems.append((f"fleet[{i}].system", _unknown("system", entry.system, systems)))
        if entry.site not in site_names:
            problems.append((f"fleet[{i}].site", _unknown("site", entry.site, site_names)))
    for pair in _duplicates(f"{e.system} at {e.site}" for e in inst.fleet):
        problems.append(("fleet", f"'{pair}' is listed more than once"))

    lengths = {len(t.demand_profile) for t in inst.tenants if t.demand_profile is not None}
    if len(lengths) > 1:
        problems.append(("tenants", f"demand_profile lengths differ: {sorted(lengths)}"))
    scenarios = inst.num_scenarios
    if inst.scenario_weights is not None:
        if len(inst.scenario_weights) != scenarios:
            problems.append((
                "scenario_weights",
                f"has {len(inst.scenario_weights)} entries but there are {scenarios} scenarios",
            ))
        if any(w < 0 for w in inst.scenario_weights) or sum(inst.scenario_weights) <= 0:
            problems.append(("scenario_weights", "must be >= 0 with a positive sum"))

    fleet_sites = {e.site for e in inst.fleet}
    for i, tenant in enumerate(inst.tenants):
        path = f"tenants[{i}]"
        model = models.get(tenant.model)
        if model is None:
            problems.append((f"{path}.model", _unknown("model", tenant.model, models)))
        elif tenant.precisions is not None and not set(tenant.precisions) & set(model.precisions):
            problems.append((
                f"{path}.precisions",
                f"{tenant.model} has weights only in {', '.join(model.precisions)}",
            ))
        for site in tenant.sites or ():
            if site not in site_names:
                problems.append((f"{path}.sites", _unknown("site", site, site_names)))
            elif site not in fleet_sites:
                problems.append((f"{path}.sites", f"site '{site}' has no fleet entry"))
        if tenant.demand_profile is not None and any(m < 0 for m in tenant.demand_profile):
            problems.append((f"{path}.demand_profile", "multipliers must be >= 0"))

    for i, profile in enumerate(inst.profiles):
        if profile.model not in models:
            problems.append((f"profiles[{i}].model", _unknown("model", profile.model, models)))
        if profile.system not in systems:
            problems.append((f"profiles[{i}].system", _unknown("system", profile.system, systems)))
        elif profile.gpus > systems[profile.system].gpus_per_nvlink_domain:
            problems.append((
                f"profiles[{i}].gpus",
                f"{profile.gpus} GPUs exceed the {systems[profile.system].gpus_per_nvlink_domain}"
                "-GPU NVLink domain",
            ))
    if inst.performance == "profiles" and not inst.profiles:
        problems.append(("performance", "'profiles' needs at least one [[profiles]] entry"))
    return problems


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
    "tuple_type": "must be a list",
    "model_type": "must be a table",
    "model_attributes_type": "must be a table",
    "bool_type": "must be true or false",
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


def _problems_from_validation(error: ValidationError) -> list[tuple[str, str]]:
    problems = []
    for detail in error.errors(include_url=False):
        loc = tuple(detail["loc"])
        kind = detail["type"]
        if kind == "extra_forbidden":
            reason = "unknown key" + _suggest(str(loc[-1]), _known_keys(loc))
        elif kind == "literal_error":
            reason = f"must be one of {detail['ctx']['expected']}"
        elif kind == "value_error":
            reason = str(detail["ctx"]["error"])
        elif kind in _PYDANTIC_REASONS:
            ctx = {k: f"{v:g}" if isinstance(v, float) else v for k, v in detail.get("ctx", {}).items()}
            reason = _PYDANTIC_REASONS[kind].format(**ctx)
        else:
            reason = detail["msg"]
        problems.append((_format_loc(loc), reason))
    return problems


def parse_instance(data: Mapping[str, Any], source: str = "") -> Instance:
    """Validate ``data`` (parsed TOML or JSON) as an :class:`Instance`.

    Raises:
        InstanceError: every problem found, each with its path and reason.
    """
    if not isinstance(data, Mapping):
        raise InstanceError([("", "the document must be a table (a JSON object)")], source)
    try:
        return Instance.model_validate(data)
    except ValidationError as error:
        raise InstanceError(_problems_from_validation(error), source) from None
    except InstanceError as error:
        raise InstanceError(error.problems, source) from None


def read_document(path: str | Path) -> dict[str, Any]:
    """Read a TOML or JSON file (by extension) into a dict, refusing huge files.

    Raises:
        InstanceError: unreadable file, unknown extension, too large, or a
            syntax error (with line and column).
    """
    path = Path(path)
    source = str(path)
    if path.suffix not in (".toml", ".json"):
        raise InstanceError([("", f"unknown file type '{path.suffix}': use .toml or .json")], source)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise InstanceError(
                [("", f"file is {size / 2**20:.0f} MiB, over the {MAX_FILE_BYTES // 2**20} MiB limit")],
                source,
            )
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InstanceError([("", f"cannot read file: {error}")], source) from None
    try:
        if path.suffix == ".toml":
            return tomllib.loads(text)
        return json.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InstanceError([("", f"TOML syntax error: {error}")], source) from None
    except json.JSONDecodeError as error:
        raise InstanceError(
            [("", f"JSON syntax error at line {error.lineno}, column {error.colno}: {error.msg}")],
            source,
        ) from None


def load_instance(path: str | Path) -> Instance:
    """Read and validate an instance file (``.toml`` or ``.json``).

    Raises:
        InstanceError: every problem found, each as ``path: reason``.
    """
    return parse_instance(read_document(path), str(path))

