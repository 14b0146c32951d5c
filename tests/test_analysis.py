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
from sklearn.metrics import roc_auc_score, roc_curve

from sigreport import analysis, ood
from sigreport.activations import Activations, LayerInfo, SplitActivations
from sigreport.analysis import compute_metrics, count_paths, linear_cka, purity
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
    layers = {"input": (rng.normal(size=(n, 8)) + input_shift * (y == 7)[:, None]).astype(np.float32)}
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


@pytest.fixture(scope="module")
def toy():
    acts = make_acts()
    sigs = fit_signatures(acts, CONFIG.signatures, seed=0)
    return acts, sigs


@pytest.fixture(scope="module")
def metrics(toy):
    acts, sigs = toy
    return compute_metrics(CONFIG, DATASET, TRAIN, acts, sigs)


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
    assert hidden1["cluster_counts"] == {"1": [60, 0], "7": [0, 60]} or \
        hidden1["cluster_counts"] == {"1": [0, 60], "7": [60, 0]}
    assert sorted(hidden1["cluster_dominant_class"]) == [1, 7]
    assert hidden1["probe_cluster_counts"]["3"] == [
        40 if d == 1 else 0 for d in hidden1["cluster_dominant_class"]]
    assert hidden1["binary"]["hamming"][0]["a"] == 1
    # units 0 and 1 swap between the classes: half the units differ
    assert hidden1["binary"]["hamming"][0]["distance"] == pytest.approx(0.5, abs=0.02)
    assert hidden1["binary"]["active_fraction"]["1"] == pytest.approx(0.25, abs=0.02)
    assert layers[0]["binary"] is None and layers[3]["binary"] is None


def test_separation_starts_at_hidden1_not_at_the_input(metrics):
    answers = metrics["answers"]
    probe = [layer["linear_probe_accuracy"] for layer in metrics["layers"]]
    assert probe[0] < 0.8                              # the input is noise for both classes
    expected = (2 * N["test"] - PLANTED) / (2 * N["test"])
    assert probe[1] == pytest.approx(expected)         # only the planted 7s are wrong
    assert answers["separation_layer"] == "hidden1"
    assert answers["separation_layer_index"] == 1
    sep = answers["separation"]
    assert sep["input_already_separates"] is False
    assert sep["threshold"] == 0.95
    assert [p["layer"] for p in sep["per_layer"]] == ["input", "hidden1", "hidden2", "logits"]
    assert sep["per_layer"][1]["gain"] == pytest.approx(probe[1] - probe[0], abs=1e-5)


def test_when_the_input_already_separates_the_answer_says_so():
    acts = make_acts(input_shift=6.0)
    sigs = fit_signatures(acts, CONFIG.signatures, seed=0)
    m = compute_metrics(CONFIG, DATASET, TRAIN, acts, sigs)
    assert m["answers"]["separation_layer"] == "input"
    assert m["answers"]["separation"]["input_already_separates"] is True
    assert m["answers"]["separation"]["input_value"] >= 0.95


def test_cluster_class_agreement_is_perfect_where_the_classes_are_apart(metrics):
    hidden1 = metrics["layers"][1]
    # the planted 7s sit in the 1s' cluster: purity counts exactly those as misplaced
    assert hidden1["purity"] == pytest.approx((2 * N["test"] - PLANTED) / (2 * N["test"]))
    assert hidden1["cluster_class_nmi"] > 0.7
    assert metrics["layers"][0]["cluster_class_nmi"] < 0.2


def test_signatures_of_the_two_classes_differ_and_the_planted_7s_are_found(metrics, toy):
    acts, _ = toy
    differ = metrics["answers"]["signatures_differ"]
    by_layer = {p["layer"]: p for p in differ["per_layer"]}
    assert by_layer["hidden1"]["js"] > 0.8
    assert by_layer["input"]["js"] < 0.3
    assert by_layer["hidden1"]["shared_path_share"] == pytest.approx(PLANTED / N["test"], abs=1e-4)
    atypical = {(a["class"], a["looks_like"]): a for a in differ["atypical"]}
    planted = acts.test.index[N["test"]:N["test"] + PLANTED].tolist()
    assert atypical[(7, 1)]["count"] == PLANTED
    assert atypical[(7, 1)]["indices"] == planted            # source indices, not rows
    assert atypical[(7, 1)]["predicted_as_other"] == PLANTED
    assert atypical[(1, 7)]["count"] == 0
    hidden_only = {(a["class"], a["looks_like"]): a for a in differ["atypical_hidden"]}
    assert hidden_only[(7, 1)]["indices"] == planted


def test_the_unseen_class_takes_a_novel_path_and_is_called_a_1(metrics):
    unseen = metrics["answers"]["unseen"]
    assert [u["class"] for u in unseen] == [3]
    assert unseen[0]["predicted_as"] == {"1": 1.0, "7": 0.0}
    assert unseen[0]["novel_path_fraction"] == 1.0
    assert unseen[0]["most_borrowed_path"] is None            # it borrows no whole path
    probe = metrics["probes"][0]
    assert probe["class"] == 3 and probe["n_samples"] == N["probe"]
    layers = {layer["layer"]: layer for layer in probe["layers"]}
    assert [(c["fraction"], c["dominant_class"]) for c in layers["hidden1"]["clusters"]] == [(1.0, 1)]
    assert [(c["fraction"], c["dominant_class"]) for c in layers["hidden2"]["clusters"]] == [(1.0, 7)]
    assert layers["hidden1"]["lands_in_class"] == {"1": 1.0, "7": 0.0}
    assert layers["hidden1"]["distance_ratio"] > 5
    top = probe["top_paths"][0]
    assert top["fraction"] == 1.0 and top["seen_in_training"] is False
    assert top["dominant_class"] is None


def test_paths_table_and_coverage(metrics):
    paths = metrics["paths"]
    assert paths["layers"] == ["hidden1", "hidden2", "prediction"]
    assert paths["n_distinct_train"] == 2
    assert paths["n_specific"] == 2
    totals = [row["total"] for row in paths["table"]]
    assert totals == sorted(totals, reverse=True)
    assert sum(totals) == 2 * N["train"] + 2 * N["test"] + N["probe"]
    specific = [row for row in paths["table"] if row["specific"]]
    assert sorted(row["dominant_class"] for row in specific) == [1, 7]
    assert all(row["purity"] == 1.0 for row in specific)
    novel = [row for row in paths["table"] if row["probe_counts"]["3"] > 0]
    assert len(novel) == 1 and novel[0]["purity"] is None and novel[0]["support"] == 0
    assert paths["coverage"] == {"1": 1.0, "7": (N["test"] - PLANTED) / N["test"]}


def test_unseen_class_is_detected_from_signatures(metrics):
    for method, layer in (("knn", "all"), ("knn", "hidden1"), ("path_rarity", "all"),
                          ("mahalanobis", "all")):
        row = _ood_row(metrics, method, layer)
        assert row["auroc"] == 1.0, (method, layer)
        assert row["fpr95"] == 0.0, (method, layer)
    # the input is the same noise for every class: nothing to detect there
    assert 0.2 < _ood_row(metrics, "knn", "input")["auroc"] < 0.8
    assert _ood_row(metrics, "knn", "all", probe_class=3)["auroc"] == 1.0
    msp = _ood_row(metrics, "max_softmax", "probs")
    assert msp["n_known"] == 2 * N["test"] and msp["n_unknown"] == N["probe"]
    assert len(msp["roc"]["fpr"]) == len(msp["roc"]["tpr"]) == 101
    summary = metrics["answers"]["unseen_detection"]
    assert summary["primary"]["method"] == "knn" and summary["primary"]["layer"] == "all"
    assert summary["best_signature"]["auroc"] == 1.0


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
    assert metrics["model"]["test_accuracy"] == pytest.approx(
        float(np.mean(acts.test.predicted == acts.test.y)), abs=1e-6)
    assert metrics["model"]["history"]["epoch"] == [1, 2, 3]
    exp = metrics["experiment"]
    assert exp["classes"] == [1, 7] and exp["probe_classes"] == [3]
    assert exp["class_names"] == {"1": "1", "3": "3", "7": "7"}
    assert (exp["n_train"], exp["n_test"], exp["n_probe"]) == (120, 80, 40)
    assert metrics["stability"] is None and metrics["snapshots"] == []
    assert "linear_probe" in metrics["subsampling"]


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
    again = compute_metrics(CONFIG, DATASET, TRAIN, acts, fit_signatures(acts, CONFIG.signatures, 0))
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
        ctx = analysis._make_ctx(CONFIG, a, s, (3,), 0)
        scores[key] = {(m, layer): test for m, layer, test, _ in analysis._ood_scores(ctx)[0]}
    assert scores["a"].keys() == scores["b"].keys()
    for key in scores["a"]:
        np.testing.assert_array_equal(scores["a"][key], scores["b"][key], err_msg=str(key))
    ma = compute_metrics(CONFIG, DATASET, TRAIN, acts, sigs)
    mb = compute_metrics(CONFIG, DATASET, TRAIN, other, other_sigs)
    assert ma["cka"] == mb["cka"]
    assert ma["answers"]["separation"] == mb["answers"]["separation"]
    for la, lb in zip(ma["layers"], mb["layers"]):
        for field in ("linear_probe_accuracy", "cluster_class_nmi", "purity", "cluster_counts"):
            assert la[field] == lb[field], field


def test_linear_probe_is_fitted_on_training_rows_only(toy, monkeypatch):
    acts, sigs = toy
    fitted = []
    original = analysis.LogisticRegression.fit

    def fit(self, x, y, *args, **kwargs):
        fitted.append(np.asarray(y))
        return original(self, x, y, *args, **kwargs)

    monkeypatch.setattr(analysis.LogisticRegression, "fit", fit)
    compute_metrics(CONFIG, DATASET, TRAIN, acts, sigs)
    assert len(fitted) == 4                                   # one per clustered layer
    for y in fitted:
        assert len(y) == len(acts.train.y) and 3 not in set(y.tolist())


# --- stability and snapshots ---------------------------------------------------------


def _relabelled(sigs: Signatures, acts: Activations) -> Signatures:
    """The same clusterings with every cluster id permuted."""
    layers = []
    for sig in sigs.layers:
        perm = np.arange(sig.n_clusters)[::-1]
        layers.append(dataclasses.replace(
            sig, labels={s: perm[v] for s, v in sig.labels.items()},
            centroids=sig.centroids[np.argsort(perm)]))
    by_name = {s.layer: s for s in layers}
    paths = {s: np.stack([by_name[h].labels[s] for h in acts.hidden]
                         + [acts.split(s).predicted], axis=1) for s in ("train", "test", "probe")}
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


def test_snapshots_take_accuracy_from_history_when_it_has_the_epoch(toy):
    acts, sigs = toy
    untrained = make_acts(seed=3)
    flat = dict(untrained.test.__dict__)
    flat["predicted"] = np.full(len(untrained.test.y), 7, dtype=np.int64)
    untrained = dataclasses.replace(untrained, test=SplitActivations(**flat))
    snaps = {3: (acts, sigs), 0: (untrained, fit_signatures(untrained, CONFIG.signatures, 0))}
    m = compute_metrics(CONFIG, DATASET, TRAIN, acts, sigs, snapshots=snaps)
    assert [s["epoch"] for s in m["snapshots"]] == [0, 3]
    assert m["snapshots"][0]["test_accuracy"] == 0.5          # every test sample called a 7
    assert m["snapshots"][1]["test_accuracy"] == 0.85         # TRAIN.history at epoch 3
    last = m["snapshots"][1]
    assert [layer["name"] for layer in last["layers"]] == ["input", "hidden1", "hidden2", "logits"]
    assert last["n_distinct_paths"] == 2 and last["path_purity"] == 1.0
    assert last["layers"][1]["cluster_class_nmi"] == m["layers"][1]["cluster_class_nmi"]


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
        assert m["answers"]["separation_layer"] == "hidden1", method
        assert m["answers"]["unseen"][0]["novel_path_fraction"] == 1.0, method
