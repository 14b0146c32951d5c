"""Reports and site: metrics and arrays -> Bokeh figures -> Jinja HTML -> MkDocs site.

``render_report`` returns a run's report files; ``vendor_bokeh`` puts BokehJS
beside site-mode reports; ``build_site`` generates the site pages and runs
MkDocs.
"""

from sigreport.report.assets import vendor_bokeh
from sigreport.report.projection import check_projection
from sigreport.report.render import render_report
from sigreport.report.site import build_site

__all__ = ["build_site", "check_projection", "render_report", "vendor_bokeh"]
