"""Question 3: what does a class the network never saw look like inside it?

Per probe class and hidden layer: how many of its images fall outside every
cluster's region (unassigned), which training clusters the rest borrow and
whose clusters those are, how many take a novel path (never seen in training,
or through an unassigned layer), and what the network predicts; beside each
number, the same for the trained classes' test images.

The unassigned rates are measured against two controls, the input's regions
and the untrained network's same layer, with bootstrap intervals, at the
configured ``boundary_quantile`` (where the test images' rate is the calibrated
false-alarm rate) and, from the same regions with other thresholds, at the
quantiles of ``QUANTILES``. A verdict is chosen from those numbers by the rule
of :func:`unseen_verdict`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

import numpy as np

from sigreport._threads import Job
from sigreport.activations import Activations
from sigreport.analysis._common import (
    Resamples,
    interval,
    make_resamples,
    occupancy,
    plain,
    weighted_mean_samples,
)
from sigreport.analysis.paths import PathStats
from sigreport.analysis.types import UnseenControlRow, UnseenLayer, UnseenRates, UnseenVerdict
from sigreport.config import SignaturesConfig
from sigreport.signatures import (
    UNASSIGNED,
    LayerSignature,
    Signatures,
    region_thresholds,
    unassigned_at,
)

__all__ = ["QUANTILES", "VERDICTS", "Unassigned", "describe_unseen", "unassigned_jobs",
           "unseen_verdict"]

TOP_PATHS = 10           # paths listed per probe class
# The region quantiles the unassigned rates are also read at (the configured one is added).
QUANTILES = (0.95, 0.975, 0.99, 0.995, 0.999)
_PROBE_SALT = 0x9B00     # the probe images' bootstrap resamples, one set per probe class

VERDICTS = {
    "beyond_controls": "the network sets them apart beyond its controls",
    "beyond_input": "the network sets them apart beyond the pixels",
    "already_in_pixels": "they stand apart already in the pixels; no hidden layer sets them "
                         "apart beyond both its controls",
    "as_in_controls": "they stand apart inside the network, but no more than in its controls",
    "absorbed": "the network's regions absorb them into the trained classes",
    "not_measured": "no test images to compare with",
}
RULE = (
    "At boundary_quantile, a layer's excess is the unseen images' unassigned rate minus the "
    "test images' (its calibrated false-alarm rate), so that layers whose regions hold their "
    "test images differently compare fairly. A difference of excesses counts when its 95% "
    "paired bootstrap interval (the same resamples of unseen and test images for every layer "
    "and both networks) lies above 0. beyond_controls: some hidden layer's excess interval "
    "lies above 0 and its excess is above the input's and above the untrained network's "
    "same layer's. beyond_input: no untrained network, and some hidden layer's excess "
    "interval lies above 0 and its excess is above the input's. already_in_pixels: "
    "neither, and the input's excess interval lies above 0. as_in_controls: neither, and some "
    "hidden layer's excess interval lies above 0. absorbed: no layer's excess interval lies "
    "above 0."
)
INPUT_RULE = (
    "input_detector_wins: the best input-family score's AUROC interval lies wholly above the "
    "intervals of the best network-family and the best signature-family scores."
)


@dataclass(frozen=True)
class Unassigned:
    """Which samples of one network's layer lie outside every region, at each quantile.

    ``test`` bool (n_quantiles, n_test) and ``probe`` bool (n_quantiles, n_probe), one row
    per entry of ``quantiles``.
    """

    quantiles: tuple[float, ...]
    test: np.ndarray
    probe: np.ndarray


def _sweep_layer(sig: LayerSignature, acts: Activations, cfg: SignaturesConfig,
                 quantiles: tuple[float, ...]) -> Unassigned:
    thr = region_thresholds(sig, acts, cfg, quantiles)
    return Unassigned(quantiles, unassigned_at(sig, acts.test.layers[sig.layer], thr),
                      unassigned_at(sig, acts.probe.layers[sig.layer], thr))


def unassigned_jobs(nets: list[tuple[Activations, Signatures, tuple[str, ...]]],
                    cfg: SignaturesConfig
                    ) -> tuple[list[Job],
                               Callable[[list[Unassigned]], list[dict[str, Unassigned]]]]:
    """The unassigned samples of each (activations, signatures, layers) at every quantile of
    ``QUANTILES`` and ``cfg.boundary_quantile``, one job per network and layer, and what turns
    their results into layer name -> :class:`Unassigned` per network."""
    quantiles = tuple(sorted(set(QUANTILES) | {cfg.boundary_quantile}))
    jobs = []
    for acts, sigs, layers in nets:
        n = len(acts.train.y) + len(acts.test.y) + len(acts.probe.y)
        for name in layers:
            b = sigs.layer(name).boundary
            dim = b.means.shape[1]
            width = acts.train.layers[name].shape[1]
            jobs.append(Job(partial(_sweep_layer, sigs.layer(name), acts, cfg, quantiles),
                            n * ((width * dim if b.basis is not None else 0)
                                 + b.means.shape[0] * dim * dim)))

    def finish(results: list[Unassigned]) -> list[dict[str, Unassigned]]:
        done = iter(results)
        return [{name: next(done) for name in layers} for _, _, layers in nets]

    return jobs, finish


@dataclass(frozen=True)
class Controls:
    """What Q3's controls need: the trained network's and the untrained one's unassigned
    samples per layer, the test split's resamples, and how to resample the probe images."""

    trained: dict[str, Unassigned]
    untrained: dict[str, Unassigned] | None
    control_epoch: int | None
    quantile: float
    res: Resamples
    seed: int


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


def _rates(u: Unassigned, qi: int, mine: np.ndarray, w_probe: np.ndarray, w_test: np.ndarray
           ) -> tuple[UnseenRates, np.ndarray]:
    """Unseen and test images' unassigned rates at quantile ``u.quantiles[qi]``, their excess,
    with intervals; and the excess's bootstrap samples (n_boot,)."""
    probe, test = u.probe[qi][mine], u.test[qi]
    p_s, t_s = weighted_mean_samples(probe, w_probe), weighted_mean_samples(test, w_test)
    p, t = float(np.mean(probe)), float(np.mean(test))
    return {"probe": p, "probe_ci": interval(p_s), "test": t, "test_ci": interval(t_s),
            "excess": p - t, "excess_ci": interval(p_s - t_s)}, p_s - t_s


def _difference(a: np.ndarray, b: np.ndarray, value: float) -> dict[str, Any]:
    ci = interval(a - b)
    return {"value": value, "ci": ci, "above": bool(ci[0] > 0) if ci else None}


def _controls(ctl: Controls, names: tuple[str, ...], mine: np.ndarray, c: int
              ) -> tuple[list[UnseenControlRow], dict[str, Any]]:
    """The control rows (input first, then each hidden layer) at the configured quantile and
    the quantile sweep, for the probe images ``mine`` (bool (n_probe,)) of class ``c``."""
    qs = ctl.trained[names[0]].quantiles
    qi = qs.index(ctl.quantile)
    w_probe = make_resamples(int(mine.sum()), ctl.res.n_boot, ctl.seed,
                             salt=_PROBE_SALT + c).weights
    w_test = ctl.res.weights
    inp, inp_s = _rates(ctl.trained[names[0]], qi, mine, w_probe, w_test)
    rows: list[UnseenControlRow] = [{"layer": names[0], "kind": "input", **inp, "untrained": None,
                                     "over_input": None, "over_untrained": None}]
    for name in names[1:]:
        own, own_s = _rates(ctl.trained[name], qi, mine, w_probe, w_test)
        base = ctl.untrained.get(name) if ctl.untrained else None
        unt: UnseenRates | None = None
        over_untrained: dict[str, Any] | None = None
        if base:
            unt, unt_s = _rates(base, qi, mine, w_probe, w_test)
            over_untrained = _difference(own_s, unt_s, own["excess"] - unt["excess"])
        rows.append({"layer": name, "kind": "post", **own, "untrained": unt,
                     "over_input": _difference(own_s, inp_s, own["excess"] - inp["excess"]),
                     "over_untrained": over_untrained})
    sweep = [{"network": network, "layer": name,
              "probe": [float(np.mean(u.probe[i][mine])) for i in range(len(qs))],
              "test": [float(np.mean(u.test[i])) for i in range(len(qs))]}
             for network, by_layer in (("trained", ctl.trained), ("untrained", ctl.untrained))
             if by_layer for name in names if name in by_layer for u in [by_layer[name]]]
    return rows, {"quantiles": list(qs), "quantile": ctl.quantile, "rows": sweep}


def _largest(rows: list[UnseenControlRow], key: Literal["excess", "probe"]
             ) -> UnseenControlRow:
    return max(rows, key=lambda r: (r[key], -rows.index(r)))


def unseen_verdict(rows: list[UnseenControlRow], predicted_as: dict[str, float],
                   best: Mapping[str, Any] | None) -> UnseenVerdict:
    """The Q3 verdict, chosen from the control rows by the rule ``RULE``.

    Parameters
    ----------
    rows:
        The input's row, then each hidden layer's (``answers.unseen[*].controls``).
    predicted_as:
        trained class id (as text) -> share of the unseen images the network calls it.
    best:
        family -> the best detection score of that family for these images (or None).
    """
    inp, hidden = rows[0], rows[1:]
    has_control = any(r["untrained"] is not None for r in hidden)
    apart = [r for r in hidden if r["excess_ci"] and r["excess_ci"][0] > 0]
    # a layer that leaves out no more of them than of the test images sets nothing apart,
    # however much worse its controls do
    beyond = [r for r in apart if r["over_input"] and r["over_input"]["above"]
              and (not has_control or (r["over_untrained"] and r["over_untrained"]["above"]))]
    layer: str | None
    if beyond:
        verdict, layer = ("beyond_controls" if has_control else "beyond_input"), \
            _largest(beyond, "excess")["layer"]
    elif inp["excess_ci"] and inp["excess_ci"][0] > 0:
        verdict, layer = "already_in_pixels", inp["layer"]
    elif apart:
        verdict, layer = "as_in_controls", _largest(apart, "excess")["layer"]
    else:
        verdict, layer = "absorbed", (_largest(hidden, "probe")["layer"] if hidden else None)
    called = max(sorted(predicted_as), key=lambda k: predicted_as[k]) if predicted_as else None
    most = _largest(hidden, "probe") if hidden else None
    families = best or {}
    top_in = families.get("input")
    top_ci = top_in.get("auroc_ci") if top_in else None
    other_cis = [o.get("auroc_ci") if o else None for o in
                 (families.get(f) for f in ("network", "signature"))]
    measured = [ci for ci in other_cis if ci]
    wins = None
    if top_ci and len(measured) == len(other_cis):
        wins = bool(all(top_ci[0] > ci[1] for ci in measured))
    return {
        "verdict": verdict,
        "statement": VERDICTS[verdict],
        "rule": RULE,
        "layer": layer,
        "has_untrained_control": has_control,
        "called": called,
        "called_share": predicted_as[called] if called is not None else None,
        "most_unassigned_layer": most["layer"] if most else None,
        "most_unassigned": most["probe"] if most else None,
        "input_detector_wins": wins,
        "input_rule": INPUT_RULE,
    }


def describe_unseen(acts: Activations, sigs: Signatures, ps: PathStats,
                    probes: tuple[int, ...], controls: Controls | None = None,
                    detection: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """One :class:`~sigreport.analysis.types.Unseen` (key "class") per probe class present.

    ``controls`` adds each class's control rows, quantile sweep and verdict; ``detection``
    (the detection summary) gives the verdict each family's best score for that class.
    """
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
        if controls is None:
            continue
        names = ("input", *sigs.path_layers)
        if len(acts.test.y):
            # the verdict reads the numbers as metrics.json stores them, so that the rule
            # applied to the stored numbers gives the stored verdict
            rows, sweep = plain(_controls(controls, names, mine, int(c)))
            best = (detection or {}).get("best_per_family_by_class", {}).get(str(c))
            verdict = unseen_verdict(rows, plain(out[-1]["predicted_as"]), plain(best))
        else:
            rows, sweep = [], None
            verdict = {"verdict": "not_measured", "statement": VERDICTS["not_measured"],
                       "rule": RULE, "layer": None, "has_untrained_control": False,
                       "called": None, "called_share": None, "most_unassigned_layer": None,
                       "most_unassigned": None, "input_detector_wins": None,
                       "input_rule": INPUT_RULE}
        out[-1].update({"control_epoch": controls.control_epoch, "controls": rows,
                        "quantile_sweep": sweep, "verdict": verdict})
    return out
