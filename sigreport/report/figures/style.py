"""The look shared by every figure: colours, contrast, the theme, and drawing helpers.

Colours come from :func:`class_palette`, so a class has the same colour in
every figure: trained classes from the front of :data:`CLASS_PALETTE` (blues,
purples, greens), unseen classes from its back (orange, rust, salmon), ten
colours that stay apart for readers with any of the three colour-vision
deficiencies. :func:`contrast_ratio`, :func:`readable_on` and :func:`tag_color`
keep text on a colour legible (WCAG AA). Axes, grids, titles and toolbars are
styled by :data:`THEME`, which the report sets on the documents that hold the
figures. :func:`fit`, :func:`no_grid` and :func:`add_legend` size and dress a
figure; :func:`draw` and :func:`selectable` add one glyph renderer with only the
glyph models it uses.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from bokeh.models import ColumnDataSource, Grid, Legend, LegendItem
from bokeh.themes import Theme

__all__ = [
    "CLASS_PALETTE", "FONT", "LEGEND_ROW", "MUTED", "NODE_COLOR", "NOVEL_COLOR", "OTHER_COLOR",
    "TEXT", "THEME", "UNASSIGNED_COLOR", "add_legend", "class_palette", "cluster_palette",
    "contrast_ratio", "draw", "fit", "mix", "no_grid", "readable_on", "selectable", "strings",
    "tag_color",
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
TEXT = "#2b2f36"
MUTED = "#6b7280"
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"


def class_palette(classes: Sequence[int], probe_classes: Sequence[int]) -> dict[int, str]:
    """One colour per class id: trained classes from the front of :data:`CLASS_PALETTE`,
    probes from its back (distinct for up to ten classes in all; more repeat colours)."""
    n = len(CLASS_PALETTE)
    colors = {c: CLASS_PALETTE[i % n] for i, c in enumerate(classes)}
    colors.update({c: CLASS_PALETTE[-1 - i % n] for i, c in enumerate(probe_classes)})
    return colors


def mix(hex_color: str, t: float) -> str:
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


def readable_on(background: str) -> str:
    """Dark text or white, whichever contrasts more with ``background``."""
    return max((TEXT, "#ffffff"), key=lambda c: contrast_ratio(c, background))


def tag_color(hex_color: str) -> str:
    """The colour darkened just enough for white text on it to reach 4.5:1 (WCAG AA)."""
    for t in np.linspace(0.0, 1.0, 41):
        out = mix(hex_color, -float(t)) if t else hex_color
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
        out.append(mix(base, shade[k]))
    return out


THEME = Theme(json={"attrs": {
    # Only what differs from Bokeh's defaults: a themed value is written out on every model.
    "Plot": {"outline_line_color": None},
    "Toolbar": {"logo": None},
    "Axis": {"axis_line_color": "#9ca3af", "major_tick_line_color": "#9ca3af",
             "minor_tick_line_color": None, "major_label_text_color": TEXT,
             "major_label_text_font": FONT, "axis_label_text_font": FONT,
             "axis_label_text_font_size": "12px", "axis_label_text_font_style": "normal",
             "axis_label_text_color": MUTED},
    "Grid": {"grid_line_color": "#eceef1"},
    "Title": {"text_font": FONT, "text_color": TEXT},
}})
"""The look of every figure; the report applies it to the document that holds them."""


def fit(fig):
    """Keep ``fig``'s size on a wide page; below its width, scale it down with its column."""
    fig.sizing_mode = "scale_width"
    fig.max_width = fig.width
    return fig


def no_grid(fig) -> None:
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


def add_legend(fig, items: list[tuple[str, list] | LegendItem], location: str = "top_left",
               below: bool = False, ncols: int = 1) -> None:
    """A legend inside the plot at ``location``, or ``below`` it (off the data) in ``ncols``.

    ``items`` are (label, renderers) pairs or legend items."""
    legend = Legend(items=[i if isinstance(i, LegendItem) else LegendItem(label=i[0],
                                                                          renderers=i[1])
                           for i in items],
                    location=location, label_text_font=FONT, label_text_font_size="11px",
                    background_fill_alpha=0.85, border_line_color=None, spacing=1,
                    padding=4, glyph_height=14, glyph_width=18)
    if below:
        legend.location = "top_left"
        legend.ncols = ncols
        legend.stylesheets = [_WRAP_LEGEND]
        fig.add_layout(legend, "below")
    else:
        fig.add_layout(legend)


def strings(values: Sequence[str]) -> np.ndarray:
    """``values`` as a numpy string array: Bokeh walks a list item by item looking for models."""
    return np.asarray(list(values), dtype=str)


def draw(fig, source: ColumnDataSource, glyph_type: type, look: dict,
         hover: dict | None = None, **renderer):
    """Draw a ``glyph_type`` glyph with properties ``look`` from ``source`` on ``fig``.

    One glyph model per renderer, plus one with ``hover`` changed where the pointer is:
    bokeh.plotting's glyph methods also build a non-selection and a muted copy of every
    glyph, which only a figure that selects or mutes uses (BokehJS derives them itself
    when asked). Each model costs time to build and serialize, and bytes on the page.
    """
    hover_glyph = glyph_type(**{**look, **hover}) if hover else None
    return fig.add_glyph(source, glyph_type(**look), hover_glyph=hover_glyph, **renderer)


def selectable(fig, source: ColumnDataSource, glyph_type: type, look: dict, **renderer):
    """Draw points that box and lasso selection pick: the picked ones outlined, the others
    faded almost out."""
    return fig.add_glyph(
        source, glyph_type(**look), **renderer,
        selection_glyph=glyph_type(**{**look, "line_color": "#111111", "line_width": 0.8}),
        nonselection_glyph=glyph_type(**{**look, "fill_alpha": 0.08, "line_alpha": 0.0}))
