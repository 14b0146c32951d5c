"""CPU seconds of the report's UMAP projection, first run on a machine and later runs,
this tree against a baseline commit, in one run.

    python bench/umap_speed.py                  # original-2021, against fc4891b
    python bench/umap_speed.py --baseline HEAD~3 --later 3

The activations are those of a real run of the preset (``original-2021``: 200
training images fitted, 1,500 test and probe images shown, four layers), made
once and shared by both trees. Each projection is a fresh process (``python -c``)
that imports umap as the report does (``import_umap``, with scikit-learn and
scipy imported before, as a run's earlier stages do) and projects every layer
(``compute_projections``); it reports the CPU seconds (``time.process_time``:
the machine may be shared, so wall time says little) of those two steps. The
first run of each tree has an empty cache folder, so numba compiles and saves;
the later runs (``--later``, default 2, the fastest kept) load from it. The
baseline is the source tree of a commit (``git archive``) with the same
interpreter and packages. Prints each tree's seconds, whether the first and
later runs (and the baseline) gave the very same coordinates, how well each
layer's picture keeps the shown points' neighbourhoods (trustworthiness at 15
neighbours) in both trees, and the ratios (baseline / this tree: above 1 means
faster now). Goal: a later run under 2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _runs import REPO, export_commit

DEFAULT_BASELINE = "fc4891b"
GOAL_LATER_S = 2.0

# Runs the preset's stages up to the metrics and keeps what the projection needs.
_MEASURE = r"""
import pickle, sys
from sigreport.config import load_config
from sigreport.pipeline import measure
m = measure(load_config(sys.argv[1]))
names = tuple(lay["name"] for lay in m.metrics.get("layers", []))
with open(sys.argv[2], "wb") as f:
    pickle.dump((m.acts, names, m.config.report, m.config.seed), f)
"""

# One projection in a fresh process: CPU seconds of importing umap and of projecting.
_PROJECT = r"""
import json, pickle, sys, time
import numpy as np
import scipy.sparse, sklearn.metrics, sklearn.neighbors  # a run's earlier stages import them
from sigreport.report.projection import compute_projections, import_umap
with open(sys.argv[1], "rb") as f:
    acts, names, cfg, seed = pickle.load(f)
start = time.process_time()
import_umap()
imported = time.process_time()
proj = compute_projections(acts, names, cfg, seed)
done = time.process_time()
from sigreport.report.projection import _gather
shown = {f"shown:{k}": _gather(acts, k, proj.split, proj.row) for k in names}
np.savez(sys.argv[2], **proj.xy, **shown)
print(json.dumps({"import_s": imported - start, "project_s": done - imported}))
"""


def _python(tree: Path, code: str, args: list[str], cache: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env.update(PYTHONPATH=str(tree), SIGREPORT_CACHE=str(cache))
    proc = subprocess.run([sys.executable, "-c", code, *args], env=env, cwd=tree,
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{tree}: failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return proc.stdout


def _activations(preset: str, tmp: Path) -> Path:
    """The preset's activations, from this tree, with the user's cache (data, training)."""
    path = tmp / "acts.pkl"
    env_cache = os.environ.get("SIGREPORT_CACHE")
    cache = Path(env_cache) if env_cache else _user_cache()
    _python(REPO, _MEASURE, [preset, str(path)], cache)
    return path


def _user_cache() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("sigreport"))


def _project(tree: Path, acts: Path, cache: Path, xy: Path) -> dict[str, float]:
    times = json.loads(_python(tree, _PROJECT, [str(acts), str(xy)], cache).strip()
                       .splitlines()[-1])
    times["total_s"] = times["import_s"] + times["project_s"]
    return times


def _same(a: Path, b: Path) -> bool:
    import numpy as np

    with np.load(a) as x, np.load(b) as y:
        return x.files == y.files and all(np.array_equal(x[k], y[k]) for k in x.files)


def _trustworthiness(path: Path) -> dict[str, float]:
    """Per layer, how well the 2-D picture keeps each shown point's 15 nearest neighbours
    (scikit-learn's trustworthiness: 1 when no point gains a false neighbour)."""
    import numpy as np
    from sklearn.manifold import trustworthiness

    with np.load(path) as npz:
        return {k: float(trustworthiness(npz[f"shown:{k}"], npz[k], n_neighbors=15))
                for k in npz.files if not k.startswith("shown:")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("preset", nargs="?", default="original-2021")
    parser.add_argument("--baseline", default=DEFAULT_BASELINE)
    parser.add_argument("--later", type=int, default=2, help="later runs of each tree")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sigreport-umap-bench-") as tmp_name:
        tmp = Path(tmp_name)
        acts = _activations(args.preset, tmp)
        trees = {"baseline": export_commit(args.baseline, tmp / "baseline"), "current": REPO}
        first, later = {}, {}
        for label, tree in trees.items():
            cache = tmp / f"cache-{label}"  # empty: the first run compiles
            first[label] = _project(tree, acts, cache, tmp / f"{label}-first.npz")
            runs = [_project(tree, acts, cache, tmp / f"{label}-later.npz")
                    for _ in range(args.later)]
            later[label] = min(runs, key=lambda t: t["total_s"])
        print(f"{args.preset}: UMAP projection of every layer, CPU seconds "
              f"(import umap + project), fresh processes")
        for label in trees:
            f, la = first[label], later[label]
            print(f"  {label:<9} first run {f['total_s']:6.1f} ({f['import_s']:.1f} + "
                  f"{f['project_s']:.1f})   later run {la['total_s']:5.2f} "
                  f"({la['import_s']:.2f} + {la['project_s']:.2f}), best of {args.later}")
        print(f"  same coordinates in the first and the later run: "
              f"{'yes' if _same(tmp / 'current-first.npz', tmp / 'current-later.npz') else 'NO'}"
              f"; as the baseline's: "
              f"{'yes' if _same(tmp / 'baseline-later.npz', tmp / 'current-later.npz') else 'no'}")
        trust = {label: _trustworthiness(tmp / f"{label}-later.npz") for label in trees}
        print("  trustworthiness (15 neighbours) of each layer's picture, baseline -> this tree: "
              + ", ".join(f"{k} {v:.3f} -> {trust['current'][k]:.3f}"
                          for k, v in trust["baseline"].items()))
        first_ratio = first["baseline"]["total_s"] / first["current"]["total_s"]
        later_ratio = later["baseline"]["total_s"] / later["current"]["total_s"]
        now = later["current"]["total_s"]
        print(f"ratio_first={first_ratio:.2f} ratio_later={later_ratio:.2f} "
              f"later_s={now:.2f} (goal under {GOAL_LATER_S:.0f} s)")
    return 0 if now < GOAL_LATER_S else 1


if __name__ == "__main__":
    sys.exit(main())
