"""Shared helpers of the site and browser tests, all on the tiny pipeline run's real output.

Nothing here measures anything: reports, metrics and manifests are the files
``sigreport run`` wrote (the session fixtures ``tiny_run`` and
``tiny_standalone_run`` in conftest.py), copied under other names where a test
needs several runs.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path("/tmp/shots")
REPO = Path(__file__).resolve().parent.parent
EVIL_TITLE = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2"> & co'


def copy_run(source: Path, reports: Path, name: str, title: str | None = None,
             stub: bool = False, metrics: dict | None = None) -> Path:
    """Copy the report folder ``source`` to ``<reports>/<name>``, renamed in its metrics and
    manifest (and retitled when ``title`` is given; the page keeps its own title).

    ``stub``: the page becomes a placeholder, for tests about discovery and site pages.
    ``metrics``: top-level metrics entries to replace.
    """
    dest = reports / name
    dest.mkdir(parents=True)
    for path in source.iterdir():
        if path.is_file():
            shutil.copy(path, dest / path.name)
    m = json.loads((dest / "metrics.json").read_text("utf-8"))
    manifest = json.loads((dest / "manifest.json").read_text("utf-8"))
    changes = {"name": name, **({"title": title} if title is not None else {})}
    m["experiment"] = {**m["experiment"], **changes}
    m.update(metrics or {})
    manifest.update(changes)
    (dest / "metrics.json").write_text(json.dumps(m, indent=1) + "\n", "utf-8")
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", "utf-8")
    if stub:
        (dest / "index.html").write_text("<!DOCTYPE html><title>stub</title><p>report</p>\n")
    return dest


def axe_findings(page, impacts: tuple[str, ...] = ("serious", "critical")) -> list[dict]:
    """axe-core's violations on ``page`` (the copy inside the axe-playwright-python package,
    run by this page; ``preload: false`` keeps it from fetching the page's stylesheets, which
    file:// forbids) whose impact is one of ``impacts``: each with its
    rule id, impact, help text and the first selectors it names."""
    import axe_playwright_python

    script = Path(axe_playwright_python.__file__).with_name("axe.min.js").read_text("utf-8")
    page.add_script_tag(content=script)
    result = page.evaluate("() => axe.run(document, {resultTypes: ['violations'], preload: false})")
    return [{"id": v["id"], "impact": v["impact"], "help": v["help"],
             "nodes": [n["target"] for n in v["nodes"][:5]], "n": len(v["nodes"])}
            for v in result["violations"] if v["impact"] in impacts]


def save_shot(page, tmp_path: Path, name: str, full_page: bool = True) -> Path:
    """Screenshot into the test's tmp dir and a copy under /tmp/shots/ for people to look at."""
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, SHOTS / path.name)
    return path


@dataclass(frozen=True)
class BuiltSite:
    """A site built from two runs: ``site_run`` (site mode, a title with markup in its
    metrics) and ``alone_run`` (standalone), plus the standalone file alone in a folder."""

    root: Path
    public: Path
    site_run: str
    alone_run: str
    lonely_report: Path


def build_test_site(root: Path, tiny_run: Path, tiny_standalone_run: Path) -> BuiltSite:
    """Copy the tiny run in both modes into a fresh site folder and ``build_site`` it."""
    from sigreport.report import build_site

    shutil.copytree(REPO / "site", root / "site",
                    ignore=shutil.ignore_patterns("reports", "runs", "index.md"))
    shutil.copy(REPO / "mkdocs.yml", root / "mkdocs.yml")
    reports = root / "site" / "reports"
    copy_run(tiny_run / "tiny", reports, "xss-title", title=EVIL_TITLE)
    shutil.copytree(tiny_run / "_bokeh", reports / "_bokeh")
    copy_run(tiny_standalone_run / "tiny", reports, "standalone-run",
             title="A standalone report")
    build_site(reports, root / "site", root / "public")
    return BuiltSite(root, root / "public", "xss-title", "standalone-run",
                     tiny_standalone_run / "tiny" / "index.html")


# --- a site built from hostile or broken report folders ---------------------------------

# Markup and Markdown link syntax in folder names, titles and class names.
HOSTILE_NAMES = ('q"><svg onload=alert(16)>', "[x](javascript:alert(21))")
HOSTILE_TITLE = "[t](javascript:alert(5))\n\n<svg onload=alert(6)> & `code`"
HOSTILE_CLASSES = {"1": "<img src=x onerror=alert(3)>", "7": "[c](javascript:alert(4))"}
SECRET = "secret-content-never-published"


@dataclass(frozen=True)
class HostileSite:
    """``sigreport site build`` (the CLI, default folders) over report folders that hold
    hostile names, links, special files and malformed JSON."""

    root: Path
    public: Path
    returncode: int
    stderr: str
    published: tuple[str, ...]
    skipped: tuple[str, ...]


def build_hostile_site(root: Path, tiny_run: Path) -> HostileSite:
    """Copies of the tiny run under hostile names, links, special files and broken JSON,
    then ``sigreport site build`` in ``root``."""
    import os

    from conftest import run_cli

    shutil.copytree(REPO / "site", root / "site",
                    ignore=shutil.ignore_patterns("reports", "runs", "index.md"))
    shutil.copy(REPO / "mkdocs.yml", root / "mkdocs.yml")
    reports = root / "site" / "reports"
    source = tiny_run / "tiny"

    def stub(name: str, where: Path = reports, **kwargs) -> Path:
        return copy_run(source, where, name, stub=True, **kwargs)

    for name in HOSTILE_NAMES:
        folder = stub(name, title=HOSTILE_TITLE)
        m = json.loads((folder / "metrics.json").read_text("utf-8"))
        m["experiment"]["class_names"] = {**m["experiment"]["class_names"], **HOSTILE_CLASSES}
        (folder / "metrics.json").write_text(json.dumps(m), "utf-8")
    # Links to a private file, to /etc and a FIFO beside a private regular file.
    outside = root / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET)
    (outside / "secret.txt").chmod(0o600)
    links = stub("with-links")
    (links / "secret.txt").symlink_to(outside / "secret.txt")
    (links / "etc").symlink_to("/etc")
    os.mkfifo(links / "pipe")
    (links / "notes.txt").write_text("notes")
    (links / "notes.txt").chmod(0o600)
    # A whole report folder that is a link.
    (reports / "linked").symlink_to(stub("real", outside))
    # Malformed: a string where a number belongs, and JSON nested 100,000 deep.
    bad = stub("bad-accuracy")
    metrics = json.loads((bad / "metrics.json").read_text())
    metrics["model"]["test_accuracy"] = "abc"
    (bad / "metrics.json").write_text(json.dumps(metrics))
    deep = stub("deep")
    (deep / "metrics.json").write_text("[" * 100_000 + "]" * 100_000)
    # A name that would replace the comparison page.
    stub("index")
    proc = run_cli("site", "build", cwd=root)
    return HostileSite(root, root / "public", proc.returncode, proc.stderr,
                       published=(*HOSTILE_NAMES, "with-links"),
                       skipped=("bad-accuracy", "deep", "index", "linked"))
