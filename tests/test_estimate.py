"""The time estimate grows with what a run does: images, epochs, widths, seeds, snapshots."""

from __future__ import annotations

import pytest

from sigreport.config import load_config
from sigreport.estimate import STAGES, estimate_seconds, run_size
from sigreport.train import snapshot_epochs


def _estimate(*overrides: str, n_train: int = 10000) -> dict[str, float]:
    config = load_config("mnist-1-7", list(overrides))
    return estimate_seconds(run_size(config, n_train, 2163, 1010, snapshot_epochs(config.train)))


def test_every_stage_is_estimated() -> None:
    estimate = _estimate()
    assert list(estimate) == list(STAGES)
    assert all(seconds >= 0 for seconds in estimate.values())
    assert sum(estimate.values()) > 0


@pytest.mark.parametrize(("overrides", "n_train"), [
    ((), 40000),
    (("train.epochs=40",), 10000),
    (("model.hidden=[256, 128, 64]",), 10000),
    (("model.hidden=[64, 32, 16, 16, 16]",), 10000),
    (("seeds=[0, 1, 2, 3, 4]",), 10000),
])
def test_more_work_never_takes_less(overrides: tuple[str, ...], n_train: int) -> None:
    base = _estimate()
    bigger = _estimate(*overrides, n_train=n_train)
    assert all(bigger[stage] >= base[stage] for stage in STAGES)
    assert sum(bigger.values()) > sum(base.values())


def _memory(*overrides: str, n_train: int = 10000) -> float:
    from sigreport.estimate import estimate_bytes

    config = load_config("mnist-1-7", list(overrides))
    return sum(estimate_bytes(run_size(config, n_train, 2163, 1010,
                                       snapshot_epochs(config.train))).values())


def test_the_memory_estimate_grows_with_the_network_and_the_data():
    assert _memory("model.hidden=[128, 64]") > _memory("model.hidden=[64, 32]")
    assert _memory(n_train=20000) > _memory(n_train=10000)
    assert _memory("seeds=[0, 1, 2, 3, 4]") > _memory()
    assert _memory("model.hidden=[65536, 65536, 65536]") > 100e9


def test_regression_a_run_larger_than_the_memory_is_refused_before_training(tmp_path):
    # model.hidden = [65536, 65536, 65536] ended in a 30-line RESOURCE_EXHAUSTED traceback.
    from conftest import run_cli, tiny_args

    proc = run_cli(*tiny_args("--set", "model.hidden=[65536, 65536, 65536]", "--out", "out"),
                   cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    # the progress lines of the data stage and the estimate, then the one error line
    lines = proc.stderr.strip().splitlines()
    assert [x.split()[0] for x in lines[:-1]] == ["data", "estimate"], lines
    line = lines[-1]
    assert line.startswith("sigreport: error: the run needs an estimated"), line
    assert "GB of memory (data" in line and "SIGREPORT_MEMORY_LIMIT_GB=GB" in line
    assert not (tmp_path / "out").exists()


def test_the_memory_limit_variable_refuses_and_allows(tmp_path, monkeypatch):
    from conftest import TINY_OVERRIDES

    import sigreport.train
    from sigreport.errors import ConfigError
    from sigreport.estimate import MEMORY_LIMIT_ENV
    from sigreport.pipeline import measure

    monkeypatch.setenv("SIGREPORT_CACHE", str(tmp_path / "cache"))

    def no_training(*_a, **_k):
        raise AssertionError("training started")

    monkeypatch.setattr(sigreport.train, "fit_model", no_training)
    config = load_config("mnist-1-7", list(TINY_OVERRIDES))
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "0.05")
    lines: list[str] = []
    with pytest.raises(ConfigError, match=r"more than 0\.1 GB \(SIGREPORT_MEMORY_LIMIT_GB\)"):
        measure(config, log=lines.append)
    estimate = [line for line in lines if line.startswith("estimate")]
    assert len(estimate) == 1 and " GB peak memory" in estimate[0]
    # Set high, or to 0 (no check), it lets the run through to training (here: the patched one).
    for value in ("100000", "0"):
        monkeypatch.setenv(MEMORY_LIMIT_ENV, value)
        with pytest.raises(AssertionError, match="training started"):
            measure(config)
    for bad in ("-1", "lots", "nan", "inf"):
        monkeypatch.setenv(MEMORY_LIMIT_ENV, bad)
        with pytest.raises(ConfigError, match=r"SIGREPORT_MEMORY_LIMIT_GB=.*expected a number"):
            measure(config)


def test_the_default_run_is_not_refused_on_this_machine():
    from sigreport.estimate import available_bytes

    available = available_bytes()
    assert available is not None and _memory(n_train=10000) < available


def test_the_estimate_counts_the_data_image_size_and_a_cnns_convolutions():
    """Not 784 inputs whatever the data: the image's own H x W x C, and for a CNN the 3x3
    convolutions at each block's resolution beside its dense layers."""
    from sigreport.estimate import estimate_bytes

    config = load_config("mnist-1-7", [])
    grey = run_size(config, 10000, 2163, 1010, snapshot_epochs(config.train))
    colour = run_size(config, 10000, 2163, 1010, snapshot_epochs(config.train), (32, 32, 3))
    assert grey.sizes == (784, 64, 32, 16, 2) and colour.sizes[0] == 3072
    assert grey.weights == 784 * 64 + 64 * 32 + 32 * 16 + 16 * 2
    assert sum(estimate_bytes(colour).values()) > sum(estimate_bytes(grey).values())
    cnn = load_config("mnist-1-7", ['model.kind="cnn"', "model.conv=[8, 16]", "model.hidden=[32]"])
    size = run_size(cnn, 10000, 2163, 1010, snapshot_epochs(cnn.train))
    assert size.sizes == (784, 8, 16, 32, 2)
    convs = 28 * 28 * 9 * 1 * 8 + 14 * 14 * 9 * 8 * 16
    assert size.weights == convs + 7 * 7 * 16 * 32 + 32 * 2
    # The parameters the trainer builds (its own shapes, not a second count).
    from math import prod

    from sigreport.model import architecture, param_shapes

    shapes = param_shapes(architecture("cnn", (28, 28, 1), (8, 16), (32,), 2))
    assert size.parameters == sum(prod(w) + prod(b) for w, b in shapes)


def test_this_machines_runs_scale_the_next_estimate(tmp_path, monkeypatch):
    from sigreport.estimate import machine_scale, record_run

    monkeypatch.setenv("SIGREPORT_CACHE", str(tmp_path / "cache"))
    est = {"train": 2.0, "analysis": 4.0}
    assert machine_scale(est, "mlp", 4) == ({}, 0, 0)
    record_run(est, {"train": 3.0, "analysis": 2.0, "data": 1.0}, cores=4)
    scale, used, runs = machine_scale(est, "mlp", 4)
    # data: never estimated
    assert (used, runs) == (1, 1) and scale == {"train": 1.5, "analysis": 0.5}
    # A stage in skip is left as it was; the others take the median of their runs' ratios.
    record_run(est, {"train": 100.0, "analysis": 4.0}, skip=("train",), cores=4)
    record_run(est, {"train": 2.0, "analysis": 3.0}, cores=4)
    scale, used, runs = machine_scale(est, "mlp", 4)
    assert (used, runs) == (3, 3) and scale == {"train": 1.25, "analysis": 0.75}
    # One run far off the others (a busy machine, another kind of work) moves the median
    # by one place, not the scale by its size.
    record_run({"train": 2.0}, {"train": 2000.0}, cores=4)
    assert machine_scale(est, "mlp", 4)[0]["train"] == 1.5
    assert machine_scale(est, "mlp", 2) == ({}, 0, 0)  # per core count
    assert machine_scale(est, "cnn", 4) == ({}, 0, 0)  # and per network family


def test_the_scale_comes_from_the_runs_nearest_in_size(tmp_path, monkeypatch):
    """Small runs (a sweep's) pay fixed costs the constants underestimate, big runs do not:
    each run is scaled by the recorded runs most like it, whichever were the latest."""
    from sigreport.estimate import KEPT_RUNS, RECENT_RUNS, machine_scale, record_run

    monkeypatch.setenv("SIGREPORT_CACHE", str(tmp_path / "cache"))
    for _ in range(RECENT_RUNS):
        record_run({"analysis": 5.0}, {"analysis": 6.0}, cores=4)  # the default's size
    for _ in range(RECENT_RUNS):
        record_run({"analysis": 0.1}, {"analysis": 4.0}, cores=4)  # a sweep's, the latest
    assert machine_scale({"analysis": 5.0}, "mlp", 4)[0] == {"analysis": 1.2}
    assert machine_scale({"analysis": 0.12}, "mlp", 4)[0] == {"analysis": 40.0}
    assert machine_scale({"analysis": 0.0}, "mlp", 4)[0] == {}  # nothing to scale
    # Only the latest KEPT_RUNS are kept to choose from.
    for _ in range(KEPT_RUNS):
        record_run({"analysis": 0.1}, {"analysis": 4.0}, cores=4)
    scale, used, runs = machine_scale({"analysis": 0.1}, "mlp", 4)
    assert scale == {"analysis": 40.0}
    assert (used, runs) == (RECENT_RUNS, 2 * RECENT_RUNS + KEPT_RUNS)


def test_runs_far_from_this_one_in_size_do_not_scale_it(tmp_path, monkeypatch):
    """A run 50x bigger than every recorded one keeps its unscaled estimate rather than
    take the small runs' fixed costs (which made a default run's estimate 271 s for 24 s)."""
    from sigreport.estimate import NEAR_FACTOR, RECENT_RUNS, machine_scale, record_run

    monkeypatch.setenv("SIGREPORT_CACHE", str(tmp_path / "cache"))
    for _ in range(45):  # a sweep of small runs
        record_run({"analysis": 0.1, "train": 0.5}, {"analysis": 4.0, "train": 0.6}, cores=4)
    assert machine_scale({"analysis": 5.0, "train": 1.0}, "mlp", 4) == (
        {"train": 1.2}, RECENT_RUNS, 45)
    record_run({"analysis": 5.0}, {"analysis": 6.0}, cores=4)  # one run of this size
    assert machine_scale({"analysis": 5.0}, "mlp", 4) == ({"analysis": 1.2}, 1, 46)
    # Within the factor (both ways) a run counts; just beyond, it does not.
    assert machine_scale({"analysis": 0.1 * NEAR_FACTOR * 0.99}, "mlp", 4)[0] == {"analysis": 40.0}
    assert machine_scale({"analysis": 5.0 / NEAR_FACTOR / 0.99}, "mlp", 4)[0] == {"analysis": 1.2}
    assert machine_scale({"analysis": 0.1 * NEAR_FACTOR * 1.01}, "mlp", 4)[0] == {}


def test_a_broken_or_older_record_scales_nothing(tmp_path, monkeypatch):
    from sigreport.estimate import machine_scale

    monkeypatch.setenv("SIGREPORT_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "cache" / "estimate" / "4-cores-mlp.json"
    path.parent.mkdir(parents=True)
    for broken in ("{not json", '{"runs": 3, "pairs": {"train": [[1.0, -2.0]]}}',
                   '{"runs": 3, "pairs": {"train": [[0.0, 2.0]]}}',
                   '{"runs": 3, "ratios": {"train": [1.0, 2.0]}}',  # older records
                   '{"runs": 3, "stages": {"train": [3.0, 2.0]}}'):
        path.write_text(broken, "utf-8")
        assert machine_scale({"train": 1.0}, "mlp", 4) == ({}, 0, 0), broken


def test_each_network_family_keeps_its_own_record():
    from sigreport.config import load_config
    from sigreport.estimate import network_family

    assert network_family(load_config("mnist-1-7")) == "mlp"
    assert network_family(load_config("mnist-1-7", ['model.kind="cnn"',
                                                     "model.conv=[8]"])) == "cnn"
    assert network_family(load_config("mnist-1-7", ['model.source="onnx"',
                                                     'model.path="net.onnx"'])) == "onnx"


def test_a_run_records_its_times_and_the_next_says_so(tmp_path):
    import json
    import os

    from conftest import run_cli, tiny_args

    env = dict(os.environ, SIGREPORT_CACHE=str(tmp_path / "cache"))
    first = run_cli(*tiny_args("--out", str(tmp_path / "out")), env=env)
    assert first.returncode == 0, first.stderr
    assert "calibrated on a 2-core machine" in first.stderr + first.stdout
    path = tmp_path / "cache" / "estimate" / f"{os.cpu_count()}-cores-mlp.json"
    record = json.loads(path.read_text("utf-8"))
    assert record["runs"] == 1 and set(record["pairs"]) >= {"train", "analysis", "report"}
    second = run_cli(*tiny_args("--out", str(tmp_path / "out")), env=env)
    assert second.returncode == 0, second.stderr
    assert (f"scaled to this {os.cpu_count()}-core machine by its mlp runs nearest in size "
            "(1 of 1 recorded)"
            in second.stderr + second.stdout)
    again = json.loads(path.read_text("utf-8"))
    # The second run's training came from the cache: its time is not recorded.
    assert again["runs"] == 2 and again["pairs"]["train"] == record["pairs"]["train"]
    assert len(again["pairs"]["analysis"]) == 2
