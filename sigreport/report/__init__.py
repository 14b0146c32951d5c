"""Reports and site: metrics and arrays -> Bokeh figures -> Jinja HTML -> MkDocs site.

``render_report`` returns a run's report files; ``vendor_bokeh`` puts BokehJS
beside site-mode reports; ``build_site`` generates the site pages and runs
MkDocs. Each is imported when first used: Bokeh's models take a good part of a
second to import, which checking a projection or building a site does not need.
"""

import sys
import types
from importlib import import_module

__all__ = ["build_site", "check_projection", "render_report", "vendor_bokeh"]

_HOME = {"build_site": "site", "check_projection": "projection", "render_report": "render",
         "vendor_bokeh": "assets"}


def __getattr__(name: str):
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{_HOME[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


class _CallablePackage(types.ModuleType):
    """``sigreport.report(source, overrides)`` measures an experiment and returns its
    :class:`~sigreport.library.Report`: the package that renders reports is callable
    as the library's entry point, so the name means the same whether or not the
    package was imported first (the import system sets it on ``sigreport``)."""

    def __call__(self, *args, **kwargs):
        from sigreport.library import report

        return report(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
