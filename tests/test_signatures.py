"""Signatures: per-layer clusterings fitted on train only, applied to test and probe."""

from __future__ import annotations

import dataclasses

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
    assert kmeans_sigs.path_layers == ("hidden1", "hidden2")
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
        kept = sig.labels[split] >= 0          # the few outside every region aside
        assert kept.mean() >= 0.95
        assert adjusted_rand_score(blob[split][kept], sig.labels[split][kept]) == 1.0
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
            kept = labels >= 0
            assert kept.mean() >= 0.95, (method, layer, split)
            assert adjusted_rand_score(blob[split][kept], labels[kept]) == 1.0, (method, layer)
        assert sig.rule == ("hdbscan" if method == "hdbscan" else "silhouette")


def test_hdbscan_calls_far_away_samples_noise(blobs):
    acts, _ = blobs
    sig = fit_signatures(acts, SignaturesConfig(method="hdbscan"), seed=0).layer("hidden1")
    assert np.all(sig.labels["probe"] == -1)       # 40 units away from every training blob
    assert np.mean(sig.labels["train"] >= 0) >= 0.95


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


def _oracle_assignment(sig, x):
    """Labels and distances by the definition, one sample at a time."""
    z = sig.transform(x).astype(np.float64)
    centroids = sig.centroids.astype(np.float64)
    b = sig.boundary
    labels, dist = [], []
    for row in z:
        v = row - b.offset
        v = v if b.basis is None else v @ b.basis
        ratio = np.array([np.sum(((v - b.means[c]) @ b.whiten[c]) ** 2) / b.threshold[c]
                          for c in range(sig.n_clusters)])
        d = np.linalg.norm(row[None, :] - centroids, axis=1)
        own = int(sig.base_assign(row[None, :].astype(np.float32))[0])
        if own >= 0 and ratio[own] <= 1:
            lab = own
        elif ratio.min() <= 1:
            lab = int(ratio.argmin())
        else:
            lab = -1
        labels.append(lab)
        dist.append(d[lab] if lab >= 0 else d.min())
    return np.array(labels), np.array(dist)


@pytest.mark.parametrize("method", ["kmeans", "gmm", "hdbscan"])
def test_labels_and_distances_follow_the_regions(blobs, method):
    """A sample keeps its cluster inside that cluster's region, else the region it is inside,
    else it is unassigned; its distance is to the centre of the cluster it was given."""
    acts, _ = blobs
    sigs = fit_signatures(acts, SignaturesConfig(method=method), seed=0)
    for sig in sigs.layers:
        for split in ("train", "test", "probe"):
            labels, dist = _oracle_assignment(sig, acts.split(split).layers[sig.layer])
            np.testing.assert_array_equal(sig.labels[split], labels)
            np.testing.assert_allclose(sig.distance[split], dist, rtol=1e-4, atol=1e-4)
            assert sig.distance[split].dtype == np.float32


def test_gmm_distance_is_to_the_assigned_component_regression():
    """Regression: the GMM label came from predict() but the distance from the nearest mean."""
    rng = np.random.default_rng(3)
    # two overlapping components of very different spread: predict() and the nearest
    # mean disagree for many samples of the wide one
    x = np.concatenate([rng.normal(0, 0.3, (200, 2)), rng.normal([1.5, 0], 3.0, (200, 2))])
    sig_cfg = SignaturesConfig(method="gmm", k=2)
    split = SplitActivations(
        layers={"input": x.astype(np.float32), "hidden1.pre": x.astype(np.float32),
                "hidden1": x.astype(np.float32), "logits": x.astype(np.float32)},
        y=np.repeat([1, 7], 200), index=np.arange(400), predicted=np.repeat([1, 7], 200))
    infos = (LayerInfo("input", "input", 0, 2), LayerInfo("hidden1.pre", "pre", 1, 2),
             LayerInfo("hidden1", "post", 1, 2), LayerInfo("logits", "logits", 2, 2))
    toy = Activations(layers=infos, classes=CLASSES, train=split, test=split, probe=split)
    sig = fit_signatures(toy, sig_cfg, seed=0).layer("hidden1")
    lab = sig.labels["train"]
    assigned = lab >= 0
    centre = sig.centroids.astype(np.float64)[lab[assigned]]
    np.testing.assert_allclose(sig.distance["train"][assigned],
                               np.linalg.norm(x[assigned] - centre, axis=1), rtol=1e-4, atol=1e-4)
    nearest = np.linalg.norm(x[:, None] - sig.centroids[None].astype(np.float64), axis=2).argmin(1)
    assert np.any(nearest[assigned] != lab[assigned])   # the case the old code got wrong


def test_a_probe_outside_every_cluster_is_unassigned_everywhere(blobs, kmeans_sigs):
    """Planted answer: probe samples 40 units from every training blob are 100% unassigned;
    test samples drawn like the training ones almost never are."""
    for name in ("hidden1", "hidden2"):
        sig = kmeans_sigs.layer(name)
        assert sig.unassigned_rate("probe") == 1.0
        assert sig.unassigned_rate("test") <= 0.1
        assert sig.unassigned_rate("train") <= 1 - sig.boundary.quantile + 0.03
    assert np.all(kmeans_sigs.paths["probe"] == signatures.UNASSIGNED)


def test_a_probe_inside_the_clusters_is_assigned():
    acts, blob = make_blobs(probe=False)
    sigs = fit_signatures(acts, SignaturesConfig(), seed=0)
    for name in ("hidden1", "hidden2"):
        sig = sigs.layer(name)
        # 40 members per region: a noisy 99th percentile
        assert sig.unassigned_rate("probe") <= 0.1
        kept = sig.labels["probe"] >= 0
        assert adjusted_rand_score(blob["probe"][kept], sig.labels["probe"][kept]) == 1.0


def test_boundary_quantile_sets_the_share_of_training_members_inside():
    acts, _ = make_blobs()
    for q in (0.6, 0.9):
        sig = fit_signatures(acts, SignaturesConfig(k=3, boundary_quantile=q), 0).layer("hidden1")
        z = acts.train.layers["hidden1"]
        own = sig.base_assign(sig.transform(z))
        inside_own = sig.boundary.ratios(sig.transform(z))[np.arange(len(z)), own] <= 1
        assert abs(inside_own.mean() - q) <= 0.05


def test_new_samples_are_assigned_like_the_splits(blobs, kmeans_sigs):
    acts, _ = blobs
    again = kmeans_sigs.paths_of(acts.test.layers)
    np.testing.assert_array_equal(again, kmeans_sigs.paths["test"])


def test_paths_are_the_hidden_clusters_without_the_prediction(blobs, kmeans_sigs):
    acts, _ = blobs
    for split in ("train", "test", "probe"):
        paths = kmeans_sigs.paths[split]
        assert paths.dtype == np.int64
        assert paths.shape == (len(acts.split(split).y), 2)
        np.testing.assert_array_equal(paths[:, 0], kmeans_sigs.layer("hidden1").labels[split])
        np.testing.assert_array_equal(paths[:, 1], kmeans_sigs.layer("hidden2").labels[split])


def test_binary_signature_is_the_sign_of_the_pre_activation(blobs, kmeans_sigs):
    acts, _ = blobs
    for name in ("hidden1", "hidden2"):
        active = kmeans_sigs.layer(name).active
        for split in ("train", "test", "probe"):
            assert active[split].dtype == np.bool_
            pre = acts.split(split).layers[f"{name}.pre"]
            np.testing.assert_array_equal(active[split], pre > 0)
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
    kept = std.labels["train"] >= 0
    assert kept.mean() >= 0.95
    assert adjusted_rand_score(blob["train"][kept], std.labels["train"][kept]) == 1.0
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
    # k-means's k choice leaves out units constant over the training rows (a dead unit)
    train_rows: dict[int, set] = {}
    for name in ("input", "hidden1", "hidden2", "logits"):
        x = acts.train.layers[name].astype(np.float64)
        for cols in (x, x[:, np.ptp(x, axis=0) > 0]):
            train_rows.setdefault(cols.shape[1], set()).update(
                tuple(np.round(r, 4)) for r in cols)
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
    paths = {"a": np.array([[0, 1, 7], [1, 1, 1], [0, 1, 7]]),
             "b": np.array([[1, 1, 1], [2, 0, 7]])}
    unique, ids = path_ids(paths)
    assert unique.tolist() == [[0, 1, 7], [1, 1, 1], [2, 0, 7]]
    assert ids["a"].tolist() == [0, 1, 0]
    assert ids["b"].tolist() == [1, 2]
    for split, rows in paths.items():
        np.testing.assert_array_equal(unique[ids[split]], rows)


def test_a_cluster_without_training_members_has_no_region():
    """Regression: an empty cluster's infinite threshold made every sample 'inside' it."""
    rng = np.random.default_rng(0)
    z = rng.normal(size=(50, 2))
    labels = np.zeros(50, dtype=np.int64)             # cluster 1 has no member
    b = signatures.fit_boundary(z, labels, 2, 0.9, seed=0)
    far = np.array([[40.0, 40.0]])
    ratios = b.ratios(far)
    assert ratios[0, 0] > 1 and ratios[0, 1] == np.inf


def test_clusters_are_numbered_by_majority_class_then_size(blobs, kmeans_sigs):
    """Blob 0 is all 1s, blobs 1 and 2 are 7s: cluster 0 is the 1s' in every hidden layer."""
    acts, blob = blobs
    for name in ("hidden1", "hidden2"):
        lab = kmeans_sigs.layer(name).labels["train"]
        kept = lab >= 0
        assert np.all(lab[kept][acts.train.y[kept] == 1] == 0), name
        assert set(lab[kept][acts.train.y[kept] == 7]) == {1, 2}, name


def _record_kmeans(monkeypatch) -> list[tuple[int, str, np.ndarray]]:
    """(n_init, "k-means++" or "given", rows) of every k-means fit from now on."""
    seen: list[tuple[int, str, np.ndarray]] = []
    original = signatures.KMeans.fit

    def fit(self, x, *args, **kwargs):
        init = self.init if isinstance(self.init, str) else "given"
        seen.append((self.n_init, init, np.asarray(x, dtype=np.float64)))
        return original(self, x, *args, **kwargs)
    monkeypatch.setattr(signatures.KMeans, "fit", fit)
    return seen


def _row_set(x: np.ndarray) -> set[tuple[float, ...]]:
    return {tuple(np.round(r, 4)) for r in np.asarray(x, dtype=np.float64)}


@pytest.mark.parametrize("fit_on", ["train", "train+probe"])
def test_fit_on_train_and_probe_clusters_the_probe_rows_and_train_never_does(
        blobs, monkeypatch, fit_on):
    acts, _ = blobs
    seen = _record_kmeans(monkeypatch)
    sigs = fit_signatures(acts, SignaturesConfig(fit_on=fit_on, standardize=True), seed=0)
    n_train, n_probe = len(acts.train.y), len(acts.probe.y)
    fitted = [x for _, _, x in seen if x.shape[1] == 4]          # hidden1's fits
    assert fitted
    sig = sigs.layer("hidden1")
    # compared in the clustering space (standardised on the fitted rows)
    probe_rows, train_rows = _row_set(sig.transform(acts.probe.layers["hidden1"])), \
        _row_set(sig.transform(acts.train.layers["hidden1"]))
    for x in fitted:
        rows = _row_set(x)
        if fit_on == "train+probe":
            assert len(x) == n_train + n_probe and probe_rows | train_rows == rows
        else:
            assert len(x) == n_train and not rows & probe_rows
    fit_rows = np.concatenate([acts.train.layers["hidden1"], acts.probe.layers["hidden1"]]) \
        if fit_on == "train+probe" else acts.train.layers["hidden1"]
    np.testing.assert_allclose(sig.offset, fit_rows.mean(axis=0), rtol=1e-5, atol=1e-5)
    if fit_on == "train+probe":
        # The far-away probe blob gets clusters and regions of its own: nothing is unseen.
        assert sig.unassigned_rate("probe") <= 0.05
        assert f"of {n_train + n_probe} training and probe samples" in \
            sigs.subsampling["k_selection"]
    else:
        assert sig.unassigned_rate("probe") == 1.0


def test_restarts_of_the_k_choice_and_of_the_final_fit(blobs, monkeypatch):
    acts, _ = blobs
    n_train = len(acts.train.y)
    seen = _record_kmeans(monkeypatch)
    fit_signatures(acts, SignaturesConfig(subsample=100), seed=0)
    # default: 2 restarts per candidate on the subsample, then one run from its solution
    assert {(n, init, len(x)) for n, init, x in seen} == {(2, "k-means++", 100),
                                                          (1, "given", n_train)}
    seen.clear()
    fit_signatures(acts, SignaturesConfig(subsample=100, k_n_init=3, n_init=7), seed=0)
    assert {(n, init, len(x)) for n, init, x in seen} == {(3, "k-means++", 100),
                                                          (7, "k-means++", n_train)}


@pytest.mark.filterwarnings("ignore:Number of distinct clusters")  # the flat layer, on purpose
def test_k_min_one_scores_a_single_cluster_zero(blobs):
    acts, _ = blobs
    sig = fit_signatures(acts, SignaturesConfig(k_min=1, k_max=4), seed=0).layer("hidden1")
    assert sig.k_candidates == (1, 2, 3, 4) and sig.k_scores[0] == 0.0
    assert sig.n_clusters == 3        # the three blobs still win
    # A layer where every image looks the same: no split beats a single cluster.
    flat = {s: dataclasses.replace(
        getattr(acts, s), layers={**getattr(acts, s).layers,
                                  "hidden2": np.ones_like(getattr(acts, s).layers["hidden2"])})
        for s in ("train", "test", "probe")}
    one = fit_signatures(dataclasses.replace(acts, **flat),
                         SignaturesConfig(k_min=1, k_max=3), seed=0).layer("hidden2")
    assert one.n_clusters == 1 and np.all(one.labels["train"] == 0)


def test_silhouettes_of_many_clusterings_match_scikit_learn_one_by_one():
    from sklearn.metrics import pairwise_distances, silhouette_score

    rng = np.random.default_rng(3)
    x = rng.normal(size=(60, 4))
    dist = pairwise_distances(x)
    singleton = rng.integers(0, 3, 60)
    singleton[7] = 9                       # a cluster of one sample scores 0 for it
    labelings = [rng.integers(0, k, 60) for k in (2, 5, 11)] + [singleton, np.zeros(60, int),
                                                                 np.arange(60)]
    got = signatures.silhouettes(dist, labelings)
    want = [silhouette_score(dist, lab, metric="precomputed") for lab in labelings[:4]]
    np.testing.assert_allclose(got[:4], want, rtol=0, atol=1e-12)
    assert got[4:] == [-1.0, -1.0]         # one cluster, or as many as samples: undefined


def test_a_reused_input_signature_is_the_one_fitted_with_the_network(blobs, kmeans_sigs):
    from sigreport.activations import keep_layers

    acts = blobs[0]
    inputs = keep_layers(acts, ("input",))
    alone = fit_signatures(inputs, SignaturesConfig(), seed=0).layer("input")
    reused = fit_signatures(acts, SignaturesConfig(), seed=0, reuse={"input": alone},
                            reuse_of=inputs).layer("input")
    full = kmeans_sigs.layer("input")
    assert reused.k_scores == full.k_scores
    for split in ("train", "test", "probe"):
        assert reused.labels[split] is alone.labels[split]     # the same arrays: kept as they are
        np.testing.assert_array_equal(reused.labels[split], full.labels[split])
        np.testing.assert_array_equal(reused.ratio[split], full.ratio[split])
    # another array of the same layer is assigned afresh
    moved = dataclasses.replace(acts, test=dataclasses.replace(
        acts.test, layers={**acts.test.layers, "input": acts.test.layers["input"] + 100.0}))
    far = fit_signatures(moved, SignaturesConfig(), seed=0, reuse={"input": alone},
                         reuse_of=inputs).layer("input")
    assert (far.labels["test"] == -1).all()
    np.testing.assert_array_equal(far.labels["train"], full.labels["train"])


def test_a_network_and_its_earlier_epochs_are_fitted_as_each_alone(blobs):
    trained, earlier = blobs[0], [make_blobs(seed=1)[0], make_blobs(seed=2)[0]]
    got, got_earlier = signatures.fit_signatures_with_epochs(trained, earlier,
                                                             SignaturesConfig(), seed=4)
    want = fit_signatures(trained, SignaturesConfig(), seed=4)
    k = {s.layer: s.n_clusters for s in want.layers}
    wants = [fit_signatures(a, SignaturesConfig(), seed=4, k=k,
                            reuse={"input": want.layer("input")}, reuse_of=trained)
             for a in earlier]
    for g, w in zip([got, *got_earlier], [want, *wants]):
        assert g.subsampling == w.subsampling
        for a, b in zip(g.layers, w.layers):
            assert (a.layer, a.n_clusters, a.k_scores) == (b.layer, b.n_clusters, b.k_scores)
            np.testing.assert_array_equal(a.centroids, b.centroids)
        for split in ("train", "test", "probe"):
            np.testing.assert_array_equal(g.paths[split], w.paths[split])
    assert all(s.layer("hidden1").n_clusters == k["hidden1"] for s in got_earlier)


def test_the_k_choice_leaves_out_constant_units_and_finds_what_every_unit_gives(blobs):
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    x = blobs[0].train.layers["hidden1"]
    # units that never vary (a dead ReLU, a border pixel) around the real ones
    z = np.hstack([np.zeros((len(x), 1), np.float32), x, np.full((len(x), 1), 0.5, np.float32)])
    assert (np.ptp(z, axis=0) == 0).sum() >= 2
    sub = np.arange(0, len(z), 2)
    fit = signatures._fit_kmeans(z, sub, SignaturesConfig(), 2, rs=11, k=None)
    every_unit = [KMeans(n_clusters=c, n_init=2, random_state=11).fit(z[sub])
                  for c in fit.k_candidates]
    want = [silhouette_score(z[sub], m.labels_) for m in every_unit]
    np.testing.assert_allclose(fit.k_scores, want, rtol=1e-6)
    chosen = every_unit[fit.k_candidates.index(fit.n_clusters)]
    final = KMeans(n_clusters=fit.n_clusters, init=chosen.cluster_centers_, n_init=1,
                   random_state=11).fit(z)
    np.testing.assert_allclose(fit.centroids, final.cluster_centers_, rtol=1e-5, atol=1e-6)


def test_thresholds_come_from_the_arithmetic_that_assigns():
    """A member exactly on its region's quantile is inside it: its distance is computed the
    same way when the threshold is set and when it is assigned."""
    acts, _ = make_blobs()
    sig = fit_signatures(acts, SignaturesConfig(k=3, boundary_quantile=0.9), 0).layer("hidden1")
    z = sig.transform(acts.train.layers["hidden1"])
    own = sig.base_assign(z)
    sq = sig.boundary.sq_distances(z)
    for c in range(sig.n_clusters):
        assert sig.boundary.threshold[c] == np.quantile(sq[own == c, c], 0.9)
    np.testing.assert_array_equal(sig.ratio["train"],
                                  sig.boundary.ratios(z).min(axis=1).astype(np.float32))
