"""What a measured network is, whichever door it came through.

A network is anything that, given images, returns its recorded layers' outputs in
order, plus a way to make its untrained control (the same architecture with its
weights re-drawn). :func:`sigreport.activations.capture_network` turns one into
:class:`~sigreport.activations.Activations`; nothing after that knows where the
network came from.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

__all__ = ["OUTPUT", "Network"]

# The key of the classifier's output (one score per class) among a network's layer outputs.
OUTPUT = "output"


class Network(Protocol):
    """A classifier whose layers can be recorded.

    Attributes
    ----------
    layer_names:
        The recorded layers, input side first (the output not among them).
    output_kind:
        "logits" (any real scores, softmax gives the probabilities) or
        "probabilities" (rows of non-negative scores summing to one).
    """

    layer_names: tuple[str, ...]
    output_kind: str

    def layer_outputs(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Layer name -> float32 (n_samples, width) for images ``x`` float32
        (n_samples, n_pixels) in [0, 1] (pixels in row-major H, W, C order); the
        recorded layers in order, then :data:`OUTPUT`."""
        ...

    def control(self, seed: int) -> Network:
        """The untrained control: the same network with its weights re-drawn from ``seed``."""
        ...
