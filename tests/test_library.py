"""The library surface: sigreport.report -> Report (metrics, to_html, save, from_folder,
_repr_html_), on the tiny run that the CLI test writes."""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TINY_OVERRIDES

import sigreport
from sigreport.errors import ConfigError, OutputError

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def tiny_report(tiny_run: Path) -> sigreport.Report:
    """The tiny run measured again through the library (its network from the run's cache)."""
    rep = sigreport.report("mnist-1-7", overrides=TINY_OVERRIDES)
    assert rep.manifest["cache_hits"] == {"train_seed_0": True}
    return rep


def test_report_holds_the_numbers_the_cli_wrote(tiny_report, tiny_run):
    written = (tiny_run / "tiny" / "metrics.json").read_text("utf-8")
    assert json.dumps(tiny_report.metrics, indent=1) + "\n" == written
    assert tiny_report.config.name == "tiny"
    assert tiny_report.manifest["config"] == json.loads(
        (tiny_run / "tiny" / "manifest.json").read_text("utf-8"))["config"]


def test_save_writes_the_files_of_run(tiny_report, tiny_run, tmp_path):
    page = tiny_report.save(tmp_path / "reports" / "again")
    assert page == tmp_path / "reports" / "again" / "index.html"
    ran = tiny_run / "tiny"
    saved = page.parent
    assert sorted(p.name for p in saved.iterdir()) == sorted(p.name for p in ran.iterdir())
    for name in ("metrics.json", "config.toml"):
        assert (saved / name).read_bytes() == (ran / name).read_bytes(), name
    # site mode: BokehJS beside the folder, as run puts it
    assert sorted(p.name for p in (saved.parent / "_bokeh").iterdir()) == sorted(
        p.name for p in (tiny_run / "_bokeh").iterdir())


def test_save_from_folder_to_html_gives_the_same_page(tiny_report, tmp_path):
    for standalone in (False, True):
        folder = tmp_path / f"standalone-{standalone}"
        tiny_report.save(folder, standalone=standalone)
        again = sigreport.Report.from_folder(folder)
        assert again.to_html(standalone=standalone) == tiny_report.to_html(standalone=standalone)
        assert again.to_html(standalone=standalone) == (folder / "index.html").read_text("utf-8")
        assert again.metrics == tiny_report.metrics and again.config == tiny_report.config
        assert again.manifest == json.loads((folder / "manifest.json").read_text("utf-8"))


def test_the_standalone_page_carries_bokehjs(tiny_report):
    page = tiny_report.to_html(standalone=True)
    assert '<script src="../_bokeh/' not in page
    assert "Bokeh" in page and len(page) > len(tiny_report.to_html(standalone=False)) + 500_000


def test_repr_html_is_a_sandboxed_iframe_of_the_standalone_page(tiny_report):
    shown = tiny_report._repr_html_()
    match = re.fullmatch(r'<iframe sandbox="allow-scripts allow-downloads" srcdoc="([^"]*)" '
                         r'title="([^"]*)" style="[^"]*"></iframe>', shown)
    assert match, shown[:300]
    assert html.unescape(match.group(1)) == tiny_report.to_html(standalone=True)
    assert html.unescape(match.group(2)) == tiny_report.config.title


def _same_drawing(page: str) -> str:
    """A page less what differs between two drawings of the same numbers: Bokeh's ids and
    the report stage's own time (and the total it is part of)."""
    page = re.sub(r"\bp\d{4,}\b", "ID", page)
    page = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "UUID", page)
    return re.sub(r"report [\d.]+ s \(total [\d.]+ s", "report T s (total T s", page)


def test_a_site_mode_folder_shows_inline_and_draws_the_other_mode(tiny_report, tmp_path):
    folder = tmp_path / "reports" / "tiny"
    tiny_report.save(folder)
    again = sigreport.Report.from_folder(folder)
    srcdoc = html.unescape(re.search(r'srcdoc="([^"]*)"', again._repr_html_()).group(1))
    assert '<script src="../_bokeh/' not in srcdoc and len(srcdoc) > 1_000_000
    # The standalone page is drawn from metrics.json and figures.npz: the run's own page.
    drawn = again.to_html(standalone=True)
    assert _same_drawing(drawn) == _same_drawing(tiny_report.to_html(standalone=True))
    assert drawn != tiny_report.to_html(standalone=True)  # drawn again, not copied


def test_redraw_draws_an_archived_report_again_without_the_run(tiny_report, tmp_path):
    folder = tmp_path / "archive" / "tiny"
    tiny_report.save(folder)
    saved = {p.name: p.read_bytes() for p in folder.iterdir()}
    again = sigreport.Report.from_folder(folder, redraw=True)
    page = again.to_html(standalone=False)
    assert page != saved["index.html"].decode("utf-8")
    assert _same_drawing(page) == _same_drawing(saved["index.html"].decode("utf-8"))
    # Saved elsewhere: the same files, figures.npz and the numbers byte for byte.
    out = again.save(tmp_path / "elsewhere" / "tiny").parent
    assert sorted(p.name for p in out.iterdir()) == sorted(saved)
    for name in ("metrics.json", "config.toml", "figures.npz", "manifest.json"):
        assert (out / name).read_bytes() == saved[name], name
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == saved  # the archive untouched


def test_redraw_names_a_missing_or_broken_figures_file(tiny_report, tmp_path):
    folder = tmp_path / "no-arrays"
    tiny_report.save(folder, standalone=True)
    (folder / "figures.npz").write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(OutputError, match=r"figures.npz: not a readable figures file"):
        sigreport.Report.from_folder(folder, redraw=True)
    (folder / "figures.npz").unlink()
    with pytest.raises(OutputError, match=r"figures.npz is missing, so its page cannot be drawn"):
        sigreport.Report.from_folder(folder, redraw=True)
    # Without it the saved page still opens; the other mode cannot be drawn.
    again = sigreport.Report.from_folder(folder)
    assert again.to_html(standalone=True) == (folder / "index.html").read_text("utf-8")
    with pytest.raises(OutputError, match=r"figures.npz is missing"):
        again.to_html(standalone=False)


def test_figures_file_holds_the_arrays_it_was_made_from(tiny_stages):
    import dataclasses

    import numpy as np

    from sigreport.report.arrays import arrays_bytes, load_arrays

    made = tiny_stages.arrays
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"figures-{os.getpid()}.npz"
    path.write_bytes(arrays_bytes(made))
    try:
        read = load_arrays(path)
    finally:
        path.unlink()

    def plain(value):
        if dataclasses.is_dataclass(value):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, np.ndarray):
            return (str(value.dtype), value.shape, value.tobytes())
        return value

    assert plain(read) == plain(made)
    assert made.exemplars and made.test.images is not None and made.train.images is None


def test_from_folder_names_a_missing_or_malformed_file(tiny_report, tmp_path):
    folder = tmp_path / "broken"
    tiny_report.save(folder, standalone=True)
    (folder / "manifest.json").unlink()
    with pytest.raises(OutputError, match=r"manifest.json is missing"):
        sigreport.Report.from_folder(folder)
    tiny_report.save(folder, standalone=True)
    metrics = json.loads((folder / "metrics.json").read_text("utf-8"))
    metrics["model"]["test_accuracy"] = "abc"
    (folder / "metrics.json").write_text(json.dumps(metrics), "utf-8")
    with pytest.raises(OutputError, match=r"metrics.json does not follow metrics.schema.json"):
        sigreport.Report.from_folder(folder)


def test_bad_overrides_raise_before_any_work():
    with pytest.raises(ConfigError, match=r"^train.epochs = 0: expected an integer >= 1$"):
        sigreport.report("mnist-1-7", overrides=["train.epochs=0"])
    config = sigreport.load_config("mnist-1-7")
    with pytest.raises(ConfigError, match=r"^data.classes = \[1\]: expected at least two"):
        sigreport.report(config, overrides=["data.classes=[1]"])


def test_report_names_the_library_and_the_renderer_alike():
    import sigreport.report.render  # noqa: F401  (the package import sets sigreport.report)
    from sigreport import report

    assert report is sigreport.report and callable(report)
    assert sigreport.report.render.render_report is not None


def _guide_example() -> str:
    text = (REPO / "site" / "python-api.md").read_text("utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks, "the guide has a Python example"
    return blocks[0]


@pytest.mark.slow
def test_the_python_guide_example_runs(tmp_path):
    proc = subprocess.run([sys.executable, "-c", _guide_example()], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "reports" / "mnist-1-7-small" / "index.html").is_file()
    assert proc.stdout.strip(), "the example prints its answer"
