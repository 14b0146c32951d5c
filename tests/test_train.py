"""Training: learning, determinism, divergence, snapshots, the cached form."""

from __future__ import annotations

import io
import re
import sys

import jax
import numpy as np
import pytest
from flax import nnx

from sigreport.config import DataConfig, ModelConfig, TrainConfig
from sigreport.data import Dataset, Split, load_raw, prepare_dataset
from sigreport.errors import TrainingError
from sigreport.model import forward_layers
from sigreport.train import TrainResult, _accuracy, _batch_order, fit_model, snapshot_epochs

SMALL = ModelConfig(hidden=(16, 8))


@pytest.fixture(scope="module")
def mnist() -> Dataset:
    """1s and 7s from the embedded MNIST: 100 per class to train, 50 to test, 3s to probe."""
    cfg = DataConfig(classes=(1, 7), probe_classes=(3,), n_per_class=100, n_test_per_class=50)
    return prepare_dataset(load_raw(cfg), cfg, seed=0)


def _split(x: np.ndarray, y: np.ndarray, classes: tuple[int, ...]) -> Split:
    onehot = (y[:, None] == np.asarray(classes)[None, :]).astype(np.float32)
    return Split(x=x, y=y, onehot=onehot, index=np.arange(len(y), dtype=np.int64), source="train")


def _separable(n_per_class: int, seed: int) -> Dataset:
    """Class 0 lights the top half of the image, class 2 the bottom half, plus noise."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.array([0, 2], dtype=np.int64), n_per_class)
    x = rng.uniform(0.0, 0.3, size=(len(y), 784)).astype(np.float32)
    x[y == 0, :392] += 0.6
    x[y == 2, 392:] += 0.6
    empty = _split(np.zeros((0, 784), np.float32), np.zeros(0, np.int64), (0, 2))
    return Dataset(name="toy", class_names=tuple("0123456789"), classes=(0, 2), probe_classes=(),
                   train=_split(x[::2], y[::2], (0, 2)), test=_split(x[1::2], y[1::2], (0, 2)),
                   probe=empty, sha256="", licence="")


def test_loss_falls_on_a_separable_problem():
    data = _separable(60, seed=0)
    result = fit_model(data, SMALL, TrainConfig(epochs=10, batch_size=16, learning_rate=1e-2), 0)
    loss = result.history["train_loss"]
    assert loss[-1] < loss[0] / 4
    assert result.history["train_accuracy"][-1] == 1.0
    assert result.history["test_accuracy"][-1] == 1.0


def test_history_and_params_have_the_documented_form(mnist):
    train = TrainConfig(epochs=3, batch_size=32)
    result = fit_model(mnist, SMALL, train, seed=0)
    assert set(result.history) == {"epoch", "train_loss", "train_accuracy", "test_accuracy"}
    for values in result.history.values():
        assert values.dtype == np.float64 and values.shape == (3,)
    np.testing.assert_array_equal(result.history["epoch"], [1, 2, 3])
    assert [(w.shape, b.shape) for w, b in result.params] == [
        ((784, 16), (16,)), ((16, 8), (8,)), ((8, 2), (2,))]
    assert all(w.dtype == b.dtype == np.float32 for w, b in result.params)
    assert sorted(result.snapshots) == [0, 1, 3]
    for w, w3 in zip(result.params, result.snapshots[3]):
        np.testing.assert_array_equal(w[0], w3[0])
    assert not np.array_equal(result.snapshots[0][0][0], result.params[0][0])
    assert result.seed == 0


def test_accuracy_in_history_is_the_accuracy_of_the_final_params(mnist):
    result = fit_model(mnist, SMALL, TrainConfig(epochs=2, batch_size=32), seed=1)
    for split, key in ((mnist.train, "train_accuracy"), (mnist.test, "test_accuracy")):
        logits = forward_layers(result.params, split.x, SMALL.activation)["logits"]
        predicted = np.asarray(mnist.classes)[logits.argmax(axis=1)]
        assert result.history[key][-1] == pytest.approx(np.mean(predicted == split.y), abs=1e-6)


def test_accuracy_counts_each_sample_once_when_batches_do_not_divide_the_split():
    # 10 samples in batches of 4: the last batch overlaps the one before it.
    model = nnx.Linear(3, 2, rngs=nnx.Rngs(params=0))
    graphdef, state = nnx.split(model)
    x = np.random.default_rng(0).normal(size=(10, 3)).astype(np.float32)
    logits = np.asarray(model(x))
    labels = np.array([0, 1] * 5)
    labels[:3] = logits[:3].argmax(axis=1)  # these three are certainly right
    onehot = np.eye(2, dtype=np.float32)[labels]
    got = jax.jit(_accuracy, static_argnames=("graphdef", "batch_size"))(
        state, x, onehot, graphdef=graphdef, batch_size=4)
    assert float(got) == pytest.approx(np.mean(logits.argmax(axis=1) == labels))


@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_both_losses_train(mnist, loss):
    model = ModelConfig(hidden=(16, 8), loss=loss)
    result = fit_model(mnist, model, TrainConfig(epochs=3, batch_size=16, learning_rate=3e-3), 0)
    history = result.history
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert history["test_accuracy"][-1] >= 0.9


def test_same_seed_gives_identical_results_and_another_seed_does_not(mnist):
    train = TrainConfig(epochs=2, batch_size=32, snapshot_epochs=(0, 1, 2))
    a = fit_model(mnist, SMALL, train, seed=3)
    b = fit_model(mnist, SMALL, train, seed=3)
    c = fit_model(mnist, SMALL, train, seed=4)
    for x, y in zip(a.to_arrays().items(), b.to_arrays().items()):
        assert x[0] == y[0]
        np.testing.assert_array_equal(x[1], y[1], err_msg=x[0])
    assert not np.array_equal(a.params[0][0], c.params[0][0])


def test_divergence_stops_with_one_line_naming_the_learning_rate(mnist):
    train = TrainConfig(epochs=3, batch_size=32, optimizer="sgd", learning_rate=1e30)
    with pytest.raises(TrainingError) as info:
        fit_model(mnist, SMALL, train, seed=0)
    message = str(info.value)
    assert "\n" not in message
    assert re.fullmatch(r"training diverged at epoch 1 \(loss nan\); "
                        r"lower train\.learning_rate \(now 1e\+30\)", message), message


# Each activation once, the optimisers in turn, some with weight decay.
@pytest.mark.parametrize("activation, optimizer, learning_rate, weight_decay", [
    ("relu", "sgd", 0.05, 0.0),
    ("tanh", "adam", 3e-3, 1e-4),
    ("sigmoid", "adamw", 1e-2, 1e-2),
    ("gelu", "sgd", 0.05, 1e-4),
    ("elu", "adam", 3e-3, 0.0),
    ("leaky_relu", "adamw", 3e-3, 0.0),
])
def test_every_activation_and_optimizer_trains(mnist, activation, optimizer, learning_rate,
                                               weight_decay):
    model = ModelConfig(hidden=(16, 8), activation=activation)
    train = TrainConfig(epochs=3, batch_size=16, optimizer=optimizer, learning_rate=learning_rate,
                        weight_decay=weight_decay)
    history = fit_model(mnist, model, train, seed=0).history
    assert np.all(np.isfinite(history["train_loss"]))
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert history["test_accuracy"][-1] >= 0.9


def test_weight_decay_is_applied(mnist):
    plain = TrainConfig(epochs=1, batch_size=32, optimizer="sgd", learning_rate=0.05)
    decayed = TrainConfig(epochs=1, batch_size=32, optimizer="sgd", learning_rate=0.05,
                          weight_decay=0.5)
    w_plain = fit_model(mnist, SMALL, plain, seed=0).params[0][0]
    w_decayed = fit_model(mnist, SMALL, decayed, seed=0).params[0][0]
    assert np.linalg.norm(w_decayed) < np.linalg.norm(w_plain)


def test_a_batch_larger_than_the_split_uses_the_whole_split():
    data = _separable(10, seed=1)  # 10 training samples
    result = fit_model(data, SMALL, TrainConfig(epochs=2, batch_size=128), seed=0)
    assert np.all(np.isfinite(result.history["train_loss"]))


def test_batch_order_drops_the_last_partial_batch_and_reshuffles_each_epoch():
    first = _batch_order(seed=0, epoch=1, n_samples=10, batch_size=4)
    assert first.shape == (2, 4) and first.dtype == np.int32
    assert len(set(first.ravel().tolist())) == 8 and first.max() < 10
    np.testing.assert_array_equal(first, _batch_order(0, 1, 10, 4))
    assert not np.array_equal(first, _batch_order(0, 2, 10, 4))
    assert not np.array_equal(first, _batch_order(1, 1, 10, 4))


@pytest.mark.parametrize("epochs, given, expected", [
    (10, None, (0, 2, 5, 10)),
    (1, None, (0, 1)),
    (3, None, (0, 1, 3)),
    (20, None, (0, 5, 10, 20)),
    (10, (5, 0, 5), (0, 5)),
    (10, (), ()),
])
def test_snapshot_epochs(epochs, given, expected):
    assert snapshot_epochs(TrainConfig(epochs=epochs, snapshot_epochs=given)) == expected


def test_result_round_trips_through_arrays_and_the_stage_cache(mnist, tmp_path, monkeypatch):
    from sigreport.store import load_cached, save_cached

    monkeypatch.setenv("SIGREPORT_CACHE", str(tmp_path))
    result = fit_model(mnist, SMALL, TrainConfig(epochs=2, batch_size=32), seed=5)
    save_cached("train", "k", result.to_arrays(), {"seed": 5})
    arrays, meta = load_cached("train", "k")
    again = TrainResult.from_arrays(arrays, seed=meta["seed"])
    assert again.seed == 5
    assert sorted(again.snapshots) == sorted(result.snapshots)
    for epoch in result.snapshots:
        for (w, b), (w2, b2) in zip(result.snapshots[epoch], again.snapshots[epoch]):
            np.testing.assert_array_equal(w, w2)
            np.testing.assert_array_equal(b, b2)
    for (w, b), (w2, b2) in zip(result.params, again.params):
        np.testing.assert_array_equal(w, w2)
        np.testing.assert_array_equal(b, b2)
    assert list(again.history) == list(result.history)
    for key in result.history:
        np.testing.assert_array_equal(again.history[key], result.history[key])


def test_from_arrays_refuses_what_to_arrays_did_not_write():
    with pytest.raises(ValueError):
        TrainResult.from_arrays({"weights": np.zeros(3)}, seed=0)
    with pytest.raises(KeyError):
        TrainResult.from_arrays({"params.0.W": np.zeros((2, 2)), "params.0.b": np.zeros(2),
                                 "params.1.W": np.zeros((2, 2)), "params.1.b": np.zeros(2)},
                                seed=0)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_shows_only_on_a_terminal(monkeypatch):
    data = _separable(10, seed=2)
    train = TrainConfig(epochs=2, batch_size=8)
    quiet = io.StringIO()
    monkeypatch.setattr(sys, "stderr", quiet)
    fit_model(data, SMALL, train, seed=0, progress=True)
    assert quiet.getvalue() == ""
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    fit_model(data, SMALL, train, seed=0, progress=False)
    assert terminal.getvalue() == ""
    fit_model(data, SMALL, train, seed=0, progress=True)
    assert "training" in terminal.getvalue()
