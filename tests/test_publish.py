"""Publishing the site: built aside and swapped in whole, never over a user's files.

A build reads each report once, into a snapshot, and makes its pages from that
copy; it writes the new site beside the old one and publishes it in one step.
Whatever fails (a full disk, a write refused, a file that cannot be read, a
malformed sweep index), the previous site stays byte for byte as it was.
"""

from __future__ import annotations

import builtins
import errno
import hashlib
import io
import json
import math
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from browser_fixtures import copy_run
from conftest import one_error_line, run_cli

from sigreport.errors import OutputError
from sigreport.report import build_site, site
from sigreport.report.site import SITE_MARKER, discover_runs
from sigreport.report.sweep_index import SWEEPS_DIR, read_sweep_index
from sigreport.store import write_folder_atomic


@pytest.fixture(scope="session")
def small_run(tiny_run):
    return tiny_run / "tiny"


def _tree(folder: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every file under ``folder`` (hidden ones too)."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def two_runs(small_run, tmp_path):
    """A reports folder of two runs (one with its real page) and a site built from it."""
    reports = tmp_path / "reports"
    copy_run(small_run, reports, "alpha")
    copy_run(small_run, reports, "beta", stub=True)
    shutil.copytree(small_run.parent / "_bokeh", reports / "_bokeh")
    public = tmp_path / "public"
    build_site(reports, tmp_path / "docs", public, warn=lambda _m: None)
    return reports, public


def _beside(public: Path) -> list[str]:
    """What stands beside the site folder, but for the test's own folders."""
    return sorted(p.name for p in public.parent.iterdir()
                  if p.name not in ("reports", "docs", "public", "user"))


# --- 1. --out never destroys what sigreport did not make ------------------------------------


def test_regression_a_users_folder_as_out_is_refused_and_kept(small_run, tmp_path):
    # `site build --out DIR` deleted every non-hidden file in DIR, exit 0, no warning.
    copy_run(small_run, tmp_path / "reports", "kept", stub=True)
    user = tmp_path / "user"
    (user / "thesis").mkdir(parents=True)
    (user / "thesis" / "chapter1.tex").write_text("\\chapter{One}")
    (user / "results.csv").write_text("a,b\n1,2\n")
    before = _tree(user)
    proc = run_cli("site", "build", "--reports", "reports", "--out", "user", cwd=tmp_path)
    one_error_line(proc, f"site folder user: holds files that `sigreport site build` did not "
                         f"make (it has no {SITE_MARKER})")
    assert _tree(user) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reports", "user"]


def test_only_an_empty_folder_or_an_earlier_site_is_replaced(two_runs, tmp_path):
    reports, public = two_runs
    assert (public / SITE_MARKER).is_file()
    (public / "stale.html").write_text("from the last build")   # an earlier site is replaced whole
    build_site(reports, tmp_path / "docs", public, warn=lambda _m: None)
    assert not (public / "stale.html").exists() and (public / "reports" / "alpha").is_dir()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert build_site(reports, tmp_path / "docs", empty, warn=lambda _m: None).is_file()
    hidden_only = tmp_path / "hidden"
    (hidden_only / ".git").mkdir(parents=True)   # hidden files count: the build would drop them
    with pytest.raises(OutputError, match="did not make"):
        build_site(reports, tmp_path / "docs", hidden_only)
    assert (hidden_only / ".git").is_dir()
    (tmp_path / "link").symlink_to(public)
    with pytest.raises(OutputError, match="a symbolic link"):
        build_site(reports, tmp_path / "docs", tmp_path / "link")


# --- 2. a failed build leaves the previous site byte-identical -------------------------------


class _Refused(Exception):
    pass


def _failing_open(real, at: int, opened: list[str]):
    """``open`` that counts the files opened for writing and refuses the ``at``-th one
    with "No space left on device" (``at`` < 0: none)."""

    def wrapper(file, mode="r", *args, **kwargs):
        if isinstance(file, (str, os.PathLike)) and any(c in mode for c in "wax+"):
            opened.append(os.fspath(file))
            if len(opened) - 1 == at:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.fspath(file))
        return real(file, mode, *args, **kwargs)

    return wrapper


def _build_with_failing_open(monkeypatch, at: int, *build_args) -> list[str]:
    opened: list[str] = []
    with monkeypatch.context() as patch:
        patch.setattr(builtins, "open", _failing_open(builtins.open, at, opened))
        patch.setattr(io, "open", _failing_open(io.open, at, opened))
        build_site(*build_args, warn=lambda _m: None)
    return opened


def test_regression_a_write_refused_at_any_file_leaves_the_previous_site(
        two_runs, tmp_path, monkeypatch):
    # A full disk published a truncated report index.html (45,056 of 455,824 bytes).
    reports, public = two_runs
    args = (reports, tmp_path / "docs", public)
    writes = _build_with_failing_open(monkeypatch, -1, *args)
    before = _tree(public)
    mine = [i for i, f in enumerate(writes) if "mkdocs" not in f]   # the snapshot, pages, marker
    theirs = [i for i in range(len(writes)) if i not in mine]        # MkDocs' theme files
    assert len(mine) >= 12 and theirs
    chosen = sorted({*mine[::4], mine[-1], theirs[0], theirs[len(theirs) // 2], theirs[-1]})
    for at in chosen:
        with pytest.raises(OSError) as failed:
            _build_with_failing_open(monkeypatch, at, *args)
        assert failed.value.errno == errno.ENOSPC
        assert _tree(public) == before, f"write {at} ({writes[at]}) changed the site"
        assert _beside(public) == [], f"write {at} left {_beside(public)}"
        named = Path(failed.value.filename)
        # a file of the new site is named where it would have been published
        assert not any(part.startswith((".public.", ".snapshot")) for part in named.parts), named


def _mount_tmpfs(where: Path, size: str) -> bool:
    where.mkdir()
    if shutil.which("mount") is None:
        return False
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                          capture_output=True, check=False)
    return proc.returncode == 0


def test_regression_a_full_disk_leaves_the_previous_site(two_runs, tmp_path):
    # "No space left on device" naming no file, and a truncated report published.
    reports, _public = two_runs
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, "32m"):
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        shutil.copytree(reports, disk / "reports", symlinks=True)
        proc = run_cli("site", "build", "--reports", "reports", "--out", "public", cwd=disk)
        assert proc.returncode == 0, proc.stderr
        before = _tree(disk / "public")
        site_bytes = sum((disk / "public" / f).stat().st_size for f in before)
        free = shutil.disk_usage(disk).free
        (disk / "filler").write_bytes(b"\0" * (free - site_bytes // 3))  # room for a third
        proc = run_cli("site", "build", "--reports", "reports", "--out", "public", cwd=disk)
        line = one_error_line(proc, "No space left on device")
        assert line.startswith("sigreport: error: public/"), line
        assert ".snapshot" not in line and ".public." not in line
        assert _tree(disk / "public") == before
        assert sorted(p.name for p in disk.iterdir()) == ["filler", "public", "reports"]
        (disk / "filler").unlink()
        proc = run_cli("site", "build", "--reports", "reports", "--out", "public", cwd=disk)
        assert proc.returncode == 0, proc.stderr
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_regression_an_unreadable_report_file_skips_that_report(two_runs, tmp_path,
                                                                monkeypatch):
    # One unreadable file: exit 2, and the previous reports/ was left empty while the new
    # pages linked into it.
    reports, public = two_runs
    real = site._open_regular
    unreadable = reports / "beta" / "config.toml"

    def refuse(path):
        if Path(path) == unreadable:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real(path)

    monkeypatch.setattr(site, "_open_regular", refuse)
    warnings: list[str] = []
    build_site(reports, tmp_path / "docs", public, warn=warnings.append)
    assert warnings == [f"{reports / 'beta'}: skipped: config.toml cannot be read "
                        "(Permission denied)"]
    assert sorted(p.name for p in (public / "reports").iterdir()) == ["_bokeh", "alpha"]
    assert _tree(public / "reports" / "alpha") == _tree(reports / "alpha")
    home = (public / "index.html").read_text("utf-8")
    assert "reports/alpha/index.html" in home and "reports/beta/index.html" not in home
    assert _beside(public) == []


def test_regression_a_run_swapped_in_during_the_build_is_not_mixed_in(two_runs, tmp_path,
                                                                       monkeypatch):
    # Pages were made from the metrics read at the start and the folders copied after the
    # MkDocs build: pages of one version were published beside metrics.json of the next.
    reports, public = two_runs
    old = _tree(reports / "alpha")
    files = {p.name: p.read_bytes() for p in (reports / "alpha").iterdir()}
    metrics = json.loads(files["metrics.json"])
    metrics["experiment"]["title"] = "The next version"
    newer = {**files, "metrics.json": json.dumps(metrics, indent=1).encode(),
             "index.html": b"<!doctype html><title>next</title>"}
    real = site.write_site_pages

    def a_run_finishes_meanwhile(*args, **kwargs):
        write_folder_atomic(reports / "alpha", newer)
        return real(*args, **kwargs)

    monkeypatch.setattr(site, "write_site_pages", a_run_finishes_meanwhile)
    build_site(reports, tmp_path / "docs", public, warn=lambda _m: None)
    assert _tree(public / "reports" / "alpha") == old     # one version, the one read first
    assert "The next version" not in (public / "runs" / "alpha.html").read_text("utf-8")
    monkeypatch.setattr(site, "write_site_pages", real)
    build_site(reports, tmp_path / "docs", public, warn=lambda _m: None)  # the next build: next
    assert "The next version" in (public / "runs" / "alpha.html").read_text("utf-8")
    assert (public / "reports" / "alpha" / "index.html").read_bytes() == newer["index.html"]


# --- 3. sweep indexes and numbers are checked ------------------------------------------------

_BAD_INDEXES = {
    "runs-of-numbers": '{"axes": {}, "runs": [1, 2]}',
    "axes-a-string": '{"axes": "x", "runs": [{"name": "alpha"}]}',
    "table-axes": '{"axes": {"model.hidden": [{"a": 1}]}, "runs": [{"name": "alpha", '
                  '"values": {"model.hidden": {"a": 1}}}]}',
    "nan-seed": '{"axes": {"seed": [NaN]}, "runs": [{"name": "alpha", "values": {"seed": 0}}]}',
    "not-json": '{"axes": {}, "runs": [',
    "no-runs": '{"axes": {}}',
}


@pytest.mark.parametrize("name", sorted(_BAD_INDEXES))
def test_a_malformed_sweep_index_is_refused_in_one_line_naming_it(tmp_path, name):
    path = tmp_path / f"{name}.json"
    path.write_text(_BAD_INDEXES[name])
    with pytest.raises(ValueError) as refused:
        read_sweep_index(path)
    message = str(refused.value)
    assert message.startswith(f"{path}: ") and "\n" not in message, message


def test_regression_malformed_sweep_indexes_are_skipped_with_a_warning(two_runs, tmp_path):
    # "runs": [1, 2] -> AttributeError, "axes": "x", table-valued axes -> TypeError: no site;
    # an index that was not JSON was dropped without a word.
    reports, public = two_runs
    (reports / SWEEPS_DIR).mkdir()
    for name, text in _BAD_INDEXES.items():
        (reports / SWEEPS_DIR / f"{name}.json").write_text(text)
    (reports / SWEEPS_DIR / "good.json").write_text(json.dumps(
        {"name": "good", "title": "A good one", "axes": {"seed": [0]},
         "runs": [{"name": "alpha", "values": {"seed": 0}}], "failed": {}}))
    warnings: list[str] = []
    build_site(reports, tmp_path / "docs", public, warn=warnings.append)
    assert len(warnings) == len(_BAD_INDEXES)
    for name in _BAD_INDEXES:
        path = reports / SWEEPS_DIR / f"{name}.json"
        assert [w for w in warnings if w.startswith(f"{path}: ")], (name, warnings)
    assert all(w.endswith("its atlas page is left out") for w in warnings)
    assert sorted(p.name for p in (public / "atlas").iterdir()) == ["good.html"]


@pytest.mark.parametrize("where,value", [
    (("model", "test_accuracy"), math.nan),
    (("model", "test_accuracy"), math.inf),
    (("answers", "separation", "input_linear_probe_accuracy"), -math.inf),
])
def test_regression_metrics_with_nan_or_infinity_are_refused(small_run, tmp_path, where, value):
    # metrics.schema.json accepted NaN accuracies, and the home page then showed "nan%".
    reports = tmp_path / "reports"
    run = copy_run(small_run, reports, "odd", stub=True)
    metrics = json.loads((run / "metrics.json").read_text())
    node = metrics
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value
    (run / "metrics.json").write_text(json.dumps(metrics))   # Python writes NaN, Infinity
    warnings: list[str] = []
    runs, skipped = discover_runs(reports, warn=warnings.append)
    assert runs == [] and len(skipped) == 1
    assert f"metrics.json does not follow metrics.schema.json at $.{'.'.join(where)}" \
        in skipped[0][1]
    assert "is not of type 'number'" in skipped[0][1] or "is not valid under" in skipped[0][1]


def test_regression_a_manifest_with_an_infinite_time_is_refused(small_run, tmp_path):
    reports = tmp_path / "reports"
    run = copy_run(small_run, reports, "odd", stub=True)
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["timings_s"] = {**manifest.get("timings_s", {}), "train": math.inf}
    (run / "manifest.json").write_text(json.dumps(manifest))
    runs, skipped = discover_runs(reports, warn=lambda _m: None)
    assert runs == [] and "manifest.json does not follow" in skipped[0][1]
