"""Class x cluster count tables, one panel per layer, tinted by each row's class colour."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from bokeh.core.properties import value
from bokeh.models import ColumnDataSource, HoverTool, Rect, Text
from bokeh.plotting import figure

from sigreport.analysis.types import Layer
from sigreport.report.figures.style import FONT, draw, fit, mix, no_grid, readable_on
from sigreport.report.formatters import pct

__all__ = ["heatmap_figure"]


def heatmap_figure(layers: Sequence[Layer], row_classes: Sequence[int],
                   probe_classes: Sequence[int], colors: dict[int, str],
                   class_label: dict[int, str]) -> list:
    """Class x cluster count tables, one panel per layer, with a last column "none": the
    class's images unassigned in that layer (outside every cluster's region).

    Each cell is tinted with its row's class colour, its opacity the share of
    the class's images (all of them, the unassigned included) in the cell, and
    shows the exact count. ``layers`` are metrics "layers" entries
    (``cluster_counts``, ``unassigned_counts``, ``probe_cluster_counts``,
    ``probe_unassigned_counts``, ``cluster_dominant_class``).
    """
    panels = []
    for lay in layers:
        n_clusters = int(lay["n_clusters"])
        # Each row: its count per cluster, then its unassigned count.
        counts = {int(c): [*v, lay["unassigned_counts"][c]]
                  for c, v in lay["cluster_counts"].items()}
        counts.update({int(c): [*v, lay["probe_unassigned_counts"][c]]
                       for c, v in lay["probe_cluster_counts"].items()})
        rows = [c for c in row_classes if c in counts]
        dominant = lay["cluster_dominant_class"] or [None] * n_clusters
        # Order clusters by dominant class, then size.
        size = np.sum([counts[c] for c in rows if c not in probe_classes], axis=0) \
            if any(c not in probe_classes for c in rows) else np.zeros(n_clusters + 1)
        rank: dict[int | None, int] = {c: i for i, c in enumerate(row_classes)}
        order = sorted(range(n_clusters), key=lambda k: (rank.get(dominant[k], 99), -size[k]))
        columns = [f"c{k}" for k in order] + ["none"]
        xs, ys, fill, alpha, text, hover_n, hover_f, what = [], [], [], [], [], [], [], []
        for c in rows:
            row = np.asarray(counts[c], dtype=float)
            total = row.sum()
            for k, name in zip([*order, n_clusters], columns):
                share = row[k] / total if total else 0.0
                xs.append(name)
                what.append(name if k < n_clusters else "none (unassigned: outside every region)")
                ys.append(class_label.get(c, str(c)))
                fill.append(colors.get(c, "#888888"))
                alpha.append(0.06 + 0.94 * share)
                text.append(f"{int(row[k]):,}")
                hover_n.append(f"{int(row[k]):,}")
                hover_f.append(pct(share))
        text_color = [readable_on(mix(f, 1.0 - a)) for f, a in zip(fill, alpha)]
        source = ColumnDataSource({"x": xs, "y": ys, "fill": fill,
                                   "alpha": np.asarray(alpha, np.float32), "text": text,
                                   "text_color": text_color, "n": hover_n, "f": hover_f,
                                   "what": what})
        cell = 44 if n_clusters <= 8 else 36
        width = 90 + cell * len(columns)
        fig = fit(figure(x_range=columns,
                         y_range=[class_label.get(c, str(c)) for c in reversed(rows)],
                         width=max(240, width), height=70 + 34 * len(rows),
                         title=f"{lay['name']} \u00b7 {n_clusters} clusters",
                         tools="", toolbar_location=None))
        no_grid(fig)
        r = draw(fig, source, Rect, dict(x="x", y="y", width=0.95, height=0.9,
                                         fill_color="fill", fill_alpha="alpha", line_color=None))
        draw(fig, source, Text, dict(x="x", y="y", text="text", text_align="center",
                                     text_baseline="middle", text_font_size="10px",
                                     text_color="text_color", text_font=value(FONT)))
        fig.add_tools(HoverTool(renderers=[r], tooltips=[
            ("class", "@y"), ("cluster", "@what"), ("images", "@n (@f of the class)")]))
        fig.xaxis.major_label_text_font_size = "10px"
        fig.axis.axis_line_color = None
        fig.axis.major_tick_line_color = None
        panels.append(fig)
    return panels
