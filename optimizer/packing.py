"""Packing engine replicas into the NVLink domains of racks.

One replica must sit inside one NVLink (scale-up) domain. A rack of
``rack_gpus`` GPUs is cut into domains of ``domain_gpus`` GPUs
(:func:`domain_gpus`: the system's domain size, capped by the rack), plus one
smaller domain for any remainder. The checker, the heuristics and the MIP use
these functions, so they agree on what fits.

Packing is first-fit decreasing. When every replica size and the domain size are
powers of two (the house convention: engines of 1..64 GPUs, 8-GPU HGX domains),
sizes divide one another and first-fit decreasing is optimal (Coffman, Garey and
Johnson, "Bin packing with divisible item sizes", J. Complexity 3, 1987), so a
``None`` from :func:`pack_into_domains` proves the replicas do not fit. A rack
that is one domain (NVL72) fits any replicas whose GPUs add up to at most the
rack, whatever their sizes.
"""

from __future__ import annotations

from collections.abc import Sequence

from optimizer.catalog import System


def domain_gpus(system: System, rack_gpus: int) -> int:
    """GPUs in one NVLink domain of a rack of ``rack_gpus`` GPUs of ``system``."""
    return min(system.gpus_per_nvlink_domain, rack_gpus)


def domain_sizes(rack_gpus: int, domain_gpus: int) -> list[int]:
    """GPUs of each NVLink domain of one rack: whole domains, then any remainder.

    Raises:
        ValueError: ``domain_gpus`` not in 1..``rack_gpus``.
    """
    if not 1 <= domain_gpus <= rack_gpus:
        raise ValueError(f"domain of {domain_gpus} GPUs in a {rack_gpus}-GPU rack")
    whole, remainder = divmod(rack_gpus, domain_gpus)
    return [domain_gpus] * whole + ([remainder] if remainder else [])


def pack_into_domains(
    engine_gpus: Sequence[int], rack_gpus: int, domain_gpus: int
) -> list[list[int]] | None:
    """Place replicas of ``engine_gpus[i]`` GPUs into the domains of one rack.

    Returns, for each domain of :func:`domain_sizes`, the indices into
    ``engine_gpus`` of the replicas placed there; ``None`` when first-fit
    decreasing cannot place them all (with power-of-two sizes: they do not fit).
    """
    sizes = domain_sizes(rack_gpus, domain_gpus)
    free = list(sizes)
    placed: list[list[int]] = [[] for _ in sizes]
    for index in sorted(range(len(engine_gpus)), key=lambda i: -engine_gpus[i]):
        need = engine_gpus[index]
        slot = next((d for d, room in enumerate(free) if room >= need), None)
        if slot is None:
            return None
        free[slot] -= need
        placed[slot].append(index)
    return placed


def pack_into_racks(
    engine_gpus: Sequence[int], rack_gpus: int, domain_gpus: int
) -> list[list[list[int]]]:
    """Place replicas into as few racks as first-fit decreasing needs.

    Returns one entry per rack: for each of its domains, the indices into
    ``engine_gpus`` of the replicas placed there. Optimal (fewest racks) when
    sizes are powers of two and the rack is a whole number of domains.

    Raises:
        ValueError: a replica larger than one domain.
    """
    too_big = [g for g in engine_gpus if g > domain_gpus]
    if too_big:
        raise ValueError(f"a {max(too_big)}-GPU engine does not fit a {domain_gpus}-GPU NVLink domain")
    racks: list[list[list[int]]] = []
    free: list[list[int]] = []
    for index in sorted(range(len(engine_gpus)), key=lambda i: -engine_gpus[i]):
        need = engine_gpus[index]
        spot = next(
            ((r, d) for r, rack in enumerate(free) for d, room in enumerate(rack) if room >= need),
            None,
        )
        if spot is None:
            sizes = domain_sizes(rack_gpus, domain_gpus)
            racks.append([[] for _ in sizes])
            free.append(list(sizes))
            spot = (len(racks) - 1, next(d for d, room in enumerate(sizes) if room >= need))
        r, d = spot
        free[r][d] -= need
        racks[r][d].append(index)
    return racks


def racks_needed(engine_gpus: Sequence[int], rack_gpus: int, domain_gpus: int) -> int:
    """Racks :func:`pack_into_racks` opens for these replicas."""
    return len(pack_into_racks(engine_gpus, rack_gpus, domain_gpus))
