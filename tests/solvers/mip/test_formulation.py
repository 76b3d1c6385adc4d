"""The solver-independent MIP data: packing levels, scenario pruning, candidates and eligibility."""

from __future__ import annotations

import itertools
import random

import pytest
from mip_fixtures import TWO_PEAKS, fleet, make, profile, system, tenant
from repo_paths import EXAMPLES

from optimizer.instance import load_instance
from optimizer.performance import EngineConfig, PerformanceModel, TokenLoad, meets_slo
from solvers.mip.backend import Settings
from solvers.mip.candidates import _disaggregated_sets
from solvers.mip.cpsat import solve_cpsat
from solvers.mip.formulation import Pool, build_formulation, rebuild
from solvers.mip.mathopt import solve_mathopt
from solvers.mip.reconstruct import member_shares


def pool(rack_gpus: int, domain_gpus: int, usable_gpus: int | None = None) -> Pool:
    return Pool(
        entry=0, site="dc", system="x", owner=None, rack_gpus=rack_gpus,
        usable_gpus=usable_gpus or rack_gpus, domain_gpus=domain_gpus, usd_per_hour=1.0, kw=1.0, max_racks=9,
    )


def fits_by_search(items: list[int], bins: list[int]) -> bool:
    """Exhaustive search: can every item go into some bin within its capacity?"""
    if not items:
        return True
    first, rest = items[0], items[1:]
    tried = set()
    for b, room in enumerate(bins):
        if room >= first and room not in tried:
            tried.add(room)
            if fits_by_search(rest, bins[:b] + [room - first] + bins[b + 1:]):
                return True
    return False


def fits_by_levels(items: list[int], p: Pool, racks: int) -> bool:
    """Constraint (7): for each size L present, GPUs of items >= L within cap_L x racks."""
    return all(sum(i for i in items if i >= size) <= p.level_capacity(size) * racks for size in set(items))


@pytest.mark.parametrize(
    ("rack", "domain", "usable"),
    [(32, 8, None), (24, 12, None), (72, 72, None), (32, 8, 20), (72, 72, 40), (8, 8, 5)],
)
def test_level_constraints_are_exact_for_power_of_two_engines(rack: int, domain: int, usable: int | None) -> None:
    """Divisible sizes (Coffman, Garey, Johnson 1987): the level inequalities hold iff the
    replicas pack into the racks' domains, checked against exhaustive search on 300 random cases.
    A rack power cap leaves ``usable`` GPUs, cut into whole domains plus the remainder."""
    p = pool(rack, domain, usable)
    sizes = [s for s in (1, 2, 4, 8, 16, 32, 64) if s <= min(domain, p.usable_gpus)]
    domains = [domain] * (p.usable_gpus // domain) + ([p.usable_gpus % domain] if p.usable_gpus % domain else [])
    rng = random.Random(rack * 1000 + domain + (usable or 0))
    agreed = 0
    for _ in range(300):
        items = sorted((rng.choice(sizes) for _ in range(rng.randint(1, 7))), reverse=True)
        for racks in (1, 2):
            assert fits_by_levels(items, p, racks) == fits_by_search(items, domains * racks), (items, racks)
            agreed += 1
    assert agreed == 600


def test_level_capacity_by_hand() -> None:
    """cap_L: a 72-GPU NVL72 rack offers 72 GPUs to 8-GPU engines and 64 to 16..64-GPU ones;
    an HGX rack of 4 x 8 offers 32 to any size up to 8; 12-GPU domains offer 8 of 12 to 8-GPU ones."""
    assert [pool(72, 72).level_capacity(s) for s in (1, 8, 16, 32, 64)] == [72, 72, 64, 64, 64]
    assert [pool(32, 8).level_capacity(s) for s in (1, 2, 4, 8)] == [32, 32, 32, 32]
    assert pool(24, 12).level_capacity(8) == 16
    assert pool(32, 8, 20).level_capacity(8) == 16  # domains 8, 8, 4


def test_dominated_scenarios_are_pruned() -> None:
    """x = [1, 0.5, 0.25], y = [0.5, 1, 0.25]: scenario 2 is at most scenario 0 for both tenants,
    so it is served by scenario 0's flows scaled down; 0 and 1 are kept (neither dominates)."""
    instance = make([  # different TTFT promises: two commodities
        tenant("x", 4.0, demand_profile=[1.0, 0.5, 0.25]),
        tenant("y", 4.0, demand_profile=[0.5, 1.0, 0.25], ttft_s=2.0),
    ])
    f = build_formulation(instance)
    assert f.scenarios == (0, 1)
    assert f.represented_by == {0: 0, 1: 1, 2: 0}
    assert f.demand.tolist() == [[4.0, 2.0], [2.0, 4.0]]


def test_indistinguishable_tenants_merge_into_one_commodity() -> None:
    """x and y share model, shape, SLO, sites and precisions: one commodity of demand
    [4 + 2, 2 + 4, 1 + 1] = [6, 6, 2]; scenario 1 ties scenario 0 and 2 is below it, so
    only 0 is kept. A dedicated or spread tenant of the same shape stays on its own."""
    instance = make([
        tenant("x", 4.0, demand_profile=[1.0, 0.5, 0.25]),
        tenant("y", 4.0, demand_profile=[0.5, 1.0, 0.25]),
        tenant("own", 1.0, isolation="dedicated"),
        tenant("spread", 1.0, min_racks=2),
    ])
    f = build_formulation(instance)
    assert [c.members for c in f.commodities] == [(0, 1), (2,), (3,)]
    assert f.scenarios == (0,)
    assert f.demand[0].tolist() == [6.0]
    # each member gets its own share of the commodity's flows, per scenario
    shares = member_shares(f)[0]
    assert shares.tolist() == [[4 / 6, 2 / 6, 1 / 6], [2 / 6, 4 / 6, 1 / 6]]


def test_equal_scenarios_keep_the_first() -> None:
    instance = make([tenant("x", 4.0, demand_profile=[1.0, 1.0])])
    assert build_formulation(instance).scenarios == (0,)


def test_arc_coefficients_come_from_the_performance_model() -> None:
    """Aggregated profile: 1000 tokens/s per replica, so a 500 + 500-token request takes 1 s."""
    instance = make([tenant("a", 1.0)])
    f = build_formulation(instance)
    (arc,) = f.arcs
    assert arc.sec_per_request == pytest.approx(1.0)
    assert arc.tokens_per_request == 1000
    load = PerformanceModel(instance).tenant_load(instance.tenants[0], f.groups[arc.group].config)
    assert arc.kv_bytes_per_request_rate == pytest.approx(500 * load.kv_bytes_per_output_rate)


def test_disaggregated_pairs_all_meet_the_slo() -> None:
    """Prefill at TTFT 0.3 s on 1 GPU, or 0.9 s on 2 GPUs with 1.5 times the throughput per GPU
    (so neither dominates, E7); decode at 50 tokens/s (TTFT 0 for profiles). A TTFT promise of
    1.0 s pairs both prefills with the decode; 0.5 s only the first."""
    profiles = [profile("prefill"), profile("prefill", gpus=2, ttft_s=0.9, input_tokens_per_s=12000), profile("decode")]
    for promise, prefill_ttfts in ((1.0, [0.3, 0.9]), (0.5, [0.3])):
        instance = make([tenant("a", 1.0, ttft_s=promise)], profiles=profiles)
        f = build_formulation(instance)
        model = PerformanceModel(instance)
        prefills = [f.groups[a.group].config for a in f.arcs if a.role == "prefill"]
        decodes = [f.groups[a.group].config for a in f.arcs if a.role == "decode"]
        assert sorted(c.ttft_s for c in prefills) == prefill_ttfts
        t = instance.tenants[0]
        assert all(
            meets_slo(t, model.tenant_load(t, p), model.tenant_load(t, d)) for p, d in itertools.product(prefills, decodes)
        )


def test_disaggregated_sets_keep_the_warm_start_pairs() -> None:
    """A 0.5 s TTFT promise; prefills at TTFT 0.10, 0.20, 0.30 and 0.45 s, decodes at 0.01 s and
    (two) 0.10 s. The most pairs: all three decodes with the prefills that leave 0.10 s (0.10, 0.20,
    0.30): 3 x 3 = 9, against 4 x 1 = 4 with the 0.01 s decode alone. A warm start that paired the
    0.45 s prefill with the 0.01 s decode keeps both only with that decode alone, so the sets are
    the four prefills and the one decode; every pair still meets the promise."""
    t = make([tenant("a", 1.0, ttft_s=0.5)]).tenants[0]

    def option(role: str, ttft_s: float, gpus: int) -> tuple:
        config = EngineConfig(model=t.model, system="hgx-b200", precision="fp4", role=role, gpus=gpus, tp=gpus)
        load = TokenLoad(0.001, 0.001, 0.0, ttft_s, 100.0 if role == "decode" else float("inf"))
        return (0, config, load)

    prefills = [option("prefill", ttft, 1) for ttft in (0.10, 0.20, 0.30, 0.45)]
    decodes = [option("decode", 0.01, 1), option("decode", 0.10, 2), option("decode", 0.10, 4)]
    kept_prefills, kept_decodes = _disaggregated_sets(t, prefills, decodes)
    assert [o[2].ttft_s for o in kept_prefills] == [0.10, 0.20, 0.30] and len(kept_decodes) == 3
    warm = {prefills[3][1], decodes[0][1]}
    kept_prefills, kept_decodes = _disaggregated_sets(t, prefills, decodes, warm)
    assert kept_prefills == prefills and kept_decodes == decodes[:1]
    assert all(meets_slo(t, p[2], d[2]) for p, d in itertools.product(kept_prefills, kept_decodes))


def test_isolation_residency_and_spread_shape_the_pools() -> None:
    """dedicated: groups owned by the tenant in the shared pool; dedicated-rack: a private pool;
    residency: arcs only at allowed sites; min_racks > 1: spread groups the tenant owns."""
    instance = make(
        [
            tenant("shared", 1.0),
            tenant("own-engines", 1.0, isolation="dedicated"),
            tenant("own-racks", 1.0, isolation="dedicated-rack"),
            tenant("resident", 1.0, sites=["b"]),
            tenant("spread", 1.0, min_racks=2),
        ],
        sites=[{"name": "a"}, {"name": "b"}],
        fleet_entries=[fleet(site="a"), fleet(site="b")],
    )
    f = build_formulation(instance)

    def arcs_of(name: str) -> list:
        return [a for a in f.arcs if f.commodities[a.commodity].tenant.name == name]

    assert all(f.groups[a.group].owner == "own-engines" for a in arcs_of("own-engines"))
    assert all(f.groups[a.group].owner is None for a in arcs_of("shared"))
    assert all(f.pools[f.groups[a.group].pool].owner == "own-racks" for a in arcs_of("own-racks"))
    assert {f.pools[f.groups[a.group].pool].site for a in arcs_of("resident")} == {"b"}
    assert {f.pools[f.groups[a.group].pool].site for a in arcs_of("shared")} == {"a", "b"}
    assert all(f.groups[a.group].owner == "spread" and f.groups[a.group].spread == 2 for a in arcs_of("spread"))
    assert all(f.groups[a.group].spread == 1 for a in arcs_of("shared"))


def test_relaxations_drop_their_family() -> None:
    instance = make([tenant("a", 1.0, isolation="dedicated-rack", sites=["a"], min_racks=2)],
                    sites=[{"name": "a", "power_mw": 1.0}, {"name": "b"}],
                    fleet_entries=[fleet(site="a", max_racks=1), fleet(site="b")])
    strict = build_formulation(instance)
    assert strict.inventory() and strict.site_power() and strict.spread_sets
    everything = build_formulation(instance, relax=frozenset({"inventory", "site-power", "spread",
                                                              "isolation", "residency"}))
    assert not everything.inventory() and not everything.site_power() and not everything.spread_sets
    assert {p.site for p in everything.pools} == {"a", "b"}
    assert all(p.owner is None for p in everything.pools)
    with pytest.raises(ValueError, match="cannot relax"):
        build_formulation(instance, relax=frozenset({"gravity"}))


def test_no_candidate_names_the_slo() -> None:
    instance = make([tenant("fast", 1.0, min_tokens_per_s_per_user=500), tenant("ok", 1.0)])
    f = build_formulation(instance)
    assert list(f.no_candidate) == ["fast"]
    assert "SLO" in f.no_candidate["fast"] and "50 tokens/s/user" in f.no_candidate["fast"]


def test_rack_power_cap_folds_into_usable_gpus() -> None:
    """10 kW over 1.7875 kW per b200 GPU: 5 GPUs of a 32-GPU rack may run engines."""
    f = build_formulation(make([tenant("a", 1.0)], fleet_entries=[fleet(gpus_per_rack=32, rack_power_kw=10.0)]))
    assert [(p.rack_gpus, p.usable_gpus) for p in f.pools] == [(32, 5)]


def test_engines_larger_than_the_usable_rack_get_no_arc() -> None:
    """An 8-GPU engine cannot run in racks capped to 5 GPUs: no arc, the tenant has none."""
    toy = system("hgx-b200", "toy", gpus_per_rack=32)
    instance = make([tenant("a", 1.0)], fleet_entries=[fleet("toy", gpus_per_rack=32, rack_power_kw=10.0)],
                    profiles=[profile(system="toy", gpus=8)], systems=[toy])
    assert build_formulation(instance).arcs == ()


def test_covers_by_hand() -> None:
    """(11). One 1-GPU replica serves 1 request/s (mip_fixtures), racks have 8 GPUs.
    'a' peaks at 2.5 requests/s: >= 3 replicas, 3 GPUs, >= 1 rack. 'spread' (min_racks 2)
    needs 3 replicas in pairs: >= 4, and its 2 GPUs per rack open >= 2 racks. Both sides
    (input, output) of an aggregated tenant give the same rows, kept once."""
    instance = make([tenant("a", 1.0, demand_profile=[1.0, 2.5]), tenant("spread", 3.0, min_racks=2)])
    f = build_formulation(instance)
    replicas, racks = f.covers
    owners = {least: {f.groups[g].owner for g in groups} for groups, least in replicas}
    assert owners == {3: {None}, 4: {"spread"}}
    assert sorted(least for _, least in racks) == [2]  # one pool: the larger least is kept


def test_covers_raise_the_lp_bound_to_a_whole_rack() -> None:
    """0.3 requests/s: the LP relaxation opens 0.3 of a GPU, $0.30/h; with (11) at least one
    replica and one whole rack, $8/h, which is the optimum."""
    f = build_formulation(make([tenant("a", 0.3)]))
    lp = solve_mathopt(f, Settings(time_limit=10, gap=0.0, threads=1, seed=0, relax_integrality=True))
    assert lp.bound == pytest.approx(8.0)


def test_fluid_bound_by_hand() -> None:
    """A 1-GPU replica serves 1 request/s and a GPU costs $1/h (mip_fixtures). TWO_PEAKS'
    scenarios need 30 and 35 GPUs, so no plan costs less than $35/h: the peak of the sum, not
    the $45 of the peaks. The covers (11) ask for less: 'a' alone 25 GPUs, 4 racks of 8, $32/h."""
    f = build_formulation(make(TWO_PEAKS))
    assert len(f.commodities) == 2
    assert f.fluid_bound == pytest.approx(35.0)


def test_fluid_bound_counts_the_whole_racks_of_a_cover() -> None:
    """test_covers_by_hand's instance: 5.5 GPUs of GPU-time at $1/h, but 'spread' needs 2
    whole racks of 8 GPUs (11): $16/h."""
    f = build_formulation(make([tenant("a", 1.0, demand_profile=[1.0, 2.5]), tenant("spread", 3.0, min_racks=2)]))
    assert f.fluid_bound == pytest.approx(16.0)


@pytest.mark.parametrize(("decode_gpus", "expected"), [(2, 54.0), (4, 72.0)])
def test_fluid_bound_takes_the_cheaper_side(decode_gpus: int, expected: float) -> None:
    """Two commodities of 9 requests/s of 500 + 500 tokens at $2/GPU-hour. Aggregated: 1
    replica-s of 2 GPUs per request, $4/h per request/s. Disaggregated: prefill 500/4000 = 0.125
    replica-s of 4 GPUs ($1) plus decode 500/1000 = 0.5 replica-s of ``decode_gpus`` GPUs ($2 on
    2 GPUs, $4 on 4). The cheaper way, times 18 requests/s: $54/h (disaggregated) and $72/h
    (aggregated). Each commodity's covers ask for at most 3 racks of 8 GPUs, $48/h."""
    f = build_formulation(make(
        [tenant("a", 9.0), tenant("b", 9.0, ttft_s=0.9)],
        fleet_entries=[fleet(usd_per_gpu_hour=2.0)],
        profiles=[profile(gpus=2), profile("prefill", gpus=4), profile("decode", gpus=decode_gpus)],
    ))
    assert {arc.role for arc in f.arcs} == {"aggregated", "prefill", "decode"}
    assert f.fluid_bound == pytest.approx(expected)


@pytest.mark.parametrize("name", ["tiny.toml", "survive.toml", "enterprise-mix.toml"])
def test_fluid_bound_is_below_the_lp_relaxation(name: str) -> None:
    """The LP relaxation keeps every row the fluid bound relaxes, so it is never below it."""
    f = build_formulation(load_instance(EXAMPLES / name), max_arcs_per_role=2)
    lp = solve_mathopt(f, Settings(time_limit=60, gap=0.0, threads=1, seed=0, relax_integrality=True))
    assert lp.outcome == "optimal" and lp.bound is not None
    assert 0.0 < f.fluid_bound <= lp.bound + 1e-6


def test_cp_sat_refuses_the_lp_relaxation_rather_than_solving_the_mip() -> None:
    """CP-SAT has no continuous variables: asked for the LP relaxation, it says so (the MathOpt
    backend above solves it), instead of returning the MIP's $8/h as a relaxation's bound."""
    f = build_formulation(make([tenant("a", 0.3)]))
    with pytest.raises(ValueError, match="relax_integrality"):
        solve_cpsat(f, Settings(time_limit=10, gap=0.0, threads=1, seed=0, relax_integrality=True))


def test_rebuild_keeps_the_shortlist_the_model_was_solved_with():
    """Diagnosis relaxes the model solved: of tiny's 51 candidate arcs, 46 are dominated (E7);
    shortlisted it keeps 3 (one rack, nothing to relax changes its candidates), and rebuilt with
    inventory relaxed it keeps the same 3."""
    tiny = load_instance(EXAMPLES / "tiny.toml")
    shortlist = build_formulation(tiny, max_arcs_per_role=2)
    relaxed = rebuild(shortlist, frozenset({"inventory"}))
    every = build_formulation(tiny, performance=shortlist.performance)
    assert (len(every.arcs), every.dominated_groups) == (5, 46)
    assert relaxed.relaxed == {"inventory"} and relaxed.max_arcs_per_role == 2
    assert [(a.commodity, relaxed.groups[a.group].config) for a in relaxed.arcs] == [
        (a.commodity, shortlist.groups[a.group].config) for a in shortlist.arcs
    ]
    assert len(relaxed.arcs) == 3
