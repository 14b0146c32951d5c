"""Where the images come from: the embedded MNIST, Fashion-MNIST, any IDX folder, or a
user's .npz file of images (:mod:`sigreport.data.npz`).

Every named source is the four standard IDX files (train and test images and labels).
The embedded MNIST's checksums are verified when it is first loaded in a process.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from sigreport.config import DataConfig
from sigreport.data.download import fetch
from sigreport.data.idx import read_idx
from sigreport.data.npz import is_npz, read_npz_images
from sigreport.errors import DataError
from sigreport.store import cache_root

__all__ = ["FILES", "SOURCES", "RawData", "Source", "describe_sources", "image_shape",
           "label_counts", "load_raw"]

# The four files, in the order train images, train labels, test images, test labels.
FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


@dataclass(frozen=True)
class Source:
    """A named data set and the places it can be found."""

    name: str
    description: str
    licence: str
    class_names: tuple[str, ...]
    # MD5 of each .gz file as the mirrors serve it.
    mirrors: tuple[str, ...]
    md5: dict[str, str]
    # sha256 of each DECOMPRESSED file, where known; verified when given.
    sha256: dict[str, str] | None = None
    system_dir: str | None = None


SOURCES: dict[str, Source] = {
    "mnist": Source(
        name="mnist",
        description="MNIST handwritten digits, embedded in the package",
        licence="MNIST database by Yann LeCun, Corinna Cortes and Christopher J.C. Burges, "
        "CC BY-SA 3.0",
        class_names=tuple(str(d) for d in range(10)),
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
        ),
        md5={
            "train-images-idx3-ubyte": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte": "ec29112dd5afa0611ce80d1b7f02629c",
        },
        sha256={
            "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",  # noqa: E501 (a digest)
            "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",  # noqa: E501 (a digest)
            "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",  # noqa: E501 (a digest)
            "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",  # noqa: E501 (a digest)
        },
    ),
    "fashion-mnist": Source(
        name="fashion-mnist",
        description="Fashion-MNIST, Zalando article images",
        licence="Fashion-MNIST by Zalando Research, MIT licence",
        class_names=(
            "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
            "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
        ),
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        md5={
            "train-images-idx3-ubyte": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte": "bb300cfdad3c16e7a12a480ee83cd310",
        },
        system_dir="/usr/share/datasets/fashion-mnist",
    ),
}


@dataclass(frozen=True)
class RawData:
    """The four IDX files of a source, decoded.

    Attributes
    ----------
    train_images, test_images:
        uint8 arrays of shape (n_samples, 28, 28) for IDX files; an .npz file's are
        (n_samples, H, W) or (n_samples, H, W, C), uint8 or float32 in [0, 1].
    train_labels, test_labels:
        integer arrays of shape (n_samples,).
    sha256:
        One digest over the four files' decompressed checksums.
    """

    name: str
    location: str
    class_names: tuple[str, ...]
    licence: str
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    sha256: str


def _embedded_dir() -> Path:
    return Path(str(resources.files("sigreport") / "data" / "mnist"))


def _download_dir(name: str) -> Path:
    return cache_root() / "datasets" / name


def _find(folder: Path, stem: str) -> Path | None:
    for candidate in (f"{stem}.gz", stem, stem.replace("-idx", ".idx") + ".gz",
                      stem.replace("-idx", ".idx")):
        if (folder / candidate).is_file():
            return folder / candidate
    return None


def _has_files(folder: Path) -> bool:
    return folder.is_dir() and all(_find(folder, stem) for stem in FILES)


def _locate(source: Source, cfg: DataConfig) -> Path:
    if cfg.path is not None:
        folder = Path(cfg.path).expanduser()
        if not folder.is_dir():
            raise DataError(f"data.path = {cfg.path!r}: no such folder")
        missing = [s for s in FILES if _find(folder, s) is None]
        if missing:
            raise DataError(f"data.path = {cfg.path!r}: missing {', '.join(missing)} "
                            "(.gz or plain)")
        return folder
    if source.name == "mnist":
        return _embedded_dir()
    candidates: tuple[Path | None, ...] = (
        Path(source.system_dir) if source.system_dir else None, _download_dir(source.name))
    for candidate in candidates:
        if candidate is not None and _has_files(candidate):
            return candidate
    if not cfg.download:
        raise DataError(
            f"data.dataset = {source.name!r} is not on this machine: install the Debian package "
            f"dataset-fashion-mnist, set data.path to a folder of its four IDX files, "
            f"or set data.download = true"
        )
    folder = _download_dir(source.name)
    for stem in FILES:
        fetch(source.mirrors, f"{stem}.gz", source.md5[stem], folder)
    return folder


@functools.lru_cache(maxsize=4)
def _read_folder(folder: Path, name: str) -> RawData:
    source = SOURCES[name]
    parts = [read_idx(_find(folder, stem)) for stem in FILES]  # type: ignore[arg-type]
    # load_raw passes a resolved folder; a symlink on the way must not skip the check.
    if source.sha256 is not None and folder == _embedded_dir().resolve():
        for stem, part in zip(FILES, parts):
            if part.sha256 != source.sha256[stem]:
                raise DataError(
                    f"{_find(folder, stem)}: checksum mismatch (sha256 {part.sha256}, "
                    f"expected {source.sha256[stem]}); the installed package is damaged"
                )
    train_x, train_y, test_x, test_y = (p.data for p in parts)
    paths = [_find(folder, stem) for stem in FILES]
    for split, x, y, x_path, y_path in (("train", train_x, train_y, paths[0], paths[1]),
                                        ("test", test_x, test_y, paths[2], paths[3])):
        if x.ndim != 3 or x.shape[1:] != (28, 28):
            raise DataError(f"{x_path}: expected images of 28x28, got shape {x.shape}")
        if y.ndim != 1:
            raise DataError(f"{y_path}: labels file has {y.ndim} dimensions, expected 1")
        if len(x) != len(y):
            raise DataError(
                f"{x_path} and {y_path}: {split} images and labels do not match "
                f"({len(x)} images, {len(y)} labels)"
            )
        if len(y) and int(y.max()) >= len(source.class_names):
            raise DataError(
                f"{y_path}: {split} label {int(y.max())} is outside "
                f"0..{len(source.class_names) - 1}"
            )
    combined = hashlib.sha256("".join(p.sha256 for p in parts).encode()).hexdigest()
    return RawData(
        name=name,
        location=str(folder),
        class_names=source.class_names,
        licence=source.licence,
        train_images=train_x,
        train_labels=train_y,
        test_images=test_x,
        test_labels=test_y,
        sha256=combined,
    )


def load_raw(cfg: DataConfig) -> RawData:
    """Find and read the data set a config asks for: ``data.path`` as a folder of IDX files
    or an .npz file of images (:mod:`sigreport.data.npz`), else ``data.dataset``'s source.

    Raises :class:`DataError` when it is missing, corrupt or inconsistent.
    """
    if cfg.path is not None and is_npz(cfg.path):
        path = Path(cfg.path).expanduser()
        stat = path.stat() if path.is_file() else None
        return _read_npz_cached(cfg.path, stat.st_mtime_ns if stat else 0,
                                stat.st_size if stat else 0)
    source = SOURCES[cfg.dataset]
    return _read_folder(_locate(source, cfg).resolve(), source.name)


@functools.lru_cache(maxsize=2)
def _read_npz_cached(path: str, _mtime_ns: int, _size: int) -> RawData:
    # Keyed by the file's time and size too, so a file written again is read again.
    return read_npz_images(path)


def image_shape(cfg: DataConfig) -> tuple[int, int, int]:
    """(H, W, C) of the images ``cfg`` names: an .npz file's own, else 28x28 grey (every IDX
    source sigreport reads)."""
    if cfg.path is not None and is_npz(cfg.path):
        shape = load_raw(cfg).train_images.shape[1:]
        return (shape[0], shape[1], shape[2] if len(shape) > 2 else 1)
    return (28, 28, 1)


@functools.lru_cache(maxsize=1)
def _embedded_label_counts() -> tuple[np.ndarray, np.ndarray]:
    folder = _embedded_dir()
    n_ids = len(SOURCES["mnist"].class_names)
    train, test = (read_idx(_find(folder, stem)).data  # type: ignore[arg-type]
                   for stem in (FILES[1], FILES[3]))
    return np.bincount(train, minlength=n_ids), np.bincount(test, minlength=n_ids)


def label_counts(cfg: DataConfig) -> tuple[np.ndarray, np.ndarray] | None:
    """Images per class id in the train and test splits, read from the label files only.

    Known before loading for the embedded MNIST; None for other sources, whose
    counts are known once they are loaded (:func:`load_raw`).
    """
    if cfg.dataset != "mnist" or cfg.path is not None:
        return None
    return _embedded_label_counts()


def describe_sources() -> list[dict[str, str]]:
    """One row per source: name, description, where it is found here, or why not."""
    rows = []
    for source in SOURCES.values():
        places = [_embedded_dir()] if source.name == "mnist" else []
        if source.system_dir:
            places.append(Path(source.system_dir))
        places.append(_download_dir(source.name))
        found = next((p for p in places if _has_files(p)), None)
        rows.append({
            "name": source.name,
            "description": source.description,
            "available": "yes" if found else "no",
            "where": str(found) if found else "set data.path, install the Debian package, "
            "or set data.download = true",
        })
    return rows
