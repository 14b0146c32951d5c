"""What every section's view builder shares: the class context, path text, digit grids.

A view builder takes the run's numbers (metrics) and arrays and returns a
:class:`Section`: the Bokeh figures it draws and the plain values its
template include shows. It writes nothing and renders no HTML.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from sigreport.analysis.types import Metrics
from sigreport.report import figures as F
from sigreport.report.arrays import FigureArrays
from sigreport.report.images import build_mosaic, png_data_uri
from sigreport.sampling import seeded_subset

__all__ = ["Context", "Section", "build_context", "format_path", "mosaic", "pick", "split_paths"]

_DIGIT_SCALE = 1.25  # digits in image grids are shown 35 px tall


@dataclasses.dataclass
class Section:
    """One section's view: figures by name, their tables (``data``), other template values."""

    figures: dict[str, Any] = dataclasses.field(default_factory=dict)
    data: dict[str, Any] = dataclasses.field(default_factory=dict)
    values: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Context:
    """The classes of a run as every section names and colours them, and its specific paths."""

    classes: list[int]
    probes: list[int]
    colors: dict[int, str]
    label: dict[int, str]       # "7", "3 (unseen)"
    name: dict[int, str]        # plain class name
    specific: dict[tuple, dict]  # path -> {"letter", "dominant", "total", "purity", "row"}


def _letters(i: int) -> str:
    out = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        out = chr(65 + r) + out
    return out


def format_path(path: Sequence[int]) -> str:
    """A path as text: its cluster per hidden layer, "none" where unassigned ("c3 · none · c5")."""
    return " \u00b7 ".join("none" if int(p) < 0 else f"c{int(p)}" for p in path)


def _class_names(metrics: Metrics, arrays: FigureArrays) -> dict[int, str]:
    out = {int(k): str(v) for k, v in metrics["experiment"]["class_names"].items()}
    for i, n in enumerate(arrays.class_names):
        out.setdefault(i, n)
    return out


def build_context(metrics: Metrics, arrays: FigureArrays) -> Context:
    classes = list(arrays.classes)
    probes = list(arrays.probe_classes)
    names = _class_names(metrics, arrays)
    label = {c: names.get(c, str(c)) for c in classes}
    label.update({c: f"{names.get(c, str(c))} (unseen)" for c in probes})
    specific: dict[tuple, dict] = {}
    for row in metrics["paths"]["table"]:
        if row["specific"]:
            key = tuple(int(p) for p in row["path"])
            specific[key] = {"letter": _letters(len(specific)), "row": row,
                             "dominant": row["dominant_class"], "total": row["total"],
                             "purity": row["purity"]}
    return Context(classes, probes, F.class_palette(classes, probes), label, names, specific)


def split_paths(arrays: FigureArrays, split: str) -> list[tuple]:
    return [tuple(p) for p in arrays.split(split).paths.tolist()]


def pick(rows: np.ndarray, n: int, seed: int) -> np.ndarray:
    """At most ``n`` of ``rows`` (seeded, in their order)."""
    return rows[seeded_subset(len(rows), n, seed, salt=len(rows))]


def mosaic(images: np.ndarray | None, n_cols: int) -> dict | None:
    """A grid of digits as a data URI with its natural size, so every grid shows digits alike;
    None without images."""
    if images is None:
        return None
    grid = build_mosaic(images, n_cols)
    return {"src": png_data_uri(grid), "width": round(grid.shape[1] * _DIGIT_SCALE),
            "height": round(grid.shape[0] * _DIGIT_SCALE)}
