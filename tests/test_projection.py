"""The UMAP projection keeps numba's compiled code in the cache folder, with the same numbers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

# Projects a small seeded set of activations with UMAP as the report does, saves the
# coordinates, and counts what numba compiled (misses) and loaded (hits) for umap's
# and pynndescent's functions while projecting.
_SCRIPT = r"""
import sys
import numpy as np
from sigreport.activations import Activations, LayerInfo, SplitActivations
from sigreport.config import ReportConfig
from numba.core.dispatcher import Dispatcher
from sigreport.report.projection import compute_projections, import_umap

def counts():
    hits = misses = 0
    for name, module in list(sys.modules.items()):
        if module is not None and name.split(".")[0] in ("umap", "pynndescent"):
            for value in vars(module).values():
                if isinstance(value, Dispatcher):
                    hits += sum(value.stats.cache_hits.values())
                    misses += sum(value.stats.cache_misses.values())
    return np.array([hits, misses])

import_umap()
at_import = counts()  # a few tiny functions compile as umap is imported, before caching is on

rng = np.random.default_rng(7)
def split(n):
    y = np.repeat([1, 7], n // 2).astype(np.int64)
    h = (rng.normal(size=(n, 12)) + 3 * (y == 7)[:, None]).astype(np.float32)
    return SplitActivations({"hidden1": h}, y, np.arange(n, dtype=np.int64), y.copy())
train, test = split(200), split(60)
probe = SplitActivations({"hidden1": rng.normal(size=(20, 12)).astype(np.float32)},
                         np.full(20, 3, np.int64), np.arange(20, dtype=np.int64),
                         np.full(20, 1, np.int64))
acts = Activations((LayerInfo("hidden1", "post", 1, 12),), (1, 7), train, test, probe)
proj = compute_projections(acts, ("hidden1",), ReportConfig(projection="umap", max_points=80), 0)
hits, misses = counts() - at_import
np.savez(sys.argv[1], xy=proj.xy["hidden1"], hits=hits, misses=misses)
"""


def _project(tmp_path: Path, name: str, cache: Path) -> dict[str, np.ndarray]:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["SIGREPORT_CACHE"] = str(cache)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parents[1]),
                                         env.get("PYTHONPATH", "")])
    out = tmp_path / f"{name}.npz"
    proc = subprocess.run([sys.executable, "-c", _SCRIPT, str(out)], check=False, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    with np.load(out) as npz:
        return {k: npz[k] for k in npz.files}


def test_umap_compiles_once_per_machine_and_projects_the_same(tmp_path):
    cache = tmp_path / "cache"
    first = _project(tmp_path, "first", cache)    # compiles, saves into the cache folder
    assert first["misses"] > 0
    assert list((cache / "numba").rglob("*.nbi")), "no numba index in the cache folder"
    later = _project(tmp_path, "later", cache)    # a fresh process: loads, compiles nothing
    assert later["misses"] == 0 and later["hits"] > 0
    assert later["xy"].shape == (80, 2)
    np.testing.assert_array_equal(later["xy"], first["xy"])
