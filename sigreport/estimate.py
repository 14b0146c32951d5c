"""How long a run will take, estimated from its size before the long work starts.

Each stage's time is modelled as ``seconds = fixed + per_unit * work``, where
``work`` counts what the stage does, read from the config and the data set's
size: images, epochs, layer widths, seeds and snapshot epochs. The two
constants of each stage were fitted by least squares to runs measured on a
2-core machine (``bench/growth.py`` measures them again and prints the fitted
constants beside the estimate's error), so an estimate is only as good as the
machine is like that one; the CLI says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sigreport.config import Config

__all__ = ["CALIBRATION", "STAGES", "RunSize", "estimate_seconds", "run_size", "stage_work"]

STAGES = ("data", "train", "activations", "signatures", "analysis", "report")
N_PIXELS = 28 * 28
# Training samples a snapshot epoch is measured on (pipeline.SNAPSHOT_TRAIN_CAP).
SNAPSHOT_TRAIN_CAP = 10000

# stage -> (fixed seconds, seconds per work unit), fitted by bench/growth.py.
CALIBRATION: dict[str, tuple[float, float]] = {
    "data": (0.3, 2.4e-10),
    "train": (1.8, 1.05e-10),
    "activations": (0.4, 1.0e-10),
    "signatures": (10.0, 5.0e-8),
    "analysis": (1.5, 2.0e-7),
    "report": (3.0, 0.15),
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
    n_seeds: int
    n_snapshots: int
    sizes: tuple[int, ...]

    @property
    def n_weights(self) -> int:
        """Weights of the dense layers (multiply-adds per image in a forward pass)."""
        return sum(a * b for a, b in zip(self.sizes[:-1], self.sizes[1:]))

    @property
    def clustered_width(self) -> int:
        """Summed width of the clustered layers: input, hidden layers, logits."""
        return sum(self.sizes)


def run_size(config: Config, n_train: int, n_test: int, n_probe: int,
             snapshot_epochs: Sequence[int]) -> RunSize:
    """The size of ``config``'s run on a data set with these split sizes.

    ``snapshot_epochs``: the epochs whose networks are measured
    (:func:`sigreport.train.snapshot_epochs`).
    """
    snaps = [e for e in snapshot_epochs if e != config.train.epochs]
    return RunSize(n_train=n_train, n_test=n_test, n_probe=n_probe,
                   epochs=config.train.epochs, n_seeds=len(config.all_seeds),
                   n_snapshots=len(snaps),
                   sizes=(N_PIXELS, *config.model.hidden, len(config.data.classes)))


def stage_work(size: RunSize) -> dict[str, float]:
    """Work units per stage: what each stage's time is modelled to grow with.

    data: pixels prepared; train: weight updates (images x epochs x weights x
    seeds); activations: multiply-adds of every capture; signatures and
    analysis: activation values clustered and measured (images x clustered
    width, for every seed and snapshot); report: clustered layers drawn.
    """
    n_eval = size.n_test + size.n_probe
    n_all = size.n_train + n_eval
    n_snap = min(size.n_train, SNAPSHOT_TRAIN_CAP) + n_eval
    rows = size.n_seeds * n_all + size.n_snapshots * n_snap
    n_layers = len(size.sizes)
    return {
        "data": float(n_all * N_PIXELS),
        "train": float(size.n_seeds * size.epochs * size.n_train * size.n_weights),
        "activations": float(rows * size.n_weights),
        "signatures": float(rows * size.clustered_width),
        "analysis": float(rows * size.clustered_width),
        "report": float(n_layers * (1 + size.n_snapshots)),
    }


def estimate_seconds(size: RunSize) -> dict[str, float]:
    """Estimated seconds per stage (keys :data:`STAGES`) on a machine like the calibration one."""
    work = stage_work(size)
    return {stage: CALIBRATION[stage][0] + CALIBRATION[stage][1] * work[stage]
            for stage in STAGES}
