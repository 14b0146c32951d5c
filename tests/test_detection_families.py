"""Detection families: the best score of each family chosen on one half of the samples and
quoted on the other, the untrained network's best of the same family, and each score
against a brute-force oracle."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from test_analysis import (  # noqa: F401 -- metrics and toy: fixtures shared with it
    CONFIG,
    DATASET,
    TRAIN,
    metrics,
    toy,
    with_control,
)

from sigreport.analysis import compute_metrics, compute_path_stats, detection, ood
from sigreport.analysis.detection import Score

# --- the half-split ------------------------------------------------------------------


def test_selection_halves_split_every_class_in_two_by_the_seed():
    y_test = np.repeat([1, 7], [41, 30])
    y_probe = np.repeat([3, 5, 8], [11, 20, 1])
    choose_t, choose_p = detection.selection_halves(y_test, y_probe, seed=4)
    for y, choose in ((y_test, choose_t), (y_probe, choose_p)):
        for c in np.unique(y):
            assert choose[y == c].sum() == (y == c).sum() // 2
    again = detection.selection_halves(y_test, y_probe, seed=4)
    np.testing.assert_array_equal(again[0], choose_t)
    np.testing.assert_array_equal(again[1], choose_p)
    other = detection.selection_halves(y_test, y_probe, seed=5)
    assert not np.array_equal(other[0], choose_t)
    # the documented draw: one permutation per class, test classes first, then probe classes
    rng = np.random.default_rng([4, 0x5E1])
    expect = np.zeros(len(y_test), bool)
    for c in (1, 7):
        rows = np.flatnonzero(y_test == c)
        expect[rng.permutation(rows)[:len(rows) // 2]] = True
    np.testing.assert_array_equal(expect, choose_t)


def _oracle_pick(scores, mask, halves):
    """Brute force: scikit-learn's AUROC of every score on the choosing half, the best one
    measured again on the other half."""
    choose_t, choose_p = halves

    def auc(s, known_rows, unknown_rows):
        y = np.r_[np.zeros(known_rows.sum()), np.ones(unknown_rows.sum())]
        return roc_auc_score(y, np.r_[s.test[known_rows], s.probe[unknown_rows]])

    # ties on the AUROC: the lower FPR95 on the choosing half, then the first score
    keys = [(auc(s, choose_t, mask & choose_p),
             -ood.fpr_at_95(s.test[choose_t], s.probe[mask & choose_p]), -i)
            for i, s in enumerate(scores)]
    i = max(range(len(scores)), key=lambda j: keys[j])
    return scores[i], keys[i][0], auc(scores[i], ~choose_t, mask & ~choose_p)


def test_held_out_best_matches_a_brute_force_oracle():
    rng = np.random.default_rng(0)
    n_t, n_p = 90, 70
    y_test, y_probe = np.repeat([1, 7], [50, 40]), np.repeat([3, 5], [30, 40])
    # scores of different strength; one is strong only by chance on part of the samples
    scores = [Score(f"s{i}", "network", f"hidden{i}", (f"hidden{i}",),
                    rng.normal(size=n_t), rng.normal(loc=0.4 * i, size=n_p)) for i in range(4)]
    halves = detection.selection_halves(y_test, y_probe, seed=2)
    for target, mask in ((3, y_probe == 3), ("all", np.ones(n_p, bool))):
        got = detection._held_out_best(scores, mask, halves, n_boot=50, seed=2)
        best, sel_auc, quoted = _oracle_pick(scores, mask, halves)
        assert got["method"] == best.method, target
        assert got["selection_auroc"] == pytest.approx(sel_auc, abs=1e-12)
        assert got["auroc"] == pytest.approx(quoted, abs=1e-12)
        known, unknown = best.test[~halves[0]], best.probe[mask & ~halves[1]]
        assert got["fpr95"] == ood.fpr_at_95(known, unknown)
        assert (got["n_known"], got["n_unknown"]) == (len(known), len(unknown))
        auc_s, _ = ood.auroc_fpr95_samples(known, unknown, 50, 2)
        assert got["auroc_ci"] == pytest.approx(list(np.quantile(auc_s, [0.025, 0.975])),
                                                abs=1e-6)


def test_the_quoted_auroc_is_not_the_selection_optimum():
    """Many scores of pure noise: the best on the choosing half looks better than chance;
    quoted on the other half it falls back near 0.5."""
    rng = np.random.default_rng(1)
    y_test, y_probe = np.repeat([1, 7], 60), np.full(120, 3)
    scores = [Score("knn", "network", f"l{i}", (f"l{i}",), rng.normal(size=120),
                    rng.normal(size=120)) for i in range(40)]
    halves = detection.selection_halves(y_test, y_probe, seed=0)
    got = detection._held_out_best(scores, np.ones(120, bool), halves, n_boot=50, seed=0)
    assert got["selection_auroc"] > 0.6
    assert abs(got["auroc"] - 0.5) < abs(got["selection_auroc"] - 0.5)


# --- the summary: rule, halves and the untrained control -------------------------------


def test_summary_states_the_rule_and_quotes_the_held_out_half(metrics):
    det = metrics["answers"]["unseen_detection"]
    sel = det["selection"]
    n_test, n_probe = metrics["experiment"]["n_test"], metrics["experiment"]["n_probe"]
    assert sel["n_known_choose"] + sel["n_known_quote"] == n_test
    assert sel["n_unknown_choose"] + sel["n_unknown_quote"] == n_probe
    assert "half" in sel["rule"] and sel["seed"] == 0
    for family, best in det["best_per_family"].items():
        assert best["family"] == family
        assert best["n_known"] == sel["n_known_quote"]
        assert best["n_unknown"] == sel["n_unknown_quote"]
        lo, hi = best["auroc_ci"]
        assert lo <= best["auroc"] <= hi
    assert set(det["best_per_family_by_class"]) == {"3"}


def test_untrained_rows_hold_the_same_families_scored_on_the_untrained_network(toy, metrics):
    acts, sigs = toy
    det = metrics["answers"]["unseen_detection"]
    control = det["untrained"]
    assert control["epoch"] == 0
    best = control["best_per_family"]
    assert best["input"] is None               # the pixels do not depend on the network
    assert best["network"]["family"] == "network"
    assert best["signature"]["family"] == "signature"
    assert best["network"]["n_known"] == det["best_per_family"]["network"]["n_known"]
    assert set(control["best_per_family_by_class"]) == {"3"}
    # oracle: the untrained network's own scores, chosen and quoted on the same halves
    untrained, untrained_sigs = with_control(acts, sigs)[0]
    ps = compute_path_stats(untrained, untrained_sigs.paths, CONFIG.signatures.specific_threshold,
                            CONFIG.signatures.min_support, (3,))
    scores, _ = detection.novelty_scores(untrained, untrained_sigs, ps, CONFIG, 0,
                                         with_input=False)
    assert {s.family for s in scores} == {"network", "signature"}
    halves = detection.selection_halves(acts.test.y, acts.probe.y, 0)
    for family in ("network", "signature"):
        pick, _, quoted = _oracle_pick([s for s in scores if s.family == family],
                                       np.ones(len(acts.probe.y), bool), halves)
        assert (best[family]["method"], best[family]["layer"]) == (pick.method, pick.layer)
        assert best[family]["auroc"] == pytest.approx(quoted, abs=1e-12)


def test_no_untrained_network_no_control_row(toy):
    acts, sigs = toy
    m = compute_metrics(CONFIG, DATASET, TRAIN, acts, sigs)
    assert m["answers"]["unseen_detection"]["untrained"] is None


# --- Deep k-NN: the paper's k ----------------------------------------------------------


def test_deep_knn_uses_the_papers_k_capped_by_the_bank(toy, metrics):
    acts, sigs = toy
    det = metrics["answers"]["unseen_detection"]
    assert det["deep_knn_k"] == 75 and det["knn_k"] == CONFIG.analysis.knn_k
    n_bank = len(acts.train.y) - max(1, len(acts.train.y) // 5)
    assert f"{min(75, n_bank)} per layer for Deep k-NN" in metrics["subsampling"]["knn"]


# --- on a real tiny run ----------------------------------------------------------------


def test_tiny_run_quotes_each_family_beside_the_untrained_network(tiny_run):
    m = json.loads((tiny_run / "tiny" / "metrics.json").read_text("utf-8"))
    det = m["answers"]["unseen_detection"]
    control = det["untrained"]
    assert control is not None
    for family in ("network", "signature"):
        trained, untrained = det["best_per_family"][family], control["best_per_family"][family]
        assert trained["n_known"] == untrained["n_known"] == det["selection"]["n_known_quote"]
        assert 0.0 <= untrained["auroc"] <= 1.0


# --- path likelihood ---------------------------------------------------------------------


def test_gaussian_mixture_matches_scipy_densities():
    from scipy.special import logsumexp
    from scipy.stats import multivariate_normal
    from sklearn.covariance import OAS

    rng = np.random.default_rng(3)
    x = np.r_[rng.normal(size=(60, 4)), rng.normal(loc=5, scale=[1, 2, 0.5, 1], size=(40, 4)),
              rng.normal(size=(3, 4))]
    groups = np.r_[np.zeros(60, int), np.full(40, 2), np.full(3, 1)]   # group 1: too small
    groups[:5] = -1                                                     # in no group
    model = ood.fit_gaussian_mixture(x, groups, min_members=10)
    queries = rng.normal(loc=2, scale=3, size=(25, 4))
    parts = []
    for g in (0, 2):
        pts = x[groups == g]
        parts.append(np.log(len(pts) / 95) + multivariate_normal.logpdf(
            queries, pts.mean(axis=0), OAS().fit(pts).covariance_))
    np.testing.assert_allclose(model.score(queries), -logsumexp(np.array(parts), axis=0),
                               rtol=1e-9)
    assert ood.fit_gaussian_mixture(x, groups, min_members=100) is None


def test_path_likelihood_is_the_mixture_of_the_training_paths(toy, metrics):
    from scipy.special import logsumexp
    from scipy.stats import multivariate_normal
    from sklearn.covariance import OAS

    acts, sigs = toy
    row = next(r for r in metrics["ood"] if r["method"] == "path_likelihood"
               and r["probe_class"] == "all")
    assert row["family"] == "signature" and row["layers"] == ["hidden1", "hidden2"]
    assert row["auroc"] == 1.0        # the planted probe lies far from every training path
    # oracle: region coordinates by hand, one scipy Gaussian per path of >= min_support members
    def coords(split):
        out = []
        for name in sigs.path_layers:
            layer = sigs.layer(name)
            z = (split.layers[name] - layer.offset) / layer.scale - layer.boundary.offset
            out.append(z if layer.boundary.basis is None else z @ layer.boundary.basis)
        return np.concatenate(out, axis=1)

    train, test = coords(acts.train), coords(acts.test)
    paths = [tuple(p) for p in sigs.paths["train"]]
    sizes = {p: paths.count(p) for p in set(paths) if min(p) >= 0}
    kept = {p: n for p, n in sizes.items() if n >= CONFIG.signatures.min_support}
    total = sum(kept.values())
    parts = []
    for p in kept:
        pts = train[[q == p for q in paths]]
        parts.append(np.log(kept[p] / total) + multivariate_normal.logpdf(
            test, pts.mean(axis=0), OAS().fit(pts).covariance_))
    expect = -logsumexp(np.array(parts), axis=0)
    got = detection._path_likelihood(acts, sigs, CONFIG.signatures.min_support)
    np.testing.assert_allclose(got.test, expect, rtol=1e-6)


def test_tiny_report_shows_each_family_beside_the_untrained_network(tiny_run):
    import html
    import re

    folder = tiny_run / "tiny"
    m = json.loads((folder / "metrics.json").read_text("utf-8"))
    det = m["answers"]["unseen_detection"]
    page = (folder / "index.html").read_text("utf-8")
    start = page.index("Can the network tell it has never seen them?")
    text = html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page[start:start + 20000])))
    assert "untrained network's best" in text
    sel = det["selection"]
    assert (f"{sel['n_known_choose']} test images, {sel['n_unknown_choose']} unseen" in text)
    for family in ("network", "signature"):
        u = det["untrained"]["best_per_family"][family]
        assert f"{u['method']} {u['layer']} {u['auroc']:.3f}" in text, family
    assert "the same pixels" in text
