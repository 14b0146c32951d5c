"""Training over the epochs: loss and accuracy, and how signatures and paths form."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from bokeh.models import (
    BasicTicker,
    ColumnDataSource,
    HoverTool,
    Line,
    LinearAxis,
    NumeralTickFormatter,
    Range1d,
    Scatter,
)
from bokeh.plotting import figure

from sigreport.analysis.types import History, Snapshot
from sigreport.report.figures.style import LEGEND_ROW, add_legend, draw, fit, mix

__all__ = ["snapshot_figure", "training_figure"]


def training_figure(history: History, width: int = 430, height: int = 260):
    """Loss and accuracy per epoch: two panels, the accuracy legend below its plot."""
    epoch = np.asarray(history["epoch"], dtype=np.float32)
    loss = fit(figure(width=width, height=height + LEGEND_ROW, title="training loss",
                      tools="", toolbar_location=None))
    acc = fit(figure(width=width, height=height + LEGEND_ROW, title="accuracy", tools="",
                     toolbar_location=None))
    acc.yaxis.formatter = NumeralTickFormatter(format="0.0%")
    for fig in (loss, acc):
        fig.xaxis.axis_label = "epoch"
        fig.xaxis.ticker = BasicTicker(min_interval=1, desired_num_ticks=8)
    src = ColumnDataSource({"e": epoch,
                            "loss": np.asarray(history["train_loss"], np.float32),
                            "tr": np.asarray(history["train_accuracy"], np.float32),
                            "te": np.asarray(history["test_accuracy"], np.float32)})
    r = draw(loss, src, Line, dict(x="e", y="loss", line_width=2.2, line_color="#2f6db5"))
    draw(loss, src, Scatter, dict(x="e", y="loss", size=6, fill_color="#2f6db5",
                                  line_color="white"))
    loss.add_tools(HoverTool(renderers=[r], tooltips=[("epoch", "@e"), ("loss", "@loss{0.0000}")],
                             mode="vline"))
    a = draw(acc, src, Line, dict(x="e", y="tr", line_width=2.2, line_color="#2f6db5"))
    b = draw(acc, src, Line, dict(x="e", y="te", line_width=2.2, line_color="#e69f00"))
    acc.add_tools(HoverTool(renderers=[b], tooltips=[("epoch", "@e"), ("train", "@tr{0.0000}"),
                                                     ("test", "@te{0.0000}")], mode="vline"))
    add_legend(acc, [("train", [a]), ("test", [b])], below=True, ncols=2)
    return [loss, acc]


def snapshot_figure(snapshots: Sequence[Snapshot], layer_names: Sequence[str], width: int = 430,
                    height: int = 260):
    """How signatures form during training: per-layer AMI, and path count and purity, per epoch."""
    epochs = np.array([s["epoch"] for s in snapshots], dtype=np.float32)
    rows = -(-len(layer_names) // 3)
    nmi = fit(figure(width=width, height=height + LEGEND_ROW * rows,
                     title="cluster / class AMI per layer", tools="", toolbar_location=None,
                     y_range=Range1d(-0.02, 1.05)))
    paths = fit(figure(width=width, height=height + LEGEND_ROW * rows,
                       title="distinct paths and their purity", tools="",
                       toolbar_location=None, y_range=Range1d(-0.02, 1.05)))
    for fig in (nmi, paths):
        fig.xaxis.axis_label = "epoch"
        fig.xaxis.ticker = BasicTicker(min_interval=1, desired_num_ticks=8)
    shades = [mix("#2f6db5", t) for t in np.linspace(0.6, -0.45, max(1, len(layer_names)))]
    items = []
    for name, color in zip(layer_names, shades):
        y = [next((lay["cluster_class_ami"] for lay in s["layers"] if lay["name"] == name),
                  None) for s in snapshots]
        src = ColumnDataSource({"x": epochs,
                                "y": np.array([np.nan if v is None else v for v in y], np.float32)})
        r = draw(nmi, src, Line, dict(x="x", y="y", line_color=color, line_width=2))
        draw(nmi, src, Scatter, dict(x="x", y="y", size=5, fill_color=color, line_color="white"))
        items.append((name, [r]))
    add_legend(nmi, items, below=True, ncols=3)
    purity = np.array([np.nan if s["path_purity"] is None else s["path_purity"]
                       for s in snapshots], np.float32)
    count = np.array([s["n_distinct_paths"] for s in snapshots], np.float32)
    top = float(count.max()) * 1.1 if len(count) and count.max() > 0 else 1.0
    paths.extra_y_ranges = {"count": Range1d(0, top)}
    paths.add_layout(LinearAxis(y_range_name="count", axis_label="distinct paths"), "right")
    paths.yaxis[0].axis_label = "path purity"
    src = ColumnDataSource({"x": epochs, "purity": purity, "count": count})
    a = draw(paths, src, Line, dict(x="x", y="purity", line_color="#2a9d5c", line_width=2.2))
    b = draw(paths, src, Line, dict(x="x", y="count", line_color="#5f6b7a", line_width=2.2,
                                    line_dash="dashed"), y_range_name="count")
    add_legend(paths, [("purity", [a]), ("distinct paths", [b])], below=True, ncols=2)
    return [nmi, paths]
