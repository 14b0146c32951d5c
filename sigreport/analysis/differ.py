"""Question 2: do the classes leave different signatures, and which samples are routed
like another class?

The classes' distributions over hidden-layer paths (up to each hidden layer)
are compared by their Jensen-Shannon divergence, against the input's
clustering and the untrained network's paths with the same number of
clusters, with bootstrap intervals over test images. Samples of one class on
a specific path of another are split by whether the network still classifies
them correctly: the prediction is never part of a path.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sigreport.activations import Activations
from sigreport.analysis._common import Resamples, interval
from sigreport.analysis.measures import js_divergence_samples
from sigreport.analysis.paths import PathStats
from sigreport.analysis.types import DifferRow, SignaturesDiffer
from sigreport.signatures import Signatures, path_ids

__all__ = ["answer_signatures_differ", "routed_like"]

INDEX_CAP = 100          # sample indices listed per (class, looks_like) pair


def _prefix_js(acts: Activations, sigs: Signatures, upto: int, res: Resamples
               ) -> tuple[float, list[float] | None]:
    _, ids = path_ids({"test": sigs.paths["test"][:, :upto]})
    js, samples = js_divergence_samples(ids["test"], acts.test.y, acts.classes, res.weights)
    return js, interval(samples)


def routed_like(acts: Activations, ps: PathStats) -> list[dict[str, Any]]:
    """Test samples of each class on a specific path of another class, by correctness."""
    y, pred, ids = acts.test.y, acts.test.predicted, ps.ids["test"]
    on_specific = ps.specific[ids]
    owner = ps.dominant[ids]
    out = []
    for a in acts.classes:
        n_a = int(np.sum(y == a))
        for b in acts.classes:
            if a == b:
                continue
            on = np.flatnonzero((y == a) & on_specific & (owner == b))
            out.append({
                "class": a,
                "looks_like": b,
                "count": len(on),
                "fraction": len(on) / n_a if n_a else float("nan"),
                "correct": int(np.sum(pred[on] == a)),
                "wrong": int(np.sum(pred[on] != a)),
                "predicted_as_other": int(np.sum(pred[on] == b)),
                "split": "test",
                "indices": acts.test.index[on[:INDEX_CAP]].tolist(),
                "indices_truncated": bool(len(on) > INDEX_CAP),
            })
    return out


def answer_signatures_differ(acts: Activations, sigs: Signatures, ps: PathStats,
                             res: Resamples,
                             control: tuple[Activations, Signatures] | None
                             ) -> SignaturesDiffer:
    """The Q2 answer: path divergence per hidden layer against its controls; routed-like samples."""
    inp_js, inp_samples = js_divergence_samples(sigs.layer("input").labels["test"], acts.test.y,
                                                acts.classes, res.weights)
    inp_ci = interval(inp_samples)
    per_layer: list[DifferRow] = []
    for i, name in enumerate(sigs.path_layers, start=1):
        js, ci = _prefix_js(acts, sigs, i, res)
        c_js, c_ci = _prefix_js(control[0], control[1], i, res) if control else (None, None)
        per_layer.append({
            "layer": name,
            "path_layers": list(sigs.path_layers[:i]),
            "js": js, "js_ci": ci,
            "control_js": c_js, "control_js_ci": c_ci,
            "beats_input": bool(ci[0] > inp_ci[1]) if ci and inp_ci else None,
            "beats_control": bool(ci[0] > c_ci[1]) if ci and c_ci else None,
        })
    routed = routed_like(acts, ps)
    return {
        "measure": "js_divergence",
        "split": "test",
        "rule": "Jensen-Shannon divergence (bits) between the classes' distributions over the "
                "hidden-layer paths up to the layer, mean over pairs of classes",
        "input": {"js": inp_js, "js_ci": inp_ci},
        "per_layer": per_layer,
        "routed_like": routed,
        "routed_like_rule": "test samples on a specific path (from training counts) whose "
                            "training samples are mostly of another class",
        "routed_like_total": int(sum(r["count"] for r in routed)),
        "routed_like_correct": int(sum(r["correct"] for r in routed)),
    }
