"""Analysis: measured answers to the three questions, as plain JSON values.

1. From which layer on does the network treat the classes differently?
   Per layer (input and output included): a linear probe's held-out accuracy,
   cluster-class NMI, ARI and purity, and linear CKA between layers.
2. Are the signatures of the classes different? Per layer: Jensen-Shannon
   divergence of the classes' cluster occupancy, the share of samples on paths
   shared with another class, and the samples whose path is specific to
   another class.
3. What does an unseen class look like? Per probe class and layer: the
   training clusters it lands in, its distance to them, how many of its paths
   never occur in training, what the network predicts, and how well scores
   computed from the signatures tell it from the trained classes.

Everything here is fitted on the training split; test samples measure, probe
samples are only ever evaluated. The returned dict is deterministic for a
fixed seed and holds no timestamps; floats have 6 significant digits.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.spatial.distance import jensenshannon
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from threadpoolctl import threadpool_limits

from sigreport import ood as novelty
from sigreport._threads import parallel_map
from sigreport.activations import Activations, SplitActivations
from sigreport.config import Config
from sigreport.signatures import LayerSignature, Signatures, cluster_layer_names, path_ids

__all__ = [
    "BASELINE_OOD_METHODS",
    "SCHEMA_VERSION",
    "SIGNATURE_OOD_METHODS",
    "PathStats",
    "compute_metrics",
    "compute_path_stats",
    "count_paths",
    "linear_cka",
    "linear_probe_accuracy",
    "purity",
]

SCHEMA_VERSION = 1
SIGNATURE_OOD_METHODS = ("knn", "path_distance", "path_rarity")
BASELINE_OOD_METHODS = ("max_softmax", "mahalanobis")

_TABLE_CAP = 200          # rows of the path table
_INDEX_CAP = 100          # sample indices listed per atypical (class, looks_like) pair
_TOP_PATHS = 10           # paths listed per probe class
_PROBE_MAX_ITER = 200     # L-BFGS iterations of each linear probe
_SNAPSHOT_PROBE_SUBSAMPLE = 2000
_N_CALIBRATION = 2000     # training samples that put OOD scores of different layers on one scale
_ROC_POINTS = 101
_ROC_POINTS_PER_CLASS = 21
_RECUR_JACCARD = 0.5      # a specific path recurs in another seed above this member overlap
_INPUT_PCA = 64           # components of the pixel space the novelty scores use
_INPUT_PCA_FIT = 5000     # training samples the PCA is fitted on
# Layers are processed on this many threads, each single-threaded inside: OpenMP's
# busy-waiting makes nested parallelism many times slower on shared cores.


# --- small measures ------------------------------------------------------------


def purity(labels: np.ndarray, y: np.ndarray) -> float:
    """Share of samples whose cluster's majority class is their own class.

    Parameters
    ----------
    labels:
        int (n_samples,) cluster ids (any integers, -1 included).
    y:
        int (n_samples,) class ids.
    """
    if len(y) == 0:
        return float("nan")
    _, lab = np.unique(labels, return_inverse=True)
    _, cls = np.unique(y, return_inverse=True)
    table = np.zeros((lab.max() + 1, cls.max() + 1), dtype=np.int64)
    np.add.at(table, (lab, cls), 1)
    return float(table.max(axis=1).sum() / len(y))


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear centred kernel alignment of two representations of the same samples.

    Parameters
    ----------
    x:
        float (n_samples, width_x).
    y:
        float (n_samples, width_y).

    Returns
    -------
    float
        In [0, 1]; invariant to orthogonal transforms and isotropic scaling.
        Computed in feature space, ``|Y'X|_F^2 / (|X'X|_F |Y'Y|_F)``.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    x = x - x.mean(axis=0)
    y = y - y.mean(axis=0)
    cross = np.linalg.norm(y.T @ x) ** 2
    norm = np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)
    return float(cross / norm) if norm > 0 else 0.0


def linear_probe_accuracy(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
                          y_test: np.ndarray, n_fit: int, seed: int) -> float:
    """Held-out accuracy of a multinomial logistic regression.

    Features are standardised with the fitting rows' statistics; the model is
    fitted on at most ``n_fit`` training rows (seeded subsample) with L-BFGS
    capped at a fixed number of iterations.

    Parameters
    ----------
    x_train, x_test:
        float (n_samples, width).
    y_train, y_test:
        int (n_samples,) class ids.
    """
    if len(x_test) == 0 or len(np.unique(y_train)) < 2:
        return float("nan")
    rows = _subsample(len(x_train), n_fit, seed)
    x_fit = np.asarray(x_train[rows], dtype=np.float32)
    mean = x_fit.mean(axis=0, dtype=np.float64).astype(np.float32)
    std = x_fit.std(axis=0, dtype=np.float64).astype(np.float32)
    std[std < 1e-6] = 1.0
    clf = LogisticRegression(C=1.0, max_iter=_PROBE_MAX_ITER)
    with warnings.catch_warnings(), threadpool_limits(limits=1):
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit((x_fit - mean) / std, y_train[rows])
        pred = clf.predict((np.asarray(x_test, dtype=np.float32) - mean) / std)
    return float(np.mean(pred == y_test))


def _subsample(n: int, cap: int, seed: int, salt: int = 0) -> np.ndarray:
    """Sorted seeded row subset of size min(n, cap)."""
    if n <= cap:
        return np.arange(n)
    rng = np.random.default_rng([seed, 0xA11, salt])
    return np.sort(rng.choice(n, size=cap, replace=False))


def _class_index(y: np.ndarray, classes: tuple[int, ...]) -> np.ndarray:
    """Column of each sample's class in ``classes`` (sorted), -1 when absent."""
    cls = np.asarray(classes, dtype=np.int64)
    if len(cls) == 0:
        return np.full(len(y), -1, dtype=np.int64)
    pos = np.clip(np.searchsorted(cls, y), 0, len(cls) - 1)
    return np.where(cls[pos] == y, pos, -1).astype(np.int64)


# --- paths ---------------------------------------------------------------------


def count_paths(paths: np.ndarray, y: np.ndarray, classes: tuple[int, ...]
                ) -> tuple[np.ndarray, np.ndarray]:
    """Count how many samples of each class take each distinct path.

    Parameters
    ----------
    paths:
        int64 (n_samples, n_path_layers).
    y:
        int (n_samples,) class ids; samples of classes outside ``classes`` are ignored.
    classes:
        Sorted class ids: the columns of the counts.

    Returns
    -------
    unique:
        int64 (n_paths, n_path_layers), distinct paths in lexicographic order.
    counts:
        int64 (n_paths, n_classes).
    """
    unique, ids = path_ids({"all": np.asarray(paths, dtype=np.int64)})
    return unique, _count(ids["all"], y, classes, len(unique))


def _count(ids: np.ndarray, y: np.ndarray, classes: tuple[int, ...], n_paths: int) -> np.ndarray:
    col = _class_index(y, classes)
    keep = col >= 0
    flat = ids[keep] * len(classes) + col[keep]
    counts = np.bincount(flat, minlength=n_paths * len(classes))
    return counts.reshape(n_paths, len(classes)).astype(np.int64)


@dataclass(frozen=True)
class PathStats:
    """Paths of every split, counted per class.

    ``unique`` int64 (n_paths, n_path_layers); ``ids`` split -> int64 row of
    ``unique``; ``train``/``test`` int64 (n_paths, n_classes) counts;
    ``probe`` int64 (n_paths, n_probe_classes); ``dominant`` int64 class id with
    the most training samples on the path (-1 if none); ``purity`` float64 share
    of that class among the path's training samples (nan if none); ``specific``
    bool: purity >= threshold and at least ``min_support`` training samples.
    """

    unique: np.ndarray
    ids: dict[str, np.ndarray]
    train: np.ndarray
    test: np.ndarray
    probe: np.ndarray
    dominant: np.ndarray
    purity: np.ndarray
    specific: np.ndarray


def compute_path_stats(acts: Activations, sigs: Signatures, threshold: float,
                       min_support: int, probe_classes: tuple[int, ...]) -> PathStats:
    """Count paths per class in every split and mark the specific ones (training counts)."""
    unique, ids = path_ids(sigs.paths)
    n = len(unique)
    train = _count(ids["train"], acts.train.y, acts.classes, n)
    test = _count(ids["test"], acts.test.y, acts.classes, n)
    probe = _count(ids["probe"], acts.probe.y, probe_classes, n)
    total = train.sum(axis=1)
    cls = np.asarray(acts.classes, dtype=np.int64)
    dominant = np.where(total > 0, cls[train.argmax(axis=1)], -1)
    with np.errstate(invalid="ignore", divide="ignore"):
        pur = np.where(total > 0, train.max(axis=1) / np.maximum(total, 1), np.nan)
    specific = (total >= min_support) & (np.nan_to_num(pur) >= threshold)
    return PathStats(unique, ids, train, test, probe, dominant.astype(np.int64), pur, specific)


# --- metrics context -------------------------------------------------------------


@dataclass(frozen=True)
class _Ctx:
    config: Config
    acts: Activations
    sigs: Signatures
    classes: tuple[int, ...]
    probes: tuple[int, ...]
    names: tuple[str, ...]          # clustered layers: input, hidden..., logits
    hidden: tuple[str, ...]
    seed: int
    main_seed: int
    paths: PathStats


def _make_ctx(config: Config, acts: Activations, sigs: Signatures, probes: tuple[int, ...],
              main_seed: int) -> _Ctx:
    return _Ctx(
        config=config,
        acts=acts,
        sigs=sigs,
        classes=tuple(acts.classes),
        probes=probes,
        names=cluster_layer_names(acts),
        hidden=acts.hidden,
        seed=config.seed,
        main_seed=main_seed,
        paths=compute_path_stats(acts, sigs, config.signatures.specific_threshold,
                                 config.signatures.min_support, probes),
    )


def _occupancy(labels: np.ndarray, y: np.ndarray, classes: tuple[int, ...], n_clusters: int
               ) -> np.ndarray:
    """int64 (n_classes, n_clusters + 1): counts per cluster, last column = noise (-1)."""
    col = _class_index(y, classes)
    lab = np.where(labels < 0, n_clusters, labels)
    keep = col >= 0
    flat = col[keep] * (n_clusters + 1) + lab[keep]
    return np.bincount(flat, minlength=len(classes) * (n_clusters + 1)).reshape(
        len(classes), n_clusters + 1)


def _js(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon divergence in bits (0 identical, 1 disjoint) of two count vectors."""
    if p.sum() == 0 or q.sum() == 0:
        return float("nan")
    return float(jensenshannon(p / p.sum(), q / q.sum(), base=2) ** 2)


def _js_pairs(occ: np.ndarray, classes: tuple[int, ...]) -> list[dict[str, Any]]:
    return [{"a": classes[i], "b": classes[j], "js": _js(occ[i], occ[j])}
            for i in range(len(classes)) for j in range(i + 1, len(classes))]


def _mean(values: list[float]) -> float:
    vals = [v for v in values if not math.isnan(v)]
    return float(np.mean(vals)) if vals else float("nan")


# --- sections ----------------------------------------------------------------------


def _experiment(config: Config, dataset: Any, train: Any, acts: Activations,
                probes: tuple[int, ...]) -> dict[str, Any]:
    names = getattr(dataset, "class_names", None) or tuple(str(c) for c in range(10))
    seed = getattr(train, "seed", config.seed)
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
        "hidden": list(config.model.hidden),
        "activation": config.model.activation,
        "loss": config.model.loss,
        "seed": int(seed),
        "seeds": list(config.all_seeds),
        "signatures": {
            "method": config.signatures.method,
            "k": config.signatures.k,
            "k_rule": config.signatures.k_rule,
            "k_max": config.signatures.k_max,
            "standardize": config.signatures.standardize,
        },
    }


def _accuracy(split: SplitActivations) -> float:
    return float(np.mean(split.predicted == split.y)) if len(split.y) else float("nan")


def _model(train: Any, acts: Activations) -> dict[str, Any]:
    history = getattr(train, "history", None) or {}
    keys = ("epoch", "train_loss", "train_accuracy", "test_accuracy")
    hist = {k: [float(v) for v in np.asarray(history.get(k, []))] for k in keys}
    hist["epoch"] = [int(e) for e in hist["epoch"]]
    return {
        "test_accuracy": _accuracy(acts.test),
        "train_accuracy": _accuracy(acts.train),
        "history": hist,
    }


def _binary(ctx: _Ctx, sig: LayerSignature) -> dict[str, Any] | None:
    if sig.active is None:
        return None
    active = sig.active["train"]
    y = ctx.acts.train.y
    rates = {c: active[y == c].mean(axis=0, dtype=np.float64) for c in ctx.classes}
    counts = {c: int(np.sum(y == c)) for c in ctx.classes}
    pairs = []
    for i, a in enumerate(ctx.classes):
        for b in ctx.classes[i + 1:]:
            pa, pb = rates[a], rates[b]
            # exact mean Hamming distance over all (a, b) sample pairs, as a share of units
            mean_pair = float(np.mean(pa * (1 - pb) + (1 - pa) * pb))
            majority = float(np.mean((pa > 0.5) != (pb > 0.5)))
            pairs.append({"a": a, "b": b, "distance": mean_pair, "majority_distance": majority})
    within = {}
    for c in ctx.classes:
        n, p = counts[c], rates[c]
        within[str(c)] = float(np.mean(2 * p * (1 - p)) * n / (n - 1)) if n > 1 else 0.0
    return {
        "split": "train",
        "hamming": pairs,
        "within": within,
        "active_fraction": {str(c): float(rates[c].mean()) for c in ctx.classes},
        "dead_units": int(np.sum(active.sum(axis=0) == 0)),
    }


def _layers(ctx: _Ctx, probe_fit: int) -> list[dict[str, Any]]:
    acts, out = ctx.acts, []
    infos = {info.name: info for info in acts.layers}
    probe_acc = dict(zip(ctx.names, parallel_map(
        lambda name: linear_probe_accuracy(acts.train.layers[name], acts.train.y,
                                           acts.test.layers[name], acts.test.y, probe_fit,
                                           ctx.seed),
        list(ctx.names))))
    for name in ctx.names:
        info, sig = infos[name], ctx.sigs.layer(name)
        k = sig.n_clusters
        train_occ = _occupancy(sig.labels["train"], acts.train.y, ctx.classes, k)
        test_occ = _occupancy(sig.labels["test"], acts.test.y, ctx.classes, k)
        probe_occ = _occupancy(sig.labels["probe"], acts.probe.y, ctx.probes, k)
        dominant = [int(ctx.classes[int(np.argmax(train_occ[:, c]))])
                    if train_occ[:, c].sum() > 0 else None for c in range(k)]
        y_test = acts.test.y
        lab_test = sig.labels["test"]
        out.append({
            "index": info.index,
            "name": name,
            "kind": info.kind,
            "width": info.width,
            "linear_probe_accuracy": probe_acc[name],
            "cluster_class_nmi": float(normalized_mutual_info_score(y_test, lab_test))
            if len(y_test) else float("nan"),
            "cluster_class_ari": float(adjusted_rand_score(y_test, lab_test))
            if len(y_test) else float("nan"),
            "purity": purity(lab_test, y_test),
            "n_clusters": k,
            "k_selection": {
                "rule": sig.rule,
                "candidates": list(sig.k_candidates),
                "scores": list(sig.k_scores),
                "subsample": sig.subsample,
                # The best k over the whole range: what a narrower rule passes over.
                "best_k_any": (int(sig.k_candidates[int(np.argmax(sig.k_scores))])
                               if sig.k_scores else None),
            },
            "class_divergence_js": _mean([p["js"] for p in _js_pairs(test_occ, ctx.classes)]),
            "cluster_counts": {str(c): train_occ[i, :k].tolist()
                               for i, c in enumerate(ctx.classes)},
            "noise_counts": {str(c): int(train_occ[i, k]) for i, c in enumerate(ctx.classes)},
            "probe_cluster_counts": {str(c): probe_occ[i, :k].tolist()
                                     for i, c in enumerate(ctx.probes)},
            "cluster_dominant_class": dominant,
            "distance": {
                s: float(np.mean(sig.distance[s])) if len(sig.distance[s]) else None
                for s in ("train", "test", "probe")
            },
            "binary": _binary(ctx, sig),
        })
    return out


def _cka(ctx: _Ctx) -> dict[str, Any]:
    n = len(ctx.acts.test.y)
    rows = _subsample(n, ctx.config.analysis.cka_subsample, ctx.seed, salt=1)
    feats = [ctx.acts.test.layers[name][rows] for name in ctx.names]
    matrix = np.eye(len(feats))
    for i in range(len(feats)):
        for j in range(i + 1, len(feats)):
            matrix[i, j] = matrix[j, i] = linear_cka(feats[i], feats[j]) if len(rows) > 1 else 0.0
    return {"layers": list(ctx.names), "matrix": matrix.tolist(), "subsample": len(rows),
            "split": "test"}


def _separation(ctx: _Ctx, layers: list[dict[str, Any]]) -> dict[str, Any]:
    threshold = ctx.config.analysis.separation_threshold
    values = [layer["linear_probe_accuracy"] for layer in layers]
    first = next((i for i, v in enumerate(values) if v >= threshold), None)
    per_layer = []
    for i, layer in enumerate(layers):
        prev = values[i - 1] if i > 0 else None
        err_prev = (1 - prev) if prev is not None else None
        per_layer.append({
            "layer": layer["name"],
            "index": layer["index"],
            "value": values[i],
            "gain": values[i] - prev if prev is not None else 0.0,
            # share of the previous layer's probe errors this layer removes
            "error_reduction": ((err_prev - (1 - values[i])) / err_prev)
            if err_prev else None,
            "gain_over_input": values[i] - values[0],
            "cluster_class_nmi": layer["cluster_class_nmi"],
        })
    nmi = [layer["cluster_class_nmi"] for layer in layers]
    best_nmi = int(np.nanargmax(nmi)) if not all(math.isnan(v) for v in nmi) else 0
    inner = list(range(1, len(values)))
    largest_gain = max(inner, key=lambda i: values[i] - values[i - 1]) if inner else 0
    return {
        "separation_layer": layers[first]["name"] if first is not None else None,
        "separation_layer_index": layers[first]["index"] if first is not None else None,
        "separation": {
            "metric": "linear_probe_accuracy",
            "split": "test",
            "threshold": threshold,
            "input_already_separates": bool(values[0] >= threshold),
            "input_value": values[0],
            "output_value": values[-1],
            "best_layer": layers[int(np.nanargmax(values))]["name"] if values else None,
            "largest_gain_layer": layers[largest_gain]["name"],
            "per_layer": per_layer,
            "clusters": {
                "metric": "cluster_class_nmi",
                "best_layer": layers[best_nmi]["name"],
                "best_value": nmi[best_nmi],
                "input_value": nmi[0],
            },
        },
    }


def _prefix_share(prefix: np.ndarray, y: np.ndarray, classes: tuple[int, ...]) -> float:
    """Overlap of the classes' path distributions, mean over pairs of classes.

    For classes a and b with path distributions p_a and p_b, the overlap is
    sum over paths of min(p_a, p_b): the share of either class that travels on
    paths the other class uses as much (0 disjoint, 1 identical). A single
    stray sample moves it by at most 1/n.
    """
    if len(y) == 0:
        return float("nan")
    unique, ids = path_ids({"s": prefix})
    counts = _count(ids["s"], y, classes, len(unique)).astype(np.float64)
    totals = counts.sum(axis=0)
    dist = counts / np.where(totals > 0, totals, 1.0)
    overlaps = [float(np.minimum(dist[:, i], dist[:, j]).sum())
                for i in range(len(classes)) for j in range(i + 1, len(classes))
                if totals[i] > 0 and totals[j] > 0]
    return float(np.mean(overlaps)) if overlaps else float("nan")


def _atypical(ctx: _Ctx, paths: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """Test samples of each class that sit on a specific path of another class."""
    acts, cfg = ctx.acts, ctx.config.signatures
    unique, ids = path_ids({"train": paths["train"], "test": paths["test"]})
    train = _count(ids["train"], acts.train.y, ctx.classes, len(unique))
    total = train.sum(axis=1)
    dominant = np.asarray(ctx.classes)[train.argmax(axis=1)]
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(total > 0, train.max(axis=1) / np.maximum(total, 1), 0.0)
    specific = (total >= cfg.min_support) & (share >= cfg.specific_threshold)
    y, pred, t_ids = acts.test.y, acts.test.predicted, ids["test"]
    out = []
    for a in ctx.classes:
        n_a = int(np.sum(y == a))
        for b in ctx.classes:
            if a == b:
                continue
            on = np.flatnonzero((y == a) & specific[t_ids] & (dominant[t_ids] == b))
            out.append({
                "class": a,
                "looks_like": b,
                "count": len(on),
                "fraction": len(on) / n_a if n_a else float("nan"),
                "predicted_as_other": int(np.sum(pred[on] == b)),
                "split": "test",
                "indices": acts.test.index[on[:_INDEX_CAP]].tolist(),
                "indices_truncated": bool(len(on) > _INDEX_CAP),
            })
    return out


def _signatures_differ(ctx: _Ctx, layers: list[dict[str, Any]]) -> dict[str, Any]:
    acts, sigs = ctx.acts, ctx.sigs
    y = acts.test.y
    per_layer = []
    for layer in layers:
        name = layer["name"]
        sig = sigs.layer(name)
        occ = _occupancy(sig.labels["test"], y, ctx.classes, sig.n_clusters)
        if name in ctx.hidden:
            upto = ctx.hidden[: ctx.hidden.index(name) + 1]
            prefix = np.stack([sigs.layer(h).labels["test"] for h in upto], axis=1)
            path_layers = list(upto)
        elif layer["kind"] == "logits":
            prefix, path_layers = sigs.paths["test"], list(sigs.path_layers)
        else:
            prefix, path_layers = sig.labels["test"][:, None], [name]
        pairs = _js_pairs(occ, ctx.classes)
        per_layer.append({
            "layer": name,
            "js": _mean([p["js"] for p in pairs]),
            "js_pairs": pairs,
            "shared_path_share": _prefix_share(prefix, y, ctx.classes),
            "path_layers": path_layers,
        })
    hidden_paths = {s: sigs.paths[s][:, :-1] for s in ("train", "test")}
    return {
        "per_layer": per_layer,
        "shared_path_rule": "overlap of the classes' distributions over the paths up to the "
                            "layer (sum of min(p_a, p_b)), mean over pairs of classes, test split",
        "atypical": _atypical(ctx, sigs.paths),
        "atypical_rule": "test samples on a specific path (from training counts) of another class",
        "atypical_hidden": _atypical(ctx, hidden_paths) if hidden_paths["train"].shape[1] else [],
        "atypical_hidden_rule": "the same on the hidden layers' clusters alone, without the "
                                "predicted class: samples the network routes like another class",
    }


def _paths(ctx: _Ctx) -> dict[str, Any]:
    ps, cfg = ctx.paths, ctx.config.signatures
    total = ps.train.sum(axis=1) + ps.test.sum(axis=1) + ps.probe.sum(axis=1)
    # most used first; ties in path order, so the table is deterministic
    order = np.lexsort(tuple(ps.unique[:, j] for j in range(ps.unique.shape[1] - 1, -1, -1))
                       + (-total,))
    order = order[total[order] > 0][:_TABLE_CAP]
    table = []
    for p in order:
        n_train = int(ps.train[p].sum())
        table.append({
            "path": ps.unique[p].tolist(),
            "counts": {str(c): int(ps.train[p, i]) for i, c in enumerate(ctx.classes)},
            "test_counts": {str(c): int(ps.test[p, i]) for i, c in enumerate(ctx.classes)},
            "probe_counts": {str(c): int(ps.probe[p, i]) for i, c in enumerate(ctx.probes)},
            "total": int(total[p]),
            "support": n_train,
            "purity": float(ps.purity[p]) if n_train else None,
            "dominant_class": int(ps.dominant[p]) if n_train else None,
            "specific": bool(ps.specific[p]),
        })
    ids, y = ps.ids["test"], ctx.acts.test.y
    coverage = {}
    for c in ctx.classes:
        mine = y == c
        on = ps.specific[ids[mine]] & (ps.dominant[ids[mine]] == c)
        coverage[str(c)] = float(on.mean()) if mine.any() else None
    in_train = ps.train.sum(axis=1) > 0
    return {
        "layers": list(ctx.sigs.path_layers),
        "n_distinct_train": int(in_train.sum()),
        "n_distinct_test": int((ps.test.sum(axis=1) > 0).sum()),
        "n_distinct_probe": int((ps.probe.sum(axis=1) > 0).sum()),
        "n_distinct_all": int((total > 0).sum()),
        "specific_threshold": cfg.specific_threshold,
        "min_support": cfg.min_support,
        "n_specific": int(ps.specific.sum()),
        "specific_per_class": {str(c): int(np.sum(ps.specific & (ps.dominant == c)))
                               for c in ctx.classes},
        "path_purity_train": _path_purity(ps),
        "table": table,
        "table_cap": _TABLE_CAP,
        "table_truncated": bool((total > 0).sum() > _TABLE_CAP),
        "coverage": coverage,
    }


def _path_purity(ps: PathStats) -> float:
    """Share of training samples on a path whose majority class is theirs."""
    n = ps.train.sum()
    return float(ps.train.max(axis=1).sum() / n) if n else float("nan")


def _probes(ctx: _Ctx) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    acts, sigs, ps = ctx.acts, ctx.sigs, ctx.paths
    probes, unseen = [], []
    seen = ps.train.sum(axis=1) > 0
    for c in ctx.probes:
        mine = acts.probe.y == c
        n = int(mine.sum())
        if n == 0:
            continue
        predicted = {str(t): float(np.mean(acts.probe.predicted[mine] == t)) for t in ctx.classes}
        ids = ps.ids["probe"][mine]
        novel = float(np.mean(~seen[ids]))
        layers = []
        for name in ctx.names:
            sig = sigs.layer(name)
            lab = sig.labels["probe"][mine]
            train_occ = _occupancy(sig.labels["train"], acts.train.y, ctx.classes, sig.n_clusters)
            clusters = []
            values, counts = np.unique(lab, return_counts=True)
            for v, cnt in sorted(zip(values.tolist(), counts.tolist()), key=lambda t: (-t[1], t[0])):
                dom = None
                if v >= 0 and train_occ[:, v].sum() > 0:
                    dom = int(ctx.classes[int(np.argmax(train_occ[:, v]))])
                clusters.append({"cluster": int(v), "fraction": cnt / n, "dominant_class": dom})
            lands = {str(t): float(sum(cl["fraction"] for cl in clusters
                                       if cl["dominant_class"] == t)) for t in ctx.classes}
            d_probe = float(np.mean(sig.distance["probe"][mine]))
            d_test = float(np.mean(sig.distance["test"])) if len(sig.distance["test"]) else None
            layers.append({
                "layer": name,
                "clusters": clusters,
                "lands_in_class": lands,
                "centroid_distance_mean": d_probe,
                "trained_test_distance_mean": d_test,
                "distance_ratio": d_probe / d_test if d_test else None,
            })
        path_ids_, path_counts = np.unique(ids, return_counts=True)
        order = np.lexsort((path_ids_, -path_counts))
        top = []
        for j in order[:_TOP_PATHS]:
            p = path_ids_[j]
            top.append({
                "path": ps.unique[p].tolist(),
                "count": int(path_counts[j]),
                "fraction": float(path_counts[j] / n),
                "seen_in_training": bool(seen[p]),
                "training_support": int(ps.train[p].sum()),
                "dominant_class": int(ps.dominant[p]) if seen[p] else None,
            })
        borrowed = next((t for t in top if t["seen_in_training"]), None)
        if borrowed is None:
            seen_ids = [j for j in order if seen[path_ids_[j]]]
            if seen_ids:
                p = path_ids_[seen_ids[0]]
                borrowed = {"path": ps.unique[p].tolist(),
                            "fraction": float(path_counts[seen_ids[0]] / n),
                            "dominant_class": int(ps.dominant[p])}
        probes.append({
            "class": c,
            "n_samples": n,
            "novel_path_fraction": novel,
            "predicted": predicted,
            "layers": layers,
            "top_paths": top,
        })
        unseen.append({
            "class": c,
            "predicted_as": predicted,
            "novel_path_fraction": novel,
            "most_borrowed_path": borrowed["path"] if borrowed else None,
            "most_borrowed_path_fraction": borrowed["fraction"] if borrowed else 0.0,
            "most_borrowed_path_dominant_class": borrowed["dominant_class"] if borrowed else None,
        })
    return probes, unseen


# --- novelty scores ------------------------------------------------------------------


def _ood_scores(ctx: _Ctx) -> tuple[list[tuple[str, str, np.ndarray, np.ndarray]],
                                    dict[str, str]]:
    """Every novelty score as (method, layer, test scores, probe scores)."""
    acts, sigs, cfg = ctx.acts, ctx.sigs, ctx.config.analysis
    n_train = len(acts.train.y)
    scores: list[tuple[str, str, np.ndarray, np.ndarray]] = []
    notes: dict[str, str] = {}

    # max softmax probability (baseline)
    def probs(split: SplitActivations) -> np.ndarray:
        if "probs" in split.layers:
            return split.layers["probs"]
        z = split.layers["logits"].astype(np.float64)
        z = np.exp(z - z.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)

    scores.append(("max_softmax", "probs", -probs(acts.test).max(axis=1),
                   -probs(acts.probe).max(axis=1)))

    cal_rows = _subsample(n_train, _N_CALIBRATION, ctx.seed, salt=2)
    spaces = _feature_spaces(ctx, notes)

    # Mahalanobis: class means and one shared covariance per layer (baseline), on the
    # raw activations of hidden layers as in its original formulation
    maha_z = []
    for name in spaces:
        space = spaces[name] if name == "input" else (lambda a: a)
        f_train = space(acts.train.layers[name])
        model = novelty.fit_mahalanobis(f_train, acts.train.y, ctx.classes)
        cal = novelty.fit_calibration(model.score(f_train[cal_rows]))
        s_test = model.score(space(acts.test.layers[name]))
        s_probe = model.score(space(acts.probe.layers[name]))
        scores.append(("mahalanobis", name, s_test, s_probe))
        maha_z.append((cal(s_test), cal(s_probe)))

    # distance to the k-th nearest training sample, per layer (deep nearest neighbours)
    bank_rows = _subsample(n_train, cfg.knn_reference, ctx.seed, salt=3)
    bank_rows = np.random.default_rng([ctx.seed, 0xB4]).permutation(bank_rows)
    k = max(1, min(cfg.knn_k, len(bank_rows) - 1))
    n_cal = min(_N_CALIBRATION, len(bank_rows))

    def knn(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        space = spaces[name]
        bank = space(acts.train.layers[name][bank_rows])
        return (novelty.kth_neighbour_distance(bank, bank[:n_cal], k, queries_in_bank=True),
                novelty.kth_neighbour_distance(bank, space(acts.test.layers[name]), k),
                novelty.kth_neighbour_distance(bank, space(acts.probe.layers[name]), k))

    knn_z = []
    for name, (s_cal, s_test, s_probe) in zip(spaces, parallel_map(knn, list(spaces))):
        cal = novelty.fit_calibration(s_cal)
        scores.append(("knn", name, s_test, s_probe))
        knn_z.append((cal(s_test), cal(s_probe)))
    notes["knn"] = (f"neighbours searched among {len(bank_rows)} of {n_train} training "
                    f"samples{' (seeded)' if len(bank_rows) < n_train else ''}; k = {k}; layer "
                    f"scores standardised on {n_cal} of them (own match excluded)")

    # path distance: per hidden layer, distance to the training centroid of the sample's
    # cluster, standardised by that cluster's own training distances
    path_z = []
    for name in ctx.hidden:
        sig = sigs.layer(name)
        d_train, l_train = sig.distance["train"].astype(np.float64), sig.labels["train"]
        mu = np.full(sig.n_clusters + 1, d_train.mean() if len(d_train) else 0.0)
        sd = np.full(sig.n_clusters + 1, d_train.std() if len(d_train) else 1.0)
        for c in range(sig.n_clusters):
            members = d_train[l_train == c]
            if len(members) > 1:
                mu[c], sd[c] = members.mean(), members.std()
        sd[sd < 1e-12] = 1.0
        z = {split: _cluster_z(sig, split, mu, sd) for split in ("train", "test", "probe")}
        cal = novelty.fit_calibration(z["train"][cal_rows])
        s_test, s_probe = z["test"], z["probe"]
        scores.append(("path_distance", name, s_test, s_probe))
        path_z.append((cal(s_test), cal(s_probe)))

    # combined over layers: mean of the scores standardised on training samples
    for method, parts in (("mahalanobis", maha_z), ("knn", knn_z), ("path_distance", path_z)):
        if parts:
            scores.append((method, "all", np.mean([p[0] for p in parts], axis=0),
                           np.mean([p[1] for p in parts], axis=0)))

    # path rarity: how rare the whole path is in training (-log of its smoothed frequency)
    ps = ctx.paths
    freq = (ps.train.sum(axis=1) + 1.0) / (n_train + 1.0)
    scores.append(("path_rarity", "all", -np.log(freq[ps.ids["test"]]),
                   -np.log(freq[ps.ids["probe"]])))
    return scores, notes


def _cluster_z(sig: LayerSignature, split: str, mu: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """Distance to the nearest centroid, standardised by the sample's cluster (noise last)."""
    lab = np.where(sig.labels[split] < 0, sig.n_clusters, sig.labels[split])
    return (sig.distance[split] - mu[lab]) / sd[lab]


def _feature_spaces(ctx: _Ctx, notes: dict[str, str]) -> dict[str, Any]:
    """Layer name -> map from activations to the space the novelty scores use.

    Hidden layers: L2-normalised activations. The input (layer 0): the first
    principal components of the L2-normalised pixels (PCA fitted on training
    samples), which keeps the distances that matter and is ~10x cheaper.
    """
    acts = ctx.acts
    spaces: dict[str, Any] = {}
    x = acts.train.layers["input"]
    n_comp = min(_INPUT_PCA, x.shape[1], len(x))
    rows = _subsample(len(x), _INPUT_PCA_FIT, ctx.seed, salt=4)
    pca = PCA(n_components=n_comp, svd_solver="randomized",
              random_state=_random_state(ctx.seed)).fit(novelty.l2_normalize(x[rows]))
    spaces["input"] = lambda a: pca.transform(novelty.l2_normalize(a)).astype(np.float32)
    notes["ood_input"] = (f"input layer scored on {n_comp} principal components of the "
                          f"L2-normalised pixels, PCA fitted on {len(rows)} training samples")
    for name in ctx.hidden:
        spaces[name] = novelty.l2_normalize
    return spaces


def _random_state(seed: int) -> int:
    return int(np.random.SeedSequence([seed, 0x0D]).generate_state(1)[0] % (2**31 - 1))


def _ood(ctx: _Ctx) -> tuple[list[dict[str, Any]], dict[str, Any] | None, dict[str, str]]:
    if len(ctx.acts.probe.y) == 0 or len(ctx.acts.test.y) == 0 or not ctx.probes:
        return [], None, {}
    scores, notes = _ood_scores(ctx)
    y_probe = ctx.acts.probe.y
    groups = [(c, y_probe == c) for c in ctx.probes if np.any(y_probe == c)] + \
        [("all", np.ones(len(y_probe), dtype=bool))]
    rows = []
    for target, mask in groups:
        # curves of each of several probe classes are drawn coarser, to keep the file small
        n_points = _ROC_POINTS if target == "all" or len(groups) == 2 else _ROC_POINTS_PER_CLASS
        for method, layer, s_known, s_probe in scores:
            unknown = s_probe[mask]
            fpr, tpr = novelty.roc_points(s_known, unknown, n_points)
            rows.append({
                "probe_class": target,
                "method": method,
                "layer": layer,
                "auroc": novelty.auroc(s_known, unknown),
                "fpr95": novelty.fpr_at_95(s_known, unknown),
                "n_known": len(s_known),
                "n_unknown": len(unknown),
                "signature_based": method in SIGNATURE_OOD_METHODS,
                "roc": {"fpr": [round(float(v), 4) for v in fpr],
                        "tpr": [round(float(v), 4) for v in tpr]},
            })
    everything = [r for r in rows if r["probe_class"] == "all"]

    def pick(rs: list[dict[str, Any]]) -> dict[str, Any] | None:
        rs = [r for r in rs if r["auroc"] == r["auroc"]]
        if not rs:
            return None
        best = max(rs, key=lambda r: (r["auroc"], -r["fpr95"]))
        return {"method": best["method"], "layer": best["layer"], "auroc": best["auroc"],
                "fpr95": best["fpr95"]}

    best_sig = pick([r for r in everything if r["signature_based"]])
    msp = pick([r for r in everything if r["method"] == "max_softmax"])
    primary = pick([r for r in everything if r["method"] == "knn" and r["layer"] == "all"])
    summary = {
        "probe_class": "all",
        "signature_methods": list(SIGNATURE_OOD_METHODS),
        "baseline_methods": list(BASELINE_OOD_METHODS),
        "primary": primary,
        "best_signature": best_sig,
        "best_baseline": pick([r for r in everything if not r["signature_based"]]),
        "max_softmax": msp,
        "best_signature_beats_max_softmax": bool(
            best_sig is not None and msp is not None and best_sig["auroc"] > msp["auroc"]),
        "primary_beats_max_softmax": bool(
            primary is not None and msp is not None and primary["auroc"] > msp["auroc"]),
        "knn_k": ctx.config.analysis.knn_k,
        "layers_combined": {"knn": ["input", *ctx.hidden], "mahalanobis": ["input", *ctx.hidden],
                            "path_distance": list(ctx.hidden), "path_rarity": ["path"]},
        "calibration": f"layer scores combined as the mean of z-scores fitted on "
                       f"{min(_N_CALIBRATION, len(ctx.acts.train.y))} training samples",
    }
    return rows, summary, notes


# --- stability and snapshots ---------------------------------------------------------


def _align(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of a and b holding the same source indices."""
    _, ia, ib = np.intersect1d(a, b, assume_unique=False, return_indices=True)
    return ia, ib


def _specific_members(ctx_acts: Activations, ps: PathStats) -> list[np.ndarray]:
    """Source indices of the test samples on each specific path."""
    ids = ps.ids["test"]
    index = ctx_acts.test.index
    return [np.sort(index[ids == p]) for p in np.flatnonzero(ps.specific)]


def _stability(ctx: _Ctx, other_seeds: list[tuple[int, Activations, Signatures]] | None
               ) -> dict[str, Any] | None:
    if not other_seeds:
        return None
    cfg = ctx.config.signatures
    main_members = [m for m in _specific_members(ctx.acts, ctx.paths) if len(m)]
    layer_aris: dict[str, list[float]] = {name: [] for name in ctx.names}
    per_seed = []
    for seed, acts_o, sigs_o in other_seeds:
        ia, ib = _align(ctx.acts.test.index, acts_o.test.index)
        for name in ctx.names:
            if name in sigs_o.layer_names and len(ia):
                layer_aris[name].append(float(adjusted_rand_score(
                    ctx.sigs.layer(name).labels["test"][ia], sigs_o.layer(name).labels["test"][ib])))
        ps_o = compute_path_stats(acts_o, sigs_o, cfg.specific_threshold, cfg.min_support,
                                  ctx.probes)
        other_members = [m for m in _specific_members(acts_o, ps_o) if len(m)]
        best = []
        for m in main_members:
            jac = [len(np.intersect1d(m, o)) / len(np.union1d(m, o)) for o in other_members]
            best.append(max(jac) if jac else 0.0)
        per_seed.append({
            "seed": int(seed),
            "test_accuracy": _accuracy(acts_o.test),
            "n_specific": int(ps_o.specific.sum()),
            "specific_path_recurrence": float(np.mean([b >= _RECUR_JACCARD for b in best]))
            if best else None,
            "specific_path_jaccard_mean": float(np.mean(best)) if best else None,
        })
    rec = [s["specific_path_recurrence"] for s in per_seed if s["specific_path_recurrence"] is not None]
    return {
        "seeds": [ctx.main_seed] + [int(s) for s, _, _ in other_seeds],
        "split": "test",
        "layers": [{"layer": name,
                    "ari_mean": float(np.mean(v)) if v else None,
                    "ari_min": float(np.min(v)) if v else None} for name, v in layer_aris.items()],
        "specific_path_recurrence": float(np.mean(rec)) if rec else None,
        "recurrence_rule": f"a specific path recurs when some specific path of the other seed "
                           f"has test members with Jaccard overlap >= {_RECUR_JACCARD}",
        "per_seed": per_seed,
    }


def _snapshots(ctx: _Ctx, train: Any,
               snapshots: dict[int, tuple[Activations, Signatures]] | None
               ) -> list[dict[str, Any]]:
    if not snapshots:
        return []
    history = getattr(train, "history", None) or {}
    epochs = [int(e) for e in np.asarray(history.get("epoch", []))]
    test_acc = np.asarray(history.get("test_accuracy", []), dtype=np.float64)
    cfg = ctx.config.signatures
    fit_n = min(ctx.config.analysis.probe_subsample, _SNAPSHOT_PROBE_SUBSAMPLE)
    out = []
    for epoch in sorted(snapshots):
        acts_e, sigs_e = snapshots[epoch]
        if epoch in epochs and epochs.index(epoch) < len(test_acc):
            acc = float(test_acc[epochs.index(epoch)])
        else:
            acc = _accuracy(acts_e.test)
        layers = []
        for name in cluster_layer_names(acts_e):
            lab = sigs_e.layer(name).labels["test"]
            layers.append({
                "name": name,
                "cluster_class_nmi": float(normalized_mutual_info_score(acts_e.test.y, lab))
                if len(lab) else None,
                "linear_probe_accuracy": linear_probe_accuracy(
                    acts_e.train.layers[name], acts_e.train.y, acts_e.test.layers[name],
                    acts_e.test.y, fit_n, ctx.seed),
                "n_clusters": sigs_e.layer(name).n_clusters,
            })
        ps = compute_path_stats(acts_e, sigs_e, cfg.specific_threshold, cfg.min_support,
                                ctx.probes)
        out.append({
            "epoch": int(epoch),
            "test_accuracy": acc,
            "layers": layers,
            "n_distinct_paths": int((ps.train.sum(axis=1) > 0).sum()),
            "path_purity": _path_purity(ps),
            "n_specific": int(ps.specific.sum()),
        })
    return out


# --- rounding and the entry point -------------------------------------------------------


def _plain(value: Any) -> Any:
    """JSON-ready copy: numpy to Python, floats to 6 significant digits, nan/inf to None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        if not math.isfinite(f):
            return None
        f = float(f"{f:.6g}")
        return 0.0 if f == 0 else f
    return value


def compute_metrics(config: Config, dataset: Any, train: Any, acts: Activations,
                    sigs: Signatures,
                    snapshots: dict[int, tuple[Activations, Signatures]] | None = None,
                    other_seeds: list[tuple[int, Activations, Signatures]] | None = None
                    ) -> dict[str, Any]:
    """Every number the report shows, as plain JSON values.

    Parameters
    ----------
    config:
        The resolved experiment config (``analysis`` and ``signatures`` sections used).
    dataset:
        The prepared :class:`~sigreport.data.prepare.Dataset` (name and class names).
    train:
        The :class:`~sigreport.train.TrainResult`; only ``history`` (and ``seed``) are read.
    acts:
        Activations of the train, test and probe splits.
    sigs:
        Signatures fitted on ``acts.train``.
    snapshots:
        epoch -> (Activations, Signatures) of the network at the end of that epoch.
    other_seeds:
        (seed, Activations, Signatures) of networks trained with the other seeds.

    Returns
    -------
    dict
        The metrics layout of ``sigreport/metrics.schema.json``.
    """
    with threadpool_limits(limits=1):
        return _compute_metrics(config, dataset, train, acts, sigs, snapshots, other_seeds)


def _compute_metrics(config: Config, dataset: Any, train: Any, acts: Activations,
                     sigs: Signatures,
                     snapshots: dict[int, tuple[Activations, Signatures]] | None,
                     other_seeds: list[tuple[int, Activations, Signatures]] | None
                     ) -> dict[str, Any]:
    probes = tuple(getattr(dataset, "probe_classes", None) or sorted(set(acts.probe.y.tolist())))
    ctx = _make_ctx(config, acts, sigs, probes, int(getattr(train, "seed", config.seed)))
    n_train = len(acts.train.y)
    probe_fit = config.analysis.probe_subsample
    layers = _layers(ctx, probe_fit)
    probe_rows, unseen = _probes(ctx)
    ood_rows, ood_summary, ood_notes = _ood(ctx)
    answers = _separation(ctx, layers)
    answers["signatures_differ"] = _signatures_differ(ctx, layers)
    answers["unseen"] = unseen
    answers["unseen_detection"] = ood_summary

    subsampling = dict(sigs.subsampling)
    if n_train > probe_fit:
        subsampling["linear_probe"] = (
            f"logistic regressions fitted on {probe_fit} of {n_train} training samples "
            f"(seeded), at most {_PROBE_MAX_ITER} L-BFGS iterations; accuracy on all test samples")
    else:
        subsampling["linear_probe"] = (
            f"logistic regressions fitted on all {n_train} training samples, at most "
            f"{_PROBE_MAX_ITER} L-BFGS iterations; accuracy on all test samples")
    n_test = len(acts.test.y)
    if n_test > config.analysis.cka_subsample:
        subsampling["cka"] = (f"linear CKA on {config.analysis.cka_subsample} of {n_test} "
                              "test samples (seeded)")
    subsampling.update(ood_notes)
    if len(probes) > 1 and ood_rows:
        subsampling["roc"] = (f"ROC curves sampled at {_ROC_POINTS} false-positive rates for all "
                              f"probe classes together, {_ROC_POINTS_PER_CLASS} for each one; "
                              "AUROC and FPR95 are exact")
    if snapshots:
        subsampling["snapshots"] = (
            f"per-epoch linear probes fitted on at most "
            f"{min(probe_fit, _SNAPSHOT_PROBE_SUBSAMPLE)} training samples")

    metrics = {
        "schema_version": SCHEMA_VERSION,
        "experiment": _experiment(config, dataset, train, acts, probes),
        "model": _model(train, acts),
        "layers": layers,
        "cka": _cka(ctx),
        "answers": answers,
        "paths": _paths(ctx),
        "probes": probe_rows,
        "ood": ood_rows,
        "stability": _stability(ctx, other_seeds),
        "snapshots": _snapshots(ctx, train, snapshots),
        "subsampling": subsampling,
    }
    return _plain(metrics)
