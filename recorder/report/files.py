"""Charts as files that open with no network: PNG and SVG rendered by vl-convert, and HTML with
Vega, Vega-Lite and vega-embed inlined.

Bundling the JavaScript takes vl-convert several seconds, so the bundle is cached on disk per
vl-convert version (in recorder.cache_dir's folder); only the first interactive file a machine
writes pays for it.
"""

from __future__ import annotations

import html
import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

import altair as alt

from recorder.cache_dir import cache_root

FORMATS = ("html", "png", "svg")


class UnknownFormat(ValueError):
    """A file name whose extension is none of .html, .png, .svg."""


def chart_spec(chart: alt.TopLevelMixin | dict[str, Any]) -> dict[str, Any]:
    # Charts are built by our own code from typed results: validating them against the
    # Vega-Lite JSON schema costs ~0.2 s each and finds nothing, so the tests do it instead.
    return chart if isinstance(chart, dict) else chart.to_dict(validate=False)


def chart_svg(chart: alt.TopLevelMixin | dict[str, Any]) -> str:
    """The chart as an SVG document (static: no script, no tooltips)."""
    import vl_convert

    return vl_convert.vegalite_to_svg(chart_spec(chart), vl_version=_vl_version())


def chart_png(chart: alt.TopLevelMixin | dict[str, Any], *, scale: float = 2.0) -> bytes:
    """The chart as PNG bytes, `scale` times the SVG's size (2: sharp on high-density screens)."""
    import vl_convert

    return vl_convert.vegalite_to_png(chart_spec(chart), vl_version=_vl_version(), scale=scale)


def chart_html(chart: alt.TopLevelMixin | dict[str, Any], *, title: str = "recorder chart") -> str:
    """One HTML page showing the chart interactively (tooltips), its JavaScript inlined."""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title>\n"
        f"<script>{javascript_bundle()}</script>\n"
        "<style>body{font-family:system-ui,sans-serif;margin:16px}</style></head>\n"
        f"<body>\n<div class=\"vega-chart\" id=\"chart\"></div>\n"
        f"<script>{embed_script('chart', chart_spec(chart))}</script>\n</body></html>\n"
    )


def embed_script(element_id: str, spec: dict[str, Any]) -> str:
    """JavaScript that draws `spec` into the element, reporting a failure on the console and page."""
    data = json.dumps(spec, separators=(",", ":")).replace("</", "<\\/")
    target = json.dumps("#" + element_id)
    return (
        f"vegaEmbed({target}, {data}, {{actions: false, renderer: 'svg'}})"
        f".catch(function (e) {{ console.error(e); document.querySelector({target}).textContent = String(e); }});"
    )


def warm_up() -> threading.Thread:
    """Start vl-convert's JavaScript engine in the background (its first use costs ~2 s), so it
    overlaps with the database work that precedes the first chart."""
    import vl_convert

    def run() -> None:
        try:
            vl_convert.vegalite_to_svg({"mark": "point"}, vl_version=_vl_version())
        except Exception:  # noqa: BLE001 - a warm-up must never fail the caller; the real call reports
            pass

    thread = threading.Thread(target=run, name="vl-convert-warm-up", daemon=True)
    thread.start()
    return thread


def save_chart(chart: alt.TopLevelMixin | dict[str, Any], path: str | Path, *, scale: float = 2.0, title: str | None = None) -> Path:
    """Write the chart to `path`; its extension picks the format (.html, .png or .svg)."""
    target = Path(path)
    kind = target.suffix.lower().lstrip(".")
    if kind not in FORMATS:
        raise UnknownFormat(f"{target.name}: write .html, .png or .svg")
    target.parent.mkdir(parents=True, exist_ok=True)
    if kind == "png":
        target.write_bytes(chart_png(chart, scale=scale))
    elif kind == "svg":
        target.write_text(chart_svg(chart), encoding="utf-8")
    else:
        target.write_text(chart_html(chart, title=title or target.stem), encoding="utf-8")
    return target


def javascript_bundle() -> str:
    """Vega + Vega-Lite + vega-embed as one script defining `vegaEmbed` (cached on disk)."""
    import vl_convert

    cache = cache_root() / f"vega-bundle-{vl_convert.__version__}-vl{_vl_version()}.js"
    if cache.is_file():
        return cache.read_text(encoding="utf-8")
    bundle = vl_convert.javascript_bundle(vl_version=_vl_version()).replace("</script", "<\\/script")
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=cache.parent, delete=False, suffix=".tmp", encoding="utf-8") as out:
            out.write(bundle)
        os.replace(out.name, cache)  # atomic: a concurrent reader never sees half a bundle
    except OSError:
        pass  # an unwritable cache only costs time
    return bundle


def _vl_version() -> str:
    """The Vega-Lite version altair writes specs for (e.g. "6.4"), so vl-convert reads them alike."""
    return ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])

