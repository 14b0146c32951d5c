"""Section 7, exemplars: the images on each specific path, and the images on another class's."""

from __future__ import annotations

from typing import Any

import numpy as np

from sigreport.data import Dataset
from sigreport.report import figures as F
from sigreport.report.images import as_shown, png_data_uri
from sigreport.report.sections.common import Context, Section, format_path, mosaic, pick

__all__ = ["build_exemplars"]

_MAX_EXEMPLARS = 8


def _exemplars(ctx: Context, dataset: Dataset, sigs: Any, seed: int) -> list[dict]:
    train_paths = np.asarray(sigs.paths["train"], dtype=np.int64)
    images = ctx.images(dataset, "train")
    out = []
    for path, info in list(ctx.specific.items())[:_MAX_EXEMPLARS]:
        rows = np.flatnonzero(np.all(train_paths == np.asarray(path)[None, :], axis=1))
        if not len(rows):
            continue
        mean = (None if images is None
                else np.rint(images[rows].astype(np.float32).mean(0)).astype(np.uint8))
        row = info["row"]
        out.append({
            "letter": info["letter"], "path": format_path(path),
            "dominant": ctx.label.get(info["dominant"], str(info["dominant"])),
            "color": F.tag_color(ctx.colors.get(info["dominant"], "#888888")),
            "purity": info["purity"], "total": info["total"], "n_train": len(rows),
            "counts": [(ctx.label[int(c)], n) for c, n in row.get("counts", {}).items()],
            "mean": png_data_uri(as_shown(mean[None])[0]) if mean is not None else None,
            "grid": mosaic(None if images is None else images[pick(rows, 12, seed)], 6),
        })
    return out


def _atypical(ctx: Context, metrics: dict, dataset: Dataset, seed: int) -> list[dict]:
    out = []
    rows_of: dict[str, dict[int, int]] = {}  # split -> {source index: row}
    for entry in metrics["answers"]["signatures_differ"]["routed_like"]:
        split = entry["split"]
        part = split if hasattr(dataset, split) else "test"
        if part not in rows_of:
            rows_of[part] = {int(i): r for r, i in
                             enumerate(getattr(dataset, part).index.tolist())}
        where = rows_of[part]
        rows = np.array([where[int(i)] for i in entry["indices"] if int(i) in where],
                        dtype=np.int64)
        grid = None
        if len(rows):
            images = ctx.images(dataset, part)
            grid = mosaic(None if images is None else images[pick(rows, 24, seed)], 12)
        out.append({"cls": ctx.label.get(int(entry["class"]), str(entry["class"])),
                    "like": ctx.label.get(int(entry["looks_like"]), str(entry["looks_like"])),
                    "count": entry["count"], "fraction": entry["fraction"],
                    "correct": entry["correct"], "wrong": entry["wrong"],
                    "split": split, "grid": grid,
                    "color": ctx.colors.get(int(entry["class"]))})
    return out



def build_exemplars(ctx: Context, metrics: dict, dataset: Dataset, sigs: Any,
                    seed: int) -> Section:
    """Mean image and sample of each specific path; grids of the atypical images."""
    return Section(values={"exemplars": _exemplars(ctx, dataset, sigs, seed),
                           "atypical": _atypical(ctx, metrics, dataset, seed)})
