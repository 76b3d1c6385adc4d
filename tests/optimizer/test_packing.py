"""Packing engine replicas into NVLink domains and racks."""

import pytest

from optimizer.catalog import builtin_systems
from optimizer.packing import (
    RackPacker,
    domain_gpus,
    domain_sizes,
    pack_into_domains,
    pack_into_racks,
    racks_needed,
)


def test_domain_of_a_rack_is_the_system_domain_capped_by_the_rack():
    systems = builtin_systems()
    assert domain_gpus(systems["hgx-h200"], 32) == 8  # four 8-GPU servers
    assert domain_gpus(systems["gb200-nvl72"], 72) == 72  # one NVLink domain
    assert domain_gpus(systems["gb200-nvl72"], 36) == 36  # a rack override smaller than the domain


def test_domain_sizes_keep_a_remainder_domain():
    assert domain_sizes(32, 8) == [8, 8, 8, 8]
    assert domain_sizes(72, 72) == [72]
    assert domain_sizes(12, 8) == [8, 4]


@pytest.mark.parametrize("rack_gpus, domain", [(32, 0), (32, 33)])
def test_domain_sizes_refuse_a_domain_outside_the_rack(rack_gpus, domain):
    with pytest.raises(ValueError, match="domain"):
        domain_sizes(rack_gpus, domain)


def test_first_fit_decreasing_fills_hgx_domains_exactly():
    # 8 + 4+4 + 2+2+2+2 + 1x8 = 32 GPUs: FFD puts the 8 in domain 0, the 4s in 1,
    # the 2s in 2 and the 1s in 3; every domain full.
    sizes = [1] * 8 + [2, 2, 2, 2, 4, 4, 8]
    placed = pack_into_domains(sizes, 32, 8)
    assert placed is not None
    assert [sum(sizes[i] for i in domain) for domain in placed] == [8, 8, 8, 8]
    assert sorted(i for domain in placed for i in domain) == list(range(len(sizes)))


def test_replicas_that_do_not_fit_give_none_beside_ones_that_do():
    # four 6-GPU replicas take one 8-GPU domain each, leaving 2 GPUs in each:
    # a 4-GPU replica has no room although 28 <= 32 GPUs; a 2-GPU one fits.
    assert pack_into_domains([6, 6, 6, 6, 4], 32, 8) is None
    assert pack_into_domains([6, 6, 6, 6, 2], 32, 8) is not None


def test_an_nvl72_rack_holds_any_replicas_up_to_72_gpus():
    assert pack_into_domains([64, 8], 72, 72) == [[0, 1]]
    assert pack_into_domains([64, 8, 1], 72, 72) is None


def test_racks_needed_is_optimal_for_powers_of_two():
    # 5 x 8 + 6 x 4 + 4 x 2 = 72 GPUs of 8-GPU engines and smaller: 72 / 32 -> 3 HGX racks
    sizes = [8] * 5 + [4] * 6 + [2] * 4
    assert racks_needed(sizes, 32, 8) == 3
    # the same replicas in one NVL72 rack: 72 GPUs exactly
    assert racks_needed(sizes, 72, 72) == 1
    racks = pack_into_racks(sizes, 32, 8)
    assert sorted(i for r in racks for d in r for i in d) == list(range(len(sizes)))
    assert all(sum(sizes[i] for i in d) <= 8 for r in racks for d in r)


def test_pack_into_racks_refuses_a_replica_larger_than_a_domain():
    with pytest.raises(ValueError, match="16-GPU engine"):
        pack_into_racks([16], 32, 8)
    assert racks_needed([], 32, 8) == 0


def first_fit_decreasing(engine_gpus, rack_gpus, domain):
    """The specification of pack_into_racks: replica by replica, largest first, into the first
    (rack, domain) with room, opening a rack when none has room."""
    racks, free = [], []
    for index in sorted(range(len(engine_gpus)), key=lambda i: -engine_gpus[i]):
        need = engine_gpus[index]
        spot = next(((r, d) for r, rack in enumerate(free) for d, room in enumerate(rack) if room >= need), None)
        if spot is None:
            racks.append([[] for _ in domain_sizes(rack_gpus, domain)])
            free.append(domain_sizes(rack_gpus, domain))
            spot = (len(racks) - 1, next(d for d, room in enumerate(free[-1]) if room >= need))
        r, d = spot
        free[r][d] -= need
        racks[r][d].append(index)
    return racks


@pytest.mark.parametrize("rack_gpus, domain", [(32, 8), (72, 72), (12, 8), (72, 8)])
def test_batched_packing_places_each_replica_where_replica_by_replica_ffd_does(rack_gpus, domain):
    # odd sizes (3, 6) and a remainder domain (12 = 8 + 4) included: not only the optimal case
    sizes = [s for s in [1, 3, 8, 2, 6, 1, 4, 8, 2, 2, 1, 6, 4, 3, 8, 1, 1, 2, 64, 32] if s <= domain]
    assert pack_into_racks(sizes, rack_gpus, domain) == first_fit_decreasing(sizes, rack_gpus, domain)


def test_thirty_thousand_one_gpu_replicas_fill_whole_racks():
    # 30000 / 32 = 937.5 -> 937 full HGX racks and one with 16 replicas (two full domains)
    racks = pack_into_racks([1] * 30000, 32, 8)
    assert len(racks) == 938
    assert [len(d) for d in racks[-1]] == [8, 8, 0, 0]


def test_a_packer_caps_a_batch_per_rack_for_min_racks():
    # 4 one-GPU replicas, at most 4 // 2 = 2 per rack (min_racks = 2): two racks of 2, though one holds 32
    packer = RackPacker(32, 8)
    packer.place("t", 1, 4, per_rack=2)
    assert [rack.replicas for rack in packer.racks] == [{"t": 2}, {"t": 2}]
    # a second batch fills the first rack's free GPUs: 32 - 2 = 30 one-GPU replicas
    packer.place("u", 1, 30)
    assert len(packer.racks) == 2 and packer.racks[0].replicas == {"t": 2, "u": 30}


def test_a_packer_caps_the_gpus_occupied_per_rack_for_rack_power():
    # a 20-GPU cap in a 32-GPU rack of 8-GPU domains: two 8-GPU replicas (16 GPUs) per rack,
    # a third would occupy 24 > 20; one 4-GPU replica still fits beside them (20)
    packer = RackPacker(32, 8, max_occupied=20)
    packer.place("big", 8, 3)
    packer.place("small", 4, 1)
    assert [rack.replicas for rack in packer.racks] == [{"big": 2, "small": 1}, {"big": 1}]
    assert [rack.occupied for rack in packer.racks] == [20, 8]
    assert packer.fits(8) and not RackPacker(32, 8, max_occupied=4).fits(8)


def test_a_dedicated_rack_takes_only_its_owner():
    packer = RackPacker(32, 8)
    packer.place("a", 8, 1, owner="acme")  # rack 0 belongs to acme, 24 GPUs free
    packer.place("shared", 8, 1)  # does not go into acme's rack: opens rack 1
    packer.place("b", 8, 1, owner="acme")  # back into acme's rack 0
    packer.place("c", 8, 1, owner="other")  # another owner: a rack of its own
    assert [(rack.owner, rack.replicas) for rack in packer.racks] == [
        ("acme", {"a": 1, "b": 1}), (None, {"shared": 1}), ("other", {"c": 1})
    ]


def test_undo_takes_back_placements_and_the_racks_they_opened():
    packer = RackPacker(32, 8)
    packer.place("kept", 4, 3)  # rack 0: 12 GPUs
    before = [(list(rack.free), rack.occupied, dict(rack.replicas)) for rack in packer.racks]
    moves = packer.place("taken back", 8, 5)  # fills rack 0 (two 8s beside the 4s) and opens rack 1
    assert len(packer.racks) == 2
    packer.undo(moves)
    assert [(rack.free, rack.occupied, rack.replicas) for rack in packer.racks] == before
    # the same placement again lands where it did the first time
    assert packer.place("taken back", 8, 5) == moves


def test_a_packer_refuses_what_fits_no_empty_rack_beside_what_does():
    packer = RackPacker(32, 8)
    with pytest.raises(ValueError, match="16-GPU engine"):
        packer.place("k", 16, 1)
    with pytest.raises(ValueError, match="per rack"):
        packer.place("k", 8, 2, per_rack=0)
    assert packer.racks == []  # nothing half-placed
    assert packer.place("k", 8, 0) == [] and packer.place("k", 8, 1) != []
