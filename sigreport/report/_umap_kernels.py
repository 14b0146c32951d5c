"""Compiled equivalents of two steps umap-learn runs in Python for small data.

For fewer than 4096 fitted rows UMAP computes every distance exactly, through
scikit-learn's ``pairwise_distances`` with its numba ``euclidean`` as a
callable: one Python call per pair (300,000 for 1,500 shown points against 200
fitted ones), about 0.5 s a layer. ``transform`` then places each new point at
its neighbours' weighted mean in a Python loop over rows (``init_graph_transform``).
Here both are numba loops doing the same arithmetic in the same order (the
same ``euclidean``, the same float32 sums), so the numbers are the same to the
bit (tests/test_projection.py compares them with umap's own). They are cached
in numba's cache folder like the rest of UMAP (``projection.import_umap``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numba
import numpy as np
import umap.umap_ as umap_impl
from umap.distances import euclidean

__all__ = ["compiled_small_data", "init_graph_transform", "pairwise_euclidean"]


@numba.njit
def pairwise_euclidean(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """float32 (n_x, n_y): umap's ``euclidean`` of every row of ``x`` and of ``y``
    (both float32, C-ordered, of one width), rounded to float32 as scikit-learn does."""
    out = np.empty((x.shape[0], y.shape[0]), np.float32)
    for i in range(x.shape[0]):
        for j in range(y.shape[0]):
            out[i, j] = euclidean(x[i], y[j])
    return out


@numba.njit
def _numpy_sum(a: np.ndarray) -> np.float32:
    """numpy's ``a.sum()`` of float32 ``a``, to the bit: its pairwise summation
    (eight running sums in blocks of up to 128, halves above), in float32."""
    n = a.shape[0]
    if n < 8:
        res = np.float32(0.0)
        for i in range(n):
            res += a[i]
        return res
    if n <= 128:
        r = a[:8].copy()
        i = 8
        while i < n - n % 8:
            for j in range(8):
                r[j] += a[i + j]
            i += 8
        res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
        while i < n:
            res += a[i]
            i += 1
        return res
    half = n // 2
    half -= half % 8
    return _numpy_sum(a[:half]) + _numpy_sum(a[half:])


@numba.njit
def _init_graph_transform(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray,
                          embedding: np.ndarray) -> np.ndarray:
    result = np.zeros((indptr.shape[0] - 1, embedding.shape[1]), np.float32)
    for row in range(indptr.shape[0] - 1):
        start, stop = indptr[row], indptr[row + 1]
        if start == stop:
            result[row, :] = np.nan
            continue
        row_sum = _numpy_sum(data[start:stop])  # scipy sums a row with numpy's sum
        for k in range(start, stop):
            if data[k] == 1:
                result[row, :] = embedding[indices[k], :]
                break
            weight = data[k] / row_sum
            for d in range(embedding.shape[1]):
                result[row, d] += weight * embedding[indices[k], d]
    return result


def init_graph_transform(graph: Any, embedding: np.ndarray) -> np.ndarray:
    """umap's ``init_graph_transform`` compiled: float32 (n_new, dim), each new point at
    the weighted mean of its neighbours' places in ``embedding`` (float32 (n_fit, dim));
    ``graph`` is the float32 CSR matrix (n_new, n_fit) of membership strengths."""
    return _init_graph_transform(graph.indptr, graph.indices,
                                 np.asarray(graph.data, np.float32),
                                 np.ascontiguousarray(embedding, np.float32))


def _pairwise_distances(original: Any, X: Any, Y: Any = None, metric: Any = "euclidean",
                        **kwds: Any) -> np.ndarray:
    """scikit-learn's ``pairwise_distances`` as umap calls it, compiled for umap's dense
    float32 euclidean; anything else goes to scikit-learn."""
    dense = isinstance(X, np.ndarray) and (Y is None or isinstance(Y, np.ndarray))
    if metric is not euclidean or kwds or not dense or X.dtype != np.float32 or \
            (Y is not None and Y.dtype != np.float32):
        return original(X, Y, metric=metric, **kwds)
    x = np.ascontiguousarray(X)
    return pairwise_euclidean(x, x if Y is None else np.ascontiguousarray(Y))


@contextmanager
def compiled_small_data() -> Iterator[None]:
    """While inside, umap's small-data distances and transform initialisation run
    compiled, and numba's parallel loops on one thread."""
    saved = umap_impl.pairwise_distances, umap_impl.init_graph_transform
    original = saved[0]

    def pairwise_distances(X: Any, Y: Any = None, metric: Any = "euclidean",
                           **kwds: Any) -> np.ndarray:
        return _pairwise_distances(original, X, Y, metric, **kwds)

    threads = numba.get_num_threads()
    umap_impl.pairwise_distances = pairwise_distances
    umap_impl.init_graph_transform = init_graph_transform
    # transform's parallel gathers (``submatrix``) on one thread too, as fit runs them
    # with a seed: on busy cores a second thread only waits its turn.
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(threads)
        umap_impl.pairwise_distances, umap_impl.init_graph_transform = saved
