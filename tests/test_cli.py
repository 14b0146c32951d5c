"""The command line as a user meets it: outputs of a run, one-line errors, exit status 2."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from conftest import run_cli, tiny_args

from sigreport.config import load_config

BAD_INPUTS = [
    (["run", "--set", "trian.epochs=3"], "did you mean 'train.epochs'"),
    (["run", "--set", "train.epochs=0"], "train.epochs = 0"),
    (["run", "--set", "data.classes=[1,1]"], "data.classes"),
    (["run", "--set", "data.classes=[1]"], "at least two classes"),
    (["run", "--set", "data.classes=[1,12]"], "data.classes"),
    (["run", "--set", "data.probe_classes=[7]"], "overlaps data.classes"),
    (["run", "--set", "data.n_per_class=7000"], "data.n_per_class = 7000"),
    (["run", "--set", 'name="../escape"'], "name = '../escape'"),
    (["run", "--set", "train.learning_rate=fast"], "not a TOML value"),
    (["run", "no-such-preset"], "unknown preset 'no-such-preset'"),
    (["run", "missing.toml"], "config file 'missing.toml' does not exist"),
    (["run", "--bogus"], "unrecognized arguments"),
]


@pytest.mark.parametrize(("args", "needle"), BAD_INPUTS)
def test_bad_input_is_one_line_exit_2_nothing_written(tmp_path: Path, args: list[str],
                                                      needle: str) -> None:
    out = tmp_path / "out"
    proc = run_cli(*args, "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert needle in lines[0]
    assert "Traceback" not in proc.stderr
    assert not out.exists()


def test_malformed_toml_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("name = \n[data\n")
    proc = run_cli("run", str(bad), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2
    assert "malformed TOML" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_datasets_and_presets_list() -> None:
    datasets = run_cli("datasets")
    assert datasets.returncode == 0
    assert datasets.stdout.splitlines()[0].split()[:2] == ["mnist", "yes"]
    presets = run_cli("presets")
    names = [line.split()[0] for line in presets.stdout.splitlines()]
    assert names == ["mnist-1-3-7", "mnist-1-7", "mnist-open-set", "original-2021",
                     "mnist-1-3-7-seeds", "mnist-pairs"]


def test_run_writes_the_four_files(tiny_run: Path) -> None:
    folder = tiny_run / "tiny"
    for name in ("index.html", "metrics.json", "manifest.json", "config.toml"):
        assert (folder / name).is_file(), name
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["experiment"]["classes"] == [1, 7]
    assert metrics["experiment"]["probe_classes"] == [3]
    assert [layer["name"] for layer in metrics["layers"]][0] == "input"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["data_sha256"] and len(manifest["data_sha256"]) == 64
    for key in ("python", "jax", "flax", "optax", "sklearn", "bokeh"):
        assert manifest["versions"][key]
    assert set(manifest["timings_s"]) >= {"data", "train", "activations", "signatures", "analysis"}
    assert manifest["config"]["data"]["n_per_class"] == 150
    # No temporary folders are left beside the report.
    assert [p.name for p in tiny_run.iterdir() if p.name.startswith(".")] == []


def test_config_toml_is_rerunnable_as_is(tiny_run: Path) -> None:
    text = (tiny_run / "tiny" / "config.toml").read_text()
    tomllib.loads(text)
    path = tiny_run / "tiny" / "config.toml"
    reloaded = load_config(str(path))
    assert reloaded == load_config("mnist-1-7", [a for a in tiny_args()[3::2]])


def test_metrics_are_deterministic(tiny_run: Path, tmp_path: Path) -> None:
    """A second run of the same config (training from the cache) measures the same numbers."""
    proc = run_cli(*tiny_args("--out", str(tmp_path)))
    assert proc.returncode == 0, proc.stderr
    first = (tiny_run / "tiny" / "metrics.json").read_text()
    second = (tmp_path / "tiny" / "metrics.json").read_text()
    assert first == second
