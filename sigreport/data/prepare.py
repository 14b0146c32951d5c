"""Preparation as the original study did it.

Keep the chosen classes, a fixed number of images per class (a seeded draw, or
the first ones in file order as the original code took them; or every image of
each class for "all"), scale pixels to [0, 1], flatten each image (H x W x C values, 784
for MNIST's 28x28), and
one-hot the labels over the SORTED kept classes. Probe classes come from the
test split (or, as in the original code, from the training split) and are
never part of training.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sigreport.config import ALL, DataConfig
from sigreport.data.sources import RawData, label_counts
from sigreport.errors import ConfigError, DataError

__all__ = ["Dataset", "Split", "check_counts", "check_data", "prepare_dataset", "takes_all"]

_IMAGE_BLOCK = 8192


@dataclass(frozen=True)
class Split:
    """One part of a prepared data set.

    Attributes
    ----------
    x:
        float32, shape (n_samples, H*W*C) (784 for MNIST), pixels scaled to [0, 1].
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
    # The shape of one image as the source holds it (H, W) or (H, W, C); x is it flattened.
    # None: the inputs are no images (vectors from an activations file).
    image_shape: tuple[int, ...] | None = (28, 28)

    @property
    def n_samples(self) -> int:
        return len(self.y)

    def images(self) -> np.ndarray:
        """uint8 images, shape (n_samples, *image_shape), recovered from ``x``."""
        if self.image_shape is None:
            raise ValueError("this split's inputs are no images")
        out = np.empty((self.n_samples, int(np.prod(self.image_shape))), np.uint8)
        # In blocks: two float32 copies of a whole training split would double its memory.
        for start in range(0, self.n_samples, _IMAGE_BLOCK):
            block = self.x[start:start + _IMAGE_BLOCK] * np.float32(255.0)
            out[start:start + _IMAGE_BLOCK] = np.rint(block, out=block)
        return out.reshape(-1, *self.image_shape)


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
    # (H, W, C) of the images; x holds them flattened in that order. None: no images.
    image_shape: tuple[int, int, int] | None = (28, 28, 1)

    @property
    def images_hwc(self) -> tuple[int, int, int]:
        """(H, W, C) of the images, for the stages that need images (training, the estimate).

        Raises
        ------
        DataError
            When the inputs are no images (vectors from an activations file).
        """
        if self.image_shape is None:
            raise DataError("these inputs are vectors, not images: a network can be trained "
                            "and measured on images only")
        return self.image_shape

    @property
    def class_map(self) -> dict[int, int]:
        return {c: j for j, c in enumerate(self.classes)}

    @property
    def n_classes(self) -> int:
        return len(self.classes)


def _probe_ask(cfg: DataConfig) -> tuple[str, int | str | None, str]:
    """(source split, images per class, the key that sets it) of the probe classes."""
    if cfg.n_probe_per_class is not None:
        return cfg.probe_split, cfg.n_probe_per_class, "data.n_probe_per_class"
    if cfg.probe_split == "train":
        return "train", cfg.n_per_class, "data.n_per_class"
    return "test", cfg.n_test_per_class, "data.n_test_per_class"


def check_counts(cfg: DataConfig, train_counts: np.ndarray, test_counts: np.ndarray) -> None:
    """Raise :class:`ConfigError` when a split has fewer images of a class than ``cfg`` asks for.

    ``train_counts`` and ``test_counts`` are int (n_dataset_classes,): images per class id
    in the source's train and test splits.
    """
    counts = {"train": train_counts, "test": test_counts}
    probe_split, n_probe, probe_key = _probe_ask(cfg)
    asks = (("data.classes", cfg.classes, "train", "data.n_per_class", cfg.n_per_class),
            ("data.classes", cfg.classes, "test", "data.n_test_per_class", cfg.n_test_per_class),
            ("data.probe_classes", cfg.probe_classes, probe_split, probe_key, n_probe))
    for key, wanted, split, n_key, n_per_class in asks:
        for c in sorted(wanted):
            have = int(counts[split][c]) if c < len(counts[split]) else 0
            if have == 0:
                raise ConfigError(
                    f"{key}: class {c} has no images in the {split} split of this data set")
            count = per_class_count(n_per_class)
            if count is not None and count > have:
                raise ConfigError(
                    f"{n_key} = {n_per_class}: expected at most {have}, "
                    f"the number of {split} images of class {c}"
                )


def takes_all(n_per_class: int | str | None) -> bool:
    """Whether a per-class count means every image of the class (``"all"``, or unset)."""
    return n_per_class is None or n_per_class == ALL


def per_class_count(n_per_class: int | str | None) -> int | None:
    """The number of images a per-class count asks for; None for every image."""
    return None if n_per_class is None or isinstance(n_per_class, str) else n_per_class


def _pick(labels: np.ndarray, wanted: tuple[int, ...], n_per_class: int | str | None,
          rng: np.random.Generator, selection: str) -> np.ndarray:
    """Row indices of ``n_per_class`` samples of each wanted class (all for "all"), sorted.

    ``selection`` "first" takes each class's first rows in file order and draws
    nothing from ``rng``; "random" draws them from ``rng``. The counts are
    checked by :func:`check_counts` first.
    """
    chosen = []
    for c in wanted:
        rows = np.flatnonzero(labels == c)
        count = per_class_count(n_per_class)
        if count is not None:
            rows = (rows[:count] if selection == "first"
                    else np.sort(rng.choice(rows, size=count, replace=False)))
        chosen.append(rows)
    if not chosen:
        return np.zeros(0, dtype=np.int64)
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def _split(images: np.ndarray, labels: np.ndarray, rows: np.ndarray,
           classes: tuple[int, ...], source: str) -> Split:
    y = labels[rows].astype(np.int64)
    x = images[rows].reshape(len(rows), -1 if len(rows) else int(np.prod(images.shape[1:])))
    # uint8 pixels are scaled to [0, 1]; float pixels (an .npz file's) are in it already.
    x = x.astype(np.float32) / np.float32(255.0) if x.dtype == np.uint8 else x.astype(np.float32)
    onehot = (y[:, None] == np.asarray(classes)[None, :]).astype(np.float32)
    return Split(x=x, y=y, onehot=onehot, index=rows, source=source,
                 image_shape=tuple(images.shape[1:]))


def prepare_dataset(raw: RawData, cfg: DataConfig, seed: int) -> Dataset:
    """Select, balance, scale and one-hot a raw data set.

    A random selection is drawn from ``np.random.default_rng(seed)``, so the
    same config gives the same images; ``cfg.selection = "first"`` ignores the seed.
    """
    classes = tuple(sorted(cfg.classes))
    probes = tuple(sorted(cfg.probe_classes))
    n_ids = len(raw.class_names)
    check_counts(cfg, np.bincount(raw.train_labels, minlength=n_ids),
                 np.bincount(raw.test_labels, minlength=n_ids))
    rng = np.random.default_rng([seed, 0x5EED])
    sel = cfg.selection
    train_rows = _pick(raw.train_labels, classes, cfg.n_per_class, rng, sel)
    test_rows = _pick(raw.test_labels, classes, cfg.n_test_per_class, rng, sel)
    probe_split, n_probe, _ = _probe_ask(cfg)
    probe_images, probe_labels = ((raw.train_images, raw.train_labels) if probe_split == "train"
                                  else (raw.test_images, raw.test_labels))
    probe_rows = _pick(probe_labels, probes, n_probe, rng, sel)
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
        image_shape=_hwc(raw.train_images.shape[1:]),
    )


def _hwc(shape: tuple[int, ...]) -> tuple[int, int, int]:
    """(H, W, C) of images of ``shape`` (H, W) or (H, W, C)."""
    return (shape[0], shape[1], shape[2] if len(shape) > 2 else 1)


def check_data(cfg: DataConfig) -> None:
    """Check the per-class counts ``cfg`` asks for before any image is loaded.

    For the embedded MNIST the counts come from its two label files alone (a few
    milliseconds), so a bad ``data.n_per_class`` is answered before anything heavy
    is imported or loaded. Other sources are checked by :func:`prepare_dataset`
    once loaded, with the same messages.

    Raises
    ------
    ConfigError
        As :func:`check_counts`.
    """
    counts = label_counts(cfg)
    if counts is not None:
        check_counts(cfg, *counts)
