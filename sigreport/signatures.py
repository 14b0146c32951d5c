"""Signatures and paths: per-layer clusterings with boundaries, fitted on the training split.

Every clustered layer (the input, each hidden layer after its activation
function, and the logits) is clustered on the TRAINING activations only
(``fit_on = "train+probe"`` adds the probe split's, as the original study did;
the probe is then no longer unseen by the clusters and their regions). Each
cluster then gets an acceptance region calibrated on its training members
alone: a Gaussian with shrunk covariance (scikit-learn's OAS) around the
members, and the region is where the squared Mahalanobis distance to it is at
most its ``boundary_quantile`` among the members. A sample is assigned to its
cluster when it lies inside that cluster's region, else to the region it lies
deepest inside, else to none: it is *unassigned* in that layer (id -1). That is
how a signature says "the network has not seen anything like this here".
HDBSCAN's noise points are checked against the regions like every other sample.

For layers wider than ``BOUNDARY_DIM`` units (the input's 784 pixels), the
regions live in the layer's first ``BOUNDARY_DIM`` principal components
(fitted on training samples); the clusters themselves always use the whole layer.

The number of clusters is chosen by the silhouette score over a range of k,
computed on a seeded subsample of the training split (silhouette is quadratic
in the number of samples). The ``silhouette-max-classes`` rule keeps the best
silhouette among k <= number of classes. ``k_min = 1`` makes a single cluster a
candidate scored 0 (silhouette is undefined for it), the original study's rule.

A sample's path is its cluster id (or -1) in each hidden layer. The predicted
class is kept beside the path, never in it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from sklearn.cluster import HDBSCAN, KMeans
from sklearn.covariance import OAS
from sklearn.metrics import pairwise_distances, pairwise_distances_argmin_min
from sklearn.mixture import GaussianMixture

from sigreport._threads import parallel_map, single_threaded, worker_pool
from sigreport.activations import SPLITS, Activations
from sigreport.config import SignaturesConfig
from sigreport.sampling import seeded_subset

__all__ = [
    "BOUNDARY_DIM",
    "UNASSIGNED",
    "Assignment",
    "Boundary",
    "LayerSignature",
    "Signatures",
    "cluster_layer_names",
    "fit_boundary",
    "fit_signatures",
    "fit_signatures_with_epochs",
    "nearest_centroid",
    "path_ids",
    "region_thresholds",
    "silhouettes",
    "unassigned_at",
]

UNASSIGNED = -1
# Widest space the acceptance regions are fitted in (principal components beyond it).
BOUNDARY_DIM = 128
# Training rows the principal axes of a wide layer's regions are computed from.
_AXES_ROWS = 3000
# Clusters with fewer training members than this borrow the layer's pooled covariance.
_MIN_MEMBERS = 10
# Rows per block of distance computations, to bound memory.
_CHUNK = 8192


def nearest_centroid(x: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centroid of every row: int64 (n_samples,) index and float32 (n_samples,) distance.

    Parameters
    ----------
    x:
        float (n_samples, width).
    centroids:
        float (n_clusters, width), n_clusters >= 1.
    """
    labels = np.zeros(len(x), np.int64)
    dist = np.zeros(len(x), np.float32)
    c = np.asarray(centroids, dtype=np.float64)
    for i in range(0, len(x), _CHUNK):   # blocks: a wide layer is never copied whole
        labels[i:i + _CHUNK], dist[i:i + _CHUNK] = pairwise_distances_argmin_min(
            np.asarray(x[i:i + _CHUNK], dtype=np.float64), c)
    return labels, dist


# --- acceptance regions ----------------------------------------------------------


@dataclass(frozen=True)
class Boundary:
    """The acceptance regions of one layer's clusters.

    Attributes
    ----------
    offset:
        float64 (width,), subtracted before ``basis``.
    basis:
        float64 (width, dim): the principal axes the regions live in, or None
        when they live in the clustering space itself.
    means:
        float64 (n_clusters, dim), each cluster's training mean.
    whiten:
        float64 (n_clusters, dim, dim); ``whiten[c] @ whiten[c].T`` is the
        precision matrix of cluster c.
    threshold:
        float64 (n_clusters,): squared Mahalanobis distances up to it are inside
        (infinite for a cluster without training members, which has no region).
    quantile:
        Share of each cluster's training members its region holds.
    """

    offset: np.ndarray
    basis: np.ndarray | None
    means: np.ndarray
    whiten: np.ndarray
    threshold: np.ndarray
    quantile: float

    def _space(self, z: np.ndarray) -> np.ndarray:
        return _project(z, self.offset, self.basis)

    def sq_distances(self, z: np.ndarray) -> np.ndarray:
        """float64 (n_samples, n_clusters): squared Mahalanobis distance to each region's
        centre. ``z`` is float (n_samples, width) in clustering space."""
        return _sq_to_regions(z, self.means, self.whiten, self._space)

    def over_threshold(self, sq: np.ndarray) -> np.ndarray:
        """Squared distances (n_samples, n_clusters) over each region's threshold: at most 1
        means inside."""
        # a cluster without training members has no region: nothing is inside it
        with np.errstate(invalid="ignore"):
            return np.where(np.isfinite(self.threshold)[None, :],
                            sq / self.threshold[None, :], np.inf)

    def ratios(self, z: np.ndarray) -> np.ndarray:
        """float64 (n_samples, n_clusters): squared distance to each region's centre over its
        threshold; at most 1 means inside. ``z`` is float (n_samples, width) in clustering space."""
        return self.over_threshold(self.sq_distances(z))


def _sq_to_regions(z: np.ndarray, means: np.ndarray, whiten: np.ndarray,
                   to_space: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """float64 (n, n_clusters): squared Mahalanobis distances of the rows of ``z`` to every
    region, block by block: each block is taken into the regions' space by ``to_space``,
    then whitened for every region in one product, (x - m) W = xW - mW."""
    n_clusters, dim = means.shape
    stacked = whiten.transpose(1, 0, 2).reshape(dim, n_clusters * dim)
    shift = np.einsum("cd,cde->ce", means, whiten).reshape(-1)
    step = max(1, _CHUNK // max(n_clusters, 1))   # the product's block stays _CHUNK x dim
    out = np.empty((len(z), n_clusters), dtype=np.float64)
    for start in range(0, len(z), step):
        w = to_space(z[start:start + step]) @ stacked
        w -= shift
        w *= w
        out[start:start + len(w)] = w.reshape(len(w), n_clusters, dim).sum(axis=2)
    return out


def _project(z: np.ndarray, offset: np.ndarray, basis: np.ndarray | None) -> np.ndarray:
    """float64 rows ``(z - offset)``, on the principal axes ``basis`` when given."""
    # float32 rows minus the float64 offset: converted and subtracted in one pass
    x = np.subtract(z, offset, dtype=np.float64)
    return x if basis is None else x @ basis


def _whitener(cov: np.ndarray) -> np.ndarray:
    evals, evecs = np.linalg.eigh(cov)
    # directions that never vary in training get a finite (large) weight
    evals = np.maximum(evals, evals.max() * 1e-9 + 1e-12)
    return evecs / np.sqrt(evals)[None, :]


def _region_space(z: np.ndarray, offset: np.ndarray, basis: np.ndarray | None) -> np.ndarray:
    """float64 rows of ``z`` in the regions' space, block by block, so that a wide layer is
    never copied whole in float64."""
    if not len(z):
        return np.zeros((0, z.shape[1] if basis is None else basis.shape[1]))
    return np.concatenate([_project(z[i:i + _CHUNK], offset, basis)
                           for i in range(0, len(z), _CHUNK)])


def _thresholds(sq: np.ndarray, labels: np.ndarray, quantile: float) -> np.ndarray:
    """float64 (n_clusters,): each region's threshold, the ``quantile`` of its members' squared
    distances ``sq`` (n_samples, n_clusters); infinite for a cluster without members."""
    threshold = np.full(sq.shape[1], np.inf)
    for c in range(sq.shape[1]):
        if np.any(labels == c):
            threshold[c] = max(float(np.quantile(sq[labels == c, c], quantile)), 1e-12)
    return threshold


def fit_boundary(z: np.ndarray, labels: np.ndarray, n_clusters: int, quantile: float,
                 seed: int) -> Boundary:
    """Calibrate one acceptance region per cluster on its training members.

    Parameters
    ----------
    z:
        float (n_samples, width), training activations in the clustering space.
    labels:
        int64 (n_samples,), their clusters (-1: HDBSCAN noise, used by no region).
    n_clusters:
        Number of clusters; every one gets a region (a cluster without members
        gets an empty one).
    quantile:
        Share of each cluster's members its region holds, in (0, 1).
    seed:
        Seeds the rows the principal axes of a layer wider than ``BOUNDARY_DIM`` come from.
    """
    return _fit_boundary(z, labels, n_clusters, quantile, seed)[0]


def _fit_boundary(z: np.ndarray, labels: np.ndarray, n_clusters: int, quantile: float,
                  seed: int) -> tuple[Boundary, np.ndarray]:
    """:func:`fit_boundary`'s regions, and float64 (n_samples, n_clusters): the squared
    distances of the rows of ``z`` to every region, which the thresholds come from."""
    width = z.shape[1]
    offset = z.mean(axis=0, dtype=np.float64) if len(z) else np.zeros(width)
    basis = None
    if width > BOUNDARY_DIM and len(z) > BOUNDARY_DIM:
        # principal axes from the covariance's eigenvectors: one product and one
        # eigendecomposition of a width x width matrix, exact and fast for these widths
        sample = z[seeded_subset(len(z), _AXES_ROWS, seed, salt=0xB0)] - offset
        _, evecs = np.linalg.eigh(sample.T @ sample)
        basis = evecs[:, ::-1][:, :BOUNDARY_DIM]
    x = _region_space(z, offset, basis)
    dim = x.shape[1]
    means = np.zeros((n_clusters, dim))
    for c in range(n_clusters):
        if np.any(labels == c):
            means[c] = x[labels == c].mean(axis=0)
    member = labels >= 0
    pooled = (OAS(assume_centered=True).fit(x[member] - means[labels[member]]).covariance_
              if member.sum() > 1 else np.eye(dim))
    whiten = np.empty((n_clusters, dim, dim))
    for c in range(n_clusters):
        pts = x[labels == c]
        cov = OAS().fit(pts).covariance_ if len(pts) >= _MIN_MEMBERS else pooled
        whiten[c] = _whitener(cov)
    # The members' distances come from the same arithmetic that assigns every sample later
    # (Boundary.sq_distances): a member at the quantile is exactly on its region's edge, inside.
    sq = _sq_to_regions(x, means, whiten, lambda block: block)
    threshold = _thresholds(sq, labels, quantile)
    return Boundary(offset=offset, basis=basis, means=means, whiten=whiten,
                    threshold=threshold, quantile=quantile), sq


# --- one layer ------------------------------------------------------------------------


@dataclass(frozen=True)
class Assignment:
    """Where the samples of one split fall in one layer.

    ``labels`` int64 (n_samples,): cluster id, -1 when outside every region;
    ``distance`` float32 (n_samples,): Euclidean distance (clustering space) to
    the centre of the assigned cluster, or of the nearest one when unassigned;
    ``ratio`` float32 (n_samples,): the smallest squared-distance-over-threshold
    over the regions (<= 1 inside some region).
    """

    labels: np.ndarray
    distance: np.ndarray
    ratio: np.ndarray


@dataclass(frozen=True)
class LayerSignature:
    """The clustering of one layer with its regions, fitted on train and applied to every split.

    Attributes
    ----------
    layer:
        Layer name: "input", "hidden1", ..., "logits".
    n_clusters:
        Number of clusters (HDBSCAN: clusters found).
    k_candidates, k_scores:
        The k tried by the selection rule and their silhouette scores
        (empty when k is fixed or chosen by HDBSCAN).
    labels, distance, ratio:
        split -> the :class:`Assignment` arrays of that split.
    centroids:
        float32 (n_clusters, width), in the clustering space.
    boundary:
        The clusters' acceptance regions.
    active:
        split -> bool (n_samples, width), which units are active (the
        pre-activation is > 0, i.e. a ReLU output is > 0); hidden layers only.
    rule:
        How k was chosen: "silhouette", "silhouette-max-classes", "fixed" or "hdbscan".
    subsample:
        Number of training samples the k selection (and, for agglomerative
        and HDBSCAN, the clustering itself) was computed on.
    offset, scale:
        float32 (width,): the clustering space is ``(x - offset) / scale``.
    """

    layer: str
    n_clusters: int
    k_candidates: tuple[int, ...]
    k_scores: tuple[float, ...]
    labels: dict[str, np.ndarray]
    distance: dict[str, np.ndarray]
    ratio: dict[str, np.ndarray]
    centroids: np.ndarray
    boundary: Boundary
    active: dict[str, np.ndarray] | None
    rule: str
    subsample: int
    offset: np.ndarray
    scale: np.ndarray
    base_assign: Callable[[np.ndarray], np.ndarray] = field(repr=False, compare=False)

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Map float32 activations (n_samples, width) into the clustering space."""
        return ((np.asarray(x, dtype=np.float32) - self.offset) / self.scale).astype(np.float32)

    def unassigned_rate(self, split: str) -> float:
        """Share of the split's samples outside every region (nan for an empty split)."""
        lab = self.labels[split]
        return float(np.mean(lab == UNASSIGNED)) if len(lab) else float("nan")

    def assign(self, x: np.ndarray) -> Assignment:
        """Assign new activations float (n_samples, width) of this layer to its clusters."""
        return _assign(self.transform(x), self.base_assign, self.boundary, self.centroids)


def _assign(z: np.ndarray, base_assign: Callable[[np.ndarray], np.ndarray], boundary: Boundary,
            centroids: np.ndarray, sq: np.ndarray | None = None) -> Assignment:
    """``sq``: ``boundary.sq_distances(z)`` when already computed (the fitted rows)."""
    if len(z) == 0:
        return Assignment(np.zeros(0, np.int64), np.zeros(0, np.float32), np.zeros(0, np.float32))
    base = np.asarray(base_assign(z), dtype=np.int64)
    ratios = boundary.over_threshold(boundary.sq_distances(z) if sq is None else sq)
    rows = np.arange(len(z))
    own_inside = (base >= 0) & (ratios[rows, np.maximum(base, 0)] <= 1.0)
    best = ratios.argmin(axis=1)
    best_ratio = ratios[rows, best]
    labels = np.where(own_inside, base, np.where(best_ratio <= 1.0, best, UNASSIGNED))
    nearest, dist_nearest = nearest_centroid(z, centroids)
    c = np.asarray(centroids, dtype=np.float64)
    centre = np.where(labels >= 0, labels, nearest)
    own = np.concatenate([np.linalg.norm(np.subtract(z[i:i + _CHUNK], c[centre[i:i + _CHUNK]],
                                                     dtype=np.float64), axis=1)
                          for i in range(0, len(z), _CHUNK)])
    distance = np.where(labels >= 0, own, dist_nearest)
    return Assignment(labels.astype(np.int64), distance.astype(np.float32),
                      best_ratio.astype(np.float32))


@dataclass(frozen=True)
class Signatures:
    """Per-layer clusterings with regions, and the paths they define.

    Attributes
    ----------
    layers:
        One :class:`LayerSignature` per clustered layer: input, each hidden
        layer (post-activation), logits.
    path_layers:
        ("hidden1", ..., "hiddenN"): the layers a path runs over.
    paths:
        split -> int64 (n_samples, n_hidden): cluster id per hidden layer, -1
        where the sample is unassigned.
    method:
        The clustering method ("kmeans", "gmm", "agglomerative", "hdbscan").
    standardize:
        Whether each layer was standardised (on training statistics).
    boundary_quantile:
        Share of each cluster's training members its region holds.
    subsampling:
        What was computed on a subsample, in words (for the metrics).
    """

    layers: tuple[LayerSignature, ...]
    path_layers: tuple[str, ...]
    paths: dict[str, np.ndarray]
    method: str
    standardize: bool
    boundary_quantile: float
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

    def paths_of(self, layers: Mapping[str, np.ndarray]) -> np.ndarray:
        """int64 (n_samples, n_hidden): the paths of new activations (layer name -> array)."""
        cols = [self.layer(h).assign(layers[h]).labels for h in self.path_layers]
        n = len(next(iter(layers.values()))) if layers else 0
        return np.stack(cols, axis=1) if cols else np.zeros((n, 0), np.int64)


def cluster_layer_names(acts: Activations) -> tuple[str, ...]:
    """The layers that get clustered: input, hidden (post-activation), logits."""
    return tuple(info.name for info in acts.layers if info.kind in ("input", "post", "logits"))


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

    centroids: np.ndarray                             # (n_clusters, width) float64
    assign: Callable[[np.ndarray], np.ndarray]        # z -> int64 labels (-1: noise)
    n_clusters: int
    k_candidates: tuple[int, ...] = ()
    k_scores: tuple[float, ...] = ()
    rule: str = "fixed"


def _random_state(seed: int, layer_index: int) -> int:
    return int(np.random.SeedSequence([seed, layer_index]).generate_state(1)[0] % (2**31 - 1))


def silhouettes(dist: np.ndarray, labelings: list[np.ndarray]) -> list[float]:
    """Mean silhouette coefficient of each clustering of the same samples.

    Each is the number scikit-learn's ``silhouette_score(dist, labels,
    metric="precomputed")`` gives (a sample alone in its cluster scores 0), but
    all come from one pass over the distance matrix: every sample's summed
    distance to every cluster of every clustering is one product
    ``dist @ onehots``. -1 for a clustering with fewer than 2 clusters or as
    many clusters as samples (undefined).

    ``dist`` float64 (n, n) Euclidean distances; ``labelings`` int (n,) each.
    """
    n = len(dist)
    rows = np.arange(n)
    codes, cols = [], 0
    for labels in labelings:
        _, lab = np.unique(labels, return_inverse=True)
        lab = lab.reshape(-1)
        width = int(lab.max()) + 1 if n else 0
        codes.append((lab, cols, width))
        cols += width
    onehots = np.zeros((n, cols))
    for lab, start, _ in codes:
        onehots[rows, start + lab] = 1.0
    sums = dist @ onehots                                  # (n, all clusters)
    scores = []
    for lab, start, width in codes:
        if width < 2 or width >= n:
            scores.append(-1.0)
            continue
        own_sums = sums[:, start:start + width]
        counts = onehots[:, start:start + width].sum(axis=0)
        own = counts[lab]
        with np.errstate(divide="ignore", invalid="ignore"):
            intra = own_sums[rows, lab] / (own - 1)
            inter = own_sums / counts
            inter[rows, lab] = np.inf
            inter = inter.min(axis=1)
            score = (inter - intra) / np.maximum(intra, inter)
        scores.append(float(np.where(own > 1, np.nan_to_num(score), 0.0).mean()))
    return scores


def _candidates(cfg: SignaturesConfig, n_sub: int) -> tuple[int, ...]:
    # Every rule scores the whole range, so a report can show what a narrower rule hides.
    return tuple(range(cfg.k_min, min(cfg.k_max, n_sub - 1) + 1))


def _choose_k(cfg: SignaturesConfig, k: int | None, zs: np.ndarray, n_classes: int,
              labels_for: Callable[[int], np.ndarray]
              ) -> tuple[int, tuple[int, ...], tuple[float, ...], str]:
    """(k, candidates, silhouettes, rule): a fixed k, or the best silhouette the rule allows."""
    if k is not None:
        return min(k, len(zs)), (), (), "fixed"
    cands = _candidates(cfg, len(zs))
    if not cands:
        return 1, (), (), cfg.k_rule
    dist = pairwise_distances(zs.astype(np.float64))
    labelings = {c: labels_for(c) for c in cands if c > 1}
    found = dict(zip(labelings, silhouettes(dist, list(labelings.values()))))
    scores = tuple(found.get(c, 0.0) for c in cands)
    allowed = [i for i, c in enumerate(cands)
               if cfg.k_rule == "silhouette" or c <= max(n_classes, 2)]
    best = max(allowed, key=lambda i: scores[i])
    return cands[best], cands, scores, cfg.k_rule


def _nearest_assign(centroids: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    return lambda x: nearest_centroid(x, centroids)[0]


def _fit_kmeans(z: np.ndarray, sub: np.ndarray, cfg: SignaturesConfig, n_classes: int,
                rs: int, k: int | None) -> _Fit:
    zs = z[sub]
    # Units constant over the subsample (border pixels, dead ReLUs) add nothing to any
    # distance between its rows: the k choice clusters the others, and costs less. The
    # tolerance is scaled so that k-means stops where it would with every unit.
    varying = np.ptp(zs, axis=0) > 0
    zk = zs if varying.all() or not varying.any() else np.ascontiguousarray(zs[:, varying])
    tol = 1e-4 * zk.shape[1] / zs.shape[1]  # KMeans' tol is relative to the mean unit variance
    fits: dict[int, KMeans] = {}

    def labels_for(c: int) -> np.ndarray:
        fits[c] = KMeans(n_clusters=c, n_init=cfg.k_n_init, random_state=rs, tol=tol).fit(zk)
        return fits[c].labels_

    def centres(model: KMeans) -> np.ndarray:
        """The subsample fit's centres with the constant units put back."""
        if zk is zs:
            return model.cluster_centers_
        out = np.repeat(zs[:1].astype(model.cluster_centers_.dtype), model.n_clusters, axis=0)
        out[:, varying] = model.cluster_centers_
        return out

    k, cands, scores, rule = _choose_k(cfg, k, zk, n_classes, labels_for)
    if cfg.n_init is not None:
        # Fresh k-means++ restarts on all rows, the best inertia kept.
        model = KMeans(n_clusters=k, n_init=cfg.n_init, random_state=rs).fit(z)
        centroids = model.cluster_centers_.astype(np.float64)
        return _Fit(centroids, _nearest_assign(centroids), k, cands, scores, rule)
    if k == 1:
        init = zs.mean(axis=0, keepdims=True)
    elif k in fits:
        init = centres(fits[k])
    elif k <= len(zs):
        init = centres(KMeans(n_clusters=k, n_init=cfg.k_n_init, random_state=rs, tol=tol).fit(zk))
    else:
        init = KMeans(n_clusters=k, n_init=1, random_state=rs).fit(z).cluster_centers_
    # The full fit starts from the subsample's solution: a few Lloyd steps instead of
    # several random restarts on the whole split.
    model = KMeans(n_clusters=k, init=init, n_init=1, random_state=rs).fit(z)
    centroids = model.cluster_centers_.astype(np.float64)
    return _Fit(centroids, _nearest_assign(centroids), k, cands, scores, rule)


def _fit_gmm(z: np.ndarray, sub: np.ndarray, cfg: SignaturesConfig, n_classes: int,
             rs: int, k: int | None) -> _Fit:
    zs = z[sub]
    fits: dict[int, GaussianMixture] = {}

    def gmm(c: int, **init: np.ndarray) -> GaussianMixture:
        # Diagonal covariances: full ones are singular for dead units and costly for wide layers.
        return GaussianMixture(n_components=c, covariance_type="diag", reg_covar=1e-4,
                               random_state=rs, max_iter=100, **init)

    def labels_for(c: int) -> np.ndarray:
        fits[c] = gmm(c).fit(zs)
        return fits[c].predict(zs)

    k, cands, scores, rule = _choose_k(cfg, k, zs, n_classes, labels_for)
    if k == 1:
        centroids = zs.mean(axis=0, keepdims=True).astype(np.float64)
        return _Fit(centroids, lambda x: np.zeros(len(x), np.int64), 1, cands, scores, rule)
    first = fits[k] if k in fits else gmm(k).fit(zs)
    model = gmm(k, means_init=first.means_, weights_init=first.weights_).fit(z)
    return _Fit(model.means_.astype(np.float64), lambda x: model.predict(x).astype(np.int64), k,
                cands, scores, rule)


def _fit_agglomerative(z: np.ndarray, sub: np.ndarray, cfg: SignaturesConfig, n_classes: int,
                       rs: int, k: int | None) -> _Fit:
    # Ward's tree is quadratic in memory: it is built once on the subsample and cut at
    # every candidate k; all samples (train included) then go to the nearest centroid.
    zs = z[sub].astype(np.float64)
    tree = linkage(zs, method="ward")

    def labels_for(c: int) -> np.ndarray:
        return fcluster(tree, t=c, criterion="maxclust").astype(np.int64) - 1

    k, cands, scores, rule = _choose_k(cfg, k, zs, n_classes, labels_for)
    labels = labels_for(k) if k > 1 else np.zeros(len(zs), np.int64)
    present = np.unique(labels)
    centroids = np.stack([zs[labels == c].mean(axis=0) for c in present])
    return _Fit(centroids, _nearest_assign(centroids), len(present), cands, scores, rule)


def _fit_hdbscan(z: np.ndarray, sub: np.ndarray, cfg: SignaturesConfig, n_classes: int,
                 rs: int, k: int | None) -> _Fit:
    # HDBSCAN runs on the subsample and finds its own number of clusters. Every sample
    # then joins the cluster of its nearest clustered subsample point if it lies within
    # that cluster's reach (the largest core distance among its members: the sparsest
    # density HDBSCAN accepted there), else it is noise (-1).
    zs = z[sub].astype(np.float64)
    min_size = max(10, len(zs) // 50)
    min_samples = min(10, len(zs) - 1)
    model = HDBSCAN(min_cluster_size=min_size, min_samples=min_samples, copy=True).fit(zs)
    labels = model.labels_.astype(np.int64)
    members = np.flatnonzero(labels >= 0)
    if len(members) == 0:
        centroids = zs.mean(axis=0, keepdims=True)
        return _Fit(centroids, lambda x: np.zeros(len(x), np.int64), 1, rule="hdbscan")
    _, labels_m = np.unique(labels[members], return_inverse=True)
    n_clusters = int(labels_m.max()) + 1
    pts = zs[members]
    centroids = np.stack([pts[labels_m == c].mean(axis=0) for c in range(n_clusters)])
    d_sub = pairwise_distances(pts, zs)
    # column 0 is the point itself
    core = np.sort(d_sub, axis=1)[:, min(min_samples, d_sub.shape[1] - 1)]
    member_label = labels_m.astype(np.int64)
    reach = np.array([core[member_label == c].max() for c in range(n_clusters)])

    def assign(x: np.ndarray) -> np.ndarray:
        nearest, dist = nearest_centroid(x, pts)
        out = member_label[nearest].copy()
        out[dist > reach[out] * (1 + 1e-6) + 1e-12] = -1
        return out

    return _Fit(centroids, assign, n_clusters, rule="hdbscan")


_METHODS = {
    "kmeans": _fit_kmeans,
    "gmm": _fit_gmm,
    "agglomerative": _fit_agglomerative,
    "hdbscan": _fit_hdbscan,
}


def _renumber(fit: _Fit, z: np.ndarray, y: np.ndarray) -> _Fit:
    """The same clustering with clusters numbered by their majority training class (in
    class order), then by size: the 1s' cluster has the same number in every layer."""
    labels = fit.assign(z)
    classes = np.unique(y)
    keys = []
    for c in range(fit.n_clusters):
        members = y[labels == c]
        major = int(np.searchsorted(classes, np.bincount(members).argmax())) \
            if len(members) else len(classes)
        keys.append((major, -len(members), c))
    order = np.array([c for _, _, c in sorted(keys)], dtype=np.int64)
    if np.array_equal(order, np.arange(fit.n_clusters)):
        return fit
    new_id = np.empty(fit.n_clusters + 1, dtype=np.int64)
    new_id[order] = np.arange(fit.n_clusters)
    new_id[-1] = -1                                   # noise stays noise
    base = fit.assign
    return dataclasses.replace(fit, centroids=fit.centroids[order],
                               assign=lambda x: new_id[base(x)])


def _standardizer(x_train: np.ndarray, on: bool) -> tuple[np.ndarray, np.ndarray]:
    width = x_train.shape[1]
    if not on:
        return np.zeros(width, np.float32), np.ones(width, np.float32)
    mean = x_train.mean(axis=0, dtype=np.float64)
    std = x_train.std(axis=0, dtype=np.float64)
    std[std < 1e-8] = 1.0  # constant units (dead ReLUs, border pixels) stay put
    return mean.astype(np.float32), std.astype(np.float32)


def _fit_splits(cfg: SignaturesConfig) -> tuple[str, ...]:
    """The splits whose rows the clusters, their regions and the standardisation are fitted on."""
    return ("train", "probe") if cfg.fit_on == "train+probe" else ("train",)


def region_thresholds(sig: LayerSignature, acts: Activations, cfg: SignaturesConfig,
                      quantiles: Sequence[float]) -> np.ndarray:
    """float64 (n_quantiles, n_clusters): the thresholds ``sig``'s regions get when each holds
    the share ``quantiles[i]`` of its members instead of ``boundary_quantile``.

    Nothing is refitted: the clusters, the regions' centres and shapes stay, and only the
    thresholds move, read from the same squared distances of the same fitted rows of
    ``acts`` (the splits of ``cfg.fit_on``) that calibrated them. The configured quantile
    gives the fitted thresholds themselves.
    """
    fitted = _fit_splits(cfg)
    x = np.concatenate([acts.split(s).layers[sig.layer] for s in fitted]) \
        if len(fitted) > 1 else acts.train.layers[sig.layer]
    z = sig.transform(x)
    b = sig.boundary
    sq = _sq_to_regions(_region_space(z, b.offset, b.basis), b.means, b.whiten,
                        lambda block: block)
    labels = np.asarray(sig.base_assign(z), dtype=np.int64)
    return np.stack([b.threshold if q == b.quantile else _thresholds(sq, labels, q)
                     for q in quantiles]).reshape(len(quantiles), sig.n_clusters)


def unassigned_at(sig: LayerSignature, x: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """bool (n_quantiles, n_samples): whether each row of ``x`` (float (n_samples, width), the
    layer's activations) lies outside every region under each row of ``thresholds``
    (:func:`region_thresholds`). Under the fitted thresholds this is ``labels == -1``."""
    sq = sig.boundary.sq_distances(sig.transform(x))
    out = np.empty((len(thresholds), len(x)), dtype=bool)
    for i, thr in enumerate(thresholds):
        ratio = dataclasses.replace(sig.boundary, threshold=thr).over_threshold(sq)
        out[i] = ~(ratio <= 1.0).any(axis=1) if ratio.shape[1] else np.ones(len(x), bool)
    return out


def _fit_layer(acts: Activations, name: str, cfg: SignaturesConfig, sub: np.ndarray,
               seed: int, k: int | None) -> LayerSignature:
    info = next(i for i in acts.layers if i.name == name)
    binary = info.kind == "post"   # hidden layers also get their binary signature
    fit_splits = _fit_splits(cfg)
    x_fit = (acts.train.layers[name] if len(fit_splits) == 1
             else np.concatenate([acts.split(s).layers[name] for s in fit_splits]))
    offset, scale = _standardizer(x_fit, cfg.standardize)

    def to_space(x: np.ndarray) -> np.ndarray:
        return x if not cfg.standardize else ((x - offset) / scale).astype(np.float32)

    def space(split: str) -> np.ndarray:
        return to_space(acts.split(split).layers[name])

    z_fit = to_space(x_fit)
    z_train = z_fit[: len(acts.train.y)]  # the training rows come first
    rs = _random_state(seed, info.index)
    if cfg.method == "hdbscan":
        k = None
    # Clusters are numbered by the trained classes of their training members.
    fit = _renumber(_METHODS[cfg.method](z_fit, sub, cfg, len(acts.classes), rs, k), z_train,
                    acts.train.y)
    boundary, sq_fit = _fit_boundary(z_fit, fit.assign(z_fit), fit.n_clusters,
                                     cfg.boundary_quantile, rs)
    labels: dict[str, np.ndarray] = {}
    distance: dict[str, np.ndarray] = {}
    ratio: dict[str, np.ndarray] = {}
    active: dict[str, np.ndarray] | None = {} if binary else None
    for split in SPLITS:
        a = (_assign(z_train, fit.assign, boundary, fit.centroids, sq_fit[:len(z_train)])
             if split == "train" else
             _assign(space(split), fit.assign, boundary, fit.centroids))
        labels[split], distance[split], ratio[split] = a.labels, a.distance, a.ratio
        if active is not None:
            layers = acts.split(split).layers
            pre = layers.get(f"{name}.pre")
            active[split] = (pre > 0) if pre is not None else (layers[name] > 0)
    return LayerSignature(
        layer=name,
        n_clusters=int(fit.n_clusters),
        k_candidates=tuple(int(c) for c in fit.k_candidates),
        k_scores=tuple(float(s) for s in fit.k_scores),
        labels=labels,
        distance=distance,
        ratio=ratio,
        centroids=fit.centroids.astype(np.float32),
        boundary=boundary,
        active=active,
        rule=fit.rule,
        subsample=len(sub),
        offset=offset,
        scale=scale,
        base_assign=fit.assign,
    )


def fit_signatures(acts: Activations, cfg: SignaturesConfig, seed: int,
                   k: Mapping[str, int] | None = None,
                   reuse: Mapping[str, LayerSignature] | None = None,
                   reuse_of: Activations | None = None) -> Signatures:
    """Cluster every layer on the training split, calibrate the regions, assign every split.

    Parameters
    ----------
    acts:
        Recorded activations; only ``acts.train`` is used to fit anything.
    cfg:
        ``signatures`` section of the config: method, k or k rule, standardisation,
        subsample size for the k selection, boundary quantile.
    seed:
        Seeds the subsample and the clustering algorithms.
    k:
        Layer name -> number of clusters, overriding the config's k choice for
        those layers (a control network is clustered with the trained one's k).
    reuse:
        Layer name -> an already fitted signature of the same data (the input is
        the same at every epoch): its clusters and regions are applied, not refitted.
    reuse_of:
        The activations the ``reuse`` signatures were fitted on: a split whose
        layer is the very array they hold keeps its assignment, the others are
        assigned afresh.

    Returns
    -------
    Signatures
        One :class:`LayerSignature` per clustered layer (input, hidden, logits),
        and the paths (hidden cluster ids, -1 unassigned) of every split.
    """
    k, reuse = dict(k or {}), dict(reuse or {})
    plan = _plan(acts, cfg, seed)

    def one(name: str) -> LayerSignature:
        if name in reuse:
            return _reapply(reuse[name], acts, reuse_of)
        return _fit_layer(acts, name, cfg, plan[0], seed, k.get(name, cfg.k))

    with single_threaded():
        sigs = tuple(parallel_map(one, list(cluster_layer_names(acts))))
    return _assemble(acts, sigs, cfg, plan, fixed_k=bool(k))


def fit_signatures_with_epochs(acts: Activations, earlier: Sequence[Activations],
                               cfg: SignaturesConfig, seed: int
                               ) -> tuple[Signatures, list[Signatures]]:
    """The signatures of a trained network and of each of its earlier epochs.

    ``acts`` are the trained network's activations, ``earlier`` those of earlier
    epochs of the same network on the same data. The trained network's are
    :func:`fit_signatures`'s; each earlier epoch's is ``fit_signatures`` with the
    trained network's number of clusters per layer (so that the untrained
    control is compared like for like) and its input's clusters (the input is
    the same at every epoch). Every layer is a job on the worker threads, and an
    epoch's layer starts as soon as the trained network's same layer is done.
    """
    names = cluster_layer_names(acts)
    plans = [_plan(a, cfg, seed) for a in (acts, *earlier)]
    later: list[dict[str, Future]] = [{} for _ in earlier]

    def epoch_layer(j: int, trained: LayerSignature) -> LayerSignature:
        if trained.layer == "input":
            return _reapply(trained, earlier[j], acts)
        return _fit_layer(earlier[j], trained.layer, cfg, plans[j + 1][0], seed,
                          trained.n_clusters)

    with single_threaded(), worker_pool() as submit:
        def trained_layer(name: str) -> LayerSignature:
            sig = _fit_layer(acts, name, cfg, plans[0][0], seed, cfg.k)
            for j in range(len(earlier)):   # queued behind the trained network's layers
                later[j][name] = submit(epoch_layer, j, sig)
            return sig

        main = [submit(trained_layer, name) for name in names]
        trained = tuple(f.result() for f in main)
        fitted = [tuple(later[j][name].result() for name in names) for j in range(len(earlier))]
    return (_assemble(acts, trained, cfg, plans[0], fixed_k=False),
            [_assemble(a, sigs, cfg, plan, fixed_k=True)
             for a, sigs, plan in zip(earlier, fitted, plans[1:])])


def _reapply(sig: LayerSignature, acts: Activations, fitted: Activations | None
             ) -> LayerSignature:
    """``sig``'s clusters and regions applied to the splits of ``acts``; a split holding the
    very array ``sig`` was fitted on (in ``fitted``) keeps its assignment."""
    found = {}
    for split in SPLITS:
        x = acts.split(split).layers[sig.layer]
        if fitted is not None and fitted.split(split).layers.get(sig.layer) is x:
            found[split] = Assignment(sig.labels[split], sig.distance[split], sig.ratio[split])
        else:
            found[split] = sig.assign(x)
    return dataclasses.replace(sig, labels={s: a.labels for s, a in found.items()},
                               distance={s: a.distance for s, a in found.items()},
                               ratio={s: a.ratio for s, a in found.items()})


def _plan(acts: Activations, cfg: SignaturesConfig, seed: int) -> tuple[np.ndarray, int]:
    """The seeded subsample of the fitted rows (for the k choice), and their number."""
    n_fit = sum(len(acts.split(s).y) for s in _fit_splits(cfg))
    return seeded_subset(n_fit, cfg.subsample, seed, salt=0x5C), n_fit


def _assemble(acts: Activations, sigs: tuple[LayerSignature, ...], cfg: SignaturesConfig,
              plan: tuple[np.ndarray, int], fixed_k: bool) -> Signatures:
    """The layers' signatures of ``acts`` as :class:`Signatures`, with paths and notes."""
    hidden = acts.hidden
    by_name = {s.layer: s for s in sigs}
    paths = {}
    for split in SPLITS:
        n = len(acts.split(split).y)
        cols = [by_name[h].labels[split] for h in hidden]
        paths[split] = np.stack(cols, axis=1).astype(np.int64) if cols \
            else np.zeros((n, 0), np.int64)
    subsampling = {}
    n_sub, n_fit = len(plan[0]), plan[1]
    rows = "training" if len(_fit_splits(cfg)) == 1 else "training and probe"
    sampled = f"{n_sub} of {n_fit} {rows} samples"
    if cfg.k is None and cfg.method != "hdbscan" and not fixed_k:
        subsampling["k_selection"] = f"silhouette computed on {sampled} (seeded)"
    if cfg.method in ("agglomerative", "hdbscan") and n_sub < n_fit:
        subsampling["clustering"] = (
            f"{cfg.method} fitted on {sampled} (seeded); the rest assigned to the fitted clusters")
    wide = [s.layer for s in sigs if s.boundary.basis is not None]
    if wide:
        subsampling["boundary"] = (
            f"regions of {', '.join(wide)} fitted on the first {BOUNDARY_DIM} principal "
            f"components of the layer (axes from at most {_AXES_ROWS} training samples, seeded)")
    return Signatures(
        layers=sigs,
        path_layers=tuple(hidden),
        paths=paths,
        method=cfg.method,
        standardize=cfg.standardize,
        boundary_quantile=cfg.boundary_quantile,
        subsampling=subsampling,
    )
