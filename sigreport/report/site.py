"""The MkDocs site of all runs: generated pages, then ``mkdocs build``.

Runs are discovered in the reports folder (each ``<name>/metrics.json`` +
``manifest.json``). Generated pages go into the docs folder beside the
hand-written ones: ``index.md`` (the sortable table of runs),
``runs/index.md`` (runs side by side), ``runs/<name>.md`` (one per run) and
the small script and style they use (``runs/sortable.js``, ``runs/site.css``).
Reports themselves are copied as static files, unchanged, so each stays
reachable at ``<out>/reports/<name>/index.html``.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sigreport.errors import SigreportError

__all__ = ["RunEntry", "build_site", "discover_runs", "write_site_pages"]

_GENERATED = ("index.md", "runs")
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


@dataclass(frozen=True)
class RunEntry:
    """One run found in the reports folder."""

    name: str
    folder: Path
    metrics: dict
    manifest: dict

    @property
    def summary(self) -> dict[str, Any]:
        """The numbers the home page and the comparison show, from metrics.json."""
        m, exp = self.metrics, self.metrics.get("experiment", {})
        names = {str(k): str(v) for k, v in (exp.get("class_names") or {}).items()}
        answers = m.get("answers", {}) or {}
        ood = [e for e in m.get("ood", []) or [] if e.get("auroc") is not None]
        best = max(ood, key=lambda e: e["auroc"], default=None)
        layers = m.get("layers", []) or []
        unseen = answers.get("unseen", []) or []
        sep = answers.get("separation", {}) or {}
        coverage = (m.get("paths", {}) or {}).get("coverage", {}) or {}
        js = [p.get("js") for p in (answers.get("signatures_differ", {}) or {}).get(
            "per_layer", []) or [] if p.get("js") is not None]
        return {
            "name": self.name,
            "title": exp.get("title") or self.manifest.get("title") or "",
            "dataset": exp.get("dataset", ""),
            "classes": [names.get(str(c), str(c)) for c in exp.get("classes", [])],
            "probes": [names.get(str(c), str(c)) for c in exp.get("probe_classes", [])],
            "hidden": exp.get("hidden", []),
            "activation": exp.get("activation", ""),
            "n_train": exp.get("n_train"),
            "seeds": exp.get("seeds") or [exp.get("seed")],
            "accuracy": (m.get("model") or {}).get("test_accuracy"),
            "separation_layer": answers.get("separation_layer"),
            "separation_index": answers.get("separation_layer_index"),
            "input_value": sep.get("input_value"),
            "probe_accuracy": [(lay.get("name"), lay.get("linear_probe_accuracy"))
                               for lay in layers],
            "nmi": [(lay.get("name"), lay.get("cluster_class_nmi")) for lay in layers],
            "max_js": max(js) if js else None,
            "n_specific": sum(1 for r in (m.get("paths", {}) or {}).get("table", [])
                              if r.get("specific")),
            "coverage": [(names.get(str(c), str(c)), v) for c, v in coverage.items()],
            "novel": [(names.get(str(u.get("class")), str(u.get("class"))),
                       u.get("novel_path_fraction")) for u in unseen],
            "best_auroc": best["auroc"] if best else None,
            "best_method": f"{best['method']} ({best['layer']})" if best else None,
            "created": str(self.manifest.get("created") or ""),
            "date": str(self.manifest.get("created") or "")[:10],
        }


def discover_runs(reports_dir: Path | str) -> tuple[list[RunEntry], list[tuple[str, str]]]:
    """Every report folder under ``reports_dir``, newest first, and the folders skipped.

    A folder counts as a run when it holds ``metrics.json``, ``manifest.json``
    and ``index.html``. Folders whose JSON cannot be read are returned in the
    second list as ``(name, reason)``; hidden folders (``.x``, an interrupted
    write) and ``_bokeh`` are ignored.
    """
    reports_dir = Path(reports_dir)
    runs, skipped = [], []
    if not reports_dir.is_dir():
        return runs, skipped
    for folder in sorted(p for p in reports_dir.iterdir() if p.is_dir()):
        if folder.name.startswith((".", "_")):
            continue
        needed = [folder / f for f in ("metrics.json", "manifest.json", "index.html")]
        missing = [p.name for p in needed if not p.is_file()]
        if missing:
            skipped.append((folder.name, "missing " + ", ".join(missing)))
            continue
        try:
            metrics = json.loads((folder / "metrics.json").read_text("utf-8"))
            manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            skipped.append((folder.name, f"unreadable JSON ({type(exc).__name__})"))
            continue
        if not isinstance(metrics, dict) or not isinstance(manifest, dict):
            skipped.append((folder.name, "metrics.json or manifest.json is not an object"))
            continue
        runs.append(RunEntry(folder.name, folder, metrics, manifest))
    runs.sort(key=lambda r: (str(r.manifest.get("created") or ""), r.name), reverse=True)
    return runs, skipped


def write_site_pages(runs: list[RunEntry], docs_dir: Path | str,
                     skipped: list[tuple[str, str]] = (), atlases: list[dict] = ()) -> list[Path]:
    """Write the generated pages for ``runs`` into ``docs_dir``; returns the files written.

    The previous generated pages are removed first, so a deleted run leaves no page behind.
    """
    from sigreport.report.render import _templates_dir, template_env

    docs_dir = Path(docs_dir)
    runs_dir = docs_dir / "runs"
    if runs_dir.exists():
        shutil.rmtree(runs_dir)
    runs_dir.mkdir(parents=True)
    env = template_env()
    rows = [r.summary for r in runs]
    has_guide = (docs_dir / "guide.md").is_file()
    written = []

    def write(rel: str, text: str) -> None:
        path = docs_dir / rel
        path.write_text(text, encoding="utf-8")
        written.append(path)

    write("index.md", env.get_template("site/home.md.j2").render(
        runs=rows, skipped=list(skipped), has_guide=has_guide, atlases=list(atlases)))
    write("runs/index.md", env.get_template("site/compare.md.j2").render(runs=rows))
    for run, row in zip(runs, rows):
        write(f"runs/{run.name}.md", env.get_template("site/run.md.j2").render(
            run=row, files=sorted(p.name for p in run.folder.iterdir() if p.is_file())))
    assets = _templates_dir() / "site"
    for name in ("sortable.js", "site.css"):
        write(f"runs/{name}", (assets / name).read_text("utf-8"))
    return written


def _sync_reports(reports_dir: Path, target: Path, runs: list[RunEntry]) -> None:
    """Copy report folders (and the vendored BokehJS) into the docs folder's reports/."""
    target.mkdir(parents=True, exist_ok=True)
    bokeh = reports_dir / "_bokeh"
    if bokeh.is_dir():
        shutil.copytree(bokeh, target / "_bokeh", dirs_exist_ok=True)
    for run in runs:
        dest = target / run.name
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(run.folder, dest)


def _nav(runs: list[RunEntry], docs_dir: Path) -> list:
    nav: list = [{"All runs": "index.md"}, {"Compare runs": "runs/index.md"}]
    if runs:
        nav.append({"Reports": [{r.name: f"runs/{r.name}.md"} for r in runs]})
    extra = sorted(p.relative_to(docs_dir).as_posix() for p in docs_dir.glob("*.md")
                   if p.name != "index.md")
    for rel in extra:
        title = "User guide" if rel == "guide.md" else Path(rel).stem.replace("-", " ").capitalize()
        nav.append({title: rel})
    return nav


def build_site(reports_dir: Path | str, site_dir: Path | str = "site",
               out_dir: Path | str = "public") -> Path:
    """Generate the site pages for every run and build the site with MkDocs (strict).

    Parameters
    ----------
    reports_dir:
        Folder of report folders (``<name>/index.html``, ``metrics.json``,
        ``manifest.json``), e.g. ``site/reports``. When it is not
        ``<site_dir>/reports``, its runs are copied there first.
    site_dir:
        The MkDocs docs folder with the hand-written pages.
    out_dir:
        Where the built site goes.

    Returns
    -------
    Path
        ``<out_dir>/index.html``.

    Raises
    ------
    SigreportError
        When MkDocs reports a problem (broken link, missing page) in strict mode.
    """
    from mkdocs.commands.build import build
    from mkdocs.config import load_config
    from mkdocs.exceptions import MkDocsException

    from sigreport.report.atlas import write_atlas_pages

    reports_dir, site_dir, out_dir = Path(reports_dir), Path(site_dir), Path(out_dir)
    site_dir.mkdir(parents=True, exist_ok=True)
    runs, skipped = discover_runs(reports_dir)
    target = site_dir / "reports"
    if reports_dir.resolve() != target.resolve():
        _sync_reports(reports_dir, target, runs)
        runs = [RunEntry(r.name, target / r.name, r.metrics, r.manifest) for r in runs]
    atlases = write_atlas_pages(reports_dir, {r.name: r.metrics for r in runs}, site_dir)
    write_site_pages(runs, site_dir, skipped, atlases)

    config_file = site_dir.resolve().parent / "mkdocs.yml"
    tmp = None
    if not config_file.is_file():
        tmp = tempfile.TemporaryDirectory(prefix="sigreport-mkdocs-")
        config_file = Path(tmp.name) / "mkdocs.yml"
        config_file.write_text(_DEFAULT_MKDOCS, encoding="utf-8")
    try:
        cfg = load_config(str(config_file), docs_dir=str(site_dir.resolve()),
                          site_dir=str(out_dir.resolve()), strict=True,
                          nav=_nav(runs, site_dir))
        build(cfg)
    except (MkDocsException, SystemExit) as exc:  # mkdocs aborts strict builds with Abort
        raise SigreportError(f"site build failed: {exc}") from None
    finally:
        if tmp is not None:
            tmp.cleanup()
    return out_dir / "index.html"
