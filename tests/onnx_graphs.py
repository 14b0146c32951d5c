"""ONNX graphs built with the onnx helper API from a sigreport network's weights (no PyTorch)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
_OPS = {"relu": ("Relu", {}), "tanh": ("Tanh", {}), "sigmoid": ("Sigmoid", {}),
        "elu": ("Elu", {}), "leaky_relu": ("LeakyRelu", {"alpha": 0.01})}


def save(graph: onnx.GraphProto, path: Path) -> Path:
    """Write ``graph`` as a checked ONNX model at ``path``."""
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              ir_version=8)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def mlp_graph(params, activation: str = "relu", layout: str = "flat",
              softmax: bool = False, batch: int | str = "N") -> onnx.GraphProto:
    """The MLP ``params`` ((W (in, out), b), ...) as an ONNX graph: MatMul, Add and the
    activation per hidden layer, the output layer's scores (or their softmax) out.

    ``layout``: "flat" [N, 784], "nchw" [N, 1, 28, 28] or "nhwc" [N, 28, 28, 1]."""
    shapes = {"flat": [batch, 784], "nchw": [batch, 1, 28, 28], "nhwc": [batch, 28, 28, 1]}
    nodes, inits = [], []
    x = "images"
    if layout != "flat":
        nodes.append(helper.make_node("Flatten", [x], ["flat"], axis=1))
        x = "flat"
    op, attrs = _OPS[activation]
    for i, (w, b) in enumerate(params):
        inits += [numpy_helper.from_array(np.asarray(w, np.float32), f"W{i}"),
                  numpy_helper.from_array(np.asarray(b, np.float32), f"b{i}")]
        nodes += [helper.make_node("MatMul", [x, f"W{i}"], [f"mm{i}"]),
                  helper.make_node("Add", [f"mm{i}", f"b{i}"], [f"dense{i}"])]
        x = f"dense{i}"
        if i < len(params) - 1:
            nodes.append(helper.make_node(op, [x], [f"hidden{i + 1}"], **attrs))
            x = f"hidden{i + 1}"
    n_out = params[-1][0].shape[1]
    if softmax:
        nodes.append(helper.make_node("Softmax", [x], ["probs_out"], axis=1))
        x = "probs_out"
    inp = helper.make_tensor_value_info("images", TensorProto.FLOAT, shapes[layout])
    out = helper.make_tensor_value_info(x, TensorProto.FLOAT, [batch, n_out])
    return helper.make_graph(nodes, "mlp", [inp], [out], initializer=inits)
