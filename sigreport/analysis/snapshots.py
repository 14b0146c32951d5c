"""How the signatures form during training: the measures of each recorded epoch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from sigreport.activations import Activations
from sigreport.analysis.paths import compute_path_stats, path_purity
from sigreport.analysis.separation import Alignment
from sigreport.config import SignaturesConfig
from sigreport.signatures import Signatures, cluster_layer_names

__all__ = ["describe_snapshots"]


def describe_snapshots(history: dict[str, Any],
                       snapshots: dict[int, tuple[Activations, Signatures]] | None,
                       alignment_of: Callable[[int], dict[str, Alignment]],
                       cfg: SignaturesConfig, probes: tuple[int, ...]) -> list[dict[str, Any]]:
    """One entry per recorded epoch: accuracy, per-layer alignment and regions, path counts.

    ``alignment_of(epoch)`` gives the label alignment of that epoch's layers.
    """
    if not snapshots:
        return []
    epochs = [int(e) for e in np.asarray(history.get("epoch", []))]
    test_acc = np.asarray(history.get("test_accuracy", []), dtype=np.float64)
    out = []
    for epoch in sorted(snapshots):
        acts_e, sigs_e = snapshots[epoch]
        if epoch in epochs and epochs.index(epoch) < len(test_acc):
            acc = float(test_acc[epochs.index(epoch)])
        else:
            acc = float(np.mean(acts_e.test.predicted == acts_e.test.y))
        align = alignment_of(epoch)
        layers = []
        for name in cluster_layer_names(acts_e):
            sig = sigs_e.layer(name)
            layers.append({
                "name": name,
                "cluster_class_ami": align[name].value["cluster_class_ami"],
                "cka_labels": align[name].value["cka_labels"],
                "linear_probe_accuracy": align[name].value["linear_probe_accuracy"],
                "n_clusters": sig.n_clusters,
                "unassigned_rate": {s: sig.unassigned_rate(s) for s in ("test", "probe")},
            })
        ps = compute_path_stats(acts_e, sigs_e.paths, cfg.specific_threshold, cfg.min_support,
                                probes)
        out.append({
            "epoch": int(epoch),
            "test_accuracy": acc,
            "layers": layers,
            "n_distinct_paths": int((ps.train.sum(axis=1) > 0).sum()),
            "path_purity": path_purity(ps),
            "n_specific": int(ps.specific.sum()),
        })
    return out
