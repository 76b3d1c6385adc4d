"""How a solve's time and memory grow with the book: one instance per bench set, through the CLI.

    python benchmarks/growth.py [--instances small/small-06,medium/medium-03,large/large-02,xlarge/xlarge-01]
                                [--time-limit small=60,medium=60,large=600,xlarge=600]
                                [--out docs/benchmarks-growth.md]

Each instance is solved by ``tenantplan solve INSTANCE --json --time-limit T`` in a process of
its own, one at a time, as a user would run it. The page gives the JSON's cost, bound, gap and
seconds per phase (``phases_s``: solvers.mip.run.PHASES) and the process's peak resident memory
(``ru_maxrss`` from ``wait4``), with the commit it was measured at.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from provenance import ROOT, commit, measured_on
from run_bench import time_limits

from optimizer.instance import load_instance
from optimizer.safe_io import write_atomic
from solvers.mip.run import PHASES

DEFAULT_INSTANCES = "small/small-06,medium/medium-03,large/large-02,xlarge/xlarge-01"


def tenantplan() -> str:
    """The ``tenantplan`` command of this Python environment (else the one on PATH)."""
    beside = Path(sys.executable).parent / "tenantplan"
    found = str(beside) if beside.exists() else shutil.which("tenantplan")
    if found is None:
        raise SystemExit("no tenantplan command: pip install the repository first")
    return found


def measure(path: Path, time_limit: float) -> tuple[dict, float, float]:
    """The JSON of ``tenantplan solve path --json``, its wall seconds and peak resident GB."""
    with tempfile.TemporaryFile() as out:
        begun = time.perf_counter()
        child = subprocess.Popen(
            [tenantplan(), "solve", str(path), "--json", "--time-limit", f"{time_limit:g}"],
            stdout=out, stderr=subprocess.DEVNULL,
        )
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - begun
        out.seek(0)
        text = out.read().decode()
    if child.returncode not in (0, 3):
        raise SystemExit(f"{path}: tenantplan solve exited {child.returncode}")
    return json.loads(text), wall, usage.ru_maxrss / 1e6  # KB (Linux) -> GB


def row(name: str, path: Path, time_limit: float) -> str:
    payload, wall, peak_gb = measure(path, time_limit)
    instance = load_instance(path)
    report = payload.get("report") or {}
    plan = payload.get("plan") or {}
    cells = [
        name, f"{len(instance.tenants):,}", f"{len(instance.fleet)}", f"{time_limit:g}", payload["status"],
        "-" if payload["objective"] is None else f"{payload['objective']:,.2f}",
        "-" if payload["bound"] is None else f"{payload['bound']:,.2f}",
        "-" if payload["gap"] is None else f"{payload['gap']:.2%}",
        payload.get("bound_scope") or "-",
        f"{report.get('num_racks', '-'):,}" if report else "-",
        f"{len(plan.get('routes', ())):,}",
        *(f"{payload['phases_s'].get(phase, 0.0):.1f}" for phase in PHASES),
        f"{payload['runtime_s']:.1f}", f"{wall:.1f}", f"{peak_gb:.2f}",
    ]
    return "| " + " | ".join(cells) + " |"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", default=DEFAULT_INSTANCES, help="set/name under instances/bench, comma-separated")
    parser.add_argument("--time-limit", default="small=60,medium=60,large=600,xlarge=600",
                        help="seconds per instance: N, or set=N,... per set")
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks-growth.md"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    names = [n.strip() for n in args.instances.split(",") if n.strip()]
    limits = time_limits(args.time_limit, list(dict.fromkeys(n.split("/")[0] for n in names)))
    measured_at, today = commit(), datetime.now(UTC).date().isoformat()
    header = ["instance", "tenants", "fleet entries", "limit s", "status", "$/hour", "bound", "gap", "bound over",
              "racks", "routes", *(f"{p} s" for p in PHASES), "runtime s", "wall s", "peak GB"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name in names:
        paths = [p for p in (ROOT / "instances" / "bench" / f"{name}{s}" for s in (".json", ".toml")) if p.exists()]
        if not paths:
            raise SystemExit(f"no instance instances/bench/{name}.json or .toml")
        logging.info("%s: tenantplan solve --time-limit %g", name, limits[name.split("/")[0]])
        lines.append(row(Path(name).name, paths[0], limits[name.split("/")[0]]))
        logging.info("%s", lines[-1])
    command = "python benchmarks/growth.py " + " ".join(sys.argv[1:])
    page = [
        "# Growth of a solve with the book: time per phase and peak memory",
        "",
        measured_on(measured_at, today, command.strip()),
        "",
        "One instance per bench set (`instances/bench/README.md`), each solved by `tenantplan solve "
        "INSTANCE --json --time-limit T` in a process of its own, one at a time. Cost, bound, gap and "
        "the seconds per phase are the JSON's (`phases_s`; each second counted once: `warm start` is "
        "the heuristics and their checks, `candidates` building the formulations, `LP` the LP "
        "relaxations, `MIP` the backend's MIPs, `routing` the routing LPs, `plans` turning solutions "
        "into plans and back, `checking` the evaluator and checker on the run's plans). `runtime s` is "
        "the solve's own clock; `wall s` adds starting Python, reading the instance and writing the "
        "JSON. `peak GB` is the process's peak resident memory (`ru_maxrss`).",
        "",
        *lines,
        "",
    ]
    write_atomic(args.out, "\n".join(page))
    logging.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
