"""Analysis: measured answers to the three questions, as plain JSON values.

One module per question, assembled here:

- :mod:`.separation` (Q1): from which layer on the network treats the classes
  differently, against the input and the untrained network, with intervals;
- :mod:`.differ` (Q2): whether the classes' hidden-layer paths differ, and which
  samples are routed like another class;
- :mod:`.unseen` (Q3): what a class the network never saw looks like inside it;
- :mod:`.detection`: novelty scores by family (input, network, signature);
- :mod:`.spread`: the headline answers of every seed's network, and their spread;
- :mod:`.paths`, :mod:`.layers`, :mod:`.stability`, :mod:`.snapshots`: the
  tables the report shows beside the answers;
- :mod:`.metrics`: :func:`compute_metrics`, which runs them all and assembles the
  metrics.json dict; :mod:`.ood`: the novelty scores :mod:`.detection` uses.

Everything is fitted on the training split; test samples measure, probe
samples are only ever evaluated. The result is deterministic for a fixed seed,
holds no timestamps, and its floats have 6 significant digits.

Each name below is imported when first used: :mod:`.types` (what metrics.json holds)
is read without scikit-learn, which the measures import.
"""

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sigreport.analysis.measures import linear_cka, linear_probe_correct, purity
    from sigreport.analysis.metrics import SCHEMA_VERSION, compute_metrics
    from sigreport.analysis.paths import PathStats, compute_path_stats, count_paths

__all__ = [
    "SCHEMA_VERSION",
    "PathStats",
    "compute_metrics",
    "compute_path_stats",
    "count_paths",
    "linear_cka",
    "linear_probe_correct",
    "purity",
]

_HOME = {"SCHEMA_VERSION": "metrics", "compute_metrics": "metrics", "PathStats": "paths",
         "compute_path_stats": "paths", "count_paths": "paths", "linear_cka": "measures",
         "linear_probe_correct": "measures", "purity": "measures"}


def __getattr__(name: str) -> object:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{_HOME[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
