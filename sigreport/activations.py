"""Activation capture: what every layer outputs for every sample.

Everything downstream of this module is numpy and scikit-learn only.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from sigreport.errors import TrainingError

if TYPE_CHECKING:  # the dataclasses stay importable without JAX
    from sigreport.data.prepare import Dataset
    from sigreport.model import Params
    from sigreport.network import Network

__all__ = ["LAYER_KINDS", "Activations", "LayerInfo", "SplitActivations", "capture_activations",
           "capture_network", "capture_split", "keep_layers", "network_split", "noisy_test",
           "recorded_activations", "recorded_split"]

SPLITS = ("train", "test", "probe")
LAYER_KINDS = ("input", "pre", "post", "logits", "probs")
_MAX_OUTPUT = 1e15


@dataclass(frozen=True)
class LayerInfo:
    """One recorded layer.

    ``kind`` is "input", "pre" (before the activation function), "post"
    (after it), "logits" or "probs". ``index`` is 0 for the input, N for
    hidden layer N and n_hidden + 1 for the output.
    """

    name: str
    kind: str
    index: int
    width: int


@dataclass(frozen=True)
class SplitActivations:
    """Every layer's output for the samples of one split.

    Attributes
    ----------
    layers:
        layer name -> float32 array (n_samples, width); "input" is the split's x.
    y:
        int64 (n_samples,), original class ids.
    index:
        int64 (n_samples,), each sample's row in the source split.
    predicted:
        int64 (n_samples,), the predicted ORIGINAL class id.
    """

    layers: dict[str, np.ndarray]
    y: np.ndarray
    index: np.ndarray
    predicted: np.ndarray


@dataclass(frozen=True)
class Activations:
    """Recorded layers for the train, test and probe splits."""

    layers: tuple[LayerInfo, ...]
    classes: tuple[int, ...]
    train: SplitActivations
    test: SplitActivations
    probe: SplitActivations

    def split(self, name: str) -> SplitActivations:
        """The split called ``name``: "train", "test" or "probe"."""
        if name not in SPLITS:
            raise KeyError(name)
        return getattr(self, name)

    @property
    def hidden(self) -> tuple[str, ...]:
        """Names of the hidden layers after their activation function, in order."""
        return tuple(layer.name for layer in self.layers if layer.kind == "post")


def _forward(params: Params, x: np.ndarray, y: np.ndarray, index: np.ndarray, split_name: str,
             activation: str, classes: np.ndarray, batch_size: int,
             names: Collection[str] | None = None, pool: str = "mean",
             image_shape: tuple[int, int, int] | None = None) -> SplitActivations:
    from sigreport.model import forward_layers

    layers = forward_layers(params, x, activation, batch_size, pool, image_shape)
    _check_finite(layers, split_name)
    return SplitActivations(
        layers={name: values for name, values in layers.items()
                if names is None or name in names},
        y=y,
        index=index,
        predicted=classes[np.argmax(layers["logits"], axis=1)].astype(np.int64),
    )


def noisy_test(x: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    """float32 (n_samples, n_pixels): ``x`` plus seeded Gaussian noise of standard deviation
    ``sigma``, clipped to the pixel range [0, 1]."""
    rng = np.random.default_rng([seed, 0x401E])
    noise = rng.normal(0.0, sigma, size=x.shape).astype(np.float32)
    return np.clip(x + noise, 0.0, 1.0).astype(np.float32)


def capture_split(params: Params | Network, x: np.ndarray, dataset: Dataset, activation: str,
                  batch_size: int = 4096, pool: str = "mean") -> SplitActivations:
    """Every layer's output for new inputs ``x`` float32 (n_samples, n_pixels) of the test
    split's samples (labels and indices are the test split's)."""
    if not isinstance(params, tuple):  # a Network from outside (sigreport.network)
        return network_split(params, x, dataset)
    return _forward(params, x, dataset.test.y, dataset.test.index, "noisy test", activation,
                    np.asarray(dataset.classes, dtype=np.int64), batch_size, None, pool,
                    getattr(dataset, "image_shape", None))


def _check_finite(layers: dict[str, np.ndarray], split_name: str,
                  network: str = "trained network",
                  remedy: str = "training diverged; lower train.learning_rate") -> None:
    # Weights can grow huge with a finite loss; the analysis squares and sums these
    # values in float32 (max 3.4e38), so a layer output beyond 1e15 means a diverged network.
    for layer, values in layers.items():
        if layer == "input" or values.size == 0:
            continue
        # max and min make no temporary copy of the layer; NaN and inf propagate to them.
        peak = max(abs(float(values.max())), abs(float(values.min())))
        peak = peak if np.isfinite(peak) else np.inf
        if peak > _MAX_OUTPUT:
            raise TrainingError(
                f"the {network}'s {layer} outputs on the {split_name} split reach "
                f"{peak:.3g}: {remedy}"
            )


def capture_activations(params: Params | Network, dataset: Dataset, activation: str,
                        batch_size: int = 4096,
                        kinds: Collection[str] = LAYER_KINDS, pool: str = "mean") -> Activations:
    """Record every layer's output for every sample of the train, test and probe splits.

    A jitted forward pass runs over ``batch_size`` samples at a time and each
    batch is copied into preallocated numpy arrays, so memory beyond the
    outputs themselves stays bounded.

    Parameters
    ----------
    params:
        ((W float32 (in, out), b float32 (out,)), ...) per dense layer, hidden
        layers first (``TrainResult.params`` or one of its snapshots).
    dataset:
        The prepared data the network was trained on.
    activation:
        The network's activation function (``ModelConfig.activation``).
    batch_size:
        Samples per forward pass.
    kinds:
        The layer kinds to keep (of :data:`LAYER_KINDS`); the others are
        computed, checked and released split by split.
    pool:
        How a CNN's blocks are recorded ("mean" or "max" per channel, or "flatten").

    Returns
    -------
    Activations
        Per split, layer name -> float32 (n_samples, width): "input" (the
        split's x itself, not a copy), "hiddenN.pre" and "hiddenN" for each
        hidden layer, "logits" and "probs" (those of ``kinds``); with the int64
        labels, source indices and predicted original class ids.
    """
    recorded = getattr(params, "recorded", None)
    if recorded is not None:  # layers read from a file (sigreport.activations_file)
        return keep_layers(recorded, kinds)
    if not isinstance(params, tuple):  # a Network from outside (sigreport.network)
        return capture_network(params, dataset, kinds)
    n_outputs = params[-1][0].shape[1]
    if n_outputs != dataset.n_classes:
        raise ValueError(f"params: the output layer has {n_outputs} units, "
                         f"the data set has {dataset.n_classes} classes")
    # A CNN's blocks come first (4-D kernels), recorded after their pool; then dense layers.
    n_conv = sum(1 for w, _ in params if w.ndim == 4)
    n_dense = len(params) - n_conv - 1
    plan = [("input", "input", 0)] + [(f"conv{i}", "post", i) for i in range(1, n_conv + 1)]
    for i in range(1, n_dense + 1):
        plan += [(f"hidden{i}.pre", "pre", n_conv + i), (f"hidden{i}", "post", n_conv + i)]
    plan += [("logits", "logits", n_conv + n_dense + 1), ("probs", "probs", n_conv + n_dense + 1)]
    plan = [p for p in plan if p[1] in kinds]
    names = {name for name, _, _ in plan}
    classes = np.asarray(dataset.classes, dtype=np.int64)
    image_shape = getattr(dataset, "image_shape", None)
    splits = {name: _forward(params, getattr(dataset, name).x, getattr(dataset, name).y,
                             getattr(dataset, name).index, name, activation, classes, batch_size,
                             names, pool, image_shape)
              for name in SPLITS}
    infos = [LayerInfo(name, kind, index, splits["train"].layers[name].shape[1])
             for name, kind, index in plan]
    return Activations(layers=tuple(infos), classes=tuple(dataset.classes), **splits)


def _network_split(network: Network, x: np.ndarray, y: np.ndarray, index: np.ndarray,
                   split_name: str, classes: np.ndarray,
                   names: Collection[str] | None) -> SplitActivations:
    from sigreport.network import OUTPUT

    out = network.layer_outputs(x)
    scores = out.pop(OUTPUT)
    return recorded_split(x, out, scores, network.output_kind, y, index, split_name, classes,
                          names)


def recorded_split(x: np.ndarray, layers: dict[str, np.ndarray], scores: np.ndarray,
                   output_kind: str, y: np.ndarray, index: np.ndarray, split_name: str,
                   classes: np.ndarray, names: Collection[str] | None = None) -> SplitActivations:
    """One split of a network's recorded layers, from its inputs ``x``, its layers' outputs
    float32 (n_samples, width) in order and its ``scores`` float32 (n_samples, n_classes):
    "logits" or "probabilities" by ``output_kind``, the other computed from them."""
    if output_kind == "probabilities":
        probs = scores
        logits = np.log(np.maximum(scores, np.float32(1e-30))).astype(np.float32)
    else:
        logits = scores
        shifted = scores - scores.max(axis=1, keepdims=True) if len(scores) else scores
        probs = np.exp(shifted)
        probs /= probs.sum(axis=1, keepdims=True)
    layers = {"input": x, **layers, "logits": logits, "probs": probs.astype(np.float32)}
    _check_finite(layers, split_name, "network", "check the model file")
    return SplitActivations(
        layers={k: v for k, v in layers.items() if names is None or k in names},
        y=y, index=index,
        predicted=classes[np.argmax(logits, axis=1)].astype(np.int64) if len(y)
        else np.zeros(0, np.int64))


def recorded_activations(layer_names: Sequence[str], classes: Sequence[int],
                         splits: dict[str, SplitActivations]) -> Activations:
    """:class:`Activations` of splits made by :func:`recorded_split`: the input, the recorded
    layers as hidden layers (kind "post", in order), then "logits" and "probs"."""
    widths = {name: layer.shape[1] for name, layer in splits["train"].layers.items()}
    infos = [LayerInfo("input", "input", 0, widths["input"])]
    infos += [LayerInfo(name, "post", i, widths[name])
              for i, name in enumerate(layer_names, start=1)]
    n_out = len(layer_names) + 1
    infos += [LayerInfo("logits", "logits", n_out, widths["logits"]),
              LayerInfo("probs", "probs", n_out, widths["probs"])]
    return Activations(layers=tuple(infos), classes=tuple(classes), **splits)


def capture_network(network: Network, dataset: Dataset,
                    kinds: Collection[str] = LAYER_KINDS) -> Activations:
    """Record a :class:`~sigreport.network.Network`'s layers for every split.

    Its recorded layers become hidden layers (kind "post", in order), its output
    "logits" and "probs" (a probability output's logarithm gives the logits, any
    other output's softmax the probabilities).

    Raises
    ------
    TrainingError
        When an output is not finite or beyond 1e15.
    """
    classes = np.asarray(dataset.classes, dtype=np.int64)
    splits = {name: _network_split(network, getattr(dataset, name).x, getattr(dataset, name).y,
                                   getattr(dataset, name).index, name, classes, None)
              for name in SPLITS}
    acts = recorded_activations(network.layer_names, dataset.classes, splits)
    return keep_layers(acts, kinds)


def network_split(network: Network, x: np.ndarray, dataset: Dataset) -> SplitActivations:
    """A network's layers for new inputs ``x`` of the test split's samples (as
    :func:`capture_split`)."""
    return _network_split(network, x, dataset.test.y, dataset.test.index, "noisy test",
                          np.asarray(dataset.classes, dtype=np.int64), None)


def keep_layers(acts: Activations, kinds: Collection[str]) -> Activations:
    """``acts`` with only the layers of ``kinds``; labels and predictions stay.

    The kept arrays are shared, not copied; a layer left out is freed once
    nothing else holds it, which is how a run drops what later stages no
    longer need.
    """
    infos = tuple(info for info in acts.layers if info.kind in kinds)
    names = {info.name for info in infos}

    def slim(split: SplitActivations) -> SplitActivations:
        return replace(split, layers={k: v for k, v in split.layers.items() if k in names})

    return replace(acts, layers=infos, train=slim(acts.train), test=slim(acts.test),
                   probe=slim(acts.probe))
