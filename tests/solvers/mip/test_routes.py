"""How to_plan splits a group's flows over the racks its replicas land in (reconstruct.py, "Routes").

Capacities as in test_solve.py: a 1-GPU aggregated replica serves 1 request/s; racks of 8 GPUs.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from mip_fixtures import make, tenant

from optimizer.check import check
from solvers.mip.backend import Solution
from solvers.mip.formulation import build_formulation
from solvers.mip.reconstruct import split_over_pieces, to_plan


def test_tenants_fill_the_racks_of_a_group_in_turn() -> None:
    """Four tenants of 3 requests/s on twelve 1-GPU replicas: 8 in one rack, 4 in the next.
    Filling engine time in tenant order, rack 1 takes a (0-3), b (3-6) and c's first 2 (6-8),
    rack 2 the rest of c (8-9) and d (9-12): 5 routes rather than 4 x 2, each rack exactly full."""
    instance = make([tenant(name, 3.0) for name in "abcd"])
    f = build_formulation(instance)
    assert len(f.groups) == len(f.arcs) == 1 and len(f.scenarios) == 1
    solution = Solution(racks=np.array([2.0]), replicas=np.array([12.0]), flows=np.array([[12.0]]),
                        unserved=np.zeros((len(f.commodities), 1)))
    plan = to_plan(f, solution, "hand")
    counts = {group.id: group.count for rack in plan.racks for group in rack.engines}
    assert sorted(counts.values()) == [4, 8]
    full, rest = sorted(counts, key=counts.get, reverse=True)
    requests = {(r.tenant, r.engine): r.input_tokens_per_s / 500 for r in plan.routes}
    assert requests == pytest.approx({("a", full): 3.0, ("b", full): 3.0, ("c", full): 2.0, ("c", rest): 1.0,
                                      ("d", rest): 3.0})
    assert check(instance, plan) == []


def _stub(kv: list[float], min_racks: list[int]) -> SimpleNamespace:
    """What split_over_pieces reads of a formulation: tenant i on arc i, whose request/s takes 1 replica-second/s
    of engine time and ``kv[i]`` replicas of KV memory, spread over ``min_racks[i]`` racks."""
    return SimpleNamespace(
        instance=SimpleNamespace(tenants=[SimpleNamespace(min_racks=m, survive="none") for m in min_racks]),
        replicas_per_request=np.array([[1.0, k, 0.0] for k in kv]),
    )


ENTRIES = [(0, 0, 1.0), (1, 1, 1.0)]
"""(arc, tenant, requests/s): a and b at 1 request/s each, on a group of two 1-replica pieces"""
PIECES = [("r1/e1", 1), ("r2/e1", 1)]


def _by_piece(split) -> dict[tuple[int, int], float]:  # type: ignore[no-untyped-def]
    return {(entry[1], piece): requests for entry, piece, requests in split}


def test_a_fill_that_fits_every_capacity_family_is_kept() -> None:
    """b holds 0.9 replicas of KV: a alone in piece 0, b alone in piece 1, each within 1 replica."""
    assert _by_piece(split_over_pieces(_stub([0.1, 0.9], [1, 1]), ENTRIES, PIECES)) == {(0, 0): 1.0, (1, 1): 1.0}


def test_a_fill_that_overloads_kv_memory_falls_back_to_proportion() -> None:
    """b holds 1.5 replicas of KV: alone in piece 1 it overflows it (the group holds 1.6 of 2), so
    both tenants are split half and half: 0.8 replicas of KV in each piece."""
    split = split_over_pieces(_stub([0.1, 1.5], [1, 1]), ENTRIES, PIECES)
    assert _by_piece(split) == {(0, 0): 0.5, (0, 1): 0.5, (1, 0): 0.5, (1, 1): 0.5}


def test_spread_tenants_stay_in_proportion_and_the_others_fill_the_rest() -> None:
    """b (1 request/s) must spread over 2 racks: half in each piece; a and c (0.5 each) fill the
    half replica left in each, a in piece 0 and c in piece 1."""
    entries = [(0, 0, 0.5), (1, 1, 1.0), (2, 2, 0.5)]
    split = split_over_pieces(_stub([0.1, 0.1, 0.1], [1, 2, 1]), entries, PIECES)
    assert _by_piece(split) == {(1, 0): 0.5, (1, 1): 0.5, (0, 0): 0.5, (2, 1): 0.5}
