"""The atlas of a sweep: every run's answers side by side, as heatmaps and tables.

Three steps, like a report: :func:`build_atlas` turns the sweep's index and its
runs' metrics.json into numbers and cells (no I/O), :func:`atlas_figure` draws
one heatmap with Bokeh, :func:`render_atlas` renders the page with Jinja.
:func:`write_atlas_pages` writes ``<docs>/atlas/<sweep>.html`` for every sweep
index found beside the reports; MkDocs copies it to ``public/atlas/``.

Runs that differ only by seed share a cell, which shows their mean and their
range; a run measured once shows its 95% interval where metrics.json has one.
Every cell links to its run's report (the first seed's, with all seeds in the
table under the figure).
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from statistics import median
from typing import Any
from urllib.parse import quote

import numpy as np
from bokeh.core.properties import value as bokeh_value
from bokeh.models import (
    ColorBar,
    ColumnDataSource,
    FixedTicker,
    HoverTool,
    NumeralTickFormatter,
    OpenURL,
    TapTool,
)
from bokeh.palettes import Blues256, RdYlBu11, YlGn9, YlGnBu9, linear_palette
from bokeh.plotting import figure
from bokeh.transform import linear_cmap

from sigreport.report.atlas_metrics import (
    NOT_MEASURED,
    RunMeasures,
    field_name,
    read_measures,
)

__all__ = ["Atlas", "Cell", "Heatmap", "atlas_figure", "build_atlas", "render_atlas",
           "write_atlas_pages"]

ATLAS_DIR = "atlas"
_NAN_COLOR = "#eef0f3"
_NONE_COLOR = "#f4a582"
_FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"


@dataclass(frozen=True)
class Cell:
    """One cell of a heatmap: its place, colour value, text and the reports behind it."""

    row: str
    col: str
    value: float                 # what the colour encodes; nan when nothing was measured
    text: str                    # short, drawn in the cell
    detail: str                  # in full: the hover and the table
    links: tuple[tuple[str, str], ...] = ()   # (label, href) per run, in seed order


@dataclass(frozen=True)
class Heatmap:
    key: str
    title: str
    lead: str
    x_label: str
    y_label: str
    rows: list[str]
    cols: list[str]
    cells: list[Cell]
    palette: tuple[str, ...]
    low: float
    high: float
    legend: list[tuple[str, str]] = field(default_factory=list)
    # A continuous scale's colour bar: its tick format (Bokeh's numeral format, "0%" for
    # shares); None where the legend names every colour.
    bar_format: str | None = None

    def table(self) -> list[tuple[str, list[Cell | None]]]:
        """The heatmap as rows of cells (``None`` where it has no cell), for the page's table."""
        at = {(c.row, c.col): c for c in self.cells}
        return [(r, [at.get((r, c)) for c in self.cols]) for r in self.rows]


@dataclass(frozen=True)
class Atlas:
    name: str
    title: str
    n_runs: int
    n_reports: int
    seeds: list[int]
    axes: list[str]
    heatmaps: list[Heatmap]
    findings: dict[str, Any]
    problems: list[tuple[str, str]]


@dataclass(frozen=True)
class _Member:
    name: str
    seed: int | None
    measures: RunMeasures | None
    href: str | None
    problem: str | None


@dataclass(frozen=True)
class _Group:
    label: str
    pair: tuple[int, int] | None
    members: list[_Member]

    @property
    def measured(self) -> list[tuple[_Member, RunMeasures]]:
        """The members that have measures, each with them."""
        return [(m, m.measures) for m in self.members if m.measures is not None]


def _fmt() -> tuple[Callable[..., str], Callable[..., str]]:
    from sigreport.report.formatters import template_env

    env = template_env()
    return env.filters["pct"], env.filters["num"]


def _short_layer(name: Any) -> str:
    return "none" if name is None else str(name).replace("hidden", "h")


def _group_label(values: dict[str, Any], keys: list[str]) -> str:
    parts = []
    for key in keys:
        v = values.get(key)
        if key == "data.classes" and isinstance(v, list):
            parts.append(" vs ".join(str(c) for c in v))
        else:
            parts.append(f"{key.rsplit('.', 1)[-1]} {json.dumps(v)}")
    return " · ".join(parts) or "all runs"


def _groups(index: dict, metrics: dict[str, dict], report_href: Callable[[str], str]
            ) -> tuple[list[_Group], list[str], list[tuple[str, str]]]:
    """The sweep's runs grouped by every axis but the seed, in the sweep's order."""
    axes = index.get("axes") or {}
    keys = [k for k, v in axes.items() if k != "seed" and isinstance(v, list) and len(v) > 1]
    failed = index.get("failed") or {}
    groups: dict[str, _Group] = {}
    problems = []
    for entry in index["runs"]:
        name, values = str(entry["name"]), entry.get("values") or {}
        label = _group_label(values, keys)
        classes = values.get("data.classes")
        pair = None
        if keys == ["data.classes"] and isinstance(classes, list) and len(classes) == 2:
            first, second = sorted(int(c) for c in classes)
            pair = (first, second)
        m = metrics.get(name)
        problem = None
        if m is None:
            problem = f"failed: {failed[name]}" if name in failed else "not run yet"
            problems.append((name, problem))
        member = _Member(name, values.get("seed"), read_measures(m) if m is not None else None,
                         report_href(name) if m is not None else None, problem)
        groups.setdefault(label, _Group(label, pair, []))
        groups[label].members.append(member)
    return list(groups.values()), keys, problems


def _links(group: _Group) -> tuple[tuple[str, str], ...]:
    many = len(group.members) > 1
    return tuple((f"seed {m.seed}" if many and m.seed is not None else "report", m.href)
                 for m in group.members if m.href)


def _empty_cell(row: str, col: str, group: _Group, what: str) -> Cell:
    """A cell with no number: every run failed or has not run, or none measured ``what``."""
    if not group.measured:
        reasons = sorted({m.problem or "" for m in group.members})
        short = "failed" if any(r.startswith("failed") for r in reasons) else "not run"
        return Cell(row, col, math.nan, short, "; ".join(reasons))
    return Cell(row, col, math.nan, "–", f"not measured (metrics.json has no {what})",
                _links(group))


def _spread(values: list[float], fmt: Callable[[float], str]) -> str:
    return f"mean of {len(values)} seeds; {fmt(min(values))} to {fmt(max(values))}"


def _numeric_cell(row: str, col: str, group: _Group, get: Callable[[RunMeasures], Any],
                  what: str, short: Callable[[float], str], long: Callable[[float], str],
                  interval: Callable[[RunMeasures], Any] = lambda _m: None
                  ) -> tuple[Cell, float | None]:
    """A cell of a number measured per run, and the group's value (mean over seeds)."""
    got = [(r, get(r)) for _, r in group.measured]
    got = [(r, float(v)) for r, v in got if v is not NOT_MEASURED and v is not None]
    values = [v for _, v in got]
    if not values:
        return _empty_cell(row, col, group, what), None
    mean = float(np.mean(values))
    if len(values) > 1:
        detail = f"{long(mean)} ({_spread(values, long)})"
    else:
        ci = interval(got[0][0])
        detail = long(mean) + (f" (95% interval {long(ci[0])} to {long(ci[1])})" if ci else "")
    return Cell(row, col, mean, short(mean), detail, _links(group)), mean


def _detection(measures: RunMeasures, probe: int, what: str) -> Any:
    """One number of the best signature-family detection of ``probe``, as read."""
    best = measures.detection.get(probe)
    return best if best is None or best is NOT_MEASURED else getattr(best, what)


@dataclass(frozen=True)
class _Layout:
    """Where each group sits in the per-group heatmaps: a triangle of pairs, or a column."""

    rows: list[str]
    cols: list[str]
    x_label: str
    y_label: str
    pairs: bool

    @staticmethod
    def of(groups: list[_Group], keys: list[str]) -> _Layout:
        if groups and all(g.pair is not None for g in groups):
            classes = sorted({c for g in groups for c in g.pair or ()})
            return _Layout([str(c) for c in classes[1:]], [str(c) for c in classes[:-1]],
                           "first class", "second class", True)
        return _Layout([g.label for g in groups], ["value"], "", ", ".join(keys) or "runs",
                       False)

    def place(self, group: _Group) -> tuple[str, str]:
        if self.pairs and group.pair is not None:
            return str(group.pair[1]), str(group.pair[0])
        return group.label, "value"


def _separation(groups: list[_Group], layout: _Layout) -> tuple[Heatmap, dict | None]:
    """(a) The separation layer per group: its latest over seeds, "separated from there on in
    every seed"; the range over seeds in the cell's text."""
    n_hidden = max((r.n_hidden for g in groups for _, r in g.measured
                    if isinstance(r.n_hidden, int)), default=0)
    order = lambda t: math.inf if t[1] is None else t[1]  # noqa: E731 -- "none" is last
    cells, latest_index = [], {}
    for g in groups:
        row, col = layout.place(g)
        got = [(m, r.separation_layer_index, r.separation_layer)
               for m, r in g.measured if r.separation_layer_index is not NOT_MEASURED]
        if not got:
            cells.append(_empty_cell(row, col, g, field_name("separation_layer_index")))
            continue
        earliest, latest = min(got, key=order), max(got, key=order)
        text = (_short_layer(latest[2]) if earliest[1] == latest[1]
                else f"{_short_layer(earliest[2])}–{_short_layer(latest[2])}")
        detail = (", ".join(f"seed {m.seed}: {name or 'none'}" for m, _, name in got)
                  if len(got) > 1 else str(got[0][2] or "no hidden layer beats both controls"))
        latest_index[g.label] = latest[1]
        value = float(n_hidden + 1 if latest[1] is None else latest[1])
        cells.append(Cell(row, col, value, text, detail, _links(g)))
    # Blues from mid to light: an early layer dark, the last light; black text stays legible.
    palette = tuple(linear_palette(Blues256[80:221], n_hidden)) if n_hidden else ()
    heatmap = Heatmap(
        "separation", "Separation layer",
        "The first hidden layer whose trained network tells the classes apart beyond both "
        "controls (the input, the untrained network) and their 95% intervals.",
        layout.x_label, layout.y_label, layout.rows, layout.cols, cells,
        (*palette, _NONE_COLOR), 0.5, n_hidden + 1.5,
        legend=[(c, f"hidden{i}") for i, c in enumerate(palette, 1)]
        + [(_NONE_COLOR, "none"), (_NAN_COLOR, "not measured")])
    return heatmap, _separation_findings(groups, latest_index, n_hidden)


def _per_group(groups: list[_Group], layout: _Layout, key: str, title: str, lead: str,
               get: Callable[[RunMeasures], Any], what: str,
               interval: Callable[[RunMeasures], Any], palette: tuple[str, ...]
               ) -> tuple[Heatmap, dict | None]:
    """(b), (d): a share measured per run, one cell per group, in percent."""
    pct, _ = _fmt()
    cells, per_group = [], {}
    for g in groups:
        row, col = layout.place(g)
        cell, v = _numeric_cell(row, col, g, get, what, lambda x: pct(x, 1).rstrip("%"),
                                lambda x: pct(x, 2), interval)
        cells.append(cell)
        if v is not None:
            per_group[g.label] = v
    # A share's colour means the same in every atlas: 0 to 100%, not the range measured.
    return (Heatmap(key, title, lead + " Cells show percent.", layout.x_label, layout.y_label,
                    layout.rows, layout.cols, cells, palette, 0.0, 1.0, bar_format="0%"),
            _extremes(per_group))


def _detection_heatmap(groups: list[_Group]) -> tuple[Heatmap, list[dict]]:
    """(c) The best signature-family AUROC per (group, unseen class)."""
    _, num = _fmt()
    probes = sorted({p for g in groups for _, r in g.measured for p in r.probe_classes})
    cells: list[Cell] = []
    per_probe: dict[int, list[tuple[str, float]]] = {}
    for g in groups:
        for p in probes:
            # A group without a report gets a cell wherever its classes leave room for it.
            if (not any(p in r.probe_classes for _, r in g.measured)
                    and (g.measured or p in (g.pair or ()))):
                continue
            cell, v = _numeric_cell(
                g.label, str(p), g, partial(_detection, probe=p, what="auroc"),
                f"{field_name('ood')}[] rows with a family", lambda x: num(x, 2).removeprefix("0"),
                lambda x: num(x, 3), partial(_detection, probe=p, what="auroc_ci"))
            cells.append(cell)
            if v is not None:
                per_probe.setdefault(p, []).append((g.label, v))
    heatmap = Heatmap(
        "detection", "Detecting each unseen class",
        "The best AUROC of the signature family (scores from hidden-layer clusters, "
        "boundaries and paths only) for telling each unseen class from the trained ones; "
        "0.5 is chance.", "unseen class", "trained on", [g.label for g in groups],
        [str(p) for p in probes], cells, tuple(RdYlBu11[2:-2][::-1]), 0.5, 1.0,
        bar_format="0.00")
    # Hardest first: the lowest mean over the groups probed with it.
    means = {p: float(np.mean([v for _, v in got])) for p, got in per_probe.items()}
    findings = [{"probe": p, "mean": means[p], "n": len(got),
                 "worst": min(got, key=lambda t: t[1])}
                for p, got in sorted(per_probe.items(), key=lambda item: means[item[0]])]
    return heatmap, findings


def build_atlas(index: dict, metrics: dict[str, dict],
                report_href: Callable[[str], str] = lambda n: f"../reports/{quote(n)}/index.html"
                ) -> Atlas:
    """The atlas of one sweep, from its index and its runs' metrics.json.

    Parameters
    ----------
    index:
        The sweep index (``name``, ``title``, ``axes``, ``runs``: ``[{name, values}]``,
        ``failed``: ``{name: reason}``).
    metrics:
        Run name -> metrics.json (a dict) of every run that has a report.
    report_href:
        Run name -> the link of its report, relative to the atlas page.
    """
    groups, keys, problems = _groups(index, metrics, report_href)
    layout = _Layout.of(groups, keys)
    findings: dict[str, Any] = {"pairs": layout.pairs, "n_groups": len(groups)}
    separation, findings["separation"] = _separation(groups, layout)
    accuracy, findings["accuracy"] = _per_group(
        groups, layout, "accuracy", "Test accuracy",
        "The share of test images classified correctly.", lambda r: r.test_accuracy,
        field_name("test_accuracy"), lambda r: r.test_accuracy_ci, tuple(YlGnBu9[4:][::-1]))
    detection, findings["detection"] = _detection_heatmap(groups)
    specific, findings["specific"] = _per_group(
        groups, layout, "specific", "Images on specific paths",
        "The share of the trained classes' test images whose path is specific (taken mostly "
        "by one class, with enough support).", lambda r: r.specific_share,
        field_name("specific_share"), lambda _r: None, tuple(YlGn9[3:][::-1]))
    seeds = sorted({m.seed for g in groups for m in g.members if m.seed is not None})
    return Atlas(str(index["name"]), str(index.get("title") or index["name"]),
                 sum(len(g.members) for g in groups), sum(len(g.measured) for g in groups),
                 seeds, keys, [separation, accuracy, detection, specific], findings, problems)


def _extremes(per_group: dict[str, float], n_low: int = 3) -> dict[str, Any] | None:
    if not per_group:
        return None
    ranked = sorted(per_group.items(), key=lambda kv: kv[1])
    return {"n": len(ranked), "median": median(per_group.values()),
            "lowest": ranked[:min(n_low, len(ranked) - 1)],
            "highest": ranked[-1]}


def _separation_findings(groups: list[_Group], sep: dict[str, Any], n_hidden: int
                         ) -> dict[str, Any] | None:
    if not sep:
        return None
    by_layer = []
    for i in range(1, n_hidden + 1):
        labels = [g.label for g in groups if sep.get(g.label, -1) == i]
        if labels:
            by_layer.append((f"hidden{i}", labels))
    none = [g.label for g in groups if g.label in sep and sep[g.label] is None]
    late = [g.label for g in groups if g.label in sep
            and (sep[g.label] is None or sep[g.label] >= n_hidden)]
    return {"n": len(sep), "by_layer": by_layer, "none": none, "late": late,
            "n_hidden": n_hidden, "last": f"hidden{n_hidden}"}


# --- figures ----------------------------------------------------------------------------


def atlas_figure(heatmap: Heatmap, cell_px: int | None = None):
    """One heatmap: a coloured, labelled rectangle per cell; a click opens the cell's report."""
    from sigreport.report.figures.style import fit, no_grid

    wide = len(heatmap.cols) > 1 and heatmap.key != "detection"
    cw = cell_px or (42 if wide else 40 if heatmap.key == "detection" else 64)
    ch = 34 if wide else 20 if len(heatmap.rows) > 20 else 26
    label_w = max((len(r) for r in heatmap.rows), default=4) * 7 + 40
    data: dict[str, list[Any] | np.ndarray] = {
            "x": [c.col for c in heatmap.cells], "y": [c.row for c in heatmap.cells],
            "value": np.asarray([c.value for c in heatmap.cells], dtype=np.float64),
            "text": [c.text for c in heatmap.cells], "detail": [c.detail for c in heatmap.cells],
            "href": [c.links[0][1] if c.links else "" for c in heatmap.cells]}
    linked = ColumnDataSource({k: [v for v, h in zip(vals, data["href"]) if h]
                               for k, vals in data.items()})
    unlinked = ColumnDataSource({k: [v for v, h in zip(vals, data["href"]) if not h]
                                 for k, vals in data.items()})
    bar_w = 64 if heatmap.bar_format else 0
    fig = figure(x_range=list(heatmap.cols), y_range=list(reversed(heatmap.rows)),
                 width=max(260, label_w + cw * len(heatmap.cols) + 30 + bar_w),
                 height=60 + ch * len(heatmap.rows), tools="", toolbar_location=None,
                 name=f"atlas-{heatmap.key}", min_border_right=20)
    # Narrower than its width (a phone), the heatmap shrinks with its card: cells narrow,
    # the text keeps its size.
    fit(fig)
    no_grid(fig)
    fig.axis.axis_line_color = None
    fig.axis.major_tick_line_color = None
    fig.xaxis.axis_label = heatmap.x_label or None
    fig.yaxis.axis_label = heatmap.y_label or None
    if heatmap.cols == ["value"]:
        fig.xaxis.visible = False
    fig.xaxis.major_label_text_font_size = "10px"
    fig.yaxis.major_label_text_font_size = "10px"
    fill = linear_cmap("value", list(heatmap.palette), heatmap.low, heatmap.high,
                       nan_color=_NAN_COLOR)
    if heatmap.bar_format:
        fig.add_layout(ColorBar(
            color_mapper=fill.transform, width=10, padding=4, margin=6,
            # Both ends and the middle labelled: the bar is as short as two rows of cells.
            ticker=FixedTicker(ticks=[heatmap.low, (heatmap.low + heatmap.high) / 2,
                                      heatmap.high]),
            formatter=NumeralTickFormatter(format=heatmap.bar_format),
            major_label_text_font_size="10px", major_tick_line_color=None,
            bar_line_color=None, name=f"atlas-{heatmap.key}-scale"), "right")
    renderers = []
    for source, name in ((linked, f"atlas-{heatmap.key}-linked"),
                         (unlinked, f"atlas-{heatmap.key}-plain")):
        r = fig.rect("x", "y", 0.94, 0.9, source=source, fill_color=fill, line_color=None,
                     name=name)
        fig.text("x", "y", text="text", source=source, text_align="center",
                 text_baseline="middle", text_font_size="10px", text_color="#1f2328",
                 text_font=bokeh_value(_FONT))
        renderers.append(r)
    fig.add_tools(HoverTool(renderers=renderers, tooltips=[
        (heatmap.y_label or "run", "@y"), *([(heatmap.x_label, "@x")] if heatmap.x_label else []),
        (heatmap.title.lower(), "@detail")]))
    fig.add_tools(TapTool(renderers=renderers[:1], callback=OpenURL(url="@href", same_tab=True)))
    return fig


# --- page ---------------------------------------------------------------------------------


def render_atlas(atlas: Atlas, bokeh_url: str = "../reports/_bokeh") -> str:
    """The atlas page (HTML); BokehJS loads from ``bokeh_url``."""
    import bokeh
    from bokeh.document import Document
    from bokeh.embed import components
    from markupsafe import Markup

    from sigreport.report.assets import script_tags
    from sigreport.report.figures.style import THEME
    from sigreport.report.formatters import template_env

    figs = {h.key: atlas_figure(h) for h in atlas.heatmaps}
    doc = Document(theme=THEME)
    with doc.models.freeze():
        for fig in figs.values():
            doc.add_root(fig)
    script, divs = components(figs)
    fields = {"separation": field_name("separation_layer_index"),
              "accuracy": field_name("test_accuracy"), "detection": field_name("ood"),
              "specific": field_name("specific_share")}
    return template_env().get_template("site/atlas.html.j2").render(
        atlas=atlas, fields=fields, bokeh_js=script_tags([doc], False, bokeh_url=bokeh_url),
        bokeh_script=Markup(script), div={k: Markup(v) for k, v in divs.items()},
        bokeh_version=bokeh.__version__)


def write_atlas_pages(reports_dir: Path | str, metrics: dict[str, dict],
                      docs_dir: Path | str,
                      warn: Callable[[str], None] = lambda _msg: None) -> list[dict[str, Any]]:
    """Write ``<docs_dir>/atlas/<sweep>.html`` for every sweep index in ``<reports_dir>/_sweeps``.

    Parameters
    ----------
    metrics:
        Run name -> metrics.json of every report the site publishes.
    warn:
        Receives one line, naming the file, per index that is skipped (not JSON, or
        not following ``sweep-index.schema.json``).

    Returns
    -------
    list of dict
        Per atlas: ``name``, ``title``, ``href`` (relative to the site root),
        ``n_runs``, ``n_reports``; for the home page.
    """
    from sigreport.checks import is_folder_name
    from sigreport.report.sweep_index import SWEEPS_DIR, read_sweep_index
    from sigreport.store import naming

    target = Path(docs_dir) / ATLAS_DIR
    if target.exists():
        shutil.rmtree(target)
    out = []
    folder = Path(reports_dir) / SWEEPS_DIR
    paths = sorted(folder.glob("*.json")) if folder.is_dir() and not folder.is_symlink() else []
    for path in paths:
        if path.is_symlink() or not is_folder_name(path.stem):
            continue
        try:
            index = read_sweep_index(path)
        except ValueError as exc:
            warn(f"{exc}; its atlas page is left out")
            continue
        index["name"] = path.stem
        atlas = build_atlas(index, {n: metrics[n] for n in
                                    (str(r.get("name")) for r in index["runs"]) if n in metrics})
        target.mkdir(parents=True, exist_ok=True)
        with naming(target / f"{path.stem}.html"):
            (target / f"{path.stem}.html").write_text(render_atlas(atlas), encoding="utf-8")
        out.append({"name": atlas.name, "title": atlas.title,
                    "href": f"{ATLAS_DIR}/{quote(path.stem)}.html",
                    "n_runs": atlas.n_runs, "n_reports": atlas.n_reports})
    return out
