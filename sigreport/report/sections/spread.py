"""Training randomness on the page: a spread line per answer and the table of every seed.

Each line sets the spread of an answer's values over the trained seeds beside
the test-resampling intervals the answer quotes; with one seed it says that
those intervals exclude training randomness. Everything is read from
``metrics["seed_spread"]``.
"""

from __future__ import annotations

from typing import Any

from sigreport.analysis.types import Metrics
from sigreport.report.sections.common import Context, Section
from sigreport.report.sections.layers import MEASURE_LABELS

__all__ = ["build_seed_spread"]

_FAMILY_LABELS = {"network": "best network-family AUROC",
                  "signature": "best signature-family AUROC"}
_MANY_PROBES = 2      # with more probe classes, a card lists only their first hidden layer


def _value(label: str, spread: dict[str, Any], percent: bool) -> dict[str, Any]:
    return {"label": label, "percent": percent, "values": spread["values"],
            "min": spread["min"], "max": spread["max"], "mean": spread["mean"],
            "sd": spread["sd"], "ci": spread["headline_ci"], "n_outside": spread["n_outside_ci"]}


def _rows(ctx: Context, summary: dict[str, Any], every_layer: bool
          ) -> dict[str, list[dict[str, Any]]]:
    """Each answer's values with their spread, in the order the cards read them; the
    unassigned rates at every hidden layer, or (``every_layer`` False) at the first."""
    sep = summary["separation_layer"]
    q1: list[dict[str, Any]] = [{"label": "separation layer", "layers": sep["by_seed"],
                                 "headline": sep["headline"], "n_same": sep["n_same"],
                                 "n_outside": None}]
    at = next((lay for lay in summary["layers"] if lay["layer"] == sep["headline"]), None)
    if at:
        q1 += [_value(f"{MEASURE_LABELS[m]} at {at['layer']}", at[m],
                      m == "linear_probe_accuracy")
               for m in ("cka_labels", "cluster_class_ami", "linear_probe_accuracy")]
    unassigned = summary["unassigned_rate"]
    first = unassigned[0]["layer"] if unassigned else None
    q3 = [_value(f"{ctx.name.get(u['class'], str(u['class']))}s unassigned at {u['layer']}",
                 u["rate"], True)
          for u in unassigned if every_layer or u["layer"] == first]
    q3 += [_value(_FAMILY_LABELS[f], s, False)
           for f, s in (summary["best_auroc"] or {}).items()]
    return {"accuracy": [_value("test accuracy", summary["test_accuracy"], True)], "q1": q1,
            "q2": [_value("path JS divergence", summary["path_js"], False)], "q3": q3}


def _table(summary: dict[str, Any], rows: dict[str, list[dict[str, Any]]]) -> list[dict]:
    """Every value of every seed: the cards' values, then Q1's measures at every hidden layer."""
    table = [*rows["accuracy"], rows["q1"][0]]
    table += [_value(f"{MEASURE_LABELS[m]} at {lay['layer']}", lay[m],
                     m == "linear_probe_accuracy")
              for lay in summary["layers"]
              for m in ("cka_labels", "cluster_class_ami", "linear_probe_accuracy")]
    return table + rows["q2"] + rows["q3"]


def build_seed_spread(ctx: Context, metrics: Metrics) -> Section:
    """The ``spread`` values: one line per answer card (``accuracy``, ``q1``, ``q2``, ``q3``)
    and the table of the stability section."""
    spread = metrics["seed_spread"]
    exp = metrics["experiment"]
    if spread is None:
        given = bool(exp.get("network"))
        # Said once, below the experiment line; the cards add nothing.
        line = {"n_seeds": 1, "given": given, "seed": exp["seed"], "quiet": False}
        return Section(values={"spread": {
            "n_seeds": 1, "given": given, "table": [], "accuracy": line,
            **{k: {**line, "quiet": True} for k in ("q1", "q2", "q3")}}})
    rows = _rows(ctx, spread["summary"], every_layer=True)
    cards = _rows(ctx, spread["summary"], every_layer=len(ctx.probes) <= _MANY_PROBES)
    common = {"n_seeds": spread["n_seeds"], "n_others": spread["n_seeds"] - 1,
              "seeds": spread["seeds"], "headline": spread["headline_seed"]}
    lines = {k: {**common, "items": v, "lead": k == "accuracy"} for k, v in cards.items()}
    return Section(values={"spread": {
        **lines, **common, "table": _table(spread["summary"], rows),
        "interval_covers": spread["interval_covers"], "spread_covers": spread["spread_covers"],
        "separation_rule": spread["separation_rule"], "detection_rule": spread["detection_rule"],
        "outside_rule": spread["outside_rule"]}})
