"""Scale: a full data set through a 4-block CNN, beside the MLP; time and peak memory per stage.

    python bench/scale.py                  # full Fashion-MNIST if this machine has it, else MNIST
    python bench/scale.py --per-class 1000 3000 all   # the growth with images (default)
    python bench/scale.py --quick          # small runs, to check the script itself

The data: Fashion-MNIST (Debian's ``dataset-fashion-mnist``, ``sigreport datasets``)
when it is on this machine, else the embedded MNIST, which has the same shape (60,000
training and 10,000 test images of 28x28). Nine classes are trained (0-8) and the tenth
(9) is the probe, with every image of each class at ``--per-class all`` (else N training and N / 6
test images per class, MNIST's proportion).

Each run is ``sigreport run ... --force`` in a fresh process (training recomputed). For
each size it runs the CNN (``model.kind = "cnn"``, ``model.conv = [16, 32, 64, 64]``:
four blocks of 3x3 convolution, ReLU and 2x2 max pool, 28 -> 14 -> 7 -> 3 -> 1, each
recorded as its channels' means, then a dense layer of 64) and at the largest size also the
MLP (``model.hidden = [256, 256, 256]``, as run_speed.py's full-data run). Prints per run
the wall and CPU time and the peak RSS of the whole process, then per stage its seconds
and peak RSS (manifest.json), and the growth with images: per stage, the ratio of its time
between consecutive sizes against the ratio of their images. The goal for the full CNN
run: under 3 GB peak RSS on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _runs import REPO, Measured, overrides, run_cli

GOAL_MB = 3000.0
CNN = ('model.kind="cnn"', "model.conv=[16, 32, 64, 64]", 'model.pool="mean"',
       "model.hidden=[64]")
MLP = ("model.hidden=[256, 256, 256]",)
EPOCHS = 3


def _dataset() -> str:
    """fashion-mnist when ``sigreport datasets`` lists it as available here, else mnist."""
    proc = subprocess.run([sys.executable, "-m", "sigreport", "datasets"], capture_output=True,
                          text=True, cwd=REPO, check=False,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    rows = [line.split() for line in proc.stdout.splitlines()]
    return "fashion-mnist" if any(r[:2] == ["fashion-mnist", "yes"] for r in rows) \
        else "mnist"


def _args(dataset: str, model: tuple[str, ...], per_class: str, epochs: int) -> list[str]:
    # Test images per class in MNIST's proportion (60,000 : 10,000), or every one.
    n, n_test = (('"all"', '"all"') if per_class == "all"
                 else (per_class, str(max(1, int(per_class) // 6))))
    name = f'"scale-{"cnn" if "cnn" in model[0] else "mlp"}-{per_class}"'
    return ["mnist-1-7", "--force", *overrides(
        f"name={name}", f'data.dataset="{dataset}"', "data.classes=[0,1,2,3,4,5,6,7,8]",
        "data.probe_classes=[9]", f"data.n_per_class={n}", f"data.n_test_per_class={n_test}",
        f"train.epochs={epochs}", *model)]


def _print(label: str, m: Measured) -> None:
    exp = m.metrics["experiment"]
    print(f"\n{label}: {exp['n_train']} training, {exp['n_test']} test, {exp['n_probe']} probe "
          f"images; wall {m.wall_s:.1f} s, CPU {m.cpu_s:.1f} s, peak RSS {m.peak_mb:.0f} MB; "
          f"test accuracy {m.metrics['model']['test_accuracy']:.4f}")
    print(f"  {'stage':<12} {'seconds':>8} {'peak MB':>8}")
    for stage, seconds in m.stage_s.items():
        print(f"  {stage:<12} {seconds:8.1f} {m.stage_mb.get(stage, float('nan')):8.0f}")


def _growth(runs: list[Measured]) -> None:
    print("\nCNN growth with images (per stage, its time at the larger size over the smaller):")
    for a, b in zip(runs, runs[1:]):
        na, nb = (sum(m.metrics["experiment"][k] for k in ("n_train", "n_test", "n_probe"))
                  for m in (a, b))
        parts = " ".join(f"{s} {b.stage_s[s] / max(a.stage_s[s], 1e-9):.2f}" for s in a.stage_s)
        print(f"  {na} -> {nb} images (x{nb / na:.2f}): {parts}; peak RSS "
              f"x{b.peak_mb / a.peak_mb:.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--per-class", nargs="+", default=["1000", "3000", "all"])
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--quick", action="store_true", help="small runs: check the script")
    parser.add_argument("--save", type=Path, help="write every run's record (JSON) here")
    args = parser.parse_args()
    sizes = ["100", "200"] if args.quick else args.per_class
    epochs = 1 if args.quick else args.epochs
    dataset = _dataset()
    print(f"data set: {dataset}"
          + ("" if dataset == "fashion-mnist" else
             " (Fashion-MNIST is not on this machine: Debian's dataset-fashion-mnist is not "
             "installed; MNIST has the same size and shape)"))
    out = Path(tempfile.mkdtemp(prefix="sigreport-scale-"))
    cnn_runs = []
    for size in sizes:
        m = run_cli(REPO, _args(dataset, CNN, size, epochs), out / f"cnn-{size}")
        _print(f"CNN conv [16, 32, 64, 64] + dense [64], {size} per class", m)
        cnn_runs.append(m)
    mlp = run_cli(REPO, _args(dataset, MLP, sizes[-1], epochs), out / f"mlp-{sizes[-1]}")
    _print(f"MLP [256, 256, 256], {sizes[-1]} per class", mlp)
    if len(cnn_runs) > 1:
        _growth(cnn_runs)
    full = cnn_runs[-1]
    print(f"\nCNN at {sizes[-1]} per class: peak RSS {full.peak_mb:.0f} MB, "
          f"{'under' if full.peak_mb < GOAL_MB else 'OVER'} the {GOAL_MB:.0f} MB goal; "
          f"wall {full.wall_s:.1f} s against the MLP's {mlp.wall_s:.1f} s")
    if args.save:
        args.save.write_text(json.dumps([m.to_record() for m in [*cnn_runs, mlp]], indent=1))
    return 0 if full.peak_mb < GOAL_MB else 1


if __name__ == "__main__":
    sys.exit(main())
