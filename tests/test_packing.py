"""Packing engine replicas into NVLink domains and racks."""

import pytest

from optimizer.catalog import builtin_systems
from optimizer.packing import domain_gpus, domain_sizes, pack_into_domains, pack_into_racks, racks_needed


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
