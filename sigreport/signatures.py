"""Signatures and paths: per-layer clusterings fitted on the training split.

Every clustered layer (the input, each hidden layer after its activation
function, and the logits) is clustered on the TRAINING activations only; test
and probe samples are then assigned to those training clusters, so a class
the network never saw is described in the terms the network learned.

The number of clusters is chosen by the silhouette score over a range of k,
computed on a seeded subsample of the training split (silhouette is quadratic
in the number of samples). The ``silhouette-max-classes`` rule reproduces the
original study's choice (best silhouette among k <= number of classes).

A sample's path is its cluster id in each hidden layer followed by its
predicted class.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from sklearn.cluster import HDBSCAN, KMeans
from sklearn.metrics import pairwise_distances, silhouette_score
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_limits

from sigreport._threads import parallel_map
from sigreport.activations import SPLITS, Activations
from sigreport.config import SignaturesConfig

__all__ = [
    "LayerSignature",
    "Signatures",
    "cluster_layer_names",
    "fit_signatures",
    "nearest_centroid",
    "path_ids",
]

# Chunk size (rows) for distance computations, to bound memory.
_CHUNK = 8192
# Restarts of each candidate clustering on the subsample.
_N_INIT = 2


@dataclass(frozen=True)
class LayerSignature:
    """The clustering of one layer, fitted on train and applied to every split.

    Attributes
    ----------
    layer:
        Layer name: "input", "hidden1", ..., "logits".
    n_clusters:
        Number of clusters (HDBSCAN: clusters found, noise excluded).
    k_candidates, k_scores:
        The k tried by the selection rule and their silhouette scores
        (empty when k is fixed or chosen by HDBSCAN).
    labels:
        split -> int64 (n_samples,) cluster id; -1 is HDBSCAN noise.
    distance:
        split -> float32 (n_samples,) Euclidean distance to the nearest
        training centroid, in the clustering space.
    centroids:
        float32 (n_clusters, width), in the clustering space.
    active:
        split -> bool (n_samples, width), which units are active (the
        pre-activation is > 0, i.e. a ReLU output is > 0); hidden layers only.
    rule:
        How k was chosen: "silhouette", "silhouette-max-classes", "fixed" or
        "hdbscan".
    subsample:
        Number of training samples the k selection (and, for agglomerative
        and HDBSCAN, the clustering itself) was computed on.
    offset, scale:
        float32 (width,): the clustering space is ``(x - offset) / scale``
        (zeros and ones when ``standardize`` is off).
    """

    layer: str
    n_clusters: int
    k_candidates: tuple[int, ...]
    k_scores: tuple[float, ...]
    labels: dict[str, np.ndarray]
    distance: dict[str, np.ndarray]
    centroids: np.ndarray
    active: dict[str, np.ndarray] | None
    rule: str = "silhouette"
    subsample: int = 0
    offset: np.ndarray | None = None
    scale: np.ndarray | None = None

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Map float32 activations (n_samples, width) into the clustering space."""
        if self.offset is None or self.scale is None:
            return np.asarray(x, dtype=np.float32)
        return ((x - self.offset) / self.scale).astype(np.float32)


@dataclass(frozen=True)
class Signatures:
    """Per-layer clusterings and the paths they define.

    Attributes
    ----------
    layers:
        One :class:`LayerSignature` per clustered layer: input, each hidden
        layer (post-activation), logits.
    path_layers:
        ("hidden1", ..., "hiddenN", "prediction").
    paths:
        split -> int64 (n_samples, n_hidden + 1): cluster id per hidden layer,
        then the predicted ORIGINAL class id.
    method:
        The clustering method ("kmeans", "gmm", "agglomerative", "hdbscan").
    standardize:
        Whether each layer was standardised (on training statistics).
    subsampling:
        What was computed on a subsample, in words (for the metrics).
    """

    layers: tuple[LayerSignature, ...]
    path_layers: tuple[str, ...]
    paths: dict[str, np.ndarray]
    method: str = "kmeans"
    standardize: bool = False
    subsampling: dict[str, str] = field(default_factory=dict)

    def layer(self, name: str) -> LayerSignature:
        """The signature of the layer called ``name``."""
        for sig in self.layers:
            if sig.layer == name:
                return sig
        raise KeyError(name)

    @property
    def layer_names(self) -> tuple[str, ...]:
        return tuple(sig.layer for sig in self.layers)


def cluster_layer_names(acts: Activations) -> tuple[str, ...]:
    """The layers that get clustered: input, hidden (post-activation), logits."""
    return tuple(info.name for info in acts.layers if info.kind in ("input", "post", "logits"))


def nearest_centroid(x: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centroid of every row.

    Parameters
    ----------
    x:
        float (n_samples, width).
    centroids:
        float (n_clusters, width), n_clusters >= 1.

    Returns
    -------
    labels:
        int64 (n_samples,), index of the nearest centroid.
    distance:
        float32 (n_samples,), Euclidean distance to it.
    """
    c = np.asarray(centroids, dtype=np.float64)
    c_sq = np.einsum("ij,ij->i", c, c)
    labels = np.empty(len(x), dtype=np.int64)
    dist = np.empty(len(x), dtype=np.float32)
    for start in range(0, len(x), _CHUNK):
        block = np.asarray(x[start:start + _CHUNK], dtype=np.float64)
        d2 = np.einsum("ij,ij->i", block, block)[:, None] - 2.0 * block @ c.T + c_sq[None, :]
        best = np.argmin(d2, axis=1)
        labels[start:start + len(block)] = best
        dist[start:start + len(block)] = np.sqrt(np.maximum(d2[np.arange(len(block)), best], 0.0))
    return labels, dist


def path_ids(paths: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Number the distinct paths consistently across splits.

    Parameters
    ----------
    paths:
        split -> int64 (n_samples, n_path_layers).

    Returns
    -------
    unique:
        int64 (n_distinct, n_path_layers), the distinct paths (sorted).
    ids:
        split -> int64 (n_samples,), row of ``unique`` each sample's path is.
    """
    names = list(paths)
    stacked = np.concatenate([paths[s] for s in names], axis=0)
    if len(stacked) == 0:
        width = next(iter(paths.values())).shape[1] if paths else 0
        return np.zeros((0, width), dtype=np.int64), {s: np.zeros(0, np.int64) for s in names}
    unique, inverse = np.unique(stacked, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    ids, start = {}, 0
    for s in names:
        ids[s] = inverse[start:start + len(paths[s])].astype(np.int64)
        start += len(paths[s])
    return unique.astype(np.int64), ids


# --- clustering methods ------------------------------------------------------


@dataclass
class _Fit:
    """A clustering of the training split, before it is applied to every split."""

    centroids: np.ndarray                   # (n_clusters, width) float64
    assign: Any                             # callable(z) -> int64 labels
    n_clusters: int


def _random_state(seed: int, layer_index: int) -> int:
    return int(np.random.SeedSequence([seed, layer_index]).generate_state(1)[0] % (2**31 - 1))


def _silhouette(dist: np.ndarray, labels: np.ndarray) -> float:
    n_labels = len(np.unique(labels))
    if n_labels < 2 or n_labels >= len(labels):
        return -1.0
    return float(silhouette_score(dist, labels, metric="precomputed"))


def _candidates(cfg: SignaturesConfig, n_sub: int) -> tuple[int, ...]:
    # Every rule scores the whole range, so a report can show what a narrower rule hides.
    return tuple(range(2, min(cfg.k_max, n_sub - 1) + 1))


def _best(cands: tuple[int, ...], scores: tuple[float, ...], cfg: SignaturesConfig,
          n_classes: int) -> int:
    """Position in ``cands`` of the k the rule picks: the best silhouette among those allowed."""
    allowed = [i for i, c in enumerate(cands)
               if cfg.k_rule == "silhouette" or c <= max(n_classes, 2)]
    return max(allowed, key=lambda i: scores[i])


def _fit_kmeans(z: np.ndarray, sub: np.ndarray, cfg: SignaturesConfig, n_classes: int,
                rs: int, dist_sub: np.ndarray | None) -> tuple[_Fit, tuple, tuple, str]:
    zs = z[sub]
    if cfg.k is not None:
        cands: tuple[int, ...] = ()
        scores: tuple[float, ...] = ()
        k, rule = min(cfg.k, len(z)), "fixed"
        init = KMeans(n_clusters=min(k, len(zs)), n_init=_N_INIT,
                      random_state=rs).fit(zs).cluster_centers_
    else:
        cands = _candidates(cfg, len(zs))
        rule = cfg.k_rule
        if not cands:
            cands, scores, k = (), (), 1
            init = zs.mean(axis=0, keepdims=True)
        else:
            fits = [KMeans(n_clusters=c, n_init=_N_INIT, random_state=rs).fit(zs) for c in cands]
            scores = tuple(_silhouette(dist_sub, f.labels_) for f in fits)
            best = _best(cands, scores, cfg, n_classes)
            k, init = cands[best], fits[best].cluster_centers_
    if len(init) < k:
        init = KMeans(n_clusters=k, n_init=1, random_state=rs).fit(z).cluster_centers_
    # The full fit starts from the subsample's solution: a few Lloyd steps instead of
    # several random restarts on the whole split.
    model = KMeans(n_clusters=k, init=init, n_init=1, random_state=rs).fit(z)
    centroids = model.cluster_centers_.astype(np.float64)
    return (_Fit(centroids, lambda x: nearest_centroid(x, centroids)[0], k), cands, scores, rule)


def _fit_gmm(z: np.ndarray, sub: np.ndarray, cfg: SignaturesConfig, n_classes: int,
             rs: int, dist_sub: np.ndarray | None) -> tuple[_Fit, tuple, tuple, str]:
    zs = z[sub]

    def gmm(c: int, **init: Any) -> GaussianMixture:
        # Diagonal covariances: full ones are singular for dead units and costly for wide layers.
        return GaussianMixture(n_components=c, covariance_type="diag", reg_covar=1e-4,
                               random_state=rs, max_iter=100, **init)

    if cfg.k is not None:
        cands, scores, k, rule = (), (), min(cfg.k, len(zs)), "fixed"
        best_fit = gmm(k).fit(zs)
    else:
        cands = _candidates(cfg, len(zs))
        rule = cfg.k_rule
        if not cands:
            centroids = zs.mean(axis=0, keepdims=True).astype(np.float64)
            return (_Fit(centroids, lambda x: np.zeros(len(x), np.int64), 1), (), (), rule)
        fits = [gmm(c).fit(zs) for c in cands]
        scores = tuple(_silhouette(dist_sub, f.predict(zs)) for f in fits)
        best = _best(cands, scores, cfg, n_classes)
        k, best_fit = cands[best], fits[best]
    model = gmm(k, means_init=best_fit.means_, weights_init=best_fit.weights_).fit(z)
    return (_Fit(model.means_.astype(np.float64), lambda x: model.predict(x).astype(np.int64), k),
            cands, scores, rule)


def _fit_agglomerative(z: np.ndarray, sub: np.ndarray, cfg: SignaturesConfig, n_classes: int,
                       rs: int, dist_sub: np.ndarray | None) -> tuple[_Fit, tuple, tuple, str]:
    # Ward's tree is quadratic in memory: it is built once on the subsample and cut at
    # every candidate k; all samples (train included) then go to the nearest centroid.
    zs = z[sub].astype(np.float64)
    tree = linkage(zs, method="ward")

    def cut(c: int) -> np.ndarray:
        return fcluster(tree, t=c, criterion="maxclust").astype(np.int64) - 1

    if cfg.k is not None:
        cands, scores, k, rule = (), (), min(cfg.k, len(zs)), "fixed"
    else:
        cands = _candidates(cfg, len(zs))
        rule = cfg.k_rule
        if not cands:
            cands, scores, k = (), (), 1
        else:
            scores = tuple(_silhouette(dist_sub, cut(c)) for c in cands)
            k = cands[_best(cands, scores, cfg, n_classes)]
    labels = cut(k) if k > 1 else np.zeros(len(zs), np.int64)
    present = np.unique(labels)
    centroids = np.stack([zs[labels == c].mean(axis=0) for c in present])
    return (_Fit(centroids, lambda x: nearest_centroid(x, centroids)[0], len(present)),
            cands, scores, rule)


def _fit_hdbscan(z: np.ndarray, sub: np.ndarray, cfg: SignaturesConfig, n_classes: int,
                 rs: int, dist_sub: np.ndarray | None) -> tuple[_Fit, tuple, tuple, str]:
    # HDBSCAN runs on the subsample. Every sample then joins the cluster of its nearest
    # clustered subsample point if it lies within that cluster's reach (the largest core
    # distance among its members: the sparsest density HDBSCAN accepted there), else it
    # is noise (-1).
    zs = z[sub].astype(np.float64)
    min_size = max(10, len(zs) // 50)
    min_samples = min(10, len(zs) - 1)
    model = HDBSCAN(min_cluster_size=min_size, min_samples=min_samples, copy=True).fit(zs)
    labels = model.labels_.astype(np.int64)
    members = np.flatnonzero(labels >= 0)
    if len(members) == 0:
        centroids = zs.mean(axis=0, keepdims=True)
        return (_Fit(centroids, lambda x: np.zeros(len(x), np.int64), 1), (), (), "hdbscan")
    _, labels_m = np.unique(labels[members], return_inverse=True)
    n_clusters = int(labels_m.max()) + 1
    pts = zs[members]
    centroids = np.stack([pts[labels_m == c].mean(axis=0) for c in range(n_clusters)])
    d_sub = pairwise_distances(zs[members], zs)
    # column 0 is the point itself
    core = np.sort(d_sub, axis=1)[:, min(min_samples, d_sub.shape[1] - 1)]
    member_label = labels_m.astype(np.int64)
    reach = np.array([core[member_label == c].max() for c in range(n_clusters)])

    def assign(x: np.ndarray) -> np.ndarray:
        nearest, dist = nearest_centroid(x, pts)
        out = member_label[nearest].copy()
        out[dist > reach[out] * (1 + 1e-6) + 1e-12] = -1
        return out

    return _Fit(centroids, assign, n_clusters), (), (), "hdbscan"


_METHODS = {
    "kmeans": _fit_kmeans,
    "gmm": _fit_gmm,
    "agglomerative": _fit_agglomerative,
    "hdbscan": _fit_hdbscan,
}


def _standardizer(x_train: np.ndarray, on: bool) -> tuple[np.ndarray, np.ndarray]:
    width = x_train.shape[1]
    if not on:
        return np.zeros(width, np.float32), np.ones(width, np.float32)
    mean = x_train.mean(axis=0, dtype=np.float64)
    std = x_train.std(axis=0, dtype=np.float64)
    std[std < 1e-8] = 1.0  # constant units (dead ReLUs, border pixels) stay put
    return mean.astype(np.float32), std.astype(np.float32)


def _fit_layer(acts: Activations, name: str, layer_index: int, cfg: SignaturesConfig,
               sub: np.ndarray, seed: int, binary: bool) -> LayerSignature:
    offset, scale = _standardizer(acts.train.layers[name], cfg.standardize)

    def space(split: str) -> np.ndarray:
        x = acts.split(split).layers[name]
        return x if not cfg.standardize else (x - offset) / scale

    z_train = space("train")
    needs_sil = cfg.k is None and cfg.method != "hdbscan"
    dist_sub = pairwise_distances(z_train[sub].astype(np.float64)) if needs_sil else None
    fit, cands, scores, rule = _METHODS[cfg.method](
        z_train, sub, cfg, len(acts.classes), _random_state(seed, layer_index), dist_sub
    )
    labels, distance, active = {}, {}, {} if binary else None
    for split in SPLITS:
        z = z_train if split == "train" else space(split)
        if len(z) == 0:
            labels[split] = np.zeros(0, np.int64)
            distance[split] = np.zeros(0, np.float32)
        else:
            labels[split] = np.asarray(fit.assign(z), dtype=np.int64)
            distance[split] = nearest_centroid(z, fit.centroids)[1]
        if active is not None:
            layers = acts.split(split).layers
            pre = layers.get(f"{name}.pre")
            active[split] = (pre > 0) if pre is not None else (layers[name] > 0)
    return LayerSignature(
        layer=name,
        n_clusters=int(fit.n_clusters),
        k_candidates=tuple(int(c) for c in cands),
        k_scores=tuple(float(s) for s in scores),
        labels=labels,
        distance=distance,
        centroids=fit.centroids.astype(np.float32),
        active=active,
        rule=rule,
        subsample=len(sub),
        offset=offset,
        scale=scale,
    )


def fit_signatures(acts: Activations, cfg: SignaturesConfig, seed: int) -> Signatures:
    """Cluster every layer on the training split and assign every split to the clusters.

    Parameters
    ----------
    acts:
        Recorded activations; only ``acts.train`` is used to fit anything.
    cfg:
        ``signatures`` section of the config: method, k or k rule, standardisation,
        subsample size for the k selection.
    seed:
        Seeds the subsample and the clustering algorithms.

    Returns
    -------
    Signatures
        One :class:`LayerSignature` per clustered layer (input, hidden, logits),
        and the paths (hidden cluster ids then predicted class) of every split.
    """
    with threadpool_limits(limits=1):
        return _fit_signatures(acts, cfg, seed)


def _fit_signatures(acts: Activations, cfg: SignaturesConfig, seed: int) -> Signatures:
    n_train = len(acts.train.y)
    rng = np.random.default_rng([seed, 0x5C])
    n_sub = min(cfg.subsample, n_train)
    sub = np.sort(rng.choice(n_train, size=n_sub, replace=False)) if n_sub < n_train \
        else np.arange(n_train)
    kinds = {info.name: info for info in acts.layers}
    sigs = tuple(parallel_map(
        lambda name: _fit_layer(acts, name, kinds[name].index, cfg, sub, seed,
                                kinds[name].kind == "post"),
        list(cluster_layer_names(acts))))
    hidden = acts.hidden
    by_name = {s.layer: s for s in sigs}
    paths = {}
    for split in SPLITS:
        cols = [by_name[h].labels[split] for h in hidden] + [acts.split(split).predicted]
        paths[split] = np.stack(cols, axis=1).astype(np.int64) if cols else np.zeros((0, 0))
    subsampling = {}
    if cfg.k is None and cfg.method != "hdbscan":
        subsampling["k_selection"] = (
            f"silhouette computed on {n_sub} of {n_train} training samples (seeded)"
        )
    if cfg.method in ("agglomerative", "hdbscan") and n_sub < n_train:
        subsampling["clustering"] = (
            f"{cfg.method} fitted on {n_sub} of {n_train} training samples (seeded); "
            "the rest assigned to the fitted clusters"
        )
    return Signatures(
        layers=sigs,
        path_layers=tuple(hidden) + ("prediction",),
        paths=paths,
        method=cfg.method,
        standardize=cfg.standardize,
        subsampling=subsampling,
    )
