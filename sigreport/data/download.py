"""Checksum-verified downloads into a cache folder, for machines with internet.

A file is written under a temporary name beside its destination, verified,
and only then renamed into place, so an interrupted or corrupt download never
leaves a partial file where a later run would trust it.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from sigreport.errors import DataError

__all__ = ["fetch"]

_CHUNK = 1 << 16


def fetch(mirrors: list[str] | tuple[str, ...], filename: str, md5: str, dest_dir: Path,
          timeout: float = 60.0) -> Path:
    """Download ``filename`` from the first mirror that serves it with the right MD5.

    Parameters
    ----------
    mirrors:
        Base URLs, each ending in ``/``; tried in order.
    filename:
        The file's name on the mirrors and in ``dest_dir``.
    md5:
        Expected hex MD5 of the file as served.
    dest_dir:
        Cache folder; created if missing.

    Returns the path of the verified file. An existing file with the right
    checksum is reused without a request. Raises :class:`DataError` naming
    every mirror's failure when none succeeds.
    """
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"{dest_dir}: cannot create the download folder ({exc})") from None
    dest = dest_dir / filename
    if dest.is_file() and _md5(dest) == md5:
        return dest
    failures = []
    for base in mirrors:
        url = base + filename
        try:
            fd, tmp_name = tempfile.mkstemp(prefix=f".{filename}.", suffix=".part", dir=dest_dir)
        except OSError as exc:
            raise DataError(f"{dest_dir}: cannot write the download there ({exc})") from None
        tmp = Path(tmp_name)
        try:
            digest = hashlib.md5(usedforsecurity=False)
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
                while chunk := resp.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
            if digest.hexdigest() != md5:
                failures.append(f"{url}: checksum mismatch "
                                f"(md5 {digest.hexdigest()}, expected {md5})")
                continue
            os.replace(tmp, dest)
            return dest
        # HTTPException: a garbled or cut-short response (BadStatusLine, IncompleteRead),
        # which is not an OSError.
        except (urllib.error.URLError, OSError, TimeoutError, http.client.HTTPException) as exc:
            # HTTPError's str keeps the status code ("HTTP Error 404: Not Found"); it
            # also holds the open response, closed here rather than whenever GC runs.
            if isinstance(exc, urllib.error.HTTPError):
                exc.close()
            reason = exc if isinstance(exc, urllib.error.HTTPError) else getattr(exc, "reason", exc)
            failures.append(f"{url}: {reason or type(exc).__name__}")
        finally:
            tmp.unlink(missing_ok=True)
    raise DataError(f"could not download {filename}: " + "; ".join(failures))


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
