"""What each stage of a run costs: wall time, peak memory, and a progress display.

Peak memory is the process's resident set (RSS) at its highest during the
stage. On Linux the kernel's high-water mark is reset before each stage
(writing "5" to ``/proc/self/clear_refs``) and read after it (``VmHWM`` in
``/proc/self/status``). Where that is not possible, the peak since the process
started (``ru_maxrss``) is recorded instead, and ``peak_rss_method`` says so.
Resetting the mark also resets what the kernel reports as the process's
``ru_maxrss`` (and ``/usr/bin/time``'s maximum resident set): the peak of a
whole run is the largest of its stages' peaks.

Between stages, memory that numpy freed but the C allocator kept (glibc keeps
freed blocks of up to 32 MB for reuse, in one arena per thread that allocated
them) is handed back to the system with ``malloc_trim``, so a stage starts
from what is actually held. :func:`use_one_heap` keeps the per-layer worker
threads from holding freed memory in arenas of their own (on the default run
it lowered the peak by about 100-150 MB, at the same CPU time).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import resource
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["StageMonitor", "peak_rss_mb", "release_free_memory", "reset_peak_rss",
           "use_one_heap"]

_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")
PER_STAGE = "per stage: VmHWM reset through /proc/self/clear_refs before each stage"
SINCE_START = "since the process started (ru_maxrss): a stage's figure includes earlier stages"


_M_ARENA_MAX = -8  # glibc's mallopt parameter


@functools.lru_cache(maxsize=1)
def _libc() -> Any:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    # Both are glibc's; other C libraries go without.
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


def release_free_memory() -> None:
    """Give memory the C allocator holds but no object uses back to the system (glibc only)."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


def use_one_heap() -> None:
    """Let every thread allocate from one glibc arena (a process-wide setting).

    Call it before the threads start (the CLI does, before importing JAX): memory a
    worker thread frees then returns to the heap every thread reuses.
    """
    libc = _libc()
    if libc is not None and hasattr(libc, "mallopt"):
        libc.mallopt(_M_ARENA_MAX, 1)


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark of this process to its current RSS; False if not
    possible."""
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def peak_rss_mb() -> float:
    """The process's peak RSS in MB (10**6 bytes) since start or the last reset."""
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / 1e6
    except (OSError, ValueError, IndexError):
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # kilobytes on Linux, bytes on macOS
    return peak / 1e6 if sys.platform == "darwin" else peak * 1024 / 1e6


class _NoDisplay:
    def start(self) -> None:
        return None

    def stop(self) -> None:
        return None

    def update(self, *args: Any, **kwargs: Any) -> None:
        return None


class StageMonitor:
    """Times each stage, records its peak RSS, and shows progress on a terminal.

    Parameters
    ----------
    stages:
        The stage names in the order they run (the display counts them).
    log:
        Receives one line per finished stage.
    display:
        Show a Rich progress display on standard error while the stages run
        (from the first stage to the end of the last, or to an error); it
        stays off when standard error is not a terminal.
    """

    def __init__(self, stages: Sequence[str], log: Callable[[str], None],
                 display: bool = False) -> None:
        self.timings: dict[str, float] = {}
        self.peak_rss_mb: dict[str, float] = {}
        self.estimate_s: dict[str, float] = {}
        self.estimate_base_s: dict[str, float] = {}  # before this machine's scaling
        self.recorded = False  # whether this run's times went into the machine's record
        self.peak_rss_method = PER_STAGE
        self._stages = list(stages)
        self._log = log
        self._display: Any = _NoDisplay()
        self._task = 0
        self._done = 0
        if display and sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
            )

            self._display = Progress(
                SpinnerColumn(), TextColumn("{task.description:<12}"), BarColumn(),
                MofNCompleteColumn(), TextColumn("stages"), TimeElapsedColumn(),
                TextColumn("{task.fields[hint]}"),
                console=Console(stderr=True), transient=True,
            )
            self._task = self._display.add_task("", total=len(self._stages), hint="")

    @contextmanager
    def stage(self, name: str, own_display: bool = False) -> Iterator[None]:
        """Time and measure the stage ``name``.

        ``own_display``: the stage shows its own progress bar (training), so
        this display steps aside while it runs.
        """
        hint = f"estimate {self.estimate_s[name]:.0f} s" if name in self.estimate_s else ""
        self._display.update(self._task, description=name, hint=hint)
        if own_display:
            self._display.stop()
        else:
            self._display.start()
        release_free_memory()
        if not reset_peak_rss():
            self.peak_rss_method = SINCE_START
        start = time.perf_counter()
        try:
            yield
        except BaseException:
            self._display.stop()
            raise
        elapsed = time.perf_counter() - start
        peak = peak_rss_mb()
        self.timings[name] = round(self.timings.get(name, 0.0) + elapsed, 3)
        self.peak_rss_mb[name] = round(max(self.peak_rss_mb.get(name, 0.0), peak), 1)
        self._done += 1
        self._display.update(self._task, advance=1)
        if self._done >= len(self._stages):
            self._display.stop()
        self._log(f"{name:<12} {elapsed:7.2f} s {peak:8.0f} MB peak")
