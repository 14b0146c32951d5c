"""The command line as a user meets it: outputs of a run, one-line errors, exit status 2."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from conftest import one_error_line, run_cli, tiny_args

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
    # Regressions: a run named like a site page replaced it; a newline in --set dropped the rest.
    (["run", "--set", 'name="index"'], "name = 'index': expected a name that is not one of"),
    (["run", "--set", 'name="README"'], "name = 'README'"),
    (["run", "--set", 'train.epochs=3\nname="other"'], "expected KEY=VALUE on one line"),
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


def test_bad_count_is_answered_before_jax_or_the_images_load(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from sigreport.cli import main\n"
        "from sigreport.data import sources\n"
        f"status = main(['run', '--set', 'data.n_per_class=7000', '--out', {str(tmp_path)!r}])\n"
        "print(status, 'jax' in sys.modules, sources._read_folder.cache_info().currsize)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False, timeout=120)
    assert proc.stdout.split() == ["2", "False", "0"], proc.stdout + proc.stderr
    assert proc.stderr.strip() == ("sigreport: error: data.n_per_class = 7000: expected at most "
                                   "6742, the number of train images of class 1")


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
    assert names == ["fashion-cnn", "mnist-1-3-7", "mnist-1-7", "mnist-cnn", "mnist-open-set",
                     "original-2021",
                     "original-2021-sigreport",
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
    # Peak memory and the estimate, stage by stage.
    assert set(manifest["peak_rss_mb"]) == set(manifest["timings_s"]) == set(manifest["estimate_s"])
    assert all(mb > 0 for mb in manifest["peak_rss_mb"].values())
    assert manifest["peak_rss_method"]
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
    # Standard error is not a terminal here: stage lines only, no progress display.
    assert "\x1b[" not in proc.stderr and "signatures" in proc.stderr
    first = (tiny_run / "tiny" / "metrics.json").read_text()
    second = (tmp_path / "tiny" / "metrics.json").read_text()
    assert first == second


# --- the output location and the machine: checked first, then one line --------------------


def _tree(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` with its content (None for folders), for before/after."""
    return {str(p.relative_to(root)): None if p.is_dir() else p.read_bytes()
            for p in sorted(root.rglob("*"))}


def _unprivileged(args: list[str]) -> list[str]:
    """``args`` run without root's power to write anywhere (permission bits then apply)."""
    if os.geteuid() != 0:
        return args
    if not shutil.which("capsh"):
        pytest.skip("running as root without capsh: permission bits cannot be tested")
    return ["capsh", "--drop=cap_dac_override,cap_dac_read_search", "--", "-c", shlex.join(args)]


def _file(tmp: Path) -> Path:
    (tmp / "a-file").write_text("not a folder")
    return tmp / "a-file"


def _bokeh_is_a_file(tmp: Path) -> Path:
    (tmp / "out").mkdir()
    (tmp / "out" / "_bokeh").write_text("not a folder")
    return tmp / "out"


def _name_too_long(tmp: Path) -> Path:
    return tmp / ("x" * 300) / "reports"


def _read_only(tmp: Path) -> Path:
    (tmp / "ro").mkdir()
    (tmp / "ro").chmod(0o555)
    return tmp / "ro" / "reports"


PREFLIGHT = {
    "a file": (_file, "exists and is not a folder"),
    "_bokeh is a file": (_bokeh_is_a_file, "_bokeh exists and is not a folder"),
    "a name over the limit": (_name_too_long, "a name in the path is 300 bytes long"),
    "a read-only folder": (_read_only, "cannot create anything in"),
}


@pytest.mark.parametrize("case", PREFLIGHT)
def test_regression_output_location_is_checked_before_any_work(tmp_path: Path, case: str) -> None:
    # Each of these ended with a traceback after the whole training run.
    make, needle = PREFLIGHT[case]
    work = tmp_path / "work"
    work.mkdir()
    out = make(work)
    before = _tree(work)
    cache = tmp_path / "cache"
    env = dict(os.environ, SIGREPORT_CACHE=str(cache))
    args = [sys.executable, "-m", "sigreport", *tiny_args("--out", str(out))]
    proc = subprocess.run(_unprivileged(args), env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    line = one_error_line(proc, needle)
    assert line.startswith(f"sigreport: error: output folder {out}")
    assert _tree(work) == before
    assert not cache.exists()  # no training started, nothing cached


def test_regression_control_characters_in_a_path_are_escaped(tmp_path: Path) -> None:
    out = tmp_path / "evil\x1b[2J\nname"
    out.write_text("a file")
    proc = run_cli(*tiny_args("--out", str(out)))
    line = one_error_line(proc, "evil\\x1b[2J\\nname: exists and is not a folder")
    assert "\x1b" not in proc.stderr and line.endswith("name: exists and is not a folder")


def test_regression_late_os_error_is_one_line_and_keeps_the_earlier_report(
        tiny_run: Path, tmp_path: Path) -> None:
    """A disk that fills up while the report is written (here: a file size limit)."""
    out = tmp_path / "out"
    shutil.copytree(tiny_run, out)
    before = _tree(out)
    limit = 200_000
    assert (out / "tiny" / "index.html").stat().st_size > limit

    limited = ("import resource, runpy, sys; "
               f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit})); "
               "sys.argv[0] = 'sigreport'; runpy.run_module('sigreport', run_name='__main__')")
    proc = subprocess.run([sys.executable, "-c", limited, *tiny_args("--out", str(out))],
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last == f"sigreport: error: {out / 'tiny' / 'index.html'}: File too large"
    assert _tree(out) == before  # the earlier report as it was, nothing left beside it


def test_regression_bokehjs_is_readable_like_any_other_file(tiny_run: Path) -> None:
    # mkstemp made the vendored BokehJS 0600: a web server running as another user got 403.
    umask = os.umask(0o022)
    os.umask(umask)
    files = [*(tiny_run / "_bokeh").iterdir(), *(tiny_run / "tiny").iterdir()]
    assert len(files) > 5
    assert {f.name: f.stat().st_mode & 0o777 for f in files} == {
        f.name: 0o666 & ~umask for f in files}
