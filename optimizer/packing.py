"""Packing engine replicas into the NVLink domains of racks: the one packer.

One replica must sit inside one NVLink (scale-up) domain. A rack of
``rack_gpus`` GPUs is cut into domains of ``domain_gpus`` GPUs
(:func:`domain_gpus`: the system's domain size, capped by the rack), plus one
smaller domain for any remainder.

:class:`RackPacker` is the one implementation: it places replicas of one size a
batch at a time, first-fit into the domains of the racks it has opened, opening
racks as needed, with an optional cap on the GPUs engines may occupy per rack
(rack power), a cap on the replicas of one batch per rack (``min_racks``), racks
reserved to one owner (``dedicated-rack``), and undo. The baseline heuristics
drive it directly; :func:`pack_into_racks` (the MIP's rack assignment) and
:func:`pack_into_domains` (the checker: do one rack's replicas fit?) are
first-fit decreasing over it. So the checker, the heuristics and the MIP agree
on what fits.

Packing is first-fit decreasing. When every replica size and the domain size are
powers of two (the house convention: engines of 1..64 GPUs, 8-GPU HGX domains),
sizes divide one another and first-fit decreasing is optimal (Coffman, Garey and
Johnson, "Bin packing with divisible item sizes", J. Complexity 3, 1987), so a
``None`` from :func:`pack_into_domains` proves the replicas do not fit. A rack
that is one domain (NVL72) fits any replicas whose GPUs add up to at most the
rack, whatever their sizes.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import NamedTuple

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


@dataclass(eq=False)
class PackedRack:
    """One rack a :class:`RackPacker` has opened."""

    free: list[int]
    """free GPUs per NVLink domain"""
    owner: str | None = None
    """the tenant a dedicated rack belongs to; None for a shared rack"""
    occupied: int = 0
    """GPUs occupied by replicas"""
    replicas: dict[Hashable, int] = field(default_factory=dict)
    """replicas per batch key"""


class Move(NamedTuple):
    """One step of a placement: ``count`` replicas of ``gpus`` GPUs of batch ``key`` went into
    domain ``domain`` of rack ``rack`` (an index into :attr:`RackPacker.racks`); ``domain`` None
    records that the rack was opened."""

    rack: int
    domain: int | None
    key: Hashable
    gpus: int
    count: int


class RackPacker:
    """Racks of one kind, filled first-fit a batch of equal replicas at a time, with undo.

    Args:
        rack_gpus: GPUs of one rack.
        domain_gpus: GPUs of one NVLink domain (:func:`domain_gpus`).
        max_occupied: GPUs engines may occupy in one rack (a rack power cap);
            ``None``: the whole rack.

    Raises:
        ValueError: ``domain_gpus`` not in 1..``rack_gpus``.
    """

    def __init__(self, rack_gpus: int, domain_gpus: int, max_occupied: int | None = None):
        self.domains = domain_sizes(rack_gpus, domain_gpus)
        self.max_occupied = rack_gpus if max_occupied is None else min(max_occupied, rack_gpus)
        self.racks: list[PackedRack] = []
        self._first_open: dict[int, int] = {}
        """per replica size: no shared rack before this index has room for one"""

    def fits(self, gpus: int) -> bool:
        """Whether one replica of ``gpus`` GPUs fits an empty rack (a domain and ``max_occupied``)."""
        return 1 <= gpus <= min(max(self.domains), self.max_occupied)

    def place(
        self, key: Hashable, gpus: int, count: int, *, per_rack: int | None = None, owner: str | None = None
    ) -> list[Move]:
        """Place ``count`` replicas of ``gpus`` GPUs as batch ``key``; the moves made, for :meth:`undo`.

        Shared racks (``owner`` None) are filled first-fit in the order they were
        opened; with an ``owner``, only racks of that owner are used and new ones
        belong to it. At most ``per_rack`` replicas of ``key`` go into one rack
        (``None``: no cap). Racks are opened at the end as needed.

        Raises:
            ValueError: a replica that fits no empty rack (:meth:`fits`), or ``per_rack`` < 1.
        """
        if count <= 0:
            return []
        if not self.fits(gpus):
            raise ValueError(
                f"a {gpus}-GPU engine does not fit a rack of NVLink domains of {self.domains} GPUs "
                f"with {self.max_occupied} GPUs usable"
            )
        cap = count if per_rack is None else per_rack
        if cap < 1:
            raise ValueError(f"at most {per_rack} replicas per rack cannot place {count}")
        moves: list[Move] = []
        left = count
        if owner is None:
            start = self._first_open.get(gpus, 0)
            r = start
            while left and r < len(self.racks):
                rack = self.racks[r]
                room = 0 if rack.owner is not None else self._room(rack, gpus)
                if room == 0 and r == start:
                    start += 1  # full for this size from now on
                elif room:
                    left -= self._put(r, key, gpus, min(left, cap - rack.replicas.get(key, 0)), moves)
                r += 1
            self._first_open[gpus] = start
        else:
            for r, rack in enumerate(self.racks):
                if rack.owner == owner and left:
                    left -= self._put(r, key, gpus, min(left, cap - rack.replicas.get(key, 0)), moves)
        while left:
            self.racks.append(PackedRack(free=list(self.domains), owner=owner))
            moves.append(Move(len(self.racks) - 1, None, key, gpus, 0))
            left -= self._put(len(self.racks) - 1, key, gpus, min(left, cap), moves)
        return moves

    def undo(self, moves: Sequence[Move]) -> None:
        """Take back ``moves`` (from :meth:`place`, oldest first) and the racks they opened."""
        for move in reversed(moves):
            if move.domain is None:
                assert move.rack == len(self.racks) - 1, "racks are opened at the end and undone newest first"
                self.racks.pop()
                continue
            rack = self.racks[move.rack]
            rack.free[move.domain] += move.count * move.gpus
            rack.occupied -= move.count * move.gpus
            rack.replicas[move.key] -= move.count
            if not rack.replicas[move.key]:
                del rack.replicas[move.key]
        self._first_open.clear()

    def _room(self, rack: PackedRack, gpus: int) -> int:
        """Replicas of ``gpus`` GPUs ``rack`` can still take (domains and ``max_occupied``)."""
        by_domains = sum(free // gpus for free in rack.free)
        return min(by_domains, (self.max_occupied - rack.occupied) // gpus)

    def _put(self, r: int, key: Hashable, gpus: int, wanted: int, moves: list[Move]) -> int:
        """Up to ``wanted`` replicas into rack ``r``, domain by domain; how many went in."""
        rack = self.racks[r]
        placed = 0
        for d, free in enumerate(rack.free):
            n = min(free // gpus, wanted - placed, (self.max_occupied - rack.occupied) // gpus)
            if n <= 0:
                continue
            rack.free[d] -= n * gpus
            rack.occupied += n * gpus
            rack.replicas[key] = rack.replicas.get(key, 0) + n
            moves.append(Move(r, d, key, gpus, n))
            placed += n
            if placed == wanted:
                break
        return placed


def pack_into_racks(
    engine_gpus: Sequence[int], rack_gpus: int, domain_gpus: int
) -> list[list[list[int]]]:
    """Place replicas into as few racks as first-fit decreasing needs (a :class:`RackPacker`).

    Returns one entry per rack: for each of its domains, the indices into
    ``engine_gpus`` of the replicas placed there, in ascending order per size.
    Optimal (fewest racks) when sizes are powers of two and the rack is a whole
    number of domains.

    Raises:
        ValueError: a replica larger than one domain.
    """
    too_big = [g for g in engine_gpus if g > domain_gpus]
    if too_big:
        raise ValueError(f"a {max(too_big)}-GPU engine does not fit a {domain_gpus}-GPU NVLink domain")
    packer = RackPacker(rack_gpus, domain_gpus)
    by_size: dict[int, list[int]] = {}
    for index in sorted(range(len(engine_gpus)), key=lambda i: -engine_gpus[i]):
        by_size.setdefault(engine_gpus[index], []).append(index)
    racks: list[list[list[int]]] = []
    for gpus, indices in by_size.items():  # largest first
        queue = iter(indices)
        for move in packer.place(gpus, gpus, len(indices)):
            if move.domain is None:
                racks.append([[] for _ in packer.domains])
            else:
                racks[move.rack][move.domain].extend(islice(queue, move.count))
    return racks


def pack_into_domains(
    engine_gpus: Sequence[int], rack_gpus: int, domain_gpus: int
) -> list[list[int]] | None:
    """Place replicas of ``engine_gpus[i]`` GPUs into the domains of one rack.

    Returns, for each domain of :func:`domain_sizes`, the indices into
    ``engine_gpus`` of the replicas placed there; ``None`` when first-fit
    decreasing (:func:`pack_into_racks`) cannot place them all in one rack (with
    power-of-two sizes: they do not fit).

    Raises:
        ValueError: ``domain_gpus`` not in 1..``rack_gpus``.
    """
    sizes = domain_sizes(rack_gpus, domain_gpus)
    if any(g > domain_gpus for g in engine_gpus):
        return None
    racks = pack_into_racks(engine_gpus, rack_gpus, domain_gpus)
    if len(racks) > 1:
        return None
    return racks[0] if racks else [[] for _ in sizes]


def racks_needed(engine_gpus: Sequence[int], rack_gpus: int, domain_gpus: int) -> int:
    """Racks :func:`pack_into_racks` opens for these replicas."""
    return len(pack_into_racks(engine_gpus, rack_gpus, domain_gpus))
