"""How far the MIP's LP relaxation is from the best known plans: the bound no LP can beat.

    python benchmarks/lp_strength.py [--sets small,medium] [--time-limit 60] [--lp-limit 900]
                                     [--out docs/lp-strength.md]

For each benchmark instance the script builds the model :func:`optimizer.solve` builds
at ``--time-limit`` (the warm start's engines among the candidates,
:func:`solvers.mip.run.formulation_for`) and solves its LP relaxation over every
scenario with HiGHS, for at most ``--lp-limit`` seconds. It reports:

- **whole LP**: the relaxation's optimum, $/hour: the best bound the LP gives, however
  its scenarios are generated; the run's own bound beats it only by branching and cuts;
- **racks rounded**: the LP's racks rounded up pool by pool, $/hour: what whole racks
  alone add to it (its replicas and engines kept fractional);
- **best known** and its bound, from ``instances/known_best.csv``: the gap between them
  is what ``solve()`` reported; between best known and whole LP, the gap the LP alone leaves.

Writes ``--out`` with the commit it was measured at.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from optimizer.harness import capacity_fingerprint, instance_paths, read_known_best
from optimizer.instance import load_instance
from optimizer.performance import PerformanceModel
from optimizer.safe_io import write_atomic
from optimizer.result import relative_gap
from optimizer.solve import MAX_ARCS_PER_ROLE
from provenance import ROOT, commit, measured_on
from solvers.mip.backend import Settings
from solvers.mip.mathopt import solve_mathopt
from solvers.mip.run import formulation_for

logger = logging.getLogger("lp_strength")


def _money(value: float | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


def _gap(cost: float | None, bound: float | None) -> str:
    """:func:`optimizer.result.relative_gap` as a percentage."""
    gap = relative_gap(cost, bound)
    return "-" if gap is None else f"{gap:.2%}"


@dataclass(frozen=True)
class Strength:
    instance: str
    model: str
    """the model's size: engine groups and flow variables"""
    lp: float | None
    """the whole LP's optimum, $/hour (None: not solved within the LP limit)"""
    lp_s: float
    rounded: float | None
    """the LP's racks rounded up per pool, $/hour"""


def measure(path: str, time_limit: float, lp_limit: float) -> Strength:
    """The whole LP of ``path``'s model and its racks rounded up per pool (module docstring)."""
    instance = load_instance(path)
    performance = PerformanceModel(instance)
    f, _, _ = formulation_for(
        instance, performance, time_limit=time_limit, seed=0, starts=(), warm_start=True,
        max_arcs_per_role=MAX_ARCS_PER_ROLE,
    )
    begun = time.perf_counter()
    lp = solve_mathopt(
        f, Settings(time_limit=lp_limit, gap=0.0, threads=1, seed=0, relax_integrality=True), "highs"
    )
    seconds = time.perf_counter() - begun
    rounded = None
    if lp.outcome == "optimal" and lp.solution is not None:
        rounded = sum(
            math.ceil(racks - 1e-6) * pool.usd_per_hour
            for racks, pool in zip(lp.solution.racks, f.pools, strict=True)
        )
    logger.info("%s: whole LP %s in %.1f s, %s", instance.name, lp.outcome, seconds, lp.objective)
    return Strength(
        instance=instance.name,
        model=f"{len(f.groups):,} groups, {len(f.arcs) * len(f.scenarios):,} flows",
        lp=lp.objective if lp.outcome == "optimal" else None,
        lp_s=seconds,
        rounded=rounded,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="small,medium", help="instance sets under instances/bench")
    parser.add_argument("--time-limit", type=float, default=60.0,
                        help="the solve() time limit whose model is measured (its warm start's budget), s")
    parser.add_argument("--lp-limit", type=float, default=900.0, help="seconds for each whole LP")
    parser.add_argument("--out", default=str(ROOT / "docs" / "lp-strength.md"))
    parser.add_argument("--known-best", default=str(ROOT / "instances" / "known_best.csv"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)

    sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    measured_at, today = commit(), datetime.now(UTC).date().isoformat()
    paths = instance_paths(ROOT / "instances" / "bench" / name for name in sets)
    rows = [measure(str(path), args.time_limit, args.lp_limit) for path in paths]
    capacities = capacity_fingerprint()
    known = {name: entry for name, entry in read_known_best(args.known_best).items()
             if entry.get("capacities") == capacities}
    lines = [
        "# LP strength",
        "",
        measured_on(
            measured_at, today,
            f"python benchmarks/lp_strength.py --sets {','.join(sets)} --time-limit {args.time_limit:g} "
            f"--lp-limit {args.lp_limit:g}",
        ),
        "",
        "The model is the one `solve()` builds at that time limit (shortlisted candidates plus the warm",
        "start's engines). `whole LP`: its LP relaxation over every scenario (HiGHS), the best bound an",
        "LP gives; `racks rounded`: that LP with each pool's racks rounded up (replicas left",
        "fractional; above the best plan where the LP spreads thinly over pools a plan leaves closed);",
        "`best known` and `bound` from `instances/known_best.csv` (the best plan and the highest bound",
        "any benchmark run has reached under the current performance model; a run's bound holds over",
        "its own candidates, which its warm start widens as the time limit grows, so it bounds the",
        "plans of such a model, not every plan). `gap to LP`,",
        "(best - LP) / best, is the gap the LP alone leaves: a run proves less only by branching and cuts.",
        "",
        "| instance | model | whole LP $/h | LP s | racks rounded $/h | best known $/h | bound $/h | gap to LP | gap to bound |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        entry = known.get(row.instance, {})
        best = float(entry["usd_per_hour"]) if entry.get("usd_per_hour") else None
        bound = float(entry["bound"]) if entry.get("bound") else None
        lines.append(
            f"| {row.instance} | {row.model} | {_money(row.lp)} | {row.lp_s:.1f} | {_money(row.rounded)} | "
            f"{_money(best)} | {_money(bound)} | {_gap(best, row.lp)} | {_gap(best, bound)} |"
        )
    write_atomic(args.out, "\n".join(lines) + "\n")
    logger.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
