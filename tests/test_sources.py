"""Sources: the embedded MNIST, folders of IDX files, Fashion-MNIST, inconsistent sets."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from sigreport.config import DataConfig
from sigreport.data import sources
from sigreport.data.sources import FILES, SOURCES, describe_sources, load_raw
from sigreport.errors import DataError

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def _idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def _write_idx(path: Path, array: np.ndarray) -> Path:
    raw = _idx_bytes(array)
    path.write_bytes(gzip.compress(raw, mtime=0) if path.suffix == ".gz" else raw)
    return path


def _tiny_arrays(seed: int = 0, n_train: int = 20, n_test: int = 10) -> dict[str, np.ndarray]:
    """Two train images and one test image per class 0..9, random pixels."""
    rng = np.random.default_rng(seed)
    return {
        FILES[0]: rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8),
        FILES[1]: (np.arange(n_train) % 10).astype(np.uint8),
        FILES[2]: rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8),
        FILES[3]: (np.arange(n_test) % 10).astype(np.uint8),
    }


def _make_folder(folder: Path, arrays: dict[str, np.ndarray], suffix: str = ".gz") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for stem, array in arrays.items():
        _write_idx(folder / f"{stem}{suffix}", array)
    return folder


@pytest.fixture(autouse=True)
def _fresh_reads():
    """Each test reads its folders again (the reads are cached per process)."""
    sources._read_folder.cache_clear()
    yield
    sources._read_folder.cache_clear()


@pytest.fixture
def tiny() -> dict[str, np.ndarray]:
    return _tiny_arrays()


@pytest.fixture
def no_fashion(tmp_path, monkeypatch):
    """Fashion-MNIST neither installed nor downloaded, whatever this machine has."""
    monkeypatch.setitem(SOURCES, "fashion-mnist", dataclasses.replace(
        SOURCES["fashion-mnist"], system_dir=str(tmp_path / "not-installed")))
    monkeypatch.setenv("SIGREPORT_CACHE", str(tmp_path / "cache"))
    return tmp_path


# --- a folder of IDX files as data.path ---------------------------------------------


@pytest.mark.parametrize("suffix", [".gz", ""])
def test_folder_as_data_path(tmp_path, tiny, suffix):
    folder = _make_folder(tmp_path / "idx", tiny, suffix)

    raw = load_raw(DataConfig(path=str(folder)))

    assert raw.name == "mnist"
    assert raw.location == str(folder.resolve())
    assert raw.class_names == tuple(str(d) for d in range(10))
    np.testing.assert_array_equal(raw.train_images, tiny[FILES[0]])
    np.testing.assert_array_equal(raw.train_labels, tiny[FILES[1]])
    np.testing.assert_array_equal(raw.test_images, tiny[FILES[2]])
    np.testing.assert_array_equal(raw.test_labels, tiny[FILES[3]])
    assert raw.train_images.shape == (20, 28, 28) and raw.test_images.shape == (10, 28, 28)
    assert len(raw.sha256) == 64


def test_folder_with_dotted_standard_names(tmp_path, tiny):
    # Some distributions name the files train-images.idx3-ubyte(.gz).
    folder = tmp_path / "dotted"
    folder.mkdir()
    for stem, array in tiny.items():
        _write_idx(folder / (stem.replace("-idx", ".idx") + ".gz"), array)
    raw = load_raw(DataConfig(path=str(folder)))
    np.testing.assert_array_equal(raw.test_images, tiny[FILES[2]])


def test_folder_sha256_follows_content(tmp_path, tiny):
    a = load_raw(DataConfig(path=str(_make_folder(tmp_path / "a", tiny))))
    b = load_raw(DataConfig(path=str(_make_folder(tmp_path / "b", tiny, ""))))
    other = _tiny_arrays(seed=1)
    c = load_raw(DataConfig(path=str(_make_folder(tmp_path / "c", other))))
    assert a.sha256 == b.sha256  # same decompressed bytes, compressed or not
    assert a.sha256 != c.sha256


def test_folder_with_fashion_names(tmp_path, tiny):
    folder = _make_folder(tmp_path / "f", tiny)
    raw = load_raw(DataConfig(dataset="fashion-mnist", path=str(folder)))
    assert raw.name == "fashion-mnist"
    assert raw.class_names[0] == "T-shirt/top" and raw.class_names[9] == "Ankle boot"


def test_missing_folder(tmp_path):
    where = str(tmp_path / "nowhere")
    with pytest.raises(DataError, match="no such folder") as info:
        load_raw(DataConfig(path=where))
    assert where in str(info.value) and "data.path" in str(info.value)


@pytest.mark.parametrize("missing", FILES)
def test_missing_file(tmp_path, tiny, missing):
    folder = _make_folder(tmp_path / "idx", tiny)
    (folder / f"{missing}.gz").unlink()
    with pytest.raises(DataError) as info:
        load_raw(DataConfig(path=str(folder)))
    message = str(info.value)
    assert "missing" in message and missing in message and str(folder) in message
    assert [f for f in FILES if f in message] == [missing]


# --- inconsistent sets: the message names the file and the problem ----------------


def _error_for(tmp_path: Path, arrays: dict[str, np.ndarray]) -> str:
    folder = _make_folder(tmp_path / "bad", arrays)
    with pytest.raises(DataError) as info:
        load_raw(DataConfig(path=str(folder)))
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("split", ["train", "test"])
def test_images_and_labels_count_mismatch(tmp_path, tiny, split):
    labels = FILES[1] if split == "train" else FILES[3]
    tiny[labels] = tiny[labels][:-1]
    message = _error_for(tmp_path, tiny)
    images = FILES[0] if split == "train" else FILES[2]
    assert f"{images}.gz" in message and f"{labels}.gz" in message
    assert "do not match" in message and split in message
    n = 20 if split == "train" else 10
    assert f"{n} images, {n - 1} labels" in message


@pytest.mark.parametrize("split,bad", [("train", 10), ("test", 255)])
def test_labels_out_of_range(tmp_path, tiny, split, bad):
    labels = FILES[1] if split == "train" else FILES[3]
    tiny[labels] = tiny[labels].copy()
    tiny[labels][3] = bad
    message = _error_for(tmp_path, tiny)
    # Regression: the message named the folder, not the labels file.
    assert f"{labels}.gz" in message
    assert f"label {bad}" in message and "outside 0..9" in message


@pytest.mark.parametrize("shape", [(20, 14, 14), (20, 784), (20, 28, 28, 1)])
def test_wrong_image_shape(tmp_path, tiny, shape):
    tiny[FILES[0]] = np.zeros(shape, dtype=np.uint8)
    message = _error_for(tmp_path, tiny)
    assert f"{FILES[0]}.gz" in message and "28x28" in message and str(shape) in message


def test_regression_two_dimensional_labels_name_the_labels_file(tmp_path, tiny):
    # The message named the images file for a problem of the labels file.
    tiny[FILES[3]] = np.zeros((10, 2), dtype=np.uint8)
    message = _error_for(tmp_path, tiny)
    assert f"{FILES[3]}.gz" in message and "2 dimensions" in message
    assert FILES[2] not in message


def test_corrupt_file_in_folder(tmp_path, tiny):
    folder = _make_folder(tmp_path / "bad", tiny)
    path = folder / f"{FILES[2]}.gz"
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(DataError, match="corrupt or truncated gzip") as info:
        load_raw(DataConfig(path=str(folder)))
    assert str(path.resolve()) in str(info.value)


# --- the embedded MNIST ------------------------------------------------------------


def test_embedded_mnist_label_counts():
    raw = load_raw(DataConfig())
    assert raw.name == "mnist"
    assert raw.train_images.shape == (60000, 28, 28) and raw.train_images.dtype == np.uint8
    assert raw.test_images.shape == (10000, 28, 28) and raw.test_images.dtype == np.uint8
    assert np.bincount(raw.train_labels, minlength=10).tolist() == MNIST_TRAIN_COUNTS
    assert np.bincount(raw.test_labels, minlength=10).tolist() == MNIST_TEST_COUNTS
    assert "CC BY-SA 3.0" in raw.licence
    expected = SOURCES["mnist"].sha256
    assert raw.sha256 == hashlib.sha256("".join(expected[s] for s in FILES).encode()).hexdigest()
    assert Path(raw.location) == sources._embedded_dir().resolve()


def _damaged_copy(folder: Path) -> Path:
    """The embedded files with one test label changed (still a valid IDX file)."""
    folder.mkdir()
    for path in sources._embedded_dir().glob("*.gz"):
        shutil.copy(path, folder / path.name)
    target = folder / f"{FILES[3]}.gz"
    raw = bytearray(gzip.decompress(target.read_bytes()))
    raw[8] = (raw[8] + 1) % 10
    target.write_bytes(gzip.compress(bytes(raw), mtime=0))
    return target


def test_embedded_mnist_damaged_copy_is_caught(tmp_path, monkeypatch):
    damaged = _damaged_copy(tmp_path / "embedded")
    monkeypatch.setattr(sources, "_embedded_dir", lambda: tmp_path / "embedded")
    with pytest.raises(DataError) as info:
        load_raw(DataConfig())
    message = str(info.value)
    assert str(damaged) in message and "checksum mismatch" in message
    assert SOURCES["mnist"].sha256[FILES[3]] in message


def test_regression_embedded_check_through_a_symlink(tmp_path, monkeypatch):
    # load_raw resolves the folder; comparing it with the unresolved embedded
    # folder skipped the checksum check when a symlink was on the way.
    _damaged_copy(tmp_path / "real")
    (tmp_path / "link").symlink_to(tmp_path / "real", target_is_directory=True)
    monkeypatch.setattr(sources, "_embedded_dir", lambda: tmp_path / "link")
    with pytest.raises(DataError, match="checksum mismatch"):
        load_raw(DataConfig())


# --- Fashion-MNIST -----------------------------------------------------------------


def test_fashion_absent_without_download(no_fashion):
    with pytest.raises(DataError) as info:
        load_raw(DataConfig(dataset="fashion-mnist"))
    message = str(info.value)
    assert "data.dataset = 'fashion-mnist'" in message
    for hint in ("dataset-fashion-mnist", "data.path", "data.download = true"):
        assert hint in message, message
    # Nothing was created in the cache by merely looking.
    assert not (no_fashion / "cache" / "datasets" / "fashion-mnist").exists()


def test_fashion_from_the_system_folder(tmp_path, monkeypatch, tiny):
    folder = _make_folder(tmp_path / "usr-share", tiny)
    monkeypatch.setitem(SOURCES, "fashion-mnist", dataclasses.replace(
        SOURCES["fashion-mnist"], system_dir=str(folder)))
    monkeypatch.setenv("SIGREPORT_CACHE", str(tmp_path / "cache"))
    raw = load_raw(DataConfig(dataset="fashion-mnist"))
    assert raw.location == str(folder.resolve())
    assert raw.class_names[9] == "Ankle boot"
    np.testing.assert_array_equal(raw.train_labels, tiny[FILES[1]])


def test_fashion_from_the_download_cache_without_download(no_fashion, tiny):
    folder = _make_folder(no_fashion / "cache" / "datasets" / "fashion-mnist", tiny)
    raw = load_raw(DataConfig(dataset="fashion-mnist", download=False))
    assert raw.location == str(folder.resolve())


def test_describe_sources_when_fashion_is_absent(no_fashion):
    rows = {row["name"]: row for row in describe_sources()}
    assert list(rows) == ["mnist", "fashion-mnist"]
    for row in rows.values():
        assert set(row) == {"name", "description", "available", "where"}
    assert rows["mnist"]["available"] == "yes"
    assert rows["mnist"]["where"] == str(sources._embedded_dir())
    assert rows["fashion-mnist"]["available"] == "no"
    assert "data.path" in rows["fashion-mnist"]["where"]
    assert "data.download" in rows["fashion-mnist"]["where"]


def test_describe_sources_when_fashion_is_installed(tmp_path, monkeypatch, tiny):
    folder = _make_folder(tmp_path / "usr-share", tiny, "")
    monkeypatch.setitem(SOURCES, "fashion-mnist", dataclasses.replace(
        SOURCES["fashion-mnist"], system_dir=str(folder)))
    monkeypatch.setenv("SIGREPORT_CACHE", str(tmp_path / "cache"))
    row = {r["name"]: r for r in describe_sources()}["fashion-mnist"]
    assert row["available"] == "yes" and row["where"] == str(folder)


def test_describe_sources_finds_the_download_cache(no_fashion, tiny):
    folder = _make_folder(no_fashion / "cache" / "datasets" / "fashion-mnist", tiny)
    row = {r["name"]: r for r in describe_sources()}["fashion-mnist"]
    assert row["available"] == "yes" and row["where"] == str(folder)
