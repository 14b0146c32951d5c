"""Files a report needs beside its numbers: the templates folder and BokehJS.

:func:`vendor_bokeh` is the one function here that writes: once per output
folder, the BokehJS files that site-mode reports load by relative path
(``../_bokeh/bokeh-<version>.min.js``). :func:`script_tags` makes the
``<script>`` tags of a page, inlined (standalone) or pointing there.
"""

from __future__ import annotations

import html
import os
import re
import secrets
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import bokeh
from markupsafe import Markup

from sigreport.errors import OutputError
from sigreport.store import BOKEH_DIR, naming

__all__ = ["BOKEH_DIR", "bokeh_files", "inline_vendored_bokeh", "referenced_bokeh",
           "script_tags", "templates_dir", "vendor_bokeh"]

# BokehJS bundles vendored for site mode, by Bokeh's component name.
_COMPONENTS = ("bokeh", "bokeh-gl", "bokeh-widgets", "bokeh-tables", "bokeh-mathjax")


def templates_dir() -> Path:
    """The folder of the Jinja templates: packaged in the wheel, or the repository's."""
    import sigreport

    packaged = Path(sigreport.__file__).parent / "templates"
    if packaged.is_dir():
        return packaged
    return Path(sigreport.__file__).resolve().parent.parent / "templates"


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


_REFERENCE = re.compile(r'<script src="\.\./' + BOKEH_DIR + r'/([A-Za-z0-9._-]+\.js)"></script>')


def referenced_bokeh(page: str) -> set[str]:
    """Names of the vendored BokehJS files a site-mode page loads (``bokeh-3.9.2.min.js``)."""
    return set(_REFERENCE.findall(page))


def inline_vendored_bokeh(page: str, bokeh_dir: Path) -> str:
    """A site-mode ``page`` made self-contained: each BokehJS file it loads from
    ``../_bokeh/`` inlined from ``bokeh_dir``.

    Raises
    ------
    OutputError
        When a file the page loads is not in ``bokeh_dir``.
    """
    def inline(match: re.Match[str]) -> str:
        source = bokeh_dir / match.group(1)
        try:
            return _inline_script(source.read_text("utf-8"))
        except OSError as exc:
            raise OutputError(f"{source} cannot be read ({exc.strerror or exc})") from None

    return _REFERENCE.sub(inline, page)


def vendor_bokeh(out_dir: Path | str, pages: Iterable[str]) -> Path:
    """Copy the BokehJS bundles that ``pages`` load into ``<out_dir>/_bokeh/`` where missing.

    Site-mode reports in ``<out_dir>/<name>/index.html`` load them from
    ``../_bokeh/``; only the bundles some page names are copied (a report of
    plots needs the core bundle, not the widgets, tables, WebGL or MathJax
    ones). Files already present with the right size are left alone; new ones
    are written to a temporary name and renamed, so a concurrent reader never
    sees half a file.

    Returns
    -------
    Path
        The ``_bokeh`` folder.
    """
    folder = Path(out_dir) / BOKEH_DIR
    folder.mkdir(parents=True, exist_ok=True)
    needed = set().union(*(referenced_bokeh(page) for page in pages))
    wanted: dict[str, bytes | Path] = {name: src for name, src in bokeh_files().items()
                                       if name in needed}
    licence = _bokeh_licence()
    if licence:
        wanted[f"LICENSE-bokeh-{bokeh.__version__}.txt"] = licence.encode()
    for name, src in wanted.items():
        dest = folder / name
        size = src.stat().st_size if isinstance(src, Path) else len(src)
        if dest.is_file() and dest.stat().st_size == size:
            continue
        tmp = folder / f".{name}.{secrets.token_hex(4)}"
        # Not mkstemp: its files are 0600, which a web server running as another user
        # cannot read. Created like any other file, the copy follows the umask.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        try:
            with naming(dest), os.fdopen(fd, "wb") as fh:
                if isinstance(src, Path):
                    with open(src, "rb") as fin:
                        shutil.copyfileobj(fin, fh)
                else:
                    fh.write(src)
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
    return folder


def _inline_script(js: str) -> str:
    return "<script>" + js.replace("</script", "<\\/script") + "</script>"


def script_tags(models: list[Any], standalone: bool, bokeh_url: str = f"../{BOKEH_DIR}"
                ) -> Markup:
    """``<script>`` tags that load what ``models`` need: inlined, or from ``bokeh_url``
    (``../_bokeh`` beside a site-mode report)."""
    # Imported here: bokeh.embed brings Bokeh's models, which the site pages do not need.
    from bokeh.embed.bundle import bundle_for_objs_and_resources
    from bokeh.resources import Resources

    if standalone:
        bundle = bundle_for_objs_and_resources(models, Resources(mode="inline"))
        return Markup("\n".join(_inline_script(js) for js in bundle.js_raw))
    bundle = bundle_for_objs_and_resources(models, Resources(mode="server", root_url="/"))
    tags = []
    for url in bundle.js_files:
        stem = str(url.url if hasattr(url, "url") else url).rsplit("/", 1)[-1].split("?")[0]
        component = stem.removesuffix(".min.js").removesuffix(".js")
        src = f"{bokeh_url}/{component}-{bokeh.__version__}.min.js"
        tags.append(f'<script src="{html.escape(src)}"></script>')
    tags += [_inline_script(js) for js in bundle.js_raw]
    return Markup("\n".join(tags))
