"""Worker threads: results in the order of the items, the costliest items started first."""

from __future__ import annotations

import threading

from sigreport import _threads


def test_parallel_map_keeps_the_order_and_starts_the_costliest_first(monkeypatch):
    monkeypatch.setattr(_threads, "N_WORKERS", 2)
    started, lock = [], threading.Lock()
    # the first two items wait for each other: neither worker takes a third item before
    # both have started theirs, whatever the threads' timing
    both = threading.Barrier(2)

    def square(x: int) -> int:
        with lock:
            started.append(x)
            first_two = len(started) <= 2
        if first_two:
            both.wait(timeout=30)
        return x * x

    items = [3, 9, 1, 7, 5]
    assert _threads.parallel_map(square, items, cost=float) == [9, 81, 1, 49, 25]
    assert set(started[:2]) == {9, 7} and sorted(started) == sorted(items)
    started.clear()
    both.reset()
    assert _threads.parallel_map(square, items) == [9, 81, 1, 49, 25]
    assert set(started[:2]) == {3, 9}           # without costs: in the items' order


def test_a_job_of_the_worker_pool_can_queue_more(monkeypatch):
    monkeypatch.setattr(_threads, "N_WORKERS", 2)
    later = []

    def parent(x: int) -> int:
        later.append(submit(lambda y: y + 100, x))
        return x

    with _threads.worker_pool() as submit:
        first = [submit(parent, x) for x in range(4)]
        assert [f.result() for f in first] == [0, 1, 2, 3]
        assert sorted(f.result() for f in later) == [100, 101, 102, 103]



def test_the_worker_count_follows_the_cores_or_the_setting():
    import os
    import subprocess
    import sys

    def count(**env: str) -> int:
        out = subprocess.run([sys.executable, "-c", "from sigreport import _threads; "
                              "print(_threads.N_WORKERS)"], capture_output=True, text=True,
                             env={**{k: v for k, v in os.environ.items()
                                     if k != "SIGREPORT_THREADS"}, **env}, check=True)
        return int(out.stdout)

    assert count() == len(os.sched_getaffinity(0))
    assert count(SIGREPORT_THREADS="3") == 3
    assert count(SIGREPORT_THREADS="0") == len(os.sched_getaffinity(0))
