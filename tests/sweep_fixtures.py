"""A real Dask cluster on 127.0.0.1 for the sweep tests, and the tiny sweep run on it.

``get_distributed_sweep`` starts ``dask scheduler`` and two ``dask worker``
processes, runs a 4-run tiny sweep through ``sigreport sweep --scheduler``,
kills one worker while it runs a task, and closes the cluster. It runs once per
session; the sweep tests check what it recorded and the atlas tests use its
reports.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from conftest import TINY_OVERRIDES

SWEEP_NAME = "tiny-sweep"

# The tiny run's settings, for a 2 x 2 grid: two pairs, each probed with the third digit, two seeds.
TINY_SWEEP = f"""
name = "{SWEEP_NAME}"
title = "Tiny <i>sweep</i> & co"
base = "mnist-1-7"
probes = "rest"
seeds = [0, 1]

[axes]
"data.classes" = [[1, 7], [3, 7]]

[set]
""" + "\n".join(item for item in TINY_OVERRIDES if not item.startswith(("name", "title"))) + "\n"


@dataclass(frozen=True)
class DistributedSweep:
    out: Path
    sweep_file: Path
    returncode: int
    stdout: str
    stderr: str
    killed_worker: str
    killed_while_running: str | None


_DONE: dict[str, DistributedSweep] = {}


def write_sweep(folder: Path, text: str, name: str = "sweep.toml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def _dask(*args: str, env: dict, log: Path) -> subprocess.Popen:
    """``dask ARGS`` in its own process group (so the test can kill it with its children)."""
    return subprocess.Popen([sys.executable, "-m", "dask", *args], env=env,
                            stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


def _wait_for(predicate, timeout: float, what: str):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = predicate()
        if got:
            return got
        time.sleep(0.1)
    raise TimeoutError(f"waited {timeout} s for {what}")


def get_distributed_sweep(tmp_path_factory) -> DistributedSweep:
    """Run the tiny sweep on a scheduler and two workers, killing one mid-task (once)."""
    if "sweep" in _DONE:
        return _DONE["sweep"]
    from distributed import Client

    root = tmp_path_factory.mktemp("dask-cluster")
    env = dict(os.environ)  # the session's private cache among it
    scheduler_file = root / "scheduler.json"
    procs: dict[str, subprocess.Popen] = {}
    try:
        procs["scheduler"] = _dask("scheduler", "--host", "127.0.0.1", "--port", "0",
                                   "--no-dashboard", "--scheduler-file", str(scheduler_file),
                                   env=env, log=root / "scheduler.log")
        _wait_for(lambda: scheduler_file.is_file() and scheduler_file.stat().st_size,
                  60, "the scheduler file")
        address = json.loads(scheduler_file.read_text())["address"]
        for name in ("w1", "w2"):
            procs[name] = _dask("worker", address, "--name", name, "--nthreads", "1",
                                "--nworkers", "1", "--host", "127.0.0.1", "--no-dashboard",
                                env=env, log=root / f"{name}.log")
        started: list[dict] = []
        with Client(address, timeout="30s") as watcher:
            watcher.wait_for_workers(2, timeout=60)
            address_of = {info["name"]: addr
                          for addr, info in watcher.scheduler_info()["workers"].items()}
            watcher.subscribe_topic("sigreport-sweep", lambda event: started.append(event[1]))
            sweep_file = write_sweep(root, TINY_SWEEP)
            out = root / "reports"
            sweep = subprocess.Popen(
                [sys.executable, "-m", "sigreport", "sweep", str(sweep_file), "--scheduler",
                 address, "--out", str(out)],
                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            victim = _wait_for(lambda: next((e for e in started
                                             if e.get("worker") == address_of["w2"]), None),
                               240, "a run to start on worker w2")
            # Mid-task: the run has started and its report folder is not written yet.
            time.sleep(1.0)
            running = victim["start"] if not (out / victim["start"]).exists() else None
            _kill(procs.pop("w2"))
            stdout, stderr = sweep.communicate(timeout=600)
        result = DistributedSweep(out, sweep_file, sweep.returncode, stdout, stderr, "w2", running)
    finally:
        for proc in procs.values():
            _kill(proc)
    _DONE["sweep"] = result
    return result
