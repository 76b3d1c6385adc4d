"""Independent jobs run on a local process pool or on Ray, results handed back as they finish.

One interface, :func:`as_completed`: ``job(shared, item)`` is applied to every item and
``(index, result)`` pairs come back in completion order; callers that need a stable order
sort by index. ``shared`` (e.g. the instance) travels once per worker process (``local``) or
once per cluster through Ray's object store (``ray``), not once per item. ``job`` must be a
module-level function, so that worker processes can import it by name.

- ``local``: a :class:`concurrent.futures.ProcessPoolExecutor` of ``workers`` processes
  (default: the cores this process may use); ``workers=1`` runs every job in this process.
- ``ray``: one Ray task per item, one CPU each, on the cluster at ``RAY_ADDRESS`` when that
  is set (every node needs tenantplan installed), else on a Ray started here with
  ``workers`` CPUs. Ray is the optional extra ``tenantplan[ray]``.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent import futures
from typing import Any, TypeVar

from optimizer.instance import InstanceError

S = TypeVar("S")
T = TypeVar("T")
R = TypeVar("R")

EXECUTORS: tuple[str, ...] = ("local", "ray")
RAY_INSTALL = "pip install 'tenantplan[ray]'"
"""How to install the ``ray`` executor's dependency, as error messages say it."""


def default_workers() -> int:
    """The CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def check_executor(executor: str, workers: int | None) -> None:
    """Refuse an unknown executor, a worker count below 1, or ``ray`` without Ray installed.

    Raises:
        InstanceError: naming ``--executor`` or ``--workers`` and the reason.
    """
    if executor not in EXECUTORS:
        raise InstanceError([("--executor", f"unknown executor '{executor}' (known: {', '.join(EXECUTORS)})")])
    if workers is not None and workers < 1:
        raise InstanceError([("--workers", f"must be at least 1, got {workers}")])
    if executor == "ray":
        try:
            import ray  # noqa: F401 - the optional extra, only needed here
        except ImportError:
            raise InstanceError([("--executor", f"'ray' needs Ray, which is not installed: {RAY_INSTALL}")]) from None


def as_completed(
    job: Callable[[S, T], R], shared: S, items: Sequence[T], executor: str = "local", workers: int | None = None,
) -> Iterator[tuple[int, R]]:
    """``(index, job(shared, items[index]))`` for every item, in the order the jobs finish.

    Closing the iterator early (or an exception in the caller, Ctrl-C included) cancels the
    jobs not started yet; jobs in flight finish or are killed (Ray) and are lost.

    Raises:
        InstanceError: see :func:`check_executor`.
        Exception: whatever a job raised, when its result is reached.
    """
    check_executor(executor, workers)
    workers = min(workers or default_workers(), max(1, len(items)))
    if executor == "ray":
        yield from _on_ray(job, shared, items, workers)
    elif workers == 1:
        for index, item in enumerate(items):
            yield index, job(shared, item)
    else:
        yield from _on_pool(job, shared, items, workers)


# -- local ----------------------------------------------------------------------------------


_shared: Any = None
"""What :func:`_receive` got in this worker process: the ``shared`` argument of every job."""


def _receive(shared: object) -> None:
    global _shared
    _shared = shared


def _call(job: Callable[[Any, T], R], item: T) -> R:
    return job(_shared, item)


def _on_pool(job: Callable[[S, T], R], shared: S, items: Sequence[T], workers: int) -> Iterator[tuple[int, R]]:
    # spawn: fresh interpreters, no solver threads or log handlers copied from this process
    pool = futures.ProcessPoolExecutor(
        max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
        initializer=_receive, initargs=(shared,),
    )
    try:
        index = {pool.submit(_call, job, item): i for i, item in enumerate(items)}
        for future in futures.as_completed(index):
            yield index[future], future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


# -- Ray ------------------------------------------------------------------------------------


def _ray_call(job: Callable[[S, T], R], shared: S, item: T) -> R:
    """One Ray task; Ray resolves ``shared`` from its object reference before the call."""
    return job(shared, item)


def _on_ray(job: Callable[[S, T], R], shared: S, items: Sequence[T], workers: int) -> Iterator[tuple[int, R]]:
    import ray  # the optional extra: check_executor has made sure it is there

    started = not ray.is_initialized()
    if started:
        address = os.environ.get("RAY_ADDRESS")
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    task = ray.remote(num_cpus=1, max_retries=0)(_ray_call)
    pending: list[Any] = []
    try:
        shared_ref = ray.put(shared)
        index = {task.remote(job, shared_ref, item): i for i, item in enumerate(items)}
        pending = list(index)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                yield index[ref], ray.get(ref)
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
        if started:
            ray.shutdown()
