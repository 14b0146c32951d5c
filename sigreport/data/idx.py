"""Reader for the IDX format that MNIST and Fashion-MNIST are published in.

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number
of dimensions), one big-endian uint32 per dimension, then the data. Only the
unsigned-byte type (0x08) is used by these data sets, and it is the only one
accepted here. Every problem raises :class:`DataError` naming the file.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sigreport.errors import DataError

__all__ = ["IdxArray", "parse_idx", "read_idx"]

_UBYTE = 0x08
# The largest file we are willing to read; the biggest MNIST file is 47 MB.
_MAX_BYTES = 1 << 31


@dataclass(frozen=True)
class IdxArray:
    """The decoded content of one IDX file.

    Attributes
    ----------
    data:
        uint8 array of the file's shape, e.g. (60000, 28, 28) or (60000,).
    sha256:
        Hex digest of the decompressed bytes, as published checksums state it.
    """

    data: np.ndarray
    sha256: str


def parse_idx(raw: bytes, name: str) -> np.ndarray:
    """Decode the bytes of an IDX file (already decompressed) into a uint8 array.

    Raises :class:`DataError` for a wrong magic number, a type other than
    unsigned byte, zero dimensions, or a byte count that does not match the
    header.
    """
    if len(raw) < 4:
        raise DataError(f"{name}: truncated IDX file ({len(raw)} bytes, no header)")
    if raw[0] != 0 or raw[1] != 0:
        raise DataError(f"{name}: not an IDX file (magic number {raw[:4].hex()})")
    dtype, n_dims = raw[2], raw[3]
    if dtype != _UBYTE:
        raise DataError(f"{name}: IDX data type 0x{dtype:02x} is not supported (expected 0x08)")
    if n_dims == 0:
        raise DataError(f"{name}: IDX header declares zero dimensions")
    header = 4 + 4 * n_dims
    if len(raw) < header:
        raise DataError(f"{name}: truncated IDX header ({len(raw)} of {header} bytes)")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=n_dims, offset=4))
    # Python ints: a uint64 product can wrap around to match the data length.
    expected = math.prod(shape)
    actual = len(raw) - header
    if actual != expected:
        problem = "truncated" if actual < expected else "has trailing bytes"
        raise DataError(
            f"{name}: {problem}: header says {'x'.join(map(str, shape))} = {expected} "
            f"bytes of data, file has {actual}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def read_idx(path: str | Path) -> IdxArray:
    """Read an IDX file, gzip-compressed (``.gz``) or plain.

    Returns the array and the sha256 of its decompressed bytes.
    """
    path = Path(path)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as fh:
                raw = _read_limited(fh)
        else:
            raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (OSError, EOFError, zlib.error) as exc:
        what = "corrupt or truncated gzip data" if path.suffix == ".gz" else "cannot be read"
        raise DataError(f"{path}: {what} ({exc})") from None
    if len(raw) > _MAX_BYTES:
        raise DataError(f"{path}: larger than {_MAX_BYTES} bytes, not an IDX data set")
    data = parse_idx(raw, str(path))
    return IdxArray(data=data, sha256=hashlib.sha256(raw).hexdigest())


def _read_limited(fh: gzip.GzipFile) -> bytes:
    """At most ``_MAX_BYTES + 1`` decompressed bytes, read in chunks.

    A single ``read(_MAX_BYTES + 1)`` allocates that whole buffer up front.
    """
    chunks = []
    total = 0
    while total <= _MAX_BYTES and (chunk := fh.read(min(1 << 24, _MAX_BYTES + 1 - total))):
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)
