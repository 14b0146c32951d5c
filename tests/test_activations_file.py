"""Activations from anywhere: an .npz of a real tiny run's recorded layers, read with
model.source = "activations", measures as that run did; bad files fail in one line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_OVERRIDES, check_metrics, one_error_line, run_cli

from sigreport.activations import capture_activations

SPLITS = ("train", "test", "probe")


@pytest.fixture(scope="module")
def recorded(tiny_stages):
    """The tiny run's activations (input, hidden layers, logits) and its untrained
    network's (epoch 0, from the run's cached training), with its data."""
    from sigreport.pipeline import _train_cached

    config, dataset = tiny_stages.config, tiny_stages.dataset
    # from the session's cache, where tiny_run trained
    (result, hit), = _train_cached(config, dataset, (config.seed,), False, False, []).values()
    assert hit
    control = capture_activations(result.snapshots[0], dataset, "relu")
    return tiny_stages.acts, control, dataset


def contract(acts, control, dataset, *, images: bool = True, with_control: bool = True) -> dict:
    """The arrays of an activations file (the documented contract) for these activations."""
    out = {"layers": np.array(acts.hidden)}
    for split in SPLITS:
        a = acts.split(split)
        out[f"{split}_labels"] = a.y
        if images:
            out[f"{split}_images"] = getattr(dataset, split).images()
        else:
            out[f"{split}_inputs"] = a.layers["input"][:, ::4]
        for i, name in enumerate(acts.hidden):
            out[f"{split}_layer{i}"] = a.layers[name]
            if with_control:
                out[f"{split}_control_layer{i}"] = control.split(split).layers[name]
        out[f"{split}_output"] = a.layers["logits"]
        if with_control:
            out[f"{split}_control_output"] = control.split(split).layers["logits"]
    return out


def _run(path: Path, out: Path, name: str, *extra: str):
    return run_cli(*_args(path, out, name, *extra))


def _without(metrics: dict) -> dict:
    """``metrics`` without what depends on training itself or on running the network."""
    m = json.loads(json.dumps(metrics))
    for key in ("name", "dataset", "activation", "loss", "network"):
        m["experiment"].pop(key, None)
    m["model"].pop("history")
    m.pop("snapshots")
    m["paths"].pop("noise")
    m["subsampling"].pop("snapshots", None)
    for entry in m["answers"]["signatures_differ"]["routed_like"]:
        entry.pop("indices")
    return m


def test_the_recorded_activations_measure_as_the_run_that_made_them(recorded, tiny_stages,
                                                                    tmp_path):
    acts, control, dataset = recorded
    path = tmp_path / "acts.npz"
    np.savez(path, **contract(acts, control, dataset))
    # The tiny run's title and keys: those that train or sample images are ignored.
    proc = _run(path, tmp_path / "out", "rec", *[o for o in TINY_OVERRIDES
                                                  if not o.startswith("name")])
    assert proc.returncode == 0, proc.stderr
    warning = next(line for line in (proc.stderr + proc.stdout).splitlines()
                   if line.startswith("warning:"))
    for key in ("model.hidden", "train.epochs", "data.n_per_class"):
        assert key in warning
    theirs = json.loads((tmp_path / "out" / "rec" / "metrics.json").read_text())
    check_metrics(theirs)
    ours = tiny_stages.metrics
    assert _without(theirs) == _without(ours)
    # A file's rows are numbered in the file's order: row i is the run's image index[i].
    for a, b in zip(theirs["answers"]["signatures_differ"]["routed_like"],
                    ours["answers"]["signatures_differ"]["routed_like"]):
        source = getattr(dataset, a["split"]).index
        assert [int(source[i]) for i in a["indices"]] == b["indices"]
    net = theirs["experiment"]["network"]
    assert net == {"source": "activations", "file": "acts.npz", "layers": ["hidden1", "hidden2"],
                   "output": "logits", "inputs": "images", "control": True, "snapshots": False}
    assert theirs["answers"]["separation"]["control_epoch"] == 0
    assert theirs["paths"]["noise"] is None and theirs["snapshots"] == []
    html = (tmp_path / "out" / "rec" / "index.html").read_text()
    assert "recorded in the file" in html and "784 \u2192 16 \u2192 8 \u2192 2" in html
    assert "no untrained control given" not in html


def test_without_a_control_verdicts_fall_back_to_the_input(recorded, tmp_path):
    """No control arrays and inputs that are vectors: the report says no untrained control
    was given where the control would stand, the separation layer is the first hidden
    layer above the input alone, and no image is drawn."""
    acts, control, dataset = recorded
    path = tmp_path / "plain.npz"
    np.savez(path, **contract(acts, control, dataset, images=False, with_control=False))
    proc = _run(path, tmp_path / "out", "plain")
    assert proc.returncode == 0, proc.stderr
    folder = tmp_path / "out" / "plain"
    metrics = json.loads((folder / "metrics.json").read_text())
    check_metrics(metrics)
    net = metrics["experiment"]["network"]
    assert net["control"] is False and net["inputs"] == "vectors"
    assert metrics["layers"][0]["width"] == 196
    sep = metrics["answers"]["separation"]
    assert sep["control_epoch"] is None
    rows = sep["per_layer"]
    assert all(r["control"][sep["measure"]] is None for r in rows)
    first = next((r["layer"] for r in rows if r["kind"] == "post"
                  and r["beats_input"][sep["measure"]]), None)
    assert sep["separation_layer"] == first
    assert all(r["control_js"] is None for r in metrics["answers"]["signatures_differ"]
               ["per_layer"])
    html = (folder / "index.html").read_text()
    assert html.count("no untrained control given") >= 3
    assert "No untrained control given" in html
    # no image data anywhere (the page's script names the data: prefix, it holds none)
    assert re.search(r"data:image/png;base64,[A-Za-z0-9+/]{16}", html) is None


def _bad_cases(arrays: dict, tmp_path: Path):
    """(file, needle) per bad file: each a small change to a good contract."""
    def variant(name: str, **changes) -> Path:
        out = {k: v for k, v in arrays.items() if changes.get(k, 0) is not None}
        out.update({k: v for k, v in changes.items() if v is not None})
        path = tmp_path / f"{name}.npz"
        np.savez(path, **out)
        return path

    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"\x00not an archive\xff" * 10)
    nan = arrays["test_layer0"].copy()
    nan[3, 1] = np.nan
    two = arrays["train_labels"].copy()
    two[0] = 2
    seven = arrays["probe_labels"].copy()
    seven[0] = 7
    bright = arrays["train_images"].astype(np.float32) / 100
    return [
        (tmp_path / "none.npz", "not a file"),
        (tmp_path, "not a file"),
        (garbage, "not an .npz file"),
        (variant("nolayers", layers=None), "no array 'layers'"),
        (variant("noprobe", probe_labels=None), "missing split 'probe'"),
        (variant("rows", train_layer1=arrays["train_layer1"][:-1]),
         "train_layer1 has 299 rows; train_labels has 300"),
        (variant("label", train_labels=two), "train_labels holds class 2, not one of data.classes"),
        (variant("probe", probe_labels=seven), "not one of data.probe_classes"),
        (variant("nan", test_layer0=nan), "test_layer0 holds non-finite values"),
        (variant("missing", test_layer1=None), "missing array 'test_layer1'"),
        (variant("width", test_layer0=np.pad(arrays["test_layer0"], ((0, 0), (0, 1)))),
         "test_layer0 (hidden1) is 17 wide; train_layer0 is 16"),
        (variant("output", train_output=arrays["train_output"][:, :1]),
         "train_output has 1 columns; expected 2"),
        (variant("control", train_control_layer0=arrays["train_layer0"]),
         "missing array 'train_control_layer1' (a control gives every split's"),
        (variant("extra", train_layer2=arrays["train_layer1"]), "unexpected array 'train_layer2'"),
        (variant("pixels", train_images=bright), "float pixels must lie in [0, 1]"),
        (variant("both", test_inputs=arrays["test_layer0"]),
         "expected one of test_images or test_inputs"),
        (variant("conv", train_layer0=arrays["train_layer0"].reshape(300, 4, 2, 2)),
         "expected numbers of shape (300, width)"),
    ]


def _args(path: Path, out: Path, name: str, *extra: str) -> list[str]:
    args = ["run", "mnist-1-7", "--out", str(out)]
    for item in (*extra, f'name="{name}"', 'model.source="activations"',
                 f'model.path="{path}"'):
        args += ["--set", item]
    return args


def test_each_bad_file_is_one_line_before_any_work(recorded, tmp_path, capsys):
    """Every case through the CLI's entry point in this process (a process each would take
    minutes on a busy machine); the first again as a user runs it."""
    from sigreport.cli import main

    acts, control, dataset = recorded
    arrays = contract(acts, control, dataset, with_control=False)
    cases = _bad_cases(arrays, tmp_path)
    for path, needle in cases:
        status = main(_args(path, tmp_path / "out", "bad"))
        captured = capsys.readouterr()
        lines = captured.err.strip().splitlines()
        assert status == 2 and len(lines) == 1, captured.err
        assert lines[0].startswith("sigreport: error: model.path = ") and needle in lines[0], \
            lines[0]
        assert not (tmp_path / "out").exists()  # nothing written, no stage ran
        assert not any(line.startswith("data ") for line in captured.out.splitlines())
    path, needle = cases[4]
    one_error_line(run_cli(*_args(path, tmp_path / "out", "bad")), needle)


def test_the_source_keys_are_checked(tmp_path):
    from sigreport.config import load_config
    from sigreport.errors import ConfigError

    with pytest.raises(ConfigError, match="expected model.path"):
        load_config("mnist-1-7", ['model.source="activations"'])
    with pytest.raises(ConfigError, match="model.pool"):
        load_config("mnist-1-7", ['model.source="activations"', 'model.path="a.npz"',
                                  'model.pool="max"'])
    # Recorded activations are one network: measured once, whatever the seeds (as ONNX).
    once = load_config("mnist-1-7", ['model.source="activations"', 'model.path="a.npz"',
                                     "seeds=[0, 1]"])
    assert once.all_seeds == (0,)


def _guide_examples() -> list[str]:
    """The Python blocks of the guide's section on .npz files."""
    text = (Path(__file__).resolve().parent.parent / "site" / "own-network.md").read_text()
    section = text.split("## Activations and images from .npz files", 1)[1].split("\n## ")[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def test_the_guides_examples_write_files_that_run(recorded, tmp_path, monkeypatch, capsys):
    from sigreport.cli import main
    from sigreport.config import DataConfig
    from sigreport.data import load_raw

    _, _, dataset = recorded
    acts_example, images_example = _guide_examples()
    monkeypatch.chdir(tmp_path)
    splits = {s: (getattr(dataset, s).images(), getattr(dataset, s).y) for s in SPLITS}
    exec(compile(acts_example, "own-network.md", "exec"), {"splits": splits})
    status = main(_args(tmp_path / "acts.npz", tmp_path / "out", "guide"))
    assert status == 0, capsys.readouterr().err
    metrics = json.loads((tmp_path / "out" / "guide" / "metrics.json").read_text())
    assert metrics["experiment"]["network"]["layers"] == ["dense1", "dense2"]
    assert metrics["experiment"]["network"]["control"] is True
    assert [lay["width"] for lay in metrics["layers"]] == [784, 32, 16, 2]
    images = np.concatenate([splits[s][0] for s in SPLITS])
    labels = np.concatenate([splits[s][1] for s in SPLITS])
    exec(compile(images_example, "own-network.md", "exec"),
         {"np": np, "images": images, "labels": labels})
    raw = load_raw(DataConfig(path=str(tmp_path / "images.npz")))
    assert len(raw.train_labels) + len(raw.test_labels) == len(labels)
    assert raw.train_images.shape[1:] == (28, 28)
