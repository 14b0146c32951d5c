"""Preparation: balanced seeded selection, scaling, one-hot over sorted classes, probes."""

from __future__ import annotations

import numpy as np
import pytest

from sigreport.config import DataConfig, load_config
from sigreport.data.prepare import Dataset, check_data, prepare_dataset
from sigreport.data.sources import RawData, label_counts, load_raw
from sigreport.errors import ConfigError

N_TRAIN_PER_CLASS = 30
N_TEST_PER_CLASS = 12


@pytest.fixture(scope="module")
def raw() -> RawData:
    """A hand-made raw data set: 30 train and 12 test images of each class 0..9.

    Labels are shuffled so that rows of one class are not contiguous, and the
    pixels are random, so an image identifies its row.
    """
    rng = np.random.default_rng(42)
    train_labels = rng.permutation(np.repeat(np.arange(10), N_TRAIN_PER_CLASS)).astype(np.uint8)
    test_labels = rng.permutation(np.repeat(np.arange(10), N_TEST_PER_CLASS)).astype(np.uint8)
    return RawData(
        name="mnist",
        location="<memory>",
        class_names=tuple(str(d) for d in range(10)),
        licence="test data",
        train_images=rng.integers(0, 256, size=(len(train_labels), 28, 28), dtype=np.uint8),
        train_labels=train_labels,
        test_images=rng.integers(0, 256, size=(len(test_labels), 28, 28), dtype=np.uint8),
        test_labels=test_labels,
        sha256="f" * 64,
    )


def _prepare(raw: RawData, seed: int = 0, **kwargs) -> Dataset:
    cfg = DataConfig(**{"classes": (1, 7), "probe_classes": (3,), "n_per_class": 10, **kwargs})
    return prepare_dataset(raw, cfg, seed)


def test_counts_per_class_are_balanced(raw):
    ds = _prepare(raw, classes=(1, 5, 7), probe_classes=(3, 8), n_per_class=10)
    assert np.bincount(ds.train.y, minlength=10).tolist() == [0, 10, 0, 0, 0, 10, 0, 10, 0, 0]
    # n_test_per_class unset: every test image of the trained and probe classes.
    assert np.bincount(ds.test.y, minlength=10)[[1, 5, 7]].tolist() == [N_TEST_PER_CLASS] * 3
    assert np.bincount(ds.probe.y, minlength=10)[[3, 8]].tolist() == [N_TEST_PER_CLASS] * 2
    assert ds.train.n_samples == 30 and ds.test.n_samples == 36 and ds.probe.n_samples == 24


def test_n_test_per_class(raw):
    ds = _prepare(raw, n_test_per_class=5)
    assert np.bincount(ds.test.y, minlength=10)[[1, 7]].tolist() == [5, 5]
    assert ds.probe.n_samples == 5


def test_same_seed_same_rows_different_seed_different_rows(raw):
    a, b, c = _prepare(raw, seed=0), _prepare(raw, seed=0), _prepare(raw, seed=1)
    for split in ("train", "test", "probe"):
        np.testing.assert_array_equal(getattr(a, split).index, getattr(b, split).index)
        np.testing.assert_array_equal(getattr(a, split).x, getattr(b, split).x)
    assert not np.array_equal(a.train.index, c.train.index)
    d = _prepare(raw, seed=0, n_test_per_class=5)
    e = _prepare(raw, seed=1, n_test_per_class=5)
    assert not np.array_equal(d.test.index, e.test.index)


def test_arrays_dtypes_shapes_and_range(raw):
    ds = _prepare(raw)
    for split in (ds.train, ds.test, ds.probe):
        n = split.n_samples
        assert split.x.dtype == np.float32 and split.x.shape == (n, 784)
        assert split.y.dtype == np.int64 and split.y.shape == (n,)
        assert split.onehot.dtype == np.float32 and split.onehot.shape == (n, 2)
        assert split.index.dtype == np.int64 and split.index.shape == (n,)
        assert split.x.min() >= 0.0 and split.x.max() <= 1.0
        assert len(np.unique(split.index)) == n  # no image twice
    # The random pixels reach both ends of the range: it is [0, 1], not [0, 255] or [0, 1).
    assert ds.train.x.max() == 1.0 and ds.train.x.min() == 0.0


def test_onehot_over_sorted_classes(raw):
    ds = _prepare(raw, classes=(7, 3, 1), probe_classes=(0,))
    assert ds.classes == (1, 3, 7)
    assert ds.class_map == {1: 0, 3: 1, 7: 2}
    assert ds.n_classes == 3
    expected = {1: [1, 0, 0], 3: [0, 1, 0], 7: [0, 0, 1]}
    for split in (ds.train, ds.test):
        for row, label in zip(split.onehot, split.y):
            assert row.tolist() == expected[int(label)]
    assert not ds.probe.onehot.any()
    assert ds.probe.onehot.shape == (ds.probe.n_samples, 3)


def test_probe_classes_held_out(raw):
    ds = _prepare(raw, classes=(0, 1, 2), probe_classes=(9, 4))
    assert ds.probe_classes == (4, 9)
    assert set(ds.train.y.tolist()) == {0, 1, 2}
    assert set(ds.test.y.tolist()) == {0, 1, 2}
    assert set(ds.probe.y.tolist()) == {4, 9}
    # Probe samples are drawn from the test split, never from the train split.
    assert ds.probe.source == "test" and ds.test.source == "test" and ds.train.source == "train"
    assert set(raw.test_labels[ds.probe.index].tolist()) == {4, 9}


def test_no_probe_classes(raw):
    ds = _prepare(raw, probe_classes=())
    assert ds.probe.n_samples == 0 and ds.probe.x.shape == (0, 784)


@pytest.mark.parametrize("split", ["train", "test", "probe"])
def test_index_points_to_the_source_image(raw, split):
    ds = _prepare(raw, n_test_per_class=7)
    part = getattr(ds, split)
    images = raw.train_images if part.source == "train" else raw.test_images
    labels = raw.train_labels if part.source == "train" else raw.test_labels
    expected = images[part.index].reshape(-1, 784).astype(np.float32) / np.float32(255)
    np.testing.assert_array_equal(part.x, expected)
    np.testing.assert_array_equal(part.y, labels[part.index])
    np.testing.assert_array_equal(part.images(), images[part.index])
    assert part.images().dtype == np.uint8


def test_dataset_carries_source_facts(raw):
    ds = _prepare(raw)
    assert ds.name == "mnist" and ds.sha256 == raw.sha256 and ds.licence == "test data"
    assert ds.class_names == raw.class_names


def test_too_many_images_per_class(raw):
    with pytest.raises(ConfigError) as info:
        _prepare(raw, n_per_class=N_TRAIN_PER_CLASS + 1)
    message = str(info.value)
    assert f"data.n_per_class = {N_TRAIN_PER_CLASS + 1}" in message
    assert f"at most {N_TRAIN_PER_CLASS}" in message


def test_exactly_all_images_of_a_class(raw):
    ds = _prepare(raw, n_per_class=N_TRAIN_PER_CLASS)
    assert ds.train.n_samples == 2 * N_TRAIN_PER_CLASS


def test_too_many_test_images_per_class(raw):
    with pytest.raises(ConfigError) as info:
        _prepare(raw, n_test_per_class=N_TEST_PER_CLASS + 1)
    message = str(info.value)
    assert f"data.n_test_per_class = {N_TEST_PER_CLASS + 1}" in message
    assert f"at most {N_TEST_PER_CLASS}" in message


def test_class_absent_from_the_data(raw):
    # Drop class 7 from the train split.
    keep = raw.train_labels != 7
    thin = RawData(**{**raw.__dict__, "train_images": raw.train_images[keep],
                      "train_labels": raw.train_labels[keep]})
    with pytest.raises(ConfigError, match="data.classes: class 7 has no images in the train split"):
        _prepare(thin)


def _first_rows(labels: np.ndarray, classes: tuple[int, ...], n: int) -> np.ndarray:
    """The first ``n`` rows of each class in file order, one loop per class (the oracle)."""
    rows = []
    for c in classes:
        found = [i for i, label in enumerate(labels.tolist()) if label == c]
        rows += found[:n]
    return np.array(sorted(rows), dtype=np.int64)


def test_first_selection_takes_the_first_images_of_each_class_in_file_order(raw):
    ds = _prepare(raw, selection="first", n_per_class=10, n_test_per_class=5)
    np.testing.assert_array_equal(ds.train.index, _first_rows(raw.train_labels, (1, 7), 10))
    np.testing.assert_array_equal(ds.test.index, _first_rows(raw.test_labels, (1, 7), 5))
    np.testing.assert_array_equal(ds.probe.index, _first_rows(raw.test_labels, (3,), 5))
    # No randomness: another seed picks the same images.
    other = _prepare(raw, seed=9, selection="first", n_per_class=10, n_test_per_class=5)
    for split in ("train", "test", "probe"):
        np.testing.assert_array_equal(getattr(other, split).index, getattr(ds, split).index)


def test_probe_from_the_training_split(raw):
    ds = _prepare(raw, selection="first", probe_split="train", n_probe_per_class=4,
                  n_test_per_class=5)
    assert ds.probe.source == "train" and set(ds.probe.y.tolist()) == {3}
    np.testing.assert_array_equal(ds.probe.index, _first_rows(raw.train_labels, (3,), 4))
    np.testing.assert_array_equal(ds.probe.images(), raw.train_images[ds.probe.index])
    assert not set(ds.probe.index.tolist()) & set(ds.train.index.tolist())
    # Without its own count the probe takes as many as the split it comes from.
    assert _prepare(raw, probe_split="train").probe.n_samples == 10
    assert _prepare(raw, n_test_per_class=5).probe.n_samples == 5


def test_too_many_probe_images_names_the_probe_count(raw):
    with pytest.raises(ConfigError, match=r"data.n_probe_per_class = 31: expected at most 30, "
                                          r"the number of train images of class 3"):
        _prepare(raw, probe_split="train", n_probe_per_class=N_TRAIN_PER_CLASS + 1)


def test_original_2021_takes_the_images_the_original_code_took():
    cfg = load_config("original-2021")
    raw = load_raw(cfg.data)
    ds = prepare_dataset(raw, cfg.data, cfg.seed)
    np.testing.assert_array_equal(ds.train.index, _first_rows(raw.train_labels, (1, 7), 100))
    np.testing.assert_array_equal(ds.probe.index, _first_rows(raw.train_labels, (3,), 100))
    assert ds.probe.source == "train"
    assert ds.test.n_samples == int(np.isin(raw.test_labels, (1, 7)).sum()) == 2163


def test_embedded_mnist_preset_preparation():
    cfg = load_config("mnist-1-7", ["data.n_per_class=100", "data.n_test_per_class=50"])
    raw = load_raw(cfg.data)
    ds = prepare_dataset(raw, cfg.data, cfg.seed)
    assert ds.classes == (1, 7) and ds.probe_classes == (3,)
    assert np.bincount(ds.train.y, minlength=10)[[1, 7]].tolist() == [100, 100]
    assert np.bincount(ds.test.y, minlength=10)[[1, 7]].tolist() == [50, 50]
    assert ds.probe.n_samples == 50 and set(ds.probe.y.tolist()) == {3}
    np.testing.assert_array_equal(ds.probe.images(), raw.test_images[ds.probe.index])
    np.testing.assert_array_equal(ds.train.images(), raw.train_images[ds.train.index])
    assert ds.class_names == tuple(str(d) for d in range(10))


def test_all_means_every_image_of_each_class(raw):
    ds = _prepare(raw, classes=(1, 5, 7), n_per_class="all", n_test_per_class="all")
    assert np.bincount(ds.train.y, minlength=10)[[1, 5, 7]].tolist() == [N_TRAIN_PER_CLASS] * 3
    assert np.bincount(ds.test.y, minlength=10)[[1, 5, 7]].tolist() == [N_TEST_PER_CLASS] * 3
    assert ds.probe.n_samples == N_TEST_PER_CLASS


def test_embedded_label_counts_are_those_of_the_loaded_data():
    cfg = load_config("mnist-1-7", ['data.n_per_class="all"']).data
    raw = load_raw(cfg)
    train_counts, test_counts = label_counts(cfg)
    np.testing.assert_array_equal(train_counts, np.bincount(raw.train_labels, minlength=10))
    np.testing.assert_array_equal(test_counts, np.bincount(raw.test_labels, minlength=10))
    ds = prepare_dataset(raw, cfg, 0)
    assert np.bincount(ds.train.y, minlength=10)[[1, 7]].tolist() == train_counts[[1, 7]].tolist()
    assert label_counts(DataConfig(dataset="fashion-mnist")) is None
    assert label_counts(DataConfig(path="/some/folder")) is None


@pytest.mark.parametrize("overrides", [
    ["data.n_per_class=7000"],  # train images of class 1
    ["data.n_test_per_class=1100"],  # test images of class 7
    ["data.classes=[1, 2]", "data.probe_classes=[5]", "data.n_test_per_class=1000"],  # probe
])
def test_counts_checked_before_loading_say_what_loading_says(overrides):
    """The door check (label files only) and preparation (loaded data) agree, word for word."""
    cfg = load_config("mnist-1-7", overrides).data
    with pytest.raises(ConfigError) as early:
        check_data(cfg)
    with pytest.raises(ConfigError) as late:
        prepare_dataset(load_raw(cfg), cfg, 0)
    assert str(early.value) == str(late.value)
    assert str(early.value).startswith("data.n_")


def test_counts_within_the_data_pass_the_door():
    check_data(load_config("mnist-1-7", ['data.n_per_class="all"']).data)


def test_an_empty_split_keeps_the_pixel_width():
    from sigreport.data.prepare import _split

    images = np.zeros((5, 6, 4, 3), dtype=np.uint8)
    labels = np.array([0, 1, 0, 1, 0])
    part = _split(images, labels, np.array([], dtype=np.int64), (0, 1), "test")
    assert part.x.shape == (0, 72)
    assert part.onehot.shape == (0, 2)
    assert part.image_shape == (6, 4, 3)
