"""Worker threads: results in the order of the items, the costliest items started first."""

from __future__ import annotations

import threading

from sigreport import _threads


def test_parallel_map_keeps_the_order_and_starts_the_costliest_first(monkeypatch):
    monkeypatch.setattr(_threads, "N_WORKERS", 2)
    started, lock = [], threading.Lock()

    def square(x: int) -> int:
        with lock:
            started.append(x)
        return x * x

    items = [3, 9, 1, 7, 5]
    assert _threads.parallel_map(square, items, cost=float) == [9, 81, 1, 49, 25]
    assert set(started[:2]) == {9, 7} and sorted(started) == sorted(items)
    assert _threads.parallel_map(square, items) == [9, 81, 1, 49, 25]
