"""Small pieces every question uses: class columns, occupancy counts, intervals, JSON values."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from sigreport.sampling import bootstrap_rows

CONFIDENCE = 0.95


def class_index(y: np.ndarray, classes: tuple[int, ...]) -> np.ndarray:
    """int64 (n_samples,): column of each sample's class in sorted ``classes``, -1 when absent."""
    cls = np.asarray(classes, dtype=np.int64)
    if len(cls) == 0:
        return np.full(len(y), -1, dtype=np.int64)
    pos = np.clip(np.searchsorted(cls, y), 0, len(cls) - 1)
    return np.where(cls[pos] == y, pos, -1).astype(np.int64)


def occupancy(labels: np.ndarray, y: np.ndarray, classes: tuple[int, ...], n_clusters: int
              ) -> np.ndarray:
    """int64 (n_classes, n_clusters + 1): samples per class and cluster; last column unassigned."""
    col = class_index(y, classes)
    lab = np.where(labels < 0, n_clusters, labels)
    keep = col >= 0
    flat = col[keep] * (n_clusters + 1) + lab[keep]
    return np.bincount(flat, minlength=len(classes) * (n_clusters + 1)).reshape(
        len(classes), n_clusters + 1)


def mean_finite(values: list[float]) -> float:
    vals = [v for v in values if v is not None and not math.isnan(v)]
    return float(np.mean(vals)) if vals else float("nan")


@dataclass(frozen=True)
class Resamples:
    """Bootstrap resamples of the test split, shared by every interval so they are paired.

    ``weights`` float64 (n_boot, n_test): how many times each test sample is drawn.
    """

    weights: np.ndarray

    @property
    def n_boot(self) -> int:
        return self.weights.shape[0]

    def rows_of(self, rows: np.ndarray) -> np.ndarray:
        """The weights restricted to a subset of test rows (n_boot, len(rows))."""
        return self.weights[:, rows]


def make_resamples(n: int, n_boot: int, seed: int, salt: int = 0x7E57) -> Resamples:
    """``n_boot`` resamples of ``n`` rows; the default ``salt`` draws the test split's, another
    salt an independent set (for the probe images, say)."""
    rows = bootstrap_rows(n, n_boot, seed, salt=salt)
    weights = np.zeros((n_boot, n))
    for b in range(n_boot):
        weights[b] = np.bincount(rows[b], minlength=n)
    return Resamples(weights)


def interval(samples: np.ndarray | list[float]) -> list[float] | None:
    """Percentile interval at ``CONFIDENCE`` of bootstrap samples (None if none are finite)."""
    s = np.asarray(samples, dtype=np.float64)
    s = s[np.isfinite(s)]
    if len(s) == 0:
        return None
    tail = (1 - CONFIDENCE) / 2 * 100
    lo, hi = np.percentile(s, [tail, 100 - tail])
    return [float(lo), float(hi)]


def paired_difference(a: float | None, b: float | None, a_samples: np.ndarray,
                      b_samples: np.ndarray) -> tuple[float | None, list[float] | None]:
    """The difference ``a - b`` of two statistics measured on the same resamples, and the
    percentile interval (at ``CONFIDENCE``) of their difference resample by resample.

    ``a_samples`` and ``b_samples`` float (n_boot,): the two statistics under the same
    resamples, in the same order. Pairing keeps what the two share (the same test samples
    drawn) out of the interval, which two intervals compared side by side do not. The
    interval is None when no resample gives both values. A difference within ``ROUNDING``
    of 0 is 0: two equal statistics computed apart.
    """
    a_s, b_s = np.asarray(a_samples, dtype=np.float64), np.asarray(b_samples, dtype=np.float64)
    if a_s.shape != b_s.shape or a_s.ndim != 1:
        raise ValueError(f"paired samples need one shape, got {a_s.shape} and {b_s.shape}")
    diff = None if a is None or b is None else _snap(np.float64(a) - np.float64(b))
    return (None if diff is None else float(diff)), interval(_snap(a_s - b_s))


ROUNDING = 1e-9     # the rounding of two equal statistics computed apart


def _snap(d: Any) -> Any:
    return np.where(np.abs(d) <= ROUNDING, 0.0, d)


def exceeds(ci: list[float] | None, margin: float = 0.0) -> bool | None:
    """Whether an interval of a difference lies wholly above ``margin`` (None without one)."""
    return None if ci is None else bool(ci[0] > margin)


def weighted_mean_samples(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(n_boot,): the mean of ``values`` (n,) under each resample's weights (n_boot, n)."""
    total = weights.sum(axis=1)
    return (weights @ np.asarray(values, dtype=np.float64)) / np.where(total > 0, total, 1.0)


def plain(value: Any) -> Any:
    """JSON-ready copy: numpy to Python, floats to 6 significant digits, nan/inf to None."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
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
