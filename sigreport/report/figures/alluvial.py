"""The alluvial diagram: an :class:`~sigreport.report.alluvial_layout.AlluvialLayout` drawn.

Nodes are quads, ribbons patches coloured by class (unseen classes' ribbons hatched too),
specific paths lettered on their ribbon into the prediction column; a page script keeps
the class labels and column names on the plot at a phone's width.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from bokeh.core.properties import value
from bokeh.models import ColumnDataSource, CustomJS, HoverTool, LabelSet, Patches, Quad, Range1d
from bokeh.plotting import figure

from sigreport.report.alluvial_layout import AlluvialLayout
from sigreport.report.figures.style import FONT, NODE_COLOR, TEXT, draw, fit, strings, tag_color
from sigreport.report.formatters import pct

__all__ = ["NARROWEST_PAGE", "alluvial_figure"]

# The narrowest page a report is laid out for (CSS pixels, a small phone), and half the
# width of a path's letter tag.
NARROWEST_PAGE = 360
_TAG_HALF = 8


def _alluvial_unit(width: float, left: float, right: float, need: float, gap: float,
                   tail: float) -> float:
    """Pixels per x unit of an alluvial diagram ``width`` pixels wide, with the margins its
    page script sets at that width (the figure's borders aside)."""
    inner = max(1.0, width - 20)
    start = max(left, (gap * inner + need * right) / max(1.0, inner - need))
    last = right - 0.45
    end = max(right, (last * inner + tail * start) / max(1.0, inner - tail))
    return inner / (end + start)


def alluvial_figure(layout: AlluvialLayout, colors: dict[int, str], class_label: dict[int, str],
                    node_label: list[dict[int, str]], height: int = 520,
                    path_owner: dict[str, int] | None = None, width: int | None = None,
                    title: str | None = None, font_size: int = 11,
                    ribbon_alpha: float = 0.32, name: str | None = None,
                    hatched: Sequence[int] = ()):
    """Draw an :class:`AlluvialLayout` with quads (nodes) and patches (ribbons).

    Parameters
    ----------
    colors:
        class id -> colour of its ribbons.
    class_label:
        class id -> text for hovers ("7", "3 (unseen)").
    node_label:
        per column, node key -> short label ("c3", "7").
    path_owner:
        specific path label -> its class; the label is drawn on that class's ribbon.
    width:
        Fixed width in pixels (small multiples); ``None`` stretches to the page.
    title, name:
        Figure title and Bokeh model name (``None``: none).
    font_size:
        Label size in pixels (column names one pixel larger).
    ribbon_alpha:
        Opacity of ribbons that are on no specific path.
    hatched:
        Classes whose ribbons are hatched as well as coloured (the unseen classes), so they
        stand apart without colour.
    """
    n_cols = len(layout.columns)
    pad = layout.height * 0.02
    size = {"sizing_mode": "stretch_width"} if width is None else {"width": width}
    left = 0.45
    # Room for the longest class label left of the first column (pixels).
    need = 0.6 * font_size * max((len(t) for t in node_label[0].values()), default=1) + 6
    gap, right = layout.node_width / 2 + 0.02, n_cols - 1 + 0.45
    if width is not None:
        room = width - 20
        left = max(left, (need * right + gap * room) / max(1.0, room - need))
    fig = figure(height=height, tools="", title=title, name=name,
                 x_range=Range1d(-left, n_cols - 1 + 0.45),
                 y_range=Range1d(layout.height + pad, -layout.height * 0.075),
                 toolbar_location=None, min_border_left=10, min_border_right=10,
                 x_axis_type=None, y_axis_type=None, **size)
    if width is not None:
        fit(fig)

    per_total: dict[int, int] = {}
    for node in layout.nodes:
        if node.col == 0:
            for c, k in node.by_class:
                per_total[c] = per_total.get(c, 0) + k
    rib = layout.ribbons
    highlighted = [bool(r.path) for r in rib]
    src_label = [node_label[r.col].get(r.src, str(r.src)) for r in rib]
    dst_label = [node_label[r.col + 1].get(r.dst, str(r.dst)) for r in rib]
    ribbons = ColumnDataSource({
        # Rounded numbers rather than arrays: Bokeh sends each array of a list as a buffer of
        # its own, about 200 bytes for a ribbon's 20 points. x in columns to 0.001 (under
        # 0.2 px), y in images to 0.1 (the diagram's smallest scale is several images a px).
        "xs": [r.xs.astype(np.float64).round(3).tolist() for r in rib],
        "ys": [r.ys.astype(np.float64).round(1).tolist() for r in rib],
        "color": [colors.get(r.cls, "#888888") for r in rib],
        "hatch": strings(["/" if r.cls in hatched else " " for r in rib]),
        "hatch_color": strings([tag_color(colors.get(r.cls, "#888888")) for r in rib]),
        "alpha": np.array([0.78 if h else ribbon_alpha for h in highlighted],
                          dtype=np.float32),
        "cls": [class_label.get(r.cls, str(r.cls)) for r in rib],
        "step": [f"{layout.columns[r.col]} {s} \u2192 {layout.columns[r.col + 1]} {d}"
                 for r, s, d in zip(rib, src_label, dst_label)],
        "count": [f"{r.count:,}" for r in rib],
        "share": [pct(r.count / max(1, per_total.get(r.cls, 1))) for r in rib],
        "path": [f"specific path {r.path}" if r.path else "no specific path"
                 for r in rib],
    })
    ribbon_r = draw(fig, ribbons, Patches,
                    dict(xs="xs", ys="ys", fill_color="color", fill_alpha="alpha",
                         line_color="color", line_alpha="alpha", line_width=0.4,
                         hatch_pattern="hatch", hatch_color="hatch_color", hatch_alpha=0.6,
                         hatch_scale=7, hatch_weight=1),
                    hover={"fill_alpha": 0.95, "line_color": TEXT, "line_alpha": 1.0})
    fig.add_tools(HoverTool(renderers=[ribbon_r], tooltips=[
        ("class", "@cls"), ("flow", "@step"), ("images", "@count (@share of the class)"),
        ("", "@path")]))

    nodes = layout.nodes
    w = layout.node_width / 2
    compositions, purities = [], []
    for node in nodes:
        parts = node.by_count()
        compositions.append(", ".join(f"{class_label.get(c, c)}: {k:,}" for c, k in parts))
        purities.append(pct(parts[0][1] / node.count) + f" ({class_label.get(parts[0][0])})"
                        if node.count else "")
    node_src = ColumnDataSource({
        "left": np.array([nd.col - w for nd in nodes], np.float32),
        "right": np.array([nd.col + w for nd in nodes], np.float32),
        "top": np.array([nd.y0 for nd in nodes], np.float32),
        "bottom": np.array([nd.y1 for nd in nodes], np.float32),
        "color": [colors.get(nd.key, NODE_COLOR) if nd.col == 0 else NODE_COLOR
                  for nd in nodes],
        "column": [layout.columns[nd.col] for nd in nodes],
        "node": [node_label[nd.col].get(nd.key, str(nd.key)) for nd in nodes],
        "count": [f"{nd.count:,}" for nd in nodes],
        "purity": purities,
        "composition": compositions,
    })
    node_r = draw(fig, node_src, Quad,
                  dict(left="left", right="right", top="top", bottom="bottom",
                       fill_color="color", line_color="white", line_width=0.5),
                  hover={"fill_color": "#000000"})
    fig.add_tools(HoverTool(renderers=[node_r], tooltips=[
        ("node", "@column @node"), ("images", "@count"), ("purity", "@purity"),
        ("by class", "@composition")]))

    # Node labels: left of the first column, right of the others, when tall enough.
    min_h = layout.height * 0.028
    lx, ly, lt, align = [], [], [], []
    for nd in nodes:
        if nd.y1 - nd.y0 < min_h and nd.col not in (0, n_cols - 1):
            continue
        label = node_label[nd.col].get(nd.key, str(nd.key))
        if nd.col == 0:
            lx.append(nd.col - w - 0.02)
            align.append("right")
        else:
            lx.append(nd.col + w + 0.015)
            align.append("left")
        ly.append((nd.y0 + nd.y1) / 2)
        lt.append(label)
    fig.add_layout(LabelSet(x="x", y="y", text="text", text_align="align",
                            source=ColumnDataSource({"x": lx, "y": ly, "text": lt,
                                                     "align": align}),
                            text_baseline="middle", text_font=value(FONT),
                            text_font_size=f"{font_size}px", text_color=TEXT))
    # Letter tags of specific paths, on their ribbon into the prediction column, clear of
    # the last hidden column's node labels even on the narrowest page (a phone), and
    # staggered along the ribbon so tags of neighbouring paths do not overlap.
    tx, ty, tt, tc = [], [], [], []
    thick = layout.height * 0.018
    seen: set[str] = set()
    placed: list[tuple[int, float]] = []
    n_pts = len(rib[0].xs) // 2 if rib else 0
    # room right of the last column for half its name (the page script keeps it too)
    tail = 0.3 * (font_size + 1) * len(layout.columns[-1]) + 4
    unit = _alluvial_unit(width or NARROWEST_PAGE, left, right, need, gap, tail)
    label_px = 0.6 * font_size * max((len(t) for t in node_label[n_cols - 2].values()),
                                     default=1) + 4
    clear = (n_cols - 2 + w + 0.015 + (label_px + _TAG_HALF) / unit,
             n_cols - 1 - w - _TAG_HALF / unit)
    for r in sorted(rib, key=lambda r: -r.count):
        if not r.path or r.col != n_cols - 2 or r.path in seen or r.count < thick:
            continue
        if path_owner is not None and r.path not in path_owner:
            continue
        if path_owner is not None and path_owner.get(r.path) != r.cls:
            continue
        slots = [s for s in (n_pts // 2, 5 * n_pts // 8, 3 * n_pts // 4, 3 * n_pts // 8,
                             7 * n_pts // 8, n_pts // 4)
                 if clear[0] <= r.xs[s] <= clear[1]] or [n_pts // 2]
        for slot in slots:
            y = float(r.ys[slot]) + r.count / 2
            if all(s != slot or abs(y - py) > layout.height * 0.03 for s, py in placed):
                break
        else:
            continue
        seen.add(r.path)
        placed.append((slot, y))
        tx.append(float(r.xs[slot]))
        ty.append(y)
        tt.append(r.path)
        tc.append(tag_color(colors.get(r.cls, "#888888")))
    if tt:
        fig.add_layout(LabelSet(
            x="x", y="y", text="text", source=ColumnDataSource({"x": tx, "y": ty, "text": tt,
                                                                "color": tc}),
            text_align="center", text_baseline="middle", text_font=value(FONT),
            text_font_size="11px", text_font_style="bold", text_color="#ffffff",
            background_fill_color="color", background_fill_alpha=0.95,
            border_line_color="color"))
    top = -layout.height * 0.035
    columns = ColumnDataSource({"x": list(range(n_cols)), "y": [top] * n_cols,
                                "text": list(layout.columns)})
    fig.add_layout(LabelSet(
        x="x", y="y", text="text", source=columns,
        text_align="center", text_baseline="middle", text_font=value(FONT),
        text_font_size=f"{font_size + 1}px", text_font_style="bold", text_color=TEXT))
    # At a narrow width (a phone), widen the left margin so the class labels fit, and put
    # every other column name on a second row when neighbours would collide.
    longest = 0.6 * (font_size + 1) * max(len(c) for c in layout.columns)
    fig.js_on_change("inner_width", CustomJS(args=dict(
        x_range=fig.x_range, y_range=fig.y_range, columns=columns, need=need, gap=gap,
        right=right, left=left, longest=longest, tail=tail, top=top, h=layout.height),
        code="""
        const W = cb_obj.inner_width;
        if (!(W > 0)) { return; }
        x_range.start = -Math.max(left, (gap * W + need * right) / Math.max(1, W - need));
        // ... and the right margin so half the last column's name fits beside it.
        const last = right - 0.45;
        x_range.end = Math.max(right, (last * W - tail * x_range.start) / Math.max(1, W - tail));
        const unit = W / (x_range.end - x_range.start);
        const stagger = longest + 6 > unit;
        columns.data.y = columns.data.x.map((x, i) => stagger && i % 2 ? top * 2.6 : top);
        y_range.end = stagger ? -h * 0.12 : -h * 0.075;
        columns.change.emit();
    """))
    return fig
