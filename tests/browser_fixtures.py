"""Shared fixtures for the report, site and browser tests.

``make_run`` runs the real pipeline stages (training, activations, signatures,
analysis) on a few hundred MNIST images in process and returns what
``render_report`` takes; nothing here measures anything itself.
"""

from __future__ import annotations

import dataclasses
import functools
import shutil
from dataclasses import dataclass
from pathlib import Path

from sigreport.activations import Activations
from sigreport.config import (
    Config,
    DataConfig,
    ModelConfig,
    ReportConfig,
    TrainConfig,
    config_to_dict,
)
from sigreport.data import Dataset

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path("/tmp/shots")


@dataclass(frozen=True)
class Run:
    """What the pipeline hands to ``render_report``."""

    metrics: dict
    manifest: dict
    dataset: Dataset
    acts: Activations
    sigs: object
    config: Config
    snapshots: dict | None = None


def make_run(classes=(1, 7), probes=(3,), n_per_class=200, n_test=100, hidden=(32, 16, 8),
             k=None, seed=0, title="MNIST 1 vs 7, probed with 3", name="test-run",
             projection="pca", max_points=400) -> Run:
    """A real measured run of a small experiment (training 3 epochs; a few seconds)."""
    from sigreport.config import SignaturesConfig
    from sigreport.pipeline import measure

    data = DataConfig(classes=tuple(classes), probe_classes=tuple(probes),
                      n_per_class=n_per_class, n_test_per_class=n_test)
    config = Config(name=name, title=title, seed=seed, data=data,
                    model=ModelConfig(hidden=tuple(hidden)),
                    train=TrainConfig(epochs=3, batch_size=32),
                    signatures=SignaturesConfig(k=k),
                    report=ReportConfig(projection=projection, max_points=max_points))
    m = measure(config)
    return Run(m.metrics, m.manifest, m.dataset, m.acts, m.sigs, config, m.snapshots)


def write_run(run: Run, out: Path, standalone: bool = False) -> Path:
    """Write a report folder the way the pipeline does; returns ``<out>/<name>``."""
    import json

    from sigreport.config import config_to_toml
    from sigreport.report import render_report, vendor_bokeh
    from sigreport.store import write_folder_atomic

    files = dict(render_report(run.metrics, run.manifest, run.dataset, run.acts, run.sigs,
                               run.config, standalone=standalone, snapshots=run.snapshots))
    files["metrics.json"] = json.dumps(run.metrics, indent=1) + "\n"
    files["manifest.json"] = json.dumps(run.manifest, indent=1) + "\n"
    files["config.toml"] = config_to_toml(run.config)
    if not standalone:
        vendor_bokeh(out)
    write_folder_atomic(out / run.config.name, files)
    return out / run.config.name


def write_stub_report(run: Run, out: Path) -> Path:
    """A report folder whose index.html is a placeholder, for site tests about discovery
    and pages (rendering a real report takes seconds)."""
    import json

    from sigreport.store import write_folder_atomic

    write_folder_atomic(out / run.config.name, {
        "index.html": "<!DOCTYPE html><title>stub</title><p>report</p>\n",
        "metrics.json": json.dumps(run.metrics) + "\n",
        "manifest.json": json.dumps(run.manifest) + "\n",
    })
    return out / run.config.name


def with_config(run: Run, **changes) -> Run:
    """The same measured run under a changed top-level config (name, title...)."""
    config = dataclasses.replace(run.config, **changes)
    metrics = dict(run.metrics)
    metrics["experiment"] = {**metrics["experiment"],
                             **{k: v for k, v in changes.items() if k in ("name", "title")}}
    manifest = {**run.manifest, **{k: v for k, v in changes.items() if k in ("name", "title")},
                "config": config_to_dict(config)}
    return Run(metrics, manifest, run.dataset, run.acts, run.sigs, config, run.snapshots)


def save_shot(page, tmp_path: Path, name: str, full_page: bool = True) -> Path:
    """Screenshot into the test's tmp dir and a copy under /tmp/shots/ for people to look at."""
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, SHOTS / path.name)
    return path


@functools.lru_cache(maxsize=1)
def default_run() -> Run:
    """The default experiment's shape (1 vs 7, probed with 3) on a few hundred images,
    made once per session."""
    return make_run()


EVIL_TITLE = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2"> & co'
REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class BuiltSite:
    """A site built from two runs: ``site_run`` (site mode, a title with markup) and
    ``alone_run`` (standalone), plus the standalone file alone in its own folder."""

    root: Path
    public: Path
    site_run: str
    alone_run: str
    lonely_report: Path


_SITES: dict[str, object] = {}


def _site_folder(tmp_path_factory, name: str) -> Path:
    """A new folder with the project's hand-written pages (site/) and mkdocs.yml."""
    root = tmp_path_factory.mktemp(name)
    shutil.copytree(REPO / "site", root / "site",
                    ignore=shutil.ignore_patterns("reports", "runs", "index.md"))
    shutil.copy(REPO / "mkdocs.yml", root / "mkdocs.yml")
    return root


def get_built_site(tmp_path_factory) -> BuiltSite:
    """Write two reports like the pipeline does, then ``build_site`` them (once per session)."""
    if "site" not in _SITES:
        from sigreport.report import build_site

        root = _site_folder(tmp_path_factory, "site-build")
        base = default_run()
        site_run = with_config(base, name="xss-title", title=EVIL_TITLE)
        alone_run = with_config(base, name="standalone-run", title="A standalone report")
        write_run(site_run, root / "site" / "reports")
        write_run(alone_run, root / "site" / "reports", standalone=True)
        lonely = write_run(alone_run, root / "lonely", standalone=True) / "index.html"
        build_site(root / "site" / "reports", root / "site", root / "public")
        _SITES["site"] = BuiltSite(root, root / "public", "xss-title", "standalone-run", lonely)
    return _SITES["site"]


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


def _hostile_run(base: Run, name: str) -> Run:
    run = with_config(base, name=name, title=HOSTILE_TITLE)
    run.metrics["experiment"] = {**run.metrics["experiment"], "class_names": HOSTILE_CLASSES}
    return run


def get_hostile_site(tmp_path_factory) -> HostileSite:
    """Build it once per session."""
    if "hostile" not in _SITES:
        import json
        import os

        from conftest import run_cli

        root = _site_folder(tmp_path_factory, "hostile-site")
        reports = root / "site" / "reports"
        base = default_run()
        for name in HOSTILE_NAMES:
            write_stub_report(_hostile_run(base, name), reports)
        # Links to a private file, to /etc and a FIFO beside a private regular file.
        outside = root / "outside"
        outside.mkdir()
        (outside / "secret.txt").write_text(SECRET)
        (outside / "secret.txt").chmod(0o600)
        links = write_stub_report(with_config(base, name="with-links"), reports)
        (links / "secret.txt").symlink_to(outside / "secret.txt")
        (links / "etc").symlink_to("/etc")
        os.mkfifo(links / "pipe")
        (links / "notes.txt").write_text("notes")
        (links / "notes.txt").chmod(0o600)
        # A whole report folder that is a link.
        (reports / "linked").symlink_to(write_stub_report(with_config(base, name="real"), outside))
        # Malformed: a string where a number belongs, and JSON nested 100,000 deep.
        bad = write_stub_report(with_config(base, name="bad-accuracy"), reports)
        metrics = json.loads((bad / "metrics.json").read_text())
        metrics["model"]["test_accuracy"] = "abc"
        (bad / "metrics.json").write_text(json.dumps(metrics))
        deep = write_stub_report(with_config(base, name="deep"), reports)
        (deep / "metrics.json").write_text("[" * 100_000 + "]" * 100_000)
        # A name that would replace the comparison page.
        write_stub_report(with_config(base, name="index"), reports)
        proc = run_cli("site", "build", cwd=root)
        _SITES["hostile"] = HostileSite(
            root, root / "public", proc.returncode, proc.stderr,
            published=(*HOSTILE_NAMES, "with-links"),
            skipped=("bad-accuracy", "deep", "index", "linked"))
    return _SITES["hostile"]
