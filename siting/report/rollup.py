"""The map of a batch: every area's outline with its headline numbers (``rollup.html``).

One polygon and a dot per finished area (its study area), coloured by the share of people served,
with a popup of the same numbers as ``rollup.csv``; the areas that failed or ran out of
time have no outline and are listed in a panel with their error. Names and errors come
from the areas table and the runs: every one goes through :func:`~siting.report.markup.esc`.
"""

from __future__ import annotations

import math

import folium
import geopandas as gpd
import pandas as pd

from siting.report.basemap import tile_basemaps
from siting.report.i18n import check_lang, label
from siting.report.markup import esc, legend_html, map_page, swatch
from siting.report.webmap import OfflineMap

# share of people served → colour (at least the bin's lower edge)
SHARE_COLOURS = ((0.9, "#1a9850"), (0.75, "#91cf60"), (0.5, "#fee08b"), (0.0, "#fc8d59"))
_LABELS = {  # the batch's own words (the headline numbers use siting.report.i18n's)
    "title": ("批量规划汇总", "Batch roll-up"),
    "area": ("片区", "Area"),
    "state": ("状态", "State"),
    "not_mapped": ("未完成的片区", "Areas without a plan"),
    "done": ("完成", "done"), "failed": ("失败", "failed"), "timeout": ("超时", "timeout"),
}
_NUMBERS = ("total_population", "covered_population", "covered_share", "n_sites_chosen",
            "cost_total", "status", "mip_gap", "runtime_s")


def rollup_map(rollup: gpd.GeoDataFrame, failed: pd.DataFrame, lang: str = "zh",
               assets: str = "inline") -> folium.Map:
    """The batch map: finished areas' outlines with their numbers; failed ones listed.

    Parameters
    ----------
    rollup
        One row per finished area, in EPSG:4326, with the columns of ``rollup.csv``.
    failed
        The areas without a plan: ``area_id``, ``name``, ``state`` and ``error``.
    lang
        ``"zh"`` or ``"en"``.
    assets
        ``"inline"`` (Leaflet in the file: opens offline) or ``"cdn"``.

    Returns
    -------
    folium.Map
    """
    lang = check_lang(lang)

    def L(key: str) -> str:
        pair = _LABELS.get(key)
        return pair[0 if lang == "zh" else 1] if pair else label(key, lang)

    with map_page() as page:
        if len(rollup):
            w, s, e, n = rollup.to_crs("EPSG:4326").total_bounds
        else:
            w, s, e, n = 73.5, 18.0, 135.0, 53.6  # China
        m = OfflineMap(location=[(s + n) / 2, (w + e) / 2], zoom_start=10, tiles=None,
                        control_scale=True, assets=assets)
        m.add_to(page)
        tile_basemaps(m, "osm", None, lambda k, **f: label(k, lang, **f))
        g = folium.FeatureGroup(name=esc(L("title")))
        for _, row in rollup.to_crs("EPSG:4326").iterrows():
            colour = _colour(row.get("covered_share"))
            popup = "".join(f"<tr><th>{esc(L(k))}</th><td>{esc(_fmt(row.get(k), k))}</td></tr>"
                            for k in _NUMBERS)
            head = f"<b>{esc(row['name'])}</b> ({esc(row['area_id'])})"
            share = _fmt(row.get("covered_share"), "covered_share")
            shape = folium.GeoJson(row.geometry.__geo_interface__,
                                   tooltip=esc(f"{row['name']} · {share}"),
                                   style_function=lambda _, c=colour: {
                                       "color": "#333", "weight": 1.5, "fillColor": c,
                                       "fillOpacity": 0.55})
            folium.Popup(f"{head}<table>{popup}</table>", max_width=360).add_to(shape)
            shape.add_to(g)
            c = row.geometry.centroid  # seen also when a city's areas are dots on the map
            folium.CircleMarker([c.y, c.x], radius=7, color="#333", weight=1, fill=True,
                                fill_color=colour, fill_opacity=0.9,
                                tooltip=esc(row["name"])).add_to(g)
        g.add_to(m)
        folium.LayerControl(collapsed=False).add_to(m)
        lo = [f"≥ {edge:.0%}" if edge else f"< {SHARE_COLOURS[-2][0]:.0%}"
              for edge, _ in SHARE_COLOURS]
        legend = [swatch(c, f"{L('covered_share')} {t}") for (_, c), t in zip(SHARE_COLOURS, lo)]
        page.html.add_child(folium.Element(legend_html(L("title"), legend)))
        if len(failed):
            items = "".join(f"<li><b>{esc(r['name'])}</b> ({esc(r['area_id'])}): "
                            f"{esc(L(str(r['state'])))} — {esc(str(r['error'] or '')[:300])}</li>"
                            for _, r in failed.iterrows())
            page.html.add_child(folium.Element(
                "<div class='siting-failed' style='position:fixed;top:10px;left:60px;"
                "z-index:1000;background:#fff;padding:6px 10px;max-width:420px;"
                "max-height:40%;overflow:auto;font:12px sans-serif;box-shadow:0 0 4px #888'>"
                f"<b>{esc(L('not_mapped'))}</b><ul>{items}</ul></div>"))
        if len(rollup):
            m.fit_bounds([[s, w], [n, e]])
        return m


def _colour(share) -> str:
    """The fill of an area by its share of people served."""
    share = _number(share)
    for edge, colour in SHARE_COLOURS:
        if share is not None and share >= edge:
            return colour
    return "#bbbbbb"


def _number(value) -> float | None:
    """``value`` as a finite float, or None."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _fmt(value, key: str) -> str:
    """A headline number as the roll-up table shows it."""
    v = _number(value)
    if v is None:
        return "" if value is None or (isinstance(value, float) and math.isnan(value)) \
            else str(value)
    if key in ("covered_share", "mip_gap"):
        return f"{v:.2%}"
    if key == "runtime_s":
        return f"{v:.1f}"
    return f"{v:,.0f}"
