"""The pipeline's promises: cached training, atomic output, nothing written on failure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_OVERRIDES, run_cli, tiny_args

import sigreport.report
import sigreport.train
from sigreport.config import load_config
from sigreport.pipeline import run


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
    import sigreport.pipeline as pipeline
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
