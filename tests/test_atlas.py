"""The atlas of a sweep, built from the real reports of the tiny sweep on a Dask cluster.

Tests marked ``metrics_v2`` need the measures of metrics.json schema version 2
(separation layer against controls, score families, specific share); they skip
while the runs measure an earlier schema and run by themselves once it lands.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from sweep_fixtures import SWEEP_NAME, get_distributed_sweep

from sigreport.report.atlas import build_atlas, render_atlas
from sigreport.report.atlas_metrics import NOT_MEASURED, read_measures
from sigreport.report.render import template_env
from sigreport.report.sweep_index import SWEEPS_DIR, read_sweep_index

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parent.parent
PCT = template_env().filters["pct"]


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> Path:
    return get_distributed_sweep(tmp_path_factory).out


def _metrics(out: Path) -> dict[str, dict]:
    return {p.name: json.loads((p / "metrics.json").read_text())
            for p in sorted(out.iterdir()) if (p / "metrics.json").is_file()}


def _index(out: Path) -> dict:
    return read_sweep_index(out / SWEEPS_DIR / f"{SWEEP_NAME}.json")


def _heatmap(atlas, key):
    return next(h for h in atlas.heatmaps if h.key == key)


@pytest.fixture
def needs_v2(reports):
    """Skip unless the runs measured metrics.json schema version 2."""
    version = next(iter(_metrics(reports).values())).get("schema_version")
    if version is None or version < 2:
        pytest.skip(f"needs metrics.json schema version 2 (these runs: {version})")


def test_accuracy_cells_are_each_pairs_mean_over_its_seeds(reports):
    metrics = _metrics(reports)
    atlas = build_atlas(_index(reports), metrics)
    assert [h.key for h in atlas.heatmaps] == ["separation", "accuracy", "detection", "specific"]
    acc = _heatmap(atlas, "accuracy")
    # Pairs 1-7 and 3-7 in the triangle of classes 1, 3, 7: first class across, second down.
    assert (acc.rows, acc.cols) == (["3", "7"], ["1", "3"])
    assert sorted((c.row, c.col) for c in acc.cells) == [("7", "1"), ("7", "3")]
    for cell in acc.cells:
        runs = [f"{SWEEP_NAME}-{cell.col}-{cell.row}-s{seed}" for seed in (0, 1)]
        values = [metrics[r]["model"]["test_accuracy"] for r in runs]
        assert cell.value == pytest.approx(np.mean(values))
        assert f"mean of 2 seeds; {PCT(min(values), 2)} to {PCT(max(values), 2)}" in cell.detail
        assert cell.links == tuple((f"seed {s}", f"../reports/{r}/index.html")
                                   for s, r in zip((0, 1), runs))


def test_continuous_heatmaps_have_a_colour_bar_and_shares_a_fixed_scale(reports):
    """A colour means one value in every atlas: a share's scale is 0-100% whatever was
    measured, and each continuous heatmap draws its scale beside it."""
    from bokeh.models import ColorBar

    from sigreport.report.atlas import atlas_figure

    metrics = _metrics(reports)
    one_pair = {k: v for k, v in metrics.items() if k.startswith(f"{SWEEP_NAME}-1-7-")}
    assert one_pair and len(one_pair) < len(metrics)
    for subset in (metrics, one_pair):
        atlas = build_atlas(_index(reports), subset)
        for key, scale in (("accuracy", (0.0, 1.0)), ("specific", (0.0, 1.0)),
                           ("detection", (0.5, 1.0)), ("separation", None)):
            heatmap = _heatmap(atlas, key)
            bars = [m for m in atlas_figure(heatmap).right if isinstance(m, ColorBar)]
            if scale is None:  # categorical: its legend names every colour
                assert not bars and heatmap.legend
                continue
            assert (heatmap.low, heatmap.high) == scale, key
            assert len(bars) == 1, key
            mapper = bars[0].color_mapper
            assert (mapper.low, mapper.high) == scale
            assert list(mapper.palette) == list(heatmap.palette)
            assert bars[0].formatter.format == ("0%" if key != "detection" else "0.00")


def test_the_pattern_states_the_accuracy_numbers(reports):
    metrics = _metrics(reports)
    page = render_atlas(build_atlas(_index(reports), metrics))
    by_pair = {a: np.mean([metrics[f"{SWEEP_NAME}-{a}-7-s{s}"]["model"]["test_accuracy"]
                           for s in (0, 1)]) for a in (1, 3)}
    low, high = sorted(by_pair, key=by_pair.get)
    text = " ".join(page.split())
    assert (f"median {PCT(np.median(list(by_pair.values())), 2)} over 2 pairs; lowest "
            f"{low} vs 7 ({PCT(by_pair[low], 2)}); highest {high} vs 7 "
            f"({PCT(by_pair[high], 2)})") in text


def test_a_field_the_metrics_lack_reads_not_measured(reports):
    metrics = _metrics(reports)
    for m in metrics.values():
        m["paths"].pop("specific_share", None)
        m["answers"].get("separation", {}).pop("separation_layer_index", None)
        for row in m["ood"]:
            row.pop("family", None)
    one = read_measures(next(iter(metrics.values())))
    assert one.specific_share is NOT_MEASURED and one.separation_layer_index is NOT_MEASURED
    assert all(v is NOT_MEASURED for v in one.detection.values())
    atlas = build_atlas(_index(reports), metrics)
    for key, field in (("specific", "paths.specific_share.value"),
                       ("separation", "answers.separation.separation_layer_index")):
        for cell in _heatmap(atlas, key).cells:
            assert cell.text == "–" and cell.detail == f"not measured (metrics.json has no {field})"
            assert len(cell.links) == 2
    assert {c.text for c in _heatmap(atlas, "detection").cells} == {"–"}
    text = " ".join(render_atlas(atlas).split())
    assert "not measured: these runs' metrics.json has no" in text


def test_a_failed_run_is_a_cell_saying_so(reports):
    metrics = _metrics(reports)
    index = _index(reports)
    failed = f"{SWEEP_NAME}-3-7-s1"
    index["failed"] = {failed: "TrainingError: training diverged at epoch 2"}
    metrics.pop(failed)
    metrics.pop(f"{SWEEP_NAME}-3-7-s0")
    atlas = build_atlas(index, metrics)
    assert atlas.n_reports == 2 and atlas.n_runs == 4
    cell = next(c for c in _heatmap(atlas, "accuracy").cells if c.col == "3")
    assert cell.text == "failed" and not cell.links and np.isnan(cell.value)
    assert "failed: TrainingError: training diverged at epoch 2" in cell.detail
    assert "not run yet" in cell.detail
    assert dict(atlas.problems)[failed] == "failed: TrainingError: training diverged at epoch 2"


def test_site_links_the_atlas_and_escapes_its_title(reports, tmp_path):
    from sigreport.report import build_site

    shutil.copytree(reports, tmp_path / "site" / "reports")
    shutil.copy(REPO / "mkdocs.yml", tmp_path / "mkdocs.yml")
    index = build_site(tmp_path / "site" / "reports", tmp_path / "site", tmp_path / "public")
    page = tmp_path / "public" / "atlas" / f"{SWEEP_NAME}.html"
    html = page.read_text()
    assert "Tiny &lt;i&gt;sweep&lt;/i&gt; &amp; co" in html and "<i>sweep</i>" not in html
    assert f'href="atlas/{SWEEP_NAME}.html"' in index.read_text()
    # Within a site report's page-weight budget (bench/page_weight.py: 1.5 MB).
    assert page.stat().st_size < 1_500_000


@pytest.mark.metrics_v2
def test_v2_measures_fill_every_heatmap(reports, needs_v2):
    metrics = _metrics(reports)
    atlas = build_atlas(_index(reports), metrics)
    for heatmap in atlas.heatmaps:
        assert all(c.text != "–" for c in heatmap.cells), heatmap.key
    sep = _heatmap(atlas, "separation")
    for cell in sep.cells:
        runs = [metrics[f"{SWEEP_NAME}-{cell.col}-{cell.row}-s{s}"] for s in (0, 1)]
        layers = [m["answers"]["separation"]["separation_layer"] for m in runs]
        assert cell.detail == ", ".join(f"seed {s}: {v or 'none'}" for s, v in zip((0, 1), layers))
    det = _heatmap(atlas, "detection")
    for cell in det.cells:
        a = cell.row.split(" vs ")[0]
        best = [max(r["auroc"] for r in metrics[f"{SWEEP_NAME}-{a}-7-s{s}"]["ood"]
                    if r["family"] == "signature" and r["probe_class"] == int(cell.col))
                for s in (0, 1)]
        assert cell.value == pytest.approx(np.mean(best))
    spec = _heatmap(atlas, "specific")
    for cell in spec.cells:
        runs = [metrics[f"{SWEEP_NAME}-{cell.col}-{cell.row}-s{s}"] for s in (0, 1)]
        shares = [run["paths"]["specific_share"]["value"] for run in runs]
        assert cell.value == pytest.approx(np.mean(shares))
