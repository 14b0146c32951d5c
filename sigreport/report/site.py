"""The MkDocs site of all runs: generated pages, then ``mkdocs build``.

Runs are discovered in the reports folder (each ``<name>/metrics.json`` +
``manifest.json`` + ``index.html``, the JSON checked against its schema).
The site is built aside and swapped in, as a run's folder is: each report is
first copied into a snapshot (while no run writes it), and the pages are
generated from the copies, never from the live folders. MkDocs builds from a
staging folder holding the hand-written pages and the generated ones:
``index.md`` (the sortable table of runs), ``runs/index.md`` (runs side by
side), ``runs/<name>.md`` (one per run) and the small script and style they
use (``runs/sortable.js``, ``runs/site.css``), into a new site folder beside
``<out>`` (so on the same file system); the snapshot becomes its ``reports/``,
so each report stays reachable at ``<out>/reports/<name>/index.html``, and one
atomic swap publishes the whole. A build that fails at any point leaves the
previous site as it was. The site folder holds a marker file
(:data:`SITE_MARKER`); a non-empty folder without one is never replaced.

Everything here treats a report folder as input from anyone: names, titles
and class names are escaped for the HTML they land in, only regular files
are read or published (never through a symbolic link), and a folder that is
not a well-formed report is skipped with a warning instead of stopping the
build.
"""

from __future__ import annotations

import html
import json
import math
import os
import shutil
import stat
import tempfile
import warnings
from collections.abc import Callable, Sequence
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote

from sigreport.config import RESERVED_NAMES
from sigreport.errors import OutputError, SigreportError, printable
from sigreport.report.assets import referenced_bokeh
from sigreport.store import (
    BOKEH_DIR,
    build_folder_atomic,
    check_writable,
    folder_lock,
    naming,
    os_error_line,
    recover_folders,
)

if TYPE_CHECKING:  # the types only: the site needs none of the analysis at run time
    from sigreport.analysis.types import Metrics, Unseen

__all__ = ["SITE_MARKER", "RunEntry", "build_site", "discover_runs", "read_checked_json",
           "write_site_pages"]

Warn = Callable[[str], None]

# The file that marks a folder as a site sigreport built: only such a folder (or an
# empty one) is replaced by a build.
SITE_MARKER = ".sigreport-site"
# Where a build gathers its snapshot of the reports, inside the new site folder. Hidden:
# MkDocs' clean build of that folder leaves it alone.
_SNAPSHOT = ".snapshot"
_GENERATED = ("index.md", "runs")
_REQUIRED = ("metrics.json", "manifest.json", "index.html")
# metrics.json of a real run is a few hundred kB; anything far larger is not one.
_MAX_JSON_BYTES = 64 << 20
_DEFAULT_MKDOCS = """\
site_name: sigreport reports
docs_dir: site
site_dir: public
use_directory_urls: false
theme:
  name: readthedocs
  highlightjs: false
  navigation_depth: 2
plugins: []
extra_css: [runs/site.css]
extra_javascript: [runs/sortable.js]
"""


def _warn(message: str) -> None:
    warnings.warn(message, stacklevel=3)


@dataclass(frozen=True)
class RunEntry:
    """One run found in the reports folder.

    ``files`` are the paths (relative, ``/``-separated) of the regular files in
    the folder: what is published of it.
    """

    name: str
    folder: Path
    metrics: Metrics
    manifest: dict
    files: tuple[str, ...] = ()

    @property
    def summary(self) -> dict[str, Any]:
        """The numbers the home page and the comparison show, from metrics.json (checked
        against its schema: every key it requires is there)."""
        m, exp = self.metrics, self.metrics["experiment"]
        names = {str(k): str(v) for k, v in exp["class_names"].items()}
        answers = m["answers"]
        ood = [e for e in m["ood"] if e["auroc"] is not None and e["probe_class"] == "all"]
        best = max(ood, key=lambda e: e["auroc"] or 0.0, default=None)
        best_sig = max((e for e in ood if e["family"] == "signature"),
                       key=lambda e: e["auroc"] or 0.0, default=None)
        layers, sep = m["layers"], answers["separation"]
        js = [p["js"] for p in answers["signatures_differ"]["per_layer"] if p["js"] is not None]
        return {
            "name": self.name,
            "title": exp["title"] or self.manifest.get("title") or "",
            "dataset": exp["dataset"],
            "classes": [names.get(str(c), str(c)) for c in exp["classes"]],
            "probes": [names.get(str(c), str(c)) for c in exp["probe_classes"]],
            "hidden": exp["hidden"],
            "activation": exp["activation"],
            "n_train": exp["n_train"],
            "seeds": exp["seeds"] or [exp["seed"]],
            "accuracy": m["model"]["test_accuracy"],
            "separation_layer": sep["separation_layer"],
            "separation_index": sep["separation_layer_index"],
            "input_value": sep["input_linear_probe_accuracy"],
            "probe_accuracy": [(lay["name"], lay["linear_probe_accuracy"]) for lay in layers],
            "ami": [(lay["name"], lay["cluster_class_ami"]) for lay in layers],
            "cka": [(lay["name"], lay["cka_labels"]) for lay in layers],
            "max_js": max(js) if js else None,
            "n_specific": sum(1 for r in m["paths"]["table"] if r["specific"]),
            "coverage": [(names.get(str(c), str(c)), v) for c, v in m["paths"]["coverage"].items()],
            "novel": [_novel_shares(names.get(str(u["class"]), str(u["class"])), u)
                      for u in answers["unseen"]],
            "best_auroc": best["auroc"] if best else None,
            "best_method": f"{best['method']} ({best['layer']}, {best['family']})"
            if best else None,
            "signature_auroc": best_sig["auroc"] if best_sig else None,
            "signature_method": f"{best_sig['method']} ({best_sig['layer']})" if best_sig else None,
            "created": str(self.manifest.get("created") or ""),
            "date": str(self.manifest.get("created") or "")[:10],
        }


def _novel_shares(name: str, unseen: Unseen) -> dict[str, Any]:
    """An unseen class's share on a novel path and its two parts: through an unassigned
    layer, and never seen in training (the rest, as the two never overlap; counted in
    images, so that the rounding of the two shares leaves no spurious remainder)."""
    novel, through = unseen["novel_path_fraction"], unseen["unassigned_any_fraction"]
    n, never = unseen["n_samples"], None
    if novel is not None and through is not None and n:
        never = max(0, round(novel * n) - round(through * n)) / n
    return {"cls": name, "novel": novel, "through_unassigned": through if never is not None
            else None, "never_seen": never}


class _Skip(Exception):
    """Why a report folder is not published (one line)."""


def _open_regular(path: Path) -> int:
    """A read-only descriptor of ``path``, which must be a regular file reached without
    a symbolic link at its end (a FIFO must not block the build, so no waiting either)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(f"{path}: not a regular file")
    return fd


def _regular_files(folder: Path, warn: Warn, leave_out: tuple[str, ...] = ()) -> list[str]:
    """The regular files under ``folder`` (relative paths), but for the top-level entries
    named in ``leave_out``; links and special files are refused with a warning naming
    them, and never followed."""
    found: list[str] = []

    def walk(where: Path, prefix: str) -> None:
        with os.scandir(where) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                path = where / entry.name
                if not prefix and entry.name in leave_out:
                    continue
                if not _is_utf8(entry.name):
                    warn(f"{path}: the name is not valid UTF-8; not published")
                elif entry.is_symlink():
                    warn(f"{path}: a symbolic link; not published")
                elif entry.is_dir(follow_symlinks=False):
                    walk(path, f"{prefix}{entry.name}/")
                elif entry.is_file(follow_symlinks=False):
                    found.append(prefix + entry.name)
                else:
                    warn(f"{path}: not a regular file; not published")

    walk(folder, "")
    return found


def _is_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # bytes that were not UTF-8, kept as surrogates
        return False
    return True


def _finite_number(checker: Any, instance: Any) -> bool:
    """JSON Schema's "number", without NaN and the infinities (Python's json reads them)."""
    return (isinstance(instance, (int, float)) and not isinstance(instance, bool)
            and math.isfinite(instance))


@cache
def _validator(schema_file: str) -> Any:
    """The validator of a schema in the package; its "number" is always a finite one."""
    import jsonschema

    schema = json.loads((resources.files("sigreport") / schema_file).read_text("utf-8"))
    base = jsonschema.Draft202012Validator
    finite = jsonschema.validators.extend(
        base, type_checker=base.TYPE_CHECKER.redefine("number", _finite_number))
    return finite(schema)


def read_checked_json(path: Path | str, schema_file: str) -> dict:
    """The content of a JSON file sigreport wrote, checked against ``schema_file``.

    Only a regular file reached without a symbolic link is read; NaN and the
    infinities are refused where a number is expected.

    Raises
    ------
    ValueError
        With one line naming the file and what is wrong with it.
    """
    path = Path(path)
    try:
        return _read_json(path, schema_file)
    except _Skip as reason:
        raise ValueError(f"{path}: {str(reason).removeprefix(path.name + ' ')}") from None


def _read_json(path: Path, schema_file: str) -> dict:
    """The content of a report's JSON file, checked against its schema, or :class:`_Skip`."""
    from jsonschema.exceptions import best_match

    try:
        fd = _open_regular(path)
        with os.fdopen(fd, "rb") as fh:
            raw = fh.read(_MAX_JSON_BYTES + 1)
    except OSError as exc:
        raise _Skip(f"{path.name} cannot be read ({exc.strerror or exc})") from None
    if len(raw) > _MAX_JSON_BYTES:
        raise _Skip(f"{path.name} is larger than {_MAX_JSON_BYTES >> 20} MiB")
    try:
        doc = json.loads(raw.decode("utf-8"))
        error = best_match(_validator(schema_file).iter_errors(doc))
    except UnicodeDecodeError:
        raise _Skip(f"{path.name} is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise _Skip(f"{path.name} is not valid JSON ({exc})") from None
    except RecursionError:
        raise _Skip(f"{path.name} is nested too deeply to be a report's") from None
    if error is not None:
        where = error.json_path
        message = error.message if len(error.message) <= 120 else error.message[:117] + "..."
        raise _Skip(f"{path.name} does not follow {schema_file} at {where}: {message}")
    return doc


def read_report_json(path: Path, schema_file: str) -> dict:
    """A report folder's JSON file (``metrics.json``, ``manifest.json``) checked against its
    schema, as the site reads it; :class:`OutputError` naming the file otherwise."""
    try:
        return _read_json(path, schema_file)
    except _Skip as exc:
        raise OutputError(f"report folder {path.parent}: {exc}") from None


def _run_files(folder: Path, warn: Warn) -> list[str]:
    """The files of a report folder that is published, or :class:`_Skip`."""
    if not _is_utf8(folder.name):
        raise _Skip("the folder name is not valid UTF-8")
    if folder.name.lower() in RESERVED_NAMES:
        raise _Skip(f"the name {folder.name!r} is taken by a page of the site")
    try:
        files = _regular_files(folder, warn)
    except OSError as exc:
        raise _Skip(f"cannot be read ({os_error_line(exc)})") from None
    missing = [f for f in _REQUIRED if f not in files]
    if missing:
        raise _Skip("missing " + ", ".join(missing))
    return files


def _entry(name: str, folder: Path, files: list[str]) -> RunEntry:
    """The run whose files are in ``folder``, with its checked metrics and manifest."""
    metrics = cast("Metrics", _read_json(folder / "metrics.json", "metrics.schema.json"))
    manifest = _read_json(folder / "manifest.json", "manifest.schema.json")
    return RunEntry(name, folder, metrics, manifest, tuple(files))


def _read_run(folder: Path, warn: Warn) -> RunEntry:
    return _entry(folder.name, folder, _run_files(folder, warn))


def _hold_lock(stack: ExitStack, parent: Path, name: str) -> None:
    """Hold the lock writers of ``parent/name`` take (see :func:`sigreport.store.folder_lock`)
    until ``stack`` closes: a run that is writing that folder finishes first, and the
    next one waits. In a folder this process cannot write, nothing is held."""
    with suppress(OSError):
        stack.enter_context(folder_lock(parent, name))


def _copy_snapshot(src: Path, dest: Path) -> None:
    """Copy one regular file of a report into the snapshot; :class:`_Skip` when it cannot
    be read, an ``OSError`` naming ``dest`` when it cannot be written."""
    try:
        fd = _open_regular(src)
    except OSError as exc:
        raise _Skip(f"{src.name} cannot be read ({exc.strerror or exc})") from None
    with os.fdopen(fd, "rb") as fin:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with naming(dest), open(dest, "wb") as fout:
            while True:
                try:
                    chunk = fin.read(1 << 20)
                except OSError as exc:
                    raise _Skip(f"{src.name} cannot be read ({exc.strerror or exc})") from None
                if not chunk:
                    break
                fout.write(chunk)


def _snapshot_run(folder: Path, dest: Path, warn: Warn) -> RunEntry:
    """Copy a report folder to ``dest`` while no run writes it, and read the copy.

    The pages are made from the copy and the copy is what is published, so a
    run that replaces the folder meanwhile cannot put two versions side by side.
    """
    with ExitStack() as stack:
        _hold_lock(stack, folder.parent, folder.name)
        files = _run_files(folder, warn)
        for rel in files:
            _copy_snapshot(folder / rel, dest / rel)
    return _entry(folder.name, dest, files)


def _discover(reports_dir: Path, read: Callable[[Path], RunEntry], warn: Warn,
              on_skip: Callable[[Path], None] = lambda _folder: None
              ) -> tuple[list[RunEntry], list[tuple[str, str]]]:
    runs: list[RunEntry] = []
    skipped: list[tuple[str, str]] = []
    if not reports_dir.is_dir():
        return runs, skipped
    for folder in sorted(reports_dir.iterdir(), key=lambda p: p.name):
        if folder.name.startswith((".", "_")):
            continue
        try:
            if folder.is_symlink():
                raise _Skip("a symbolic link, not a report folder")
            if not folder.is_dir():
                continue
            runs.append(read(folder))
        except _Skip as reason:
            on_skip(folder)
            skipped.append((folder.name, str(reason)))
            warn(f"{folder}: skipped: {reason}")
    runs.sort(key=lambda r: (str(r.manifest.get("created") or ""), r.name), reverse=True)
    return runs, skipped


def discover_runs(reports_dir: Path | str,
                  warn: Warn = _warn) -> tuple[list[RunEntry], list[tuple[str, str]]]:
    """Every report folder under ``reports_dir``, newest first, and the folders skipped.

    A folder counts as a run when it holds ``metrics.json``, ``manifest.json``
    and ``index.html`` as regular files, and both JSON files follow their
    schemas. Other folders are returned in the second list as ``(name,
    reason)``, and ``warn`` receives one line for each, and one for every
    symbolic link or special file refused inside a run. Hidden folders (``.x``,
    an interrupted write) and ``_bokeh`` are ignored.
    """
    return _discover(Path(reports_dir), lambda folder: _read_run(folder, warn), warn)


def _snapshot_runs(reports_dir: Path, snapshot: Path, warn: Warn
                   ) -> tuple[list[RunEntry], list[tuple[str, str]]]:
    """:func:`discover_runs`, each run read from its copy in ``snapshot/<name>``; the
    copy of a run that is skipped (a file that cannot be read) is removed."""
    return _discover(reports_dir,
                     lambda folder: _snapshot_run(folder, snapshot / folder.name, warn), warn,
                     lambda folder: shutil.rmtree(snapshot / folder.name, ignore_errors=True))


def write_site_pages(runs: list[RunEntry], docs_dir: Path | str,
                     skipped: Sequence[tuple[str, str]] = (),
                     atlases: Sequence[dict] = ()) -> list[Path]:
    """Write the generated pages for ``runs`` into ``docs_dir``; returns the files written.

    The previous generated pages are removed first, so a deleted run leaves no page behind.
    Every text from a report reaches the pages escaped for HTML (the pages are
    Markdown whose dynamic parts all sit in HTML blocks) and, in links, for URLs.
    """
    from sigreport.report.assets import templates_dir
    from sigreport.report.formatters import template_env

    docs_dir = Path(docs_dir)
    runs_dir = docs_dir / "runs"
    if runs_dir.exists():
        shutil.rmtree(runs_dir)
    runs_dir.mkdir(parents=True)
    env = template_env()
    env.filters.update(urlpart=lambda text: quote(str(text), safe=""), printable=printable)
    rows = [r.summary for r in runs]
    has_guide = (docs_dir / "guide.md").is_file()
    written = []

    def write(rel: str, text: str) -> None:
        path = docs_dir / rel
        # backslashreplace: a JSON string may hold a lone surrogate, which UTF-8 cannot.
        with naming(path):
            path.write_text(text, encoding="utf-8", errors="backslashreplace")
        written.append(path)

    write("index.md", env.get_template("site/home.md.j2").render(
        runs=rows, skipped=list(skipped), has_guide=has_guide, atlases=list(atlases)))
    write("runs/index.md", env.get_template("site/compare.md.j2").render(runs=rows))
    for run, row in zip(runs, rows):
        write(f"runs/{run.name}.md", env.get_template("site/run.md.j2").render(
            run=row, files=[f for f in run.files if "/" not in f]))
    assets = templates_dir() / "site"
    for name in ("sortable.js", "site.css"):
        write(f"runs/{name}", (assets / name).read_text("utf-8"))
    return written


def _copy_regular(src: Path, dest: Path) -> None:
    """Copy one regular file (never through a link); the copy follows the umask."""
    fd = _open_regular(src)
    with os.fdopen(fd, "rb") as fin, open(dest, "wb") as fout:
        shutil.copyfileobj(fin, fout)


def _copy_files(src: Path, dest: Path, files: list[str] | tuple[str, ...]) -> None:
    for rel in files:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        _copy_regular(src / rel, target)


def _stage_pages(site_dir: Path, stage: Path, warn: Warn) -> None:
    """Copy the hand-written pages (regular files only) into the staging docs folder.

    The reports folder and the generated pages of an earlier build are left out.
    """
    stage.mkdir()
    if not site_dir.is_dir():
        return
    _copy_files(site_dir, stage, _regular_files(site_dir, warn, (*_GENERATED, "reports")))


def _snapshot_bokeh(reports_dir: Path, runs: list[RunEntry], dest: Path, warn: Warn) -> None:
    """Copy the BokehJS bundles the runs' reports load (and Bokeh's licence) to ``dest``,
    while no run adds to them; only regular files of the folder."""
    bokeh = reports_dir / BOKEH_DIR
    if not runs or not bokeh.is_dir() or bokeh.is_symlink():
        return
    needed = set().union(*(referenced_bokeh((run.folder / "index.html").read_text(
        "utf-8", errors="replace")) for run in runs))
    with ExitStack() as stack:
        _hold_lock(stack, reports_dir, BOKEH_DIR)
        for rel in _regular_files(bokeh, warn):
            if needed and (rel in needed or rel.startswith("LICENSE-bokeh-")):
                try:
                    _copy_snapshot(bokeh / rel, dest / rel)
                except _Skip as reason:
                    raise OutputError(f"{bokeh}: {reason}") from None


def _nav_title(text: str) -> str:
    # MkDocs themes print nav titles as they are, into HTML.
    return html.escape(printable(text))


def _nav(runs: list[RunEntry], docs_dir: Path) -> list:
    nav: list = [{"All runs": "index.md"}, {"Compare runs": "runs/index.md"}]
    if runs:
        nav.append({"Reports": [{_nav_title(r.name): f"runs/{r.name}.md"} for r in runs]})
    extra = sorted(p.relative_to(docs_dir).as_posix() for p in docs_dir.glob("*.md")
                   if p.name != "index.md")
    for rel in extra:
        # Other pages are titled by MkDocs from their first heading.
        nav.append({"User guide": rel} if rel == "guide.md" else rel)
    return nav


def _inside(path: Path, other: Path) -> bool:
    return path == other or other in path.parents


def _check_locations(reports_dir: Path, site_dir: Path, out_dir: Path) -> None:
    """Fail in one line, before any work, when the build could not be done as asked."""
    if not reports_dir.is_dir():
        state = "is not a folder" if os.path.lexists(reports_dir) else "does not exist"
        raise SigreportError(f"reports folder {reports_dir} {state} (give the folder "
                             "`sigreport run --out` wrote to, by default site/reports)")
    out, reports, site = (p.resolve() for p in (out_dir, reports_dir, site_dir))
    for other, what in ((reports, "the reports folder"), (site, "the pages folder")):
        if _inside(out, other) or _inside(other, out):
            raise OutputError(f"site folder {out_dir}: overlaps {what} {other}; "
                              "the build replaces everything in the site folder")
    check_writable(out_dir, "site folder")


def _check_out(out_dir: Path) -> None:
    """Refuse, in one line, a site folder that holds anything sigreport did not build."""
    if out_dir.is_symlink():
        raise OutputError(f"site folder {out_dir}: a symbolic link; give the folder itself")
    if not out_dir.is_dir():
        return
    try:
        entries = os.listdir(out_dir)
        marked = stat.S_ISREG(os.lstat(out_dir / SITE_MARKER).st_mode)
    except FileNotFoundError:
        marked = False
    except OSError as exc:
        raise OutputError(f"site folder {out_dir}: cannot be read ({os_error_line(exc)})") \
            from None
    if entries and not marked:
        raise OutputError(f"site folder {out_dir}: holds files that `sigreport site build` did "
                          f"not make (it has no {SITE_MARKER}); a build replaces the whole "
                          "folder, so give a new or empty folder")


def _mkdocs(config_file: Path, docs: Path, stage: Path, runs: list[RunEntry]) -> None:
    """Build the site with MkDocs (strict) from ``docs`` into ``stage``."""
    from mkdocs.commands.build import build
    from mkdocs.config import load_config
    from mkdocs.exceptions import MkDocsException

    try:
        cfg = load_config(str(config_file), docs_dir=str(docs), site_dir=str(stage.resolve()),
                          strict=True, nav=_nav(runs, docs))
        build(cfg)
    except (MkDocsException, SystemExit) as exc:  # mkdocs aborts strict builds with Abort
        raise SigreportError(f"site build failed: {exc}") from None


def _published(exc: OSError, stage: Path, out_dir: Path) -> OSError:
    """``exc`` naming the file of the staging folder ``stage`` it is about by its published
    path (the site folder where MkDocs' failed write named no file)."""
    def inside(name: Any) -> str | None:
        if name is None:
            return None
        path, root = Path(os.path.abspath(name)), stage.absolute()
        if not _inside(path, root):
            return None
        rel = path.relative_to(root)
        if rel.parts[:1] == (_SNAPSHOT,):  # the snapshot of the reports is published as reports/
            rel = Path("reports", *rel.parts[1:])
        return str(out_dir / rel)

    # A failed copy names its source and its destination: the destination is the one.
    named = inside(exc.filename2) or inside(exc.filename) or exc.filename or str(out_dir)
    return OSError(exc.errno, exc.strerror or str(exc) or type(exc).__name__, named)


def build_site(reports_dir: Path | str, site_dir: Path | str = "site",
               out_dir: Path | str = "public", warn: Warn = _warn) -> Path:
    """Generate the site pages for every run and build the site with MkDocs (strict).

    Parameters
    ----------
    reports_dir:
        Folder of report folders (``<name>/index.html``, ``metrics.json``,
        ``manifest.json``), e.g. ``site/reports``. Reports left aside there by
        an interrupted run are put back first.
    site_dir:
        The MkDocs docs folder with the hand-written pages (only read).
    out_dir:
        Where the built site goes: a new or empty folder, or a site an earlier
        build made there (it carries :data:`SITE_MARKER`), which is replaced
        whole in one step. When the build fails, it is left as it was.
    warn:
        Receives one line per folder skipped (a report with a file that cannot
        be read is one) and per file refused.

    Returns
    -------
    Path
        ``<out_dir>/index.html``.

    Raises
    ------
    SigreportError
        When the reports folder is missing, the site folder cannot be written or
        holds files sigreport did not make, or MkDocs reports a problem (broken
        link, missing page) in strict mode.
    OSError
        When a file of the new site cannot be written (a full disk); the error
        names the file as it would have been published.
    """
    from sigreport.report.atlas import write_atlas_pages

    reports_dir, site_dir, out_dir = Path(reports_dir), Path(site_dir), Path(out_dir)
    _check_locations(reports_dir, site_dir, out_dir)
    _check_out(out_dir)
    recover_folders(reports_dir, warn)
    config_file = site_dir.resolve().parent / "mkdocs.yml"

    def fill(stage: Path) -> None:
        snapshot = stage / _SNAPSHOT
        snapshot.mkdir()
        try:
            runs, skipped = _snapshot_runs(reports_dir, snapshot, warn)
            _snapshot_bokeh(reports_dir, runs, snapshot / BOKEH_DIR, warn)
            with tempfile.TemporaryDirectory(prefix="sigreport-site-") as tmp:
                docs = Path(tmp) / "docs"
                _stage_pages(site_dir, docs, warn)
                metrics = {r.name: cast(dict, r.metrics) for r in runs}
                atlases = write_atlas_pages(reports_dir, metrics, docs, warn)
                write_site_pages(runs, docs, skipped, atlases)
                mkdocs_yml = config_file
                if not mkdocs_yml.is_file():
                    mkdocs_yml = Path(tmp) / "mkdocs.yml"
                    mkdocs_yml.write_text(_DEFAULT_MKDOCS, encoding="utf-8")
                _mkdocs(mkdocs_yml, docs, stage, runs)
            os.rename(snapshot, stage / "reports")
            with naming(stage / SITE_MARKER):
                (stage / SITE_MARKER).write_text(
                    "This folder is a site built by `sigreport site build`; the next build "
                    "replaces it whole.\n", encoding="utf-8")
        except OSError as exc:
            raise _published(exc, stage, out_dir) from None

    build_folder_atomic(out_dir, fill)
    return out_dir / "index.html"
