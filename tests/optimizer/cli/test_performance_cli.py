"""``tenantplan perf``: single, pareto and batch queries and their exit codes."""

from __future__ import annotations

import csv
import io
import json

from optimizer.cli import EXIT_BAD_INPUT, EXIT_INFEASIBLE, EXIT_OK, main

GPT_OSS = ["--model", "gpt-oss-120b", "--system", "hgx-h200", "--precision", "fp4", "--isl", "1024", "--osl", "1024"]


def test_single_query_json(capsys):
    assert main(["perf", *GPT_OSS, "--interactivity", "50", "--json"]) == EXIT_OK
    result = json.loads(capsys.readouterr().out)
    assert result["interactivity"] >= 50
    assert result["tput_per_gpu"] == result["input_tput_per_gpu"] + result["output_tput_per_gpu"]
    # $/Mtok = 1.41 $/GPU-hour (H200, hyperscaler) / (tokens/s per GPU x 3600 / 1e6)
    assert result["usd_per_mtok"] == 1.41 / (result["tput_per_gpu"] * 3600 / 1e6)
    assert result["engines"][0]["role"] == "aggregated"


def test_disaggregated_query_with_ttft(capsys):
    args = ["perf", *GPT_OSS, "--system", "gb200-nvl72", "--interactivity", "100", "--mode", "disagg", "--ttft", "1"]
    assert main([*args, "--json"]) == EXIT_OK
    result = json.loads(capsys.readouterr().out)
    assert [e["role"] for e in result["engines"]] == ["prefill", "decode"]
    assert result["ttft_s"] <= 1.0 + 1e-9


def test_pareto_table(capsys):
    assert main(["perf", "--pareto", *GPT_OSS]) == EXIT_OK
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split()[:2] == ["config", "gpus"] and len(lines) > 3


def test_unreachable_interactivity_is_infeasible(capsys):
    assert main(["perf", *GPT_OSS, "--interactivity", "100000"]) == EXIT_INFEASIBLE
    assert "no configuration reaches" in capsys.readouterr().err


def test_bad_input_exits_2(capsys):
    assert main(["perf", *GPT_OSS[:1], "gpt-oss", *GPT_OSS[2:], "--interactivity", "50"]) == EXIT_BAD_INPUT
    assert "did you mean 'gpt-oss-120b'" in capsys.readouterr().err
    assert main(["perf", "--model", "gpt-oss-120b", "--interactivity", "50"]) == EXIT_BAD_INPUT
    assert "--system: is required" in capsys.readouterr().err


def test_batch_query(tmp_path, capsys):
    query = tmp_path / "points.csv"
    query.write_text(
        "model,system,precision,isl,osl,interactivity,mode,note\n"
        "llama-3.3-70b,hgx-b300,fp8,1024,8192,30,agg,unmeasured system and shape\n"
        "qwen3-235b-a22b,gb300-nvl72,fp4,8192,1024,60,disagg,\n"
        "llama-3.3-70b,hgx-h100,fp8,1024,1024,100000,agg,too fast\n"
    )
    out = tmp_path / "predictions.csv"
    assert main(["perf", "--query", str(query), "--out", str(out)]) == EXIT_OK
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [r["note"] for r in rows] == ["unmeasured system and shape", "", "too fast"]
    assert float(rows[0]["tput_per_gpu"]) > 0 and rows[0]["reason"] == ""
    assert rows[1]["config"].startswith("prefill") and int(rows[1]["gpus"]) >= 2
    assert rows[2]["tput_per_gpu"] == "" and "100000" in rows[2]["reason"]


def test_batch_query_bad_rows(tmp_path, capsys):
    query = tmp_path / "points.csv"
    query.write_text("model,system,precision,isl,osl,interactivity,mode\nllama-3.3-70b,hgx-h100,fp8,-1,10,x,fast\n")
    assert main(["perf", "--query", str(query)]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "row 2: isl: must be >= 1" in err and "row 2: interactivity" in err and "row 2: mode" in err
    missing = tmp_path / "missing.csv"
    missing.write_text("model,system\n")
    assert main(["perf", "--query", str(missing)]) == EXIT_BAD_INPUT
    assert "missing column(s) precision" in capsys.readouterr().err


def test_rank_orders_every_system_precision_and_mode_by_usd_per_mtok(capsys):
    """--rank over every catalog system in FP4 and both modes: 9 x 1 x 2 = 18 (system, precision, mode),
    each either ranked or named with the reason it reaches no point."""
    args = ["perf", "--rank", "--model", "gpt-oss-120b", "--isl", "1024", "--osl", "1024", "--interactivity", "50",
            "--precision", "fp4"]
    assert main([*args, "--json"]) == EXIT_OK
    payload = json.loads(capsys.readouterr().out)
    ranked, unreachable = payload["ranked"], payload["unreachable"]
    assert len(ranked) + len(unreachable) == 18 and len(ranked) > 10
    assert {(r["system"], r["mode"]) for r in ranked + unreachable} == {
        (s, m) for s in ("hgx-h100", "hgx-h200", "hgx-b200", "hgx-b300", "gb200-nvl72", "gb300-nvl72", "mi300x",
                         "mi325x", "mi355x") for m in ("agg", "disagg")}
    costs = [row["usd_per_mtok"] for row in ranked]
    assert costs == sorted(costs) and [row["rank"] for row in ranked] == list(range(1, len(ranked) + 1))
    for row in ranked:
        # the same money as a single query: $/GPU-hour over tokens/s per GPU x 3600 / 1e6
        assert row["usd_per_mtok"] == row["usd_per_gpu_hour"] / (row["tput_per_gpu"] * 3600 / 1e6)
        assert row["interactivity"] >= 50
    h200 = next(r for r in ranked if (r["system"], r["precision"], r["mode"]) == ("hgx-h200", "fp4", "agg"))
    assert main(["perf", *GPT_OSS, "--interactivity", "50", "--json"]) == EXIT_OK  # control: the single query
    single = json.loads(capsys.readouterr().out)
    assert (h200["tput_per_gpu"], h200["usd_per_mtok"]) == (single["tput_per_gpu"], single["usd_per_mtok"])
    # tokens/s per MW: an H200 provisions 1.73 kW all-in (catalog)
    assert h200["tokens_per_s_per_mw"] == h200["tput_per_gpu"] / 1.73 * 1000
    assert main([*args[:3], "gpt-oss", *args[4:]]) == EXIT_BAD_INPUT  # an unknown model, named
    assert "did you mean 'gpt-oss-120b'" in capsys.readouterr().err
