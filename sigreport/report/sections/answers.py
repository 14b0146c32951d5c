"""The page's header line and its summary: the three answers, in words, from the metrics."""

from __future__ import annotations

from sigreport.report.sections.common import Context, Section, format_path
from sigreport.report.sections.layers import MEASURE_LABELS

__all__ = ["build_answers"]

_DATASET_NAMES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}


def _q1(metrics: dict) -> dict:
    sep = metrics["answers"]["separation"]
    m = sep["measure"]
    rows = {r["layer"]: r for r in sep["per_layer"]}
    at = rows.get(sep["separation_layer"])
    inp = sep["per_layer"][0]
    return {
        "layer": sep["separation_layer"], "reason": sep["reason"],
        "measure": MEASURE_LABELS[m],
        "value": at["value"][m] if at else None, "ci": at["ci"][m] if at else None,
        "control": at["control"][m] if at else None,
        "control_ci": at["control_ci"][m] if at else None,
        "input": inp["value"][m], "input_ci": inp["ci"][m],
        "control_epoch": sep["control_epoch"],
        "agree": [MEASURE_LABELS[k] for k, v in sep["first_layer_by_measure"].items()
                  if v == sep["separation_layer"] and k != m],
        "probe_input": sep["input_linear_probe_accuracy"],
        "probe_input_ci": sep["input_linear_probe_accuracy_ci"],
        "largest_step": sep["largest_step_layer"],
    }


def _q2(ctx: Context, metrics: dict) -> dict:
    differ = metrics["answers"]["signatures_differ"]
    paths = metrics["paths"]
    last = differ["per_layer"][-1] if differ["per_layer"] else None
    routed = sorted((r for r in differ["routed_like"] if r["count"]), key=lambda r: -r["count"])
    cov = [(ctx.label[int(c)], v) for c, v in paths["coverage"].items()]
    return {
        "last": last, "input": differ["input"],
        "differ": bool(last and last["beats_input"] and last["beats_control"] is not False),
        "coverage": cov, "n_specific": paths["n_specific"],
        "n_paths": paths["n_distinct_train"], "layers": paths["layers"],
        "faithfulness": paths["faithfulness"],
        "noise": paths["noise"],
        "routed": [{"cls": ctx.label[int(r["class"])], "like": ctx.label[int(r["looks_like"])],
                    "count": r["count"], "fraction": r["fraction"], "correct": r["correct"],
                    "wrong": r["wrong"]} for r in routed],
    }


def _q3(ctx: Context, metrics: dict) -> tuple[list[dict], dict | None]:
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
        out.append({"cls": ctx.label[c], "name": ctx.name.get(c, str(c)), "predicted": pred,
                    "novel": u["novel_path_fraction"], "test_novel": u["test_novel_path_fraction"],
                    "first": first, "layers": u["layers"],
                    "borrowed": format_path(borrowed) if borrowed else None,
                    "borrowed_letter": info["letter"] if info else None,
                    "borrowed_owner": ctx.label.get(info["dominant"]) if info else None,
                    "best": best})
    return out, (detection["best_per_family"] if detection else None)


def _phrase(items: list[str]) -> str:
    """ "1 and 7", "1, 3 and 7", or "the 10 classes" when a list would not read well."""
    if len(items) > 4:
        return f"the {len(items)} classes"
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _experiment_line(metrics: dict, ctx: Context) -> dict:
    exp = metrics.get("experiment", {})
    # The widths of the recorded layers, input first (a convolutional block's: its channels).
    widths = [int(lay["width"]) for lay in metrics.get("layers", []) if lay.get("width")]
    arch = " \u2192 ".join(str(w) for w in widths)
    return {
        "arch": arch, "activation": exp.get("activation"), "network": exp.get("network"),
        # recorded activations given without their untrained network's: the input is the
        # only control of every verdict
        "no_control": (exp.get("network") or {}).get("control") is False,
        # "images", or "vectors" (an activations file's inputs that are no images)
        "inputs": (exp.get("network") or {}).get("inputs", "images"),
        "conv": exp.get("conv"), "pool": exp.get("pool"),
        "loss": str(exp.get("loss") or "").replace("_", "-"),
        "dataset": _DATASET_NAMES.get(exp.get("dataset"), exp.get("dataset")),
        "classes": [ctx.label[c] for c in ctx.classes],
        "classes_phrase": _phrase([ctx.label[c] for c in ctx.classes]),
        "probes": [ctx.name.get(c, str(c)) for c in ctx.probes],
        "n_train": exp.get("n_train"), "n_test": exp.get("n_test"), "n_probe": exp.get("n_probe"),
        "test_accuracy": metrics.get("model", {}).get("test_accuracy"),
        "train_accuracy": metrics.get("model", {}).get("train_accuracy"),
        "seeds": exp.get("seeds") or [exp.get("seed")],
        # what the clusters and their regions were fitted on, in words
        "fitted_on": ("training and probe images"
                      if exp.get("signatures", {}).get("fit_on") == "train+probe"
                      else "training images"),
    }



def build_answers(ctx: Context, metrics: dict, ood_rows: list[dict]) -> Section:
    """The experiment in one line, the class colour legend and the three answers, every
    number read from the metrics."""
    legend = [(ctx.label[c], ctx.colors[c], c in ctx.probes) for c in ctx.classes + ctx.probes]
    q3, families = _q3(ctx, metrics)
    answers = {"q1": _q1(metrics), "q2": _q2(ctx, metrics), "q3": q3, "families": families}
    return Section(values={"exp": _experiment_line(metrics, ctx), "answers": answers,
                           "legend": legend})
