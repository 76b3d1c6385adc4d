"""The performance model facade: candidate engine configurations and their loads.

``PerformanceModel`` answers, for one instance, which engine configurations can
serve a (model, system, precision, role) at a request shape and what linear load
each shape puts on them. Each (model, system, precision) is served by one source,
chosen by ``Instance.performance``:

- ``profiles``: the instance's ``[[profiles]]`` only;
- ``model``: the estimator (:mod:`optimizer.performance.estimate`): the roofline's engine
  configurations, their throughput scaled to the measured frontier where one is measured and
  carried by the roofline's ratios elsewhere, at the planning ``confidence``;
- ``auto``: the instance's profiles where it has any for that triple, else the estimator.

The estimator rests on the bundled measurements, or on a calibration file
(``Instance.calibration`` or the ``data`` argument: :mod:`optimizer.performance.calibrate`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from functools import lru_cache

import numpy as np

from optimizer.catalog import Precision, builtin_models, builtin_systems
from optimizer.instance import Instance, Tenant
from optimizer.performance.capacity import batch_hold_s, queue_utilisation, replica_seconds, sequences_in_flight
from optimizer.performance.contract import EngineConfig, Role, TokenLoad
from optimizer.performance.calibrate import PerformanceData, default_data, load_calibration
from optimizer.performance.estimate import DEFAULT_CONFIDENCE, INTERVAL, query_key
from optimizer.performance.profiles import ProfileSet

_SLO_TOLERANCE = 1e-9
"""Relative slack in SLO comparisons, so a target met exactly is not lost to rounding."""


TAIL_ATTAINMENT = 0.99
"""Share of requests a ``ttft_p99_s`` promise covers."""


def headroom_promise(tenant: Tenant) -> tuple[float, float, float, float | None, float]:
    """What ``tenant``'s queueing headroom (:meth:`PerformanceModel.tenant_loads`) depends on beyond
    its request shape: (TTFT promise s, ``ttft_attainment``, least positive scenario demand
    requests/s, which the headroom pools over, ``ttft_p99_s``, ``arrival_cv``). Tenants of one
    shape equal in these have equal loads."""
    profile = tenant.demand_profile or (1.0,)
    least = tenant.requests_per_s * min((m for m in profile if m > 0), default=0.0)
    return tenant.ttft_s, tenant.ttft_attainment, least, tenant.ttft_p99_s, tenant.arrival_cv


def meets_slo(tenant: Tenant, *loads: TokenLoad) -> bool:
    """Whether ``tenant``'s promises hold on one aggregated load or a (prefill, decode) pair.

    TTFT is the sum of the loads' ``ttft_s`` (prefill, then KV transfer and the
    first decode step); interactivity is the smallest ``tokens_per_s_per_user``.
    """
    if not loads:
        raise ValueError("meets_slo needs at least one load")
    ttft = sum(load.ttft_s for load in loads)
    interactivity = min(load.tokens_per_s_per_user for load in loads)
    return (
        ttft <= tenant.ttft_s * (1 + _SLO_TOLERANCE)
        and interactivity >= tenant.min_tokens_per_s_per_user * (1 - _SLO_TOLERANCE)
    )


class PerformanceModel:
    """Engine configurations and loads for one instance (``None``: built-in catalog, ``auto``)."""

    def __init__(
        self, instance: Instance | None = None, confidence: float = DEFAULT_CONFIDENCE,
        data: PerformanceData | None = None,
    ) -> None:
        """``confidence``: the planner plans on the throughput each engine reaches with this
        probability (the ``1 - confidence`` quantile of its band); ``data``: the estimator's
        points, factors and bands (default: the instance's calibration file, else the bundled)."""
        self.mode = instance.performance if instance is not None else "auto"
        self.confidence = confidence
        systems = instance.system_catalog if instance is not None else builtin_systems()
        models = instance.model_catalog if instance is not None else builtin_models()
        domains = {system_id: system.gpus_per_nvlink_domain for system_id, system in systems.items()}
        self.systems, self.models = systems, models
        self._own = ProfileSet(instance.profiles if instance is not None else (), domains)
        if data is None:
            path = instance.calibration_path if instance is not None else None
            data = load_calibration(path, systems, models) if path is not None else default_data()
        self.estimator = data.estimator(models, systems)
        self.roofline = self.estimator.roofline
        self._loads: dict[tuple[EngineConfig, int, int], TokenLoad | None] = {}
        """(configuration, isl, osl) -> load, filled by :meth:`loads`"""
        self._tenant_loads: dict[tuple[EngineConfig, int, int, tuple[float, float, float]], TokenLoad | None] = {}
        """(configuration, isl, osl, (ttft_s, ttft_attainment, least demand)) -> load with headroom, by :meth:`tenant_loads`"""
        self._configs = lru_cache(maxsize=None)(self._compute_configs)
        self._kv_capacity = lru_cache(maxsize=None)(self.roofline.kv_capacity_bytes)
        self._factors = lru_cache(maxsize=None)(self._planning_factor)

    def _profiles_for(self, model: str, system: str, precision: Precision) -> ProfileSet | None:
        """The profile set serving this triple, or None when the estimator does."""
        if self.mode == "model":
            return None
        if self.mode == "profiles" or self._own.covers(model, system, precision):
            return self._own
        return None

    def _planning_factor(self, config: EngineConfig, isl: int, osl: int) -> tuple[float, str]:
        mode = "agg" if config.role == "aggregated" else "disagg"
        key = query_key(config.model, config.system, config.precision, isl, osl, mode)
        return self.estimator.planning_factor(key, config.tokens_per_s_per_user, self.confidence)

    def basis(self, config: EngineConfig, isl: int, osl: int) -> str:
        """The detail label of the throughput ``config``'s load rests on at that shape
        (``profile`` for a profile; :data:`~optimizer.performance.anchors.DETAILS` otherwise)."""
        if config.source == "profile":
            return "profile"
        return self._factors(config, isl, osl)[1]

    def band(self, basis: str) -> tuple[float, float]:
        """(10%, 90%) quantiles of the real over the planned throughput at ``basis``: the
        80% interval of what an engine planned at :attr:`confidence` delivers; (1, 1) for a profile."""
        if basis == "profile":
            return 1.0, 1.0
        bands = self.estimator.bands
        planned = bands.factor(basis, 1 - self.confidence)
        return bands.factor(basis, INTERVAL[0]) / planned, bands.factor(basis, INTERVAL[1]) / planned

    def configs(
        self, model: str, system: str, precision: Precision, role: Role, isl: int, osl: int
    ) -> tuple[EngineConfig, ...]:
        """Candidate operating points of ``role`` for requests of ``isl`` in, ``osl`` out tokens.

        Only engines inside one NVLink domain (power-of-two GPUs, at most 64),
        Pareto-pruned over (tokens/s per GPU, interactivity, TTFT), at most about
        12, in a deterministic order; ``load(config, isl, osl)`` is not None for each.
        Empty for an unknown model or system or a precision the model has no weights in.
        """
        return self._configs(model, system, precision, role, isl, osl)

    def _compute_configs(
        self, model: str, system: str, precision: Precision, role: Role, isl: int, osl: int
    ) -> tuple[EngineConfig, ...]:
        if model not in self.models or system not in self.systems:
            return ()
        profiles = self._profiles_for(model, system, precision)
        if profiles is not None:
            return profiles.configs(model, system, precision, role, isl, osl)
        return self.roofline.configs(model, system, precision, role, isl, osl)

    def load(self, config: EngineConfig, isl: int, osl: int) -> TokenLoad | None:
        """The load requests of ``isl`` in / ``osl`` out tokens put on one replica of ``config``.

        None when that shape cannot run there (does not fit in memory, or cannot
        keep the configuration's interactivity or TTFT target).
        """
        return self.loads((config,), isl, osl)[0]

    def loads(self, configs: Sequence[EngineConfig], isl: int, osl: int) -> tuple[TokenLoad | None, ...]:
        """:meth:`load` of each of ``configs``: the roofline's not yet known in one vectorised pass."""
        missing = list(dict.fromkeys(c for c in configs if (c, isl, osl) not in self._loads))
        roofline = [c for c in missing if c.source != "profile" and c.model in self.models and c.system in self.systems]
        speed = [self._factors(config, isl, osl)[0] for config in roofline]
        for config, load in zip(roofline, self.roofline.loads(roofline, isl, osl, speed), strict=True):
            self._loads[(config, isl, osl)] = load
        for config in missing:
            if config.source == "profile":
                profiles = self._profiles_for(config.model, config.system, config.precision)
                self._loads[(config, isl, osl)] = profiles.load(config, isl, osl) if profiles is not None else None
            self._loads.setdefault((config, isl, osl), None)  # unknown model or system
        return tuple(self._loads[(c, isl, osl)] for c in configs)

    def tenant_load(self, tenant: Tenant, config: EngineConfig) -> TokenLoad | None:
        """The load of ``tenant``'s request shape on ``config``, headroom included (see :meth:`tenant_loads`)."""
        return self.tenant_loads(tenant, (config,))[0]

    def tenant_loads(self, tenant: Tenant, configs: Sequence[EngineConfig]) -> tuple[TokenLoad | None, ...]:
        """:meth:`loads` of ``tenant``'s request shape on each of ``configs``, with the queueing
        headroom its TTFT promise needs: batch slots are filled only to the
        :func:`~optimizer.performance.capacity.queue_utilisation` at which ``ttft_attainment`` of
        its requests wait at most their budget, and, with a ``ttft_p99_s`` promise, 99% at most
        that one's, under arrivals of its ``arrival_cv``. The slots pooled are those of the whole
        replicas its least positive scenario demand fills, at least one (a router sends each request
        to the least loaded of the groups that carry its tenant). The budget is the promise less
        the engine's TTFT (aggregated); half that (decode: the prefill queue shares the rest); on a prefill
        engine the wait its TTFT target leaves (``queue_wait_s``, plus what a ``ttft_p99_s``
        promise adds over ``ttft_s``), where the tail rule may allow less than the target's
        M/D/1 mean-wait utilisation, never more. What everything that plans, prices or checks
        sees; profile loads are measured and kept as they are."""
        isl, osl = tenant.input_tokens, tenant.output_tokens
        promise = headroom_promise(tenant)
        least = promise[2]
        missing = list(dict.fromkeys(c for c in configs if (c, isl, osl, promise) not in self._tenant_loads))
        if not missing:
            return tuple(self._tenant_loads[(c, isl, osl, promise)] for c in configs)
        raw = self.loads(missing, isl, osl)
        queued = [(c, load) for c, load in zip(missing, raw, strict=True) if load is not None and c.source != "profile"]
        if queued:
            role = np.array([c.role for c, _ in queued])
            engine_ttft = np.array([load.ttft_s for _, load in queued])
            planned = np.array([load.utilisation for _, load in queued])
            planned_wait = np.array([load.queue_wait_s for _, load in queued])
            replicas = np.array([max(1.0, math.floor(least * replica_seconds(load, isl, osl))) for _, load in queued])
            slots = replicas * np.array([sequences_in_flight(load, isl, osl) for _, load in queued])
            hold = np.array([batch_hold_s(load, osl) for _, load in queued])

            def allowed(promise_s: float, attainment: float) -> np.ndarray:
                budget = np.select([role == "prefill", role == "decode"],
                                   [planned_wait + promise_s - tenant.ttft_s, (promise_s - engine_ttft) / 2],
                                   promise_s - engine_ttft)
                return queue_utilisation(slots, hold, budget, attainment, tenant.arrival_cv)

            rho = np.minimum(planned, allowed(tenant.ttft_s, tenant.ttft_attainment))
            if tenant.ttft_p99_s is not None:
                rho = np.minimum(rho, allowed(tenant.ttft_p99_s, TAIL_ATTAINMENT))
            headroom = {c: replace(load, sec_per_input_token=load.sec_per_input_token * load.utilisation / r,
                                   sec_per_output_token=load.sec_per_output_token * load.utilisation / r,
                                   utilisation=r)
                        for (c, load), r in zip(queued, rho.tolist(), strict=True)}
        else:
            headroom = {}
        for config, load in zip(missing, raw, strict=True):
            self._tenant_loads[(config, isl, osl, promise)] = headroom.get(config, load)
        return tuple(self._tenant_loads[(c, isl, osl, promise)] for c in configs)

    def kv_capacity_bytes(self, config: EngineConfig) -> float:
        """KV-cache bytes one replica holds; ``inf`` for profile configurations."""
        if config.source == "profile":
            return math.inf
        return self._kv_capacity(config)

    def kv_bytes_per_token(self, config: EngineConfig) -> float:
        """KV bytes moved prefill -> decode per input token (the model's cache at that precision)."""
        return self.models[config.model].kv_bytes_per_token(config.precision)
