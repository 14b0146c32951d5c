"""Training randomness: the headline answers of every seed's network, and their spread.

The headline answers are those of the headline seed's network (the first of
``seeds``); their intervals come from resampling the test images and hold that
one network fixed. Every other seed's network is measured here by the same
functions on the same test images, with the same subsamples and resamples:
Q1's separation layer (by the headline rule, against the input and the headline
seed's untrained network) and its three measures per hidden layer, Q2's path
divergence, Q3's unassigned rate per probe class and hidden layer and the best
detection score of the network and signature families, and the test accuracy.
Their range and mean ± standard deviation over the seeds is what training
randomness moves; the headline interval is set beside it, with the number of
other seeds whose value falls outside it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import numpy as np

from sigreport._threads import Job
from sigreport.activations import Activations
from sigreport.analysis._common import Resamples
from sigreport.analysis.detection import held_out_best_of_families, novelty_jobs
from sigreport.analysis.differ import path_js
from sigreport.analysis.measures import accuracy_samples
from sigreport.analysis.paths import compute_path_stats
from sigreport.analysis.separation import (
    MEASURES,
    Alignment,
    AlignmentRequest,
    alignment_jobs,
    answer_separation,
)
from sigreport.analysis.unseen import describe_unseen
from sigreport.config import Config
from sigreport.signatures import Signatures

__all__ = ["SPREAD_FAMILIES", "seed_spread_jobs"]

# The input family's scores use no network: they are the same for every seed.
SPREAD_FAMILIES = ("network", "signature")

Seed = tuple[int, Activations, Signatures]
Finish = Callable[[list[Any], dict[str, Any], dict[str, Alignment], dict[str, Alignment] | None],
                  dict[str, Any] | None]


def _answers_of(seed: int, accuracy: float, sep: Mapping[str, Any], js: float | None,
                unseen: list[dict[str, Any]], best: dict[str, Any] | None) -> dict[str, Any]:
    """One seed's headline values, read from its answers as ``compute_metrics`` shapes them."""
    rows = {r["layer"]: r for r in sep["per_layer"] if r["kind"] == "post"}
    return {
        "seed": int(seed),
        "test_accuracy": accuracy,
        "separation_layer": sep["separation_layer"],
        "layers": [{"layer": name, **{m: r["value"][m] for m in MEASURES}}
                   for name, r in rows.items()],
        "path_js": js,
        "unassigned_rate": {str(u["class"]): {lay["layer"]: lay["unassigned_rate"]
                                              for lay in u["layers"]} for u in unseen},
        "best_auroc": {f: ({"auroc": b["auroc"], "method": b["method"], "layer": b["layer"]}
                           if b else None) for f, b in (best or {}).items()
                       if f in SPREAD_FAMILIES} if best is not None else None,
    }


def _spread(values: list[float | None], headline_ci: list[float] | None) -> dict[str, Any]:
    """Range, mean and sample standard deviation over the seeds (the headline seed first),
    and how many other seeds fall outside the headline's test-resampling interval."""
    finite = [float(v) for v in values if v is not None and v == v]
    others = [float(v) for v in values[1:] if v is not None and v == v]
    return {
        "values": list(values),
        "min": min(finite) if finite else None,
        "max": max(finite) if finite else None,
        "mean": float(np.mean(finite)) if finite else None,
        "sd": float(np.std(finite, ddof=1)) if len(finite) > 1 else None,
        "headline_ci": headline_ci,
        "n_outside_ci": sum(not (headline_ci[0] <= v <= headline_ci[1]) for v in others)
        if headline_ci else None,
    }


def _summary(per_seed: list[dict[str, Any]], metrics: dict[str, Any]) -> dict[str, Any]:
    answers = metrics["answers"]
    sep_rows = {r["layer"]: r for r in answers["separation"]["per_layer"]}
    main = per_seed[0]
    headline_layer = main["separation_layer"]
    layers = []
    for i, lay in enumerate(main["layers"]):
        ci = sep_rows[lay["layer"]]["ci"]
        layers.append({"layer": lay["layer"], **{
            m: _spread([s["layers"][i][m] for s in per_seed], ci[m]) for m in MEASURES}})
    differ = answers["signatures_differ"]["per_layer"]
    # The unassigned rates have no test-resampling interval to set beside them.
    unassigned = [{"class": int(c), "layer": h,
                   "rate": _spread([s["unassigned_rate"][c][h] for s in per_seed], None)}
                  for c in main["unassigned_rate"] for h in main["unassigned_rate"][c]]
    best = (answers["unseen_detection"] or {}).get("best_per_family") or {}

    def auroc(s: dict[str, Any], family: str) -> float | None:
        found = (s["best_auroc"] or {}).get(family)
        return found["auroc"] if found else None

    return {
        "test_accuracy": _spread([s["test_accuracy"] for s in per_seed],
                                 metrics["model"]["test_accuracy_ci"]),
        "separation_layer": {
            "headline": headline_layer,
            "by_seed": [s["separation_layer"] for s in per_seed],
            "n_same": sum(s["separation_layer"] == headline_layer for s in per_seed),
        },
        "layers": layers,
        "path_js": _spread([s["path_js"] for s in per_seed],
                           differ[-1]["js_ci"] if differ else None),
        "unassigned_rate": unassigned,
        "best_auroc": {f: _spread([auroc(s, f) for s in per_seed],
                                  best[f]["auroc_ci"] if best.get(f) else None)
                       for f in SPREAD_FAMILIES} if main["best_auroc"] is not None else None,
    }


def seed_spread_jobs(config: Config, names: tuple[str, ...], res: Resamples, seed: int,
                     probes: tuple[int, ...], other_seeds: list[Seed] | None
                     ) -> tuple[list[Job], Finish]:
    """The other seeds' measurements as jobs for the worker threads, and what turns their
    results, the headline metrics and the alignments of the headline network (its input)
    and of its untrained control into the ``seed_spread`` section (None with one seed).

    ``names``: the clustered layers, input first; ``res``: the headline's test resamples;
    ``seed``: the headline seed, which seeds every subsample so that the networks differ
    in training only.
    """
    if not other_seeds:
        return [], lambda results, metrics, trained, control: None
    cfg, scfg = config.analysis, config.signatures
    hidden = other_seeds[0][1].hidden
    stats = [compute_path_stats(acts, sigs.paths, scfg.specific_threshold, scfg.min_support,
                                probes) for _, acts, sigs in other_seeds]
    align, align_done = alignment_jobs(
        [AlignmentRequest(acts, sigs, hidden, res, cfg.probe_subsample)
         for _, acts, sigs in other_seeds], cfg.cka_subsample, seed)
    detect, detect_done = [], []
    point = Resamples(np.zeros((0, res.weights.shape[1])))
    differ = [Job(partial(path_js, acts, sigs, point),
                  len(acts.test.y) * len(acts.hidden))
              for (_, acts, sigs), ps in zip(other_seeds, stats)]
    with_probes = [len(acts.probe.y) > 0 and len(acts.test.y) > 0 and bool(probes)
                   for _, acts, _ in other_seeds]
    for (_, acts, sigs), ps, on in zip(other_seeds, stats, with_probes):
        jobs, done = novelty_jobs(acts, sigs, ps, config, seed, with_input=False) if on \
            else ([], None)
        detect.append(jobs)
        detect_done.append(done)
    n_align, n_differ = len(align), len(differ)

    def finish(results: list[Any], metrics: dict[str, Any], trained: dict[str, Alignment],
               control: dict[str, Alignment] | None) -> dict[str, Any]:
        answers = metrics["answers"]
        main_sep = answers["separation"]
        layers = [{"name": r["layer"], "index": r["index"], "kind": r["kind"]}
                  for r in main_sep["per_layer"] if r["layer"] in (names[0], *hidden)]
        aligned = align_done(results[:n_align])
        differs = results[n_align:n_align + n_differ]
        rest = iter(results[n_align + n_differ:])
        best_main = (answers["unseen_detection"] or {}).get("best_per_family")
        rows = answers["signatures_differ"]["per_layer"]
        per_seed = [_answers_of(seed, metrics["model"]["test_accuracy"], main_sep,
                                rows[-1]["js"] if rows else None, answers["unseen"], best_main)]
        for (s, acts, sigs), ps, al, dif, jobs, done in zip(other_seeds, stats, aligned, differs,
                                                           detect, detect_done):
            sep = answer_separation(layers, {names[0]: trained[names[0]], **al}, control,
                                    main_sep["measure"], main_sep["control_epoch"])
            found = [next(rest) for _ in jobs]
            best = held_out_best_of_families(
                done(found)[0], acts.test.y, acts.probe.y, SPREAD_FAMILIES,
                config.analysis.n_bootstrap, seed) if done else None
            accuracy = accuracy_samples(acts.test.predicted == acts.test.y, point.weights)[0]
            per_seed.append(_answers_of(s, accuracy, sep, dif,
                                        describe_unseen(acts, sigs, ps, probes), best))
        seeds = [p["seed"] for p in per_seed]
        return {
            "seeds": seeds,
            "headline_seed": seeds[0],
            "n_seeds": len(seeds),
            "split": "test",
            "interval_covers": (
                f"test resampling: {cfg.n_bootstrap} bootstrap resamples of the test images "
                f"(detection: of the trained classes' and the probe images apart), the "
                f"headline seed's ({seeds[0]}) network held fixed"),
            "spread_covers": (
                f"training randomness: networks trained alike with seeds "
                f"{', '.join(map(str, seeds))} (initial weights and batch order), each measured "
                "on the same test images with the same subsamples, the input's clusters and the "
                "headline network's number of clusters per layer; range, and mean ± sample "
                "standard deviation over the seeds"),
            "separation_rule": (
                "each seed's separation layer by the headline rule, its intervals on the same "
                "test resamples, against the input and the headline seed's untrained network"),
            "detection_rule": (
                "each seed's best score of the network and signature families, chosen on one "
                "half of the test and probe samples and its AUROC quoted on the other, the same "
                "halves as the headline's (the input family uses no network: the same for "
                "every seed)"),
            "outside_rule": "n_outside_ci counts the other seeds whose value falls outside the "
                            "headline seed's 95% test-resampling interval",
            "per_seed": per_seed,
            "summary": _summary(per_seed, metrics),
        }

    return [*align, *differ, *(j for jobs in detect for j in jobs)], finish
