"""Every planning method by name: the one list ``tenantplan bench`` and friends read.

A method is a callable ``(instance, *, time_limit, seed, threads, performance) -> Result``
(:class:`Method`). Adding one is one line in :data:`METHODS`; nothing that runs
methods needs to change. Methods that take other settings (a solver name, a
gap) are bound with :func:`functools.partial`, e.g.
``"cp-sat": partial(solve, solver="cp-sat")``.
"""

from __future__ import annotations

from functools import partial
from typing import Protocol

from optimizer.instance import Instance, did_you_mean
from optimizer.performance import PerformanceModel
from optimizer.result import Result
from optimizer.solve import solve
from solvers.heuristics import pooled, pooled_aggregated, siloed


class Method(Protocol):
    def __call__(
        self,
        instance: Instance,
        *,
        time_limit: float,
        seed: int,
        threads: int,
        performance: PerformanceModel | None,
    ) -> Result:
        """Plan ``instance`` within ``time_limit`` seconds; deterministic for a ``seed``."""
        ...


METHODS: dict[str, Method] = {
    "siloed": siloed,
    "pooled": pooled,
    "pooled-aggregated": pooled_aggregated,
    "highs": partial(solve, solver="highs"),
    "cp-sat": partial(solve, solver="cp-sat"),
    "scip": partial(solve, solver="scip"),
}
"""Planning methods by the name users type, baselines first."""


def get_method(name: str) -> Method:
    """The method called ``name``.

    Raises:
        KeyError: unknown name; the message lists the known ones and the closest match.
    """
    try:
        return METHODS[name]
    except KeyError:
        raise KeyError(f"unknown method '{name}'{did_you_mean(name, METHODS)} (known: {', '.join(METHODS)})") from None
