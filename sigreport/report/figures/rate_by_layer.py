"""A small line chart of shares (0-100%) per layer, for the answers' glances."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from bokeh.models import ColumnDataSource, HoverTool, Line, NumeralTickFormatter, Range1d, Scatter
from bokeh.plotting import figure

from sigreport.report.figures.style import LEGEND_ROW, add_legend, draw, fit, strings
from sigreport.report.formatters import pct

__all__ = ["rate_by_layer_figure"]


def rate_by_layer_figure(layers: Sequence[str], lines: Sequence[dict], width: int = 300,
                         height: int = 170, y_label: str | None = None):
    """Small line chart of shares (0-100%) per layer.

    ``lines`` are dicts with ``name`` (legend text), ``color``, ``dash`` ("solid",
    "dashed"), ``marker`` and ``values`` (one fraction per layer, None where not measured)."""
    x = np.arange(len(layers), dtype=np.float64)
    fig = fit(figure(width=width, height=height + LEGEND_ROW * len(lines), tools="",
                     toolbar_location=None, x_range=Range1d(-0.3, len(layers) - 0.7),
                     y_range=Range1d(-0.03, 1.03)))
    fig.xaxis.ticker = list(range(len(layers)))
    fig.xaxis.major_label_overrides = {i: n for i, n in enumerate(layers)}
    fig.yaxis.formatter = NumeralTickFormatter(format="0%")
    fig.yaxis.ticker = [0, 0.5, 1]
    if y_label:
        fig.yaxis.axis_label = y_label
    items = []
    for line in lines:
        y = np.array([np.nan if v is None else v for v in line["values"]], dtype=np.float64)
        src = ColumnDataSource({"x": x, "y": y, "layer": strings(layers),
                                "v": strings(["n/a" if v is None else pct(v) for v in
                                              line["values"]])})
        r = draw(fig, src, Line, dict(x="x", y="y", line_color=line["color"], line_width=2,
                                      line_dash=line.get("dash", "solid")))
        dots = draw(fig, src, Scatter, dict(x="x", y="y", size=7, fill_color=line["color"],
                                            line_color="white",
                                            marker=line.get("marker", "circle")))
        fig.add_tools(HoverTool(renderers=[dots], tooltips=[(line["name"], "@v"),
                                                            ("layer", "@layer")]))
        items.append((line["name"], [r, dots]))
    add_legend(fig, items, below=True)
    return fig
