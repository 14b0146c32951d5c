"""A user's images from an .npz file: any H x W x C, uint8 or float in [0, 1]; a colour,
non-square set made from MNIST digits runs end to end; bad files fail in one line."""

from __future__ import annotations

import base64
import json
import re
import struct
from importlib import resources
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from conftest import one_error_line, run_cli

from sigreport.config import DataConfig, load_config
from sigreport.data import load_raw, prepare_dataset
from sigreport.data.npz import TEST_EVERY
from sigreport.data.sources import image_shape
from sigreport.errors import DataError

CLASSES = (1, 3, 7)


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    """MNIST digits of 1, 3 and 7 as 12x16 colour images (float32 in [0, 1]): each digit
    halved to 14x14, its middle 12 rows set 1 px into a 16-wide frame, red and half-bright
    green on a blue ground; with their labels, the classes interleaved."""
    raw = load_raw(DataConfig())
    rows = np.concatenate([np.flatnonzero(raw.train_labels == c)[:280] for c in CLASSES])
    rows = rows[np.argsort(np.arange(len(rows)) % 280, kind="stable")]
    small = raw.train_images[rows].reshape(-1, 14, 2, 14, 2).mean(axis=(2, 4)) / 255
    x = np.zeros((len(rows), 12, 16, 3), np.float32)
    x[:, :, 1:15, 0] = small[:, 1:13]
    x[:, :, 1:15, 1] = small[:, 1:13] / 2
    x[:, :, :, 2] = 0.25
    return x, raw.train_labels[rows].astype(np.int64)


def _png_header(uri: str) -> tuple[int, int, int, int]:
    """(width, height, bit depth, colour type) of a PNG data URI."""
    png = base64.b64decode(uri)
    return struct.unpack(">IIBB", png[16:26])


def test_a_colour_non_square_image_set_runs_end_to_end(digits, tmp_path):
    x, y = digits
    path = tmp_path / "digits.npz"
    np.savez(path, x=x, y=y)
    out = tmp_path / "out"
    args = ["run", "mnist-1-7", "--out", str(out)]
    for item in ('name="colour"', f'data.path="{path}"', "data.n_per_class=150",
                 "data.n_test_per_class=30", "model.hidden=[16, 8]", "train.epochs=3",
                 "train.batch_size=32"):
        args += ["--set", item]
    proc = run_cli(*args)
    assert proc.returncode == 0, proc.stderr
    folder = out / "colour"
    metrics = json.loads((folder / "metrics.json").read_text())
    schema = json.loads((resources.files("sigreport") / "metrics.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(metrics)
    exp = metrics["experiment"]
    assert exp["dataset"] == "digits.npz"
    assert (exp["n_train"], exp["n_test"], exp["n_probe"]) == (300, 60, 30)
    assert [lay["width"] for lay in metrics["layers"]] == [12 * 16 * 3, 16, 8, 2]
    html = (folder / "index.html").read_text()
    assert "576 \u2192 16 \u2192 8 \u2192 2" in html
    # Thumbnails and grids are colour PNGs of the data's shape (16 wide, 12 high, RGB).
    uris = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", html)
    headers = {_png_header(u) for u in uris}
    assert (16, 12, 8, 2) in headers
    assert all(colour == 2 for _, _, _, colour in headers)
    assert metrics["model"]["test_accuracy"] > 0.5


def test_every_seventh_image_is_a_test_image_and_both_layouts_agree(digits, tmp_path):
    x, y = digits
    single = tmp_path / "single.npz"
    np.savez(single, x=x, y=y)
    test = np.arange(len(y)) % TEST_EVERY == TEST_EVERY - 1
    raw = load_raw(DataConfig(path=str(single)))
    np.testing.assert_array_equal(raw.test_images, x[test])
    np.testing.assert_array_equal(raw.train_labels, y[~test])
    keras = tmp_path / "keras.npz"
    u8 = np.rint(x * 255).astype(np.uint8)
    np.savez(keras, x_train=u8[~test], y_train=y[~test], x_test=u8[test], y_test=y[test])
    raw_u8 = load_raw(DataConfig(path=str(keras)))
    assert raw_u8.train_images.dtype == np.uint8 and raw_u8.train_images.shape[1:] == (12, 16, 3)
    cfg = DataConfig(classes=(1, 7), probe_classes=(3,), n_per_class=100, n_test_per_class=20)
    a = prepare_dataset(raw, cfg, 0)
    b = prepare_dataset(raw_u8, cfg, 0)
    assert a.image_shape == b.image_shape == (12, 16, 3)
    np.testing.assert_array_equal(a.train.index, b.train.index)
    np.testing.assert_allclose(a.train.x, b.train.x, atol=0.5 / 255)
    assert b.train.x.max() <= 1.0 and b.train.x.dtype == np.float32
    np.testing.assert_array_equal(b.test.images(), u8[test][b.test.index])
    # A grey set of any size keeps (H, W): its images come back as they were.
    grey = tmp_path / "grey.npz"
    np.savez(grey, x=u8[..., 0], y=y)
    assert image_shape(DataConfig(path=str(grey))) == (12, 16, 1)
    c = prepare_dataset(load_raw(DataConfig(path=str(grey))), cfg, 0)
    np.testing.assert_array_equal(c.train.images(), u8[~test][c.train.index][..., 0])


def test_an_onnx_graph_takes_the_files_image_shape(digits, tmp_path):
    """The graph's input is checked against the data's images, not 28x28."""
    from onnx import TensorProto, helper, numpy_helper
    from onnx_graphs import save

    from sigreport.errors import ConfigError
    from sigreport.onnx_model import open_onnx

    x, y = digits
    data = tmp_path / "digits.npz"
    np.savez(data, x=x, y=y)

    def graph(n_inputs: int) -> Path:
        rng = np.random.default_rng(0)
        inits = [numpy_helper.from_array(rng.normal(size=(n_inputs, 4)).astype(np.float32), "W0"),
                 numpy_helper.from_array(rng.normal(size=(4, 2)).astype(np.float32), "W1")]
        nodes = [helper.make_node("MatMul", ["images", "W0"], ["h"]),
                 helper.make_node("Relu", ["h"], ["hidden1"]),
                 helper.make_node("MatMul", ["hidden1", "W1"], ["logits"])]
        g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(
            "images", TensorProto.FLOAT, ["N", n_inputs])], [helper.make_tensor_value_info(
                "logits", TensorProto.FLOAT, ["N", 2])], initializer=inits)
        return save(g, tmp_path / f"m{n_inputs}.onnx")

    for n_inputs, ok in ((576, True), (784, False)):
        config = load_config("mnist-1-7", [f'data.path="{data}"', 'model.source="onnx"',
                                           f'model.path="{graph(n_inputs)}"'])
        shape = image_shape(config.data)
        assert shape == (12, 16, 3)
        if ok:
            assert open_onnx(config.model, shape, 2).layer_names == ("hidden1",)
        else:
            with pytest.raises(ConfigError, match=r"the 12x16x3 images go in as \[N, 576\]"):
                open_onnx(config.model, shape, 2)


def test_bad_image_files_fail_in_one_line(digits, tmp_path, capsys):
    from sigreport.cli import main

    x, y = digits

    def write(name: str, **arrays) -> Path:
        path = tmp_path / f"{name}.npz"
        np.savez(path, **arrays)
        return path

    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"PK\x03\x04 not really" * 5)
    nan = x.copy()
    nan[0, 0, 0, 0] = np.nan
    cases = [
        (tmp_path / "none.npz", "not a file"),
        (garbage, "not an .npz file"),
        (write("keys", images=x, labels=y), "expected arrays x and y"),
        (write("flat", x=x.reshape(len(x), -1), y=y), "expected images (n, H, W) or (n, H, W, C)"),
        (write("bright", x=x * 2, y=y), "float pixels must lie in [0, 1]"),
        (write("nan", x=nan, y=y), "holds non-finite values"),
        (write("count", x=x, y=y[:-1]), "images in x but"),
        (write("negative", x=x, y=-y), "labels must be non-negative"),
        (write("labels", x=x, y=y.astype(np.float32)), "expected integer labels"),
        (write("shapes", x_train=x, y_train=y, x_test=x[:, :8], y_test=y),
         "expected one image shape"),
        (write("text", x=np.array(["a"] * len(y)), y=y), "expected images"),
    ]
    for path, needle in cases:
        with pytest.raises(DataError) as err:
            load_raw(DataConfig(path=str(path)))
        assert needle in str(err.value) and "\n" not in str(err.value), str(err.value)
        assert str(err.value).startswith(f"data.path = {str(path)!r}")
    status = main(["run", "mnist-1-7", "--out", str(tmp_path / "out"),
                   "--set", f'data.path="{cases[4][0]}"'])
    lines = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(lines) == 1 and cases[4][1] in lines[0], lines
    assert not (tmp_path / "out").exists()
    one_error_line(run_cli("run", "mnist-1-7", "--out", str(tmp_path / "out"), "--set",
                           f'data.path="{cases[2][0]}"'), cases[2][1])


def test_colour_images_encode_as_rgb_pngs_and_tile_uninverted():
    import zlib

    from sigreport.report.images import as_shown, build_mosaic, encode_pngs

    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, size=(3, 12, 16, 3), dtype=np.uint8)
    for img, png in zip(imgs, encode_pngs(imgs, bits=4)):   # colour stays 8 bits a channel
        width, height, depth, colour = struct.unpack(">IIBB", png[16:26])
        assert (width, height, depth, colour) == (16, 12, 8, 2)
        start = png.index(b"IDAT") + 4
        length = struct.unpack(">I", png[start - 8:start - 4])[0]
        rows = np.frombuffer(zlib.decompress(png[start:start + length]), np.uint8)
        rows = rows.reshape(12, 1 + 16 * 3)
        assert not rows[:, 0].any()
        np.testing.assert_array_equal(rows[:, 1:].reshape(12, 16, 3), img)
    np.testing.assert_array_equal(as_shown(imgs), imgs)               # colour as it is
    np.testing.assert_array_equal(as_shown(imgs[..., 0]), 255 - imgs[..., 0])  # grey inverted
    grid = build_mosaic(imgs, n_cols=2, pad=1, background=0)
    assert grid.shape == (2 * 13 + 1, 2 * 17 + 1, 3)
    np.testing.assert_array_equal(grid[1:13, 18:34], imgs[1])


def test_label_ids_above_nine_run_and_validate(digits, tmp_path):
    x, y = digits
    path = tmp_path / "many.npz"
    np.savez(path, x=x, y=y + 10)  # 1, 3, 7 -> 11, 13, 17: a data set of 18 label ids
    out = tmp_path / "out"
    args = ["run", "mnist-1-7", "--out", str(out)]
    for item in ('name="many"', f'data.path="{path}"', "data.classes=[11, 17]",
                 "data.probe_classes=[13]", "data.n_per_class=150", "data.n_test_per_class=30",
                 "model.hidden=[16, 8]", "train.epochs=3", "train.batch_size=32"):
        args += ["--set", item]
    proc = run_cli(*args)
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((out / "many" / "metrics.json").read_text())
    schema = json.loads((resources.files("sigreport") / "metrics.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(metrics)
    exp = metrics["experiment"]
    assert (exp["classes"], exp["probe_classes"]) == ([11, 17], [13])
    assert sorted(metrics["paths"]["coverage"]) == ["11", "17"]
    assert metrics["model"]["test_accuracy"] > 0.5
    assert "13 (unseen)" in (out / "many" / "index.html").read_text()
    # An id the data set does not have is named in one line, before any work.
    one_error_line(run_cli("run", "mnist-1-7", "--out", str(tmp_path / "out2"), "--set",
                           "data.classes=[1, 12]"),
                   "data.classes: class 12 has no images in the train split of this data set")
    assert not (tmp_path / "out2").exists()
