"""How long a run will take, estimated from its size before the long work starts.

Each stage's time is modelled as a fixed cost plus a constant per unit of each
kind of work the stage does, counted from the config and the data set's size
(images, epochs, layer widths, seeds, snapshot epochs):

    seconds = fixed + sum(per_unit[feature] * count[feature])

The constants were fitted (non-negative least squares) to whole runs measured
on a 2-core machine shared with other work; ``bench/growth.py`` measures runs
again, prints the estimate's error on each and the constants fitted to them.
The estimate is only as good as the machine is like that one: the CLI says so.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sigreport.config import Config
from sigreport.errors import ConfigError

__all__ = ["CALIBRATION", "MEMORY_LIMIT_ENV", "STAGES", "RunSize", "available_bytes",
           "estimate_bytes", "estimate_seconds", "machine_scale", "memory_limit",
           "network_family", "record_run", "run_size", "stage_features"]

STAGES = ("data", "train", "activations", "signatures", "analysis", "projection", "report")
# Training samples a snapshot epoch is measured on (pipeline.SNAPSHOT_TRAIN_CAP).
SNAPSHOT_TRAIN_CAP = 10000

# stage -> feature -> seconds per unit ("fixed": seconds), fitted by bench/growth.py --fit to
# nine runs (growth.py's five and run_speed.py's default and full-data runs, twice each)
# on a 2-core machine with a load average of about 1 from other work.
CALIBRATION: dict[str, dict[str, float]] = {
    "data": {"fixed": 0.218, "pixels": 1.2e-09},
    "train": {"fixed": 0.546, "weight_updates": 5.09e-11, "steps": 0.000175},
    "activations": {"fixed": 0.183, "multiply_adds": 3.76e-11, "values": 3.01e-09},
    "signatures": {"fixed": 0.0, "layer_fits": 0.0, "values": 4.65e-08},
    "analysis": {"fixed": 0.0, "layer_fits": 0.0, "values": 5.3e-08},
    "projection": {"fixed": 0.0, "layers_drawn": 0.035},
    "report": {"fixed": 0.725, "layers_drawn": 0.0219},
}
# The projection was part of the report stage when the constants above were fitted: its
# per-layer cost is the default run's PCA stage (0.14-0.21 s for 5 layers), taken out of
# the report's fixed cost; UMAP and t-SNE cost more (bench/umap_speed.py).


@dataclass(frozen=True)
class RunSize:
    """What a run's cost depends on.

    ``sizes`` are the recorded layer widths from input to output (the image's
    H*W*C values, a convolutional block's channels, hidden..., classes);
    ``n_snapshots`` counts the snapshot epochs other than the last, which are
    captured and clustered on at most ``SNAPSHOT_TRAIN_CAP`` training images.
    ``multiply_adds`` and ``n_params`` are one image's forward pass and the network's
    parameters; 0: those of dense layers between consecutive ``sizes`` (an MLP).
    """

    n_train: int
    n_test: int
    n_probe: int
    epochs: int
    batch_size: int
    n_seeds: int
    n_snapshots: int
    sizes: tuple[int, ...]
    # Arrays of optimiser state per parameter (adam, adamw: 2; sgd with momentum: 1).
    optimizer_states: int = 2
    cka_subsample: int = 2000
    knn_reference: int = 30000
    multiply_adds: int = 0
    n_params: int = 0

    @property
    def weights(self) -> int:
        """Multiply-adds of one image's forward pass."""
        return self.multiply_adds or sum(a * b for a, b in zip(self.sizes[:-1], self.sizes[1:]))

    @property
    def parameters(self) -> int:
        """The network's parameters (weights and biases)."""
        return self.n_params or sum(a * b + b for a, b in zip(self.sizes[:-1], self.sizes[1:]))


def _network_size(config: Config, image_shape: tuple[int, int, int]
                  ) -> tuple[tuple[int, ...], int, int]:
    """(recorded widths, multiply-adds per image, parameters) of ``config``'s network on
    images of ``image_shape``: a CNN's 3x3 convolutions at each block's resolution (halved
    by each 2x2 pool), then the dense layers."""
    h, w, c = image_shape
    n_in = h * w * c
    hidden, n_out = tuple(config.model.hidden), len(config.data.classes)
    mult = params = 0
    conv: tuple[int, ...] = ()
    if config.model.network_kind == "cnn":
        conv = tuple(config.model.conv or ())
        channels = c
        for out in conv:
            mult += h * w * 9 * channels * out
            params += 9 * channels * out + out
            channels, h, w = out, h // 2, w // 2
        dense = (h * w * channels, *hidden, n_out)
    else:
        dense = (n_in, *hidden, n_out)
    mult += sum(a * b for a, b in zip(dense[:-1], dense[1:]))
    params += sum(a * b + b for a, b in zip(dense[:-1], dense[1:]))
    return (n_in, *conv, *hidden, n_out), mult, params


def run_size(config: Config, n_train: int, n_test: int, n_probe: int,
             snapshot_epochs: Sequence[int],
             image_shape: tuple[int, int, int] = (28, 28, 1)) -> RunSize:
    """The size of ``config``'s run on a data set with these split sizes and images of
    ``image_shape`` (H, W, C).

    ``snapshot_epochs``: the epochs whose networks are measured
    (:func:`sigreport.train.snapshot_epochs`).
    """
    snaps = [e for e in snapshot_epochs if e != config.train.epochs]
    sizes, mult, params = _network_size(config, image_shape)
    return RunSize(n_train=n_train, n_test=n_test, n_probe=n_probe,
                   epochs=config.train.epochs, batch_size=config.train.batch_size,
                   n_seeds=len(config.all_seeds), n_snapshots=len(snaps),
                   sizes=sizes, multiply_adds=mult, n_params=params,
                   optimizer_states=0 if config.train.optimizer == "sgd"
                   and config.train.momentum == 0 else 1 if config.train.optimizer == "sgd" else 2,
                   cka_subsample=config.analysis.cka_subsample,
                   knn_reference=config.analysis.knn_reference)


def stage_features(size: RunSize) -> dict[str, dict[str, float]]:
    """Per stage, how much of each kind of work it does (with ``"fixed": 1``).

    ``values`` counts the activation values captured, clustered or measured
    (images x summed width of the clustered layers: input, hidden, logits);
    ``layer_fits`` the per-layer clusterings (or measurements) over all seeds
    and snapshot epochs, whose cost is dominated by fixed-size subsamples.
    """
    n_eval = size.n_test + size.n_probe
    n_snap = min(size.n_train, SNAPSHOT_TRAIN_CAP) + n_eval
    rows = size.n_seeds * (size.n_train + n_eval) + size.n_snapshots * n_snap
    weights = size.weights
    values = rows * sum(size.sizes)
    layer_fits = (size.n_seeds + size.n_snapshots) * len(size.sizes)
    steps = size.n_seeds * size.epochs * -(-size.n_train // size.batch_size)
    return {
        "data": {"fixed": 1.0, "pixels": float((size.n_train + n_eval) * size.sizes[0])},
        "train": {"fixed": 1.0,
                  "weight_updates": float(size.n_seeds * size.epochs * size.n_train * weights),
                  "steps": float(steps)},
        "activations": {"fixed": 1.0, "multiply_adds": float(rows * weights),
                        "values": float(values)},
        "signatures": {"fixed": 1.0, "layer_fits": float(layer_fits), "values": float(values)},
        "analysis": {"fixed": 1.0, "layer_fits": float(layer_fits), "values": float(values)},
        "projection": {"fixed": 1.0, "layers_drawn": float(len(size.sizes))},
        "report": {"fixed": 1.0,
                   "layers_drawn": float(len(size.sizes) * (1 + size.n_snapshots))},
    }


def estimate_seconds(size: RunSize,
                     calibration: dict[str, dict[str, float]] | None = None) -> dict[str, float]:
    """Estimated seconds per stage (keys :data:`STAGES`) on a machine like the calibration one."""
    calibration = CALIBRATION if calibration is None else calibration
    features = stage_features(size)
    return {stage: sum(calibration[stage][name] * count
                       for name, count in features[stage].items())
            for stage in STAGES}


# The process with its libraries loaded (JAX, scikit-learn, Bokeh): the data stage of the
# default run peaks at 354-414 MB on the calibration machine (manifest.json, peak_rss_mb).
BASE_BYTES = 400e6
_F32, _F64 = 4, 8


def estimate_bytes(size: RunSize) -> dict[str, float]:
    """Estimated peak memory in bytes, by what holds it; the peak is their sum.

    ``parameters``: every trained network and kept snapshot (float32), with the
    gradients, the optimiser state and XLA's working copy of one; ``activations``:
    the captured layer outputs (hidden layers before and after the activation,
    the input once) and one training batch's; ``analysis``: a float64 copy of the
    largest layer, the CKA Gram matrices and the kNN reference; ``data``: the
    images (raw and float32) and ``base`` the process itself.
    """
    n_eval = size.n_test + size.n_probe
    n_rows = size.n_train + n_eval
    n_snap = min(size.n_train, SNAPSHOT_TRAIN_CAP) + n_eval
    rows = size.n_seeds * n_rows + size.n_snapshots * n_snap
    params = float(size.parameters)
    widest = max(size.sizes)
    return {
        "base": BASE_BYTES,
        "data": float(n_rows * size.sizes[0] * (1 + _F32)),
        "parameters": params * _F32 * (size.n_seeds * (1 + size.n_snapshots)
                                       + 2 * (1 + size.optimizer_states)),
        "activations": float(rows * sum(size.sizes[1:]) * 2 * _F32
                             + size.batch_size * sum(size.sizes) * 3 * _F32),
        "analysis": float(2 * n_rows * widest * _F64 + 3 * size.cka_subsample ** 2 * _F64
                          + min(size.knn_reference, size.n_train) * widest * _F64),
    }


def available_bytes() -> float | None:
    """The memory this process may still take: the smaller of the system's available
    memory and what its cgroup allows; None where neither can be read."""
    found = []
    try:
        for line in Path("/proc/meminfo").read_text("ascii").splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024.0)
    except (OSError, ValueError):
        pass
    cgroup = Path("/sys/fs/cgroup")
    try:
        limit = (cgroup / "memory.max").read_text("ascii").strip()
        if limit != "max":
            used = (cgroup / "memory.current").read_text("ascii").strip()
            found.append(float(int(limit) - int(used)))
    except (OSError, ValueError):
        pass
    return min(found) if found else None


MEMORY_LIMIT_ENV = "SIGREPORT_MEMORY_LIMIT_GB"


def memory_limit() -> tuple[float | None, str]:
    """The memory (bytes) a run may take, and where that figure comes from.

    ``$SIGREPORT_MEMORY_LIMIT_GB`` (GB, 10**9 bytes) when set, ``0`` meaning no check
    (None); else :func:`available_bytes`. An environment variable rather than a config
    key, so that the limit of one machine changes neither a run's cache key nor its
    metrics.json.

    Raises
    ------
    ConfigError
        When the variable is set to something other than a finite number >= 0.
    """
    raw = os.environ.get(MEMORY_LIMIT_ENV)
    if raw is None or raw.strip() == "":
        return available_bytes(), "the memory this machine has available"
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise ConfigError(f"{MEMORY_LIMIT_ENV}={raw!r}: expected a number of GB >= 0 "
                          "(0: no memory check)")
    return (value * 1e9 if value > 0 else None), MEMORY_LIMIT_ENV


# --- this machine's own runs -----------------------------------------------------------

# Each stage's estimate is scaled by the runs of this machine most like it in size: the
# median of measured / estimated seconds over the RECENT_RUNS recorded runs whose estimate
# for that stage is nearest (by ratio) to this run's, of those within NEAR_FACTOR of it.
# A single scale would be wrong for runs unlike the last ones (a small sweep's fixed costs,
# a full data set's), and a median lets one run unlike the others (a machine busy for a
# while) move it no more than any other. Runs further apart say nothing of each other: a
# stage 60x smaller is mostly fixed costs, 20x its estimate where a default run's is 0.8x,
# so with none near, the stage keeps its unscaled estimate.
RECENT_RUNS = 15
NEAR_FACTOR = 4.0
# How many of the latest runs the record keeps per stage, to choose the nearest from.
KEPT_RUNS = 120


def network_family(config: Config) -> str:
    """What this machine's record of runs is kept by: the network trained here ("mlp",
    "cnn") or where an outside one comes from ("onnx", "activations"). A convolution
    costs more per multiply-add than a dense layer on a CPU, so their runs scale apart."""
    source = config.model.network_source
    return config.model.network_kind if source == "train" else source


def _machine_file(cores: int, family: str) -> Path:
    from sigreport.store import cache_root

    return cache_root() / "estimate" / f"{cores}-cores-{family}.json"


def _read_record(path: Path) -> tuple[dict[str, list[tuple[float, float]]], int]:
    """Per stage, the recorded (estimated seconds, measured / estimated) of the latest runs,
    and how many runs were recorded in all; empty for a missing, broken or older record."""
    try:
        record = json.loads(path.read_text("utf-8"))
        pairs = {stage: [(float(e), float(r)) for e, r in ps][-KEPT_RUNS:]
                 for stage, ps in record["pairs"].items() if stage in STAGES}
        if any(not (math.isfinite(e) and e > 0 and math.isfinite(r) and r >= 0)
               for ps in pairs.values() for e, r in ps):
            raise ValueError("an estimate or ratio that is not a finite number above 0")
        return pairs, int(record["runs"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}, 0


def machine_scale(estimated_s: dict[str, float], family: str = "mlp",
                  cores: int | None = None) -> tuple[dict[str, float], int, int]:
    """Per stage of ``estimated_s`` (unscaled seconds), the median of measured over estimated
    seconds of the :data:`RECENT_RUNS` recorded runs of networks of ``family`` with ``cores``
    cores (default: this process's) whose estimate of that stage is nearest to this one's,
    within :data:`NEAR_FACTOR` of it; how many runs the stage scaled by most runs used; and
    how many runs were recorded in all.

    The constants above were fitted on a 2-core machine; each run on another machine (or
    a busier one) is recorded by :func:`record_run`, per core count and network family,
    and the next estimate is scaled by the runs most like it. Empty (no scaling) before
    the first run, for a stage no recorded run was near in size, or when the cache folder
    cannot be read.
    """
    pairs, runs = _read_record(_machine_file(cores or os.cpu_count() or 1, family))
    scale, used = {}, 0
    for stage, seconds in estimated_s.items():
        if not pairs.get(stage) or not seconds > 0:
            continue
        # Latest first, so that of runs as near as each other the latest are taken.
        by_distance = sorted(((abs(math.log(e / seconds)), r) for e, r in reversed(pairs[stage])),
                             key=lambda dr: dr[0])
        near = [r for d, r in by_distance if d <= math.log(NEAR_FACTOR)][:RECENT_RUNS]
        if near:
            scale[stage] = statistics.median(near)
            used = max(used, len(near))
    return scale, used, runs


def _g4(x: float) -> float:
    """``x`` to 4 significant digits (the record's numbers are rough, its file small)."""
    return float(f"{x:.4g}")


def record_run(estimated_s: dict[str, float], measured_s: dict[str, float],
               skip: Sequence[str] = (), family: str = "mlp", cores: int | None = None
               ) -> None:
    """Add one run's measured over (unscaled) estimated seconds per stage to this machine's
    record, leaving out the stages in ``skip`` (training that came from the cache). The
    record is only an aid: a cache folder that cannot be written keeps none."""
    from sigreport.store import cache_problem

    if cache_problem() is not None or not estimated_s:
        return
    path = _machine_file(cores or os.cpu_count() or 1, family)
    pairs, runs = _read_record(path)
    for stage in STAGES:
        est = estimated_s.get(stage, 0.0)
        if stage in skip or stage not in measured_s or not est > 0 or not measured_s[stage] >= 0:
            continue
        pairs[stage] = [*pairs.get(stage, []), (_g4(est), _g4(measured_s[stage] / est))
                        ][-KEPT_RUNS:]
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        part.write_text(json.dumps({"runs": runs + 1, "pairs": pairs}), "utf-8")
        os.replace(part, path)
    except OSError:
        with contextlib.suppress(OSError):
            part.unlink()
