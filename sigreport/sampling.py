"""Seeded row selections shared by every stage: subsamples and bootstrap resamples.

Each caller names its own ``salt`` so two selections made from one seed are
independent, and the same (seed, salt) always picks the same rows.
"""

from __future__ import annotations

import numpy as np

__all__ = ["bootstrap_rows", "seeded_subset"]


def seeded_subset(n: int, cap: int, seed: int, salt: int) -> np.ndarray:
    """Sorted int64 row indices: all ``n`` rows when ``n <= cap``, else ``cap`` of them.

    Parameters
    ----------
    n:
        Number of rows to choose from.
    cap:
        Largest number of rows to keep.
    seed, salt:
        The run's seed and the caller's own constant.
    """
    if n <= cap:
        return np.arange(n, dtype=np.int64)
    rng = np.random.default_rng([seed, salt])
    return np.sort(rng.choice(n, size=cap, replace=False)).astype(np.int64)


def bootstrap_rows(n: int, n_boot: int, seed: int, salt: int) -> np.ndarray:
    """int64 (n_boot, n): row indices of ``n_boot`` resamples with replacement of ``n`` rows."""
    rng = np.random.default_rng([seed, salt, 0xB007])
    return rng.integers(0, n, size=(n_boot, n), dtype=np.int64)
