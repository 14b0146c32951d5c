"""Sections 3 to 5, layer by layer: class x cluster counts, separation curves, CKA similarity."""

from __future__ import annotations

from sigreport.report import figures as F
from sigreport.report.sections.common import Context, Section

__all__ = ["build_layers"]



def build_layers(ctx: Context, metrics: dict) -> Section:
    """Heatmaps of the cluster counts, the per-layer curves and, when measured, linear CKA."""
    layers = metrics.get("layers", [])
    answers = metrics.get("answers", {})
    sep_layer = answers.get("separation_layer")
    figures = {
        "heatmaps": F.heatmap_figure(layers, ctx.classes + ctx.probes, ctx.probes, ctx.colors,
                                     ctx.label),
        "curves": F.layer_curves_figure(
            layers, sep_layer, (answers.get("separation") or {}).get("threshold")),
    }
    cka = metrics.get("cka") or {}
    if cka.get("layers"):
        figures["cka"] = F.cka_figure(cka["layers"], cka["matrix"])
    return Section(figures, values={"layers": layers, "sep_layer": sep_layer, "cka": cka})
