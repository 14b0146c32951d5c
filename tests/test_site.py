"""The site stage: discovery of runs, generated pages, the MkDocs build, offline links."""

from __future__ import annotations

import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import bokeh
import pytest
from browser_fixtures import (
    REPO,
    default_run,
    get_built_site,
    with_config,
    write_run,
    write_stub_report,
)

from sigreport.errors import SigreportError
from sigreport.report import build_site
from sigreport.report.site import discover_runs, write_site_pages


@pytest.fixture(scope="session")
def small_run():
    return default_run()


@pytest.fixture(scope="session")
def built_site(tmp_path_factory):
    return get_built_site(tmp_path_factory)


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
    assert js.read_bytes() == (built_site.root / "site" / "reports" / "_bokeh" / js.name).read_bytes()


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
    run = with_config(small_run, name="numbers")
    run.metrics["model"] = {**run.metrics["model"], "test_accuracy": 0.876543}
    write_stub_report(run, tmp_path / "reports")
    runs, skipped = discover_runs(tmp_path / "reports")
    assert [r.name for r in runs] == ["numbers"] and not skipped
    write_site_pages(runs, tmp_path / "docs")
    assert "87.65%" in (tmp_path / "docs" / "index.md").read_text("utf-8")


def test_discovery_skips_broken_and_hidden_folders(small_run, tmp_path):
    reports = tmp_path / "reports"
    write_stub_report(with_config(small_run, name="good"), reports)
    (reports / "broken").mkdir()
    (reports / "broken" / "index.html").write_text("x")
    (reports / "broken" / "manifest.json").write_text("{}")
    (reports / "broken" / "metrics.json").write_text("{not json")
    (reports / ".good.tmp-123").mkdir()
    (reports / "half").mkdir()
    runs, skipped = discover_runs(reports)
    assert [r.name for r in runs] == ["good"]
    assert dict(skipped) == {"broken": "unreadable JSON (JSONDecodeError)",
                             "half": "missing metrics.json, manifest.json, index.html"}


def test_reports_outside_the_docs_folder_are_copied_in(small_run, tmp_path):
    shutil.copytree(REPO / "site", tmp_path / "site",
                    ignore=shutil.ignore_patterns("reports", "runs", "index.md"))
    shutil.copy(REPO / "mkdocs.yml", tmp_path / "mkdocs.yml")
    elsewhere = tmp_path / "elsewhere"
    write_run(with_config(small_run, name="outside"), elsewhere)
    index = build_site(elsewhere, tmp_path / "site", tmp_path / "public")
    assert index == tmp_path / "public" / "index.html" and index.is_file()
    assert (tmp_path / "public" / "reports" / "outside" / "index.html").is_file()
    assert (tmp_path / "public" / "reports" / "_bokeh").is_dir()


def test_site_builds_without_a_mkdocs_yml_or_hand_written_pages(small_run, tmp_path):
    write_stub_report(with_config(small_run, name="bare"), tmp_path / "docs" / "reports")
    index = build_site(tmp_path / "docs" / "reports", tmp_path / "docs", tmp_path / "out")
    assert 'href="reports/bare/index.html"' in index.read_text("utf-8")
    assert not (tmp_path / "mkdocs.yml").exists()


def test_a_deleted_run_leaves_no_page_behind(small_run, tmp_path):
    reports = tmp_path / "docs" / "reports"
    write_stub_report(with_config(small_run, name="first"), reports)
    write_stub_report(with_config(small_run, name="second"), reports)
    build_site(reports, tmp_path / "docs", tmp_path / "out")
    shutil.rmtree(reports / "first")
    build_site(reports, tmp_path / "docs", tmp_path / "out")
    assert not (tmp_path / "docs" / "runs" / "first.md").exists()
    assert not (tmp_path / "out" / "runs" / "first.html").exists()
    assert "reports/first/" not in (tmp_path / "out" / "index.html").read_text("utf-8")


def test_strict_build_problems_are_reported_as_one_error(small_run, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
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
