"""Analysis: the measured answers, on hand-made activations whose answers are known."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import jensenshannon
from sklearn.metrics import adjusted_mutual_info_score, roc_auc_score, roc_curve

from sigreport.activations import Activations, LayerInfo, SplitActivations
from sigreport.analysis import (
    compute_metrics,
    compute_path_stats,
    count_paths,
    detection,
    linear_cka,
    measures,
    ood,
    purity,
)
from sigreport.config import Config, SignaturesConfig
from sigreport.signatures import Signatures, fit_signatures

CLASSES = (1, 7)
N = {"train": 60, "test": 40, "probe": 40}      # per class (probe: class 3 only)
PLANTED = 3                                     # test 7s whose activations are those of a 1
# Post-activation centres per class; the probe sits near class 1 in hidden1 and near
# class 7 in hidden2, each time 9 units out on an axis no training sample uses.
PRE = {
    "hidden1": {1: [5, -2, -2, -2], 7: [-2, 5, -2, -2], 3: [5, -2, -2, 9]},
    "hidden2": {1: [5, -2, -2], 7: [-2, 5, -2], 3: [-2, 5, 9]},
}
LOGITS = {1: [4.0, -4.0], 7: [-4.0, 4.0], 3: [0.5, -0.5]}


def _infos() -> tuple[LayerInfo, ...]:
    return (
        LayerInfo("input", "input", 0, 8),
        LayerInfo("hidden1.pre", "pre", 1, 4), LayerInfo("hidden1", "post", 1, 4),
        LayerInfo("hidden2.pre", "pre", 2, 3), LayerInfo("hidden2", "post", 2, 3),
        LayerInfo("logits", "logits", 3, 2), LayerInfo("probs", "probs", 3, 2),
    )


def _split(rng: np.random.Generator, y: np.ndarray, offset: int, style: np.ndarray | None = None,
           input_shift: float = 0.0) -> SplitActivations:
    """Activations of samples of classes ``y``, each drawn like class ``style``."""
    style = y if style is None else style
    n = len(y)
    shifted = rng.normal(size=(n, 8)) + input_shift * (y == 7)[:, None]
    layers = {"input": shifted.astype(np.float32)}
    for name, centres in PRE.items():
        pre = np.array([centres[c] for c in style], dtype=np.float64)
        pre += rng.normal(scale=0.3, size=pre.shape)
        layers[f"{name}.pre"] = pre.astype(np.float32)
        layers[name] = np.maximum(pre, 0).astype(np.float32)
    logits = np.array([LOGITS[c] for c in style]) + rng.normal(scale=0.1, size=(n, 2))
    layers["logits"] = logits.astype(np.float32)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    layers["probs"] = (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
    predicted = np.asarray(CLASSES)[np.argmax(logits, axis=1)].astype(np.int64)
    return SplitActivations(layers=layers, y=y.astype(np.int64),
                            index=np.arange(offset, offset + n, dtype=np.int64) * 3,
                            predicted=predicted)


def make_acts(seed: int = 0, probe_seed: int | None = None, input_shift: float = 0.0
              ) -> Activations:
    """Known answers: hidden1 separates 1 from 7 (the input does not, unless shifted);
    PLANTED test 7s look like 1s everywhere; the probe 3s take a path no training
    sample takes and lie far from every training sample."""
    rng = np.random.default_rng(seed)
    y_train = np.repeat(CLASSES, N["train"])
    y_test = np.repeat(CLASSES, N["test"])
    style = y_test.copy()
    style[N["test"]:N["test"] + PLANTED] = 1
    train = _split(rng, y_train, 0, input_shift=input_shift)
    test = _split(rng, y_test, 1000, style, input_shift=input_shift)
    probe_rng = rng if probe_seed is None else np.random.default_rng(probe_seed)
    probe = _split(probe_rng, np.full(N["probe"], 3), 2000)
    return Activations(layers=_infos(), classes=CLASSES, train=train, test=test, probe=probe)


DATASET = SimpleNamespace(name="toy", class_names=tuple(str(c) for c in range(10)),
                          classes=CLASSES, probe_classes=(3,))
TRAIN = SimpleNamespace(seed=0, history={
    "epoch": np.array([1, 2, 3]), "train_loss": np.array([0.5, 0.2, 0.1]),
    "train_accuracy": np.array([0.8, 0.9, 0.95]), "test_accuracy": np.array([0.7, 0.8, 0.85])})
CONFIG = Config(name="toy", seed=0)


def untrained_like(acts: Activations, seed: int = 11) -> Activations:
    """The untrained control: same inputs, labels and rows; hidden layers and logits are
    random projections of the input (no class structure beyond the input's)."""
    rng = np.random.default_rng(seed)
    weights = {name: rng.normal(size=(8, width)) for name, width in
               (("hidden1", 4), ("hidden2", 3), ("logits", 2))}

    def one(split: SplitActivations) -> SplitActivations:
        layers = {"input": split.layers["input"]}
        for name in ("hidden1", "hidden2"):
            pre = (split.layers["input"] @ weights[name]).astype(np.float32)
            layers[f"{name}.pre"], layers[name] = pre, np.maximum(pre, 0)
        logits = (split.layers["input"] @ weights["logits"]).astype(np.float32)
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        layers["logits"], layers["probs"] = logits, e / e.sum(axis=1, keepdims=True)
        pred = np.asarray(CLASSES)[np.argmax(logits, axis=1)].astype(np.int64)
        return SplitActivations(layers, split.y, split.index, pred)

    return dataclasses.replace(acts, train=one(acts.train), test=one(acts.test),
                               probe=one(acts.probe))


def with_control(acts: Activations, sigs: Signatures) -> dict:
    """Snapshots {0: the untrained control clustered with the trained k, 3: the trained network}."""
    control = untrained_like(acts)
    k = {s.layer: s.n_clusters for s in sigs.layers}
    return {0: (control, fit_signatures(control, CONFIG.signatures, 0, k=k)), 3: (acts, sigs)}


@pytest.fixture(scope="module")
def toy():
    acts = make_acts()
    sigs = fit_signatures(acts, CONFIG.signatures, seed=0)
    return acts, sigs


@pytest.fixture(scope="module")
def metrics(toy):
    acts, sigs = toy
    return compute_metrics(CONFIG, DATASET, TRAIN, acts, sigs, snapshots=with_control(acts, sigs))


def _ood_row(metrics, method, layer, probe_class="all"):
    rows = [r for r in metrics["ood"] if r["method"] == method and r["layer"] == layer
            and r["probe_class"] == probe_class]
    assert len(rows) == 1, (method, layer, probe_class)
    return rows[0]


# --- the answers ------------------------------------------------------------------


def test_layers_run_from_the_input_to_the_output(metrics):
    layers = metrics["layers"]
    assert [layer["name"] for layer in layers] == ["input", "hidden1", "hidden2", "logits"]
    assert [layer["index"] for layer in layers] == [0, 1, 2, 3]
    assert [layer["width"] for layer in layers] == [8, 4, 3, 2]
    assert [layer["n_clusters"] for layer in layers[1:]] == [2, 2, 2]
    hidden1 = layers[1]
    for c in ("1", "7"):      # every training image is in its class's cluster or unassigned
        counts = hidden1["cluster_counts"][c]
        assert min(counts) == 0
        assert sum(counts) + hidden1["unassigned_counts"][c] == N["train"]
        assert hidden1["unassigned_counts"][c] <= 2
    assert sorted(hidden1["cluster_dominant_class"]) == [1, 7]
    # the 3s sit 9 units out on an axis no training image uses: outside every region
    assert hidden1["probe_cluster_counts"]["3"] == [0, 0]
    assert hidden1["probe_unassigned_counts"]["3"] == N["probe"]
    assert hidden1["unassigned_rate"]["probe"] == 1.0
    assert hidden1["unassigned_rate"]["test"] <= 0.05
    assert hidden1["binary"]["hamming"][0]["a"] == 1
    # units 0 and 1 swap between the classes: half the units differ
    assert hidden1["binary"]["hamming"][0]["distance"] == pytest.approx(0.5, abs=0.02)
    assert hidden1["binary"]["active_fraction"]["1"] == pytest.approx(0.25, abs=0.02)
    assert layers[0]["binary"] is None and layers[3]["binary"] is None


def test_separation_is_hidden1_against_the_input_and_the_untrained_network(metrics):
    sep = metrics["answers"]["separation"]
    assert sep["separation_layer"] == "hidden1" and sep["separation_layer_index"] == 1
    assert sep["measure"] == "cka_labels" and sep["control_epoch"] == 0
    rows = {r["layer"]: r for r in sep["per_layer"]}
    assert list(rows) == ["input", "hidden1", "hidden2", "logits"]
    h1, inp = rows["hidden1"], rows["input"]
    for m in ("cka_labels", "cluster_class_ami"):
        lo, hi = h1["ci"][m]
        assert lo <= h1["value"][m] <= hi
        assert h1["beats_input"][m] and h1["beats_control"][m], m
        assert inp["ci"][m][1] < lo and h1["control_ci"][m][1] < lo
        assert sep["first_layer_by_measure"][m] == "hidden1"
    assert inp["control"]["cka_labels"] is None            # the input has no untrained twin
    expected = (2 * N["test"] - PLANTED) / (2 * N["test"])
    assert h1["value"]["linear_probe_accuracy"] == pytest.approx(expected)  # planted 7s wrong
    assert sep["input_linear_probe_accuracy"] < 0.8
    assert sep["reason"] is None


def test_without_an_untrained_control_the_input_is_the_only_control(toy):
    acts, sigs = toy
    sep = compute_metrics(CONFIG, DATASET, TRAIN, acts, sigs)["answers"]["separation"]
    assert sep["control_epoch"] is None
    assert sep["separation_layer"] == "hidden1"
    assert all(r["beats_control"]["cka_labels"] is None for r in sep["per_layer"])


def test_when_no_hidden_layer_beats_the_controls_the_answer_says_why(toy):
    acts, sigs = toy
    # the "untrained" network is the trained one: nothing was learned beyond it
    snaps = {0: (acts, fit_signatures(acts, CONFIG.signatures, 0,
                                      k={s.layer: s.n_clusters for s in sigs.layers})),
             3: (acts, sigs)}
    sep = compute_metrics(CONFIG, DATASET, TRAIN, acts, sigs,
                          snapshots=snaps)["answers"]["separation"]
    assert sep["separation_layer"] is None
    assert "untrained" in sep["reason"] and "CKA with the labels" in sep["reason"]
    assert sep["verdict"] == "not_separated" and sep["n_measures_agree"] == 0


def test_cluster_class_agreement_is_high_where_the_classes_are_apart(metrics):
    hidden1 = metrics["layers"][1]
    assert hidden1["cluster_class_ami"] > 0.7
    assert metrics["layers"][0]["cluster_class_ami"] < 0.2
    assert hidden1["purity"] >= (2 * N["test"] - PLANTED) / (2 * N["test"]) - 0.05


def test_signatures_differ_beyond_the_controls_and_the_planted_7s_are_routed_like_1s(
        metrics, toy):
    acts, _ = toy
    differ = metrics["answers"]["signatures_differ"]
    by_layer = {p["layer"]: p for p in differ["per_layer"]}
    assert list(by_layer) == ["hidden1", "hidden2"]
    assert by_layer["hidden1"]["js"] > 0.8 and differ["input"]["js"] < 0.3
    assert by_layer["hidden2"]["path_layers"] == ["hidden1", "hidden2"]
    assert by_layer["hidden1"]["beats_input"] and by_layer["hidden1"]["beats_control"]
    routed = {(a["class"], a["looks_like"]): a for a in differ["routed_like"]}
    planted = acts.test.index[N["test"]:N["test"] + PLANTED].tolist()
    assert routed[(7, 1)]["indices"] == planted               # source indices, not rows
    assert routed[(7, 1)]["count"] == PLANTED
    # their logits were drawn like a 1's: all wrongly classified, as 1
    assert routed[(7, 1)]["wrong"] == PLANTED and routed[(7, 1)]["correct"] == 0
    assert routed[(7, 1)]["predicted_as_other"] == PLANTED
    assert routed[(1, 7)]["count"] == 0


def test_routed_like_counts_correct_and_wrong_apart_from_the_prediction(toy):
    """The prediction is not part of a path: 7s routed like 1s but predicted 7 count as correct."""
    acts, sigs = toy
    pred = acts.test.predicted.copy()
    planted = np.arange(N["test"], N["test"] + PLANTED)
    pred[planted[:2]] = 7
    test = dataclasses.replace(acts.test, predicted=pred)
    acts2 = dataclasses.replace(acts, test=test)
    m = compute_metrics(CONFIG, DATASET, TRAIN, acts2, sigs)
    routed = {(a["class"], a["looks_like"]): a
              for a in m["answers"]["signatures_differ"]["routed_like"]}
    assert routed[(7, 1)]["count"] == PLANTED
    assert routed[(7, 1)]["correct"] == 2 and routed[(7, 1)]["wrong"] == PLANTED - 2


def test_the_unseen_class_is_unassigned_and_takes_novel_paths(metrics):
    unseen = metrics["answers"]["unseen"]
    assert [u["class"] for u in unseen] == [3]
    u = unseen[0]
    assert u["n_samples"] == N["probe"]
    assert u["predicted_as"] == {"1": 1.0, "7": 0.0}
    assert u["novel_path_fraction"] == 1.0 and u["test_novel_path_fraction"] <= 0.1
    assert u["unassigned_any_fraction"] == 1.0
    assert u["most_borrowed_path"] is None                    # it borrows no seen path
    for layer in u["layers"]:
        assert layer["unassigned_rate"] == 1.0 and layer["clusters"] == []
        assert layer["test_unassigned_rate"] <= 0.05
        assert layer["boundary_ratio_median"] > 10 * layer["test_boundary_ratio_median"]
    top = u["top_paths"][0]
    assert top["fraction"] == 1.0 and top["novel"] is True and top["path"] == [-1, -1]


def test_paths_table_coverage_and_faithfulness(metrics):
    paths = metrics["paths"]
    assert paths["layers"] == ["hidden1", "hidden2"] and paths["unassigned"] == -1
    assert paths["n_specific"] == 2
    totals = [row["total"] for row in paths["table"]]
    assert totals == sorted(totals, reverse=True)
    assert sum(totals) == 2 * N["train"] + 2 * N["test"] + N["probe"]
    specific = [row for row in paths["table"] if row["specific"]]
    assert sorted(row["dominant_class"] for row in specific) == [1, 7]
    assert all(row["purity"] == 1.0 and -1 not in row["path"] for row in specific)
    assert all(row["novel"] for row in paths["table"] if -1 in row["path"])
    # a few test images fall outside a region (each holds 99% of 60 training members)
    assert paths["coverage"]["1"] >= 0.9
    assert paths["coverage"]["7"] == pytest.approx((N["test"] - PLANTED) / N["test"], abs=0.1)
    # the planted 7s take the 1s' path and are predicted 1: the path still predicts the decision
    assert paths["faithfulness"]["value"] == 1.0
    assert paths["faithfulness"]["coverage"] >= 0.9
    assert paths["noise"] is None


def test_path_agreement_under_noise(toy):
    acts, sigs = toy
    rng = np.random.default_rng(4)
    layers = {k: v + rng.normal(scale=0.01, size=v.shape).astype(np.float32)
              for k, v in acts.test.layers.items()}
    small = dataclasses.replace(acts.test, layers=layers)
    m = compute_metrics(CONFIG, DATASET, TRAIN, acts, sigs, noisy=small)
    noise = m["paths"]["noise"]
    assert noise["sigma"] == CONFIG.analysis.path_noise
    assert noise["path_agreement"]["value"] >= 0.95
    assert noise["prediction_agreement"]["value"] == 1.0
    # a noisy copy that swaps the classes' hidden activations disagrees everywhere
    swapped = dataclasses.replace(acts.test, layers={
        k: (v[::-1] if k.startswith("hidden") else v) for k, v in acts.test.layers.items()})
    m2 = compute_metrics(CONFIG, DATASET, TRAIN, acts, sigs, noisy=swapped)
    assert m2["paths"]["noise"]["path_agreement"]["value"] < 0.2


def test_detection_rows_are_named_by_family_and_signatures_never_use_the_input(metrics):
    rows = [r for r in metrics["ood"] if r["probe_class"] == "all"]
    families = {r["family"] for r in rows}
    assert families == {"input", "network", "signature"}
    for r in rows:
        if r["family"] == "input":
            assert r["layers"] == ["input"]
        else:
            assert "input" not in r["layers"], r["method"]
        if r["family"] == "signature":
            assert set(r["layers"]) <= {"hidden1", "hidden2"}
        lo, hi = r["auroc_ci"]
        assert lo <= r["auroc"] <= hi or r["auroc"] in (lo, hi)
    methods = {(r["family"], r["method"]) for r in rows}
    assert {("network", "deep_knn"), ("network", "max_softmax"), ("signature", "boundary"),
            ("signature", "unassigned_layers"), ("signature", "path_rarity")} <= methods


def test_unseen_class_is_detected_from_signatures(metrics):
    for method, layer in (("boundary", "all_hidden"), ("boundary", "hidden1"),
                          ("unassigned_layers", "all_hidden"), ("path_rarity", "all_hidden"),
                          ("knn", "hidden1"), ("mahalanobis", "all_hidden")):
        row = _ood_row(metrics, method, layer)
        assert row["auroc"] == 1.0, (method, layer)
        assert row["fpr95"] == 0.0, (method, layer)
    # the input is the same noise for every class: nothing to detect there
    assert 0.2 < _ood_row(metrics, "knn", "input")["auroc"] < 0.8
    assert _ood_row(metrics, "boundary", "all_hidden", probe_class=3)["auroc"] == 1.0
    msp = _ood_row(metrics, "max_softmax", "output")
    assert msp["n_known"] == 2 * N["test"] and msp["n_unknown"] == N["probe"]
    assert len(msp["roc"]["fpr"]) == len(msp["roc"]["tpr"]) == 101
    best = metrics["answers"]["unseen_detection"]["best_per_family"]
    assert best["signature"]["auroc"] == 1.0 and best["signature"]["family"] == "signature"
    assert best["input"]["layer"] == "input"


def test_cka_is_a_symmetric_similarity_matrix(metrics):
    cka = metrics["cka"]
    m = np.array(cka["matrix"])
    assert cka["layers"] == ["input", "hidden1", "hidden2", "logits"]
    np.testing.assert_allclose(m, m.T)
    np.testing.assert_allclose(np.diag(m), 1.0)
    assert np.all((m >= 0) & (m <= 1))
    assert m[1, 3] > m[0, 1]      # hidden1 resembles the logits more than the noise input


def test_model_and_experiment_sections(metrics, toy):
    acts, _ = toy
    acc = float(np.mean(acts.test.predicted == acts.test.y))
    assert metrics["model"]["test_accuracy"] == pytest.approx(acc, abs=1e-6)
    lo, hi = metrics["model"]["test_accuracy_ci"]
    assert lo <= acc <= hi
    assert metrics["model"]["history"]["epoch"] == [1, 2, 3]
    exp = metrics["experiment"]
    assert exp["classes"] == [1, 7] and exp["probe_classes"] == [3]
    assert exp["class_names"] == {"1": "1", "3": "3", "7": "7"}
    assert (exp["n_train"], exp["n_test"], exp["n_probe"]) == (120, 80, 40)
    assert exp["signatures"]["boundary_quantile"] == 0.99
    assert metrics["stability"] is None
    assert "linear_probe" in metrics["subsampling"] and "intervals" in metrics["subsampling"]


# --- contract: plain JSON, deterministic, probes never fitted on ------------------------


def _walk(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v)
    else:
        yield value


def test_metrics_are_plain_json_with_short_floats(metrics):
    text = json.dumps(metrics, allow_nan=False)
    assert json.loads(text) == metrics
    for value in _walk(metrics):
        assert value is None or type(value) in (str, int, float, bool)
        if type(value) is float:
            assert len(repr(value).replace("-", "").replace("0.", "").lstrip("0")) <= 12


def test_same_seed_same_metrics(toy, metrics):
    acts, _ = toy
    sigs = fit_signatures(acts, CONFIG.signatures, 0)
    again = compute_metrics(CONFIG, DATASET, TRAIN, acts, sigs, snapshots=with_control(acts, sigs))
    assert json.dumps(again, sort_keys=True) == json.dumps(metrics, sort_keys=True)


def test_probe_samples_never_influence_a_fit(toy):
    """Fitted models, calibrations and every score of a test sample ignore the probe split."""
    acts, sigs = toy
    other = make_acts(probe_seed=99)
    np.testing.assert_array_equal(other.test.layers["hidden1"], acts.test.layers["hidden1"])
    assert not np.array_equal(other.probe.layers["hidden1"], acts.probe.layers["hidden1"])
    other_sigs = fit_signatures(other, CONFIG.signatures, seed=0)
    scores = {}
    for key, (a, s) in {"a": (acts, sigs), "b": (other, other_sigs)}.items():
        ps = compute_path_stats(a, s.paths, 0.9, 10, (3,))
        scores[key] = {(sc.method, sc.layer): sc.test
                       for sc in detection.novelty_scores(a, s, ps, CONFIG, 0)[0]}
    assert scores["a"].keys() == scores["b"].keys()
    for key in scores["a"]:
        np.testing.assert_array_equal(scores["a"][key], scores["b"][key], err_msg=str(key))
    ma = compute_metrics(CONFIG, DATASET, TRAIN, acts, sigs)
    mb = compute_metrics(CONFIG, DATASET, TRAIN, other, other_sigs)
    assert ma["cka"] == mb["cka"]
    assert ma["answers"]["separation"] == mb["answers"]["separation"]
    for la, lb in zip(ma["layers"], mb["layers"]):
        for field in ("linear_probe_accuracy", "cluster_class_ami", "purity", "cluster_counts"):
            assert la[field] == lb[field], field


def test_linear_probe_is_fitted_on_training_rows_only(toy, monkeypatch):
    acts, sigs = toy
    fitted = []
    original = measures.LogisticRegression.fit

    def fit(self, x, y, *args, **kwargs):
        fitted.append(np.asarray(y))
        return original(self, x, y, *args, **kwargs)

    monkeypatch.setattr(measures.LogisticRegression, "fit", fit)
    compute_metrics(CONFIG, DATASET, TRAIN, acts, sigs)
    assert len(fitted) == 4                                   # one per clustered layer
    for y in fitted:
        assert len(y) == len(acts.train.y) and 3 not in set(y.tolist())


# --- stability and snapshots ---------------------------------------------------------


def _relabelled(sigs: Signatures, acts: Activations) -> Signatures:
    """The same clusterings with every cluster id permuted (unassigned stays -1)."""
    layers = []
    for sig in sigs.layers:
        perm = np.arange(sig.n_clusters)[::-1]
        layers.append(dataclasses.replace(
            sig, labels={s: np.where(v >= 0, perm[np.maximum(v, 0)], v)
                         for s, v in sig.labels.items()},
            centroids=sig.centroids[np.argsort(perm)]))
    by_name = {s.layer: s for s in layers}
    paths = {s: np.stack([by_name[h].labels[s] for h in acts.hidden], axis=1)
             for s in ("train", "test", "probe")}
    return dataclasses.replace(sigs, layers=tuple(layers), paths=paths)


def test_stability_is_perfect_for_a_relabelled_copy_and_low_for_noise(toy):
    acts, sigs = toy
    same = compute_metrics(CONFIG, DATASET, TRAIN, acts, sigs,
                           other_seeds=[(1, acts, _relabelled(sigs, acts))])["stability"]
    assert same["seeds"] == [0, 1]
    assert all(layer["ari_mean"] == 1.0 and layer["ari_min"] == 1.0 for layer in same["layers"])
    assert same["specific_path_recurrence"] == 1.0
    noise = make_acts(seed=5)
    rng = np.random.default_rng(0)
    scrambled = {}
    for name in ("train", "test", "probe"):
        split = noise.split(name)
        layers = {k: rng.permutation(v) for k, v in split.layers.items()}
        scrambled[name] = SplitActivations(layers, split.y, split.index, split.predicted)
    noise = dataclasses.replace(noise, **scrambled)
    other = compute_metrics(CONFIG, DATASET, TRAIN, acts, sigs,
                            other_seeds=[(2, noise, fit_signatures(noise, CONFIG.signatures, 2))])
    hidden1 = next(layer for layer in other["stability"]["layers"] if layer["layer"] == "hidden1")
    assert hidden1["ari_mean"] < 0.2


def test_snapshots_take_accuracy_from_history_when_it_has_the_epoch(toy, metrics):
    acts, sigs = toy
    snaps = with_control(acts, sigs)
    control = snaps[0][0]
    flat = dict(control.test.__dict__)
    flat["predicted"] = np.full(len(control.test.y), 7, dtype=np.int64)
    snaps[0] = (dataclasses.replace(control, test=SplitActivations(**flat)), snaps[0][1])
    m = compute_metrics(CONFIG, DATASET, TRAIN, acts, sigs, snapshots=snaps)
    assert [s["epoch"] for s in m["snapshots"]] == [0, 3]
    assert m["snapshots"][0]["test_accuracy"] == 0.5          # every test sample called a 7
    assert m["snapshots"][1]["test_accuracy"] == 0.85         # TRAIN.history at epoch 3
    last = m["snapshots"][1]
    assert [layer["name"] for layer in last["layers"]] == ["input", "hidden1", "hidden2", "logits"]
    assert last["n_specific"] == 2 and last["path_purity"] >= 0.95
    assert last["layers"][1]["cluster_class_ami"] == m["layers"][1]["cluster_class_ami"]
    first = m["snapshots"][0]
    assert first["layers"][1]["cka_labels"] == \
        m["answers"]["separation"]["per_layer"][1]["control"]["cka_labels"]
    assert [layer["n_clusters"] for layer in first["layers"]] == \
        [layer["n_clusters"] for layer in last["layers"]]


def test_snapshot_epochs_measure_what_each_epoch_alone_measures(toy):
    """Epochs sharing the input measure it once; an epoch whose input differs measures its own,
    and every value equals the alignment of that epoch computed by itself."""
    from sigreport.analysis.metrics import _SNAPSHOT_PROBE_SUBSAMPLE
    from sigreport.analysis.separation import compute_alignment

    acts, sigs = toy
    snaps = with_control(acts, sigs)
    k = {s.layer: s.n_clusters for s in sigs.layers}
    same = untrained_like(acts, seed=12)
    moved = untrained_like(make_acts(seed=0, input_shift=1.5), seed=13)
    for epoch, a in ((1, same), (2, moved)):
        snaps[epoch] = (a, fit_signatures(a, CONFIG.signatures, 0, k=k))
    m = compute_metrics(CONFIG, DATASET, TRAIN, acts, sigs, snapshots=snaps)
    cfg = CONFIG.analysis
    fit = min(cfg.probe_subsample, _SNAPSHOT_PROBE_SUBSAMPLE)
    for row in m["snapshots"][:3]:
        a, s = snaps[row["epoch"]]
        alone = compute_alignment(a, s, ("input", "hidden1", "hidden2", "logits"), None,
                                  cfg.cka_subsample, fit, 0)
        layers = row["layers"] if row["epoch"] else row["layers"][:1]
        for layer in layers:
            for measure, value in alone[layer["name"]].value.items():
                assert layer[measure] == pytest.approx(value, abs=1e-6), (row["epoch"], measure)
    probe_acc = [row["layers"][0]["linear_probe_accuracy"] for row in m["snapshots"]]
    assert probe_acc[0] == probe_acc[1] != probe_acc[2]


# --- building blocks against references ----------------------------------------------


def _naive_path_counts(paths, y, classes):
    counter = Counter()
    for row, label in zip(paths.tolist(), y.tolist()):
        if label in classes:
            counter[(tuple(row), label)] += 1
    return counter


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 300), st.integers(1, 4), st.integers(1, 5))
def test_path_counts_match_a_naive_loop(seed, n, n_layers, k):
    rng = np.random.default_rng(seed)
    paths = rng.integers(-1, k, size=(n, n_layers))
    y = rng.choice([1, 3, 7], size=n)          # 3 is not a trained class: ignored
    unique, counts = count_paths(paths, y, (1, 7))
    expected = _naive_path_counts(paths, y, (1, 7))
    got = Counter()
    for p, row in enumerate(unique.tolist()):
        for j, c in enumerate((1, 7)):
            if counts[p, j]:
                got[(tuple(row), c)] = int(counts[p, j])
    assert got == expected
    assert len({tuple(r) for r in unique.tolist()}) == len(unique)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 60), st.integers(1, 60), st.booleans())
def test_auroc_matches_scikit_learn(seed, n_known, n_unknown, ties):
    rng = np.random.default_rng(seed)
    known = rng.normal(size=n_known)
    unknown = rng.normal(loc=0.7, size=n_unknown)
    if ties:
        known, unknown = np.round(known), np.round(unknown)
    y = np.r_[np.zeros(n_known), np.ones(n_unknown)]
    s = np.r_[known, unknown]
    assert ood.auroc(known, unknown) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    fpr, tpr = ood.roc_points(known, unknown)
    assert fpr[0] == 0.0 and fpr[-1] == 1.0 and tpr[-1] == 1.0
    assert np.all(np.diff(tpr) >= -1e-12)
    ref_fpr, ref_tpr, _ = roc_curve(y, s)
    # away from vertical runs the sampled curve is the reference polyline
    for f, t in zip(fpr, tpr):
        if not np.any(np.isclose(ref_fpr, f)):
            assert t == pytest.approx(np.interp(f, ref_fpr, ref_tpr), abs=1e-9)
        else:
            assert t == pytest.approx(ref_tpr[np.isclose(ref_fpr, f)].max(), abs=1e-9)


def test_fpr95_known_answer():
    known = np.arange(100.0)                      # 95 of them are <= 94
    unknown = np.array([50.0, 94.0, 96.0, 120.0])
    assert ood.fpr_at_95(known, unknown) == 0.5   # 50 and 94 are accepted as known
    assert ood.fpr_at_95(known, known + 1000) == 0.0


def test_kth_neighbour_distance_matches_brute_force():
    rng = np.random.default_rng(0)
    bank = ood.l2_normalize(rng.normal(size=(300, 6)))
    queries = ood.l2_normalize(rng.normal(size=(50, 6)))
    d = np.linalg.norm(queries[:, None, :] - bank[None], axis=2)
    for k in (1, 3, 10):
        got = ood.kth_neighbour_distance(bank, queries, k)
        np.testing.assert_allclose(got, np.sort(d, axis=1)[:, k - 1], rtol=1e-5, atol=1e-6)
    own = ood.kth_neighbour_distance(bank, bank[:40], 2, queries_in_bank=True)
    d_own = np.linalg.norm(bank[:40, None, :] - bank[None], axis=2)
    np.testing.assert_allclose(own, np.sort(d_own, axis=1)[:, 2], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("n_bank,k", [(300, 10), (300, 1), (12, 10), (1000, 7)])
def test_nearest_neighbours_match_a_full_sort(monkeypatch, n_bank, k):
    """The neighbours of a full float64 distance sort (ties to the lower row), with
    duplicate rows, zero rows and queries that are bank rows; several query chunks."""
    monkeypatch.setattr(ood, "_QUERY_CHUNK", 16)
    rng = np.random.default_rng(n_bank + k)
    bank = ood.l2_normalize(rng.normal(size=(n_bank, 6)))
    bank[n_bank // 3:n_bank // 3 + 4] = 0.0
    bank[-3:] = bank[:3]
    queries = np.r_[ood.l2_normalize(rng.normal(size=(40, 6))), np.zeros((2, 6), np.float32),
                    bank[:3]]
    dist, ind = ood.nearest_neighbours(bank, queries, k)
    exact = ((queries[:, None, :].astype(np.float64) - bank[None].astype(np.float64)) ** 2).sum(2)
    order = np.lexsort((np.broadcast_to(np.arange(n_bank), exact.shape), exact), axis=1)
    np.testing.assert_array_equal(ind, order[:, :k])
    want = np.sqrt(np.take_along_axis(exact, order[:, :k], axis=1).astype(np.float32))
    np.testing.assert_array_equal(dist, want)
    assert ood.nearest_neighbours(bank, queries[:0], k)[0].shape == (0, k)


def test_mahalanobis_is_the_squared_distance_to_the_nearest_class_mean():
    rng = np.random.default_rng(0)
    x = np.r_[rng.normal(size=(3000, 2)), rng.normal(size=(3000, 2)) + [10.0, 0.0]]
    y = np.repeat([1, 7], 3000)
    model = ood.fit_mahalanobis(x, y, (1, 7))
    got = model.score(np.array([[0.0, 0.0], [5.0, 0.0], [0.0, 3.0], [10.0, -2.0]]))
    np.testing.assert_allclose(got, [0.0, 25.0, 9.0, 4.0], rtol=0.1, atol=0.05)


def test_linear_cka_invariances():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 10))
    q, _ = np.linalg.qr(rng.normal(size=(10, 10)))
    assert linear_cka(x, x @ q) == pytest.approx(1.0)
    assert linear_cka(x, 3.0 * x + 1.0) == pytest.approx(1.0)
    assert linear_cka(x, rng.normal(size=(400, 10))) < 0.1


def test_purity_known_answer():
    assert purity(np.array([0, 0, 1, 1, 1]), np.array([1, 1, 1, 7, 7])) == pytest.approx(0.8)
    assert purity(np.array([-1, -1, 2]), np.array([1, 7, 7])) == pytest.approx(2 / 3)


def test_signature_methods_other_than_kmeans_give_valid_metrics(toy):
    acts, _ = toy
    for method in ("gmm", "agglomerative", "hdbscan"):
        cfg = dataclasses.replace(CONFIG, signatures=SignaturesConfig(method=method))
        m = compute_metrics(cfg, DATASET, TRAIN, acts, fit_signatures(acts, cfg.signatures, 0))
        assert m["answers"]["separation"]["separation_layer"] == "hidden1", method
        assert m["answers"]["unseen"][0]["novel_path_fraction"] == 1.0, method


# --- intervals and the new scores against references ------------------------------------


@pytest.mark.parametrize("width", [5, 40])        # the features' route, the Gram matrix's
def test_cka_resamples_equal_the_cka_of_the_resampled_rows(width):
    rng = np.random.default_rng(width)
    y = np.repeat([1, 3, 7], 20)
    x = rng.normal(size=(60, width)) + 2.0 * (y == 7)[:, None] - 1.0 * (y == 3)[:, None]
    draws = rng.integers(0, 60, size=(4, 60))
    weights = np.stack([np.bincount(d, minlength=60) for d in draws]).astype(float)
    point, samples = measures.cka_labels_samples(x, y, (1, 3, 7), weights)
    onehot = (y[:, None] == np.array([1, 3, 7])[None, :]).astype(float)
    assert point == pytest.approx(linear_cka(x, onehot), abs=1e-9)
    for d, got in zip(draws, samples):
        assert got == pytest.approx(linear_cka(x[d], onehot[d]), abs=1e-9)
    alone, none = measures.cka_labels_samples(x, y, (1, 3, 7), np.zeros((0, 60)))
    assert alone == pytest.approx(point, abs=1e-12) and len(none) == 0


# each route: the features (one resample, several in blocks of rows), the Gram matrix
@pytest.mark.parametrize("n_boot,width,n", [(1, 4, 25), (3, 4, 600), (1, 30, 25), (3, 30, 25)])
def test_weighted_second_moment_norm_matches_the_plain_sum(n_boot, width, n):
    rng = np.random.default_rng(width)
    x = rng.normal(size=(n, width))
    w = rng.integers(0, 3, size=(n_boot, n)).astype(float)
    plain = [np.sum(np.square((x * wb[:, None]).T @ x)) for wb in w]
    np.testing.assert_allclose(measures._weighted_gram_norm2(x, w), plain, rtol=1e-12)


def test_ami_resamples_track_the_ami_of_the_resampled_rows():
    rng = np.random.default_rng(1)
    y = np.repeat([1, 7], 200)
    labels = np.where(rng.random(400) < 0.85, (y == 7).astype(int), rng.integers(0, 3, 400))
    draws = rng.integers(0, 400, size=(5, 400))
    weights = np.stack([np.bincount(d, minlength=400) for d in draws]).astype(float)
    point, samples = measures.ami_samples(labels, y, weights)
    assert point == pytest.approx(adjusted_mutual_info_score(y, labels))
    for d, got in zip(draws, samples):
        # the chance term is held at the full split's value: equal to within 0.01
        assert got == pytest.approx(adjusted_mutual_info_score(y[d], labels[d]), abs=0.01)


def test_js_divergence_matches_scipy():
    y = np.repeat([1, 7], 50)
    groups = np.r_[np.zeros(40), np.ones(10), np.ones(30), np.full(20, 2)].astype(int)
    point, _ = measures.js_divergence_samples(groups, y, (1, 7), np.zeros((0, 100)))
    p, q = np.array([40, 10, 0]) / 50, np.array([0, 30, 20]) / 50
    assert point == pytest.approx(jensenshannon(p, q, base=2) ** 2, abs=1e-12)


def test_js_divergence_resamples_equal_the_divergence_of_the_resampled_rows():
    rng = np.random.default_rng(4)
    y = np.r_[np.repeat([1, 3, 7], 30), [5]]                 # 5: not a measured class
    groups = rng.integers(0, 6, size=len(y))
    draws = rng.integers(0, len(y), size=(5, len(y)))
    draws[0] = np.flatnonzero(y != 3)[rng.integers(0, 61, size=len(y))]   # no 3 drawn

    def mean_over_pairs(g, labels):
        present = [c for c in (1, 3, 7) if np.any(labels == c)]
        dists = {c: np.bincount(g[labels == c], minlength=6) for c in present}
        return np.mean([jensenshannon(dists[a], dists[b], base=2) ** 2
                        for i, a in enumerate(present) for b in present[i + 1:]])

    weights = np.stack([np.bincount(d, minlength=len(y)) for d in draws]).astype(float)
    point, samples = measures.js_divergence_samples(groups, y, (1, 3, 7), weights)
    assert point == pytest.approx(mean_over_pairs(groups, y), abs=1e-12)
    for d, got in zip(draws, samples):
        assert got == pytest.approx(mean_over_pairs(groups[d], y[d]), abs=1e-12)


def test_bootstrap_intervals_cover_a_known_auroc():
    """Two normals a distance d apart have AUROC Phi(d / sqrt 2): the 95% interval covers it
    in most of 40 independent draws."""
    from scipy.stats import norm
    truth = float(norm.cdf(1.0 / np.sqrt(2)))
    covered = 0
    for i in range(40):
        rng = np.random.default_rng(100 + i)
        known, unknown = rng.normal(size=300), rng.normal(loc=1.0, size=200)
        auc, fpr = ood.auroc_fpr95_samples(known, unknown, 200, seed=i)
        lo, hi = np.percentile(auc, [2.5, 97.5])
        covered += lo <= truth <= hi
        assert np.all((fpr >= 0) & (fpr <= 1))
    assert covered >= 34                     # 95% nominal; binomial(40, 0.95) >= 34 w.p. 0.99


def test_auroc_and_fpr95_resamples_match_the_plain_functions_on_each_resample():
    rng = np.random.default_rng(2)
    known, unknown = np.round(rng.normal(size=50), 1), np.round(rng.normal(1, size=30), 1)
    auc, fpr = ood.auroc_fpr95_samples(known, unknown, 6, seed=0)
    # the same draws, in the function's documented order: known rows, then unknown rows
    draws = np.random.default_rng([0, 0xA0C])
    dk, du = draws.integers(0, 50, size=(6, 50)), draws.integers(0, 30, size=(6, 30))
    for b in range(6):
        assert auc[b] == pytest.approx(ood.auroc(known[dk[b]], unknown[du[b]]), abs=1e-12)
        assert fpr[b] == pytest.approx(ood.fpr_at_95(known[dk[b]], unknown[du[b]]), abs=1e-12)


def test_auroc_and_fpr95_of_several_probe_groups_are_those_of_each_group_alone():
    rng = np.random.default_rng(3)
    known = np.round(rng.normal(size=80), 1)
    groups = [np.round(rng.normal(1, size=n), 1) for n in (30, 1, 55)] + [np.zeros(0)]
    together = ood.auroc_fpr95_groups(known, groups, 7, seed=4)
    for unknown, (auc, fpr) in zip(groups[:3], together):
        alone = ood.auroc_fpr95_samples(known, unknown, 7, seed=4)
        np.testing.assert_array_equal(auc, alone[0])
        np.testing.assert_array_equal(fpr, alone[1])
    assert np.all(np.isnan(together[3][0]))


def _deep_knn_oracle(banks, bank_y, cal, cal_y, queries, k):
    def alphas(layers):
        out = []
        for i in range(len(layers[0])):
            votes = np.zeros(2)
            for bank, q in zip(banks, layers):
                b, v = ood.l2_normalize(bank), ood.l2_normalize(q[i:i + 1])[0]
                near = np.argsort(np.linalg.norm(b - v, axis=1), kind="stable")[:k]
                for j in near:
                    votes[bank_y[j]] += 1
            out.append(len(banks) * k - votes)
        return np.array(out)

    a_cal = alphas(cal)[np.arange(len(cal_y)), cal_y]
    best = alphas(queries).min(axis=1)
    return np.array([np.mean(a_cal >= a) for a in best])


def test_deep_knn_matches_a_brute_force_oracle():
    rng = np.random.default_rng(5)

    def layer(n, shift):
        return rng.normal(size=(n, 3)) + shift

    bank_y = np.repeat([0, 1], 40)
    banks = [np.r_[layer(40, 0), layer(40, 3)], np.r_[layer(40, -2), layer(40, 2)]]
    cal_y = np.repeat([0, 1], 15)
    cal = [np.r_[layer(15, 0), layer(15, 3)], np.r_[layer(15, -2), layer(15, 2)]]
    queries = [np.r_[layer(10, 0), layer(10, 1.5)], np.r_[layer(10, -2), layer(10, 0)]]
    model = ood.fit_deep_knn(banks, bank_y, cal, cal_y, k=7)
    got = model.credibility(queries)
    np.testing.assert_allclose(got, _deep_knn_oracle(banks, bank_y, cal, cal_y, queries, 7))
    assert got[:10].mean() > got[10:].mean()     # in-distribution queries are more credible


def test_ami_resamples_that_miss_a_cluster_are_finite_regression():
    """Regression: a resample without any member of some cluster gave nan."""
    y = np.array([1, 1, 1, 7, 7, 7, 7, 1])
    labels = np.array([0, 0, 0, 1, 1, 1, 1, 2])        # cluster 2 has one member
    weights = np.ones((2, 8))
    weights[0, 7] = 0.0                                  # the first resample misses it
    weights[0, 0] = 2.0
    _, samples = measures.ami_samples(labels, y, weights)
    assert np.all(np.isfinite(samples))
