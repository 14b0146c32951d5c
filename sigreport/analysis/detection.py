"""Detecting the unseen class: every novelty score, named by the family of what it uses.

Families:
- ``input``: the pixels alone (no network): k-NN distance and Mahalanobis
  distance on the input's principal components.
- ``network``: activations or outputs of the network, without clusters:
  max-softmax, Mahalanobis (class means, shared covariance) and k-NN distance
  per hidden layer, and Deep k-NN over all hidden layers.
- ``signature``: only the hidden layers' clusterings, their regions and the
  paths: how far outside the nearest region a sample falls, in how many hidden
  layers it is unassigned, how rare its path was in training.

Every score is fitted on the training split only and is larger for samples
that look less like training data; the probe classes are used for nothing but
the evaluation against the trained classes' test samples.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.decomposition import PCA

from sigreport import ood as novelty
from sigreport._threads import parallel_map
from sigreport.activations import Activations, SplitActivations
from sigreport.analysis._common import class_index, interval
from sigreport.analysis.paths import PathStats
from sigreport.analysis.types import DetectionBest, DetectionRow, DetectionSummary
from sigreport.config import Config
from sigreport.sampling import seeded_subset
from sigreport.signatures import UNASSIGNED, Signatures

__all__ = ["FAMILIES", "METHODS", "Score", "compute_detection", "novelty_scores"]

FAMILIES = {
    "input": "uses only the pixels: no network",
    "network": "uses the network's activations or outputs, without clusters",
    "signature": "uses only the hidden layers' clusters, their regions and the paths",
}
METHODS = {
    "knn": "distance to the k-th nearest training sample (L2-normalised features)",
    "mahalanobis": "squared Mahalanobis distance to the nearest class mean, shared covariance",
    "max_softmax": "minus the largest softmax probability (the network's confidence, negated)",
    "deep_knn": "Deep k-NN: one minus the credibility of the best label, from neighbour labels "
                "in every hidden layer, calibrated on held-out training samples",
    "boundary": "how far outside the nearest cluster region: log of the smallest squared "
                "distance over region threshold",
    "unassigned_layers": "number of hidden layers in which the sample is unassigned",
    "path_rarity": "minus the log of the path's smoothed frequency in training",
}
ALL_HIDDEN = "all_hidden"
_N_CALIBRATION = 2000     # training samples that put the scores of layers on one scale
_N_HELD = 1000            # training samples held out of the neighbour bank to calibrate it
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


def _input_scores(acts: Activations, cfg: Config, seed: int, bank_rows: np.ndarray, k: int,
                  notes: dict[str, str]) -> list[Score]:
    x = acts.train.layers["input"]
    n_comp = min(_INPUT_PCA, x.shape[1], len(x))
    rows = seeded_subset(len(x), _INPUT_PCA_FIT, seed, salt=4)
    pca = PCA(n_components=n_comp, svd_solver="randomized",
              random_state=seed % (2**31 - 1)).fit(novelty.l2_normalize(x[rows]))

    def space(a: np.ndarray) -> np.ndarray:
        return pca.transform(novelty.l2_normalize(a)).astype(np.float32)

    f_train = space(x)
    maha = novelty.fit_mahalanobis(f_train, acts.train.y, acts.classes)
    bank = f_train[bank_rows]
    notes["ood_input"] = (f"input scores use {n_comp} principal components of the L2-normalised "
                          f"pixels, PCA fitted on {len(rows)} training samples")
    return [
        Score("knn", "input", "input", ("input",),
               novelty.kth_neighbour_distance(bank, space(acts.test.layers["input"]), k),
               novelty.kth_neighbour_distance(bank, space(acts.probe.layers["input"]), k)),
        Score("mahalanobis", "input", "input", ("input",),
               maha.score(space(acts.test.layers["input"])),
               maha.score(space(acts.probe.layers["input"]))),
    ]


def _combined(method: str, family: str, hidden: tuple[str, ...], parts: list[tuple]) -> Score:
    """Mean over hidden layers of scores standardised on training samples."""
    return Score(method, family, ALL_HIDDEN, hidden,
                  np.mean([p[0] for p in parts], axis=0), np.mean([p[1] for p in parts], axis=0))


def _network_scores(acts: Activations, cfg: Config, seed: int, bank_rows: np.ndarray, k: int,
                    cal_rows: np.ndarray, notes: dict[str, str]) -> list[Score]:
    hidden = acts.hidden
    out = [Score("max_softmax", "network", "output", ("logits",),
                  -_probs(acts.test).max(axis=1), -_probs(acts.probe).max(axis=1))]
    maha_z, knn_z = [], []
    for name in hidden:
        f_train = acts.train.layers[name]
        model = novelty.fit_mahalanobis(f_train, acts.train.y, acts.classes)
        cal = novelty.fit_calibration(model.score(f_train[cal_rows]))
        s_test, s_probe = model.score(acts.test.layers[name]), model.score(acts.probe.layers[name])
        out.append(Score("mahalanobis", "network", name, (name,), s_test, s_probe))
        maha_z.append((cal(s_test), cal(s_probe)))

    # One neighbour search per hidden layer serves the k-th neighbour distance and Deep
    # k-NN. Its first training rows are held out of the bank: they calibrate both.
    n_held = min(_N_HELD, max(1, len(bank_rows) // 5))
    held, bank = bank_rows[:n_held], bank_rows[n_held:]
    labels = class_index(acts.train.y, acts.classes)
    k = max(1, min(k, len(bank)))

    def search(name: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        queries = {"held": acts.train.layers[name][held], "test": acts.test.layers[name],
                   "probe": acts.probe.layers[name]}
        dist, ind = novelty.nearest_neighbours(
            novelty.l2_normalize(acts.train.layers[name][bank]),
            novelty.l2_normalize(np.concatenate(list(queries.values()))), k)
        cuts = np.cumsum([len(q) for q in queries.values()])[:-1]
        return dict(zip(queries, zip(np.split(dist, cuts), np.split(ind, cuts))))

    found = dict(zip(hidden, parallel_map(search, list(hidden))))
    for name in hidden:
        kth = {s: dist[:, k - 1] for s, (dist, _) in found[name].items()}
        cal = novelty.fit_calibration(kth["held"])
        out.append(Score("knn", "network", name, (name,), kth["test"], kth["probe"]))
        knn_z.append((cal(kth["test"]), cal(kth["probe"])))
    if hidden:
        out.append(_combined("mahalanobis", "network", hidden, maha_z))
        out.append(_combined("knn", "network", hidden, knn_z))

        def nonconformity(split: str) -> np.ndarray:
            return novelty.deep_knn_nonconformity(
                [labels[bank][found[h][split][1]] for h in hidden], len(acts.classes))

        alpha = nonconformity("held")[np.arange(n_held), labels[held]]
        out.append(Score("deep_knn", "network", ALL_HIDDEN, hidden,
                         1 - novelty.deep_knn_credibility(nonconformity("test"), alpha),
                         1 - novelty.deep_knn_credibility(nonconformity("probe"), alpha)))
    n_train = len(acts.train.y)
    notes["knn"] = (f"hidden-layer neighbours searched among {len(bank)} of {n_train} training "
                    f"samples{' (seeded)' if len(bank) < n_train else ''}; k = {k}; layer scores "
                    f"standardised, and Deep k-NN calibrated, on {n_held} other training samples")
    return out


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


def novelty_scores(acts: Activations, sigs: Signatures, ps: PathStats, config: Config,
                   seed: int) -> tuple[list[Score], dict[str, str]]:
    """Every score of every family, fitted on the training split; and notes on subsampling."""
    cfg = config.analysis
    n_train = len(acts.train.y)
    notes: dict[str, str] = {}
    bank_rows = seeded_subset(n_train, cfg.knn_reference, seed, salt=3)
    bank_rows = np.random.default_rng([seed, 0xB4]).permutation(bank_rows)
    k = max(1, min(cfg.knn_k, len(bank_rows) - 1))
    cal_rows = seeded_subset(n_train, _N_CALIBRATION, seed, salt=2)
    scores = (_input_scores(acts, config, seed, bank_rows, k, notes)
              + _network_scores(acts, config, seed, bank_rows, k, cal_rows, notes)
              + _signature_scores(acts, sigs, ps, cal_rows))
    return scores, notes


def compute_detection(acts: Activations, sigs: Signatures, ps: PathStats, config: Config,
                      seed: int, probes: tuple[int, ...]
                      ) -> tuple[list[DetectionRow], DetectionSummary | None, dict[str, str]]:
    """The ``ood`` rows (every score, per probe class and for all together), the summary with
    the best score of each family, and notes on what was subsampled."""
    if len(acts.probe.y) == 0 or len(acts.test.y) == 0 or not probes:
        return [], None, {}
    cfg = config.analysis
    n_train = len(acts.train.y)
    scores, notes = novelty_scores(acts, sigs, ps, config, seed)
    y_probe = acts.probe.y
    groups = [(c, y_probe == c) for c in probes if np.any(y_probe == c)]
    groups.append(("all", np.ones(len(y_probe), dtype=bool)))
    per_score = [_rows(s, groups, cfg.n_bootstrap, seed) for s in scores]
    rows = [r[g] for g in range(len(groups)) for r in per_score]      # by group, then score

    def best_per_family(target: Any) -> dict[str, DetectionBest | None]:
        return {f: _best([r for r in rows if r["probe_class"] == target and r["family"] == f])
                for f in FAMILIES}

    summary: DetectionSummary = {
        "probe_class": "all",
        "families": FAMILIES,
        "methods": METHODS,
        "best_per_family": best_per_family("all"),
        "best_per_family_by_class": {str(c): best_per_family(c) for c, _ in groups[:-1]},
        "max_softmax": _best([r for r in rows if r["probe_class"] == "all"
                              and r["method"] == "max_softmax"]),
        "knn_k": cfg.knn_k,
        "combined": f"'{ALL_HIDDEN}' rows of knn, mahalanobis and boundary are the mean over "
                    f"hidden layers of scores standardised on "
                    f"{min(_N_CALIBRATION, n_train)} training samples",
    }
    if len(probes) > 1:
        notes["roc"] = (f"ROC curves sampled at {_ROC_POINTS} false-positive rates for all probe "
                        f"classes together, {_ROC_POINTS_PER_CLASS} for each one; AUROC and "
                        "FPR95 are exact")
    return rows, summary, notes
