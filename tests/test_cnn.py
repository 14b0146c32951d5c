"""The built-in convolutional network: its recorded layers, its snapshots and cache, a whole
run, and an ONNX graph built from its weights that records the same activations."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import TINY_OVERRIDES, check_metrics, run_cli
from onnx_graphs import cnn_graph, save

from sigreport.activations import capture_activations
from sigreport.config import load_config
from sigreport.data import load_raw, prepare_dataset
from sigreport.errors import ConfigError
from sigreport.onnx_model import open_onnx
from sigreport.train import TrainResult, fit_model

CNN = ('model.kind="cnn"', "model.conv=[4, 8]", "model.hidden=[8]", "train.epochs=2")
TINY = [o for o in TINY_OVERRIDES if not o.startswith(("name", "title", "model.hidden"))]


@pytest.fixture(scope="module")
def trained():
    config = load_config("mnist-1-7", [*TINY, *CNN])
    dataset = prepare_dataset(load_raw(config.data), config.data, config.seed)
    return config, dataset, fit_model(dataset, config.model, config.train, config.seed)


def test_each_block_and_dense_layer_is_a_measured_layer(trained):
    _, dataset, result = trained
    assert [w.shape for w, _ in result.params] == [(3, 3, 1, 4), (3, 3, 4, 8), (392, 8), (8, 2)]
    assert sorted(result.snapshots) == [0, 1, 2]
    acts = capture_activations(result.params, dataset, "relu")
    assert [(i.name, i.kind, i.index, i.width) for i in acts.layers] == [
        ("input", "input", 0, 784), ("conv1", "post", 1, 4), ("conv2", "post", 2, 8),
        ("hidden1.pre", "pre", 3, 8), ("hidden1", "post", 3, 8),
        ("logits", "logits", 4, 2), ("probs", "probs", 4, 2)]
    assert acts.hidden == ("conv1", "conv2", "hidden1")
    flat = capture_activations(result.params, dataset, "relu", pool="flatten")
    assert flat.test.layers["conv1"].shape[1] == 14 * 14 * 4
    # The training run's own accuracy is the recorded network's.
    acc = np.mean(acts.test.predicted == acts.test.y)
    assert acc == pytest.approx(result.history["test_accuracy"][-1], abs=1e-6)
    again = TrainResult.from_arrays(result.to_arrays(), seed=result.seed)
    assert all(np.array_equal(a, b) for (a, _), (b, _) in zip(again.params, result.params))


@pytest.mark.parametrize("pool", ["mean", "max", "flatten"])
def test_an_onnx_graph_of_its_weights_records_the_same_activations(trained, tmp_path, pool):
    _, dataset, result = trained
    path = save(cnn_graph(result.params, n_conv=2), tmp_path / "cnn.onnx")
    config = load_config("mnist-1-7", [*TINY[:2], 'model.source="onnx"', f'model.path="{path}"',
                                       'model.layers=["conv1", "conv2", "hidden1"]',
                                       f'model.pool="{pool}"'])
    net = open_onnx(config.model, (28, 28, 1), 2)
    assert net.layout == "nchw" and net.pooled == (True, True, False)
    ours = capture_activations(result.params, dataset, "relu", pool=pool)
    theirs = capture_activations(net, dataset, "relu")
    for split in ("train", "test", "probe"):
        for name in ("conv1", "conv2", "hidden1", "logits", "probs"):
            np.testing.assert_allclose(theirs.split(split).layers[name],
                                       ours.split(split).layers[name], atol=1e-5, rtol=0)
        assert np.array_equal(theirs.split(split).predicted, ours.split(split).predicted)


@pytest.mark.parametrize(("overrides", "needle"), [
    (['model.kind="cnn"'], "expected model.conv"),
    (["model.conv=[8]"], 'model.kind = "cnn"'),
    (['model.kind="cnn"', "model.conv=[0]"], "an integer >= 1"),
])
def test_cnn_keys_are_checked(overrides, needle):
    with pytest.raises(ConfigError) as err:
        load_config("mnist-1-7", overrides)
    assert needle in str(err.value)


def test_a_cnn_run_writes_a_full_report_and_reuses_its_cache(tmp_path):
    args = ["run", "mnist-1-7", "--out", str(tmp_path / "out"), "--set", 'name="cnn"']
    for item in (*TINY, *CNN):
        args += ["--set", item]
    first = run_cli(*args)
    assert first.returncode == 0, first.stderr
    metrics = json.loads((tmp_path / "out" / "cnn" / "metrics.json").read_text())
    check_metrics(metrics)
    exp = metrics["experiment"]
    assert exp["conv"] == [4, 8] and exp["pool"] == "mean" and exp["hidden"] == [4, 8, 8]
    assert [lay["name"] for lay in metrics["layers"]] == ["input", "conv1", "conv2", "hidden1",
                                                          "logits"]
    assert [s["epoch"] for s in metrics["snapshots"]] == [0, 1, 2]
    assert metrics["answers"]["separation"]["control_epoch"] == 0
    html = (tmp_path / "out" / "cnn" / "index.html").read_text()
    assert "A CNN" in html and "784 \u2192 4 \u2192 8 \u2192 8 \u2192 2" in html
    manifest = json.loads((tmp_path / "out" / "cnn" / "manifest.json").read_text())
    assert manifest["cache_hits"] == {"train_seed_0": False}
    second = run_cli(*args)
    assert second.returncode == 0, second.stderr
    manifest = json.loads((tmp_path / "out" / "cnn" / "manifest.json").read_text())
    assert manifest["cache_hits"] == {"train_seed_0": True}


def test_the_max_pool_is_flaxs_on_odd_and_even_sizes():
    import jax.numpy as jnp
    from flax import nnx

    from sigreport.model import max_pool_2x2

    x = jnp.asarray(np.random.default_rng(0).normal(size=(3, 7, 6, 4)).astype(np.float32))
    ours = max_pool_2x2(x)
    assert ours.shape == (3, 3, 3, 4)
    assert np.array_equal(ours, nnx.max_pool(x, window_shape=(2, 2), strides=(2, 2)))


def test_several_seeds_of_a_cnn_are_each_the_one_seed_network(trained):
    from sigreport.train import fit_models

    config, dataset, one = trained
    both = fit_models(dataset, config.model, config.train, (config.seed, config.seed + 1))
    assert all(np.array_equal(w, v) for (w, _), (v, _) in zip(both[0].params, one.params))
    assert not np.array_equal(both[1].params[0][0], one.params[0][0])
    assert both[0].history["test_accuracy"] == pytest.approx(one.history["test_accuracy"])
