"""Section 8, training: curves per epoch, how the paths form over the recorded epochs, seeds."""

from __future__ import annotations

from typing import Any

import numpy as np

from sigreport.analysis.types import Metrics
from sigreport.report import figures as F
from sigreport.report.arrays import SplitArrays
from sigreport.report.formatters import pct
from sigreport.report.sections.common import Context, Section
from sigreport.report.sections.paths import alluvial_layout

__all__ = ["build_training"]


def _snapshot_alluvials(ctx: Context, metrics: Metrics,
                        snapshots: dict[int, tuple[SplitArrays, SplitArrays]],
                        path_layers: tuple[str, ...]) -> tuple[Any, list[dict]]:
    """One small alluvial diagram per recorded epoch, in a grid, and a row of numbers each.

    Accuracy and the count of distinct training paths come from ``metrics["snapshots"]``;
    the diagram's own counts (distinct paths of the test and unseen images, the share of
    test images on their class's most common path) are counted from the paths drawn.
    """
    measured = {s["epoch"]: s for s in metrics["snapshots"]}
    panels, rows = [], []
    for epoch in sorted(snapshots):
        test, probe = snapshots[epoch]
        layout, node_label, paths = alluvial_layout(ctx, test, probe, path_layers,
                                                    letters=False, n_curve=10)
        test_paths = paths[:len(test)]
        on_majority = 0
        for c in ctx.classes:
            members = test_paths[test.y == c]
            if len(members):
                on_majority += int(np.unique(members, axis=0, return_counts=True)[1].max())
        m = measured.get(int(epoch))
        acc = m["test_accuracy"] if m else None
        if acc is None and len(test):
            acc = float(np.mean(test.predicted == test.y))
        rows.append({"epoch": int(epoch), "test_accuracy": acc,
                     "n_distinct_train": m["n_distinct_paths"] if m else None,
                     "n_distinct_shown": len(np.unique(paths, axis=0)) if len(paths) else 0,
                     "majority_share": on_majority / max(1, len(test_paths))})
        n_nodes = max(len(layout.column_nodes(c)) for c in range(len(layout.columns)))
        title = f"epoch {int(epoch)}" + (f"  \u00b7  test accuracy {pct(acc)}"
                                         if acc is not None else "")
        panels.append(F.alluvial_figure(
            layout, ctx.colors, ctx.label, node_label, path_owner={}, width=430,
            height=min(420, 250 + 8 * n_nodes), title=title, font_size=10,
            ribbon_alpha=0.5, name=f"snapshot-alluvial-{int(epoch)}", hatched=ctx.probes))
    return panels, rows



def build_training(ctx: Context, metrics: Metrics,
                   snapshots: dict[int, tuple[SplitArrays, SplitArrays]],
                   path_layers: tuple[str, ...]) -> Section:
    """Loss and accuracy per epoch, per-snapshot measures and path diagrams, seed stability."""
    section = Section()
    history = metrics["model"]["history"]
    if history["epoch"]:
        section.figures["training"] = F.training_figure(history)
    snapshot_rows = metrics["snapshots"]
    if len(snapshot_rows) >= 2:
        section.figures["snapshots"] = F.snapshot_figure(
            snapshot_rows, [lay["name"] for lay in metrics["layers"]])
    if snapshots:
        section.figures["snapshot_paths"], section.data["snapshot_paths"] = \
            _snapshot_alluvials(ctx, metrics, snapshots, path_layers)
    section.values.update(history=history, snapshots=snapshot_rows,
                          network=metrics["experiment"].get("network"),
                          stability=metrics["stability"])
    return section
