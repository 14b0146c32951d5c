"""Measures of how a layer's representation lines up with the classes, with bootstrap samples.

Every ``*_samples`` function returns the point value on the given rows and the
value under each bootstrap resample (weights over the same rows), so that
intervals of different measures and layers come from the same resamples.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import sparse
from scipy.special import xlogy
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import adjusted_mutual_info_score, mutual_info_score

from sigreport.analysis._common import class_index, weighted_mean_samples
from sigreport.sampling import seeded_subset

__all__ = [
    "PROBE_MAX_ITER",
    "ami_samples",
    "cka_labels_samples",
    "js_divergence_samples",
    "linear_cka",
    "linear_cka_matrix",
    "linear_probe_correct",
    "purity",
]

PROBE_MAX_ITER = 200     # L-BFGS iterations of each linear probe


def purity(labels: np.ndarray, y: np.ndarray) -> float:
    """Share of samples whose cluster's majority class is their own class.

    ``labels`` int (n_samples,) cluster ids (any integers, -1 included); ``y`` int class ids.
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

    ``x`` float (n_samples, width_x), ``y`` float (n_samples, width_y). In [0, 1];
    invariant to orthogonal transforms and isotropic scaling. Computed in feature
    space, ``|Y'X|_F^2 / (|X'X|_F |Y'Y|_F)``.
    """
    return float(linear_cka_matrix([x, y])[0, 1])


def linear_cka_matrix(reps: list[np.ndarray]) -> np.ndarray:
    """float64 (n_reps, n_reps): :func:`linear_cka` between every pair of representations of
    the same samples (each float (n_samples, width)), ones on the diagonal; each
    representation's own norm ``|X'X|_F`` computed once."""
    centred = [np.asarray(r, dtype=np.float64) for r in reps]
    centred = [r - r.mean(axis=0) for r in centred]
    norms = [np.linalg.norm(r.T @ r) for r in centred]
    matrix = np.eye(len(reps))
    for i in range(len(reps)):
        for j in range(i + 1, len(reps)):
            norm = norms[i] * norms[j]
            cross = np.linalg.norm(centred[j].T @ centred[i]) ** 2
            matrix[i, j] = matrix[j, i] = cross / norm if norm > 0 else 0.0
    return matrix


def cka_labels_samples(x: np.ndarray, y: np.ndarray, classes: tuple[int, ...],
                       weights: np.ndarray) -> tuple[float, np.ndarray]:
    """Linear CKA between a layer and the one-hot class labels, and under each resample.

    Parameters
    ----------
    x:
        float (n_samples, width), one layer's activations.
    y:
        int (n_samples,), class ids in ``classes``.
    weights:
        float (n_boot, n_samples), each resample's draw counts of the samples.

    Every resample is computed in closed form with weighted centring, from
    weighted sums of the features: each class's sum (the numerator) and the
    weighted second moment's squared Frobenius norm (the layer's norm), the
    latter through the samples' Gram matrix or the features, whichever is cheaper.
    """
    x = np.asarray(x, dtype=np.float64)
    x = x - x.mean(axis=0)
    col = class_index(y, classes)
    w = np.vstack([np.ones(len(x)), weights])                  # row 0: the point value
    n_tot = w.sum(axis=1)                                      # (B,)
    xbar = (w @ x) / n_tot[:, None]                            # (B, width) weighted means
    # numerator: sum_c |S_c - N_c xbar|^2 with S_c the weighted feature sum of class c
    num = np.zeros(len(w))
    n_c = np.zeros((len(w), len(classes)))
    for c in range(len(classes)):
        rows = np.flatnonzero(col == c)
        n_c[:, c] = w[:, rows].sum(axis=1)
        diff = w[:, rows] @ x[rows] - n_c[:, c, None] * xbar
        num += np.einsum("bj,bj->b", diff, diff)
    # |X' W X - N xbar xbar'|_F^2 = w'(K*K)w - 2 N sum_i w_i (x_i.xbar)^2 + N^2 |xbar|^4
    proj = xbar @ x.T                                          # (B, n): x_i . xbar
    xbar_sq = np.einsum("bj,bj->b", xbar, xbar)
    k_norm2 = (_weighted_gram_norm2(x, w) - 2 * n_tot * np.einsum("bi,bi->b", w, proj * proj)
               + n_tot ** 2 * xbar_sq ** 2)
    cov_y = np.einsum("bc,cd->bcd", n_c, np.eye(len(classes))) \
        - n_c[:, :, None] * n_c[:, None, :] / n_tot[:, None, None]
    y_norm = np.sqrt(np.einsum("bcd,bcd->b", cov_y, cov_y))
    denom = np.sqrt(np.maximum(k_norm2, 0.0)) * y_norm
    cka = np.where(denom > 0, num / np.where(denom > 0, denom, 1.0), 0.0)
    return float(cka[0]), cka[1:]


def _weighted_gram_norm2(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """(B,): |X' diag(w_b) X|_F^2 for each row w_b of ``w`` (B, n), ``x`` float64 (n, width).

    Equal to w_b' (K*K) w_b with K = X X' the Gram matrix: that costs n^2 width / 2
    once and B n^2 after. Through the features, each second moment's upper triangle
    is one product of ``w`` with the samples' pairwise unit products, B n width^2 / 2.
    The cheaper one is used.
    """
    (n, width), n_boot = x.shape, len(w)
    n_pairs = width * (width + 1) // 2
    if n_boot * n_pairs > n * width // 2 + n_boot * n:
        gram = x @ x.T
        return np.einsum("bi,bi->b", w @ (gram * gram), w)
    if n_boot == 1:
        xs = x * np.sqrt(w[0])[:, None]
        return np.array([np.sum(np.square(xs.T @ xs))])
    rows, cols = np.triu_indices(width)
    moments = np.zeros((n_boot, n_pairs))
    for start in range(0, n, 512):      # (512, n_pairs) blocks of unit products
        part = slice(start, start + 512)
        moments += w[:, part] @ (x[part, rows] * x[part, cols])
    moments[:, rows != cols] *= np.sqrt(2.0)          # off-diagonal entries count twice
    return np.einsum("bp,bp->b", moments, moments)


def _entropy(counts: np.ndarray) -> np.ndarray:
    """Entropy in nats of each row of counts (B, k)."""
    total = counts.sum(axis=1, keepdims=True)
    p = counts / np.where(total > 0, total, 1.0)
    return -xlogy(p, p).sum(axis=1)


def ami_samples(labels: np.ndarray, y: np.ndarray, weights: np.ndarray
                ) -> tuple[float, np.ndarray]:
    """Cluster/class mutual information adjusted for chance (AMI, arithmetic mean), resampled.

    The point value is scikit-learn's ``adjusted_mutual_info_score``. The
    resamples keep the full split's expected mutual information under chance
    (it depends only on the cluster and class sizes, which barely move between
    resamples) and recompute the mutual information and entropies.

    ``labels`` int (n,) cluster ids (-1 unassigned counts as a cluster of its own);
    ``y`` int (n,) class ids; ``weights`` float (n_boot, n).
    """
    if len(y) == 0:
        return float("nan"), np.full(len(weights), np.nan)
    point = float(adjusted_mutual_info_score(y, labels))
    if len(weights) == 0:
        return point, np.zeros(0)
    _, lab = np.unique(labels, return_inverse=True)
    _, cls = np.unique(y, return_inverse=True)
    n_lab, n_cls = lab.max() + 1, cls.max() + 1
    cell = lab * n_cls + cls
    table = np.stack([np.bincount(cell, weights=w, minlength=n_lab * n_cls) for w in weights])
    table = table.reshape(len(weights), n_lab, n_cls)
    n_tot = table.sum(axis=(1, 2))
    a, b = table.sum(axis=2), table.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = table * n_tot[:, None, None] / (a[:, :, None] * b[:, None, :])
        # a cluster or class a resample misses contributes nothing (0 log 0/0 is 0, not nan)
        mi = np.where(table > 0, xlogy(table, ratio), 0.0).sum(axis=(1, 2)) / n_tot
    h_mean = (_entropy(a) + _entropy(b)) / 2
    mi_full = mutual_info_score(y, labels)
    h_full = (_entropy(np.bincount(lab)[None])[0] + _entropy(np.bincount(cls)[None])[0]) / 2
    # expected MI under chance, recovered from scikit-learn's AMI of the full split
    emi = (mi_full - point * h_full) / (1 - point) if point < 1 - 1e-9 else 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        ami = (mi - emi) / (h_mean - emi)
    ami = np.where(np.abs(h_mean - emi) > 1e-12, ami, point)
    return point, ami


def js_divergence_samples(groups: np.ndarray, y: np.ndarray, classes: tuple[int, ...],
                          weights: np.ndarray) -> tuple[float, np.ndarray]:
    """Jensen-Shannon divergence (bits; 0 same, 1 disjoint) of the classes' distributions
    over ``groups`` (int (n,) ids, e.g. path ids), mean over pairs of classes, resampled.

    ``weights`` float (n_boot, n); the point value uses every sample once.
    """
    col = class_index(y, classes)
    keep = col >= 0
    _, gid = np.unique(groups[keep], return_inverse=True)
    n_g, n_c = (gid.max() + 1 if len(gid) else 0), len(classes)
    w_all = np.vstack([np.ones(len(y)), weights])[:, keep]
    out = _mean_js(_class_group_counts(gid, col[keep], n_c, n_g, w_all))
    return float(out[0]), out[1:]


def _class_group_counts(gid: np.ndarray, col: np.ndarray, n_c: int, n_g: int,
                        w: np.ndarray) -> np.ndarray:
    """(B, n_classes, n_groups): the summed weights of each class and group, per row of ``w``
    (B, n), every row at once through a sparse sample-to-cell matrix."""
    cells = sparse.csr_matrix((np.ones(len(gid)), (np.arange(len(gid)), col * n_g + gid)),
                              shape=(len(gid), n_c * n_g))
    return np.asarray(cells.T @ w.T).T.reshape(len(w), n_c, n_g)


def _mean_js(dist: np.ndarray) -> np.ndarray:
    """(B,): mean over pairs of classes of the JS divergence (bits) of count rows, for each
    (n_classes, n_groups) table of ``dist`` (B, n_classes, n_groups); nan without a pair."""
    total = dist.sum(axis=2)
    p = dist / np.where(total > 0, total, 1.0)[:, :, None]
    # KL(p_i|m) + KL(p_j|m) = sum p_i log p_i + sum p_j log p_j - 2 sum m log m
    neg_entropy = xlogy(p, p).sum(axis=2)
    pair_js: list[np.ndarray] = []
    pair_valid: list[np.ndarray] = []
    for i in range(p.shape[1]):
        for j in range(i + 1, p.shape[1]):
            m = (p[:, i] + p[:, j]) / 2
            kl_sum = neg_entropy[:, i] + neg_entropy[:, j] - 2 * xlogy(m, m).sum(axis=1)
            pair_js.append(np.maximum(kl_sum, 0.0) / 2 / np.log(2))  # never below 0 by rounding
            pair_valid.append((total[:, i] > 0) & (total[:, j] > 0))
    if not pair_js:
        return np.full(len(dist), np.nan)
    vals, valid = np.array(pair_js), np.array(pair_valid)
    n_valid = valid.sum(axis=0)
    with np.errstate(invalid="ignore"):
        return np.where(n_valid > 0, np.where(valid, vals, 0.0).sum(axis=0) / n_valid, np.nan)


def linear_probe_correct(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
                         y_test: np.ndarray, n_fit: int, seed: int) -> np.ndarray:
    """bool (n_test,): whether a multinomial logistic regression classifies each test sample.

    Features are standardised with the fitting rows' statistics; the model is
    fitted on at most ``n_fit`` training rows (seeded subsample) with L-BFGS
    capped at ``PROBE_MAX_ITER`` iterations. ``x_*`` float (n, width), ``y_*`` int (n,).
    """
    if len(x_test) == 0 or len(np.unique(y_train)) < 2:
        return np.zeros(len(x_test), dtype=bool)
    rows = seeded_subset(len(x_train), n_fit, seed, salt=0xA11)
    x_fit = np.asarray(x_train[rows], dtype=np.float32)
    mean = x_fit.mean(axis=0, dtype=np.float64).astype(np.float32)
    std = x_fit.std(axis=0, dtype=np.float64).astype(np.float32)
    std[std < 1e-6] = 1.0
    clf = LogisticRegression(C=1.0, max_iter=PROBE_MAX_ITER)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit((x_fit - mean) / std, y_train[rows])
        pred = clf.predict((np.asarray(x_test, dtype=np.float32) - mean) / std)
    return pred == y_test


def accuracy_samples(correct: np.ndarray, weights: np.ndarray) -> tuple[float, np.ndarray]:
    """Share correct, and under each resample (weights float (n_boot, n))."""
    if len(correct) == 0:
        return float("nan"), np.full(len(weights), np.nan)
    return float(np.mean(correct)), weighted_mean_samples(correct.astype(float), weights)
