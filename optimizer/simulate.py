"""A discrete-event simulation of a plan's engines under random arrivals.

Requests of each tenant arrive at its demand rate in a scenario (Poisson, or gamma
inter-arrival times with a coefficient of variation: bursts) and a router sends each, as it
arrives, to the least loaded of the engine groups the plan routes that tenant to in that
scenario (load: the shares running and waiting, with its own, over the group's replicas; a
disaggregated request takes a prefill group, then, once prefilled, a decode group, alike).
Each engine group is its replicas' pooled capacity of ``count`` replica-seconds per second,
run by continuous batching at its operating point (the performance model's
:class:`~optimizer.performance.TokenLoad` for the request's shape):

- a request holds a share ``w = S / D`` of one replica for ``D`` seconds, where ``S`` is the
  replica-seconds it keeps busy (:func:`~optimizer.performance.capacity.busy_seconds`: the
  checker's, less the queueing headroom the planner charges) and ``D`` its time in the batch:
  the operating point's TTFT then ``osl / tokens_per_s_per_user`` of decode (aggregated), the
  TTFT less its planned wait (prefill), the first step then decode (decode); so a full group runs
  ``D / S`` requests per replica, the operating point's batch, and its throughput is
  ``1 / S`` requests/s per replica (the checker's capacity over the load's ``utilisation``);
- a request waits first-come first-served until its share fits (queueing is where load
  shows: the batch is held at its operating size, so interactivity is the operating point's);
- a decode group admits a request, then pulls its KV cache across the scale-out network at
  one decode replica's bandwidth (no time within one NVLink-domain rack).

A request's TTFT is its waits plus the TTFT of its engines (and the KV transfer); it meets its
promise when that TTFT is at most the tenant's ``ttft_s`` and its interactivity at least
``min_tokens_per_s_per_user``. Requests arriving in the first :data:`WARM_UP_SHARE` of the run
are simulated but not counted. Demand a scenario's routes do not carry is sent to no engine:
those requests miss. Arrivals are drawn with NumPy per tenant and scenario from one seeded
generator (deterministic per seed); each stage (first engines, then decode) is one event loop
over its arrivals in time order, with a heap of the requests running in every group.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
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
        self.engines = sorted(u.groups)
        self.index = {e: g for g, e in enumerate(self.engines)}
        self.capacity = [float(u.groups[e][1].count) for e in self.engines]

    def run(self) -> tuple[list[TenantStats], list[GroupStats]]:
        tenants = self.u.instance.tenants
        arrivals = [self._arrivals(t.demand(self.s), self.arrivals or Arrivals.of(t)) for t in tenants]
        routes = [self._routes(t.name) for t in tenants]
        bounds = np.cumsum([0] + [a.size for a in arrivals])  # tenant i's requests: bounds[i]:bounds[i + 1]
        owner = np.repeat(np.arange(len(tenants)), np.diff(bounds))
        arrival = np.concatenate(arrivals)
        first = _Stage(self, arrival, owner, [[self._option(i, e) for e in r["first"]] for i, r in enumerate(routes)])
        # a request a prefill group served goes on to a decode group; one an aggregated group served is done
        prefill = [g for g, e in enumerate(self.engines) if self.u.groups[e][1].role == "prefill"]
        prefilled = np.flatnonzero(np.isin(first.group, prefill))
        n = len(self.engines)
        keys, kind = np.unique(owner[prefilled] * n + first.group[prefilled], return_inverse=True)
        after = [divmod(int(k), n) for k in keys]  # per kind: (tenant, prefill group)
        decode = _Stage(self, first.ready[prefilled], kind,
                        [[self._option(i, e, self.engines[p]) for e in routes[i]["decode"]] for i, p in after])
        ready, speed = first.ready.copy(), first.speed.copy()
        ready[prefilled], speed[prefilled] = decode.ready, np.minimum(decode.speed, speed[prefilled])
        ttft = ready - arrival
        tenant_stats = [self._tenant_stats(i, arrival[a:b], ttft[a:b], speed[a:b])
                        for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:], strict=True))]
        group_stats = first.stats() + decode.stats()
        return tenant_stats, sorted(group_stats, key=lambda g: g.engine)

    def _arrivals(self, rate: float, process: Arrivals) -> np.ndarray:
        """Arrival times in [0, duration) of one tenant, s."""
        if rate <= 0:
            return np.zeros(0)
        count = int(rate * self.duration + 6 * math.sqrt(rate * self.duration) * max(1.0, process.cv) + 10)
        times = np.cumsum(process.gaps(self.rng, rate, count))
        while times[-1] < self.duration:  # a heavy tail ran short: draw on
            times = np.concatenate([times, times[-1] + np.cumsum(process.gaps(self.rng, rate, count))])
        return times[times < self.duration]

    def _routes(self, tenant: str) -> dict[str, list[str]]:
        """Engines the plan routes ``tenant`` to in this scenario: aggregated or prefill ("first"), decode."""
        found: dict[str, list[str]] = {"first": [], "decode": []}
        for (name, s, engine), (i, o) in sorted(self.u.flows.items()):
            if name != tenant or s != self.s or self.u.load(tenant, engine) is None or i + o <= 0:
                continue
            found["decode" if self.u.groups[engine][1].role == "decode" else "first"].append(engine)
        if not found["decode"] and any(self.u.groups[e][1].role == "prefill" for e in found["first"]):
            found["first"] = []  # prefill with no decode serves nothing
        return found

    def _option(self, i: int, engine: str, prefill: str | None = None) -> _Option:
        """Tenant ``i``'s requests on ``engine`` (a decode engine: after ``prefill``)."""
        tenant = self.u.instance.tenants[i]
        load = self.u.load(tenant.name, engine)
        role = self.u.groups[engine][1].role
        isl = tenant.input_tokens if role != "decode" else 0
        osl = tenant.output_tokens if role != "prefill" else 0
        seconds = busy_seconds(load, isl, osl)  # type: ignore[arg-type]
        in_batch = max(batch_hold_s(load, osl), seconds)  # type: ignore[arg-type]
        g = self.index[engine]
        transfer = 0.0 if prefill is None else self._transfer(tenant.input_tokens, prefill, engine)
        return _Option(g, min(seconds / in_batch, self.capacity[g]), in_batch,
                       transfer + load.ttft_s - load.queue_wait_s, load.tokens_per_s_per_user)  # type: ignore[union-attr]

    def _transfer(self, input_tokens: int, prefill: str, decode: str) -> float:
        """Seconds the KV cache of one request takes from ``prefill`` to ``decode``."""
        (p_rack, _), (d_rack, d_group) = self.u.groups[prefill], self.u.groups[decode]
        system = self.u.system(d_rack)
        rack_gpus = self.u.rack_gpus(d_rack)
        if p_rack.id == d_rack.id and domain_gpus(system, rack_gpus) >= rack_gpus:  # type: ignore[arg-type]
            return 0.0
        kv_bytes = input_tokens * self.u.performance.kv_bytes_per_token(self.u.config(decode))
        return kv_bytes / scaleout_bytes_per_s(system, d_group.gpus)  # type: ignore[arg-type]

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


@dataclass(frozen=True)
class _Option:
    """An engine group a request may take, and what it holds there."""

    group: int
    share: float
    """of one replica, while in the batch"""
    hold_s: float
    """seconds in the batch"""
    first_token_s: float
    """from taking its slot to its first token"""
    speed: float
    """tokens/s per user"""


class _Stage:
    """Requests routed, each on arrival, to the least loaded of the groups their plan offers them,
    and served first come, first served there: per request its group (-1: none), start, first
    token and interactivity."""

    def __init__(self, scenario: _Scenario, arrival: np.ndarray, kind: np.ndarray, options: list[list[_Option]]):
        self.scenario, self.arrival = scenario, arrival
        n = arrival.size
        self.group, self.start = np.full(n, -1), np.full(n, np.inf)
        self.share, self.hold = np.zeros(n), np.zeros(n)
        self.ready, self.speed = np.full(n, np.inf), np.zeros(n)
        self.offered = sorted({o.group for opts in options for o in opts})
        capacity = scenario.capacity
        used, queued = [0.0] * len(capacity), [0.0] * len(capacity)
        waiting: list[deque] = [deque() for _ in capacity]
        running: list[tuple[float, int, float]] = []  # (end, group, share)
        start = self.start

        def admit(g: int, t: float) -> None:
            line, limit = waiting[g], capacity[g] * (1 + 1e-9)
            while line and used[g] + line[0][1] <= limit:
                r, w, hold = line.popleft()
                start[r] = t
                used[g] += w
                queued[g] -= w
                heapq.heappush(running, (t + hold, g, w))

        def finish(until: float) -> None:
            while running and running[0][0] <= until:
                end, g, w = heapq.heappop(running)
                used[g] -= w
                admit(g, end)

        for r in np.argsort(arrival, kind="stable").tolist():
            offer = options[kind[r]]
            if not offer:
                continue
            t = float(arrival[r])
            finish(t)
            best = min(offer, key=lambda o: ((used[o.group] + queued[o.group] + o.share) / capacity[o.group], o.group))
            g = best.group
            self.group[r], self.share[r], self.hold[r] = g, best.share, best.hold_s
            self.ready[r], self.speed[r] = best.first_token_s, best.speed
            waiting[g].append((r, best.share, best.hold_s))
            queued[g] += best.share
            admit(g, t)
        finish(math.inf)
        self.ready += start

    def stats(self) -> list[GroupStats]:
        """Each offered group's statistics (after warm-up)."""
        sc = self.scenario
        window = sc.duration - sc.warm_up
        by_group = np.lexsort((self.arrival, self.group))  # each group's requests in arrival order
        first = np.searchsorted(self.group[by_group], self.offered + [len(sc.capacity)])
        found = []
        for g, a, b in zip(self.offered, first[:-1], first[1:], strict=True):
            mine = by_group[a:b]
            arrival, start = self.arrival[mine], self.start[mine]
            busy = self.share[mine] * np.clip(np.minimum(start + self.hold[mine], sc.duration)
                                              - np.maximum(start, sc.warm_up), 0.0, None)
            found.append(GroupStats(
                engine=sc.engines[g], scenario=sc.s, requests=int((arrival >= sc.warm_up).sum()),
                utilisation=float(busy.sum() / (sc.capacity[g] * window)),
                queue_mean=float(np.clip(np.minimum(start, sc.duration) - np.maximum(arrival, sc.warm_up), 0.0,
                                         None).sum() / window),
                queue_max=_max_waiting(arrival, start),
            ))
        return found


def _max_waiting(arrival: np.ndarray, start: np.ndarray) -> int:
    """Most requests waiting at once (arrived, not started)."""
    if arrival.size == 0:
        return 0
    events = np.concatenate([arrival, start])
    steps = np.concatenate([np.ones(arrival.size), -np.ones(start.size)])
    order = np.lexsort((steps, events))  # at equal times starts first: a request served at once never waits
    return int(max(0.0, np.cumsum(steps[order]).max()))
