"""Report stage speed: figures as the report builds them against bokeh.plotting's, in one run.

    python bench/render_speed.py                        # mnist-1-7 (training is cached)
    python bench/render_speed.py --set data.n_per_class=500 --repeat 5

Measures a run once, then renders its report (``render_report``) alternately
two ways, ``--repeat`` times each, and prints the medians of wall and CPU time:

- as written: one glyph model per renderer (plus its hover look, and for the
  selectable projection points their selection looks), each section's document
  serialized directly;
- as before: every glyph made by bokeh.plotting's glyph methods, which add a
  non-selection and a muted copy of each, and each section serialized through
  ``standalone_docs_json_and_render_items``, which walks every model once more
  looking for Python callbacks.

Both render the same figures from the same numbers; the other changes of the
report stage (no hidden grids and axes, one renderer for the path-share bars)
are in both. Also prints the number of Bokeh models and the page's size each
way, and times the projections: PCA on one BLAS thread (as written) against
BLAS's own threads, the layers one after another both ways.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import statistics
import sys
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import cast

from bokeh.embed.util import submodel_has_python_callbacks
from bokeh.plotting._renderer import create_renderer

from sigreport.report import figures, projection, render

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _runs import in_process_arguments

_MODEL = re.compile(r'"type":"object","name":"')


def _plotted_draw(fig, source, glyph_type, look, hover=None, **renderer):
    """``figures.style.draw`` through bokeh.plotting's glyph methods (``fig.line(...)`` and
    the like)."""
    hover = {f"hover_{k}": v for k, v in (hover or {}).items()}
    return create_renderer(glyph_type, fig, source=source, **look, **hover, **renderer)


def _plotted_selectable(fig, source, glyph_type, look, **renderer):
    """``figures.style.selectable`` through bokeh.plotting, as the projections were drawn."""
    return create_renderer(glyph_type, fig, source=source, **look, **renderer,
                           selection_line_color="#111111", selection_line_width=0.8,
                           nonselection_fill_alpha=0.08, nonselection_line_alpha=0.0)


@contextmanager
def _as_before():
    """Draw with bokeh.plotting and walk every model for callbacks before serializing."""
    embed = render._embed

    def walked_embed(sections):
        out = embed(sections)
        for doc in out[2]:
            submodel_has_python_callbacks(list(doc.roots))
        return out

    # Each figure module holds its own reference to the style's helpers.
    plotted = {"draw": _plotted_draw, "selectable": _plotted_selectable}
    saved = [(module, name, getattr(module, name)) for module in _figure_modules()
             for name in plotted if hasattr(module, name)]
    for module, name, _ in saved:
        setattr(module, name, plotted[name])
    render._embed = walked_embed
    try:
        yield
    finally:
        for module, name, original in saved:
            setattr(module, name, original)
        render._embed = embed


def _figure_modules() -> list:
    """The modules of the figures package (each imported)."""
    return [importlib.import_module(f"{figures.__name__}.{info.name}")
            for info in pkgutil.iter_modules(figures.__path__)]


def _render(m) -> tuple[float, float, str]:
    wall, cpu = time.perf_counter(), time.process_time()
    files = render.render_report(m.metrics, m.manifest, m.arrays, m.config)
    # the page is text (render_report's other files may be bytes)
    return time.perf_counter() - wall, time.process_time() - cpu, cast(str, files["index.html"])


def main() -> None:
    args = in_process_arguments(__doc__, repeat=3)
    from sigreport.config import load_config
    from sigreport.pipeline import measure

    m = measure(load_config(args.preset, args.overrides))
    _render(m)  # warm: templates compiled, modules imported
    ways = {"as written": None, "as before": _as_before}
    times: dict[str, list[tuple[float, float]]] = {w: [] for w in ways}
    pages: dict[str, str] = {}
    for _ in range(args.repeat):
        for way, patch in ways.items():
            if patch is None:
                wall, cpu, pages[way] = _render(m)
            else:
                with patch():
                    wall, cpu, pages[way] = _render(m)
            times[way].append((wall, cpu))
    print(f"{args.preset} {' '.join(args.overrides)}: render_report, median of {args.repeat}")
    med = {w: (statistics.median(t[0] for t in ts), statistics.median(t[1] for t in ts))
           for w, ts in times.items()}
    for way, (wall, cpu) in med.items():
        print(f"  {way:<11} {wall:6.3f} s wall {cpu:6.3f} s cpu  "
              f"{len(_MODEL.findall(pages[way])):5d} Bokeh models  "
              f"{len(pages[way].encode()) / 1e6:5.2f} MB page")
    (w_new, c_new), (w_old, c_old) = med["as written"], med["as before"]
    print(f"  ratio before / written: {w_old / w_new:.2f}x wall, {c_old / c_new:.2f}x cpu")

    layers = ("input", *m.acts.hidden, "logits")
    layers = tuple(n for n in layers if n in m.acts.train.layers)
    proj: dict[str, list[float]] = {"one thread": [], "BLAS threads": []}
    one_thread = projection.single_threaded
    for _ in range(args.repeat):
        for way, limit in (("one thread", one_thread), ("BLAS threads", nullcontext)):
            projection.single_threaded = limit
            try:
                start = time.perf_counter()
                projection.compute_projections(m.acts, layers, m.config.report, m.config.seed)
                proj[way].append(time.perf_counter() - start)
            finally:
                projection.single_threaded = one_thread
    p_new, p_old = (statistics.median(v) for v in proj.values())
    print(f"projections of {len(layers)} layers (PCA), median of {args.repeat}: {p_new:.3f} s on "
          f"one BLAS thread, {p_old:.3f} s with BLAS's threads: {p_old / p_new:.2f}x")


if __name__ == "__main__":
    main()
