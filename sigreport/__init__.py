"""sigreport: activation-path signatures of trained classifiers, as static reports."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sigreport")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

from sigreport.config import Config, load_config
from sigreport.errors import ConfigError, DataError, SigreportError, TrainingError

__all__ = [
    "__version__",
    "Config",
    "load_config",
    "ConfigError",
    "DataError",
    "SigreportError",
    "TrainingError",
]
