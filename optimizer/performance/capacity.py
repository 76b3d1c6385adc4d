"""What racks and replicas hold: power per rack, GPUs a rack power cap leaves, scale-out
bandwidth, replica-seconds and the queueing headroom a latency promise needs. The one home of each formula; planners, evaluator and checker call it."""

from __future__ import annotations

import math

import numpy as np

from optimizer.catalog import System
from optimizer.performance.contract import TokenLoad


def allin_kw(system: System, gpus: int) -> float:
    """Provisioned power of ``gpus`` GPUs of ``system`` (a rack's: what a site budget counts), kW."""
    return gpus * system.allin_kw_per_gpu


def it_kw(system: System, gpus: int) -> float:
    """IT power of ``gpus`` occupied GPUs of ``system`` (what a rack power cap counts), kW."""
    return gpus * system.it_kw_per_gpu


def usable_gpus(system: System, rack_gpus: int, rack_power_kw: float | None) -> int:
    """GPUs of a ``rack_gpus``-GPU rack that engines may occupy under a ``rack_power_kw`` cap
    (None: no cap); 1e-9 keeps an exact quotient from rounding down."""
    if rack_power_kw is None:
        return rack_gpus
    return min(rack_gpus, math.floor(rack_power_kw / system.it_kw_per_gpu + 1e-9))


def scaleout_bytes_per_s(system: System, gpus: int) -> float:
    """Scale-out bandwidth of ``gpus`` GPUs of ``system``, bytes/s."""
    return gpus * system.scaleout_gbit_s / 8 * 1e9


def replica_seconds(load: TokenLoad, input_tokens: float, output_tokens: float) -> float:
    """Replica-seconds ``input_tokens`` and ``output_tokens`` take on an engine of ``load``: per
    request for one request's tokens, per second for tokens/s."""
    return input_tokens * load.sec_per_input_token + output_tokens * load.sec_per_output_token


def busy_seconds(load: TokenLoad, input_tokens: float, output_tokens: float) -> float:
    """Replica-seconds ``input_tokens`` and ``output_tokens`` keep an engine of ``load`` busy:
    :func:`replica_seconds` less the queueing headroom (``load.utilisation``) it charges."""
    return replica_seconds(load, input_tokens, output_tokens) * load.utilisation


def batch_hold_s(load: TokenLoad, output_tokens: float) -> float:
    """Seconds one request stays in a replica's batch: its TTFT less the queueing wait that TTFT
    holds, then ``output_tokens`` at the engine's interactivity (that TTFT alone on a prefill
    engine, which writes no output)."""
    decoding_s = output_tokens / load.tokens_per_s_per_user if load.sec_per_output_token > 0 else 0.0
    return load.ttft_s - load.queue_wait_s + decoding_s


def sequences_in_flight(load: TokenLoad, input_tokens: float, output_tokens: float) -> float:
    """Requests of ``input_tokens`` in, ``output_tokens`` out one replica of ``load`` holds at once
    when it is filled with them (Little's law): the requests/s it completes (one over
    :func:`busy_seconds` per request) times the seconds each stays (:func:`batch_hold_s`)."""
    return batch_hold_s(load, output_tokens) / busy_seconds(load, input_tokens, output_tokens)


MAX_UTILISATION = 0.95
"""Cap on the utilisation :func:`queue_utilisation` allows, however long the wait budget: the
prefill engines' cap (``roofline.MAX_PREFILL_UTILISATION``), so no engine is planned full"""
_NEWTON_TOLERANCE = 1e-14
"""Newton steps of ``log rho`` in :func:`queue_utilisation` stop below this (relative in rho)"""
_NEWTON_STEPS = 100
"""Most Newton steps :func:`queue_utilisation` takes; it converges in about 10"""


def queue_utilisation(slots: np.ndarray, hold_s: np.ndarray, wait_budget_s: np.ndarray,
                      attainment: np.ndarray, arrival_cv: np.ndarray | float = 1.0) -> np.ndarray:
    """Largest utilisation, at most :data:`MAX_UTILISATION`, of ``slots`` batch slots at which, under
    arrivals whose inter-arrival times have coefficient of variation ``arrival_cv`` (1: Poisson),
    at least ``attainment`` of requests wait at most ``wait_budget_s`` for a slot; 1 where the
    budget is not positive (the promise is broken at the engine already: ``meets_slo`` rejects it).

    The slots are an M/M/c queue: c = ``slots``, each request holding a slot for ``hold_s`` = S
    seconds on average, exponentially distributed (requests vary in length, and tenants of other
    shapes share an engine: M/M/c's service variability, which covers the simulator's fixed
    holds). With per-slot utilisation rho, the share that waits at all (Erlang C) is about
    ``rho^(sqrt(2(c + 1)) - 1)`` (Sakasegawa 1977, exact at c = 1), and a wait is exponential with
    mean ``S / (c (1 - rho))``, so::

        P(wait > Q) = rho^(sqrt(2(c + 1)) - 1) exp(-c (1 - rho) Q / S) <= 1 - attainment

    (M/M/1's exact tail at c = 1), whose left side rises with rho from 0 to 1. Burstier arrivals
    stretch the wait by Allen and Cunneen's G/G/c factor ``(cv^2 + 1) / 2`` (the holds' squared
    coefficient of variation is 1, as above): the mean wait ``S / (c (1 - rho))`` becomes
    ``S (cv^2 + 1) / (2 c (1 - rho))``.

    Solved in ``u = log rho``, vectorised: with ``a`` the exponent and ``d = c Q / (S (cv^2 + 1) / 2)``,
    ``g(u) = a u - d (1 - e^u) - log(1 - attainment)`` is increasing and convex, so Newton's method
    from ``u = log MAX_UTILISATION`` (where g > 0 unless the cap holds) falls monotonically onto
    the root from above; the answer is the last iterate less the tolerance, on the side that keeps
    the promise.
    """
    c, hold, budget, miss, cv = np.broadcast_arrays(*(np.asarray(x, dtype=float) for x in (
        slots, hold_s, wait_budget_s, 1.0 - np.asarray(attainment), arrival_cv)))
    exponent = np.sqrt(2 * (np.maximum(c, 1.0) + 1)) - 1
    decay = c * np.maximum(budget, 0.0) / (hold * (cv**2 + 1) / 2)
    with np.errstate(divide="ignore"):
        log_miss = np.log(miss)  # -inf when every request must be on time: no utilisation keeps that

    def g(u: np.ndarray) -> np.ndarray:  # log P(wait > Q) - log(1 - attainment) at rho = e^u
        return exponent * u - decay * (1 - np.exp(u)) - log_miss

    u = np.full(c.shape, math.log(MAX_UTILISATION))
    capped = g(u) <= 0
    active = ~capped & np.isfinite(log_miss)
    for _ in range(_NEWTON_STEPS):
        if not active.any():
            break
        step = np.where(active, g(u) / (exponent + decay * np.exp(u)), 0.0)
        u = u - step
        active &= step > _NEWTON_TOLERANCE
    rho = np.where(capped, MAX_UTILISATION, np.exp(u - _NEWTON_TOLERANCE))
    rho = np.where(np.isfinite(log_miss) | capped, rho, 0.0)
    return np.where(budget > 0, rho, 1.0)
