"""Page weight of reports against their budgets, measured on real runs.

    python bench/page_weight.py            # the default experiment and a full 10-class MNIST run
    python bench/page_weight.py --quick    # small subsets, to check the script itself

Budgets (from the report's design): the default experiment's report at most
1.5 MB in site mode (BokehJS shared in ../_bokeh/) and 4 MB standalone (BokehJS
inlined); a 10-class MNIST report at most 4 MB in site mode. Prints each
page's size, its ratio to the budget, and what the page is made of.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

MB = 1_000_000

CASES = (
    # (label, preset, overrides, standalone, budget in bytes)
    ("default experiment, site mode", "mnist-1-7", (), False, 1.5 * MB),
    ("default experiment, standalone", "mnist-1-7", (), True, 4.0 * MB),
    ("10-class MNIST, site mode", "mnist-1-7",
     ('name="mnist-10-classes"', "data.classes=[0,1,2,3,4,5,6,7,8,9]", "data.probe_classes=[]"),
     False, 4.0 * MB),
)
QUICK = ("data.n_per_class=300", "data.n_test_per_class=150", "train.epochs=2")


def _parts(html: str) -> dict[str, int]:
    """Bytes of the page by kind: inlined JS, Bokeh document JSON, data-URI images, the rest."""
    inline_js = sum(len(s) for s in re.findall(r"<script>(.*?)</script>", html, flags=re.DOTALL))
    # each figure's Bokeh document travels as JSON in its own script element
    docs = sum(len(s) for s in re.findall(r'<script type="application/json"[^>]*>(.*?)</script>',
                                          html, flags=re.DOTALL))
    images = sum(len(m) for m in re.findall(r'src="(data:image/png;base64,[^"]*)"', html))
    encoded = re.findall(r"data:image/png;base64,[A-Za-z0-9+/=]*", html)
    thumbs = sum(len(m) for m in encoded) - images
    return {"BokehJS inlined": inline_js, "Bokeh document, figures' data": docs - thumbs,
            "Bokeh document, hover thumbnails": thumbs, "image grids": images,
            "HTML, tables, CSS": len(html) - inline_js - docs - images}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="small subsets (not the budgets' runs)")
    args = parser.parse_args(argv)

    from sigreport.config import load_config
    from sigreport.pipeline import run

    over_budget = 0
    with tempfile.TemporaryDirectory(prefix="sigreport-weight-") as tmp:
        for label, preset, overrides, standalone, budget in CASES:
            config = load_config(preset, list(overrides) + (list(QUICK) if args.quick else []))
            out = Path(tmp) / ("standalone" if standalone else "site")
            start = time.perf_counter()
            result = run(config, out=out, standalone=standalone)
            elapsed = time.perf_counter() - start
            page = result.folder / "index.html"
            html = page.read_text("utf-8")
            size = len(html.encode("utf-8"))
            ratio = size / budget
            over_budget += ratio > 1
            print(f"{label:<34} {size / MB:6.2f} MB of {budget / MB:.1f} MB budget "
                  f"= {ratio:5.2f}x  ({'OK' if ratio <= 1 else 'OVER'}; run {elapsed:.0f} s, "
                  f"{config.report.max_points} scatter points)")
            for part, n in _parts(html).items():
                if n:
                    print(f"    {part:<32} {n / MB:6.3f} MB")
            if not standalone:
                shared = sum(p.stat().st_size for p in (out / "_bokeh").glob("*.js"))
                print(f"    {'shared ../_bokeh/ (once per site)':<32} {shared / MB:6.3f} MB")
    if args.quick:
        print("(--quick: small subsets; the budgets apply to the full runs)")
    return 1 if over_budget and not args.quick else 0


if __name__ == "__main__":
    sys.exit(main())
