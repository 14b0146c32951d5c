"""Reports and site pages in a real browser (Debian's Chromium), opened from file://.

Every request that is not file:// is aborted and recorded: a page passes only
when nothing tried to leave the machine and the console shows no error.
Screenshots go to the test's tmp dir and to /tmp/shots/.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from browser_fixtures import CHROMIUM, HOSTILE_NAMES, get_built_site, get_hostile_site, save_shot

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason=f"{CHROMIUM} is missing: `make test` installs Debian's chromium"),
]

_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]

# Screen position of the first point of a named scatter renderer and of its plot frame,
# through Bokeh's own views.
_POINT_JS = """(name) => {
  const target = Bokeh.documents[0].get_model_by_name(name);
  function* walk(v) { yield v; if (v.children) { for (const c of v.children()) yield* walk(c); } }
  for (const root of Bokeh.index.roots) {
    for (const v of walk(root)) {
      if (v.model && v.model.renderers && v.model.renderers.includes(target)) {
        const rv = v.views.find_one(target);
        const rect = v.canvas_view.el.getBoundingClientRect();
        const f = v.frame.bbox;
        return {x: rect.left + rv.glyph.sx[0], y: rect.top + rv.glyph.sy[0],
                left: rect.left + f.left, top: rect.top + f.top, width: f.width, height: f.height};
      }
    }
  }
  return null;
}"""


@pytest.fixture(scope="session")
def built_site(tmp_path_factory):
    return get_built_site(tmp_path_factory)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=_ARGS)
        yield b
        b.close()


class _Page:
    """A page with outside requests aborted and console errors recorded."""

    def __init__(self, browser, width: int = 1400):
        self.page = browser.new_page(viewport={"width": width, "height": 900})
        self.errors: list[str] = []
        self.outside: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.route("**/*", self._route)

    def _route(self, route):
        url = route.request.url
        if url.startswith("file://"):
            route.continue_()
        else:
            self.outside.append(url)
            route.abort()

    def open(self, path):
        self.page.goto(path.as_uri())
        self.page.wait_for_load_state("load")
        return self.page


@pytest.fixture
def tab(browser):
    pages = []

    def make(width: int = 1400) -> _Page:
        pages.append(_Page(browser, width))
        return pages[-1]

    yield make
    for p in pages:
        p.page.close()


def _wait_for_bokeh(page) -> None:
    page.wait_for_function(
        "() => window.Bokeh && Bokeh.documents.length > 0 && Bokeh.index.roots.length"
        " >= document.querySelectorAll('[data-root-id]').length", timeout=20000)


def _check_rendered(page) -> None:
    n_docs = page.evaluate("() => Bokeh.documents.length")
    n_embedded = page.evaluate(
        "() => document.querySelectorAll('script').length && "
        "[...document.scripts].filter(s => s.text.includes('const docs_json')).length")
    assert n_docs == n_embedded == 1
    n_roots = page.locator("[data-root-id]").count()
    assert page.evaluate("() => Bokeh.documents[0].roots().length") == n_roots >= 8
    # Every root drew something: at least one canvas per root, inside Bokeh's shadow DOM.
    assert page.locator("canvas").count() >= n_roots


def test_site_report_renders_offline(built_site, tab, tmp_path):
    t = tab()
    page = t.open(built_site.public / "reports" / built_site.site_run / "index.html")
    _wait_for_bokeh(page)
    _check_rendered(page)
    page.wait_for_timeout(300)
    save_shot(page, tmp_path, "report-site-mode")
    page.locator("#paths").screenshot(path=str(tmp_path / "report-paths.png"))
    assert not t.outside, t.outside
    assert not t.errors, t.errors
    # BokehJS came from the vendored copy beside the reports.
    assert page.evaluate("() => [...document.scripts].some(s => s.src.includes('/_bokeh/bokeh-'))")


def test_a_title_with_markup_runs_no_script(built_site, tab):
    t = tab()
    page = t.open(built_site.public / "reports" / built_site.site_run / "index.html")
    _wait_for_bokeh(page)
    assert page.evaluate("() => window.__xss") is None
    assert "<script>window.__xss=1</script>" in page.locator("h1").inner_text()
    home = t.open(built_site.public / "index.html")
    assert home.evaluate("() => window.__xss") is None
    assert "<script>" in home.locator("table.sortable").inner_text()
    assert not t.outside and not t.errors, (t.outside, t.errors)


def test_hover_on_a_projection_shows_the_digit(built_site, tab, tmp_path):
    t = tab()
    page = t.open(built_site.public / "reports" / built_site.site_run / "index.html")
    _wait_for_bokeh(page)
    page.locator("#projections").scroll_into_view_if_needed()
    page.wait_for_timeout(200)
    point = page.evaluate(_POINT_JS, "proj-class-0")
    assert point is not None
    page.mouse.move(point["x"], point["y"])
    img = page.locator(".bk-Tooltip img").first
    img.wait_for(state="visible", timeout=5000)
    assert img.get_attribute("src").startswith("data:image/png;base64,")
    save_shot(page, tmp_path, "report-hover", full_page=False)
    assert not t.outside and not t.errors, (t.outside, t.errors)


def test_selection_is_linked_across_layers_and_colouring_switches(built_site, tab, tmp_path):
    t = tab()
    page = t.open(built_site.public / "reports" / built_site.site_run / "index.html")
    _wait_for_bokeh(page)
    page.locator("#projections").scroll_into_view_if_needed()
    box = page.evaluate(_POINT_JS, "proj-class-0")
    # Box-select (the active drag tool) over the left half of the first panel.
    page.mouse.move(box["left"] + 5, box["top"] + 5)
    page.mouse.down()
    page.mouse.move(box["left"] + box["width"] / 2, box["top"] + box["height"] - 5, steps=8)
    page.mouse.up()
    shared = page.evaluate("""() => {
      const doc = Bokeh.documents[0];
      const a = doc.get_model_by_name("proj-class-0"), b = doc.get_model_by_name("proj-class-1");
      return {same: a.data_source === b.data_source, n: a.data_source.selected.indices.length};
    }""")
    assert shared["same"] and shared["n"] > 0
    page.get_by_role("button", name="Colour by cluster").click()
    visible = page.evaluate("""() => {
      const doc = Bokeh.documents[0];
      return [doc.get_model_by_name("proj-class-2").visible,
              doc.get_model_by_name("proj-cluster-2").visible];
    }""")
    assert visible == [False, True]
    save_shot(page, tmp_path, "report-selection", full_page=False)
    assert not t.outside and not t.errors, (t.outside, t.errors)


def test_standalone_report_renders_alone(built_site, tab, tmp_path):
    # The standalone file in a folder with nothing beside it: no _bokeh, no site.
    assert not (built_site.lonely_report.parent.parent / "_bokeh").exists()
    t = tab()
    page = t.open(built_site.lonely_report)
    _wait_for_bokeh(page)
    _check_rendered(page)
    save_shot(page, tmp_path, "report-standalone")
    assert not t.outside, t.outside
    assert not t.errors, t.errors


def test_home_page_sorts_and_links(built_site, tab, tmp_path):
    t = tab(width=1280)
    page = t.open(built_site.public / "index.html")
    names = lambda: page.locator("table.sortable tbody tr td:first-child a").all_inner_texts()
    assert sorted(names()) == sorted([built_site.site_run, built_site.alone_run])
    page.locator("table.sortable th", has_text="name").click()
    assert names() == sorted(names())
    page.locator("table.sortable th", has_text="name").click()
    assert names() == sorted(names(), reverse=True)
    save_shot(page, tmp_path, "site-home")
    page.locator(f"a[href='reports/{built_site.alone_run}/index.html']").click()
    page.wait_for_load_state("load")
    assert page.url.endswith(f"reports/{built_site.alone_run}/index.html")
    _wait_for_bokeh(page)
    for rel in ("runs/index.html", f"runs/{built_site.site_run}.html", "guide.html"):
        p = t.open(built_site.public / rel)
        save_shot(p, tmp_path, "site-" + rel.replace("/", "-").removesuffix(".html"))
    assert not t.outside, t.outside
    assert not t.errors, t.errors


def test_a_report_without_its_bokehjs_says_so(built_site, tab, tmp_path):
    import shutil

    folder = tmp_path / "copied" / built_site.site_run
    shutil.copytree(built_site.public / "reports" / built_site.site_run, folder)
    t = tab()
    page = t.open(folder / "index.html")
    page.wait_for_timeout(300)
    assert page.locator(".warn.bokeh").is_visible()
    assert page.locator("#layers table").first.is_visible()


def test_a_real_pipeline_run_and_its_site_render_offline(tiny_run, tiny_standalone_run, tab,
                                                         tmp_path):
    """The reports `sigreport run` wrote (real training, signatures and analysis), in both
    modes, and the site built from them."""
    import shutil

    from sigreport.report import build_site

    shutil.copytree(tiny_run, tmp_path / "site" / "reports")
    shutil.copy(Path(__file__).resolve().parent.parent / "mkdocs.yml", tmp_path / "mkdocs.yml")
    index = build_site(tmp_path / "site" / "reports", tmp_path / "site", tmp_path / "public")
    t = tab()
    for path, shot in ((tmp_path / "public" / "reports" / "tiny" / "index.html", "real-site"),
                       (tiny_standalone_run / "tiny" / "index.html", "real-standalone")):
        page = t.open(path)
        _wait_for_bokeh(page)
        _check_rendered(page)
        assert "<b>1 vs 7</b>" in page.locator("h1").inner_text()
        save_shot(page, tmp_path, shot)
    home = t.open(index)
    assert home.locator("a[href='reports/tiny/index.html']").count() == 1
    save_shot(home, tmp_path, "real-site-home", full_page=False)
    assert not t.outside, t.outside
    assert not t.errors, t.errors


# Every attribute that runs script, and every link or source with a script scheme.
_SCRIPT_ATTRS_JS = r"""() => [...document.querySelectorAll('*')].flatMap(el => [...el.attributes]
  .filter(a => /^on/i.test(a.name) || (/(^|:)(href|src|action|formaction)$/i.test(a.name)
               && /^\s*(javascript|vbscript|data):/i.test(a.value)))
  .map(a => `${el.tagName} ${a.name}=${a.value}`))"""


def test_regression_hostile_report_folders_run_no_script(tmp_path_factory, tab, tmp_path):
    """Names, titles and class names with markup and Markdown links, on every site page."""
    site = get_hostile_site(tmp_path_factory)
    assert site.returncode == 0, site.stderr
    # 404.html is for web servers (site-absolute links); test_site checks its markup.
    pages = sorted(p for p in site.public.rglob("*.html")
                   if "reports" not in p.relative_to(site.public).parts and p.name != "404.html")
    assert len(pages) >= 6
    t = tab()
    dialogs: list[str] = []
    t.page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    for path in pages:
        page = t.open(path)
        assert page.evaluate(_SCRIPT_ATTRS_JS) == [], path
        assert page.evaluate("() => [...document.links].map(a => a.protocol).filter(p =>"
                             " !['file:', 'http:', 'https:', 'mailto:'].includes(p))") == [], path
        nav = page.locator(".wy-menu-vertical").inner_text()
        for name in HOSTILE_NAMES:
            assert name in nav, (path, nav)
        if path.stem == HOSTILE_NAMES[0]:
            assert page.locator("h1").first.inner_text() == HOSTILE_NAMES[0]
            save_shot(page, tmp_path, "site-hostile-run")
    assert dialogs == []
    assert not t.outside and not t.errors, (t.outside, t.errors)
