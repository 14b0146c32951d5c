"""Wall time and peak memory of whole runs: this tree against a baseline commit, in one run.

    python bench/run_speed.py                   # default and full-data runs, against fe8c52b
    python bench/run_speed.py --baseline HEAD~3 --rounds 3
    python bench/run_speed.py --quick           # small runs, to check the script itself

First, how long a bad input takes to be answered (``sigreport run --set
data.n_per_class=7000``, more images than class 1 has): goal under 1 s. Then
each run is ``sigreport run ... --force`` in a fresh process (training is
recomputed; JAX's compilation cache is the user's, shared by both trees). The
baseline is the source tree of a commit, unpacked with ``git archive`` and run
with the same interpreter and packages. Two comparisons:

- the default experiment (``mnist-1-7``) with one seed: goals under 7 s wall and
  9 s CPU;
- the full-data run: classes 0-8 (5,421 training images of each, the most
  every one of them has), probe 9, hidden [256, 256, 256], one seed: goals under
  35 s wall and under 2 GB peak RSS.

This tree's runs set ``seeds=[0]`` (the baseline trained one seed; the preset now
trains three, which ``bench/seeds_speed.py`` times against one).

Prints each run's wall time, peak RSS and stage times, then the ratios
(baseline / this tree: above 1 means faster or smaller now) of wall time, CPU
time (user + system of the process: it moves less than wall time when other
work shares the machine) and peak RSS. With ``--rounds N`` the trees alternate
N times and each keeps its fastest run. Wall times move by a factor of two on
a busy shared machine; compare ratios from one run of this script.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _runs import REPO, Measured, export_commit, overrides, run_cli, save_records, time_failing_cli

DEFAULT_BASELINE = "fe8c52b"
BAD_INPUT = ["run", "--set", "data.n_per_class=7000"]
BAD_INPUT_GOAL_S = 1.0
GOALS = {"default": (7.0, 9.0, None), "full": (35.0, None, 2000.0)}  # wall s, CPU s, peak MB
# This tree's runs train one seed, as the baseline did (the preset trains three now:
# bench/seeds_speed.py times those against one).
ONE_SEED = overrides("seeds=[0]")
CASES = {
    "default": ["mnist-1-7", "--force"],
    "full": ["mnist-1-7", "--force", *overrides(
        'name="mnist-0-8-full"', "data.classes=[0,1,2,3,4,5,6,7,8]", "data.probe_classes=[9]",
        "data.n_per_class=5421", "model.hidden=[256,256,256]")],
}
QUICK = {
    "default": overrides("data.n_per_class=300", "data.n_test_per_class=100", "train.epochs=2"),
    "full": overrides("data.n_per_class=200", "data.n_test_per_class=50", "train.epochs=2",
                      "model.hidden=[32,32,32]"),
}


def _best(runs: list[Measured]) -> Measured:
    return min(runs, key=lambda m: m.wall_s)


def _stages(label: str, m: Measured) -> str:
    times = " ".join(f"{k} {v:.1f}" for k, v in m.stage_s.items())
    return (f"  {label:<9} wall {m.wall_s:6.1f} s  CPU {m.cpu_s:6.1f} s  peak {m.peak_mb:6.0f} MB"
            f"  | stages (s): {times}")


def _compare(case: str, trees: dict[str, Path], rounds: int, quick: bool, out: Path,
             save: Path | None) -> dict:
    args = CASES[case] + (QUICK[case] if quick else [])
    runs: dict[str, list[Measured]] = {label: [] for label in trees}
    for i in range(rounds):
        for label, tree in trees.items():
            runs[label].append(run_cli(tree, args + (ONE_SEED if label == "current" else []),
                                       out / f"{case}-{label}-{i}"))
    best = {label: _best(r) for label, r in runs.items()}
    if save:
        save_records(save, runs["current"])
    print(f"\n{case} ({' '.join(args)}), best of {rounds}:")
    for label, m in best.items():
        print(_stages(label, m))
    now = best["current"]
    stage_mb = " ".join(f"{k} {v:.0f}" for k, v in now.stage_mb.items())
    print(f"  current peak RSS by stage (MB): {stage_mb}")
    estimate = sum(now.manifest["estimate_s"].values())
    print(f"  current estimate printed before the run: {estimate:.0f} s"
          f" (its stages took {sum(now.stage_s.values()):.0f} s)")
    result = {"wall_s": now.wall_s, "peak_mb": now.peak_mb}
    if "baseline" in best:
        base = best["baseline"]
        result["time_ratio"] = base.wall_s / now.wall_s
        result["cpu_ratio"] = base.cpu_s / now.cpu_s
        result["memory_ratio"] = base.peak_mb / now.peak_mb
        print(f"  ratio baseline/current: wall {result['time_ratio']:.2f}x, "
              f"CPU {result['cpu_ratio']:.2f}x, peak RSS {result['memory_ratio']:.2f}x")
        for stage, seconds in now.stage_s.items():
            was = base.stage_s.get(stage)
            if was:
                print(f"    {stage:<12} {was:6.2f} s -> {seconds:6.2f} s  ({was / seconds:5.2f}x)")
    wall_goal, cpu_goal, mb_goal = GOALS[case]
    verdict = [(f"wall {now.wall_s:.1f} s of {wall_goal:.0f} s: "
                f"{'met' if now.wall_s <= wall_goal else 'not met'}")]
    if cpu_goal is not None:
        verdict.append(f"CPU {now.cpu_s:.1f} s of {cpu_goal:.0f} s: "
                       f"{'met' if now.cpu_s <= cpu_goal else 'not met'}")
    if mb_goal is not None:
        verdict.append(f"peak {now.peak_mb:.0f} MB of {mb_goal:.0f} MB: "
                       f"{'met' if now.peak_mb <= mb_goal else 'not met'}")
    print("  goal " + "; ".join(verdict) + (" (--quick: goals are for the full runs)"
                                            if quick else ""))
    return result


def _bad_input(trees: dict[str, Path], out: Path) -> dict:
    print(f"\nbad input ({' '.join(BAD_INPUT)}):")
    walls = {}
    for label, tree in trees.items():
        wall, status, line = time_failing_cli(tree, [*BAD_INPUT, "--out", str(out / label)])
        walls[label] = wall
        print(f"  {label:<9} answered in {wall:5.2f} s, exit status {status}: {line}")
    result = {"wall_s": walls["current"]}
    if "baseline" in walls:
        result["time_ratio"] = walls["baseline"] / walls["current"]
        print(f"  ratio baseline/current: {result['time_ratio']:.1f}x")
    met = "met" if walls["current"] < BAD_INPUT_GOAL_S else "not met"
    print(f"  goal under {BAD_INPUT_GOAL_S:.0f} s: {met}")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default=DEFAULT_BASELINE,
                        help=f"commit to compare with (default {DEFAULT_BASELINE})")
    parser.add_argument("--no-baseline", action="store_true", help="time this tree only")
    parser.add_argument("--rounds", type=int, default=1, help="alternations, best kept")
    parser.add_argument("--only", choices=sorted(CASES), help="run one comparison")
    parser.add_argument("--quick", action="store_true", help="small runs (checks the script)")
    parser.add_argument("--save", type=Path, metavar="FILE",
                        help="add this tree's runs to FILE (for bench/growth.py --fit)")
    args = parser.parse_args(argv)

    summary = {}
    with tempfile.TemporaryDirectory(prefix="sigreport-speed-") as tmp:
        # This tree runs first: programs both trees compile alike are then cached for the
        # baseline, so a cold compilation cache can only favour the baseline.
        trees = {"current": REPO}
        if not args.no_baseline:
            trees["baseline"] = export_commit(args.baseline, Path(tmp) / "baseline")
            print(f"baseline: {args.baseline} (git archive), current: {REPO}")
        summary["bad_input"] = _bad_input(trees, Path(tmp) / "out")
        for case in ([args.only] if args.only else list(CASES)):
            summary[case] = _compare(case, trees, args.rounds, args.quick, Path(tmp) / "out",
                                     args.save)
    parts = []
    for case, r in summary.items():
        parts.append(f"{case}_wall_s={r['wall_s']:.1f}"
                     + (f" {case}_peak_mb={r['peak_mb']:.0f}" if "peak_mb" in r else ""))
        if "cpu_ratio" in r:
            parts.append(f"{case}_time_ratio={r['time_ratio']:.2f} "
                         f"{case}_cpu_ratio={r['cpu_ratio']:.2f} "
                         f"{case}_memory_ratio={r['memory_ratio']:.2f}")
        elif "time_ratio" in r:
            parts.append(f"{case}_time_ratio={r['time_ratio']:.1f}")
    print("\n" + " ".join(parts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
