"""The atlas page in Chromium, opened from file:// with the network cut."""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse

import pytest
from browser_fixtures import CHROMIUM, axe_findings, save_shot
from sweep_fixtures import SWEEP_NAME, get_distributed_sweep
from test_browser import _POINT_JS, browser, tab  # noqa: F401 -- fixtures

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason=f"{CHROMIUM} is missing: `make test` installs Debian's chromium"),
]
REPO = Path(__file__).resolve().parent.parent


def _wait_for_bokeh(page) -> None:
    """Wait until BokehJS has drawn a first document's views."""
    page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0"
                           " && Bokeh.index && Object.keys(Bokeh.index).length > 0",
                           timeout=30000)
HEATMAPS = ("separation", "accuracy", "detection", "specific")


@pytest.fixture(scope="module")
def public(tmp_path_factory) -> Path:
    from sigreport.report import build_site

    root = tmp_path_factory.mktemp("atlas-site")
    shutil.copytree(get_distributed_sweep(tmp_path_factory).out, root / "site" / "reports")
    shutil.copy(REPO / "mkdocs.yml", root / "mkdocs.yml")
    build_site(root / "site" / "reports", root / "site", root / "public")
    return root / "public"


def _exists(page_url: str, href: str) -> bool:
    return Path(unquote(urlparse(urljoin(page_url, href)).path)).is_file()


def test_atlas_renders_offline_and_every_cell_link_resolves(public, tab, tmp_path):
    t = tab()
    page = t.open(public / "atlas" / f"{SWEEP_NAME}.html")
    _wait_for_bokeh(page)
    roots = page.evaluate("() => Bokeh.documents[0].roots().map(r => r.name)")
    assert sorted(roots) == sorted(f"atlas-{k}" for k in HEATMAPS)
    assert page.locator("[data-root-id]").count() == len(HEATMAPS)
    assert page.locator("canvas").count() >= len(HEATMAPS)
    hrefs = page.evaluate("""(keys) => keys.flatMap(k => [...Bokeh.documents[0]
        .get_model_by_name(`atlas-${k}-linked`).data_source.data.href])""", list(HEATMAPS))
    # 2 pairs in three heatmaps, 2 (pair, unseen digit) cells in the fourth.
    assert len(hrefs) == 8
    table_links = page.locator("table.atlas-table a").evaluate_all(
        "els => els.map(e => e.getAttribute('href'))")
    assert len(table_links) == 16  # each cell links both seeds' reports
    for href in hrefs + table_links:
        assert href.endswith("/index.html") and _exists(page.url, href), href
    save_shot(page, tmp_path, "atlas")
    assert not t.outside, t.outside
    assert not t.errors, t.errors

    # A click on a cell opens its run's report.
    page.locator("#accuracy").scroll_into_view_if_needed()
    point = page.evaluate(_POINT_JS, "atlas-accuracy-linked")
    first = page.evaluate("""() => Bokeh.documents[0].get_model_by_name('atlas-accuracy-linked')
        .data_source.data.href[0]""")
    page.mouse.click(point["x"], point["y"])
    page.wait_for_url("**/index.html", timeout=10000)
    assert page.url == urljoin(str((public / "atlas" / "x.html").as_uri()), first)
    _wait_for_bokeh(page)
    assert not t.outside and not t.errors, (t.outside, t.errors)


def test_home_page_links_the_atlas(public, tab):
    t = tab()
    home = t.open(public / "index.html")
    home.locator(f"a[href='atlas/{SWEEP_NAME}.html']").click()
    home.wait_for_load_state("load")
    assert home.url.endswith(f"atlas/{SWEEP_NAME}.html")
    _wait_for_bokeh(home)
    assert not t.outside and not t.errors, (t.outside, t.errors)


def test_axe_core_finds_nothing_serious_on_the_atlas(public, tab):
    t = tab()
    page = t.open(public / "atlas" / f"{SWEEP_NAME}.html")
    _wait_for_bokeh(page)
    assert axe_findings(page) == []
    assert not t.outside and not t.errors, (t.outside, t.errors)
