"""Property tests of the limits at the door: instances and plans inside and just outside them.

A number inside its documented range is accepted; one just outside, or of the
wrong type (a string, a boolean), is exit 2 naming the field; nothing raises
anything but :class:`InstanceError`; an accepted instance is solved within its
time limit or reported infeasible.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from repo_paths import DATA, EXAMPLES

from optimizer.cli import main
from optimizer.instance import InstanceError, parse_instance
from optimizer.plan import Plan

TINY = json.loads((EXAMPLES / "tiny.json").read_text())
PLAN = json.loads((DATA / "hostile" / "plan-valid.json").read_text())

# tenant field -> (lowest, highest) of its documented range; integers where the field is one
TENANT_RANGES = {
    "requests_per_s": (1e-6, 1e5),
    "input_tokens": (1, 10_000_000),
    "output_tokens": (1, 1_000_000),
    "ttft_s": (1e-3, 3600.0),
    "min_tokens_per_s_per_user": (1e-3, 1e5),
    "min_racks": (1, 1000),
}
QUICK = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _outside(low: float, high: float) -> st.SearchStrategy:
    """Values just outside [low, high], of the field's type."""
    if isinstance(low, int):
        return st.sampled_from([low - 1, high + 1, 10**30])
    return st.sampled_from([low / 2, high * 1.5, 1e308, -low, 0.0])


def _with(field: str, value: object) -> dict:
    doc = json.loads(json.dumps(TINY))
    doc["tenants"][0][field] = value
    return doc


@QUICK
@given(st.sampled_from(sorted(TENANT_RANGES)), st.data())
def test_a_number_inside_its_range_is_accepted(field: str, data: st.DataObject) -> None:
    low, high = TENANT_RANGES[field]
    value = data.draw(st.integers(low, high) if isinstance(low, int) else st.floats(low, high))
    doc = _with(field, value)
    tenant = doc["tenants"][0]
    volume = tenant["requests_per_s"] * (tenant["input_tokens"] + tenant["output_tokens"])
    if volume > 1e8:  # the tenant's token volume has its own limit
        with pytest.raises(InstanceError, match="tokens/s"):
            parse_instance(doc)
    else:
        assert getattr(parse_instance(doc).tenants[0], field) == value


@QUICK
@given(st.sampled_from(sorted(TENANT_RANGES)), st.data())
def test_a_number_outside_its_range_or_of_the_wrong_type_names_the_field(field: str, data: st.DataObject) -> None:
    low, high = TENANT_RANGES[field]
    value = data.draw(_outside(low, high) | st.sampled_from([True, False, str(low), None, [low]]))
    with pytest.raises(InstanceError) as error:
        parse_instance(_with(field, value))
    assert f"tenants[0].{field}" in [path for path, _ in error.value.problems]


@QUICK
@given(
    st.sampled_from(["count", "gpus"]),
    st.one_of(st.integers(-5, 0), st.integers(4097, 10**40), st.floats(allow_nan=True), st.booleans(), st.text(max_size=3)),
)
def test_a_plan_count_outside_its_range_names_the_field(tmp_path: Path, field: str, value: object) -> None:
    plan = json.loads(json.dumps(PLAN))
    plan["racks"][0]["engines"][0][field] = value
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))  # nan and inf become NaN and Infinity, which the reader takes too
    with pytest.raises(InstanceError) as error:
        Plan.load(path)
    assert f"racks[0].engines[0].{field}" in [p for p, _ in error.value.problems]


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    requests_per_s=st.floats(1e-6, 1e4),
    input_tokens=st.integers(1, 20_000),
    output_tokens=st.integers(1, 8_000),
    ttft_s=st.floats(1e-3, 3600),
    speed=st.floats(1e-3, 1e5),
    profile=st.lists(st.floats(0, 1000), min_size=1, max_size=3),
)
def test_an_accepted_instance_is_solved_within_its_time_limit_or_reported_infeasible(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], requests_per_s: float, input_tokens: int,
    output_tokens: int, ttft_s: float, speed: float, profile: list[float],
) -> None:
    doc = json.loads(json.dumps(TINY))
    doc["tenants"][0].update(requests_per_s=requests_per_s, input_tokens=input_tokens, output_tokens=output_tokens,
                             ttft_s=ttft_s, min_tokens_per_s_per_user=speed, demand_profile=profile)
    path = tmp_path / "instance.json"
    path.write_text(json.dumps(doc))
    try:
        parse_instance(doc)
        expected = {0, 3}
    except InstanceError:
        expected = {2}
    limit = 3.0
    started = time.perf_counter()
    code = main(["solve", str(path), "--time-limit", str(limit)])
    assert time.perf_counter() - started <= 1.1 * limit + 2
    assert code in expected
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
