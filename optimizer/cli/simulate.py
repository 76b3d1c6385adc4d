"""``tenantplan simulate INSTANCE PLAN [--scenario N|--all] [--duration S] [--arrivals poisson|gamma:CV]
[--seed N] [--target P] [--json]``: a plan's engines under random arrivals.

A discrete-event simulation (:mod:`optimizer.simulate`) per scenario: per tenant the requests,
TTFT p50, p95 and p99, interactivity p50 and p10 and ``slo_attainment`` (the share of requests
meeting both promises); per engine group utilisation and queue length. Exit 0 when every
tenant's attainment reaches ``--target`` (default 0.95) and every ``ttft_p99_s`` promise holds in
every scenario simulated, 1 naming each tenant and scenario that misses, 2 on bad input (more
than 10 million requests included).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys

from optimizer.cli import EXIT_OK, EXIT_VIOLATIONS, MAX_SEED, MAX_TIME_LIMIT_S, print_json, printable, seconds, seed
from optimizer.instance import Instance, InstanceError, load_instance
from optimizer.plan import Plan
from optimizer.simulate import MAX_CV, MAX_REQUESTS, Arrivals, GroupStats, TenantStats, simulate

DEFAULT_TARGET = 0.95
"""Least share of a tenant's requests that must meet its promises (issue: 95% under Poisson arrivals)."""


def arrivals(text: str) -> Arrivals:
    """An argparse type: ``poisson`` or ``gamma:CV`` with 0 < CV <= MAX_CV."""
    if text == "poisson":
        return Arrivals()
    kind, _, value = text.partition(":")
    try:
        cv = float(value)
    except ValueError:
        cv = math.nan
    if kind != "gamma" or not 0 < cv <= MAX_CV:
        raise argparse.ArgumentTypeError(f"must be 'poisson' or 'gamma:CV' with 0 < CV <= {MAX_CV:g}, got '{text}'")
    return Arrivals("gamma", cv)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="simulate a plan's engines under random arrivals: TTFT percentiles and SLO attainment",
        description="Discrete-event simulation of PLAN's engine groups under random arrivals at each "
        "scenario's demand, routed as the plan routes, each group run by continuous batching at its "
        "operating point (docs/simulate.md). Reports per tenant requests, TTFT p50/p95/p99, "
        "interactivity p50/p10 and slo_attainment; per engine group utilisation and queue length. "
        "Exit 0 when every tenant's attainment reaches --target and every ttft_p99_s promise holds, 1 "
        f"naming each tenant and scenario that misses, 2 on bad input (including more than {MAX_REQUESTS:,} "
        "requests expected).",
    )
    parser.add_argument("instance", metavar="INSTANCE", help="instance file (.toml or .json)")
    parser.add_argument("plan", metavar="PLAN", help="plan file (.json)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--scenario", type=int, metavar="N", help="scenario index (default: the one with most requests)")
    which.add_argument("--all", action="store_true", help="every scenario, one after another")
    parser.add_argument("--duration", type=seconds, default=600.0, metavar="S",
                        help=f"simulated seconds per scenario (default 600, at most {MAX_TIME_LIMIT_S:g}; "
                        f"at most {MAX_REQUESTS:,} requests in all)")
    parser.add_argument("--arrivals", type=arrivals, default=None, metavar="poisson|gamma:CV",
                        help="every tenant's inter-arrival times: exponential or gamma with coefficient of "
                        "variation CV (default: each tenant's arrival_cv, Poisson unless the instance says)")
    parser.add_argument("--seed", type=seed, default=0, metavar="N", help=f"random seed, 0 to {MAX_SEED} (default 0)")
    parser.add_argument("--target", type=float, default=DEFAULT_TARGET, metavar="P",
                        help=f"least slo_attainment every tenant must reach (default {DEFAULT_TARGET})")
    parser.add_argument("--json", action="store_true", help="print tenants and groups as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    instance = load_instance(args.instance)
    plan = Plan.load(args.plan)
    count = instance.num_scenarios
    if args.scenario is not None and not 0 <= args.scenario < count:
        raise InstanceError([("--scenario", f"must be from 0 to {count - 1}, got {args.scenario}")], "command line")
    if not 0 <= args.target <= 1:
        raise InstanceError([("--target", f"must be from 0 to 1, got {args.target}")], "command line")
    if args.all:
        scenarios = list(range(count))
    elif args.scenario is not None:
        scenarios = [args.scenario]
    else:
        scenarios = [max(range(count), key=lambda s: sum(t.demand(s) for t in instance.tenants))]
    try:
        tenants, groups = simulate(instance, plan, scenarios, args.duration, args.arrivals, args.seed)
    except ValueError as error:
        raise InstanceError([("--duration", str(error))], "command line") from None
    short = [t for t in tenants if t.slo_attainment < args.target]
    tail = [t for t in tenants if _tail_broken(instance, t)]
    if args.json:
        print_json({
            "instance": instance.name, "scenarios": scenarios, "duration_s": args.duration,
            "arrivals": None if args.arrivals is None else dataclasses.asdict(args.arrivals), "seed": args.seed,
            "target": args.target, "meets_target": not short, "meets_tail_promises": not tail,
            "tenants": [_finite(t) for t in tenants], "groups": [_finite(g) for g in groups],
        })
    else:
        sys.stdout.write(_text(instance, tenants, groups, short, tail, args.target))
    return EXIT_VIOLATIONS if short or tail else EXIT_OK


def _tail_broken(instance: Instance, stats: TenantStats) -> bool:
    """Whether the tenant promised a ``ttft_p99_s`` that its simulated TTFT p99 exceeds."""
    promise = instance.tenant(stats.tenant).ttft_p99_s
    return promise is not None and not stats.ttft_p99_s <= promise


def _finite(stats: TenantStats | GroupStats) -> dict:
    """The statistics as JSON values: NaN (no request counted) as null."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in dataclasses.asdict(stats).items()}


def _text(instance: Instance, tenants: list[TenantStats], groups: list[GroupStats], short: list[TenantStats],
          tail: list[TenantStats], target: float) -> str:
    lines = [f"{'tenant':<24} {'scen':>4} {'requests':>9} {'TTFT p50':>9} {'p95':>8} {'p99':>8} "
             f"{'tok/s/u p50':>11} {'p10':>7} {'attain':>7}"]
    lines += [
        f"{printable(t.tenant):<24} {t.scenario:>4} {t.requests:>9} {t.ttft_p50_s:>8.3g}s {t.ttft_p95_s:>7.3g}s "
        f"{t.ttft_p99_s:>7.3g}s {t.interactivity_p50:>11.4g} {t.interactivity_p10:>7.4g} {t.slo_attainment:>7.1%}"
        for t in tenants
    ]
    lines.append(f"\n{'engine group':<40} {'scen':>4} {'requests':>9} {'util':>6} {'queue mean':>10} {'max':>6}")
    lines += [
        f"{printable(g.engine):<40} {g.scenario:>4} {g.requests:>9} {g.utilisation:>6.1%} {g.queue_mean:>10.3g} "
        f"{g.queue_max:>6}" for g in groups
    ]
    if short:
        lines.append(f"\nslo_attainment below {target:.0%}:")
        lines += [f"  tenant {printable(t.tenant)}, scenario {t.scenario}: {t.slo_attainment:.1%}" for t in short]
    else:
        lines.append(f"\nslo_attainment: every tenant at least {target:.0%}")
    if tail:
        lines.append("\nTTFT p99 above the tenant's ttft_p99_s promise:")
        lines += [f"  tenant {printable(t.tenant)}, scenario {t.scenario}: {t.ttft_p99_s:.3g} s > "
                  f"{instance.tenant(t.tenant).ttft_p99_s:g} s" for t in tail]
    return "\n".join(lines) + "\n"
