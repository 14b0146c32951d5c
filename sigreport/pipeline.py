"""One run, stage after stage: data -> train -> activations -> signatures -> analysis -> report.

Each stage is a function of plain values; this module only sequences them,
caches training, times every stage and records its peak memory, drops what
later stages no longer need, and writes the report folder atomically.
"""

from __future__ import annotations

import json
import platform
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from sigreport.config import Config, config_to_dict, config_to_toml
from sigreport.data import Dataset, Split, check_data, load_raw, prepare_dataset
from sigreport.estimate import STAGES, estimate_seconds, run_size
from sigreport.monitor import StageMonitor
from sigreport.store import cache_key, load_cached, save_cached, write_folder_atomic

__all__ = ["DEFAULT_OUT", "RunResult", "run"]

DEFAULT_OUT = Path("site/reports")
# Training samples a snapshot epoch is measured on (test and probe splits stay whole).
SNAPSHOT_TRAIN_CAP = 10000
# The layers a snapshot epoch is clustered and measured on, and all the report draws.
CLUSTERED_KINDS = ("input", "post", "logits")


@dataclass(frozen=True)
class RunResult:
    """Where a run wrote its report, and what it measured."""

    folder: Path
    metrics: dict
    manifest: dict


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


def _snapshot_data(dataset: Dataset, seed: int) -> Dataset:
    """What a snapshot epoch is measured on, small enough to hold several at once.

    The train split is cut to a seeded subsample of ``SNAPSHOT_TRAIN_CAP``
    samples (the clusterings of a snapshot are fitted on it), made once and
    shared by every snapshot; test and probe splits stay whole.
    """
    train = dataset.train
    if train.n_samples <= SNAPSHOT_TRAIN_CAP:
        return dataset
    rng = np.random.default_rng([seed, 0x5A1])
    rows = np.sort(rng.choice(train.n_samples, size=SNAPSHOT_TRAIN_CAP, replace=False))
    return replace(dataset, train=Split(x=train.x[rows], y=train.y[rows],
                                        onehot=train.onehot[rows], index=train.index[rows],
                                        source=train.source))


def _estimate(config: Config, dataset: Dataset, monitor: StageMonitor,
              log: Callable[[str], None]) -> None:
    """Estimate each stage's time from the run's size and say it before the long work."""
    from sigreport.train import snapshot_epochs

    monitor.estimate_s = estimate_seconds(run_size(
        config, dataset.train.n_samples, dataset.test.n_samples, dataset.probe.n_samples,
        snapshot_epochs(config.train)))
    log(f"estimate     {sum(monitor.estimate_s.values()):7.0f} s  (from images, epochs and "
        "widths; calibrated on a 2-core machine)")


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
        For bad input (data, config) or a training run that diverged; nothing
        is written then.
    """
    # Before anything heavy is imported or loaded: a count the data cannot give fails at once.
    check_data(config.data)
    from sigreport.activations import capture_activations, keep_layers
    from sigreport.analysis import compute_metrics
    from sigreport.report import check_projection, render_report, vendor_bokeh
    from sigreport.signatures import fit_signatures

    # Checked before any work, so a missing optional package does not cost a training run.
    check_projection(config.report.projection)
    out = Path(out)
    monitor = StageMonitor(STAGES, log, display=progress)
    cache_hits: dict[str, bool] = {}

    with monitor.stage("data"):
        raw = load_raw(config.data)
        dataset = prepare_dataset(raw, config.data, config.seed)

    trained = {}
    # Training shows its own progress bar on a terminal.
    with monitor.stage("train", own_display=True):
        _estimate(config, dataset, monitor, log)
        for seed in config.all_seeds:
            trained[seed], cache_hits[f"train_seed_{seed}"] = _train_cached(
                config, dataset, seed, force, progress)
    main_seed = config.all_seeds[0]
    main = trained[main_seed]

    with monitor.stage("activations"):
        acts = {seed: capture_activations(t.params, dataset, config.model.activation)
                for seed, t in trained.items()}
        last_epoch = config.train.epochs
        snap_data = _snapshot_data(dataset, main_seed)
        # The last snapshot is the trained network itself: reuse its activations.
        snap_acts = {epoch: acts[main_seed] if epoch == last_epoch else
                     capture_activations(params, snap_data, config.model.activation,
                                         kinds=CLUSTERED_KINDS)
                     for epoch, params in sorted(main.snapshots.items())}
        del snap_data

    with monitor.stage("signatures"):
        sigs = {seed: fit_signatures(acts[seed], config.signatures, seed) for seed in trained}
        snapshots = {epoch: (a, sigs[main_seed] if epoch == last_epoch else
                             fit_signatures(a, config.signatures, main_seed))
                     for epoch, a in snap_acts.items()}
    del snap_acts
    # The binary signatures were the pre-activation layers' last use.
    acts = {seed: keep_layers(a, (*CLUSTERED_KINDS, "probs")) for seed, a in acts.items()}
    snapshots = {epoch: (acts[main_seed] if epoch == last_epoch else a, s)
                 for epoch, (a, s) in snapshots.items()}

    with monitor.stage("analysis"):
        others = [(seed, acts[seed], sigs[seed]) for seed in config.all_seeds[1:]]
        metrics = compute_metrics(config, dataset, main, acts[main_seed], sigs[main_seed],
                                  snapshots=snapshots, other_seeds=others or None)
        if len(dataset.train.y) > SNAPSHOT_TRAIN_CAP and any(e != last_epoch for e in snapshots):
            metrics["subsampling"]["snapshot_train"] = (
                f"snapshot epochs other than the last are clustered and probed on "
                f"{SNAPSHOT_TRAIN_CAP} of {len(dataset.train.y)} training samples (seeded)")
    # The report draws the main network's clustered layers and only the labels and
    # predictions of the other snapshots; the other seeds are done with.
    main_acts = keep_layers(acts[main_seed], CLUSTERED_KINDS)
    snapshots = {epoch: (main_acts if epoch == last_epoch else keep_layers(a, ()), s)
                 for epoch, (a, s) in snapshots.items()}
    del acts, others

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
        "timings_s": monitor.timings,
        "peak_rss_mb": monitor.peak_rss_mb,
        "peak_rss_method": monitor.peak_rss_method,
        "estimate_s": {k: round(v, 1) for k, v in monitor.estimate_s.items()},
    }

    with monitor.stage("report"):
        files = render_report(metrics, manifest, dataset, main_acts, sigs[main_seed],
                              config, standalone=standalone, snapshots=snapshots)
    manifest["timings_s"] = dict(monitor.timings)
    manifest["peak_rss_mb"] = dict(monitor.peak_rss_mb)

    files = dict(files)
    files["metrics.json"] = json.dumps(metrics, indent=1, sort_keys=False) + "\n"
    files["manifest.json"] = json.dumps(manifest, indent=1) + "\n"
    files["config.toml"] = config_to_toml(config)
    folder = out / config.name
    if not standalone:
        vendor_bokeh(out)
    write_folder_atomic(folder, files)
    log(f"report       {folder / 'index.html'}")
    return RunResult(folder=folder, metrics=metrics, manifest=manifest)
