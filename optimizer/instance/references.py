"""An instance's problems as ``(path, reason)`` pairs: :class:`InstanceError`, which carries them,
the names spelled nearest a misspelt id, and the cross-reference checks (tenant models and
sites, fleet systems, profile lengths), which run on plain data so that a file whose fields
fail still gets its cross-reference problems reported in the same pass.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from optimizer.catalog import PRECISIONS, Model, System, builtin_models, builtin_systems


class InstanceError(Exception):
    """An instance that cannot be used; ``problems`` lists ``(path, reason)`` pairs."""

    def __init__(self, problems: Iterable[tuple[str, str]], source: str = "") -> None:
        self.problems = list(problems)
        self.source = source
        lines = [f"{path}: {reason}" if path else reason for path, reason in self.problems]
        super().__init__("\n".join(lines))


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


def cross_reference_problems(doc: Mapping[str, Any]) -> list[tuple[str, str]]:
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


