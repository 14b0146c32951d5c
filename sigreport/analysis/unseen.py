"""Question 3: what does a class the network never saw look like inside it?

Per probe class and hidden layer: how many of its images fall outside every
cluster's region (unassigned), which training clusters the rest borrow and
whose clusters those are, how many take a novel path, and what the network
predicts; beside each number, the same for the trained classes' test images.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sigreport.activations import Activations
from sigreport.analysis._common import occupancy
from sigreport.analysis.paths import PathStats
from sigreport.analysis.types import UnseenLayer
from sigreport.signatures import UNASSIGNED, Signatures

__all__ = ["describe_unseen"]

TOP_PATHS = 10           # paths listed per probe class


def _dominant(sigs: Signatures, acts: Activations, name: str) -> list[int | None]:
    sig = sigs.layer(name)
    occ = occupancy(sig.labels["train"], acts.train.y, acts.classes, sig.n_clusters)
    return [int(acts.classes[int(np.argmax(occ[:, c]))]) if occ[:, c].sum() else None
            for c in range(sig.n_clusters)]


def _layer(sigs: Signatures, acts: Activations, name: str, mine: np.ndarray,
           dominant: list[int | None]) -> UnseenLayer:
    sig = sigs.layer(name)
    lab = sig.labels["probe"][mine]
    n = len(lab)
    values, counts = np.unique(lab[lab != UNASSIGNED], return_counts=True)
    clusters = [{"cluster": int(v), "fraction": int(c) / n, "dominant_class": dominant[v]}
                for v, c in sorted(zip(values.tolist(), counts.tolist()),
                                   key=lambda t: (-t[1], t[0]))]
    lands = {str(t): float(sum(cl["fraction"] for cl in clusters if cl["dominant_class"] == t))
             for t in acts.classes}
    d_test = sig.distance["test"]
    return {
        "layer": name,
        "unassigned_rate": float(np.mean(lab == UNASSIGNED)),
        "test_unassigned_rate": sig.unassigned_rate("test"),
        "clusters": clusters,
        "lands_in_class": lands,
        "centroid_distance_mean": float(np.mean(sig.distance["probe"][mine])),
        "trained_test_distance_mean": float(np.mean(d_test)) if len(d_test) else None,
        "boundary_ratio_median": float(np.median(sig.ratio["probe"][mine])),
        "test_boundary_ratio_median": float(np.median(sig.ratio["test"]))
        if len(sig.ratio["test"]) else None,
    }


def describe_unseen(acts: Activations, sigs: Signatures, ps: PathStats,
                    probes: tuple[int, ...]) -> list[dict[str, Any]]:
    """One :class:`~sigreport.analysis.types.Unseen` (key "class") per probe class present."""
    test_novel = float(np.mean(ps.novel[ps.ids["test"]])) if len(ps.ids["test"]) else None
    test_pred = {str(t): float(np.mean(acts.test.predicted == t)) for t in acts.classes}
    dominants = {h: _dominant(sigs, acts, h) for h in sigs.path_layers}
    out = []
    for c in probes:
        mine = acts.probe.y == c
        n = int(mine.sum())
        if n == 0:
            continue
        ids = ps.ids["probe"][mine]
        path_rows, path_counts = np.unique(ids, return_counts=True)
        order = np.lexsort((path_rows, -path_counts))
        top = [{
            "path": ps.unique[p].tolist(),
            "count": int(path_counts[j]),
            "fraction": float(path_counts[j] / n),
            "novel": bool(ps.novel[p]),
            "training_support": int(ps.train[p].sum()),
            "dominant_class": int(ps.dominant[p]) if ps.train[p].sum() else None,
        } for j in order[:TOP_PATHS] for p in [path_rows[j]]]
        borrowed = next((t for t in (
            {"path": ps.unique[path_rows[j]].tolist(),
             "fraction": float(path_counts[j] / n),
             "dominant_class": int(ps.dominant[path_rows[j]])}
            for j in order if not ps.novel[path_rows[j]])), None)
        out.append({
            "class": c,
            "n_samples": n,
            "predicted_as": {str(t): float(np.mean(acts.probe.predicted[mine] == t))
                             for t in acts.classes},
            "test_predicted_as": test_pred,
            "novel_path_fraction": float(np.mean(ps.novel[ids])),
            "test_novel_path_fraction": test_novel,
            "unassigned_any_fraction": float(np.mean(
                (sigs.paths["probe"][mine] == UNASSIGNED).any(axis=1)))
            if sigs.paths["probe"].shape[1] else 0.0,
            "test_unassigned_any_fraction": float(np.mean(
                (sigs.paths["test"] == UNASSIGNED).any(axis=1)))
            if sigs.paths["test"].shape[1] and len(sigs.paths["test"]) else None,
            "layers": [_layer(sigs, acts, h, mine, dominants[h]) for h in sigs.path_layers],
            "top_paths": top,
            "most_borrowed_path": borrowed["path"] if borrowed else None,
            "most_borrowed_path_fraction": borrowed["fraction"] if borrowed else 0.0,
            "most_borrowed_path_dominant_class": borrowed["dominant_class"] if borrowed else None,
        })
    return out
