"""The networks trained here, in Flax NNX: a plain multi-layer perceptron, and a
convolutional network (3x3 convolution, activation, 2x2 max pool per block, then
dense layers).

``__call__`` gives the logits; ``layer_outputs`` gives every recorded layer by
name (see :func:`layer_names`), which is what activation capture reads.
Outside this module and :mod:`sigreport.train`, a network is just its
parameters as numpy arrays (:data:`Params`), so the later stages stay free of JAX.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

__all__ = [
    "ACTIVATIONS",
    "CNN",
    "INITIALIZERS",
    "MLP",
    "Architecture",
    "Params",
    "architecture",
    "build_network",
    "forward_layers",
    "layer_names",
    "model_from_params",
    "param_shapes",
    "params_of",
]

# (W, b) float32 per layer, input side first: a convolution's W is (3, 3, in, out), a dense
# layer's (in, out); b is (out,). An MLP has dense layers only.
Params = tuple[tuple[np.ndarray, np.ndarray], ...]

# What a network's shapes are built from, hashable (a static argument of jitted code):
# ("mlp", (n_inputs, *hidden, n_outputs)) or
# ("cnn", (H, W, C), conv channels, (*hidden, n_outputs), pool).
Architecture = tuple

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


def layer_names(n_hidden: int, n_conv: int = 0) -> tuple[str, ...]:
    """The recorded layers in order: input, conv1, ..., hidden1.pre, hidden1, ..., logits,
    probs (a convolutional block is recorded after its pool, reduced per channel)."""
    names = ["input", *(f"conv{i}" for i in range(1, n_conv + 1))]
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


def max_pool_2x2(x: jax.Array) -> jax.Array:
    """2x2 max pooling with stride 2 of NHWC images, an odd last row or column dropped: what
    ``nnx.max_pool(x, (2, 2), strides=(2, 2))`` computes, as a reshape and a max. Its
    gradient is an elementwise select, where ``reduce_window``'s is a select-and-scatter
    that XLA's CPU code runs slowly (bench/cnn_train.py)."""
    n, h, w, c = x.shape
    h2, w2 = h // 2, w // 2
    return x[:, :2 * h2, :2 * w2, :].reshape(n, h2, 2, w2, 2, c).max(axis=(2, 4))


def pool_positions(x: jax.Array, pool: str) -> jax.Array:
    """(n, H, W, C) -> (n, C) by each channel's mean or maximum, or (n, H*W*C) flattened."""
    if pool == "flatten":
        return x.reshape(x.shape[0], -1)
    return jnp.mean(x, axis=(1, 2)) if pool == "mean" else jnp.max(x, axis=(1, 2))


class CNN(nnx.Module):
    """Convolutional blocks (3x3 convolution with "same" padding, the activation, 2x2 max
    pool), then dense layers with the activation between them, logits out.

    Parameters
    ----------
    image_shape:
        (H, W, C) of the images; inputs arrive flattened, (n_samples, H*W*C).
    conv:
        Output channels of each block.
    hidden:
        Width of each dense hidden layer after the blocks.
    n_outputs, activation, rngs, init:
        As for :class:`MLP`.
    pool:
        How a block's output is recorded: "mean" or "max" per channel, or "flatten".
    """

    def __init__(self, image_shape: tuple[int, int, int], conv: tuple[int, ...],
                 hidden: tuple[int, ...], n_outputs: int, activation: str, *, rngs: nnx.Rngs,
                 init: str = "lecun_normal", pool: str = "mean") -> None:
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}")
        kernel_init = INITIALIZERS[init]
        h, w, c = image_shape
        self.image_shape = tuple(image_shape)
        self.activation = activation
        self.pool = pool
        self.convs = nnx.List(
            [nnx.Conv(a, b, kernel_size=(3, 3), padding="SAME", kernel_init=kernel_init,
                      rngs=rngs) for a, b in itertools.pairwise((c, *conv))])
        for _ in conv:
            h, w = h // 2, w // 2
        if h < 1 or w < 1:
            raise ValueError(f"{len(conv)} blocks of 2x2 pooling leave nothing of "
                             f"{image_shape[0]}x{image_shape[1]} images")
        sizes = (h * w * conv[-1], *hidden, n_outputs)
        self.layers = nnx.List(
            [nnx.Linear(a, b, kernel_init=kernel_init, rngs=rngs)
             for a, b in itertools.pairwise(sizes)])

    def _block(self, conv: nnx.Conv, x: jax.Array) -> jax.Array:
        return max_pool_2x2(ACTIVATIONS[self.activation](conv(x)))

    def __call__(self, x: jax.Array) -> jax.Array:
        """Logits, float32 (n_samples, n_outputs), for inputs (n_samples, H*W*C)."""
        act = ACTIVATIONS[self.activation]
        x = x.reshape(x.shape[0], *self.image_shape)
        for conv in self.convs:
            x = self._block(conv, x)
        x = x.reshape(x.shape[0], -1)
        for layer in self.layers[:-1]:
            x = act(layer(x))
        return self.layers[-1](x)

    def layer_outputs(self, x: jax.Array) -> dict[str, jax.Array]:
        """Every recorded layer (:func:`layer_names`) for inputs (n_samples, H*W*C)."""
        act = ACTIVATIONS[self.activation]
        out = {"input": x}
        x = x.reshape(x.shape[0], *self.image_shape)
        for i, conv in enumerate(self.convs, start=1):
            x = self._block(conv, x)
            out[f"conv{i}"] = pool_positions(x, self.pool)
        x = x.reshape(x.shape[0], -1)
        for i, layer in enumerate(self.layers[:-1], start=1):
            pre = layer(x)
            x = act(pre)
            out[f"hidden{i}.pre"] = pre
            out[f"hidden{i}"] = x
        logits = self.layers[-1](x)
        out["logits"] = logits
        out["probs"] = jax.nn.softmax(logits, axis=-1)
        return out


def architecture(kind: str, image_shape: tuple[int, int, int], conv: tuple[int, ...] | None,
                 hidden: tuple[int, ...], n_outputs: int, pool: str = "mean") -> Architecture:
    """The :data:`Architecture` of a config's network for images of ``image_shape``."""
    if kind == "cnn":
        return ("cnn", tuple(image_shape), tuple(conv or ()), (*hidden, n_outputs), pool)
    return ("mlp", (math.prod(image_shape), *hidden, n_outputs))


def build_network(arch: Architecture, activation: str, *, rngs: nnx.Rngs,
                  init: str = "lecun_normal") -> MLP | CNN:
    """A freshly initialised network of ``arch``."""
    if arch[0] == "cnn":
        _, image_shape, conv, dense, pool = arch
        return CNN(image_shape, conv, dense[:-1], dense[-1], activation, rngs=rngs, init=init,
                   pool=pool)
    sizes = arch[1]
    return MLP(sizes[0], sizes[1:-1], sizes[-1], activation, rngs=rngs, init=init)


def param_shapes(arch: Architecture) -> list[tuple[tuple[int, ...], tuple[int]]]:
    """(W shape, b shape) of each layer of ``arch``, as :func:`params_of` gives them."""
    model = nnx.eval_shape(lambda: build_network(arch, "relu", rngs=nnx.Rngs(0)))
    return [(tuple(layer.kernel.shape), tuple(layer.bias.shape)) for layer in _all_layers(model)]


def _all_layers(model: MLP | CNN) -> list:
    return [*getattr(model, "convs", ()), *model.layers]


def params_of(model: MLP | CNN) -> Params:
    """The model's parameters copied to numpy: ((W, b), ...) float32, hidden layers first."""
    # np.array copies: on a CPU the device buffer may be reused (donated) later.
    return tuple(
        (np.array(jax.device_get(layer.kernel[...]), dtype=np.float32),
         np.array(jax.device_get(layer.bias[...]), dtype=np.float32))
        for layer in _all_layers(model)
    )


def _check_params(params: Params) -> None:
    if len(params) < 2:
        raise ValueError("params: expected at least one hidden layer and the output layer")
    n_conv = _n_conv(params)
    for i, (w, b) in enumerate(params):
        if w.ndim != (4 if i < n_conv else 2) or b.shape != (w.shape[-1],):
            raise ValueError(f"params[{i}]: expected W (in, out) or (3, 3, in, out) and "
                             f"b (out,), got {w.shape} and {b.shape}")
        if i and i != n_conv and w.shape[-2] != params[i - 1][0].shape[-1]:
            raise ValueError(f"params[{i}]: W has {w.shape[0]} inputs, "
                             f"the layer before has {params[i - 1][0].shape[1]} outputs")


def _n_conv(params: Params) -> int:
    """How many of ``params``' layers are convolutions (they come first)."""
    return sum(1 for w, _ in params if np.ndim(w) == 4)


def params_architecture(params: Params, pool: str = "mean",
                        image_shape: tuple[int, int, int] | None = None) -> Architecture:
    """The :data:`Architecture` of ``params``; a CNN's needs its images' ``image_shape``."""
    n_conv = _n_conv(params)
    dense = tuple(w.shape[1] for w, _ in params[n_conv:])
    if not n_conv:
        return ("mlp", (params[0][0].shape[0], *dense))
    if image_shape is None:
        raise ValueError("params: a convolutional network needs its image_shape")
    return ("cnn", tuple(image_shape), tuple(w.shape[-1] for w, _ in params[:n_conv]), dense,
            pool)


def square_images(params: Params, n_inputs: int) -> tuple[int, int, int] | None:
    """(H, W, C) of square images of ``n_inputs`` values for ``params``' first convolution
    (None for an MLP)."""
    if not _n_conv(params):
        return None
    c = params[0][0].shape[2]
    side = math.isqrt(n_inputs // c)
    return (side, side, c)


def model_from_params(params: Params, activation: str, pool: str = "mean",
                      image_shape: tuple[int, int, int] | None = None) -> MLP | CNN:
    """An :class:`MLP` or :class:`CNN` holding the given weights (no random
    initialisation is run).

    Parameters
    ----------
    params:
        ((W float32, b float32 (out,)), ...), input side first (:data:`Params`).
    activation:
        A key of :data:`ACTIVATIONS`.
    pool, image_shape:
        A CNN's recording of its blocks, and its images' (H, W, C) (square by default).
    """
    _check_params(params)
    arch = params_architecture(params, pool, image_shape)
    model = nnx.eval_shape(lambda: build_network(arch, activation, rngs=nnx.Rngs(0)))
    for layer, (w, b) in zip(_all_layers(model), params):
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
                   batch_size: int = 4096, pool: str = "mean",
                   image_shape: tuple[int, int, int] | None = None) -> dict[str, np.ndarray]:
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
    pool, image_shape:
        A CNN's recording of its blocks, and its images' (H, W, C) (square by default).

    Returns
    -------
    dict
        Layer name (:func:`layer_names`) -> float32 (n_samples, width) numpy array.
        "input" is ``x`` itself, not a copy.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size = {batch_size}: expected a positive integer")
    x = np.asarray(x, dtype=np.float32)
    n_conv = _n_conv(params)
    if not n_conv and (x.ndim != 2 or x.shape[1] != params[0][0].shape[0]):
        raise ValueError(f"x: expected shape (n_samples, {params[0][0].shape[0]}), got {x.shape}")
    image_shape = image_shape or square_images(params, x.shape[1])
    graphdef, state = nnx.split(model_from_params(params, activation, pool, image_shape))
    n_samples = len(x)
    shapes = jax.eval_shape(functools.partial(_layer_outputs, graphdef, state),
                            jax.ShapeDtypeStruct((1, x.shape[1]), jnp.float32))
    names = layer_names(len(params) - n_conv - 1, n_conv)
    widths = {name: shapes[name].shape[1] for name in names if name != "input"}
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
