"""Checks of user-given values, shared by the experiment config and the sweep file.

A check takes ``(key, value)`` and returns the normalised value (lists become
tuples, integers given for floats become floats) or raises :class:`ConfigError`
with one line naming the key, the value received and what was expected. Each
config field declares its check once (see :mod:`sigreport.config`), so a value
is checked the same way whether it came from a TOML file, ``--set`` or Python.
"""

from __future__ import annotations

import json
import numbers
import re
from collections.abc import Callable
from typing import Any

from sigreport.errors import ConfigError

__all__ = [
    "ALL",
    "Check",
    "RESERVED_NAMES",
    "boolean",
    "choice",
    "count",
    "folder_name",
    "integer",
    "int_list",
    "invalid",
    "is_folder_name",
    "number",
    "show",
    "string",
    "toml_value",
]

Check = Callable[[str, Any], Any]

# data.n_per_class and data.n_test_per_class: every image of each class.
ALL = "all"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
# Names the site's own pages take: runs/<name>.md would replace runs/index.md (the
# comparison), and MkDocs turns a README.md into its folder's index. Compared in
# lower case, for file systems that ignore case.
RESERVED_NAMES = ("index", "readme")


def invalid(key: str, value: Any, expected: str) -> ConfigError:
    """The error for ``key = value`` when ``expected`` was wanted (to raise)."""
    return ConfigError(f"{key} = {show(value)}: expected {expected}")


def show(value: Any) -> str:
    """A value as the user would have written it in TOML."""
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(show(v) for v in value) + "]"
    return str(value)


def toml_value(value: Any) -> str:
    """A plain value (bool, str, int, float, list) as TOML that reads back the same."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        # JSON string escapes are valid TOML basic-string escapes; DEL is the one
        # control character JSON leaves raw and TOML forbids.
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def integer(lo: int | None = None, hi: int | None = None) -> Check:
    def check(key: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise invalid(key, value, "an integer")
        value = int(value)
        if lo is not None and value < lo:
            raise invalid(key, value, f"an integer >= {lo}")
        if hi is not None and value > hi:
            raise invalid(key, value, f"an integer <= {hi}")
        return value

    return check


def number(lo: float | None = None, hi: float | None = None, lo_open: bool = False) -> Check:
    def check(key: str, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise invalid(key, value, "a number")
        value = float(value)
        if value != value or value in (float("inf"), float("-inf")):
            raise invalid(key, value, "a finite number")
        if lo is not None and (value <= lo if lo_open else value < lo):
            raise invalid(key, value, f"a number {'>' if lo_open else '>='} {lo}")
        if hi is not None and value > hi:
            raise invalid(key, value, f"a number <= {hi}")
        return value

    return check


def count(key: str, value: Any) -> int | str:
    """A number of images per class, or ``"all"``."""
    if value == ALL:
        return ALL
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise invalid(key, value, f'an integer >= 1, or "{ALL}" for every image of each class')
    return int(value)


def boolean(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise invalid(key, value, "true or false")
    return value


def string(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise invalid(key, value, "a string")
    return value


def choice(*options: str) -> Check:
    def check(key: str, value: Any) -> str:
        if not isinstance(value, str) or value not in options:
            raise invalid(key, value, "one of " + ", ".join(repr(o) for o in options))
        return value

    return check


def int_list(lo: int, hi: int | None = None, min_len: int = 0, unique: bool = True) -> Check:
    """A list (or tuple) of integers in [lo, hi]; returns a tuple."""
    item = integer(lo, hi)

    def check(key: str, value: Any) -> tuple[int, ...]:
        if not isinstance(value, (list, tuple)):
            raise invalid(key, value, "a list of integers")
        out = tuple(item(key, v) for v in value)
        if len(out) < min_len:
            raise invalid(key, value, f"a list of at least {min_len} integers")
        if unique:
            dupes = sorted({v for v in out if out.count(v) > 1})
            if dupes:
                raise invalid(key, value, f"no duplicates (repeated: {show(dupes)})")
        return out

    return check


def is_folder_name(text: str) -> bool:
    """Whether ``text`` can name a report folder (letters, digits, '.', '_', '-')."""
    # fullmatch: with match, '$' also accepts a trailing newline in the folder name.
    return bool(_NAME_RE.fullmatch(text))


def folder_name(key: str, value: Any) -> str:
    """A report or sweep name: one folder inside the output folder, not a site page's."""
    value = string(key, value)
    if not is_folder_name(value):
        raise invalid(
            key,
            value,
            "a folder name of letters, digits, '.', '_' or '-' that starts with a letter "
            "or digit (it must stay inside the output folder)",
        )
    if value.lower() in RESERVED_NAMES:
        raise invalid(key, value, "a name that is not one of the site's own pages ("
                      + ", ".join(repr(n) for n in RESERVED_NAMES) + ", in any case)")
    return value
