"""The IDX reader: valid files, every way a file can be broken, and fuzzing."""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sigreport.data import idx
from sigreport.data.idx import IdxArray, parse_idx, read_idx
from sigreport.errors import DataError


def _idx_bytes(array: np.ndarray, dtype_code: int = 0x08) -> bytes:
    """The IDX encoding of a uint8 array: magic, big-endian dims, data."""
    header = bytes([0, 0, dtype_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def _write(path: Path, raw: bytes) -> Path:
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(raw, mtime=0))
    else:
        path.write_bytes(raw)
    return path


@pytest.fixture
def images() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=(5, 28, 28), dtype=np.uint8)


# --- valid files -------------------------------------------------------------------


@pytest.mark.parametrize("filename", ["images-idx3-ubyte.gz", "images-idx3-ubyte"])
def test_read_idx_valid_file_gz_and_plain(tmp_path, images, filename):
    raw = _idx_bytes(images)
    path = _write(tmp_path / filename, raw)

    result = read_idx(path)

    assert isinstance(result, IdxArray)
    assert result.data.dtype == np.uint8
    assert result.data.shape == (5, 28, 28)
    np.testing.assert_array_equal(result.data, images)
    # The checksum is of the decompressed bytes, whatever the compression.
    assert result.sha256 == hashlib.sha256(raw).hexdigest()


def test_read_idx_accepts_str_path(tmp_path, images):
    path = _write(tmp_path / "x-idx3-ubyte", _idx_bytes(images))
    np.testing.assert_array_equal(read_idx(str(path)).data, images)


@pytest.mark.parametrize("shape", [(7,), (3, 4), (2, 3, 4), (1, 1, 1, 1), (0, 28, 28)])
def test_parse_idx_round_trips_shapes(shape):
    array = np.arange(int(np.prod(shape)), dtype=np.uint8).reshape(shape)
    parsed = parse_idx(_idx_bytes(array), "x")
    assert parsed.shape == shape
    np.testing.assert_array_equal(parsed, array)


def test_gz_and_plain_give_same_sha256(tmp_path, images):
    raw = _idx_bytes(images)
    a = read_idx(_write(tmp_path / "a.gz", raw))
    b = read_idx(_write(tmp_path / "b", raw))
    assert a.sha256 == b.sha256


# --- broken files: DataError naming the file and the problem -----------------------


def _assert_data_error(path: Path | str, *words: str) -> DataError:
    with pytest.raises(DataError) as info:
        read_idx(path)
    message = str(info.value)
    assert str(path) in message, message
    for word in words:
        assert word in message, message
    assert "\n" not in message
    return info.value


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_truncated_data(tmp_path, images, suffix):
    raw = _idx_bytes(images)
    path = _write(tmp_path / f"t-idx3-ubyte{suffix}", raw[:-100])
    _assert_data_error(path, "truncated", "5x28x28", "3920")


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_truncated_header(tmp_path, suffix):
    # Three dimensions announced, only one written.
    path = _write(tmp_path / f"h{suffix}", bytes([0, 0, 8, 3]) + struct.pack(">I", 5))
    _assert_data_error(path, "truncated IDX header")


@pytest.mark.parametrize("raw", [b"", b"\x00", b"\x00\x00\x08"])
def test_shorter_than_magic(tmp_path, raw):
    path = _write(tmp_path / "short", raw)
    _assert_data_error(path, "truncated", "no header")


def test_corrupt_gzip_bitflip(tmp_path, images):
    good = gzip.compress(_idx_bytes(images), mtime=0)
    bad = bytearray(good)
    for i in range(40, 60):
        bad[i] ^= 0xFF
    path = tmp_path / "c-idx3-ubyte.gz"
    path.write_bytes(bytes(bad))
    _assert_data_error(path, "corrupt or truncated gzip")


def test_truncated_gzip_stream(tmp_path, images):
    good = gzip.compress(_idx_bytes(images), mtime=0)
    path = tmp_path / "c-idx3-ubyte.gz"
    path.write_bytes(good[: len(good) // 2])
    _assert_data_error(path, "corrupt or truncated gzip")


def test_gz_suffix_on_plain_bytes(tmp_path, images):
    path = tmp_path / "plain-but-named.gz"
    path.write_bytes(_idx_bytes(images))
    _assert_data_error(path, "gzip")


@pytest.mark.parametrize("magic", [b"\x12\x34\x08\x03", b"\x00\x01\x08\x03", b"PK\x03\x04"])
def test_wrong_magic(tmp_path, images, magic):
    raw = magic + _idx_bytes(images)[4:]
    path = _write(tmp_path / "m.gz", raw)
    _assert_data_error(path, "not an IDX file", magic.hex())


@pytest.mark.parametrize("code", [0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x00])
def test_wrong_data_type(tmp_path, images, code):
    path = _write(tmp_path / "d", _idx_bytes(images, dtype_code=code))
    _assert_data_error(path, f"0x{code:02x}", "not supported")


def test_zero_dimensions(tmp_path):
    path = _write(tmp_path / "z.gz", bytes([0, 0, 8, 0]))
    _assert_data_error(path, "zero dimensions")


@pytest.mark.parametrize("extra", [b"\x00", b"trailing garbage" * 10])
def test_trailing_bytes(tmp_path, images, extra):
    path = _write(tmp_path / "tr.gz", _idx_bytes(images) + extra)
    _assert_data_error(path, "trailing bytes", "5x28x28")


def test_missing_file(tmp_path):
    _assert_data_error(tmp_path / "nope-idx1-ubyte.gz", "not found")


def test_folder_instead_of_file(tmp_path):
    folder = tmp_path / "a-folder"
    folder.mkdir()
    _assert_data_error(folder, "cannot be read")


def test_parse_idx_names_the_file():
    with pytest.raises(DataError, match="^the-name: not an IDX file"):
        parse_idx(b"\x01\x02\x03\x04", "the-name")


def test_regression_dimension_product_wrapping_around_uint64():
    # 65536**4 == 2**64: a uint64 product wraps to 0 and matched an empty body,
    # so the reshape raised a ValueError instead of a DataError.
    raw = bytes([0, 0, 8, 4]) + struct.pack(">4I", 65536, 65536, 65536, 65536)
    with pytest.raises(DataError, match="truncated"):
        parse_idx(raw, "wrap")


def test_size_limit(tmp_path, monkeypatch, images):
    monkeypatch.setattr(idx, "_MAX_BYTES", 1000)
    path = _write(tmp_path / "big.gz", _idx_bytes(images))
    _assert_data_error(path, "larger than 1000 bytes")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_regression_gzip_read_does_not_reserve_the_size_limit(tmp_path, images):
    # read(_MAX_BYTES + 1) allocated 2 GiB up front: MemoryError under an
    # address-space limit even for a tiny file.
    path = _write(tmp_path / "small-idx3-ubyte.gz", _idx_bytes(images))
    script = textwrap.dedent(
        f"""
        import resource
        from sigreport.data.idx import read_idx
        # 1 GiB more address space than the imports took: far below the 2 GiB limit.
        with open("/proc/self/status") as fh:
            used = next(int(line.split()[1]) << 10 for line in fh if line.startswith("VmSize:"))
        resource.setrlimit(resource.RLIMIT_AS, (used + (1 << 30), used + (1 << 30)))
        print(read_idx({str(path)!r}).data.shape)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, check=False, cwd=tmp_path,
                          env={**os.environ, "OPENBLAS_NUM_THREADS": "1",
                               "PYTHONPATH": str(Path(idx.__file__).parents[2])})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(5, 28, 28)"


def _bomb(path: Path, shape: tuple[int, ...], n_zero_mib: int) -> Path:
    """A gzip file of an IDX header declaring ``shape``, then ``n_zero_mib`` MiB of zeros
    that compress to about a thousandth of that (gzip members, one after another)."""
    header = bytes([0, 0, 8, len(shape)]) + struct.pack(f">{len(shape)}I", *shape)
    zeros = gzip.compress(bytes(1 << 24), mtime=0)
    with path.open("wb") as fh:
        fh.write(gzip.compress(header, mtime=0))
        for _ in range(n_zero_mib // 16):
            fh.write(zeros)
    return path


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_regression_gzip_bomb_is_refused_within_its_declared_size(tmp_path):
    # 2.1 MB of gzip cost 4.3 GB of memory before it was refused: the whole stream
    # up to the size limit was decompressed, then joined.
    trailing = _bomb(tmp_path / "trailing-idx3-ubyte.gz", (10, 28, 28), 1024)
    huge = _bomb(tmp_path / "huge-idx3-ubyte.gz", (65536, 65536), 16)
    assert trailing.stat().st_size < 3 << 20
    script = textwrap.dedent(
        f"""
        import resource
        from sigreport.data.idx import read_idx
        from sigreport.errors import DataError
        # 256 MiB more address space than the imports took: a quarter of the bomb.
        with open("/proc/self/status") as fh:
            used = next(int(line.split()[1]) << 10 for line in fh if line.startswith("VmSize:"))
        resource.setrlimit(resource.RLIMIT_AS, (used + (1 << 28), used + (1 << 28)))
        for path in ({str(trailing)!r}, {str(huge)!r}):
            try:
                read_idx(path)
            except DataError as exc:
                print(exc)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, check=False, cwd=tmp_path,
                          env={**os.environ, "OPENBLAS_NUM_THREADS": "1",
                               "PYTHONPATH": str(Path(idx.__file__).parents[2])})
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        (f"{trailing}: has trailing bytes: header says 10x28x28 = 7840 bytes of data, "
         "file has more"),
        (f"{huge}: header declares 65536x65536 = 4294967296 bytes of data, larger than "
         f"{idx._MAX_BYTES} bytes, not an IDX data set")]


# --- fuzzing: nothing but DataError ------------------------------------------------

_SMALL = _idx_bytes(np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4))
_FUZZ = settings(max_examples=200, deadline=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture])


def _parse_or_data_error(raw: bytes) -> None:
    try:
        out = parse_idx(raw, "fuzz")
    except DataError as exc:
        assert "fuzz" in str(exc)
        return
    assert out.dtype == np.uint8
    assert out.size == len(raw) - 4 - 4 * out.ndim


def _read_or_data_error(path: Path) -> None:
    try:
        out = read_idx(path)
    except DataError as exc:
        assert str(path) in str(exc)
        return
    assert out.data.dtype == np.uint8


@st.composite
def _mutated(draw) -> bytes:
    """The small valid file with random byte changes, insertions and a truncation."""
    raw = bytearray(_SMALL)
    for _ in range(draw(st.integers(0, 4))):
        pos = draw(st.integers(0, len(raw) - 1))
        raw[pos] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        pos = draw(st.integers(0, len(raw)))
        raw[pos:pos] = draw(st.binary(max_size=8))
    if draw(st.booleans()):
        raw = raw[: draw(st.integers(0, len(raw)))]
    return bytes(raw)


@_FUZZ
@given(raw=st.binary(max_size=200))
def test_fuzz_parse_idx_random_bytes(raw):
    _parse_or_data_error(raw)


@_FUZZ
@given(head=st.sampled_from([b"\x00\x00\x08", b"\x00\x00"]), raw=st.binary(max_size=64))
def test_fuzz_parse_idx_plausible_headers(head, raw):
    # Random bytes rarely start like an IDX file; these do, so the dims are exercised.
    _parse_or_data_error(head + raw)


@_FUZZ
@given(raw=_mutated())
def test_fuzz_parse_idx_mutations(raw):
    _parse_or_data_error(raw)


@_FUZZ
@given(raw=st.one_of(st.binary(max_size=200), _mutated()), suffix=st.sampled_from(["", ".gz"]))
def test_fuzz_read_idx_files(tmp_path, raw, suffix):
    _read_or_data_error(_write(tmp_path / f"fuzz{suffix}", raw))


@_FUZZ
@given(data=st.data())
def test_fuzz_read_idx_damaged_gzip(tmp_path, data):
    # Mutations and truncations of the COMPRESSED bytes of a valid file.
    packed = bytearray(gzip.compress(_SMALL, mtime=0))
    for _ in range(data.draw(st.integers(0, 3))):
        pos = data.draw(st.integers(0, len(packed) - 1))
        packed[pos] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        packed = packed[: data.draw(st.integers(0, len(packed)))]
    path = tmp_path / "fuzz.gz"
    path.write_bytes(bytes(packed))
    _read_or_data_error(path)
