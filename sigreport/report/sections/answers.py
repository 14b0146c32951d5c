"""The page's header line and its summary: the three answers, in words, from the metrics."""

from __future__ import annotations

from typing import Any

from sigreport.analysis.types import Metrics, SeparationRow, UnseenControlRow, UnseenVerdict
from sigreport.config import DATASET_NAMES
from sigreport.report.sections.common import Context, Section, format_path
from sigreport.report.sections.glossary import glossary_name
from sigreport.report.sections.layers import MEASURE_LABELS

__all__ = ["build_answers"]

def _q1(metrics: Metrics) -> dict:
    sep = metrics["answers"]["separation"]
    m = sep["measure"]
    rows: dict[str | None, SeparationRow] = {r["layer"]: r for r in sep["per_layer"]}
    at = rows.get(sep["separation_layer"])
    inp = sep["per_layer"][0]
    first = sep["first_layer_by_measure"]
    return {
        "verdict": sep["verdict"], "n_agree": sep["n_measures_agree"],
        "n_measures": len(sep["measures"]),
        "layer": sep["separation_layer"], "reason": sep["reason"],
        "measure": MEASURE_LABELS[m], "measure_term": glossary_name(MEASURE_LABELS[m]),
        "value": at["value"][m] if at else None, "ci": at["ci"][m] if at else None,
        "control": at["control"][m] if at else None,
        "control_ci": at["control_ci"][m] if at else None,
        "vs_input": at["input_difference"][m] if at else None,
        "vs_input_ci": at["input_difference_ci"][m] if at else None,
        "vs_control": at["control_difference"][m] if at else None,
        "vs_control_ci": at["control_difference_ci"][m] if at else None,
        "input": inp["value"][m], "input_ci": inp["ci"][m],
        "control_epoch": sep["control_epoch"],
        # the other measures: those that find the same layer, and what each of the rest finds
        "agree": [MEASURE_LABELS[k] for k, v in first.items()
                  if k != m and v is not None and v == sep["separation_layer"]],
        "others": [(MEASURE_LABELS[k], v) for k, v in first.items()
                   if k != m and (v is None or v != sep["separation_layer"])],
        "probe_input": sep["input_linear_probe_accuracy"],
        "probe_input_ci": sep["input_linear_probe_accuracy_ci"],
        "largest_step": sep["largest_step_layer"],
    }


def _q2(ctx: Context, metrics: Metrics) -> dict:
    differ = metrics["answers"]["signatures_differ"]
    paths = metrics["paths"]
    last = differ["per_layer"][-1] if differ["per_layer"] else None
    routed = sorted((r for r in differ["routed_like"] if r["count"]), key=lambda r: -r["count"])
    cov = [(ctx.label[int(c)], v) for c, v in paths["coverage"].items()]
    return {
        "last": last, "input": differ["input"], "lda": differ["input_lda"],
        "last_layer": differ["last_layer"], "vs": differ["differences"],
        "verdict": differ["verdict"], "min_gain": differ["min_path_gain"],
        "beyond_last": differ["path_beyond_last_layer"],
        "coverage": cov, "n_specific": paths["n_specific"],
        "n_paths": paths["n_distinct_train"], "layers": paths["layers"],
        "faithfulness": paths["faithfulness"],
        "noise": paths["noise"],
        "routed": [{"cls": ctx.label[int(r["class"])], "like": ctx.label[int(r["looks_like"])],
                    "count": r["count"], "fraction": r["fraction"], "correct": r["correct"],
                    "wrong": r["wrong"]} for r in routed],
    }


def _q3(ctx: Context, metrics: Metrics) -> tuple[list[dict], dict | None]:
    detection = metrics["answers"]["unseen_detection"]
    out = []
    for u in metrics["answers"]["unseen"]:
        c = int(u["class"])
        pred = sorted(((ctx.label[int(k)], v) for k, v in u["predicted_as"].items() if v),
                      key=lambda kv: -kv[1])
        borrowed = tuple(int(p) for p in u["most_borrowed_path"] or ())
        info = ctx.specific.get(borrowed)
        best = detection["best_per_family_by_class"].get(str(c), {}) if detection else {}
        first = u["layers"][0] if u["layers"] else None
        verdict = u["verdict"]
        rows: dict[str | None, UnseenControlRow] = {r["layer"]: r for r in u["controls"]}
        # the layer the operating point is quoted at: the verdict's hidden layer, else the
        # hidden layer where most of them are unassigned
        at = rows.get(verdict["layer"]) if verdict["layer"] != "input" else None
        at = at or rows.get(verdict["most_unassigned_layer"])
        out.append({"cls": ctx.label[c], "name": ctx.name.get(c, str(c)), "predicted": pred,
                    "novel": u["novel_path_fraction"], "test_novel": u["test_novel_path_fraction"],
                    "first": first, "layers": u["layers"],
                    "borrowed": format_path(borrowed) if borrowed else None,
                    "borrowed_letter": info["letter"] if info else None,
                    "borrowed_owner": ctx.label.get(info["dominant"]) if info else None,
                    "best": best, "verdict": verdict,
                    "headline": _q3_headline(verdict),
                    "called": ctx.label.get(int(verdict["called"])) if verdict["called"] else None,
                    "lead": _q3_lead(best),
                    "input_wins": best.get("input") if verdict["input_detector_wins"] else None,
                    "rivals": [(f, best[f]) for f in ("network", "signature") if best.get(f)],
                    "controls": u["controls"], "at": at,
                    "input": rows.get("input"),
                    "control_epoch": u["control_epoch"],
                    "quantile": u["quantile_sweep"]["quantile"] if u["quantile_sweep"] else None,
                    "sweep": _q3_sweep(u["quantile_sweep"]),
                    "fitted_on_probe": metrics["experiment"]["signatures"]["fit_on"]
                    == "train+probe",
                    "sweep_at": _q3_sweep_at(u["quantile_sweep"], at)})
    return out, (detection["best_per_family"] if detection else None)


def _q3_headline(verdict: UnseenVerdict) -> str:
    """The verdict's statement as the answer's first words."""
    text = verdict["statement"]
    return text[:1].upper() + text[1:]


def _q3_lead(best: dict) -> list[tuple[str, dict]]:
    """The best detection score of each family for one unseen class, best first."""
    picks = [(f, b) for f, b in best.items() if b and b["auroc"] is not None]
    return sorted(picks, key=lambda fb: -fb[1]["auroc"])


def _q3_sweep(sweep: dict | None) -> dict | None:
    """The quantile sweep as a table: one row per quantile, one column pair per network and
    layer."""
    if not sweep:
        return None
    cols = [(r["network"], r["layer"]) for r in sweep["rows"]]
    rows = [{"q": q, "configured": q == sweep["quantile"],
             "cells": [(r["probe"][i], r["test"][i]) for r in sweep["rows"]]}
            for i, q in enumerate(sweep["quantiles"])]
    return {"cols": cols, "rows": rows}


def _q3_sweep_at(sweep: dict[str, Any] | None, at: UnseenControlRow | None) -> dict | None:
    """The trained network's rates at the operating point's layer at the lowest and highest
    swept quantile."""
    if not sweep or not at:
        return None
    row = next((r for r in sweep["rows"] if r["network"] == "trained"
                and r["layer"] == at["layer"]), None)
    if row is None or len(sweep["quantiles"]) < 2:
        return None
    return {"layer": at["layer"], "q_lo": sweep["quantiles"][0], "q_hi": sweep["quantiles"][-1],
            "probe_lo": row["probe"][0], "probe_hi": row["probe"][-1],
            "test_lo": row["test"][0], "test_hi": row["test"][-1]}


def _phrase(items: list[str]) -> str:
    """ "1 and 7", "1, 3 and 7", or "the 10 classes" when a list would not read well."""
    if len(items) > 4:
        return f"the {len(items)} classes"
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _experiment_line(metrics: Metrics, ctx: Context) -> dict:
    exp = metrics["experiment"]
    network = exp.get("network") or {}
    # The widths of the recorded layers, input first (a convolutional block's: its channels).
    arch = " \u2192 ".join(str(lay["width"]) for lay in metrics["layers"])
    return {
        "arch": arch, "activation": exp["activation"], "network": exp.get("network"),
        # recorded activations given without their untrained network's: the input is the
        # only control of every verdict
        "no_control": network.get("control") is False,
        # "images", or "vectors" (an activations file's inputs that are no images)
        "inputs": network.get("inputs", "images"),
        "conv": exp.get("conv"), "pool": exp.get("pool"),
        "loss": (exp["loss"] or "").replace("_", "-"),
        "dataset": DATASET_NAMES.get(exp["dataset"], exp["dataset"]),
        "classes": [ctx.label[c] for c in ctx.classes],
        "classes_phrase": _phrase([ctx.label[c] for c in ctx.classes]),
        "probes": [ctx.name.get(c, str(c)) for c in ctx.probes],
        "n_train": exp["n_train"], "n_test": exp["n_test"], "n_probe": exp["n_probe"],
        "test_accuracy": metrics["model"]["test_accuracy"],
        "train_accuracy": metrics["model"]["train_accuracy"],
        "seeds": exp["seeds"] or [exp["seed"]],
        # what the clusters and their regions were fitted on, in words
        "fitted_on": ("training and probe images"
                      if exp["signatures"].get("fit_on") == "train+probe"
                      else "training images"),
    }



def build_answers(ctx: Context, metrics: Metrics, ood_rows: list[dict]) -> Section:
    """The experiment in one line, the class colour legend and the three answers, every
    number read from the metrics."""
    legend = [(ctx.label[c], ctx.colors[c], c in ctx.probes) for c in ctx.classes + ctx.probes]
    q3, families = _q3(ctx, metrics)
    answers = {"q1": _q1(metrics), "q2": _q2(ctx, metrics), "q3": q3, "families": families}
    return Section(values={"exp": _experiment_line(metrics, ctx), "answers": answers,
                           "legend": legend})
