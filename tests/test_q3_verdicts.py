"""Q3's controls, operating point and verdict, on real tiny runs where each verdict occurs.

Planted runs change only the data the real pipeline reads (a folder of IDX files made
from the embedded MNIST) or the training: the unseen 3s replaced by other 1s (a probe drawn
from a trained class's own distribution), by uniform noise (far outside every region),
the 1s' and 7s' labels shuffled, strong pixel noise on every image (the pixels can no longer
tell the 3s apart, a trained network still can), a barely trained network, and a run with
no untrained snapshot. The verdict is a pure function of the stored numbers, so each run's
verdict is also recomputed from them.
"""

from __future__ import annotations

import html
import json
import re
import struct
from pathlib import Path

import numpy as np
import pytest

from sigreport.analysis.unseen import QUANTILES, RULE, VERDICTS, unseen_verdict
from tests.conftest import run_cli, tiny_args


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def _planted_mnist(folder: Path, plant: str, seed: int = 0) -> Path:
    """The embedded MNIST's 1s, 3s and 7s as a folder of IDX files, with ``plant`` applied to
    both the training and the test file."""
    from sigreport.data.idx import read_idx
    from sigreport.data.sources import FILES, _embedded_dir, _find

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    parts = [read_idx(_find(_embedded_dir(), stem)).data for stem in FILES]
    for (xi, yi) in ((0, 1), (2, 3)):
        keep = np.isin(parts[yi], (1, 3, 7))
        x, y = parts[xi][keep].copy(), parts[yi][keep].copy()
        if plant == "ones_as_threes":      # the real 3s leave; half the 1s are called 3
            y[y == 3] = 4
            ones = np.flatnonzero(y == 1)
            y[rng.permutation(ones)[: len(ones) // 2]] = 3
        elif plant == "noise_threes":      # the 3s are uniform noise
            x[y == 3] = rng.integers(0, 256, size=(int((y == 3).sum()), 28, 28))
        elif plant == "shuffled_labels":   # 1s and 7s keep their images, not their labels
            rows = np.flatnonzero(np.isin(y, (1, 7)))
            y[rows] = y[rng.permutation(rows)]
        elif plant == "noisy_pixels":      # every image under strong pixel noise
            x = np.clip(x + rng.normal(0, 100, size=x.shape), 0, 255).astype(np.uint8)
        else:
            raise ValueError(plant)
        _write_idx(folder / FILES[xi], x)
        _write_idx(folder / FILES[yi], y)
    return folder


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory):
    """name -> (metrics, index.html text) of a tiny run with the given overrides; each run
    once per module."""
    done: dict[str, tuple[dict, str]] = {}

    def run(name: str, *sets: str, plant: str | None = None) -> tuple[dict, str]:
        if name not in done:
            out = tmp_path_factory.mktemp(f"q3-{name}")
            extra = []
            if plant:
                folder = _planted_mnist(tmp_path_factory.mktemp(f"data-{plant}"), plant)
                extra += ["--set", f'data.path="{folder}"']
            for s in sets:
                extra += ["--set", s]
            proc = run_cli(*tiny_args("--out", str(out), "--set", f'name="{name}"', *extra))
            assert proc.returncode == 0, proc.stderr
            folder = out / name
            done[name] = (json.loads((folder / "metrics.json").read_text("utf-8")),
                          (folder / "index.html").read_text("utf-8"))
        return done[name]

    return run


def _unseen(metrics: dict) -> dict:
    (u,) = metrics["answers"]["unseen"]
    return u


def _text(page: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


def _check_stored_verdict(metrics: dict, page: str) -> dict:
    """The stored verdict is the rule applied to the stored numbers, and the page states it."""
    u = _unseen(metrics)
    v = u["verdict"]
    best = metrics["answers"]["unseen_detection"]["best_per_family_by_class"][str(u["class"])]
    assert unseen_verdict(u["controls"], u["predicted_as"], best) == v
    assert v["rule"] == RULE and v["statement"] == VERDICTS[v["verdict"]]
    headline = re.search(r'<p class="a q3-verdict" data-verdict="([a-z_]+)">(.*?)</p>', page, re.S)
    assert headline and headline.group(1) == v["verdict"]
    said = _text(headline.group(2)).strip()
    assert said.startswith(v["statement"][:1].upper() + v["statement"][1:])
    assert "Inside the network they stand apart" not in page
    return v


def test_default_tiny_run_controls_and_sweep(tiny_run: Path, tiny_stages):
    metrics = json.loads((tiny_run / "tiny" / "metrics.json").read_text("utf-8"))
    page = (tiny_run / "tiny" / "index.html").read_text("utf-8")
    u = _unseen(metrics)
    v = _check_stored_verdict(metrics, page)
    assert v["has_untrained_control"] and u["control_epoch"] == 0
    rows = {r["layer"]: r for r in u["controls"]}
    assert list(rows) == ["input", *tiny_stages.sigs.path_layers]
    q = metrics["experiment"]["signatures"]["boundary_quantile"]
    mine = tiny_stages.acts.probe.y == u["class"]
    for lay in u["layers"]:     # the configured quantile is the fitted regions themselves
        r = rows[lay["layer"]]
        assert r["probe"] == lay["unassigned_rate"] and r["test"] == lay["test_unassigned_rate"]
        lo, hi = r["probe_ci"]
        assert lo <= r["probe"] <= hi
        assert r["untrained"] is not None and r["over_untrained"] is not None
    inp = tiny_stages.sigs.layer("input")
    assert rows["input"]["probe"] == pytest.approx(
        float(np.mean(inp.labels["probe"][mine] == -1)), abs=1e-6)
    sweep = u["quantile_sweep"]
    assert sweep["quantile"] == q and set(QUANTILES) <= set(sweep["quantiles"])
    at = sweep["quantiles"].index(q)
    for s in sweep["rows"]:
        # wider regions never leave more out, and the configured column is the table's
        for key in ("probe", "test"):
            assert all(a >= b for a, b in zip(s[key], s[key][1:])), s
        if s["network"] == "trained":
            assert s["probe"][at] == pytest.approx(rows[s["layer"]]["probe"], abs=1e-6)
        else:
            assert s["probe"][at] == pytest.approx(rows[s["layer"]]["untrained"]["probe"],
                                                   abs=1e-6)
    text = _text(page)
    hidden = rows[v["layer"]] if v["layer"] != "input" else rows[v["most_unassigned_layer"]]
    assert (f"{100 * hidden['probe']:.1f}% [{100 * hidden['probe_ci'][0]:.1f}%, "
            f"{100 * hidden['probe_ci'][1]:.1f}%] of the 3s are unassigned there") in text
    lead = text.index("Threshold-free")
    assert lead < text.index("At the regions' calibrated false-alarm rate")


def test_sweep_rethresholds_without_refitting(tiny_stages):
    """Another quantile's thresholds come from the same training distances: at the configured
    quantile they are the fitted thresholds, and the assignment they give is the fitted one."""
    from sigreport.signatures import region_thresholds, unassigned_at

    cfg = tiny_stages.config.signatures
    for name in ("input", *tiny_stages.sigs.path_layers):
        sig = tiny_stages.sigs.layer(name)
        thr = region_thresholds(sig, tiny_stages.acts, cfg, (0.9, cfg.boundary_quantile, 0.999))
        np.testing.assert_array_equal(thr[1], sig.boundary.threshold)
        assert np.all(thr[0] <= thr[1]) and np.all(thr[1] <= thr[2])
        out = unassigned_at(sig, tiny_stages.acts.test.layers[name], thr)
        np.testing.assert_array_equal(out[1], sig.labels["test"] == -1)
        assert out[0].sum() >= out[1].sum() >= out[2].sum()


def test_probe_from_a_trained_class_is_absorbed(planted):
    metrics, page = planted("q3-absorbed", plant="ones_as_threes")
    v = _check_stored_verdict(metrics, page)
    assert v["verdict"] == "absorbed"
    assert v["called"] == "1" and v["called_share"] > 0.5
    text = _text(page)
    assert f"{100 * v['called_share']:.1f}% are called 1" in text
    assert f"at most {100 * v['most_unassigned']:.1f}% unassigned" in text


def test_probe_far_outside_every_region_stands_apart_in_the_pixels(planted):
    metrics, page = planted("q3-far", plant="noise_threes")
    v = _check_stored_verdict(metrics, page)
    u = _unseen(metrics)
    assert all(r["probe"] > 0.5 for r in u["controls"][:2])
    assert v["verdict"] == "already_in_pixels"


def test_noisy_pixels_are_set_apart_beyond_the_controls(planted):
    metrics, page = planted("q3-noisy", plant="noisy_pixels")
    v = _check_stored_verdict(metrics, page)
    assert v["verdict"] == "beyond_controls"
    row = next(r for r in _unseen(metrics)["controls"] if r["layer"] == v["layer"])
    assert row["over_input"]["ci"][0] > 0 and row["over_untrained"]["ci"][0] > 0


def test_without_an_untrained_network_the_verdict_says_so(planted):
    metrics, page = planted("q3-nocontrol", "train.snapshot_epochs=[3]", plant="noisy_pixels")
    v = _check_stored_verdict(metrics, page)
    u = _unseen(metrics)
    assert u["control_epoch"] is None and not v["has_untrained_control"]
    assert all(r["untrained"] is None and r["over_untrained"] is None for r in u["controls"])
    assert v["verdict"] == "beyond_input"
    assert "this run has no untrained network to compare with" in _text(page)


def test_a_barely_trained_network_is_no_more_than_its_controls(planted):
    """Under the pixel noise the input's regions hold every image; a network trained one
    epoch at a learning rate of 1e-6 leaves a few more 3s out than test images, exactly as
    its untrained self does."""
    metrics, page = planted("q3-barely", "train.epochs=1", "train.learning_rate=1e-6",
                            "data.n_test_per_class=300", plant="noisy_pixels")
    v = _check_stored_verdict(metrics, page)
    assert v["verdict"] == "as_in_controls"
    row = next(r for r in _unseen(metrics)["controls"] if r["layer"] == v["layer"])
    assert row["excess_ci"][0] > 0 and not row["over_untrained"]["above"]
    assert "most in " + v["layer"] in _text(page)


def test_shuffled_labels_are_not_beyond_the_controls(planted):
    metrics, page = planted("q3-shuffled", plant="shuffled_labels")
    v = _check_stored_verdict(metrics, page)
    assert metrics["model"]["test_accuracy"] < 0.7
    assert v["verdict"] == "already_in_pixels"
    # the pixels' kNN detects the 3s far better than anything inside this network
    assert v["input_detector_wins"] is True
    text = _text(page)
    best = metrics["answers"]["unseen_detection"]["best_per_family_by_class"]["3"]
    assert (f"The best detector uses only the pixels: {best['input']['method']} on the input "
            f"at {best['input']['auroc']:.3f}") in text
    for fam in ("network", "signature"):
        assert f"the best {fam} score, {best[fam]['auroc']:.3f}" in text


def test_verdict_rule_on_measured_numbers(planted, tiny_run: Path):
    """The pure rule, on rows that real runs measured: the input's row of one run beside the
    hidden rows of another decides as the rule says."""
    far = _unseen(planted("q3-far", plant="noise_threes")[0])
    absorbed = _unseen(planted("q3-absorbed", plant="ones_as_threes")[0])
    # no layer's excess above 0: absorbed, called the most-predicted class
    v = unseen_verdict(absorbed["controls"], {"1": 0.2, "7": 0.8}, None)
    assert v["verdict"] == "absorbed" and v["called"] == "7" and v["called_share"] == 0.8
    assert v["input_detector_wins"] is None
    # the far probe's rows without the untrained network: the hidden layers are measured
    # against the input alone
    bare = [{**r, "untrained": None, "over_untrained": None} for r in far["controls"]]
    v = unseen_verdict(bare, far["predicted_as"], None)
    beyond = [r for r in far["controls"][1:]
              if r["over_input"]["above"] and r["excess_ci"][0] > 0]
    assert v["verdict"] == ("beyond_input" if beyond else "already_in_pixels")
    assert not v["has_untrained_control"]
    # the input detector's rule, on one run's measured detection picks
    metrics = json.loads((tiny_run / "tiny" / "metrics.json").read_text("utf-8"))
    best = metrics["answers"]["unseen_detection"]["best_per_family"]
    u = _unseen(metrics)
    v = unseen_verdict(u["controls"], u["predicted_as"], best)
    wins = all(best["input"]["auroc_ci"][0] > best[f]["auroc_ci"][1]
               for f in ("network", "signature"))
    assert v["input_detector_wins"] is wins


def test_regression_beyond_needs_the_layers_own_excess(planted):
    """With the unseen images fitted into the clusters (the original study's setting) no 3 is
    unassigned anywhere, while the input's regions leave out more test images than 3s: the
    hidden layers' excess is then above the input's, and was once read as "beyond the
    controls" for a layer that sets nothing apart."""
    metrics, page = planted("q3-fitted", 'signatures.fit_on="train+probe"',
                            "signatures.boundary_quantile=1.0")
    v = _check_stored_verdict(metrics, page)
    u = _unseen(metrics)
    assert all(r["probe"] == 0 for r in u["controls"][1:])
    assert v["verdict"] == "absorbed"
    assert "the clusters and their regions were fitted on these images too" in _text(page)
