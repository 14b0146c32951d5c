"""One run, stage after stage: data -> train -> activations -> signatures -> analysis -> report.

Each stage is a function of plain values; this module only sequences them,
caches training, times every stage and writes the report folder atomically.
"""

from __future__ import annotations

import itertools
import json
import os
import platform
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from sigreport.activations import Activations, SplitActivations
from sigreport.config import Config, config_to_dict
from sigreport.data import Dataset, load_raw, prepare_dataset
from sigreport.errors import OutputError
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

__all__ = ["DEFAULT_OUT", "Measured", "RunResult", "measure", "report_files", "run"]

DEFAULT_OUT = Path("site/reports")
# Training samples a snapshot epoch is measured on (test and probe splits stay whole).
SNAPSHOT_TRAIN_CAP = 10000


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
    rows = seeded_subset(n_train, SNAPSHOT_TRAIN_CAP, seed, salt=0x5A1) \
        if n_train > SNAPSHOT_TRAIN_CAP else None
    return replace(acts, layers=keep, train=slim(acts.train, rows), test=slim(acts.test),
                   probe=slim(acts.probe))


def _train_cached(config: Config, dataset: Dataset, seed: int, force: bool, progress: bool,
                  pending: list | None):
    """The trained network for ``seed``, from the cache when a valid entry exists.

    A fresh result is appended to ``pending`` as ``(key, result)``, to be saved
    once the network is known not to have diverged; ``pending=None`` means the
    cache is not used at all.
    """
    from sigreport.train import fit_model

    key = _train_key(config, dataset, seed)
    if pending is not None and not force:
        hit = _load_trained(key, config, dataset, seed)
        if hit is not None:
            return hit, True
    result = fit_model(dataset, config.model, config.train, seed, progress=progress)
    if pending is not None:
        pending.append((key, result))
    return result, False


def _train_key(config: Config, dataset: Dataset, seed: int) -> str:
    plain = config_to_dict(config)
    return cache_key("train", data=plain["data"], model=plain["model"], train=plain["train"],
                     seed=seed, data_sha256=dataset.sha256)


def _load_trained(key: str, config: Config, dataset: Dataset, seed: int):
    """The cached training result under ``key`` if it is exactly what training would
    return here (layer shapes, snapshot epochs, history length, finite values), else None."""
    from sigreport.train import TrainResult, snapshot_epochs

    hit = load_cached("train", key)
    if hit is None:
        return None
    try:
        result = TrainResult.from_arrays(hit[0], seed=seed)
    except (KeyError, ValueError):
        return None
    sizes = (dataset.train.x.shape[1], *config.model.hidden, dataset.n_classes)
    shapes = [((n_in, n_out), (n_out,)) for n_in, n_out in itertools.pairwise(sizes)]
    nets = [result.params, *result.snapshots.values()]
    valid = (sorted(result.snapshots) == sorted(snapshot_epochs(config.train))
             and all([(w.shape, b.shape) for w, b in net] == shapes for net in nets)
             and all(np.isfinite(a).all() for net in nets for layer in net for a in layer)
             and all(v.shape == (config.train.epochs,) and np.isfinite(v).all()
                     for v in result.history.values()))
    return result if valid else None


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


def _check_output(out: Path, name: str, standalone: bool) -> None:
    """Fail in one line, before any work, when the report could not be written in ``out``."""
    check_writable(out)
    for path in (out / name, *(() if standalone else (out / BOKEH_DIR,))):
        if path.is_symlink() or (path.exists() and not path.is_dir()):
            raise OutputError(f"output folder {out}: {path.name} exists and is not a folder")


def _write_report(out: Path, folder: Path, files: dict, standalone: bool) -> None:
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


def _log_answers(metrics: dict, log: Callable[[str], None]) -> None:
    """The answers in a few terminal lines: separation layer, best detector per family."""
    sep = metrics["answers"]["separation"]
    log(f"answer 1     separation layer: {sep['separation_layer'] or 'none'} "
        f"({sep['measure']} against the input and the untrained network)")
    detection = metrics["answers"]["unseen_detection"]
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

    ``acts`` and ``sigs`` are the main seed's; ``snapshots`` maps each recorded
    epoch to its (Activations, Signatures); ``timer`` keeps timing the report.
    """

    config: Config
    dataset: Dataset
    acts: Activations
    sigs: Any
    snapshots: dict
    metrics: dict
    manifest: dict
    timer: _Timer


def measure(config: Config, force: bool = False, progress: bool = False,
            log: Callable[[str], None] = lambda _msg: None) -> Measured:
    """Run every stage of ``config`` up to the metrics and the manifest; write nothing.

    Raises
    ------
    SigreportError
        For bad input (data, config) or a training run that diverged.
    """
    from sigreport.activations import capture_activations, capture_split, noisy_test
    from sigreport.analysis import compute_metrics
    from sigreport.report import check_projection
    from sigreport.signatures import fit_signatures

    # Checked before any work, so a missing optional package does not cost a training run.
    check_projection(config.report.projection)
    pending = [] if _cache_usable(log) else None
    timer = _Timer(log)
    cache_hits: dict[str, bool] = {}

    with timer.stage("data"):
        raw = load_raw(config.data)
        dataset = prepare_dataset(raw, config.data, config.seed)

    trained = {}
    with timer.stage("train"):
        for seed in config.all_seeds:
            trained[seed], cache_hits[f"train_seed_{seed}"] = _train_cached(
                config, dataset, seed, force, progress, pending)
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
        noisy = (capture_split(main.params, noisy_test(dataset.test.x, config.analysis.path_noise,
                                                        main_seed),
                               dataset, config.model.activation)
                 if config.analysis.path_noise > 0 and len(dataset.test.y) else None)
    # Only now is the network known not to have diverged (its outputs are checked above).
    _save_trained(pending or [], log)

    with timer.stage("signatures"):
        sigs = {seed: fit_signatures(acts[seed], config.signatures, seed) for seed in trained}
        # Every epoch is clustered with the trained network's number of clusters per layer,
        # so the untrained control and the trained network are compared like for like.
        # The input is the same at every epoch: its clusters are fitted once.
        k_trained = {s.layer: s.n_clusters for s in sigs[main_seed].layers}
        same_input = {"input": sigs[main_seed].layer("input")}
        snapshots = {epoch: (a, sigs[main_seed] if epoch == last_epoch else
                             fit_signatures(a, config.signatures, main_seed, k=k_trained,
                                            reuse=same_input))
                     for epoch, a in snap_acts.items()}

    with timer.stage("analysis"):
        others = [(seed, acts[seed], sigs[seed]) for seed in config.all_seeds[1:]]
        metrics = compute_metrics(config, dataset, main, acts[main_seed], sigs[main_seed],
                                  snapshots=snapshots, other_seeds=others or None, noisy=noisy)
        if len(dataset.train.y) > SNAPSHOT_TRAIN_CAP and any(e != last_epoch for e in snapshots):
            metrics["subsampling"]["snapshot_train"] = (
                f"snapshot epochs other than the last are clustered and probed on "
                f"{SNAPSHOT_TRAIN_CAP} of {len(dataset.train.y)} training samples (seeded)")

    _log_answers(metrics, log)
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

    return Measured(config, dataset, acts[main_seed], sigs[main_seed], snapshots, metrics,
                    manifest, timer)


def report_files(measured: Measured, standalone: bool = False) -> dict[str, str | bytes]:
    """The report folder's files of a measured run: index.html, metrics.json and
    config.toml (from the report stage), manifest.json (with the report stage's time)."""
    from sigreport.report import render_report

    m = measured
    with m.timer.stage("report"):
        files = dict(render_report(m.metrics, m.manifest, m.dataset, m.acts, m.sigs, m.config,
                                   standalone=standalone, snapshots=m.snapshots))
    m.manifest["timings_s"] = dict(m.timer.timings)
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
    _check_output(out, config.name, standalone)
    measured = measure(config, force=force, progress=progress, log=log)
    files = report_files(measured, standalone=standalone)
    folder = out / config.name
    _write_report(out, folder, files, standalone)
    log(f"report       {folder / 'index.html'}")
    return RunResult(folder=folder, metrics=measured.metrics, manifest=measured.manifest)
