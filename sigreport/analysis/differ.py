"""Question 2: do the classes leave different signatures, and which samples are routed
like another class?

The classes' distributions over hidden-layer paths (up to each hidden layer)
are compared by their Jensen-Shannon divergence, against the input's
clustering, the clusters of the pixels' linear-discriminant projection (a
supervised input baseline), the untrained network's paths with the same
number of clusters, and (the whole path) the last hidden layer's clusters
alone, each by a paired bootstrap of the difference over test images. Samples of one class on
a specific path of another are split by whether the network still classifies
them correctly: the prediction is never part of a path.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

from sigreport.activations import Activations, LayerInfo, SplitActivations
from sigreport.analysis._common import Resamples, exceeds, interval, paired_difference
from sigreport.analysis.measures import js_divergence_samples
from sigreport.analysis.paths import PathStats
from sigreport.analysis.types import DifferRow, SignaturesDiffer
from sigreport.config import SignaturesConfig
from sigreport.signatures import LayerSignature, Signatures, fit_signatures, path_ids

__all__ = ["MIN_PATH_GAIN", "VERDICT_RULE", "answer_signatures_differ", "differ_verdict",
           "lda_input_signature", "routed_like"]

INDEX_CAP = 100          # sample indices listed per (class, looks_like) pair
# Smallest gain in bits of the whole path over the last hidden layer alone that counts as
# the path carrying something more: a path refines the last layer's clusters, so its
# divergence is never below the layer's and an interval of the gain never reaches under 0.
MIN_PATH_GAIN = 0.01

VERDICT_RULE = (
    "Each comparison is the paired bootstrap interval (95%, the same resamples of the test "
    "samples) of the path's divergence up to the last hidden layer minus a baseline's. "
    "no: it does not lie above 0 against the input's clusters or against the untrained "
    "network's paths; not beyond the pixels: it does not lie above 0 against the clusters of "
    "the pixels' linear-discriminant projection; not beyond the last layer: against the last "
    "hidden layer's own clusters it does not lie above MIN_PATH_GAIN bits (with more than one "
    "hidden layer); yes otherwise.").replace("MIN_PATH_GAIN", f"{MIN_PATH_GAIN:g}")


def _js(groups: np.ndarray, acts: Activations, res: Resamples) -> tuple[float, np.ndarray]:
    return js_divergence_samples(groups, acts.test.y, acts.classes, res.weights)


def _prefix(sigs: Signatures, upto: int) -> np.ndarray:
    """int64 (n_test,): the id of each test sample's path over the first ``upto`` hidden layers."""
    _, ids = path_ids({"test": sigs.paths["test"][:, :upto]})
    return ids["test"]


def path_js(acts: Activations, sigs: Signatures, res: Resamples) -> float | None:
    """The JS divergence of the classes' whole hidden-layer paths on the test split (the
    last row of Q2's per-layer table); None without hidden layers."""
    if not sigs.path_layers:
        return None
    return _js(_prefix(sigs, len(sigs.path_layers)), acts, res)[0]


def lda_input_signature(acts: Activations, cfg: SignaturesConfig, seed: int
                        ) -> LayerSignature:
    """The supervised input baseline: the pixels' clusters in a linear-discriminant
    projection (shrunk covariance) fitted on the training pixels and labels, clustered as
    the input layer is (``cfg``'s method, number of clusters or its rule, standardisation,
    regions and fitted rows), applied to every split.

    The projection has at most the number of classes minus one dimensions.
    """
    # The shrunk covariance (Ledoit-Wolf) keeps the projection sound with fewer training
    # images than pixels and with pixels that never change (the borders).
    lda = LinearDiscriminantAnalysis(solver="eigen", shrinkage="auto")
    lda.fit(acts.train.layers["input"], acts.train.y)
    # lda.transform multiplies by every eigenvector and keeps the first n_classes - 1;
    # multiplying by those alone is the same projection at a fraction of the cost.
    width = int(lda.transform(acts.train.layers["input"][:1]).shape[1])
    axes = lda.scalings_[:, :width]

    def project(split: SplitActivations) -> SplitActivations:
        z = (np.asarray(split.layers["input"], dtype=np.float64) @ axes).astype(np.float32)
        return dataclasses.replace(split, layers={"input": z.reshape(-1, width)})

    projected = Activations(layers=(LayerInfo("input", "input", 0, width),),
                            classes=acts.classes, train=project(acts.train),
                            test=project(acts.test), probe=project(acts.probe))
    return fit_signatures(projected, cfg, seed).layer("input")


def _beats(js: tuple[float, np.ndarray], base: tuple[float, np.ndarray] | None) -> bool | None:
    """Whether a divergence (point, resamples) exceeds a baseline's by a paired bootstrap."""
    return None if base is None else exceeds(paired_difference(js[0], base[0], js[1],
                                                               base[1])[1])


def differ_verdict(differences: dict[str, list[float] | None]) -> str:
    """Q2's verdict from the intervals of the path's divergence minus each baseline's.

    ``differences``: "input", "input_lda", "control", "last_layer" -> the paired bootstrap
    interval of (path JS - baseline JS), None where the baseline was not measured.
    """
    def beats(key: str, margin: float = 0.0) -> bool | None:
        return exceeds(differences.get(key), margin)

    if not beats("input") or beats("control") is False:
        return "no"
    if beats("input_lda") is False:
        return "not_beyond_pixels"
    if beats("last_layer", MIN_PATH_GAIN) is False:
        return "not_beyond_last_layer"
    return "yes"


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
                             control: tuple[Activations, Signatures] | None,
                             cfg: SignaturesConfig, seed: int) -> SignaturesDiffer:
    """The Q2 answer: path divergence per hidden layer against its controls (the input's
    clusters, the pixels' linear-discriminant clusters, the untrained network's paths),
    the whole path against the last hidden layer alone, the verdict; routed-like samples."""
    inp = _js(sigs.layer("input").labels["test"], acts, res)
    lda_sig = lda_input_signature(acts, cfg, seed)
    lda = _js(lda_sig.labels["test"], acts, res)
    per_layer: list[DifferRow] = []
    path = c_path = None
    for i, name in enumerate(sigs.path_layers, start=1):
        path = _js(_prefix(sigs, i), acts, res)
        c_path = _js(_prefix(control[1], i), control[0], res) if control else None
        per_layer.append({
            "layer": name,
            "path_layers": list(sigs.path_layers[:i]),
            "js": path[0], "js_ci": interval(path[1]),
            "control_js": c_path[0] if c_path else None,
            "control_js_ci": interval(c_path[1]) if c_path else None,
            "beats_input": _beats(path, inp),
            "beats_input_lda": _beats(path, lda),
            "beats_control": _beats(path, c_path),
        })
    last_name = sigs.path_layers[-1] if sigs.path_layers else None
    alone = _js(sigs.layer(last_name).labels["test"], acts, res) \
        if last_name and len(sigs.path_layers) > 1 else None

    def vs(base: tuple[float, np.ndarray] | None) -> dict[str, Any] | None:
        if base is None or path is None:
            return None
        diff, ci = paired_difference(path[0], base[0], path[1], base[1])
        return {"value": diff, "ci": ci}

    differences = {"input": vs(inp), "input_lda": vs(lda), "control": vs(c_path),
                   "last_layer": vs(alone)}
    routed = routed_like(acts, ps)
    return {
        "measure": "js_divergence",
        "split": "test",
        "rule": "Jensen-Shannon divergence (bits) between the classes' distributions over the "
                "hidden-layer paths up to the layer, mean over pairs of classes",
        "input": {"js": inp[0], "js_ci": interval(inp[1])},
        "input_lda": {"js": lda[0], "js_ci": interval(lda[1]),
                      "n_components": int(lda_sig.centroids.shape[1]),
                      "n_clusters": lda_sig.n_clusters},
        "last_layer": ({"layer": last_name, "js": alone[0], "js_ci": interval(alone[1])}
                       if alone else None),
        "differences": differences,
        "verdict": differ_verdict({k: (v["ci"] if v else None) for k, v in differences.items()}),
        "verdict_rule": VERDICT_RULE,
        "min_path_gain": MIN_PATH_GAIN,
        "path_beyond_last_layer": exceeds(differences["last_layer"]["ci"], MIN_PATH_GAIN)
        if differences["last_layer"] else None,
        "per_layer": per_layer,
        "routed_like": routed,
        "routed_like_rule": "test samples on a specific path (from training counts) whose "
                            "training samples are mostly of another class",
        "routed_like_total": int(sum(r["count"] for r in routed)),
        "routed_like_correct": int(sum(r["correct"] for r in routed)),
    }
