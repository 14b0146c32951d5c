"""The report as a Python object: what a notebook holds, and what the CLI's ``run`` writes.

    >>> import sigreport
    >>> rep = sigreport.report("mnist-1-7", overrides=["data.n_per_class=300"])
    >>> rep.metrics["answers"]["separation"]["separation_layer"]   # the numbers
    >>> rep                                                        # the page, in Jupyter
    >>> rep.save("site/reports/mnist-1-7")                         # the folder `run` writes

:func:`report` measures without writing (the same stages, cache and process
setup as ``sigreport run``); the page is rendered when first asked for, once per
mode. :meth:`Report.from_folder` re-opens a saved report folder; from the arrays saved
beside its page (``figures.npz``) it draws the page again, in the other mode or, with
``redraw=True``, with this sigreport's figures, without the network or the data.
"""

from __future__ import annotations

import gc
import html
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from sigreport.analysis.types import Metrics
from sigreport.config import Config, load_config, override_config
from sigreport.errors import OutputError

if TYPE_CHECKING:
    from sigreport.pipeline import Measured

__all__ = ["Report", "prepare_process", "report"]

# The files of a report folder that make a Report (index.html is the page itself).
_FOLDER_FILES = ("metrics.json", "manifest.json", "config.toml", "index.html")
_IFRAME_HEIGHT_PX = 900

_prepared = False


def prepare_process() -> None:
    """Set up this process for runs, once: one malloc arena for every thread, the
    stages imported and set aside from the cycle collector, XLA's compiled programs
    kept in the cache folder. ``sigreport run`` and :func:`report` both call it."""
    global _prepared
    if _prepared:
        return
    from sigreport.monitor import use_one_heap
    from sigreport.store import enable_compilation_cache

    use_one_heap()
    # Modules live as long as the process, and JAX, scikit-learn and Bokeh make hundreds
    # of thousands of objects: a full collection that traverses them all costs about
    # 0.1 s, and a run triggers several. gc.freeze moves them to a generation the
    # collector skips. Importing makes next to no garbage: no collection midway.
    gc.disable()
    try:
        import sigreport.analysis.metrics
        import sigreport.report.render
        import sigreport.signatures
        import sigreport.train  # noqa: F401
    finally:
        gc.enable()
    gc.freeze()
    enable_compilation_cache()
    _prepared = True


def _config_of(source: str | Path | Config | None, overrides: Sequence[str]) -> Config:
    if isinstance(source, Config):
        return override_config(source, tuple(overrides))
    return load_config(None if source is None else str(source), list(overrides))


def report(source: str | Path | Config | None = None, overrides: Sequence[str] = (), *,
           force: bool = False, progress: bool = False,
           log: Callable[[str], None] | None = None) -> Report:
    """Measure an experiment and return its report, writing nothing but the training cache.

    Parameters
    ----------
    source:
        A preset name (``"mnist-1-7"``), the path of a ``.toml`` experiment file, or a
        :class:`~sigreport.Config`; ``None``: the default preset.
    overrides:
        ``KEY=VALUE`` strings, as ``--set`` takes them (``"train.epochs=3"``).
    force:
        Retrain instead of reusing the training cache.
    progress, log:
        A progress display on a terminal; a callable receiving one line per stage.

    Raises
    ------
    SigreportError
        For bad input (config, data) or a training run that diverged.
    """
    config = _config_of(source, overrides)
    from sigreport.data import check_data

    check_data(config.data)  # answered before the stages are imported
    prepare_process()
    from sigreport.pipeline import measure

    measured = measure(config, force=force, progress=progress, log=log or (lambda _m: None))
    return Report(config=config, metrics=measured.metrics, manifest=measured.manifest,
                  _measured=measured)


@dataclass(eq=False)
class Report:
    """One run's report: its numbers, its manifest and its page.

    Attributes
    ----------
    config:
        The resolved experiment.
    metrics:
        Every number the page states (``metrics.json``; schema ``sigreport/metrics.schema.json``).
    manifest:
        Config, seeds, versions, data checksum, timings (``manifest.json``); the report
        stage's time is added once the page is rendered.
    """

    config: Config
    metrics: Metrics
    manifest: dict[str, Any]
    _measured: Measured | None = field(default=None, repr=False)
    # standalone flag -> the folder's files in that mode (index.html, metrics.json, ...)
    _files: dict[bool, dict[str, str | bytes]] = field(default_factory=dict, repr=False)
    _folder: Path | None = field(default=None, repr=False)
    # A saved folder's figures.npz: what its page is drawn again from.
    _arrays: Path | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        title = self.config.title or self.config.name
        where = f", from {self._folder}" if self._folder else ""
        return f"<sigreport.Report {self.config.name!r}: {title}{where}>"

    def _files_in(self, standalone: bool) -> dict[str, str | bytes]:
        if standalone not in self._files:
            if self._measured is not None:
                from sigreport.pipeline import report_files

                self._files[standalone] = report_files(self._measured, standalone=standalone)
                self.manifest = json.loads(self._files[standalone]["manifest.json"])
            elif self._arrays is not None:
                self._files[standalone] = self._drawn_again(self._arrays, standalone)
            else:
                raise OutputError(self._no_arrays())
        return self._files[standalone]

    def _no_arrays(self) -> str:
        folder = self._folder or Path(".")
        return (f"report folder {folder}: figures.npz is missing, so its page cannot be "
                f"drawn again without the run (sigreport run {folder / 'config.toml'})")

    def _drawn_again(self, arrays_file: Path, standalone: bool) -> dict[str, str | bytes]:
        """The folder's files with its page drawn by this sigreport from metrics.json and
        figures.npz (its numbers, config and manifest are the saved ones)."""
        from sigreport.report import render_report
        from sigreport.report.arrays import ARRAYS_FILE, load_arrays

        if "projection" not in self.metrics:
            raise OutputError(f"report folder {self._folder}: its metrics.json predates "
                              "figures.npz (no projection section); run it again")
        packed = _read_bytes(arrays_file)
        files = dict(render_report(self.metrics, self.manifest, load_arrays(arrays_file),
                                   self.config, standalone=standalone))
        files[ARRAYS_FILE] = packed
        files["manifest.json"] = json.dumps(self.manifest, indent=1) + "\n"
        return files

    def to_html(self, standalone: bool = True) -> str:
        """The report page. ``standalone``: BokehJS inlined, one self-contained file;
        otherwise it loads ``../_bokeh/`` beside the report folder (site mode)."""
        page = self._files_in(standalone)["index.html"]
        return page if isinstance(page, str) else page.decode("utf-8")

    def save(self, folder: Path | str, standalone: bool = False) -> Path:
        """Write the report folder ``folder`` (the files ``sigreport run`` writes) atomically:
        an interrupted save leaves any earlier folder as it was. In site mode BokehJS goes
        to ``_bokeh/`` beside it. Returns the path of the page, ``folder/index.html``.

        Raises
        ------
        OutputError
            When ``folder``'s parent cannot be written, or ``folder`` is not a folder.
        """
        from sigreport.pipeline import check_output, write_report

        folder = Path(folder)
        check_output(folder.parent, folder.name, standalone)
        write_report(folder.parent, folder, self._files_in(standalone), standalone)
        if self._folder is None:
            self._folder = folder
        return folder / "index.html"

    def _repr_html_(self) -> str:
        """The standalone page in a sandboxed iframe: its BokehJS cannot meet the notebook's."""
        page = self._self_contained_page()
        return (f'<iframe sandbox="allow-scripts allow-downloads" srcdoc="{html.escape(page)}" '
                f'title="{html.escape(self.config.title or self.config.name)}" '
                f'style="width: 100%; height: {_IFRAME_HEIGHT_PX}px; border: 0;"></iframe>')

    def _self_contained_page(self) -> str:
        if True in self._files or self._measured is not None:
            return self.to_html(standalone=True)
        # A folder saved in site mode: inline the BokehJS files it loads from ../_bokeh/.
        from sigreport.report.assets import inline_vendored_bokeh
        from sigreport.store import BOKEH_DIR

        folder = self._folder or Path(".")
        return inline_vendored_bokeh(self.to_html(standalone=False), folder.parent / BOKEH_DIR)

    @classmethod
    def from_folder(cls, path: Path | str, redraw: bool = False) -> Report:
        """Re-open a report folder that ``sigreport run`` or :meth:`save` wrote.

        Its page is the saved one; the other mode's page (standalone or site mode) is
        drawn from the folder's ``figures.npz``. ``redraw``: every page is drawn again by
        this sigreport from metrics.json and figures.npz, so an archived report gets
        this version's figures without the network or the data.

        Raises
        ------
        OutputError
            When a file of the folder is missing or unreadable, or does not follow its
            schema; with ``redraw``, when it has no readable figures.npz.
        """
        folder = Path(path)
        texts = {}
        for name in _FOLDER_FILES:
            target = folder / name
            if target.is_symlink() or not target.is_file():
                raise OutputError(f"report folder {folder}: {name} is missing "
                                  "(or not a regular file)")
            try:
                texts[name] = target.read_text("utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise OutputError(f"report folder {folder}: {name} cannot be read: {exc}") \
                    from None
        from sigreport.report.site import read_report_json

        metrics = cast(Metrics, read_report_json(folder / "metrics.json", "metrics.schema.json"))
        manifest = read_report_json(folder / "manifest.json", "manifest.schema.json")
        config = load_config(str(folder / "config.toml"))
        from sigreport.report.arrays import ARRAYS_FILE
        from sigreport.report.assets import referenced_bokeh

        standalone = not referenced_bokeh(texts["index.html"])
        files: dict[str, str | bytes] = dict(texts)
        arrays: Path | None = folder / ARRAYS_FILE
        if arrays is not None and arrays.is_file() and not arrays.is_symlink():
            files[ARRAYS_FILE] = _read_bytes(arrays)
        else:
            arrays = None
        rep = cls(config=config, metrics=metrics, manifest=manifest,
                  _files={} if redraw else {standalone: files}, _folder=folder,
                  _arrays=arrays)
        if redraw:
            rep._files_in(standalone)  # fails now, in one line, when it cannot be drawn
        return rep


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise OutputError(f"report folder {path.parent}: {path.name} cannot be read: "
                          f"{exc}") from None
