"""Section 7, exemplars: the images on each specific path, and the images on another class's."""

from __future__ import annotations

import numpy as np

from sigreport.analysis.types import Metrics
from sigreport.report import figures as F
from sigreport.report.arrays import FigureArrays
from sigreport.report.images import as_shown, png_data_uri
from sigreport.report.sections.common import Context, Section, format_path, mosaic, pick

__all__ = ["build_exemplars"]

_MAX_EXEMPLARS = 8


def _exemplars(ctx: Context, arrays: FigureArrays) -> list[dict]:
    out = []
    for path, info in list(ctx.specific.items())[:_MAX_EXEMPLARS]:
        exemplar = arrays.exemplars.get(path)
        if exemplar is None:  # no training image takes it
            continue
        row = info["row"]
        out.append({
            "letter": info["letter"], "path": format_path(path),
            "dominant": ctx.label.get(info["dominant"], str(info["dominant"])),
            "color": F.tag_color(ctx.colors.get(info["dominant"], "#888888")),
            "purity": info["purity"], "total": info["total"], "n_train": exemplar.n_train,
            "counts": [(ctx.label[int(c)], n) for c, n in row.get("counts", {}).items()],
            "mean": (png_data_uri(as_shown(exemplar.mean[None])[0])
                     if exemplar.mean is not None else None),
            "grid": mosaic(exemplar.sample, 6),
        })
    return out


def _atypical(ctx: Context, metrics: Metrics, arrays: FigureArrays, seed: int) -> list[dict]:
    out = []
    rows_of: dict[str, dict[int, int]] = {}  # split -> {source index: row}
    for entry in metrics["answers"]["signatures_differ"]["routed_like"]:
        split = entry["split"]
        part = split if split in ("train", "test", "probe") else "test"
        if part not in rows_of:
            rows_of[part] = {int(i): r for r, i in enumerate(arrays.split(part).index.tolist())}
        where = rows_of[part]
        rows = np.array([where[int(i)] for i in entry["indices"] if int(i) in where],
                        dtype=np.int64)
        grid = None
        if len(rows):
            images = arrays.split(part).images
            grid = mosaic(None if images is None else images[pick(rows, 24, seed)], 12)
        out.append({"cls": ctx.label.get(int(entry["class"]), str(entry["class"])),
                    "like": ctx.label.get(int(entry["looks_like"]), str(entry["looks_like"])),
                    "count": entry["count"], "fraction": entry["fraction"],
                    "correct": entry["correct"], "wrong": entry["wrong"],
                    "split": split, "grid": grid,
                    "color": ctx.colors.get(int(entry["class"]))})
    return out



def build_exemplars(ctx: Context, metrics: Metrics, arrays: FigureArrays, seed: int) -> Section:
    """Mean image and sample of each specific path; grids of the atypical images."""
    return Section(values={"exemplars": _exemplars(ctx, arrays),
                           "atypical": _atypical(ctx, metrics, arrays, seed)})
