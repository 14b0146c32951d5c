"""metrics.json: the JSON Schema in the package, and metrics that follow it."""

from __future__ import annotations

import copy
import dataclasses
import json
from importlib import resources

import jsonschema
import pytest
from test_analysis import CONFIG, DATASET, TRAIN, make_acts

from sigreport.analysis import SCHEMA_VERSION, compute_metrics
from sigreport.signatures import fit_signatures


@pytest.fixture(scope="module")
def schema() -> dict:
    text = (resources.files("sigreport") / "metrics.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


@pytest.fixture(scope="module")
def validator(schema) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema)


@pytest.fixture(scope="module")
def full_metrics() -> dict:
    """Metrics with every optional section filled: snapshots and a second seed."""
    acts = make_acts()
    sigs = fit_signatures(acts, CONFIG.signatures, seed=0)
    other = make_acts(seed=1)
    config = dataclasses.replace(CONFIG, seeds=(0, 1))
    return compute_metrics(config, DATASET, TRAIN, acts, sigs, snapshots={3: (acts, sigs)},
                           other_seeds=[(1, other, fit_signatures(other, CONFIG.signatures, 1))])


def test_schema_is_valid_draft_2020_12(schema):
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["properties"]["schema_version"]["const"] == SCHEMA_VERSION


def test_full_metrics_validate(validator, full_metrics):
    errors = sorted(validator.iter_errors(full_metrics), key=lambda e: e.json_path)
    assert not errors, [f"{e.json_path}: {e.message}" for e in errors[:5]]
    assert full_metrics["stability"] is not None
    assert full_metrics["snapshots"]


@pytest.mark.parametrize("method", ["gmm", "hdbscan"])
def test_metrics_of_other_methods_validate(validator, method):
    acts = make_acts()
    config = dataclasses.replace(CONFIG, signatures=dataclasses.replace(CONFIG.signatures,
                                                                        method=method))
    metrics = compute_metrics(config, DATASET, TRAIN, acts,
                              fit_signatures(acts, config.signatures, seed=0))
    errors = list(validator.iter_errors(metrics))
    assert not errors, [f"{e.json_path}: {e.message}" for e in errors[:5]]


def test_metrics_without_probes_validate(validator):
    acts = make_acts()
    empty = acts.probe.__class__(
        layers={k: v[:0] for k, v in acts.probe.layers.items()}, y=acts.probe.y[:0],
        index=acts.probe.index[:0], predicted=acts.probe.predicted[:0])
    acts = dataclasses.replace(acts, probe=empty)
    dataset = copy.copy(DATASET)
    dataset.probe_classes = ()
    metrics = compute_metrics(CONFIG, dataset, TRAIN, acts,
                              fit_signatures(acts, CONFIG.signatures, seed=0))
    assert metrics["ood"] == [] and metrics["probes"] == [] and metrics["answers"]["unseen"] == []
    errors = list(validator.iter_errors(metrics))
    assert not errors, [f"{e.json_path}: {e.message}" for e in errors[:5]]


@pytest.mark.parametrize("breakage", [
    ("drop", ("layers", 0, "name")),
    ("drop", ("answers", "separation_layer")),
    ("drop", ("probes", 0, "novel_path_fraction")),
    ("drop", ("ood", 0, "fpr95")),
    ("drop", ("model", "test_accuracy")),
    ("set", ("ood", 0, "auroc"), 1.5),
    ("set", ("layers", 1, "width"), "four"),
    ("set", ("ood", 0, "probe_class"), "some"),
    ("set", ("experiment", "class_names"), {"one": "1"}),
    ("set", ("schema_version",), 2),
])
def test_schema_rejects_broken_metrics(validator, full_metrics, breakage):
    broken = copy.deepcopy(full_metrics)
    action, path, *value = breakage
    target = broken
    for key in path[:-1]:
        target = target[key]
    if action == "drop":
        del target[path[-1]]
    else:
        target[path[-1]] = value[0]
    assert not validator.is_valid(broken)


def test_contract_fields_are_present(full_metrics):
    """The fields other tools read, by name (INTERFACES.md)."""
    m = full_metrics
    assert 0 <= m["model"]["test_accuracy"] <= 1
    for layer in m["layers"]:
        assert {"name", "width", "linear_probe_accuracy", "cluster_class_nmi", "n_clusters"} <= set(layer)
    assert m["layers"][0]["name"] == "input"
    assert isinstance(m["answers"]["separation_layer"], str)
    assert all({"class", "novel_path_fraction"} <= set(p) for p in m["probes"])
    for row in m["ood"]:
        assert {"probe_class", "method", "layer", "auroc", "fpr95"} <= set(row)
    methods = {row["method"] for row in m["ood"]}
    assert {"max_softmax", "mahalanobis", "knn", "path_distance", "path_rarity"} <= methods
    assert {row["probe_class"] for row in m["ood"]} == {3, "all"}
