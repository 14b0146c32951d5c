"""Training: learning, determinism, divergence, snapshots, the cached form."""

from __future__ import annotations

import io
import re
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from sigreport.config import DataConfig, ModelConfig, TrainConfig
from sigreport.data import Dataset, Split, load_raw, prepare_dataset
from sigreport.errors import TrainingError
from sigreport.model import forward_layers, params_of
from sigreport.train import (
    TrainResult,
    _abstract_model,
    _accuracy,
    _batch_order,
    _batch_weights,
    _init_opt_state,
    _init_state,
    _opt_spec,
    _optimizer,
    _train_steps,
    fit_model,
    fit_models,
    snapshot_epochs,
)

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
    (10, (5, 0), (0, 5)),
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


def test_batch_order_can_keep_the_last_partial_batch():
    order = _batch_order(seed=0, epoch=1, n_samples=10, batch_size=4, drop_last=False)
    weights = _batch_weights(10, order)
    assert order.shape == weights.shape == (3, 4)
    assert sorted(order.ravel()[weights.ravel() == 1].tolist()) == list(range(10))
    assert weights.ravel().tolist() == [1.0] * 10 + [0.0] * 2      # the padding comes last
    np.testing.assert_array_equal(order.ravel()[:8], _batch_order(0, 1, 10, 4).ravel())
    assert _batch_weights(10, _batch_order(0, 1, 10, 4)) is None
    assert _batch_weights(8, _batch_order(0, 1, 8, 4, drop_last=False)) is None


def test_a_kept_partial_batch_steps_like_a_batch_of_its_real_rows():
    """Oracle: the padded, weighted step equals a plain step on the real rows alone."""
    sizes = (784, 6, 2)
    graphdef = nnx.graphdef(_abstract_model(("mlp", sizes), "relu"))
    opt = _opt_spec(TrainConfig(learning_rate=1e-2))
    data = _separable(8, seed=3)
    x, onehot = jnp.asarray(data.train.x), jnp.asarray(data.train.onehot)
    rows = np.array([[5, 2, 7, 0, 0, 0]], dtype=np.int32)   # three real rows, then padding
    padded = _batch_weights(3, rows)

    def step(order, weights):
        state = _init_state(np.uint32(0), arch=("mlp", sizes), init="lecun_normal")
        opt_state = _init_opt_state(state, opt=opt)
        state, _, loss = _train_steps(state, opt_state, x, onehot, jnp.asarray(order),
                                      None if weights is None else jnp.asarray(weights),
                                      graphdef=graphdef, opt=opt, loss="mse")
        return jax.tree.leaves(state), float(loss)

    (kept, loss_kept), (alone, loss_alone) = step(rows, padded), step(rows[:, :3], None)
    assert loss_kept == pytest.approx(loss_alone, rel=1e-6)
    for a, b in zip(kept, alone):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-7)


def test_keeping_the_last_partial_batch_trains_on_every_sample(mnist):
    kept = fit_model(mnist, SMALL, TrainConfig(epochs=2, batch_size=64, drop_last=False), seed=0)
    dropped = fit_model(mnist, SMALL, TrainConfig(epochs=2, batch_size=64), seed=0)
    assert np.all(np.isfinite(kept.history["train_loss"]))
    assert not np.array_equal(kept.params[0][0], dropped.params[0][0])


@pytest.mark.parametrize("init", ["lecun_normal", "glorot_uniform"])
def test_initial_weights_follow_the_named_initialiser(init):
    sizes = (784, 64, 2)
    state = _init_state(np.uint32(0), arch=("mlp", sizes), init=init)
    params = params_of(nnx.merge(nnx.graphdef(_abstract_model(("mlp", sizes), "relu")), state))
    w = params[0][0]
    assert w.shape == (784, 64)
    if init == "glorot_uniform":          # Keras' default: U(-l, l), l = sqrt(6 / (in + out))
        limit = np.sqrt(6 / (784 + 64))
        assert np.abs(w).max() <= limit and np.abs(w).max() > 0.99 * limit
        assert w.std() == pytest.approx(limit / np.sqrt(3), rel=0.03)
    else:                                 # Flax's default: truncated normal of variance 1 / in
        assert w.std() == pytest.approx(1 / np.sqrt(784), rel=0.03)
    assert all(np.all(b == 0) for _, b in params)


@pytest.mark.parametrize("epsilon", [1e-8, 1.0])
def test_adam_epsilon_is_the_configured_one(epsilon):
    """Oracle: Adam's first step is -lr * g / (|g| + epsilon) (optax's convention)."""
    tx = _optimizer("adam", 0.1, 0.9, 0.0, epsilon)
    params = {"w": jnp.zeros(3)}
    grads = {"w": jnp.array([1.0, -2.0, 0.5])}
    updates, _ = tx.update(grads, tx.init(params), params)
    g = np.array([1.0, -2.0, 0.5])
    np.testing.assert_allclose(np.asarray(updates["w"]), -0.1 * g / (np.abs(g) + epsilon),
                               rtol=1e-5)


@pytest.mark.parametrize("drop_last", [True, False])
def test_seeds_trained_together_equal_each_seed_trained_alone(mnist, drop_last):
    """Oracle: fit_model per seed. The vmapped program gives every seed its own initial
    weights and batch orders; only float32 rounding of the batched products may differ."""
    train = TrainConfig(epochs=3, batch_size=32, drop_last=drop_last, snapshot_epochs=(0, 2, 3))
    together = fit_models(mnist, SMALL, train, (5, 0, 2))
    assert [r.seed for r in together] == [5, 0, 2]
    for result in together:
        alone = fit_model(mnist, SMALL, train, seed=result.seed)
        assert sorted(result.snapshots) == [0, 2, 3]
        got, want = result.to_arrays(), alone.to_arrays()
        assert got.keys() == want.keys()
        for name in want:
            np.testing.assert_allclose(got[name], want[name], rtol=1e-4, atol=1e-5, err_msg=name)
        np.testing.assert_array_equal(result.snapshots[0][0][0], alone.snapshots[0][0][0])
    assert not np.array_equal(together[0].params[0][0], together[1].params[0][0])


def test_a_seed_that_diverges_among_several_is_named(mnist):
    train = TrainConfig(epochs=2, batch_size=32, learning_rate=1e6, optimizer="sgd")
    with pytest.raises(TrainingError, match=r"^training of seed \d diverged at epoch 1 "):
        fit_models(mnist, SMALL, train, (0, 1))
