"""compute_metrics: one run's answers, tables and controls assembled as the metrics.json dict.

It runs the questions' modules (:mod:`.separation`, :mod:`.differ`, :mod:`.unseen`),
the novelty scores (:mod:`.detection`) and the tables beside them on two worker threads,
the longest jobs first, and puts their plain values in the layout of
``sigreport/metrics.schema.json`` (version :data:`SCHEMA_VERSION`).
"""

from __future__ import annotations

from functools import partial
from typing import Any, cast

import numpy as np

from sigreport._threads import Job, run_jobs, single_threaded
from sigreport.activations import Activations, SplitActivations
from sigreport.analysis._common import interval, make_resamples, plain
from sigreport.analysis.detection import detection_jobs
from sigreport.analysis.differ import answer_signatures_differ
from sigreport.analysis.layers import cka_matrix, describe_layers
from sigreport.analysis.measures import (
    PROBE_MAX_ITER,
    accuracy_samples,
)
from sigreport.analysis.paths import compute_path_stats, summarize_paths
from sigreport.analysis.separation import (
    Alignment,
    AlignmentRequest,
    alignment_jobs,
    answer_separation,
)
from sigreport.analysis.snapshots import describe_snapshots
from sigreport.analysis.spread import seed_spread_jobs
from sigreport.analysis.stability import compute_stability
from sigreport.analysis.types import Metrics
from sigreport.analysis.unseen import Controls, describe_unseen, unassigned_jobs
from sigreport.config import Config
from sigreport.signatures import Signatures, cluster_layer_names

__all__ = ["SCHEMA_VERSION", "compute_metrics"]

SCHEMA_VERSION = 2
_SNAPSHOT_PROBE_SUBSAMPLE = 2000   # training rows of the linear probes of intermediate epochs


def _same_input(a: tuple[Activations, Signatures], b: tuple[Activations, Signatures]) -> bool:
    """Whether two epochs' input layers give the same alignment: the same images, labels and
    input clusters (the pipeline passes every epoch the same arrays)."""
    (acts_a, sigs_a), (acts_b, sigs_b) = a, b
    pairs = [(acts_a.train.layers["input"], acts_b.train.layers["input"]),
             (acts_a.train.y, acts_b.train.y),
             (acts_a.test.layers["input"], acts_b.test.layers["input"]),
             (acts_a.test.y, acts_b.test.y),
             (sigs_a.layer("input").labels["test"], sigs_b.layer("input").labels["test"])]
    return acts_a.classes == acts_b.classes and all(p is q or np.array_equal(p, q)
                                                    for p, q in pairs)


def _experiment(config: Config, dataset: Any, seed: int, acts: Activations,
                probes: tuple[int, ...]) -> dict[str, Any]:
    names = getattr(dataset, "class_names", None) or tuple(str(c) for c in range(10))
    sig = config.signatures
    return {
        "name": config.name,
        "title": config.title,
        "dataset": getattr(dataset, "name", config.data.dataset),
        "classes": list(acts.classes),
        "probe_classes": list(probes),
        "class_names": {str(c): names[c] for c in sorted(set(acts.classes) | set(probes))},
        "n_train": len(acts.train.y),
        "n_test": len(acts.test.y),
        "n_probe": len(acts.probe.y),
        # the recorded hidden layers' widths (a convolutional block's: its channels, pooled)
        "hidden": [info.width for info in acts.layers if info.kind == "post"],
        "activation": config.model.activation,
        "loss": config.model.loss,
        "seed": int(seed),
        "seeds": list(config.all_seeds),
        "signatures": {
            "method": sig.method,
            "k": sig.k,
            "k_rule": sig.k_rule,
            "k_max": sig.k_max,
            "standardize": sig.standardize,
            "boundary": "gaussian",
            "boundary_quantile": sig.boundary_quantile,
            "fit_on": sig.fit_on,
        },
        "confidence": 0.95,
        "n_bootstrap": config.analysis.n_bootstrap,
    }


def _model(history: dict[str, Any], acts: Activations, weights: np.ndarray) -> dict[str, Any]:
    keys = ("epoch", "train_loss", "train_accuracy", "test_accuracy")
    hist = {k: [float(v) for v in np.asarray(history.get(k, []))] for k in keys}
    hist["epoch"] = [int(e) for e in hist["epoch"]]
    acc, acc_s = accuracy_samples(acts.test.predicted == acts.test.y, weights)
    train_acc = float(np.mean(acts.train.predicted == acts.train.y)) if len(acts.train.y) \
        else float("nan")
    return {"test_accuracy": acc, "test_accuracy_ci": interval(acc_s),
            "train_accuracy": train_acc, "history": hist}


def compute_metrics(config: Config, dataset: Any, train: Any, acts: Activations,
                    sigs: Signatures,
                    snapshots: dict[int, tuple[Activations, Signatures]] | None = None,
                    other_seeds: list[tuple[int, Activations, Signatures]] | None = None,
                    noisy: SplitActivations | None = None) -> Metrics:
    """Every number the report shows, as plain JSON values.

    Parameters
    ----------
    config:
        The resolved experiment config (``analysis`` and ``signatures`` sections used).
    dataset:
        The prepared :class:`~sigreport.data.prepare.Dataset` (name, class names, probe classes).
    train:
        The :class:`~sigreport.train.TrainResult`; only ``history`` and ``seed`` are read.
    acts:
        Activations of the train, test and probe splits.
    sigs:
        Signatures fitted on ``acts.train``.
    snapshots:
        epoch -> (Activations, Signatures) of the network at the end of that
        epoch, clustered with the trained network's number of clusters per
        layer; epoch 0, the untrained network, is the control of Q1, Q2 and the detection scores.
    other_seeds:
        (seed, Activations, Signatures) of networks trained with the other seeds.
    noisy:
        The test split's activations with Gaussian noise of standard deviation
        ``config.analysis.path_noise`` added to the pixels, or None.

    Returns
    -------
    Metrics
        The metrics layout of ``sigreport/metrics.schema.json``. The sections are built
        as plain dicts; tests/conftest.py's ``check_metrics`` holds real runs to the
        types value for value.
    """
    with single_threaded():
        return cast(Metrics, _compute_metrics(config, dataset, train, acts, sigs,
                                              snapshots or {}, other_seeds, noisy))


def _compute_metrics(config: Config, dataset: Any, train: Any, acts: Activations,
                     sigs: Signatures, snapshots: dict[int, tuple[Activations, Signatures]],
                     other_seeds: list[tuple[int, Activations, Signatures]] | None,
                     noisy: SplitActivations | None) -> dict[str, Any]:
    cfg, scfg = config.analysis, config.signatures
    probes = tuple(getattr(dataset, "probe_classes", None) or sorted(set(acts.probe.y.tolist())))
    seed = int(getattr(train, "seed", config.seed))
    history = getattr(train, "history", None) or {}
    names = cluster_layer_names(acts)
    res = make_resamples(len(acts.test.y), cfg.n_bootstrap, seed)
    ps = compute_path_stats(acts, sigs.paths, scfg.specific_threshold, scfg.min_support, probes)

    last = max(snapshots) if snapshots else None
    control_epoch = 0 if 0 in snapshots and last != 0 else None
    control = snapshots[0] if control_epoch is not None else None
    requests = [AlignmentRequest(acts, sigs, names, res, cfg.probe_subsample)]
    if control:
        requests.append(AlignmentRequest(control[0], control[1], names[1:], res,
                                         cfg.probe_subsample))
    # Other epochs get point values; the control's hidden layers are already measured, and
    # an input equal to an earlier epoch's (the same images at every epoch) is measured once.
    input_of: dict[int, int] = {}
    for epoch in sorted(e for e in snapshots if e != last):
        twin = next((e for e in sorted(set(input_of.values()))
                     if _same_input(snapshots[e], snapshots[epoch])), None)
        input_of[epoch] = epoch if twin is None else twin
        measured = (names[:1] if twin is None else ()) + (() if epoch == control_epoch
                                                            else names[1:])
        requests.append(AlignmentRequest(*snapshots[epoch], measured, None,
                                         min(cfg.probe_subsample, _SNAPSHOT_PROBE_SUBSAMPLE)))
    # The heavy parts are independent jobs: every layer's alignment, the detection scores'
    # fits and neighbour searches, the path divergences and the CKA between layers. They
    # share the worker threads, the longest first.
    align_jobs, align_done = alignment_jobs(requests, cfg.cka_subsample, seed)
    detect_jobs, detect_done = detection_jobs(acts, sigs, ps, config, seed, probes, control)
    n_test, widths = len(acts.test.y), [acts.test.layers[name].shape[1] for name in names]
    other_jobs = [
        Job(partial(answer_signatures_differ, acts, sigs, ps, res, control, scfg, seed),
            20 * cfg.n_bootstrap * n_test * len(acts.classes) ** 2 * (2 * len(acts.hidden) + 3)
            + len(acts.train.y) * widths[0] ** 2),
        Job(partial(cka_matrix, acts, names, cfg.cka_subsample, seed),
            min(n_test, cfg.cka_subsample) * sum(widths) ** 2),
    ]
    if noisy is not None:
        width = dict(zip(names, widths))
        other_jobs.append(Job(partial(sigs.paths_of, noisy.layers), n_test * sum(
            sigs.layer(h).n_clusters * width[h] ** 2 for h in sigs.path_layers)))
    # Q3's controls: the trained network's input and hidden layers, the untrained one's hidden
    # layers, each read at every swept region quantile.
    nets = [(acts, sigs, names[:1] + tuple(sigs.path_layers))]
    if control:
        nets.append((control[0], control[1], tuple(control[1].path_layers)))
    sweep_jobs, sweep_done = unassigned_jobs(nets, scfg) if len(acts.probe.y) else ([], None)
    spread_jobs, spread_done = seed_spread_jobs(config, names, res, seed, probes, other_seeds)
    found, detected, (differ, cka, *noisy_paths), swept, spread_found = run_jobs(
        align_jobs, detect_jobs, other_jobs, sweep_jobs, spread_jobs)
    found = align_done(found)
    trained, control_al = found[0], (found[1] if control else None)
    point = dict(zip(input_of, found[2 if control else 1:]))

    def alignment_of(epoch: int) -> dict[str, Alignment]:
        if epoch == last:
            return trained
        al = {**point[epoch], names[0]: point[input_of[epoch]][names[0]]}
        if epoch == control_epoch and control_al is not None:
            return {**al, **control_al}
        return al

    layers = describe_layers(acts, sigs, trained, probes)
    ood_rows, ood_summary, ood_notes = detect_done(detected)
    controls = None
    if sweep_done is not None:
        by_net = sweep_done(swept)
        controls = Controls(by_net[0], by_net[1] if control else None, control_epoch,
                            scfg.boundary_quantile, res, seed)
    answers = {
        "separation": answer_separation(layers, trained, control_al, cfg.separation_measure,
                                        control_epoch),
        "signatures_differ": differ,
        "unseen": describe_unseen(acts, sigs, ps, probes, controls, ood_summary),
    }
    answers["unseen_detection"] = ood_summary
    paths = summarize_paths(acts, sigs, ps, res, scfg.specific_threshold, scfg.min_support,
                            probes, noisy_paths[0] if noisy_paths else None,
                            noisy.predicted if noisy is not None else None, cfg.path_noise)

    n_train = len(acts.train.y)
    subsampling = dict(sigs.subsampling)
    fit_n = min(cfg.probe_subsample, n_train)
    subsampling["linear_probe"] = (
        f"logistic regressions fitted on {fit_n} of {n_train} training samples"
        f"{' (seeded)' if fit_n < n_train else ''}, at most {PROBE_MAX_ITER} L-BFGS iterations; "
        "accuracy on all test samples")
    if n_test > cfg.cka_subsample:
        subsampling["cka"] = f"linear CKA on {cfg.cka_subsample} of {n_test} test samples (seeded)"
    subsampling["intervals"] = (
        f"95% percentile intervals from {cfg.n_bootstrap} bootstrap resamples of the test "
        "samples (the same resamples for every layer and both networks); detection intervals "
        "resample trained-class and probe samples apart")
    subsampling.update(ood_notes)
    if controls is not None:
        subsampling["unseen_rates"] = (
            f"unseen images' unassigned rates: {cfg.n_bootstrap} bootstrap resamples of each "
            "unseen class's images, drawn apart from the test samples' and shared by every "
            "layer and both networks; other region quantiles from the same fitted regions")
    if len(snapshots) > 2:
        subsampling["snapshots"] = (
            f"linear probes of intermediate epochs fitted on at most "
            f"{min(cfg.probe_subsample, _SNAPSHOT_PROBE_SUBSAMPLE)} training samples")

    metrics = {
        "schema_version": SCHEMA_VERSION,
        "experiment": _experiment(config, dataset, seed, acts, probes),
        "model": _model(history, acts, res.weights),
        "layers": layers,
        "cka": cka,
        "answers": answers,
        "paths": paths,
        "ood": ood_rows,
        "stability": compute_stability(acts, sigs, ps, seed, scfg, probes, other_seeds),
        "seed_spread": None,
        "snapshots": describe_snapshots(history, snapshots, alignment_of, scfg, probes),
        "subsampling": subsampling,
    }
    metrics["seed_spread"] = spread_done(spread_found, metrics, trained, control_al)
    return plain(metrics)
