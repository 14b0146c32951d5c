"""Sections 3 to 5, layer by layer: class x cluster counts, label alignment against its
controls, CKA similarity."""

from __future__ import annotations

from sigreport.analysis.types import Metrics
from sigreport.config import MEASURE_NAMES
from sigreport.report import figures as F
from sigreport.report.sections.common import Context, Section

__all__ = ["MEASURE_LABELS", "build_layers"]

# The measures' names, defined once beside the measures (Q1's reason in the metrics too).
MEASURE_LABELS = MEASURE_NAMES


def build_layers(ctx: Context, metrics: Metrics) -> Section:
    """Heatmaps of the cluster counts, the alignment curves with controls and linear CKA."""
    layers = metrics["layers"]
    sep = metrics["answers"]["separation"]
    figures = {
        "heatmaps": F.heatmap_figure(layers, ctx.classes + ctx.probes, ctx.probes, ctx.colors,
                                     ctx.label),
        "curves": F.separation_figure(sep["per_layer"], sep["separation_layer"], MEASURE_LABELS),
    }
    cka = metrics["cka"]
    if cka["layers"]:
        figures["cka"] = F.cka_figure(cka["layers"], cka["matrix"])
    signatures = metrics["experiment"]["signatures"]
    return Section(figures, values={"layers": layers, "sep": sep, "sep_layer":
                                    sep["separation_layer"], "cka": cka,
                                    "measure_labels": MEASURE_LABELS,
                                    # "train+probe": the unseen images were fitted on too
                                    # (absent in metrics written before it was recorded)
                                    "fit_on": signatures.get("fit_on", "train"),
                                    "region_share": signatures["boundary_quantile"]})
