"""The pipeline's promises: cached training, atomic output, nothing written on failure."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_OVERRIDES, run_cli, tiny_args

import sigreport.activations
import sigreport.report
import sigreport.train
from sigreport import pipeline
from sigreport.config import load_config
from sigreport.errors import TrainingError
from sigreport.pipeline import run
from sigreport.store import cache_root, save_cached


@pytest.fixture()
def tiny_config(tmp_path, monkeypatch):
    """The tiny run's config, with a cache of this test's own (so the first run misses)."""
    monkeypatch.setenv("SIGREPORT_CACHE", str(tmp_path / "cache"))
    return load_config("mnist-1-7", list(TINY_OVERRIDES))


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_cache_hit_skips_training_and_force_recomputes(tiny_config, tmp_path, monkeypatch):
    out = tmp_path / "out"
    first = run(tiny_config, out=out)
    assert first.manifest["cache_hits"] == {"train_seed_0": False}

    def no_training(*_args, **_kwargs):
        raise AssertionError("training ran although its result was cached")

    monkeypatch.setattr(sigreport.train, "fit_model", no_training)
    second = run(tiny_config, out=out)
    assert second.manifest["cache_hits"] == {"train_seed_0": True}
    assert second.metrics == first.metrics

    with pytest.raises(AssertionError, match="training ran"):
        run(tiny_config, out=out, force=True)


def test_cache_misses_when_a_training_key_changes(tiny_config, tmp_path):
    run(tiny_config, out=tmp_path)
    changed = load_config("mnist-1-7", [*TINY_OVERRIDES, "train.learning_rate=0.002"])
    assert run(changed, out=tmp_path).manifest["cache_hits"] == {"train_seed_0": False}
    # A report-only change keeps the trained network.
    report_only = load_config("mnist-1-7", [*TINY_OVERRIDES, "report.max_points=500"])
    assert run(report_only, out=tmp_path).manifest["cache_hits"] == {"train_seed_0": True}


def test_interrupted_run_leaves_previous_report_intact(tiny_config, tmp_path, monkeypatch):
    run(tiny_config, out=tmp_path)
    before = _snapshot(tmp_path / "tiny")

    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(sigreport.report, "render_report", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run(tiny_config, out=tmp_path, force=True)
    assert _snapshot(tmp_path / "tiny") == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_divergence_is_one_line_and_writes_nothing(tmp_path):
    proc = run_cli(*tiny_args("--set", 'train.optimizer="sgd"',
                              "--set", "train.learning_rate=100000.0", "--out", str(tmp_path)))
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert "learning_rate" in lines[-1] and "Traceback" not in proc.stderr
    assert lines[-1].startswith("sigreport: error:")
    assert not (tmp_path / "tiny").exists()


def test_snapshots_are_measured_on_a_stated_train_subsample(tiny_config, tmp_path, monkeypatch):
    """Snapshots hold only the clustered layers and at most SNAPSHOT_TRAIN_CAP train rows."""
    from sigreport.activations import capture_activations
    from sigreport.data import load_raw, prepare_dataset
    from sigreport.train import fit_model

    monkeypatch.setattr(pipeline, "SNAPSHOT_TRAIN_CAP", 100)
    result = run(tiny_config, out=tmp_path / "out")
    assert "100 of 300 training samples" in result.metrics["subsampling"]["snapshot_train"]

    dataset = prepare_dataset(load_raw(tiny_config.data), tiny_config.data, 0)
    trained = fit_model(dataset, tiny_config.model, tiny_config.train, 0)
    full = capture_activations(trained.params, dataset, "relu")
    view = capture_activations(trained.params, pipeline._snapshot_data(dataset, seed=0), "relu",
                               kinds=pipeline.CLUSTERED_KINDS)
    assert [i.kind for i in view.layers] == ["input", "post", "post", "logits"]
    assert set(view.train.layers) == {"input", "hidden1", "hidden2", "logits"}
    assert len(view.train.y) == 100 and len(view.test.y) == len(full.test.y)
    rows = np.searchsorted(full.train.index, view.train.index)
    np.testing.assert_array_equal(view.train.layers["hidden2"], full.train.layers["hidden2"][rows])


# --- the training cache: only valid, finite networks are used or kept ----------------------


@pytest.fixture(scope="module")
def tiny_trained():
    """The tiny config, its data set and the network it trains (trained once here)."""
    from sigreport.data import load_raw, prepare_dataset
    from sigreport.train import fit_model

    config = load_config("mnist-1-7", list(TINY_OVERRIDES))
    dataset = prepare_dataset(load_raw(config.data), config.data, config.seed)
    return config, dataset, fit_model(dataset, config.model, config.train, 0)


def _drop(arrays: dict, prefix: str) -> dict:
    return {k: v for k, v in arrays.items() if not k.startswith(prefix)}


def _nan_bias(arrays: dict) -> dict:
    arrays["params.1.b"] = np.full_like(arrays["params.1.b"], np.nan)
    return arrays


DAMAGE = {
    "a missing history": lambda a: _drop(a, "history.test_accuracy"),
    "a missing snapshot": lambda a: _drop(a, "snapshot.0."),
    "a missing layer": lambda a: _drop(a, "params.2."),
    "a wrong shape": lambda a: {**a, "params.0.W": a["params.0.W"][:, :4]},
    "a short history": lambda a: {**a, "history.train_loss": a["history.train_loss"][:1]},
    "non-finite weights": _nan_bias,
    "a folder": None,
}


@pytest.mark.parametrize("damage", [None, *DAMAGE])
def test_regression_invalid_training_cache_entry_is_a_miss_and_replaced(
        tiny_trained, tmp_path, monkeypatch, damage):
    # A valid npz with missing keys or wrong shapes, or a folder in its place, made every
    # later run fail (KeyError, ValueError, IsADirectoryError) until --force.
    config, dataset, trained = tiny_trained
    monkeypatch.setenv("SIGREPORT_CACHE", str(tmp_path / "cache"))
    key = pipeline._train_key(config, dataset, 0)
    path = cache_root() / "stages" / "train" / f"{key}.npz"
    if damage == "a folder":
        (path / "x").mkdir(parents=True)
    else:
        arrays = trained.to_arrays()
        save_cached("train", key, DAMAGE[damage](arrays) if damage else arrays, {"seed": 0})
    trainings = []
    monkeypatch.setattr(sigreport.train, "fit_model",
                        lambda *_a, **_k: trainings.append(1) or trained)
    pending: list = []
    result, hit = pipeline._train_cached(config, dataset, (0,), False, False, pending)[0]
    assert hit == (damage is None) and len(trainings) == (damage is not None)
    np.testing.assert_array_equal(result.params[0][0], trained.params[0][0])
    pipeline._save_trained(pending, log=pytest.fail)
    assert path.is_file() and pipeline._load_trained(key, config, dataset, 0) is not None


def test_regression_a_diverged_network_is_never_cached(tiny_config, tiny_trained, tmp_path,
                                                       monkeypatch):
    # Outputs that overflow are found after training; the network was cached before that.
    trained = tiny_trained[2]
    monkeypatch.setattr(sigreport.train, "fit_model", lambda *_a, **_k: trained)

    def diverged(*_args, **_kwargs):
        raise TrainingError("the trained network's outputs reach 1e+20: training diverged")

    monkeypatch.setattr(sigreport.activations, "capture_activations", diverged)
    with pytest.raises(TrainingError):
        run(tiny_config, out=tmp_path / "out")
    assert list((tmp_path / "cache").rglob("*.npz")) == []
    assert not (tmp_path / "out").exists()


def _main_with(trained, args: list[str], monkeypatch, capsys) -> tuple[int, str]:
    """``sigreport ARGS`` in this process, training replaced by ``trained``: status, stderr."""
    from sigreport.cli import main

    monkeypatch.setattr(sigreport.train, "fit_model", lambda *_a, **_k: trained)
    status = main(args)
    return status, capsys.readouterr().err


def test_regression_cached_network_with_non_finite_weights_is_trained_again(
        tiny_trained, tmp_path, monkeypatch, capsys):
    # It stopped every later run with "training diverged" until --force.
    config, dataset, trained = tiny_trained
    monkeypatch.setenv("SIGREPORT_CACHE", str(tmp_path / "cache"))
    key = pipeline._train_key(config, dataset, 0)
    save_cached("train", key, _nan_bias(trained.to_arrays()), {"seed": 0})
    status, err = _main_with(trained, tiny_args("--out", str(tmp_path / "out")), monkeypatch,
                             capsys)
    assert status == 0, err
    assert "diverged" not in err and "warning" not in err
    manifest = json.loads((tmp_path / "out" / "tiny" / "manifest.json").read_text())
    assert manifest["cache_hits"] == {"train_seed_0": False}
    assert pipeline._load_trained(key, config, dataset, 0) is not None  # replaced


def test_regression_unwritable_cache_is_a_warning(tiny_trained, tmp_path, monkeypatch, capsys):
    # A cache folder that could not be written (here: a file) was fatal.
    cache = tmp_path / "cache-is-a-file"
    cache.write_text("x")
    monkeypatch.setenv("SIGREPORT_CACHE", str(cache))
    status, err = _main_with(tiny_trained[2], tiny_args("--out", str(tmp_path / "out")),
                             monkeypatch, capsys)
    assert status == 0, err
    assert [line for line in err.splitlines() if "warning" in line] == [
        f"warning: cache folder {cache}: exists and is not a folder; running without the cache"]
    assert (tmp_path / "out" / "tiny" / "index.html").is_file()
    assert cache.read_text() == "x"


@pytest.mark.parametrize("had_bokeh", [False, True])
def test_regression_a_failed_write_leaves_no_bokehjs_behind(tmp_path, monkeypatch, had_bokeh):
    out = tmp_path / "out"
    if had_bokeh:
        (out / "_bokeh").mkdir(parents=True)
        (out / "_bokeh" / "bokeh-0.0.min.js").write_text("an older version")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))

    def disk_full(dest, _files):
        raise OSError(errno.ENOSPC, "No space left on device", str(dest / "index.html"))

    monkeypatch.setattr(pipeline, "write_folder_atomic", disk_full)
    with pytest.raises(OSError, match="No space left"):
        pipeline.write_report(out, out / "x", {"index.html": "x"}, standalone=False)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_regression_a_substituted_cache_entry_is_trained_again_with_a_note(
        tiny_trained, tmp_path, monkeypatch):
    # Weights cast to int8 (right shapes, finite) gave exit 0, cache_hits true and test
    # accuracy 0.50 instead of 0.60.
    config, dataset, trained = tiny_trained
    monkeypatch.setenv("SIGREPORT_CACHE", str(tmp_path / "cache"))
    key = pipeline._train_key(config, dataset, 0)
    save_cached("train", key, trained.to_arrays(), {"seed": 0})
    path = cache_root() / "stages" / "train" / f"{key}.npz"
    with np.load(path) as npz:
        entries = {k: npz[k] for k in npz.files}
    cast = {k: (v.astype(np.int8) if v.dtype.kind == "f" and not k.startswith("__") else v)
            for k, v in entries.items()}
    with path.open("wb") as fh:
        np.savez(fh, **cast)
    trainings = []
    monkeypatch.setattr(sigreport.train, "fit_model",
                        lambda *_a, **_k: trainings.append(1) or trained)
    lines: list[str] = []
    result, hit = pipeline._train_cached(config, dataset, (0,), False, False, [], lines.append)[0]
    assert not hit and trainings == [1]
    assert lines == [f"warning: cache entry {path} does not match its content hash; not used; "
                     "training again"]
    assert result.params[0][0].dtype == trained.params[0][0].dtype
