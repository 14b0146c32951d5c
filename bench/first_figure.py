"""Time to the first screen's and to all figures of a report: on approach vs all at load.

A report page embeds each section's figures as its own Bokeh document and
draws it when the reader nears it (report.js, IntersectionObserver). The
alternative is what reports did before: one Bokeh document holding every
figure, drawn as the page loads. This script measures a run once, renders its
report both ways (the second by putting every section's figures into one
document and drawing it at load), opens both in Debian's Chromium (Playwright,
file://, network cut) several times alternately, and prints the medians and
their ratios:

- text: first contentful paint (the page's text);
- first screen: the figures in the first 1440 x 900 screen built (polled per frame);
- interactive: from when frames keep coming (no gap over 100 ms for 500 ms), so the
  page answers the reader;
- all figures: every figure built and the page quiet again, when the reader asks for
  all of them as soon as
  the page is interactive (on approach: ``sigreport.renderAll()`` then; at load:
  nothing more to ask);
- the longest main-thread task (Chromium's Long Tasks API) until the first screen is
  drawn, and of the whole page. A third variant, "section a task", is the report with
  report.js building each section's figures in one task instead of one figure per idle
  slice, so the slicing is measured against its alternative in the same run.

    python bench/first_figure.py                       # mnist-1-7 (training is cached)
    python bench/first_figure.py --set data.n_per_class=500 --repeat 3
"""

from __future__ import annotations

import re
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import cast

from sigreport.report import render
from sigreport.report.sections import Section

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _runs import in_process_arguments

# The report's embedding: one Bokeh document per section.
PER_SECTION = render._embed

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]

# The one document drawn as soon as the page's script has run, as an embedded script did.
EAGER = "<script>sigreport.renderAll();</script>\n</body>"
# report.js builds a section's figures one per idle slice; this line of it, replaced, builds
# each section's figures in one task (what it did before).
SLICED = "var rest = now ? [] : doc.roots().slice(1);"
WHOLE = "var rest = [];"
# The report loads BokehJS after its content, so the text is drawn before BokehJS starts;
# "Bokeh in the head" moves these tags back where they were, and "BokehJS alone" is a page
# holding nothing else: the start-up task that no report can make shorter.
BOKEH_TAGS = re.compile(r'<script src="\.\./_bokeh/[^"]+"></script>\n(?:<script>[^<]*</script>\n)?')


# Times (ms from navigation start), polled once per animation frame: when the first screen's
# figures are built, when the page is quiet after that (the first frame from which frames
# keep coming at least every 100 ms for 500 ms: the page answers input), and when it is
# quiet again after every figure is built (all drawn).
PROBE = """(() => {
  window.__times = {};
  window.__long = [];
  new PerformanceObserver(list => {
    for (const e of list.getEntries()) { window.__long.push([e.startTime, e.duration]); }
  }).observe({type: 'longtask', buffered: true});
  let last = 0, calm = null;
  function tick(now) {
    const t = window.__times;
    const ids = [...document.querySelectorAll('[data-root-id]')];
    const roots = (window.Bokeh && Bokeh.index && Bokeh.index.roots) || [];
    const drawn = new Set(roots.map(v => v.model.id));
    // Once the page is parsed: the boxes' places are known only then.
    if (!window.__screen && ids.length && document.readyState !== 'loading') {
      window.__screen = ids
        .filter(el => el.parentNode.getBoundingClientRect().top < innerHeight)
        .map(el => el.getAttribute('data-root-id'));
    }
    if (window.__screen && !t.first && window.__screen.every(id => drawn.has(id))) {
      t.first = now;
    }
    if (calm === null || now - last > 100) { calm = now; }
    const settled = now - calm >= 500;
    if (t.first && !t.quiet && settled) { t.quiet = calm; }
    if (ids.length && drawn.size >= ids.length && !t.built) { t.built = now; }
    // All drawn: quiet for 500 ms since the last figure was built (or since it was last busy).
    const since = Math.max(calm, t.built || 0);
    if (t.built && !t.all && now - since >= 500) { t.all = since; }
    last = now;
    if (!(t.quiet && t.all)) { requestAnimationFrame(tick); }
  }
  requestAnimationFrame(tick);
})();"""


def _one_document(sections):
    """Every section's figures in a single Bokeh document (the previous embedding)."""
    merged = Section(figures={k: v for sec in sections for k, v in sec.figures.items()})
    return PER_SECTION([merged])


def _bokeh_tags(page: str) -> str:
    tags = BOKEH_TAGS.search(page)
    assert tags, "the report no longer loads BokehJS with the tags this bench moves"
    return tags.group(0)


def _bokeh_in_head(page: str) -> str:
    tags = _bokeh_tags(page)
    return page.replace(tags, "", 1).replace("</head>", tags + "</head>", 1)


def _bokeh_alone(page: str) -> str:
    return ("<!DOCTYPE html>\n<html><head><title>BokehJS</title></head><body><p>BokehJS</p>\n"
            f"{_bokeh_tags(page)}</body></html>")


def _write(files: dict, out: Path, name: str, eager: bool, whole: bool = False,
           edit: Callable[[str], str] | None = None) -> Path:
    from sigreport.report import vendor_bokeh

    folder = out / name
    folder.mkdir(parents=True)
    page = files["index.html"]
    if whole:
        assert page.count(SLICED) == 1, "report.js no longer has the line this bench replaces"
        page = page.replace(SLICED, WHOLE)
    if eager:
        head, _, tail = page.rpartition("</body>")
        page = head + EAGER + tail
    if edit is not None:
        page = edit(page)
    (folder / "index.html").write_text(page, "utf-8")
    vendor_bokeh(out, [page])
    return folder / "index.html"


def _measure(browser, path: Path, lazy: bool) -> dict[str, float]:
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file://")
               else r.abort())
    page.add_init_script(PROBE)
    page.goto(path.as_uri())
    page.wait_for_function("() => window.__times && window.__times.quiet", timeout=120000)
    if lazy:
        page.evaluate("() => sigreport.renderAll()")
    page.wait_for_function("() => window.__times.all", timeout=120000)
    times = page.evaluate("""() => {
      const t = window.__times, tasks = window.__long;
      const longest = (until) => Math.max(0, ...tasks.filter(([s]) => s <= until)
                                                     .map(([, d]) => d));
      return {text: performance.getEntriesByName('first-contentful-paint')[0].startTime,
              first: t.first, quiet: t.quiet, all: t.all,
              task_first: longest(t.first), task_all: longest(Infinity)};
    }""")
    page.close()
    return times


def _longest_task(browser, path: Path) -> float:
    page = browser.new_page()
    page.add_init_script(PROBE)
    page.goto(path.as_uri())
    page.wait_for_function("() => typeof Bokeh !== 'undefined'", timeout=120000)
    page.wait_for_timeout(300)
    longest = page.evaluate("() => Math.max(0, ...window.__long.map(([, d]) => d))")
    page.close()
    return longest


def main() -> None:
    args = in_process_arguments(__doc__, repeat=5)
    from playwright.sync_api import sync_playwright

    from sigreport.config import load_config
    from sigreport.pipeline import measure, report_files

    measured = measure(load_config(args.preset, args.overrides))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        name = measured.config.name
        lazy_files = report_files(measured)
        render._embed = _one_document
        try:
            eager_files = report_files(measured)
        finally:
            render._embed = PER_SECTION
        variants = {"on approach": _write(lazy_files, work / "lazy", name, eager=False),
                    "section a task": _write(lazy_files, work / "whole", name, eager=False,
                                             whole=True),
                    "at load": _write(eager_files, work / "eager", name, eager=True),
                    "Bokeh in head": _write(lazy_files, work / "head", name, eager=False,
                                            edit=_bokeh_in_head)}
        alone = _write(lazy_files, work / "alone", name, eager=False, edit=_bokeh_alone)
        n_roots = cast(str, lazy_files["index.html"]).count("data-root-id=")
        results: dict[str, list[dict]] = {v: [] for v in variants}
        alone_ms: list[float] = []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            _measure(browser, variants["at load"], lazy=False)  # warm the disk cache
            for _ in range(args.repeat):
                for v, path in variants.items():
                    results[v].append(_measure(browser, path, lazy=v != "at load"))
                alone_ms.append(_longest_task(browser, alone))
            browser.close()
    print(f"{args.preset} {' '.join(args.overrides)}: {n_roots} figure panels, "
          f"{args.repeat} runs each, medians")
    keys = ("text", "first", "quiet", "all", "task_first", "task_all")
    med = {v: {k: statistics.median(r[k] for r in rs) for k in keys} for v, rs in results.items()}
    print(f"{'':<14}" + "".join(f"{h:>15}" for h in
                                ("text", "first screen", "interactive", "all figures",
                                 "longest task 1", "longest task")))
    for v, m in med.items():
        print(f"{v:<14}" + "".join(f"{m[k]:>12.0f} ms" for k in keys))
    lazy, eager = med["on approach"], med["at load"]
    print(f"interactive after the text: {lazy['quiet'] - lazy['text']:.0f} ms on approach, "
          f"{eager['quiet'] - eager['text']:.0f} ms at load")
    whole = med["section a task"]
    print("longest main-thread task (longest task 1: until the first screen is drawn; goal "
          f"under 200 ms): {lazy['task_first']:.0f} ms on approach, {whole['task_first']:.0f} ms "
          f"with a section a task (x{whole['task_first'] / max(lazy['task_first'], 1):.2f}); "
          f"of the whole page {lazy['task_all']:.0f} ms and {whole['task_all']:.0f} ms")
    head = med["Bokeh in head"]
    print(f"text drawn at {lazy['text']:.0f} ms with BokehJS loaded after the content, "
          f"{head['text']:.0f} ms with it in the head "
          f"(x{head['text'] / max(lazy['text'], 1):.2f}); "
          f"BokehJS alone, in a page of nothing else: a {statistics.median(alone_ms):.0f} ms task")
    print("ratio at load / on approach: " + ", ".join(
        f"{label} {eager[k] / lazy[k]:.2f}x" for label, k in
        (("first screen", "first"), ("interactive", "quiet"), ("all figures", "all"))))


if __name__ == "__main__":
    main()
