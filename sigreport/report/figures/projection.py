"""Small multiples of 2-D projections, one per layer, linked by one data source.

A box or lasso selection in one layer lights the same points up in every other; a tap
shows a point's tooltip on a touch screen.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from bokeh.models import ColumnDataSource, CustomJS, HoverTool, Scatter
from bokeh.plotting import figure

from sigreport.report.figures.style import FONT, MUTED, fit, selectable, strings

__all__ = ["projection_figure"]


def projection_figure(xy: dict[str, np.ndarray], layers: Sequence[str], titles: Sequence[str],
                      point_color: Sequence[str], point_marker: Sequence[str],
                      point_info: dict[str, Sequence[str]], cluster_label: dict[str, Sequence[str]],
                      cluster_color: dict[str, Sequence[str]], thumbs: Sequence[str] | None,
                      size: int = 300, thumb_shape: tuple[int, int] = (28, 28)) -> list:
    """Small multiples of 2-D projections, one per layer, sharing one data source.

    Sharing the ColumnDataSource links selection: points picked with the box or
    lasso tool in one layer light up in every other layer. Each panel has two
    scatter renderers on that source, "by class" (visible) and "by cluster"
    (hidden), named ``proj-class-<i>`` and ``proj-cluster-<i>`` so a page
    script can switch them.

    Parameters
    ----------
    xy:
        layer -> float32 (n_points, 2).
    point_color, point_marker:
        (n_points,) class colour and marker ("circle" for trained, "triangle" for probes).
    point_info:
        column name -> (n_points,) strings shown in the hover ("label", "pred", "path").
    cluster_label, cluster_color:
        layer -> (n_points,) cluster ("cluster c3", "unassigned") and colour.
    thumbs:
        (n_points,) PNG data URIs of each point's image, or None (inputs that are no images).
    thumb_shape:
        (height, width) of those images; the hover shows them 56 px on the longer side.
    """
    # numpy string arrays, not lists: Bokeh walks lists item by item looking for models.
    data: dict[str, object] = {"color": strings(point_color), "marker": strings(point_marker)}
    image = ""
    if thumbs is not None:
        data["thumb"] = strings(thumbs)
        scale = 56 / max(thumb_shape)
        image = (f'<img src="@thumb" width="{round(thumb_shape[1] * scale)}" '
                 f'height="{round(thumb_shape[0] * scale)}" alt="digit" '
                 'style="image-rendering:pixelated;border:1px solid #ddd">')
    data.update({k: strings(v) for k, v in point_info.items()})
    for i, layer in enumerate(layers):
        data[f"x{i}"] = np.asarray(xy[layer][:, 0], np.float32)
        data[f"y{i}"] = np.asarray(xy[layer][:, 1], np.float32)
        data[f"c{i}"] = strings(cluster_label[layer])
        data[f"cc{i}"] = strings(cluster_color[layer])
    source = ColumnDataSource(data)
    point = {"size": 6, "line_color": "white", "line_width": 0.4, "marker": "marker"}
    panels = []
    for i, title in enumerate(titles):
        # Pan is the default drag with a mouse (a swipe never selects by accident); the page
        # script makes a one-finger drag scroll the page on a touch screen, and its buttons
        # above the panels switch the drag between scrolling, panning, box and lasso.
        fig = fit(figure(width=size, height=size, title=title,
                         tools="pan,wheel_zoom,box_select,lasso_select,reset",
                         active_drag="pan", active_scroll=None, toolbar_location="above"))
        fig.toolbar.autohide = True
        fig.axis.major_label_text_font_size = "9px"
        fig.axis.ticker.desired_num_ticks = 4
        by_class = selectable(fig, source, Scatter, dict(
            x=f"x{i}", y=f"y{i}", fill_color="color", fill_alpha=0.75, **point),
            name=f"proj-class-{i}")
        by_cluster = selectable(fig, source, Scatter, dict(
            x=f"x{i}", y=f"y{i}", fill_color=f"cc{i}", fill_alpha=0.8, **point),
            name=f"proj-cluster-{i}", visible=False)
        tooltip = (
            '<div style="display:flex;gap:8px;align-items:center;font:12px ' + FONT + '">'
            + image + "<div><b>@label</b><br>predicted @pred<br>"
            f"@c{i}<br><span style=\"color:{MUTED}\">path @path</span></div></div>"
        )
        hover = HoverTool(renderers=[by_class, by_cluster], tooltips=tooltip)
        fig.add_tools(hover)
        # A touch screen has no hover: a tap shows the tooltip of the point under the finger
        # (or hides it, off every point), through the hover tool's own view.
        fig.js_on_event("tap", CustomJS(args={"hover": hover}, code=_TAP_SHOWS_HOVER))
        panels.append(fig)
    return panels


# After the tap, the finger's pointer leaves the plot and hides the tooltip: show it after that.
_TAP_SHOWS_HOVER = """
const view = Bokeh.index.find_one(hover);
const at = {sx: cb_obj.sx, sy: cb_obj.sy};
if (view != null) { setTimeout(() => view._move(at), 0); }
"""
