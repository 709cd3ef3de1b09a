"""The Nanjing map read offline: the extract's own streets and buildings as basemap, a
title and summary panel with the numbers of ``summary.json``, one label per chosen site.

Opened in headless Chromium with every network request blocked (see ``test_browser``).
"""

from __future__ import annotations

import dataclasses
import json

import folium
import numpy as np
import pytest
from PIL import Image  # installed with matplotlib, a core dependency
from test_browser import ARTIFACTS, Page, _shot, browser  # noqa: F401  (the browser fixture)

from siting.io.coords import wgs84_to_gcj02
from siting.report.basemap import BASE_BACKGROUND
from siting.report.i18n import value_label
from siting.report.webmap import make_map
from siting.report.write import write_outputs

from report_helpers import run_small

MAX_MAP_GROWTH = 1_500_000  # bytes the offline basemap may add to map.html


@pytest.fixture(scope="module")
def nanjing(nanjing_osm, tmp_path_factory):
    """The Nanjing run (5 sites) and its output folder."""
    result = run_small(nanjing_osm, max_sites=5)
    out = write_outputs(result, tmp_path_factory.mktemp("offline") / "nj")
    return result, out


def _base_layer_data(m: folium.Map) -> list[dict]:
    """GeoJSON features of the offline basemap (the layers in the ``sitingbase`` pane)."""
    found = []

    def walk(el):
        if isinstance(el, folium.GeoJson) and el.options.get("pane") == "sitingbase":
            found.extend(el.data["features"])
        for child in el._children.values():
            walk(child)

    walk(m)
    return found


def test_run_keeps_simplified_building_footprints(nanjing):
    result, _ = nanjing
    b = result.buildings
    assert b is not None and len(b) > 100
    assert b.crs == result.graph.graph["crs"]  # projected, like the other layers
    assert b.geom_type.isin(["Polygon", "MultiPolygon"]).all()


def test_offline_basemap_is_small_and_shifted_for_amap(nanjing):
    result, out = nanjing
    feats = {f["properties"]["k"]: f for f in _base_layer_data(make_map(result))}
    assert set(feats) == {"building", "path", "minor", "major"}
    # coordinates rounded to 1e-5° (about a metre)
    first = np.asarray(feats["major"]["geometry"]["coordinates"][0])
    assert np.allclose(first, np.round(first, 5), atol=1e-12)
    # the whole map stays small: without the basemap it would be this much smaller
    graph = result.graph.copy()
    graph.remove_edges_from(list(graph.edges))
    bare = dataclasses.replace(result, buildings=None, graph=graph)
    without = len(make_map(bare).get_root().render().encode())
    size = (out / "map.html").stat().st_size
    print(f"\nmap.html {size:,} bytes, {size - without:,} of them the offline basemap")
    assert 0 < size - without < MAX_MAP_GROWTH
    # GCJ-02 mode: the basemap moves with every other layer
    gcj = {f["properties"]["k"]: f for f in _base_layer_data(make_map(result, basemap="amap"))}
    ring = np.asarray(feats["building"]["geometry"]["coordinates"][0][0])
    ring_gcj = np.asarray(gcj["building"]["geometry"]["coordinates"][0][0])
    lon, lat = wgs84_to_gcj02(ring[:, 0], ring[:, 1])
    assert np.abs(ring_gcj - np.column_stack([lon, lat])).max() < 2e-5
    assert np.abs(ring_gcj - ring).max() > 1e-3  # a few hundred metres in Nanjing


def _hex(colour: str) -> np.ndarray:
    return np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])


def test_nanjing_map_reads_offline(browser, nanjing):  # noqa: F811
    result, out = nanjing
    page = Page(browser, out / "map.html")
    p = page.page
    page.check_clean()
    assert page.blocked == []  # the offline basemap is shown: not even a tile is asked for
    bases = p.locator(".leaflet-control-layers-base label")
    assert bases.first.inner_text().strip() == "街道与建筑（离线底图）"
    assert bases.first.locator("input").is_checked()
    # streets and buildings drawn: four SVG paths (buildings, paths, minor, major streets)
    paths = p.locator(".leaflet-sitingbase-pane svg path")
    assert paths.count() == 4
    assert min(len(d) for d in paths.evaluate_all("ps => ps.map(p => p.getAttribute('d'))")) > 200

    # title and summary panel: the numbers of summary.json, formatted as the CLI prints them
    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    panel = p.locator(".siting-summary")
    assert panel.locator(".siting-title").inner_text() == "社区嵌入式服务设施选址方案"
    assert panel.locator(".siting-area").inner_text() == "nanjing_xinjiekou"
    assert panel.locator(".siting-row-covered td").inner_text() == (
        f"{s['covered_population']:,.0f} / {s['total_population']:,.0f} "
        f"({100 * s['covered_share']:.1f} %)")
    assert panel.locator(".siting-row-cost td").inner_text() == f"{s['cost_total']:,.0f} 元"
    assert panel.locator(".siting-row-budget td").inner_text() == "未设预算"
    assert panel.locator(".siting-row-solver td").inner_text() == (
        f"{s['solver']}: {value_label(s['status'], 'zh')}, 最优性间隙 {100 * s['mip_gap']:.2f} %")

    # one permanent label per chosen site: its name, or its id
    chosen = result.chosen_sites
    want = sorted(str(n) if isinstance(n, str) and n else f"场所编号 {i}"  # the stable id
                  for n, i in zip(chosen.get("name", [None] * len(chosen)), chosen["source_id"]))
    labels = p.locator(".leaflet-tooltip-pane .siting-label")
    assert labels.count() == s["n_sites_chosen"] == 5
    assert sorted(t.strip() for t in labels.all_inner_texts()) == want
    shot = _shot(page, "nanjing_offline_map.png")
    assert shot.stat().st_size > 50_000

    # the basemap alone: overlays, panels and controls hidden, pixels not background
    p.add_style_tag(content=".leaflet-overlay-pane, .leaflet-marker-pane, .leaflet-tooltip-pane,"
                    " .leaflet-control-container, .siting-summary, .siting-legend"
                    " { display: none !important; }")
    p.wait_for_timeout(200)
    shot = _shot(page, "nanjing_offline_basemap.png")
    px = np.asarray(Image.open(shot).convert("RGB"), dtype=int)
    off = np.abs(px - _hex(BASE_BACKGROUND)).sum(axis=2) > 24
    assert 0.10 < off.mean() < 0.9, off.mean()  # streets and buildings cover the area
    street = np.abs(px - _hex("#c9a46b")).sum(axis=2) < 40
    assert street.mean() > 0.005, street.mean()  # major streets in their colour
    page.check_clean()
    p.close()


def test_run_name_and_labels_are_escaped(nanjing):
    """The run name (from the input file) and site names reach the page as text only."""
    from report_helpers import XSS, with_site_name

    result, _ = nanjing
    result = with_site_name(result, "{{ 7*7 }} " + XSS)
    result = dataclasses.replace(result, summary={
        **result.summary, "source": "/data/{{ 6*7 }} " + XSS + ".osm"})
    page = make_map(result).get_root().render()
    assert "<img src=x" not in page
    area = page.split("<div class='siting-area'>")[1].split("</div>")[0]
    assert area == "&#123;&#123; 6*7 &#125;&#125; &#60;img src=x onerror=alert(1)&#62;"
    assert "&#123;&#123; 7*7 &#125;&#125; &#60;img" in page
