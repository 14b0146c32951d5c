"""Rendering: metrics and arrays -> section views -> one HTML page, from Jinja2 templates.

Nothing here writes files: :func:`render_report` returns ``{relative path: content}``
and the pipeline writes the report folder atomically. Each section's figures and
values come from its view builder in :mod:`sigreport.report.sections`; its HTML
from ``templates/sections/<section>.html.j2``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import bokeh
from bokeh.document import Document
from bokeh.embed import components
from markupsafe import Markup

from sigreport.activations import Activations
from sigreport.config import Config
from sigreport.data import Dataset
from sigreport.report import figures as F
from sigreport.report import sections as S
from sigreport.report.assets import BOKEH_DIR, script_tags
from sigreport.report.formatters import template_env

if TYPE_CHECKING:
    from sigreport.signatures import Signatures

__all__ = ["render_report"]


def render_report(metrics: dict, manifest: dict, dataset: Dataset, acts: Activations, sigs: Any,
                  config: Config, standalone: bool = False,
                  snapshots: dict[int, tuple[Activations, Signatures]] | None = None
                  ) -> dict[str, str | bytes]:
    """Render one run's report page.

    Parameters
    ----------
    metrics:
        The analysis stage's plain-value dict (layout in INTERFACES / metrics.schema.json);
        every number the page states comes from it.
    manifest:
        "config", "seed", "versions", "data_sha256", "git_commit", "timings_s", "created".
    dataset, acts, sigs:
        The arrays behind the figures: images, per-layer activations (float32
        (n_samples, width)), cluster labels and paths (int64). Scatter plots are
        subsampled to ``config.report.max_points``; every count shown is exact.
    config:
        The resolved run config (``report.projection``, ``report.max_points``, ``seed``).
    standalone:
        Inline BokehJS (one self-contained file). Otherwise the page loads
        ``../_bokeh/bokeh-<version>.min.js``: call :func:`vendor_bokeh` on the
        output folder.
    snapshots:
        epoch -> (Activations, Signatures) of the network recorded at that epoch;
        when given, the training section draws one small alluvial diagram per
        epoch. ``None`` or empty: the section shows the per-epoch curves only.

    Returns
    -------
    dict
        ``{"index.html": str}``.

    Raises
    ------
    ConfigError
        ``report.projection = "umap"`` without the umap-learn package.
    """
    ctx = S.build_context(metrics, dataset)
    seed = int(config.seed)
    detection = S.build_detection(ctx, metrics)
    sections = [
        S.build_answers(ctx, metrics, detection.values["ood"]),
        S.build_paths(ctx, metrics, acts, sigs),
        S.build_projections(ctx, metrics, acts, sigs, dataset, config),
        S.build_layers(ctx, metrics),
        S.build_probes(ctx, metrics, acts, dataset, sigs, seed),
        detection,
        S.build_exemplars(ctx, metrics, dataset, sigs, seed),
        S.build_training(ctx, metrics, snapshots),
        S.build_reproducibility(metrics, manifest, config),
    ]
    figs: dict[str, Any] = {}
    data: dict[str, Any] = {}
    values: dict[str, Any] = {}
    for section in sections:
        figs.update(section.figures)
        data.update(section.data)
        values.update(section.values)

    # One document for every figure (linked selections need a shared source); adding the
    # roots under one freeze makes Bokeh walk the model graph once instead of once per root.
    doc = Document(theme=F.THEME)
    with doc.models.freeze():
        for fig in figs.values():
            doc.add_root(fig)
    script, divs = components(figs)
    title = config.title or metrics.get("experiment", {}).get("title") or config.name
    page = template_env().get_template("report.html.j2").render(
        title=title, name=config.name, standalone=standalone,
        bokeh_js=script_tags([doc], standalone),
        bokeh_script=Markup(script), div={k: Markup(v) for k, v in divs.items()},
        bokeh_version=bokeh.__version__, bokeh_dir=BOKEH_DIR,
        label=ctx.label, data=data, **values)
    return {"index.html": page}
