"""ONNX classifiers: graphs built from a trained sigreport network's weights give the same
activations and the same metrics as the built-in forward pass; bad files fail in one line."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from conftest import TINY_OVERRIDES, check_metrics, one_error_line, run_cli
from onnx import TensorProto, helper, numpy_helper
from onnx_graphs import mlp_graph, save

from sigreport.activations import capture_activations
from sigreport.analysis import compute_metrics
from sigreport.config import ignored_training_keys, load_config
from sigreport.data import load_raw, prepare_dataset
from sigreport.errors import ConfigError
from sigreport.onnx_model import looks_like_probabilities, open_onnx, pool_channels
from sigreport.signatures import fit_signatures_with_epochs
from sigreport.train import fit_model

CLUSTERED = ("input", "post", "logits")
# The tiny run's data and network, without its name and title.
TINY = [o for o in TINY_OVERRIDES if not o.startswith(("name", "title"))]


def _onnx_config(path: Path, *extra: str):
    return load_config("mnist-1-7", [*TINY[:2], 'model.source="onnx"', f'model.path="{path}"',
                                     *extra])


@pytest.fixture(scope="module")
def trained():
    """The tiny run's config, data and trained network (epoch 0 is the untrained one)."""
    config = load_config("mnist-1-7", TINY)
    dataset = prepare_dataset(load_raw(config.data), config.data, config.seed)
    return config, dataset, fit_model(dataset, config.model, config.train, config.seed)


@pytest.mark.parametrize("layout", ["flat", "nchw", "nhwc"])
def test_activations_equal_the_builtin_forward_pass(trained, tmp_path, layout):
    _, dataset, result = trained
    path = save(mlp_graph(result.params, layout=layout), tmp_path / "mlp.onnx")
    net = open_onnx(_onnx_config(path).model, (28, 28, 1), 2).with_output_kind(
        dataset.train.x[:256])
    assert net.layout == layout and net.output_kind == "logits"
    assert net.layer_names == ("hidden1", "hidden2")
    ours = capture_activations(result.params, dataset, "relu")
    theirs = capture_activations(net, dataset, "relu")
    assert [i.name for i in theirs.layers] == ["input", "hidden1", "hidden2", "logits", "probs"]
    for split in ("train", "test", "probe"):
        a, b = ours.split(split), theirs.split(split)
        for name in ("hidden1", "hidden2", "logits", "probs"):
            assert b.layers[name].shape == a.layers[name].shape
            np.testing.assert_allclose(b.layers[name], a.layers[name], atol=1e-5, rtol=0)
        assert np.array_equal(a.predicted, b.predicted)


def test_a_softmax_output_is_read_as_probabilities(trained, tmp_path):
    _, dataset, result = trained
    path = save(mlp_graph(result.params, softmax=True), tmp_path / "probs.onnx")
    net = open_onnx(_onnx_config(path).model, (28, 28, 1), 2)
    assert net.output_kind == "probabilities"  # from the graph's final Softmax
    ours = capture_activations(result.params, dataset, "relu")
    theirs = capture_activations(net, dataset, "relu")
    np.testing.assert_allclose(theirs.test.layers["probs"], ours.test.layers["probs"], atol=1e-5)
    assert np.array_equal(theirs.test.predicted, ours.test.predicted)


def test_probabilities_are_told_from_logits_by_their_values():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(50, 3)).astype(np.float32)
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert looks_like_probabilities(probs)
    assert not looks_like_probabilities(logits)
    assert not looks_like_probabilities(np.abs(logits))


def test_pooling_reduces_each_channel_in_either_layout():
    value = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)   # N, C, H, W
    np.testing.assert_array_equal(pool_channels(value, "mean", False), value.mean(axis=(2, 3)))
    np.testing.assert_array_equal(pool_channels(value, "max", False), value.max(axis=(2, 3)))
    nhwc = value.transpose(0, 2, 3, 1)
    np.testing.assert_array_equal(pool_channels(nhwc, "mean", True), value.mean(axis=(2, 3)))
    flat = value.transpose(0, 2, 3, 1).reshape(2, -1)      # positions first, channels last
    np.testing.assert_array_equal(pool_channels(value, "flatten", False), flat)
    np.testing.assert_array_equal(pool_channels(nhwc, "flatten", True), flat)


def _plain(a, b, where: str = "") -> None:
    """``a`` equals ``b``: the same keys and strings, numbers within 1e-4 (floats are kept
    to 6 significant digits, computed from activations that agree to 1e-6)."""
    if isinstance(a, dict):
        assert set(a) == set(b), where
        for k in a:
            _plain(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _plain(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-4,
                                                                  abs_tol=1e-4), where
    else:
        assert a == b, where


def _metrics(config, dataset, result, net, control):
    acts = capture_activations(net, dataset, "relu")
    ctrl = capture_activations(control, dataset, "relu", kinds=CLUSTERED)
    sigs, (ctrl_sigs,) = fit_signatures_with_epochs(acts, [ctrl], config.signatures, 0)
    snaps = {0: (ctrl, ctrl_sigs), config.train.epochs: (acts, sigs)}
    return compute_metrics(config, dataset, result, acts, sigs, snapshots=snaps)


def test_both_routes_give_the_same_metrics(trained, tmp_path):
    """The trained network and its epoch-0 control, each as an ONNX graph, measure as the
    built-in network does."""
    config, dataset, result = trained
    net = open_onnx(_onnx_config(save(mlp_graph(result.params), tmp_path / "a.onnx")).model,
                    (28, 28, 1), 2)
    control = open_onnx(_onnx_config(save(mlp_graph(result.snapshots[0]),
                                          tmp_path / "b.onnx")).model, (28, 28, 1), 2)
    ours = _metrics(config, dataset, result, result.params, result.snapshots[0])
    theirs = _metrics(config, dataset, result, net, control)
    _plain(theirs, ours)


def test_the_control_redraws_every_weight_seeded_by_fan_in(trained, tmp_path):
    _, _, result = trained
    net = open_onnx(_onnx_config(save(mlp_graph(result.params), tmp_path / "m.onnx")).model,
                    (28, 28, 1), 2)

    def weights(n) -> dict[str, np.ndarray]:
        model = onnx.load_from_string(n.model_bytes)
        return {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}

    a, b, c = weights(net.control(0)), weights(net.control(0)), weights(net.control(1))
    trained_w = weights(net)
    for name in a:
        assert np.array_equal(a[name], b[name])
        if name.startswith("b"):
            assert not a[name].any()           # biases start at zero
        else:
            assert not np.array_equal(a[name], trained_w[name])
            assert not np.array_equal(a[name], c[name])
    # LeCun normal: standard deviation 1 / sqrt(fan-in), here 784 inputs (12,544 draws).
    assert abs(a["W0"].std() * math.sqrt(784) - 1) < 0.05


def _graph(nodes, inputs, outputs, inits=()):
    return helper.make_graph(nodes, "g", inputs, outputs, initializer=list(inits))


def _info(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def test_bad_files_fail_in_one_line_naming_the_problem(trained, tmp_path):
    _, _, result = trained
    good = save(mlp_graph(result.params), tmp_path / "good.onnx")
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x00not a model\xff" * 10)
    w = numpy_helper.from_array(np.ones((100, 2), np.float32), "W")
    wrong_input = save(_graph([helper.make_node("MatMul", ["x", "W"], ["y"])],
                              [_info("x", ["N", 100])], [_info("y", ["N", 2])], [w]),
                       tmp_path / "wrong_input.onnx")
    w3 = numpy_helper.from_array(np.ones((784, 3), np.float32), "W")
    three = save(_graph([helper.make_node("MatMul", ["x", "W"], ["h"]),
                         helper.make_node("Relu", ["h"], ["y0"]),
                         helper.make_node("MatMul", ["y0", "W2"], ["y"])],
                        [_info("x", ["N", 784])], [_info("y", ["N", 3])],
                        [w3, numpy_helper.from_array(np.eye(3, dtype=np.float32), "W2")]),
                 tmp_path / "three.onnx")
    w2 = numpy_helper.from_array(np.ones((784, 2), np.float32), "W")
    linear = save(_graph([helper.make_node("MatMul", ["x", "W"], ["y"])],
                         [_info("x", ["N", 784])], [_info("y", ["N", 2])], [w2]),
                  tmp_path / "linear.onnx")
    cases = [
        (tmp_path / "missing.onnx", (), "not a file"),
        (tmp_path, (), "not a file"),
        (garbage, (), "not an ONNX model"),
        (wrong_input, (), "has shape [?, 100]"),
        (three, (), "expected [2, 2], one score per class"),
        (good, ('model.layers=["hidden1", "hiden2"]',), "'hiden2' is not a node output"),
        (linear, (), "no activation function outputs"),
    ]
    for path, extra, needle in cases:
        with pytest.raises(ConfigError) as err:
            open_onnx(_onnx_config(path, *extra).model, (28, 28, 1), 2)
        assert needle in str(err.value) and "\n" not in str(err.value), str(err.value)
    # The output itself is no hidden layer.
    with pytest.raises(ConfigError, match="only the output"):
        open_onnx(_onnx_config(linear, 'model.layers=["y"]').model, (28, 28, 1), 2)


@pytest.mark.parametrize(("overrides", "needle"), [
    (['model.source="onnx"'], "expected model.path"),
    (['model.path="x.onnx"'], 'no path unless model.source is "onnx"'),
    (['model.layers=["a"]'], 'model.source = "onnx"'),
    (['model.source="onnx"', 'model.path="x.onnx"', 'model.kind="cnn"'], "no model.kind"),
    (['model.pool="max"'], 'model.source = "onnx" or model.kind = "cnn"'),
])
def test_keys_that_cannot_go_together_are_refused(overrides, needle):
    with pytest.raises(ConfigError, match=None) as err:
        load_config("mnist-1-7", overrides)
    assert needle in str(err.value)


def test_an_outside_network_is_measured_once_whatever_the_seeds():
    """The default preset trains three seeds; a network from outside is measured once, its
    control drawn with the first seed."""
    config = load_config("mnist-1-7", ['model.source="onnx"', 'model.path="x.onnx"'])
    assert config.seeds == (0, 1, 2) and config.all_seeds == (0,)
    assert "seeds" not in " ".join(ignored_training_keys(config))
    one = load_config("mnist-1-7", ['model.source="onnx"', 'model.path="x.onnx"', "seeds=[4, 5]"])
    assert one.all_seeds == (4,)


def test_a_run_on_an_onnx_file_measures_it(trained, tmp_path):
    """The whole run: the report's accuracy is the network's own on the same test images,
    its layers are the graph's activation outputs, training keys are warned about."""
    _, dataset, result = trained
    path = save(mlp_graph(result.params, layout="nchw"), tmp_path / "mlp.onnx")
    out = tmp_path / "out"
    args = ["run", "mnist-1-7", "--out", str(out), "--set", 'name="own"']
    for item in (*TINY[:2], "train.epochs=3", 'model.source="onnx"', f'model.path="{path}"'):
        args += ["--set", item]
    proc = run_cli(*args)
    assert proc.returncode == 0, proc.stderr
    assert "warning: train.epochs" in proc.stderr + proc.stdout
    metrics = json.loads((out / "own" / "metrics.json").read_text())
    check_metrics(metrics)
    session = ort.InferenceSession(path.read_bytes(), providers=["CPUExecutionProvider"])
    scores = session.run(None, {"images": dataset.test.x.reshape(-1, 1, 28, 28)})[0]
    own = np.mean(np.asarray(dataset.classes)[scores.argmax(axis=1)] == dataset.test.y)
    assert metrics["model"]["test_accuracy"] == pytest.approx(own, abs=1e-6)
    assert [lay["name"] for lay in metrics["layers"]] == ["input", "hidden1", "hidden2", "logits"]
    exp = metrics["experiment"]
    assert exp["network"]["file"] == "mlp.onnx" and exp["network"]["input_layout"] == "nchw"
    assert exp["loss"] is None and exp["hidden"] == [16, 8] and metrics["snapshots"] == []
    sep = metrics["answers"]["separation"]
    assert sep["control_epoch"] == 0 and sep["per_layer"][1]["control"]["cka_labels"] is not None
    html = (out / "own" / "index.html").read_text()
    assert "no learning curve and no epoch snapshots" in html
    assert "A classifier from the ONNX file" in html and "784 \u2192 16 \u2192 8 \u2192 2" in html


def test_a_bad_onnx_run_is_one_line_before_any_work(tmp_path):
    proc = run_cli("run", "mnist-1-7", "--out", str(tmp_path / "out"), "--set",
                   'model.source="onnx"', "--set", f'model.path="{tmp_path / "none.onnx"}"')
    one_error_line(proc, "not a file")
    assert not (tmp_path / "out").exists()
