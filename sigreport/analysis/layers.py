"""The per-layer table: clusters, regions, alignment with the classes, binary signatures,
and linear CKA between layers."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from sigreport.activations import Activations
from sigreport.analysis._common import occupancy
from sigreport.analysis.measures import linear_cka_matrix, purity
from sigreport.analysis.separation import Alignment
from sigreport.sampling import seeded_subset
from sigreport.signatures import LayerSignature, Signatures

__all__ = ["cka_matrix", "describe_layers"]


def _binary(acts: Activations, sig: LayerSignature) -> dict[str, Any] | None:
    if sig.active is None:
        return None
    active = sig.active["train"]
    y, classes = acts.train.y, acts.classes
    rates = {c: active[y == c].mean(axis=0, dtype=np.float64) for c in classes}
    counts = {c: int(np.sum(y == c)) for c in classes}
    pairs = []
    for i, a in enumerate(classes):
        for b in classes[i + 1:]:
            pa, pb = rates[a], rates[b]
            # exact mean Hamming distance over all (a, b) sample pairs, as a share of units
            mean_pair = float(np.mean(pa * (1 - pb) + (1 - pa) * pb))
            majority = float(np.mean((pa > 0.5) != (pb > 0.5)))
            pairs.append({"a": a, "b": b, "distance": mean_pair, "majority_distance": majority})
    within = {}
    for c in classes:
        n, p = counts[c], rates[c]
        within[str(c)] = float(np.mean(2 * p * (1 - p)) * n / (n - 1)) if n > 1 else 0.0
    return {
        "split": "train",
        "hamming": pairs,
        "within": within,
        "active_fraction": {str(c): float(rates[c].mean()) for c in classes},
        "dead_units": int(np.sum(active.sum(axis=0) == 0)),
    }


def describe_layers(acts: Activations, sigs: Signatures, alignment: dict[str, Alignment],
                    probes: tuple[int, ...]) -> list[dict[str, Any]]:
    """One entry per clustered layer (input, hidden, logits), in depth order."""
    infos = {info.name: info for info in acts.layers}
    out = []
    for sig in sigs.layers:
        name, k = sig.layer, sig.n_clusters
        info, al = infos[name], alignment[name]
        train_occ = occupancy(sig.labels["train"], acts.train.y, acts.classes, k)
        probe_occ = occupancy(sig.labels["probe"], acts.probe.y, probes, k)
        y_test, lab_test = acts.test.y, sig.labels["test"]
        out.append({
            "index": info.index,
            "name": name,
            "kind": info.kind,
            "width": info.width,
            "linear_probe_accuracy": al.value["linear_probe_accuracy"],
            "linear_probe_accuracy_ci": al.ci("linear_probe_accuracy"),
            "cka_labels": al.value["cka_labels"],
            "cka_labels_ci": al.ci("cka_labels"),
            "cluster_class_ami": al.value["cluster_class_ami"],
            "cluster_class_ami_ci": al.ci("cluster_class_ami"),
            "cluster_class_nmi": float(normalized_mutual_info_score(y_test, lab_test))
            if len(y_test) else float("nan"),
            "cluster_class_ari": float(adjusted_rand_score(y_test, lab_test))
            if len(y_test) else float("nan"),
            "purity": purity(lab_test, y_test),
            "n_clusters": k,
            "k_selection": {
                "rule": sig.rule,
                "candidates": list(sig.k_candidates),
                "scores": list(sig.k_scores),
                "subsample": sig.subsample,
                # The best k over the whole range: what a narrower rule passes over.
                "best_k_any": (int(sig.k_candidates[int(np.argmax(sig.k_scores))])
                               if sig.k_scores else None),
            },
            "unassigned_rate": {s: sig.unassigned_rate(s) for s in ("train", "test", "probe")},
            "cluster_counts": {str(c): train_occ[i, :k].tolist()
                               for i, c in enumerate(acts.classes)},
            "unassigned_counts": {str(c): int(train_occ[i, k])
                                  for i, c in enumerate(acts.classes)},
            "probe_cluster_counts": {str(c): probe_occ[i, :k].tolist()
                                     for i, c in enumerate(probes)},
            "probe_unassigned_counts": {str(c): int(probe_occ[i, k])
                                        for i, c in enumerate(probes)},
            "cluster_dominant_class": [int(acts.classes[int(np.argmax(train_occ[:, c]))])
                                       if train_occ[:, c].sum() > 0 else None
                                       for c in range(k)],
            "distance": {s: float(np.mean(sig.distance[s])) if len(sig.distance[s]) else None
                         for s in ("train", "test", "probe")},
            "binary": _binary(acts, sig),
        })
    return out


def cka_matrix(acts: Activations, names: tuple[str, ...], cap: int, seed: int) -> dict[str, Any]:
    """Linear CKA between every pair of clustered layers, on a seeded test subsample."""
    rows = seeded_subset(len(acts.test.y), cap, seed, salt=1)
    feats = [acts.test.layers[name][rows] for name in names]
    matrix = linear_cka_matrix(feats) if len(rows) > 1 else np.eye(len(feats))
    return {"layers": list(names), "matrix": matrix.tolist(), "subsample": len(rows),
            "split": "test"}
