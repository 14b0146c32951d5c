"""Question 1: from which layer on does the network treat the classes differently?

Per layer, three label-alignment measures on the test split: linear CKA
between the layer and the one-hot labels, cluster/class mutual information
adjusted for chance (AMI), and a linear probe's accuracy. Each is compared
with two controls: the input (layer 0) and the same layer of the untrained
network (epoch 0), with bootstrap intervals over the test images (the same
resamples for every layer and both networks). The separation layer is the
first hidden layer whose interval lies wholly above both controls' intervals.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from sigreport._threads import Job, run_jobs
from sigreport.activations import Activations
from sigreport.analysis._common import Resamples, interval
from sigreport.analysis.measures import (
    accuracy_samples,
    ami_samples,
    cka_labels_samples,
    linear_probe_correct,
)
from sigreport.analysis.types import Separation, SeparationRow
from sigreport.sampling import seeded_subset
from sigreport.signatures import Signatures

__all__ = ["MEASURES", "Alignment", "AlignmentRequest", "alignment_jobs", "answer_separation",
           "compute_alignment"]

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


def _above(a: list[float] | None, b: list[float] | None) -> bool | None:
    """a's interval lies wholly above b's (None when either is missing)."""
    if a is None or b is None:
        return None
    return bool(a[0] > b[1])


def answer_separation(layers: list[dict[str, Any]], trained: dict[str, Alignment],
                      control: dict[str, Alignment] | None, measure: str,
                      control_epoch: int | None) -> Separation:
    """The Q1 answer: per-layer values with intervals and controls, and the separation layer.

    ``layers``: [{name, index, kind}] in depth order, input first.
    """
    inp = trained[layers[0]["name"]]
    per_layer, first = [], {m: None for m in MEASURES}
    for layer in layers:
        name = layer["name"]
        t = trained[name]
        c = control.get(name) if control and layer["kind"] != "input" else None
        row: SeparationRow = {
            "layer": name, "index": layer["index"], "kind": layer["kind"],
            "value": dict(t.value), "ci": {m: t.ci(m) for m in MEASURES},
            "control": {m: (c.value[m] if c else None) for m in MEASURES},
            "control_ci": {m: (c.ci(m) if c else None) for m in MEASURES},
            "beats_input": {m: (_above(t.ci(m), inp.ci(m)) if layer["kind"] != "input" else None)
                            for m in MEASURES},
            "beats_control": {m: (_above(t.ci(m), c.ci(m)) if c else None) for m in MEASURES},
        }
        per_layer.append(row)
        if layer["kind"] == "post":
            for m in MEASURES:
                ok = row["beats_input"][m] and (control is None or row["beats_control"][m])
                if first[m] is None and ok:
                    first[m] = name
    hidden = [r for r in per_layer if r["kind"] == "post"]
    steps = [(r["layer"], r["value"][measure] - prev["value"][measure])
             for prev, r in zip(per_layer, per_layer[1:]) if r["kind"] == "post"]
    sep = first[measure]
    index = next((r["index"] for r in per_layer if r["layer"] == sep), None)
    if sep is None:
        reason = (f"no hidden layer's {measure.replace('_', ' ')} interval lies above both the "
                  f"input's and the untrained network's" if control else
                  f"no hidden layer's {measure.replace('_', ' ')} interval lies above the input's")
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
        "reason": reason,
        "largest_step_layer": max(steps, key=lambda s: s[1])[0] if steps else None,
        "largest_step": max(s[1] for s in steps) if steps else None,
        "input_linear_probe_accuracy": probe_in["value"]["linear_probe_accuracy"],
        "input_linear_probe_accuracy_ci": probe_in["ci"]["linear_probe_accuracy"],
        "n_hidden": len(hidden),
        "per_layer": per_layer,
    }
