"""Bokeh figures from numbers: no file, no template, no network.

Every function takes plain values (metrics entries, numpy arrays, colours)
and returns a Bokeh model, or a list of panels that the page lays out side by
side and stacks at narrow widths. Panels keep their width on a wide screen and
scale down with their column (``sizing_mode="scale_width"`` up to that width).
Colours come from :func:`class_palette`, so a class has the same colour in
every figure: trained classes from the front of :data:`CLASS_PALETTE` (blues,
purples, greens), unseen classes from its back (orange, rust, salmon), ten
colours that stay apart for readers with any of the three colour-vision
deficiencies. Where colour tells classes or paths apart, a second cue does too:
unseen classes' ribbons are hatched, bar segments are labelled. Axes, grids,
titles and toolbars are styled by :data:`THEME`, which the report sets on the
documents that hold the figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from bokeh.core.properties import value
from bokeh.models import (
    BasicTicker,
    BoxAnnotation,
    ColumnDataSource,
    CustomJS,
    Grid,
    HBar,
    HoverTool,
    LabelSet,
    Legend,
    LegendItem,
    Line,
    LinearAxis,
    NumeralTickFormatter,
    Patches,
    Quad,
    Range1d,
    Rect,
    Scatter,
    Span,
    Text,
    Whisker,
)
from bokeh.palettes import interp_palette
from bokeh.plotting import figure
from bokeh.themes import Theme
from bokeh.transform import linear_cmap

from sigreport.report.formatters import pct

__all__ = [
    "CLASS_PALETTE",
    "NOVEL_COLOR",
    "THEME",
    "UNASSIGNED_COLOR",
    "AlluvialLayout",
    "alluvial_figure",
    "cka_figure",
    "class_palette",
    "cluster_palette",
    "contrast_ratio",
    "heatmap_figure",
    "layout_alluvial",
    "path_share_figure",
    "projection_figure",
    "rate_by_layer_figure",
    "roc_figure",
    "separation_figure",
    "share_bars_figure",
    "snapshot_figure",
    "tag_color",
    "training_figure",
]

# Ten colours, any two at least 20 apart in CAM02-UCS as seen with full deuteranopia,
# protanopia or tritanopia (simulated as in colorspacious) and with normal vision, and at
# least 23 from the white page. Found by a search over sRGB for the largest smallest distance,
# then ordered: trained classes take them from the front, unseen classes from the back, so the
# classes of one report (ten at most) never share a colour.
CLASS_PALETTE = ("#227fff", "#582a5c", "#51ea00", "#caacee", "#3400d4",
                 "#595e58", "#9d779a", "#e89791", "#7d0e00", "#d44a00")
NOVEL_COLOR = "#3d3d3d"
OTHER_COLOR = "#d4d4d4"
UNASSIGNED_COLOR = "#7c8088"  # paths through an unassigned layer
NODE_COLOR = "#3a3f47"
_TEXT = "#2b2f36"
_MUTED = "#6b7280"
_FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"


def class_palette(classes: Sequence[int], probe_classes: Sequence[int]) -> dict[int, str]:
    """One colour per class id: trained classes from the front of :data:`CLASS_PALETTE`,
    probes from its back (distinct for up to ten classes in all; more repeat colours)."""
    n = len(CLASS_PALETTE)
    colors = {c: CLASS_PALETTE[i % n] for i, c in enumerate(classes)}
    colors.update({c: CLASS_PALETTE[-1 - i % n] for i, c in enumerate(probe_classes)})
    return colors


def _mix(hex_color: str, t: float) -> str:
    """Lighten (t > 0, towards white) or darken (t < 0, towards black) a #rrggbb colour."""
    rgb = np.array([int(hex_color[i:i + 2], 16) for i in (1, 3, 5)], dtype=float)
    target = 255.0 if t > 0 else 0.0
    out = rgb + (target - rgb) * abs(t)
    return "#" + "".join(f"{round(float(v)):02x}" for v in np.clip(out, 0, 255))


def _luminance(hex_color: str) -> float:
    rgb = np.array([int(hex_color[i:i + 2], 16) / 255 for i in (1, 3, 5)])
    rgb = np.where(rgb <= 0.03928, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    return float(rgb @ np.array([0.2126, 0.7152, 0.0722]))


def contrast_ratio(a: str, b: str) -> float:
    """WCAG contrast ratio of two #rrggbb colours (1 to 21; AA text needs 4.5)."""
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def _readable_on(background: str) -> str:
    """Dark text or white, whichever contrasts more with ``background``."""
    return max((_TEXT, "#ffffff"), key=lambda c: contrast_ratio(c, background))


def tag_color(hex_color: str) -> str:
    """The colour darkened just enough for white text on it to reach 4.5:1 (WCAG AA)."""
    for t in np.linspace(0.0, 1.0, 41):
        out = _mix(hex_color, -float(t)) if t else hex_color
        if contrast_ratio(out, "#ffffff") >= 4.5:
            return out
    return "#000000"


def cluster_palette(dominant: Sequence[int | None], colors: dict[int, str]) -> list[str]:
    """A colour per cluster: a shade of its dominant class's colour.

    Clusters that share a dominant class get distinct shades (dark to light),
    so "coloured by cluster" still reads as "which class owns this cluster".
    """
    out: list[str] = []
    groups: dict[int | None, list[int]] = {}
    for k, cls in enumerate(dominant):
        groups.setdefault(cls, []).append(k)
    shade = {}
    for members in groups.values():
        n = len(members)
        for rank, k in enumerate(members):
            shade[k] = -0.35 + 0.8 * rank / (n - 1) if n > 1 else 0.0
    for k, cls in enumerate(dominant):
        base = colors.get(cls, "#888888") if cls is not None else "#888888"
        out.append(_mix(base, shade[k]))
    return out


THEME = Theme(json={"attrs": {
    # Only what differs from Bokeh's defaults: a themed value is written out on every model.
    "Plot": {"outline_line_color": None},
    "Toolbar": {"logo": None},
    "Axis": {"axis_line_color": "#9ca3af", "major_tick_line_color": "#9ca3af",
             "minor_tick_line_color": None, "major_label_text_color": _TEXT,
             "major_label_text_font": _FONT, "axis_label_text_font": _FONT,
             "axis_label_text_font_size": "12px", "axis_label_text_font_style": "normal",
             "axis_label_text_color": _MUTED},
    "Grid": {"grid_line_color": "#eceef1"},
    "Title": {"text_font": _FONT, "text_color": _TEXT},
}})
"""The look of every figure; the report applies it to the document that holds them."""

# CKA heatmap: near-white at 0 to dark blue at 1.
_SEQUENTIAL = interp_palette(("#f7f9fc", "#1c3f73"), 256)


def _fit(fig):
    """Keep ``fig``'s size on a wide page; below its width, scale it down with its column."""
    fig.sizing_mode = "scale_width"
    fig.max_width = fig.width
    return fig


def _no_grid(fig) -> None:
    """Take the grids out (hidden ones would still be built, sent and laid out)."""
    fig.center = [r for r in fig.center if not isinstance(r, Grid)]


LEGEND_ROW = 18  # pixels per row of a legend drawn below a plot
# A legend below a plot is no wider than the plot: on a narrow screen a long label wraps
# onto a second line (Bokeh lays the legend out as HTML, each label on one line otherwise).
_WRAP_LEGEND = (":host { max-width: calc(100% - 4px); }"
                " .bk-grid { width: auto; max-width: 100%;"
                "   grid-template-columns: repeat(var(--ncols), minmax(0, max-content)); }"
                " .bk-item, .bk-label { min-width: 0; }"
                " .bk-label { white-space: pre-wrap; width: auto; }")


def _legend(fig, items: list[tuple[str, list] | LegendItem], location: str = "top_left",
            below: bool = False, ncols: int = 1) -> None:
    """A legend inside the plot at ``location``, or ``below`` it (off the data) in ``ncols``.

    ``items`` are (label, renderers) pairs or legend items."""
    legend = Legend(items=[i if isinstance(i, LegendItem) else LegendItem(label=i[0],
                                                                          renderers=i[1])
                           for i in items],
                    location=location, label_text_font=_FONT, label_text_font_size="11px",
                    background_fill_alpha=0.85, border_line_color=None, spacing=1,
                    padding=4, glyph_height=14, glyph_width=18)
    if below:
        legend.location = "top_left"
        legend.ncols = ncols
        legend.stylesheets = [_WRAP_LEGEND]
        fig.add_layout(legend, "below")
    else:
        fig.add_layout(legend)


def _strings(values: Sequence[str]) -> np.ndarray:
    return np.asarray(list(values), dtype=str)


def _draw(fig, source: ColumnDataSource, glyph_type: type, look: dict,
          hover: dict | None = None, **renderer):
    """Draw a ``glyph_type`` glyph with properties ``look`` from ``source`` on ``fig``.

    One glyph model per renderer, plus one with ``hover`` changed where the pointer is:
    bokeh.plotting's glyph methods also build a non-selection and a muted copy of every
    glyph, which only a figure that selects or mutes uses (BokehJS derives them itself
    when asked). Each model costs time to build and serialize, and bytes on the page.
    """
    hover_glyph = glyph_type(**{**look, **hover}) if hover else None
    return fig.add_glyph(source, glyph_type(**look), hover_glyph=hover_glyph, **renderer)


def _selectable(fig, source: ColumnDataSource, glyph_type: type, look: dict, **renderer):
    """Draw points that box and lasso selection pick: the picked ones outlined, the others
    faded almost out."""
    return fig.add_glyph(
        source, glyph_type(**look), **renderer,
        selection_glyph=glyph_type(**{**look, "line_color": "#111111", "line_width": 0.8}),
        nonselection_glyph=glyph_type(**{**look, "fill_alpha": 0.08, "line_alpha": 0.0}))


# --- alluvial diagram ------------------------------------------------------------------


@dataclass(frozen=True)
class AlluvialLayout:
    """Geometry and counts of an alluvial diagram.

    ``nodes`` are dicts with ``col``, ``key`` (node id within its column),
    ``y0``/``y1`` (top and bottom, in sample units), ``count`` and ``by_class``
    ({class id: count}); ``ribbons`` are dicts with ``col`` (left column),
    ``src``/``dst`` node keys, ``cls``, ``count``, ``path`` (specific path label
    or ""), and ``xs``/``ys`` float32 polygon coordinates.
    """

    columns: tuple[str, ...]
    nodes: list[dict] = field(default_factory=list)
    ribbons: list[dict] = field(default_factory=list)
    height: float = 0.0
    node_width: float = 0.1


def _smooth(n: int) -> np.ndarray:
    t = np.linspace(0.0, 1.0, n)
    return t * t * (3 - 2 * t)


def layout_alluvial(node_ids: np.ndarray, sample_class: np.ndarray, class_order: Sequence[int],
                    columns: Sequence[str], path_label: Sequence[str] | None = None,
                    gap: float = 0.035, node_width: float = 0.09,
                    n_curve: int = 14) -> AlluvialLayout:
    """Place the nodes and ribbons of an alluvial diagram.

    Parameters
    ----------
    node_ids:
        int64 (n_samples, n_columns): each sample's node in each column (column 0
        is usually the true class, the last the predicted class).
    sample_class:
        int64 (n_samples,): the class that colours each sample's ribbons.
    class_order:
        Class ids in display order (trained classes, then probes).
    columns:
        One name per column.
    path_label:
        (n_samples,) str: the label of the specific path each sample takes, "" if none.
        Ribbons are split by it, so specific paths can be drawn highlighted.
    gap:
        Space between nodes as a fraction of the number of samples.

    Returns
    -------
    AlluvialLayout
        Nodes ordered to limit crossings: the first and last columns follow
        ``class_order`` when their ids are class ids; the others are ordered by
        the mean position of their samples in the previous column, then refined
        by a backward pass.
    """
    node_ids = np.asarray(node_ids, dtype=np.int64)
    n, n_cols = node_ids.shape
    labels = (np.full(n, "", dtype=object) if path_label is None
              else np.asarray(path_label, dtype=object))
    rank_of_class = {c: i for i, c in enumerate(class_order)}
    g = max(1.0, gap * n)

    def place(order: list[int], col: int) -> dict[int, tuple[float, float]]:
        y, out = 0.0, {}
        for key in order:
            size = int(np.sum(node_ids[:, col] == key))
            out[key] = (y, y + size)
            y += size + g
        return out

    def class_like_order(col: int) -> list[int]:
        keys = np.unique(node_ids[:, col]).tolist()
        return sorted(keys, key=lambda k: (rank_of_class.get(k, len(class_order) + k)))

    def bary_order(col: int, ref_col: int, ref: dict[int, tuple[float, float]]) -> list[int]:
        keys = np.unique(node_ids[:, col]).tolist()
        ref_keys = np.array(sorted(ref), dtype=np.int64)
        centre = np.array([(ref[k][0] + ref[k][1]) / 2 for k in ref_keys.tolist()])
        ref_y = centre[np.searchsorted(ref_keys, node_ids[:, ref_col])]
        mean = {k: float(ref_y[node_ids[:, col] == k].mean()) for k in keys}
        # Noise (-1) always goes last.
        return sorted(keys, key=lambda k: (k < 0, mean[k], k))

    orders: list[list[int]] = [[] for _ in range(n_cols)]
    pos: list[dict] = [{} for _ in range(n_cols)]
    orders[0] = class_like_order(0)
    pos[0] = place(orders[0], 0)
    for col in range(1, n_cols):
        if col == n_cols - 1 and all(k in rank_of_class for k in np.unique(node_ids[:, col])):
            orders[col] = class_like_order(col)
        else:
            orders[col] = bary_order(col, col - 1, pos[col - 1])
        pos[col] = place(orders[col], col)
    for col in range(n_cols - 2, 0, -1):  # backward refinement of the middle columns
        fwd = {k: (a + b) / 2 for k, (a, b) in pos[col].items()}
        back_keys = bary_order(col, col + 1, pos[col + 1])
        back = {k: i for i, k in enumerate(back_keys)}
        fwd_rank = {k: i for i, k in enumerate(sorted(fwd, key=lambda k: fwd[k]))}
        orders[col] = sorted(orders[col], key=lambda k: (k < 0, fwd_rank[k] + back[k], k))
        pos[col] = place(orders[col], col)
    height = max(max(b for _a, b in p.values()) for p in pos if p)
    # Centre shorter columns vertically.
    for col in range(n_cols):
        top = max(b for _a, b in pos[col].values())
        shift = (height - top) / 2
        pos[col] = {k: (a + shift, b + shift) for k, (a, b) in pos[col].items()}

    layout = AlluvialLayout(columns=tuple(columns), height=float(height), node_width=node_width)
    for col in range(n_cols):
        for key in orders[col]:
            mask = node_ids[:, col] == key
            classes, counts = np.unique(sample_class[mask], return_counts=True)
            y0, y1 = pos[col][key]
            layout.nodes.append({"col": col, "key": int(key), "y0": y0, "y1": y1,
                                 "count": int(mask.sum()),
                                 "by_class": {int(c): int(k) for c, k in zip(classes, counts)}})

    curve = _smooth(n_curve)
    labels_sorted = sorted({str(p) for p in labels if p})
    label_rank = {p: i for i, p in enumerate(labels_sorted)}
    # Each sample's label as its rank (-1: none), so ribbons are counted in numpy.
    label_id = np.array([label_rank[str(p)] if p else -1 for p in labels.tolist()],
                        dtype=np.int64)
    for col in range(n_cols - 1):
        src, dst = node_ids[:, col], node_ids[:, col + 1]
        keys, counts = np.unique(np.stack([src, dst, sample_class, label_id], axis=1), axis=0,
                                 return_counts=True)
        groups: dict[tuple, int] = {
            (s, d, c, labels_sorted[lab] if lab >= 0 else ""): n
            for (s, d, c, lab), n in zip(keys.tolist(), counts.tolist())}
        src_pos = {k: i for i, k in enumerate(orders[col])}
        dst_pos = {k: i for i, k in enumerate(orders[col + 1])}

        def lab_key(lab: str) -> int:
            return label_rank.get(lab, -1)

        out_order = sorted(groups, key=lambda k: (src_pos[k[0]], dst_pos[k[1]],
                                                  rank_of_class.get(k[2], 99), lab_key(k[3])))
        in_order = sorted(groups, key=lambda k: (dst_pos[k[1]], src_pos[k[0]],
                                                 rank_of_class.get(k[2], 99), lab_key(k[3])))
        y_out = {k: pos[col][k][0] for k in orders[col]}
        y_in = {k: pos[col + 1][k][0] for k in orders[col + 1]}
        start, end = {}, {}
        for k in out_order:
            start[k] = y_out[k[0]]
            y_out[k[0]] += groups[k]
        for k in in_order:
            end[k] = y_in[k[1]]
            y_in[k[1]] += groups[k]
        x0, x1 = col + node_width / 2, col + 1 - node_width / 2
        xs_edge = x0 + (x1 - x0) * np.linspace(0.0, 1.0, n_curve)
        for k in out_order:
            count = groups[k]
            a, b = start[k], end[k]
            top = a + (b - a) * curve
            bottom = top + count
            xs = np.concatenate([xs_edge, xs_edge[::-1]]).astype(np.float32)
            ys = np.concatenate([top, bottom[::-1]]).astype(np.float32)
            layout.ribbons.append({"col": col, "src": k[0], "dst": k[1], "cls": k[2],
                                   "path": k[3], "count": count, "xs": xs, "ys": ys})
    return layout


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
        _fit(fig)

    per_total: dict[int, int] = {}
    for node in layout.nodes:
        if node["col"] == 0:
            for c, k in node["by_class"].items():
                per_total[c] = per_total.get(c, 0) + k
    rib = layout.ribbons
    highlighted = [bool(r["path"]) for r in rib]
    src_label = [node_label[r["col"]].get(r["src"], str(r["src"])) for r in rib]
    dst_label = [node_label[r["col"] + 1].get(r["dst"], str(r["dst"])) for r in rib]
    ribbons = ColumnDataSource({
        "xs": [r["xs"] for r in rib],
        "ys": [r["ys"] for r in rib],
        "color": [colors.get(r["cls"], "#888888") for r in rib],
        "hatch": _strings(["/" if r["cls"] in hatched else " " for r in rib]),
        "hatch_color": _strings([tag_color(colors.get(r["cls"], "#888888")) for r in rib]),
        "alpha": np.array([0.78 if h else ribbon_alpha for h in highlighted],
                          dtype=np.float32),
        "cls": [class_label.get(r["cls"], str(r["cls"])) for r in rib],
        "step": [f"{layout.columns[r['col']]} {s} \u2192 {layout.columns[r['col'] + 1]} {d}"
                 for r, s, d in zip(rib, src_label, dst_label)],
        "count": [f"{r['count']:,}" for r in rib],
        "share": [pct(r["count"] / max(1, per_total.get(r["cls"], 1))) for r in rib],
        "path": [f"specific path {r['path']}" if r["path"] else "no specific path"
                 for r in rib],
    })
    ribbon_r = _draw(fig, ribbons, Patches,
                     dict(xs="xs", ys="ys", fill_color="color", fill_alpha="alpha",
                          line_color="color", line_alpha="alpha", line_width=0.4,
                          hatch_pattern="hatch", hatch_color="hatch_color", hatch_alpha=0.6,
                          hatch_scale=7, hatch_weight=1),
                     hover={"fill_alpha": 0.95, "line_color": _TEXT, "line_alpha": 1.0})
    fig.add_tools(HoverTool(renderers=[ribbon_r], tooltips=[
        ("class", "@cls"), ("flow", "@step"), ("images", "@count (@share of the class)"),
        ("", "@path")]))

    nodes = layout.nodes
    w = layout.node_width / 2
    compositions, purities = [], []
    for node in nodes:
        parts = sorted(node["by_class"].items(), key=lambda kv: -kv[1])
        compositions.append(", ".join(f"{class_label.get(c, c)}: {k:,}" for c, k in parts))
        purities.append(pct(parts[0][1] / node["count"]) + f" ({class_label.get(parts[0][0])})"
                        if node["count"] else "")
    node_src = ColumnDataSource({
        "left": np.array([nd["col"] - w for nd in nodes], np.float32),
        "right": np.array([nd["col"] + w for nd in nodes], np.float32),
        "top": np.array([nd["y0"] for nd in nodes], np.float32),
        "bottom": np.array([nd["y1"] for nd in nodes], np.float32),
        "color": [colors.get(nd["key"], NODE_COLOR) if nd["col"] == 0 else NODE_COLOR
                  for nd in nodes],
        "column": [layout.columns[nd["col"]] for nd in nodes],
        "node": [node_label[nd["col"]].get(nd["key"], str(nd["key"])) for nd in nodes],
        "count": [f"{nd['count']:,}" for nd in nodes],
        "purity": purities,
        "composition": compositions,
    })
    node_r = _draw(fig, node_src, Quad,
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
        if nd["y1"] - nd["y0"] < min_h and nd["col"] not in (0, n_cols - 1):
            continue
        label = node_label[nd["col"]].get(nd["key"], str(nd["key"]))
        if nd["col"] == 0:
            lx.append(nd["col"] - w - 0.02)
            align.append("right")
        else:
            lx.append(nd["col"] + w + 0.015)
            align.append("left")
        ly.append((nd["y0"] + nd["y1"]) / 2)
        lt.append(label)
    fig.add_layout(LabelSet(x="x", y="y", text="text", text_align="align",
                            source=ColumnDataSource({"x": lx, "y": ly, "text": lt,
                                                     "align": align}),
                            text_baseline="middle", text_font=value(_FONT),
                            text_font_size=f"{font_size}px", text_color=_TEXT))
    # Letter tags of specific paths, on their ribbon into the prediction column, clear of
    # the last hidden column's node labels even on the narrowest page (a phone), and
    # staggered along the ribbon so tags of neighbouring paths do not overlap.
    tx, ty, tt, tc = [], [], [], []
    thick = layout.height * 0.018
    seen: set[str] = set()
    placed: list[tuple[int, float]] = []
    n_pts = len(rib[0]["xs"]) // 2 if rib else 0
    # room right of the last column for half its name (the page script keeps it too)
    tail = 0.3 * (font_size + 1) * len(layout.columns[-1]) + 4
    unit = _alluvial_unit(width or NARROWEST_PAGE, left, right, need, gap, tail)
    label_px = 0.6 * font_size * max((len(t) for t in node_label[n_cols - 2].values()),
                                     default=1) + 4
    clear = (n_cols - 2 + w + 0.015 + (label_px + _TAG_HALF) / unit,
             n_cols - 1 - w - _TAG_HALF / unit)
    for r in sorted(rib, key=lambda r: -r["count"]):
        if not r["path"] or r["col"] != n_cols - 2 or r["path"] in seen or r["count"] < thick:
            continue
        if path_owner is not None and r["path"] not in path_owner:
            continue
        if path_owner is not None and path_owner.get(r["path"]) != r["cls"]:
            continue
        slots = [s for s in (n_pts // 2, 5 * n_pts // 8, 3 * n_pts // 4, 3 * n_pts // 8,
                             7 * n_pts // 8, n_pts // 4)
                 if clear[0] <= r["xs"][s] <= clear[1]] or [n_pts // 2]
        for slot in slots:
            y = float(r["ys"][slot]) + r["count"] / 2
            if all(s != slot or abs(y - py) > layout.height * 0.03 for s, py in placed):
                break
        else:
            continue
        seen.add(r["path"])
        placed.append((slot, y))
        tx.append(float(r["xs"][slot]))
        ty.append(y)
        tt.append(r["path"])
        tc.append(tag_color(colors.get(r["cls"], "#888888")))
    if tt:
        fig.add_layout(LabelSet(
            x="x", y="y", text="text", source=ColumnDataSource({"x": tx, "y": ty, "text": tt,
                                                                "color": tc}),
            text_align="center", text_baseline="middle", text_font=value(_FONT),
            text_font_size="11px", text_font_style="bold", text_color="#ffffff",
            background_fill_color="color", background_fill_alpha=0.95,
            border_line_color="color"))
    top = -layout.height * 0.035
    columns = ColumnDataSource({"x": list(range(n_cols)), "y": [top] * n_cols,
                                "text": list(layout.columns)})
    fig.add_layout(LabelSet(
        x="x", y="y", text="text", source=columns,
        text_align="center", text_baseline="middle", text_font=value(_FONT),
        text_font_size=f"{font_size + 1}px", text_font_style="bold", text_color=_TEXT))
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


# --- projections -----------------------------------------------------------------------


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
    data: dict[str, object] = {"color": _strings(point_color), "marker": _strings(point_marker)}
    image = ""
    if thumbs is not None:
        data["thumb"] = _strings(thumbs)
        scale = 56 / max(thumb_shape)
        image = (f'<img src="@thumb" width="{round(thumb_shape[1] * scale)}" '
                 f'height="{round(thumb_shape[0] * scale)}" alt="digit" '
                 'style="image-rendering:pixelated;border:1px solid #ddd">')
    data.update({k: _strings(v) for k, v in point_info.items()})
    for i, layer in enumerate(layers):
        data[f"x{i}"] = np.asarray(xy[layer][:, 0], np.float32)
        data[f"y{i}"] = np.asarray(xy[layer][:, 1], np.float32)
        data[f"c{i}"] = _strings(cluster_label[layer])
        data[f"cc{i}"] = _strings(cluster_color[layer])
    source = ColumnDataSource(data)
    point = {"size": 6, "line_color": "white", "line_width": 0.4, "marker": "marker"}
    panels = []
    for i, title in enumerate(titles):
        # Pan is the default drag with a mouse (a swipe never selects by accident); the page
        # script makes a one-finger drag scroll the page on a touch screen, and its buttons
        # above the panels switch the drag between scrolling, panning, box and lasso.
        fig = _fit(figure(width=size, height=size, title=title,
                          tools="pan,wheel_zoom,box_select,lasso_select,reset",
                          active_drag="pan", active_scroll=None, toolbar_location="above"))
        fig.toolbar.autohide = True
        fig.axis.major_label_text_font_size = "9px"
        fig.axis.ticker.desired_num_ticks = 4
        by_class = _selectable(fig, source, Scatter, dict(
            x=f"x{i}", y=f"y{i}", fill_color="color", fill_alpha=0.75, **point),
            name=f"proj-class-{i}")
        by_cluster = _selectable(fig, source, Scatter, dict(
            x=f"x{i}", y=f"y{i}", fill_color=f"cc{i}", fill_alpha=0.8, **point),
            name=f"proj-cluster-{i}", visible=False)
        tooltip = (
            '<div style="display:flex;gap:8px;align-items:center;font:12px ' + _FONT + '">'
            + image + "<div><b>@label</b><br>predicted @pred<br>"
            f"@c{i}<br><span style=\"color:{_MUTED}\">path @path</span></div></div>"
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


# --- class x cluster heatmaps ------------------------------------------------------------


def heatmap_figure(layers: Sequence[dict], row_classes: Sequence[int], probe_classes: Sequence[int],
                   colors: dict[int, str], class_label: dict[int, str]) -> list:
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
                  for c, v in lay.get("cluster_counts", {}).items()}
        counts.update({int(c): [*v, lay["probe_unassigned_counts"][c]]
                       for c, v in (lay.get("probe_cluster_counts") or {}).items()})
        rows = [c for c in row_classes if c in counts]
        dominant = list(lay.get("cluster_dominant_class") or [None] * n_clusters)
        # Order clusters by dominant class, then size.
        size = np.sum([counts[c] for c in rows if c not in probe_classes], axis=0) \
            if any(c not in probe_classes for c in rows) else np.zeros(n_clusters + 1)
        rank = {c: i for i, c in enumerate(row_classes)}
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
        text_color = [_readable_on(_mix(f, 1.0 - a)) for f, a in zip(fill, alpha)]
        source = ColumnDataSource({"x": xs, "y": ys, "fill": fill,
                                   "alpha": np.asarray(alpha, np.float32), "text": text,
                                   "text_color": text_color, "n": hover_n, "f": hover_f,
                                   "what": what})
        cell = 44 if n_clusters <= 8 else 36
        width = 90 + cell * len(columns)
        fig = _fit(figure(x_range=columns,
                          y_range=[class_label.get(c, str(c)) for c in reversed(rows)],
                          width=max(240, width), height=70 + 34 * len(rows),
                          title=f"{lay['name']} \u00b7 {n_clusters} clusters",
                          tools="", toolbar_location=None))
        _no_grid(fig)
        r = _draw(fig, source, Rect, dict(x="x", y="y", width=0.95, height=0.9,
                                          fill_color="fill", fill_alpha="alpha", line_color=None))
        _draw(fig, source, Text, dict(x="x", y="y", text="text", text_align="center",
                                      text_baseline="middle", text_font_size="10px",
                                      text_color="text_color", text_font=value(_FONT)))
        fig.add_tools(HoverTool(renderers=[r], tooltips=[
            ("class", "@y"), ("cluster", "@what"), ("images", "@n (@f of the class)")]))
        fig.xaxis.major_label_text_font_size = "10px"
        fig.axis.axis_line_color = None
        fig.axis.major_tick_line_color = None
        panels.append(fig)
    return panels


# --- per-layer curves --------------------------------------------------------------------


def separation_figure(per_layer: Sequence[dict], separation_layer: str | None,
                      labels: dict[str, str], width: int = 330, height: int = 300):
    """Label alignment per layer: the trained network against its two controls.

    One panel per measure (``labels``: measure -> title). The trained network is
    the solid line, the untrained network (epoch 0) the dashed one, both with
    their 95% intervals as whiskers; the input's interval is the grey band. The
    separation layer is marked.
    """
    names = [row["layer"] for row in per_layer]
    x = np.arange(len(names), dtype=np.float64)
    panels = []
    for measure, label in labels.items():
        fig = _fit(figure(width=width, height=height + LEGEND_ROW, title=label, tools="",
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
                          for row in per_layer], dtype=np.float64)
            if key == "control":
                y[0] = np.nan            # the input has no untrained counterpart
            if np.all(np.isnan(y)):
                continue
            lo = [row[ci_key][measure][0] if row[ci_key][measure] else np.nan for row in per_layer]
            hi = [row[ci_key][measure][1] if row[ci_key][measure] else np.nan for row in per_layer]
            src = ColumnDataSource({"x": x, "y": y, "lo": lo, "hi": hi, "layer": names,
                                    "v": ["n/a" if np.isnan(v) else f"{v:.3f}" for v in y]})
            line = _draw(fig, src, Line, dict(x="x", y="y", line_color=color, line_width=2,
                                              line_dash=dash))
            items.append(LegendItem(label=value(legend), renderers=[line]))
            dots = _draw(fig, src, Scatter, dict(x="x", y="y", size=7, fill_color=color,
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
    text_color = [_readable_on(_SEQUENTIAL[round(min(1.0, max(0.0, v)) * step)]) for v in values]
    src = ColumnDataSource({"x": xs, "y": ys, "v": values, "text": text, "tc": text_color})
    n = len(layers)
    fig = _fit(figure(x_range=list(layers), y_range=list(reversed(layers)), width=120 + 62 * n,
                      height=90 + 52 * n, tools="", toolbar_location=None,
                      x_axis_location="above"))
    _no_grid(fig)
    r = _draw(fig, src, Rect, dict(x="x", y="y", width=0.96, height=0.94, line_color=None,
                                   fill_color=cmap))
    _draw(fig, src, Text, dict(x="x", y="y", text="text", text_align="center",
                               text_baseline="middle", text_font_size="11px", text_color="tc",
                               text_font=value(_FONT)))
    fig.add_tools(HoverTool(renderers=[r], tooltips=[("layers", "@y \u00d7 @x"),
                                                     ("CKA", "@text")]))
    fig.axis.axis_line_color = None
    fig.axis.major_tick_line_color = None
    return fig


# --- path distribution per class ---------------------------------------------------------------


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
        columns["text_color"] += [_readable_on(seg["color"])] * len(rows)
        left = left + shares
    items = []
    if segments:
        data = {k: np.concatenate(v) if k in ("left", "right") else _strings(v)
                for k, v in columns.items()}
        r = _draw(fig, ColumnDataSource(data), HBar,
                  dict(y="y", left="left", right="right", height=0.62, fill_color="color",
                       line_color="white", line_width=1, hatch_pattern="hatch",
                       hatch_color="#ffffff", hatch_alpha=0.6))
        fig.add_tools(HoverTool(renderers=[r], tooltips=[
            ("class", "@y"), ("path", "@name"), ("images", "@count (@share)")]))
        mid = {"x": (data["left"] + data["right"]) / 2, "y": data["y"], "text": data["short"],
               "color": data["text_color"]}
        _draw(fig, ColumnDataSource(mid), Text,
              dict(x="x", y="y", text="text", text_color="color", text_align="center",
                   text_baseline="middle", text_font_size="11px", text_font_style="bold",
                   text_font=value(_FONT)))
        items = [LegendItem(label=seg["name"], renderers=[r], index=i)
                 for seg, i in zip(segments, first_row)]
    _legend(fig, items, below=True)
    return fig


# --- detection ---------------------------------------------------------------------------------


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
    fig = _fit(figure(width=size + 160, height=size + 2 * LEGEND_ROW * len(curves),
                      tools="", toolbar_location=None, x_axis_type="log", x_range=Range1d(floor, 1),
                      y_range=Range1d(0, 1.01)))
    # Short labels that fit a phone's width; the page says what each rate counts.
    fig.xaxis.axis_label = "false positive rate (log scale)"
    fig.yaxis.axis_label = "true positive rate"
    fig.min_border_right = 16
    chance = np.geomspace(floor, 1, 50)
    _draw(fig, ColumnDataSource({"x": chance, "y": chance}), Line,
          dict(x="x", y="y", line_color="#c0c4cc", line_dash="dashed"))
    palette = CLASS_PALETTE
    items = []
    for i, c in enumerate(curves):
        src = ColumnDataSource({"x": np.maximum(np.asarray(c["fpr"], np.float64), floor),
                                "y": np.asarray(c["tpr"], np.float32)})
        r = _draw(fig, src, Line, dict(x="x", y="y", line_color=palette[i % len(palette)],
                                       line_width=2.4 if i == 0 else 1.6))
        fig.add_tools(HoverTool(renderers=[r], tooltips=[
            ("method", c["label"]), ("AUROC", f"{c['auroc']:.3f}"),
            ("FPR / TPR", "@x{0.000} / @y{0.000}")], line_policy="nearest"))
        items.append((f"{c['label']} \u00b7 {c['auroc']:.3f}", [r]))
    _legend(fig, items, below=True)
    return fig


# --- training ----------------------------------------------------------------------------------


def training_figure(history: dict, width: int = 430, height: int = 260):
    """Loss and accuracy per epoch: two panels, the accuracy legend below its plot."""
    epoch = np.asarray(history.get("epoch", []), dtype=np.float32)
    loss = _fit(figure(width=width, height=height + LEGEND_ROW, title="training loss",
                       tools="", toolbar_location=None))
    acc = _fit(figure(width=width, height=height + LEGEND_ROW, title="accuracy", tools="",
                      toolbar_location=None))
    acc.yaxis.formatter = NumeralTickFormatter(format="0.0%")
    for fig in (loss, acc):
        fig.xaxis.axis_label = "epoch"
        fig.xaxis.ticker = BasicTicker(min_interval=1, desired_num_ticks=8)
    src = ColumnDataSource({"e": epoch,
                            "loss": np.asarray(history.get("train_loss", []), np.float32),
                            "tr": np.asarray(history.get("train_accuracy", []), np.float32),
                            "te": np.asarray(history.get("test_accuracy", []), np.float32)})
    r = _draw(loss, src, Line, dict(x="e", y="loss", line_width=2.2, line_color="#2f6db5"))
    _draw(loss, src, Scatter, dict(x="e", y="loss", size=6, fill_color="#2f6db5",
                                   line_color="white"))
    loss.add_tools(HoverTool(renderers=[r], tooltips=[("epoch", "@e"), ("loss", "@loss{0.0000}")],
                             mode="vline"))
    a = _draw(acc, src, Line, dict(x="e", y="tr", line_width=2.2, line_color="#2f6db5"))
    b = _draw(acc, src, Line, dict(x="e", y="te", line_width=2.2, line_color="#e69f00"))
    acc.add_tools(HoverTool(renderers=[b], tooltips=[("epoch", "@e"), ("train", "@tr{0.0000}"),
                                                     ("test", "@te{0.0000}")], mode="vline"))
    _legend(acc, [("train", [a]), ("test", [b])], below=True, ncols=2)
    return [loss, acc]


def snapshot_figure(snapshots: Sequence[dict], layer_names: Sequence[str], width: int = 430,
                    height: int = 260):
    """How signatures form during training: per-layer AMI, and path count and purity, per epoch."""
    epochs = np.array([s["epoch"] for s in snapshots], dtype=np.float32)
    rows = -(-len(layer_names) // 3)
    nmi = _fit(figure(width=width, height=height + LEGEND_ROW * rows,
                      title="cluster / class AMI per layer", tools="", toolbar_location=None,
                      y_range=Range1d(-0.02, 1.05)))
    paths = _fit(figure(width=width, height=height + LEGEND_ROW * rows,
                        title="distinct paths and their purity", tools="",
                        toolbar_location=None, y_range=Range1d(-0.02, 1.05)))
    for fig in (nmi, paths):
        fig.xaxis.axis_label = "epoch"
        fig.xaxis.ticker = BasicTicker(min_interval=1, desired_num_ticks=8)
    shades = [_mix("#2f6db5", t) for t in np.linspace(0.6, -0.45, max(1, len(layer_names)))]
    items = []
    for name, color in zip(layer_names, shades):
        y = [next((lay.get("cluster_class_ami") for lay in s.get("layers", [])
                   if lay.get("name") == name), None) for s in snapshots]
        src = ColumnDataSource({"x": epochs,
                                "y": np.array([np.nan if v is None else v for v in y], np.float32)})
        r = _draw(nmi, src, Line, dict(x="x", y="y", line_color=color, line_width=2))
        _draw(nmi, src, Scatter, dict(x="x", y="y", size=5, fill_color=color, line_color="white"))
        items.append((name, [r]))
    _legend(nmi, items, below=True, ncols=3)
    purity = np.array([np.nan if s.get("path_purity") is None else s["path_purity"]
                       for s in snapshots], np.float32)
    count = np.array([s.get("n_distinct_paths") or 0 for s in snapshots], np.float32)
    top = float(count.max()) * 1.1 if len(count) and count.max() > 0 else 1.0
    paths.extra_y_ranges = {"count": Range1d(0, top)}
    paths.add_layout(LinearAxis(y_range_name="count", axis_label="distinct paths"), "right")
    paths.yaxis[0].axis_label = "path purity"
    src = ColumnDataSource({"x": epochs, "purity": purity, "count": count})
    a = _draw(paths, src, Line, dict(x="x", y="purity", line_color="#2a9d5c", line_width=2.2))
    b = _draw(paths, src, Line, dict(x="x", y="count", line_color="#5f6b7a", line_width=2.2,
                                     line_dash="dashed"), y_range_name="count")
    _legend(paths, [("purity", [a]), ("distinct paths", [b])], below=True, ncols=2)
    return [nmi, paths]


# --- a glance per answer ---------------------------------------------------------------------


def share_bars_figure(rows: Sequence[str], segments: Sequence[dict], width: int = 300,
                      height: int | None = None):
    """Small horizontal stacked bars of shares on a fixed 0-100% axis, one bar per row.

    ``segments`` are dicts with ``name`` (legend text), ``color``, ``hatch`` (bool) and
    ``shares`` (one fraction per row, None where not measured)."""
    height = (height or 60 + 30 * len(rows)) + LEGEND_ROW * len(segments)
    fig = _fit(figure(y_range=list(reversed(rows)), x_range=Range1d(0, 1), width=width,
                      height=height, tools="", toolbar_location=None))
    _no_grid(fig)
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
        data = {k: np.asarray(v, np.float32) if k in ("left", "right") else _strings(v)
                for k, v in columns.items()}
        r = _draw(fig, ColumnDataSource(data), HBar,
                  dict(y="y", left="left", right="right", height=0.6, fill_color="color",
                       line_color="white", line_width=1, hatch_pattern="hatch",
                       hatch_color="#ffffff", hatch_alpha=0.6))
        fig.add_tools(HoverTool(renderers=[r], tooltips=[("class", "@y"), ("", "@name"),
                                                         ("share", "@share")]))
        items = [LegendItem(label=seg["name"], renderers=[r], index=i)
                 for seg, i in zip(segments, first_row)]
    _legend(fig, items, below=True)
    return fig


def rate_by_layer_figure(layers: Sequence[str], lines: Sequence[dict], width: int = 300,
                         height: int = 170, y_label: str | None = None):
    """Small line chart of shares (0-100%) per layer.

    ``lines`` are dicts with ``name`` (legend text), ``color``, ``dash`` ("solid",
    "dashed"), ``marker`` and ``values`` (one fraction per layer, None where not measured)."""
    x = np.arange(len(layers), dtype=np.float64)
    fig = _fit(figure(width=width, height=height + LEGEND_ROW * len(lines), tools="",
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
        src = ColumnDataSource({"x": x, "y": y, "layer": _strings(layers),
                                "v": _strings(["n/a" if v is None else pct(v) for v in
                                               line["values"]])})
        r = _draw(fig, src, Line, dict(x="x", y="y", line_color=line["color"], line_width=2,
                                       line_dash=line.get("dash", "solid")))
        dots = _draw(fig, src, Scatter, dict(x="x", y="y", size=7, fill_color=line["color"],
                                             line_color="white",
                                             marker=line.get("marker", "circle")))
        fig.add_tools(HoverTool(renderers=[dots], tooltips=[(line["name"], "@v"),
                                                            ("layer", "@layer")]))
        items.append((line["name"], [r, dots]))
    _legend(fig, items, below=True)
    return fig
