"""Running independent per-layer fits side by side on the machine's cores.

Each worker is single-threaded inside: the fits on a few thousand samples gain
nothing from inner threads, and OpenMP's busy-waiting makes nested parallelism
many times slower when the cores are shared.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from threadpoolctl import threadpool_limits

__all__ = ["parallel_map", "single_threaded"]

N_WORKERS = min(2, os.cpu_count() or 1)


def single_threaded() -> threadpool_limits:
    """A context in which BLAS and OpenMP use one thread (a process-wide BLAS setting)."""
    return threadpool_limits(limits=1)


def parallel_map(fn: Callable[[Any], Any], items: list[Any]) -> list[Any]:
    """``[fn(item) for item in items]`` on worker threads, each single-threaded inside.

    Call it inside :func:`single_threaded`: BLAS's limit is process-wide, while
    OpenMP's is per thread, so each worker sets its own.
    """
    def one(item: Any) -> Any:
        with threadpool_limits(limits=1, user_api="openmp"):
            return fn(item)

    if len(items) < 2 or N_WORKERS < 2:
        return [one(item) for item in items]
    with ThreadPoolExecutor(max_workers=N_WORKERS) as pool:
        return list(pool.map(one, items))
