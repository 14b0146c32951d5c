"""One run, stage after stage: data -> train -> activations -> signatures -> analysis -> report.

Each stage is a function of plain values; this module only sequences them,
caches training, times every stage and records its peak memory, drops what
later stages no longer need, and writes the report folder atomically.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sigreport.activations import LAYER_KINDS, Activations
from sigreport.analysis.types import Metrics
from sigreport.config import Config, config_to_dict, ignored_training_keys
from sigreport.data import Dataset, check_data, load_raw, prepare_dataset
from sigreport.data.sources import image_shape
from sigreport.errors import ConfigError, OutputError
from sigreport.estimate import (
    MEMORY_LIMIT_ENV,
    STAGES,
    estimate_bytes,
    estimate_seconds,
    machine_scale,
    memory_limit,
    network_family,
    record_run,
    run_size,
)
from sigreport.monitor import StageMonitor
from sigreport.sampling import seeded_subset
from sigreport.store import (
    BOKEH_DIR,
    cache_key,
    cache_problem,
    check_writable,
    folder_lock,
    load_cached,
    os_error_line,
    save_cached,
    write_folder_atomic,
)

if TYPE_CHECKING:
    from sigreport.report.arrays import FigureArrays
    from sigreport.train import TrainResult

__all__ = ["DEFAULT_OUT", "BuiltRun", "Measured", "RunResult", "build_run", "check_output",
           "measure", "report_files", "run", "write_report"]

DEFAULT_OUT = Path("site/reports")
# Training samples a snapshot epoch is measured on (test and probe splits stay whole).
SNAPSHOT_TRAIN_CAP = 10000
# The layers a snapshot epoch is clustered and measured on, and all the report draws.
CLUSTERED_KINDS = ("input", "post", "logits")
# A hidden layer's pre-activations serve one purpose: which of its units are active
# (pre > 0, its binary signature). These activations keep the sign (post > 0 exactly when
# pre > 0), so the signatures read it from the layer's output, and pre-activations are
# not recorded: 3 x 60 MB a seed on nine classes of the full data.
SIGN_KEEPING = ("relu", "leaky_relu", "elu", "tanh")


def recorded_kinds(activation: str) -> tuple[str, ...]:
    """The layer kinds a run records of a network with ``activation``."""
    return tuple(k for k in LAYER_KINDS if k != "pre" or activation not in SIGN_KEEPING)


@dataclass(frozen=True)
class BuiltRun:
    """A run's report folder as files (relative path -> content), not yet written."""

    files: dict[str, str | bytes]
    metrics: Metrics
    manifest: dict


@dataclass(frozen=True)
class RunResult:
    """Where a run wrote its report, and what it measured."""

    folder: Path
    metrics: Metrics
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


def _snapshot_rows(n_train: int, seed: int) -> np.ndarray | None:
    """The training rows a snapshot epoch is measured on: a seeded subsample of
    ``SNAPSHOT_TRAIN_CAP`` rows, or None (all of them) when there are no more."""
    if n_train <= SNAPSHOT_TRAIN_CAP:
        return None
    return seeded_subset(n_train, SNAPSHOT_TRAIN_CAP, seed, salt=0x5A1)


def _snapshot_data(dataset: Dataset, seed: int) -> Dataset:
    """What a snapshot epoch is measured on, small enough to hold several at once: the
    train split cut to :func:`_snapshot_rows`, made once and shared by every snapshot;
    test and probe splits stay whole."""
    rows = _snapshot_rows(dataset.train.n_samples, seed)
    if rows is None:
        return dataset
    train = dataset.train
    return replace(dataset, train=replace(train, x=train.x[rows], y=train.y[rows],
                                          onehot=train.onehot[rows], index=train.index[rows]))


def _snapshot_acts(params: Any, snap_data: Dataset, rows: np.ndarray | None,
                   config: Config) -> Activations:
    """The clustered layers of a snapshot epoch's network on ``snap_data``; activations read
    from a file are cut to the same training ``rows``."""
    from sigreport.activations import capture_activations

    acts = capture_activations(params, snap_data, config.model.activation,
                               pool=config.model.pooling, kinds=CLUSTERED_KINDS)
    if getattr(params, "recorded", None) is None or rows is None:
        return acts
    train = acts.train
    return replace(acts, train=replace(train, layers={k: v[rows] for k, v in train.layers.items()},
                                       y=train.y[rows], index=train.index[rows],
                                       predicted=train.predicted[rows]))


def _estimate(config: Config, dataset: Dataset, monitor: StageMonitor,
              log: Callable[[str], None]) -> None:
    """Estimate each stage's time from the run's size and say it before the long work."""
    from sigreport.train import snapshot_epochs

    size = run_size(config, dataset.train.n_samples, dataset.test.n_samples,
                    dataset.probe.n_samples, snapshot_epochs(config.train), dataset.images_hwc)
    monitor.estimate_base_s = estimate_seconds(size)
    family = network_family(config)
    scale, used, runs = machine_scale(monitor.estimate_base_s, family)
    monitor.estimate_s = {k: v * scale.get(k, 1.0) for k, v in monitor.estimate_base_s.items()}
    memory = estimate_bytes(size)
    peak = sum(memory.values())
    cores = os.cpu_count() or 1
    basis = (f"scaled to this {cores}-core machine by its {family} runs nearest in size "
             f"({used} of {runs} recorded)"
             if scale else "calibrated on a 2-core machine")
    log(f"estimate     {sum(monitor.estimate_s.values()):7.0f} s, {peak / 1e9:.2f} GB peak "
        f"memory  (from images, epochs and widths; {basis})")
    limit, where = memory_limit()
    if limit is not None and peak > limit:
        parts = ", ".join(f"{k} {v / 1e9:.1f}" for k, v in memory.items() if k != "base")
        raise ConfigError(f"the run needs an estimated {peak / 1e9:.1f} GB of memory "
                          f"({parts} GB), more than {limit / 1e9:.1f} GB ({where}); make it "
                          f"smaller (model.hidden, data.n_per_class) or set "
                          f"{MEMORY_LIMIT_ENV}=GB (0: no check)")


def _train_cached(config: Config, dataset: Dataset, seeds: tuple[int, ...], force: bool,
                  progress: bool, pending: list | None,
                  log: Callable[[str], None] = lambda _msg: None
                  ) -> dict[int, tuple[TrainResult, bool]]:
    """The trained network of each seed and whether it came from the cache.

    Each seed has its own cache entry; the seeds without a valid one are trained
    together in one program (:func:`sigreport.train.fit_models`; one seed alone
    with :func:`sigreport.train.fit_model`). A fresh result is appended to
    ``pending`` as ``(key, result)``, to be saved once the network is known not
    to have diverged; ``pending=None`` means the cache is not used at all.
    """
    from sigreport import train

    keys = {seed: _train_key(config, dataset, seed) for seed in seeds}
    out: dict[int, tuple[TrainResult, bool]] = {}
    if pending is not None and not force:
        for seed, key in keys.items():
            hit = _load_trained(key, config, dataset, seed, log)
            if hit is not None:
                out[seed] = (hit, True)
    missing = tuple(seed for seed in seeds if seed not in out)
    fresh: tuple[TrainResult, ...]
    if len(missing) == 1:
        fresh = (train.fit_model(dataset, config.model, config.train, missing[0],
                                 progress=progress),)
    elif missing:
        fresh = train.fit_models(dataset, config.model, config.train, missing, progress=progress)
    else:
        fresh = ()
    for seed, result in zip(missing, fresh):
        out[seed] = (result, False)
        if pending is not None:
            pending.append((keys[seed], result))
    return {seed: out[seed] for seed in seeds}


def _train_key(config: Config, dataset: Dataset, seed: int) -> str:
    plain = config_to_dict(config)
    return cache_key("train", data=plain["data"], model=plain["model"], train=plain["train"],
                     seed=seed, data_sha256=dataset.sha256)


def _load_trained(key: str, config: Config, dataset: Dataset, seed: int,
                  log: Callable[[str], None] = lambda _msg: None) -> TrainResult | None:
    """The cached training result under ``key`` if it is exactly what training would
    return here (content hash, layer shapes, snapshot epochs, history length, finite
    values), else None; an entry whose content hash does not match is noted in ``log``."""
    from sigreport.train import TrainResult, snapshot_epochs

    hit = load_cached("train", key, note=lambda line: log(f"warning: {line}; training again"))
    if hit is None:
        return None
    try:
        result = TrainResult.from_arrays(hit[0], seed=seed)
    except (KeyError, ValueError):
        return None
    from sigreport.model import param_shapes
    from sigreport.train import network_architecture

    shapes = param_shapes(network_architecture(config.model, dataset))
    nets = [result.params, *result.snapshots.values()]
    valid = (sorted(result.snapshots) == sorted(snapshot_epochs(config.train))
             and all([(w.shape, b.shape) for w, b in net] == shapes for net in nets)
             and all(np.isfinite(a).all() for net in nets for layer in net for a in layer)
             and all(v.shape == (config.train.epochs,) and np.isfinite(v).all()
                     for v in result.history.values()))
    return result if valid else None


@dataclass(frozen=True)
class OutsideResult:
    """A network trained elsewhere, as the stages after training read a training run:
    ``params`` is the :class:`~sigreport.network.Network`, ``snapshots`` holds its
    untrained control at epoch 0 and itself at the last epoch; there is no history."""

    params: Any
    snapshots: dict
    seed: int
    history: dict = field(default_factory=dict)


def _open_outside(config: Config, log: Callable[[str], None]):
    """The outside network ``config.model`` names, checked before any work, or None when
    the network is trained here: an ONNX classifier, or activations read from a file
    (:class:`~sigreport.activations_file.RecordedNetwork`, which brings its data too).
    Training keys the config sets are warned about and ignored."""
    source = config.model.network_source
    if source == "train":
        return None
    ignored = ignored_training_keys(config)
    if ignored:
        log(f"warning: {', '.join(ignored)} do not apply to a network from "
            f"model.source = \"{source}\" and are ignored")
    if source == "activations":
        from sigreport.activations_file import open_activations_file

        return open_activations_file(config)
    from sigreport.onnx_model import open_onnx

    return open_onnx(config.model, image_shape(config.data), len(config.data.classes))


def _outside_result(network, dataset: Dataset, seed: int, last_epoch: int) -> OutsideResult:
    """The outside network with its output kind decided and its untrained control, when it
    has one (an activations file may give none), at epoch 0."""
    if getattr(network, "recorded", None) is None:
        network = network.with_output_kind(dataset.train.x[:1024])
    control = network.control(seed)
    snapshots = {last_epoch: network} if control is None else {0: control, last_epoch: network}
    return OutsideResult(params=network, snapshots=snapshots, seed=seed)


def _describe_outside(metrics: Metrics, network) -> None:
    """The metrics of an outside network: where it came from, which layers were recorded
    and how, no loss, and no epoch snapshots (there are no epochs)."""
    exp = metrics["experiment"]
    exp["activation"] = network.activation_name()
    exp["loss"] = None
    exp["network"] = network.describe()
    metrics["snapshots"] = []


def _cache_usable(log: Callable[[str], None]) -> bool:
    """Whether the cache can be written; if not, say so once: the run goes on without it."""
    problem = cache_problem()
    if problem is not None:
        log(f"warning: {problem}; running without the cache")
    return problem is None


def _save_trained(pending: list, log: Callable[[str], None]) -> None:
    """Save the networks trained in this run; a cache that fails is warned about once."""
    for key, result in pending:
        try:
            save_cached("train", key, result.to_arrays(), {"seed": result.seed})
        except OSError as exc:
            log(f"warning: the cache cannot be written ({os_error_line(exc)}); "
                "the trained network is not kept")
            break
    pending.clear()


def check_output(out: Path, name: str, standalone: bool) -> None:
    """Fail in one line, before any work, when the report could not be written in ``out``."""
    check_writable(out)
    for path in (out / name, *(() if standalone else (out / BOKEH_DIR,))):
        if path.is_symlink() or (path.exists() and not path.is_dir()):
            raise OutputError(f"output folder {out}: {path.name} exists and is not a folder")


def write_report(out: Path, folder: Path, files: dict, standalone: bool) -> None:
    """Write the report folder (and, in site mode, BokehJS beside it) or nothing.

    BokehJS files this run added are removed again when the report cannot be
    written (the lock on ``_bokeh`` keeps other runs from relying on them
    meanwhile), and so is ``out`` when this run created it.
    """
    made = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        if standalone:
            write_folder_atomic(folder, files)
        else:
            with folder_lock(out, BOKEH_DIR):
                _write_with_bokeh(out, folder, files)
    except BaseException:
        if made:
            with suppress(OSError):
                out.rmdir()  # empty unless another run wrote there meanwhile
        raise


def _write_with_bokeh(out: Path, folder: Path, files: dict) -> None:
    from sigreport.report import vendor_bokeh

    bokeh = out / BOKEH_DIR
    before = set(os.listdir(bokeh)) if bokeh.is_dir() else None
    try:
        vendor_bokeh(out, [files["index.html"]])
        write_folder_atomic(folder, files)
    except BaseException:
        added = set(os.listdir(bokeh)) - (before or set()) if bokeh.is_dir() else set()
        with suppress(OSError):
            for name in added:
                (bokeh / name).unlink()
            if before is None:
                bokeh.rmdir()
        raise


def _log_answers(metrics: Metrics, log: Callable[[str], None]) -> None:
    """The answers in a few terminal lines: separation layer, each question's verdict (the
    names stored in metrics.json), best detector per family."""
    answers = metrics["answers"]
    sep = answers["separation"]
    log(f"answer 1     separation layer: {sep['separation_layer'] or 'none'} "
        f"({sep['measure']} against the input and the untrained network)")
    log(f"answer 1     verdict: {sep['verdict']} ({sep['n_measures_agree']} of "
        f"{len(sep['measures'])} measures find the layer)")
    log(f"answer 2     verdict: {answers['signatures_differ']['verdict']}")
    for unseen in answers["unseen"]:
        verdict = unseen.get("verdict")
        if verdict:
            log(f"answer 3     class {unseen['class']}: {verdict['verdict']}"
                + ("; the best detector uses only the pixels"
                   if verdict.get("input_detector_wins") else ""))
    detection = answers["unseen_detection"]
    if not detection:
        return
    for family, best in detection["best_per_family"].items():
        if best:
            lo, hi = best["auroc_ci"] or (float("nan"), float("nan"))
            log(f"answer 3     best {family + ' score:':<17} AUROC {best['auroc']:.3f} "
                f"[{lo:.3f}, {hi:.3f}]  {best['method']} at {best['layer']}")


@dataclass(frozen=True)
class Measured:
    """Everything a run measured, before its report is rendered.

    ``acts`` (the clustered layers) and ``sigs`` are the main seed's; ``arrays``
    what the report's figures are drawn from (saved as ``figures.npz``); ``monitor``
    goes on timing the report.
    """

    config: Config
    dataset: Dataset
    acts: Activations
    sigs: Any
    arrays: FigureArrays
    metrics: Metrics
    manifest: dict
    monitor: StageMonitor


def measure(config: Config, force: bool = False, progress: bool = False,
            log: Callable[[str], None] = lambda _msg: None) -> Measured:
    """Run every stage of ``config`` up to the metrics and the manifest; write nothing.

    Raises
    ------
    SigreportError
        For bad input (data, config) or a training run that diverged.
    """
    # Before anything heavy is imported or loaded: a count the data cannot give fails at once.
    recorded = config.model.network_source == "activations"
    if not recorded:
        check_data(config.data)
    outside = _open_outside(config, log)
    from sigreport.activations import capture_activations, capture_split, keep_layers, noisy_test
    from sigreport.analysis import compute_metrics
    from sigreport.report import check_projection
    from sigreport.report.arrays import figure_arrays, projection_metrics
    from sigreport.signatures import fit_signatures, fit_signatures_with_epochs

    # Checked before any work, so a missing optional package does not cost a training run.
    check_projection(config.report.projection)
    pending: list[tuple[str, TrainResult]] | None = [] if _cache_usable(log) else None
    monitor = StageMonitor(STAGES, log, display=progress)
    cache_hits: dict[str, bool] = {}

    with monitor.stage("data"):
        if recorded:  # the file holds the data: its labels and inputs
            dataset, location = outside.dataset, str(Path(outside.path).expanduser().resolve())
        else:
            raw = load_raw(config.data)
            dataset, location = prepare_dataset(raw, config.data, config.seed), raw.location

    trained: dict[int, TrainResult | OutsideResult] = {}
    # Training shows its own progress bar on a terminal.
    with monitor.stage("train", own_display=True):
        if outside is None:
            _estimate(config, dataset, monitor, log)
            for seed, (result, hit) in _train_cached(config, dataset, config.all_seeds, force,
                                                      progress, pending, log).items():
                trained[seed], cache_hits[f"train_seed_{seed}"] = result, hit
        else:
            for seed in config.all_seeds:
                trained[seed] = _outside_result(outside, dataset, seed, config.train.epochs)
                cache_hits[f"train_seed_{seed}"] = False
    main_seed = config.all_seeds[0]
    main = trained[main_seed]

    with monitor.stage("activations"):
        pool, kinds = config.model.pooling, recorded_kinds(config.model.activation)
        acts = {seed: capture_activations(t.params, dataset, config.model.activation, pool=pool,
                                          kinds=kinds)
                for seed, t in trained.items()}
        last_epoch = config.train.epochs
        snap_rows = _snapshot_rows(dataset.train.n_samples, main_seed)
        snap_data = _snapshot_data(dataset, main_seed)
        # The last snapshot is the trained network itself: reuse its activations.
        snap_acts = {epoch: acts[main_seed] if epoch == last_epoch else
                     _snapshot_acts(params, snap_data, snap_rows, config)
                     for epoch, params in sorted(main.snapshots.items())}
        del snap_data
        # Noisy inputs need the network itself; recorded activations have none to run.
        noisy = (capture_split(main.params, noisy_test(dataset.test.x, config.analysis.path_noise,
                                                        main_seed),
                               dataset, config.model.activation, pool=pool)
                 if config.analysis.path_noise > 0 and len(dataset.test.y) and not recorded
                 else None)
    # Only now is the network known not to have diverged (its outputs are checked above).
    _save_trained(pending or [], log)

    with monitor.stage("signatures"):
        # Every earlier epoch is clustered with the trained network's number of clusters
        # per layer, so the untrained control and the trained network are compared like
        # for like; the input is the same at every epoch: its clusters are fitted once.
        earlier = [epoch for epoch in snap_acts if epoch != last_epoch]
        main_sigs, epoch_sigs = fit_signatures_with_epochs(
            acts[main_seed], [snap_acts[e] for e in earlier], config.signatures, main_seed)
        # Every seed sees the same pixels: the other seeds reuse the input's clusters, and
        # their layers get the headline network's number of clusters (like for like, as
        # the untrained control).
        reuse = {"input": main_sigs.layer("input")}
        k_main = {s.layer: s.n_clusters for s in main_sigs.layers}
        sigs = {seed: main_sigs if seed == main_seed else
                fit_signatures(acts[seed], config.signatures, seed, k=k_main, reuse=reuse,
                               reuse_of=acts[main_seed]) for seed in trained}
        fitted = dict(zip(earlier, epoch_sigs))
        snapshots = {epoch: (a, fitted.get(epoch, sigs[main_seed]))
                     for epoch, a in snap_acts.items()}
    del snap_acts
    # The binary signatures were the pre-activation layers' last use.
    acts = {seed: keep_layers(a, (*CLUSTERED_KINDS, "probs")) for seed, a in acts.items()}
    snapshots = {epoch: (acts[main_seed] if epoch == last_epoch else a, s)
                 for epoch, (a, s) in snapshots.items()}

    with monitor.stage("analysis"):
        others = [(seed, acts[seed], sigs[seed]) for seed in config.all_seeds[1:]]
        metrics = compute_metrics(config, dataset, main, acts[main_seed], sigs[main_seed],
                                  snapshots=snapshots, other_seeds=others or None, noisy=noisy)
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

    if outside is not None:
        _describe_outside(metrics, trained[main_seed].params)
        snapshots = {}
    elif config.model.network_kind == "cnn":
        metrics["experiment"]["conv"] = list(config.model.conv or ())
        metrics["experiment"]["pool"] = config.model.pooling
    with monitor.stage("projection"):
        arrays = figure_arrays(dataset, main_acts, sigs[main_seed], snapshots, config, metrics)
        metrics["projection"] = projection_metrics(arrays)
    del snapshots
    _log_answers(metrics, log)
    manifest = {
        "name": config.name,
        "title": config.title,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": config_to_dict(config),
        "seed": config.seed,
        "seeds": list(config.all_seeds),
        "versions": _versions(),
        "data": {"dataset": dataset.name, "location": location, "licence": dataset.licence},
        "data_sha256": dataset.sha256,
        "git_commit": _git_commit(),
        "cache_hits": cache_hits,
        "timings_s": monitor.timings,
        "peak_rss_mb": monitor.peak_rss_mb,
        "peak_rss_method": monitor.peak_rss_method,
        "estimate_s": {k: round(v, 1) for k, v in monitor.estimate_s.items()},
    }

    return Measured(config, dataset, main_acts, sigs[main_seed], arrays, metrics, manifest,
                    monitor)


def report_files(measured: Measured, standalone: bool = False) -> dict[str, str | bytes]:
    """The report folder's files of a measured run: index.html, metrics.json, config.toml
    and figures.npz (from the report stage), manifest.json (with the report stage's time)."""
    from sigreport.report import render_report
    from sigreport.report.arrays import ARRAYS_FILE, arrays_bytes

    m = measured
    with m.monitor.stage("report"):
        files = dict(render_report(m.metrics, m.manifest, m.arrays, m.config,
                                   standalone=standalone))
        files[ARRAYS_FILE] = arrays_bytes(m.arrays)
    m.manifest["timings_s"] = dict(m.monitor.timings)
    if not m.monitor.recorded:  # once, however many pages are drawn
        # Training that came from the cache says nothing of how long training takes here.
        record_run(m.monitor.estimate_base_s, m.monitor.timings,
                   skip=("train",) if any(m.manifest.get("cache_hits", {}).values()) else (),
                   family=network_family(m.config))
        m.monitor.recorded = True
    m.manifest["peak_rss_mb"] = dict(m.monitor.peak_rss_mb)
    files["manifest.json"] = json.dumps(m.manifest, indent=1) + "\n"
    return files


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
        For bad input (data, config), an output folder that cannot be written,
        or a training run that diverged; nothing is written then.
    OSError
        When the machine fails later (disk full); the error names the file and
        nothing is written either.
    """
    out = Path(out)
    check_output(out, config.name, standalone)
    built = build_run(config, standalone=standalone, force=force, progress=progress, log=log)
    folder = out / config.name
    write_report(out, folder, built.files, standalone)
    log(f"report       {folder / 'index.html'}")
    return RunResult(folder=folder, metrics=built.metrics, manifest=built.manifest)


def build_run(config: Config, standalone: bool = False, force: bool = False,
              progress: bool = False, log: Callable[[str], None] = lambda _msg: None) -> BuiltRun:
    """Run the experiment ``config`` and return its report folder's files, writing nothing
    but the training cache (what a sweep's worker sends back to be written).

    Raises
    ------
    SigreportError
        For bad input (data, config) or a training run that diverged.
    """
    measured = measure(config, force=force, progress=progress, log=log)
    files = report_files(measured, standalone=standalone)
    return BuiltRun(files=files, metrics=measured.metrics, manifest=measured.manifest)
