"""Measured profiles as engine configurations: an instance's ``[[profiles]]``.

A profile is one measured operating point of one replica. It becomes an
:class:`EngineConfig` with ``source="profile"``, ``tp = gpus`` and its measured
interactivity and TTFT; its load charges every token the same replica time it
cost in the measurement (DOMAIN.md, "A load model that keeps the optimisation
linear"):

- aggregated: ``1 / (input_tokens_per_s + output_tokens_per_s)`` s per input and
  per output token;
- prefill: ``1 / input_tokens_per_s`` per input token, interactivity ``inf``;
- decode: ``1 / output_tokens_per_s`` per output token, TTFT 0.

KV memory is not charged (``kv_bytes_per_output_rate = 0``, capacity ``inf``):
the measurement already ran within the replica's memory.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Iterable

from optimizer.catalog import Precision
from optimizer.instance import Profile
from optimizer.performance.contract import EngineConfig, Role, TokenLoad
from optimizer.performance.pareto import pareto_indices, spread

logger = logging.getLogger(__name__)

MAX_CONFIGS_PER_ROLE = 12
"""At most this many candidate operating points per (model, system, precision, role, shape)."""


def profile_config(profile: Profile) -> EngineConfig:
    """The engine configuration a profile measured."""
    return EngineConfig(
        model=profile.model,
        system=profile.system,
        precision=profile.precision,
        role=profile.role,
        gpus=profile.gpus,
        tp=profile.gpus,
        tokens_per_s_per_user=profile.tokens_per_s_per_user if profile.role != "prefill" else None,
        ttft_s=profile.ttft_s if profile.role != "decode" else None,
        source="profile",
    )


def profile_load(profile: Profile) -> TokenLoad:
    """The linear load of a profile (module docstring)."""
    if profile.role == "aggregated":
        per_token = 1.0 / (profile.input_tokens_per_s + profile.output_tokens_per_s)  # type: ignore[operator]
        return TokenLoad(per_token, per_token, 0.0, profile.ttft_s, profile.tokens_per_s_per_user)  # type: ignore[arg-type]
    if profile.role == "prefill":
        return TokenLoad(1.0 / profile.input_tokens_per_s, 0.0, 0.0, profile.ttft_s, math.inf)  # type: ignore[arg-type,operator]
    return TokenLoad(0.0, 1.0 / profile.output_tokens_per_s, 0.0, 0.0, profile.tokens_per_s_per_user)  # type: ignore[arg-type,operator]


def _tokens_per_s_per_gpu(profile: Profile) -> float:
    return ((profile.input_tokens_per_s or 0.0) + (profile.output_tokens_per_s or 0.0)) / profile.gpus


def _shape_distance(profile: Profile, isl: int, osl: int) -> float:
    return abs(math.log(profile.input_tokens / isl)) + abs(math.log(profile.output_tokens / osl))


def _is_engine_size(gpus: int, domain: int) -> bool:
    """Power-of-two GPU count inside one NVLink domain (at most 64 GPUs)."""
    return gpus & (gpus - 1) == 0 and gpus <= min(domain, 64)


class ProfileSet:
    """Profiles grouped for lookup by (model, system, precision) and by configuration."""

    def __init__(self, profiles: Iterable[Profile], domain_gpus: dict[str, int]) -> None:
        self._by_triple: dict[tuple[str, str, str], list[Profile]] = defaultdict(list)
        self._by_config: dict[EngineConfig, list[Profile]] = defaultdict(list)
        for profile in profiles:
            if not _is_engine_size(profile.gpus, domain_gpus.get(profile.system, 0)):
                logger.warning(
                    "profile %s on %s with %d GPUs is not a power-of-two engine inside one "
                    "NVLink domain; ignored", profile.model, profile.system, profile.gpus,
                )
                continue
            self._by_triple[(profile.model, profile.system, profile.precision)].append(profile)
            self._by_config[profile_config(profile)].append(profile)

    def covers(self, model: str, system: str, precision: Precision) -> bool:
        """Whether any profile measures ``model`` on ``system`` in ``precision``."""
        return (model, system, precision) in self._by_triple

    def configs(
        self, model: str, system: str, precision: Precision, role: Role, isl: int, osl: int
    ) -> tuple[EngineConfig, ...]:
        """Pareto-best measured operating points of ``role`` at the measured shape nearest (isl, osl).

        Pareto over (tokens/s per GPU up, interactivity up, TTFT down); at most
        :data:`MAX_CONFIGS_PER_ROLE`, spread over interactivity (TTFT for
        prefill); ordered by interactivity then TTFT, both best first.
        """
        candidates = [p for p in self._by_triple.get((model, system, precision), ()) if p.role == role]
        if not candidates:
            return ()
        nearest = min(_shape_distance(p, isl, osl) for p in candidates)
        at_shape = [p for p in candidates if _shape_distance(p, isl, osl) == nearest]
        objectives = [
            (
                _tokens_per_s_per_gpu(p),
                p.tokens_per_s_per_user or math.inf,
                -(p.ttft_s or 0.0),
            )
            for p in at_shape
        ]
        kept = [at_shape[i] for i in pareto_indices(objectives)]
        configs = sorted(
            {profile_config(p) for p in kept},
            key=lambda c: (-(c.tokens_per_s_per_user or math.inf), c.ttft_s or 0.0, c.gpus),
        )
        return spread(configs, MAX_CONFIGS_PER_ROLE)

    def load(self, config: EngineConfig, isl: int, osl: int) -> TokenLoad | None:
        """Load of the profile behind ``config`` measured nearest to (isl, osl); None if unknown."""
        matches = self._by_config.get(config)
        if not matches:
            return None
        best = min(matches, key=lambda p: (_shape_distance(p, isl, osl), p.input_tokens, p.output_tokens))
        return profile_load(best)
