"""What each engine configuration delivers: the performance model's public face.

The planner needs, for an engine configuration at an operating point and a
tenant's request shape, a *linear* load: replica-seconds per input token and per
output token, and KV bytes held per unit of output rate. Each replica supplies
one replica-second per second and ``kv_capacity_bytes`` of KV memory, so a mix
of tenants loads an engine by the sum of their loads (DOMAIN.md, "A load model
that keeps the optimisation linear").

Two sources give these numbers, chosen by ``Instance.performance``:
measured profiles (the instance's ``[[profiles]]`` and, in ``auto`` mode, the
bundled profiles derived from InferenceMAX) and the calibrated roofline model.
``docs/performance-model.md`` describes both.
"""

from optimizer.performance.contract import EngineConfig, Role, TokenLoad
from optimizer.performance.estimate import DEFAULT_CONFIDENCE
from optimizer.performance.performance_model import PerformanceModel, headroom_promise, meets_slo

__all__ = ["DEFAULT_CONFIDENCE", "EngineConfig", "PerformanceModel", "Role", "TokenLoad", "headroom_promise", "meets_slo"]
