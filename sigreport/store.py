"""Where results live: the stage cache and atomic report folders.

The cache keeps each stage's output as one ``.npz`` file (arrays plus a JSON
header) under a key made of the config subset the stage depends on, the data
checksum and the package version. Report folders are built beside their
destination and renamed into place, so an interrupted run never damages the
previous report.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import platformdirs

__all__ = ["cache_key", "cache_root", "load_cached", "save_cached", "write_folder_atomic"]

_META = "__meta__"


def cache_root() -> Path:
    """The cache folder: ``$SIGREPORT_CACHE`` if set, else the user cache dir."""
    env = os.environ.get("SIGREPORT_CACHE")
    return Path(env) if env else Path(platformdirs.user_cache_dir("sigreport"))


def cache_key(stage: str, **parts: Any) -> str:
    """A short stable hash of a stage name, the package version and ``parts``.

    ``parts`` must be JSON-serialisable (plain config dicts, checksums, seeds).
    """
    from sigreport import __version__

    # parts are nested so that a part named "version" cannot replace the package version.
    blob = json.dumps({"stage": stage, "version": __version__, "parts": parts}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def _path(stage: str, key: str) -> Path:
    return cache_root() / "stages" / stage / f"{key}.npz"


def load_cached(stage: str, key: str) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
    """The arrays and JSON header saved for ``(stage, key)``, or None on a miss.

    A damaged cache file counts as a miss (and is removed).
    """
    path = _path(stage, key)
    if not path.is_file():
        return None
    try:
        # The file is opened here: np.load leaks its own handle when the zip is damaged.
        with path.open("rb") as fh, np.load(fh, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files if k != _META}
            meta = json.loads(str(npz[_META]))
    except Exception:  # noqa: BLE001 -- any damage (bad zip or CRC, bad JSON, not an npz) is a miss
        path.unlink(missing_ok=True)
        return None
    return arrays, meta


def save_cached(stage: str, key: str, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    """Save a stage's output; written to a temporary file, then renamed into place."""
    path = _path(stage, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{key}.", suffix=".npz", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays, **{_META: np.asarray(json.dumps(meta))})
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _recover(dest: Path) -> None:
    """Put back a previous folder left aside by a run killed between two renames.

    When ``dest`` exists, folders left aside are stale (possibly half deleted by a
    run killed while removing them): they are removed, so that only a complete
    previous folder can ever be put back.
    """
    olds = sorted(dest.parent.glob(f".{dest.name}.old-*"))
    if dest.exists():
        for stale in olds:
            shutil.rmtree(stale, ignore_errors=True)
        return
    if olds:
        os.replace(olds[-1], dest)


def write_folder_atomic(dest: Path, files: dict[str, bytes | str]) -> None:
    """Write ``files`` (relative path -> content) as the folder ``dest``, atomically.

    The folder is built under a temporary name in ``dest``'s parent and renamed
    into place; the previous ``dest``, if any, is removed only after that.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    _recover(dest)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=dest.parent))
    # mkdtemp makes the folder 0700, which would hide the report from other users
    # (a web server); made again under the name it reserved, it follows the umask.
    tmp.rmdir()
    tmp.mkdir()
    old: Path | None = None
    try:
        for rel, content in files.items():
            if Path(rel).is_absolute() or ".." in Path(rel).parts:
                raise ValueError(f"{rel!r}: not a path inside the folder")
            target = tmp / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, str):
                target.write_text(content, encoding="utf-8")
            else:
                target.write_bytes(content)
        if dest.exists():
            # mkdtemp reserves a unique name; the folder is then swapped in.
            old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=dest.parent))
            old.rmdir()
            os.replace(dest, old)
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        _recover(dest)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
