"""The glossary: every measure and score the report names, defined by the metrics' own
documentation (the descriptions in ``sigreport/metrics.schema.json``), so the two never drift."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from sigreport.report.sections.common import Section

__all__ = ["GLOSSARY", "build_glossary", "describe"]

# (term as the report says it, where the schema defines it: "$defs.name" or a property path
# with "[]" for the items of an array)
GLOSSARY = (
    ("Unassigned", "layers.[].unassigned_rate"),
    ("Specific path", "paths.table.[].specific"),
    ("Novel path", "paths.table.[].novel"),
    ("Separation layer", "answers.separation.separation_layer"),
    ("CKA with the labels", "$defs.cka_labels"),
    ("Cluster / class AMI", "$defs.cluster_class_ami"),
    ("Linear probe accuracy", "$defs.linear_probe_accuracy"),
    ("95% interval", "$defs.interval"),
    ("JS divergence of paths", "answers.signatures_differ.per_layer.[].js"),
    ("Routed like another class", "answers.signatures_differ.routed_like"),
    ("Faithfulness", "paths.faithfulness"),
    ("Path agreement under noise", "paths.noise"),
    ("Score family", "$defs.family"),
    ("Novelty scores", "$defs.method"),
    ("Best score of a family", "$defs.detection_held_out_pick"),
    ("AUROC", "$defs.auroc"),
    ("FPR95", "$defs.fpr95"),
)


@cache
def _schema() -> dict[str, Any]:
    text = (resources.files("sigreport") / "metrics.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


def describe(path: str) -> str:
    """The schema's description of the field at ``path`` (the first one met along its $refs)."""
    schema = _schema()
    defs = schema["$defs"]
    parts = path.split(".")
    node = defs[parts[1]] if parts[0] == "$defs" else schema
    for part in ([] if parts[0] == "$defs" else parts):
        while "$ref" in node and "properties" not in node and "items" not in node:
            node = defs[node["$ref"].rsplit("/", 1)[-1]]
        node = node["items"] if part == "[]" else node["properties"][part]
    while "description" not in node:
        node = defs[node["$ref"].rsplit("/", 1)[-1]]
    return node["description"]


def build_glossary() -> Section:
    """The glossary's terms and definitions."""
    return Section(values={"glossary": [(term, describe(path)) for term, path in GLOSSARY]})
