"""`sigreport run original-2021` against the 2021 study's own Keras pipeline, back to back.

    python bench/original_speed.py                    # 3 rounds, goal: sigreport 2x faster
    python bench/original_speed.py --rounds 1 --venv /tmp/venv-keras

The original pipeline (``bench/original_keras.py``: train and cluster, no figures) runs
in a virtual environment of its own, made on first use at ``--venv`` (default
``bench/.venv-original``) with TensorFlow's CPU build and scikit-learn from the package
registry. sigreport runs the whole ``original-2021`` experiment, its report included,
in a fresh process (``--force``: training recomputed; JAX's compilation cache and
numba's are the user's, so these are later runs, not a first one). The two alternate
for ``--rounds`` rounds and each keeps its fastest. Prints each run's wall and CPU
seconds and peak RSS, the original's time per step, then

    ratio_vs_original=X.XX cpu_ratio=Y.YY

the original's wall (CPU) seconds over sigreport's: above 1 means sigreport is faster.
The goal is 2. Exit status 1 when the ratio is below it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _runs import REPO, Measured, run_cli

GOAL = 2.0
PACKAGES = ("tensorflow-cpu==2.21.0", "scikit-learn")
SCRIPT = Path(__file__).resolve().parent / "original_keras.py"
MNIST = REPO / "sigreport" / "data" / "mnist"


def _venv(path: Path) -> Path:
    """The Keras environment's interpreter, made (and filled) when missing."""
    python = path / "bin" / "python"
    if not (path / ".installed").is_file():
        print(f"making {path} with {' '.join(PACKAGES)} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet",
                        "--disable-pip-version-check", *PACKAGES], check=True)
        (path / ".installed").touch()
    return python


def _original(python: Path) -> tuple[float, float, float, dict]:
    """Wall and CPU seconds, peak MB and the printed record of one original run."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen([str(python), str(SCRIPT), str(MNIST)], stdout=out, stderr=err)
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        out.seek(0), err.seek(0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"the original pipeline failed:\n{err.read().decode()[-2000:]}")
        record = json.loads(out.read().decode().strip().splitlines()[-1])
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, record


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--venv", type=Path, default=REPO / "bench" / ".venv-original")
    args = parser.parse_args()
    python = _venv(args.venv)
    originals: list[tuple[float, float, float, dict]] = []
    ours: list[Measured] = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            originals.append(_original(python))
            wall, cpu, peak, record = originals[-1]
            steps = " ".join(f"{k} {v:.1f}" for k, v in record["seconds"].items())
            print(f"round {r + 1} original   wall {wall:5.1f} s  CPU {cpu:5.1f} s  "
                  f"peak {peak:5.0f} MB  ({steps}; accuracy {record['test_accuracy']:.3f}, "
                  f"k {record['k']})", flush=True)
            ours.append(run_cli(REPO, ["original-2021", "--force"], Path(tmp) / f"r{r}"))
            m = ours[-1]
            stages = " ".join(f"{k} {v:.1f}" for k, v in m.stage_s.items())
            print(f"round {r + 1} sigreport  wall {m.wall_s:5.1f} s  CPU {m.cpu_s:5.1f} s  "
                  f"peak {m.peak_mb:5.0f} MB  ({stages}; accuracy "
                  f"{m.metrics['model']['test_accuracy']:.3f})", flush=True)
    best_original = min(originals, key=lambda o: o[0])
    best_ours = min(ours, key=lambda m: m.wall_s)
    ratio = best_original[0] / best_ours.wall_s
    cpu_ratio = min(o[1] for o in originals) / min(m.cpu_s for m in ours)
    print(f"best of {args.rounds}: original {best_original[0]:.1f} s, sigreport "
          f"{best_ours.wall_s:.1f} s (goal: sigreport {GOAL:g}x faster)")
    print(f"ratio_vs_original={ratio:.2f} cpu_ratio={cpu_ratio:.2f}")
    return 0 if ratio >= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
