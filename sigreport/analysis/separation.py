"""Question 1: from which layer on does the network treat the classes differently?

Per layer, three label-alignment measures on the test split: linear CKA
between the layer and the one-hot labels, cluster/class mutual information
adjusted for chance (AMI), and a linear probe's accuracy. Each is compared
with two controls: the input (layer 0) and the same layer of the untrained
network (epoch 0), with bootstrap intervals over the test images (the same
resamples for every layer and both networks). A layer beats a control when
the interval of the difference, taken resample by resample, lies above 0 (a
paired bootstrap). The separation layer is the first hidden layer that beats
both controls on the deciding measure; the verdict says how many of the three
measures find that same layer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from sigreport._threads import Job, run_jobs
from sigreport.activations import Activations
from sigreport.analysis._common import Resamples, exceeds, interval, paired_difference
from sigreport.analysis.measures import (
    accuracy_samples,
    ami_samples,
    cka_labels_samples,
    linear_probe_correct,
)
from sigreport.analysis.types import Separation, SeparationRow
from sigreport.config import MEASURE_NAMES
from sigreport.sampling import seeded_subset
from sigreport.signatures import Signatures

__all__ = ["MEASURES", "VERDICT_RULE", "Alignment", "AlignmentRequest",
           "alignment_jobs", "answer_separation", "compute_alignment", "first_layers",
           "separation_verdict"]

MEASURES = ("cka_labels", "cluster_class_ami", "linear_probe_accuracy")


@dataclass(frozen=True)
class Alignment:
    """One layer's label-alignment measures (test split): point values and bootstrap samples."""

    value: dict[str, float]
    samples: dict[str, np.ndarray]

    def ci(self, measure: str) -> list[float] | None:
        return interval(self.samples[measure]) if len(self.samples[measure]) else None


@dataclass(frozen=True)
class AlignmentRequest:
    """Layers of one network whose alignment is wanted, and how.

    ``res`` None asks for point values only; ``probe_fit`` caps the linear
    probes' training rows.
    """

    acts: Activations
    sigs: Signatures
    layers: tuple[str, ...]
    res: Resamples | None
    probe_fit: int


def compute_alignment(acts: Activations, sigs: Signatures, layers: tuple[str, ...],
                      res: Resamples | None, cka_subsample: int, probe_fit: int, seed: int
                      ) -> dict[str, Alignment]:
    """Layer name -> :class:`Alignment`, for ``layers`` of one network.

    ``res`` None computes point values only. The CKA uses a seeded subsample of
    ``cka_subsample`` test rows (its Gram matrix is quadratic in them); AMI and
    the probe use every test row.
    """
    jobs, finish = alignment_jobs([AlignmentRequest(acts, sigs, tuple(layers), res, probe_fit)],
                                  cka_subsample, seed)
    return finish(run_jobs(jobs)[0])[0]


def alignment_jobs(requests: list[AlignmentRequest], cka_subsample: int, seed: int
                   ) -> tuple[list[Job], Callable[[list[Alignment]], list[dict[str, Alignment]]]]:
    """:func:`compute_alignment` of several networks as jobs for the worker threads (one per
    network and layer), and what turns their results into one answer per request."""

    def one(r: AlignmentRequest, name: str) -> Alignment:
        acts, y = r.acts, r.acts.test.y
        rows = seeded_subset(len(y), cka_subsample, seed, salt=1)
        w_all = r.res.weights if r.res is not None else np.zeros((0, len(y)))
        cka, cka_s = cka_labels_samples(acts.test.layers[name][rows], y[rows], acts.classes,
                                        w_all[:, rows])
        ami, ami_s = ami_samples(r.sigs.layer(name).labels["test"], y, w_all)
        correct = linear_probe_correct(acts.train.layers[name], acts.train.y,
                                       acts.test.layers[name], y, r.probe_fit, seed)
        acc, acc_s = accuracy_samples(correct, w_all)
        return Alignment({"cka_labels": cka, "cluster_class_ami": ami,
                          "linear_probe_accuracy": acc},
                         {"cka_labels": cka_s, "cluster_class_ami": ami_s,
                          "linear_probe_accuracy": acc_s})

    jobs = [Job(partial(one, r, name), _cost(r, name, cka_subsample))
            for r in requests for name in r.layers]

    def finish(results: list[Alignment]) -> list[dict[str, Alignment]]:
        done = iter(results)
        return [{name: next(done) for name in r.layers} for r in requests]

    return jobs, finish


def _cost(r: AlignmentRequest, name: str, cka_subsample: int) -> float:
    """Rough time of one job in multiply-adds: the linear probe (two passes over its training
    rows per iteration, memory-bound, some fifty iterations) and the CKA resamples."""
    width = r.acts.train.layers[name].shape[1]
    n_fit = min(r.probe_fit, len(r.acts.train.y))
    n_cka = min(cka_subsample, len(r.acts.test.y))
    n_boot = r.res.n_boot if r.res is not None else 0
    return 3e3 * n_fit * width + 5 * n_boot * n_cka * min(n_cka, width * width)


def _vs(t: Alignment, other: Alignment | None, m: str
        ) -> tuple[float | None, list[float] | None]:
    """The trained layer's value minus ``other``'s, with the paired bootstrap interval."""
    if other is None:
        return None, None
    return paired_difference(t.value[m], other.value[m], t.samples[m], other.samples[m])


def first_layers(per_layer: list[SeparationRow], with_control: bool) -> dict[str, str | None]:
    """Measure -> the first hidden layer that beats the input and (``with_control``) the
    untrained network's same layer on it; None where no hidden layer does."""
    first: dict[str, str | None] = {m: None for m in MEASURES}
    for row in per_layer:
        if row["kind"] != "post":
            continue
        for m in MEASURES:
            ok = row["beats_input"][m] and (not with_control or row["beats_control"][m])
            if first[m] is None and ok:
                first[m] = row["layer"]
    return first


def separation_verdict(first: dict[str, str | None], measure: str) -> dict[str, Any]:
    """Q1's verdict from each measure's separation layer (``first``) and the measure that
    decides (``measure``): the layer, how many measures find that very layer, the verdict.

    "separated": the deciding measure finds a layer and at least one other measure finds
    the same one; "separated_by_one_measure": it finds a layer no other measure finds;
    "not_separated": it finds none.
    """
    layer = first[measure]
    n_agree = 0 if layer is None else sum(1 for v in first.values() if v == layer)
    verdict = ("not_separated" if layer is None else
               "separated_by_one_measure" if n_agree == 1 else "separated")
    return {"separation_layer": layer, "n_measures_agree": n_agree, "verdict": verdict}


VERDICT_RULE = (
    "A hidden layer beats a control on a measure when the 95% percentile interval of the "
    "difference (layer minus control), taken resample by resample over the same bootstrap "
    "resamples of the test samples (a paired bootstrap), lies above 0. A measure's separation "
    "layer is the first hidden layer that beats both the input and the untrained network's "
    "same layer (the input alone without an untrained network). The separation layer is the "
    "deciding measure's; the verdict is separated when at least one other measure finds the "
    "same layer, separated by one measure when none does, and not separated when the deciding "
    "measure finds no layer.")


def answer_separation(layers: list[dict[str, Any]], trained: dict[str, Alignment],
                      control: dict[str, Alignment] | None, measure: str,
                      control_epoch: int | None) -> Separation:
    """The Q1 answer: per-layer values with intervals and controls, and the separation layer.

    ``layers``: [{name, index, kind}] in depth order, input first.
    """
    inp = trained[layers[0]["name"]]
    per_layer = []
    for layer in layers:
        name = layer["name"]
        t = trained[name]
        c = control.get(name) if control and layer["kind"] != "input" else None
        vs_in = {m: _vs(t, inp if layer["kind"] != "input" else None, m) for m in MEASURES}
        vs_c = {m: _vs(t, c, m) for m in MEASURES}
        row: SeparationRow = {
            "layer": name, "index": layer["index"], "kind": layer["kind"],
            "value": dict(t.value), "ci": {m: t.ci(m) for m in MEASURES},
            "control": {m: (c.value[m] if c else None) for m in MEASURES},
            "control_ci": {m: (c.ci(m) if c else None) for m in MEASURES},
            "input_difference": {m: vs_in[m][0] for m in MEASURES},
            "input_difference_ci": {m: vs_in[m][1] for m in MEASURES},
            "control_difference": {m: vs_c[m][0] for m in MEASURES},
            "control_difference_ci": {m: vs_c[m][1] for m in MEASURES},
            "beats_input": {m: exceeds(vs_in[m][1]) for m in MEASURES},
            "beats_control": {m: exceeds(vs_c[m][1]) for m in MEASURES},
        }
        per_layer.append(row)
    first = first_layers(per_layer, control is not None)
    decided = separation_verdict(first, measure)
    hidden = [r for r in per_layer if r["kind"] == "post"]
    steps = [(r["layer"], r["value"][measure] - prev["value"][measure])
             for prev, r in zip(per_layer, per_layer[1:]) if r["kind"] == "post"]
    sep = decided["separation_layer"]
    index = next((r["index"] for r in per_layer if r["layer"] == sep), None)
    if sep is None:
        against = ("both the input's and the untrained network's same layer's" if control
                   else "the input's")
        reason = (f"no hidden layer's {MEASURE_NAMES[measure]} exceeds {against} "
                  f"(paired bootstrap interval of the difference above 0)")
    else:
        reason = None
    probe_in = per_layer[0]
    return {
        "separation_layer": sep,
        "separation_layer_index": index,
        "measure": measure,
        "measures": list(MEASURES),
        "split": "test",
        "control_epoch": control_epoch,
        "first_layer_by_measure": first,
        "n_measures_agree": decided["n_measures_agree"],
        "verdict": decided["verdict"],
        "verdict_rule": VERDICT_RULE,
        "reason": reason,
        "largest_step_layer": max(steps, key=lambda s: s[1])[0] if steps else None,
        "largest_step": max(s[1] for s in steps) if steps else None,
        "input_linear_probe_accuracy": probe_in["value"]["linear_probe_accuracy"],
        "input_linear_probe_accuracy_ci": probe_in["ci"]["linear_probe_accuracy"],
        "n_hidden": len(hidden),
        "per_layer": per_layer,
    }
