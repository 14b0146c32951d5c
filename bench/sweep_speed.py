"""Sweep speed: the embedded Dask cluster with 2 workers against the same runs one after another.

    python bench/sweep_speed.py            # 6 runs: the pairs of 1, 3, 7 and 9, each probed
                                           # with the other two
    python bench/sweep_speed.py --quick    # tiny runs, to check the script itself

Both arms start from an empty cache of their own (training and compiled XLA
programs), write every report, and run in this process: the sequential arm
calls ``pipeline.run`` once per run (JAX and the per-layer fits use both cores
as in ``sigreport run``), the sweep arm calls ``run_sweep`` on an embedded
LocalCluster of 2 single-threaded worker processes, cluster start included.
Prints both wall times, the speed-up ratio (aim: >= 1.7 on 2 cores) and the
peak resident memory of each worker process and of this process.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

SWEEP = """
name = "bench-sweep"
base = "mnist-1-7"
pairs = [1, 3, 7, 9]
probes = "rest"
[set]
{sizes}
"""
FULL = ("data.n_per_class = 1000", "data.n_test_per_class = 300")
QUICK = ("data.n_per_class = 150", "data.n_test_per_class = 60", "model.hidden = [16, 8]",
         "train.epochs = 3", "train.batch_size = 32")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny runs (not the measured size)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)

    from sigreport.monitor import peak_rss_mb
    from sigreport.pipeline import run
    from sigreport.store import enable_compilation_cache
    from sigreport.sweep import load_sweep, run_sweep

    with tempfile.TemporaryDirectory(prefix="sigreport-sweep-bench-") as tmp:
        root = Path(tmp)
        path = root / "bench.toml"
        path.write_text(SWEEP.format(sizes="\n".join(QUICK if args.quick else FULL)), "utf-8")
        sweep = load_sweep(str(path))
        print(f"{len(sweep.runs)} runs: {', '.join(r.name for r in sweep.runs)}")
        # Other work on the machine skews both arms: say how busy it was.
        print(f"load average at start: {os.getloadavg()[0]:.2f}")

        os.environ["SIGREPORT_CACHE"] = str(root / "cache-sequential")
        enable_compilation_cache()
        start = time.perf_counter()
        for r in sweep.runs:
            run(r.config, out=root / "sequential")
        sequential = time.perf_counter() - start
        print(f"one after another, this process: {sequential:7.1f} s")

        # Workers inherit the environment: a cache of their own, empty.
        os.environ["SIGREPORT_CACHE"] = str(root / "cache-cluster")
        start = time.perf_counter()
        outcome = run_sweep(sweep, root / "cluster", n_workers=args.workers)
        cluster = time.perf_counter() - start
        if outcome.failed:
            print(f"failed runs: {outcome.failed}")
            return 1
        peaks = outcome.worker_peak_mb
        print(f"embedded cluster, {args.workers} workers: {cluster:7.1f} s")
        same = all((root / "sequential" / r.name / "metrics.json").read_bytes()
                   == (root / "cluster" / r.name / "metrics.json").read_bytes()
                   for r in sweep.runs)
        print(f"metrics.json identical in both arms: {same}")
        for arm in ("sequential", "cluster"):
            stages: dict[str, float] = {}
            for r in sweep.runs:
                manifest = json.loads((root / arm / r.name / "manifest.json").read_text())
                for stage, seconds in manifest["timings_s"].items():
                    stages[stage] = stages.get(stage, 0.0) + seconds
            print(f"stage time summed over runs, {arm:<10}: "
                  + ", ".join(f"{k} {v:.1f} s" for k, v in stages.items()))
        for worker, mb in sorted(peaks.items()):
            print(f"peak memory, worker {worker}: {mb:7.0f} MB")
        print(f"peak memory, this process (sequential arm): {peak_rss_mb():7.0f} MB")
        print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    if args.quick:
        print("(--quick: tiny runs, where start-up dominates)")
    print(f"speedup={sequential / cluster:.2f} peak_worker_mb={max(peaks.values()):.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
