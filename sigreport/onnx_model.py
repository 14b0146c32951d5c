"""An outside classifier read from an ONNX file and run with onnxruntime.

:func:`open_onnx` checks the file against the data before any work (one
:class:`~sigreport.errors.ConfigError` line per problem) and returns an
:class:`OnnxNetwork`: the recorded node outputs become graph outputs, images go
through in batches and each batch's outputs are pooled into preallocated arrays,
so memory grows with the recorded widths, not with the graph's intermediate
tensors. Its :meth:`~OnnxNetwork.control` is the same graph with every weight
re-drawn (LeCun normal, fan-in by the layer's kind; biases zero; batch norm the
identity).
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from sigreport.config import ModelConfig
from sigreport.errors import ConfigError
from sigreport.network import OUTPUT

__all__ = ["ACTIVATION_OPS", "OnnxNetwork", "open_onnx", "pool_channels"]

# Node types whose output is an activation function's: the layers recorded by default.
ACTIVATION_OPS = ("Relu", "LeakyRelu", "PRelu", "Elu", "Selu", "Celu", "Gelu", "Sigmoid",
                  "HardSigmoid", "Tanh", "Softplus", "Softsign", "HardSwish", "Mish",
                  "ThresholdedRelu")
# The config's activation names of the node types that have one (for the report's line).
_ACTIVATION_NAMES = {"Relu": "relu", "Tanh": "tanh", "Sigmoid": "sigmoid", "Gelu": "gelu",
                     "Elu": "elu", "LeakyRelu": "leaky_relu"}
# Node types that compute on [N, C, H, W]: a tensor they produce is channels-first.
_CHANNELS_FIRST_OPS = ("Conv", "ConvTranspose", "MaxPool", "AveragePool", "LpPool",
                       "BatchNormalization", "InstanceNormalization", "GlobalAveragePool",
                       "GlobalMaxPool", "LRN")
_RESERVED = ("input", "logits", "probs", OUTPUT)
_DEFAULT_BATCH = 512
# The seed stream of the untrained control's weights.
_CONTROL_STREAM = 0x0C7


def _onnx():
    import onnx

    return onnx


@dataclass(frozen=True)
class OnnxNetwork:
    """An ONNX classifier with the node outputs to record.

    Attributes
    ----------
    model_bytes:
        The serialised graph, the recorded layers added to its outputs.
    input_name, layout:
        The graph's input and how images are shaped for it: "flat" [N, H*W*C],
        "nchw" [N, C, H, W], "nhwc" [N, H, W, C] or "nhw" [N, H, W].
    image_shape:
        (H, W, C) of the images.
    layer_names, channels_last:
        The recorded node outputs in graph order, and for each whether a 4-D output
        holds its channels last (NHWC).
    output_name, output_kind:
        The classifier's output and whether it gives logits or probabilities.
    pool:
        "mean", "max" or "flatten": how a 4-D output becomes one row per image.
    batch_size:
        Images per inference call (the graph's own batch size when it fixes one).
    op_types:
        The node type of each recorded layer.
    """

    model_bytes: bytes = field(repr=False)
    input_name: str
    input_dtype: str
    layout: str
    image_shape: tuple[int, int, int]
    layer_names: tuple[str, ...]
    channels_last: tuple[bool, ...]
    output_name: str
    output_kind: str
    pool: str
    batch_size: int
    fixed_batch: bool
    op_types: tuple[str, ...]
    path: str
    # Per recorded layer: whether its output is 4-D, so pooled (set by open_onnx's trial).
    pooled: tuple[bool, ...] = ()

    def _session(self):
        import onnxruntime as ort

        providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider")
                     if p in ort.get_available_providers()]
        options = ort.SessionOptions()
        options.log_severity_level = 3
        return ort.InferenceSession(self.model_bytes, options, providers=providers)

    def shape_images(self, x: np.ndarray) -> np.ndarray:
        """Images float32 (n, H*W*C) in the layout the graph's input declares."""
        h, w, c = self.image_shape
        n = len(x)
        if self.layout == "flat":
            out = x
        elif self.layout == "nhwc":
            out = x.reshape(n, h, w, c)
        elif self.layout == "nhw":
            out = x.reshape(n, h, w)
        else:
            out = x.reshape(n, h, w, c).transpose(0, 3, 1, 2)
        return np.ascontiguousarray(out, dtype=self.input_dtype)

    def _run(self, session, batch: np.ndarray) -> list[np.ndarray]:
        return session.run([*self.layer_names, self.output_name],
                           {self.input_name: self.shape_images(batch)})

    def layer_outputs(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Every recorded layer (pooled) and the output for images ``x`` float32
        (n_samples, H*W*C), computed ``batch_size`` images at a time."""
        session = self._session()
        names = (*self.layer_names, OUTPUT)
        n = len(x)
        out: dict[str, np.ndarray] | None = None
        for start in range(0, max(n, 1), self.batch_size):
            batch = np.asarray(x[start:start + self.batch_size], dtype=np.float32)
            size = len(batch)
            if self.fixed_batch and size < self.batch_size:
                pad = np.zeros((self.batch_size - size, batch.shape[1]), np.float32)
                batch = np.concatenate([batch, pad])
            if size == 0 and not self.fixed_batch:
                batch = np.zeros((1, x.shape[1]), np.float32)
            values = self._run(session, batch)
            rows = [self._reduce(v, i) for i, v in enumerate(values)]
            if out is None:
                out = {name: np.empty((n, r.shape[1]), np.float32) for name, r in zip(names, rows)}
            for name, r in zip(names, rows):
                out[name][start:start + size] = r[:size]
        assert out is not None
        return out

    def _reduce(self, value: np.ndarray, i: int) -> np.ndarray:
        value = np.asarray(value, dtype=np.float32)
        if value.ndim == 4 and i < len(self.layer_names):
            return pool_channels(value, self.pool, self.channels_last[i])
        return value.reshape(len(value), -1)

    def control(self, seed: int) -> OnnxNetwork:
        """The same graph with its weights re-drawn from ``seed`` (see :func:`redraw_weights`)."""
        onnx = _onnx()
        model = onnx.load_from_string(self.model_bytes)
        redraw_weights(model, seed)
        return replace(self, model_bytes=model.SerializeToString())

    def describe(self) -> dict:
        """The network as the metrics record it."""
        return {"source": "onnx", "file": Path(self.path).name, "layers": list(self.layer_names),
                "op_types": list(self.op_types), "pool": self.pool,
                "pooled": [n for n, p in zip(self.layer_names, self.pooled) if p],
                "input_layout": self.layout,
                "output": self.output_kind, "snapshots": False}

    def activation_name(self) -> str:
        """The recorded layers' activation functions in one word (the config's names)."""
        kinds = sorted({_ACTIVATION_NAMES.get(t, t) for t in self.op_types})
        return ", ".join(kinds)

    def with_output_kind(self, sample: np.ndarray) -> OnnxNetwork:
        """This network with ``output_kind`` decided: from the graph (a final Softmax), else
        from its outputs on ``sample`` images (rows in [0, 1] that sum to one)."""
        if self.output_kind != "unknown":
            return self
        scores = self.layer_outputs(sample)[OUTPUT]
        return replace(self, output_kind="probabilities" if looks_like_probabilities(scores)
                       else "logits")


def looks_like_probabilities(scores: np.ndarray) -> bool:
    """Whether every row of ``scores`` is a probability vector (>= 0, sums to 1 +- 1e-4)."""
    if scores.size == 0:
        return False
    return bool((scores >= 0).all() and (scores <= 1).all()
                and np.allclose(scores.sum(axis=1), 1.0, atol=1e-4))


def pool_channels(value: np.ndarray, pool: str, channels_last: bool) -> np.ndarray:
    """float32 (n, width) from a 4-D output: each channel's mean or maximum over its
    positions, or the whole tensor flattened position by position, channels last (as the
    built-in CNN flattens), whichever layout it has."""
    n = len(value)
    if pool == "flatten":
        return np.ascontiguousarray(value if channels_last else value.transpose(0, 2, 3, 1),
                                    dtype=np.float32).reshape(n, -1)
    axes = (1, 2) if channels_last else (2, 3)
    reduced = value.mean(axis=axes) if pool == "mean" else value.max(axis=axes)
    return np.ascontiguousarray(reduced, dtype=np.float32)


def _dims(value_info) -> list[int | None]:
    shape = value_info.type.tensor_type.shape
    return [d.dim_value if d.HasField("dim_value") else None for d in shape.dim]


def _layout(dims: list[int | None], image_shape: tuple[int, int, int]) -> str | None:
    h, w, c = image_shape

    def fits(got: list[int | None], want: tuple[int, ...]) -> bool:
        return len(got) == len(want) and all(g is None or g == v for g, v in zip(got, want))

    rest = dims[1:]
    if fits(rest, (h * w * c,)):
        return "flat"
    if fits(rest, (c, h, w)):
        return "nchw"
    if fits(rest, (h, w, c)):
        return "nhwc"
    if c == 1 and fits(rest, (h, w)):
        return "nhw"
    return None


def _channels_last(name: str, producer: dict, graph_input: str, layout: str) -> bool:
    """Whether the 4-D tensor ``name`` holds channels last: traced back through the
    element-wise nodes to a channels-first node, a transpose, or the graph's input."""
    for _ in range(10000):
        if name == graph_input:
            return layout == "nhwc"
        node = producer.get(name)
        if node is None:
            return False
        if node.op_type in _CHANNELS_FIRST_OPS:
            return False
        if node.op_type == "Transpose":
            perm = next((list(a.ints) for a in node.attribute if a.name == "perm"), None)
            return perm == [0, 2, 3, 1]
        if not node.input:
            return False
        name = node.input[0]
    return False


def _fail(path: str, problem: str) -> ConfigError:
    return ConfigError(f"model.path = {path!r}: {problem}")


def open_onnx(cfg: ModelConfig, image_shape: tuple[int, int, int],
              n_classes: int) -> OnnxNetwork:
    """Read and check the ONNX classifier ``cfg.path`` for images of ``image_shape``
    (H, W, C) and ``n_classes`` classes; one trial batch runs through it.

    Raises
    ------
    ConfigError
        Not a file, not an ONNX model, an input the images cannot be shaped to, an
        output that is not one score per class, a ``model.layers`` name that is not a
        node output, a graph without activation outputs (and no ``model.layers``).
    """
    onnx = _onnx()
    path = str(cfg.path)
    if not Path(path).is_file():
        raise _fail(path, "not a file")
    try:
        model = onnx.load(path)
        onnx.checker.check_model(model)
    except Exception as exc:  # noqa: BLE001  protobuf's and the checker's errors share no base
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise _fail(path, f"not an ONNX model ({first[:200]})") from None
    graph = model.graph
    initializers = {t.name for t in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initializers]
    if len(inputs) != 1:
        raise _fail(path, f"the graph has {len(inputs)} inputs; expected one (the images)")
    graph_input = inputs[0]
    dims = _dims(graph_input)
    layout = _layout(dims, image_shape) if dims else None
    h, w, c = image_shape
    if layout is None:
        shown = "[" + ", ".join("?" if d is None else str(d) for d in dims) + "]"
        raise _fail(path, f"the graph's input {graph_input.name!r} has shape {shown}; the "
                    f"{h}x{w}x{c} images go in as [N, {h * w * c}], [N, {c}, {h}, {w}] "
                    f"or [N, {h}, {w}, {c}]")
    elem = graph_input.type.tensor_type.elem_type
    dtypes = {onnx.TensorProto.FLOAT: "float32", onnx.TensorProto.DOUBLE: "float64",
              onnx.TensorProto.FLOAT16: "float16"}
    if elem not in dtypes:
        raise _fail(path, f"the graph's input {graph_input.name!r} is of type "
                    f"{onnx.TensorProto.DataType.Name(elem)}; expected float images")
    output_name = graph.output[0].name
    producer = {out: node for node in graph.node for out in node.output}
    order = [out for node in graph.node for out in node.output if out]
    if cfg.layers is not None:
        for name in cfg.layers:
            if name not in producer:
                close = difflib.get_close_matches(name, order, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ConfigError(f"model.layers: {name!r} is not a node output of "
                                  f"{path}{hint}")
        names = tuple(sorted(cfg.layers, key=order.index))
    else:
        names = tuple(node.output[0] for node in graph.node
                      if node.op_type in ACTIVATION_OPS and node.output[0] != output_name)
        if not names:
            raise _fail(path, "the graph has no activation function outputs ("
                        + ", ".join(ACTIVATION_OPS[:6]) + ", ...); name the node outputs "
                        "to record with model.layers")
    names = tuple(n for n in names if n != output_name)
    if not names:
        raise ConfigError("model.layers: only the output was named; expected hidden layers")
    clash = [n for n in names if n in _RESERVED]
    if clash:
        raise ConfigError(f"model.layers: {clash[0]!r} is a name sigreport gives its own "
                          "layers; rename the node in the graph")
    known_outputs = {o.name for o in graph.output}
    for name in names:
        if name not in known_outputs:
            graph.output.append(onnx.ValueInfoProto(name=name))
    last = producer.get(output_name)
    kind = "probabilities" if last is not None and last.op_type == "Softmax" else (
        "logits" if last is not None and last.op_type == "LogSoftmax" else "unknown")
    batch = dims[0]
    fixed = batch is not None and batch > 0
    net = OnnxNetwork(
        model_bytes=model.SerializeToString(), input_name=graph_input.name,
        input_dtype=dtypes[elem], layout=layout, image_shape=image_shape,
        layer_names=names,
        channels_last=tuple(_channels_last(n, producer, graph_input.name, layout)
                            for n in names),
        output_name=output_name, output_kind=kind, pool=cfg.pooling,
        batch_size=batch if batch is not None and batch > 0 else _DEFAULT_BATCH,
        fixed_batch=fixed,
        op_types=tuple(producer[n].op_type for n in names), path=path)
    return replace(net, pooled=_trial(net, n_classes))


def _trial(net: OnnxNetwork, n_classes: int) -> tuple[bool, ...]:
    """Run one batch of blank images: the graph must take them and give a score per class.
    Returns, per recorded layer, whether its output is 4-D (pooled per channel)."""
    h, w, c = net.image_shape
    n = net.batch_size if net.fixed_batch else 2
    try:
        values = net._run(net._session(), np.zeros((n, h * w * c), np.float32))
    except Exception as exc:  # noqa: BLE001  onnxruntime's errors share no public base
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise _fail(net.path, f"the graph cannot run on {h}x{w}x{c} images in the "
                    f"{net.layout} layout ({first[:200]})") from None
    out = values[-1]
    if out.ndim != 2 or out.shape[0] != n or out.shape[1] != n_classes:
        raise _fail(net.path, f"the output {net.output_name!r} has shape {list(out.shape)} for "
                    f"{n} images; expected [{n}, {n_classes}], one score per class of "
                    "data.classes in sorted order")
    for name, value in zip(net.layer_names, values):
        if value.ndim < 2 or value.shape[0] != n:
            raise ConfigError(f"model.layers: {name!r} has shape {list(value.shape)} for {n} "
                              "images; expected one row per image")
    return tuple(value.ndim == 4 for value in values[:-1])


def _fan_in_weights(graph) -> dict[str, tuple[str, int]]:
    """initializer name -> (role, fan-in): the weights a node multiplies by, its biases,
    and batch normalisation's statistics, by the node type that consumes them."""
    producer = {out: node for node in graph.node for out in node.output}
    shapes = {t.name: tuple(t.dims) for t in graph.initializer}
    roles: dict[str, tuple[str, int]] = {}

    def set_role(name: str, role: str, fan_in: int = 0) -> None:
        if name in shapes and name not in roles:
            roles[name] = (role, fan_in)

    for node in graph.node:
        ins = list(node.input)
        op = node.op_type
        if op in ("Conv", "ConvTranspose") and len(ins) > 1 and ins[1] in shapes:
            set_role(ins[1], "weight", math.prod(shapes[ins[1]][1:]))
            if len(ins) > 2:
                set_role(ins[2], "zero")
        elif op == "Gemm" and len(ins) > 1 and ins[1] in shapes:
            trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
            shape = shapes[ins[1]]
            set_role(ins[1], "weight", shape[1] if trans_b else shape[0])
            if len(ins) > 2:
                set_role(ins[2], "zero")
        elif op == "MatMul" and len(ins) > 1 and ins[1] in shapes and len(shapes[ins[1]]) >= 2:
            set_role(ins[1], "weight", shapes[ins[1]][-2])
        elif op == "Add" and len(ins) == 2:
            for this, other in ((ins[0], ins[1]), (ins[1], ins[0])):
                source = producer.get(other)
                if source is not None and source.op_type in ("MatMul", "Conv", "Gemm"):
                    set_role(this, "zero")
        elif op == "BatchNormalization" and len(ins) == 5:
            set_role(ins[1], "one")
            set_role(ins[2], "zero")
            set_role(ins[3], "zero")
            set_role(ins[4], "one")
    return roles


def _truncated_normal(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Standard normal draws cut at two standard deviations, rescaled to unit variance
    (LeCun normal as Flax draws it)."""
    z = rng.standard_normal(shape)
    bad = np.abs(z) > 2
    while bad.any():
        z[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(z) > 2
    return z / 0.87962566103423978


def redraw_weights(model, seed: int) -> None:
    """Re-draw ``model``'s weights in place: each weight LeCun normal with its layer's
    fan-in (Conv: in-channels x kernel; Gemm and MatMul: inputs), biases zero, batch
    normalisation the identity; other constants (shapes, a normalisation inside the
    graph) stay.

    Raises
    ------
    ConfigError
        When the graph holds no weight to re-draw (weights in Constant nodes).
    """
    from onnx import numpy_helper

    roles = _fan_in_weights(model.graph)
    if not any(role == "weight" for role, _ in roles.values()):
        raise ConfigError("model.path: the graph holds no Conv, Gemm or MatMul weights as "
                          "initializers, so its untrained control cannot be drawn")
    rng = np.random.default_rng([seed, _CONTROL_STREAM])
    for i, tensor in enumerate(model.graph.initializer):
        if tensor.name not in roles:
            continue
        role, fan_in = roles[tensor.name]
        old = numpy_helper.to_array(tensor)
        if role == "weight":
            new = _truncated_normal(rng, old.shape) / math.sqrt(max(fan_in, 1))
        else:
            new = np.full(old.shape, 1.0 if role == "one" else 0.0)
        model.graph.initializer[i].CopyFrom(
            numpy_helper.from_array(new.astype(old.dtype), tensor.name))
