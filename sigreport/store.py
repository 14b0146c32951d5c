"""Where results live: the stage cache and atomic report folders.

The cache keeps each stage's output as one ``.npz`` file (arrays plus a JSON
header) under a key made of the config subset the stage depends on, the data
checksum and the package version. It is an optimisation only: an entry that
does not load is a miss, and a cache that cannot be written is done without.

Report folders are built beside their destination and renamed into place, so
an interrupted run never damages the previous report. Each output name has a
lock (``.<name>.lock`` beside it, held with ``flock``): runs writing the same
name take turns, and a folder left aside by a run that was killed is put back
by the next writer or site build that finds its lock free.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import numpy as np
import platformdirs

from sigreport.errors import OutputError

__all__ = [
    "BOKEH_DIR",
    "build_folder_atomic",
    "cache_key",
    "cache_problem",
    "cache_root",
    "check_writable",
    "content_hash",
    "enable_compilation_cache",
    "folder_lock",
    "load_cached",
    "naming",
    "os_error_line",
    "recover_folders",
    "save_cached",
    "write_folder_atomic",
]

# The folder beside site-mode reports that holds the BokehJS they load (../_bokeh/).
BOKEH_DIR = "_bokeh"
_META = "__meta__"
_HASH = "__sha256__"
# ".<name>.old-<tag>" (the previous folder, set aside) and ".<name>.tmp-<tag>" (the new one,
# being written). A tag never holds "." or "-", so the last ".old-"/".tmp-" ends the name.
_ASIDE = re.compile(r"^\.(?P<name>.+)\.(?P<kind>old|tmp)-[0-9a-z_]+$")


def os_error_line(exc: OSError) -> str:
    """One line naming the path an OS error is about and its cause."""
    cause = exc.strerror or str(exc) or type(exc).__name__
    paths = [str(p) for p in (exc.filename, exc.filename2) if p is not None]
    return f"{' -> '.join(paths)}: {cause}" if paths else cause


@contextmanager
def naming(path: Path | str) -> Iterator[None]:
    """Make an OS error raised in the block name ``path`` when it names no file.

    A failed ``write`` (disk full, file too large) says what went wrong but not where.
    """
    try:
        yield
    except OSError as exc:
        if exc.filename is not None:
            raise
        raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from None


# --- checks before work ------------------------------------------------------------


def check_writable(folder: Path | str, what: str = "output folder") -> None:
    """Fail now, in one line, if ``folder`` is not (and cannot be made) a writable folder.

    Nothing is left behind: the check creates one empty folder and removes it.

    Raises
    ------
    OutputError
        When a part of the path is a file, a name is longer than the file system
        allows, or the nearest existing folder does not accept new entries.
    """
    given, folder = folder, Path(os.path.abspath(folder))
    missing: list[str] = []
    existing = folder
    while not os.path.lexists(existing):
        missing.append(existing.name)
        existing = existing.parent
    if not existing.is_dir():
        where = "exists" if existing == folder else f"needs {existing}, which exists"
        raise OutputError(f"{what} {given}: {where} and is not a folder")
    try:
        limit = os.pathconf(existing, "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255
    for name in missing:
        if len(os.fsencode(name)) > limit:
            raise OutputError(f"{what} {given}: a name in the path is {len(os.fsencode(name))} "
                              f"bytes long, the file system allows {limit}")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".sigreport-check-", dir=existing))
    except OSError as exc:
        raise OutputError(f"{what} {given}: cannot create anything in {existing} "
                          f"({exc.strerror or exc})") from None


# --- the stage cache ---------------------------------------------------------------


def cache_root() -> Path:
    """The cache folder: ``$SIGREPORT_CACHE`` if set, else the user cache dir."""
    env = os.environ.get("SIGREPORT_CACHE")
    return Path(env) if env else Path(platformdirs.user_cache_dir("sigreport"))


def cache_problem() -> str | None:
    """Why the cache folder cannot be written (one line), or None when it can.

    Nothing is left behind by asking.
    """
    try:
        check_writable(cache_root(), "cache folder")
    except OutputError as exc:
        return str(exc)
    return None


def enable_compilation_cache() -> None:
    """Keep XLA's compiled programs across runs in the cache folder (a process-wide JAX
    setting); without a writable cache folder nothing changes (the run says so once)."""
    if cache_problem() is not None:
        return
    import jax

    jax.config.update("jax_compilation_cache_dir", str(cache_root() / "jax"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)


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


def _remove(path: Path) -> None:
    """Remove a file, a link or a folder tree; a link is removed, never followed."""
    if path.is_symlink() or not path.is_dir():
        with suppress(FileNotFoundError):
            path.unlink()
    else:
        shutil.rmtree(path, ignore_errors=True)


def content_hash(stage: str, key: str, arrays: dict[str, np.ndarray], meta: dict[str, Any]
                 ) -> str:
    """The SHA-256 of a cache entry's content and of the ``(stage, key)`` it was made for.

    Every array counts with its name, dtype, shape and bytes, and the JSON header
    too: an entry whose content was changed, or that was copied under another
    key, no longer matches.
    """
    digest = hashlib.sha256()
    digest.update(json.dumps({"stage": stage, "key": key, "meta": meta}, sort_keys=True).encode())
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(json.dumps([name, array.dtype.str, array.shape]).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def load_cached(stage: str, key: str, note: Callable[[str], None] = lambda _msg: None
                ) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
    """The arrays and JSON header saved for ``(stage, key)``, or None on a miss.

    Anything that does not load (damaged, not an npz, not a file) is a miss;
    a damaged file is removed when the cache can be written. An entry whose
    content does not match the hash saved with it (see :func:`content_hash`)
    is a miss too, and ``note`` receives one line saying so.
    """
    path = _path(stage, key)
    if not path.is_file():
        return None
    try:
        # The file is opened here: np.load leaks its own handle when the zip is damaged.
        with path.open("rb") as fh, np.load(fh, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files if k not in (_META, _HASH)}
            meta = json.loads(str(npz[_META]))
            saved = str(npz[_HASH]) if _HASH in npz.files else None
    except Exception:  # noqa: BLE001 -- any damage (bad zip or CRC, bad JSON, not an npz) is a miss
        with suppress(OSError):
            path.unlink()
        return None
    if saved != content_hash(stage, key, arrays, meta):
        why = "carries no content hash" if saved is None else "does not match its content hash"
        note(f"cache entry {path} {why}; not used")
        with suppress(OSError):
            path.unlink()
        return None
    return arrays, meta


def save_cached(stage: str, key: str, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    """Save a stage's output; written to a temporary file, then renamed into place.

    Whatever stands at the entry's place (a damaged file, a folder) is replaced.

    Raises
    ------
    OSError
        When the cache cannot be written; no partial entry is left.
    """
    path = _path(stage, key)
    arrays = {name: np.asarray(a) for name, a in arrays.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{key}.", suffix=".npz", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            extra = {_META: np.asarray(json.dumps(meta)),
                     _HASH: np.asarray(content_hash(stage, key, arrays, meta))}
            np.savez(fh, **arrays, **extra)  # type: ignore[arg-type]  # numpy's stub: allow_pickle
        if path.is_dir() and not path.is_symlink():
            _remove(path)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


# --- atomic report folders ---------------------------------------------------------


@contextmanager
def folder_lock(parent: Path, name: str, wait: bool = True) -> Iterator[bool]:
    """Hold the lock of the output name ``name`` in ``parent`` while the block runs.

    Yields True once the lock is held; with ``wait=False``, yields False at
    once when another process holds it. The lock file is removed on release
    (a waiter that then holds a removed file tries again on the new one).
    """
    path = parent / f".{name}.lock"
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            yield False
            return
        try:
            held = os.stat(path, follow_symlinks=False)
            mine = os.fstat(fd)
            if (held.st_dev, held.st_ino) == (mine.st_dev, mine.st_ino):
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        yield True
    finally:
        with suppress(OSError):
            path.unlink()
        os.close(fd)


def _aside(parent: Path) -> dict[str, list[tuple[str, Path]]]:
    """Output name -> (``"old"`` or ``"tmp"``, path) of what was set aside or being written."""
    found: dict[str, list[tuple[str, Path]]] = {}
    try:
        entries = list(parent.iterdir())
    except OSError:
        return found
    for entry in entries:
        match = _ASIDE.match(entry.name)
        if match:
            found.setdefault(match["name"], []).append((match["kind"], entry))
    return found


def _recover(dest: Path) -> None:
    """With ``dest``'s lock held: put back a previous folder left aside, remove the rest.

    A run killed between its two renames leaves the previous folder set aside
    (``.old-``) and no ``dest``: it is put back. Every other folder set aside or
    half written for this name is stale (its writer is gone) and removed, so
    that only a complete previous folder can ever be put back.
    """
    found = _aside(dest.parent).get(dest.name, [])
    stale = [path for _kind, path in found]
    if not os.path.lexists(dest):
        olds = [path for kind, path in found
                if kind == "old" and path.is_dir() and not path.is_symlink()]
        if olds:
            newest = max(olds, key=lambda p: p.stat().st_mtime)
            os.replace(newest, dest)
            stale.remove(newest)
    for path in stale:
        _remove(path)


def recover_folders(parent: Path | str,
                    warn: Callable[[str], None] = lambda _msg: None) -> list[str]:
    """Put back every folder in ``parent`` left aside by a killed run; returns their names.

    Names whose lock is held belong to a live run and are left to it.
    Temporary folders of runs that are gone are removed.
    """
    parent = Path(parent)
    restored = []
    for name, found in sorted(_aside(parent).items()):
        had = os.path.lexists(parent / name)
        try:
            with folder_lock(parent, name, wait=False) as held:
                if held:
                    _recover(parent / name)
        except OSError as exc:
            warn(f"{found[0][1]}: cannot tidy up what an interrupted run left "
                 f"({os_error_line(exc)})")
            continue
        if not had and os.path.lexists(parent / name):
            restored.append(name)
    return restored


def _reserve(parent: Path, prefix: str) -> Path:
    """A new empty folder ``<prefix><random tag>`` in ``parent``, following the umask."""
    while True:
        path = parent / f"{prefix}{secrets.token_hex(4)}"
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Swap the paths ``a`` and ``b`` in one atomic step (Linux ``renameat2`` with
    ``RENAME_EXCHANGE``); False where the system or its file system cannot."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def write_folder_atomic(dest: Path, files: dict[str, bytes | str]) -> None:
    """Write ``files`` (relative path -> content) as the folder ``dest``, atomically.

    See :func:`build_folder_atomic`, which this calls with a writer of ``files``.
    """
    for rel in files:
        if Path(rel).is_absolute() or ".." in Path(rel).parts:
            raise ValueError(f"{rel!r}: not a path inside the folder")

    def fill(tmp: Path) -> None:
        for rel, content in files.items():
            target = tmp / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            with naming(dest / rel):
                if isinstance(content, str):
                    target.write_text(content, encoding="utf-8")
                else:
                    target.write_bytes(content)

    build_folder_atomic(dest, fill)


def build_folder_atomic(dest: Path, fill: Callable[[Path], None]) -> None:
    """Make the folder ``dest`` with ``fill`` and put it in place in one step.

    ``fill`` receives an empty folder under a temporary name in ``dest``'s parent
    (so on the same file system) and writes the new content there. The folder
    is then swapped into place in one step where the system allows (else the
    previous one is set aside, then renamed); the previous ``dest``, if any, is
    removed only after that. When ``fill`` or the swap fails, the temporary
    folder is removed and ``dest`` is left as it was. Writers of the same
    ``dest`` take turns (see :func:`folder_lock`), and folders left aside beside
    it by killed writers are put back first.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    with folder_lock(dest.parent, dest.name):
        _recover(dest)
        tmp = _reserve(dest.parent, f".{dest.name}.tmp-")
        old: Path | None = None
        try:
            fill(tmp)
            if os.path.lexists(dest) and _exchange(tmp, dest):
                # one step: ``dest`` is never missing; the previous folder is now ``tmp``
                old = tmp
            else:
                if os.path.lexists(dest):
                    old = dest.parent / f".{dest.name}.old-{secrets.token_hex(4)}"
                    os.replace(dest, old)
                os.replace(tmp, dest)
        except BaseException:
            _recover(dest)
            raise
        if old is not None:
            _remove(old)
    recover_folders(dest.parent)
