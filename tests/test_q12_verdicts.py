"""Q1's and Q2's verdicts: the paired bootstrap they compare by, the rules on plain numbers,
and real tiny runs in which each verdict occurs, with the sentence the report prints."""

from __future__ import annotations

import dataclasses
import html
import json
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_OVERRIDES, run_cli
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

from sigreport.activations import Activations, LayerInfo, SplitActivations
from sigreport.analysis._common import (
    CONFIDENCE,
    exceeds,
    interval,
    make_resamples,
    paired_difference,
    weighted_mean_samples,
)
from sigreport.analysis.differ import MIN_PATH_GAIN, differ_verdict, lda_input_signature
from sigreport.analysis.separation import MEASURES, separation_verdict
from sigreport.config import MEASURE_NAMES, SignaturesConfig
from sigreport.signatures import fit_signatures

# --- the paired bootstrap --------------------------------------------------------------


def test_paired_difference_is_the_percentile_interval_of_the_differences_resample_by_resample():
    rng = np.random.default_rng(3)
    n, n_boot = 80, 300
    a_values = rng.normal(size=n)
    b_values = a_values + rng.normal(scale=0.1, size=n) - 0.05
    res = make_resamples(n, n_boot, seed=5)
    a_s = weighted_mean_samples(a_values, res.weights)
    b_s = weighted_mean_samples(b_values, res.weights)
    diff, ci = paired_difference(a_values.mean(), b_values.mean(), a_s, b_s)
    # the plain computation: draw each resample's rows, take both means, subtract
    plain = []
    for w in res.weights:
        rows = np.repeat(np.arange(n), w.astype(int))
        plain.append(a_values[rows].mean() - b_values[rows].mean())
    tail = (1 - CONFIDENCE) / 2 * 100
    assert diff == pytest.approx(a_values.mean() - b_values.mean())
    assert ci == pytest.approx(list(np.percentile(plain, [tail, 100 - tail])))


def test_pairing_finds_a_difference_that_two_overlapping_intervals_hide():
    """Two statistics that share most of their variation: their own intervals overlap,
    the interval of their difference lies above 0."""
    rng = np.random.default_rng(0)
    n = 200
    shared = rng.normal(size=n)
    res = make_resamples(n, 400, seed=1)
    a_s = weighted_mean_samples(shared + 0.03, res.weights)
    b_s = weighted_mean_samples(shared + rng.normal(scale=0.01, size=n), res.weights)
    a_ci, b_ci = interval(a_s), interval(b_s)
    assert a_ci[0] < b_ci[1]                               # the intervals overlap
    _, ci = paired_difference(0.0, 0.0, a_s, b_s)
    assert exceeds(ci) is True and exceeds(None) is None


def test_two_equal_statistics_computed_apart_do_not_differ():
    """Rounding leaves +-1e-16 between two equal statistics; that is no difference."""
    a = np.array([0.1 + 0.2, 0.5, 0.7])
    b = np.array([0.3, 0.5 - 1e-6, 0.6])
    diff, ci = paired_difference(0.1 + 0.2, 0.3, a, b)
    assert diff == 0.0 and (0.1 + 0.2) - 0.3 != 0.0
    assert ci[0] == pytest.approx(0.025 * 1e-6 * 2, rel=1e-3) and exceeds(ci) is True
    assert exceeds([0.0, 0.1]) is False
    assert exceeds([0.0105, 0.2], margin=MIN_PATH_GAIN) is True


def test_paired_difference_refuses_samples_of_different_resamples():
    with pytest.raises(ValueError):
        paired_difference(1.0, 0.0, np.zeros(10), np.zeros(9))


def test_the_linear_discriminant_baseline_is_scikit_learns_projection_clustered_as_the_input():
    """The projection by the first eigenvectors alone is ``LinearDiscriminantAnalysis.transform``:
    the same clusters as fitting the signatures of the transformed pixels."""
    rng = np.random.default_rng(2)
    classes, n = (1, 4, 7), {"train": 90, "test": 45, "probe": 30}

    def split(name: str) -> SplitActivations:
        y = np.repeat(classes, n[name] // 3) if name != "probe" else np.full(n[name], 3)
        x = rng.normal(size=(len(y), 12)).astype(np.float32)
        x[:, 0] += 2.0 * (y == 4)
        x[:, 1] += 2.0 * (y == 7)
        return SplitActivations(layers={"input": x}, y=y, index=np.arange(len(y)), predicted=y)

    splits = {name: split(name) for name in n}
    acts = Activations(layers=(LayerInfo("input", "input", 0, 12),), classes=classes, **splits)
    cfg = SignaturesConfig()
    got = lda_input_signature(acts, cfg, 0)
    lda = LinearDiscriminantAnalysis(solver="eigen", shrinkage="auto").fit(
        splits["train"].layers["input"], splits["train"].y)
    plain = Activations(
        layers=(LayerInfo("input", "input", 0, 2),), classes=classes,
        **{name: dataclasses.replace(s, layers={"input": lda.transform(
            s.layers["input"]).astype(np.float32)}) for name, s in splits.items()})
    want = fit_signatures(plain, cfg, 0).layer("input")
    assert got.centroids.shape == (want.n_clusters, 2)
    for name in n:
        assert np.array_equal(got.labels[name], want.labels[name]), name


# --- the rules, on plain numbers ------------------------------------------------------


@pytest.mark.parametrize(("first", "layer", "n_agree", "verdict"), [
    ({"cka_labels": "hidden1", "cluster_class_ami": "hidden1", "linear_probe_accuracy": "hidden1"},
     "hidden1", 3, "separated"),
    ({"cka_labels": "hidden2", "cluster_class_ami": "hidden2", "linear_probe_accuracy": None},
     "hidden2", 2, "separated"),
    ({"cka_labels": "hidden1", "cluster_class_ami": None, "linear_probe_accuracy": None},
     "hidden1", 1, "separated_by_one_measure"),
    ({"cka_labels": "hidden1", "cluster_class_ami": "hidden2", "linear_probe_accuracy": None},
     "hidden1", 1, "separated_by_one_measure"),
    ({"cka_labels": None, "cluster_class_ami": "hidden2", "linear_probe_accuracy": "hidden2"},
     None, 0, "not_separated"),
])
def test_separation_verdict_counts_the_measures_that_find_the_layer(first, layer, n_agree,
                                                                    verdict):
    got = separation_verdict(first, "cka_labels")
    assert got == {"separation_layer": layer, "n_measures_agree": n_agree, "verdict": verdict}


@pytest.mark.parametrize(("differences", "verdict"), [
    ({"input": [0.1, 0.2], "input_lda": [0.05, 0.1], "control": [0.2, 0.3],
      "last_layer": [0.02, 0.05]}, "yes"),
    ({"input": [-0.1, 0.2], "input_lda": [0.05, 0.1], "control": [0.2, 0.3],
      "last_layer": [0.02, 0.05]}, "no"),
    ({"input": [0.1, 0.2], "input_lda": [0.05, 0.1], "control": [-0.01, 0.3],
      "last_layer": [0.02, 0.05]}, "no"),
    ({"input": [0.1, 0.2], "input_lda": [-0.05, 0.1], "control": None,
      "last_layer": [0.02, 0.05]}, "not_beyond_pixels"),
    ({"input": [0.1, 0.2], "input_lda": [0.05, 0.1], "control": [0.2, 0.3],
      "last_layer": [0.0, 0.0]}, "not_beyond_last_layer"),
    ({"input": [0.1, 0.2], "input_lda": [0.05, 0.1], "control": [0.2, 0.3],
      "last_layer": [MIN_PATH_GAIN / 2, 0.05]}, "not_beyond_last_layer"),
    ({"input": [0.1, 0.2], "input_lda": [0.05, 0.1], "control": [0.2, 0.3],
      "last_layer": None}, "yes"),
])
def test_differ_verdict_says_no_when_a_baseline_is_not_beaten(differences, verdict):
    assert differ_verdict(differences) == verdict


# --- real tiny runs, one per verdict ----------------------------------------------------

_FOUR_NINE = ("data.classes=[4, 9]", "data.n_per_class=1000", "data.n_test_per_class=400",
              "train.epochs=4")
# Planted experiments (the tiny run's overrides plus these):
PLANTED = {
    # the conftest tiny run: CKA alone beats both controls; the paths do not beat the input
    "tiny": (),
    # a barely trained network: nothing beyond the untrained one
    "barely": ("train.epochs=1", "train.learning_rate=1e-6"),
    # 0 vs 1: the pixels' linear-discriminant projection separates them already
    "zero-one": ("data.classes=[0, 1]",),
    # 4 vs 9, which a straight cut through the pixels separates less well than the network:
    # the path beats every baseline but adds too little to its last layer's clusters...
    "four-nine": _FOUR_NINE,
    # ... unless that last layer is two units wide
    "four-nine-narrow": _FOUR_NINE + ("model.hidden=[32, 2]",),
}


def _text(page: str) -> str:
    body = re.sub(r"<script.*?</script>", " ", page, flags=re.DOTALL)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body)))


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory, tiny_run: Path) -> dict[str, tuple]:
    """name -> (metrics, visible text of the report) of each planted run."""
    out = {"tiny": tiny_run / "tiny"}
    base = tmp_path_factory.mktemp("q12")
    for name, extra in PLANTED.items():
        if name == "tiny":
            continue
        args = ["run", "mnist-1-7"]
        for item in TINY_OVERRIDES + extra + (f'name="{name}"',):
            args += ["--set", item]
        proc = run_cli(*args, "--out", str(base))
        assert proc.returncode == 0, proc.stderr
        out[name] = base / name
    return {name: (json.loads((folder / "metrics.json").read_text("utf-8")),
                   _text((folder / "index.html").read_text("utf-8")))
            for name, folder in out.items()}


def _q1_headline(sep: dict) -> str:
    """The Q1 headline the stored verdict calls for."""
    if sep["verdict"] == "separated":
        return (f"From {sep['separation_layer']} on: {sep['n_measures_agree']} of "
                f"{len(sep['measures'])} measures agree")
    if sep["verdict"] == "separated_by_one_measure":
        return (f"From {sep['separation_layer']} on, by the {MEASURE_NAMES[sep['measure']]} "
                f"alone: 1 of {len(sep['measures'])} measures")
    return "No hidden layer stands out from the controls"


def _q2_headline(differ: dict) -> str:
    return {"yes": "Yes", "no": "No, not beyond the controls",
            "not_beyond_pixels": "Not beyond the pixels",
            "not_beyond_last_layer": "Yes, but not beyond "
                                     f"{(differ['last_layer'] or {}).get('layer')} alone",
            }[differ["verdict"]]


def _check_q1(metrics: dict, text: str) -> dict:
    sep = metrics["answers"]["separation"]
    first = sep["first_layer_by_measure"]
    # the stored verdict is the rule applied to the stored per-measure layers
    assert {k: sep[k] for k in ("separation_layer", "n_measures_agree", "verdict")} == \
        separation_verdict(first, sep["measure"])
    assert sep["verdict_rule"] and "paired" in sep["verdict_rule"]
    rows = {r["layer"]: r for r in sep["per_layer"]}
    for m in MEASURES:
        # each measure's layer is the first hidden layer beating both controls by the pairing
        beats = [r["layer"] for r in sep["per_layer"] if r["kind"] == "post"
                 and exceeds(r["input_difference_ci"][m])
                 and exceeds(r["control_difference_ci"][m])]
        assert first[m] == (beats[0] if beats else None), m
    headline = _q1_headline(sep)
    assert f"From which layer on does the network treat the classes differently? {headline}" \
        in text
    if sep["separation_layer"]:
        row = rows[sep["separation_layer"]]
        d, (lo, hi) = row["input_difference"][sep["measure"]], \
            row["input_difference_ci"][sep["measure"]]
        assert f"it exceeds the input by {d:+.3f} [{lo:.3f}, {hi:.3f}]" in text
    else:
        assert "cka labels" not in sep["reason"]
        assert MEASURE_NAMES[sep["measure"]] in sep["reason"]
        assert f"On the test images, {sep['reason']}." in text
    return sep


def _check_q2(metrics: dict, text: str) -> dict:
    differ = metrics["answers"]["signatures_differ"]
    diffs = differ["differences"]
    assert differ["verdict"] == differ_verdict({k: (v["ci"] if v else None)
                                                for k, v in diffs.items()})
    last = differ["per_layer"][-1]
    # the differences are the paths' divergence minus each baseline's
    assert diffs["input"]["value"] == pytest.approx(last["js"] - differ["input"]["js"], abs=2e-6)
    assert diffs["input_lda"]["value"] == pytest.approx(last["js"] - differ["input_lda"]["js"],
                                                        abs=2e-6)
    assert diffs["last_layer"]["value"] == pytest.approx(
        last["js"] - differ["last_layer"]["js"], abs=2e-6)
    # a path refines the last layer's clusters: never below them
    assert diffs["last_layer"]["ci"][0] >= 0
    beyond = differ["path_beyond_last_layer"]
    assert beyond == exceeds(diffs["last_layer"]["ci"], differ["min_path_gain"])
    alone = differ["last_layer"]["layer"]
    assert (f"the path carries nothing shown beyond {alone}" in text) == (not beyond)
    assert re.search(r"Are the signatures of \d and \d different\? "
                     + re.escape(_q2_headline(differ)) + " Over", text)
    lda = differ["input_lda"]
    assert (f"{lda['js']:.3f} [{lda['js_ci'][0]:.3f}, {lda['js_ci'][1]:.3f}] for the clusters "
            "of the pixels' linear-discriminant projection") in text
    return differ


@pytest.mark.parametrize(("name", "q1", "q2"), [
    ("tiny", "separated_by_one_measure", "no"),
    ("barely", "not_separated", "no"),
    ("zero-one", "separated", "not_beyond_pixels"),
    ("four-nine", "separated", "not_beyond_last_layer"),
    ("four-nine-narrow", "separated", "yes"),
])
def test_planted_runs_give_their_verdicts_and_the_report_says_them(planted, name, q1, q2):
    metrics, text = planted[name]
    sep, differ = _check_q1(metrics, text), _check_q2(metrics, text)
    if q1 is not None:
        assert sep["verdict"] == q1
    assert differ["verdict"] == q2
