"""Rendering: metrics and arrays -> section views -> one HTML page, from Jinja2 templates.

Nothing here writes the report: :func:`render_report` returns ``{relative path:
content}`` and the pipeline writes the report folder atomically (the page's compiled
templates are kept in the cache folder). Each section's figures and
values come from its view builder in :mod:`sigreport.report.sections`; its HTML
from ``templates/sections/<section>.html.j2``.
"""

from __future__ import annotations

import base64
import functools
import html
import json
import time
from typing import Any

import bokeh
import jinja2
from bokeh.core.json_encoder import serialize_json
from bokeh.document import Document
from bokeh.embed.util import RenderItem
from bokeh.util.serialization import make_globally_unique_css_safe_id, make_globally_unique_id
from markupsafe import Markup

from sigreport.analysis.types import Metrics
from sigreport.config import Config, config_to_toml
from sigreport.report import figures as F
from sigreport.report import sections as S
from sigreport.report.arrays import FigureArrays
from sigreport.report.assets import BOKEH_DIR, script_tags
from sigreport.report.formatters import template_env
from sigreport.report.sections.glossary import term as glossary_term

__all__ = ["BOKEH_CHECKED", "render_report"]

# The Bokeh releases (major.minor) whose internals _embed was checked against: it builds
# what bokeh.embed's standalone_docs_json_and_render_items builds, from bokeh.embed.util,
# bokeh.core.json_encoder and bokeh.util.serialization, which are not public API.
# tests/test_render_bokeh.py fails on any other release until it is checked and added.
BOKEH_CHECKED = ("3.9",)


def render_report(metrics: Metrics, manifest: dict, arrays: FigureArrays, config: Config,
                  standalone: bool = False) -> dict[str, str | bytes]:
    """Render one run's report page.

    Parameters
    ----------
    metrics:
        The analysis stage's plain-value dict (layout in INTERFACES / metrics.schema.json);
        every number the page states comes from it.
    manifest:
        "config", "seed", "versions", "data_sha256", "git_commit", "timings_s", "created".
    arrays:
        The arrays behind the figures (:func:`sigreport.report.arrays.figure_arrays`):
        images, classes, predictions, clusters and paths per split, each layer's 2-D
        projection of the shown points (subsampled to ``config.report.max_points``;
        every count shown is exact), and per recorded epoch the paths that its small
        alluvial diagram draws (none: the training section shows the curves only).
    config:
        The resolved run config (``seed``, ``title``).
    standalone:
        Inline BokehJS (one self-contained file). Otherwise the page loads
        ``../_bokeh/bokeh-<version>.min.js``: call :func:`vendor_bokeh` on the
        output folder.

    Returns
    -------
    dict
        ``{"index.html": str, "metrics.json": str, "config.toml": str}``. The page's
        stated total time includes this stage up to the page's own rendering.
    """
    started = time.perf_counter()
    ctx = S.build_context(metrics, arrays)
    seed = int(config.seed)
    detection = S.build_detection(ctx, metrics)
    sections = [
        S.build_answers(ctx, metrics, detection.values["ood"]),
        S.build_glance(ctx, metrics),
        S.build_seed_spread(ctx, metrics),
        S.build_paths(ctx, metrics, arrays),
        S.build_projections(ctx, metrics, arrays),
        S.build_layers(ctx, metrics),
        S.build_probes(ctx, metrics, arrays, seed),
        detection,
        S.build_exemplars(ctx, metrics, arrays, seed),
        S.build_training(ctx, metrics, arrays.snapshots, arrays.path_layers),
        S.build_reproducibility(metrics, manifest, config),
        S.build_glossary(),
    ]
    data: dict[str, Any] = {}
    values: dict[str, Any] = {}
    for section in sections:
        data.update(section.data)
        values.update(section.values)
    divs, payloads, docs = _embed(sections)
    files = {"metrics.json": json.dumps(metrics, indent=1, sort_keys=False) + "\n",
             "config.toml": config_to_toml(config)}
    # The standalone page carries its own numbers and config as downloadable data.
    downloads = {name: _data_uri(text, mime) for (name, text), mime in
                 zip(files.items(), ("application/json", "application/toml"))}
    values["repro"]["timings"].append(("report", time.perf_counter() - started))
    values["repro"]["total_s"] = sum(v for _, v in values["repro"]["timings"])
    title = config.title or metrics.get("experiment", {}).get("title") or config.name
    page = _page_template().render(
        title=title, name=config.name, standalone=standalone, downloads=downloads,
        bokeh_js=script_tags(docs, standalone),
        bokeh_script=Markup("\n".join(payloads)), div=divs,
        bokeh_version=bokeh.__version__, bokeh_dir=BOKEH_DIR,
        label=ctx.label, data=data, **values)
    return {"index.html": page, **files}


class _CompiledTemplates(jinja2.FileSystemBytecodeCache):
    """Templates compiled by an earlier run (Jinja checks each against its source)."""

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().dump_bytecode(bucket)
        except OSError:  # the cache is only an optimisation: not kept, then
            pass


@functools.cache
def _page_template() -> jinja2.Template:
    """The page's template, compiled once per process (a sweep's worker renders many) and
    kept compiled in the cache folder, where it can be written, for the next run."""
    from sigreport.store import cache_problem, cache_root

    compiled = None
    if cache_problem() is None:
        folder = cache_root() / "templates"
        folder.mkdir(parents=True, exist_ok=True)
        compiled = _CompiledTemplates(str(folder))
    env = template_env(compiled)
    env.globals["term"] = glossary_term
    return env.get_template("report.html.j2")


def _data_uri(text: str, mime: str) -> str:
    return f"data:{mime};charset=utf-8;base64," + base64.b64encode(text.encode()).decode()


def _panel(root, model) -> str:
    """A placeholder box with the figure's size, which BokehJS fills when the reader nears it."""
    w, h = int(model.width or 600), int(model.height or 400)
    if model.sizing_mode == "scale_width":
        box = f"flex-basis: {w}px; max-width: min({w}px, 100%); aspect-ratio: {w} / {h}"
    else:
        box = f"flex-basis: 100%; min-height: {h}px"
    return (f'<div class="panel" style="{box}"><div id="{html.escape(root.elementid)}" '
            f'data-root-id="{html.escape(root.id)}" style="display: contents;"></div></div>')


def _embed(sections: list[S.Section]) -> tuple[dict[str, Markup], list[str], list[Document]]:
    """Each section's figures as one Bokeh document, drawn when the reader approaches it.

    A figure may be a list of panels: each becomes its own root in a flex row that wraps
    on a narrow screen. Returns the HTML per figure name, one ``<script
    type="application/json" class="bk-figures">`` per section (its documents and render
    items, which ``report.js`` hands to ``Bokeh.embed.embed_items``) and the documents.
    """
    divs: dict[str, Markup] = {}
    payloads: list[str] = []
    docs: list[Document] = []
    for section in sections:
        if not section.figures:
            continue
        panels = {name: list(fig) if isinstance(fig, (list, tuple)) else [fig]
                  for name, fig in section.figures.items()}
        models = [m for group in panels.values() for m in group]
        doc = Document(theme=F.THEME)
        # Adding the roots under one freeze walks the model graph once, not once per root.
        with doc.models.freeze():
            for model in models:
                doc.add_root(model)
        docs.append(doc)
        # What bokeh.embed's standalone_docs_json_and_render_items does, less its walk of
        # the whole model graph looking for Python callbacks, which a static page cannot have.
        docid = make_globally_unique_id()
        docs_json = {docid: doc.to_json(deferred=False)}
        item = RenderItem(docid, roots={m: make_globally_unique_css_safe_id() for m in models})
        roots = {root.id: root for root in item.roots}
        for name, group in panels.items():
            inner = "".join(_panel(roots[m.id], m) for m in group)
            divs[name] = Markup(f'<div class="panels">{inner}</div>')
        payload = serialize_json({"docs_json": docs_json, "render_items": [item.to_json()]})
        # "<" only ever occurs inside JSON strings, where \u003c means the same.
        payload = payload.replace("<", "\\u003c")
        ids = html.escape(" ".join(root.elementid for root in item.roots))
        payloads.append(f'<script type="application/json" class="bk-figures" '
                        f'data-roots="{ids}">{payload}</script>')
    return divs, payloads, docs
