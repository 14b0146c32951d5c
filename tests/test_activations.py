"""Activation capture: every layer, every split, as float32 numpy arrays."""

from __future__ import annotations

import numpy as np
import pytest

from sigreport.activations import Activations, LayerInfo, capture_activations
from sigreport.config import DataConfig, ModelConfig, TrainConfig
from sigreport.data import Dataset, load_raw, prepare_dataset
from sigreport.train import TrainResult, fit_model

MODEL = ModelConfig(hidden=(12, 6), activation="relu")


@pytest.fixture(scope="module")
def mnist() -> Dataset:
    """1s and 7s from the embedded MNIST: 100 per class to train, 50 to test, 3s to probe."""
    cfg = DataConfig(classes=(1, 7), probe_classes=(3,), n_per_class=100, n_test_per_class=50)
    return prepare_dataset(load_raw(cfg), cfg, seed=0)


@pytest.fixture(scope="module")
def trained(mnist) -> TrainResult:
    return fit_model(mnist, MODEL, TrainConfig(epochs=3, batch_size=32), seed=0)


@pytest.fixture(scope="module")
def acts(trained, mnist) -> Activations:
    return capture_activations(trained.params, mnist, MODEL.activation)


def test_layers_are_described_in_order(acts):
    assert acts.layers == (
        LayerInfo("input", "input", 0, 784),
        LayerInfo("hidden1.pre", "pre", 1, 12),
        LayerInfo("hidden1", "post", 1, 12),
        LayerInfo("hidden2.pre", "pre", 2, 6),
        LayerInfo("hidden2", "post", 2, 6),
        LayerInfo("logits", "logits", 3, 2),
        LayerInfo("probs", "probs", 3, 2),
    )
    assert acts.hidden == ("hidden1", "hidden2")
    assert acts.classes == (1, 7)


@pytest.mark.parametrize("name", ["train", "test", "probe"])
def test_every_layer_of_every_sample_is_recorded(acts, mnist, name):
    split, data = acts.split(name), getattr(mnist, name)
    n_samples = data.n_samples
    assert n_samples > 0
    assert list(split.layers) == [layer.name for layer in acts.layers]
    for layer in acts.layers:
        values = split.layers[layer.name]
        assert values.dtype == np.float32, layer.name
        assert values.shape == (n_samples, layer.width), layer.name
        assert np.all(np.isfinite(values)), layer.name
    assert split.layers["input"] is data.x
    assert split.y.dtype == split.index.dtype == split.predicted.dtype == np.int64
    np.testing.assert_array_equal(split.y, data.y)
    np.testing.assert_array_equal(split.index, data.index)


def test_layers_are_consistent_with_each_other(acts):
    for name in ("train", "test", "probe"):
        layers = acts.split(name).layers
        for hidden in acts.hidden:
            np.testing.assert_array_equal(layers[hidden], np.maximum(layers[f"{hidden}.pre"], 0))
        np.testing.assert_allclose(layers["probs"].sum(axis=1), 1.0, rtol=1e-5)
        np.testing.assert_array_equal(layers["probs"].argmax(axis=1),
                                      layers["logits"].argmax(axis=1))


def test_predictions_are_original_class_ids(acts, trained):
    test = acts.test
    np.testing.assert_array_equal(
        test.predicted, np.array([1, 7])[test.layers["logits"].argmax(axis=1)])
    assert set(np.unique(acts.probe.predicted)) <= {1, 7}
    # The same number training recorded for its final network.
    assert np.mean(test.predicted == test.y) == pytest.approx(
        trained.history["test_accuracy"][-1], abs=1e-6)


def test_a_layer_matches_a_numpy_forward_pass(acts, trained, mnist):
    (w1, b1), (w2, b2), (w3, b3) = (
        (w.astype(np.float64), b.astype(np.float64)) for w, b in trained.params)
    x = mnist.probe.x.astype(np.float64)
    h1 = np.maximum(x @ w1 + b1, 0)
    h2 = np.maximum(h1 @ w2 + b2, 0)
    logits = h2 @ w3 + b3
    layers = acts.probe.layers
    np.testing.assert_allclose(layers["hidden1"], h1, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(layers["hidden2"], h2, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(layers["logits"], logits, rtol=1e-4, atol=1e-4)


def test_capture_is_deterministic_and_independent_of_the_batch_size(acts, trained, mnist):
    again = capture_activations(trained.params, mnist, MODEL.activation)
    small = capture_activations(trained.params, mnist, MODEL.activation, batch_size=64)
    for name in ("train", "test", "probe"):
        for layer in acts.split(name).layers:
            ref = acts.split(name).layers[layer]
            np.testing.assert_array_equal(again.split(name).layers[layer], ref)
            np.testing.assert_allclose(small.split(name).layers[layer], ref,
                                       rtol=1e-5, atol=1e-6)


def test_snapshots_capture_the_network_as_it_was(acts, trained, mnist):
    untrained = capture_activations(trained.snapshots[0], mnist, MODEL.activation)
    final = capture_activations(trained.snapshots[3], mnist, MODEL.activation)
    np.testing.assert_array_equal(final.test.layers["hidden1"], acts.test.layers["hidden1"])
    assert not np.allclose(untrained.test.layers["hidden1"], acts.test.layers["hidden1"])


def test_params_for_another_number_of_classes_are_refused(trained, mnist):
    w, b = trained.params[-1]
    params = (*trained.params[:-1], (np.concatenate([w, w], axis=1), np.concatenate([b, b])))
    with pytest.raises(ValueError, match="4 units"):
        capture_activations(params, mnist, MODEL.activation)


def test_split_names(acts):
    assert acts.split("probe") is acts.probe
    with pytest.raises(KeyError):
        acts.split("validation")


def test_activation_dataclasses_import_without_jax():
    import subprocess
    import sys

    code = ("import sys; import sigreport.activations; "
            "sys.exit(1 if 'jax' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_overflowing_network_is_reported_as_diverged(trained, mnist):
    """Regression: SGD at a huge learning rate left finite weights near 1e30 and a finite
    loss; the hidden layers then overflowed float32 statistics downstream."""
    from sigreport.errors import TrainingError

    huge = tuple((w * np.float32(1e12), b) for w, b in trained.params)
    with pytest.raises(TrainingError, match="diverged; lower train.learning_rate"):
        capture_activations(huge, mnist, "relu")


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "elu", "tanh", "sigmoid", "gelu"])
def test_a_run_records_pre_activations_only_where_the_output_does_not_say_which_units_fire(
        mnist, activation):
    # A run leaves the pre-activations out for activations that keep the sign; its binary
    # signatures (units with pre > 0) are then read from the output: the same bits.
    from sigreport.pipeline import SIGN_KEEPING, recorded_kinds

    model = ModelConfig(hidden=(12, 6), activation=activation)
    trained = fit_model(mnist, model, TrainConfig(epochs=1, batch_size=32), seed=0)
    full = capture_activations(trained.params, mnist, activation)
    kinds = recorded_kinds(activation)
    assert ("pre" in kinds) == (activation not in SIGN_KEEPING)
    if activation not in SIGN_KEEPING:
        # sigmoid's output is positive everywhere; GELU's halves a tiny positive input,
        # which can round to zero
        return
    slim = capture_activations(trained.params, mnist, activation, kinds=kinds)
    assert not any(info.kind == "pre" for info in slim.layers)
    for name in ("train", "test", "probe"):
        layers, kept = full.split(name).layers, slim.split(name).layers
        for hidden in full.hidden:
            np.testing.assert_array_equal(kept[hidden] > 0, layers[f"{hidden}.pre"] > 0)
            np.testing.assert_array_equal(kept[hidden], layers[hidden])
    # Edge values of the functions themselves: zeros and the smallest normal floats (XLA on
    # the CPU flushes subnormal results to zero, so a recorded pre-activation is never one).
    from sigreport.model import ACTIVATIONS

    tiny = np.finfo(np.float32).tiny
    edge = np.array([0.0, -0.0, tiny, -tiny, 1e-7, -1e-7, 30.0, -30.0, -100.0], np.float32)
    np.testing.assert_array_equal(np.asarray(ACTIVATIONS[activation](edge)) > 0, edge > 0)
