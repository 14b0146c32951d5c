"""The report page embeds its figures through Bokeh internals: pinned to the releases checked."""

from __future__ import annotations

import json
import re

import bokeh

from sigreport.report.render import BOKEH_CHECKED


def test_bokeh_is_a_release_the_embedding_was_checked_against():
    minor = ".".join(bokeh.__version__.split(".")[:2])
    assert minor in BOKEH_CHECKED, (
        f"Bokeh {bokeh.__version__} is installed, but sigreport/report/render.py's _embed "
        f"was checked against Bokeh {', '.join(BOKEH_CHECKED)} only: it uses bokeh.embed.util."
        "RenderItem, bokeh.core.json_encoder.serialize_json and bokeh.util.serialization's "
        "id helpers. Check that the report's figures still draw (tests/test_browser.py), "
        "then add the release to BOKEH_CHECKED.")


def test_the_embedded_payload_has_the_shape_bokehjs_embeds(tiny_run):
    """What report.js hands to Bokeh.embed.embed_items: docs_json and render_items whose
    roots name the page's placeholders."""
    page = (tiny_run / "tiny" / "index.html").read_text("utf-8")
    payloads = re.findall(r'<script type="application/json" class="bk-figures" '
                          r'data-roots="([^"]*)">(.*?)</script>', page, re.S)
    assert payloads
    for roots, text in payloads:
        payload = json.loads(text)
        assert set(payload) == {"docs_json", "render_items"}
        (docid, doc), = payload["docs_json"].items()
        assert doc["version"] == bokeh.__version__ and doc["roots"]
        (item,) = payload["render_items"]
        assert item["docid"] == docid
        assert sorted(item["roots"].values()) == sorted(roots.split())
        for element_id in roots.split():
            assert f'id="{element_id}"' in page
