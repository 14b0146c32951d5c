"""Sweeps: the grid and its checks at the door, the embedded cluster, a real Dask cluster."""

from __future__ import annotations

import json

import pytest
from conftest import TINY_OVERRIDES, run_cli
from sweep_fixtures import SWEEP_NAME, get_distributed_sweep, write_sweep

from sigreport.cli import main
from sigreport.config import load_config
from sigreport.errors import ConfigError
from sigreport.sweep import MAX_RUNS, list_sweep_presets, load_sweep

_SET = "\n".join(i for i in TINY_OVERRIDES if not i.startswith(("name", "title")))


# --- the grid ---------------------------------------------------------------------------------


def test_mnist_pairs_is_every_pair_probed_with_the_other_eight():
    sweep = load_sweep("mnist-pairs")
    assert len(sweep.runs) == 45
    pairs = {r.config.data.classes for r in sweep.runs}
    assert pairs == {(a, b) for a in range(10) for b in range(a + 1, 10)}
    for r in sweep.runs:
        assert sorted(r.config.data.probe_classes + r.config.data.classes) == list(range(10))
        assert r.config.seed == 0
        assert r.name == f"mnist-pairs-{r.config.data.classes[0]}-{r.config.data.classes[1]}"
    assert len({r.name for r in sweep.runs}) == 45


def test_every_shipped_sweep_loads_within_the_limit():
    names = list_sweep_presets()
    assert {"mnist-pairs", "mnist-1-3-7-seeds"} <= set(names)
    for name in names:
        assert 0 < len(load_sweep(name).runs) <= MAX_RUNS


def test_axes_cross_and_each_run_equals_its_experiment_file(tmp_path):
    base = write_sweep(tmp_path, 'name = "base-exp"\n[data]\nclasses = [2, 5]\n'
                       "probe_classes = [8]\nn_per_class = 100\n", "exp.toml")
    path = write_sweep(tmp_path, f"""
name = "grid"
base = "{base.name}"
seeds = [3, 4]
[set]
train.epochs = 2
[axes]
"model.hidden" = [[8], [16, 4]]
"train.learning_rate" = [0.001, 0.01, 0.1]
""")
    sweep = load_sweep(str(path))
    assert len(sweep.runs) == 2 * 3 * 2
    first = sweep.runs[0]
    assert first.name == "grid-hidden8-learning_rate0.001-s3"
    assert first.values == {"model.hidden": [8], "train.learning_rate": 0.001, "seed": 3}
    # The run is the base experiment with the sweep's keys set: what `run --set` would make.
    expected = load_config(str(base), ["train.epochs=2", "model.hidden=[8]",
                                       "train.learning_rate=0.001", "seed=3",
                                       f'name="{first.name}"',
                                       'title="grid: model.hidden = [8], '
                                       'train.learning_rate = 0.001, seed 3"'])
    assert first.config == expected
    assert {r.config.seed for r in sweep.runs} == {3, 4}


def test_probes_rest_are_the_sweeps_other_classes(tmp_path):
    path = write_sweep(tmp_path, 'pairs = [1, 3, 7]\nprobes = "rest"\n')
    sweep = load_sweep(str(path))
    got = {r.config.data.classes: r.config.data.probe_classes for r in sweep.runs}
    assert got == {(1, 3): (7,), (1, 7): (3,), (3, 7): (1,)}
    assert sweep.name == "sweep" and sweep.runs[0].name == "sweep-1-3"


# --- checks at the door ---------------------------------------------------------------------------

_BAD = [
    ("pairs = [1]\n", "zero runs", "pairs = [1]"),
    ('[axes]\n"model.hidden" = []\n', "zero runs", "model.hidden"),
    ("pairs = [0,1,2,3,4,5,6,7,8,9]\nseeds = [0, 1, 2]\n", f"135 runs, more than the limit of "
     f"{MAX_RUNS}; pass --force", ""),
    ("pair = [1, 7]\n", "unknown key 'pair' (did you mean 'pairs'?)", ""),
    ('[axes]\n"model.hiden" = [[8]]\n', "unknown key 'model.hiden' (did you mean "
     "'model.hidden'?)", "run "),
    ('pairs = [1, 3]\n[set]\ndata.probe_classes = [3]\n', "data.probe_classes = [3]: expected "
     "classes the network is not trained on", "run sweep"),
    ('probes = "others"\n', "probes = 'others': expected \"rest\"", ""),
    ("pairs = [1, 11]\n", "pairs = 11: expected an integer <= 9", ""),
    ('[axes]\n"train.epochs" = 3\n', "axes.train.epochs = 3: expected a list of values", ""),
    ('base = "mnist-1-9"\n', "unknown preset 'mnist-1-9'", ""),
    ('name = "../up"\n', "name = '../up': expected a folder name", ""),
]


@pytest.mark.parametrize(("text", "message", "also"), _BAD)
def test_bad_sweep_is_one_line_exit_2_nothing_written(tmp_path, capsys, text, message, also):
    path = write_sweep(tmp_path / "in", text)
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("sigreport: error: sweep ")
    assert message in err and also in err, err
    assert not out.exists()


def test_force_accepts_a_grid_over_the_limit(tmp_path):
    path = write_sweep(tmp_path, 'pairs = [0,1,2,3,4,5,6,7,8,9]\nseeds = [0, 1, 2]\n'
                       'probes = "rest"\n')
    with pytest.raises(ConfigError, match="pass --force"):
        load_sweep(str(path))
    assert len(load_sweep(str(path), force=True).runs) == 135


def test_cluster_options_are_checked_before_any_work(tmp_path, capsys, monkeypatch):
    import sigreport.sweep

    path = write_sweep(tmp_path, "pairs = [1, 7]\n")
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out), "--workers", "0"]) == 2
    assert "--workers 0: expected an integer >= 1" in capsys.readouterr().err
    monkeypatch.setattr(sigreport.sweep, "CONNECT_TIMEOUT_S", 1)
    assert main(["sweep", str(path), "--out", str(out), "--scheduler", "tcp://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--scheduler 'tcp://127.0.0.1:9': no Dask scheduler" in err
    assert not (out / "sweep-1-7").exists() and not (out / "_sweeps").exists()


# --- the embedded cluster: a failing run among good ones, then resume -----------------------------


@pytest.mark.slow
def test_embedded_cluster_reports_a_failing_run_and_resumes_without_work(tmp_path):
    # Plain SGD at a learning rate of 1e5 diverges: that run fails, the two others must not.
    grid = f"""
name = "lr"
[set]
{_SET}
train.optimizer = "sgd"
[axes]
"train.learning_rate" = [0.01, 0.02, 100000.0]
"""
    out = tmp_path / "out"
    path = write_sweep(tmp_path, grid)
    proc = run_cli("sweep", str(path), "--out", str(out), "--workers", "2")
    assert proc.returncode == 1, proc.stderr
    assert "3 runs: 2 done, 0 already finished, 1 failed" in proc.stdout
    failed = [line for line in proc.stderr.splitlines() if line.startswith("failed")]
    assert len(failed) == 1 and "lr-learning_rate100000.0" in failed[0], proc.stderr
    assert "diverged" in failed[0] and "Traceback" not in proc.stderr
    assert not (out / "lr-learning_rate100000.0").exists()
    good = [out / "lr-learning_rate0.01", out / "lr-learning_rate0.02"]
    for folder in good:
        assert {p.name for p in folder.iterdir()} >= {"index.html", "metrics.json",
                                                      "manifest.json", "config.toml"}
    index = json.loads((out / "_sweeps" / "lr.json").read_text())
    assert [r["name"] for r in index["runs"]] == ["lr-learning_rate0.01", "lr-learning_rate0.02",
                                                  "lr-learning_rate100000.0"]
    assert "diverged" in index["failed"]["lr-learning_rate100000.0"]

    # The same grid without the failing value: both runs are finished, nothing runs.
    before = {f: (f / "metrics.json").stat().st_mtime_ns for f in good}
    write_sweep(tmp_path, grid.replace(", 100000.0", ""))
    again = run_cli("sweep", str(path), "--out", str(out), "--workers", "2")
    assert again.returncode == 0, again.stderr
    assert "2 runs: 0 done, 2 already finished, 0 failed" in again.stdout
    assert {f: (f / "metrics.json").stat().st_mtime_ns for f in good} == before


# --- a real cluster: scheduler and two workers, one killed mid-task ------------------------------


@pytest.fixture(scope="module")
def distributed_sweep(tmp_path_factory):
    return get_distributed_sweep(tmp_path_factory)


@pytest.mark.slow
def test_sweep_survives_a_worker_killed_mid_task(distributed_sweep):
    s = distributed_sweep
    assert s.returncode == 0, s.stderr
    assert s.killed_while_running is not None, "the worker was killed after its run finished"
    assert "4 runs: 4 done, 0 already finished, 0 failed" in s.stdout
    names = [f"{SWEEP_NAME}-{a}-7-s{seed}" for a in (1, 3) for seed in (0, 1)]
    assert sorted(p.name for p in s.out.iterdir() if not p.name.startswith(("_", "."))) == names
    for name in names:
        assert (s.out / name / "index.html").is_file()
    assert s.killed_while_running in names


@pytest.mark.slow
def test_each_sweep_run_equals_the_same_run_made_alone(distributed_sweep, tmp_path, monkeypatch):
    from sigreport.pipeline import run

    # A cache of its own: the runs alone train again, in this process.
    monkeypatch.setenv("SIGREPORT_CACHE", str(tmp_path / "cache"))
    folders = sorted(p for p in distributed_sweep.out.iterdir() if p.name.startswith(SWEEP_NAME))
    assert len(folders) == 4
    for folder in folders:
        alone = run(load_config(str(folder / "config.toml")), out=tmp_path / "alone")
        assert not any(alone.manifest["cache_hits"].values())
        assert (alone.folder / "metrics.json").read_bytes() == \
            (folder / "metrics.json").read_bytes(), folder.name


def test_sweep_presets_are_listed(capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    assert "mnist-pairs" in out and "sweep of 45 runs" in out


def test_sweep_help_names_the_limit(capsys):
    with pytest.raises(SystemExit):
        main(["sweep", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert f"run a grid of more than {MAX_RUNS} runs" in out and "--scheduler ADDRESS" in out


def test_a_seed_axis_replaces_the_seeds_of_its_base(tmp_path):
    base = write_sweep(tmp_path, "seeds = [0, 1]\n", "several.toml")
    path = write_sweep(tmp_path, f'base = "{base.name}"\nseeds = [2, 3]\n')
    assert [run.config.all_seeds for run in load_sweep(str(path)).runs] == [(2,), (3,)]
    both = write_sweep(tmp_path, 'seeds = [2, 3]\n[set]\nseeds = [0, 1]\n', "both.toml")
    with pytest.raises(ConfigError, match=r"seeds = \[2, 3\]: expected either seeds or a seed"):
        load_sweep(str(both))


@pytest.mark.parametrize("text", [
    'base = "mnist-1-7"\n[set]\nv = ' + "[" * 500 + "]" * 500,
    'base = "mnist-1-7"\n[axes]\n"model.hidden" = ' + "[" * 300 + "]" * 300,
    'base = "mnist-1-7"\n[set]\n' + "a" + ".a" * 2000 + " = 1",
])
def test_regression_deeply_nested_sweep_file_is_one_line(tmp_path, text):
    # A RecursionError traceback of thousands of lines.
    path = tmp_path / "deep.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as refused:
        load_sweep(str(path))
    assert str(refused.value) == (f"sweep {str(path)!r}: tables and arrays nested more than 32 "
                                  "levels deep; expected at most 32")


# --- Ctrl-C and an unreachable scheduler ------------------------------------------------------


def test_regression_a_ctrl_c_that_lands_in_a_gc_callback_still_stops_the_sweep():
    # A SIGINT arriving while Dask's garbage-collector callback ran raised KeyboardInterrupt
    # there; Python printed and dropped it, and the sweep ran to its end with status 0.
    import gc
    import os
    import signal

    from sigreport.sweep import _ctrl_c_as_flag

    def ctrl_c_in_callback(phase, _info):
        if phase == "start":
            os.kill(os.getpid(), signal.SIGINT)

    # As at a terminal, even where this test process was started with SIGINT ignored.
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with _ctrl_c_as_flag() as asked:
            gc.callbacks.append(ctrl_c_in_callback)
            try:
                gc.collect()
            finally:
                gc.callbacks.remove(ctrl_c_in_callback)
            assert asked == [signal.SIGINT]   # kept for the loop that waits on the runs
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, before)


@pytest.mark.slow
def test_regression_ctrl_c_of_a_sweep_is_one_line_and_the_cluster_goes_quietly(tmp_path):
    # Ctrl-C printed 67 lines of worker tracebacks before the promised line, and one
    # embedded-cluster shutdown a 28-line heartbeat traceback.
    import os
    import signal
    import subprocess
    import sys
    import time

    grid = f'name = "ctl"\nseeds = [0, 1, 2, 3]\n[set]\n{_SET}\n'
    path = write_sweep(tmp_path, grid)
    out = tmp_path / "out"
    env = dict(os.environ, SIGREPORT_CACHE=str(tmp_path / "cache"))
    # `python -m sigreport`, with a terminal's SIGINT even where this process ignores it
    sigreport = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
                 "from sigreport.cli import main; sys.exit(main())")
    proc = subprocess.Popen([sys.executable, "-c", sigreport, "sweep", str(path), "--out",
                             str(out), "--workers", "2"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        # Once a first run is written, the workers are busy with the others.
        while not list(out.glob("ctl-*/index.html")) and proc.poll() is None:
            assert time.monotonic() < deadline, "no run finished"
            time.sleep(0.2)
        assert proc.poll() is None, proc.communicate()
        os.killpg(proc.pid, signal.SIGINT)   # what Ctrl-C at a terminal does: the whole group
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    assert err.splitlines() == [
        "sigreport: interrupted; finished runs are kept; the same command resumes"], err
    deadline = time.monotonic() + 30
    while True:   # every worker process is gone with the client
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        assert time.monotonic() < deadline, "worker processes outlived the sweep"
        time.sleep(0.2)
    assert (out / "_sweeps" / "ctl.log").is_file()


def test_regression_an_unreachable_scheduler_leaves_no_out_folder(tmp_path, capsys,
                                                                  monkeypatch):
    import sigreport.sweep

    path = write_sweep(tmp_path, "pairs = [1, 7]\n")
    out = tmp_path / "new" / "deeper" / "out"
    monkeypatch.setattr(sigreport.sweep, "CONNECT_TIMEOUT_S", 1)
    assert main(["sweep", str(path), "--out", str(out), "--scheduler", "tcp://127.0.0.1:9"]) == 2
    assert "no Dask scheduler" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sweep.toml"]
