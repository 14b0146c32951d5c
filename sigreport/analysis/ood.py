"""Scores for "this input belongs to no trained class", and how well they separate.

Every score is larger for inputs that look less like the training data. All
of them are fitted (and, when layers are combined, standardised) on the
TRAINING split only; the probe classes are used for nothing but the final
evaluation against the trained classes' test samples.

Conventions
-----------
- ``auroc``: probability that a random probe sample scores higher than a
  random test sample of a trained class (ties count one half).
- ``fpr95``: the share of probe samples still accepted as known when the
  threshold accepts 95% of the trained classes' test samples (the "FPR at 95%
  TPR" of the ODIN, Mahalanobis and deep-nearest-neighbour papers, where the
  trained classes are the positives). Lower is better.
- ``roc``: false-positive rate = share of trained-class test samples flagged,
  true-positive rate = share of probe samples flagged; at most 101 points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata
from sklearn.covariance import OAS

__all__ = [
    "Calibration",
    "DeepKNN",
    "GaussianMixture",
    "Mahalanobis",
    "auroc",
    "auroc_fpr95_groups",
    "auroc_fpr95_samples",
    "deep_knn_credibility",
    "deep_knn_nonconformity",
    "fit_calibration",
    "fit_deep_knn",
    "fit_gaussian_mixture",
    "fit_mahalanobis",
    "fpr_at_95",
    "kth_neighbour_distance",
    "l2_normalize",
    "nearest_neighbours",
    "roc_points",
]

_QUERY_CHUNK = 256        # queries per float32 distance product in nearest_neighbours
_ROW_CHUNK = 4096         # bank rows per float64 copy in nearest_neighbours


def auroc(known: np.ndarray, unknown: np.ndarray) -> float:
    """Area under the ROC curve of a novelty score (Mann-Whitney U, ties averaged).

    Parameters
    ----------
    known:
        float (n_known,), scores of samples of the trained classes.
    unknown:
        float (n_unknown,), scores of probe samples.

    Returns
    -------
    float
        In [0, 1]; 1 means every probe sample scores above every known sample.
    """
    known = np.asarray(known, dtype=np.float64)
    unknown = np.asarray(unknown, dtype=np.float64)
    n_k, n_u = len(known), len(unknown)
    if n_k == 0 or n_u == 0:
        return float("nan")
    ranks = rankdata(np.concatenate([known, unknown]))
    u = ranks[n_k:].sum() - n_u * (n_u + 1) / 2.0
    return float(u / (n_k * n_u))


def fpr_at_95(known: np.ndarray, unknown: np.ndarray) -> float:
    """Share of probe samples accepted when 95% of the known samples are accepted.

    The threshold is the smallest score that accepts (score <= threshold) at
    least 95% of ``known``; probe samples tied with it count as accepted.
    """
    known = np.sort(np.asarray(known, dtype=np.float64))
    unknown = np.asarray(unknown, dtype=np.float64)
    if len(known) == 0 or len(unknown) == 0:
        return float("nan")
    threshold = known[int(np.ceil(0.95 * len(known))) - 1]
    return float(np.mean(unknown <= threshold))


def roc_points(known: np.ndarray, unknown: np.ndarray, n_points: int = 101
               ) -> tuple[np.ndarray, np.ndarray]:
    """The ROC curve sampled at ``n_points`` evenly spaced false-positive rates.

    Returns
    -------
    fpr, tpr:
        float64 (n_points,); fpr from 0 to 1, tpr the curve (interpolated
        linearly between its corners, as ties are) at each fpr.
    """
    known = np.asarray(known, dtype=np.float64)
    unknown = np.asarray(unknown, dtype=np.float64)
    grid = np.linspace(0.0, 1.0, n_points)
    if len(known) == 0 or len(unknown) == 0:
        return grid, np.full(n_points, np.nan)
    scores = np.concatenate([known, unknown])
    is_unknown = np.concatenate([np.zeros(len(known)), np.ones(len(unknown))])
    order = np.argsort(-scores, kind="stable")
    scores, is_unknown = scores[order], is_unknown[order]
    # one corner per distinct threshold
    last = np.r_[np.flatnonzero(np.diff(scores) != 0), len(scores) - 1]
    tp = np.cumsum(is_unknown)[last]
    fp = (last + 1) - tp
    fpr = np.r_[0.0, fp / len(known)]
    tpr = np.r_[0.0, tp / len(unknown)]
    # Corners sharing one fpr form a vertical run: at that fpr the curve is the
    # run's top; between runs it is the segment from one top to the next bottom.
    xs, first = np.unique(fpr, return_index=True)
    last = np.r_[first[1:] - 1, len(fpr) - 1]
    bottom, top = tpr[first], tpr[last]
    j = np.clip(np.searchsorted(xs, grid, side="right") - 1, 0, len(xs) - 1)
    nxt = np.minimum(j + 1, len(xs) - 1)
    span = xs[nxt] - xs[j]
    frac = np.where(span > 0, (grid - xs[j]) / np.where(span > 0, span, 1.0), 0.0)
    out = np.where(grid == xs[j], top[j], top[j] + frac * (bottom[nxt] - top[j]))
    return grid, out


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit Euclidean norm (all-zero rows stay zero); float32."""
    x = np.asarray(x, dtype=np.float32)
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norm, np.float32(1e-12))


def nearest_neighbours(bank: np.ndarray, queries: np.ndarray, k: int
                       ) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest rows of ``bank`` to each query (Euclidean), exactly, by brute force.

    The distances to every row are first estimated in float32 (one matrix
    product per chunk of queries), with a bound on the estimate's rounding
    error; only the rows that the bound cannot rule out are measured again in
    float64 and ranked, ties to the lower row index. Bank rows are grouped in
    blocks whose nearest estimate is read first, so only a few blocks per query
    are searched row by row.

    Parameters
    ----------
    bank:
        float32 (n_bank, width).
    queries:
        float32 (n_queries, width).
    k:
        Neighbours per query, 1 <= k <= n_bank.

    Returns
    -------
    distances, indices:
        float64 and int64 (n_queries, k), nearest first. Distances have float32
        precision (the squared distance is rounded to float32 before the root), as
        scikit-learn's brute-force search reports them for float32 data.
    """
    bank = np.asarray(bank, dtype=np.float32)
    queries = np.asarray(queries, dtype=np.float32)
    (n_bank, width), n_q = bank.shape, len(queries)
    dist, ind = np.empty((n_q, k)), np.empty((n_q, k), dtype=np.int64)
    if n_q == 0:
        return dist, ind
    block = int(np.clip(n_bank // (4 * k), 1, 64))
    n_blocks = -(-n_bank // block)
    # float64 copies of a few thousand rows at a time: a whole one of a 784-pixel bank of
    # 49,000 images is 300 MB
    norms = np.concatenate([np.einsum("ij,ij->i", c, c) for c in
                            (bank[i:i + _ROW_CHUNK].astype(np.float64)
                             for i in range(0, n_bank, _ROW_CHUNK))])
    pad_norms = np.full(n_blocks * block, np.inf, dtype=np.float32)   # padding is never near
    pad_norms[:n_bank] = norms
    bank_max = np.sqrt(norms.max())
    # The product goes straight into the first n_bank columns (BLAS reads the bank
    # transposed in place: no copy of it, as fast); the padding columns are never written,
    # so they start finite and stay inf once pad_norms is added.
    buffer = np.zeros((min(n_q, _QUERY_CHUNK), n_blocks * block), dtype=np.float32)
    for start in range(0, n_q, _QUERY_CHUNK):
        q = queries[start:start + _QUERY_CHUNK]
        q64 = q.astype(np.float64)
        # float32 rounding of |b|^2 - 2 q.b (a dot product of `width` terms) stays below eps
        eps = (2 * width + 8) * 1.01 * 2.0 ** -24 * (np.sqrt(np.einsum("ij,ij->i", q64, q64))
                                                     + bank_max) ** 2
        est = buffer[:len(q)]
        np.matmul(q * np.float32(-2.0), bank.T, out=est[:, :n_bank])   # -2 q.b, exact
        est += pad_norms
        # block j holds the columns j, j + n_blocks, ...: its nearest is an elementwise minimum
        est = est.reshape(len(q), block, n_blocks)
        nearest = est.min(axis=1)
        # k blocks hold k distinct rows at most this far: nothing beyond can be among the k
        limit = np.partition(nearest, k - 1, axis=1)[:, k - 1] + 3 * eps
        rb, cb = np.nonzero(nearest <= limit[:, None])
        inner = est[rb, :, cb]
        r2, p2 = np.nonzero(inner <= limit[rb, None])
        rows, cols = rb[r2], p2 * n_blocks + cb[r2]
        value = inner[r2, p2].astype(np.float64)
        order = np.lexsort((value, rows))
        rows, cols, value = rows[order], cols[order], value[order]
        first = np.searchsorted(rows, np.arange(len(q)))
        kth = value[first + k - 1]                           # the k-th estimate of each query
        keep = value <= kth[rows] + 2 * eps[rows]
        rows, cols = rows[keep], cols[keep]
        diff = q64[rows] - bank[cols].astype(np.float64)     # exact: float32 inputs
        exact = np.einsum("ij,ij->i", diff, diff)
        order = np.lexsort((cols, exact, rows))
        rows, cols = rows[order], cols[order]
        pick = np.searchsorted(rows, np.arange(len(q)))[:, None] + np.arange(k)[None, :]
        ind[start:start + len(q)] = cols[pick]
        dist[start:start + len(q)] = np.sqrt(exact[order][pick].astype(np.float32))
    return dist, ind


def kth_neighbour_distance(bank: np.ndarray, queries: np.ndarray, k: int,
                           queries_in_bank: bool = False) -> np.ndarray:
    """Euclidean distance from each query to its k-th nearest row of ``bank``.

    Parameters
    ----------
    bank:
        float32 (n_bank, width).
    queries:
        float32 (n_queries, width).
    k:
        Neighbour rank, 1 <= k < n_bank.
    queries_in_bank:
        The queries are rows of the bank: each one's own match is skipped.

    Returns
    -------
    float32 (n_queries,)
    """
    rank = min(k + 1 if queries_in_bank else k, len(bank))
    dist, _ = nearest_neighbours(bank, queries, rank)
    return dist[:, rank - 1].astype(np.float32)


@dataclass(frozen=True)
class Mahalanobis:
    """Class means and a shared (OAS-shrunk) covariance, whitened.

    ``whiten`` is float64 (width, width) with ``whiten @ whiten.T`` the
    precision matrix; ``means`` float64 (n_classes, width) already whitened.
    """

    offset: np.ndarray
    whiten: np.ndarray
    means: np.ndarray

    def score(self, x: np.ndarray) -> np.ndarray:
        """Squared Mahalanobis distance to the nearest class mean: float64 (n_samples,)."""
        out = np.empty(len(x), dtype=np.float64)
        m_sq = np.einsum("ij,ij->i", self.means, self.means)
        for start in range(0, len(x), 8192):
            z = (np.asarray(x[start:start + 8192], dtype=np.float64) - self.offset) @ self.whiten
            d2 = np.einsum("ij,ij->i", z, z)[:, None] - 2.0 * z @ self.means.T + m_sq[None, :]
            out[start:start + len(z)] = np.maximum(d2.min(axis=1), 0.0)
        return out


def fit_mahalanobis(x: np.ndarray, y: np.ndarray, classes: tuple[int, ...]) -> Mahalanobis:
    """Per-class means with one shared covariance, fitted on training features.

    Parameters
    ----------
    x:
        float (n_samples, width), training features.
    y:
        int (n_samples,), their classes (every class in ``classes`` present).
    """
    x = np.array(x, dtype=np.float64)            # a copy of its own: centred in place
    offset = x.mean(axis=0)
    x -= offset
    means = np.stack([x[y == c].mean(axis=0) for c in classes])
    x -= means[np.searchsorted(np.asarray(classes), y)]       # each sample less its class mean
    cov = OAS(assume_centered=True).fit(x).covariance_
    evals, evecs = np.linalg.eigh(cov)
    # units that never vary still get a finite (large) weight
    evals = np.maximum(evals, evals.max() * 1e-9 + 1e-12)
    whiten = evecs / np.sqrt(evals)[None, :]
    return Mahalanobis(offset=offset, whiten=whiten, means=means @ whiten)


@dataclass(frozen=True)
class GaussianMixture:
    """Weighted Gaussians, each with its own (OAS-shrunk) covariance, whitened.

    ``means`` float64 (n_components, width); ``whiten`` float64 (n_components,
    width, width) with ``whiten[c] @ whiten[c].T`` the precision matrix of
    component c; ``log_norm`` float64 (n_components,): the log of its weight
    times its density's normalising constant.
    """

    means: np.ndarray
    whiten: np.ndarray
    log_norm: np.ndarray

    def score(self, x: np.ndarray) -> np.ndarray:
        """Minus the log-likelihood of each row of float (n_samples, width) under the
        mixture: float64 (n_samples,), larger for rows less like the fitted ones."""
        n_comp = len(self.means)
        out = np.empty(len(x), dtype=np.float64)
        for start in range(0, len(x), 4096):
            block = np.asarray(x[start:start + 4096], dtype=np.float64)
            ll = np.empty((len(block), n_comp))
            for c in range(n_comp):
                z = (block - self.means[c]) @ self.whiten[c]
                ll[:, c] = self.log_norm[c] - 0.5 * np.einsum("ij,ij->i", z, z)
            top = ll.max(axis=1, keepdims=True)
            out[start:start + len(block)] = -(top[:, 0] + np.log(np.exp(ll - top).sum(axis=1)))
        return out


def fit_gaussian_mixture(x: np.ndarray, groups: np.ndarray, min_members: int
                         ) -> GaussianMixture | None:
    """One Gaussian per group of at least ``min_members`` rows, weighted by its share of them.

    Parameters
    ----------
    x:
        float (n_samples, width), training features.
    groups:
        int (n_samples,), each row's group; negative: in no group.
    min_members:
        Smallest group that gets a Gaussian; smaller groups are left out.

    Returns
    -------
    GaussianMixture or None
        None when no group is large enough. Each covariance is OAS-shrunk, its
        eigenvalues floored as in :func:`fit_mahalanobis`.
    """
    groups = np.asarray(groups)
    ids, counts = np.unique(groups[groups >= 0], return_counts=True)
    kept = ids[counts >= max(2, min_members)]
    if len(kept) == 0:
        return None
    width = x.shape[1]
    means, whiten, log_norm = [], [], []
    total = sum(int(np.sum(groups == g)) for g in kept)
    for g in kept:
        pts = np.asarray(x[groups == g], dtype=np.float64)
        cov = OAS().fit(pts).covariance_
        evals, evecs = np.linalg.eigh(cov)
        evals = np.maximum(evals, evals.max() * 1e-9 + 1e-12)
        means.append(pts.mean(axis=0))
        whiten.append(evecs / np.sqrt(evals)[None, :])
        log_norm.append(np.log(len(pts) / total) - 0.5 * np.log(evals).sum()
                        - 0.5 * width * np.log(2 * np.pi))
    return GaussianMixture(means=np.stack(means), whiten=np.stack(whiten),
                           log_norm=np.asarray(log_norm))


@dataclass(frozen=True)
class Calibration:
    """Mean and spread of a score on training samples, to put layers on one scale."""

    mean: float
    std: float

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        return (np.asarray(scores, dtype=np.float64) - self.mean) / self.std


def fit_calibration(train_scores: np.ndarray) -> Calibration:
    """z-score standardisation fitted on scores of training samples."""
    s = np.asarray(train_scores, dtype=np.float64)
    mean = float(s.mean()) if len(s) else 0.0
    # training scores all equal (e.g. every training sample has the same unit-norm ReLU
    # pattern): any departure from them is extreme, and stays so on the common scale
    std = max(float(s.std()) if len(s) else 1.0, 1e-9 * max(1.0, abs(mean)))
    return Calibration(mean=mean, std=std)


def auroc_fpr95_samples(known: np.ndarray, unknown: np.ndarray, n_boot: int, seed: int
                        ) -> tuple[np.ndarray, np.ndarray]:
    """AUROC and FPR95 under ``n_boot`` bootstrap resamples, known and unknown drawn apart.

    Both follow the conventions of :func:`auroc` and :func:`fpr_at_95`. The
    resamples are drawn from ``np.random.default_rng([seed, 0xA0C])``: first the
    known rows (n_boot, n_known), then the unknown rows (n_boot, n_unknown).

    Returns
    -------
    auroc, fpr95:
        float64 (n_boot,) each.
    """
    return auroc_fpr95_groups(known, [unknown], n_boot, seed)[0]


def auroc_fpr95_groups(known: np.ndarray, unknowns: list[np.ndarray], n_boot: int, seed: int
                       ) -> list[tuple[np.ndarray, np.ndarray]]:
    """:func:`auroc_fpr95_samples` of one known sample against each of several unknown ones.

    Each group's resamples are those :func:`auroc_fpr95_samples` draws for it
    alone (the known rows' draws are the same for every group). The known
    draws are counted once over the distinct known values, as cumulative
    counts (n_boot, n_distinct + 1); each drawn unknown score then reads how
    many known draws lie below and at its value, so every AUROC and FPR95 is an
    exact count.
    """
    known = np.asarray(known, dtype=np.float64)
    n_k = len(known)
    rng = np.random.default_rng([seed, 0xA0C])
    if n_k == 0:
        return [(np.full(n_boot, np.nan), np.full(n_boot, np.nan)) for _ in unknowns]
    values, inverse = np.unique(known, return_inverse=True)
    n_v = len(values)
    draws = inverse[rng.integers(0, n_k, size=(n_boot, n_k))]
    flat = (draws + np.arange(n_boot)[:, None] * n_v).ravel()
    counts = np.bincount(flat, minlength=n_boot * n_v).reshape(n_boot, n_v)
    cum = np.zeros((n_boot, n_v + 1))
    np.cumsum(counts, axis=1, out=cum[:, 1:])            # cum[:, i]: draws below values[i]
    need = int(np.ceil(0.95 * n_k))
    thr = np.argmax(cum[:, 1:] >= need, axis=1)          # index of the threshold value
    after_known = rng.bit_generator.state
    out = []
    for unknown in unknowns:
        unknown = np.asarray(unknown, dtype=np.float64)
        n_u = len(unknown)
        if n_u == 0:
            out.append((np.full(n_boot, np.nan), np.full(n_boot, np.nan)))
            continue
        rng.bit_generator.state = after_known
        picked = rng.integers(0, n_u, size=(n_boot, n_u))
        lo = np.searchsorted(values, unknown, side="left")[picked]
        hi = np.searchsorted(values, unknown, side="right")[picked]
        # known draws below the score, plus half of those equal to it
        ranks = np.take_along_axis(cum, lo, axis=1) + np.take_along_axis(cum, hi, axis=1)
        auc = ranks.sum(axis=1) / (2.0 * n_k * n_u)
        fpr = np.count_nonzero(lo <= thr[:, None], axis=1) / n_u
        out.append((auc, fpr))
    return out


@dataclass(frozen=True)
class DeepKNN:
    """Deep k-nearest neighbours (Papernot and McDaniel, 2018), fitted on training samples.

    For each layer, the k nearest rows of that layer's bank (training samples,
    L2-normalised, float32 (n_bank, width)) vote with their labels. The nonconformity
    of label j is the number of neighbours, over all layers, whose label is not j. ``calibration``
    holds the nonconformity of the true label for held-out training samples; a
    sample's credibility is the share of them at least as nonconforming as its
    best label.
    """

    banks: tuple[np.ndarray, ...]
    bank_labels: np.ndarray
    n_labels: int
    k: int
    calibration: np.ndarray

    def nonconformity(self, layers: list[np.ndarray]) -> np.ndarray:
        """int64 (n_samples, n_labels): neighbours disagreeing with each label, summed over
        layers."""
        return deep_knn_nonconformity(
            [self.bank_labels[nearest_neighbours(bank, l2_normalize(x), self.k)[1]]
             for bank, x in zip(self.banks, layers)], self.n_labels)

    def credibility(self, layers: list[np.ndarray]) -> np.ndarray:
        """float64 (n_samples,) in [0, 1]: the empirical p-value of the best label."""
        return deep_knn_credibility(self.nonconformity(layers), self.calibration)


def deep_knn_nonconformity(neighbour_labels: list[np.ndarray], n_labels: int) -> np.ndarray:
    """int64 (n_samples, n_labels): for each label, the neighbours (over all layers) whose
    label differs. ``neighbour_labels``: one int (n_samples, k) array of labels per layer."""
    n = len(neighbour_labels[0])
    votes = np.zeros((n, n_labels), dtype=np.int64)
    for lab in neighbour_labels:
        for j in range(n_labels):
            votes[:, j] += np.sum(lab == j, axis=1)
    return sum(lab.shape[1] for lab in neighbour_labels) - votes


def deep_knn_credibility(nonconformity: np.ndarray, calibration: np.ndarray) -> np.ndarray:
    """float64 (n_samples,): share of the calibration nonconformities at least as large as
    each sample's smallest one (the empirical p-value of its best label)."""
    best = nonconformity.min(axis=1)
    cal = np.sort(calibration)
    return (len(cal) - np.searchsorted(cal, best, side="left")) / len(cal)


def fit_deep_knn(bank_layers: list[np.ndarray], bank_labels: np.ndarray,
                 cal_layers: list[np.ndarray], cal_labels: np.ndarray, k: int) -> DeepKNN:
    """Fit Deep k-NN: neighbour banks per layer, calibrated on held-out training samples.

    Parameters
    ----------
    bank_layers, cal_layers:
        One float (n, width) array per layer, for the bank rows and the
        calibration rows (disjoint training samples).
    bank_labels, cal_labels:
        int64 (n,), label columns 0..n_labels-1.
    k:
        Neighbours per layer, 1 <= k <= len(bank).
    """
    n_labels = int(max(bank_labels.max(), cal_labels.max())) + 1
    banks = tuple(l2_normalize(x) for x in bank_layers)
    model = DeepKNN(banks=banks, bank_labels=np.asarray(bank_labels, dtype=np.int64),
                    n_labels=n_labels, k=k, calibration=np.zeros(0, dtype=np.int64))
    alpha = model.nonconformity(cal_layers)[np.arange(len(cal_labels)), cal_labels]
    return DeepKNN(banks=banks, bank_labels=model.bank_labels, n_labels=n_labels, k=k,
                   calibration=alpha)
