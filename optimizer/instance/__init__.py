"""The instance: tenants, fleet, sites and economics a capacity planner writes.

One schema serves TOML (for people) and JSON (for tools). Every model is frozen,
forbids unknown keys and holds tuples, so an ``Instance`` is immutable once
validated. Cross-references (tenant models and sites, fleet systems, profile
lengths) are checked after parsing, and on the raw document when fields fail, so
every problem is reported at once as ``path: reason`` through
:class:`InstanceError`. ``docs/instance-format.md`` documents every field with
its unit.
"""

from .files import MAX_FILE_BYTES, MAX_NESTING, bundled_example, field_problems, load_instance, parse_instance, read_document
from .model import (
    DIGEST_SKIPS_AT_DEFAULT,
    MAX_SCENARIOS,
    MAX_TENANT_TOKENS_PER_S,
    MAX_TOTAL_TOKENS_PER_S,
    SCHEMA_VERSION,
    Economics,
    FleetEntry,
    Instance,
    Isolation,
    Multiplier,
    NonNegative,
    PerformanceSource,
    Profile,
    Role,
    Site,
    Tenant,
)
from .references import InstanceError, closest, cross_reference_problems, did_you_mean, unknown_reason

__all__ = [
    "DIGEST_SKIPS_AT_DEFAULT", "MAX_FILE_BYTES", "MAX_NESTING", "MAX_SCENARIOS", "MAX_TENANT_TOKENS_PER_S",
    "MAX_TOTAL_TOKENS_PER_S", "SCHEMA_VERSION", "Economics", "FleetEntry", "Instance", "InstanceError", "Isolation",
    "Multiplier", "NonNegative", "PerformanceSource", "Profile", "Role", "Site", "Tenant", "bundled_example",
    "closest", "cross_reference_problems", "did_you_mean", "field_problems", "load_instance", "parse_instance",
    "read_document", "unknown_reason",
]
