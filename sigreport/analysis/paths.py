"""Paths over the hidden layers: counted per class, specific paths, faithfulness, robustness.

A path is the tuple of a sample's cluster ids over the hidden layers, -1 where
it is unassigned. A path is *specific* to a class when at least
``min_support`` training samples take it and at least ``specific_threshold``
of them belong to that class; a path through an unassigned layer is never
specific. A path is *novel* when no training sample takes it or it passes an
unassigned layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sigreport.activations import Activations
from sigreport.analysis._common import Resamples, class_index, interval, weighted_mean_samples
from sigreport.analysis.types import Share
from sigreport.signatures import UNASSIGNED, Signatures, path_ids

__all__ = ["PathStats", "compute_path_stats", "count_paths", "summarize_paths"]

TABLE_CAP = 200          # rows of the path table


def _count(ids: np.ndarray, y: np.ndarray, classes: tuple[int, ...], n_paths: int) -> np.ndarray:
    col = class_index(y, classes)
    keep = col >= 0
    flat = ids[keep] * len(classes) + col[keep]
    counts = np.bincount(flat, minlength=n_paths * len(classes))
    return counts.reshape(n_paths, len(classes)).astype(np.int64)


def count_paths(paths: np.ndarray, y: np.ndarray, classes: tuple[int, ...]
                ) -> tuple[np.ndarray, np.ndarray]:
    """Count how many samples of each class take each distinct path.

    ``paths`` int64 (n_samples, n_path_layers); ``y`` int (n_samples,) class ids
    (samples of classes outside ``classes`` are ignored). Returns the distinct
    paths int64 (n_paths, n_path_layers) in lexicographic order and the counts
    int64 (n_paths, n_classes).
    """
    unique, ids = path_ids({"all": np.asarray(paths, dtype=np.int64)})
    return unique, _count(ids["all"], y, classes, len(unique))


@dataclass(frozen=True)
class PathStats:
    """Paths of every split, counted per class.

    ``unique`` int64 (n_paths, n_hidden); ``ids`` split -> int64 row of
    ``unique``; ``train``/``test`` int64 (n_paths, n_classes) counts; ``probe``
    int64 (n_paths, n_probe_classes); ``dominant`` int64 class id with the most
    training samples on the path (-1 if none); ``purity`` float64 share of that
    class among the path's training samples (nan if none); ``specific`` bool;
    ``novel`` bool: no training sample takes it or it passes an unassigned layer.
    """

    unique: np.ndarray
    ids: dict[str, np.ndarray]
    train: np.ndarray
    test: np.ndarray
    probe: np.ndarray
    dominant: np.ndarray
    purity: np.ndarray
    specific: np.ndarray
    novel: np.ndarray


def compute_path_stats(acts: Activations, paths: dict[str, np.ndarray], threshold: float,
                       min_support: int, probe_classes: tuple[int, ...]) -> PathStats:
    """Count paths per class in every split and mark the specific and novel ones.

    ``paths``: split -> int64 (n_samples, n_hidden), as ``Signatures.paths``.
    """
    unique, ids = path_ids(paths)
    n = len(unique)
    train = _count(ids["train"], acts.train.y, acts.classes, n)
    test = _count(ids["test"], acts.test.y, acts.classes, n)
    probe = _count(ids["probe"], acts.probe.y, probe_classes, n)
    total = train.sum(axis=1)
    cls = np.asarray(acts.classes, dtype=np.int64)
    dominant = np.where(total > 0, cls[train.argmax(axis=1)], -1)
    with np.errstate(invalid="ignore", divide="ignore"):
        pur = np.where(total > 0, train.max(axis=1) / np.maximum(total, 1), np.nan)
    through_unassigned = (unique == UNASSIGNED).any(axis=1) if unique.shape[1] \
        else np.zeros(n, bool)
    specific = (total >= min_support) & (np.nan_to_num(pur) >= threshold) & ~through_unassigned
    novel = (total == 0) | through_unassigned
    return PathStats(unique, ids, train, test, probe, dominant.astype(np.int64), pur, specific,
                     novel)


def path_purity(ps: PathStats) -> float:
    """Share of training samples on a path whose majority class is theirs."""
    n = ps.train.sum()
    return float(ps.train.max(axis=1).sum() / n) if n else float("nan")


def _table(ps: PathStats, classes: tuple[int, ...], probes: tuple[int, ...]) -> list[dict]:
    total = ps.train.sum(axis=1) + ps.test.sum(axis=1) + ps.probe.sum(axis=1)
    # most used first; ties in path order, so the table is deterministic
    order = np.lexsort(tuple(ps.unique[:, j] for j in range(ps.unique.shape[1] - 1, -1, -1))
                       + (-total,))
    order = order[total[order] > 0][:TABLE_CAP]
    table = []
    for p in order:
        n_train = int(ps.train[p].sum())
        table.append({
            "path": ps.unique[p].tolist(),
            "counts": {str(c): int(ps.train[p, i]) for i, c in enumerate(classes)},
            "test_counts": {str(c): int(ps.test[p, i]) for i, c in enumerate(classes)},
            "probe_counts": {str(c): int(ps.probe[p, i]) for i, c in enumerate(probes)},
            "total": int(total[p]),
            "support": n_train,
            "purity": float(ps.purity[p]) if n_train else None,
            "dominant_class": int(ps.dominant[p]) if n_train else None,
            "specific": bool(ps.specific[p]),
            "novel": bool(ps.novel[p]),
        })
    return table


def _share_samples(flags: np.ndarray, rows: np.ndarray, res: Resamples) -> Share:
    """{value, ci, n}: the share of ``flags`` (bool over the selected test rows), with its
    interval."""
    if not len(flags):
        return {"value": None, "ci": None, "n": 0}
    w = res.rows_of(rows)
    return {"value": float(np.mean(flags)),
            "ci": interval(weighted_mean_samples(flags.astype(float), w)), "n": len(flags)}


def summarize_paths(acts: Activations, sigs: Signatures, ps: PathStats, res: Resamples,
                    threshold: float, min_support: int, probes: tuple[int, ...],
                    noisy_paths: np.ndarray | None, noisy_predicted: np.ndarray | None,
                    noise: float) -> dict[str, Any]:
    """The ``paths`` section of the metrics: table, specific paths, coverage, faithfulness,
    agreement under input noise (``noisy_paths`` int64 (n_test, n_hidden) or None)."""
    classes = acts.classes
    ids, y, pred = ps.ids["test"], acts.test.y, acts.test.predicted
    coverage = {}
    for c in classes:
        mine = y == c
        on = ps.specific[ids[mine]] & (ps.dominant[ids[mine]] == c)
        coverage[str(c)] = float(on.mean()) if mine.any() else None
    rows = np.arange(len(y))
    seen = ~ps.novel[ids]
    # faithfulness: the path's majority training class is the network's decision
    faithful = _share_samples((ps.dominant[ids] == pred)[seen], rows[seen], res)
    faithful["coverage"] = float(seen.mean()) if len(seen) else None
    on_specific = ps.specific[ids]
    faithful_specific = _share_samples((ps.dominant[ids] == pred)[on_specific],
                                       rows[on_specific], res)
    in_train = ps.train.sum(axis=1) > 0
    noise_section = None
    if noisy_paths is not None and noisy_predicted is not None:
        clean = sigs.paths["test"]
        same_path = np.all(noisy_paths == clean, axis=1)
        noise_section = {
            "sigma": noise,
            "path_agreement": _share_samples(same_path, rows, res),
            "prediction_agreement": _share_samples(noisy_predicted == pred, rows, res),
            "layer_agreement": {h: float(np.mean(noisy_paths[:, j] == clean[:, j]))
                                for j, h in enumerate(sigs.path_layers)},
        }
    return {
        "layers": list(sigs.path_layers),
        "unassigned": int(UNASSIGNED),
        "n_distinct_train": int(in_train.sum()),
        "n_distinct_test": int((ps.test.sum(axis=1) > 0).sum()),
        "n_distinct_probe": int((ps.probe.sum(axis=1) > 0).sum()),
        "specific_threshold": threshold,
        "min_support": min_support,
        "n_specific": int(ps.specific.sum()),
        "specific_per_class": {str(c): int(np.sum(ps.specific & (ps.dominant == c)))
                               for c in classes},
        "path_purity_train": path_purity(ps),
        "table": _table(ps, classes, probes),
        "table_cap": TABLE_CAP,
        "table_truncated": bool(((ps.train.sum(axis=1) + ps.test.sum(axis=1)
                                  + ps.probe.sum(axis=1)) > 0).sum() > TABLE_CAP),
        "coverage": coverage,
        "specific_share": _share_samples(on_specific, rows, res),
        "novel_share": {"test": float(np.mean(ps.novel[ids])) if len(ids) else None,
                        "probe": float(np.mean(ps.novel[ps.ids["probe"]]))
                        if len(ps.ids["probe"]) else None},
        "faithfulness": faithful,
        "faithfulness_specific": faithful_specific,
        "noise": noise_section,
    }
