"""Pareto pruning shared by measured profiles and the roofline frontier."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np

T = TypeVar("T")


def pareto_indices(objectives: Sequence[Sequence[float]]) -> list[int]:
    """Indices of the points no other point dominates (every objective maximised).

    A point is dominated when another is at least as good in every objective and
    strictly better in one; of identical points the first is kept. Returned in
    input order.
    """
    values = np.asarray(objectives, dtype=float)
    if values.size == 0:
        return []
    kept = []
    for i, row in enumerate(values):
        at_least = np.all(values >= row, axis=1)
        better = np.any(values > row, axis=1)
        dominated = np.any(at_least & better)
        duplicate_before = np.any(np.all(values[:i] == row, axis=1))
        if not dominated and not duplicate_before:
            kept.append(i)
    return kept


def spread(items: Sequence[T], limit: int) -> tuple[T, ...]:
    """At most ``limit`` of ``items``, evenly spaced along their order, ends kept."""
    if len(items) <= limit:
        return tuple(items)
    positions = np.unique(np.round(np.linspace(0, len(items) - 1, limit)).astype(int))
    return tuple(items[i] for i in positions)
