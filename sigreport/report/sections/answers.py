"""The page's header line and its summary: the three answers, in words, from the metrics."""

from __future__ import annotations

import numpy as np

from sigreport.report.sections.common import Context, Section, format_path

__all__ = ["build_answers"]

_DATASET_NAMES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}


def _answers(ctx: Context, metrics: dict, ood_rows: list[dict]) -> dict:
    ans = metrics.get("answers", {})
    layers = {lay["name"]: lay for lay in metrics.get("layers", [])}
    sep = ans.get("separation", {}) or {}
    sep_layer = ans.get("separation_layer")
    metric = sep.get("metric", "linear_probe_accuracy")
    per_layer = {p["layer"]: p for p in sep.get("per_layer", []) or []}
    q1 = {
        "layer": sep_layer,
        "metric": metric.replace("_", " "),
        "value": per_layer.get(sep_layer, {}).get("value") if sep_layer else None,
        "threshold": sep.get("threshold"),
        "input_value": sep.get("input_value"),
        "input_already": bool(sep.get("input_already_separates")),
        "nmi": layers.get(sep_layer, {}).get("cluster_class_nmi") if sep_layer else None,
        "per_layer": [{"layer": p["layer"], "value": p.get("value"),
                       "gain": p.get("gain_over_input", p.get("gain"))}
                      for p in sep.get("per_layer", []) or []],
        "largest_gain": sep.get("largest_gain_layer"),
    }
    gains = {p["layer"]: p["gain"] for p in q1["per_layer"]}
    q1["largest_gain_value"] = gains.get(q1["largest_gain"])
    differ = ans.get("signatures_differ", {}) or {}
    coverage = metrics.get("paths", {}).get("coverage", {}) or {}
    cov = [(ctx.label.get(int(c), c), v) for c, v in coverage.items()]
    mean_cov = float(np.mean([v for _, v in cov])) if cov else None
    if mean_cov is None:
        verdict = "Measured"
    elif mean_cov >= 0.9:
        verdict = "Yes, clearly"
    elif mean_cov >= 0.5:
        verdict = "Mostly"
    else:
        verdict = "Largely shared"
    js_rows = [p for p in differ.get("per_layer", []) or [] if p.get("js") is not None]
    hidden_js = [p for p in js_rows if p["layer"].startswith("hidden")]
    strongest = max(hidden_js or js_rows, key=lambda p: p["js"]) if js_rows else None
    atypical = sorted([a for a in differ.get("atypical", []) or [] if a.get("count")],
                      key=lambda a: -a["count"])
    q2 = {
        "verdict": verdict, "coverage": cov, "strongest": strongest,
        "n_specific": len(ctx.specific),
        "n_paths": metrics.get("paths", {}).get("n_distinct_train"),
        "atypical": [{"cls": ctx.label.get(int(a["class"])),
                      "like": ctx.label.get(int(a["looks_like"])),
                      "count": a["count"], "fraction": a.get("fraction"),
                      "split": a.get("split", "test")} for a in atypical],
    }
    q3 = []
    for u in ans.get("unseen", []) or []:
        c = int(u["class"])
        pred = sorted(((ctx.label.get(int(k), k), v) for k, v in
                       (u.get("predicted_as") or {}).items() if v), key=lambda kv: -kv[1])
        borrowed = tuple(int(p) for p in u.get("most_borrowed_path") or ())
        info = ctx.specific.get(borrowed)
        best = max((r for r in ood_rows if str(r["probe_class"]) == str(c)
                    and r["auroc"] is not None), key=lambda r: r["auroc"], default=None)
        q3.append({"cls": ctx.label[c], "name": ctx.name.get(c, str(c)), "predicted": pred,
                   "novel": u.get("novel_path_fraction"),
                   "borrowed": format_path(borrowed, ctx.name) if borrowed else None,
                   "borrowed_letter": info["letter"] if info else None,
                   "borrowed_owner": ctx.label.get(info["dominant"]) if info else None,
                   "best": best})
    best_all = max((r for r in ood_rows if r["probe_class"] == "all" and r["auroc"] is not None),
                   key=lambda r: r["auroc"], default=None)
    return {"q1": q1, "q2": q2, "q3": q3, "q3_all": best_all}


def _phrase(items: list[str]) -> str:
    """ "1 and 7", "1, 3 and 7", or "the 10 classes" when a list would not read well."""
    if len(items) > 4:
        return f"the {len(items)} classes"
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _experiment_line(metrics: dict, ctx: Context) -> dict:
    exp = metrics.get("experiment", {})
    hidden = [int(h) for h in exp.get("hidden", [])]
    arch = " \u2192 ".join(str(w) for w in [784, *hidden, len(ctx.classes)])
    return {
        "arch": arch, "activation": exp.get("activation"),
        "loss": str(exp.get("loss") or "").replace("_", "-"),
        "dataset": _DATASET_NAMES.get(exp.get("dataset"), exp.get("dataset")),
        "classes": [ctx.label[c] for c in ctx.classes],
        "classes_phrase": _phrase([ctx.label[c] for c in ctx.classes]),
        "probes": [ctx.name.get(c, str(c)) for c in ctx.probes],
        "n_train": exp.get("n_train"), "n_test": exp.get("n_test"), "n_probe": exp.get("n_probe"),
        "test_accuracy": metrics.get("model", {}).get("test_accuracy"),
        "train_accuracy": metrics.get("model", {}).get("train_accuracy"),
        "seeds": exp.get("seeds") or [exp.get("seed")],
    }



def build_answers(ctx: Context, metrics: dict, ood_rows: list[dict]) -> Section:
    """The experiment in one line, the class colour legend and the three answers.

    ``ood_rows`` are the detection section's rows (``values["ood"]``); an answer
    names the best detector among them.
    """
    legend = [(ctx.label[c], ctx.colors[c], c in ctx.probes) for c in ctx.classes + ctx.probes]
    return Section(values={"exp": _experiment_line(metrics, ctx),
                           "answers": _answers(ctx, metrics, ood_rows), "legend": legend})
