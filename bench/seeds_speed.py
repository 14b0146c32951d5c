"""Several seeds in one run: the default run with 3 seeds against 1, and the seeds' training
vmapped against one after another, in one run.

    python bench/seeds_speed.py                 # mnist-1-7, seeds [0, 1, 2]
    python bench/seeds_speed.py --rounds 3 --seeds 0,1,2,3,4
    python bench/seeds_speed.py --quick         # small runs, to check the script itself

Whole runs: ``sigreport run mnist-1-7 --force --set seeds=[0]`` and the same with
``--set seeds=[0,1,2]`` (the preset's default), each in a fresh process, alternating
``--rounds`` times (the fastest of each kept); goal: the seeds' run within 1.5x of the
one-seed run's wall time. Then, in this process, the training of the default preset's seeds: all
together with ``fit_models`` (one program, vmapped over the seeds) against
``fit_model`` for each seed in turn (what a run did before), first calls
(compilation included) apart from the best of ``--rounds`` later ones; and how far
the two arms' parameters are apart. Last line

    seeds_run_ratio=X.XX train_in_turn_over_together=Y.YY
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _runs import REPO, overrides, run_cli

GOAL_RATIO = 1.5
QUICK = overrides("data.n_per_class=300", "data.n_test_per_class=100", "train.epochs=2")


def _whole_runs(seeds: tuple[int, ...], rounds: int, quick: bool, out: Path) -> float:
    base = ["mnist-1-7", "--force", *(QUICK if quick else [])]
    arms = {"1 seed": [*base, *overrides(f"seeds=[{seeds[0]}]")],
            f"{len(seeds)} seeds": [*base, *overrides(f"seeds=[{','.join(map(str, seeds))}]")]}
    runs: dict[str, list] = {label: [] for label in arms}
    for i in range(rounds):
        for label, args in arms.items():
            runs[label].append(run_cli(REPO, args, out / f"{i}-{len(runs[label])}-{label[0]}"))
    best = {label: min(r, key=lambda m: m.wall_s) for label, r in runs.items()}
    print(f"whole runs (sigreport run {' '.join(base)}), best of {rounds}:")
    for label, m in best.items():
        times = " ".join(f"{k} {v:.2f}" for k, v in m.stage_s.items())
        print(f"  {label:<8} wall {m.wall_s:6.2f} s  CPU {m.cpu_s:6.2f} s  peak {m.peak_mb:5.0f} MB"
              f"  | stages (s): {times}")
    one, many = best["1 seed"], best[f"{len(seeds)} seeds"]
    ratio = many.wall_s / one.wall_s
    cpu_ratio = many.cpu_s / one.cpu_s
    print(f"  ratio {len(seeds)} seeds / 1 seed: wall {ratio:.2f}x, CPU {cpu_ratio:.2f}x;"
          f" goal within {GOAL_RATIO}x: {'met' if ratio <= GOAL_RATIO else 'not met'}")
    for stage, seconds in many.stage_s.items():
        was = one.stage_s.get(stage)
        if was:
            print(f"    {stage:<12} {was:6.2f} s -> {seconds:6.2f} s  ({seconds / was:5.2f}x)")
    return ratio


def _training(seeds: tuple[int, ...], rounds: int, quick: bool) -> float:
    from sigreport.config import load_config
    from sigreport.data import load_raw, prepare_dataset
    from sigreport.store import enable_compilation_cache
    from sigreport.train import fit_model, fit_models

    enable_compilation_cache()
    config = load_config("mnist-1-7", [o for o in QUICK if o != "--set"] if quick else [])
    dataset = prepare_dataset(load_raw(config.data), config.data, config.seed)

    def together():
        return fit_models(dataset, config.model, config.train, seeds)

    def in_turn():
        return tuple(fit_model(dataset, config.model, config.train, s) for s in seeds)

    arms = {"together": together, "in turn": in_turn}
    first: dict[str, float] = {}
    best: dict[str, float] = {}
    results = {}
    for i in range(rounds + 1):
        for label, fn in arms.items():
            start = time.perf_counter()
            results[label] = fn()
            seconds = time.perf_counter() - start
            if i == 0:
                first[label] = seconds
            else:
                best[label] = min(best.get(label, np.inf), seconds)
    print(f"\ntraining {len(seeds)} seeds of mnist-1-7 ({dataset.train.n_samples} images, "
          f"{config.train.epochs} epochs), in this process:")
    for label in arms:
        print(f"  {label:<9} first call {first[label]:6.2f} s (compilation included),"
              f" best of {rounds} later {best[label]:6.2f} s")
    ratio = best["in turn"] / best["together"]
    first_ratio = first["in turn"] / first["together"]
    print(f"  in turn / together: {ratio:.2f}x (first calls {first_ratio:.2f}x)")
    worst = max(float(np.max(np.abs(a - b)))
                for t, s in zip(results["together"], results["in turn"])
                for (wa, ba), (wb, bb) in zip(t.params, s.params) for a, b in ((wa, wb), (ba, bb)))
    acc = [f"{t.history['test_accuracy'][-1]:.4f}/{s.history['test_accuracy'][-1]:.4f}"
           for t, s in zip(results["together"], results["in turn"])]
    print(f"  largest parameter difference together vs in turn: {worst:.2e};"
          f" test accuracy per seed (together/in turn): {' '.join(acc)}")
    return ratio


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    parser.add_argument("--rounds", type=int, default=2, help="alternations, best kept")
    parser.add_argument("--quick", action="store_true", help="small runs (checks the script)")
    args = parser.parse_args(argv)
    seeds = tuple(int(s) for s in args.seeds.split(","))
    with tempfile.TemporaryDirectory(prefix="sigreport-seeds-") as tmp:
        run_ratio = _whole_runs(seeds, args.rounds, args.quick, Path(tmp))
    train_ratio = _training(seeds, args.rounds, args.quick)
    print(f"\nseeds_run_ratio={run_ratio:.2f} train_in_turn_over_together={train_ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
