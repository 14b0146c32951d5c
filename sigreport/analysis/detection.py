"""Detecting the unseen class: every novelty score, named by the family of what it uses.

Families:
- ``input``: the pixels alone (no network): k-NN distance and Mahalanobis
  distance on the input's principal components.
- ``network``: activations or outputs of the network, without clusters:
  max-softmax, the basic Mahalanobis score of Lee et al. (2018) (class means,
  one shared OAS covariance; no input preprocessing, no feature ensemble) and
  k-NN distance per hidden layer, and Deep k-NN over all hidden layers.
- ``signature``: only the hidden layers' clusterings, their regions and the
  paths: how far outside the nearest region a sample falls, in how many hidden
  layers it is unassigned, how rare its path was in training, and how likely
  its activations are under the Gaussians of the paths taken in training.

Every score is fitted on the training split only and is larger for samples
that look less like training data; the probe classes are used for nothing but
the evaluation against the trained classes' test samples.

The best score of each family is chosen on one half of the test and probe
samples and quoted, with its interval, on the other half, so the headline is
not the luckiest of many scores measured on the samples that chose it. The
untrained network (epoch 0) gets the same network and signature scores and the
same choice, as the control of the trained one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
from sklearn.decomposition import PCA

from sigreport._threads import Job, parallel_map, run_jobs
from sigreport.activations import Activations, SplitActivations
from sigreport.analysis import ood as novelty
from sigreport.analysis._common import class_index, interval
from sigreport.analysis.paths import PathStats, compute_path_stats
from sigreport.analysis.types import (
    DetectionBest,
    DetectionControl,
    DetectionPick,
    DetectionRow,
    DetectionSummary,
)
from sigreport.config import Config
from sigreport.sampling import seeded_subset
from sigreport.signatures import BOUNDARY_DIM, UNASSIGNED, Signatures

__all__ = ["FAMILIES", "METHODS", "Score", "compute_detection", "detection_jobs",
           "novelty_jobs", "novelty_scores", "selection_halves"]

FAMILIES = {
    "input": "uses only the pixels: no network",
    "network": "uses the network's activations or outputs, without clusters",
    "signature": "uses only the hidden layers' clusters, their regions and the paths",
}
METHODS = {
    "knn": "distance to the k-th nearest training sample (L2-normalised features)",
    "mahalanobis": "the basic Mahalanobis score of Lee et al. (2018): squared Mahalanobis "
                   "distance to the nearest class mean, one shared (OAS-shrunk) covariance; no "
                   "input preprocessing, no feature ensemble",
    "max_softmax": "minus the largest softmax probability (the network's confidence, negated)",
    "deep_knn": "Deep k-NN (Papernot and McDaniel, 2018): one minus the credibility of the best "
                "label, from the labels of the k = 75 nearest training samples (the paper's k) "
                "in every hidden layer, calibrated on held-out training samples; it takes at "
                "most n_hidden * k + 1 values, and tied samples count one half in the AUROC",
    "boundary": "how far outside the nearest cluster region: log of the smallest squared "
                "distance over region threshold",
    "unassigned_layers": "number of hidden layers in which the sample is unassigned",
    "path_rarity": "minus the log of the path's smoothed frequency in training",
    "path_likelihood": "minus the log-likelihood under the training paths: one Gaussian per "
                       "path taken by enough training samples (through no unassigned layer), "
                       "over all hidden layers together in the space of their cluster regions, "
                       "fitted on the path's training members (OAS-shrunk covariance) and "
                       "weighted by its share of them",
}
ALL_HIDDEN = "all_hidden"
_N_CALIBRATION = 2000     # training samples that put the scores of layers on one scale
_N_HELD = 1000            # training samples held out of the neighbour bank to calibrate it
_DEEP_KNN_K = 75          # neighbours per layer of Deep k-NN, as in Papernot and McDaniel (2018)
_SELECTION_SALT = 0x5E1   # seeds the halves that choose and quote the best score of a family
_ROC_POINTS = 101
_ROC_POINTS_PER_CLASS = 21
_INPUT_PCA = 64           # components of the pixel space the input scores use
_INPUT_PCA_FIT = 5000     # training samples the PCA is fitted on


@dataclass(frozen=True)
class Score:
    """One novelty score of the test (trained classes) and probe samples, float (n,) each."""

    method: str
    family: str
    layer: str
    layers: tuple[str, ...]
    test: np.ndarray
    probe: np.ndarray


def _probs(split: SplitActivations) -> np.ndarray:
    if "probs" in split.layers:
        return split.layers["probs"]
    z = split.layers["logits"].astype(np.float64)
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def _input_scores(acts: Activations, seed: int, bank_rows: np.ndarray, k: int
                  ) -> tuple[list[Score], str]:
    x = acts.train.layers["input"]
    n_comp = min(_INPUT_PCA, x.shape[1], len(x))
    rows = seeded_subset(len(x), _INPUT_PCA_FIT, seed, salt=4)
    pca = PCA(n_components=n_comp, svd_solver="randomized",
              random_state=seed % (2**31 - 1)).fit(novelty.l2_normalize(x[rows]))

    def space(a: np.ndarray) -> np.ndarray:
        return pca.transform(novelty.l2_normalize(a)).astype(np.float32)

    f_train = space(x)
    maha = novelty.fit_mahalanobis(f_train, acts.train.y, acts.classes)
    f_test, f_probe = space(acts.test.layers["input"]), space(acts.probe.layers["input"])
    kth = novelty.kth_neighbour_distance(f_train[bank_rows], np.concatenate([f_test, f_probe]), k)
    note = (f"input scores use {n_comp} principal components of the L2-normalised "
            f"pixels, PCA fitted on {len(rows)} training samples")
    return [
        Score("knn", "input", "input", ("input",), kth[:len(f_test)], kth[len(f_test):]),
        Score("mahalanobis", "input", "input", ("input",), maha.score(f_test),
              maha.score(f_probe)),
    ], note


def _combined(method: str, family: str, hidden: tuple[str, ...], parts: list[tuple]) -> Score:
    """Mean over hidden layers of scores standardised on training samples."""
    return Score(method, family, ALL_HIDDEN, hidden,
                  np.mean([p[0] for p in parts], axis=0), np.mean([p[1] for p in parts], axis=0))


def _mahalanobis(acts: Activations, name: str, cal_rows: np.ndarray
                 ) -> tuple[Score, tuple[np.ndarray, np.ndarray]]:
    """A hidden layer's Mahalanobis score, and its test and probe scores standardised."""
    f_train = acts.train.layers[name]
    model = novelty.fit_mahalanobis(f_train, acts.train.y, acts.classes)
    cal = novelty.fit_calibration(model.score(f_train[cal_rows]))
    s_test, s_probe = model.score(acts.test.layers[name]), model.score(acts.probe.layers[name])
    return Score("mahalanobis", "network", name, (name,), s_test, s_probe), \
        (cal(s_test), cal(s_probe))


def _search(acts: Activations, name: str, held: np.ndarray, bank: np.ndarray, k: int
            ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Split -> (distances, bank positions) of the k nearest bank rows, in one hidden layer."""
    queries = {"held": acts.train.layers[name][held], "test": acts.test.layers[name],
               "probe": acts.probe.layers[name]}
    dist, ind = novelty.nearest_neighbours(
        novelty.l2_normalize(acts.train.layers[name][bank]),
        novelty.l2_normalize(np.concatenate(list(queries.values()))), k)
    cuts = np.cumsum([len(q) for q in queries.values()])[:-1]
    return dict(zip(queries, zip(np.split(dist, cuts), np.split(ind, cuts))))


def _neighbour_scores(acts: Activations, found: dict[str, dict], held: np.ndarray,
                      bank: np.ndarray, k: int, k_deep: int
                      ) -> tuple[list[Score], list[tuple], Score]:
    """Per hidden layer the k-th neighbour distance (and standardised), and Deep k-NN from
    the ``k_deep`` nearest neighbours of each layer."""
    hidden = acts.hidden
    out, knn_z = [], []
    for name in hidden:
        kth = {s: dist[:, k - 1] for s, (dist, _) in found[name].items()}
        cal = novelty.fit_calibration(kth["held"])
        out.append(Score("knn", "network", name, (name,), kth["test"], kth["probe"]))
        knn_z.append((cal(kth["test"]), cal(kth["probe"])))
    labels = class_index(acts.train.y, acts.classes)

    def nonconformity(split: str) -> np.ndarray:
        return novelty.deep_knn_nonconformity(
            [labels[bank][found[h][split][1][:, :k_deep]] for h in hidden], len(acts.classes))

    alpha = nonconformity("held")[np.arange(len(held)), labels[held]]
    deep = Score("deep_knn", "network", ALL_HIDDEN, hidden,
                 1 - novelty.deep_knn_credibility(nonconformity("test"), alpha),
                 1 - novelty.deep_knn_credibility(nonconformity("probe"), alpha))
    return out, knn_z, deep


def _signature_scores(acts: Activations, sigs: Signatures, ps: PathStats,
                      cal_rows: np.ndarray) -> list[Score]:
    hidden = sigs.path_layers
    out, parts = [], []
    for name in hidden:
        ratio = sigs.layer(name).ratio
        s = {split: np.log(np.maximum(ratio[split].astype(np.float64), 1e-300))
             for split in ("train", "test", "probe")}
        cal = novelty.fit_calibration(s["train"][cal_rows])
        out.append(Score("boundary", "signature", name, (name,), s["test"], s["probe"]))
        parts.append((cal(s["test"]), cal(s["probe"])))
    if not hidden:
        return out
    out.append(_combined("boundary", "signature", hidden, parts))
    out.append(Score("unassigned_layers", "signature", ALL_HIDDEN, hidden,
                      (sigs.paths["test"] == UNASSIGNED).sum(axis=1).astype(np.float64),
                      (sigs.paths["probe"] == UNASSIGNED).sum(axis=1).astype(np.float64)))
    n_train = len(acts.train.y)
    freq = (ps.train.sum(axis=1) + 1.0) / (n_train + 1.0)
    out.append(Score("path_rarity", "signature", ALL_HIDDEN, hidden,
                      -np.log(freq[ps.ids["test"]]), -np.log(freq[ps.ids["probe"]])))
    return out


def _region_space(sigs: Signatures, split: SplitActivations) -> np.ndarray:
    """float64 (n_samples, total dim): every hidden layer's activations in the space its
    cluster regions live in (clustering space, on the regions' principal axes), side by side."""
    parts = []
    for name in sigs.path_layers:
        layer = sigs.layer(name)
        x = np.subtract(layer.transform(split.layers[name]), layer.boundary.offset,
                        dtype=np.float64)
        parts.append(x if layer.boundary.basis is None else x @ layer.boundary.basis)
    return np.concatenate(parts, axis=1)


def _path_likelihood(acts: Activations, sigs: Signatures, min_support: int) -> Score | None:
    """Minus the log-likelihood of each sample under one Gaussian per training path with at
    least ``min_support`` members (none through an unassigned layer), over all hidden
    layers' region spaces together; None when no path has that many."""
    paths = sigs.paths["train"]
    if paths.shape[1] == 0 or len(paths) == 0:
        return None
    unique, ids = np.unique(paths, axis=0, return_inverse=True)
    # unique[ids] is paths: a sample keeps its id where no layer of its path is unassigned
    ids = np.where((paths >= 0).all(axis=1), ids.ravel(), -1)
    model = novelty.fit_gaussian_mixture(_region_space(sigs, acts.train), ids, min_support)
    if model is None:
        return None
    return Score("path_likelihood", "signature", ALL_HIDDEN, sigs.path_layers,
                 model.score(_region_space(sigs, acts.test)),
                 model.score(_region_space(sigs, acts.probe)))


def _row(score: Score, target: Any, mask: np.ndarray, n_points: int,
         samples: tuple[np.ndarray, np.ndarray]) -> DetectionRow:
    unknown = score.probe[mask]
    fpr, tpr = novelty.roc_points(score.test, unknown, n_points)
    auc_s, fpr_s = samples
    return {
        "probe_class": target,
        "method": score.method,
        "family": score.family,
        "layer": score.layer,
        "layers": list(score.layers),
        "auroc": novelty.auroc(score.test, unknown),
        "auroc_ci": interval(auc_s),
        "fpr95": novelty.fpr_at_95(score.test, unknown),
        "fpr95_ci": interval(fpr_s),
        "n_known": len(score.test),
        "n_unknown": len(unknown),
        "roc": {"fpr": [round(float(v), 4) for v in fpr],
                "tpr": [round(float(v), 4) for v in tpr]},
    }


def _rows(score: Score, groups: list[tuple[Any, np.ndarray]], n_boot: int, seed: int
          ) -> list[DetectionRow]:
    """The score's row for each probe group, in order. A group of the same samples as an
    earlier one (one probe class, and all probe classes) repeats its numbers."""
    first = [next(j for j, (_, m) in enumerate(groups) if np.array_equal(m, mask))
             for _, mask in groups]
    own = [i for i, j in enumerate(first) if i == j]
    samples = dict(zip(own, novelty.auroc_fpr95_groups(
        score.test, [score.probe[groups[i][1]] for i in own], n_boot, seed)))
    rows: list[DetectionRow] = []
    for i, (target, mask) in enumerate(groups):
        if first[i] != i:
            rows.append({**rows[first[i]], "probe_class": target})
            continue
        # curves of each of several probe classes are drawn coarser, to keep the file small
        n_points = _ROC_POINTS if target == "all" or len(groups) == 2 else _ROC_POINTS_PER_CLASS
        rows.append(_row(score, target, mask, n_points, samples[i]))
    return rows


def _best(rows: list[DetectionRow]) -> DetectionBest | None:
    rows = [r for r in rows if r["auroc"] is not None and r["auroc"] == r["auroc"]]
    if not rows:
        return None
    b = max(rows, key=lambda r: (r["auroc"], -r["fpr95"]))
    return {"method": b["method"], "family": b["family"], "layer": b["layer"],
            "layers": b["layers"], "auroc": b["auroc"], "auroc_ci": b["auroc_ci"],
            "fpr95": b["fpr95"], "fpr95_ci": b["fpr95_ci"]}


def selection_halves(y_test: np.ndarray, y_probe: np.ndarray, seed: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """bool (n_test,) and (n_probe,): the half of each split that chooses the best score of
    a family (True) and the half that quotes it (False).

    Each class's samples are split on their own, in an order drawn from
    ``np.random.default_rng([seed, 0x5E1])`` (the test split's classes in increasing
    order, then the probe split's): the first ``n // 2`` of a class choose.
    """
    rng = np.random.default_rng([seed, _SELECTION_SALT])
    out = []
    for y in (y_test, y_probe):
        choose = np.zeros(len(y), dtype=bool)
        for c in np.unique(y):
            rows = np.flatnonzero(y == c)
            choose[rng.permutation(rows)[:len(rows) // 2]] = True
        out.append(choose)
    return out[0], out[1]


def _held_out_best(scores: list[Score], mask: np.ndarray, halves: tuple[np.ndarray, np.ndarray],
                   n_boot: int, seed: int) -> DetectionPick | None:
    """The score with the highest AUROC on the choosing half (ties: the higher FPR95 there
    loses, then the earlier score), quoted with its intervals on the other half."""
    choose_t, choose_p = halves
    known, unknown = ~choose_t, mask & ~choose_p
    picked = None
    for score in scores:
        sel_known, sel_unknown = score.test[choose_t], score.probe[mask & choose_p]
        auc = novelty.auroc(sel_known, sel_unknown)
        if auc != auc:
            continue
        key = (auc, -novelty.fpr_at_95(sel_known, sel_unknown))
        if picked is None or key > picked[0]:
            picked = (key, score)
    if picked is None or not known.any() or not unknown.any():
        return None
    (selection_auroc, _), score = picked
    auc_s, fpr_s = novelty.auroc_fpr95_samples(score.test[known], score.probe[unknown],
                                               n_boot, seed)
    return {"method": score.method, "family": score.family, "layer": score.layer,
            "layers": list(score.layers),
            "auroc": novelty.auroc(score.test[known], score.probe[unknown]),
            "auroc_ci": interval(auc_s),
            "fpr95": novelty.fpr_at_95(score.test[known], score.probe[unknown]),
            "fpr95_ci": interval(fpr_s),
            "selection_auroc": selection_auroc,
            "n_known": int(known.sum()), "n_unknown": int(unknown.sum())}


def held_out_best_of_families(scores: list[Score], y_test: np.ndarray, y_probe: np.ndarray,
                              families: tuple[str, ...], n_boot: int, seed: int
                              ) -> dict[str, DetectionPick | None]:
    """Each of ``families``' best score over every probe sample, chosen and quoted as the
    headline's are (:func:`selection_halves` of ``seed``, then :func:`_held_out_best`)."""
    halves = selection_halves(y_test, y_probe, seed)
    every = np.ones(len(y_probe), dtype=bool)
    return {f: _held_out_best([s for s in scores if s.family == f], every, halves, n_boot, seed)
            for f in families}


def _best_per_family(scores: list[Score], groups: list[tuple[Any, np.ndarray]],
                     halves: tuple[np.ndarray, np.ndarray], families: tuple[str, ...],
                     n_boot: int, seed: int) -> dict[str, dict[str, DetectionPick | None]]:
    """Probe group ("all" or a class, as a string) -> family -> its held-out best score;
    families not in ``families`` are None. A group of the same samples as an earlier one
    (one probe class, and all probe classes) repeats its picks."""
    out: dict[str, dict[str, DetectionPick | None]] = {}
    for i, (target, mask) in enumerate(groups):
        twin = next((str(t) for t, m in groups[:i] if np.array_equal(m, mask)), None)
        out[str(target)] = dict(out[twin]) if twin is not None else {
            f: (_held_out_best([s for s in scores if s.family == f], mask, halves, n_boot, seed)
                if f in families else None) for f in FAMILIES}
    return out


def novelty_scores(acts: Activations, sigs: Signatures, ps: PathStats, config: Config,
                   seed: int, with_input: bool = True) -> tuple[list[Score], dict[str, str]]:
    """Every score of every family (without the input's when ``with_input`` is false), fitted
    on the training split; and notes on subsampling."""
    jobs, finish = novelty_jobs(acts, sigs, ps, config, seed, with_input)
    return finish(run_jobs(jobs)[0])


def novelty_jobs(acts: Activations, sigs: Signatures, ps: PathStats, config: Config, seed: int,
                 with_input: bool = True
                 ) -> tuple[list[Job], Callable[[list[Any]], tuple[list[Score], dict[str, str]]]]:
    """The fits and neighbour searches behind :func:`novelty_scores`, as independent jobs
    (the input's scores, each hidden layer's Mahalanobis fit and neighbour search), and what
    turns their results into its answer. ``with_input`` False leaves out the input family
    (the pixels' scores do not depend on the network)."""
    cfg = config.analysis
    n_train = len(acts.train.y)
    bank_rows = seeded_subset(n_train, cfg.knn_reference, seed, salt=3)
    bank_rows = np.random.default_rng([seed, 0xB4]).permutation(bank_rows)
    k = max(1, min(cfg.knn_k, len(bank_rows) - 1))
    cal_rows = seeded_subset(n_train, _N_CALIBRATION, seed, salt=2)
    # One neighbour search per hidden layer serves the k-th neighbour distance and Deep
    # k-NN. Its first training rows are held out of the bank: they calibrate both.
    n_held = min(_N_HELD, max(1, len(bank_rows) // 5))
    held, bank = bank_rows[:n_held], bank_rows[n_held:]
    k_bank = max(1, min(k, len(bank)))
    k_deep = max(1, min(_DEEP_KNN_K, len(bank)))
    hidden = acts.hidden
    n_queries = n_held + len(acts.test.y) + len(acts.probe.y)
    width = {info.name: info.width for info in acts.layers}
    # costs in multiply-adds; a neighbour search also spends about 60 per distance besides
    n_input_q = len(acts.test.y) + len(acts.probe.y)
    jobs = [Job(partial(_input_scores, acts, seed, bank_rows, k),
                n_input_q * len(bank_rows) * (_INPUT_PCA + 60)
                + 20 * _INPUT_PCA_FIT * width["input"] * _INPUT_PCA)] if with_input else []
    jobs += [Job(partial(_mahalanobis, acts, name, cal_rows), 4 * n_train * width[name] ** 2)
             for name in hidden]
    jobs += [Job(partial(_search, acts, name, held, bank, max(k_bank, k_deep)),
                 n_queries * len(bank) * (width[name] + 60)) for name in hidden]
    region_dim = sum(min(width[name], BOUNDARY_DIM) for name in sigs.path_layers)
    n_paths = max(1, min(len(np.unique(sigs.paths["train"], axis=0)),
                         n_train // max(1, config.signatures.min_support)))
    jobs.append(Job(partial(_path_likelihood, acts, sigs, config.signatures.min_support),
                    (n_train + n_paths * n_input_q) * region_dim ** 2))

    def finish(results: list[Any]) -> tuple[list[Score], dict[str, str]]:
        (input_scores, input_note), results = (results[0] if with_input else ([], None)), \
            results[int(with_input):]
        *results, path_likelihood = results
        maha, found = results[:len(hidden)], dict(zip(hidden, results[len(hidden):]))
        scores = input_scores + [Score("max_softmax", "network", "output", ("logits",),
                                       -_probs(acts.test).max(axis=1),
                                       -_probs(acts.probe).max(axis=1))]
        scores += [score for score, _ in maha]
        if hidden:
            knn, knn_z, deep = _neighbour_scores(acts, found, held, bank, k_bank, k_deep)
            scores += knn + [_combined("mahalanobis", "network", hidden, [z for _, z in maha]),
                             _combined("knn", "network", hidden, knn_z), deep]
        scores += _signature_scores(acts, sigs, ps, cal_rows)
        if path_likelihood is not None:
            scores.append(path_likelihood)
        notes = {"knn": f"hidden-layer neighbours searched among {len(bank)} of {n_train} "
                        f"training samples{' (seeded)' if len(bank) < n_train else ''}; "
                        f"k = {k_bank} for the k-th neighbour distance, {k_deep} per layer for "
                        f"Deep k-NN; layer scores standardised, and Deep k-NN calibrated, on "
                        f"{n_held} other training samples"}
        if input_note is not None:
            notes = {"ood_input": input_note, **notes}
        return scores, notes

    return jobs, finish


def compute_detection(acts: Activations, sigs: Signatures, ps: PathStats, config: Config,
                      seed: int, probes: tuple[int, ...],
                      control: tuple[Activations, Signatures] | None = None
                      ) -> tuple[list[DetectionRow], DetectionSummary | None, dict[str, str]]:
    """The ``ood`` rows (every score, per probe class and for all together), the summary with
    the best score of each family, of the trained network and of the untrained ``control``
    (its activations and signatures, on the same test and probe samples), and notes on what
    was subsampled."""
    jobs, finish = detection_jobs(acts, sigs, ps, config, seed, probes, control)
    return finish(run_jobs(jobs)[0])


def detection_jobs(acts: Activations, sigs: Signatures, ps: PathStats, config: Config,
                   seed: int, probes: tuple[int, ...],
                   control: tuple[Activations, Signatures] | None = None
                   ) -> tuple[list[Job], Callable[[list[Any]], tuple[
                       list[DetectionRow], DetectionSummary | None, dict[str, str]]]]:
    """The jobs of :func:`compute_detection` (those of :func:`novelty_jobs`, for the trained
    network and, without the input's, for the control), and what turns their results into
    its answer."""
    if len(acts.probe.y) == 0 or len(acts.test.y) == 0 or not probes:
        return [], lambda results: ([], None, {})
    jobs, scores_of = novelty_jobs(acts, sigs, ps, config, seed)
    control_of = None
    if control is not None:
        c_acts, c_sigs = control
        c_ps = compute_path_stats(c_acts, c_sigs.paths, config.signatures.specific_threshold,
                                  config.signatures.min_support, probes)
        c_jobs, control_of = novelty_jobs(c_acts, c_sigs, c_ps, config, seed, with_input=False)
        jobs = jobs + c_jobs
    n_own = len(jobs) - (len(c_jobs) if control is not None else 0)

    def finish(results: list[Any]):
        scores, notes = scores_of(results[:n_own])
        control_scores = control_of(results[n_own:])[0] if control_of is not None else None
        return _detection(acts, config, seed, probes, scores, notes, control_scores)

    return jobs, finish


def _detection(acts: Activations, config: Config, seed: int, probes: tuple[int, ...],
               scores: list[Score], notes: dict[str, str], control_scores: list[Score] | None
               ) -> tuple[list[DetectionRow], DetectionSummary, dict[str, str]]:
    cfg = config.analysis
    n_train = len(acts.train.y)
    y_probe = acts.probe.y
    groups: list[tuple[int | str, np.ndarray]] = [(c, y_probe == c) for c in probes
                                                   if np.any(y_probe == c)]
    groups.append(("all", np.ones(len(y_probe), dtype=bool)))
    per_score = parallel_map(lambda s: _rows(s, groups, cfg.n_bootstrap, seed), scores)
    rows = [r[g] for g in range(len(groups)) for r in per_score]      # by group, then score
    halves = selection_halves(acts.test.y, y_probe, seed)
    best = _best_per_family(scores, groups, halves, tuple(FAMILIES), cfg.n_bootstrap, seed)
    untrained: DetectionControl | None = None
    if control_scores is not None:
        c_best = _best_per_family(control_scores, groups, halves, ("network", "signature"),
                                  cfg.n_bootstrap, seed)
        untrained = {"epoch": 0, "best_per_family": c_best.pop("all"),
                     "best_per_family_by_class": c_best}
    summary: DetectionSummary = {
        "probe_class": "all",
        "families": FAMILIES,
        "methods": METHODS,
        "best_per_family": best.pop("all"),
        "best_per_family_by_class": best,
        "selection": {
            "rule": "the best score of each family is the one with the highest AUROC on one "
                    "half of the test and probe samples (each class split in two at random, "
                    "seeded); its AUROC, FPR95 and intervals are measured on the other half",
            "seed": seed,
            "n_known_choose": int(halves[0].sum()), "n_known_quote": int((~halves[0]).sum()),
            "n_unknown_choose": int(halves[1].sum()),
            "n_unknown_quote": int((~halves[1]).sum()),
        },
        "untrained": untrained,
        "max_softmax": _best([r for r in rows if r["probe_class"] == "all"
                              and r["method"] == "max_softmax"]),
        "knn_k": cfg.knn_k,
        "deep_knn_k": _DEEP_KNN_K,
        "combined": f"'{ALL_HIDDEN}' rows of knn, mahalanobis and boundary are the mean over "
                    f"hidden layers of scores standardised on "
                    f"{min(_N_CALIBRATION, n_train)} training samples",
    }
    if len(probes) > 1:
        notes["roc"] = (f"ROC curves sampled at {_ROC_POINTS} false-positive rates for all probe "
                        f"classes together, {_ROC_POINTS_PER_CLASS} for each one; AUROC and "
                        "FPR95 are exact")
    return rows, summary, notes
