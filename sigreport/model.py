"""The network: a plain multi-layer perceptron in Flax NNX.

``MLP.__call__`` gives the logits; ``MLP.layer_outputs`` gives every recorded
layer by name (see :func:`layer_names`), which is what activation capture reads.
Outside this module and :mod:`sigreport.train`, a network is just its
parameters as numpy arrays (:data:`Params`), so the later stages stay free of JAX.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

__all__ = [
    "ACTIVATIONS",
    "INITIALIZERS",
    "MLP",
    "Params",
    "forward_layers",
    "layer_names",
    "model_from_params",
    "params_of",
]

# (W (in, out) float32, b (out,) float32) per dense layer, the hidden layers first.
Params = tuple[tuple[np.ndarray, np.ndarray], ...]

# The activation functions a config may name. GELU is the exact (erf) form.
ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "relu": jax.nn.relu,
    "tanh": jnp.tanh,
    "sigmoid": jax.nn.sigmoid,
    "gelu": functools.partial(jax.nn.gelu, approximate=False),
    "elu": jax.nn.elu,
    "leaky_relu": jax.nn.leaky_relu,  # negative slope 0.01
}

# The kernel initialisers a config may name; biases start at zero. LeCun normal
# is Flax's default, Glorot uniform is Keras'.
INITIALIZERS = {
    "lecun_normal": nnx.initializers.lecun_normal(),
    "glorot_uniform": nnx.initializers.glorot_uniform(),
}


def layer_names(n_hidden: int) -> tuple[str, ...]:
    """The recorded layers in order: input, hidden1.pre, hidden1, ..., logits, probs."""
    names = ["input"]
    for i in range(1, n_hidden + 1):
        names += [f"hidden{i}.pre", f"hidden{i}"]
    return (*names, "logits", "probs")


class MLP(nnx.Module):
    """Dense layers with one activation function between them, logits out.

    Parameters
    ----------
    n_inputs:
        Width of the input (784 for MNIST).
    hidden:
        Width of each hidden layer.
    n_outputs:
        Number of classes.
    activation:
        A key of :data:`ACTIVATIONS`.
    rngs:
        Random streams for the initial weights (zero biases).
    init:
        A key of :data:`INITIALIZERS`, the kernels' initialiser.
    """

    def __init__(self, n_inputs: int, hidden: tuple[int, ...], n_outputs: int,
                 activation: str, *, rngs: nnx.Rngs, init: str = "lecun_normal") -> None:
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}")
        kernel_init = INITIALIZERS[init]
        sizes = (n_inputs, *hidden, n_outputs)
        self.activation = activation
        self.layers = nnx.List(
            [nnx.Linear(a, b, kernel_init=kernel_init, rngs=rngs)
             for a, b in itertools.pairwise(sizes)]
        )

    def __call__(self, x: jax.Array) -> jax.Array:
        """Logits, float32 (n_samples, n_outputs), for inputs (n_samples, n_inputs)."""
        act = ACTIVATIONS[self.activation]
        for layer in self.layers[:-1]:
            x = act(layer(x))
        return self.layers[-1](x)

    def layer_outputs(self, x: jax.Array) -> dict[str, jax.Array]:
        """Every layer's output for inputs (n_samples, n_inputs), keyed by layer name.

        The same arithmetic as ``__call__``, with each step kept.
        """
        act = ACTIVATIONS[self.activation]
        out = {"input": x}
        for i, layer in enumerate(self.layers[:-1], start=1):
            pre = layer(x)
            x = act(pre)
            out[f"hidden{i}.pre"] = pre
            out[f"hidden{i}"] = x
        logits = self.layers[-1](x)
        out["logits"] = logits
        out["probs"] = jax.nn.softmax(logits, axis=-1)
        return out


def params_of(model: MLP) -> Params:
    """The model's parameters copied to numpy: ((W, b), ...) float32, hidden layers first."""
    # np.array copies: on a CPU the device buffer may be reused (donated) later.
    return tuple(
        (np.array(jax.device_get(layer.kernel[...]), dtype=np.float32),
         np.array(jax.device_get(layer.bias[...]), dtype=np.float32))
        for layer in model.layers
    )


def _check_params(params: Params) -> None:
    if len(params) < 2:
        raise ValueError("params: expected at least one hidden layer and the output layer")
    for i, (w, b) in enumerate(params):
        if w.ndim != 2 or b.shape != (w.shape[1],):
            raise ValueError(f"params[{i}]: expected W (in, out) and b (out,), "
                             f"got {w.shape} and {b.shape}")
        if i and w.shape[0] != params[i - 1][0].shape[1]:
            raise ValueError(f"params[{i}]: W has {w.shape[0]} inputs, "
                             f"the layer before has {params[i - 1][0].shape[1]} outputs")


def model_from_params(params: Params, activation: str) -> MLP:
    """An :class:`MLP` holding the given weights (no random initialisation is run).

    Parameters
    ----------
    params:
        ((W float32 (in, out), b float32 (out,)), ...), hidden layers first.
    activation:
        A key of :data:`ACTIVATIONS`.
    """
    _check_params(params)
    hidden = tuple(w.shape[1] for w, _ in params[:-1])
    n_inputs, n_outputs = params[0][0].shape[0], params[-1][0].shape[1]
    model = nnx.eval_shape(
        lambda: MLP(n_inputs, hidden, n_outputs, activation, rngs=nnx.Rngs(0))
    )
    for layer, (w, b) in zip(model.layers, params):
        layer.kernel.set_value(jnp.asarray(w, dtype=jnp.float32))
        layer.bias.set_value(jnp.asarray(b, dtype=jnp.float32))
    return model


@functools.partial(jax.jit, static_argnums=0)
def _layer_outputs(graphdef: nnx.GraphDef, state: nnx.State, x: jax.Array) -> dict[str, jax.Array]:
    out = nnx.merge(graphdef, state).layer_outputs(x)
    del out["input"]  # the caller has it already; no need to copy it back
    return out


def _batch_size(n_samples: int, batch_size: int) -> int:
    # A power of two at most batch_size: few distinct shapes to compile, little padding.
    size = 1
    while size < n_samples and size < batch_size:
        size *= 2
    return min(size, batch_size)


def forward_layers(params: Params, x: np.ndarray, activation: str,
                   batch_size: int = 4096) -> dict[str, np.ndarray]:
    """Every layer's output for ``x``, computed by a jitted forward pass in batches.

    Parameters
    ----------
    params:
        ((W float32 (in, out), b float32 (out,)), ...), hidden layers first.
    x:
        float32 (n_samples, in) inputs.
    activation:
        A key of :data:`ACTIVATIONS`.
    batch_size:
        Samples per forward pass; memory beyond the outputs stays bounded by it.

    Returns
    -------
    dict
        Layer name (:func:`layer_names`) -> float32 (n_samples, width) numpy array.
        "input" is ``x`` itself, not a copy.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size = {batch_size}: expected a positive integer")
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] != params[0][0].shape[0]:
        raise ValueError(f"x: expected shape (n_samples, {params[0][0].shape[0]}), got {x.shape}")
    graphdef, state = nnx.split(model_from_params(params, activation))
    n_samples = len(x)
    widths = {}
    for i, (w, _) in enumerate(params[:-1], start=1):
        widths[f"hidden{i}.pre"] = widths[f"hidden{i}"] = w.shape[1]
    widths["logits"] = widths["probs"] = params[-1][0].shape[1]
    out = {"input": x}
    for name, width in widths.items():
        out[name] = np.empty((n_samples, width), dtype=np.float32)
    if n_samples == 0:
        return out
    size = _batch_size(n_samples, batch_size)
    pending: tuple[int, int, dict[str, jax.Array]] | None = None
    for start in range(0, n_samples, size):
        stop = min(start + size, n_samples)
        batch = x[start:stop]
        if stop - start < size:  # pad the last batch so it reuses the compiled shape
            batch = np.concatenate([batch, np.zeros((size - len(batch), x.shape[1]), np.float32)])
        result = _layer_outputs(graphdef, state, batch)
        # Dispatch is asynchronous: copy the previous batch out while this one computes.
        if pending is not None:
            _copy_out(out, *pending)
        pending = (start, stop, result)
    _copy_out(out, *pending)  # type: ignore[misc]
    return out


def _copy_out(out: dict[str, np.ndarray], start: int, stop: int,
              result: dict[str, jax.Array]) -> None:
    for name, value in jax.device_get(result).items():
        out[name][start:stop] = value[: stop - start]
