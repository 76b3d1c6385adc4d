"""The capacity formulas (``optimizer.performance.capacity``) on hgx-b200 with round numbers."""

from __future__ import annotations

import pytest

from optimizer.catalog import builtin_systems
from optimizer.performance import TokenLoad
from optimizer.performance.capacity import allin_kw, it_kw, replica_seconds, scaleout_bytes_per_s, usable_gpus

SYSTEM = builtin_systems()["hgx-b200"].model_copy(
    update={"it_kw_per_gpu": 1.5, "allin_kw_per_gpu": 2.0, "scaleout_gbit_s": 400.0}
)
"""hgx-b200 at 1.5 kW IT and 2 kW all-in per GPU, 400 Gbit/s of scale-out per GPU."""


def test_rack_power_all_in_and_it() -> None:
    assert allin_kw(SYSTEM, 8) == 16.0  # 8 x 2 kW
    assert it_kw(SYSTEM, 6) == 9.0  # 6 x 1.5 kW


@pytest.mark.parametrize(("cap_kw", "usable"), [
    (None, 8),  # no cap: the whole rack
    (9.0, 6),  # 9 / 1.5 = 6 exactly: not rounded down to 5
    (10.4, 6),  # 10.4 / 1.5 = 6.93
    (100.0, 8),  # a cap above the rack's 12 kW leaves all 8
])
def test_usable_gpus_under_a_rack_power_cap(cap_kw: float | None, usable: int) -> None:
    assert usable_gpus(SYSTEM, 8, cap_kw) == usable


def test_scaleout_bytes_per_s() -> None:
    assert scaleout_bytes_per_s(SYSTEM, 4) == pytest.approx(200e9)  # 4 x 400 Gbit/s / 8 bits


def test_replica_seconds_per_request() -> None:
    load = TokenLoad(sec_per_input_token=1e-3, sec_per_output_token=4e-3,
                     kv_bytes_per_output_rate=0.0, ttft_s=0.5, tokens_per_s_per_user=50.0)
    assert replica_seconds(load, 500, 250) == pytest.approx(1.5)  # 500 x 1 ms + 250 x 4 ms
