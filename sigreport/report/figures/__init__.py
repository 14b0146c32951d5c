"""Bokeh figures from numbers: no file, no template, no network.

Every function takes plain values (metrics entries, numpy arrays, colours)
and returns a Bokeh model, or a list of panels that the page lays out side by
side and stacks at narrow widths. Panels keep their width on a wide screen and
scale down with their column (``sizing_mode="scale_width"`` up to that width).
Where colour tells classes or paths apart, a second cue does too: unseen
classes' ribbons are hatched, bar segments are labelled.

One module per figure or family of figures, all drawn in the look of
:mod:`~sigreport.report.figures.style` (palettes, contrast, :data:`THEME`, and
the helpers that size a figure and add its glyphs):

- ``alluvial``: the alluvial diagram of paths (its layout is
  :mod:`sigreport.report.alluvial_layout`, which has no Bokeh);
- ``projection``: linked 2-D projections, one panel per layer;
- ``heatmap``: class x cluster count tables per layer;
- ``separation`` and ``cka``: label alignment per layer, layer-to-layer CKA;
- ``shares``: stacked bars of shares (per path, and the answers' glances);
- ``rate_by_layer``: a small line chart of shares per layer;
- ``roc``: ROC curves of the detection methods;
- ``training``: loss and accuracy per epoch, signatures forming over the epochs.

This package re-exports each module's public figures and the colours the
sections use.
"""

from sigreport.report.figures.alluvial import alluvial_figure
from sigreport.report.figures.cka import cka_figure
from sigreport.report.figures.heatmap import heatmap_figure
from sigreport.report.figures.projection import projection_figure
from sigreport.report.figures.rate_by_layer import rate_by_layer_figure
from sigreport.report.figures.roc import roc_figure
from sigreport.report.figures.separation import separation_figure
from sigreport.report.figures.shares import path_share_figure, share_bars_figure
from sigreport.report.figures.style import (
    CLASS_PALETTE,
    NOVEL_COLOR,
    OTHER_COLOR,
    THEME,
    UNASSIGNED_COLOR,
    class_palette,
    cluster_palette,
    contrast_ratio,
    tag_color,
)
from sigreport.report.figures.training import snapshot_figure, training_figure

__all__ = [
    "CLASS_PALETTE",
    "NOVEL_COLOR",
    "OTHER_COLOR",
    "THEME",
    "UNASSIGNED_COLOR",
    "alluvial_figure",
    "cka_figure",
    "class_palette",
    "cluster_palette",
    "contrast_ratio",
    "heatmap_figure",
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
