"""tenantplan: plan multi-tenant LLM serving on shared accelerator racks."""

from optimizer.catalog import Model, System, builtin_models, builtin_systems
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

__all__ = [
    "Economics",
    "EngineConfig",
    "EngineGroup",
    "FleetEntry",
    "Instance",
    "InstanceError",
    "Model",
    "Parallelism",
    "Plan",
    "Profile",
    "Rack",
    "Route",
    "Site",
    "System",
    "Tenant",
    "TokenLoad",
    "builtin_models",
    "builtin_systems",
    "load_instance",
    "parse_instance",
]
