"""The layout of an alluvial diagram, without drawing it: where its nodes and ribbons go.

:func:`layout_alluvial` takes each sample's node in each column (plain numpy arrays)
and returns an :class:`AlluvialLayout`: frozen dataclasses of numbers, one
:class:`AlluvialNode` per node and one :class:`AlluvialRibbon` per band of samples
that share a step, a class and a specific path, with its polygon. Nodes are ordered
to limit crossings. No Bokeh here: ``figures.alluvial`` draws a layout, and the
report's sections read its nodes for their tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["AlluvialLayout", "AlluvialNode", "AlluvialRibbon", "layout_alluvial"]


@dataclass(frozen=True)
class AlluvialNode:
    """One node: the samples in one cluster (or class) of one column.

    ``y0``/``y1`` are its top and bottom in sample units (the y axis points down);
    ``by_class`` its (class id, count) pairs in class-id order.
    """

    col: int
    key: int  # node id within its column (a class id, a cluster id, -1 for unassigned)
    y0: float
    y1: float
    count: int
    by_class: tuple[tuple[int, int], ...]

    def by_count(self) -> list[tuple[int, int]]:
        """``by_class`` from the largest class to the smallest (ties in class-id order)."""
        return sorted(self.by_class, key=lambda kv: -kv[1])


@dataclass(frozen=True)
class AlluvialRibbon:
    """The band of samples of one class on one specific path (or none) between two nodes.

    ``xs``/``ys`` are float32 (2 * n_curve,) polygon coordinates: the top edge left to
    right, then the bottom edge back.
    """

    col: int  # the left column
    src: int  # node key in column ``col``
    dst: int  # node key in column ``col + 1``
    cls: int
    path: str  # specific path label, "" if none
    count: int
    xs: np.ndarray
    ys: np.ndarray


@dataclass(frozen=True)
class AlluvialLayout:
    """Geometry and counts of an alluvial diagram: nodes column by column, each column
    top to bottom, and ribbons; ``height`` in sample units, ``node_width`` in columns."""

    columns: tuple[str, ...]
    nodes: tuple[AlluvialNode, ...]
    ribbons: tuple[AlluvialRibbon, ...]
    height: float
    node_width: float

    def column_nodes(self, col: int) -> list[AlluvialNode]:
        """The nodes of column ``col``, top to bottom."""
        return [nd for nd in self.nodes if nd.col == col]


def _smooth(n: int) -> np.ndarray:
    """``n`` points of a smoothstep from 0 to 1: the S-curve of a ribbon's edges."""
    t = np.linspace(0.0, 1.0, n)
    return t * t * (3 - 2 * t)


def layout_alluvial(node_ids: np.ndarray, sample_class: np.ndarray, class_order: Sequence[int],
                    columns: Sequence[str], path_label: Sequence[str] | None = None,
                    gap: float = 0.035, node_width: float = 0.09,
                    n_curve: int = 14) -> AlluvialLayout:
    """Place the nodes and ribbons of an alluvial diagram.

    Parameters
    ----------
    node_ids:
        int64 (n_samples, n_columns): each sample's node in each column (column 0
        is usually the true class, the last the predicted class).
    sample_class:
        int64 (n_samples,): the class that colours each sample's ribbons.
    class_order:
        Class ids in display order (trained classes, then probes).
    columns:
        One name per column.
    path_label:
        (n_samples,) str: the label of the specific path each sample takes, "" if none.
        Ribbons are split by it, so specific paths can be drawn highlighted.
    gap:
        Space between nodes as a fraction of the number of samples.

    Returns
    -------
    AlluvialLayout
        Nodes ordered to limit crossings: the first and last columns follow
        ``class_order`` when their ids are class ids; the others are ordered by
        the mean position of their samples in the previous column, then refined
        by a backward pass.
    """
    node_ids = np.asarray(node_ids, dtype=np.int64)
    n, n_cols = node_ids.shape
    labels = (np.full(n, "", dtype=object) if path_label is None
              else np.asarray(path_label, dtype=object))
    rank_of_class = {c: i for i, c in enumerate(class_order)}
    g = max(1.0, gap * n)

    def place(order: list[int], col: int) -> dict[int, tuple[float, float]]:
        y, out = 0.0, {}
        for key in order:
            size = int(np.sum(node_ids[:, col] == key))
            out[key] = (y, y + size)
            y += size + g
        return out

    def class_like_order(col: int) -> list[int]:
        keys = np.unique(node_ids[:, col]).tolist()
        return sorted(keys, key=lambda k: (rank_of_class.get(k, len(class_order) + k)))

    def bary_order(col: int, ref_col: int, ref: dict[int, tuple[float, float]]) -> list[int]:
        keys = np.unique(node_ids[:, col]).tolist()
        ref_keys = np.array(sorted(ref), dtype=np.int64)
        centre = np.array([(ref[k][0] + ref[k][1]) / 2 for k in ref_keys.tolist()])
        ref_y = centre[np.searchsorted(ref_keys, node_ids[:, ref_col])]
        mean = {k: float(ref_y[node_ids[:, col] == k].mean()) for k in keys}
        # Noise (-1) always goes last.
        return sorted(keys, key=lambda k: (k < 0, mean[k], k))

    orders: list[list[int]] = [[] for _ in range(n_cols)]
    pos: list[dict] = [{} for _ in range(n_cols)]
    orders[0] = class_like_order(0)
    pos[0] = place(orders[0], 0)
    for col in range(1, n_cols):
        if col == n_cols - 1 and all(k in rank_of_class for k in np.unique(node_ids[:, col])):
            orders[col] = class_like_order(col)
        else:
            orders[col] = bary_order(col, col - 1, pos[col - 1])
        pos[col] = place(orders[col], col)
    for col in range(n_cols - 2, 0, -1):  # backward refinement of the middle columns
        fwd = {k: (a + b) / 2 for k, (a, b) in pos[col].items()}
        back_keys = bary_order(col, col + 1, pos[col + 1])
        back = {k: i for i, k in enumerate(back_keys)}
        fwd_rank = {k: i for i, k in enumerate(sorted(fwd, key=lambda k: fwd[k]))}
        orders[col] = sorted(orders[col], key=lambda k: (k < 0, fwd_rank[k] + back[k], k))
        pos[col] = place(orders[col], col)
    height = max(max(b for _a, b in p.values()) for p in pos if p)
    # Centre shorter columns vertically.
    for col in range(n_cols):
        top = max(b for _a, b in pos[col].values())
        shift = (height - top) / 2
        pos[col] = {k: (a + shift, b + shift) for k, (a, b) in pos[col].items()}

    nodes: list[AlluvialNode] = []
    for col in range(n_cols):
        for key in orders[col]:
            mask = node_ids[:, col] == key
            classes, counts = np.unique(sample_class[mask], return_counts=True)
            y0, y1 = pos[col][key]
            nodes.append(AlluvialNode(
                col=col, key=int(key), y0=y0, y1=y1, count=int(mask.sum()),
                by_class=tuple((int(c), int(k)) for c, k in zip(classes, counts))))

    curve = _smooth(n_curve)
    labels_sorted = sorted({str(p) for p in labels if p})
    label_rank = {p: i for i, p in enumerate(labels_sorted)}
    # Each sample's label as its rank (-1: none), so ribbons are counted in numpy.
    label_id = np.array([label_rank[str(p)] if p else -1 for p in labels.tolist()],
                        dtype=np.int64)
    ribbons: list[AlluvialRibbon] = []
    for col in range(n_cols - 1):
        src, dst = node_ids[:, col], node_ids[:, col + 1]
        keys, counts = np.unique(np.stack([src, dst, sample_class, label_id], axis=1), axis=0,
                                 return_counts=True)
        groups: dict[tuple, int] = {
            (s, d, c, labels_sorted[lab] if lab >= 0 else ""): n
            for (s, d, c, lab), n in zip(keys.tolist(), counts.tolist())}
        src_pos = {k: i for i, k in enumerate(orders[col])}
        dst_pos = {k: i for i, k in enumerate(orders[col + 1])}

        def lab_key(lab: str) -> int:
            return label_rank.get(lab, -1)

        out_order = sorted(groups, key=lambda k: (src_pos[k[0]], dst_pos[k[1]],
                                                  rank_of_class.get(k[2], 99), lab_key(k[3])))
        in_order = sorted(groups, key=lambda k: (dst_pos[k[1]], src_pos[k[0]],
                                                 rank_of_class.get(k[2], 99), lab_key(k[3])))
        y_out = {k: pos[col][k][0] for k in orders[col]}
        y_in = {k: pos[col + 1][k][0] for k in orders[col + 1]}
        start, end = {}, {}
        for k in out_order:
            start[k] = y_out[k[0]]
            y_out[k[0]] += groups[k]
        for k in in_order:
            end[k] = y_in[k[1]]
            y_in[k[1]] += groups[k]
        x0, x1 = col + node_width / 2, col + 1 - node_width / 2
        xs_edge = x0 + (x1 - x0) * np.linspace(0.0, 1.0, n_curve)
        for k in out_order:
            count = groups[k]
            a, b = start[k], end[k]
            top = a + (b - a) * curve
            bottom = top + count
            xs = np.concatenate([xs_edge, xs_edge[::-1]]).astype(np.float32)
            ys = np.concatenate([top, bottom[::-1]]).astype(np.float32)
            ribbons.append(AlluvialRibbon(col=col, src=k[0], dst=k[1], cls=k[2], path=k[3],
                                          count=count, xs=xs, ys=ys))
    return AlluvialLayout(columns=tuple(columns), nodes=tuple(nodes), ribbons=tuple(ribbons),
                          height=float(height), node_width=node_width)
