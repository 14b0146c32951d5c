"""Horizontal stacked bars of shares: each class's images per path, and the small bars of
the answers' glances; segments are labelled or hatched, not only coloured."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from bokeh.core.properties import value
from bokeh.models import (
    ColumnDataSource,
    HBar,
    HoverTool,
    LegendItem,
    NumeralTickFormatter,
    Range1d,
    Text,
)
from bokeh.plotting import figure

from sigreport.report.figures.style import (
    FONT,
    LEGEND_ROW,
    add_legend,
    draw,
    fit,
    no_grid,
    readable_on,
    strings,
)
from sigreport.report.formatters import pct

__all__ = ["path_share_figure", "share_bars_figure"]


def path_share_figure(rows: Sequence[str], segments: Sequence[dict], height: int | None = None):
    """Horizontal stacked bars: the share of each class's images on each path.

    Parameters
    ----------
    rows:
        Row labels, top to bottom ("1", "7", "3 (unseen)").
    segments:
        Dicts with ``name`` (legend text), ``short`` (drawn on the segment where it is wide
        enough, so segments are told apart without colour), ``color``, ``hatch`` (bool) and
        ``shares`` (one fraction per row) and ``counts`` (one int per row).
    """
    height = (height or 110 + 44 * len(rows)) + LEGEND_ROW * len(segments)
    fig = figure(y_range=list(reversed(rows)), x_range=Range1d(0, 1), height=height,
                 sizing_mode="stretch_width", tools="", toolbar_location=None)
    fig.xaxis.axis_label = "share of the class's images"
    fig.xaxis.formatter = NumeralTickFormatter(format="0%")
    # One renderer draws every segment (rows of a segment in turn, in the order they stack);
    # its legend entries show a row of each segment.
    left = np.zeros(len(rows))
    columns: dict[str, list] = {k: [] for k in ("y", "left", "right", "name", "share", "count",
                                                "color", "hatch", "short", "text_color")}
    first_row = []
    for seg in segments:
        shares = np.asarray(seg["shares"], dtype=float)
        first_row.append(len(columns["y"]))
        columns["y"] += list(rows)
        columns["left"].append(left.astype(np.float32))
        columns["right"].append((left + shares).astype(np.float32))
        columns["name"] += [seg["name"]] * len(rows)
        columns["share"] += [pct(s) for s in shares]
        columns["count"] += [f"{c:,}" for c in seg["counts"]]
        columns["color"] += [seg["color"]] * len(rows)
        columns["hatch"] += ["/" if seg.get("hatch") else " "] * len(rows)
        # About 7 pixels a letter on a bar some 600 pixels wide, or more.
        columns["short"] += [seg["short"] if s >= 0.04 + 0.012 * len(seg["short"]) else ""
                             for s in shares]
        columns["text_color"] += [readable_on(seg["color"])] * len(rows)
        left = left + shares
    items = []
    if segments:
        data = {k: np.concatenate(v) if k in ("left", "right") else strings(v)
                for k, v in columns.items()}
        r = draw(fig, ColumnDataSource(data), HBar,
                 dict(y="y", left="left", right="right", height=0.62, fill_color="color",
                      line_color="white", line_width=1, hatch_pattern="hatch",
                      hatch_color="#ffffff", hatch_alpha=0.6))
        fig.add_tools(HoverTool(renderers=[r], tooltips=[
            ("class", "@y"), ("path", "@name"), ("images", "@count (@share)")]))
        mid = {"x": (data["left"] + data["right"]) / 2, "y": data["y"], "text": data["short"],
               "color": data["text_color"]}
        draw(fig, ColumnDataSource(mid), Text,
             dict(x="x", y="y", text="text", text_color="color", text_align="center",
                  text_baseline="middle", text_font_size="11px", text_font_style="bold",
                  text_font=value(FONT)))
        items = [LegendItem(label=seg["name"], renderers=[r], index=i)
                 for seg, i in zip(segments, first_row)]
    add_legend(fig, items, below=True)
    return fig


def share_bars_figure(rows: Sequence[str], segments: Sequence[dict], width: int = 300,
                      height: int | None = None):
    """Small horizontal stacked bars of shares on a fixed 0-100% axis, one bar per row.

    ``segments`` are dicts with ``name`` (legend text), ``color``, ``hatch`` (bool) and
    ``shares`` (one fraction per row, None where not measured)."""
    height = (height or 60 + 30 * len(rows)) + LEGEND_ROW * len(segments)
    fig = fit(figure(y_range=list(reversed(rows)), x_range=Range1d(0, 1), width=width,
                     height=height, tools="", toolbar_location=None))
    no_grid(fig)
    fig.xaxis.formatter = NumeralTickFormatter(format="0%")
    fig.xaxis.ticker = [0, 0.25, 0.5, 0.75, 1]
    columns: dict[str, list] = {k: [] for k in ("y", "left", "right", "name", "share", "color",
                                                "hatch")}
    left = np.zeros(len(rows))
    first_row = []
    for seg in segments:
        shares = np.array([0.0 if s is None else s for s in seg["shares"]], dtype=float)
        first_row.append(len(columns["y"]))
        columns["y"] += list(rows)
        columns["left"] += (left).tolist()
        columns["right"] += (left + shares).tolist()
        columns["name"] += [seg["name"]] * len(rows)
        columns["share"] += ["n/a" if s is None else pct(s) for s in seg["shares"]]
        columns["color"] += [seg["color"]] * len(rows)
        columns["hatch"] += ["/" if seg.get("hatch") else " "] * len(rows)
        left = left + shares
    items = []
    if segments:
        data = {k: np.asarray(v, np.float32) if k in ("left", "right") else strings(v)
                for k, v in columns.items()}
        r = draw(fig, ColumnDataSource(data), HBar,
                 dict(y="y", left="left", right="right", height=0.6, fill_color="color",
                      line_color="white", line_width=1, hatch_pattern="hatch",
                      hatch_color="#ffffff", hatch_alpha=0.6))
        fig.add_tools(HoverTool(renderers=[r], tooltips=[("class", "@y"), ("", "@name"),
                                                         ("share", "@share")]))
        items = [LegendItem(label=seg["name"], renderers=[r], index=i)
                 for seg, i in zip(segments, first_row)]
    add_legend(fig, items, below=True)
    return fig
