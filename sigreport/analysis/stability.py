"""Stability across seeds: the same clusters and specific paths in networks trained apart?"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import adjusted_rand_score

from sigreport.activations import Activations
from sigreport.analysis.paths import PathStats, compute_path_stats
from sigreport.config import SignaturesConfig
from sigreport.signatures import Signatures

__all__ = ["compute_stability"]

RECUR_JACCARD = 0.5      # a specific path recurs in another seed above this member overlap


def _members(acts: Activations, ps: PathStats) -> list[np.ndarray]:
    """Source indices of the test samples on each specific path (empty ones dropped)."""
    ids, index = ps.ids["test"], acts.test.index
    members = [np.sort(index[ids == p]) for p in np.flatnonzero(ps.specific)]
    return [m for m in members if len(m)]


def _accuracy(acts: Activations) -> float:
    return float(np.mean(acts.test.predicted == acts.test.y)) if len(acts.test.y) else float("nan")


def compute_stability(acts: Activations, sigs: Signatures, ps: PathStats, main_seed: int,
                      cfg: SignaturesConfig, probes: tuple[int, ...],
                      other_seeds: list[tuple[int, Activations, Signatures]] | None
                      ) -> dict[str, Any] | None:
    """ARI of each layer's test clusters and recurrence of specific paths, main seed vs others."""
    if not other_seeds:
        return None
    main_members = _members(acts, ps)
    layer_aris: dict[str, list[float]] = {name: [] for name in sigs.layer_names}
    per_seed = []
    for seed, acts_o, sigs_o in other_seeds:
        _, ia, ib = np.intersect1d(acts.test.index, acts_o.test.index, return_indices=True)
        for name in sigs.layer_names:
            if name in sigs_o.layer_names and len(ia):
                layer_aris[name].append(float(adjusted_rand_score(
                    sigs.layer(name).labels["test"][ia], sigs_o.layer(name).labels["test"][ib])))
        ps_o = compute_path_stats(acts_o, sigs_o.paths, cfg.specific_threshold, cfg.min_support,
                                  probes)
        other = _members(acts_o, ps_o)
        best = [max((len(np.intersect1d(m, o)) / len(np.union1d(m, o)) for o in other),
                    default=0.0) for m in main_members]
        per_seed.append({
            "seed": int(seed),
            "test_accuracy": _accuracy(acts_o),
            "n_specific": int(ps_o.specific.sum()),
            "specific_path_recurrence": float(np.mean([b >= RECUR_JACCARD for b in best]))
            if best else None,
            "specific_path_jaccard_mean": float(np.mean(best)) if best else None,
        })
    rec = [s["specific_path_recurrence"] for s in per_seed
           if s["specific_path_recurrence"] is not None]
    return {
        "seeds": [main_seed] + [int(s) for s, _, _ in other_seeds],
        "split": "test",
        "layers": [{"layer": name,
                    "ari_mean": float(np.mean(v)) if v else None,
                    "ari_min": float(np.min(v)) if v else None} for name, v in layer_aris.items()],
        "specific_path_recurrence": float(np.mean(rec)) if rec else None,
        "recurrence_rule": f"a specific path recurs when some specific path of the other seed "
                           f"has test members with Jaccard overlap >= {RECUR_JACCARD}",
        "per_seed": per_seed,
    }
