"""Rendering: metrics and arrays -> Bokeh figures -> one HTML page, from Jinja2 templates.

Nothing here writes files: :func:`render_report` returns ``{relative path: content}``
and the pipeline writes the report folder atomically. :func:`vendor_bokeh` is the
one function that writes, once per output folder, the BokehJS files that
site-mode reports load by relative path (``../_bokeh/bokeh-<version>.min.js``).
"""

from __future__ import annotations

import dataclasses
import html
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import bokeh
import jinja2
import numpy as np
from bokeh.document import Document
from bokeh.embed import components
from bokeh.embed.bundle import bundle_for_objs_and_resources
from bokeh.layouts import gridplot
from bokeh.resources import Resources
from markupsafe import Markup

from sigreport.activations import Activations
from sigreport.config import Config, config_to_toml
from sigreport.data import Dataset
from sigreport.report import figures as F
from sigreport.report.images import build_mosaic, png_data_uri
from sigreport.report.projection import compute_projections

if TYPE_CHECKING:
    from sigreport.signatures import Signatures

__all__ = [
    "BOKEH_DIR",
    "bokeh_files",
    "format_path",
    "render_report",
    "template_env",
    "vendor_bokeh",
]

BOKEH_DIR = "_bokeh"
# BokehJS bundles vendored for site mode, by Bokeh's component name.
_COMPONENTS = ("bokeh", "bokeh-gl", "bokeh-widgets", "bokeh-tables", "bokeh-mathjax")
_MAX_SPECIFIC_SEGMENTS = 10
_MAX_LISTED_PATHS = 12
_MAX_EXEMPLARS = 8
_MAX_PROBE_GROUPS = 6
_DIGIT_SCALE = 1.25  # digits in image grids are shown 35 px tall
_DATASET_NAMES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}


# --- templates -------------------------------------------------------------------------


def _templates_dir() -> Path:
    import sigreport

    packaged = Path(sigreport.__file__).parent / "templates"
    if packaged.is_dir():
        return packaged
    return Path(sigreport.__file__).resolve().parent.parent / "templates"


def _pct(value: Any, digits: int = 1) -> str:
    if value is None:
        return "n/a"
    return f"{100 * float(value):.{digits}f}%"


def _num(value: Any, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    return f"{float(value):.{digits}f}"


def _signed_pct(value: Any, digits: int = 2) -> str:
    """A difference of two fractions in percentage points, with its sign."""
    if value is None:
        return "n/a"
    return f"{100 * float(value):+.{digits}f} pp"


def _count(value: Any) -> str:
    return "n/a" if value is None else f"{int(value):,}"


def _seconds(value: Any) -> str:
    if value is None:
        return "n/a"
    v = float(value)
    return f"{v:.2f} s" if v < 60 else f"{int(v // 60)} min {v % 60:.0f} s"


def template_env() -> jinja2.Environment:
    """The Jinja environment of reports and site pages: autoescape on, number filters."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(_templates_dir())),
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters.update(pct=_pct, signed_pct=_signed_pct, num=_num, count=_count,
                       seconds=_seconds)
    return env


# --- BokehJS -------------------------------------------------------------------------------


def _bokeh_static() -> Path:
    from bokeh.util.paths import bokehjs_path

    return Path(bokehjs_path()) / "js"


def bokeh_files() -> dict[str, Path]:
    """Vendored file name -> source path of every BokehJS bundle of the installed Bokeh.

    Names carry the version (``bokeh-3.9.2.min.js``), so reports made with
    different Bokeh versions can share one ``_bokeh/`` folder.
    """
    version = bokeh.__version__
    static = _bokeh_static()
    out = {f"{c}-{version}.min.js": static / f"{c}.min.js" for c in _COMPONENTS}
    return {name: src for name, src in out.items() if src.is_file()}


def _bokeh_licence() -> str | None:
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        dist = distribution("bokeh")
    except PackageNotFoundError:
        return None
    for f in dist.files or ():
        if f.name.upper().startswith("LICENSE"):
            text = f.read_text()
            if text:
                return text
    return None


def vendor_bokeh(out_dir: Path | str) -> Path:
    """Copy the installed BokehJS into ``<out_dir>/_bokeh/`` where it is missing.

    Site-mode reports in ``<out_dir>/<name>/index.html`` load it from
    ``../_bokeh/``. Files already present with the right size are left alone;
    new ones are written to a temporary name and renamed, so a concurrent
    reader never sees half a file.

    Returns
    -------
    Path
        The ``_bokeh`` folder.
    """
    folder = Path(out_dir) / BOKEH_DIR
    folder.mkdir(parents=True, exist_ok=True)
    wanted: dict[str, bytes | Path] = dict(bokeh_files())
    licence = _bokeh_licence()
    if licence:
        wanted[f"LICENSE-bokeh-{bokeh.__version__}.txt"] = licence.encode()
    for name, src in wanted.items():
        dest = folder / name
        size = src.stat().st_size if isinstance(src, Path) else len(src)
        if dest.is_file() and dest.stat().st_size == size:
            continue
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=folder)
        try:
            with os.fdopen(fd, "wb") as fh:
                if isinstance(src, Path):
                    with open(src, "rb") as fin:
                        shutil.copyfileobj(fin, fh)
                else:
                    fh.write(src)
            os.replace(tmp, dest)
        finally:
            Path(tmp).unlink(missing_ok=True)
    return folder


def _script_tags(models: list[Any], standalone: bool, bokeh_url: str = f"../{BOKEH_DIR}"
                 ) -> Markup:
    """``<script>`` tags that load what ``models`` need: inlined, or from ``bokeh_url``."""
    if standalone:
        bundle = bundle_for_objs_and_resources(models, Resources(mode="inline"))
        return Markup("\n".join(
            "<script>" + js.replace("</script", "<\\/script") + "</script>"
            for js in bundle.js_raw))
    bundle = bundle_for_objs_and_resources(models, Resources(mode="server", root_url="/"))
    tags = []
    for url in bundle.js_files:
        stem = str(url.url if hasattr(url, "url") else url).rsplit("/", 1)[-1].split("?")[0]
        component = stem.removesuffix(".min.js").removesuffix(".js")
        src = f"{bokeh_url}/{component}-{bokeh.__version__}.min.js"
        tags.append(f'<script src="{html.escape(src)}"></script>')
    tags += ["<script>" + js.replace("</script", "<\\/script") + "</script>"
             for js in bundle.js_raw]
    return Markup("\n".join(tags))


# --- numbers for the page -----------------------------------------------------------------------


def _letters(i: int) -> str:
    out = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        out = chr(65 + r) + out
    return out


def format_path(path: Sequence[int], class_label: dict[int, str] | None = None) -> str:
    """A path as text: clusters per hidden layer, then the prediction ("c3 · c0 · c5 → 7")."""
    path = [int(p) for p in path]
    if not path:
        return ""
    clusters = " \u00b7 ".join("noise" if p < 0 else f"c{p}" for p in path[:-1])
    pred = path[-1]
    pred_text = class_label.get(pred, str(pred)) if class_label else str(pred)
    return f"{clusters} \u2192 {pred_text}"


@dataclasses.dataclass
class _Context:
    classes: list[int]
    probes: list[int]
    colors: dict[int, str]
    label: dict[int, str]       # "7", "3 (unseen)"
    name: dict[int, str]        # plain class name
    specific: dict[tuple, dict]  # path -> {"letter", "dominant", "total", "purity", "row"}


def _class_names(metrics: dict, dataset: Dataset) -> dict[int, str]:
    names = metrics.get("experiment", {}).get("class_names") or {}
    out = {int(k): str(v) for k, v in names.items()}
    for i, n in enumerate(dataset.class_names):
        out.setdefault(i, n)
    return out


def _build_context(metrics: dict, dataset: Dataset) -> _Context:
    classes = [int(c) for c in dataset.classes]
    probes = [int(c) for c in dataset.probe_classes]
    names = _class_names(metrics, dataset)
    label = {c: names.get(c, str(c)) for c in classes}
    label.update({c: f"{names.get(c, str(c))} (unseen)" for c in probes})
    specific = {}
    for row in metrics.get("paths", {}).get("table", []):
        if row.get("specific"):
            key = tuple(int(p) for p in row["path"])
            specific[key] = {"letter": _letters(len(specific)), "row": row,
                             "dominant": row.get("dominant_class"), "total": row.get("total"),
                             "purity": row.get("purity")}
    return _Context(classes, probes, F.class_palette(classes, probes), label, names, specific)


def _split_paths(sigs: Any, split: str) -> list[tuple]:
    return [tuple(p) for p in np.asarray(sigs.paths[split]).tolist()]


def _alluvial_layout(ctx: _Context, acts: Activations, sigs: Any, letters: bool,
                     n_curve: int = 14) -> tuple[F.AlluvialLayout, list[dict[int, str]],
                                                 np.ndarray]:
    """Layout, node labels and paths (int64 (n, n_hidden + 1)) of the test and unseen images."""
    test_paths = np.asarray(sigs.paths["test"], dtype=np.int64)
    probe_paths = np.asarray(sigs.paths["probe"], dtype=np.int64)
    paths = np.concatenate([test_paths, probe_paths]) if len(probe_paths) else test_paths
    y = np.concatenate([acts.test.y, acts.probe.y]).astype(np.int64)
    node_ids = np.concatenate([y[:, None], paths], axis=1)
    labels = [ctx.specific[p]["letter"] if letters and p in ctx.specific else ""
              for p in map(tuple, paths.tolist())]
    columns = ["class", *sigs.path_layers[:-1], "prediction"]
    layout = F.layout_alluvial(node_ids, y, ctx.classes + ctx.probes, columns, labels,
                               n_curve=n_curve)
    node_label: list[dict[int, str]] = [dict(ctx.label)]
    for col in range(1, len(columns) - 1):
        keys = np.unique(node_ids[:, col])
        node_label.append({int(k): ("noise" if k < 0 else f"c{k}") for k in keys})
    node_label.append({c: ctx.name.get(c, str(c)) for c in np.unique(node_ids[:, -1]).tolist()})
    return layout, node_label, paths


def _alluvial(ctx: _Context, acts: Activations, sigs: Any) -> tuple[Any, dict]:
    layout, node_label, _ = _alluvial_layout(ctx, acts, sigs, letters=True)
    columns = layout.columns
    # Only the paths listed under the figure get a tag on it.
    owner = {info["letter"]: info["dominant"]
             for info in list(ctx.specific.values())[:_MAX_LISTED_PATHS]}
    fig = F.alluvial_figure(layout, ctx.colors, ctx.label, node_label, path_owner=owner,
                            height=min(720, 360 + 18 * max(
                                len([n for n in layout.nodes if n["col"] == c])
                                for c in range(len(columns)))))
    table = []
    for col in range(1, len(columns) - 1):
        for nd in (n for n in layout.nodes if n["col"] == col):
            parts = sorted(nd["by_class"].items(), key=lambda kv: -kv[1])
            table.append({"column": columns[col], "node": node_label[col][nd["key"]],
                          "count": nd["count"],
                          "by_class": [(ctx.label[c], k) for c, k in parts],
                          "top": ctx.label.get(parts[0][0]), "purity": parts[0][1] / nd["count"]})
    return fig, {"nodes": table, "n_test": len(acts.test.y),
                 "n_probe": len(acts.probe.y)}


def _snapshot_alluvials(ctx: _Context, metrics: dict,
                        snapshots: dict[int, tuple[Activations, Signatures]]
                        ) -> tuple[Any, list[dict]]:
    """One small alluvial diagram per recorded epoch, in a grid, and a row of numbers each.

    Accuracy and the count of distinct training paths come from ``metrics["snapshots"]``;
    the diagram's own counts (distinct paths of the test and unseen images, the share of
    test images on their class's most common path) are counted from the paths drawn.
    """
    measured = {int(s["epoch"]): s for s in metrics.get("snapshots") or []}
    panels, rows = [], []
    for epoch in sorted(snapshots):
        acts_e, sigs_e = snapshots[epoch]
        layout, node_label, paths = _alluvial_layout(ctx, acts_e, sigs_e, letters=False,
                                                     n_curve=10)
        test_paths = paths[:len(acts_e.test.y)]
        on_majority = 0
        for c in ctx.classes:
            members = test_paths[acts_e.test.y == c]
            if len(members):
                on_majority += int(np.unique(members, axis=0, return_counts=True)[1].max())
        m = measured.get(int(epoch), {})
        acc = m.get("test_accuracy")
        if acc is None and len(acts_e.test.y):
            acc = float(np.mean(acts_e.test.predicted == acts_e.test.y))
        rows.append({"epoch": int(epoch), "test_accuracy": acc,
                     "n_distinct_train": m.get("n_distinct_paths"),
                     "n_distinct_shown": len(np.unique(paths, axis=0)) if len(paths) else 0,
                     "majority_share": on_majority / max(1, len(test_paths))})
        n_nodes = max(len([n for n in layout.nodes if n["col"] == c])
                      for c in range(len(layout.columns)))
        title = f"epoch {int(epoch)}" + (f"  \u00b7  test accuracy {_pct(acc)}"
                                         if acc is not None else "")
        panels.append(F.alluvial_figure(
            layout, ctx.colors, ctx.label, node_label, path_owner={}, width=430,
            height=min(420, 250 + 8 * n_nodes), title=title, font_size=10,
            ribbon_alpha=0.5, name=f"snapshot-alluvial-{int(epoch)}"))
    return gridplot(panels, ncols=2, toolbar_location=None), rows


def _path_shares(ctx: _Context, acts: Activations, sigs: Any) -> tuple[Any, dict]:
    train_set = set(_split_paths(sigs, "train"))
    rows: list[tuple[str, list[tuple]]] = []
    for c in ctx.classes:
        mask = acts.test.y == c
        rows.append((ctx.label[c], [p for p, m in zip(_split_paths(sigs, "test"), mask) if m]))
    for c in ctx.probes:
        mask = acts.probe.y == c
        rows.append((ctx.label[c], [p for p, m in zip(_split_paths(sigs, "probe"), mask) if m]))
    spec = list(ctx.specific.items())
    shown = spec[:_MAX_SPECIFIC_SEGMENTS]
    shown_keys = {p for p, _ in shown}
    dominant = [info["dominant"] for _, info in shown]
    shade = F.cluster_palette(dominant, ctx.colors)
    segments = []
    for (path, info), color in zip(shown, shade):
        counts = [sum(1 for p in members if p == path) for _, members in rows]
        segments.append({"name": f"{info['letter']}: {format_path(path, ctx.name)}",
                         "letter": info["letter"], "color": color, "hatch": False,
                         "counts": counts})
    groups = (
        ("other specific paths", "#9aa3ad", False,
         lambda p: p in ctx.specific and p not in shown_keys),
        ("other paths seen in training", F.OTHER_COLOR, False,
         lambda p: p not in ctx.specific and p in train_set),
        ("paths never seen in training", F.NOVEL_COLOR, True, lambda p: p not in train_set),
    )
    for name, color, hatch, pred in groups:
        counts = [sum(1 for p in members if pred(p)) for _, members in rows]
        if any(counts):
            segments.append({"name": name, "letter": "", "color": color, "hatch": hatch,
                             "counts": counts})
    totals = [max(1, len(members)) for _, members in rows]
    for seg in segments:
        seg["shares"] = [c / t for c, t in zip(seg["counts"], totals)]
    fig = F.path_share_figure([r for r, _ in rows], segments)
    return fig, {"rows": [r for r, _ in rows], "totals": [len(m) for _, m in rows],
                 "segments": segments}


def _images(dataset: Dataset, split: str) -> np.ndarray:
    return dataset.train.images() if split == "train" else getattr(dataset, split).images()


def _pick(rows: np.ndarray, n: int, seed: int) -> np.ndarray:
    if len(rows) <= n:
        return rows
    rng = np.random.default_rng([seed, len(rows)])
    return np.sort(rng.choice(rows, size=n, replace=False))


def _mosaic(images: np.ndarray, n_cols: int) -> dict:
    """A grid of digits as a data URI with its natural size, so every grid shows digits alike."""
    grid = build_mosaic(images, n_cols)
    return {"src": png_data_uri(grid), "width": round(grid.shape[1] * _DIGIT_SCALE),
            "height": round(grid.shape[0] * _DIGIT_SCALE)}


def _exemplars(ctx: _Context, dataset: Dataset, sigs: Any, seed: int) -> list[dict]:
    train_paths = np.asarray(sigs.paths["train"], dtype=np.int64)
    images = dataset.train.images()
    out = []
    for path, info in list(ctx.specific.items())[:_MAX_EXEMPLARS]:
        rows = np.flatnonzero(np.all(train_paths == np.asarray(path)[None, :], axis=1))
        if not len(rows):
            continue
        mean = np.rint(images[rows].astype(np.float32).mean(0)).astype(np.uint8)
        members = images[_pick(rows, 12, seed)]
        row = info["row"]
        out.append({
            "letter": info["letter"], "path": format_path(path, ctx.name),
            "dominant": ctx.label.get(info["dominant"], str(info["dominant"])),
            "color": ctx.colors.get(info["dominant"], "#888888"),
            "purity": info["purity"], "total": info["total"], "n_train": len(rows),
            "counts": [(ctx.label[int(c)], n) for c, n in row.get("counts", {}).items()],
            "mean": png_data_uri(255 - mean),
            "grid": _mosaic(members, 6),
        })
    return out


def _atypical(ctx: _Context, metrics: dict, dataset: Dataset, seed: int) -> list[dict]:
    out = []
    entries = metrics.get("answers", {}).get("signatures_differ", {}).get("atypical", []) or []
    for entry in entries:
        split = entry.get("split", "test")
        part = getattr(dataset, split, dataset.test)
        where = {int(i): r for r, i in enumerate(part.index.tolist())}
        rows = np.array([where[int(i)] for i in entry.get("indices", []) if int(i) in where],
                        dtype=np.int64)
        grid = None
        if len(rows):
            grid = _mosaic(part.images()[_pick(rows, 24, seed)], 12)
        out.append({"cls": ctx.label.get(int(entry["class"]), str(entry["class"])),
                    "like": ctx.label.get(int(entry["looks_like"]), str(entry["looks_like"])),
                    "count": entry.get("count"), "fraction": entry.get("fraction"),
                    "split": split, "grid": grid,
                    "color": ctx.colors.get(int(entry["class"]))})
    return out


def _probe_groups(ctx: _Context, acts: Activations, dataset: Dataset, sigs: Any,
                  seed: int) -> list[dict]:
    train_set = set(_split_paths(sigs, "train"))
    paths = _split_paths(sigs, "probe")
    images = dataset.probe.images()
    out = []
    for c in ctx.probes:
        rows_c = np.flatnonzero(acts.probe.y == c)
        groups: dict[tuple, list[int]] = {}
        for r in rows_c.tolist():
            groups.setdefault(paths[r], []).append(r)
        ranked = sorted(groups.items(), key=lambda kv: -len(kv[1]))
        shown = []
        n_groups = _MAX_PROBE_GROUPS if len(ctx.probes) == 1 else _MAX_PROBE_GROUPS - 2
        for path, rows in ranked[:n_groups]:
            info = ctx.specific.get(path)
            shown.append({
                "path": format_path(path, ctx.name), "letter": info["letter"] if info else "",
                "count": len(rows), "fraction": len(rows) / max(1, len(rows_c)),
                "seen": path in train_set,
                "like": ctx.label.get(info["dominant"]) if info else None,
                "color": ctx.colors.get(info["dominant"], "#555555") if info else None,
                "grid": _mosaic(images[_pick(np.asarray(rows), 12, seed)], 6),
            })
        rest = sum(len(v) for _, v in ranked[n_groups:])
        out.append({"cls": ctx.label[c], "color": ctx.colors[c], "n": len(rows_c),
                    "n_paths": len(groups), "groups": shown, "rest": rest})
    return out


def _projection(ctx: _Context, acts: Activations, sigs: Any, dataset: Dataset,
                config: Config, metrics: dict) -> tuple[Any, dict]:
    names = [lay["name"] for lay in metrics.get("layers", [])] or \
        ["input", *acts.hidden, "logits"]
    names = [n for n in names if n in acts.train.layers]
    proj = compute_projections(acts, tuple(names), config.report, config.seed)
    n = len(proj.row)
    y = np.zeros(n, np.int64)
    pred = np.zeros(n, np.int64)
    imgs = np.zeros((n, 28, 28), np.uint8)
    paths: list[str] = [""] * n
    for split in ("test", "probe"):
        mask = proj.split == split
        if not mask.any():
            continue
        rows = proj.row[mask]
        y[mask] = acts.split(split).y[rows]
        pred[mask] = acts.split(split).predicted[rows]
        imgs[mask] = getattr(dataset, split).images()[rows]
        split_paths = np.asarray(sigs.paths[split])[rows]
        for i, p in zip(np.flatnonzero(mask), split_paths.tolist()):
            info = ctx.specific.get(tuple(p))
            paths[i] = format_path(p, ctx.name) + (f" (path {info['letter']})" if info else "")
    thumbs = [png_data_uri(255 - im, bits=4) for im in imgs]
    cluster_label, cluster_color = {}, {}
    layer_metrics = {lay["name"]: lay for lay in metrics.get("layers", [])}
    for name in names:
        sig = sigs.layer(name)
        lab = np.zeros(n, np.int64)
        for split in ("test", "probe"):
            mask = proj.split == split
            if mask.any():
                lab[mask] = np.asarray(sig.labels[split])[proj.row[mask]]
        dominant = layer_metrics.get(name, {}).get("cluster_dominant_class") or \
            [None] * int(sig.n_clusters)
        shades = F.cluster_palette(dominant, ctx.colors)
        cluster_label[name] = ["noise" if k < 0 else f"c{k}" for k in lab.tolist()]
        cluster_color[name] = ["#b0b0b0" if k < 0 else shades[k] for k in lab.tolist()]
    titles = []
    for name in names:
        ev = proj.explained.get(name)
        titles.append(f"{name}" + (f"  \u00b7  PCA {100 * ev:.0f}% of variance"
                                   if ev is not None else ""))
    fig = F.projection_figure(
        proj.xy, names, titles,
        point_color=[ctx.colors[int(c)] for c in y],
        point_marker=["triangle" if int(c) in ctx.probes else "circle" for c in y],
        point_info={"label": [ctx.label[int(c)] for c in y],
                    "pred": [ctx.name.get(int(p), str(p)) for p in pred], "path": paths},
        cluster_label=cluster_label, cluster_color=cluster_color, thumbs=thumbs,
        n_cols=3 if len(names) != 4 else 2)
    counts = {ctx.label[int(c)]: int(k) for c, k in zip(*np.unique(y, return_counts=True))}
    return fig, {"method": proj.method, "n_points": n, "counts": counts,
                 "n_layers": len(names), "layers": names,
                 "explained": [(nm, proj.explained.get(nm)) for nm in names]}


def _ood_rows(ctx: _Context, metrics: dict) -> tuple[list[dict], list[dict], str | None]:
    rows = []
    for e in metrics.get("ood", []) or []:
        pc = e.get("probe_class")
        who = "all unseen" if pc == "all" else ctx.label.get(int(pc), str(pc))
        rows.append({"probe": who, "probe_class": pc, "method": e.get("method"),
                     "layer": e.get("layer"), "auroc": e.get("auroc"), "fpr95": e.get("fpr95"),
                     "roc": e.get("roc")})
    if len(ctx.probes) == 1:  # "all unseen" repeats the one probe class
        rows = [r for r in rows if r["probe_class"] != "all"]
    rows.sort(key=lambda r: (str(r["probe_class"]) != "all", str(r["probe_class"]),
                             -(r["auroc"] if r["auroc"] is not None else -1)))
    if not rows:
        return rows, [], None
    target = "all" if any(r["probe_class"] == "all" for r in rows) else rows[0]["probe_class"]
    chosen = [r for r in rows if r["probe_class"] == target and r.get("roc")][:8]
    curves = [{"label": f"{r['method']} ({r['layer']})", "fpr": r["roc"]["fpr"],
               "tpr": r["roc"]["tpr"], "auroc": r["auroc"] or 0.0} for r in chosen]
    who = chosen[0]["probe"] if chosen else None
    best_auroc = {}
    for r in rows:
        key = r["probe_class"]
        if r["auroc"] is not None and (key not in best_auroc or r["auroc"] > best_auroc[key]):
            best_auroc[key] = r["auroc"]
    seen_method: set[tuple] = set()
    for r in rows:
        r["best"] = r["auroc"] is not None and r["auroc"] == best_auroc.get(r["probe_class"])
        # The summary table keeps each method's best layer; the full table keeps all.
        key = (str(r["probe_class"]), r["method"])
        r["top"] = key not in seen_method
        seen_method.add(key)
    return rows, curves, who


# --- the three answers, in words ---------------------------------------------------------------------


def _answers(ctx: _Context, metrics: dict, ood_rows: list[dict]) -> dict:
    ans = metrics.get("answers", {})
    layers = {lay["name"]: lay for lay in metrics.get("layers", [])}
    sep = ans.get("separation", {}) or {}
    sep_layer = ans.get("separation_layer")
    metric = sep.get("metric", "linear_probe_accuracy")
    per_layer = {p["layer"]: p for p in sep.get("per_layer", []) or []}
    q1 = {
        "layer": sep_layer,
        "metric": metric.replace("_", " "),
        "value": per_layer.get(sep_layer, {}).get("value") if sep_layer else None,
        "threshold": sep.get("threshold"),
        "input_value": sep.get("input_value"),
        "input_already": bool(sep.get("input_already_separates")),
        "nmi": layers.get(sep_layer, {}).get("cluster_class_nmi") if sep_layer else None,
        "per_layer": [{"layer": p["layer"], "value": p.get("value"),
                       "gain": p.get("gain_over_input", p.get("gain"))}
                      for p in sep.get("per_layer", []) or []],
        "largest_gain": sep.get("largest_gain_layer"),
    }
    gains = {p["layer"]: p["gain"] for p in q1["per_layer"]}
    q1["largest_gain_value"] = gains.get(q1["largest_gain"])
    differ = ans.get("signatures_differ", {}) or {}
    coverage = metrics.get("paths", {}).get("coverage", {}) or {}
    cov = [(ctx.label.get(int(c), c), v) for c, v in coverage.items()]
    mean_cov = float(np.mean([v for _, v in cov])) if cov else None
    if mean_cov is None:
        verdict = "Measured"
    elif mean_cov >= 0.9:
        verdict = "Yes, clearly"
    elif mean_cov >= 0.5:
        verdict = "Mostly"
    else:
        verdict = "Largely shared"
    js_rows = [p for p in differ.get("per_layer", []) or [] if p.get("js") is not None]
    hidden_js = [p for p in js_rows if p["layer"].startswith("hidden")]
    strongest = max(hidden_js or js_rows, key=lambda p: p["js"]) if js_rows else None
    atypical = sorted([a for a in differ.get("atypical", []) or [] if a.get("count")],
                      key=lambda a: -a["count"])
    q2 = {
        "verdict": verdict, "coverage": cov, "strongest": strongest,
        "n_specific": len(ctx.specific),
        "n_paths": metrics.get("paths", {}).get("n_distinct_train"),
        "atypical": [{"cls": ctx.label.get(int(a["class"])),
                      "like": ctx.label.get(int(a["looks_like"])),
                      "count": a["count"], "fraction": a.get("fraction"),
                      "split": a.get("split", "test")} for a in atypical],
    }
    q3 = []
    for u in ans.get("unseen", []) or []:
        c = int(u["class"])
        pred = sorted(((ctx.label.get(int(k), k), v) for k, v in
                       (u.get("predicted_as") or {}).items() if v), key=lambda kv: -kv[1])
        borrowed = tuple(int(p) for p in u.get("most_borrowed_path") or ())
        info = ctx.specific.get(borrowed)
        best = max((r for r in ood_rows if str(r["probe_class"]) == str(c)
                    and r["auroc"] is not None), key=lambda r: r["auroc"], default=None)
        q3.append({"cls": ctx.label[c], "name": ctx.name.get(c, str(c)), "predicted": pred,
                   "novel": u.get("novel_path_fraction"),
                   "borrowed": format_path(borrowed, ctx.name) if borrowed else None,
                   "borrowed_letter": info["letter"] if info else None,
                   "borrowed_owner": ctx.label.get(info["dominant"]) if info else None,
                   "best": best})
    best_all = max((r for r in ood_rows if r["probe_class"] == "all" and r["auroc"] is not None),
                   key=lambda r: r["auroc"], default=None)
    return {"q1": q1, "q2": q2, "q3": q3, "q3_all": best_all}


def _phrase(items: list[str]) -> str:
    """ "1 and 7", "1, 3 and 7", or "the 10 classes" when a list would not read well."""
    if len(items) > 4:
        return f"the {len(items)} classes"
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _experiment_line(metrics: dict, ctx: _Context) -> dict:
    exp = metrics.get("experiment", {})
    hidden = [int(h) for h in exp.get("hidden", [])]
    arch = " \u2192 ".join(str(w) for w in [784, *hidden, len(ctx.classes)])
    return {
        "arch": arch, "activation": exp.get("activation"),
        "loss": str(exp.get("loss") or "").replace("_", "-"),
        "dataset": _DATASET_NAMES.get(exp.get("dataset"), exp.get("dataset")),
        "classes": [ctx.label[c] for c in ctx.classes],
        "classes_phrase": _phrase([ctx.label[c] for c in ctx.classes]),
        "probes": [ctx.name.get(c, str(c)) for c in ctx.probes],
        "n_train": exp.get("n_train"), "n_test": exp.get("n_test"), "n_probe": exp.get("n_probe"),
        "test_accuracy": metrics.get("model", {}).get("test_accuracy"),
        "train_accuracy": metrics.get("model", {}).get("train_accuracy"),
        "seeds": exp.get("seeds") or [exp.get("seed")],
    }


def _repro(manifest: dict, config: Config) -> dict:
    versions = manifest.get("versions", {}) or {}
    timings = manifest.get("timings_s", {}) or {}
    return {
        "seed": manifest.get("seed", config.seed),
        "seeds": manifest.get("seeds") or list(config.all_seeds),
        "versions": sorted(versions.items()),
        "data_sha256": manifest.get("data_sha256"),
        "git_commit": manifest.get("git_commit"),
        "created": manifest.get("created"),
        "timings": list(timings.items()),
        "total_s": sum(float(v) for v in timings.values()) if timings else None,
        "config_toml": config_to_toml(config),
    }


# --- entry point ----------------------------------------------------------------------------------


def render_report(metrics: dict, manifest: dict, dataset: Dataset, acts: Activations, sigs: Any,
                  config: Config, standalone: bool = False,
                  snapshots: dict[int, tuple[Activations, Signatures]] | None = None
                  ) -> dict[str, str | bytes]:
    """Render one run's report page.

    Parameters
    ----------
    metrics:
        The analysis stage's plain-value dict (layout in INTERFACES / metrics.schema.json);
        every number the page states comes from it.
    manifest:
        "config", "seed", "versions", "data_sha256", "git_commit", "timings_s", "created".
    dataset, acts, sigs:
        The arrays behind the figures: images, per-layer activations (float32
        (n_samples, width)), cluster labels and paths (int64). Scatter plots are
        subsampled to ``config.report.max_points``; every count shown is exact.
    config:
        The resolved run config (``report.projection``, ``report.max_points``, ``seed``).
    standalone:
        Inline BokehJS (one self-contained file). Otherwise the page loads
        ``../_bokeh/bokeh-<version>.min.js``: call :func:`vendor_bokeh` on the
        output folder.
    snapshots:
        epoch -> (Activations, Signatures) of the network recorded at that epoch;
        when given, the training section draws one small alluvial diagram per
        epoch. ``None`` or empty: the section shows the per-epoch curves only.

    Returns
    -------
    dict
        ``{"index.html": str}``.

    Raises
    ------
    ConfigError
        ``report.projection = "umap"`` without the umap-learn package.
    """
    ctx = _build_context(metrics, dataset)
    seed = int(config.seed)
    ood_rows, roc_curves, roc_for = _ood_rows(ctx, metrics)
    figs: dict[str, Any] = {}
    data: dict[str, Any] = {}

    figs["alluvial"], data["alluvial"] = _alluvial(ctx, acts, sigs)
    figs["projection"], data["projection"] = _projection(ctx, acts, sigs, dataset, config, metrics)
    layers = metrics.get("layers", [])
    figs["heatmaps"] = F.heatmap_figure(layers, ctx.classes + ctx.probes, ctx.probes, ctx.colors,
                                        ctx.label)
    answers = metrics.get("answers", {})
    sep_layer = answers.get("separation_layer")
    figs["curves"] = F.layer_curves_figure(
        layers, sep_layer, (answers.get("separation") or {}).get("threshold"))
    cka = metrics.get("cka") or {}
    if cka.get("layers"):
        figs["cka"] = F.cka_figure(cka["layers"], cka["matrix"])
    if ctx.probes:
        figs["paths"], data["paths"] = _path_shares(ctx, acts, sigs)
    else:
        _, data["paths"] = _path_shares(ctx, acts, sigs)
        figs["paths"] = F.path_share_figure(data["paths"]["rows"], data["paths"]["segments"])
    if roc_curves:
        figs["roc"] = F.roc_figure(roc_curves)
    history = (metrics.get("model") or {}).get("history") or {}
    if history.get("epoch"):
        figs["training"] = F.training_figure(history)
    snapshot_rows = metrics.get("snapshots") or []
    if len(snapshot_rows) >= 2:
        figs["snapshots"] = F.snapshot_figure(snapshot_rows, [lay["name"] for lay in layers])
    if snapshots:
        figs["snapshot_paths"], data["snapshot_paths"] = _snapshot_alluvials(
            ctx, metrics, snapshots)

    # One document for every figure (linked selections need a shared source); adding the
    # roots under one freeze makes Bokeh walk the model graph once instead of once per root.
    doc = Document()
    with doc.models.freeze():
        for fig in figs.values():
            doc.add_root(fig)
    script, divs = components(figs)
    env = template_env()
    title = config.title or metrics.get("experiment", {}).get("title") or config.name
    page = env.get_template("report.html.j2").render(
        title=title, name=config.name, standalone=standalone,
        bokeh_js=_script_tags([doc], standalone),
        bokeh_script=Markup(script), div={k: Markup(v) for k, v in divs.items()},
        bokeh_version=bokeh.__version__, bokeh_dir=BOKEH_DIR,
        exp=_experiment_line(metrics, ctx), answers=_answers(ctx, metrics, ood_rows),
        legend=[(ctx.label[c], ctx.colors[c], c in ctx.probes) for c in ctx.classes + ctx.probes],
        metrics=metrics, layers=layers, sep_layer=sep_layer, data=data,
        specific=[{"letter": i["letter"], "path": format_path(p, ctx.name),
                   "owner": ctx.label.get(i["dominant"]), "total": i["total"],
                   "purity": i["purity"], "color": ctx.colors.get(i["dominant"], "#888")}
                  for p, i in ctx.specific.items()],
        n_listed=_MAX_LISTED_PATHS,
        paths_meta=metrics.get("paths", {}), label=ctx.label, colors=ctx.colors,
        exemplars=_exemplars(ctx, dataset, sigs, seed),
        atypical=_atypical(ctx, metrics, dataset, seed),
        probe_groups=_probe_groups(ctx, acts, dataset, sigs, seed),
        probes=metrics.get("probes", []) or [], ood=ood_rows, roc_for=roc_for,
        cka=cka, history=history, snapshots=snapshot_rows,
        stability=metrics.get("stability"), subsampling=metrics.get("subsampling") or {},
        repro=_repro(manifest, config),
    )
    return {"index.html": page}
