"""Preparation as the original study did it.

Keep the chosen classes, a fixed number of images per class (a seeded draw, or
the first ones in file order as the original code took them), scale pixels to
[0, 1], flatten 28x28 to 784, and one-hot the labels over the SORTED kept
classes. Probe classes come from the test split (or, as in the original code,
from the training split) and are never part of training.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sigreport.config import DataConfig
from sigreport.data.sources import RawData
from sigreport.errors import ConfigError

__all__ = ["Dataset", "Split", "prepare_dataset"]

N_PIXELS = 28 * 28


@dataclass(frozen=True)
class Split:
    """One part of a prepared data set.

    Attributes
    ----------
    x:
        float32, shape (n_samples, 784), pixels scaled to [0, 1].
    y:
        int64, shape (n_samples,), the ORIGINAL class ids (e.g. 1 and 7).
    onehot:
        float32, shape (n_samples, n_classes), over the sorted trained classes;
        all-zero rows for probe samples, which belong to no trained class.
    index:
        int64, shape (n_samples,), each sample's row in the source split
        (``source`` is "train" or "test"), so a report can show its image.
    """

    x: np.ndarray
    y: np.ndarray
    onehot: np.ndarray
    index: np.ndarray
    source: str

    @property
    def n_samples(self) -> int:
        return len(self.y)

    def images(self) -> np.ndarray:
        """uint8 images, shape (n_samples, 28, 28), recovered from ``x``."""
        return np.rint(self.x * 255.0).astype(np.uint8).reshape(-1, 28, 28)


@dataclass(frozen=True)
class Dataset:
    """Trained classes, their train and test splits, and the probe split.

    ``classes`` is sorted; column ``j`` of ``onehot`` is ``classes[j]``
    (``class_map`` records that as {class id: column}).
    """

    name: str
    class_names: tuple[str, ...]
    classes: tuple[int, ...]
    probe_classes: tuple[int, ...]
    train: Split
    test: Split
    probe: Split
    sha256: str
    licence: str

    @property
    def class_map(self) -> dict[int, int]:
        return {c: j for j, c in enumerate(self.classes)}

    @property
    def n_classes(self) -> int:
        return len(self.classes)


def _pick(labels: np.ndarray, wanted: tuple[int, ...], n_per_class: int | None,
          rng: np.random.Generator, key: str, split: str, count_key: str,
          selection: str) -> np.ndarray:
    """Row indices of ``n_per_class`` samples of each wanted class (all when None), sorted.

    ``selection`` "first" takes each class's first rows in file order and draws
    nothing from ``rng``; "random" draws them from ``rng``.
    """
    chosen = []
    for c in wanted:
        rows = np.flatnonzero(labels == c)
        if len(rows) == 0:
            raise ConfigError(f"{key}: class {c} has no images in the {split} split of this data set")
        if n_per_class is not None:
            if n_per_class > len(rows):
                raise ConfigError(
                    f"{count_key} = {n_per_class}: expected at most {len(rows)}, "
                    f"the number of {split} images of class {c}"
                )
            rows = (rows[:n_per_class] if selection == "first"
                    else np.sort(rng.choice(rows, size=n_per_class, replace=False)))
        chosen.append(rows)
    if not chosen:
        return np.zeros(0, dtype=np.int64)
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def _split(images: np.ndarray, labels: np.ndarray, rows: np.ndarray,
           classes: tuple[int, ...], source: str) -> Split:
    y = labels[rows].astype(np.int64)
    x = images[rows].reshape(len(rows), N_PIXELS).astype(np.float32) / np.float32(255.0)
    onehot = (y[:, None] == np.asarray(classes)[None, :]).astype(np.float32)
    return Split(x=x, y=y, onehot=onehot, index=rows, source=source)


def prepare_dataset(raw: RawData, cfg: DataConfig, seed: int) -> Dataset:
    """Select, balance, scale and one-hot a raw data set.

    A random selection is drawn from ``np.random.default_rng(seed)``, so the
    same config gives the same images; ``cfg.selection = "first"`` ignores the seed.
    """
    classes = tuple(sorted(cfg.classes))
    probes = tuple(sorted(cfg.probe_classes))
    rng = np.random.default_rng([seed, 0x5EED])
    sel = cfg.selection
    train_rows = _pick(raw.train_labels, classes, cfg.n_per_class, rng, "data.classes", "train",
                       "data.n_per_class", sel)
    test_rows = _pick(raw.test_labels, classes, cfg.n_test_per_class, rng, "data.classes", "test",
                      "data.n_test_per_class", sel)
    from_train = cfg.probe_split == "train"
    n_probe, probe_key = (cfg.n_probe_per_class, "data.n_probe_per_class")
    if n_probe is None:
        n_probe, probe_key = ((cfg.n_per_class, "data.n_per_class") if from_train
                              else (cfg.n_test_per_class, "data.n_test_per_class"))
    probe_images, probe_labels = ((raw.train_images, raw.train_labels) if from_train
                                  else (raw.test_images, raw.test_labels))
    probe_rows = _pick(probe_labels, probes, n_probe, rng, "data.probe_classes",
                       cfg.probe_split, probe_key, sel)
    return Dataset(
        name=raw.name,
        class_names=raw.class_names,
        classes=classes,
        probe_classes=probes,
        train=_split(raw.train_images, raw.train_labels, train_rows, classes, "train"),
        test=_split(raw.test_images, raw.test_labels, test_rows, classes, "test"),
        probe=_split(probe_images, probe_labels, probe_rows, classes, cfg.probe_split),
        sha256=raw.sha256,
        licence=raw.licence,
    )
