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


def cnn_graph(params, n_conv: int, activation: str = "relu",
              batch: int | str = "N") -> onnx.GraphProto:
    """A sigreport CNN's ``params`` (3x3 kernels (3, 3, in, out) first, then dense layers) as
    an ONNX graph on [N, 1, 28, 28]: Conv, the activation and MaxPool per block (the pooled
    outputs named conv1, conv2, ...), a transpose to channels-last before flattening (as the
    built-in network flattens), then the dense layers named hidden1, ..."""
    op, attrs = _OPS[activation]
    nodes, inits = [], []
    x = "images"
    for i, (w, b) in enumerate(params[:n_conv], start=1):
        kernel = np.ascontiguousarray(np.asarray(w, np.float32).transpose(3, 2, 0, 1))
        inits += [numpy_helper.from_array(kernel, f"K{i}"),
                  numpy_helper.from_array(np.asarray(b, np.float32), f"kb{i}")]
        nodes += [helper.make_node("Conv", [x, f"K{i}", f"kb{i}"], [f"conv{i}.pre"],
                                   kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
                  helper.make_node(op, [f"conv{i}.pre"], [f"conv{i}.act"], **attrs),
                  helper.make_node("MaxPool", [f"conv{i}.act"], [f"conv{i}"],
                                   kernel_shape=[2, 2], strides=[2, 2])]
        x = f"conv{i}"
    nodes += [helper.make_node("Transpose", [x], ["nhwc"], perm=[0, 2, 3, 1]),
              helper.make_node("Flatten", ["nhwc"], ["flat"], axis=1)]
    dense = mlp_graph(params[n_conv:], activation, batch=batch)
    rename = {"images": "flat"}
    for node in dense.node:
        node.input[:] = [rename.get(n, n) for n in node.input]
    nodes += list(dense.node)
    inits += list(dense.initializer)
    inp = helper.make_tensor_value_info("images", TensorProto.FLOAT, [batch, 1, 28, 28])
    return helper.make_graph(nodes, "cnn", [inp], list(dense.output), initializer=inits)
