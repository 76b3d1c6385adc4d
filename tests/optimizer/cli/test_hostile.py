"""The red-team corpus (issue 22): hostile and extreme input gets its exit code and message.

Each case runs the command in-process on a copy of ``tests/data/hostile/`` in a
fresh folder, then checks: the exit code, a fragment of what it printed, no
traceback, every input unchanged, and no file written outside ``out/``.
Placeholders: ``{d}`` the copied corpus, ``{out}`` the output folder,
``{fifo}`` a FIFO, ``{link}`` a symbolic link to the instance, ``{dir}`` an
existing folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import pytest

from repo_paths import DATA

from optimizer.cli import main

HOSTILE = DATA / "hostile"
TINY = "{d}/valid-tiny.toml"

# case -> (command line, exit code, fragment of stderr, or of stdout with --json)
CASES: dict[str, tuple[list[str], int, str]] = {
    # memory exhaustion and bounded work
    "plan count 1e30": (["evaluate", TINY, "{d}/plan-count-1e30.json"], 2,
                        "racks[0].engines[0].count: must be a whole number"),
    "plan count 10**30": (["evaluate", TINY, "{d}/plan-count-huge-int.json"], 2,
                          "racks[0].engines[0].count: must be <= 4096"),
    "start plan count 1e30": (["solve", TINY, "--time-limit", "5", "--start", "{d}/plan-count-1e30.json"], 2,
                              "count: must be a whole number"),
    "plan count true": (["evaluate", TINY, "{d}/plan-count-true.json"], 2,
                        "count: must be an integer, not a boolean"),
    "plan count '2'": (["evaluate", TINY, "{d}/plan-count-string.json"], 2, "count: must be an integer, not a string"),
    "valid plan": (["evaluate", TINY, "{d}/plan-valid.json"], 0, "violations: none"),
    "input_tokens 1e30": (["solve", "{d}/input-tokens-1e30.toml", "--time-limit", "5"], 2,
                          "tenants[0].input_tokens: must be a whole number"),
    "input_tokens 10**30": (["validate", "{d}/input-tokens-huge-int.toml"], 2,
                            "tenants[0].input_tokens: must be <= 10000000"),
    "requests_per_s 1e7": (["solve", "{d}/rate-1e7.toml", "--time-limit", "5"], 2,
                           "tenants[0].requests_per_s: must be <= 100000"),
    "1e11 tokens/s": (["solve", "{d}/volume-1e11.toml", "--time-limit", "5"], 2, "above the 1e+08 limit"),
    "min_racks 1e6": (["solve", "{d}/min-racks-1e6.toml", "--time-limit", "5"], 2, "tenants[0].min_racks"),
    # 10M prompt tokens in 1 s of TTFT: no engine prefills that fast (nor holds its KV), so infeasible, explained
    "largest prompt": (["solve", "{d}/input-tokens-max.toml", "--time-limit", "5"], 3, "no configuration meets its SLO"),
    "largest rate": (["solve", "{d}/rate-max.toml", "--time-limit", "5"], 0, ""),
    "largest volume": (["solve", "{d}/volume-max.toml", "--time-limit", "5"], 0, ""),
    # path traversal
    "model id out of the report folder": (["solve", "{d}/model-id-traversal.toml", "--time-limit", "5",
                                           "--report", "{out}/report"], 0, ""),
    # special files and inputs
    "-o a device": (["solve", TINY, "-o", "/dev/full"], 2, "'/dev/full' is a device"),
    "-o a FIFO": (["solve", TINY, "-o", "{fifo}"], 2, "is a FIFO"),
    "-o a symlink": (["solve", TINY, "-o", "{link}"], 2, "is a symbolic link"),
    "-o the instance": (["solve", TINY, "-o", TINY], 2, "is an input of this command"),
    "-o the start plan": (["solve", TINY, "--start", "{d}/plan-valid.json", "-o", "{d}/plan-valid.json"], 2,
                          "is an input of this command"),
    "-o a directory": (["solve", TINY, "-o", "{dir}"], 2, "is a directory, not a regular file"),
    "-o below a file": (["solve", TINY, "--time-limit", "5", "-o", TINY + "/plan.json"], 2, "Not a directory"),
    "--report onto a file": (["solve", TINY, "--report", TINY], 2, "is a file, not a folder"),
    "compare --out onto a file": (["compare", TINY, "--options", "fleet", "--out", TINY], 2, "is a file, not a folder"),
    "bench --out the instance": (["bench", TINY, "--methods", "pooled", "--out", TINY], 2, "is an input"),
    "generate -o a FIFO": (["generate", "--tenants", "2", "-o", "{fifo}"], 2, "is a FIFO"),
    "schema -o a directory": (["schema", "-o", "{dir}"], 2, "is a directory"),
    # tracebacks that were exit 1
    "JSON nested 1,000 deep": (["validate", "{d}/nested-1000.json"], 2, "nested deeper than 8 levels"),
    "TOML nested 1,000 deep": (["solve", "{d}/nested-1000.toml"], 2, "nested deeper than 8 levels"),
    "validate --json rate 1e308": (["validate", "--json", "{d}/rate-1e308.toml"], 2, '"reason": "must be <= 100000"'),
    "solve rate 1e308": (["solve", "{d}/rate-1e308.toml"], 2, "requests_per_s: must be <= 100000"),
    "gpus_per_rack 1e30": (["solve", "{d}/gpus-per-rack-1e30.toml"], 2, "fleet[0].gpus_per_rack: must be a whole"),
    "cp-sat max_racks 1e30": (["solve", "{d}/max-racks-1e30.toml", "--solver", "cp-sat"], 2,
                              "fleet[0].max_racks: must be <= 100000"),
    "--time-limit inf": (["solve", TINY, "--time-limit", "inf"], 2, "--time-limit: must be > 0 seconds"),
    "--time-limit 1e308": (["solve", TINY, "--time-limit", "1e308"], 2, "--time-limit: must be > 0 seconds"),
    "--time-limit nan": (["bench", TINY, "--time-limit", "nan"], 2, "--time-limit: must be > 0 seconds"),
    "--seed -1": (["solve", TINY, "--seed", "-1"], 2, "--seed: must be an integer from 0"),
    "--seed 1e20": (["generate", "--tenants", "2", "--seed", "1e20", "-o", "{out}/g.json"], 2, "--seed: must be an integer"),
    # a valid file that crashed
    "demand_profile [0.0]": (["solve", "{d}/demand-profile-zero.toml", "--time-limit", "5"], 0, "status:"),
    "demand_profile [0.0], heuristics": (["bench", "{d}/demand-profile-zero.toml", "--methods", "pooled,siloed",
                                          "--time-limit", "5"], 0, "pooled"),
    # loose types
    "requests_per_s '10' (TOML)": (["validate", "{d}/rate-string.toml"], 2, "requests_per_s: must be a number, not a string"),
    "requests_per_s '10' (JSON)": (["validate", "{d}/rate-string.json"], 2, "requests_per_s: must be a number, not a string"),
    "output_tokens true (TOML)": (["validate", "{d}/output-tokens-true.toml"], 2,
                                  "output_tokens: must be an integer, not a boolean"),
    "output_tokens true (JSON)": (["validate", "{d}/output-tokens-true.json"], 2,
                                  "output_tokens: must be an integer, not a boolean"),
    "rate 1e-320": (["validate", "{d}/rate-1e-320.toml"], 2, "requests_per_s: must be >= 1e-06"),
    # odd options
    "compare --options tco": (["compare", TINY, "--options", "tco", "--time-limit", "5"], 0, "own fleet"),
    "compare --options isolation": (["compare", TINY, "--options", "isolation", "--time-limit", "5"], 0, "own fleet"),
    "solve --json bad input": (["solve", "{d}/rate-string.toml", "--json"], 2, '"exit": 2'),
    "evaluate --json bad input": (["evaluate", TINY, "{d}/plan-count-true.json", "--json"], 2, '"problems": ['),
    "--json usage error": (["solve", TINY, "--json", "--time-limit", "inf"], 2, '"exit": 2'),
    "escape sequence in a name": (["validate", "{d}/name-escape.toml"], 2, "must not contain control characters"),
    "escape sequence in a path": (["validate", "{d}/\x1b[31mmissing.toml"], 2, "\\x1b[31mmissing.toml"),
}


def _digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink()}


def test_every_hostile_file_is_used() -> None:
    used = {arg.split("{d}/")[1].split("/")[0] for argv, _, _ in CASES.values() for arg in argv if "{d}/" in arg}
    assert sorted(p.name for p in HOSTILE.iterdir()) == sorted(used - {"\x1b[31mmissing.toml"})


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_case(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv, code, fragment = CASES[case]
    work = tmp_path / "a" / "b"  # room for a path that climbs out of the output folder
    corpus, out = work / "corpus", work / "out"
    shutil.copytree(HOSTILE, corpus)
    out.mkdir()
    fifo, folder = work / "fifo.json", work / "folder"
    os.mkfifo(fifo)
    folder.mkdir()
    (work / "link").symlink_to(corpus / "valid-tiny.toml")
    before = _digests(tmp_path)
    fill = {"{d}": str(corpus), "{out}": str(out), "{fifo}": str(fifo), "{link}": str(work / "link"), "{dir}": str(folder)}
    args = []
    for arg in argv:
        for key, value in fill.items():
            arg = arg.replace(key, value)
        args.append(arg)
    limit = float(args[args.index("--time-limit") + 1]) if "--time-limit" in args and code != 2 else None

    started = time.perf_counter()
    assert main(args) == code
    elapsed = time.perf_counter() - started

    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    assert fragment in (captured.out if "--json" in args else captured.err + captured.out)
    if "--json" in args:
        json.loads(captured.out)  # standard output is JSON alone
    if limit is not None:
        assert elapsed <= 1.1 * limit + 2
    after = _digests(tmp_path)
    assert {k: v for k, v in after.items() if k in before} == before  # no input changed
    assert all(k.startswith("a/b/out/") for k in set(after) - set(before))  # nothing written outside out/
