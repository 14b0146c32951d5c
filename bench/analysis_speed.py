"""Speed of the signatures and analysis stages on all 70,000 MNIST images.

The network (784-256-128-64-9, ReLU) is trained for a few epochs on every
training image of digits 0-8 (54,051); its test images (8,991) are the test
split, and every 9 of both source splits (6,958) is the probe split: 70,000
images in all. The untrained network (epoch 0) is kept as the control of
questions 1 and 2, as in a real run. Training and activation capture are not
timed.

End to end: ``fit_signatures`` (trained network, then the untrained control with
the trained network's k) and ``compute_metrics``; their sum is held against the
budget. Then each step of both stages is timed on its own (layers one after
another, one thread), and the replayed steps are checked against the end-to-end
result. Then each fast path is timed against its naive alternative in the same
run, on the same data, with the ratio:

- k selection: silhouette on a seeded subsample vs on every training sample
  (one k on the widest hidden layer, extrapolated to all candidates);
- final k-means: started from the subsample's solution vs k-means++ restarts;
- path counting: vectorised vs a Python loop over samples;
- linear probe: seeded training subsample vs every training sample (the input);
- k nearest neighbours: float32 distance estimates with a rounding bound and a
  float64 ranking of what the bound keeps vs scikit-learn's brute force (all
  queries), and vs a full distance matrix and a sort (on a slice of the
  queries, extrapolated);
- linear CKA between layers: feature-space formula vs Gram matrices;
- CKA with the labels under bootstrap: every resample in closed form from the
  classes' weighted feature sums vs the Gram matrix's closed form with a
  product per class, and vs linear CKA recomputed on each resample's rows;
- Jensen-Shannon divergence of the classes' paths under bootstrap: one sparse
  product for every resample vs scipy's ``jensenshannon`` on each resample;
- AMI under bootstrap: contingency tables of all resamples with the full
  split's expected mutual information vs scikit-learn's AMI on each resample;
- AUROC/FPR95 under bootstrap: counts over the distinct score values for all
  resamples at once vs ``auroc``/``fpr_at_95`` on each resample (same draws);
- binary signatures: Hamming distance between classes from unit rates vs
  over every pair of samples (on a subsample, extrapolated);
- AUROC: rank formula vs scikit-learn vs comparing every pair;
- scheduling: the alignment and detection jobs as one list on the two worker
  threads, the longest first, vs one stage's jobs after the other's; the
  untrained network's snapshot row from its input alone vs every layer again.

    .venv/bin/python bench/analysis_speed.py [--epochs 2] [--quick]

The last line is ``total_s=T budget_s=60 ratio=T/60``; the exit status is 1
when a full run is over budget. ``--quick`` uses 300 training and 60 test
images per class to check the script itself.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from sigreport.analysis.types import Metrics

BUDGET_S = 60.0
HIDDEN = (256, 128, 64)
TRAINED = tuple(range(9))
PROBE = (9,)


def _dataset(quick: bool):
    """Digits 0-8 to train and test on, every 9 of both source splits as the probe."""
    from sigreport.config import DataConfig
    from sigreport.data import load_raw, prepare_dataset
    from sigreport.data.prepare import Split

    cfg = DataConfig(classes=TRAINED, probe_classes=PROBE, n_per_class="all",
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
    return replace(ds, probe=probe)


class _Clock:
    def __init__(self) -> None:
        self.rows: list[tuple[str, float, str]] = []

    @contextmanager
    def step(self, name: str, note: str = ""):
        start = time.perf_counter()
        yield
        self.add(name, time.perf_counter() - start, note)

    def add(self, name: str, seconds: float, note: str = "") -> None:
        self.rows.append((name, seconds, note))
        print(f"  {name:<48s} {seconds:8.2f} s  {note}", flush=True)

    @property
    def total(self) -> float:
        return sum(t for _, t, _ in self.rows)


def _ratio(label: str, fast: float, naive: float, extra: str = "") -> None:
    print(f"  {label:<48s} fast {fast:8.3f} s  naive {naive:9.3f} s  ratio {naive / fast:7.1f}x"
          f"  {extra}", flush=True)


def _timed(fn, *args, **kwargs) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


@dataclass(frozen=True)
class _Run:
    """What the end-to-end run measured, and what the steps and comparisons reuse."""

    config: Any
    dataset: Any
    trained: Any
    acts: Any
    sigs: Any
    control: tuple[Any, Any]
    noisy: Any
    metrics: Metrics


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()

    from threadpoolctl import threadpool_limits

    from sigreport.activations import capture_activations, capture_split, noisy_test
    from sigreport.analysis import compute_metrics
    from sigreport.config import Config, ModelConfig, TrainConfig
    from sigreport.pipeline import CLUSTERED_KINDS, _snapshot_data
    from sigreport.signatures import fit_signatures
    from sigreport.train import fit_model

    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} "
          f"(the cores may be shared)", flush=True)
    ds = _dataset(args.quick)
    sizes = (len(ds.train.y), len(ds.test.y), len(ds.probe.y))
    print(f"data: train {sizes[0]}, test {sizes[1]}, probe {sizes[2]} = {sum(sizes)} images; "
          f"hidden {list(HIDDEN)}", flush=True)
    model = ModelConfig(hidden=HIDDEN)
    config = Config(name="bench", seed=0, model=model,
                    train=TrainConfig(epochs=args.epochs, snapshot_epochs=(0, args.epochs)))
    start = time.perf_counter()
    trained = fit_model(ds, model, config.train, seed=0)
    acts = capture_activations(trained.params, ds, model.activation)
    acts0 = capture_activations(trained.snapshots[0], _snapshot_data(ds, 0), model.activation,
                                kinds=CLUSTERED_KINDS)
    noisy = capture_split(trained.params, noisy_test(ds.test.x, config.analysis.path_noise, 0),
                          ds, model.activation)
    print(f"(untimed) training {args.epochs} epochs + capture of the trained and untrained "
          f"networks and the noisy test images: {time.perf_counter() - start:.1f} s, "
          f"test accuracy {np.mean(acts.test.predicted == acts.test.y):.4f}", flush=True)

    print("\nend to end", flush=True)
    clock = _Clock()
    with clock.step("fit_signatures"):
        sigs = fit_signatures(acts, config.signatures, seed=0)
    k_trained = {s.layer: s.n_clusters for s in sigs.layers}
    with clock.step("fit_signatures, untrained control",
                    f"(trained k, {len(acts0.train.y)} training samples)"):
        sigs0 = fit_signatures(acts0, config.signatures, 0, k=k_trained,
                               reuse={"input": sigs.layer("input")})
    with clock.step("compute_metrics"):
        metrics = compute_metrics(config, ds, trained, acts, sigs,
                                  snapshots={0: (acts0, sigs0), args.epochs: (acts, sigs)},
                                  noisy=noisy)
    total = clock.total
    sep = metrics["answers"]["separation"]
    print(f"  clusters per layer {k_trained}; unassigned test share "
          f"{ {s.layer: round(s.unassigned_rate('test'), 4) for s in sigs.layers} }; "
          f"separation layer {sep['separation_layer']}", flush=True)
    detection = metrics["answers"]["unseen_detection"]
    assert detection is not None, "digit 9 is the probe class"
    for family, best in detection["best_per_family"].items():
        if best:
            print(f"  best {family} score: {best['method']} at {best['layer']}, "
                  f"AUROC {best['auroc']} {best['auroc_ci']}", flush=True)

    run = _Run(config, ds, trained, acts, sigs, (acts0, sigs0), noisy, metrics)
    with threadpool_limits(limits=1):
        print("\nfit_signatures step by step (layers one after another, one thread)", flush=True)
        _signature_steps(run)
        print("\ncompute_metrics step by step (one thread; the stage itself spreads layers "
              "over two worker threads)", flush=True)
        scores = _analysis_steps(run)
        print("\nagainst the naive alternatives", flush=True)
        _naive_signatures(run)
        _naive_analysis(run, scores)
        _naive_scheduling(run)

    print(f"\nfit_signatures (trained + control) + compute_metrics on {sum(sizes)} images: "
          f"{total:.1f} s (budget {BUDGET_S:.0f} s)")
    print(f"total_s={total:.1f} budget_s={BUDGET_S:.0f} ratio={total / BUDGET_S:.2f}")
    return 0 if (args.quick or total <= BUDGET_S) else 1


def _per_layer(times: dict[str, float]) -> str:
    return "(" + ", ".join(f"{name} {t:.2f}" for name, t in times.items()) + ")"


def _signature_steps(run: _Run) -> None:
    """Each step of ``fit_signatures`` per clustered layer, timed and summed over layers.

    The steps replay the stage (same subsample, random states, clusterings) and
    are checked against what it returned: the same k, the same training
    partition, the same assignments in every split.
    """
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score

    from sigreport import signatures as sg
    from sigreport.activations import SPLITS
    from sigreport.sampling import seeded_subset

    acts, sigs, cfg, seed = run.acts, run.sigs, run.config.signatures, run.config.seed
    if cfg.method != "kmeans" or cfg.standardize:
        raise SystemExit("the step replay covers k-means without standardisation")
    sub = seeded_subset(len(acts.train.y), cfg.subsample, seed, salt=0x5C)
    index = {info.name: info.index for info in acts.layers}
    steps: dict[str, dict[str, float]] = {
        name: {} for name in ("k selection", "final k-means", "regions", "assignment")}
    same_k, same_partition, same_labels = [], [], []
    for sig in sigs.layers:
        name = sig.layer
        z = acts.train.layers[name]
        rs = sg._random_state(seed, index[name])
        fits: dict[int, KMeans] = {}

        def labels_for(c: int, zs: np.ndarray = z[sub], rs: int = rs,
                       fits: dict[int, KMeans] = fits) -> np.ndarray:
            fits[c] = KMeans(n_clusters=c, n_init=cfg.k_n_init, random_state=rs).fit(zs)
            return fits[c].labels_

        (k, *_), steps["k selection"][name] = _timed(
            sg._choose_k, cfg, None, z[sub], len(acts.classes), labels_for)
        final, steps["final k-means"][name] = _timed(
            KMeans(n_clusters=k, init=fits[k].cluster_centers_, n_init=1, random_state=rs).fit, z)
        boundary, t_regions = _timed(
            sg.fit_boundary, z, sig.base_assign(z), sig.n_clusters, cfg.boundary_quantile, rs)
        steps["regions"][name] = t_regions
        found, steps["assignment"][name] = _timed(
            lambda sig=sig, name=name: {s: sig.assign(acts.split(s).layers[name])
                                        for s in SPLITS})
        same_k.append(k == sig.n_clusters)
        same_partition.append(adjusted_rand_score(final.labels_, sig.base_assign(z)) == 1.0)
        same_labels.append(all(np.array_equal(found[s].labels, sig.labels[s]) for s in SPLITS)
                           and np.allclose(boundary.threshold, sig.boundary.threshold))
    clock = _Clock()
    notes = {
        "k selection": f"silhouette of k = 2..{cfg.k_max} on {len(sub)} samples",
        "final k-means": f"on {len(acts.train.y)} samples, from the subsample's centres",
        "regions": "OAS Gaussian per cluster, calibrated quantile",
        "assignment": "train, test and probe: nearest centre, then regions",
    }
    for step, times in steps.items():
        clock.add(step, sum(times.values()), notes[step])
        print(f"  {'':<48s} {_per_layer(times)}", flush=True)
    print(f"  sum of steps {clock.total:.2f} s; replay agrees with fit_signatures: same k "
          f"{all(same_k)}, same training partition {all(same_partition)}, same regions and "
          f"assignments {all(same_labels)}", flush=True)


def _analysis_steps(run: _Run) -> list:
    """Each step of ``compute_metrics`` in the stage's order, timed, and checked against the
    end-to-end metrics. Returns the novelty scores for the comparisons."""
    from sigreport.analysis import ood
    from sigreport.analysis._common import make_resamples, plain
    from sigreport.analysis.detection import novelty_scores
    from sigreport.analysis.differ import answer_signatures_differ
    from sigreport.analysis.layers import cka_matrix, describe_layers
    from sigreport.analysis.metrics import _SNAPSHOT_PROBE_SUBSAMPLE
    from sigreport.analysis.paths import compute_path_stats, summarize_paths
    from sigreport.analysis.separation import answer_separation, compute_alignment
    from sigreport.analysis.snapshots import describe_snapshots
    from sigreport.analysis.unseen import Controls, describe_unseen, unassigned_jobs
    from sigreport.signatures import cluster_layer_names

    acts, sigs, config, seed = run.acts, run.sigs, run.config, run.config.seed
    acts0, sigs0 = run.control
    cfg, scfg = config.analysis, config.signatures
    probes = run.dataset.probe_classes
    names = cluster_layer_names(acts)
    last = config.train.epochs
    snapshots = {0: run.control, last: (acts, sigs)}
    clock = _Clock()
    with clock.step("bootstrap resamples + path statistics"):
        res = make_resamples(len(acts.test.y), cfg.n_bootstrap, seed)
        ps = compute_path_stats(acts, sigs.paths, scfg.specific_threshold, scfg.min_support,
                                probes)
    with clock.step("Q1 alignment, trained (+ bootstrap)", "CKA, AMI, linear probe per layer"):
        trained = compute_alignment(acts, sigs, names, res, cfg.cka_subsample,
                                    cfg.probe_subsample, seed)
    with clock.step("Q1 alignment, untrained control (+ bootstrap)"):
        control = compute_alignment(acts0, sigs0, names[1:], res, cfg.cka_subsample,
                                    cfg.probe_subsample, seed)
    with clock.step("Q1 answer + layer table"):
        layers = describe_layers(acts, sigs, trained, probes)
        separation = answer_separation(layers, trained, control, cfg.separation_measure, 0)
    with clock.step("Q2 signatures differ (+ control, bootstrap)"):
        differ = answer_signatures_differ(acts, sigs, ps, res, run.control, scfg, seed)
    with clock.step("Q3 unseen class (+ controls' region sweep)",
                    "the detection summary is the run's own: replayed in the steps below"):
        nets = [(acts, sigs, names[:1] + tuple(sigs.path_layers)),
                (acts0, sigs0, tuple(sigs0.path_layers))]
        sweep_jobs, sweep_done = unassigned_jobs(nets, scfg)
        by_net = sweep_done([job.run() for job in sweep_jobs])
        controls = Controls(by_net[0], by_net[1], 0, scfg.boundary_quantile, res, seed)
        unseen = describe_unseen(acts, sigs, ps, probes, controls,
                                 run.metrics["answers"]["unseen_detection"])
    with clock.step("detection: scores of every family",
                    "input, network (incl. Deep k-NN), signature"):
        scores, _ = novelty_scores(acts, sigs, ps, config, seed)
    y_probe = acts.probe.y
    groups = [(c, y_probe == c) for c in probes if np.any(y_probe == c)]
    groups.append(("all", np.ones(len(y_probe), dtype=bool)))
    evaluated = {}
    with clock.step("detection: AUROC, FPR95, ROC + bootstrap",
                    f"{len(scores)} scores x {len(groups)} probe groups"):
        for target, mask in groups:
            for s in scores:
                known, unknown = s.test, s.probe[mask]
                ood.roc_points(known, unknown)
                auc_s, fpr_s = ood.auroc_fpr95_samples(known, unknown, cfg.n_bootstrap, seed)
                evaluated[(str(target), s.method, s.layer)] = (
                    ood.auroc(known, unknown), ood.fpr_at_95(known, unknown))
    with clock.step("paths: table, specific, faithfulness, noise"):
        noisy_paths = sigs.paths_of(run.noisy.layers)
        paths = summarize_paths(acts, sigs, ps, res, scfg.specific_threshold, scfg.min_support,
                                probes, noisy_paths, run.noisy.predicted, cfg.path_noise)
    with clock.step("CKA between layers"):
        cka = cka_matrix(acts, names, cfg.cka_subsample, seed)

    def alignment_of(epoch: int):
        if epoch == last:
            return trained
        point = compute_alignment(acts0, sigs0, names, None, cfg.cka_subsample,
                                  min(cfg.probe_subsample, _SNAPSHOT_PROBE_SUBSAMPLE), seed)
        return {**point, **control}

    with clock.step("snapshots table", "point values of the untrained network"):
        snaps = describe_snapshots(run.trained.history, snapshots, alignment_of, scfg, probes)
    print(f"  sum of steps {clock.total:.2f} s", flush=True)

    m = run.metrics
    replayed = {"layers": (layers, m["layers"]),
                "separation": (separation, m["answers"]["separation"]),
                "signatures_differ": (differ, m["answers"]["signatures_differ"]),
                "unseen": (unseen, m["answers"]["unseen"]),
                "paths": (paths, m["paths"]), "cka": (cka, m["cka"]),
                "snapshots": (snaps, m["snapshots"])}
    differs = [key for key, (mine, theirs) in replayed.items() if plain(mine) != theirs]
    rows = {(str(r["probe_class"]), r["method"], r["layer"]): (r["auroc"], r["fpr95"])
            for r in m["ood"]}
    if len(rows) != len(evaluated) or any(plain(list(v)) != list(rows.get(k, ()))
                                          for k, v in evaluated.items()):
        differs.append("ood")
    print(f"  replay agrees with compute_metrics: "
          f"{'yes' if not differs else 'no, in ' + ', '.join(differs)}", flush=True)
    return scores


def _naive_signatures(run: _Run) -> None:
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    from sigreport.analysis import count_paths
    from sigreport.sampling import seeded_subset

    acts, sigs, cfg = run.acts, run.sigs, run.config.signatures
    widest = acts.hidden[0]
    x = acts.train.layers[widest]
    sig = sigs.layer(widest)
    sub = seeded_subset(len(x), cfg.subsample, run.config.seed, salt=0x5C)
    labels = sig.base_assign(x)

    # silhouette: subsample vs every training sample, one k
    _, fast = _timed(silhouette_score, x[sub], labels[sub])
    _, naive = _timed(silhouette_score, x, labels, sample_size=None)
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
    _, naive = _timed(KMeans(n_clusters=k, n_init=4, random_state=0).fit, x)
    _ratio(f"k-means k={k} on {widest}", fast, naive,
           "(warm start from the subsample vs 4 k-means++ restarts on all)")

    # path counting
    paths, y = sigs.paths["train"], acts.train.y
    _, fast = _timed(count_paths, paths, y, acts.classes)
    t = time.perf_counter()
    counter: Counter[tuple[tuple[int, ...], int]] = Counter()
    for row, label in zip(paths.tolist(), y.tolist()):
        counter[(tuple(row), label)] += 1
    _ratio("path counting (train)", fast, time.perf_counter() - t, f"({len(y)} paths)")


def _naive_analysis(run: _Run, scores: list) -> None:
    from scipy.spatial.distance import jensenshannon
    from sklearn.metrics import adjusted_mutual_info_score, roc_auc_score
    from sklearn.neighbors import NearestNeighbors

    from sigreport.analysis import linear_cka, linear_probe_correct, ood
    from sigreport.analysis._common import interval, make_resamples
    from sigreport.analysis.measures import (
        ami_samples,
        cka_labels_samples,
        js_divergence_samples,
    )
    from sigreport.sampling import seeded_subset
    from sigreport.signatures import path_ids

    acts, sigs, cfg, seed = run.acts, run.sigs, run.config.analysis, run.config.seed
    widest = acts.hidden[0]
    y_test = acts.test.y

    # linear probe: subsample vs all training samples
    n_fit = cfg.probe_subsample
    if len(acts.train.y) > n_fit:
        x_tr, x_te = acts.train.layers["input"], acts.test.layers["input"]
        sub_ok, fast = _timed(linear_probe_correct, x_tr, acts.train.y, x_te, y_test, n_fit, 0)
        all_ok, naive = _timed(linear_probe_correct, x_tr, acts.train.y, x_te, y_test,
                               len(acts.train.y), 0)
        _ratio("linear probe on the input", fast, naive,
               f"(accuracy {sub_ok.mean():.4f} on {n_fit} vs {all_ok.mean():.4f} "
               f"on {len(acts.train.y)})")

    # k nearest neighbours: float32 estimates with a rounding bound, then float64 ranking of
    # what the bound keeps, vs scikit-learn's brute force (float64 products, running top-k)
    # on all queries, vs a full distance matrix and a sort on a slice of them
    bank = ood.l2_normalize(acts.train.layers[widest][: cfg.knn_reference])
    queries = ood.l2_normalize(np.concatenate([acts.test.layers[widest],
                                               acts.probe.layers[widest]]))
    (dist, ind), fast = _timed(ood.nearest_neighbours, bank, queries, cfg.knn_k)
    (sk_dist, sk_ind), naive = _timed(
        NearestNeighbors(n_neighbors=cfg.knn_k, algorithm="brute").fit(bank).kneighbors, queries)
    other_sets = sum(set(a) != set(b) for a, b in zip(ind, sk_ind))
    _ratio(f"k nearest neighbours on {widest}", fast, naive,
           f"({len(queries)} queries vs {len(bank)}, k = {cfg.knn_k}, against scikit-learn's "
           f"brute force: neighbour sets differ for {other_sets} queries, largest distance "
           f"difference {np.max(np.abs(dist - sk_dist)):.1e})")
    part = queries[:2000]
    _, fast = _timed(ood.kth_neighbour_distance, bank, part, cfg.knn_k)
    t = time.perf_counter()
    d2 = (part ** 2).sum(1)[:, None] - 2 * part @ bank.T + (bank ** 2).sum(1)[None]
    np.sqrt(np.maximum(np.sort(d2, axis=1)[:, cfg.knn_k - 1], 0))
    naive = time.perf_counter() - t
    scale = len(queries) / len(part)
    _ratio(f"k-th neighbour on {widest}", fast, naive,
           f"(against a full distance matrix and a sort: {len(part)} of {len(queries)} "
           f"queries vs {len(bank)}; all queries: {fast * scale:.1f} s vs "
           f"~{naive * scale:.0f} s)")

    # CKA between layers: features vs Gram matrices
    n = min(cfg.cka_subsample, len(y_test))
    a, b = acts.test.layers["input"][:n].astype(np.float64), acts.test.layers[widest][:n]
    fast_value, fast = _timed(linear_cka, a, b)
    t = time.perf_counter()
    h = np.eye(n) - 1.0 / n
    ka, kb = h @ (a @ a.T) @ h, h @ (b.astype(np.float64) @ b.T) @ h
    gram_value = (ka * kb).sum() / np.sqrt((ka * ka).sum() * (kb * kb).sum())
    _ratio("linear CKA input vs " + widest, fast, time.perf_counter() - t,
           f"({n} samples; values {fast_value:.6f} vs {gram_value:.6f})")

    # CKA with the labels under bootstrap: closed form vs each resample's rows
    res = make_resamples(len(y_test), cfg.n_bootstrap, seed)
    rows = seeded_subset(len(y_test), cfg.cka_subsample, seed, salt=1)
    w = res.weights[:, rows]
    onehot = (y_test[rows][:, None] == np.asarray(acts.classes)[None, :]).astype(np.float64)
    for name in ("input", widest, acts.hidden[-1]):
        x = acts.test.layers[name][rows]
        (_, fast_s), fast = _timed(cka_labels_samples, x, y_test[rows], acts.classes, w)
        gram_s, gram = _timed(_cka_labels_through_gram, x, onehot, w)
        _ratio(f"CKA with labels, {len(w)} resamples, {name}", fast, gram,
               f"(against the Gram matrix's closed form with a product per class; "
               f"{len(rows)} samples x {x.shape[1]} units; largest difference "
               f"{np.max(np.abs(fast_s - gram_s)):.1e})")
        t = time.perf_counter()
        naive_s = np.array([linear_cka(x[rep], onehot[rep]) for rep in
                            (np.repeat(np.arange(len(rows)), wb.astype(np.int64)) for wb in w)])
        _ratio(f"CKA with labels, {len(w)} resamples, {name}", fast, time.perf_counter() - t,
               f"(against linear CKA on each resample's rows; largest difference "
               f"{np.max(np.abs(fast_s - naive_s)):.1e})")

    # Jensen-Shannon divergence of the classes' paths under bootstrap: one sparse product for
    # every resample's counts vs scipy's jensenshannon on each resample's rows
    _, ids = path_ids({"test": sigs.paths["test"]})
    (_, fast_s), fast = _timed(js_divergence_samples, ids["test"], y_test, acts.classes,
                               res.weights)
    t = time.perf_counter()
    naive_js: list[float] = []
    for wb in res.weights:
        rep = np.repeat(np.arange(len(y_test)), wb.astype(np.int64))
        counts = {c: np.bincount(ids["test"][rep][y_test[rep] == c], minlength=ids["test"].max()
                                 + 1) for c in acts.classes}
        naive_js.append(np.mean([jensenshannon(counts[a], counts[b], base=2) ** 2
                                for i, a in enumerate(acts.classes) for b in acts.classes[i + 1:]]))
    _ratio(f"JS divergence of paths, {len(res.weights)} resamples", fast,
           time.perf_counter() - t, f"({len(y_test)} samples, {ids['test'].max() + 1} paths; "
           f"largest difference {np.max(np.abs(fast_s - np.asarray(naive_js))):.1e})")

    # AMI under bootstrap: resampled tables vs scikit-learn on each resample
    labels = sigs.layer(widest).labels["test"]
    (_, fast_s), fast = _timed(ami_samples, labels, y_test, res.weights)
    t = time.perf_counter()
    naive_ami: list[float] = []
    for wb in res.weights:
        rep = np.repeat(np.arange(len(y_test)), wb.astype(np.int64))
        naive_ami.append(adjusted_mutual_info_score(y_test[rep], labels[rep]))
    naive = time.perf_counter() - t
    naive_s = np.asarray(naive_ami)
    both = np.isfinite(fast_s) & np.isfinite(naive_s)
    ci_fast, ci_naive = interval(fast_s), interval(naive_s)
    assert ci_fast is not None and ci_naive is not None, "some AMI resample is finite"
    _ratio(f"AMI, {len(res.weights)} resamples, {widest}", fast, naive,
           f"({len(y_test)} samples; largest difference "
           f"{np.max(np.abs(fast_s - naive_s)[both]):.1e}; not finite: "
           f"{np.sum(~np.isfinite(fast_s))} fast, {np.sum(~np.isfinite(naive_s))} naive; "
           f"95% interval [{ci_fast[0]:.4f}, {ci_fast[1]:.4f}] vs "
           f"[{ci_naive[0]:.4f}, {ci_naive[1]:.4f}])")

    # AUROC/FPR95 under bootstrap: all resamples at once vs a loop (the same draws)
    picked = [s for s in scores if s.layer == "all_hidden" and s.method in
              ("knn", "unassigned_layers")]
    for s in picked:
        known, unknown = s.test, s.probe
        (auc_fast, fpr_fast), fast = _timed(ood.auroc_fpr95_samples, known, unknown,
                                            cfg.n_bootstrap, seed)
        t = time.perf_counter()
        rng = np.random.default_rng([seed, 0xA0C])
        rk = rng.integers(0, len(known), size=(cfg.n_bootstrap, len(known)))
        ru = rng.integers(0, len(unknown), size=(cfg.n_bootstrap, len(unknown)))
        loop = np.array([(ood.auroc(known[i], unknown[j]), ood.fpr_at_95(known[i], unknown[j]))
                         for i, j in zip(rk, ru)])
        naive = time.perf_counter() - t
        n_distinct = len(np.unique(np.concatenate([known, unknown])))
        _ratio(f"AUROC+FPR95, {cfg.n_bootstrap} resamples, {s.method}", fast, naive,
               f"({len(known)} known, {len(unknown)} probe, {n_distinct} distinct values; "
               f"largest difference AUROC {np.max(np.abs(auc_fast - loop[:, 0])):.1e}, "
               f"FPR95 {np.max(np.abs(fpr_fast - loop[:, 1])):.1e})")

    # Hamming between classes: unit rates vs every pair of samples
    active = sigs.layer(widest).active["train"]
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

    # AUROC of one pair of score sets
    rng = np.random.default_rng(0)
    known = rng.normal(size=len(y_test))
    unknown = rng.normal(loc=1.0, size=len(acts.probe.y))
    mine, fast = _timed(ood.auroc, known, unknown)
    ref, sk = _timed(roc_auc_score, np.r_[np.zeros(len(known)), np.ones(len(unknown))],
                     np.r_[known, unknown])
    t = time.perf_counter()
    pairs = sum(float(np.sum(u > known) + 0.5 * np.sum(u == known)) for u in unknown)
    naive = time.perf_counter() - t
    _ratio("AUROC (rank formula)", fast, naive,
           f"(vs every pair; scikit-learn {sk:.3f} s; values {mine:.6f} {ref:.6f} "
           f"{pairs / (len(known) * len(unknown)):.6f})")


def _naive_scheduling(run: _Run) -> None:
    """What ``compute_metrics`` leaves out or overlaps, against doing it plainly."""
    from sigreport._threads import run_jobs
    from sigreport.analysis._common import make_resamples
    from sigreport.analysis.detection import detection_jobs
    from sigreport.analysis.metrics import _SNAPSHOT_PROBE_SUBSAMPLE
    from sigreport.analysis.paths import compute_path_stats
    from sigreport.analysis.separation import AlignmentRequest, alignment_jobs, compute_alignment
    from sigreport.signatures import cluster_layer_names

    acts, sigs, config, seed = run.acts, run.sigs, run.config, run.config.seed
    (acts0, sigs0), cfg, scfg = run.control, config.analysis, config.signatures
    names, probes = cluster_layer_names(acts), run.dataset.probe_classes
    res = make_resamples(len(acts.test.y), cfg.n_bootstrap, seed)
    ps = compute_path_stats(acts, sigs.paths, scfg.specific_threshold, scfg.min_support, probes)

    def jobs() -> tuple[list, list]:
        align, _ = alignment_jobs([AlignmentRequest(acts, sigs, names, res, cfg.probe_subsample),
                                   AlignmentRequest(acts0, sigs0, names[1:], res,
                                                    cfg.probe_subsample)],
                                  cfg.cka_subsample, seed)
        return align, detection_jobs(acts, sigs, ps, config, seed, probes)[0]

    align, detect = jobs()
    _, fast = _timed(run_jobs, align, detect)
    align, detect = jobs()
    t = time.perf_counter()
    run_jobs(align)
    run_jobs(detect)
    _ratio("alignment and detection jobs, 2 threads", fast, time.perf_counter() - t,
           f"(one list of {len(align) + len(detect)} jobs, the longest first, vs the "
           f"{len(align)} alignment jobs, then the {len(detect)} detection jobs)")

    fit = min(cfg.probe_subsample, _SNAPSHOT_PROBE_SUBSAMPLE)
    _, fast = _timed(compute_alignment, acts0, sigs0, names[:1], None, cfg.cka_subsample, fit,
                     seed)
    _, naive = _timed(compute_alignment, acts0, sigs0, names, None, cfg.cka_subsample, fit, seed)
    _ratio("untrained network's row of the snapshots", fast, naive,
           "(the input alone, the hidden layers read from the control's alignment, vs "
           "every layer measured again)")


def _cka_labels_through_gram(x: np.ndarray, onehot: np.ndarray, w: np.ndarray) -> np.ndarray:
    """CKA with the labels under each resample (weights ``w``) from the samples' Gram matrix:
    a product of every resample's weights with the Gram matrix per class."""
    x = np.asarray(x, dtype=np.float64)
    x = x - x.mean(axis=0)
    gram = x @ x.T
    n_tot = w.sum(axis=1)
    kw = w @ gram
    m = kw / n_tot[:, None]
    g = np.einsum("bi,bi->b", w, m) / n_tot
    a = np.einsum("bi,bi->b", w @ (gram * gram), w)
    k_norm2 = a - 2 * n_tot * np.einsum("bi,bi->b", w, m * m) + n_tot ** 2 * g ** 2
    n_c = w @ onehot
    num = np.zeros(len(w))
    for c in range(onehot.shape[1]):
        wc = w * onehot[:, c][None, :]
        num += (np.einsum("bi,bi->b", wc @ gram, wc)
                - 2 * n_c[:, c] * np.einsum("bi,bi->b", wc, kw) / n_tot
                + n_c[:, c] ** 2 * np.einsum("bi,bi->b", w, kw) / n_tot ** 2)
    cov_y = np.einsum("bc,cd->bcd", n_c, np.eye(onehot.shape[1])) \
        - n_c[:, :, None] * n_c[:, None, :] / n_tot[:, None, None]
    return num / (np.sqrt(k_norm2) * np.sqrt(np.einsum("bcd,bcd->b", cov_y, cov_y)))


if __name__ == "__main__":
    sys.exit(main())
