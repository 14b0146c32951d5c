"""The user-facing error types, and how a message is made safe for a terminal.

Each kind of user error has one type. The CLI catches :class:`SigreportError`,
prints its message as a single line and exits with status 2.
"""

from __future__ import annotations

import unicodedata

__all__ = [
    "ConfigError",
    "DataError",
    "OutputError",
    "SigreportError",
    "TrainingError",
    "printable",
]


class SigreportError(Exception):
    """Base class of every error caused by the user's input or environment."""


class ConfigError(SigreportError):
    """The experiment configuration is missing, malformed or invalid."""


class DataError(SigreportError):
    """A data file is missing, truncated, corrupt or inconsistent."""


class TrainingError(SigreportError):
    """Training could not produce a usable network (for example it diverged)."""


class OutputError(SigreportError):
    """A folder that results go to (a report, the site) cannot be written."""


_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: str) -> str:
    """``text`` with every control or invisible formatting character shown as an escape.

    A path or a name can hold a newline, a terminal escape sequence or a
    right-to-left override; printed raw, it would rewrite what the reader
    sees. Bytes of a file name that were not UTF-8 (held as lone surrogates)
    are shown as ``\\xNN`` too, so that printing never fails.
    """
    out = []
    for ch in text:
        code = ord(ch)
        if ch in _NAMED:
            out.append(_NAMED[ch])
        elif 0xDC80 <= code <= 0xDCFF:  # one undecodable byte, as os.fsdecode keeps it
            out.append(f"\\x{code - 0xDC00:02x}")
        elif unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp"):
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)
