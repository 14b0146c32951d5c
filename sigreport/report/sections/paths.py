"""Section 1, paths across layers: the alluvial diagram, its node table, the specific paths."""

from __future__ import annotations

from typing import Any

import numpy as np

from sigreport.analysis.types import Metrics
from sigreport.report import figures as F
from sigreport.report.alluvial_layout import AlluvialLayout, layout_alluvial
from sigreport.report.arrays import FigureArrays, SplitArrays
from sigreport.report.sections.common import Context, Section, format_path

__all__ = ["MAX_LISTED_PATHS", "alluvial_layout", "build_paths"]

MAX_LISTED_PATHS = 12


def alluvial_layout(ctx: Context, test: SplitArrays, probe: SplitArrays,
                    path_layers: tuple[str, ...], letters: bool, n_curve: int = 14
                    ) -> tuple[AlluvialLayout, list[dict[int, str]], np.ndarray]:
    """Layout, node labels and paths (int64 (n, n_hidden)) of the test and unseen images.

    The columns are the true class, the path's hidden layers, and the prediction,
    drawn beside the path (it is not part of it)."""
    paths = np.concatenate([test.paths, probe.paths]) if len(probe) else test.paths
    y = np.concatenate([test.y, probe.y])
    predicted = np.concatenate([test.predicted, probe.predicted])
    node_ids = np.concatenate([y[:, None], paths, predicted[:, None]], axis=1)
    labels = [ctx.specific[p]["letter"] if letters and p in ctx.specific else ""
              for p in map(tuple, paths.tolist())]
    columns = ["class", *path_layers, "prediction"]
    layout = layout_alluvial(node_ids, y, ctx.classes + ctx.probes, columns, labels,
                             n_curve=n_curve)
    node_label: list[dict[int, str]] = [dict(ctx.label)]
    for col in range(1, len(columns) - 1):
        keys = np.unique(node_ids[:, col])
        node_label.append({int(k): ("none" if k < 0 else f"c{k}") for k in keys})
    node_label.append({c: ctx.name.get(c, str(c)) for c in np.unique(node_ids[:, -1]).tolist()})
    return layout, node_label, paths


def _alluvial(ctx: Context, arrays: FigureArrays) -> tuple[Any, dict]:
    layout, node_label, _ = alluvial_layout(ctx, arrays.test, arrays.probe, arrays.path_layers,
                                            letters=True)
    columns = layout.columns
    # Only the paths listed under the figure get a tag on it.
    owner = {info["letter"]: info["dominant"]
             for info in list(ctx.specific.values())[:MAX_LISTED_PATHS]}
    fig = F.alluvial_figure(layout, ctx.colors, ctx.label, node_label, path_owner=owner,
                            hatched=ctx.probes,
                            height=min(720, 360 + 18 * max(
                                len(layout.column_nodes(c)) for c in range(len(columns)))))
    table = []
    for col in range(1, len(columns) - 1):
        for nd in layout.column_nodes(col):
            parts = nd.by_count()
            table.append({"column": columns[col], "node": node_label[col][nd.key],
                          "count": nd.count,
                          "by_class": [(ctx.label[c], k) for c, k in parts],
                          "top": ctx.label.get(parts[0][0]), "purity": parts[0][1] / nd.count})
    return fig, {"nodes": table, "n_test": len(arrays.test), "n_probe": len(arrays.probe)}



def build_paths(ctx: Context, metrics: Metrics, arrays: FigureArrays) -> Section:
    """The alluvial diagram of the test and unseen images, and the specific paths it letters."""
    fig, nodes = _alluvial(ctx, arrays)
    specific = [{"letter": i["letter"], "path": format_path(p),
                 "owner": ctx.label.get(i["dominant"]), "total": i["total"],
                 "purity": i["purity"],
                 "color": F.tag_color(ctx.colors.get(i["dominant"], "#888888"))}
                for p, i in ctx.specific.items()]
    return Section({"alluvial": fig}, {"alluvial": nodes},
                   {"specific": specific, "n_listed": MAX_LISTED_PATHS,
                    "paths_meta": metrics["paths"]})
