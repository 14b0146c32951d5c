"""One vocabulary in every part of a real tiny run's report and site pages.

A path is "never seen in training" (every hidden layer assigned, no training image takes
it), goes "through an unassigned layer" (unassigned in at least one hidden layer), and is
"novel" when either holds; each sentence, figure, card, tooltip and site page that speaks of
paths, clusters, AMI, layer similarity, what the clusters were fitted on and timings says
what its numbers are.
"""

from __future__ import annotations

import html
import json
import re
from importlib import resources

import numpy as np
import pytest
from conftest import TINY_OVERRIDES

from sigreport.report import render_report
from sigreport.report import sections as S
from sigreport.report.formatters import num, pct
from sigreport.report.sections.common import format_path


def _text(fragment: str) -> str:
    """Visible text, one space between words."""
    body = re.sub(r"<script.*?</script>", " ", fragment, flags=re.DOTALL)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def _section(page: str, section: str) -> str:
    found = re.search(rf'<section id="{section}".*?</section>', page, flags=re.DOTALL)
    assert found, section
    return found.group(0)


@pytest.fixture(scope="module")
def page(tiny_run) -> str:
    return (tiny_run / "tiny" / "index.html").read_text("utf-8")


@pytest.fixture(scope="module")
def unseen(tiny_stages) -> dict:
    return tiny_stages.metrics["answers"]["unseen"][0]


@pytest.fixture(scope="module")
def ctx(tiny_stages):
    return S.build_context(tiny_stages.metrics, tiny_stages.arrays)


# --- the glossary ------------------------------------------------------------------------


def test_the_three_path_words_are_defined_once_in_the_glossary(page):
    from sigreport.report.sections.glossary import GLOSSARY, PLAIN, describe

    terms = dict(GLOSSARY)
    glossary = _section(page, "glossary")
    for term, anchor in (("Never seen in training", "g-never-seen-in-training"),
                         ("Through an unassigned layer", "g-through-an-unassigned-layer"),
                         ("Novel path", "g-novel-path")):
        assert term in terms
        assert glossary.count(f'id="{anchor}"') == 1 and page.count(f'id="{anchor}"') == 1
        assert f"{term} {PLAIN[term]} Exactly: {describe(terms[term])}" in _text(glossary)
    novel = describe(terms["Novel path"])
    assert "never seen in training" in novel and "through an unassigned layer" in novel
    # The schema's novel fields point at that one definition.
    schema = json.loads((resources.files("sigreport") / "metrics.schema.json")
                        .read_text(encoding="utf-8"))
    row = schema["$defs"]["path_row"]["properties"]["novel"]
    top = schema["$defs"]["unseen_class"]["properties"]["top_paths"]["items"]["properties"]
    assert row["$ref"] == top["novel"]["$ref"] == "#/$defs/novel_path"


# --- the path bar and the cards ------------------------------------------------------------


def test_regression_the_path_bar_splits_novel_paths_as_the_metrics_count_them(
        tiny_stages, ctx, unseen):
    """The path bar called 3.5% "paths never seen in training" while 82.1% were novel: its
    two novel segments now add up to the metrics' novel share, each part named."""
    m = tiny_stages.metrics
    probes = S.build_probes(ctx, m, tiny_stages.arrays, int(tiny_stages.config.seed))
    shares = probes.data["paths"]
    names = [seg["name"] for seg in shares["segments"]]
    assert "paths never seen in training" not in names
    never = next(s for s in shares["segments"] if s["name"] == "novel: never seen in training") \
        if "novel: never seen in training" in names else None
    through = next(s for s in shares["segments"]
                   if s["name"] == "novel: through an unassigned layer")
    probe_row = shares["rows"].index(ctx.label[unseen["class"]])
    n_probe = shares["totals"][probe_row]
    never_probe = never["counts"][probe_row] if never else 0
    assert (never_probe + through["counts"][probe_row]) / n_probe == \
        pytest.approx(unseen["novel_path_fraction"], abs=1e-6)
    assert through["counts"][probe_row] / n_probe == \
        pytest.approx(unseen["unassigned_any_fraction"], abs=1e-6)
    # The trained classes' test rows: the metrics' novel share of the test images.
    test_rows = [shares["rows"].index(ctx.label[c]) for c in ctx.classes]
    n_test = sum(shares["totals"][r] for r in test_rows)
    novel_test = sum((never["counts"][r] if never else 0) + through["counts"][r]
                     for r in test_rows)
    assert novel_test / n_test == pytest.approx(m["paths"]["novel_share"]["test"], abs=1e-6)
    # Every image is in exactly one segment.
    for r, total in enumerate(shares["totals"]):
        assert sum(seg["counts"][r] for seg in shares["segments"]) == total


def _cards(page: str) -> dict[str, str]:
    """The unseen section's path cards: path text -> the card's sentence."""
    section = _section(page, "unseen")
    cards = re.findall(r'<div class="card">(.*?)</div>', section, flags=re.DOTALL)
    out = {}
    for card in cards:
        path = re.search(r'<span class="mono">(.*?)</span>', card).group(1)
        out[html.unescape(path)] = _text(re.search(r"<p>(.*?)</p>", card, re.DOTALL).group(1))
    return out


def test_regression_cards_call_novel_what_the_metrics_call_novel(page, unseen):
    """A card read "none · none — on a path also taken in training" for a path the metrics
    mark novel (training images took it too, through unassigned layers)."""
    cards = _cards(page)
    assert cards
    assert "on a path also taken in training" not in _text(page)
    checked = 0
    for top in unseen["top_paths"]:
        text = cards.get(format_path(top["path"]))
        if text is None:
            continue
        checked += 1
        assert ("novel path" in text) == top["novel"], text
        if -1 in top["path"]:
            assert "through an unassigned layer" in text
            if top["training_support"]:
                assert f"{top['training_support']:,} training image" in text
        elif top["novel"]:
            assert "never seen in training" in text
    assert checked == len(cards)
    # The case of the regression occurs in this run: a novel path that training images take.
    assert any(t["novel"] and t["training_support"] for t in unseen["top_paths"]
               if format_path(t["path"]) in cards)


# --- the site -------------------------------------------------------------------------------


def test_the_run_page_states_the_novel_share_and_its_two_parts(tiny_run, tmp_path, unseen):
    """The run page said "82.1% on paths never seen in training" of the novel share."""
    from sigreport.report.site import discover_runs, write_site_pages

    runs, _ = discover_runs(tiny_run)
    write_site_pages(runs, tmp_path)
    run_page = (tmp_path / "runs" / "tiny.md").read_text("utf-8")
    compare = (tmp_path / "runs" / "index.md").read_text("utf-8")
    n = unseen["n_samples"]
    never = (round(unseen["novel_path_fraction"] * n)
             - round(unseen["unassigned_any_fraction"] * n)) / n
    sentence = (f"{pct(unseen['novel_path_fraction'])} on a "
                f'<a href="../reports/tiny/index.html#g-novel-path">novel path</a> '
                f"({pct(unseen['unassigned_any_fraction'])} through an unassigned layer, "
                f"{pct(never)} never seen in training)")
    assert sentence in run_page
    assert "on paths never seen in training" not in run_page
    assert "new paths" not in compare and "unseen on a novel path" in compare
    assert f"{pct(unseen['novel_path_fraction'])}</td>" in compare


# --- clusters, projections, similarity -----------------------------------------------------


def test_the_heatmap_has_a_none_column_holding_every_image(tiny_stages, ctx, page):
    """Each row of the classes x clusters heatmap counts all its class's images: the
    unassigned ones are the last column, "none"."""
    m, acts = tiny_stages.metrics, tiny_stages.acts
    layers = S.build_layers(ctx, m)
    panels = layers.figures["heatmaps"]
    assert len(panels) == len(m["layers"])
    unassigned_somewhere = False
    for fig, lay in zip(panels, m["layers"]):
        assert list(fig.x_range.factors)[-1] == "none"
        assert len(fig.x_range.factors) == lay["n_clusters"] + 1
        data = fig.renderers[0].data_source.data
        for c in ctx.classes + ctx.probes:
            split = acts.train if c in ctx.classes else acts.probe
            cells = [int(t.replace(",", "")) for t, y in zip(data["text"], data["y"])
                     if y == ctx.label[c]]
            assert sum(cells) == int(np.sum(split.y == c))
            none = [int(t.replace(",", "")) for t, x, y in zip(data["text"], data["x"], data["y"])
                    if y == ctx.label[c] and x == "none"]
            key = str(c)
            assert none == [lay["unassigned_counts"][key] if c in ctx.classes
                            else lay["probe_unassigned_counts"][key]]
            unassigned_somewhere |= none[0] > 0
    assert unassigned_somewhere
    clusters = _section(page, "clusters")
    assert clusters.count('<th class="r">none</th>') == len(m["layers"])
    assert "none of which were used to fit the clusters" in _text(clusters)


def test_the_hover_says_unassigned_never_noise(tiny_stages, ctx, page):
    sec = S.build_projections(ctx, tiny_stages.metrics, tiny_stages.arrays)
    panels = sec.figures["projection"]
    source = panels[0].renderers[0].data_source.data
    labels = {v for k, v_list in source.items() if re.fullmatch(r"c\d+", k) for v in v_list}
    assert "unassigned" in labels and "noise" not in labels
    for fig in panels:
        hover = [t for t in fig.tools if type(t).__name__ == "HoverTool"][0]
        assert "cluster @c" not in hover.tooltips
    assert "cluster noise" not in _text(page) and '"noise"' not in page


def test_no_nmi_in_the_report_and_the_projection_table_shows_ami(tiny_stages, page):
    assert "NMI" not in _text(page)
    table = _text(_section(page, "projections")).split("What the projection shows")[1]
    assert "cluster / class AMI" in table
    for lay in tiny_stages.metrics["layers"]:
        assert f"{lay['name']} " in table
        row = table.split(f" {lay['name']} ", 1)[1].split(" ")[:3]
        assert row[2] == num(lay["cluster_class_ami"], 3), (lay["name"], row)


def test_layer_similarity_names_the_split_it_is_computed_on(tiny_stages, page):
    cka = tiny_stages.metrics["cka"]
    assert cka["split"] == "test"
    lead = _text(_section(page, "similarity"))
    assert f"on {cka['subsample']:,} test images of the trained classes" in lead
    assert "training images" not in lead


def test_the_heatmap_lead_follows_what_the_clusters_were_fitted_on(tiny_stages):
    from sigreport.config import load_config
    from sigreport.pipeline import build_run

    both = build_run(load_config("mnist-1-7", [*TINY_OVERRIDES,
                                               'signatures.fit_on="train+probe"']))
    assert both.metrics["experiment"]["signatures"]["fit_on"] == "train+probe"
    lead = _text(_section(both.files["index.html"], "clusters"))
    assert "none of which were used to fit" not in lead
    assert ('which were used to fit the clusters and their regions together with the '
            'training images: signatures.fit_on = "train+probe"') in lead


# --- timings -----------------------------------------------------------------------------


def _timings(page: str) -> str:
    return " ".join(page.split("<dt>timings</dt><dd>")[1].split("</dd>")[0].split())


def test_a_training_from_the_cache_says_so(tiny_run, tiny_standalone_run):
    """The second run (the standalone page) takes the network from the cache; its "train
    0.01 s" now says so, and a run that trained says nothing of the kind."""
    for folder in (tiny_run, tiny_standalone_run):
        manifest = json.loads((folder / "tiny" / "manifest.json").read_text("utf-8"))
        timings = _timings((folder / "tiny" / "index.html").read_text("utf-8"))
        train = re.search(r"train [\d.,]+ \w+( \(from the cache\))?", timings)
        assert train, timings
        assert bool(train.group(1)) == all(manifest["cache_hits"].values())
    second = json.loads((tiny_standalone_run / "tiny" / "manifest.json").read_text("utf-8"))
    assert second["cache_hits"] == {"train_seed_0": True}


def test_some_seeds_from_the_cache_are_named(tiny_stages):
    manifest = {**tiny_stages.manifest,
                "cache_hits": {"train_seed_0": False, "train_seed_1": True}}
    page = render_report(tiny_stages.metrics, manifest, tiny_stages.arrays,
                         tiny_stages.config)["index.html"]
    assert "(seed 1 from the cache)" in _timings(page)
    manifest["cache_hits"] = {"train_seed_0": False}
    page = render_report(tiny_stages.metrics, manifest, tiny_stages.arrays,
                         tiny_stages.config)["index.html"]
    assert "from the cache" not in _timings(page)
