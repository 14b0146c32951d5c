"""metrics.json: the JSON Schema in the package, and metrics that follow it.

The metrics are computed by the real analysis on small synthetic activations:
a two-layer ReLU network whose first units follow the classes, its untrained
counterpart as the epoch-0 snapshot, a second seed, and noisy test images.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from importlib import resources
from types import SimpleNamespace
from typing import Any

import jsonschema
import numpy as np
import pytest
from conftest import check_metrics

from sigreport.activations import Activations, LayerInfo, SplitActivations
from sigreport.analysis import SCHEMA_VERSION, compute_metrics
from sigreport.config import AnalysisConfig, Config, DataConfig, ModelConfig
from sigreport.signatures import fit_signatures

CLASSES = (1, 7)
PROBE = 3
N_PER_CLASS = {"train": 40, "test": 30, "probe": 30}   # probe: class 3 only
WIDTHS = (8, 6, 4)                                       # input, hidden1, hidden2
# Input centres: each class lifts its own input unit, the probe class one no training
# sample uses, so the trained network's first units follow the classes. A few test 7s
# are drawn like 1s, and half the probe samples too, so that samples are routed like
# another class and the probe class borrows a path.
CENTRE = {1: 0, 7: 1, 3: 2}
PLANTED = 3

CONFIG = Config(name="schema-toy", seed=0, seeds=(0, 1),
                data=DataConfig(classes=CLASSES, probe_classes=(PROBE,)),
                model=ModelConfig(hidden=WIDTHS[1:]),
                analysis=AnalysisConfig(n_bootstrap=50, path_noise=0.3))
DATASET = SimpleNamespace(name="mnist", class_names=tuple(str(c) for c in range(10)),
                          classes=CLASSES, probe_classes=(PROBE,))
TRAIN = SimpleNamespace(seed=0, history={
    "epoch": np.array([1, 2, 3]), "train_loss": np.array([0.6, 0.3, 0.2]),
    "train_accuracy": np.array([0.8, 0.9, 0.95]), "test_accuracy": np.array([0.75, 0.85, 0.9])})


def _weights(rng: np.random.Generator, trained: bool) -> list[np.ndarray]:
    """Dense weights (in, out) per layer; trained ones pass unit i on to unit i."""
    dims = WIDTHS + (len(CLASSES),)
    out = []
    for d_in, d_out in zip(dims, dims[1:]):
        w = rng.normal(scale=0.5, size=(d_in, d_out))
        if trained:   # the class units amplified, the others damped
            gain = np.where(np.arange(d_out) < len(CLASSES), 2.0, 0.2)
            w = 0.05 * w + np.eye(d_in, d_out) * gain
        out.append(w)
    if trained:   # the logits compare the two class units
        out[-1] = np.array([[1.0, -1.0], [-1.0, 1.0], [0.0, 0.0], [0.0, 0.0]])
    return out


def _forward(weights: list[np.ndarray], x: np.ndarray, y: np.ndarray, index: np.ndarray
             ) -> SplitActivations:
    layers = {"input": x.astype(np.float32)}
    h = x.astype(np.float64)
    for i, w in enumerate(weights[:-1], start=1):
        pre = h @ w
        h = np.maximum(pre, 0.0)
        layers[f"hidden{i}.pre"] = pre.astype(np.float32)
        layers[f"hidden{i}"] = h.astype(np.float32)
    logits = h @ weights[-1]
    layers["logits"] = logits.astype(np.float32)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    layers["probs"] = (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
    predicted = np.asarray(CLASSES)[np.argmax(logits, axis=1)].astype(np.int64)
    return SplitActivations(layers=layers, y=y.astype(np.int64), index=index.astype(np.int64),
                            predicted=predicted)


def _inputs(rng: np.random.Generator, like: np.ndarray) -> np.ndarray:
    """float64 (n_samples, width) inputs, each drawn like the class in ``like``."""
    x = rng.normal(scale=0.6, size=(len(like), WIDTHS[0]))
    x[np.arange(len(like)), [CENTRE[int(c)] for c in like]] += 3.0
    return x


def _infos() -> tuple[LayerInfo, ...]:
    infos = [LayerInfo("input", "input", 0, WIDTHS[0])]
    for i, width in enumerate(WIDTHS[1:], start=1):
        infos += [LayerInfo(f"hidden{i}.pre", "pre", i, width),
                  LayerInfo(f"hidden{i}", "post", i, width)]
    n_out = len(WIDTHS)
    return tuple(infos) + (LayerInfo("logits", "logits", n_out, len(CLASSES)),
                           LayerInfo("probs", "probs", n_out, len(CLASSES)))


@dataclasses.dataclass(frozen=True)
class Toy:
    """One network's activations, and the inputs and weights to rerun it."""

    acts: Activations
    weights: list[np.ndarray]
    x_test: np.ndarray


def make_toy(seed: int, trained: bool = True, data_seed: int = 0) -> Toy:
    """Activations of every split; the samples depend on ``data_seed``, the weights on ``seed``."""
    rng = np.random.default_rng(data_seed)
    ys = {"train": np.repeat(CLASSES, N_PER_CLASS["train"]),
          "test": np.repeat(CLASSES, N_PER_CLASS["test"]),
          "probe": np.full(N_PER_CLASS["probe"], PROBE)}
    like = {split: y.copy() for split, y in ys.items()}
    like["test"][N_PER_CLASS["test"]:N_PER_CLASS["test"] + PLANTED] = CLASSES[0]
    like["probe"][::2] = CLASSES[0]
    xs = {split: _inputs(rng, like[split]) for split in ys}
    weights = _weights(np.random.default_rng([seed, int(trained)]), trained)
    splits = {split: _forward(weights, xs[split], y, np.arange(len(y)) * 2 + 1)
              for split, y in ys.items()}
    return Toy(Activations(layers=_infos(), classes=CLASSES, **splits), weights, xs["test"])


def _noisy_test(toy: Toy) -> SplitActivations:
    noise = np.random.default_rng(7).normal(scale=CONFIG.analysis.path_noise,
                                            size=toy.x_test.shape)
    return _forward(toy.weights, toy.x_test + noise, toy.acts.test.y, toy.acts.test.index)


def _with_method(method: str) -> Config:
    return dataclasses.replace(CONFIG, signatures=dataclasses.replace(CONFIG.signatures,
                                                                      method=method))


def _metrics(config: Config, dataset: Any = DATASET, acts: Activations | None = None) -> dict:
    acts = acts if acts is not None else make_toy(0).acts
    return compute_metrics(config, dataset, TRAIN, acts, fit_signatures(acts, config.signatures, 0))


@pytest.fixture(scope="module")
def schema() -> dict:
    text = (resources.files("sigreport") / "metrics.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


@pytest.fixture(scope="module")
def validator(schema) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema)


@pytest.fixture(scope="module")
def full_metrics() -> dict:
    """Metrics with every optional section filled: an untrained control, a second seed,
    noisy test images."""
    main, untrained, other = make_toy(0), make_toy(0, trained=False), make_toy(1)
    cfg = CONFIG.signatures
    sigs = fit_signatures(main.acts, cfg, 0)
    k_trained = {s.layer: s.n_clusters for s in sigs.layers}
    snapshots = {0: (untrained.acts, fit_signatures(untrained.acts, cfg, 0, k=k_trained)),
                 3: (main.acts, sigs)}
    return compute_metrics(CONFIG, DATASET, TRAIN, main.acts, sigs, snapshots=snapshots,
                           other_seeds=[(1, other.acts, fit_signatures(other.acts, cfg, 1))],
                           noisy=_noisy_test(main))


def _errors(validator: jsonschema.Draft202012Validator, metrics: dict) -> list[str]:
    errors = sorted(validator.iter_errors(metrics), key=lambda e: e.json_path)
    return [f"{e.json_path}: {e.message[:200]}" for e in errors[:5]]


def test_schema_is_valid_draft_2020_12(schema):
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["properties"]["schema_version"]["const"] == SCHEMA_VERSION
    assert "none are removed or renamed within one schema_version" in schema["description"]


def test_full_metrics_validate(validator, full_metrics):
    assert not _errors(validator, full_metrics)
    check_metrics(json.loads(json.dumps(full_metrics)))
    m = full_metrics
    # every optional section is really there, so the schema was checked against it
    assert m["stability"] is not None and m["paths"]["noise"] is not None
    assert m["seed_spread"]["seeds"] == [0, 1]
    assert [s["epoch"] for s in m["snapshots"]] == [0, 3]
    assert m["answers"]["separation"]["control_epoch"] == 0
    assert m["answers"]["unseen_detection"] is not None
    assert {row["family"] for row in m["ood"]} == {"input", "network", "signature"}
    assert any(layer["binary"] for layer in m["layers"])


@pytest.mark.parametrize("method", ["gmm", "hdbscan"])
def test_metrics_of_other_methods_validate(validator, method):
    metrics = _metrics(_with_method(method))
    assert metrics["experiment"]["signatures"]["method"] == method
    assert not _errors(validator, metrics)
    check_metrics(json.loads(json.dumps(metrics)))


def test_metrics_without_probes_validate(validator):
    acts = make_toy(0).acts
    empty = SplitActivations(layers={k: v[:0] for k, v in acts.probe.layers.items()},
                             y=acts.probe.y[:0], index=acts.probe.index[:0],
                             predicted=acts.probe.predicted[:0])
    dataset = SimpleNamespace(**{**vars(DATASET), "probe_classes": ()})
    metrics = _metrics(CONFIG, dataset, dataclasses.replace(acts, probe=empty))
    assert metrics["ood"] == [] and metrics["answers"]["unseen"] == []
    assert metrics["answers"]["unseen_detection"] is None
    assert not _errors(validator, metrics)
    check_metrics(json.loads(json.dumps(metrics)))


@pytest.mark.parametrize("breakage", [
    ("set", ("model", "test_accuracy"), 1.5),
    ("set", ("ood", 0, "auroc"), 1.01),
    ("set", ("paths", "specific_share", "value"), 2.0),
    ("set", ("layers", 0, "linear_probe_accuracy_ci"), [0.5, 0.6, 0.7]),
    ("set", ("ood", 0, "family"), "pixels"),
    ("set", ("ood", 0, "method"), "path_distance"),
    ("set", ("ood", 0, "probe_class"), "some"),
    ("set", ("layers", 1, "width"), "four"),
    ("set", ("experiment", "class_names"), {"one": "1"}),
    ("set", ("schema_version",), 1),
    ("drop", ("answers", "separation", "separation_layer")),
    ("drop", ("layers", 0, "name")),
    ("drop", ("paths", "faithfulness", "coverage")),
    ("drop", ("ood", 0, "fpr95")),
    ("drop", ("answers", "unseen", 0, "novel_path_fraction")),
    ("drop", ("stability",)),
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


# --- every field has a schema and a description ---------------------------------


def _resolve(root: dict, node: dict) -> dict:
    """The schema ``node`` with its local $ref followed, its own keywords (a description) kept."""
    while "$ref" in node:
        target = root
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _branch(root: dict, node: dict, value: Any) -> dict:
    """The anyOf branch that describes a structured ``value``, merged with the outer keywords."""
    node = _resolve(root, node)
    if "anyOf" not in node:
        return node
    kind = "object" if isinstance(value, dict) else "array"
    matches = [b for b in (_resolve(root, b) for b in node["anyOf"])
               if kind in np.atleast_1d(b.get("type", [])).tolist()]
    assert len(matches) == 1, f"{len(matches)} anyOf branches take a {kind}"
    return {**matches[0], **{k: v for k, v in node.items() if k != "anyOf"}}


def _undescribed(root: dict, node: dict, value: Any, where: str) -> list[str]:
    """Keys of ``value`` that no explicit property of the schema describes."""
    if not isinstance(value, (dict, list)):
        return []
    node = _branch(root, node, value)
    missing = []
    if isinstance(value, dict):
        props = node.get("properties")
        if props is None:      # a map: class ids or layer names to values of one schema
            assert "propertyNames" in node and isinstance(node.get("additionalProperties"),
                                                          dict), where
            for key, item in value.items():
                missing += _undescribed(root, node["additionalProperties"], item,
                                        f"{where}.{key}")
            return missing
        for key, item in value.items():
            if key not in props:
                missing.append(f"{where}.{key}")
            elif not _resolve(root, props[key]).get("description"):
                missing.append(f"{where}.{key} (no description)")
            else:
                missing += _undescribed(root, props[key], item, f"{where}.{key}")
    elif isinstance(value, list) and isinstance(node.get("items"), dict):
        for i, item in enumerate(value):
            missing += _undescribed(root, node["items"], item, f"{where}[{i}]")
    return missing


def test_every_field_written_has_a_described_schema(schema, full_metrics):
    """Walks the metrics and the schema together: no key is allowed only by
    additionalProperties, and each one has a description for the glossary."""
    assert _undescribed(schema, schema, full_metrics, "$") == []


def test_every_property_of_the_schema_is_described(schema):
    missing = []

    def visit(node: Any, where: str) -> None:
        if isinstance(node, dict):
            for key, sub in node.get("properties", {}).items():
                if not _resolve(schema, sub).get("description"):
                    missing.append(f"{where}.{key}")
            for key, sub in node.items():
                visit(sub, f"{where}/{key}")
        elif isinstance(node, list):
            for i, sub in enumerate(node):
                visit(sub, f"{where}[{i}]")

    visit(schema, "#")
    assert missing == []
