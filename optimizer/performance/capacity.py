"""What racks and replicas hold: power per rack, GPUs a rack power cap leaves, scale-out
bandwidth and replica-seconds. The one home of each formula; planners, evaluator and checker call it."""

from __future__ import annotations

import math

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


def sequences_in_flight(load: TokenLoad, input_tokens: float, output_tokens: float) -> float:
    """Requests of ``input_tokens`` in, ``output_tokens`` out one replica of ``load`` holds at once
    when it is filled with them (Little's law): the requests/s it completes (one over
    :func:`replica_seconds` per request) times the seconds each stays, its TTFT plus the output
    at the engine's interactivity (TTFT alone on a prefill engine, which writes no output)."""
    decoding_s = output_tokens / load.tokens_per_s_per_user if load.sec_per_output_token > 0 else 0.0
    return (load.ttft_s + decoding_s) / replica_seconds(load, input_tokens, output_tokens)
