"""Running independent fits and searches side by side on the machine's cores.

Each worker is single-threaded inside: the fits on a few thousand samples gain
nothing from inner threads, and OpenMP's busy-waiting makes nested parallelism
many times slower when the cores are shared.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from threadpoolctl import threadpool_limits

__all__ = ["Job", "parallel_map", "run_jobs", "single_threaded", "worker_pool"]



def _n_workers() -> int:
    """``SIGREPORT_THREADS`` when set, else the cores this process may run on."""
    given = os.environ.get("SIGREPORT_THREADS", "").strip()
    if given.isdigit() and int(given) >= 1:
        return int(given)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


# Threads of the job lists; the results do not depend on it (each job is seeded alone).
N_WORKERS = _n_workers()


def single_threaded() -> threadpool_limits:
    """A context in which BLAS and OpenMP use one thread (a process-wide BLAS setting)."""
    return threadpool_limits(limits=1)


def _single(fn: Callable[..., Any], *args: Any) -> Any:
    with threadpool_limits(limits=1, user_api="openmp"):
        return fn(*args)


@contextmanager
def worker_pool() -> Iterator[Callable[..., Future]]:
    """The worker threads, for jobs that start other jobs: yields ``submit(fn, *args)``,
    which queues ``fn(*args)`` (first come, first served) and returns its future. A job
    may submit more but must not wait for another. Call it inside :func:`single_threaded`."""
    with ThreadPoolExecutor(max_workers=max(1, N_WORKERS)) as pool:
        yield lambda fn, *args: pool.submit(_single, fn, *args)


def parallel_map(fn: Callable[[Any], Any], items: list[Any],
                 cost: Callable[[Any], float] | None = None) -> list[Any]:
    """``[fn(item) for item in items]`` on worker threads, each single-threaded inside.

    ``cost`` (an estimate of each item's time, in any unit) starts the longest
    items first, so that no worker is left with a long one at the end; the
    results keep the order of ``items``.

    Call it inside :func:`single_threaded`: BLAS's limit is process-wide, while
    OpenMP's is per thread, so each worker sets its own.
    """
    def one(item: Any) -> Any:
        with threadpool_limits(limits=1, user_api="openmp"):
            return fn(item)

    if len(items) < 2 or N_WORKERS < 2:
        return [one(item) for item in items]
    order = (sorted(range(len(items)), key=lambda i: -cost(items[i])) if cost is not None
             else list(range(len(items))))
    with ThreadPoolExecutor(max_workers=N_WORKERS) as pool:
        done = list(pool.map(lambda i: one(items[i]), order))
    out: list[Any] = [None] * len(items)
    for i, result in zip(order, done):
        out[i] = result
    return out


@dataclass(frozen=True)
class Job:
    """An independent piece of work, and an estimate of its time (in any unit shared by
    the jobs it runs with)."""

    run: Callable[[], Any]
    cost: float


def run_jobs(*groups: list[Job]) -> list[list[Any]]:
    """Each group's results, in order, with the jobs of every group on the same workers
    (the costliest first), so that one group's long job overlaps the others' short ones."""
    flat = [job for group in groups for job in group]
    done = iter(parallel_map(lambda job: job.run(), flat, cost=lambda job: job.cost))
    return [[next(done) for _ in group] for group in groups]
