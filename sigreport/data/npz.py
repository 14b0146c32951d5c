"""A user's labelled images from one ``.npz`` file (``data.path = "images.npz"``).

The file holds ``x`` (n_samples, H, W) or (n_samples, H, W, C) images, uint8 or
floating point in [0, 1], and ``y`` (n_samples,) integer labels; every seventh image
(rows 6, 13, 20, ...) is the test split. Or it holds the two splits itself, as
Keras' ``mnist.npz`` does: ``x_train``, ``y_train``, ``x_test``, ``y_test``.
``class_names`` (one string per label id) is optional.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import numpy as np

from sigreport.errors import DataError

__all__ = ["TEST_EVERY", "check_images", "is_npz", "read_npz", "read_npz_images"]

# Without x_train/x_test, row i is a test image when i % TEST_EVERY == TEST_EVERY - 1
# (MNIST's 60,000/10,000 proportion, interleaved so a file sorted by class splits evenly).
TEST_EVERY = 7


def is_npz(path: str | Path) -> bool:
    """Whether ``path`` names an .npz file rather than a folder of IDX files."""
    return str(path).lower().endswith(".npz")


def read_npz(path: str | Path, what: str) -> tuple[dict[str, np.ndarray], str]:
    """Every array of the .npz file ``path`` (no pickled objects) and the file's sha256.

    Raises
    ------
    DataError
        Not a file, not an .npz archive, or an array that cannot be read; ``what`` names the
        key that gave the path (e.g. "data.path").
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise DataError(f"{what} = {str(path)!r}: not a file")
    digest = hashlib.sha256()
    try:
        with p.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        with np.load(p, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DataError(f"{what} = {str(path)!r}: not an .npz file of arrays ({first[:200]})"
                        ) from None
    if not isinstance(arrays, dict) or not arrays:
        raise DataError(f"{what} = {str(path)!r}: not an .npz file of arrays")
    return arrays, digest.hexdigest()


def check_images(x: np.ndarray, where: str) -> tuple[int, ...]:
    """The shape of one image, (H, W) or (H, W, C), of a stack ``x`` that must be uint8 or
    finite floating point in [0, 1]; ``where`` starts the error line."""
    if x.ndim not in (3, 4) or 0 in x.shape[1:]:
        raise DataError(f"{where}: expected images (n, H, W) or (n, H, W, C), got shape "
                        f"{list(x.shape)}")
    if x.dtype != np.uint8:
        if not np.issubdtype(x.dtype, np.floating):
            raise DataError(f"{where}: expected uint8 or float pixels, got {x.dtype}")
        if x.size and not np.isfinite(x).all():
            raise DataError(f"{where}: holds non-finite values")
        if x.size and (float(x.min()) < 0 or float(x.max()) > 1):
            raise DataError(f"{where}: float pixels must lie in [0, 1], got "
                            f"[{float(x.min()):.4g}, {float(x.max()):.4g}]")
    shape = tuple(int(d) for d in x.shape[1:])
    return shape[:2] if len(shape) == 3 and shape[2] == 1 else shape


def check_labels(y: np.ndarray, n: int, where: str) -> np.ndarray:
    """``y`` as int64 (n,), checked to be non-negative integers, one per row."""
    if y.ndim != 1 or not (np.issubdtype(y.dtype, np.integer) or y.dtype == np.bool_):
        raise DataError(f"{where}: expected integer labels of shape ({n},), got "
                        f"{y.dtype} {list(y.shape)}")
    if len(y) != n:
        raise DataError(f"{where}: {len(y)} labels for {n} rows")
    if len(y) and int(y.min()) < 0:
        raise DataError(f"{where}: labels must be non-negative class ids, got {int(y.min())}")
    return y.astype(np.int64)


def read_npz_images(path: str | Path):
    """The images of an .npz file as :class:`~sigreport.data.sources.RawData`.

    Raises
    ------
    DataError
        A file that is no .npz, keys missing, images or labels of the wrong shape or type,
        float pixels outside [0, 1] or not finite, images of different shapes in the splits.
    """
    from sigreport.data.sources import RawData

    shown = str(path)
    arrays, sha = read_npz(path, "data.path")
    where = f"data.path = {shown!r}"
    if {"x_train", "y_train", "x_test", "y_test"} <= set(arrays):
        parts = {split: (arrays[f"x_{split}"], arrays[f"y_{split}"]) for split in ("train", "test")}
    elif {"x", "y"} <= set(arrays):
        x, y = arrays["x"], arrays["y"]
        if len(x) != len(y):
            raise DataError(f"{where}: {len(x)} images in x but {len(y)} labels in y")
        test = np.arange(len(x)) % TEST_EVERY == TEST_EVERY - 1
        parts = {"train": (x[~test], y[~test]), "test": (x[test], y[test])}
    else:
        raise DataError(f"{where}: expected arrays x and y (or x_train, y_train, x_test, "
                        f"y_test); found {', '.join(sorted(arrays)) or 'none'}")
    shapes = {}
    labels = {}
    for split, (x, y) in parts.items():
        x_key, y_key = ("x", "y") if "x" in arrays else (f"x_{split}", f"y_{split}")
        shapes[split] = check_images(x, f"{where}: {x_key}")
        labels[split] = check_labels(y, len(x), f"{where}: {y_key}")
    if shapes["train"] != shapes["test"]:
        raise DataError(f"{where}: train images are {shapes['train']}, test images "
                        f"{shapes['test']}; expected one image shape")
    n_ids = max([int(v.max()) + 1 for v in labels.values() if len(v)] or [1])
    names = tuple(str(c) for c in range(n_ids))
    if "class_names" in arrays:
        given = arrays["class_names"]
        if given.ndim != 1 or given.dtype.kind not in "US" or len(given) < n_ids:
            raise DataError(f"{where}: class_names must be {n_ids} or more strings, one per "
                            "label id")
        names = tuple(str(v) for v in given.tolist())

    def images(x: np.ndarray) -> np.ndarray:
        x = x[..., 0] if x.ndim == 4 and x.shape[3] == 1 else x
        return x if x.dtype == np.uint8 else x.astype(np.float32)

    return RawData(name=Path(shown).name, location=str(Path(shown).expanduser().resolve()),
                   class_names=names, licence="the file's own",
                   train_images=images(parts["train"][0]), train_labels=labels["train"],
                   test_images=images(parts["test"][0]), test_labels=labels["test"],
                   sha256=sha)
