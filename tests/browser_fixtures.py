"""Shared fixtures for the report, site and browser tests.

``make_run`` builds everything ``render_report`` takes from real MNIST images:
a small scikit-learn MLP stands in for the trained network (its weights give
the layer activations), k-means gives the signatures, and the metrics dict is
measured from those arrays with the layout of the analysis stage. When the
project's own stages are importable, ``make_pipeline_run`` uses them instead.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import itertools
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sigreport.activations import Activations, LayerInfo, SplitActivations
from sigreport.config import Config, DataConfig, ModelConfig, ReportConfig, config_to_dict
from sigreport.data import Dataset, load_raw, prepare_dataset

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path("/tmp/shots")


def stages_available() -> bool:
    """True when training, activations, signatures and analysis all exist."""
    try:
        import sigreport.activations as acts

        return (hasattr(acts, "capture_activations")
                and all(importlib.util.find_spec(f"sigreport.{m}") is not None
                        for m in ("train", "signatures", "analysis")))
    except ImportError:
        return False


@dataclass(frozen=True)
class Run:
    """What the pipeline hands to ``render_report``."""

    metrics: dict
    manifest: dict
    dataset: Dataset
    acts: Activations
    sigs: object
    config: Config


# --- a stand-in network and signatures -----------------------------------------------


def _forward(coefs, intercepts, x):
    layers = {"input": x.astype(np.float32)}
    h = x
    for i, (w, b) in enumerate(zip(coefs[:-1], intercepts[:-1]), start=1):
        pre = (h @ w + b).astype(np.float32)
        h = np.maximum(pre, 0).astype(np.float32)
        layers[f"hidden{i}.pre"] = pre
        layers[f"hidden{i}"] = h
    logits = (h @ coefs[-1] + intercepts[-1]).astype(np.float32)
    if logits.shape[1] == 1:  # sklearn's binary output: one logit for the second class
        logits = np.concatenate([-logits / 2, logits / 2], axis=1)
    layers["logits"] = logits
    z = np.exp(logits - logits.max(1, keepdims=True))
    layers["probs"] = (z / z.sum(1, keepdims=True)).astype(np.float32)
    return layers


@dataclass(frozen=True)
class _LayerSig:
    layer: str
    n_clusters: int
    k_candidates: tuple
    k_scores: tuple
    labels: dict
    distance: dict
    centroids: np.ndarray
    active: dict | None


@dataclass(frozen=True)
class _Sigs:
    layers: tuple
    path_layers: tuple
    paths: dict

    def layer(self, name):
        return next(s for s in self.layers if s.layer == name)


def _fit_sigs(acts: Activations, k: int, seed: int) -> _Sigs:
    from sklearn.cluster import KMeans

    out = []
    for name in ("input", *acts.hidden, "logits"):
        km = KMeans(n_clusters=k, n_init=3, random_state=seed).fit(acts.train.layers[name])
        labels, dist = {}, {}
        for split in ("train", "test", "probe"):
            x = acts.split(split).layers[name]
            labels[split] = km.predict(x).astype(np.int64) if len(x) else np.zeros(0, np.int64)
            dist[split] = (km.transform(x).min(1).astype(np.float32) if len(x)
                           else np.zeros(0, np.float32))
        active = ({s: acts.split(s).layers[name] > 0 for s in ("train", "test", "probe")}
                  if name.startswith("hidden") else None)
        out.append(_LayerSig(name, k, (), (), labels, dist,
                             km.cluster_centers_.astype(np.float32), active))
    by = {s.layer: s for s in out}
    paths = {}
    for split in ("train", "test", "probe"):
        cols = [by[h].labels[split] for h in acts.hidden] + [acts.split(split).predicted]
        paths[split] = np.stack(cols, axis=1).astype(np.int64)
    return _Sigs(tuple(out), (*acts.hidden, "prediction"), paths)


# --- metrics measured from the arrays ----------------------------------------------------


def _js(p, q):
    m = (p + q) / 2

    def kl(a, b):
        mask = a > 0
        return float(np.sum(a[mask] * np.log2(a[mask] / b[mask])))

    return 0.5 * kl(p, m) + 0.5 * kl(q, m)


def _cka(a, b):
    a = a - a.mean(0)
    b = b - b.mean(0)
    num = np.linalg.norm(a.T @ b) ** 2
    den = np.linalg.norm(a.T @ a) * np.linalg.norm(b.T @ b)
    return float(num / den) if den > 0 else 0.0


def _roc(y_true, score):
    from sklearn.metrics import roc_auc_score, roc_curve

    fpr, tpr, _ = roc_curve(y_true, score)
    idx = np.unique(np.linspace(0, len(fpr) - 1, min(len(fpr), 101)).astype(int))
    fpr95 = float(fpr[np.searchsorted(tpr, 0.95)])
    return float(roc_auc_score(y_true, score)), fpr95, {"fpr": fpr[idx].tolist(),
                                                        "tpr": tpr[idx].tolist()}


def _metrics(config: Config, ds: Dataset, acts: Activations, sigs: _Sigs, history) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
    from sklearn.neighbors import NearestNeighbors

    classes = list(ds.classes)
    probes = list(ds.probe_classes)
    tr, te, pr = acts.train, acts.test, acts.probe
    layers = []
    for info in acts.layers:
        if info.kind not in ("input", "post", "logits"):
            continue
        sig = sigs.layer(info.name)
        xtr, xte = tr.layers[info.name], te.layers[info.name]
        probe_acc = float(LogisticRegression(max_iter=300).fit(xtr, tr.y).score(xte, te.y))
        lab = sig.labels["train"]
        counts = {str(c): np.bincount(lab[tr.y == c], minlength=sig.n_clusters).tolist()
                  for c in classes}
        pcounts = {str(c): np.bincount(sig.labels["probe"][pr.y == c],
                                       minlength=sig.n_clusters).tolist() for c in probes}
        table = np.array([counts[str(c)] for c in classes])
        dominant = [classes[i] for i in table.argmax(0)]
        occ = [np.bincount(sig.labels["test"][te.y == c], minlength=sig.n_clusters) + 1e-12
               for c in classes]
        occ = [o / o.sum() for o in occ]
        js = float(np.mean([_js(a, b) for a, b in itertools.combinations(occ, 2)]))
        binary = None
        if sig.active is not None:
            act = sig.active["train"]
            frac = {str(c): float(act[tr.y == c].mean()) for c in classes}
            ham = [{"a": a, "b": b, "distance": float(np.abs(act[tr.y == a].mean(0)
                                                             - act[tr.y == b].mean(0)).mean())}
                   for a, b in itertools.combinations(classes, 2)]
            binary = {"hamming": ham, "active_fraction": frac}
        layers.append({
            "index": info.index, "name": info.name, "kind": info.kind, "width": info.width,
            "linear_probe_accuracy": probe_acc,
            "cluster_class_nmi": float(normalized_mutual_info_score(tr.y, lab)),
            "cluster_class_ari": float(adjusted_rand_score(tr.y, lab)),
            "purity": float(table.max(0).sum() / table.sum()),
            "n_clusters": sig.n_clusters,
            "k_selection": {"rule": "fixed", "candidates": [], "scores": [], "subsample": 0},
            "class_divergence_js": js,
            "cluster_counts": counts, "probe_cluster_counts": pcounts,
            "cluster_dominant_class": dominant, "binary": binary,
        })
    thr = config.analysis.separation_threshold
    sep = next((lay for lay in layers[1:] if lay["linear_probe_accuracy"] >= thr), layers[-1])
    names = [lay["name"] for lay in layers]
    sub = np.random.default_rng(0).choice(len(tr.y), min(500, len(tr.y)), replace=False)
    cka = [[_cka(tr.layers[a][sub], tr.layers[b][sub]) for b in names] for a in names]

    # paths
    spec_thr, min_sup = config.signatures.specific_threshold, config.signatures.min_support
    rows = {}
    for split, acts_split in (("train", tr), ("test", te), ("probe", pr)):
        for path, y in zip(map(tuple, sigs.paths[split].tolist()), acts_split.y.tolist()):
            row = rows.setdefault(path, {"counts": dict.fromkeys(map(str, classes), 0),
                                         "probe_counts": dict.fromkeys(map(str, probes), 0),
                                         "train": 0})
            if split == "probe":
                row["probe_counts"][str(y)] += 1
            else:
                row["counts"][str(y)] += 1
                row["train"] += split == "train"
    table = []
    for path, row in rows.items():
        trained = sum(row["counts"].values())
        total = trained + sum(row["probe_counts"].values())
        dom = max(classes, key=lambda c: row["counts"][str(c)])
        purity = row["counts"][str(dom)] / trained if trained else 0.0
        table.append({"path": list(path), "counts": row["counts"],
                      "probe_counts": row["probe_counts"], "total": total, "purity": purity,
                      "dominant_class": dom if trained else None,
                      "specific": bool(purity >= spec_thr and trained >= min_sup)})
    table.sort(key=lambda r: -r["total"])
    specific = {tuple(r["path"]): r["dominant_class"] for r in table if r["specific"]}
    test_paths = list(map(tuple, sigs.paths["test"].tolist()))
    coverage = {str(c): float(np.mean([specific.get(p) == c for p, y in
                                       zip(test_paths, te.y) if y == c])) for c in classes}
    atypical = []
    for c in classes:
        for other in classes:
            if other == c:
                continue
            idx = [int(i) for p, y, i in zip(test_paths, te.y, te.index)
                   if y == c and specific.get(p) == other]
            atypical.append({"class": c, "looks_like": other, "count": len(idx),
                             "fraction": len(idx) / int((te.y == c).sum()), "split": "test",
                             "indices": idx})
    train_paths = set(map(tuple, sigs.paths["train"].tolist()))
    probes_out, unseen, ood = [], [], []
    knn = NearestNeighbors(n_neighbors=5).fit(tr.layers[acts.hidden[-1]])
    for c in probes:
        mask = pr.y == c
        ppaths = [tuple(p) for p in sigs.paths["probe"][mask].tolist()]
        novel = float(np.mean([p not in train_paths for p in ppaths]))
        pred = {str(k): float(np.mean(pr.predicted[mask] == k)) for k in classes}
        uniq, cnt = np.unique(np.array(ppaths), axis=0, return_counts=True)
        order = np.argsort(-cnt)[:10]
        top = [{"path": uniq[i].tolist(), "count": int(cnt[i]),
                "fraction": float(cnt[i] / mask.sum()),
                "seen_in_training": tuple(uniq[i].tolist()) in train_paths,
                "dominant_class": next((r["dominant_class"] for r in table
                                        if r["path"] == uniq[i].tolist()), None)}
               for i in order]
        lay_out = []
        for lay in layers:
            sig = sigs.layer(lay["name"])
            occ = np.bincount(sig.labels["probe"][mask], minlength=sig.n_clusters) / mask.sum()
            d_probe = float(sig.distance["probe"][mask].mean())
            d_test = float(sig.distance["test"].mean())
            lay_out.append({"layer": lay["name"], "clusters": [
                {"cluster": k, "fraction": float(f), "dominant_class": lay[
                    "cluster_dominant_class"][k]} for k, f in enumerate(occ) if f > 0],
                "centroid_distance_mean": d_probe, "trained_test_distance_mean": d_test,
                "distance_ratio": d_probe / d_test})
        probes_out.append({"class": c, "n_samples": int(mask.sum()),
                           "novel_path_fraction": novel, "predicted": pred,
                           "layers": lay_out, "top_paths": top})
        unseen.append({"class": c, "predicted_as": pred, "novel_path_fraction": novel,
                       "most_borrowed_path": top[0]["path"]})
        y_true = np.r_[np.zeros(len(te.y)), np.ones(int(mask.sum()))]
        msp = -np.r_[te.layers["probs"].max(1), pr.layers["probs"][mask].max(1)]
        kd = np.r_[knn.kneighbors(te.layers[acts.hidden[-1]])[0][:, -1],
                   knn.kneighbors(pr.layers[acts.hidden[-1]][mask])[0][:, -1]]
        novel_score = np.r_[[p not in train_paths for p in test_paths],
                            [p not in train_paths for p in ppaths]].astype(float)
        for method, layer, score in (("max_softmax", "probs", msp),
                                     ("knn", acts.hidden[-1], kd),
                                     ("path_novelty", "all", novel_score)):
            auroc, fpr95, roc = _roc(y_true, score)
            ood.append({"probe_class": c, "method": method, "layer": layer, "auroc": auroc,
                        "fpr95": fpr95, "roc": roc})
    return {
        "schema_version": 1,
        "experiment": {"name": config.name, "title": config.title, "dataset": ds.name,
                       "classes": classes, "probe_classes": probes,
                       "class_names": {str(i): n for i, n in enumerate(ds.class_names)},
                       "n_train": len(tr.y), "n_test": len(te.y), "n_probe": len(pr.y),
                       "hidden": list(config.model.hidden), "activation": "relu",
                       "loss": "cross_entropy", "seed": config.seed,
                       "seeds": list(config.all_seeds)},
        "model": {"test_accuracy": float(np.mean(te.predicted == te.y)),
                  "train_accuracy": float(np.mean(tr.predicted == tr.y)),
                  "history": history},
        "layers": layers,
        "cka": {"layers": names, "matrix": cka, "subsample": len(sub)},
        "answers": {
            "separation_layer": sep["name"], "separation_layer_index": sep["index"],
            "separation": {"metric": "linear_probe_accuracy", "threshold": thr,
                           "input_already_separates": layers[0]["linear_probe_accuracy"] >= thr,
                           "input_value": layers[0]["linear_probe_accuracy"],
                           "per_layer": [{"layer": lay["name"],
                                          "value": lay["linear_probe_accuracy"],
                                          "gain": lay["linear_probe_accuracy"]
                                          - layers[0]["linear_probe_accuracy"]}
                                         for lay in layers]},
            "signatures_differ": {
                "per_layer": [{"layer": lay["name"], "js": lay["class_divergence_js"],
                               "shared_path_share": 0.0} for lay in layers],
                "atypical": atypical},
            "unseen": unseen,
        },
        "paths": {"layers": list(sigs.path_layers), "n_distinct_train": len(train_paths),
                  "specific_threshold": spec_thr, "min_support": min_sup,
                  "table": table[:200], "coverage": coverage},
        "probes": probes_out,
        "ood": ood,
        "stability": {"seeds": [0, 1], "layers": [{"layer": h, "ari_mean": 0.8, "ari_min": 0.7}
                                                  for h in acts.hidden],
                      "specific_path_recurrence": 0.75},
        "snapshots": [{"epoch": e, "test_accuracy": a,
                       "layers": [{"name": lay["name"],
                                   "cluster_class_nmi": lay["cluster_class_nmi"] * a,
                                   "linear_probe_accuracy": lay["linear_probe_accuracy"]}
                                  for lay in layers],
                       "n_distinct_paths": len(train_paths) + 10 - e, "path_purity": a}
                      for e, a in zip(history["epoch"], history["test_accuracy"])],
        "subsampling": {"cka": f"{len(sub)} training samples"},
    }


def make_run(classes=(1, 7), probes=(3,), n_per_class=200, n_test=100, hidden=(32, 16, 8),
             k=4, seed=0, title="MNIST 1 vs 7, probed with 3", name="test-run",
             projection="pca", max_points=400) -> Run:
    """A complete, measured input for ``render_report`` (about a second)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    data = DataConfig(classes=tuple(classes), probe_classes=tuple(probes),
                      n_per_class=n_per_class, n_test_per_class=n_test)
    config = Config(name=name, title=title, seed=seed, data=data,
                    model=ModelConfig(hidden=tuple(hidden)),
                    report=ReportConfig(projection=projection, max_points=max_points))
    ds = prepare_dataset(load_raw(data), data, seed)
    epochs = 4
    mlp = MLPClassifier(hidden_layer_sizes=tuple(hidden), max_iter=1, random_state=seed,
                        warm_start=True, learning_rate_init=0.005, batch_size=32)
    history = {"epoch": [], "train_loss": [], "train_accuracy": [], "test_accuracy": []}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for epoch in range(1, epochs + 1):
            mlp.fit(ds.train.x, ds.train.y)
            history["epoch"].append(epoch)
            history["train_loss"].append(float(mlp.loss_))
            history["train_accuracy"].append(float(mlp.score(ds.train.x, ds.train.y)))
            history["test_accuracy"].append(float(mlp.score(ds.test.x, ds.test.y)))
    cls = np.asarray(ds.classes)

    def split_acts(split):
        layers = _forward(mlp.coefs_, mlp.intercepts_, split.x)
        layers["input"] = split.x
        pred = cls[layers["logits"].argmax(1)] if len(split.y) else np.zeros(0, np.int64)
        return SplitActivations(layers=layers, y=split.y, index=split.index,
                                predicted=pred.astype(np.int64))

    infos = [LayerInfo("input", "input", 0, 784)]
    for i, width in enumerate(hidden, start=1):
        infos += [LayerInfo(f"hidden{i}.pre", "pre", i, width),
                  LayerInfo(f"hidden{i}", "post", i, width)]
    n_out = len(classes)
    infos += [LayerInfo("logits", "logits", len(hidden) + 1, n_out),
              LayerInfo("probs", "probs", len(hidden) + 1, n_out)]
    acts = Activations(layers=tuple(infos), classes=ds.classes, train=split_acts(ds.train),
                       test=split_acts(ds.test), probe=split_acts(ds.probe))
    sigs = _fit_sigs(acts, k, seed)
    metrics = _metrics(config, ds, acts, sigs, history)
    manifest = {
        "name": name, "title": title, "created": "2025-01-01T00:00:00+00:00",
        "config": config_to_dict(config), "seed": seed, "seeds": [seed],
        "versions": {"python": "3.11", "jax": "0.0", "flax": "0.0", "optax": "0.0",
                     "sklearn": "1.9", "bokeh": "3.9", "numpy": "2", "sigreport": "0.1.0"},
        "data_sha256": ds.sha256, "git_commit": None,
        "timings_s": {"data": 0.3, "train": 1.0, "report": 0.5},
    }
    return Run(metrics, manifest, ds, acts, sigs, config)


def write_run(run: Run, out: Path, standalone: bool = False) -> Path:
    """Write a report folder the way the pipeline does; returns ``<out>/<name>``."""
    import json

    from sigreport.config import config_to_toml
    from sigreport.report import render_report, vendor_bokeh
    from sigreport.store import write_folder_atomic

    files = dict(render_report(run.metrics, run.manifest, run.dataset, run.acts, run.sigs,
                               run.config, standalone=standalone))
    files["metrics.json"] = json.dumps(run.metrics, indent=1) + "\n"
    files["manifest.json"] = json.dumps(run.manifest, indent=1) + "\n"
    files["config.toml"] = config_to_toml(run.config)
    if not standalone:
        vendor_bokeh(out)
    write_folder_atomic(out / run.config.name, files)
    return out / run.config.name


def write_stub_report(run: Run, out: Path) -> Path:
    """A report folder whose index.html is a placeholder, for site tests about discovery
    and pages (rendering a real report takes seconds)."""
    import json

    from sigreport.store import write_folder_atomic

    write_folder_atomic(out / run.config.name, {
        "index.html": "<!DOCTYPE html><title>stub</title><p>report</p>\n",
        "metrics.json": json.dumps(run.metrics) + "\n",
        "manifest.json": json.dumps(run.manifest) + "\n",
    })
    return out / run.config.name


def with_config(run: Run, **changes) -> Run:
    """The same measured run under a changed top-level config (name, title...)."""
    config = dataclasses.replace(run.config, **changes)
    metrics = dict(run.metrics)
    metrics["experiment"] = {**metrics["experiment"],
                             **{k: v for k, v in changes.items() if k in ("name", "title")}}
    manifest = {**run.manifest, **{k: v for k, v in changes.items() if k in ("name", "title")},
                "config": config_to_dict(config)}
    return Run(metrics, manifest, run.dataset, run.acts, run.sigs, config)


def save_shot(page, tmp_path: Path, name: str, full_page: bool = True) -> Path:
    """Screenshot into the test's tmp dir and a copy under /tmp/shots/ for people to look at."""
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, SHOTS / path.name)
    return path


@functools.lru_cache(maxsize=1)
def default_run() -> Run:
    """The default experiment's shape (1 vs 7, probed with 3) on a few hundred images,
    made once per session."""
    return make_run()


EVIL_TITLE = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2"> & co'
REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class BuiltSite:
    """A site built from two runs: ``site_run`` (site mode, a title with markup) and
    ``alone_run`` (standalone), plus the standalone file alone in its own folder."""

    root: Path
    public: Path
    site_run: str
    alone_run: str
    lonely_report: Path


_SITES: dict[str, object] = {}


def _site_folder(tmp_path_factory, name: str) -> Path:
    """A new folder with the project's hand-written pages (site/) and mkdocs.yml."""
    root = tmp_path_factory.mktemp(name)
    shutil.copytree(REPO / "site", root / "site",
                    ignore=shutil.ignore_patterns("reports", "runs", "index.md"))
    shutil.copy(REPO / "mkdocs.yml", root / "mkdocs.yml")
    return root


def get_built_site(tmp_path_factory) -> BuiltSite:
    """Write two reports like the pipeline does, then ``build_site`` them (once per session)."""
    if "site" not in _SITES:
        from sigreport.report import build_site

        root = _site_folder(tmp_path_factory, "site-build")
        base = default_run()
        site_run = with_config(base, name="xss-title", title=EVIL_TITLE)
        alone_run = with_config(base, name="standalone-run", title="A standalone report")
        write_run(site_run, root / "site" / "reports")
        write_run(alone_run, root / "site" / "reports", standalone=True)
        lonely = write_run(alone_run, root / "lonely", standalone=True) / "index.html"
        build_site(root / "site" / "reports", root / "site", root / "public")
        _SITES["site"] = BuiltSite(root, root / "public", "xss-title", "standalone-run", lonely)
    return _SITES["site"]


# --- a site built from hostile or broken report folders ---------------------------------

# Markup and Markdown link syntax in folder names, titles and class names.
HOSTILE_NAMES = ('q"><svg onload=alert(16)>', "[x](javascript:alert(21))")
HOSTILE_TITLE = "[t](javascript:alert(5))\n\n<svg onload=alert(6)> & `code`"
HOSTILE_CLASSES = {"1": "<img src=x onerror=alert(3)>", "7": "[c](javascript:alert(4))"}
SECRET = "secret-content-never-published"


@dataclass(frozen=True)
class HostileSite:
    """``sigreport site build`` (the CLI, default folders) over report folders that hold
    hostile names, links, special files and malformed JSON."""

    root: Path
    public: Path
    returncode: int
    stderr: str
    published: tuple[str, ...]
    skipped: tuple[str, ...]


def _hostile_run(base: Run, name: str) -> Run:
    run = with_config(base, name=name, title=HOSTILE_TITLE)
    run.metrics["experiment"] = {**run.metrics["experiment"], "class_names": HOSTILE_CLASSES}
    return run


def get_hostile_site(tmp_path_factory) -> HostileSite:
    """Build it once per session."""
    if "hostile" not in _SITES:
        import json
        import os

        from conftest import run_cli

        root = _site_folder(tmp_path_factory, "hostile-site")
        reports = root / "site" / "reports"
        base = default_run()
        for name in HOSTILE_NAMES:
            write_stub_report(_hostile_run(base, name), reports)
        # Links to a private file, to /etc and a FIFO beside a private regular file.
        outside = root / "outside"
        outside.mkdir()
        (outside / "secret.txt").write_text(SECRET)
        (outside / "secret.txt").chmod(0o600)
        links = write_stub_report(with_config(base, name="with-links"), reports)
        (links / "secret.txt").symlink_to(outside / "secret.txt")
        (links / "etc").symlink_to("/etc")
        os.mkfifo(links / "pipe")
        (links / "notes.txt").write_text("notes")
        (links / "notes.txt").chmod(0o600)
        # A whole report folder that is a link.
        (reports / "linked").symlink_to(write_stub_report(with_config(base, name="real"), outside))
        # Malformed: a string where a number belongs, and JSON nested 100,000 deep.
        bad = write_stub_report(with_config(base, name="bad-accuracy"), reports)
        metrics = json.loads((bad / "metrics.json").read_text())
        metrics["model"]["test_accuracy"] = "abc"
        (bad / "metrics.json").write_text(json.dumps(metrics))
        deep = write_stub_report(with_config(base, name="deep"), reports)
        (deep / "metrics.json").write_text("[" * 100_000 + "]" * 100_000)
        # A name that would replace the comparison page.
        write_stub_report(with_config(base, name="index"), reports)
        proc = run_cli("site", "build", cwd=root)
        _SITES["hostile"] = HostileSite(
            root, root / "public", proc.returncode, proc.stderr,
            published=(*HOSTILE_NAMES, "with-links"),
            skipped=("bad-accuracy", "deep", "index", "linked"))
    return _SITES["hostile"]
