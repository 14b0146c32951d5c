"""Linear CKA between every pair of layers, as an annotated heatmap."""

from __future__ import annotations

from collections.abc import Sequence

from bokeh.core.properties import value
from bokeh.models import ColumnDataSource, HoverTool, Rect, Text
from bokeh.palettes import interp_palette
from bokeh.plotting import figure
from bokeh.transform import linear_cmap

from sigreport.report.figures.style import FONT, draw, fit, no_grid, readable_on

__all__ = ["cka_figure"]

# CKA heatmap: near-white at 0 to dark blue at 1.
_SEQUENTIAL = interp_palette(("#f7f9fc", "#1c3f73"), 256)


def cka_figure(layers: Sequence[str], matrix: Sequence[Sequence[float]], size: int = 360):
    """Linear CKA between every pair of layers, as an annotated heatmap."""
    xs, ys, values, text = [], [], [], []
    for i, a in enumerate(layers):
        for j, b in enumerate(layers):
            v = float(matrix[i][j])
            xs.append(b)
            ys.append(a)
            values.append(v)
            text.append(f"{v:.2f}")
    cmap = linear_cmap("v", _SEQUENTIAL, 0.0, 1.0)
    step = len(_SEQUENTIAL) - 1
    text_color = [readable_on(_SEQUENTIAL[round(min(1.0, max(0.0, v)) * step)]) for v in values]
    src = ColumnDataSource({"x": xs, "y": ys, "v": values, "text": text, "tc": text_color})
    n = len(layers)
    fig = fit(figure(x_range=list(layers), y_range=list(reversed(layers)), width=120 + 62 * n,
                     height=90 + 52 * n, tools="", toolbar_location=None,
                     x_axis_location="above"))
    no_grid(fig)
    r = draw(fig, src, Rect, dict(x="x", y="y", width=0.96, height=0.94, line_color=None,
                                  fill_color=cmap))
    draw(fig, src, Text, dict(x="x", y="y", text="text", text_align="center",
                              text_baseline="middle", text_font_size="11px", text_color="tc",
                              text_font=value(FONT)))
    fig.add_tools(HoverTool(renderers=[r], tooltips=[("layers", "@y \u00d7 @x"),
                                                     ("CKA", "@text")]))
    fig.axis.axis_line_color = None
    fig.axis.major_tick_line_color = None
    return fig
