"""Section 6, the unseen class: paths per class, unseen images by path, where they land."""

from __future__ import annotations

from typing import Any

import numpy as np

from sigreport.analysis.types import Metrics
from sigreport.report import figures as F
from sigreport.report.arrays import FigureArrays
from sigreport.report.sections.common import (
    Context,
    Section,
    format_path,
    mosaic,
    pick,
    split_paths,
)

__all__ = ["build_probes"]

_MAX_SPECIFIC_SEGMENTS = 10
_MAX_PROBE_GROUPS = 6


def _through_unassigned(path: tuple) -> bool:
    """Whether ``path`` goes through an unassigned layer (-1 in some hidden layer)."""
    return any(p < 0 for p in path)


def _never_seen(path: tuple, train_support: dict[tuple, int]) -> bool:
    """Whether ``path`` was never seen in training: assigned in every hidden layer, and
    no training image takes it."""
    return not _through_unassigned(path) and path not in train_support


def _path_shares(ctx: Context, arrays: FigureArrays,
                 train_support: dict[tuple, int]) -> tuple[Any, dict]:
    rows: list[tuple[str, list[tuple]]] = []
    for split, classes in (("test", ctx.classes), ("probe", ctx.probes)):
        paths = split_paths(arrays, split)
        y = arrays.split(split).y
        for c in classes:
            rows.append((ctx.label[c], [paths[i] for i in np.flatnonzero(y == c)]))
    spec = list(ctx.specific.items())
    shown = spec[:_MAX_SPECIFIC_SEGMENTS]
    shown_keys = {p for p, _ in shown}
    dominant = [info["dominant"] for _, info in shown]
    shade = F.cluster_palette(dominant, ctx.colors)
    segments = []
    for (path, info), color in zip(shown, shade):
        counts = [sum(1 for p in members if p == path) for _, members in rows]
        segments.append({"name": f"{info['letter']}: {format_path(path)}",
                         "letter": info["letter"], "short": info["letter"], "color": color,
                         "hatch": False, "counts": counts})
    # The four groups below and the specific paths above split every image once: a
    # specific path is seen in training and goes through no unassigned layer. The last two
    # together are the novel paths.
    groups = (
        ("other specific paths", "specific", "#9aa3ad", False,
         lambda p: p in ctx.specific and p not in shown_keys),
        ("other paths seen in training (not novel)", "seen", F.OTHER_COLOR, False,
         lambda p: (p not in ctx.specific and p in train_support
                    and not _through_unassigned(p))),
        ("novel: never seen in training", "novel", F.NOVEL_COLOR, True,
         lambda p: _never_seen(p, train_support)),
        ("novel: through an unassigned layer", "unassigned", F.UNASSIGNED_COLOR, True,
         _through_unassigned),
    )
    for name, short, color, hatch, pred in groups:
        counts = [sum(1 for p in members if pred(p)) for _, members in rows]
        if any(counts):
            segments.append({"name": name, "letter": "", "short": short, "color": color,
                             "hatch": hatch, "counts": counts})
    totals = [max(1, len(members)) for _, members in rows]
    for seg in segments:
        seg["shares"] = [c / t for c, t in zip(seg["counts"], totals)]
    fig = F.path_share_figure([r for r, _ in rows], segments)
    return fig, {"rows": [r for r, _ in rows], "totals": [len(m) for _, m in rows],
                 "segments": segments}


def _probe_groups(ctx: Context, arrays: FigureArrays, train_support: dict[tuple, int],
                  seed: int) -> list[dict]:
    paths = split_paths(arrays, "probe")
    images = arrays.probe.images
    out = []
    for c in ctx.probes:
        rows_c = np.flatnonzero(arrays.probe.y == c)
        groups: dict[tuple, list[int]] = {}
        for r in rows_c.tolist():
            groups.setdefault(paths[r], []).append(r)
        ranked = sorted(groups.items(), key=lambda kv: -len(kv[1]))
        shown = []
        n_groups = _MAX_PROBE_GROUPS if len(ctx.probes) == 1 else _MAX_PROBE_GROUPS - 2
        for path, rows in ranked[:n_groups]:
            info = ctx.specific.get(path)
            shown.append({
                "path": format_path(path), "letter": info["letter"] if info else "",
                "count": len(rows), "fraction": len(rows) / max(1, len(rows_c)),
                "through_unassigned": _through_unassigned(path),
                "never_seen": _never_seen(path, train_support),
                "unassigned_in": [h for h, p in zip(arrays.path_layers, path) if p < 0],
                "training_support": train_support.get(path, 0),
                "like": ctx.label.get(info["dominant"]) if info else None,
                "color": F.tag_color(ctx.colors.get(info["dominant"], "#555555")) if info else None,
                "grid": mosaic(None if images is None
                               else images[pick(np.asarray(rows), 12, seed)], 6),
            })
        rest = sum(len(v) for _, v in ranked[n_groups:])
        out.append({"cls": ctx.label[c], "color": ctx.colors[c], "n": len(rows_c),
                    "n_paths": len(groups), "groups": shown, "rest": rest})
    return out



def build_probes(ctx: Context, metrics: Metrics, arrays: FigureArrays, seed: int) -> Section:
    """Each class's share of images per path, the unseen images grouped by path, per-layer landing.

    The path shares are drawn without unseen classes too (for the trained classes alone).
    """
    # The distinct training paths first: far fewer than the training images.
    distinct, support = np.unique(arrays.train.paths, axis=0, return_counts=True)
    train_support = dict(zip(map(tuple, distinct.tolist()), support.tolist()))
    fig, shares = _path_shares(ctx, arrays, train_support)
    return Section({"paths": fig}, {"paths": shares},
                   {"probe_groups": _probe_groups(ctx, arrays, train_support, seed),
                    "probes": metrics["answers"]["unseen"]})
