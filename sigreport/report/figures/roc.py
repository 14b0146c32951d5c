"""ROC curves of the detection methods, the false positive rate on a log axis."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from bokeh.models import ColumnDataSource, HoverTool, Line, Range1d
from bokeh.plotting import figure

from sigreport.report.figures.style import CLASS_PALETTE, LEGEND_ROW, add_legend, draw, fit

__all__ = ["roc_figure"]


def roc_figure(curves: Sequence[dict], size: int = 400):
    """ROC curves, one line per detection method; ``curves`` have ``label``, ``fpr``, ``tpr``,
    ``auroc``.

    The false positive rate is on a log axis, so curves that differ only at the low
    rates a detector is used at stand apart; it starts at half the smallest non-zero
    rate measured (a rate of 0 is drawn there). The legend is below the plot.
    """
    positive = [float(f) for c in curves for f in c["fpr"] if f > 0]
    floor = min(positive) / 2 if positive else 1e-3
    # Two legend rows a curve: room for each entry to wrap once where the figure is scaled
    # down to a phone's width, with the plot still tall enough for its axis label.
    fig = fit(figure(width=size + 160, height=size + 2 * LEGEND_ROW * len(curves),
                     tools="", toolbar_location=None, x_axis_type="log", x_range=Range1d(floor, 1),
                     y_range=Range1d(0, 1.01)))
    # Short labels that fit a phone's width; the page says what each rate counts.
    fig.xaxis.axis_label = "false positive rate (log scale)"
    fig.yaxis.axis_label = "true positive rate"
    fig.min_border_right = 16
    chance = np.geomspace(floor, 1, 50)
    draw(fig, ColumnDataSource({"x": chance, "y": chance}), Line,
         dict(x="x", y="y", line_color="#c0c4cc", line_dash="dashed"))
    palette = CLASS_PALETTE
    items = []
    for i, c in enumerate(curves):
        src = ColumnDataSource({"x": np.maximum(np.asarray(c["fpr"], np.float64), floor),
                                "y": np.asarray(c["tpr"], np.float32)})
        r = draw(fig, src, Line, dict(x="x", y="y", line_color=palette[i % len(palette)],
                                      line_width=2.4 if i == 0 else 1.6))
        fig.add_tools(HoverTool(renderers=[r], tooltips=[
            ("method", c["label"]), ("AUROC", f"{c['auroc']:.3f}"),
            ("FPR / TPR", "@x{0.000} / @y{0.000}")], line_policy="nearest"))
        items.append((f"{c['label']} \u00b7 {c['auroc']:.3f}", [r]))
    add_legend(fig, items, below=True)
    return fig
