"""How well each family of novelty scores detects the unseen classes, on three presets.

Runs the presets ``mnist-1-7`` (train on 1 and 7, probe with 3),
``mnist-open-set`` (train on 0-4, probe with 5-9) and ``original-2021`` through
``sigreport.pipeline.measure`` at their full sizes (real training; a trained
network is reused from sigreport's cache when the same config was trained
before, ``--force`` retrains) and prints, per preset, the best score of each
family for all probe classes together:

- input: the pixels alone (no network);
- network: activations or outputs without clusters (max-softmax, Mahalanobis,
  k-NN, Deep k-NN);
- signature: the hidden layers' clusters, their regions and the paths only;

with its method, layer, AUROC with its 95% bootstrap interval and FPR95, chosen
on one half of the test and probe samples and measured on the other, and beside
it the untrained network's best of the same family on the same half. The last
line of each preset is

    signature_best_auroc=X aim=0.95 ratio=X/0.95

and the open-set preset, whose aim it is, ends with ``open_set_signature_auroc=X
[lo, hi] aim=0.95 met|not met (lower end of the interval above|below the aim)``.

    .venv/bin/python bench/detection_families.py [--quick] [--force]

``--quick`` sets ``data.n_per_class=300`` to check the script itself.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

PRESETS = ("mnist-1-7", "mnist-open-set", "original-2021")
OPEN_SET = "mnist-open-set"
AIM = 0.95
QUICK_N_PER_CLASS = 300


def _interval(ci: list[float] | None) -> str:
    return f"[{ci[0]:.4f}, {ci[1]:.4f}]" if ci else "n/a"


def _table(best_per_family: dict, untrained: dict) -> list[str]:
    head = (f"  {'family':<10s} {'method':<18s} {'layer':<11s} {'chosen':>7s} {'AUROC':>7s} "
            f"{'95% interval':<18s} {'FPR95':>7s}   {'untrained best':<30s} {'AUROC':>7s} "
            f"{'95% interval':<18s}")
    lines = [head, "  " + "-" * (len(head) - 2)]
    for family, best in best_per_family.items():
        if best is None:
            lines.append(f"  {family:<10s} no score")
            continue
        u = untrained.get(family)
        control = (f"{u['method'] + ' ' + u['layer']:<30s} {u['auroc']:7.4f} "
                   f"{_interval(u['auroc_ci']):<18s}" if u else
                   ("(the same pixels)" if untrained else "(no untrained network)"))
        lines.append(f"  {family:<10s} {best['method']:<18s} {best['layer']:<11s} "
                     f"{best['selection_auroc']:7.4f} {best['auroc']:7.4f} "
                     f"{_interval(best['auroc_ci']):<18s} {best['fpr95']:7.4f}   {control}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"data.n_per_class={QUICK_N_PER_CLASS}, to check the script")
    parser.add_argument("--force", action="store_true", help="retrain instead of the cache")
    args = parser.parse_args()

    from sigreport.config import load_config
    from sigreport.pipeline import measure

    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} "
          f"(the cores may be shared)", flush=True)
    results: dict[str, tuple[float, list[float] | None]] = {}
    for preset in PRESETS:
        overrides = [f"data.n_per_class={QUICK_N_PER_CLASS}"] if args.quick else []
        config = load_config(preset, overrides)
        print(f"\n{preset}: classes {list(config.data.classes)}, probe "
              f"{list(config.data.probe_classes)}, hidden {list(config.model.hidden)}, "
              f"{config.train.epochs} epochs", flush=True)
        start = time.perf_counter()
        measured = measure(config, force=args.force, log=lambda msg: print(f"  {msg}", flush=True))
        elapsed = time.perf_counter() - start
        m = measured.metrics
        exp = m["experiment"]
        cached = any(measured.manifest["cache_hits"].values())
        print(f"  train {exp['n_train']}, test {exp['n_test']}, probe {exp['n_probe']} images; "
              f"test accuracy {m['model']['test_accuracy']:.4f}; measured in {elapsed:.1f} s "
              f"(training {'from the cache' if cached else 'run now'})", flush=True)
        detection = m["answers"]["unseen_detection"]
        assert detection is not None, f"{preset} has probe classes"
        sel = detection["selection"]
        print(f"  best score per family, all probe classes together: chosen by its AUROC "
              f"('chosen') on {sel['n_known_choose']} test and {sel['n_unknown_choose']} probe "
              f"images, measured on the other {sel['n_known_quote']} and "
              f"{sel['n_unknown_quote']} ({exp['n_bootstrap']} bootstrap resamples):", flush=True)
        control = detection["untrained"]
        untrained = (control["best_per_family"] if control else None) or {}
        for line in _table(detection["best_per_family"], untrained):
            print(line.rstrip(), flush=True)
        best = detection["best_per_family"]["signature"]
        auroc = best["auroc"] if best and best["auroc"] is not None else float("nan")
        print(f"signature_best_auroc={auroc:.4f} aim={AIM} ratio={auroc / AIM:.2f}", flush=True)
        if preset == OPEN_SET:
            results[preset] = (auroc, best["auroc_ci"] if best else None)
    if OPEN_SET in results:
        auroc, ci = results[OPEN_SET]
        lower = "n/a" if ci is None else ("above" if ci[0] >= AIM else "below")
        print(f"\nopen_set_signature_auroc={auroc:.4f} {_interval(ci)} aim={AIM} "
              f"{'met' if auroc >= AIM else 'not met'} (lower end of the interval {lower} "
              f"the aim)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
