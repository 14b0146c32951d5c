"""The glossary: every measure and score the report names, defined by the metrics' own
documentation (the descriptions in ``sigreport/metrics.schema.json``), so the two never drift."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from markupsafe import Markup

from sigreport.report.sections.common import Section

__all__ = ["GLOSSARY", "PLAIN", "anchor", "build_glossary", "describe", "glossary_name", "term"]

# (term as the report says it, where the schema defines it: "$defs.name" or a property path
# with "[]" for the items of an array)
GLOSSARY = (
    ("Unassigned", "layers.[].unassigned_rate"),
    ("Specific path", "paths.table.[].specific"),
    ("Never seen in training", "$defs.never_seen_in_training"),
    ("Through an unassigned layer", "$defs.through_unassigned_layer"),
    ("Novel path", "$defs.novel_path"),
    ("Separation layer", "answers.separation.separation_layer"),
    ("CKA with the labels", "$defs.cka_labels"),
    ("Cluster / class AMI", "$defs.cluster_class_ami"),
    ("Linear probe accuracy", "$defs.linear_probe_accuracy"),
    ("95% interval", "$defs.interval"),
    ("JS divergence of paths", "answers.signatures_differ.per_layer.[].js"),
    ("Linear-discriminant clusters", "answers.signatures_differ.input_lda"),
    ("Paired bootstrap difference", "$defs.js_difference"),
    ("Routed like another class", "answers.signatures_differ.routed_like"),
    ("Faithfulness", "paths.faithfulness"),
    ("Path agreement under noise", "paths.noise"),
    ("Score family", "$defs.family"),
    ("Novelty scores", "$defs.method"),
    ("Best score of a family", "$defs.detection_held_out_pick"),
    ("AUROC", "$defs.auroc"),
    ("FPR95", "$defs.fpr95"),
)

# Each term in plain words, shown before the schema's exact definition (which names the
# config keys and metrics fields).
PLAIN = {
    "Unassigned": "An image the layer does not recognise: it falls outside the region of every "
                  "group (cluster) of training images in that layer.",
    "Specific path": "A route through the layers that mostly images of one class take, and "
                     "enough of them to count.",
    "Never seen in training": "A route through the layers, recognised at every layer, that "
                              "no training image took.",
    "Through an unassigned layer": "A route on which at least one layer does not recognise "
                                   "the image (it is unassigned there).",
    "Novel path": "A route that is new to the network: never seen in training, or through an "
                  "unassigned layer.",
    "Separation layer": "The first hidden layer that tells the classes apart clearly better "
                        "than the raw pixels and than the same network before training.",
    "CKA with the labels": "How closely the layer's arrangement of the images follows their "
                           "classes, from 0 (not at all) to 1 (exactly).",
    "Cluster / class AMI": "How well the layer's groups of images match the classes, from 0 "
                           "(no better than chance) to 1 (the groups are the classes).",
    "Linear probe accuracy": "How often a straight cut through the layer's outputs gets the "
                             "class right.",
    "95% interval": "The range the number would likely fall in if the measurement were "
                    "repeated on other images like these.",
    "JS divergence of paths": "How differently the classes spread over the routes through the "
                              "layers: 0 when alike, 1 when they never share a route.",
    "Linear-discriminant clusters": "Groups of the raw pixels made after a projection that "
                                    "is fitted to tell the trained classes apart: a baseline "
                                    "that already knows the labels.",
    "Paired bootstrap difference": "The difference of two numbers measured again and again on "
                                   "the same resampled test images, so that what both share "
                                   "cancels out; it counts when its 95% interval lies above 0.",
    "Routed like another class": "Images of one class that take the route typical of another "
                                 "class.",
    "Faithfulness": "How often an image's route names the class the network decides on.",
    "Path agreement under noise": "How often an image keeps its route when a little noise is "
                                  "added to its pixels.",
    "Score family": "What a novelty score looks at: the pixels alone, the network's outputs, "
                    "or only the routes and groups inside it.",
    "Best score of a family": "The strongest novelty score of one family, picked on one half "
                              "of the images and quoted on the other half, so the pick does "
                              "not flatter it.",
    "Novelty scores": "Numbers that grow the less an image looks like the training images.",
    "AUROC": "How well a score tells unseen images from known ones: 0.5 is a coin toss, 1 "
             "never wrong.",
    "FPR95": "The share of unseen images that still pass as known when the score lets 95% of "
             "the known images through; lower is better.",
}


_TERMS = frozenset(t for t, _ in GLOSSARY)


def anchor(term: str) -> str:
    """The id of ``term``'s entry in the glossary ("g-cka-with-the-labels")."""
    return "g-" + "".join(ch if ch.isalnum() else "-" for ch in term.lower()).strip("-")


def glossary_name(label: str) -> str:
    """The glossary term that ``label`` is, whatever its case ("cluster / class AMI" ->
    "Cluster / class AMI")."""
    return next(t for t in _TERMS if t.lower() == label.lower())


def term(name: str, text: str | None = None) -> Markup:
    """``text`` (default: ``name``) as a link to ``name``'s glossary entry, for the answer
    cards' sentences (the report template's ``term(...)``). ``name`` must be a glossary term,
    so a renamed entry fails the render instead of leaving a dead link."""
    if name not in _TERMS:
        raise KeyError(f"{name!r} is not a glossary term")
    return Markup('<a class="term" href="#{}">{}</a>').format(anchor(name),
                                                               name if text is None else text)


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
    """The glossary's terms: each in plain words, then as the metrics define it."""
    return Section(values={"glossary": [
        {"term": term, "id": anchor(term), "plain": PLAIN[term], "text": describe(path)}
        for term, path in GLOSSARY]})
