"""A discrete-event simulation of a plan's engines under random arrivals.

Requests of each tenant arrive at its demand rate in a scenario (Poisson, or gamma
inter-arrival times with a coefficient of variation: bursts) and take an engine group
at random in proportion to the requests/s the plan routes there (prefill and decode
chosen apart for a disaggregated tenant). Each engine group is its replicas' pooled
capacity of ``count`` replica-seconds per second, run by continuous batching at its
operating point (the performance model's :class:`~optimizer.performance.TokenLoad`
for the request's shape):

- a request holds a share ``w = S / D`` of one replica for ``D`` seconds, where ``S`` is the
  replica-seconds it keeps busy (:func:`~optimizer.performance.capacity.busy_seconds`: the
  checker's, less the queueing headroom the planner charges) and ``D`` its time in the batch: the operating point's TTFT then ``osl / tokens_per_s_per_user`` of decode
  (aggregated), the TTFT (prefill), the first step then decode (decode); so a full group runs
  ``D / S`` requests per replica, the operating point's batch, and its throughput is
  ``1 / S`` requests/s per replica (the checker's capacity over the load's ``utilisation``);
- a request waits first-come first-served until its share fits (queueing is where load
  shows: the batch is held at its operating size, so interactivity is the operating point's);
- between prefill and decode the KV cache crosses the scale-out network at one decode
  replica's bandwidth (no time within one NVLink-domain rack).

A request's TTFT is its waits plus the TTFT of its engines (and the KV transfer); it meets its
promise when that TTFT is at most the tenant's ``ttft_s`` and its interactivity at least
``min_tokens_per_s_per_user``. Requests arriving in the first :data:`WARM_UP_SHARE` of the run
are simulated but not counted. Demand a scenario's routes do not carry is sent to no engine:
those requests miss. Arrivals are drawn with NumPy per tenant and scenario from one seeded
generator (deterministic per seed); each group's queue is a heap-based event loop.
"""

from __future__ import annotations

import heapq
import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from optimizer.instance import Instance, Tenant
from optimizer.packing import domain_gpus
from optimizer.performance import PerformanceModel
from optimizer.performance.capacity import batch_hold_s, busy_seconds, scaleout_bytes_per_s
from optimizer.plan import Plan
from optimizer.usage import PlanUsage

MAX_REQUESTS = 10_000_000
"""Most requests one simulation may draw (expected count, rates x duration), so input cannot hang it."""
WARM_UP_SHARE = 0.1
"""Share of the run, from its start, whose arrivals are left out of the statistics (empty engines)."""
MAX_CV = 100.0
"""Largest coefficient of variation of gamma inter-arrival times accepted."""


@dataclass(frozen=True)
class Arrivals:
    """The arrival process: ``cv`` = 1 with ``kind`` poisson; gamma inter-arrivals with that CV."""

    kind: str = "poisson"
    cv: float = 1.0

    @staticmethod
    def of(tenant: Tenant) -> Arrivals:
        """The process a tenant's ``arrival_cv`` declares: Poisson at 1, else gamma with that CV."""
        return Arrivals() if tenant.arrival_cv == 1.0 else Arrivals("gamma", tenant.arrival_cv)

    def gaps(self, rng: np.random.Generator, rate: float, count: int) -> np.ndarray:
        """``count`` inter-arrival times of mean ``1 / rate`` seconds."""
        if self.kind == "poisson":
            return rng.exponential(1.0 / rate, count)
        shape = 1.0 / self.cv**2
        return rng.gamma(shape, 1.0 / (rate * shape), count)


@dataclass(frozen=True)
class TenantStats:
    """One tenant's requests in one scenario (after warm-up)."""

    tenant: str
    scenario: int
    requests: int
    ttft_p50_s: float
    ttft_p95_s: float
    ttft_p99_s: float
    interactivity_p50: float
    """tokens/s per user"""
    interactivity_p10: float
    slo_attainment: float
    """share of requests meeting both the TTFT and the interactivity promise"""


@dataclass(frozen=True)
class GroupStats:
    """One engine group in one scenario."""

    engine: str
    scenario: int
    requests: int
    utilisation: float
    """replica-seconds used per second over ``count`` (time average, after warm-up)"""
    queue_mean: float
    """requests waiting, time average (Little's law over the waits)"""
    queue_max: int


def expected_requests(instance: Instance, scenarios: list[int], duration_s: float) -> float:
    """Requests a simulation of ``scenarios`` for ``duration_s`` seconds each draws, on average."""
    return duration_s * sum(t.demand(s) for s in scenarios for t in instance.tenants)


def simulate(
    instance: Instance,
    plan: Plan,
    scenarios: list[int],
    duration_s: float,
    arrivals: Arrivals | None = None,
    seed: int = 0,
    performance: PerformanceModel | None = None,
) -> tuple[list[TenantStats], list[GroupStats]]:
    """Each scenario of ``scenarios`` simulated for ``duration_s`` seconds (module docstring), every
    tenant's requests arriving as ``arrivals`` says, or (None) as its ``arrival_cv`` does.

    Raises:
        ValueError: more than :data:`MAX_REQUESTS` requests expected.
    """
    expected = expected_requests(instance, scenarios, duration_s)
    if expected > MAX_REQUESTS:
        raise ValueError(f"{expected:.3g} requests expected, more than {MAX_REQUESTS:,}: shorten the duration")
    usage = PlanUsage(instance, plan, performance)
    tenants, groups = [], []
    for s in scenarios:
        rng = np.random.default_rng([seed, s])
        t_stats, g_stats = _Scenario(usage, s, duration_s, arrivals, rng).run()
        tenants += t_stats
        groups += g_stats
    return tenants, groups


class _Scenario:
    def __init__(self, u: PlanUsage, s: int, duration_s: float, arrivals: Arrivals | None, rng: np.random.Generator):
        self.u, self.s, self.duration, self.arrivals, self.rng = u, s, duration_s, arrivals, rng
        self.warm_up = WARM_UP_SHARE * duration_s

    def run(self) -> tuple[list[TenantStats], list[GroupStats]]:
        u, s = self.u, self.s
        first: dict[str, list] = defaultdict(list)  # group -> [(tenant index, request ids, arrival times)]
        requests = []  # per tenant: arrivals, first group per request, decode group per request
        for i, tenant in enumerate(u.instance.tenants):
            arrival = self._arrivals(tenant.demand(s), self.arrivals or Arrivals.of(tenant))
            routes = self._routes(tenant.name)
            pick_first = self._pick(routes["first"], arrival.size)
            pick_decode = self._pick(routes["decode"], arrival.size) if routes["decode"] else None
            requests.append((arrival, pick_first, pick_decode, routes["decode"]))
            for j, engine in enumerate(routes["first"]):
                chosen = np.flatnonzero(pick_first == j)
                first[engine[0]].append((i, chosen, arrival[chosen]))
        ttft = [np.full(arrival.size, np.inf) for arrival, *_ in requests]
        speed = [np.zeros(arrival.size) for arrival, *_ in requests]
        group_stats: dict[str, GroupStats] = {}
        decode: dict[str, list] = defaultdict(list)
        for engine, parts in sorted(first.items()):
            group = u.groups[engine][1]
            done, stats = self._queue(engine, parts)
            group_stats[engine] = stats
            for (i, chosen, arrival), (start, ready, interactivity) in zip(parts, done, strict=True):
                tenant = u.instance.tenants[i]
                ttft[i][chosen] = ready - arrival
                speed[i][chosen] = interactivity
                _, _, pick_decode, decode_routes = requests[i]
                if pick_decode is None or group.role == "aggregated":  # served whole: no decode
                    continue
                for j, (decode_engine, _) in enumerate(decode_routes):
                    mine = pick_decode[chosen] == j
                    transfer = self._transfer(tenant.input_tokens, engine, decode_engine)
                    decode[decode_engine].append((i, chosen[mine], ready[mine] + transfer))
        for engine, parts in sorted(decode.items()):
            done, stats = self._queue(engine, parts)
            group_stats[engine] = stats
            for (i, chosen, _), (_, ready, interactivity) in zip(parts, done, strict=True):
                arrival = requests[i][0][chosen]
                ttft[i][chosen] = ready - arrival
                speed[i][chosen] = np.minimum(interactivity, np.where(speed[i][chosen] > 0, speed[i][chosen], np.inf))
        tenant_stats = [self._tenant_stats(i, requests[i][0], ttft[i], speed[i]) for i in range(len(requests))]
        return tenant_stats, [group_stats[g] for g in sorted(group_stats)]

    def _arrivals(self, rate: float, process: Arrivals) -> np.ndarray:
        """Arrival times in [0, duration) of one tenant, s."""
        if rate <= 0:
            return np.zeros(0)
        count = int(rate * self.duration + 6 * math.sqrt(rate * self.duration) * max(1.0, process.cv) + 10)
        times = np.cumsum(process.gaps(self.rng, rate, count))
        while times[-1] < self.duration:  # a heavy tail ran short: draw on
            times = np.concatenate([times, times[-1] + np.cumsum(process.gaps(self.rng, rate, count))])
        return times[times < self.duration]

    def _routes(self, tenant: str) -> dict[str, list[tuple[str, float]]]:
        """(engine, requests/s) the plan routes in this scenario: aggregated or prefill ("first"), decode."""
        found: dict[str, list[tuple[str, float]]] = {"first": [], "decode": []}
        t = self.u.instance.tenant(tenant)
        for (name, s, engine), (i, o) in sorted(self.u.flows.items()):
            if name != tenant or s != self.s or self.u.load(tenant, engine) is None:
                continue
            role = self.u.groups[engine][1].role
            if role == "decode":
                found["decode"].append((engine, o / t.output_tokens))
            else:
                found["first"].append((engine, i / t.input_tokens))
        if not found["decode"] and any(self.u.groups[e][1].role == "prefill" for e, _ in found["first"]):
            found["first"] = []  # prefill with no decode serves nothing
        return found

    def _pick(self, routes: list[tuple[str, float]], count: int) -> np.ndarray:
        """For each request, the index of its route, in proportion to requests/s; -1: no route."""
        rates = np.array([r for _, r in routes])
        if count == 0 or rates.sum() <= 0:
            return np.full(count, -1)
        return self.rng.choice(len(routes), size=count, p=rates / rates.sum())

    def _transfer(self, input_tokens: int, prefill: str, decode: str) -> float:
        """Seconds the KV cache of one request takes from ``prefill`` to ``decode``."""
        (p_rack, _), (d_rack, d_group) = self.u.groups[prefill], self.u.groups[decode]
        system = self.u.system(d_rack)
        rack_gpus = self.u.rack_gpus(d_rack)
        if p_rack.id == d_rack.id and domain_gpus(system, rack_gpus) >= rack_gpus:  # type: ignore[arg-type]
            return 0.0
        kv_bytes = input_tokens * self.u.performance.kv_bytes_per_token(self.u.config(decode))
        return kv_bytes / scaleout_bytes_per_s(system, d_group.gpus)  # type: ignore[arg-type]

    def _queue(self, engine: str, parts: list) -> tuple[list[tuple[np.ndarray, np.ndarray, float]], GroupStats]:
        """First-come first-served on ``engine``'s pooled replicas: per part (start, ready for the
        first token, interactivity), and the group's statistics."""
        _, group = self.u.groups[engine]
        role = group.role
        arrival = np.concatenate([a for _, _, a in parts])
        share, hold, first_token, speeds = [], [], [], []
        for i, chosen, _ in parts:
            tenant = self.u.instance.tenants[i]
            load = self.u.load(tenant.name, engine)
            isl = tenant.input_tokens if role != "decode" else 0
            osl = tenant.output_tokens if role != "prefill" else 0
            seconds = busy_seconds(load, isl, osl)  # type: ignore[arg-type]
            in_batch = max(batch_hold_s(load, osl), seconds)  # type: ignore[arg-type]
            share.append(np.full(chosen.size, seconds / in_batch))
            hold.append(np.full(chosen.size, in_batch))
            first_token.append(load.ttft_s - load.queue_wait_s)  # type: ignore[union-attr]
            speeds.append(load.tokens_per_s_per_user)  # type: ignore[union-attr]
        order = np.argsort(arrival, kind="stable")
        start = np.empty(arrival.size)
        start[order] = _fcfs(arrival[order], np.concatenate(share)[order], np.concatenate(hold)[order],
                             float(group.count))
        done, offset = [], 0
        for (_, chosen, _), ttft, speed in zip(parts, first_token, speeds, strict=True):
            mine = start[offset:offset + chosen.size]
            done.append((mine, mine + ttft, speed))
            offset += chosen.size
        counted = arrival >= self.warm_up
        window = self.duration - self.warm_up
        busy = np.concatenate(share) * np.clip(np.minimum(start + np.concatenate(hold), self.duration)
                                               - np.maximum(start, self.warm_up), 0.0, None)
        stats = GroupStats(
            engine=engine, scenario=self.s, requests=int(counted.sum()),
            utilisation=float(busy.sum() / (group.count * window)),
            queue_mean=float(np.clip(np.minimum(start, self.duration) - np.maximum(arrival, self.warm_up), 0.0,
                                     None).sum() / window),
            queue_max=_max_waiting(arrival[order], start[order]),
        )
        return done, stats

    def _tenant_stats(self, i: int, arrival: np.ndarray, ttft: np.ndarray, speed: np.ndarray) -> TenantStats:
        tenant = self.u.instance.tenants[i]
        counted = arrival >= self.warm_up
        ttft, speed = ttft[counted], speed[counted]
        met = (ttft <= tenant.ttft_s) & (speed >= tenant.min_tokens_per_s_per_user)
        quantile = (lambda x, q: float(np.quantile(x, q))) if ttft.size else (lambda x, q: math.nan)
        return TenantStats(
            tenant=tenant.name, scenario=self.s, requests=int(ttft.size),
            ttft_p50_s=quantile(ttft, 0.5), ttft_p95_s=quantile(ttft, 0.95), ttft_p99_s=quantile(ttft, 0.99),
            interactivity_p50=quantile(speed, 0.5), interactivity_p10=quantile(speed, 0.1),
            slo_attainment=float(met.mean()) if ttft.size else 1.0,
        )


def _fcfs(arrival: np.ndarray, share: np.ndarray, hold: np.ndarray, capacity: float) -> np.ndarray:
    """Start times of requests taken in arrival order, each once its ``share`` fits in
    ``capacity`` less the shares running (each runs ``hold`` seconds), s."""
    start = np.empty(arrival.size)
    running: list[tuple[float, float]] = []  # (end, share)
    used, last = 0.0, 0.0
    limit = capacity * (1 + 1e-9)
    for i in range(arrival.size):
        t = max(float(arrival[i]), last)
        while running and running[0][0] <= t:
            used -= heapq.heappop(running)[1]
        w = min(float(share[i]), capacity)
        while used + w > limit:
            end, freed = heapq.heappop(running)
            used -= freed
            t = max(t, end)
        start[i] = last = t
        heapq.heappush(running, (t + float(hold[i]), w))
        used += w
    return start


def _max_waiting(arrival: np.ndarray, start: np.ndarray) -> int:
    """Most requests waiting at once (arrived, not started)."""
    if arrival.size == 0:
        return 0
    events = np.concatenate([arrival, start])
    steps = np.concatenate([np.ones(arrival.size), -np.ones(start.size)])
    order = np.lexsort((steps, events))  # at equal times starts first: a request served at once never waits
    return int(max(0.0, np.cumsum(steps[order]).max()))
