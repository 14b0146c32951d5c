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

from collections.abc import Sequence
from dataclasses import dataclass

from sigreport.config import Config

__all__ = ["CALIBRATION", "STAGES", "RunSize", "estimate_seconds", "run_size", "stage_features"]

STAGES = ("data", "train", "activations", "signatures", "analysis", "report")
N_PIXELS = 28 * 28
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
    "report": {"fixed": 0.895, "layers_drawn": 0.0219},
}


@dataclass(frozen=True)
class RunSize:
    """What a run's cost depends on.

    ``sizes`` are the layer widths from input to output (784, hidden..., classes);
    ``n_snapshots`` counts the snapshot epochs other than the last, which are
    captured and clustered on at most ``SNAPSHOT_TRAIN_CAP`` training images.
    """

    n_train: int
    n_test: int
    n_probe: int
    epochs: int
    batch_size: int
    n_seeds: int
    n_snapshots: int
    sizes: tuple[int, ...]


def run_size(config: Config, n_train: int, n_test: int, n_probe: int,
             snapshot_epochs: Sequence[int]) -> RunSize:
    """The size of ``config``'s run on a data set with these split sizes.

    ``snapshot_epochs``: the epochs whose networks are measured
    (:func:`sigreport.train.snapshot_epochs`).
    """
    snaps = [e for e in snapshot_epochs if e != config.train.epochs]
    return RunSize(n_train=n_train, n_test=n_test, n_probe=n_probe,
                   epochs=config.train.epochs, batch_size=config.train.batch_size,
                   n_seeds=len(config.all_seeds), n_snapshots=len(snaps),
                   sizes=(N_PIXELS, *config.model.hidden, len(config.data.classes)))


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
    weights = sum(a * b for a, b in zip(size.sizes[:-1], size.sizes[1:]))
    values = rows * sum(size.sizes)
    layer_fits = (size.n_seeds + size.n_snapshots) * len(size.sizes)
    steps = size.n_seeds * size.epochs * -(-size.n_train // size.batch_size)
    return {
        "data": {"fixed": 1.0, "pixels": float((size.n_train + n_eval) * N_PIXELS)},
        "train": {"fixed": 1.0,
                  "weight_updates": float(size.n_seeds * size.epochs * size.n_train * weights),
                  "steps": float(steps)},
        "activations": {"fixed": 1.0, "multiply_adds": float(rows * weights),
                        "values": float(values)},
        "signatures": {"fixed": 1.0, "layer_fits": float(layer_fits), "values": float(values)},
        "analysis": {"fixed": 1.0, "layer_fits": float(layer_fits), "values": float(values)},
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
