"""Label alignment per layer: the trained network against its untrained control, with
95% intervals, the input's interval as a band and the separation layer marked."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from bokeh.core.properties import value
from bokeh.models import (
    BoxAnnotation,
    ColumnDataSource,
    HoverTool,
    Legend,
    LegendItem,
    Line,
    Range1d,
    Scatter,
    Span,
    Whisker,
)
from bokeh.plotting import figure

from sigreport.analysis.types import SeparationRow
from sigreport.report.figures.style import LEGEND_ROW, draw, fit

__all__ = ["separation_figure"]


def separation_figure(per_layer: Sequence[SeparationRow], separation_layer: str | None,
                      labels: dict[str, str], width: int = 330, height: int = 300):
    """Label alignment per layer: the trained network against its two controls.

    One panel per measure (``labels``: measure -> title). The trained network is
    the solid line, the untrained network (epoch 0) the dashed one, both with
    their 95% intervals as whiskers; the input's interval is the grey band. The
    separation layer is marked.
    """
    names = [row["layer"] for row in per_layer]
    rows: list[Mapping[str, Any]] = list(per_layer)   # read by key names held in variables
    x = np.arange(len(names), dtype=np.float64)
    panels = []
    for measure, label in labels.items():
        fig = fit(figure(width=width, height=height + LEGEND_ROW, title=label, tools="",
                         toolbar_location=None, x_range=Range1d(-0.4, len(names) - 0.6)))
        fig.xaxis.ticker = list(range(len(names)))
        fig.xaxis.major_label_overrides = {i: n for i, n in enumerate(names)}
        fig.xaxis.major_label_orientation = 0.6 if len(names) > 5 else 0.0
        inp = per_layer[0]["ci"][measure]
        if inp is not None:
            fig.add_layout(BoxAnnotation(bottom=inp[0], top=inp[1], fill_color="#9ca3af",
                                         fill_alpha=0.25, line_color=None))
        if separation_layer in names:
            fig.add_layout(Span(location=names.index(separation_layer), dimension="height",
                                line_color="#2a9d5c", line_dash="dashed", line_width=1.5))
        items = []
        for key, ci_key, color, dash, legend in (
                ("value", "ci", "#2f6db5", "solid", "trained"),
                ("control", "control_ci", "#c2410c", "dashed", "untrained (epoch 0)")):
            y = np.array([np.nan if row[key][measure] is None else row[key][measure]
                          for row in rows], dtype=np.float64)
            if key == "control":
                y[0] = np.nan            # the input has no untrained counterpart
            if np.all(np.isnan(y)):
                continue
            lo = [row[ci_key][measure][0] if row[ci_key][measure] else np.nan for row in rows]
            hi = [row[ci_key][measure][1] if row[ci_key][measure] else np.nan for row in rows]
            src = ColumnDataSource({"x": x, "y": y, "lo": lo, "hi": hi, "layer": names,
                                    "v": ["n/a" if np.isnan(v) else f"{v:.3f}" for v in y]})
            line = draw(fig, src, Line, dict(x="x", y="y", line_color=color, line_width=2,
                                             line_dash=dash))
            items.append(LegendItem(label=value(legend), renderers=[line]))
            dots = draw(fig, src, Scatter, dict(x="x", y="y", size=7, fill_color=color,
                                                line_color="white"))
            fig.add_layout(Whisker(source=src, base="x", lower="lo", upper="hi",
                                   line_color=color))
            fig.add_tools(HoverTool(renderers=[dots], tooltips=[
                (legend, "@v"), ("95% interval", "@lo{0.000} to @hi{0.000}"),
                ("layer", "@layer")]))
        # Below the plot, off the data.
        fig.add_layout(Legend(items=items, orientation="horizontal", label_text_font_size="11px",
                              padding=2, border_line_color=None), "below")
        panels.append(fig)
    return panels
