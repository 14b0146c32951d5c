"""Signatures: per-layer clusterings fitted on train only, applied to test and probe."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from sigreport import signatures
from sigreport.activations import Activations, LayerInfo, SplitActivations
from sigreport.config import SignaturesConfig
from sigreport.signatures import fit_signatures, nearest_centroid, path_ids

CLASSES = (1, 7)
SPLIT_SIZES = {"train": 40, "test": 20, "probe": 20}   # samples per blob
CENTRES = {  # three well-separated blobs per hidden layer; blob 2 belongs to class 7 too
    "hidden1": np.array([[6.0, 0, 0, 0], [0, 6.0, 0, 0], [0, 0, 6.0, 0]]),
    "hidden2": np.array([[0, 0, 5.0], [5.0, 0, 0], [0, 5.0, 0]]),
}


def _layers(widths: dict[str, int]) -> tuple[LayerInfo, ...]:
    infos = [LayerInfo("input", "input", 0, widths["input"])]
    for i, name in enumerate(("hidden1", "hidden2"), start=1):
        infos += [LayerInfo(f"{name}.pre", "pre", i, widths[name]),
                  LayerInfo(name, "post", i, widths[name])]
    infos += [LayerInfo("logits", "logits", 3, 2), LayerInfo("probs", "probs", 3, 2)]
    return tuple(infos)


def _split(rng: np.random.Generator, n: int, offset: int, probe: bool = False,
           spread: float = 0.2) -> tuple[SplitActivations, np.ndarray]:
    """Samples of blobs 0, 1, 2 (class 1, 7, 7) or, for the probe split, class 3."""
    blob = np.repeat(np.arange(3), n)
    y = np.where(blob == 0, 1, 7) if not probe else np.full(3 * n, 3)
    layers: dict[str, np.ndarray] = {}
    layers["input"] = rng.normal(size=(3 * n, 5)).astype(np.float32)
    for name, centres in CENTRES.items():
        # pre-activations: the blob's centre plus noise; inactive units well below 0
        pre = np.where(centres[blob] > 0, centres[blob], -2.0)
        pre = pre + rng.normal(scale=spread, size=pre.shape)
        if probe:
            pre = pre + 40.0      # far from everything the training split shows
        layers[f"{name}.pre"] = pre.astype(np.float32)
        layers[name] = np.maximum(pre, 0).astype(np.float32)
    logits = np.where((y == 1)[:, None], [3.0, -3.0], [-3.0, 3.0]) + rng.normal(
        scale=0.1, size=(3 * n, 2))
    layers["logits"] = logits.astype(np.float32)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    layers["probs"] = (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
    predicted = np.asarray(CLASSES)[np.argmax(logits, axis=1)]
    split = SplitActivations(layers=layers, y=y.astype(np.int64),
                             index=np.arange(offset, offset + 3 * n, dtype=np.int64),
                             predicted=predicted.astype(np.int64))
    return split, blob


def make_blobs(seed: int = 0, probe: bool = True) -> tuple[Activations, dict[str, np.ndarray]]:
    """Activations with three known blobs per hidden layer, and the blob of every sample."""
    rng = np.random.default_rng(seed)
    splits, blobs = {}, {}
    for offset, name in enumerate(("train", "test", "probe")):
        splits[name], blobs[name] = _split(rng, SPLIT_SIZES[name], 1000 * offset,
                                           probe=probe and name == "probe")
    acts = Activations(layers=_layers({"input": 5, "hidden1": 4, "hidden2": 3}), classes=CLASSES,
                       **splits)
    return acts, blobs


@pytest.fixture(scope="module")
def blobs() -> tuple[Activations, dict[str, np.ndarray]]:
    return make_blobs()


@pytest.fixture(scope="module")
def kmeans_sigs(blobs):
    return fit_signatures(blobs[0], SignaturesConfig(), seed=0)


def test_layers_clustered_are_input_hidden_and_logits(kmeans_sigs):
    assert kmeans_sigs.layer_names == ("input", "hidden1", "hidden2", "logits")
    assert kmeans_sigs.path_layers == ("hidden1", "hidden2", "prediction")
    with pytest.raises(KeyError):
        kmeans_sigs.layer("hidden1.pre")


@pytest.mark.parametrize("layer", ["hidden1", "hidden2"])
def test_silhouette_finds_the_three_blobs(blobs, kmeans_sigs, layer):
    _, blob = blobs
    sig = kmeans_sigs.layer(layer)
    assert sig.n_clusters == 3
    assert sig.k_candidates == tuple(range(2, 13))
    assert len(sig.k_scores) == len(sig.k_candidates)
    assert sig.k_candidates[int(np.argmax(sig.k_scores))] == 3
    for split in ("train", "test"):
        assert adjusted_rand_score(blob[split], sig.labels[split]) == 1.0
    assert sig.centroids.shape == (3, sig.centroids.shape[1])


@pytest.mark.parametrize("method", ["kmeans", "gmm", "agglomerative", "hdbscan"])
def test_every_method_recovers_the_blobs_up_to_relabelling(blobs, method):
    acts, blob = blobs
    sigs = fit_signatures(acts, SignaturesConfig(method=method), seed=0)
    for layer in ("hidden1", "hidden2"):
        sig = sigs.layer(layer)
        assert sig.n_clusters == 3, (method, layer)
        for split in ("train", "test"):
            labels = sig.labels[split]
            assert labels.dtype == np.int64
            assert adjusted_rand_score(blob[split], labels) == 1.0, (method, layer, split)
        assert sig.rule == ("hdbscan" if method == "hdbscan" else "silhouette")


def test_hdbscan_calls_far_away_samples_noise(blobs):
    acts, _ = blobs
    sig = fit_signatures(acts, SignaturesConfig(method="hdbscan"), seed=0).layer("hidden1")
    assert np.all(sig.labels["probe"] == -1)       # 40 units away from every training blob
    assert np.all(sig.labels["train"] >= 0)


def test_fixed_k_is_used_as_given(blobs):
    sigs = fit_signatures(blobs[0], SignaturesConfig(k=5), seed=0)
    for sig in sigs.layers:
        assert sig.n_clusters == 5
        assert sig.k_candidates == () and sig.k_scores == ()
        assert sig.rule == "fixed"


def test_original_rule_caps_k_at_the_number_of_classes(blobs):
    acts, blob = blobs
    sigs = fit_signatures(acts, SignaturesConfig(k_rule="silhouette-max-classes"), seed=0)
    sig = sigs.layer("hidden1")
    assert sig.n_clusters == 2       # the third blob is merged: what that rule hides
    assert adjusted_rand_score(blob["train"], sig.labels["train"]) < 1.0
    # The whole range is still scored, so the report can show the k the rule passed over.
    assert sig.k_candidates[0] == 2 and len(sig.k_candidates) > 2
    assert sig.k_candidates[int(np.argmax(sig.k_scores))] == 3


def test_labels_and_distances_are_the_nearest_training_centroid(blobs, kmeans_sigs):
    acts, _ = blobs
    for sig in kmeans_sigs.layers:
        for split in ("train", "test", "probe"):
            x = acts.split(split).layers[sig.layer].astype(np.float64)
            d = np.linalg.norm(x[:, None, :] - sig.centroids[None].astype(np.float64), axis=2)
            np.testing.assert_array_equal(sig.labels[split], d.argmin(axis=1))
            np.testing.assert_allclose(sig.distance[split], d.min(axis=1), rtol=1e-4, atol=1e-4)
            assert sig.distance[split].dtype == np.float32


def test_probe_samples_are_described_in_training_terms(blobs, kmeans_sigs):
    """The probe split is assigned to the training clusters, far from their centroids."""
    sig = kmeans_sigs.layer("hidden1")
    assert set(np.unique(sig.labels["probe"])) <= set(range(sig.n_clusters))
    assert sig.distance["probe"].min() > 10 * sig.distance["test"].max()


def test_paths_are_hidden_clusters_then_prediction(blobs, kmeans_sigs):
    acts, _ = blobs
    for split in ("train", "test", "probe"):
        paths = kmeans_sigs.paths[split]
        assert paths.dtype == np.int64
        assert paths.shape == (len(acts.split(split).y), 3)
        np.testing.assert_array_equal(paths[:, 0], kmeans_sigs.layer("hidden1").labels[split])
        np.testing.assert_array_equal(paths[:, 1], kmeans_sigs.layer("hidden2").labels[split])
        np.testing.assert_array_equal(paths[:, 2], acts.split(split).predicted)


def test_binary_signature_is_the_sign_of_the_pre_activation(blobs, kmeans_sigs):
    acts, _ = blobs
    for name in ("hidden1", "hidden2"):
        active = kmeans_sigs.layer(name).active
        for split in ("train", "test", "probe"):
            assert active[split].dtype == np.bool_
            np.testing.assert_array_equal(active[split], acts.split(split).layers[f"{name}.pre"] > 0)
    assert kmeans_sigs.layer("input").active is None
    assert kmeans_sigs.layer("logits").active is None


def test_standardisation_undoes_a_unit_on_a_huge_scale():
    """One noise unit scaled by 1000 hides the blobs unless each unit is standardised."""
    acts, blob = make_blobs(seed=1)
    big = {}
    for name in ("train", "test", "probe"):
        split = acts.split(name)
        layers = dict(split.layers)
        rng = np.random.default_rng(7)
        noise = rng.normal(scale=1000.0, size=(len(split.y), 1)).astype(np.float32)
        layers["hidden1"] = np.hstack([split.layers["hidden1"], noise])
        layers["hidden1.pre"] = np.hstack([split.layers["hidden1.pre"], noise])
        big[name] = SplitActivations(layers, split.y, split.index, split.predicted)
    infos = _layers({"input": 5, "hidden1": 5, "hidden2": 3})
    wide = Activations(layers=infos, classes=CLASSES, **big)
    raw = fit_signatures(wide, SignaturesConfig(k=3), seed=0).layer("hidden1")
    std = fit_signatures(wide, SignaturesConfig(k=3, standardize=True), seed=0).layer("hidden1")
    assert adjusted_rand_score(blob["train"], raw.labels["train"]) < 0.5
    assert adjusted_rand_score(blob["train"], std.labels["train"]) == 1.0
    x = wide.train.layers["hidden1"]
    np.testing.assert_allclose(std.offset, x.mean(axis=0), rtol=1e-5, atol=1e-4)
    expected = x.std(axis=0)
    expected[expected < 1e-8] = 1.0       # a dead unit stays as it is
    assert expected[3] == 1.0
    np.testing.assert_allclose(std.scale, expected, rtol=1e-4)
    np.testing.assert_allclose(std.transform(x).mean(axis=0), 0.0, atol=1e-4)


@pytest.mark.parametrize("method", ["kmeans", "gmm", "agglomerative", "hdbscan"])
def test_fit_sees_only_training_rows(blobs, monkeypatch, method):
    """Every array a clustering algorithm is fitted on consists of training rows."""
    acts, _ = blobs
    seen: list[np.ndarray] = []

    def recorder(cls):
        original = cls.fit

        def fit(self, x, *args, **kwargs):
            seen.append(np.asarray(x, dtype=np.float64))
            return original(self, x, *args, **kwargs)
        monkeypatch.setattr(cls, "fit", fit)

    for cls in (signatures.KMeans, signatures.GaussianMixture, signatures.HDBSCAN):
        recorder(cls)
    original_linkage = signatures.linkage

    def linkage(x, *args, **kwargs):
        seen.append(np.asarray(x, dtype=np.float64))
        return original_linkage(x, *args, **kwargs)
    monkeypatch.setattr(signatures, "linkage", linkage)

    fit_signatures(acts, SignaturesConfig(method=method), seed=0)
    assert seen
    train_rows = {
        x.shape[1]: {tuple(np.round(r, 4)) for r in x.astype(np.float64)}
        for x in (acts.train.layers[n] for n in ("input", "hidden1", "hidden2", "logits"))
    }
    for x in seen:
        rows = train_rows[x.shape[1]]
        assert all(tuple(np.round(r, 4)) in rows for r in x), method


def test_probe_data_do_not_change_the_fit(blobs):
    """Replacing the probe split leaves every training cluster and train/test label as it was."""
    acts, _ = blobs
    other, _ = make_blobs(seed=0, probe=False)   # same train and test, different probe split
    np.testing.assert_array_equal(other.train.layers["hidden1"], acts.train.layers["hidden1"])
    a = fit_signatures(acts, SignaturesConfig(), seed=3)
    b = fit_signatures(other, SignaturesConfig(), seed=3)
    for sa, sb in zip(a.layers, b.layers):
        np.testing.assert_array_equal(sa.centroids, sb.centroids)
        for split in ("train", "test"):
            np.testing.assert_array_equal(sa.labels[split], sb.labels[split])


def test_same_seed_same_signatures(blobs):
    a = fit_signatures(blobs[0], SignaturesConfig(), seed=5)
    b = fit_signatures(blobs[0], SignaturesConfig(), seed=5)
    for sa, sb in zip(a.layers, b.layers):
        assert sa.n_clusters == sb.n_clusters and sa.k_scores == sb.k_scores
        np.testing.assert_array_equal(sa.centroids, sb.centroids)
        for split in ("train", "test", "probe"):
            np.testing.assert_array_equal(sa.labels[split], sb.labels[split])
            np.testing.assert_array_equal(sa.distance[split], sb.distance[split])
    for split in ("train", "test", "probe"):
        np.testing.assert_array_equal(a.paths[split], b.paths[split])


def test_subsampling_is_reported(blobs):
    sigs = fit_signatures(blobs[0], SignaturesConfig(subsample=100), seed=0)
    assert "100 of 120 training samples" in sigs.subsampling["k_selection"]
    assert all(sig.subsample == 100 for sig in sigs.layers)
    assert "clustering" not in sigs.subsampling        # k-means itself sees every training row
    agg = fit_signatures(blobs[0], SignaturesConfig(method="agglomerative", subsample=100), seed=0)
    assert "agglomerative fitted on 100 of 120" in agg.subsampling["clustering"]


def test_nearest_centroid_matches_brute_force():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 7)).astype(np.float32)
    c = rng.normal(size=(9, 7))
    labels, dist = nearest_centroid(x, c)
    d = np.linalg.norm(x[:, None, :].astype(np.float64) - c[None], axis=2)
    np.testing.assert_array_equal(labels, d.argmin(axis=1))
    np.testing.assert_allclose(dist, d.min(axis=1), rtol=1e-5)


def test_path_ids_number_paths_consistently_across_splits():
    paths = {"a": np.array([[0, 1, 7], [1, 1, 1], [0, 1, 7]]), "b": np.array([[1, 1, 1], [2, 0, 7]])}
    unique, ids = path_ids(paths)
    assert unique.tolist() == [[0, 1, 7], [1, 1, 1], [2, 0, 7]]
    assert ids["a"].tolist() == [0, 1, 0]
    assert ids["b"].tolist() == [1, 2]
    for split, rows in paths.items():
        np.testing.assert_array_equal(unique[ids[split]], rows)
