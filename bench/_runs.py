"""Running ``sigreport run`` in a fresh process and measuring it: shared by the bench scripts."""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Measured:
    """One run: wall and CPU seconds, peak RSS in MB, its folder, manifest and metrics.

    CPU seconds (user + system, all threads) move less than wall time when
    other work shares the machine.
    """

    folder: Path
    wall_s: float
    cpu_s: float
    peak_mb: float
    manifest: dict
    metrics: dict
    config_toml: str

    def to_record(self) -> dict:
        """Plain values (JSON) of what was measured, for ``--save`` and a later ``--fit``."""
        return {"wall_s": self.wall_s, "cpu_s": self.cpu_s, "peak_mb": self.peak_mb,
                "manifest": self.manifest, "metrics": self.metrics,
                "config_toml": self.config_toml}

    @classmethod
    def from_record(cls, record: dict) -> Measured:
        return cls(folder=Path(), **record)

    @property
    def stage_s(self) -> dict[str, float]:
        return self.manifest.get("timings_s", {})

    @property
    def stage_mb(self) -> dict[str, float]:
        return self.manifest.get("peak_rss_mb", {})


def run_cli(tree: Path, args: list[str], out: Path, env: dict[str, str] | None = None) -> Measured:
    """``python -m sigreport run ARGS --out OUT`` from the source ``tree``, in a fresh process.

    The process's peak RSS is its ``ru_maxrss`` (``os.wait4``). A tree whose
    stages reset the kernel's peak mark (manifests with ``peak_rss_mb``) also
    reset what ``ru_maxrss`` reports, so its peak is the larger of that and its
    largest stage peak.
    """
    env = dict(os.environ if env is None else env, PYTHONPATH=str(tree))
    cmd = [sys.executable, "-m", "sigreport", "run", *args, "--out", str(out)]
    # Files, not pipes: the child is reaped with wait4 (for its own rusage) before they are read.
    with tempfile.TemporaryFile() as stdout_f, tempfile.TemporaryFile() as stderr_f:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=stdout_f, stderr=stderr_f, cwd=tree)
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        stdout_f.seek(0), stderr_f.seek(0)
        stdout, stderr = stdout_f.read().decode(), stderr_f.read().decode()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{stderr[-2000:]}")
    folder = Path(stdout.strip().splitlines()[-1]).parent
    manifest = json.loads((folder / "manifest.json").read_text())
    metrics = json.loads((folder / "metrics.json").read_text())
    peak = usage.ru_maxrss * 1024 / 1e6  # kB on Linux
    peak = max([peak, *manifest.get("peak_rss_mb", {}).values()])
    return Measured(folder=folder, wall_s=wall, cpu_s=usage.ru_utime + usage.ru_stime,
                    peak_mb=peak, manifest=manifest, metrics=metrics,
                    config_toml=(folder / "config.toml").read_text())


def time_failing_cli(tree: Path, args: list[str]) -> tuple[float, int, str]:
    """Wall seconds, exit status and last line of standard error of ``sigreport ARGS``."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "sigreport", *args], env=env, cwd=tree,
                          capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    return wall, proc.returncode, (proc.stderr.strip().splitlines() or [""])[-1]


def save_records(path: Path, runs: list[Measured]) -> None:
    """Add ``runs`` to the JSON list of records in ``path``."""
    old = json.loads(path.read_text()) if path.is_file() else []
    path.write_text(json.dumps(old + [m.to_record() for m in runs], indent=1) + "\n")


def load_records(paths: list[Path]) -> list[Measured]:
    return [Measured.from_record(r) for p in paths for r in json.loads(Path(p).read_text())]


def export_commit(commit: str, dest: Path) -> Path:
    """The source tree of ``commit`` (``git archive``), unpacked into ``dest``; returns ``dest``."""
    proc = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", commit],
                          capture_output=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"git archive {commit}: {proc.stderr.decode().strip()}")
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(proc.stdout), mode="r:") as tar:
        tar.extractall(dest, filter="data")
    return dest


def overrides(*items: str) -> list[str]:
    """``--set`` arguments for each ``KEY=VALUE``."""
    out: list[str] = []
    for item in items:
        out += ["--set", item]
    return out


def in_process_arguments(doc: str, repeat: int) -> argparse.Namespace:
    """Arguments of a bench that measures one run in its own process and repeats what it
    compares: ``preset``, ``--set KEY=VALUE`` (``overrides``) and ``--repeat``."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("preset", nargs="?", default="mnist-1-7")
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    parser.add_argument("--repeat", type=int, default=repeat)
    return parser.parse_args()
