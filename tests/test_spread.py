"""Training randomness: every seed's answers and their spread, in metrics and on the page."""

from __future__ import annotations

import html
import json
import re

import pytest
from conftest import TINY_OVERRIDES

from sigreport.config import load_config
from sigreport.pipeline import measure, report_files

SEEDS = (0, 1, 2)
MEASURES = ("cka_labels", "cluster_class_ami", "linear_probe_accuracy")


def _tiny(seeds: tuple[int, ...]):
    """The tiny run with ``seeds``, and three clusters in every layer: the other seeds get
    the headline's number of clusters, which a run of one of them alone then also has."""
    listed = ", ".join(map(str, seeds))
    overrides = [o for o in TINY_OVERRIDES if not o.startswith("seeds")] + [
        f"seeds=[{listed}]", "signatures.k=3"]
    return measure(load_config("mnist-1-7", overrides))


@pytest.fixture(scope="module")
def seeded():
    """The tiny run with three seeds: its metrics and its page (the session's cache)."""
    m = _tiny(SEEDS)
    return m.metrics, report_files(m)["index.html"]


def _text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def _own(metrics: dict) -> dict:
    """A run's headline values, read where its answers keep them."""
    answers = metrics["answers"]
    rows = {r["layer"]: r["value"] for r in answers["separation"]["per_layer"]
            if r["kind"] == "post"}
    return {"test_accuracy": metrics["model"]["test_accuracy"],
            "layers": {name: {m: v[m] for m in MEASURES} for name, v in rows.items()},
            "path_js": answers["signatures_differ"]["per_layer"][-1]["js"],
            "unassigned_rate": {str(u["class"]): {lay["layer"]: lay["unassigned_rate"]
                                                  for lay in u["layers"]}
                                for u in answers["unseen"]}}


def _of_seed(row: dict) -> dict:
    return {"test_accuracy": row["test_accuracy"],
            "layers": {lay["layer"]: {m: lay[m] for m in MEASURES} for lay in row["layers"]},
            "path_js": row["path_js"], "unassigned_rate": row["unassigned_rate"]}


def test_the_headline_seed_row_holds_the_headline_answers(seeded):
    metrics, _ = seeded
    spread = metrics["seed_spread"]
    assert spread["seeds"] == list(SEEDS) and spread["headline_seed"] == 0
    head = spread["per_seed"][0]
    assert _of_seed(head) == _own(metrics)
    assert head["separation_layer"] == metrics["answers"]["separation"]["separation_layer"]
    best = metrics["answers"]["unseen_detection"]["best_per_family"]
    assert {f: b["auroc"] for f, b in head["best_auroc"].items()} == \
        {f: best[f]["auroc"] for f in ("network", "signature")}
    summary = spread["summary"]
    values = summary["path_js"]["values"]
    assert values == [s["path_js"] for s in spread["per_seed"]]
    assert summary["path_js"]["min"] == min(values) and summary["path_js"]["max"] == max(values)
    lo, hi = summary["path_js"]["headline_ci"]
    assert summary["path_js"]["n_outside_ci"] == sum(not lo <= v <= hi for v in values[1:])


def test_another_seeds_values_are_what_its_network_gets_as_the_headline(seeded):
    """Seed 1's row equals the headline answers of a run that trains seed 1 alone (from the
    cache: the same network); the values that no seeded subsample touches are compared."""
    metrics, _ = seeded
    alone = _tiny((1,))
    assert alone.manifest["cache_hits"] == {"train_seed_1": True}
    row = _of_seed(metrics["seed_spread"]["per_seed"][1])
    own = _own(alone.metrics)
    assert row["test_accuracy"] == own["test_accuracy"]
    assert row["path_js"] == own["path_js"]
    assert row["unassigned_rate"] == own["unassigned_rate"]
    for name, values in own["layers"].items():
        assert row["layers"][name]["cka_labels"] == pytest.approx(values["cka_labels"], abs=1e-5)
        assert row["layers"][name]["cluster_class_ami"] == values["cluster_class_ami"]


def test_every_answer_card_shows_its_spread_and_the_table_every_seed(seeded):
    metrics, page = seeded
    # The answer cards hold figures (nested divs): each card runs to the next one, the last
    # to the first section after the summary.
    summary = page.split('<div class="summary"', 1)[1].split("<section", 1)[0]
    cards = summary.split('<div class="answer">')[1:]
    assert len(cards) == 3
    js = metrics["seed_spread"]["summary"]["path_js"]
    for card in cards:
        assert "Across seeds 0, 1, 2 (the intervals above: test resampling, seed 0)" in _text(card)
    assert f"path JS divergence {js['min']:.3f}–{js['max']:.3f}" in _text(cards[1])
    assert "unassigned at hidden1" in _text(cards[2])
    header = _text(page.split('<div class="summary"')[0])
    assert "every 95% interval on this page resamples the test images only" in header
    table = re.search(r'<table id="seed-spread">.*?</table>', page, re.S).group(0)
    assert [_text(h) for h in re.findall(r"<th[^>]*>(.*?)</th>", table)][1:4] == \
        ["seed 0 (headline)", "its 95% interval", "seed 1"]
    assert metrics["seed_spread"]["interval_covers"] in _text(page)


def test_one_seed_says_the_intervals_exclude_training_randomness(tiny_run):
    metrics = json.loads((tiny_run / "tiny" / "metrics.json").read_text("utf-8"))
    assert metrics["experiment"]["seeds"] == [0] and metrics["seed_spread"] is None
    page = (tiny_run / "tiny" / "index.html").read_text("utf-8")
    assert ("One seed (0) was trained: every interval on this page resamples the test images "
            "only and excludes training randomness") in _text(page)
    assert 'id="seed-spread"' not in page and "Across seeds" not in page
