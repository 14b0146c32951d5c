"""Section 2, each layer projected to 2-D: linked scatter plots coloured by class or cluster."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from sigreport.analysis.types import Metrics
from sigreport.report import figures as F
from sigreport.report.arrays import FigureArrays
from sigreport.report.formatters import pct
from sigreport.report.images import as_shown, png_data_uris
from sigreport.report.sections.common import Context, Section, format_path

__all__ = ["build_projections"]

_UNASSIGNED = "#b0b0b0"


def _projection(ctx: Context, arrays: FigureArrays, metrics: Metrics) -> tuple[Any, dict]:
    proj = arrays.projection
    names = list(proj.layers)
    n = len(proj.row)
    y = np.zeros(n, np.int64)
    pred = np.zeros(n, np.int64)
    shape = arrays.image_shape
    # thumbnails in the data's image shape; none for inputs that are no images
    imgs = np.zeros((n, *shape), np.uint8) if shape is not None else None
    paths: list[str] = [""] * n
    for split in ("test", "probe"):
        mask = proj.split == split
        if not mask.any():
            continue
        rows = proj.row[mask]
        part = arrays.split(split)
        y[mask] = part.y[rows]
        pred[mask] = part.predicted[rows]
        if imgs is not None and part.images is not None:
            imgs[mask] = part.images[rows]
        split_paths = part.paths[rows]
        for i, p in zip(np.flatnonzero(mask), split_paths.tolist()):
            info = ctx.specific.get(tuple(p))
            paths[i] = format_path(p) + (f" (path {info['letter']})" if info else "")
    thumbs = png_data_uris(as_shown(imgs), bits=4) if imgs is not None else None
    cluster_label: dict[str, Sequence[str]] = {}
    cluster_color: dict[str, Sequence[str]] = {}
    cluster_legend = []
    layer_metrics = {lay["name"]: lay for lay in metrics["layers"]}
    for name in names:
        lab = np.zeros(n, np.int64)
        for split in ("test", "probe"):
            mask = proj.split == split
            if mask.any():
                lab[mask] = arrays.split(split).labels[name][proj.row[mask]]
        lay = layer_metrics.get(name)
        dominant = (lay["cluster_dominant_class"] if lay else None) or \
            [None] * arrays.n_clusters[name]
        shades = F.cluster_palette(dominant, ctx.colors)
        cluster_label[name] = ["unassigned" if k < 0 else f"cluster c{k}" for k in lab.tolist()]
        cluster_color[name] = [_UNASSIGNED if k < 0 else shades[k] for k in lab.tolist()]
        present = sorted(set(lab.tolist()))
        cluster_legend.append((name, [("unassigned" if k < 0 else f"c{k}",
                                       _UNASSIGNED if k < 0 else shades[k]) for k in present]))
    measured = metrics["projection"]
    explained = [(lay["name"], lay["explained_variance"]) for lay in measured["layers"]]
    titles = [name + (f"  \u00b7  PCA {pct(ev)} of variance" if ev is not None else "")
              for name, ev in explained]
    fig = F.projection_figure(
        proj.xy, names, titles,
        point_color=[ctx.colors[int(c)] for c in y],
        point_marker=["triangle" if int(c) in ctx.probes else "circle" for c in y],
        point_info={"label": [ctx.label[int(c)] for c in y],
                    "pred": [ctx.name.get(int(p), str(p)) for p in pred], "path": paths},
        cluster_label=cluster_label, cluster_color=cluster_color, thumbs=thumbs,
        thumb_shape=(shape[0], shape[1]) if shape is not None else (28, 28))
    counts = {ctx.label[int(c)]: k for c, k in measured["per_class"].items()}
    return fig, {"method": measured["method"], "n_points": measured["n_points"],
                 "counts": counts, "n_layers": len(names), "layers": names,
                 "cluster_legend": cluster_legend, "explained": explained}



def build_projections(ctx: Context, metrics: Metrics, arrays: FigureArrays) -> Section:
    """The projection panels and the numbers behind them."""
    fig, numbers = _projection(ctx, arrays, metrics)
    return Section({"projection": fig}, {"projection": numbers})
