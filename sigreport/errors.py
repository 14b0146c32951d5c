"""The user-facing error types.

Each kind of user error has one type. The CLI catches :class:`SigreportError`,
prints its message as a single line and exits with status 2.
"""

from __future__ import annotations

__all__ = ["ConfigError", "DataError", "SigreportError", "TrainingError"]


class SigreportError(Exception):
    """Base class of every error caused by the user's input or environment."""


class ConfigError(SigreportError):
    """The experiment configuration is missing, malformed or invalid."""


class DataError(SigreportError):
    """A data file is missing, truncated, corrupt or inconsistent."""


class TrainingError(SigreportError):
    """Training could not produce a usable network (for example it diverged)."""
