"""Sweeps: one base experiment, crossed axes, one ordinary run per combination, on Dask.

A sweep file names a base experiment (a preset or a ``.toml`` file), keys set
in every run, and axes over any config keys; the axes are crossed. Helpers
cover the common MNIST grids::

    name = "mnist-pairs"
    base = "mnist-1-7"
    pairs = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]   # every pair of these classes: the data.classes axis
    probes = "rest"                          # each run probed with the sweep's other classes
    seeds = [0, 1, 2]                        # the seed axis

    [set]                                    # keys of an experiment file, set in every run
    data.n_per_class = 2000

    [axes]                                   # any config key: a list of values
    "model.activation" = ["relu", "tanh"]

:func:`load_sweep` validates the whole grid at the door (every run's config);
:func:`run_sweep` runs what is not finished yet on a Dask cluster (an embedded
``LocalCluster`` or an existing scheduler). Workers return each run's report
folder as files; the client writes each folder atomically, so workers need no
shared file system. The sweep's index (``<out>/_sweeps/<name>.json``) lists its
runs and their axis values for the atlas page.
"""

from __future__ import annotations

import difflib
import itertools
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from sigreport import checks as C
from sigreport.config import (
    N_DATASET_CLASSES,
    Config,
    config_to_toml,
    load_config,
    names_a_file,
    read_text_file,
    read_toml,
)
from sigreport.errors import ConfigError, SigreportError
from sigreport.monitor import peak_rss_mb
from sigreport.report.sweep_index import SWEEPS_DIR, index_path, write_sweep_index
from sigreport.store import check_writable

__all__ = [
    "MAX_RUNS",
    "Sweep",
    "SweepOutcome",
    "SweepRun",
    "list_sweep_presets",
    "load_sweep",
    "run_sweep",
]

# A grid larger than this needs --force: a typo in an axis should not start a week of work.
MAX_RUNS = 100
# How long to wait for an existing cluster's scheduler and its first worker.
CONNECT_TIMEOUT_S = 20
_EVENT_TOPIC = "sigreport-sweep"
_POLL_S = 0.1  # how often the client looks for finished runs and a Ctrl-C
_TOP_KEYS = ("name", "title", "base", "pairs", "probes", "seeds", "set", "axes")
_SLUG_RE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class SweepRun:
    """One run of a sweep: its folder name, its axis values and its validated config."""

    name: str
    values: dict[str, Any]
    config: Config


@dataclass(frozen=True)
class Sweep:
    """A validated, expanded sweep."""

    name: str
    title: str
    source: str
    base: str
    axes: dict[str, list]
    runs: tuple[SweepRun, ...]


@dataclass(frozen=True)
class SweepOutcome:
    """What a sweep did: run names finished before, finished now, failed with a reason,
    and each worker's peak resident memory in MB."""

    skipped: tuple[str, ...]
    done: tuple[str, ...]
    failed: dict[str, str] = field(default_factory=dict)
    index: Path | None = None
    worker_peak_mb: dict[str, float] = field(default_factory=dict)


# --- the sweep file -----------------------------------------------------------------------


def list_sweep_presets() -> list[str]:
    """Names of the sweeps shipped inside the package, sorted."""
    folder = resources.files("sigreport") / "presets" / "sweeps"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def _read_source(source: str) -> tuple[dict[str, Any], str, Path | None]:
    """The sweep's TOML table, how to name it in errors, and the folder of its file."""
    if names_a_file(source):
        where = f"sweep {source!r}"
        text = read_text_file(source, "sweep")
        folder: Path | None = Path(source).resolve().parent
    else:
        presets = list_sweep_presets()
        if source not in presets:
            close = difflib.get_close_matches(source, presets, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"unknown sweep {source!r}{hint}; shipped sweeps: "
                              f"{', '.join(presets)}; or give the path of a .toml file")
        where = f"sweep preset {source!r}"
        text = (resources.files("sigreport") / "presets" / "sweeps" / f"{source}.toml").read_text(
            "utf-8")
        folder = None
    return read_toml(text, where), where, folder


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"data": {"classes": [1, 7]}}`` -> ``{"data.classes": [1, 7]}``."""
    out: dict[str, Any] = {}
    for key, value in table.items():
        full = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, full + "."))
        else:
            out[full] = value
    return out


def _slug(value: Any) -> str:
    if isinstance(value, list):
        return "-".join(_slug(v) for v in value)
    text = C.toml_value(value) if isinstance(value, (bool, float)) else str(value)
    return _SLUG_RE.sub("_", text)


def _label(key: str, value: Any) -> str:
    """The part of a run's folder name that states one axis value."""
    if key == "data.classes":
        return _slug(value)
    if key == "seed":
        return f"s{value}"
    return key.rsplit(".", 1)[-1] + _slug(value)


def _describe(key: str, value: Any) -> str:
    """One axis value in words, for a run's title."""
    if key == "data.classes":
        return " vs ".join(str(v) for v in value)
    if key == "seed":
        return f"seed {value}"
    return f"{key} = {C.show(value)}"


def _run_names(sweep_name: str, combos: list[dict[str, Any]]) -> list[str]:
    # An axis of one value is a setting of every run: it does not name runs.
    varied = [k for k in (combos[0] if combos else {}) if len({repr(c[k]) for c in combos}) > 1]
    names = ["-".join([sweep_name, *(_label(k, combo[k]) for k in varied)]) for combo in combos]
    ok = all(C.is_folder_name(n) for n in names)
    if ok and len(set(names)) == len(names):
        return names
    # Values that make no usable folder name: number the runs instead.
    width = len(str(len(combos)))
    return [f"{sweep_name}-{i:0{width}d}" for i in range(1, len(combos) + 1)]


@contextmanager
def _in(where: str) -> Iterator[None]:
    """Prefix a config error raised inside with the sweep it comes from."""
    try:
        yield
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _parse_axes(raw: dict[str, Any], fixed: dict[str, Any], where: str) -> dict[str, list]:
    """The sweep's axes, helpers expanded: data.classes (pairs), then [axes], then seed."""
    axes_raw = raw.get("axes", {})
    axes: dict[str, list] = {}
    with _in(where):
        if not isinstance(axes_raw, dict):
            raise C.invalid("axes", axes_raw,
                            "a table [axes] of config keys, each a list of values")
        if "pairs" in raw:
            classes = C.int_list(0, N_DATASET_CLASSES - 1)("pairs", raw["pairs"])
            if "data.classes" in axes_raw or "data.classes" in fixed:
                raise C.invalid("pairs", raw["pairs"], "either pairs or data.classes, not both")
            axes["data.classes"] = [list(p) for p in itertools.combinations(sorted(classes), 2)]
        for key, values in axes_raw.items():
            if isinstance(values, dict):
                nested = _flatten(values, key + ".")
                raise C.invalid(f"axes.{next(iter(nested))}" if nested else f"axes.{key}", values,
                            'a quoted dotted key, e.g. "model.hidden" = [[64], [128]]')
            if not isinstance(values, list):
                raise C.invalid(f"axes.{key}", values, "a list of values, one per run")
            axes[key] = values
        if "seeds" in raw:
            seeds = C.int_list(0, 2**31 - 1)("seeds", raw["seeds"])
            if "seed" in axes or "seed" in fixed or fixed.get("seeds"):
                raise C.invalid("seeds", raw["seeds"], "either seeds or a seed key, not both")
            axes["seed"] = list(seeds)
        probes = raw.get("probes")
        if probes is not None and probes != "rest":
            raise C.invalid("probes", probes, "\"rest\" (each run probed with the sweep's classes "
                        "it is not trained on)")
        if probes is not None and ("data.probe_classes" in axes or "data.probe_classes" in fixed):
            raise C.invalid("probes", probes, "either probes or data.probe_classes, not both")
    return axes


def _check_size(axes: dict[str, list], raw: dict[str, Any], where: str, force: bool) -> None:
    n_runs = 1
    for values in axes.values():
        n_runs *= len(values)
    if n_runs == 0:
        empty = [k for k, v in axes.items() if not v]
        why = (f"pairs = {C.show(raw['pairs'])} has fewer than two classes"
               if empty == ["data.classes"] and "pairs" in raw
               else f"axis {empty[0]!r} has no value")
        raise ConfigError(f"{where}: the grid expands to zero runs ({why})")
    if n_runs > MAX_RUNS and not force:
        raise ConfigError(f"{where}: the grid expands to {n_runs} runs, more than the limit of "
                          f"{MAX_RUNS}; pass --force to run them all")


def load_sweep(source: str, force: bool = False) -> Sweep:
    """Read a sweep file or shipped sweep, expand its grid and validate every run's config.

    Parameters
    ----------
    source:
        Path to a ``.toml`` sweep file, or the name of a shipped sweep.
    force:
        Accept a grid of more than :data:`MAX_RUNS` runs.

    Raises
    ------
    ConfigError
        With one line naming the sweep, the key, the value and what was expected:
        an unknown key, a bad value, a grid of zero runs or over the limit, or a
        run whose config is invalid.
    """
    raw, where, folder = _read_source(source)
    for key in raw:
        if key not in _TOP_KEYS:
            close = difflib.get_close_matches(key, _TOP_KEYS, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{where}: unknown key {key!r}{hint}; a sweep has "
                              f"{', '.join(_TOP_KEYS)}")
    with _in(where):
        name = C.folder_name("name", raw.get("name", Path(source).stem if folder else source))
        title = raw.get("title", name)
        if not isinstance(title, str):
            raise C.invalid("title", title, "a string")
        base = raw.get("base", "mnist-1-7")
        if not isinstance(base, str) or not base:
            raise C.invalid("base", base, "a preset name or the path of an experiment .toml file")
        fixed = raw.get("set", {})
        if not isinstance(fixed, dict):
            raise C.invalid("set", fixed, "a table [set] of experiment keys")
    if folder is not None and (base.endswith(".toml") or "/" in base):
        base = str(folder / base)
    fixed = _flatten(fixed)
    axes = _parse_axes(raw, fixed, where)
    _check_size(axes, raw, where, force)
    combos = [dict(zip(axes, values)) for values in itertools.product(*axes.values())]
    names = _run_names(name, combos)
    base_overrides = [f"{k}={C.toml_value(v)}" for k, v in fixed.items()]

    def load(run_name: str, overrides: list[str]) -> Config:
        with _in(f"{where}, run {run_name}"):
            return load_config(base, overrides)

    probes = raw.get("probes")
    planned = []
    for run_name, combo in zip(names, combos):
        words = [_describe(k, v) for k, v in combo.items() if len(axes[k]) > 1]
        run_title = f"{title}: {', '.join(words)}" if words else title
        # A seed axis replaces the base's seeds: each run trains its own seed alone.
        overrides = [*base_overrides, *(f"{k}={C.toml_value(v)}" for k, v in combo.items()),
                     *(["seeds=[]"] if "seed" in combo else []),
                     f"name={C.toml_value(run_name)}", f"title={C.toml_value(run_title)}"]
        # The probe classes of "rest" are known once every run's classes are.
        config = load(run_name, overrides + (["data.probe_classes=[]"] if probes else []))
        planned.append((run_name, combo, overrides, config))
    if probes == "rest":
        all_classes = set().union(*(c.data.classes for _, _, _, c in planned))
        planned = [(n, combo, o, load(n, o + [
                        f"data.probe_classes={sorted(all_classes - set(c.data.classes))}"]))
                   for n, combo, o, c in planned]
    return Sweep(name=name, title=title, source=source, base=base, axes=axes,
                 runs=tuple(SweepRun(n, combo, c) for n, combo, _, c in planned))


# --- the index the atlas reads --------------------------------------------------------------


def _log_path(out: Path, name: str) -> Path:
    """Where the cluster's messages and the local workers' stderr go."""
    return out / SWEEPS_DIR / f"{name}.log"


def _write_index(out: Path, sweep: Sweep, failed: dict[str, str]) -> Path:
    """Write the sweep's index (:mod:`sigreport.report.sweep_index`): its runs and axis values."""
    header = {"title": sweep.title, "source": sweep.source, "base": sweep.base,
              "axes": sweep.axes}
    return write_sweep_index(out, sweep.name, header,
                             [{"name": r.name, "values": r.values} for r in sweep.runs], failed)


# --- running -------------------------------------------------------------------------------


def _finished(folder: Path, config: Config) -> bool:
    """A run is finished when its folder holds a report made from this very config."""
    try:
        same = (folder / "config.toml").read_text("utf-8") == config_to_toml(config)
    except (OSError, UnicodeDecodeError):
        return False
    return same and (folder / "metrics.json").is_file() and (folder / "index.html").is_file()


def _build_on_worker(config: Config, force: bool) -> dict[str, Any]:
    """The task: one ordinary run on a worker; its files, or the one-line reason it failed."""
    from distributed import get_worker

    from sigreport.pipeline import build_run
    from sigreport.store import enable_compilation_cache

    try:
        worker = get_worker()
    except ValueError:  # not on a worker (called in the client's process)
        pass
    else:
        worker.log_event(_EVENT_TOPIC, {"start": config.name, "worker": worker.address})
    enable_compilation_cache()
    try:
        built = build_run(config, force=force)
    except SigreportError as exc:
        return {"error": " ".join(str(exc).split())}
    return {"files": built.files}


def _worker_versions() -> str:
    from sigreport import __version__

    return __version__


@contextmanager
def _dask_logs_to(log: Path) -> Iterator[None]:
    """While the block runs, the records of Dask's loggers in this process go to ``log``
    (appended), not to the terminal."""
    import logging

    logger = logging.getLogger("distributed")
    handler = logging.FileHandler(log, encoding="utf-8", delay=True)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    saved = (logger.handlers[:], logger.propagate)
    logger.handlers[:] = [handler]
    logger.propagate = False
    try:
        yield
    finally:
        logger.handlers[:], logger.propagate = saved
        handler.close()


@contextmanager
def _spawned_quietly(log: Path) -> Iterator[None]:
    """Processes started in the block write their stderr to ``log`` and ignore SIGINT.

    Both are inherited by the worker processes of an embedded cluster: a Ctrl-C at the
    terminal then reaches the client alone, which closes the cluster, and the workers'
    tracebacks (of a task cut short, a lost heartbeat) land in the log. Python leaves a
    SIGINT its parent ignored ignored.
    """
    import signal

    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
    saved_fd = os.dup(2)
    in_main = threading.current_thread() is threading.main_thread()
    saved_sigint = signal.signal(signal.SIGINT, signal.SIG_IGN) if in_main else None
    os.dup2(fd, 2)
    try:
        yield
    finally:
        os.dup2(saved_fd, 2)
        os.close(saved_fd)
        os.close(fd)
        if saved_sigint is not None:
            signal.signal(signal.SIGINT, saved_sigint)


@contextmanager
def _client(scheduler: str | None, n_workers: int | None, log: Path) -> Iterator[Any]:
    """A Dask client of an existing cluster, or of an embedded LocalCluster it closes.

    Nothing is created in ``log``'s folder before an existing scheduler answers; from
    then on (at once for an embedded cluster) Dask's messages go to ``log``.
    """
    import logging

    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=f"{CONNECT_TIMEOUT_S}s")
        except (OSError, ValueError, TimeoutError) as exc:
            raise ConfigError(f"--scheduler {scheduler!r}: no Dask scheduler answered within "
                              f"{CONNECT_TIMEOUT_S} s ({' '.join(str(exc).split())[:160]})") \
                from None
        with client:
            try:
                client.wait_for_workers(1, timeout=CONNECT_TIMEOUT_S)
            except TimeoutError:
                raise ConfigError(f"--scheduler {scheduler!r}: the cluster has no worker "
                                  f"after {CONNECT_TIMEOUT_S} s (start one with "
                                  f"`dask worker {scheduler}`)") from None
            _check_workers(client, scheduler)
            log.parent.mkdir(parents=True, exist_ok=True)
            with _dask_logs_to(log):
                yield client
        return
    import dask

    # One single-threaded process per core: XLA, BLAS and OpenMP each use one thread
    # (distributed already sets OMP/MKL/OpenBLAS to 1 in the processes it spawns).
    xla = os.environ.get("XLA_FLAGS", "")
    env = {"XLA_FLAGS": f"{xla} --xla_cpu_multi_thread_eigen=false "
                        "intra_op_parallelism_threads=1".strip()}
    log.parent.mkdir(parents=True, exist_ok=True)
    # distributed also fixes glibc's trim threshold, which turns off malloc's adaptive mmap
    # threshold: every large numpy temporary is then mapped and unmapped anew, and the
    # clustering stage runs 1.5x slower. Workers keep glibc's default.
    with _dask_logs_to(log):
        with (dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}),
              _spawned_quietly(log)):
            cluster = LocalCluster(n_workers=n_workers or os.cpu_count() or 1,
                                   threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=logging.ERROR, env=env)
        with cluster, Client(cluster) as client:
            yield client


def _check_workers(client: Any, scheduler: str) -> None:
    """Every worker of an existing cluster must run this version of sigreport."""
    from sigreport import __version__

    try:
        versions = client.run(_worker_versions, on_error="return")
    except Exception as exc:  # noqa: BLE001 -- any failure to run there is the same answer
        raise ConfigError(f"--scheduler {scheduler!r}: cannot run sigreport on the workers "
                          f"({type(exc).__name__})") from None
    for worker, got in versions.items():
        if isinstance(got, BaseException):
            raise ConfigError(f"--scheduler {scheduler!r}: worker {worker} cannot import "
                              f"sigreport ({' '.join(str(got).split())}); install it there")
        if got != __version__:
            raise ConfigError(f"--scheduler {scheduler!r}: worker {worker} runs sigreport "
                              f"{got}, this client {__version__}; install the same version")


class _Progress:
    """Runs done / running / failed on a Rich bar (on a terminal only)."""

    def __init__(self, total: int, enabled: bool) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        console = Console(stderr=True)
        self._bar = Progress(
            TextColumn("sweep"), BarColumn(),
            TextColumn("{task.completed}/{task.total} done · {task.fields[running]} running · "
                       "{task.fields[failed]} failed"),
            TimeElapsedColumn(), console=console, transient=False,
            disable=not (enabled and console.is_terminal))
        self._task = self._bar.add_task("sweep", total=total, running=0, failed=0)
        self._running: set[str] = set()
        self._failed = 0
        self._lock = threading.Lock()

    def __enter__(self) -> _Progress:
        self._bar.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._bar.__exit__(*exc)

    def started(self, event: Any) -> None:
        """Handler of the workers' start events: ``(timestamp, {"start": name})``."""
        name = event[1].get("start") if isinstance(event, tuple) else None
        with self._lock:
            if name:
                self._running.add(name)
            self._refresh()

    def finished(self, name: str, ok: bool) -> None:
        with self._lock:
            self._running.discard(name)
            self._failed += not ok
            self._bar.advance(self._task)
            self._refresh()

    def _refresh(self) -> None:
        self._bar.update(self._task, running=len(self._running), failed=self._failed)


@contextmanager
def _ctrl_c_as_flag() -> Iterator[list[int]]:
    """In the block, a SIGINT only appends to the list it yields; the block reads it.

    Python raises a SIGINT's KeyboardInterrupt in whatever code runs when it arrives; in a
    garbage-collector callback (Dask installs one) it is printed and dropped, and a sweep
    went on to its end.
    """
    import signal

    asked: list[int] = []
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is signal.SIG_IGN):  # nohup, `&` in a script
        yield asked
        return
    saved = signal.signal(signal.SIGINT, lambda sig, _frame: asked.append(sig))
    try:
        yield asked
    finally:
        signal.signal(signal.SIGINT, saved)


def _completed(futures: Iterable[Any], asked: list[int]) -> Iterator[Any]:
    """The futures as they complete; KeyboardInterrupt between two once ``asked`` is not empty."""
    from distributed import as_completed

    pending = as_completed(futures)
    while not pending.is_empty():
        if asked:
            raise KeyboardInterrupt
        if not pending.has_ready():
            time.sleep(_POLL_S)
            continue
        for future in pending.next_batch(block=False):
            if asked:
                raise KeyboardInterrupt
            yield future


def run_sweep(sweep: Sweep, out: Path | str, scheduler: str | None = None,
              n_workers: int | None = None, progress: bool = False,
              log: Callable[[str], None] = lambda _msg: None) -> SweepOutcome:
    """Run every unfinished run of ``sweep`` on Dask; write each report folder under ``out``.

    Parameters
    ----------
    out:
        Folder that receives ``<run name>/`` per run and ``_sweeps/<sweep>.json``.
    scheduler:
        Address of an existing Dask scheduler (``tcp://host:8786``). ``None``
        starts an embedded ``LocalCluster`` and closes it at the end.
    n_workers:
        Worker processes of the embedded cluster (default: one per core).
    progress:
        Show a progress bar on a terminal.
    log:
        Receives a line per failed run.

    A run whose folder already holds a report of the same config is skipped;
    a run that fails is reported and the others go on; a task whose worker
    dies is rescheduled by Dask on another worker.

    Raises
    ------
    ConfigError
        When ``out`` is not writable or the cluster cannot be reached; nothing
        is written then.
    """
    from sigreport.pipeline import write_report

    out = Path(out)
    if n_workers is not None and n_workers < 1:
        raise ConfigError(f"--workers {n_workers}: expected an integer >= 1")
    if scheduler is not None and n_workers is not None:
        raise ConfigError(f"--workers {n_workers}: applies to the embedded cluster only; "
                          "an existing cluster (--scheduler) runs on its own workers")
    check_writable(out, "--out")   # creates nothing: a sweep that cannot start leaves nothing
    skipped = tuple(r.name for r in sweep.runs if _finished(out / r.name, r.config))
    todo = [r for r in sweep.runs if r.name not in skipped]
    failed: dict[str, str] = {}
    done: list[str] = []
    if not todo:
        return SweepOutcome(skipped, (), failed, _write_index(out, sweep, failed))

    with _client(scheduler, n_workers, _log_path(out, sweep.name)) as client:
        _write_index(out, sweep, failed)
        token = f"{os.getpid()}-{time.time_ns()}"
        futures = {client.submit(_build_on_worker, r.config, False, pure=False, retries=1,
                                 key=f"sigreport-{r.name}-{token}"): r.name for r in todo}
        with _Progress(len(todo), progress) as bar:
            client.subscribe_topic(_EVENT_TOPIC, bar.started)
            try:
                with _ctrl_c_as_flag() as asked:
                    for future in _completed(futures, asked):
                        name = futures[future]
                        try:
                            result = future.result()
                        except Exception as exc:  # noqa: BLE001 -- a run's failure, reported
                            result = {"error": f"{type(exc).__name__}: "
                                               f"{' '.join(str(exc).split())[:300]}"}
                        future.release()
                        if "error" in result:
                            failed[name] = result["error"]
                            log(f"failed       {name}: {result['error']}")
                        else:
                            write_report(out, out / name, result["files"], standalone=False)
                            done.append(name)
                        bar.finished(name, "error" not in result)
            finally:
                client.unsubscribe_topic(_EVENT_TOPIC)
                _write_index(out, sweep, failed)
        peaks = client.run(peak_rss_mb, on_error="return")
    return SweepOutcome(skipped, tuple(done), failed, index_path(out, sweep.name),
                        {w: mb for w, mb in peaks.items() if isinstance(mb, float)})
