"""The metrics types (sigreport/analysis/types.py) against metrics.schema.json, key for key,
and a real run's metrics.json against both."""

from __future__ import annotations

import json
import typing
from pathlib import Path

import pytest
from conftest import check_metrics

from sigreport.analysis import types as T

SCHEMA = json.loads((Path(T.__file__).parents[1] / "metrics.schema.json").read_text("utf-8"))


def _node(pointer: str) -> dict:
    node = SCHEMA
    for part in pointer.lstrip("#/").split("/") if pointer != "#" else []:
        node = node[part]
    while "$ref" in node and "properties" not in node:
        node = _node(node["$ref"])
    if "properties" not in node:  # "anyOf": [the object, null]
        node = next(_node(o["$ref"]) if "$ref" in o else o for o in node["anyOf"]
                    if o.get("type") != "null")
    return node


def _required(typed) -> set[str]:
    """The keys of a TypedDict that are not NotRequired (read from its resolved hints: the
    module's postponed annotations hide NotRequired from ``__required_keys__``)."""
    hints = typing.get_type_hints(typed, include_extras=True)
    return {k for k, h in hints.items() if typing.get_origin(h) is not typing.NotRequired}


@pytest.mark.parametrize("pointer", sorted(T.SCHEMA_OF))
def test_each_type_has_the_keys_of_its_schema_object(pointer):
    typed, node = T.SCHEMA_OF[pointer], _node(pointer)
    assert set(typed.__annotations__) == set(node["properties"]), pointer
    assert _required(typed) == set(node.get("required", [])), pointer


def test_every_top_level_section_is_typed():
    assert set(T.Metrics.__annotations__) == set(SCHEMA["properties"])


def _check(value, typed, where: str) -> None:
    """The keys of ``value`` are those ``typed`` allows, recursively through typed fields."""
    assert set(value) <= set(typed.__annotations__), where
    assert _required(typed) <= set(value), where
    for key, sub in value.items():
        inner = [t for t in T.SCHEMA_OF.values() if t.__name__ in str(typed.__annotations__[key])]
        items = sub if isinstance(sub, list) else [sub]
        for t in inner:
            for item in items:
                if isinstance(item, dict) and set(item) <= set(t.__annotations__) and \
                        _required(t) <= set(item):
                    _check(item, t, f"{where}.{key}")


def test_a_real_runs_metrics_validate_and_have_the_typed_keys(tiny_run):
    metrics = json.loads((tiny_run / "tiny" / "metrics.json").read_text("utf-8"))
    check_metrics(metrics)
    _check(metrics, T.Metrics, "metrics")
    assert "projection" in metrics
