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
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sigreport.errors import DataError

__all__ = ["IdxArray", "parse_idx", "read_idx"]

_UBYTE = 0x08
# The largest file we are willing to read; the biggest MNIST file is 47 MB.
_MAX_BYTES = 1 << 31
_CHUNK = 1 << 20


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


def parse_idx(raw: bytes | memoryview, name: str) -> np.ndarray:
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

    Returns the array and the sha256 of its decompressed bytes. The header is
    read first: a file that declares more than ``_MAX_BYTES`` of data is
    refused before anything else is read, and no more than the declared size
    (plus one byte, to notice trailing data) is ever decompressed.
    """
    path = Path(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as fh:
            raw = _read_declared(fh, str(path))
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (OSError, EOFError, zlib.error) as exc:
        what = "corrupt or truncated gzip data" if path.suffix == ".gz" else "cannot be read"
        raise DataError(f"{path}: {what} ({exc})") from None
    data = parse_idx(raw, str(path))
    return IdxArray(data=data, sha256=hashlib.sha256(raw).hexdigest())


def _read_upto(fh: Any, view: memoryview) -> int:
    """Fill ``view`` from ``fh`` in chunks (a gzip read copies each chunk once); bytes read."""
    done = 0
    while done < len(view):
        n = fh.readinto(view[done:done + _CHUNK])
        if not n:
            break
        done += n
    return done


def _read_declared(fh: Any, name: str) -> memoryview:
    """The header and at most the data size it declares, in one buffer.

    Whatever stops short of a valid header is returned as is, for
    :func:`parse_idx` to name the problem.
    """
    head = bytearray(4)
    got = _read_upto(fh, memoryview(head))
    if got < 4 or head[:3] != bytes((0, 0, _UBYTE)) or head[3] == 0:
        return memoryview(head)[:got]
    dims = bytearray(4 * head[3])
    got_dims = _read_upto(fh, memoryview(dims))
    if got_dims < len(dims):
        return memoryview(head + dims[:got_dims])
    shape = struct.unpack(f">{head[3]}I", dims)
    expected = math.prod(shape)
    if expected > _MAX_BYTES:
        raise DataError(f"{name}: header declares {'x'.join(map(str, shape))} = {expected} "
                        f"bytes of data, larger than {_MAX_BYTES} bytes, not an IDX data set")
    n_header = 4 + len(dims)
    buf = bytearray(n_header + expected + 1)
    buf[:n_header] = head + dims
    total = n_header + _read_upto(fh, memoryview(buf)[n_header:])
    if total == len(buf):
        raise DataError(f"{name}: has trailing bytes: header says {'x'.join(map(str, shape))} "
                        f"= {expected} bytes of data, file has more")
    return memoryview(buf)[:total]
