"""The report and the atlas on a phone and a touch screen, in Debian's Chromium from file://.

Pages are the tiny pipeline run's real output (tests/conftest.py); the 45-pair atlas is a
real sweep of every digit pair at a test's size. Screenshots go to the test's tmp dir and
to /tmp/shots/.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import unquote

import pytest
from browser_fixtures import CHROMIUM, build_test_site, save_shot
from conftest import run_cli
from sweep_fixtures import write_sweep
from test_browser import _POINT_JS, browser, tab  # noqa: F401 -- fixtures

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason=f"{CHROMIUM} is missing: `make test` installs Debian's chromium"),
]

PHONES = (360, 390)
ATLAS = "mnist-pairs"

# Every element whose visible part (its box clipped by each ancestor that clips, through
# shadow roots) reaches past the viewport, except inside the boxes tables scroll in.
_OVERFLOW_JS = """(vw) => {
  const out = [];
  function parent(n) {
    return n.parentNode && n.parentNode.host ? n.parentNode.host : n.parentElement;
  }
  function visible(el) {
    let r = el.getBoundingClientRect();
    let left = r.left, right = r.right;
    for (let n = parent(el); n; n = parent(n)) {
      const s = getComputedStyle(n);
      if (s.overflowX !== 'visible') {
        const c = n.getBoundingClientRect();
        left = Math.max(left, c.left); right = Math.min(right, c.right);
      }
    }
    return [left, right, r.width, r.height];
  }
  function name(el) {
    return el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
      (typeof el.className === 'string' && el.className
        ? '.' + el.className.split(' ').join('.') : '');
  }
  function visit(root, host) {
    for (const el of root.querySelectorAll('*')) {
      if (el.closest('.table-wrap')) { continue; }
      const [left, right, w, h] = visible(el);
      if (w > 0 && h > 0 && right > left && (right > vw + 0.5 || left < -0.5)) {
        const sec = (host || el).closest('section');
        out.push([name(el), host ? name(host) : '', sec ? sec.id : '', Math.round(left),
                  Math.round(right)]);
      }
      if (el.shadowRoot) { visit(el.shadowRoot, host || el); }
    }
  }
  visit(document, null);
  return out;
}"""

# Each figure's canvas against the card (section) it sits in.
_CANVAS_JS = """() => {
  const out = [];
  function visit(root, host) {
    for (const el of root.querySelectorAll('*')) {
      if (el.tagName === 'CANVAS' && host) {
        const card = host.closest('section, .answer').getBoundingClientRect();
        const r = el.getBoundingClientRect();
        if (r.width > 0 && (r.right > card.right + 0.5 || r.left < card.left - 0.5)) {
          out.push([host.closest('section, .answer').id || 'answer', Math.round(r.left),
                    Math.round(r.right),
                    Math.round(card.left), Math.round(card.right)]);
        }
      }
      if (el.shadowRoot) { visit(el.shadowRoot, host || el); }
    }
  }
  visit(document, null);
  return out;
}"""


# Each axis label (drawn on the canvas, centred on its axis) that does not fit inside its
# figure's canvas, measured in the label's own font through BokehJS's views.
_AXIS_LABELS_JS = """() => {
  const ctx = document.createElement('canvas').getContext('2d');
  const out = [];
  function* walk(v) { yield v; if (v.children) { for (const c of v.children()) yield* walk(c); } }
  for (const root of Bokeh.index.roots) {
    for (const v of walk(root)) {
      if (!v.frame || !v.axis_views || !v.canvas_view) { continue; }
      const canvas = v.canvas_view.bbox, f = v.frame.bbox;
      for (const av of v.axis_views) {
        const m = av.model;
        if (!m.axis_label || !m.visible) { continue; }
        ctx.font = [m.axis_label_text_font_style, m.axis_label_text_font_size,
                    m.axis_label_text_font].join(' ');
        const half = ctx.measureText(String(m.axis_label)).width / 2;
        const [centre, size] = av.dimension === 0 ? [f.hcenter, canvas.width]
                                                  : [f.vcenter, canvas.height];
        if (centre - half < 0 || centre + half > size) {
          out.push([v.model.name || v.model.title?.text || '', String(m.axis_label),
                    Math.round(2 * half), Math.round(size)]);
        }
      }
    }
  }
  return out;
}"""


@pytest.fixture(scope="module")
def site(tmp_path_factory, tiny_run, tiny_standalone_run):
    return build_test_site(tmp_path_factory.mktemp("touch-site"), tiny_run, tiny_standalone_run)


@pytest.fixture(scope="module")
def report(site) -> Path:
    return site.public / "reports" / site.site_run / "index.html"


# Every pair of digits, probed with the other eight, as the shipped mnist-pairs sweep runs it
# (sigreport/presets/sweeps/mnist-pairs.toml), at the size of a test.
PAIRS_SWEEP = f"""
name = "{ATLAS}"
title = "Every pair of digits"
base = "mnist-1-7"
pairs = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
probes = "rest"
seeds = [0]

[set]
data.n_per_class = 60
data.n_test_per_class = 20
model.hidden = [8]
train.epochs = 2
train.batch_size = 32
"""


@pytest.fixture(scope="module")
def atlas(tmp_path_factory) -> Path:
    """The atlas page of a real 45-run sweep of every digit pair (``sigreport sweep`` on its
    embedded cluster), each run its own network, numbers and unseen digits."""
    from sigreport.report.atlas import write_atlas_pages
    from sigreport.report.sweep_index import index_path, read_sweep_index

    root = tmp_path_factory.mktemp("pairs-atlas")
    reports = root / "reports"
    sweep = write_sweep(root, PAIRS_SWEEP)
    proc = run_cli("sweep", str(sweep), "--out", str(reports), timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    index = read_sweep_index(index_path(reports, ATLAS))
    assert len(index["runs"]) == 45 and not index["failed"]
    metrics = {r["name"]: json.loads((reports / r["name"] / "metrics.json").read_text("utf-8"))
               for r in index["runs"]}
    assert len({tuple(m["experiment"]["classes"]) for m in metrics.values()}) == 45
    written = write_atlas_pages(reports, metrics, root)
    assert [w["n_runs"] for w in written] == [45]
    return root / "atlas" / f"{ATLAS}.html"


def _draw_all(page) -> None:
    page.wait_for_function("() => window.Bokeh && window.sigreport")
    page.evaluate("() => sigreport.renderAll()")
    n = page.locator("[data-root-id]").count()
    page.wait_for_function(f"() => Bokeh.index.roots.length >= {n}", timeout=30000)
    page.wait_for_timeout(500)


def _projections(page) -> None:
    """Bring the first projection panel on screen, drawn."""
    page.locator("#projections").scroll_into_view_if_needed()
    page.wait_for_function("() => window.Bokeh && Bokeh.documents.some("
                           "d => d.get_model_by_name('proj-class-0'))", timeout=20000)
    page.wait_for_timeout(300)
    box = page.evaluate(_POINT_JS, "proj-class-0")
    page.evaluate("(y) => window.scrollBy(0, y)", box["top"] - 120)
    page.wait_for_timeout(300)


_TOUCH_ACTION_JS = """() => {
  const out = [];
  function visit(root) {
    for (const el of root.querySelectorAll('*')) {
      if (el.classList && el.classList.contains('bk-events')) {
        out.push(getComputedStyle(el).touchAction);
      }
      if (el.shadowRoot) { visit(el.shadowRoot); }
    }
  }
  visit(document.getElementById('projections'));
  return out;
}"""


def test_a_tap_shows_the_tooltip_and_a_drag_scrolls_the_page(report, tab, tmp_path):
    t = tab(390, 844, touch=True)
    page = t.open(report)
    _projections(page)
    # On a touch screen a drag starts as the page's own scrolling: no drag tool is active.
    assert page.locator("[data-drag][aria-pressed='true']").get_attribute("data-drag") == "none"
    assert set(page.evaluate(_TOUCH_ACTION_JS)) == {"auto"}
    drags = page.evaluate("""() => Bokeh.documents.find(d => d.get_model_by_name('proj-class-0'))
        .roots().map(p => p.toolbar.tools.filter(x => x.active && x.type.endsWith('SelectTool')
                                                  || x.active && x.type === 'PanTool').length)""")
    assert set(drags) == {0}
    point = page.evaluate(_POINT_JS, "proj-class-0")
    assert page.locator(".bk-Tooltip img").count() == 0
    page.touchscreen.tap(point["x"], point["y"])
    img = page.locator(".bk-Tooltip img").first
    img.wait_for(state="visible", timeout=5000)
    assert img.get_attribute("src").startswith("data:image/png;base64,")
    page.screenshot(path="/tmp/touch-tap.png")
    save_shot(page, tmp_path, "touch-tap", full_page=False)
    # Panning is an explicit choice; the panel then keeps a one-finger drag to itself.
    page.get_by_role("button", name="Pan", exact=True).tap()
    assert page.locator("[data-drag][aria-pressed='true']").get_attribute("data-drag") == "pan"
    assert set(page.evaluate(_TOUCH_ACTION_JS)) == {"pinch-zoom"}
    assert page.get_by_role("button", name="Reset view").is_visible()
    t.clean()


def test_reset_view_undoes_a_pan(report, tab):
    t = tab()
    page = t.open(report)
    _projections(page)
    assert page.locator("[data-drag][aria-pressed='true']").get_attribute("data-drag") == "pan"
    ranges = """() => {
      const p = Bokeh.documents.find(d => d.get_model_by_name('proj-class-0')).roots()[0];
      return [p.x_range.start, p.x_range.end, p.y_range.start, p.y_range.end];
    }"""
    before = page.evaluate(ranges)
    box = page.evaluate(_POINT_JS, "proj-class-0")
    page.mouse.move(box["left"] + box["width"] / 2, box["top"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["left"] + box["width"] - 10, box["top"] + 10, steps=6)
    page.mouse.up()
    assert page.evaluate(ranges) != before
    page.get_by_role("button", name="Reset view").click()
    assert page.evaluate(ranges) == pytest.approx(before)
    t.clean()


def test_a_box_selection_is_counted_shown_and_cleared(report, tab, tmp_path):
    t = tab()
    page = t.open(report)
    _projections(page)
    count = page.locator("#proj-count")
    assert count.inner_text() == "No point selected."
    assert page.get_by_role("button", name="Clear selection").is_disabled()
    page.get_by_role("button", name="Box select").click()
    assert page.locator("[data-drag][aria-pressed='true']").get_attribute("data-drag") == "box"
    box = page.evaluate(_POINT_JS, "proj-class-0")
    page.mouse.move(box["left"] + 5, box["top"] + 5)
    page.mouse.down()
    page.mouse.move(box["left"] + box["width"] / 2, box["top"] + box["height"] - 5, steps=8)
    page.mouse.up()
    picked = page.evaluate("""() => {
      const src = Bokeh.documents.find(d => d.get_model_by_name('proj-class-0'))
        .get_model_by_name('proj-class-0').data_source;
      const idx = [...src.selected.indices].sort((a, b) => a - b);
      return {idx, n: src.data.label.length,
              labels: idx.slice(0, 40).map(i => src.data.label[i]),
              thumbs: idx.slice(0, 40).map(i => src.data.thumb[i])};
    }""")
    k = len(picked["idx"])
    assert 0 < k < picked["n"]
    assert count.inner_text().startswith(f"{k} of {picked['n']} points selected")
    gallery = page.locator("#proj-gallery img")
    assert gallery.count() == min(k, 40)
    assert gallery.evaluate_all("els => els.map(e => e.getAttribute('src'))") == picked["thumbs"]
    assert gallery.evaluate_all("els => els.map(e => e.alt)") == picked["labels"]
    page.locator(".selection").scroll_into_view_if_needed()
    save_shot(page, tmp_path, "touch-selection", full_page=False)
    page.get_by_role("button", name="Clear selection").click()
    assert count.inner_text() == "No point selected."
    assert gallery.count() == 0
    assert page.evaluate("""() => Bokeh.documents.find(d => d.get_model_by_name('proj-class-0'))
        .get_model_by_name('proj-class-1').data_source.selected.indices.length""") == 0
    t.clean()


@pytest.mark.parametrize("width", PHONES)
def test_nothing_on_the_report_is_wider_than_a_phone(report, tab, tmp_path, width):
    t = tab(width, 800, touch=True)
    page = t.open(report)
    _draw_all(page)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width
    assert page.evaluate(_OVERFLOW_JS, width) == []
    assert page.evaluate(_CANVAS_JS) == []
    assert page.evaluate(_AXIS_LABELS_JS) == []
    # A table wider than its box says so; one that fits does not.
    hints = page.evaluate("""() => [...document.querySelectorAll('.table-wrap')].map(b => {
      const hint = b.previousElementSibling.querySelector('.scroll-hint');
      return [b.closest('details:not([open])') ? null : b.scrollWidth > b.clientWidth + 1,
              getComputedStyle(hint).display !== 'none'];
    }).filter(([w]) => w !== null)""")
    assert hints and all(scrolls == shown for scrolls, shown in hints), hints
    if width == 390:
        page.screenshot(path="/tmp/touch-report-390.png", full_page=True)
        save_shot(page, tmp_path, "touch-report-390")
    t.clean()


@pytest.mark.parametrize("width", PHONES)
def test_a_45_run_atlas_fits_a_phone(atlas, tab, tmp_path, width):
    t = tab(width, 800, touch=True)
    page = t.open(atlas)
    page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0"
                           " && Bokeh.index.roots.length >= 4", timeout=30000)
    page.wait_for_timeout(800)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width
    assert page.evaluate(_OVERFLOW_JS, width) == []
    assert page.evaluate(_CANVAS_JS) == []
    assert page.evaluate(_AXIS_LABELS_JS) == []
    if width == 390:
        page.screenshot(path="/tmp/touch-atlas-390.png", full_page=True)
        save_shot(page, tmp_path, "touch-atlas-390")
    t.clean()


def _csv(href: str) -> list[list[str]]:
    import csv
    import io

    assert href.startswith("data:text/csv;charset=utf-8,")
    return list(csv.reader(io.StringIO(unquote(href.split(",", 1)[1]))))


def test_report_tables_sort_and_download_as_csv(report, tab):
    t = tab()
    page = t.open(report)
    tables = page.locator("main table")
    n = tables.count()
    assert n >= 10
    assert page.locator("main .table-tools a.csv").count() == n
    # The layer table: sort by the linear probe accuracy, both ways, numbers as numbers.
    table = page.locator("#layers table").first
    page.locator("#layers details").first.evaluate("d => d.open = true")
    heads = table.locator("thead th")
    col = next(i for i in range(heads.count()) if "probe" in heads.nth(i).inner_text())
    cells = lambda: table.locator(f"tbody tr td:nth-child({col + 1})").all_inner_texts()  # noqa: E731
    value = lambda s: float(s.split()[0].rstrip("%").replace(",", ""))  # noqa: E731
    heads.nth(col).click()
    assert heads.nth(col).get_attribute("aria-sort") == "ascending"
    assert [value(c) for c in cells()] == sorted(value(c) for c in cells())
    heads.nth(col).click()
    assert [value(c) for c in cells()] == sorted((value(c) for c in cells()), reverse=True)
    # Its CSV holds what the table shows, in the order shown.
    link = table.locator(
        "xpath=ancestor::div[contains(@class,'table-wrap')]/preceding-sibling::p[1]/a")
    link.click()
    rows = _csv(link.get_attribute("href"))
    shown = table.evaluate("t => [...t.rows].map(r => [...r.cells].map("
                           "c => c.textContent.replace(/\\s+/g, ' ').trim()))")
    assert rows == shown
    assert link.get_attribute("download") == "layers-1.csv"
    # A table with a totals row keeps its rows where they are.
    totals = page.locator("#unseen table").first
    assert totals.evaluate("t => t.classList.contains('sortable')") is False
    t.clean()


def test_headings_link_to_themselves_and_answer_terms_to_the_glossary(report, tab):
    t = tab()
    page = t.open(report)
    ids = page.locator("main section[id]").evaluate_all("els => els.map(e => e.id)")
    links = page.locator("main section[id] > h2 a.self-link").evaluate_all(
        "els => els.map(e => e.getAttribute('href'))")
    assert links == [f"#{i}" for i in ids]
    terms = page.locator(".answer .glance .terms a").evaluate_all(
        "els => els.map(e => e.getAttribute('href'))")
    assert len(terms) >= 9
    for href in terms:
        assert page.locator(f"dl.glossary dt{href}").count() == 1, href
    # One small figure per answer, drawn.
    page.wait_for_function(
        "() => document.querySelectorAll('.answer .glance .panel.drawn').length === 3",
        timeout=20000)
    t.clean()
