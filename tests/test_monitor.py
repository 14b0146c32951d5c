"""Stage monitor: per-stage peak memory, and a progress display only on a terminal."""

from __future__ import annotations

import os
import pty
import subprocess
import sys

import numpy as np

from sigreport.monitor import PER_STAGE, StageMonitor

# Two stages under a monitor whose display is asked for; the log goes to stdout.
_TWO_STAGES = """
import time
from sigreport.monitor import StageMonitor
monitor = StageMonitor(["first", "second"], lambda line: print(line, flush=True), display=True)
for name in ("first", "second"):
    with monitor.stage(name):
        time.sleep(0.3)
"""


def test_peak_rss_is_measured_per_stage() -> None:
    lines: list[str] = []
    monitor = StageMonitor(["small", "big", "after"], lines.append)
    with monitor.stage("small"):
        small = np.ones(1000)
    with monitor.stage("big"):
        big = np.ones(50_000_000)  # 400 MB, every page touched
        del big
    with monitor.stage("after"):
        pass
    assert monitor.peak_rss_method == PER_STAGE  # Linux
    peaks = monitor.peak_rss_mb
    assert peaks["big"] > peaks["small"] + 300
    # The mark is reset between stages: the freed array does not count after its stage.
    assert peaks["after"] < peaks["big"] - 300
    assert [line.split()[0] for line in lines] == ["small", "big", "after"]
    assert small.sum() == 1000


def test_no_display_when_stderr_is_not_a_terminal() -> None:
    proc = subprocess.run([sys.executable, "-c", _TWO_STAGES], capture_output=True, text=True,
                          check=False, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert [line.split()[0] for line in proc.stdout.splitlines()] == ["first", "second"]


def test_display_on_a_terminal() -> None:
    primary, secondary = pty.openpty()
    env = dict(os.environ, TERM="xterm-256color", COLUMNS="100")
    proc = subprocess.Popen([sys.executable, "-c", _TWO_STAGES], stdout=subprocess.DEVNULL,
                            stderr=secondary, env=env)
    os.close(secondary)
    shown = b""
    while True:
        try:
            chunk = os.read(primary, 4096)
        except OSError:  # the terminal closes with the process
            break
        if not chunk:
            break
        shown += chunk
    os.close(primary)
    assert proc.wait(timeout=60) == 0
    text = shown.decode(errors="replace")
    assert "\x1b[" in text and "first" in text and "stages" in text
