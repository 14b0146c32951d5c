"""The UMAP projection keeps numba's compiled code in the cache folder, with the same numbers,
and its compiled small-data steps match umap's own to the bit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

# Projects a small seeded set of activations with UMAP as the report does, saves the
# coordinates, and counts what numba compiled in the whole process (numba's compile
# events, which a load from the cache does not raise) and what umap's, pynndescent's and
# sigreport's numba functions loaded from the cache (hits).
_SCRIPT = r"""
import sys
import numpy as np
from numba.core import event
from numba.core.dispatcher import Dispatcher

compiled = []
class Compiles(event.Listener):
    def on_start(self, ev):
        pass
    def on_end(self, ev):
        compiled.append(ev.data["dispatcher"].py_func.__qualname__)
event.register("numba:compile", Compiles())

from sigreport.activations import Activations, LayerInfo, SplitActivations
from sigreport.config import ReportConfig
from sigreport.report.projection import compute_projections

def hits():
    n = 0
    for name, module in list(sys.modules.items()):
        if module is not None and name.split(".")[0] in ("umap", "pynndescent", "sigreport"):
            for value in vars(module).values():
                if isinstance(value, Dispatcher):
                    n += sum(value.stats.cache_hits.values())
    return n

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
np.savez(sys.argv[1], xy=proj.xy["hidden1"], hits=hits(), compiled=np.array(compiled, str))
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
    assert len(first["compiled"]) > 0
    index = sorted((cache / "numba").rglob("*.nbi"))
    assert index, "no numba index in the cache folder"
    later = _project(tmp_path, "later", cache)    # a fresh process: loads, compiles nothing
    assert later["compiled"].tolist() == [] and later["hits"] > 0
    assert sorted((cache / "numba").rglob("*.nbi")) == index
    assert later["xy"].shape == (80, 2)
    np.testing.assert_array_equal(later["xy"], first["xy"])


def test_compiled_small_data_steps_match_umaps_own():
    """The compiled distances and starting places give umap's numbers to the bit, and a
    projection made with them is the one umap makes without them."""
    umap = pytest.importorskip("umap")
    from sklearn.metrics import pairwise_distances
    from umap.distances import euclidean
    from umap.umap_ import init_graph_transform

    from sigreport.report import _umap_kernels as kernels

    rng = np.random.default_rng(3)
    for width in (1, 7, 33):  # below, at and past a vector's width
        fit = rng.normal(size=(90, width)).astype(np.float32)
        new = rng.normal(size=(40, width)).astype(np.float32)
        np.testing.assert_array_equal(kernels.pairwise_euclidean(fit, fit),
                                      pairwise_distances(fit, metric=euclidean))
        np.testing.assert_array_equal(kernels.pairwise_euclidean(new, fit),
                                      pairwise_distances(new, fit, metric=euclidean))
        reducer = umap.UMAP(n_components=2, random_state=0, n_jobs=1, n_epochs=20).fit(fit)
        plain = reducer.transform(new)
        reducer.transform_mode = "graph"
        # Points of the fit too: a neighbour of strength 1 places them where it is.
        graph = reducer.transform(np.concatenate([new, fit[:3]])).tocsr()
        graph.eliminate_zeros()  # as transform does
        np.testing.assert_array_equal(kernels.init_graph_transform(graph, reducer.embedding_),
                                      init_graph_transform(graph, reducer.embedding_))
        with kernels.compiled_small_data():
            again = umap.UMAP(n_components=2, random_state=0, n_jobs=1, n_epochs=20).fit(fit)
            np.testing.assert_array_equal(again.embedding_, reducer.embedding_)
            np.testing.assert_array_equal(again.transform(new), plain)


def test_numpy_sum_is_numpys_to_the_bit():
    pytest.importorskip("umap")
    from sigreport.report._umap_kernels import _numpy_sum

    rng = np.random.default_rng(5)
    for n in [*range(0, 140), 257, 1000]:  # each branch: under 8, blocks of 8, halves
        a = (rng.random(n) * 1000).astype(np.float32)
        assert _numpy_sum(a) == a.sum(), n
