"""The alluvial layout: counts against a naive count, node order, and no Bokeh."""

from __future__ import annotations

import itertools
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

from sigreport.report.alluvial_layout import layout_alluvial


def test_alluvial_counts_match_a_naive_count():
    """An oracle check against naive counting."""
    rng = np.random.default_rng(1)
    n = 300
    y = rng.choice([1, 7, 3], size=n)
    hidden = rng.integers(-1, 4, size=(n, 2))
    pred = np.where(rng.random(n) < 0.8, np.where(y == 3, 7, y), 1)
    ids = np.column_stack([y, hidden, pred])
    labels = np.where(rng.random(n) < 0.3, "A", "")
    layout = layout_alluvial(ids, y, [1, 7, 3], ["class", "h1", "h2", "prediction"], labels)

    for node in layout.nodes:
        naive = sum(1 for i in range(n) if ids[i, node.col] == node.key)
        assert node.count == naive
        assert node.y1 - node.y0 == pytest.approx(naive)
        by_class = Counter(int(y[i]) for i in range(n) if ids[i, node.col] == node.key)
        assert dict(node.by_class) == dict(by_class)
    for col in range(3):
        flows = Counter()
        for r in layout.ribbons:
            if r.col == col:
                flows[(r.src, r.dst, r.cls)] += r.count
        naive = Counter((int(ids[i, col]), int(ids[i, col + 1]), int(y[i])) for i in range(n))
        assert flows == naive
    # Ribbons leave and enter each node without overlapping: they tile it exactly.
    for node in layout.nodes:
        col, key = node.col, node.key
        if col < 3:
            tops = sorted((r.ys[0], r.ys[0] + r.count) for r in layout.ribbons
                          if r.col == col and r.src == key)
            assert tops[0][0] == pytest.approx(node.y0)
            for (_a0, a1), (b0, _b1) in itertools.pairwise(tops):
                assert a1 == pytest.approx(b0)
            assert tops[-1][1] == pytest.approx(node.y1)
    # Noise (-1) sits at the bottom of its column.
    for col in (1, 2):
        nodes = layout.column_nodes(col)
        assert max(nodes, key=lambda nd: nd.y0).key == -1


def test_alluvial_first_and_last_columns_follow_the_class_order():
    y = np.array([7, 1, 3, 1, 7, 3])
    ids = np.column_stack([y, [0, 1, 0, 1, 0, 2], np.where(y == 3, 7, y)])
    layout = layout_alluvial(ids, y, [1, 7, 3], ["class", "h1", "prediction"])
    first = [nd.key for nd in sorted(layout.nodes, key=lambda nd: nd.y0) if nd.col == 0]
    last = [nd.key for nd in sorted(layout.nodes, key=lambda nd: nd.y0) if nd.col == 2]
    assert first == [1, 7, 3] and last == [1, 7]


def test_alluvial_layout_is_frozen_numbers_without_bokeh():
    code = ("import sys; import sigreport.report.alluvial_layout as a; "
            "print(any(m == 'bokeh' or m.startswith('bokeh.') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    y = np.array([1, 7, 1])
    layout = layout_alluvial(np.column_stack([y, [0, 0, 1], y]), y, [1, 7],
                             ["class", "h1", "prediction"])
    with pytest.raises(AttributeError):
        layout.nodes[0].count = 5  # type: ignore[misc]
    assert [nd.key for nd in layout.column_nodes(0)] == [1, 7]
    assert layout.column_nodes(0)[0].by_count() == [(1, 2)]
