"""Shared fixtures: an isolated cache, and one small end-to-end run reused by several tests."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
import typeguard

from sigreport.analysis.types import Metrics

# A run small enough for the test suite: real data, real training, a few seconds.
TINY_OVERRIDES = (
    'name="tiny"',
    'title="Tiny <b>1 vs 7</b> & \'quotes\'"',
    "data.n_per_class=150",
    "data.n_test_per_class=60",
    "model.hidden=[16, 8]",
    "train.epochs=3",
    "train.batch_size=32",
    "seeds=[]",           # one network (seed 0); tests/test_spread.py trains several
)


def tiny_args(*extra: str) -> list[str]:
    """CLI arguments of the tiny run: ``run mnist-1-7 --set ...`` plus ``extra``."""
    args = ["run", "mnist-1-7"]
    for item in TINY_OVERRIDES:
        args += ["--set", item]
    return args + list(extra)


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None,
            timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``python -m sigreport ARGS`` in a subprocess, as a user would."""
    return subprocess.run([sys.executable, "-m", "sigreport", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def check_metrics(metrics: dict) -> None:
    """``metrics`` follows metrics.schema.json and, value for value, the types the report
    reads it through (``sigreport.analysis.types.Metrics``)."""
    schema = json.loads((resources.files("sigreport") / "metrics.schema.json").read_text("utf-8"))
    jsonschema.Draft202012Validator(schema).validate(metrics)
    typeguard.check_type(metrics, Metrics,
                         collection_check_strategy=typeguard.CollectionCheckStrategy.ALL_ITEMS)


def one_error_line(proc: subprocess.CompletedProcess, needle: str) -> str:
    """The CLI failed as it should on bad input: exit status 2, no traceback, and one
    line on stderr, ``sigreport: error: ...``, holding ``needle``. Returns that line."""
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("sigreport: error: ") and needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="session", autouse=True)
def _session_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The session's private cache folder, set for the whole session before any other
    session fixture runs (a fixture's sweep or run otherwise writes to the user's cache:
    trained networks, compiled code and this machine's record of run times)."""
    cache = str(tmp_path_factory.getbasetemp() / "cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SIGREPORT_CACHE", cache)
        yield cache


@pytest.fixture(autouse=True)
def _isolated_cache(_session_cache: str, monkeypatch: pytest.MonkeyPatch):
    """Every test gets the session's private cache, never the user's, whatever an
    earlier test did to the environment."""
    monkeypatch.setenv("SIGREPORT_CACHE", _session_cache)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The out folder of one tiny ``sigreport run`` in site mode (report in ``<out>/tiny/``)."""
    out = tmp_path_factory.mktemp("reports")
    proc = run_cli(*tiny_args("--out", str(out)))
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope="session")
def tiny_standalone_run(tmp_path_factory: pytest.TempPathFactory, tiny_run: Path) -> Path:
    """The out folder of the same tiny run with ``--standalone`` (training comes from the cache)."""
    out = tmp_path_factory.mktemp("standalone")
    proc = run_cli(*tiny_args("--out", str(out), "--standalone"))
    assert proc.returncode == 0, proc.stderr
    return out


@dataclasses.dataclass(frozen=True)
class Stages:
    """The tiny run's stage outputs in memory, for tests that call ``render_report`` directly:
    the same config, data, trained network (from the run's cache), activations,
    signatures and figures' arrays as ``tiny_run``, with the metrics and manifest it wrote."""

    metrics: dict
    manifest: dict
    dataset: object
    acts: object
    sigs: object
    arrays: object
    config: object


@pytest.fixture(scope="session")
def tiny_stages(tiny_run: Path) -> Stages:
    import json

    from sigreport.config import load_config
    from sigreport.pipeline import measure

    # the network tiny_run trained, from the session's cache
    m = measure(load_config("mnist-1-7", TINY_OVERRIDES))
    assert m.manifest["cache_hits"] == {"train_seed_0": True}
    folder = tiny_run / "tiny"
    # The numbers as the run wrote them (what its pages show), the arrays as measured again.
    return Stages(json.loads((folder / "metrics.json").read_text("utf-8")),
                  json.loads((folder / "manifest.json").read_text("utf-8")),
                  m.dataset, m.acts, m.sigs, m.arrays, m.config)
