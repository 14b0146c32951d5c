"""The report stage: PNG encoding, figure geometry, rendering, escaping, both modes."""

from __future__ import annotations

import copy
import dataclasses
import html
import itertools
import re
import struct
import zlib
from collections import Counter

import bokeh
import numpy as np
import pytest
from conftest import TINY_OVERRIDES

from sigreport.config import ReportConfig
from sigreport.errors import ConfigError
from sigreport.report import check_projection, render_report, vendor_bokeh
from sigreport.report import figures as F
from sigreport.report.alluvial_layout import layout_alluvial
from sigreport.report.assets import bokeh_files
from sigreport.report.figures.alluvial import NARROWEST_PAGE, _alluvial_unit
from sigreport.report.images import build_mosaic, encode_png, png_data_uri
from sigreport.report.projection import compute_projections, select_points
from sigreport.report.sections import format_path
from sigreport.report.sections.glossary import anchor as glossary_anchor

BOKEH_JS = f"../_bokeh/bokeh-{bokeh.__version__}.min.js"


@pytest.fixture(scope="session")
def small_run(tiny_stages):
    """The tiny pipeline run's data, activations, signatures and metrics, in memory."""
    return tiny_stages


def _decode_png(data: bytes) -> tuple[int, int, int, np.ndarray]:
    """Width, height, bit depth and the filter-0 rows of a grayscale PNG (enough for ours)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert crc == zlib.crc32(kind + body)
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, bits = header[0], header[1], header[2]
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(height, -1)
    assert (raw[:, 0] == 0).all()
    return width, height, bits, raw[:, 1:]


# --- images ------------------------------------------------------------------------


def test_png_roundtrip_8bit():
    img = np.random.default_rng(0).integers(0, 256, (28, 28), dtype=np.uint8)
    w, h, bits, rows = _decode_png(encode_png(img))
    assert (w, h, bits) == (28, 28, 8)
    np.testing.assert_array_equal(rows, img)


def test_png_4bit_keeps_16_levels_of_an_odd_width_image():
    img = np.array([[0, 17, 34, 255, 128]], dtype=np.uint8)
    w, h, bits, rows = _decode_png(encode_png(img, bits=4))
    assert (w, h, bits) == (5, 1, 4)
    levels = np.stack([rows >> 4, rows & 15], axis=-1).reshape(1, -1)[:, :5]
    np.testing.assert_array_equal(levels, [[0, 1, 2, 15, 8]])


def test_png_data_uri_is_small_for_a_digit(small_run):
    digit = small_run.dataset.test.images()[0]
    uri = png_data_uri(255 - digit, bits=4)
    assert uri.startswith("data:image/png;base64,")
    assert len(uri) < 600


def test_mosaic_places_images_row_by_row():
    imgs = np.stack([np.full((2, 3), v, np.uint8) for v in (10, 20, 30)])
    grid = build_mosaic(imgs, n_cols=2, pad=1, background=0, invert=False)
    assert grid.shape == (2 * 3 + 1, 2 * 4 + 1)
    assert (grid[1:3, 1:4] == 10).all() and (grid[1:3, 5:8] == 20).all()
    assert (grid[4:6, 1:4] == 30).all() and (grid[4:6, 5:8] == 0).all()


# --- colours ---------------------------------------------------------------------------


def test_the_classes_of_one_report_never_share_a_colour():
    for n_trained in range(1, 11):
        for n_probe in range(0, 11 - n_trained):
            colors = F.class_palette(range(n_trained), range(n_trained, n_trained + n_probe))
            assert len(set(colors.values())) == n_trained + n_probe


_CVD = ("deuteranomaly", "protanomaly", "tritanomaly")


def _smallest_distance(colors: list[str], cvd: str | None) -> float:
    """Smallest pairwise CAM02-UCS distance of ``colors`` as seen with normal vision
    (``cvd`` None) or the full (severity 100) deficiency ``cvd``."""
    from colorspacious import cspace_convert

    rgb = np.array([[int(c[i:i + 2], 16) / 255 for i in (1, 3, 5)] for c in colors])
    if cvd is not None:
        space = {"name": "sRGB1+CVD", "cvd_type": cvd, "severity": 100}
        rgb = np.clip(cspace_convert(rgb, space, "sRGB1"), 0, 1)
    ucs = cspace_convert(rgb, "sRGB1", "CAM02-UCS")
    return min(float(np.linalg.norm(a - b)) for a, b in itertools.combinations(ucs, 2))


def test_class_colours_stay_apart_for_colour_blind_readers():
    """Every split of up to ten classes into trained and unseen ones: any two of its colours
    at least 20 apart in CAM02-UCS under deuteranopia, protanopia and tritanopia."""
    smallest = {}
    for n_trained in range(1, 11):
        for n_probe in range(0, 11 - n_trained):
            if n_trained + n_probe < 2:
                continue
            colors = list(F.class_palette(range(n_trained),
                                          range(n_trained, n_trained + n_probe)).values())
            for cvd in (None, *_CVD):
                d = _smallest_distance(colors, cvd)
                smallest[cvd] = min(smallest.get(cvd, d), d)
    assert min(smallest.values()) >= 20, smallest


def test_regression_seven_and_the_unseen_three_look_alike_under_deuteranopia():
    colors = F.class_palette([1, 7], [3])
    assert _smallest_distance([colors[7], colors[3]], "deuteranomaly") >= 20
    assert _smallest_distance([colors[1], colors[7]], "tritanomaly") >= 20


def test_path_tags_reach_wcag_aa_with_white_text():
    for color in F.CLASS_PALETTE:
        tag = F.tag_color(color)
        assert F.contrast_ratio(tag, "#ffffff") >= 4.5
        if F.contrast_ratio(color, "#ffffff") >= 4.5:
            assert tag == color  # dark enough already: left alone


def test_cluster_shades_are_distinct_within_a_class():
    colors = F.class_palette([1, 7], [3])
    shades = F.cluster_palette([1, 7, 1, 1, None], colors)
    assert len({shades[k] for k in (0, 2, 3)}) == 3
    assert shades[1] == colors[7]


def test_path_tags_stay_clear_of_the_node_labels_on_a_phone():
    rng = np.random.default_rng(2)
    n = 400
    y = rng.choice([1, 7], size=n)
    hidden = np.column_stack([np.where(y == 1, 0, 1)] * 3)
    ids = np.column_stack([y, hidden, y])
    labels = np.where(y == 1, "A", "B")
    columns = ["class", "hidden1", "hidden2", "hidden3", "prediction"]
    layout = layout_alluvial(ids, y, [1, 7], columns, labels)
    node_label = [{1: "1", 7: "7"}] + [{0: "c0", 1: "c1", -1: "none"}] * 3 + [{1: "1", 7: "7"}]
    fig = F.alluvial_figure(layout, {1: "#1f77b4", 7: "#2ca02c"}, {1: "1", 7: "7"}, node_label,
                            path_owner={"A": 1, "B": 7})
    tags = next(m for m in fig.center if getattr(m, "text_font_style", None) == "bold"
                and m.source.data["text"] and m.source.data["text"][0] in "AB")
    # what the page's script makes of the x range at the narrowest page
    unit = _alluvial_unit(NARROWEST_PAGE, -fig.x_range.start, fig.x_range.end,
                          *_alluvial_margins(fig))
    label_end = 3 + layout.node_width / 2 + 0.015 + (0.6 * 11 * len("none") + 4) / unit
    assert sorted(tags.source.data["text"]) == ["A", "B"]
    for x in tags.source.data["x"]:
        assert x - 8 / unit >= label_end - 1e-9       # the tag's left edge, right of the labels
        assert x + 8 / unit <= 4 - layout.node_width / 2 + 1e-9


def _alluvial_margins(fig) -> tuple[float, float, float]:
    """need, gap and tail of an alluvial figure, as its page script holds them."""
    args = next(iter(fig.js_property_callbacks["change:inner_width"])).args
    return args["need"], args["gap"], args["tail"]


def test_format_path():
    assert format_path([3, -1, 5]) == "c3 \u00b7 none \u00b7 c5"


# --- projections -----------------------------------------------------------------------------


def test_select_points_is_balanced_capped_and_deterministic(small_run):
    acts = small_run.acts
    split, row = select_points(acts, 150, seed=0)
    assert len(row) == 150
    labels = np.where(split == "test", acts.test.y[np.where(split == "test", row, 0)],
                      acts.probe.y[np.where(split == "probe", row, 0)])
    assert sorted(Counter(labels.tolist()).values()) == [50, 50, 50]
    _, row2 = select_points(acts, 150, seed=0)
    np.testing.assert_array_equal(row, row2)
    _, row3 = select_points(acts, 10**6, seed=0)
    assert len(row3) == len(acts.test.y) + len(acts.probe.y)


def test_pca_projection_shapes(small_run):
    proj = compute_projections(small_run.acts, ("input", "hidden1"),
                               ReportConfig(projection="pca", max_points=60), seed=0)
    assert proj.xy["input"].shape == (60, 2) and proj.xy["input"].dtype == np.float32
    assert 0 < proj.explained["hidden1"] <= 1


def test_umap_without_the_package_is_a_config_error(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "umap" else real(name, *a))
    with pytest.raises(ConfigError, match="report.projection = 'umap'"):
        check_projection("umap")
    check_projection("pca")
    check_projection("tsne")


def test_umap_comes_with_the_default_install():
    check_projection("umap")   # umap-learn is a dependency, not an extra


# --- rendering: the pages the tiny pipeline run wrote ------------------------------------------


@pytest.fixture(scope="module")
def pages(tiny_run, tiny_standalone_run):
    return ((tiny_run / "tiny" / "index.html").read_text("utf-8"),
            (tiny_standalone_run / "tiny" / "index.html").read_text("utf-8"))


def _external_refs(page: str) -> list[str]:
    """src/href attributes of tags that point outside the file (not counting inlined JS text)."""
    tags = re.sub(r"<script[^>]*>.*?</script>", "", page, flags=re.DOTALL)
    return re.findall(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", tags)


def _payloads(page: str) -> list[dict]:
    import json

    return [json.loads(m) for m in re.findall(
        r'<script type="application/json" class="bk-figures" data-roots="[^"]*">(.*?)</script>',
        page, flags=re.DOTALL)]


def test_site_mode_loads_vendored_bokeh_by_relative_path(pages, tiny_run):
    site, _ = pages
    assert f'<script src="{BOKEH_JS}"></script>' in site
    assert "cdn.bokeh.org" not in site and "cdn.jsdelivr" not in site
    assert not _external_refs(site)
    # Only the bundles the page loads are vendored beside it.
    vendored = sorted(p.name for p in (tiny_run / "_bokeh").glob("*.js"))
    assert vendored == [f"bokeh-{bokeh.__version__}.min.js"]


def test_standalone_inlines_bokeh_and_carries_its_data(pages, tiny_standalone_run):
    import base64

    _, alone = pages
    assert "../_bokeh/" not in alone.split("</head>")[0].split("<style>")[0]
    assert 'src="../_bokeh' not in alone
    assert len(alone) > len(bokeh_files()[f"bokeh-{bokeh.__version__}.min.js"].read_bytes())
    assert not _external_refs(alone)
    # metrics.json and config.toml travel inside the file, byte for byte.
    for name, mime in (("metrics.json", "application/json"), ("config.toml", "application/toml")):
        m = re.search(rf'href="data:{mime};charset=utf-8;base64,([A-Za-z0-9+/=]+)" '
                      rf'download="{re.escape(name)}"', alone)
        assert m, name
        assert base64.b64decode(m.group(1)) == (tiny_standalone_run / "tiny" / name).read_bytes()


def test_each_section_is_one_bokeh_document_drawn_on_demand(pages):
    site, _ = pages
    roots = re.findall(r'data-root-id="([^"]+)"', site)
    assert len(roots) >= 8 and len(set(roots)) == len(roots)
    payloads = _payloads(site)
    assert len(payloads) >= 4
    in_payloads = [r for p in payloads for item in p["render_items"] for r in item["roots"]]
    assert sorted(in_payloads) == sorted(roots)
    # Every panel placeholder has the figure's size before BokehJS draws it.
    assert site.count('class="panel" style="') == len(roots)
    assert "const docs_json" not in site  # nothing is embedded eagerly


def test_every_section_is_present_with_a_text_alternative(pages):
    site, _ = pages
    for anchor in ("summary", "paths", "projections", "clusters", "layers", "similarity",
                   "unseen", "exemplars", "training", "reproduce"):
        assert f'id="{anchor}"' in site
        assert f'href="#{anchor}"' in site
    # Each group of panels is inside a figure with an accessible name.
    assert site.count('role="img" aria-label=') == site.count('<div class="panels">')
    assert site.count("<table") >= 8


def _text(page: str) -> str:
    """The page's visible text, one space between words."""
    body = re.sub(r"<script.*?</script>", " ", page, flags=re.DOTALL)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body)))


def test_answers_state_the_numbers_of_the_real_metrics(small_run, pages):
    """Every number of the three answers is the real run's metrics.json, formatted."""
    site, _ = pages
    text = _text(site)
    m = small_run.metrics
    sep = m["answers"]["separation"]
    measure = {"cka_labels": "CKA with the labels"}[sep["measure"]]
    if sep["separation_layer"]:
        row = next(r for r in sep["per_layer"] if r["layer"] == sep["separation_layer"])
        lo, hi = row["ci"]["cka_labels"]
        assert f"From {sep['separation_layer']} on" in text
        assert (f"There the {measure} is {row['value']['cka_labels']:.3f} "
                f"[{lo:.3f}, {hi:.3f}]") in text
        inp = sep["per_layer"][0]
        assert f"against {inp['value']['cka_labels']:.3f}" in text
    else:
        assert sep["reason"] in text
    probe_acc = sep["input_linear_probe_accuracy"]
    assert f"on the raw pixels already reaches {100 * probe_acc:.1f}%" in text
    unseen = m["answers"]["unseen"][0]
    statement = unseen["verdict"]["statement"]
    assert statement[:1].upper() + statement[1:] in text
    assert "stand apart:" not in text
    at = next(r for r in unseen["controls"] if r["layer"] == (
        unseen["verdict"]["layer"] if unseen["verdict"]["layer"] != "input"
        else unseen["verdict"]["most_unassigned_layer"]))
    assert (f"{100 * at['test']:.1f}% [{100 * at['test_ci'][0]:.1f}%, "
            f"{100 * at['test_ci'][1]:.1f}%] of the test images unassigned in "
            f"{at['layer']}") in text
    assert f"{100 * at['probe']:.1f}% [" in text
    assert f"{100 * unseen['novel_path_fraction']:.1f}% take a novel path" in text
    best = m["answers"]["unseen_detection"]["best_per_family_by_class"][str(unseen["class"])]
    for fam in ("input", "network", "signature"):
        assert f"{fam} {best[fam]['auroc']:.3f} [{best[fam]['auroc_ci'][0]:.3f}," in text
    for r in m["answers"]["signatures_differ"]["routed_like"]:
        if r["count"]:
            assert f"classifies {r['correct']} of them correctly and {r['wrong']} wrongly" in text


def test_answers_follow_the_metrics_they_are_given(small_run):
    metrics = copy.deepcopy(small_run.metrics)
    metrics["model"]["test_accuracy"] = 0.123456
    metrics["answers"]["separation"]["separation_layer"] = None
    metrics["answers"]["separation"]["verdict"] = "not_separated"
    metrics["answers"]["separation"]["reason"] = "no hidden layer's marker-reason"
    metrics["answers"]["unseen"][0]["novel_path_fraction"] = 0.4321
    page = render_report(metrics, small_run.manifest, small_run.arrays, small_run.config,
                         standalone=False)["index.html"]
    text = _text(page)
    assert "12.35%" in text
    assert "No hidden layer stands out from the controls" in text
    assert "no hidden layer's marker-reason" in text
    assert "43.2% take a novel path" in text


def test_config_strings_are_escaped(small_run):
    evil = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">'
    config = dataclasses.replace(small_run.config, title=evil)
    page = render_report(small_run.metrics, small_run.manifest, small_run.arrays,
                         config)["index.html"]
    assert "<script>window.__xss" not in page
    assert "<img src=x" not in page
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in page


def test_report_without_probe_classes_or_optional_metrics():
    from sigreport.config import load_config
    from sigreport.pipeline import measure

    config = load_config("mnist-1-7", TINY_OVERRIDES + (
        "data.probe_classes=[]", "train.epochs=1", "train.snapshot_epochs=[]"))
    m = measure(config)
    metrics = copy.deepcopy(m.metrics)
    metrics["stability"] = None
    metrics["snapshots"] = []
    metrics["ood"] = []
    page = render_report(metrics, m.manifest, m.arrays, config)["index.html"]
    assert "holds out no class" in page
    assert "One seed was trained" in page
    assert "No snapshot was recorded" in page
    assert "then shown" not in page and "(unseen)" not in page
    assert len(_payloads(page)) >= 4


def test_numbers_are_exact_while_scatter_points_are_capped(small_run, pages):
    site, _ = pages
    acts = small_run.acts
    n_points = min(small_run.config.report.max_points, len(acts.test.y) + len(acts.probe.y))
    text = re.sub(r"\s+", " ", site)
    assert f"showing {n_points:,} test and unseen images" in text
    counts = Counter(acts.test.y.tolist() + acts.probe.y.tolist())
    shown = re.search(r"Points shown per class: (.*?) \(config", text).group(1)
    # label: count, as many as the projection shows (balanced over the classes)
    assert len(re.findall(r"[^,:]+: [\d,]+", shown)) == len(counts)


def test_the_stated_total_time_includes_the_report_stage(pages, tiny_run):
    import json

    site, _ = pages
    manifest = json.loads((tiny_run / "tiny" / "manifest.json").read_text("utf-8"))
    text = re.sub(r"\s+", " ", site)
    timings = text.split("<dt>timings</dt><dd>")[1].split("</dd>")[0]
    stages = [t.split(" ")[0] for t in timings.split(" (total")[0].split(" · ")]
    assert stages == list(manifest["timings_s"])  # report included, in order
    assert "this page included" in timings


def test_vendor_bokeh_copies_what_pages_load_once(tmp_path, pages):
    site, _ = pages
    folder = vendor_bokeh(tmp_path, [site])
    js = folder / f"bokeh-{bokeh.__version__}.min.js"
    assert js.read_bytes() == bokeh_files()[js.name].read_bytes()
    assert sorted(p.name for p in folder.glob("*.js")) == [js.name]
    mtime = js.stat().st_mtime_ns
    vendor_bokeh(tmp_path, [site])
    assert js.stat().st_mtime_ns == mtime
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]
    assert any(p.name.startswith("LICENSE-bokeh") for p in folder.iterdir())


def test_tsne_projection_embeds_the_shown_points(small_run):
    proj = compute_projections(small_run.acts, ("hidden1",),
                               ReportConfig(projection="tsne", max_points=40), seed=0)
    assert proj.method == "tsne" and proj.xy["hidden1"].shape == (40, 2)
    assert proj.explained["hidden1"] is None and np.isfinite(proj.xy["hidden1"]).all()


def test_training_section_draws_one_path_diagram_per_snapshot(tiny_run, small_run, pages):
    import json

    site, _ = pages
    metrics = json.loads((tiny_run / "tiny" / "metrics.json").read_text("utf-8"))
    epochs = [s["epoch"] for s in metrics["snapshots"]]
    assert len(epochs) >= 2
    names = re.findall(r'"name":"snapshot-alluvial-(\d+)"', site)
    assert sorted(map(int, names)) == sorted(epochs)
    text = re.sub(r"\s+", " ", site)
    section = text.split('id="training"')[1].split("</section>")[0]
    assert "Paths at the recorded epochs" in section
    for s in metrics["snapshots"]:
        # Its row in the text alternative: epoch, accuracy and training path count from metrics.
        assert (f'<td class="r">{s["epoch"]}</td><td class="r">{100 * s["test_accuracy"]:.2f}%'
                f'</td> <td class="r">{s["n_distinct_paths"]:,}</td>') in section
    # Without snapshot arrays the section keeps its curves only.
    arrays = dataclasses.replace(small_run.arrays, snapshots={})
    page = render_report(small_run.metrics, small_run.manifest, arrays,
                         small_run.config)["index.html"]
    assert "snapshot-alluvial" not in page and "Paths at the recorded epochs" not in page


def test_the_glossary_is_the_metrics_documentation(pages):
    """Every glossary entry says the term in plain words first, then the schema's own
    description of the field it names (which names the config keys)."""
    from sigreport.report.sections.glossary import GLOSSARY, PLAIN, describe

    site, _ = pages
    text = _text(site)
    for term, path in GLOSSARY:
        assert f"{term} {PLAIN[term]} Exactly: {describe(path)}" in text, term


def _lead_of(page: str, section: str) -> str:
    found = re.search(rf'<section id="{section}".*?</section>', page, flags=re.DOTALL)
    assert found, section
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", found.group(0))).split())


def test_the_report_says_which_images_the_clusters_were_fitted_on(tiny_run):
    from sigreport.config import load_config
    from sigreport.pipeline import build_run

    alone = (tiny_run / "tiny" / "index.html").read_text("utf-8")
    # the same network (from the cache), its clusters fitted on the probe images too
    both = build_run(load_config("mnist-1-7", [*TINY_OVERRIDES,
                                               'signatures.fit_on="train+probe"']))
    assert both.metrics["experiment"]["signatures"]["fit_on"] == "train+probe"
    for section in ("paths", "layers"):
        assert "fitted on training images" in _lead_of(alone, "paths")
        assert "training and probe images" not in _lead_of(alone, section)
        assert "training and probe images" in _lead_of(both.files["index.html"], section)


def _glyph_data(fig) -> list[dict]:
    """The data of each glyph renderer of a Bokeh figure, in drawing order."""
    return [dict(r.data_source.data) for r in fig.renderers]


def test_each_answer_gets_a_glance_drawn_from_the_metrics_its_card_reads(small_run):
    from sigreport.report.sections import build_context, build_glance

    metrics = small_run.metrics
    ctx = build_context(metrics, small_run.arrays)
    glance = build_glance(ctx, metrics)
    assert sorted(glance.figures) == ["glance_q1", "glance_q2", "glance_q3"]
    # Q1: the chosen measure per layer, trained and untrained, as in the card.
    sep = metrics["answers"]["separation"]
    m = sep["measure"]
    trained = _glyph_data(glance.figures["glance_q1"])[0]
    assert list(trained["y"]) == pytest.approx([row["value"][m] for row in sep["per_layer"]])
    # Q2: each class's share on its own specific path, on another's, and the rest (0-100%).
    bars = _glyph_data(glance.figures["glance_q2"])[0]
    n = len(ctx.classes)
    own = [r - lo for r, lo in zip(bars["right"][:n], bars["left"][:n])]
    assert own == pytest.approx([metrics["paths"]["coverage"][str(c)] for c in ctx.classes],
                                abs=1e-6)
    routed = [sum(r["fraction"] for r in metrics["answers"]["signatures_differ"]["routed_like"]
                  if r["class"] == c) for c in ctx.classes]
    assert [r - lo for r, lo in zip(bars["right"][n:2 * n], bars["left"][n:2 * n])] == \
        pytest.approx(routed, abs=1e-6)
    assert max(bars["right"]) <= 1 + 1e-6
    fig2 = glance.figures["glance_q2"]
    assert (fig2.x_range.start, fig2.x_range.end) == (0, 1)
    # Q3: unassigned per hidden layer, unseen against test images, then the untrained network.
    lines = [d for d in _glyph_data(glance.figures["glance_q3"]) if "v" in d][::2]
    u = metrics["answers"]["unseen"][0]
    assert list(lines[0]["y"]) == pytest.approx([lay["unassigned_rate"] for lay in u["layers"]])
    assert list(lines[1]["y"]) == pytest.approx([lay["test_unassigned_rate"]
                                                 for lay in u["layers"]])
    epoch0 = next(s for s in metrics["snapshots"] if s["epoch"] == sep["control_epoch"])
    rate = {lay["name"]: lay["unassigned_rate"]["probe"] for lay in epoch0["layers"]}
    assert list(lines[2]["y"]) == pytest.approx([rate[lay["layer"]] for lay in u["layers"]])
    # Each card's terms link to glossary entries that exist.
    from sigreport.report.sections.glossary import GLOSSARY, anchor

    ids = {anchor(t) for t, _ in GLOSSARY}
    assert all(i in ids for g in glance.values["glances"].values() for _, i in g["terms"])


def test_the_answer_cards_link_their_terms_to_the_glossary(pages):
    """Inside the cards' sentences (not only the glance's "In the glossary" line), the
    technical terms are links to glossary entries the page has."""
    page, _ = pages
    cards = page.split('<div class="summary" id="summary">', 1)[1].split('<section', 1)[0]
    cards = re.sub(r'<p class="terms">.*?</p>', "", cards, flags=re.DOTALL)
    ids = set(re.findall(r'<dt id="(g-[^"]+)"', page))
    links = re.findall(r'<a class="term" href="#([^"]+)">([^<]+)</a>', cards)
    linked = {i for i, _ in links}
    assert linked <= ids, linked - ids
    # Q1's measure, the bootstrap difference, Q2's divergence and specific path, Q3's AUROC,
    # unassigned and novel path are all linked where the sentence first names them.
    for term in ("Paired bootstrap difference", "JS divergence of paths", "Specific path",
                 "AUROC", "Unassigned", "Novel path", "Best score of a family",
                 "Linear probe accuracy"):
        assert glossary_anchor(term) in linked, term
    texts = {text for _, text in links}
    assert {"Jensen-Shannon divergence", "novel path", "unassigned", "AUROC"} <= texts


def test_the_report_can_be_cited_from_its_manifest(pages, tiny_run):
    import json

    site, _ = pages
    manifest = json.loads((tiny_run / "tiny" / "manifest.json").read_text("utf-8"))
    cite = _text(site).split("Cite this report", 1)[1]
    for value in (manifest["created"][:10], f"sigreport {manifest['versions']['sigreport']}",
                  manifest["data_sha256"], manifest["git_commit"] or "not known"):
        assert value in cite, value
    bib = html.unescape(re.search(r'<pre class="config bibtex"[^>]*>(.*?)</pre>', site,
                                  flags=re.DOTALL).group(1))
    assert bib.startswith("@misc{sigreport-tiny-")
    # The title's markup and ampersand are text to BibTeX, escaped as such.
    assert "title = {Tiny <b>1 vs 7</b> \\& 'quotes'}" in bib
    assert f"year = {manifest['created'][:4]}" in bib
    assert manifest["data_sha256"] in bib
    link = re.search(r'href="(data:application/x-bibtex;charset=utf-8,[^"]+)" download="([^"]+)"',
                     site)
    from urllib.parse import unquote

    assert unquote(html.unescape(link.group(1)).split(",", 1)[1]) == bib
    assert link.group(2) == bib.split("{", 1)[1].split(",", 1)[0] + ".bib"


def test_citation_cff_names_the_package_version():
    import tomllib
    from pathlib import Path

    import yaml

    repo = Path(__file__).resolve().parent.parent
    cff = yaml.safe_load((repo / "CITATION.cff").read_text("utf-8"))
    project = tomllib.loads((repo / "pyproject.toml").read_text("utf-8"))["project"]
    assert cff["cff-version"] == "1.2.0" and cff["authors"] and cff["title"]
    assert str(cff["version"]) == project["version"]
    assert cff["license"] == project["license"]["text"]


def test_one_unseen_class_is_named_once_not_in_every_row(pages):
    site, _ = pages
    section = site.split('id="unseen"')[1].split("</section>")[0]
    assert "Each score at its best layer, detecting 3 (unseen), measured on all samples" \
        in _text(section)
    tables = re.findall(r"Each score at its best layer.*?</table>", section, flags=re.DOTALL)
    assert tables and "<th>unseen</th>" not in tables[0] and "<th>family</th>" in tables[0]


def test_projection_metrics_are_the_pca_of_the_training_layers_and_the_page_states_them(
        small_run, tiny_run):
    """Every number the projection section shows is in metrics.json: the variance the two
    axes explain, re-derived here from the training activations by an SVD (the tiny run
    has fewer than 5,000 training samples, so PCA is fitted on all of them)."""
    proj = small_run.metrics["projection"]
    assert proj["method"] == "pca" and len(small_run.acts.train.y) < 5000
    for layer in proj["layers"]:
        x = small_run.acts.train.layers[layer["name"]].astype(np.float64)
        s = np.linalg.svd(x - x.mean(0), compute_uv=False) ** 2
        assert layer["explained_variance"] == pytest.approx(s[:2].sum() / s.sum(), abs=2e-6)
    shown = small_run.arrays.projection
    assert proj["n_points"] == len(shown.row) == sum(proj["per_class"].values())
    from sigreport.report.formatters import pct

    text = _text((tiny_run / "tiny" / "index.html").read_text("utf-8"))
    table = text[text.index("variance explained by the 2 axes"):]
    for layer in proj["layers"]:
        assert f"{layer['name']} {pct(layer['explained_variance'])}" in table, layer
