"""The sweep index: what a sweep writes beside its report folders and the atlas reads.

``<out>/_sweeps/<name>.json`` lists a sweep's runs and their axis values (schema:
``sweep-index.schema.json``). It lives apart from the Dask runner (:mod:`sigreport.sweep`)
so that the report side reads it without importing the runner.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["SWEEPS_DIR", "index_path", "read_sweep_index", "write_sweep_index"]

# Sweep indexes live beside the report folders; the site ignores folders starting with "_".
SWEEPS_DIR = "_sweeps"


def index_path(out: Path, name: str) -> Path:
    """Where the index of sweep ``name`` lives under the reports folder ``out``."""
    return Path(out) / SWEEPS_DIR / f"{name}.json"


def write_sweep_index(out: Path, name: str, header: dict[str, Any],
                      runs: list[dict[str, Any]], failed: dict[str, str]) -> Path:
    """Write ``<out>/_sweeps/<name>.json`` atomically.

    Parameters
    ----------
    header:
        ``title``, ``source``, ``base`` and ``axes`` (axis key -> its values) of the sweep.
    runs:
        Per run: ``name`` (its folder) and ``values`` (axis key -> the run's value).
    failed:
        Run name -> the one-line reason it failed.
    """
    path = index_path(out, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    index = {"name": name, **header,
             "updated": datetime.now(UTC).isoformat(timespec="seconds"),
             "runs": runs, "failed": failed}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(index, fh, indent=1)
            fh.write("\n")
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


def read_sweep_index(path: Path | str) -> dict[str, Any]:
    """A sweep index (``name``, ``title``, ``axes``, ``runs``, ``failed``), checked against
    ``sweep-index.schema.json``.

    Raises
    ------
    ValueError
        With one line naming the file and what is wrong (it cannot be read, is not
        JSON, or does not follow the schema).
    """
    from sigreport.report.site import read_checked_json

    return read_checked_json(path, "sweep-index.schema.json")
