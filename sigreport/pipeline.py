"""One run, stage after stage: data -> train -> activations -> signatures -> analysis -> report.

Each stage is a function of plain values; this module only sequences them,
caches training, times every stage and writes the report folder atomically.
"""

from __future__ import annotations

import json
import platform
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from sigreport.activations import Activations, SplitActivations
from sigreport.config import Config, config_to_dict, config_to_toml
from sigreport.data import Dataset, load_raw, prepare_dataset
from sigreport.store import cache_key, load_cached, save_cached, write_folder_atomic

__all__ = ["DEFAULT_OUT", "BuiltRun", "RunResult", "build_run", "run"]

DEFAULT_OUT = Path("site/reports")
# Training samples a snapshot epoch is measured on (test and probe splits stay whole).
SNAPSHOT_TRAIN_CAP = 10000


@dataclass(frozen=True)
class BuiltRun:
    """A run's report folder as files (relative path -> content), not yet written."""

    files: dict[str, str | bytes]
    metrics: dict
    manifest: dict


@dataclass(frozen=True)
class RunResult:
    """Where a run wrote its report, and what it measured."""

    folder: Path
    metrics: dict
    manifest: dict


class _Timer:
    def __init__(self, log: Callable[[str], None]) -> None:
        self.timings: dict[str, float] = {}
        self._log = log

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        elapsed = time.perf_counter() - start
        self.timings[name] = self.timings.get(name, 0.0) + round(elapsed, 3)
        self._log(f"{name:<12} {elapsed:7.2f} s")


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for key, dist in (("sigreport", "sigreport"), ("jax", "jax"), ("jaxlib", "jaxlib"),
                      ("flax", "flax"), ("optax", "optax"), ("numpy", "numpy"),
                      ("sklearn", "scikit-learn"), ("bokeh", "bokeh"), ("jinja2", "jinja2"),
                      ("mkdocs", "mkdocs")):
        try:
            out[key] = version(dist)
        except PackageNotFoundError:
            out[key] = "not installed"
    return out


def _git_commit() -> str | None:
    """The commit of the source tree the package runs from, if it is a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        proc = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                              text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def _snapshot_view(acts: Activations, seed: int) -> Activations:
    """What a snapshot is measured on, small enough to hold several at once.

    Only the clustered layers (input, hidden post-activation, logits) are kept,
    and the train split is cut to a seeded subsample of ``SNAPSHOT_TRAIN_CAP``
    samples (the clusterings of a snapshot are fitted on it); test and probe
    splits stay whole.
    """
    keep = tuple(info for info in acts.layers if info.kind in ("input", "post", "logits"))
    names = {info.name for info in keep}

    def slim(split: SplitActivations, rows: np.ndarray | None = None) -> SplitActivations:
        pick = (lambda a: a) if rows is None else (lambda a: a[rows])
        return replace(split, layers={k: pick(v) for k, v in split.layers.items() if k in names},
                       y=pick(split.y), index=pick(split.index), predicted=pick(split.predicted))

    n_train = len(acts.train.y)
    rows = None
    if n_train > SNAPSHOT_TRAIN_CAP:
        rng = np.random.default_rng([seed, 0x5A1])
        rows = np.sort(rng.choice(n_train, size=SNAPSHOT_TRAIN_CAP, replace=False))
    return replace(acts, layers=keep, train=slim(acts.train, rows), test=slim(acts.test),
                   probe=slim(acts.probe))


def _train_cached(config: Config, dataset: Dataset, seed: int, force: bool, progress: bool):
    from sigreport.train import TrainResult, fit_model

    plain = config_to_dict(config)
    key = cache_key("train", data=plain["data"], model=plain["model"], train=plain["train"],
                    seed=seed, data_sha256=dataset.sha256)
    if not force:
        hit = load_cached("train", key)
        if hit is not None:
            return TrainResult.from_arrays(hit[0], seed=seed), True
    result = fit_model(dataset, config.model, config.train, seed, progress=progress)
    save_cached("train", key, result.to_arrays(), {"seed": seed})
    return result, False


def run(config: Config, out: Path | str = DEFAULT_OUT, standalone: bool = False,
        force: bool = False, progress: bool = False,
        log: Callable[[str], None] = lambda _msg: None) -> RunResult:
    """Run the experiment ``config`` and write its report folder ``<out>/<name>/``.

    Parameters
    ----------
    out:
        Folder that receives the report folder (default ``site/reports``).
    standalone, force, progress, log:
        As in :func:`build_run`.

    Raises
    ------
    SigreportError
        For bad input (data, config) or a training run that diverged; nothing
        is written then.
    """
    from sigreport.report import vendor_bokeh

    out = Path(out)
    built = build_run(config, standalone=standalone, force=force, progress=progress, log=log)
    folder = out / config.name
    if not standalone:
        vendor_bokeh(out)
    write_folder_atomic(folder, built.files)
    log(f"report       {folder / 'index.html'}")
    return RunResult(folder=folder, metrics=built.metrics, manifest=built.manifest)


def build_run(config: Config, standalone: bool = False, force: bool = False,
              progress: bool = False, log: Callable[[str], None] = lambda _msg: None) -> BuiltRun:
    """Run the experiment ``config`` and return its report folder's files, writing nothing
    but the stage cache.

    Parameters
    ----------
    standalone:
        Inline BokehJS so ``index.html`` is one self-contained file.
    force:
        Recompute cached stages (training) instead of reusing them.
    progress:
        Show progress bars on a terminal.
    log:
        Receives one line per finished stage.

    Raises
    ------
    SigreportError
        For bad input (data, config) or a training run that diverged.
    """
    from sigreport.activations import capture_activations
    from sigreport.analysis import compute_metrics
    from sigreport.report import check_projection, render_report
    from sigreport.signatures import fit_signatures

    # Checked before any work, so a missing optional package does not cost a training run.
    check_projection(config.report.projection)
    timer = _Timer(log)
    cache_hits: dict[str, bool] = {}

    with timer.stage("data"):
        raw = load_raw(config.data)
        dataset = prepare_dataset(raw, config.data, config.seed)

    trained = {}
    with timer.stage("train"):
        for seed in config.all_seeds:
            trained[seed], cache_hits[f"train_seed_{seed}"] = _train_cached(
                config, dataset, seed, force, progress)
    main_seed = config.all_seeds[0]
    main = trained[main_seed]

    with timer.stage("activations"):
        acts = {seed: capture_activations(t.params, dataset, config.model.activation)
                for seed, t in trained.items()}
        last_epoch = config.train.epochs
        # The last snapshot is the trained network itself: reuse its activations.
        snap_acts = {epoch: acts[main_seed] if epoch == last_epoch else
                     _snapshot_view(
                         capture_activations(params, dataset, config.model.activation),
                         main_seed)
                     for epoch, params in sorted(main.snapshots.items())}

    with timer.stage("signatures"):
        sigs = {seed: fit_signatures(acts[seed], config.signatures, seed) for seed in trained}
        snapshots = {epoch: (a, sigs[main_seed] if epoch == last_epoch else
                             fit_signatures(a, config.signatures, main_seed))
                     for epoch, a in snap_acts.items()}

    with timer.stage("analysis"):
        others = [(seed, acts[seed], sigs[seed]) for seed in config.all_seeds[1:]]
        metrics = compute_metrics(config, dataset, main, acts[main_seed], sigs[main_seed],
                                  snapshots=snapshots, other_seeds=others or None)
        if len(dataset.train.y) > SNAPSHOT_TRAIN_CAP and any(e != last_epoch for e in snapshots):
            metrics["subsampling"]["snapshot_train"] = (
                f"snapshot epochs other than the last are clustered and probed on "
                f"{SNAPSHOT_TRAIN_CAP} of {len(dataset.train.y)} training samples (seeded)")

    manifest = {
        "name": config.name,
        "title": config.title,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": config_to_dict(config),
        "seed": config.seed,
        "seeds": list(config.all_seeds),
        "versions": _versions(),
        "data": {"dataset": dataset.name, "location": raw.location, "licence": dataset.licence},
        "data_sha256": dataset.sha256,
        "git_commit": _git_commit(),
        "cache_hits": cache_hits,
        "timings_s": timer.timings,
    }

    with timer.stage("report"):
        files = render_report(metrics, manifest, dataset, acts[main_seed], sigs[main_seed],
                              config, standalone=standalone, snapshots=snapshots)
    manifest["timings_s"] = dict(timer.timings)

    files = dict(files)
    files["metrics.json"] = json.dumps(metrics, indent=1, sort_keys=False) + "\n"
    files["manifest.json"] = json.dumps(manifest, indent=1) + "\n"
    files["config.toml"] = config_to_toml(config)
    return BuiltRun(files=files, metrics=metrics, manifest=manifest)
