"""Numbers as text, one way everywhere: the Jinja filters of reports and site pages.

Templates hold no arithmetic: they pipe a value through one of :data:`FILTERS`
(``{{ v | pct(1) }}``). Every filter prints "n/a" for a missing value.
"""

from __future__ import annotations

from typing import Any

import jinja2
import numpy as np

from sigreport.report.assets import templates_dir

__all__ = ["FILTERS", "and_list", "ci", "count", "num", "pct", "seconds", "signed_pct",
           "template_env"]


def pct(value: Any, digits: int = 1) -> str:
    """A fraction as a percentage: 0.1234 -> "12.3%".

    A value that is not exactly 0 or 1 never reads as "0.0%" or "100.0%": up to three
    more digits are shown (0.998 -> "99.8%", 0.99996 -> "99.996%").
    """
    if value is None:
        return "n/a"
    v = 100 * float(value)
    while digits < 4 and 0 < abs(v) < 100 and round(v, digits) in (0, 100):
        digits += 1
    return f"{v:.{digits}f}%"


def num(value: Any, digits: int = 3) -> str:
    """A number: integers with thousands separators, floats with ``digits`` decimals, yes/no."""
    if value is None:
        return "n/a"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    return f"{float(value):.{digits}f}"


def signed_pct(value: Any, digits: int = 2) -> str:
    """A difference of two fractions in percentage points, with its sign."""
    if value is None:
        return "n/a"
    return f"{100 * float(value):+.{digits}f} pp"


def count(value: Any) -> str:
    """A count with thousands separators."""
    return "n/a" if value is None else f"{int(value):,}"


def seconds(value: Any) -> str:
    """A duration: "3.25 s", or "2 min 5 s" from a minute on."""
    if value is None:
        return "n/a"
    v = float(value)
    return f"{v:.2f} s" if v < 60 else f"{int(v // 60)} min {v % 60:.0f} s"


def ci(value: Any, digits: int = 3, percent: bool = False) -> str:
    """A 95% interval [lo, hi] as "[0.839, 0.863]" (or in percent); "" when there is none."""
    if value is None:
        return ""
    lo, hi = value
    if percent:
        return f"[{100 * float(lo):.{digits}f}%, {100 * float(hi):.{digits}f}%]"
    return f"[{float(lo):.{digits}f}, {float(hi):.{digits}f}]"


def and_list(items: Any) -> str:
    """Items as an English list: "3", "1 and 7", "5, 6, 7, 8 and 9"."""
    items = [str(i) for i in items]
    return " and ".join(items) if len(items) <= 2 else ", ".join(items[:-1]) + " and " + items[-1]


FILTERS = {"and_list": and_list, "ci": ci, "pct": pct, "signed_pct": signed_pct, "num": num,
           "count": count, "seconds": seconds}


def template_env(bytecode_cache: jinja2.BytecodeCache | None = None) -> jinja2.Environment:
    """The Jinja environment of reports and site pages: autoescape on, :data:`FILTERS`."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir())),
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                             bytecode_cache=bytecode_cache)
    env.filters.update(FILTERS)
    return env
