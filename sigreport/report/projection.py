"""2-D projections of each layer's activations for the report's scatter plots.

Only the points the report shows are projected: a class-stratified subsample
of the test split (trained classes) and the probe split, at most
``report.max_points`` in all. PCA and UMAP are fitted on training activations
and then applied to the shown points; t-SNE has no out-of-sample transform, so
it embeds the shown points themselves.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from sigreport._threads import single_threaded
from sigreport.activations import Activations
from sigreport.config import ReportConfig
from sigreport.errors import ConfigError

__all__ = ["Projections", "check_projection", "compute_projections", "select_points"]

_FIT_ROWS = 5000
_UMAP_EPOCHS = 200


@dataclass(frozen=True)
class Projections:
    """Where each shown point lands in each layer's 2-D projection.

    Attributes
    ----------
    method:
        "pca", "tsne" or "umap".
    layers:
        Layer names, in order (input, hidden layers, logits).
    split:
        (n_points,) str array, "test" or "probe": the split each point comes from.
    row:
        int64 (n_points,), the point's row in that split.
    xy:
        layer name -> float32 (n_points, 2).
    explained:
        layer name -> fraction of variance the two axes explain (PCA only, else None).
    """

    method: str
    layers: tuple[str, ...]
    split: np.ndarray
    row: np.ndarray
    xy: dict[str, np.ndarray]
    explained: dict[str, float | None]


def check_projection(projection: str) -> None:
    """Raise :class:`ConfigError` when ``projection`` cannot run here (UMAP not installed).

    Call it before training so a long run does not fail at the last stage.
    """
    if projection == "umap" and importlib.util.find_spec("umap") is None:
        raise ConfigError(
            "report.projection = 'umap': expected an installed umap-learn package "
            "(pip install umap-learn), or use 'pca' or 'tsne'"
        )


def import_umap() -> ModuleType:
    """The umap module, its numba-compiled functions kept on disk in the cache folder.

    UMAP and pynndescent are numba code: compiling it costs about 20 s in every
    process, for a projection of a few thousand points that runs in under a second.
    Unless ``NUMBA_CACHE_DIR`` is set already, numba's cache is pointed at
    ``<cache folder>/numba`` before numba is imported, and every numba function of
    umap and pynndescent caches what it compiles there (numba's own ``cache=True``;
    most of theirs lack it): those decorated while umap is imported get it as they
    are decorated, since a few are compiled right then (about 0.5 s), the others
    (umap imported before) once it is imported. The first projection on a machine
    compiles and saves; later processes load the machine code. The cached code is
    what numba compiled, so the coordinates are the same either way. Without a
    writable cache folder every process compiles, as before.
    """
    from sigreport.store import cache_problem, cache_root

    if "NUMBA_CACHE_DIR" not in os.environ and cache_problem() is None:
        os.environ["NUMBA_CACHE_DIR"] = str(cache_root() / "numba")
        if "numba" in sys.modules:  # imported by someone else: read the setting again
            sys.modules["numba"].config.reload_config()
    packages = ("umap", "pynndescent")
    if not os.environ.get("NUMBA_CACHE_DIR"):
        import umap

        return umap
    with _cached_decorations(packages):
        import umap
    import sigreport.report._umap_kernels  # noqa: F401  (its functions cached below)

    _cache_numba_functions((*packages, "sigreport.report._umap_kernels"))
    return umap


@contextmanager
def _cached_decorations(packages: tuple[str, ...]) -> Iterator[None]:
    """While inside, ``numba.njit`` called from a module of ``packages`` caches on disk
    (``cache=True`` unless the call says otherwise), eagerly compiled functions too."""
    import numba

    original = numba.njit

    def njit(*args: Any, **kws: Any) -> Any:
        caller = sys._getframe(1).f_globals.get("__name__", "")
        if caller.split(".")[0] in packages:
            kws.setdefault("cache", True)
        return original(*args, **kws)

    numba.njit = njit
    try:
        yield
    finally:
        numba.njit = original


def _cache_numba_functions(packages: tuple[str, ...]) -> None:
    """Turn on numba's on-disk cache for every jitted function of the imported
    modules of ``packages`` (dotted names; what they compile from now on is saved and
    reused)."""
    from numba.core.caching import NullCache
    from numba.core.dispatcher import Dispatcher

    for name, module in list(sys.modules.items()):
        if module is None or not any(name == p or name.startswith(p + ".") for p in packages):
            continue
        for value in list(vars(module).values()):
            # numba keeps a dispatcher's cache private; NullCache is "no cache set".
            if isinstance(value, Dispatcher) and isinstance(getattr(value, "_cache", None),
                                                            NullCache):
                try:
                    value.enable_caching()
                except RuntimeError:  # numba cannot place this function's cache: it compiles
                    pass


def select_points(acts: Activations, max_points: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A class-balanced subsample of the test and probe splits.

    Each class (trained or probe) gets an equal share of ``max_points``; what a
    small class cannot use goes to the others.

    Returns
    -------
    split:
        (n_points,) str array of "test" / "probe".
    row:
        int64 (n_points,), row in that split, sorted within each split.
    """
    rng = np.random.default_rng([seed, 0x9107])
    groups = [("test", c, np.flatnonzero(acts.test.y == c)) for c in np.unique(acts.test.y)]
    groups += [("probe", c, np.flatnonzero(acts.probe.y == c)) for c in np.unique(acts.probe.y)]
    sizes = np.array([len(g[2]) for g in groups], dtype=np.int64)
    quota = np.zeros_like(sizes)
    left = min(max_points, int(sizes.sum()))
    # Water-filling: equal shares, capped by each class's size.
    while left > 0:
        open_ = np.flatnonzero(quota < sizes)
        share = max(1, left // len(open_))
        for i in open_:
            take = min(share, sizes[i] - quota[i], left)
            quota[i] += take
            left -= take
            if left == 0:
                break
    splits, rows = [], []
    for (split, _c, idx), q in zip(groups, quota):
        chosen = np.sort(rng.choice(idx, size=int(q), replace=False))
        splits += [split] * len(chosen)
        rows.append(chosen)
    row = np.concatenate(rows).astype(np.int64) if rows else np.zeros(0, np.int64)
    return np.asarray(splits, dtype=str), row


def _gather(acts: Activations, layer: str, split: np.ndarray, row: np.ndarray) -> np.ndarray:
    out = np.zeros((len(row), acts.train.layers[layer].shape[1]), np.float32)
    for name in ("test", "probe"):
        mask = split == name
        if mask.any():
            out[mask] = acts.split(name).layers[layer][row[mask]]
    return out


def compute_projections(acts: Activations, layers: tuple[str, ...], cfg: ReportConfig,
                        seed: int) -> Projections:
    """Project the shown points of every layer in ``layers`` to 2-D.

    Parameters
    ----------
    acts:
        Recorded activations; ``acts.train.layers[name]`` is float32 (n_train, width).
    layers:
        The layer names to project.
    cfg:
        ``projection`` ("pca", "tsne", "umap") and ``max_points``.

    Raises
    ------
    ConfigError
        For "umap" when the umap-learn package is not installed.
    """
    check_projection(cfg.projection)
    split, row = select_points(acts, cfg.max_points, seed)
    rng = np.random.default_rng([seed, 0x9C4])
    n_train = len(acts.train.y)
    fit_rows = np.sort(rng.choice(n_train, size=min(_FIT_ROWS, n_train), replace=False))

    def project(layer: str) -> tuple[np.ndarray, float | None]:
        shown = _gather(acts, layer, split, row)
        fit = acts.train.layers[layer][fit_rows]
        explained = None
        if cfg.projection == "pca":
            from sklearn.decomposition import PCA

            n_comp = min(2, fit.shape[1], max(1, len(fit) - 1))
            pca = PCA(n_components=n_comp, random_state=seed).fit(fit)
            out = pca.transform(shown) if len(shown) else np.zeros((0, n_comp))
            explained = float(pca.explained_variance_ratio_.sum())
        elif cfg.projection == "tsne":
            from sklearn.manifold import TSNE

            perplexity = float(min(30.0, max(2.0, (len(shown) - 1) / 3)))
            out = TSNE(n_components=2, perplexity=perplexity, init="pca",
                       random_state=seed).fit_transform(shown)
        else:
            umap = import_umap()  # checked above
            from sigreport.report._umap_kernels import compiled_small_data  # imported there

            # A seed makes UMAP deterministic and single-threaded; n_jobs says so, quietly.
            # 200 epochs (transform: a third), umap's own choice above 10,000 rows, rather
            # than its 500 for small data: the layout's SGD was two thirds of the time
            # left, and the shown points' neighbourhoods are kept as well (trustworthiness
            # at 15 neighbours within 0.01 on every layer of the original-2021 presets).
            with compiled_small_data():
                reducer = umap.UMAP(n_components=2, n_epochs=_UMAP_EPOCHS, random_state=seed,
                                    n_jobs=1).fit(fit)
                out = reducer.transform(shown)
        out = np.asarray(out, dtype=np.float32)
        if out.shape[1] == 1:
            out = np.concatenate([out, np.zeros_like(out)], axis=1)
        return out, explained

    # On one BLAS thread: a 5000-row fit gains nothing from more, whose threads spin and
    # slow it several times over when the machine's cores are busy.
    with single_threaded():
        results = [project(layer) for layer in layers]
    xy = {layer: out for layer, (out, _) in zip(layers, results)}
    explained = {layer: ev for layer, (_, ev) in zip(layers, results)}
    return Projections(cfg.projection, tuple(layers), split, row, xy, explained)
