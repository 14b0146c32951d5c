"""How each stage's time and peak memory grow with the training images and the depth.

    python bench/growth.py           # mnist-1-7 at 1,500 / 3,000 / 6,000 images per class,
                                     # and 2 and 4 hidden layers of 256 units
    python bench/growth.py --quick   # 100 / 200 / 400 per class, 2 epochs: checks the script
    python bench/growth.py --save runs.json           # also keep what was measured
    python bench/growth.py --fit runs.json more.json  # refit the estimate, no runs

Every run is ``sigreport run mnist-1-7 --force`` in a fresh process; the
per-stage times and peak RSS come from its manifest (``timings_s``,
``peak_rss_mb``). The test and probe splits stay whole (2,163 and 1,010
images), so only the training images grow. For each stage the growth exponent
is the least-squares slope of log(value) on log(training images), and on
log(hidden layers) for the depth runs; a time exponent above that of n log n
over the same range is marked ``*``. Memory exponents are flattened by what
every run holds whatever its size (the imported libraries and JAX's runtime,
about 400 MB).

The runs also check the time estimate the CLI prints before a run
(``sigreport/estimate.py``): the estimate's error on each run is printed, and
its constants are fitted to the runs by non-negative least squares, ready to
paste into ``CALIBRATION``. ``--fit`` does that from saved runs (of this script
or of ``run_speed.py --save``) without running anything.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _runs import REPO, Measured, load_records, overrides, run_cli, save_records

sys.path.insert(0, str(REPO))
from sigreport.config import load_config
from sigreport.estimate import STAGES, RunSize, estimate_seconds, run_size, stage_features
from sigreport.train import snapshot_epochs

SCALES = (1, 2, 4)
DEPTHS = (2, 4)
WIDTH = 256


def _slope(x: list[float], y: list[float]) -> float:
    return float(np.polyfit(np.log(x), np.log(np.maximum(y, 1e-3)), 1)[0])


def _size(m: Measured) -> RunSize:
    exp = m.metrics["experiment"]
    with tempfile.NamedTemporaryFile("w", suffix=".toml") as fh:
        fh.write(m.config_toml)
        fh.flush()
        config = load_config(fh.name)
    return run_size(config, exp["n_train"], exp["n_test"], exp["n_probe"],
                    snapshot_epochs(config.train))


def _fit(runs: list[Measured]) -> dict[str, dict[str, float]]:
    """Per stage, non-negative constants minimising the squared error over ``runs``."""
    from scipy.optimize import nnls

    features = [stage_features(_size(m)) for m in runs]
    fitted = {}
    for stage in STAGES:
        names = list(features[0][stage])
        x = np.array([[f[stage][n] for n in names] for f in features])
        y = np.array([m.stage_s[stage] for m in runs])
        scale = np.maximum(x.max(axis=0), 1e-12)  # columns span 1 to 1e11
        coef, _ = nnls(x / scale, y)
        fitted[stage] = {n: float(c / s) for n, c, s in zip(names, coef, scale)}
    return fitted


def _report_estimate(runs: list[Measured]) -> None:
    print("\nTime estimate (sigreport/estimate.py) against the measured stages, per run:")
    fitted = _fit(runs)
    for m in runs:
        measured = sum(m.stage_s.values())
        est = sum(estimate_seconds(_size(m)).values())
        refit = sum(estimate_seconds(_size(m), fitted).values())
        print(f"  {m.manifest['name']:<18} measured {measured:6.1f} s, estimated {est:6.1f} s "
              f"(ratio {est / measured:.2f}); with the constants below {refit:6.1f} s")
    print("Constants fitted to these runs (CALIBRATION in sigreport/estimate.py):")
    for stage, consts in fitted.items():
        print(f'    "{stage}": {{' + ", ".join(f'"{n}": {c:.3g}' for n, c in consts.items())
              + "},")


def _growth_table(by_scale: dict[int, Measured], by_depth: dict[int, Measured]) -> None:
    n = [by_scale[s].metrics["experiment"]["n_train"] for s in SCALES]
    nlogn = _slope(n, [v * math.log(v) for v in n])
    print(f"\nGrowth with training images ({n[0]} -> {n[-1]}; n log n: exponent {nlogn:.2f}) "
          f"and with hidden layers ({DEPTHS[0]} -> {DEPTHS[-1]} of {WIDTH} units, "
          f"{n[0]} images):")
    head = " ".join(f"{s}x s".rjust(7) for s in SCALES)
    head_mb = " ".join(f"{s}x MB".rjust(7) for s in SCALES)
    print(f"{'stage':<12} {head}  exponent  {head_mb}  exponent | "
          f"{DEPTHS[0]}L s  {DEPTHS[-1]}L s exponent  {DEPTHS[0]}L MB  {DEPTHS[-1]}L MB exponent")
    for stage in STAGES:
        t = [by_scale[s].stage_s[stage] for s in SCALES]
        mb = [by_scale[s].stage_mb[stage] for s in SCALES]
        td = [by_depth[d].stage_s[stage] for d in DEPTHS]
        mbd = [by_depth[d].stage_mb[stage] for d in DEPTHS]
        e_t, e_mb = _slope(n, t), _slope(n, mb)
        flag = "*" if e_t > nlogn else " "
        print(f"{stage:<12} " + " ".join(f"{v:7.2f}" for v in t) + f"  {e_t:7.2f}{flag}  "
              + " ".join(f"{v:7.0f}" for v in mb) + f"  {e_mb:7.2f}  | "
              + " ".join(f"{v:5.2f}" for v in td) + f"  {_slope(list(DEPTHS), td):7.2f}  "
              + " ".join(f"{v:6.0f}" for v in mbd) + f"  {_slope(list(DEPTHS), mbd):7.2f}")
    total = [by_scale[s].wall_s for s in SCALES]
    peaks = [by_scale[s].peak_mb for s in SCALES]
    print(f"{'whole run':<12} " + " ".join(f"{v:7.2f}" for v in total)
          + f"  {_slope(n, total):7.2f}   " + " ".join(f"{v:7.0f}" for v in peaks)
          + f"  {_slope(n, peaks):7.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small runs (checks the script)")
    parser.add_argument("--save", type=Path, metavar="FILE", help="add the runs to FILE (JSON)")
    parser.add_argument("--fit", type=Path, nargs="+", metavar="FILE",
                        help="fit the estimate to saved runs; run nothing")
    args = parser.parse_args(argv)
    if args.fit:
        _report_estimate(load_records(args.fit))
        return 0
    base_n = 100 if args.quick else 1500
    quick = ["train.epochs=2"] if args.quick else []

    with tempfile.TemporaryDirectory(prefix="sigreport-growth-") as tmp:
        out = Path(tmp)
        by_scale: dict[int, Measured] = {}
        for s in SCALES:
            by_scale[s] = run_cli(REPO, ["mnist-1-7", "--force", *overrides(
                f'name="growth-{s}x"', f"data.n_per_class={base_n * s}", *quick)], out)
            print(f"{s}x: {base_n * s} images per class, wall {by_scale[s].wall_s:.1f} s, "
                  f"peak {by_scale[s].peak_mb:.0f} MB", flush=True)
        by_depth: dict[int, Measured] = {}
        for d in DEPTHS:
            by_depth[d] = run_cli(REPO, ["mnist-1-7", "--force", *overrides(
                f'name="growth-{d}-layers"', f"data.n_per_class={base_n}",
                f"model.hidden={[WIDTH] * d}", *quick)], out)
            print(f"{d} hidden layers of {WIDTH}: wall {by_depth[d].wall_s:.1f} s, "
                  f"peak {by_depth[d].peak_mb:.0f} MB", flush=True)
    runs = [*by_scale.values(), *by_depth.values()]
    if args.save:
        save_records(args.save, runs)
    _growth_table(by_scale, by_depth)
    _report_estimate(runs)
    if args.quick:
        print("(--quick: small runs, 2 epochs; the exponents are for the full sizes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
