"""The stage cache and atomic report folders, including a writer killed at random moments."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sigreport
from sigreport.errors import OutputError
from sigreport.store import (
    cache_key,
    cache_problem,
    cache_root,
    check_writable,
    content_hash,
    folder_lock,
    load_cached,
    recover_folders,
    save_cached,
    write_folder_atomic,
)


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("SIGREPORT_CACHE", str(root))
    return root


@pytest.fixture(scope="session")
def cache_seen_by_a_session_fixture() -> str | None:
    """What a session fixture (a sweep's, a run's) finds in the environment as it starts."""
    return os.environ.get("SIGREPORT_CACHE")


def test_session_fixtures_never_use_the_users_cache(cache_seen_by_a_session_fixture,
                                                     tmp_path_factory):
    assert cache_seen_by_a_session_fixture == str(tmp_path_factory.getbasetemp() / "cache")


# --- cache keys --------------------------------------------------------------------


def test_cache_root_follows_the_environment(cache, monkeypatch):
    assert cache_root() == cache
    monkeypatch.delenv("SIGREPORT_CACHE")
    assert cache_root().name == "sigreport"


def test_cache_key_is_stable():
    parts = {"cfg": {"hidden": [64, 32], "lr": 1e-3}, "data": "ab" * 32, "seed": 0}
    key = cache_key("train", **parts)
    assert key == cache_key("train", **parts)
    assert key == cache_key("train", seed=0, data="ab" * 32, cfg={"lr": 1e-3, "hidden": [64, 32]})
    assert len(key) == 24 and int(key, 16) >= 0


BASE = {"cfg": {"hidden": [64, 32], "lr": 0.001}, "data": "abc", "seed": 0}
CHANGES = [
    {"cfg": {"hidden": [64, 16], "lr": 0.001}},
    {"cfg": {"hidden": [32, 64], "lr": 0.001}},
    {"cfg": {"hidden": [64, 32], "lr": 0.0001}},
    {"cfg": {"hidden": [64, 32], "lr": 0.001, "extra": None}},
    {"data": "abd"},
    {"seed": 1},
    {"seed": "0"},
    {"extra": 0},
]


@pytest.mark.parametrize("change", CHANGES, ids=[str(c) for c in CHANGES])
def test_cache_key_is_sensitive_to_each_part(change):
    assert cache_key("train", **{**BASE, **change}) != cache_key("train", **BASE)


def test_cache_key_is_sensitive_to_the_stage_and_a_missing_part():
    assert cache_key("signatures", **BASE) != cache_key("train", **BASE)
    assert cache_key("train", cfg=BASE["cfg"], data="abc") != cache_key("train", **BASE)


def test_cache_key_is_sensitive_to_the_package_version(monkeypatch):
    before = cache_key("train", **BASE)
    monkeypatch.setattr(sigreport, "__version__", "999.0")
    assert cache_key("train", **BASE) != before


def test_regression_a_part_named_version_keeps_the_package_version(monkeypatch):
    # The parts were merged into the hashed mapping, so a part named "version"
    # replaced the package version and a new release reused stale results.
    before = cache_key("train", version=3)
    monkeypatch.setattr(sigreport, "__version__", "999.0")
    assert cache_key("train", version=3) != before


# --- save and load -----------------------------------------------------------------


def _arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "w": rng.normal(size=(5, 3)).astype(np.float32),
        "labels": np.arange(7, dtype=np.int64),
        "mask": np.array([True, False]),
        "empty": np.zeros((0, 4)),
        "scalar": np.float64(2.5) * np.ones(()),
    }


def test_save_load_round_trip(cache):
    meta = {"seed": 3, "layers": ["input", "hidden1"], "nested": {"a": [1.5, None]}}
    save_cached("train", "k1", _arrays(), meta)

    loaded = load_cached("train", "k1")

    assert loaded is not None
    arrays, got_meta = loaded
    assert got_meta == meta
    assert set(arrays) == set(_arrays())
    for name, array in _arrays().items():
        np.testing.assert_array_equal(arrays[name], array)
        assert arrays[name].dtype == array.dtype and arrays[name].shape == array.shape
    # One file per entry, nothing else left in the folder.
    assert sorted(p.name for p in (cache / "stages" / "train").iterdir()) == ["k1.npz"]


def test_save_overwrites(cache):
    save_cached("s", "k", {"a": np.zeros(2)}, {"v": 1})
    save_cached("s", "k", {"b": np.ones(3)}, {"v": 2})
    arrays, meta = load_cached("s", "k")
    assert list(arrays) == ["b"] and meta == {"v": 2}


def test_miss_returns_none(cache):
    assert load_cached("train", "nothing-here") is None
    save_cached("train", "k1", {"a": np.zeros(1)}, {})
    assert load_cached("train", "k2") is None
    assert load_cached("other-stage", "k1") is None


def _flip(raw: bytes, pos: int) -> bytes:
    return raw[:pos] + bytes([raw[pos] ^ 0xFF]) + raw[pos + 1:]


DAMAGE = {
    "empty": lambda b: b"",
    "garbage": lambda b: b"not a zip file at all",
    "truncated": lambda b: b[: len(b) // 2],
    "zip magic only": lambda b: b"PK\x03\x04" + b"\x00" * 40,
    "bit flip in data": lambda b: _flip(b, b.index(b"\x93NUMPY") + 200),
    "npy instead of npz": lambda b: b"\x93NUMPY\x01\x00v\x00" + b" " * 118 + b"\n",
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_corrupt_cache_file_is_a_miss(cache, damage):
    save_cached("train", "k", {"a": np.arange(1000)}, {"m": 1})
    path = cache / "stages" / "train" / "k.npz"
    path.write_bytes(DAMAGE[damage](path.read_bytes()))
    assert load_cached("train", "k") is None
    assert not path.exists()  # removed, so the next save starts clean
    save_cached("train", "k", {"a": np.arange(3)}, {"m": 2})
    assert load_cached("train", "k")[1] == {"m": 2}


def test_regression_a_folder_in_place_of_an_entry_is_a_miss_and_replaced(cache):
    path = cache / "stages" / "train" / "k.npz"
    (path / "inside").mkdir(parents=True)
    assert load_cached("train", "k") is None
    save_cached("train", "k", {"a": np.arange(3)}, {"m": 1})
    assert path.is_file() and load_cached("train", "k")[1] == {"m": 1}


def test_regression_a_cache_that_is_a_file_is_named_as_a_problem(cache):
    assert cache_problem() is None
    assert not cache.exists()  # asking leaves nothing behind
    cache.write_text("x")
    assert cache_problem() == f"cache folder {cache}: exists and is not a folder"
    with pytest.raises(OSError):
        save_cached("train", "k", {"a": np.zeros(1)}, {})
    assert load_cached("train", "k") is None


def test_output_check_names_the_part_of_the_path_that_is_a_file(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputError, match=r"/sub/out: needs .*/f, which exists and is not a"):
        check_writable(tmp_path / "f" / "sub" / "out")
    check_writable(tmp_path / "new" / "deeper")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]


def test_cache_file_without_header_is_a_miss(cache):
    path = cache / "stages" / "train" / "k.npz"
    path.parent.mkdir(parents=True)
    np.savez(path, a=np.zeros(2))
    assert load_cached("train", "k") is None


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_damaged_cache_file_never_raises(cache, data):
    arrays = {"a": np.arange(50, dtype=np.int32), "b": np.ones((3, 2))}
    save_cached("fuzz", "k", arrays, {"m": [1, 2]})
    path = cache / "stages" / "fuzz" / "k.npz"
    raw = bytearray(path.read_bytes())
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        raw[pos] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        raw = raw[: data.draw(st.integers(0, len(raw)))]
    path.write_bytes(bytes(raw))
    loaded = load_cached("fuzz", "k")
    if loaded is not None:
        # Whatever survives a damage the CRCs did not see must still be the content.
        got, meta = loaded
        assert meta == {"m": [1, 2]}
        for name, array in arrays.items():
            np.testing.assert_array_equal(got[name], array)


# --- atomic folders ----------------------------------------------------------------


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _siblings(dest: Path) -> list[str]:
    return sorted(p.name for p in dest.parent.iterdir() if p.name != dest.name)


def test_write_folder_atomic_creates(tmp_path):
    dest = tmp_path / "out" / "exp"
    write_folder_atomic(dest, {"index.html": "<p>é</p>", "data/a.bin": b"\x00\x01",
                               "deep/er/x.json": "{}"})
    assert _tree(dest) == {"index.html": "<p>é</p>".encode(), "data/a.bin": b"\x00\x01",
                           "deep/er/x.json": b"{}"}
    assert _siblings(dest) == []


def test_write_folder_atomic_replaces(tmp_path):
    dest = tmp_path / "exp"
    write_folder_atomic(dest, {"index.html": "old", "old-only.txt": "x", "sub/a": "1"})
    write_folder_atomic(dest, {"index.html": "new", "sub/b": "2"})
    assert _tree(dest) == {"index.html": b"new", "sub/b": b"2"}
    assert _siblings(dest) == []


def test_write_folder_atomic_leaves_other_folders_alone(tmp_path):
    write_folder_atomic(tmp_path / "a", {"f": "a"})
    write_folder_atomic(tmp_path / "ab", {"f": "ab"})
    write_folder_atomic(tmp_path / "a", {"f": "a2"})
    assert _tree(tmp_path / "ab") == {"f": b"ab"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "ab"]


def test_exception_while_writing_keeps_the_previous_folder(tmp_path):
    dest = tmp_path / "exp"
    write_folder_atomic(dest, {"index.html": "old", "metrics.json": "{}"})
    before = _tree(dest)
    with pytest.raises(TypeError):
        write_folder_atomic(dest, {"index.html": "new", "broken.bin": 12345, "later": "x"})
    assert _tree(dest) == before
    assert _siblings(dest) == []  # no temporary folder left behind


def test_exception_while_writing_the_first_time(tmp_path):
    dest = tmp_path / "exp"
    with pytest.raises(TypeError):
        write_folder_atomic(dest, {"a": "x", "b": object()})
    assert not dest.exists()
    assert _siblings(dest) == []


def test_interrupt_while_writing_keeps_the_previous_folder(tmp_path, monkeypatch):
    dest = tmp_path / "exp"
    write_folder_atomic(dest, {"index.html": "old"})
    real = Path.write_text

    def interrupted(self, text, *args, **kwargs):
        if text == "boom":
            raise KeyboardInterrupt
        return real(self, text, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_folder_atomic(dest, {"a": "x", "index.html": "boom"})
    assert _tree(dest) == {"index.html": b"old"}
    assert _siblings(dest) == []


def test_previous_folder_left_aside_is_recovered(tmp_path):
    # A run killed between its two renames: the old report is set aside and
    # the new one is not yet in place.
    dest = tmp_path / "exp"
    aside = tmp_path / ".exp.old-abc123"
    aside.mkdir()
    (aside / "index.html").write_text("previous")
    # The next call puts it back first; failing midway shows it was recovered.
    with pytest.raises(TypeError):
        write_folder_atomic(dest, {"index.html": "new", "bad": 1.5})
    assert _tree(dest) == {"index.html": b"previous"}
    assert _siblings(dest) == []
    write_folder_atomic(dest, {"index.html": "new"})
    assert _tree(dest) == {"index.html": b"new"}
    assert _siblings(dest) == []


def test_regression_stale_folder_set_aside_is_removed(tmp_path):
    # A run killed while deleting the folder it had set aside leaves a half
    # deleted copy beside a complete dest; it must never be put back later.
    dest = tmp_path / "exp"
    write_folder_atomic(dest, {"index.html": "current", "a": "1"})
    stale = tmp_path / ".exp.old-zzzzzz"
    stale.mkdir()
    (stale / "a").write_text("half deleted")
    write_folder_atomic(dest, {"index.html": "newer", "a": "2"})
    assert _siblings(dest) == []
    assert _tree(dest) == {"index.html": b"newer", "a": b"2"}


# --- a writer killed at random moments ---------------------------------------------

N_FILES = 150
FILE_BYTES = 40_000

_WRITER = textwrap.dedent(
    f"""
    import sys
    from pathlib import Path
    from sigreport.store import write_folder_atomic

    dest = Path(sys.argv[1])
    generation = int(sys.argv[2])
    last = generation + int(sys.argv[3]) if len(sys.argv) > 3 else None
    while generation != last:
        generation += 1
        tag = f"{{generation:08d}}"
        files = {{f"part/{{i:03d}}.bin": (tag * ({FILE_BYTES} // 8)).encode()
                 for i in range({N_FILES})}}
        files["index.html"] = tag
        write_folder_atomic(dest, files)
        sys.stdout.write(tag + "\\n")  # this generation is complete
        sys.stdout.flush()
    """
)


def _check_complete(dest: Path) -> str:
    """``dest`` holds one whole generation; returns its tag."""
    assert dest.is_dir(), f"{dest} is missing"
    assert (dest / "index.html").is_file(), f"{dest} is half written"
    tag = (dest / "index.html").read_text()
    names = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    assert names == sorted([f"part/{i:03d}.bin" for i in range(N_FILES)] + ["index.html"])
    expected = (tag * (FILE_BYTES // 8)).encode()
    for i in range(N_FILES):
        assert (dest / f"part/{i:03d}.bin").read_bytes() == expected, f"file {i} not {tag}"
    return tag


def test_writer_killed_at_random_moments_never_damages_the_folder(tmp_path):
    dest = tmp_path / "reports" / "exp"
    tag = "00000000"
    write_folder_atomic(dest, {f"part/{i:03d}.bin": (tag * (FILE_BYTES // 8)).encode()
                               for i in range(N_FILES)} | {"index.html": tag})
    rng = random.Random(20240611)
    env = {**os.environ, "PYTHONPATH": str(Path(sigreport.__file__).parents[1])}
    for round_ in range(6):
        first = round_ * 1_000_000
        proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(dest), str(first)],
                                stdout=subprocess.PIPE, env=env, cwd=tmp_path)
        try:
            # Once one write is complete, kill the writer at a random moment of the next ones.
            assert proc.stdout.readline().strip() == f"{first + 1:08d}".encode()
            time.sleep(rng.uniform(0.0, 0.3))
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
        reported = proc.stdout.read().split() or [f"{first + 1:08d}".encode()]
        proc.stdout.close()
        assert proc.returncode == -signal.SIGKILL
        tag = _check_complete(dest)
        # The last generation reported complete, or the one completed just before the kill.
        last = int(reported[-1])
        assert int(tag) in (last, last + 1), (tag, last)
    # Whatever the kills left set aside, the next call tidies up the set-aside copies.
    write_folder_atomic(dest, {"index.html": "final"})
    assert not any(name.startswith(".exp.old-") for name in _siblings(dest))


def test_regression_report_folder_follows_the_umask(tmp_path):
    # mkdtemp's 0700 made the report folder unreadable to other users, unlike
    # the folders inside it.
    dest = tmp_path / "exp"
    write_folder_atomic(dest, {"index.html": "x", "sub/a": "y"})
    assert (dest.stat().st_mode & 0o777) == ((dest / "sub").stat().st_mode & 0o777)


@pytest.mark.parametrize("rel", ["../escape.html", "ABSOLUTE", "sub/../../x"])
def test_paths_outside_the_folder_are_refused(tmp_path, rel):
    if rel == "ABSOLUTE":  # inside tmp_path, so that a regression writes nowhere else
        rel = str(tmp_path / "abs.html")
    dest = tmp_path / "reports" / "exp"
    write_folder_atomic(dest, {"index.html": "old"})
    with pytest.raises(ValueError, match="not a path inside the folder"):
        write_folder_atomic(dest, {"index.html": "new", rel: "x"})
    assert _tree(dest) == {"index.html": b"old"}
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["exp", "index.html", "reports"]


# --- interrupted and concurrent writers ----------------------------------------------


def _set_aside(parent: Path, name: str, content: str) -> None:
    """What a writer of ``name`` killed between its two renames leaves behind."""
    old = parent / f".{name}.old-a1b2c3d4"
    old.mkdir(parents=True)
    (old / "index.html").write_text(content)
    new = parent / f".{name}.tmp-e5f6a7b8"
    new.mkdir()
    (new / "index.html").write_text("newer, never renamed into place")


def test_regression_a_writer_of_another_name_puts_a_report_back(tmp_path):
    # The report stayed missing until the next successful run of the same name.
    _set_aside(tmp_path, "exp", "previous")
    write_folder_atomic(tmp_path / "other", {"index.html": "x"})
    assert _tree(tmp_path / "exp") == {"index.html": b"previous"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exp", "other"]


def test_regression_folders_of_a_live_writer_are_left_alone(tmp_path):
    _set_aside(tmp_path, "exp", "previous")
    before = sorted(p.name for p in tmp_path.iterdir())
    with folder_lock(tmp_path, "exp"):  # a run writing "exp" right now
        assert recover_folders(tmp_path) == []
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*before, ".exp.lock"])
    assert recover_folders(tmp_path) == ["exp"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exp"]


def test_a_lock_is_free_again_once_released(tmp_path):
    with folder_lock(tmp_path, "exp") as held:
        assert held
        with folder_lock(tmp_path, "exp", wait=False) as other:
            assert not other
    with folder_lock(tmp_path, "exp", wait=False) as again:
        assert again
    assert list(tmp_path.iterdir()) == []


def test_regression_concurrent_writers_of_one_name_take_turns(tmp_path):
    # Two runs of the same name: one died with "OSError: Directory not empty".
    dest = tmp_path / "reports" / "exp"
    env = {**os.environ, "PYTHONPATH": str(Path(sigreport.__file__).parents[1])}
    writers = [subprocess.Popen([sys.executable, "-c", _WRITER, str(dest), str(first), "25"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
               for first in (0, 1_000_000)]
    errors = [w.communicate(timeout=120)[1] for w in writers]
    assert [w.returncode for w in writers] == [0, 0], errors
    _check_complete(dest)
    assert _siblings(dest) == []


def test_replacing_a_folder_swaps_it_in_one_step_where_the_system_allows(tmp_path):
    """Regression: between two renames a reader could find no folder at all."""
    from sigreport import store

    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "x").write_text("a")
    (b / "x").write_text("b")
    if not store._exchange(a, b):
        pytest.skip("this system has no atomic exchange; the two-rename path is used")
    assert (a / "x").read_text() == "b" and (b / "x").read_text() == "a"
    dest = tmp_path / "exp"
    write_folder_atomic(dest, {"index.html": "1"})
    write_folder_atomic(dest, {"index.html": "2"})
    assert (dest / "index.html").read_text() == "2"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".exp.lock", "a", "b", "exp"] or \
        sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == \
        ["a", "b", "exp"]


def _substitute(path: Path, change) -> None:
    """Rewrite the entry at ``path`` with ``change`` applied to its arrays, keeping the
    header and the hash it was saved with (a file swapped under the cache's feet)."""
    with np.load(path) as npz:
        entries = {k: npz[k] for k in npz.files}
    kept = {k: v for k, v in entries.items() if k.startswith("__")}
    arrays = change({k: v for k, v in entries.items() if not k.startswith("__")})
    with path.open("wb") as fh:
        np.savez(fh, **arrays, **kept)


@pytest.mark.parametrize("change", [
    lambda a: {**a, "w": a["w"].astype(np.int8)},              # same shapes, another dtype
    lambda a: {**a, "w": a["w"] * 1.0001},                      # same dtype, other values
    lambda a: {k: v for k, v in a.items() if k != "labels"},    # an array left out
])
def test_regression_an_entry_whose_content_changed_is_a_miss_with_a_note(cache, change):
    # Weights cast to int8 (right shapes) were used: exit 0, cache_hits true, accuracy 0.50.
    save_cached("train", "k", _arrays(), {"seed": 0})
    path = cache / "stages" / "train" / "k.npz"
    _substitute(path, change)
    notes: list[str] = []
    assert load_cached("train", "k", note=notes.append) is None
    assert notes == [f"cache entry {path} does not match its content hash; not used"]
    assert not path.exists()


def test_regression_an_entry_copied_under_another_key_is_a_miss(cache):
    save_cached("train", "made-for-a", _arrays(), {"seed": 0})
    folder = cache / "stages" / "train"
    shutil.copy(folder / "made-for-a.npz", folder / "asked-for-b.npz")
    notes: list[str] = []
    assert load_cached("train", "asked-for-b", note=notes.append) is None
    assert len(notes) == 1 and "does not match its content hash" in notes[0]
    assert load_cached("train", "made-for-a") is not None


def test_an_entry_without_a_hash_is_a_miss_with_a_note(cache):
    path = cache / "stages" / "train" / "old.npz"
    path.parent.mkdir(parents=True)
    with path.open("wb") as fh:
        np.savez(fh, w=np.zeros(3), __meta__=np.asarray("{}"))
    notes: list[str] = []
    assert load_cached("train", "old", note=notes.append) is None
    assert notes == [f"cache entry {path} carries no content hash; not used"]


def test_the_content_hash_covers_the_key_the_stage_and_every_array():
    arrays = _arrays()
    base = content_hash("train", "k", arrays, {"seed": 0})
    assert content_hash("train", "k", dict(reversed(arrays.items())), {"seed": 0}) == base
    assert content_hash("train", "k2", arrays, {"seed": 0}) != base
    assert content_hash("other", "k", arrays, {"seed": 0}) != base
    assert content_hash("train", "k", arrays, {"seed": 1}) != base
    assert content_hash("train", "k", {**arrays, "w": arrays["w"].T.copy().T}, {"seed": 0}) == base
    assert content_hash("train", "k", {**arrays, "w": arrays["w"].reshape(3, 5)},
                        {"seed": 0}) != base
