"""Independent jobs run on a local process pool or on Ray, results handed back as they finish.

One interface, :meth:`Executor.as_completed`: ``job(shared, item)`` is applied to every item
and ``(index, result)`` pairs come back in completion order; callers that need a stable order
sort by index. ``shared`` (e.g. the instance) travels once per call through Ray's object store
(``ray``). ``job`` must be a module-level function, so that workers can import it by name.

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
from typing import TypeVar

from optimizer.instance import InstanceError

S = TypeVar("S")
T = TypeVar("T")
R = TypeVar("R")

EXECUTORS: tuple[str, ...] = ("local", "ray")
MAX_WORKERS = 1024
"""The most workers accepted."""
RAY_INSTALL = "pip install 'tenantplan[ray]'"
"""How to install the ``ray`` executor's dependency, as error messages say it."""


def default_workers() -> int:
    """The CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def check_executor(executor: str, workers: int | None) -> None:
    """Refuse an unknown executor, a worker count outside 1 to :data:`MAX_WORKERS`, or ``ray``
    without Ray installed.

    Raises:
        InstanceError: naming ``--executor`` or ``--workers`` and the reason.
    """
    if executor not in EXECUTORS:
        raise InstanceError([("--executor", f"unknown executor '{executor}' (known: {', '.join(EXECUTORS)})")])
    if workers is not None and not 1 <= workers <= MAX_WORKERS:
        raise InstanceError([("--workers", f"must be from 1 to {MAX_WORKERS}, got {workers}")])
    if executor == "ray":
        try:
            import ray  # noqa: F401 - the optional extra, only needed here
        except ImportError:
            raise InstanceError([("--executor", f"'ray' needs Ray, which is not installed: {RAY_INSTALL}")]) from None


class Executor:
    """Runs jobs on ``kind`` (:data:`EXECUTORS`), ``workers`` at a time (default: the cores).

    A context manager: the worker processes (or the Ray it started) are kept for every
    :meth:`as_completed` until it exits. With ``local`` and one worker, jobs run in this process.

    Raises:
        InstanceError: see :func:`check_executor`.
    """

    def __init__(self, kind: str = "local", workers: int | None = None) -> None:
        check_executor(kind, workers)
        self.kind = kind
        self.workers = workers or default_workers()
        self._pool: futures.ProcessPoolExecutor | None = None
        self._ray_started = False

    @property
    def serial(self) -> bool:
        """Jobs run here, one after another."""
        return self.kind == "local" and self.workers == 1

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if self._pool is not None:
            if exc_type is not None:
                # stopped (Ctrl-C, SIGTERM, an error): the jobs in flight are lost anyway, so their
                # processes are ended now rather than waited for (ProcessPoolExecutor has no public
                # way to do that before Python 3.14)
                processes = getattr(self._pool, "_processes", None) or {}
                for process in list(processes.values()):
                    process.terminate()
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._ray_started:
            import ray  # the optional extra, there since it was started

            ray.shutdown()
            self._ray_started = False

    def as_completed(self, job: Callable[[S, T], R], shared: S, items: Sequence[T]) -> Iterator[tuple[int, R]]:
        """``(index, job(shared, items[index]))`` for every item, in the order the jobs finish.

        ``shared`` travels once per call to Ray's object store (``ray``), or with each job to a
        worker process (``local``). Closing the iterator early (or an exception in the caller,
        Ctrl-C included) cancels the jobs not started yet; jobs in flight finish (``local``) or
        are killed (``ray``), and are lost.

        Raises:
            Exception: whatever a job raised, when its result is reached.
        """
        if self.serial:
            for index, item in enumerate(items):
                yield index, job(shared, item)
        elif self.kind == "ray":
            yield from self._on_ray(job, shared, items)
        else:
            yield from self._on_pool(job, shared, items)

    def _on_pool(self, job: Callable[[S, T], R], shared: S, items: Sequence[T]) -> Iterator[tuple[int, R]]:
        if self._pool is None:
            # spawn: fresh interpreters, no solver threads or log handlers copied from this process
            self._pool = futures.ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"))
        index = {self._pool.submit(job, shared, item): i for i, item in enumerate(items)}
        try:
            for future in futures.as_completed(index):
                yield index[future], future.result()
        finally:
            for future in index:
                future.cancel()

    def _on_ray(self, job: Callable[[S, T], R], shared: S, items: Sequence[T]) -> Iterator[tuple[int, R]]:
        import ray  # the optional extra: check_executor has made sure it is there

        if not ray.is_initialized():
            address = os.environ.get("RAY_ADDRESS")
            if address:
                ray.init(address=address, log_to_driver=False)
            else:
                ray.init(num_cpus=self.workers, include_dashboard=False, log_to_driver=False)
            self._ray_started = True
        task = ray.remote(num_cpus=1, max_retries=0)(job)
        shared_ref = ray.put(shared)  # Ray hands each task the object itself
        index = {task.remote(shared_ref, item): i for i, item in enumerate(items)}
        pending = list(index)
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                yield index[done[0]], ray.get(done[0])
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)
