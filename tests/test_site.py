"""The site stage: discovery of runs, generated pages, the MkDocs build, offline links."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import bokeh
import pytest
from browser_fixtures import (
    HOSTILE_CLASSES,
    HOSTILE_NAMES,
    HOSTILE_TITLE,
    REPO,
    SECRET,
    build_hostile_site,
    build_test_site,
    copy_run,
)
from conftest import one_error_line, run_cli

from sigreport.errors import SigreportError
from sigreport.report import build_site
from sigreport.report.site import discover_runs, write_site_pages


@pytest.fixture(scope="session")
def small_run(tiny_run):
    """The tiny pipeline run's report folder."""
    return tiny_run / "tiny"


@pytest.fixture(scope="session")
def built_site(tmp_path_factory, tiny_run, tiny_standalone_run):
    return build_test_site(tmp_path_factory.mktemp("site-build"), tiny_run, tiny_standalone_run)


@pytest.fixture(scope="session")
def hostile_site(tmp_path_factory, tiny_run):
    return build_hostile_site(tmp_path_factory.mktemp("hostile-site"), tiny_run)


class _Refs(HTMLParser):
    """Collect (tag, attribute, value) of every src/href in a page."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("src", "href") and value is not None:
                self.refs.append((tag, name, value))


def _refs(path: Path) -> list[tuple[str, str, str]]:
    parser = _Refs()
    parser.feed(path.read_text("utf-8"))
    return parser.refs


def _site_pages(public: Path) -> list[Path]:
    return [p for p in public.rglob("*.html") if "reports" not in p.relative_to(public).parts]


def test_every_report_is_reachable_and_unchanged(built_site):
    for name in (built_site.site_run, built_site.alone_run):
        built = built_site.public / "reports" / name / "index.html"
        source = built_site.root / "site" / "reports" / name / "index.html"
        assert built.read_bytes() == source.read_bytes()
        for extra in ("metrics.json", "manifest.json", "config.toml"):
            assert (built_site.public / "reports" / name / extra).is_file()
    js = built_site.public / "reports" / "_bokeh" / f"bokeh-{bokeh.__version__}.min.js"
    vendored = built_site.root / "site" / "reports" / "_bokeh" / js.name
    assert js.read_bytes() == vendored.read_bytes()
    # Only the bundles some report loads are published.
    assert sorted(p.name for p in js.parent.glob("*.js")) == [js.name]


def test_site_mode_report_finds_bokehjs_by_its_relative_path(built_site):
    report = built_site.public / "reports" / built_site.site_run / "index.html"
    scripts = [v for tag, attr, v in _refs(report) if tag == "script" and attr == "src"]
    assert scripts
    for src in scripts:
        assert (report.parent / src).resolve().is_file(), src


def test_no_page_loads_anything_from_the_network(built_site):
    for page in list(built_site.public.rglob("*.html")):
        for tag, attr, value in _refs(page):
            scheme = urlsplit(value).scheme
            external = scheme in ("http", "https") or value.startswith("//")
            # A plain link the reader may follow is fine; nothing may be loaded.
            assert not external or (tag == "a" and attr == "href"), (page, tag, value)


def test_every_local_link_of_the_site_resolves(built_site):
    # 404.html is for web servers and uses site-absolute links by design.
    for page in (p for p in _site_pages(built_site.public) if p.name != "404.html"):
        for tag, attr, value in _refs(page):
            parts = urlsplit(value)
            if parts.scheme or value.startswith(("#", "//", "mailto:")):
                continue
            target = (page.parent / unquote(parts.path)).resolve()
            assert target.exists(), f"{page.name}: {tag} {attr}={value}"


def test_home_page_lists_every_run_in_a_sortable_table(built_site):
    home = (built_site.public / "index.html").read_text("utf-8")
    assert 'class="sortable sr-runs"' in home
    for name in (built_site.site_run, built_site.alone_run):
        assert f'href="reports/{name}/index.html"' in home
        assert f'href="runs/{name}.html"' in home
    headings = re.findall(r"<th[^>]*>([^<]+)</th>", home.split("sr-runs")[1].split("</thead>")[0])
    assert headings[:7] == ["name", "classes", "probe", "test accuracy", "separation layer",
                            "best detection AUROC", "date"]
    assert 'src="runs/sortable.js"' in home
    assert (built_site.public / "runs" / "sortable.js").is_file()


def test_run_and_compare_pages(built_site):
    run_page = (built_site.public / "runs" / f"{built_site.alone_run}.html").read_text("utf-8")
    assert f'href="../reports/{built_site.alone_run}/index.html"' in run_page
    assert "test accuracy" in run_page
    compare = (built_site.public / "runs" / "index.html").read_text("utf-8")
    for name in (built_site.site_run, built_site.alone_run):
        assert f'href="../reports/{name}/index.html"' in compare
    guide = (built_site.public / "guide.html").read_text("utf-8")
    assert "make report" in guide and "make test" in guide


def test_the_reproduction_page_is_built_and_titled_by_its_heading(built_site):
    page = (built_site.public / "reproducing-2021.html").read_text("utf-8")
    assert "<table>" in page and "original-2021-sigreport" in page
    home = (built_site.public / "index.html").read_text("utf-8")
    assert re.search(r'<a class="reference internal" href="reproducing-2021.html">'
                     r'\s*Reproducing the 2021 study\s*</a>', home), home[:0]


def test_titles_with_markup_are_text_on_every_site_page(built_site):
    for page in _site_pages(built_site.public):
        text = page.read_text("utf-8")
        assert "<script>window.__xss" not in text, page
        assert "<img src=x" not in text, page
    home = (built_site.public / "index.html").read_text("utf-8")
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in home


def test_numbers_on_the_home_page_come_from_metrics(small_run, tmp_path):
    import json

    model = json.loads((small_run / "metrics.json").read_text("utf-8"))["model"]
    copy_run(small_run, tmp_path / "reports", "numbers", stub=True,
             metrics={"model": {**model, "test_accuracy": 0.876543}})
    runs, skipped = discover_runs(tmp_path / "reports")
    assert [r.name for r in runs] == ["numbers"] and not skipped
    write_site_pages(runs, tmp_path / "docs")
    assert "87.65%" in (tmp_path / "docs" / "index.md").read_text("utf-8")


def test_discovery_skips_broken_and_hidden_folders(small_run, tmp_path):
    reports = tmp_path / "reports"
    copy_run(small_run, reports, "good", stub=True)
    (reports / "broken").mkdir()
    (reports / "broken" / "index.html").write_text("x")
    (reports / "broken" / "manifest.json").write_text("{}")
    (reports / "broken" / "metrics.json").write_text("{not json")
    (reports / ".good.tmp-123").mkdir()
    (reports / "half").mkdir()
    warned: list[str] = []
    runs, skipped = discover_runs(reports, warn=warned.append)
    assert [r.name for r in runs] == ["good"]
    assert dict(skipped) == {
        "broken": "metrics.json is not valid JSON (Expecting property name enclosed in double "
                  "quotes: line 1 column 2 (char 1))",
        "half": "missing metrics.json, manifest.json, index.html"}
    assert warned == [f"{reports / name}: skipped: {why}" for name, why in skipped]


def test_reports_outside_the_docs_folder_are_copied_in(small_run, tmp_path):
    shutil.copytree(REPO / "site", tmp_path / "site",
                    ignore=shutil.ignore_patterns("reports", "runs", "index.md"))
    shutil.copy(REPO / "mkdocs.yml", tmp_path / "mkdocs.yml")
    elsewhere = tmp_path / "elsewhere"
    copy_run(small_run, elsewhere, "outside")
    shutil.copytree(small_run.parent / "_bokeh", elsewhere / "_bokeh")
    index = build_site(elsewhere, tmp_path / "site", tmp_path / "public")
    assert index == tmp_path / "public" / "index.html" and index.is_file()
    assert (tmp_path / "public" / "reports" / "outside" / "index.html").is_file()
    assert (tmp_path / "public" / "reports" / "_bokeh").is_dir()


def test_site_builds_without_a_mkdocs_yml_or_hand_written_pages(small_run, tmp_path):
    copy_run(small_run, tmp_path / "docs" / "reports", "bare", stub=True)
    index = build_site(tmp_path / "docs" / "reports", tmp_path / "docs", tmp_path / "out")
    assert 'href="reports/bare/index.html"' in index.read_text("utf-8")
    assert not (tmp_path / "mkdocs.yml").exists()


def test_a_deleted_run_leaves_no_page_behind(small_run, tmp_path):
    reports = tmp_path / "docs" / "reports"
    copy_run(small_run, reports, "first", stub=True)
    copy_run(small_run, reports, "second", stub=True)
    build_site(reports, tmp_path / "docs", tmp_path / "out")
    shutil.rmtree(reports / "first")
    build_site(reports, tmp_path / "docs", tmp_path / "out")
    assert not (tmp_path / "docs" / "runs" / "first.md").exists()
    assert not (tmp_path / "out" / "runs" / "first.html").exists()
    assert "reports/first/" not in (tmp_path / "out" / "index.html").read_text("utf-8")


def test_strict_build_problems_are_reported_as_one_error(small_run, tmp_path):
    docs = tmp_path / "docs"
    (docs / "reports").mkdir(parents=True)
    (docs / "guide.md").write_text("# Guide\n\n[broken](nowhere.md)\n")
    with pytest.raises(SigreportError, match="site build failed"):
        build_site(docs / "reports", docs, tmp_path / "out")


def test_mkdocs_yml_keeps_the_site_offline():
    text = (REPO / "mkdocs.yml").read_text("utf-8")
    assert re.search(r"^use_directory_urls: false$", text, re.MULTILINE)
    assert re.search(r"^\s+highlightjs: false$", text, re.MULTILINE)
    assert re.search(r"^plugins: \[\]$", text, re.MULTILINE)
    assert re.search(r"^docs_dir: site$", text, re.MULTILINE)
    assert re.search(r"^site_dir: public$", text, re.MULTILINE)


# --- report folders as anyone may have made them ----------------------------------------


class _Page(HTMLParser):
    """Every element with its attributes, and the text, of one page."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(path.read_text("utf-8"))

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def test_regression_hostile_site_builds_with_one_warning_per_refusal(hostile_site):
    assert hostile_site.returncode == 0, hostile_site.stderr
    assert "Traceback" not in hostile_site.stderr
    lines = hostile_site.stderr.strip().splitlines()
    assert all(line.startswith("sigreport: warning: site/reports/") for line in lines), lines
    named = sorted(line.removeprefix("sigreport: warning: site/reports/").split(":")[0]
                   for line in lines)
    assert named == sorted(["with-links/etc", "with-links/pipe", "with-links/secret.txt",
                            *hostile_site.skipped])


def test_regression_names_titles_and_class_names_are_text_on_every_page(hostile_site):
    # A folder named q"><svg onload=alert(16)> ran a script on every page (the nav);
    # one named [x](javascript:alert(21)) made the run page's heading a javascript: link.
    pages = _site_pages(hostile_site.public)
    assert len(pages) >= 6
    for page in pages:
        parsed = _Page(page)
        for tag, attrs in parsed.elements:
            assert tag not in ("svg", "img"), (page, tag, attrs)
            for attr, value in attrs.items():
                assert not (attr.startswith("on") and "alert" in (value or "")), (page, attr)
                if attr in ("href", "src"):
                    assert urlsplit((value or "").strip()).scheme.lower() not in (
                        "javascript", "data", "vbscript"), (page, value)
        # Each name is shown as it is, in the navigation of every page.
        text = "".join(parsed.text)
        for name in HOSTILE_NAMES:
            assert name in text, (page, name)
    run_page = _Page(hostile_site.public / "runs" / f"{HOSTILE_NAMES[1]}.html")
    assert "".join(run_page.text).count(HOSTILE_TITLE.split("\n")[0]) >= 1
    home = "".join(_Page(hostile_site.public / "index.html").text)
    for class_name in HOSTILE_CLASSES.values():
        assert class_name in "".join(_Page(hostile_site.public / "runs" / "index.html").text)
    assert "<svg onload=alert(6)> & `code`" in home


def test_regression_publishing_never_follows_a_link(hostile_site):
    # A link to a 0600 file was published 0644 and linked from the run page; a link to
    # /etc copied /etc into public/ and failed with a traceback.
    public = hostile_site.public
    published = sorted(p.name for p in (public / "reports" / "with-links").iterdir())
    assert published == ["config.toml", "figures.npz", "index.html", "manifest.json",
                         "metrics.json", "notes.txt"]
    for path in public.rglob("*"):
        assert not path.is_symlink(), path
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    run_page = (public / "runs" / "with-links.html").read_text("utf-8")
    assert 'href="../reports/with-links/notes.txt"' in run_page
    for refused in ("secret.txt", "etc", "pipe"):
        assert f"with-links/{refused}" not in run_page
    assert sorted(p.name for p in (public / "reports").iterdir()) == sorted(
        hostile_site.published)


def test_regression_malformed_report_folders_are_skipped_and_listed(hostile_site):
    # A string as test_accuracy stopped the build with a ValueError (and emptied
    # site/runs/); JSON nested 100,000 deep gave a RecursionError.
    home = _Page(hostile_site.public / "index.html")
    skipped = next(attrs for tag, attrs in home.elements
                   if tag == "p" and "sr-skipped" in (attrs.get("class") or ""))
    assert skipped is not None
    text = "".join(home.text)
    for name, why in (("bad-accuracy", "$.model.test_accuracy: 'abc' is not of type 'number'"),
                      ("deep", "metrics.json is nested too deeply"),
                      ("index", "taken by a page of the site"),
                      ("linked", "a symbolic link")):
        assert f"{name} (" in text and why in text, (name, why)
    for name in hostile_site.published:
        assert (hostile_site.public / "runs" / f"{name}.html").is_file()
    assert not (hostile_site.public / "runs" / "bad-accuracy.html").exists()
    # The comparison page is still the comparison, not the run named "index".
    assert "Compare runs" in (hostile_site.public / "runs" / "index.html").read_text("utf-8")


def test_regression_published_files_are_readable_like_any_other_file(hostile_site):
    # A 0600 file of a report stayed 0600 in public/: a web server could not serve it.
    umask = os.umask(0o022)
    os.umask(umask)
    modes = {str(p.relative_to(hostile_site.public)): p.stat().st_mode & 0o777
             for p in (hostile_site.public / "reports").rglob("*") if p.is_file()}
    assert modes and set(modes.values()) == {0o666 & ~umask}, modes


def test_regression_missing_reports_folder_is_an_error(tmp_path):
    # A mistyped --reports published an empty site with exit status 0.
    proc = run_cli("site", "build", "--reports", "site/reprots", cwd=tmp_path)
    one_error_line(proc, "reports folder site/reprots does not exist")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("out", ["reports/x", "."])
def test_site_folder_may_not_overlap_the_reports(small_run, tmp_path, out):
    reports = tmp_path / "reports"
    copy_run(small_run, reports, "kept", stub=True)
    before = sorted(tmp_path.rglob("*"))
    proc = run_cli("site", "build", "--reports", "reports", "--out", out, cwd=tmp_path)
    one_error_line(proc, "overlaps the reports folder")
    assert sorted(tmp_path.rglob("*")) == before


def test_site_folder_that_is_a_file_is_an_error(small_run, tmp_path):
    copy_run(small_run, tmp_path / "reports", "kept", stub=True)
    (tmp_path / "public").write_text("x")
    proc = run_cli("site", "build", "--reports", "reports", cwd=tmp_path)
    one_error_line(proc, "site folder public: exists and is not a folder")


_KILLED_BETWEEN_RENAMES = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from sigreport import store

    rename = os.replace

    def killed_before_the_second(src, dst):
        if ".tmp-" in str(src):
            os.kill(os.getpid(), signal.SIGKILL)
        rename(src, dst)

    os.replace = killed_before_the_second
    store._exchange = lambda a, b: False   # the two-rename path of systems without exchange
    store.write_folder_atomic(Path(sys.argv[1]), {"index.html": "never in place"})
    """
)


def test_regression_report_left_aside_by_a_kill_is_restored_by_site_build(small_run, tmp_path):
    # kill -9 between the two renames left only .kept.old-* and .kept.tmp-*: the
    # report was missing from the site until the next successful run of that name.
    reports = tmp_path / "reports"
    kept = copy_run(small_run, reports, "kept", stub=True)
    before = {p.name: p.read_bytes() for p in kept.iterdir()}
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", _KILLED_BETWEEN_RENAMES, str(kept)], env=env,
                          capture_output=True, timeout=60, check=False)
    assert proc.returncode == -signal.SIGKILL
    assert sorted(re.sub(r"-\w+$", "", p.name) for p in reports.iterdir()) == [
        ".kept.lock", ".kept.old", ".kept.tmp"]
    proc = run_cli("site", "build", "--reports", "reports", "--out", "public", cwd=tmp_path)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert {p.name: p.read_bytes() for p in kept.iterdir()} == before
    assert [p.name for p in reports.iterdir()] == ["kept"]
    assert (tmp_path / "public" / "reports" / "kept" / "index.html").read_bytes() == before[
        "index.html"]
    assert 'href="reports/kept/index.html"' in (tmp_path / "public" / "index.html").read_text()
