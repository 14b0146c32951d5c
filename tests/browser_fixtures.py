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
