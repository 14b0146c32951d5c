"""A glance per answer: one small figure under each answer card, drawn from the very metrics
entries the card's sentences read, and the glossary entries of the terms the card uses."""

from __future__ import annotations

from typing import Any

from sigreport.analysis.types import Metrics
from sigreport.report import figures as F
from sigreport.report.sections.common import Context, Section
from sigreport.report.sections.glossary import GLOSSARY, anchor
from sigreport.report.sections.layers import MEASURE_LABELS

__all__ = ["build_glance"]

_OWN, _ROUTED, _OTHER = "#3a3f47", "#b45309", F.OTHER_COLOR
_TEST = "#5f6b7a"


def _terms(*names: str) -> list[tuple[str, str]]:
    """(term, glossary anchor) of each glossary term named (any case)."""
    known = {term.lower(): term for term, _ in GLOSSARY}
    return [(known[n.lower()], anchor(known[n.lower()])) for n in names if n.lower() in known]


def _q1(metrics: Metrics) -> tuple[object, dict]:
    sep = metrics["answers"]["separation"]
    m = sep["measure"]
    fig = F.separation_figure(sep["per_layer"], sep["separation_layer"], {m: MEASURE_LABELS[m]},
                              width=300, height=190)[0]
    fig.yaxis.ticker.desired_num_ticks = 4
    has_control = any(row["control"][m] is not None for row in sep["per_layer"][1:])
    return fig, {"measure": MEASURE_LABELS[m], "control": has_control,
                 "terms": _terms(MEASURE_LABELS[m], "Separation layer", "95% interval",
                                 "Linear probe accuracy")}


def _q2(ctx: Context, metrics: Metrics) -> tuple[object, dict]:
    paths = metrics["paths"]
    routed = metrics["answers"]["signatures_differ"]["routed_like"]
    rows, own, other_class, rest = [], [], [], []
    for c in ctx.classes:
        a = paths["coverage"].get(str(c))
        b = sum(r["fraction"] for r in routed if int(r["class"]) == c)
        rows.append(ctx.label[c])
        own.append(a)
        other_class.append(b)
        rest.append(None if a is None else max(0.0, 1.0 - a - b))
    segments: list[dict[str, Any]] = [
        {"name": "a path specific to its own class", "color": _OWN, "shares": own},
        {"name": "a path specific to another class", "color": _ROUTED, "hatch": True,
         "shares": other_class},
        {"name": "any other path", "color": _OTHER, "shares": rest},
    ]
    fig = F.share_bars_figure(rows, segments, width=300)
    return fig, {"terms": _terms("Specific path", "JS divergence of paths",
                                 "Routed like another class", "Faithfulness")}


def _control_rates(metrics: Metrics, split: str, layers: list[str]) -> list[float | None] | None:
    """The untrained network's unassigned share of ``split`` per layer, from the snapshot at
    the control epoch; None when no such snapshot was recorded."""
    epoch = metrics["answers"]["separation"]["control_epoch"]
    snap = next((s for s in metrics["snapshots"] if s["epoch"] == epoch), None)
    if snap is None:
        return None
    by_name = {lay["name"]: lay["unassigned_rate"] for lay in snap["layers"]}
    return [by_name[n][split] if n in by_name else None for n in layers]


def _q3(ctx: Context, metrics: Metrics) -> tuple[object, dict] | None:
    unseen = metrics["answers"]["unseen"]
    if not unseen or not unseen[0]["layers"]:
        return None
    layers = [lay["layer"] for lay in unseen[0]["layers"]]
    lines: list[dict[str, Any]] = []
    for u in unseen:
        by_layer = {lay["layer"]: lay["unassigned_rate"] for lay in u["layers"]}
        c = int(u["class"])
        lines.append({"name": f"{ctx.label[c]} images", "color": ctx.colors[c],
                      "marker": "triangle", "values": [by_layer.get(n) for n in layers]})
    lines.append({"name": "test images", "color": _TEST,
                  "values": [lay["test_unassigned_rate"] for lay in unseen[0]["layers"]]})
    control_probe = _control_rates(metrics, "probe", layers)
    control_test = _control_rates(metrics, "test", layers)
    if control_probe is not None:
        lines.append({"name": "unseen, untrained", "color": ctx.colors[int(unseen[0]["class"])]
                      if len(unseen) == 1 else F.NOVEL_COLOR, "dash": "dashed",
                      "marker": "triangle", "values": control_probe})
        lines.append({"name": "test, untrained", "color": _TEST, "dash": "dashed",
                      "values": control_test})
    fig = F.rate_by_layer_figure(layers, lines, width=300, y_label="unassigned")
    return fig, {"control": control_probe is not None,
                 "control_epoch": metrics["answers"]["separation"]["control_epoch"],
                 "terms": _terms("Unassigned", "Novel path", "AUROC", "Score family")}


def build_glance(ctx: Context, metrics: Metrics) -> Section:
    """One small figure per answer card (``glance_q1`` .. ``glance_q3``) and its terms."""
    figures, values = {}, {}
    parts = {1: _q1(metrics), 2: _q2(ctx, metrics), 3: _q3(ctx, metrics)}
    for n, part in parts.items():
        if part is not None:
            figures[f"glance_q{n}"], values[n] = part
    return Section(figures, values={"glances": values})
