"""Speed of the signatures and analysis stages on all 70,000 MNIST images.

The network (784-256-128-64-9, ReLU) is trained for a few epochs on every
training image of digits 0-8 (54,051); its test images (8,991) are the test
split, and every 9 of both source splits (6,958) is the probe split: 70,000
images in all. Training and activation capture are not timed.

Then each step of ``fit_signatures`` and ``compute_metrics`` is timed, and
where a naive alternative exists it is timed in the same run on the same data
and the ratio printed:

- k selection: silhouette on a seeded subsample vs on every training sample
  (measured for one k on the widest hidden layer, extrapolated to all candidates);
- final k-means: started from the subsample's solution vs k-means++ restarts;
- path counting: vectorised vs a Python loop over samples;
- linear probe: seeded training subsample vs every training sample (one layer);
- k-th neighbour distance: chunked brute force with a running top-k vs a full
  distance matrix and a sort (on a slice of the queries, extrapolated);
- linear CKA: feature-space formula vs Gram matrices;
- binary signatures: Hamming distance between classes from unit rates vs
  over every pair of samples (on a subsample, extrapolated);
- AUROC: rank formula vs scikit-learn vs comparing every pair.

    .venv/bin/python bench/analysis_speed.py [--epochs 2] [--quick]

The last line is ``total_s=T budget_s=60 ratio=T/60``; the exit status is 1
when a full run is over budget. ``--quick`` uses 3,000 training images to
check the script itself.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from contextlib import contextmanager

import numpy as np

BUDGET_S = 60.0
HIDDEN = (256, 128, 64)
TRAINED = tuple(range(9))
PROBE = (9,)


def _dataset(quick: bool):
    """Digits 0-8 to train and test on, every 9 of both source splits as the probe."""
    from sigreport.config import DataConfig
    from sigreport.data import load_raw, prepare_dataset
    from sigreport.data.prepare import Split

    cfg = DataConfig(classes=TRAINED, probe_classes=PROBE, n_per_class=None,
                     n_test_per_class=None)
    if quick:
        cfg = DataConfig(classes=TRAINED, probe_classes=PROBE, n_per_class=300,
                         n_test_per_class=60)
    raw = load_raw(cfg)
    ds = prepare_dataset(raw, cfg, seed=0)
    if quick:
        return ds
    rows = np.flatnonzero(np.isin(raw.train_labels, PROBE))
    x = raw.train_images[rows].reshape(len(rows), -1).astype(np.float32) / np.float32(255)
    y = raw.train_labels[rows].astype(np.int64)
    probe = Split(x=np.concatenate([ds.probe.x, x]), y=np.concatenate([ds.probe.y, y]),
                  onehot=np.zeros((len(ds.probe.y) + len(y), len(TRAINED)), np.float32),
                  index=np.concatenate([ds.probe.index, rows]), source="test+train")
    from dataclasses import replace
    return replace(ds, probe=probe)


class _Clock:
    def __init__(self) -> None:
        self.rows: list[tuple[str, float, str]] = []

    @contextmanager
    def step(self, name: str, note: str = ""):
        start = time.perf_counter()
        yield
        self.rows.append((name, time.perf_counter() - start, note))
        print(f"  {name:<38s} {self.rows[-1][1]:8.2f} s  {note}", flush=True)


def _ratio(label: str, fast: float, naive: float, extra: str = "") -> None:
    print(f"  {label:<38s} fast {fast:8.3f} s  naive {naive:9.3f} s  ratio {naive / fast:7.1f}x"
          f"  {extra}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()

    from sigreport import analysis, ood
    from sigreport.activations import capture_activations
    from sigreport.config import Config, ModelConfig, TrainConfig
    from sigreport.signatures import fit_signatures
    from sigreport.train import fit_model

    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} "
          f"(the cores may be shared)", flush=True)
    ds = _dataset(args.quick)
    sizes = (len(ds.train.y), len(ds.test.y), len(ds.probe.y))
    print(f"data: train {sizes[0]}, test {sizes[1]}, probe {sizes[2]} = {sum(sizes)} images; "
          f"hidden {list(HIDDEN)}", flush=True)
    model = ModelConfig(hidden=HIDDEN)
    start = time.perf_counter()
    trained = fit_model(ds, model, TrainConfig(epochs=args.epochs), seed=0)
    acts = capture_activations(trained.params, ds, model.activation)
    print(f"(untimed) training {args.epochs} epochs + capture: "
          f"{time.perf_counter() - start:.1f} s, test accuracy "
          f"{np.mean(acts.test.predicted == acts.test.y):.4f}", flush=True)
    config = Config(name="bench", seed=0, model=model)

    print("\nend to end", flush=True)
    clock = _Clock()
    with clock.step("fit_signatures"):
        sigs = fit_signatures(acts, config.signatures, seed=0)
    with clock.step("compute_metrics"):
        metrics = analysis.compute_metrics(config, ds, trained, acts, sigs)
    total = sum(t for _, t, _ in clock.rows)
    ks = {s.layer: s.n_clusters for s in sigs.layers}
    print(f"  clusters per layer {ks}; knn AUROC (all) "
          f"{metrics['answers']['unseen_detection']['primary']['auroc']}", flush=True)

    print("\nanalysis steps", flush=True)
    steps = _Clock()
    from threadpoolctl import threadpool_limits
    with threadpool_limits(limits=1):
        with steps.step("path statistics (paths of all splits)"):
            ctx = analysis._make_ctx(config, acts, sigs, ds.probe_classes, 0)
        with steps.step("per-layer metrics + linear probes"):
            layers = analysis._layers(ctx, config.analysis.probe_subsample)
        with steps.step("linear CKA", f"{config.analysis.cka_subsample} test samples"):
            analysis._cka(ctx)
        with steps.step("question 2: signatures differ"):
            analysis._signatures_differ(ctx, layers)
        with steps.step("path table and coverage"):
            analysis._paths(ctx)
        with steps.step("question 3: probes"):
            analysis._probes(ctx)
        with steps.step("novelty scores + AUROC table"):
            analysis._ood(ctx)

    print("\nagainst the naive alternatives", flush=True)
    with threadpool_limits(limits=1):
        _naive_comparisons(acts, sigs, config, ood, analysis)

    print(f"\nfit_signatures + compute_metrics on {sum(sizes)} images: {total:.1f} s "
          f"(budget {BUDGET_S:.0f} s)")
    print(f"total_s={total:.1f} budget_s={BUDGET_S:.0f} ratio={total / BUDGET_S:.2f}")
    return 0 if (args.quick or total <= BUDGET_S) else 1


def _naive_comparisons(acts, sigs, config, ood, analysis) -> None:
    from sklearn.cluster import KMeans
    from sklearn.metrics import roc_auc_score, silhouette_score

    rng = np.random.default_rng(0)
    widest = acts.hidden[0]
    x = acts.train.layers[widest]
    sig = sigs.layer(widest)
    sub = rng.choice(len(x), size=min(config.signatures.subsample, len(x)), replace=False)

    # silhouette: subsample vs every training sample, one k
    t = time.perf_counter()
    silhouette_score(x[sub], sig.labels["train"][sub])
    fast = time.perf_counter() - t
    t = time.perf_counter()
    silhouette_score(x, sig.labels["train"], sample_size=None)
    naive = time.perf_counter() - t
    n_fits = sum(len(s.k_candidates) for s in sigs.layers)
    _ratio(f"silhouette, 1 k on {widest}", fast, naive,
           f"({len(sub)} vs {len(x)} samples; x{n_fits} candidate fits: "
           f"{fast * n_fits:.1f} s vs ~{naive * n_fits:.0f} s)")

    # final k-means: warm start vs k-means++ restarts
    k = sig.n_clusters
    t = time.perf_counter()
    init = KMeans(n_clusters=k, n_init=2, random_state=0).fit(x[sub]).cluster_centers_
    KMeans(n_clusters=k, init=init, n_init=1, random_state=0).fit(x)
    fast = time.perf_counter() - t
    t = time.perf_counter()
    KMeans(n_clusters=k, n_init=4, random_state=0).fit(x)
    _ratio(f"k-means k={k} on {widest}", fast, time.perf_counter() - t,
           "(warm start from the subsample vs 4 k-means++ restarts on all)")

    # path counting
    paths, y = sigs.paths["train"], acts.train.y
    t = time.perf_counter()
    analysis.count_paths(paths, y, acts.classes)
    fast = time.perf_counter() - t
    t = time.perf_counter()
    counter = Counter()
    for row, label in zip(paths.tolist(), y.tolist()):
        counter[(tuple(row), label)] += 1
    _ratio("path counting (train)", fast, time.perf_counter() - t, f"({len(y)} paths)")

    # linear probe: subsample vs all training samples
    n_fit = config.analysis.probe_subsample
    if len(acts.train.y) > n_fit:
        t = time.perf_counter()
        acc_sub = analysis.linear_probe_accuracy(acts.train.layers["input"], acts.train.y,
                                                 acts.test.layers["input"], acts.test.y, n_fit, 0)
        fast = time.perf_counter() - t
        t = time.perf_counter()
        acc_all = analysis.linear_probe_accuracy(
            acts.train.layers["input"], acts.train.y, acts.test.layers["input"], acts.test.y,
            len(acts.train.y), 0)
        _ratio("linear probe on the input", fast, time.perf_counter() - t,
               f"(accuracy {acc_sub:.4f} on {n_fit} vs {acc_all:.4f} on {len(acts.train.y)})")

    # k-th neighbour: chunked top-k vs full matrix + sort
    bank = ood.l2_normalize(acts.train.layers[widest][: config.analysis.knn_reference])
    queries = ood.l2_normalize(np.concatenate([acts.test.layers[widest],
                                               acts.probe.layers[widest]]))
    part = queries[:2000]
    t = time.perf_counter()
    ood.kth_neighbour_distance(bank, part, config.analysis.knn_k)
    fast = time.perf_counter() - t
    t = time.perf_counter()
    d2 = (part ** 2).sum(1)[:, None] - 2 * part @ bank.T + (bank ** 2).sum(1)[None]
    np.sqrt(np.maximum(np.sort(d2, axis=1)[:, config.analysis.knn_k - 1], 0))
    naive = time.perf_counter() - t
    scale = len(queries) / len(part)
    _ratio(f"k-th neighbour on {widest}", fast, naive,
           f"({len(part)} of {len(queries)} queries vs {len(bank)}; all queries: "
           f"{fast * scale:.1f} s vs ~{naive * scale:.0f} s)")

    # CKA: features vs Gram matrices
    n = min(config.analysis.cka_subsample, len(acts.test.y))
    a, b = acts.test.layers["input"][:n].astype(np.float64), acts.test.layers[widest][:n]
    t = time.perf_counter()
    fast_value = analysis.linear_cka(a, b)
    fast = time.perf_counter() - t
    t = time.perf_counter()
    h = np.eye(n) - 1.0 / n
    ka, kb = h @ (a @ a.T) @ h, h @ (b.astype(np.float64) @ b.T) @ h
    gram_value = (ka * kb).sum() / np.sqrt((ka * ka).sum() * (kb * kb).sum())
    _ratio("linear CKA input vs " + widest, fast, time.perf_counter() - t,
           f"({n} samples; values {fast_value:.6f} vs {gram_value:.6f})")

    # Hamming between classes: unit rates vs every pair of samples
    active = sig.active["train"]
    a_rows = np.flatnonzero(acts.train.y == acts.classes[0])
    b_rows = np.flatnonzero(acts.train.y == acts.classes[1])
    t = time.perf_counter()
    pa, pb = active[a_rows].mean(0), active[b_rows].mean(0)
    exact = float(np.mean(pa * (1 - pb) + (1 - pa) * pb))
    fast = time.perf_counter() - t
    sa, sb = a_rows[:500], b_rows[:500]
    t = time.perf_counter()
    pairwise = float((active[sa][:, None, :] != active[sb][None, :, :]).mean())
    naive = (time.perf_counter() - t) * (len(a_rows) * len(b_rows)) / (len(sa) * len(sb))
    _ratio("Hamming distance between two classes", fast, naive,
           f"(exact {exact:.4f}; pairs of 500 x 500 give {pairwise:.4f}; naive extrapolated)")

    # AUROC
    known = rng.normal(size=len(acts.test.y))
    unknown = rng.normal(loc=1.0, size=len(acts.probe.y))
    t = time.perf_counter()
    mine = ood.auroc(known, unknown)
    fast = time.perf_counter() - t
    t = time.perf_counter()
    ref = roc_auc_score(np.r_[np.zeros(len(known)), np.ones(len(unknown))], np.r_[known, unknown])
    sk = time.perf_counter() - t
    t = time.perf_counter()
    pairs = sum(float(np.sum(u > known) + 0.5 * np.sum(u == known)) for u in unknown)
    naive = time.perf_counter() - t
    _ratio("AUROC (rank formula)", fast, naive,
           f"(vs every pair; scikit-learn {sk:.3f} s; values {mine:.6f} {ref:.6f} "
           f"{pairs / (len(known) * len(unknown)):.6f})")


if __name__ == "__main__":
    sys.exit(main())
