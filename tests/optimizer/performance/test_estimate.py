"""The estimator: measured first, carried by the roofline's ratios, with a basis and a band."""

from __future__ import annotations

import csv
import io
import json
import math

import numpy as np
import pytest

from optimizer.catalog import builtin_models, builtin_systems
from optimizer.cli import EXIT_BAD_INPUT, EXIT_INFEASIBLE, EXIT_OK, main
from optimizer.performance.anchors import MeasuredFrontier, frontiers, latest
from optimizer.performance.calibrate import default_data, load_calibration
from optimizer.performance.estimate import Bands, Estimator
from optimizer.performance.frontier import RooflineModel
from optimizer.performance.measurements import measured_points

MI300X = ("deepseek-r1", "mi300x", "fp8", 1024, 1024, "agg")


def roofline() -> RooflineModel:
    return RooflineModel(builtin_systems(), builtin_models(), default_data().calibration)


def test_a_measured_group_answers_its_own_frontier():
    """At a measured frontier point the answer is that point (basis measured); halfway between two
    points in log interactivity it is their geometric mean (log-log interpolation: interpolated)."""
    estimator = default_data().estimator(builtin_models(), builtin_systems())
    front = estimator.measured[MI300X]
    x, t = front.interactivity, front.tput_per_gpu
    at_point, between = estimator.estimate(MI300X, [x[2], math.sqrt(x[2] * x[3])])
    assert at_point.tput_per_gpu == pytest.approx(t[2]) and at_point.basis == "measured"
    assert between.tput_per_gpu == pytest.approx(math.sqrt(t[2] * t[3])) and between.basis == "interpolated"
    assert at_point.low <= at_point.tput_per_gpu <= at_point.high


def test_another_shape_is_carried_by_the_rooflines_shape_ratio():
    """Only MI300X 1k/1k measured (a made-up frontier): its 8k/1k is the roofline's 8k/1k times
    the 1k/1k correction M / R at the same interactivity (no other system measured both shapes,
    so no shift from elsewhere)."""
    r = roofline()
    own = MeasuredFrontier(MI300X, np.array([10.0, 40.0]), np.array([400.0, 100.0]))
    estimator = Estimator(r, {MI300X: own}, Bands({}, {}))
    target = ("deepseek-r1", "mi300x", "fp8", 8192, 1024, "agg")
    (answer,) = estimator.estimate(target, [20.0])
    measured_at_20 = math.sqrt(400.0 * 100.0)  # halfway in log x between (10, 400) and (40, 100)
    correction = measured_at_20 / estimator._curve(MI300X).at(np.array([20.0]))[0]
    assert answer.detail == "other-shape" and answer.basis == "modelled"
    assert answer.tput_per_gpu == pytest.approx(estimator._curve(target).at(np.array([20.0]))[0] * correction)
    assert answer.correction == pytest.approx(correction)


def test_nothing_measured_is_the_roofline_and_bands_fall_back_to_wider_labels():
    estimator = Estimator(roofline(), {}, Bands({"other-model": tuple([-0.5] * 19)}, {"other-model": 10}))
    (answer,) = estimator.estimate(MI300X, [20.0])
    assert answer.detail == "roofline" and answer.correction == 1.0
    # no "roofline" band: the widest label there is, none, gives an empty band (factor 1)
    assert answer.low == answer.high == answer.tput_per_gpu
    # an "other-system" answer borrows "other-vendor", then "other-model"
    assert estimator.bands.factor("other-system", 0.1) == pytest.approx(math.exp(-0.5))


def test_a_query_naming_its_software_answers_from_that_softwares_measurements():
    """Made-up frontiers of one group: sglang (10, 400), (40, 100) and vllm (10, 200), (40, 50).
    The pooled frontier is sglang's. Asked for vllm at 10, the answer is vllm's point, 200
    (measured); for atom, which nobody measured on the group, it is the pooled 400 with the
    other-software band's 10% and 90% quantiles (of residuals spread -0.7 .. 0.8 over the levels
    0.05 .. 0.95); with no software, the pooled 400 (measured)."""
    x = np.array([10.0, 40.0])
    sglang = MeasuredFrontier(MI300X, x, np.array([400.0, 100.0]), ("sglang", "sglang"))
    vllm = MeasuredFrontier(MI300X, x, np.array([200.0, 50.0]), ("vllm", "vllm"))
    band = Bands({"other-software": tuple(np.linspace(-0.7, 0.8, 19))}, {"other-software": 10})
    estimator = Estimator(roofline(), {MI300X: sglang}, band, {(MI300X, "sglang"): sglang, (MI300X, "vllm"): vllm})
    (mine,) = estimator.estimate(MI300X, [10.0], software="vllm")
    (other,) = estimator.estimate(MI300X, [10.0], software="atom")
    (best,) = estimator.estimate(MI300X, [10.0])
    assert (mine.tput_per_gpu, mine.detail) == (pytest.approx(200.0), "measured")
    assert (other.tput_per_gpu, other.detail, other.basis) == (pytest.approx(400.0), "other-software", "modelled")
    q10, q90 = np.interp([0.1, 0.9], np.linspace(0.05, 0.95, 19), np.linspace(-0.7, 0.8, 19))
    assert (other.low, other.high) == (pytest.approx(400.0 * math.exp(q10)), pytest.approx(400.0 * math.exp(q90)))
    assert (best.tput_per_gpu, best.detail) == (pytest.approx(400.0), "measured")


def test_perf_query_takes_an_optional_software_column(tmp_path, capsys):
    """DeepSeek-R1 FP8 on MI300X is measured with SGLang only: asked for SGLang the answer is
    measured or interpolated, asked for vLLM the same number labelled other-software; an unknown
    software is bad input naming the row and column."""
    query = tmp_path / "q.csv"
    query.write_text("model,system,precision,isl,osl,interactivity,mode,software\n"
                     "deepseek-r1,mi300x,fp8,1024,1024,30,agg,sglang\n"
                     "deepseek-r1,mi300x,fp8,1024,1024,30,agg,vllm\n", encoding="utf-8")
    assert main(["perf", "--query", str(query)]) == EXIT_OK
    own, other = csv.DictReader(io.StringIO(capsys.readouterr().out))
    assert own["basis_detail"] in ("measured", "interpolated") and other["basis_detail"] == "other-software"
    assert float(own["tput_per_gpu"]) == pytest.approx(float(other["tput_per_gpu"]))
    assert float(other["tput_per_gpu_high"]) / float(other["tput_per_gpu_low"]) > (
        float(own["tput_per_gpu_high"]) / float(own["tput_per_gpu_low"]))
    query.write_text("model,system,precision,isl,osl,interactivity,mode,software\n"
                     "deepseek-r1,mi300x,fp8,1024,1024,30,agg,vllm/../x\n", encoding="utf-8")
    assert main(["perf", "--query", str(query)]) == EXIT_BAD_INPUT
    assert "row 2: software" in capsys.readouterr().err


def test_newer_runs_of_a_configuration_replace_older_ones():
    points = measured_points()
    kept = latest(points)
    assert len(kept) < len(points)
    by_config: dict = {}
    for p in points:
        by_config.setdefault((p.model, p.system, p.precision, p.isl, p.osl, p.disaggregated, p.framework,
                              p.engine, p.prefill, p.decode, p.concurrency, p.prefill_gpus, p.decode_gpus), []).append(p)
    newest = {k: max(p.date for p in v) for k, v in by_config.items()}
    assert all(p.date == newest[(p.model, p.system, p.precision, p.isl, p.osl, p.disaggregated, p.framework,
                                 p.engine, p.prefill, p.decode, p.concurrency, p.prefill_gpus, p.decode_gpus)]
               for p in kept)


def _rows(system: str) -> str:
    """The bundled measured rows of ``system`` (no speculative decoding) as CSV text."""
    with open("instances/catalog/inferencemax_points.csv", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = [r for r in reader if r["system"] == system and r["spec_decoding"] == "none"]
        header = reader.fieldnames
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def test_calibrate_then_perf_answers_from_the_users_points(tmp_path, capsys):
    """A standalone calibration on MI325X's points alone: MI325X answers from them (measured), and
    MI300X, measured by nobody in that file, is carried from MI325X (other-system)."""
    points = tmp_path / "mi325x.csv"
    points.write_text(_rows("mi325x"))
    calib = tmp_path / "calib.json"
    assert main(["calibrate", str(points), "-o", str(calib), "--standalone", "--json"]) == EXIT_OK
    changes = json.loads(capsys.readouterr().out)["changes"]
    assert any("standalone" in line for line in changes)
    doc = json.loads(calib.read_text())
    assert doc["standalone"] is True and doc["points"]
    truth = frontiers(measured_points())[("deepseek-r1", "mi325x", "fp8", 1024, 1024, "agg")]
    x, t = float(truth.interactivity[1]), float(truth.tput_per_gpu[1])
    query = tmp_path / "q.csv"
    query.write_text(
        "model,system,precision,isl,osl,interactivity,mode\n"
        f"deepseek-r1,mi325x,fp8,1024,1024,{x!r},agg\ndeepseek-r1,mi300x,fp8,1024,1024,{x!r},agg\n"
    )
    assert main(["perf", "--query", str(query), "--calibration", str(calib)]) == EXIT_OK
    own, carried = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert float(own["tput_per_gpu"]) == pytest.approx(t, rel=1e-3) and own["basis"] == "measured"
    assert carried["basis"] == "modelled" and carried["basis_detail"] == "other-system"
    # the band is the calibration's own held-out residuals at that label (one system: no
    # other-system residuals, so the nearest wider label with any, here the roofline's)
    bands = load_calibration(calib, builtin_systems(), builtin_models()).bands
    point = float(carried["tput_per_gpu"])
    assert float(carried["tput_per_gpu_low"]) == pytest.approx(point * bands.factor("other-system", 0.1), rel=1e-3)
    assert float(carried["tput_per_gpu_high"]) == pytest.approx(point * bands.factor("other-system", 0.9), rel=1e-3)
    assert "other-system" not in bands.quantiles


def test_calibrate_refuses_bad_points_and_writing_onto_its_input(tmp_path, capsys):
    points = tmp_path / "p.csv"
    points.write_text(_rows("mi325x").replace(",deepseek-r1,", ",no-such-model,", 1))
    assert main(["calibrate", str(points), "-o", str(tmp_path / "c.json")]) == EXIT_BAD_INPUT
    assert "row 2: model: unknown model 'no-such-model'" in capsys.readouterr().err
    assert main(["calibrate", str(points), "-o", str(points)]) == EXIT_BAD_INPUT
    assert not (tmp_path / "c.json").exists()


def test_weights_that_do_not_fit_are_their_own_reason(capsys):
    """DeepSeek-R1 FP8 is 671 GB; eight H100s hold 8 x 80 x 0.9 = 576 GB."""
    args = ["perf", "--model", "deepseek-r1", "--system", "hgx-h100", "--precision", "fp8",
            "--isl", "1024", "--osl", "1024", "--interactivity", "30"]
    assert main(args) == EXIT_INFEASIBLE
    assert "weights (671 GB) do not fit one engine of 8 hgx-h100 GPUs (640 GB of HBM, 576 GB usable)" in capsys.readouterr().err


def test_perf_refuses_non_finite_numbers(capsys):
    args = ["perf", "--model", "deepseek-r1", "--system", "mi300x", "--precision", "fp8",
            "--isl", "1024", "--osl", "1024", "--interactivity", "nan"]
    assert main(args) == EXIT_BAD_INPUT
    assert "--interactivity: must be a finite number" in capsys.readouterr().err
