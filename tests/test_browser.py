"""Reports and site pages in a real browser (Debian's Chromium), opened from file://.

Every page is the output of the tiny pipeline run (tests/conftest.py), in site mode
and standalone. Every request that is not file:// is aborted and recorded: a page
passes only when nothing tried to leave the machine and the console shows no error.
Screenshots go to the test's tmp dir and to /tmp/shots/.
"""

from __future__ import annotations

import io
import re

import pytest
from browser_fixtures import (
    CHROMIUM,
    HOSTILE_NAMES,
    axe_findings,
    build_hostile_site,
    build_test_site,
    save_shot,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason=f"{CHROMIUM} is missing: `make test` installs Debian's chromium"),
]

_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
PHONE = 390
PRINT_WIDTH = 700  # CSS pixels between the margins of the A4 page the report's @page asks for

# Screen position of the first point of a named scatter renderer and of its plot frame,
# through Bokeh's own views.
_POINT_JS = """(name) => {
  const doc = Bokeh.documents.find(d => d.get_model_by_name(name));
  const target = doc.get_model_by_name(name);
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

# WCAG contrast of an element's text colour against the first opaque background behind it.
_CONTRAST_JS = """(selector) => {
  function rgb(s) { return s.match(/[\\d.]+/g).map(Number); }
  function lum(c) {
    const v = c.slice(0, 3).map(x => {
      x /= 255;
      return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2];
  }
  const out = [];
  document.querySelectorAll(selector).forEach(el => {
    if (!el.getClientRects().length || !el.textContent.trim()) { return; }
    let bg = null;
    for (let n = el; n && !bg; n = n.parentElement) {
      const c = rgb(getComputedStyle(n).backgroundColor);
      if (c.length < 4 || c[3] === 1) { if (c.length < 4 || c[3] > 0) { bg = c; } }
    }
    const fg = rgb(getComputedStyle(el).color);
    const [a, b] = [lum(fg), lum(bg || [255, 255, 255])].sort((x, y) => y - x);
    out.push([selector, el.textContent.trim().slice(0, 30), (a + 0.05) / (b + 0.05)]);
  });
  return out;
}"""


@pytest.fixture(scope="session")
def built_site(tmp_path_factory, tiny_run, tiny_standalone_run):
    return build_test_site(tmp_path_factory.mktemp("browser-site"), tiny_run, tiny_standalone_run)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=_ARGS)
        yield b
        b.close()


class _Page:
    """A page in its own context (a phone's touch screen where asked), outside requests
    aborted and console errors recorded."""

    def __init__(self, browser, width: int = 1400, height: int = 900, touch: bool = False):
        self.context = browser.new_context(viewport={"width": width, "height": height},
                                           has_touch=touch, is_mobile=touch)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.outside: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.route("**/*", self._route)

    def _route(self, route):
        url = route.request.url
        if url.startswith(("file://", "data:")):
            route.continue_()
        else:
            self.outside.append(url)
            route.abort()

    def open(self, path):
        self.page.goto(path.as_uri())
        self.page.wait_for_load_state("load")
        return self.page

    def clean(self) -> None:
        assert not self.outside, self.outside
        assert not self.errors, self.errors


@pytest.fixture
def tab(browser):
    pages = []

    def make(width: int = 1400, height: int = 900, touch: bool = False) -> _Page:
        pages.append(_Page(browser, width, height, touch))
        return pages[-1]

    yield make
    for p in pages:
        p.context.close()


def _n_roots(page) -> int:
    return page.locator("[data-root-id]").count()


def _draw_all(page) -> None:
    """Draw every section's figures (as printing does) and wait until each root has a view."""
    page.wait_for_function("() => window.Bokeh && window.sigreport")
    page.evaluate("() => sigreport.renderAll()")
    page.wait_for_function(f"() => Bokeh.index.roots.length >= {_n_roots(page)}",
                           timeout=30000)


def test_figures_are_drawn_as_the_reader_reaches_them(built_site, tab, tmp_path):
    t = tab()
    page = t.open(built_site.public / "reports" / built_site.site_run / "index.html")
    n_roots = _n_roots(page)
    assert n_roots >= 8
    # The first screen's figures are drawn without scrolling; the last section's are not.
    page.wait_for_function("() => window.Bokeh && Bokeh.index.roots.length > 0", timeout=20000)
    page.wait_for_timeout(300)
    assert page.evaluate("() => Bokeh.index.roots.length") < n_roots
    assert page.locator("#training .panel.drawn").count() == 0
    page.locator("#training").scroll_into_view_if_needed()
    page.locator("#training .panel.drawn").first.wait_for(timeout=20000)
    _draw_all(page)
    assert page.locator(".panel.drawn").count() == n_roots
    # Each section is its own document; every root drew at least one canvas.
    assert page.evaluate("() => Bokeh.documents.length") == \
        page.locator("script.bk-figures").count() >= 4
    assert page.locator("canvas").count() >= n_roots
    save_shot(page, tmp_path, "report-site-mode")
    # BokehJS came from the vendored copy beside the reports.
    assert page.evaluate("() => [...document.scripts].some(s => s.src.includes('/_bokeh/bokeh-'))")
    t.clean()


def test_a_title_with_markup_runs_no_script(built_site, tab):
    t = tab()
    page = t.open(built_site.public / "reports" / built_site.site_run / "index.html")
    assert "<b>1 vs 7</b>" in page.locator("h1").inner_text()
    assert page.locator("h1 b").count() == 0
    home = t.open(built_site.public / "index.html")
    assert home.evaluate("() => window.__xss") is None
    assert "<script>" in home.locator("table.sortable").inner_text()
    t.clean()


def test_hover_on_a_projection_shows_the_digit(built_site, tab, tmp_path):
    t = tab()
    page = t.open(built_site.public / "reports" / built_site.site_run / "index.html")
    page.locator("#projections").scroll_into_view_if_needed()
    page.wait_for_function("() => window.Bokeh && Bokeh.documents.some("
                           "d => d.get_model_by_name('proj-class-0'))", timeout=20000)
    page.wait_for_timeout(300)
    point = page.evaluate(_POINT_JS, "proj-class-0")
    assert point is not None
    page.mouse.move(point["x"], point["y"])
    img = page.locator(".bk-Tooltip img").first
    img.wait_for(state="visible", timeout=5000)
    assert img.get_attribute("src").startswith("data:image/png;base64,")
    save_shot(page, tmp_path, "report-hover", full_page=False)
    t.clean()


def test_pan_is_the_default_drag_and_selection_is_linked_across_layers(built_site, tab,
                                                                       tmp_path):
    t = tab()
    page = t.open(built_site.public / "reports" / built_site.site_run / "index.html")
    page.locator("#projections").scroll_into_view_if_needed()
    page.wait_for_function("() => window.Bokeh && Bokeh.documents.some("
                           "d => d.get_model_by_name('proj-class-0'))", timeout=20000)
    page.wait_for_timeout(300)
    # A swipe pans; box select is one toolbar tap away (picked here through the model).
    active = page.evaluate("""() => {
      const doc = Bokeh.documents.find(d => d.get_model_by_name('proj-class-0'));
      const plots = doc.roots();
      const drags = plots.map(p => p.toolbar.active_drag && p.toolbar.active_drag.type);
      plots.forEach(p => {
        p.toolbar.active_drag = p.toolbar.tools.find(x => x.type === 'BoxSelectTool');
      });
      return drags;
    }""")
    assert set(active) == {"PanTool"}
    box = page.evaluate(_POINT_JS, "proj-class-0")
    page.mouse.move(box["left"] + 5, box["top"] + 5)
    page.mouse.down()
    page.mouse.move(box["left"] + box["width"] / 2, box["top"] + box["height"] - 5, steps=8)
    page.mouse.up()
    shared = page.evaluate("""() => {
      const doc = Bokeh.documents.find(d => d.get_model_by_name('proj-class-0'));
      const a = doc.get_model_by_name("proj-class-0"), b = doc.get_model_by_name("proj-class-1");
      return {same: a.data_source === b.data_source, n: a.data_source.selected.indices.length};
    }""")
    assert shared["same"] and shared["n"] > 0
    page.get_by_role("button", name="Colour by cluster").click()
    visible = page.evaluate("""() => {
      const doc = Bokeh.documents.find(d => d.get_model_by_name('proj-class-0'));
      return [doc.get_model_by_name("proj-class-2").visible,
              doc.get_model_by_name("proj-cluster-2").visible];
    }""")
    assert visible == [False, True]
    assert page.locator("[data-legend-for='cluster']").is_visible()
    save_shot(page, tmp_path, "report-selection", full_page=False)
    t.clean()


def test_standalone_report_renders_alone(built_site, tab, tmp_path):
    # The standalone file in a folder with nothing beside it: no _bokeh, no site.
    assert not (built_site.lonely_report.parent.parent / "_bokeh").exists()
    t = tab()
    page = t.open(built_site.lonely_report)
    _draw_all(page)
    assert page.locator(".panel.drawn").count() == _n_roots(page)
    assert page.locator("nav.toc .home").count() == 0  # no site to go back to
    link = page.locator("a[download='metrics.json']")
    assert link.get_attribute("href").startswith("data:application/json")
    save_shot(page, tmp_path, "report-standalone")
    t.clean()


def test_home_page_sorts_and_links_both_ways(built_site, tab, tmp_path):
    t = tab(width=1280)
    page = t.open(built_site.public / "index.html")

    def names() -> list[str]:
        return page.locator("table.sortable tbody tr td:first-child a").all_inner_texts()

    assert sorted(names()) == sorted([built_site.site_run, built_site.alone_run])
    page.locator("table.sortable th", has_text="name").click()
    assert names() == sorted(names())
    page.locator("table.sortable th", has_text="name").click()
    assert names() == sorted(names(), reverse=True)
    save_shot(page, tmp_path, "site-home")
    page.locator(f"a[href='reports/{built_site.site_run}/index.html']").click()
    page.wait_for_load_state("load")
    assert page.url.endswith(f"reports/{built_site.site_run}/index.html")
    # ... and back home from the report's contents.
    page.locator("nav.toc .home a").click()
    page.wait_for_load_state("load")
    assert page.url.endswith("public/index.html")
    for rel in ("runs/index.html", f"runs/{built_site.site_run}.html", "guide.html"):
        p = t.open(built_site.public / rel)
        save_shot(p, tmp_path, "site-" + rel.replace("/", "-").removesuffix(".html"))
    t.clean()


def test_the_contents_mark_the_section_being_read(built_site, tab):
    t = tab()
    page = t.open(built_site.public / "reports" / built_site.site_run / "index.html")
    page.wait_for_function("() => document.querySelector('nav.toc a[aria-current]')")
    assert page.locator("nav.toc a[aria-current]").get_attribute("href") == "#summary"
    page.evaluate("() => document.getElementById('exemplars').scrollIntoView({block: 'start'})")
    page.wait_for_function(
        "() => document.querySelector('nav.toc a[aria-current]').hash === '#exemplars'")
    assert page.locator("nav.toc a[aria-current]").count() == 1
    t.clean()


def test_a_report_without_its_bokehjs_says_so(built_site, tab, tmp_path):
    import shutil

    folder = tmp_path / "copied" / built_site.site_run
    shutil.copytree(built_site.public / "reports" / built_site.site_run, folder)
    t = tab()
    page = t.open(folder / "index.html")
    page.wait_for_timeout(300)
    assert page.locator(".warn.bokeh").is_visible()
    assert page.locator("#layers table").first.is_visible()


def test_at_phone_width_nothing_scrolls_sideways(built_site, tab, tmp_path):
    t = tab(width=PHONE, height=844)
    page = t.open(built_site.public / "reports" / built_site.site_run / "index.html")
    _draw_all(page)
    page.wait_for_timeout(500)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE
    # Every figure's drawing stays inside its panel, and every panel inside its figure.
    overflow = page.evaluate("""() => [...document.querySelectorAll('.panel')].map(p => {
      const fig = p.closest('figure').getBoundingClientRect();
      const box = p.getBoundingClientRect();
      let right = box.right;
      p.querySelectorAll('*').forEach(el => {
        right = Math.max(right, el.getBoundingClientRect().right);
      });
      return {id: p.closest('section, [id]').id,
              over: Math.max(right - box.right, box.right - fig.right)};
    }).filter(x => x.over > 1)""")
    assert not overflow, overflow
    save_shot(page, tmp_path, "report-phone")
    t.clean()


def test_print_keeps_every_table_and_fits_figures_to_the_page(built_site, tab, tmp_path):
    from pypdf import PdfReader

    t = tab()
    page = t.open(built_site.public / "reports" / built_site.site_run / "index.html")
    _draw_all(page)
    # A cell of every table, collapsed or not: the first body row's first cell.
    cells = page.evaluate("""() => [...document.querySelectorAll('table')].map(t => {
      const c = t.querySelector('tbody tr td, tbody tr th');
      return c ? c.textContent.trim() : null; }).filter(Boolean)""")
    closed = page.locator("details:not([open])").count()
    assert closed > 0 and len(cells) >= 8
    pdf = page.pdf(format="A4", print_background=True)
    (tmp_path / "report.pdf").write_bytes(pdf)
    reader = PdfReader(io.BytesIO(pdf))
    text = re.sub(r"\s+", " ", " ".join(p.extract_text() for p in reader.pages))
    squeezed = text.replace(" ", "")
    missing = [c for c in cells if re.sub(r"\s+", "", c) not in squeezed]
    assert not missing, missing
    assert page.locator("details:not([open])").count() == closed  # restored after printing
    # Laid out at the page's width in print media, no figure is wider than the page.
    t2 = tab(width=PRINT_WIDTH)
    page = t2.open(built_site.public / "reports" / built_site.site_run / "index.html")
    _draw_all(page)
    page.emulate_media(media="print")
    page.evaluate("() => sigreport.beforePrint()")
    page.wait_for_timeout(300)
    widths = page.evaluate("""() => [...document.querySelectorAll('.panel')].map(
      p => p.getBoundingClientRect().right)""")
    assert widths and max(widths) <= PRINT_WIDTH + 1, widths
    t.clean()
    t2.clean()


# Run before the page's own scripts, so it sees the printed pictures before the page's
# afterprint removes them: each picture's pixel size and the heading that introduces its
# figure (an h2 or h3 before it with only paragraphs and buttons between; else none).
_RECORD_PICTURES_JS = """window.addEventListener("afterprint", () => {
  window.__printed = [...document.querySelectorAll("img.print-figure")].map(img => {
    const fig = img.closest("figure");
    let el = fig.previousElementSibling;
    while (el && el.matches("p, .toggle")) { el = el.previousElementSibling; }
    const heading = el && el.matches("h2, h3") ? el.textContent : null;
    const first = fig.querySelector("img.print-figure") === img;
    return {size: [img.naturalWidth, img.naturalHeight], heading: first ? heading : null};
  });
});"""


def _printed_figures(page) -> tuple[list[dict], list[int]]:
    """Print the page to A4 now; return the pictures it printed (size, heading) and, for
    each, the index of the PDF page holding it (pictures come in document order)."""
    from collections import Counter

    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(page.pdf(format="A4", print_background=True)))
    printed = page.evaluate("() => window.__printed")
    wanted = Counter(tuple(p["size"]) for p in printed)
    where = []
    for i, pdf_page in enumerate(reader.pages):
        for im in pdf_page.images:
            if wanted[im.image.size] > 0:
                wanted[im.image.size] -= 1
                where.append(i)
    texts = [re.sub(r"\s+", "", p.extract_text()) for p in reader.pages]
    return [dict(p, pages=texts) for p in printed], where


def test_printed_at_once_the_pdf_holds_every_figure_as_after_scrolling_through(built_site, tab):
    """Ctrl-P right after opening: the figures not drawn yet are drawn before the page prints,
    and every heading is printed on the page of the figure it introduces."""
    t = tab()
    t.page.add_init_script(_RECORD_PICTURES_JS)
    page = t.open(built_site.public / "reports" / built_site.site_run / "index.html")
    n_roots = _n_roots(page)
    assert page.locator(".panel.drawn").count() < n_roots  # most are not drawn yet
    at_once, where_at_once = _printed_figures(page)
    assert len(at_once) == len(where_at_once) == n_roots
    assert page.locator("img.print-figure").count() == 0  # taken away after printing
    # Scrolled through, every figure drawn on screen, then printed.
    height = page.evaluate("() => document.documentElement.scrollHeight")
    for y in range(0, height, 600):
        page.evaluate(f"() => window.scrollTo(0, {y})")
        page.wait_for_timeout(100)
    page.wait_for_function(f"() => document.querySelectorAll('.panel.drawn').length >= {n_roots}",
                           timeout=30000)
    scrolled, where_scrolled = _printed_figures(page)
    assert len(scrolled) == len(where_scrolled) == n_roots
    # Headings stay with their figure.
    headed = [(p["heading"], p["pages"][i]) for p, i in zip(at_once, where_at_once)
              if p["heading"]]
    apart = [h for h, text in headed if re.sub(r"\s+", "", h) not in text]
    assert len(headed) >= 6 and not apart, apart
    t.clean()


def test_a_long_printed_table_repeats_its_header(built_site, tab):
    from pypdf import PdfReader

    t = tab()
    page = t.open(built_site.public / "reports" / built_site.site_run / "index.html")
    # The table with the most rows, made long enough to span pages, its header and every
    # row marked.
    page.evaluate("""() => {
      const t = [...document.querySelectorAll('main table')].sort(
        (a, b) => b.rows.length - a.rows.length)[0];
      const body = t.tBodies[0];
      const rows = [...body.rows];
      for (let i = 0; i < 6; i++) { rows.forEach(r => body.appendChild(r.cloneNode(true))); }
      t.tHead.rows[0].cells[0].textContent += ' HEADMARK';
      [...body.rows].forEach(r => { r.cells[0].textContent += ' ROWMARK'; });
    }""")
    reader = PdfReader(io.BytesIO(page.pdf(format="A4")))
    texts = [p.extract_text() for p in reader.pages]
    with_rows = [i for i, text in enumerate(texts) if "ROWMARK" in text]
    with_header = [i for i, text in enumerate(texts) if "HEADMARK" in text]
    assert len(with_rows) >= 2 and with_rows == with_header, (with_rows, with_header)
    t.clean()


def test_axe_core_finds_nothing_serious_on_the_report_home_and_run_pages(built_site, tab):
    t = tab()
    page = t.open(built_site.public / "reports" / built_site.site_run / "index.html")
    _draw_all(page)
    found = {"report": axe_findings(page)}
    for name, rel in (("home", "index.html"), ("run", f"runs/{built_site.site_run}.html")):
        found[name] = axe_findings(t.open(built_site.public / rel))
    assert found == {"report": [], "home": [], "run": []}, found
    t.clean()


def test_text_colours_reach_wcag_aa_and_canvases_leave_the_tab_order(built_site, tab):
    t = tab()
    page = t.open(built_site.public / "reports" / built_site.site_run / "index.html")
    _draw_all(page)
    page.evaluate("() => document.getElementById('paths').scrollIntoView()")  # a current link
    page.wait_for_function("() => document.querySelector('nav.toc a[aria-current]')")
    ratios = []
    for selector in ("body", "h1", ".kicker", ".oneline", ".lead", ".note", "figcaption",
                     "nav.toc a", "th", "td", "details > summary", "footer", ".answer p",
                     "dl.kv dt", "dl.glossary dd",
                     # Path tags: white on the class colour, darkened by figures.tag_color.
                     "#paths .tag", "#exemplars .tag", "#unseen .tag"):
        ratios += page.evaluate(_CONTRAST_JS, selector)
    low = [r for r in ratios if r[2] < 4.5]
    assert len(ratios) > 50 and not low, low
    # Inside the figures, nothing takes the focus (sortable headings and table boxes that
    # scroll sideways do, outside them).
    focusable = page.evaluate("""() => {
      let n = 0;
      function walk(node) {
        node.querySelectorAll('*').forEach(el => {
          if (el.matches('canvas, [tabindex]') && el.tabIndex >= 0) { n++; }
          if (el.shadowRoot) { walk(el.shadowRoot); }
        });
      }
      document.querySelectorAll('main .panel').forEach(walk);
      return n;
    }""")
    assert focusable == 0
    assert page.locator("main .panel canvas").count() > 0 or page.evaluate(
        "() => [...document.querySelectorAll('main .panel *')].some(e => e.shadowRoot)")
    t.clean()


# Every attribute that runs script, and every link or source with a script scheme.
_SCRIPT_ATTRS_JS = r"""() => [...document.querySelectorAll('*')].flatMap(el => [...el.attributes]
  .filter(a => /^on/i.test(a.name) || (/(^|:)(href|src|action|formaction)$/i.test(a.name)
               && /^\s*(javascript|vbscript|data):/i.test(a.value)))
  .map(a => `${el.tagName} ${a.name}=${a.value}`))"""


def test_regression_hostile_report_folders_run_no_script(tmp_path_factory, tiny_run, tab,
                                                         tmp_path):
    """Names, titles and class names with markup and Markdown links, on every site page."""
    site = build_hostile_site(tmp_path_factory.mktemp("hostile-site"), tiny_run)
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


def test_a_notebook_draws_the_report_inside_its_iframe(tiny_run, tab, tmp_path,
                                                         tmp_path_factory):
    """What Jupyter shows for ``sigreport.report(...)``: the page in a sandboxed iframe, its
    figures drawn by its own BokehJS."""
    from sigreport.library import Report

    rep = Report.from_folder(tiny_run / "tiny")
    notebook = tmp_path / "notebook.html"
    notebook.write_text("<!DOCTYPE html><html><head><meta charset='utf-8'></head><body>"
                        "<h1>A notebook</h1>" + rep._repr_html_() + "</body></html>", "utf-8")
    t = tab()
    page = t.open(notebook)
    frame = page.frames[1]
    frame.wait_for_function("() => window.Bokeh && window.sigreport", timeout=30000)
    frame.evaluate("() => sigreport.renderAll()")
    n_roots = frame.locator("[data-root-id]").count()
    assert n_roots > 5
    frame.wait_for_function(f"() => Bokeh.index.roots.length >= {n_roots}", timeout=60000)
    assert frame.locator(".bk-Canvas, canvas").count() > 0
    # The notebook's own page has no Bokeh: the report's stayed inside its frame.
    assert page.evaluate("() => typeof window.Bokeh") == "undefined"
    save_shot(page, tmp_path, "notebook-iframe", full_page=False)
    t.clean()
