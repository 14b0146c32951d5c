"""sigreport: activation-path signatures of trained classifiers, as static reports.

In a notebook::

    import sigreport
    rep = sigreport.report("mnist-1-7")      # measures; rep.metrics holds every number
    rep                                      # the page, drawn in a sandboxed iframe

The stages, each a function of plain values::

    load_config -> load_raw, prepare_dataset -> fit_model -> capture_activations
      -> fit_signatures -> compute_metrics -> render_report   (pipeline.run does all)

    load_sweep -> run_sweep   (a grid of runs on Dask workers)

Stage functions are imported on first use, so ``import sigreport`` stays light.
"""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("sigreport")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

from sigreport.config import Config, load_config
from sigreport.errors import ConfigError, DataError, OutputError, SigreportError, TrainingError

_LAZY = {
    "load_raw": "sigreport.data",
    "prepare_dataset": "sigreport.data",
    "Dataset": "sigreport.data",
    "fit_model": "sigreport.train",
    "TrainResult": "sigreport.train",
    "capture_activations": "sigreport.activations",
    "Activations": "sigreport.activations",
    "fit_signatures": "sigreport.signatures",
    "Signatures": "sigreport.signatures",
    "compute_metrics": "sigreport.analysis",
    "render_report": "sigreport.report",
    "build_site": "sigreport.report",
    "Report": "sigreport.library",
    "run": "sigreport.pipeline",
    "build_run": "sigreport.pipeline",
    "load_sweep": "sigreport.sweep",
    "run_sweep": "sigreport.sweep",
}

__all__ = [
    "__version__",
    "Config",
    "load_config",
    "ConfigError",
    "DataError",
    "OutputError",
    "SigreportError",
    "TrainingError",
    "report",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name == "report":  # the callable package: sigreport.report(source, overrides)
        return import_module("sigreport.report")
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'sigreport' has no attribute {name!r}")
