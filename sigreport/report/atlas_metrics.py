"""What the atlas reads from a run's metrics.json, and every field name it reads, in one place.

A field that a run's metrics.json lacks (a run measured before the field existed)
reads as :data:`NOT_MEASURED`, and the atlas says "not measured" there. A field
present with ``null`` reads as ``None``: measured, and nothing found (for
example no layer separates the classes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

__all__ = ["FIELDS", "NOT_MEASURED", "Detection", "RunMeasures", "read_measures"]


class _NotMeasured:
    def __repr__(self) -> str:
        return "NOT_MEASURED"

    def __bool__(self) -> bool:
        return False


NOT_MEASURED: Final = _NotMeasured()

# metrics.json fields (schema version 2), as paths of keys.
FIELDS: Final = {
    "classes": ("experiment", "classes"),
    "probe_classes": ("experiment", "probe_classes"),
    "test_accuracy": ("model", "test_accuracy"),
    "test_accuracy_ci": ("model", "test_accuracy_ci"),
    "separation_layer": ("answers", "separation", "separation_layer"),
    "separation_layer_index": ("answers", "separation", "separation_layer_index"),
    "hidden_layers": ("paths", "layers"),
    "specific_share": ("paths", "specific_share", "value"),
    "ood": ("ood",),
}
# Keys of an ood[] row, and the family whose best row the atlas shows.
OOD_ROW: Final = {"probe_class": "probe_class", "family": "family", "auroc": "auroc",
                  "auroc_ci": "auroc_ci", "method": "method", "layer": "layer"}
SIGNATURE_FAMILY: Final = "signature"


def field_name(key: str) -> str:
    """The dotted name of a field, as the page names what it could not find."""
    return ".".join(FIELDS[key])


def _get(metrics: dict, key: str) -> Any:
    node: Any = metrics
    for part in FIELDS[key]:
        if not isinstance(node, dict) or part not in node:
            return NOT_MEASURED
        node = node[part]
    return node


def _interval(value: Any) -> tuple[float, float] | None:
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(
            isinstance(v, (int, float)) for v in value):
        return float(value[0]), float(value[1])
    return None


@dataclass(frozen=True)
class Detection:
    """The best row of one family for one unseen class."""

    auroc: float
    auroc_ci: tuple[float, float] | None
    method: str
    layer: str


@dataclass(frozen=True)
class RunMeasures:
    """The numbers the atlas shows for one run; NOT_MEASURED where metrics.json lacks them."""

    classes: tuple[int, ...]
    probe_classes: tuple[int, ...]
    test_accuracy: Any
    test_accuracy_ci: tuple[float, float] | None
    separation_layer: Any
    separation_layer_index: Any
    n_hidden: Any
    specific_share: Any
    detection: dict[int, Any]


def _best_signature_rows(ood: Any, probes: tuple[int, ...]) -> dict[int, Any]:
    """Per unseen class: the signature family's row with the highest AUROC."""
    k = OOD_ROW
    rows = [r for r in ood if isinstance(r, dict)] if isinstance(ood, list) else []
    if not rows or not all(k["family"] in r for r in rows):
        return dict.fromkeys(probes, NOT_MEASURED)
    out: dict[int, Any] = {}
    for probe in probes:
        mine = [r for r in rows if r.get(k["probe_class"]) == probe
                and r[k["family"]] == SIGNATURE_FAMILY and r.get(k["auroc"]) is not None]
        best = max(mine, key=lambda r: r[k["auroc"]], default=None)
        out[probe] = NOT_MEASURED if best is None else Detection(
            float(best[k["auroc"]]), _interval(best.get(k["auroc_ci"])),
            str(best.get(k["method"])), str(best.get(k["layer"])))
    return out


def read_measures(metrics: dict) -> RunMeasures:
    """The atlas's numbers of one run, read from its metrics.json (a dict)."""
    classes = _get(metrics, "classes")
    probes = _get(metrics, "probe_classes")
    classes = tuple(int(c) for c in classes) if isinstance(classes, list) else ()
    probes = tuple(int(c) for c in probes) if isinstance(probes, list) else ()
    hidden = _get(metrics, "hidden_layers")
    ci = _get(metrics, "test_accuracy_ci")
    return RunMeasures(
        classes=classes,
        probe_classes=probes,
        test_accuracy=_get(metrics, "test_accuracy"),
        test_accuracy_ci=_interval(ci),
        separation_layer=_get(metrics, "separation_layer"),
        separation_layer_index=_get(metrics, "separation_layer_index"),
        n_hidden=len(hidden) if isinstance(hidden, list) else NOT_MEASURED,
        specific_share=_get(metrics, "specific_share"),
        detection=_best_signature_rows(_get(metrics, "ood"), probes),
    )
