"""The MLP and its numpy-in, numpy-out forward pass over every layer."""

from __future__ import annotations

import itertools
import math

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from sigreport.model import (
    ACTIVATIONS,
    MLP,
    forward_layers,
    layer_names,
    model_from_params,
    params_of,
)

_ERF = np.vectorize(math.erf, otypes=[np.float64])

# The obvious numpy versions of the activation functions, in float64.
NUMPY_ACTIVATIONS = {
    "relu": lambda z: np.maximum(z, 0.0),
    "tanh": np.tanh,
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
    "gelu": lambda z: 0.5 * z * (1.0 + _ERF(z / math.sqrt(2.0))),
    "elu": lambda z: np.where(z > 0, z, np.expm1(np.minimum(z, 0.0))),
    "leaky_relu": lambda z: np.where(z >= 0, z, 0.01 * z),
}


def _tiny_params(seed: int = 0, sizes: tuple[int, ...] = (5, 4, 3, 2)):
    rng = np.random.default_rng(seed)
    return tuple(
        (rng.normal(size=(a, b)).astype(np.float32), rng.normal(size=b).astype(np.float32))
        for a, b in itertools.pairwise(sizes)
    )


def _numpy_forward(params, x, activation):
    """Every layer of the network, one sample at a time, in float64."""
    act = NUMPY_ACTIVATIONS[activation]
    rows = []
    for sample in x.astype(np.float64):
        layers = {"input": sample}
        h = sample
        for i, (w, b) in enumerate(params[:-1], start=1):
            pre = np.array([sum(h[k] * w[k, j] for k in range(len(h))) + b[j]
                            for j in range(w.shape[1])])
            h = act(pre)
            layers[f"hidden{i}.pre"], layers[f"hidden{i}"] = pre, h
        w, b = params[-1]
        logits = h @ w.astype(np.float64) + b
        layers["logits"] = logits
        e = np.exp(logits - logits.max())
        layers["probs"] = e / e.sum()
        rows.append(layers)
    return {name: np.stack([r[name] for r in rows]) for name in rows[0]}


def test_layer_names_in_order():
    assert layer_names(2) == ("input", "hidden1.pre", "hidden1", "hidden2.pre", "hidden2",
                              "logits", "probs")
    assert layer_names(1) == ("input", "hidden1.pre", "hidden1", "logits", "probs")


def test_config_activations_are_all_implemented():
    from sigreport.config import ACTIVATIONS as CONFIG_ACTIVATIONS

    assert set(CONFIG_ACTIVATIONS) == set(ACTIVATIONS) == set(NUMPY_ACTIVATIONS)


@pytest.mark.parametrize("activation", sorted(NUMPY_ACTIVATIONS))
def test_forward_layers_matches_a_hand_computed_forward_pass(activation):
    params = _tiny_params()
    x = np.random.default_rng(1).normal(size=(7, 5)).astype(np.float32)
    got = forward_layers(params, x, activation)
    want = _numpy_forward(params, x, activation)
    assert list(got) == list(layer_names(2))
    for name in want:
        assert got[name].dtype == np.float32, name
        assert got[name].shape == want[name].shape, name
        np.testing.assert_allclose(got[name], want[name], rtol=1e-5, atol=1e-5, err_msg=name)


def test_forward_layers_input_is_not_copied():
    params = _tiny_params()
    x = np.ones((3, 5), dtype=np.float32)
    assert forward_layers(params, x, "relu")["input"] is x


def test_forward_layers_does_not_depend_on_the_batch_size():
    params = _tiny_params()
    x = np.random.default_rng(2).normal(size=(37, 5)).astype(np.float32)
    whole = forward_layers(params, x, "tanh")
    # 37 samples in batches of 8: four full batches and a padded last one.
    batched = forward_layers(params, x, "tanh", batch_size=8)
    for name in whole:
        np.testing.assert_allclose(batched[name], whole[name], rtol=1e-6, atol=1e-6)


def test_forward_layers_of_no_samples():
    out = forward_layers(_tiny_params(), np.zeros((0, 5), np.float32), "relu")
    assert {k: v.shape for k, v in out.items()} == {
        "input": (0, 5), "hidden1.pre": (0, 4), "hidden1": (0, 4), "hidden2.pre": (0, 3),
        "hidden2": (0, 3), "logits": (0, 2), "probs": (0, 2)}


def test_forward_layers_rejects_inputs_of_the_wrong_width():
    with pytest.raises(ValueError, match="expected shape"):
        forward_layers(_tiny_params(), np.zeros((2, 6), np.float32), "relu")


def test_model_from_params_rejects_layers_that_do_not_chain():
    w1, b1 = np.zeros((5, 4), np.float32), np.zeros(4, np.float32)
    w2, b2 = np.zeros((3, 2), np.float32), np.zeros(2, np.float32)
    with pytest.raises(ValueError, match="inputs"):
        model_from_params(((w1, b1), (w2, b2)), "relu")


def test_params_round_trip_through_a_model():
    params = _tiny_params()
    again = params_of(model_from_params(params, "relu"))
    assert len(again) == len(params)
    for (w, b), (w2, b2) in zip(params, again):
        assert w2.dtype == b2.dtype == np.float32
        np.testing.assert_array_equal(w, w2)
        np.testing.assert_array_equal(b, b2)


def test_layer_outputs_agree_with_call():
    model = MLP(6, (5, 4), 3, "gelu", rngs=nnx.Rngs(params=0))
    x = jnp.asarray(np.random.default_rng(3).normal(size=(4, 6)), dtype=jnp.float32)
    outs = model.layer_outputs(x)
    np.testing.assert_array_equal(np.asarray(outs["logits"]), np.asarray(model(x)))
    np.testing.assert_allclose(np.asarray(outs["probs"]).sum(axis=1), 1.0, rtol=1e-6)
    assert [w.shape for w, _ in params_of(model)] == [(6, 5), (5, 4), (4, 3)]


def test_unknown_activation_is_refused():
    with pytest.raises(ValueError, match="softplus"):
        MLP(2, (2,), 2, "softplus", rngs=nnx.Rngs(0))
