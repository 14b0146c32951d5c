"""Detection of the unseen classes: every method's AUROC and FPR95, and the ROC curves."""

from __future__ import annotations

from typing import Any

from sigreport.analysis.types import Metrics
from sigreport.report import figures as F
from sigreport.report.sections.common import Context, Section

__all__ = ["build_detection"]


def _ood_rows(ctx: Context, metrics: Metrics) -> tuple[list[dict], list[dict], str | None]:
    rows: list[dict[str, Any]] = []
    for e in metrics["ood"]:
        pc = e["probe_class"]
        who = "all unseen" if pc == "all" else ctx.label.get(int(pc), str(pc))
        rows.append({"probe": who, **e})
    if len(ctx.probes) == 1:  # "all unseen" repeats the one probe class
        rows = [r for r in rows if r["probe_class"] != "all"]
    rows.sort(key=lambda r: (str(r["probe_class"]) != "all", str(r["probe_class"]),
                             -(r["auroc"] if r["auroc"] is not None else -1)))
    if not rows:
        return rows, [], None
    target = "all" if any(r["probe_class"] == "all" for r in rows) else rows[0]["probe_class"]
    chosen = [r for r in rows if r["probe_class"] == target and r.get("roc")][:8]
    curves = [{"label": f"{r['method']} ({r['layer']}, {r['family']})", "fpr": r["roc"]["fpr"],
               "tpr": r["roc"]["tpr"], "auroc": r["auroc"] or 0.0} for r in chosen]
    shown: str | None = chosen[0]["probe"] if chosen else None
    best_auroc: dict[int | str, float] = {}
    for r in rows:
        key = r["probe_class"]
        if r["auroc"] is not None and (key not in best_auroc or r["auroc"] > best_auroc[key]):
            best_auroc[key] = r["auroc"]
    seen_method: set[tuple] = set()
    for r in rows:
        r["best"] = r["auroc"] is not None and r["auroc"] == best_auroc.get(r["probe_class"])
        # The summary table keeps each method's best layer; the full table keeps all.
        key = (str(r["probe_class"]), r["family"], r["method"])
        r["top"] = key not in seen_method
        seen_method.add(key)
    return rows, curves, shown



def build_detection(ctx: Context, metrics: Metrics) -> Section:
    """The detection table rows (``values["ood"]``, best first per unseen class), the best
    score of each family beside the untrained network's, and the ROC plot."""
    rows, curves, who = _ood_rows(ctx, metrics)
    figures = {"roc": F.roc_figure(curves)} if curves else {}
    summary = metrics["answers"]["unseen_detection"]
    untrained: dict[str, Any] = dict(summary["untrained"] or {}) if summary else {}
    return Section(figures, values={
        "ood": rows, "roc_for": who,
        "families": summary["families"] if summary else {},
        "methods": summary["methods"] if summary else {},
        "best_per_family": summary["best_per_family"] if summary else {},
        "untrained_best": untrained.get("best_per_family") or {},
        "selection": summary["selection"] if summary else None})
