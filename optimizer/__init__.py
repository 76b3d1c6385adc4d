"""tenantplan: plan multi-tenant LLM serving on shared accelerator racks."""

from optimizer.catalog import Model, System, builtin_models, builtin_systems
from optimizer.check import Violation, check
from optimizer.evaluate import Report, evaluate
from optimizer.instance import (
    Economics,
    FleetEntry,
    Instance,
    InstanceError,
    Profile,
    Site,
    Tenant,
    load_instance,
    parse_instance,
)
from optimizer.performance import EngineConfig, TokenLoad
from optimizer.plan import EngineGroup, Parallelism, Plan, Rack, Route
from optimizer.result import Interrupted, Limit, Result, Status
from optimizer.solve import solve

__all__ = [
    "Economics",
    "EngineConfig",
    "EngineGroup",
    "FleetEntry",
    "Instance",
    "InstanceError",
    "Interrupted",
    "Limit",
    "Model",
    "Parallelism",
    "Plan",
    "Profile",
    "Rack",
    "Report",
    "Result",
    "Route",
    "Site",
    "Status",
    "System",
    "Tenant",
    "TokenLoad",
    "Violation",
    "builtin_models",
    "builtin_systems",
    "check",
    "evaluate",
    "load_instance",
    "parse_instance",
    "solve",
]
