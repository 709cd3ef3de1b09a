"""The exported map in a real headless Chromium with no network (Debian's chromium + Playwright).

Every request other than ``file://`` is aborted, as on an intranet without the CDNs:
the map must still load (Leaflet inline), show one marker per chosen site, list its
layers, raise no JavaScript error, and show hostile data text as text.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

from siting.report.write import write_outputs

from report_helpers import XSS, enriched, run_small, with_site_name

ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    """A persistent Chromium context on a fresh profile, or skip when none is installed."""
    playwright_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install '.[test]')")
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (apt-get install chromium); .ci/run installs it")
    profile = tempfile.mkdtemp(prefix="siting-chromium-")
    with playwright_api.sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=ARGS,
            viewport={"width": 1400, "height": 900})
        try:
            yield ctx
        finally:
            ctx.close()
            shutil.rmtree(profile, ignore_errors=True)


class Page:
    """One opened map with what it tried to do: errors, dialogs, blocked requests."""

    def __init__(self, ctx, path: Path):
        self.errors, self.console, self.dialogs, self.blocked = [], [], [], []
        self.page = ctx.new_page()
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", lambda m: self.console.append(m.text) if m.type == "error" else None)
        self.page.on("dialog", self._dialog)
        self.page.route("**/*", self._route)
        self.page.goto(path.resolve().as_uri())
        self.page.wait_for_selector(".leaflet-control-layers", timeout=15_000)
        self.page.wait_for_timeout(300)

    def _dialog(self, dialog):
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def _route(self, route):
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort()

    def overlays(self) -> list[str]:
        return [t.strip() for t in self.page.locator(
            ".leaflet-control-layers-overlays label").all_inner_texts()]

    def check_clean(self) -> None:
        assert self.errors == [], self.errors
        # the only console errors allowed are the aborted basemap tiles
        assert all("Failed to load resource" in m for m in self.console), self.console
        assert self.dialogs == []
        assert not [u for u in self.blocked
                    if any(c in u for c in ("cdn.jsdelivr", "cdnjs", "code.jquery", "bootstrap"))]


def _shot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.page.screenshot(path=str(path))
    print(f"\nscreenshot: {path}")
    return path


def test_nanjing_map_offline_in_chromium(browser, nanjing_osm, tmp_path):
    result = run_small(nanjing_osm, max_sites=5)
    out = write_outputs(result, tmp_path / "nj")
    page = Page(browser, out / "map.html")
    page.check_clean()
    n = result.summary["n_sites_chosen"]
    assert page.page.locator(".leaflet-marker-pane .siting-site").count() == n == 5
    groups = [f"人口：{g}" for g in ("0–2 岁", "3–5 岁", "6–14 岁", "60 岁以上", "65 岁以上",
                                     "80 岁以上", "户数")]
    assert page.overlays() == ["研究范围", "社区", "人口分布", *groups, "15 分钟步行范围",
                               "10 分钟步行范围", "5 分钟步行范围", "候选场所", "选定场所",
                               "服务分配（需求点→场所）", "未覆盖需求"]
    bases = [t.strip() for t in page.page.locator(
        ".leaflet-control-layers-base label").all_inner_texts()]
    assert bases == ["街道与建筑（离线底图）", "OpenStreetMap", "浅色底图"]
    assert page.page.locator(".siting-legend").inner_text().startswith("图例")
    # the offline basemap is shown first: no tile is asked for until a tile basemap is picked
    assert page.blocked == []
    page.page.locator(".leaflet-control-layers-base label", has_text="OpenStreetMap").click()
    page.page.wait_for_timeout(300)
    assert page.blocked and all("tile.openstreetmap.org" in u for u in page.blocked)
    assert page.page.evaluate("typeof L") == "object" and page.page.evaluate("L.version") == "1.9.3"
    page.page.locator(".siting-site").first.click()
    popup = page.page.locator(".leaflet-popup-content")
    popup.wait_for(timeout=5_000)
    assert "10 分钟内覆盖人口" in popup.inner_text()
    page.page.wait_for_timeout(600)  # popup fade-in
    shot = _shot(page, "nanjing_map.png")
    assert shot.stat().st_size > 20_000
    page.page.close()


def test_hostile_name_shows_as_text(browser, helsinki_osm, tmp_path):
    result = with_site_name(run_small(helsinki_osm, max_sites=2), XSS)
    sites = result.sites.copy()
    cand = int(np.flatnonzero(~sites["chosen"].to_numpy())[0])
    sites.loc[cand, "name"] = "cand " + XSS            # a candidate: tooltip from GeoJSON data
    result = dataclasses.replace(result, sites=sites)
    out = write_outputs(result, tmp_path / "xss", lang="en")
    page = Page(browser, out / "map.html")
    marker = page.page.locator(".siting-site").nth(0)
    marker.hover()
    marker.click()
    popup = page.page.locator(".leaflet-popup-content")
    popup.wait_for(timeout=5_000)
    page.page.wait_for_timeout(600)
    texts = popup.inner_text() + page.page.locator(".leaflet-tooltip-pane").inner_text()
    assert XSS in texts                                   # shown as text …
    assert page.page.locator("img[src='x']").count() == 0  # … never as an element
    page.check_clean()                                    # and no alert dialog fired
    _shot(page, "hostile_name.png")
    # the candidate's tooltip (GeoJSON property shown by folium with innerHTML)
    page.page.locator(".leaflet-control-layers-overlays label", has_text="Candidate sites").click()
    opened = page.page.evaluate("""() => {
        let n = 0;
        for (const v of Object.values(window)) {
            if (v instanceof L.GeoJSON) v.eachLayer(l => {
                const t = l.feature && l.feature.properties && l.feature.properties.tip;
                if (t && t.startsWith('cand')) { l.fire('mouseover', {latlng: l.getLatLng()}, true); n += 1; }
            });
        }
        return n;
    }""")
    assert opened == 1
    tip = page.page.locator(".leaflet-tooltip-pane").inner_text()
    assert "cand " + XSS in tip
    assert page.page.locator("img[src='x']").count() == 0
    page.check_clean()
    page.page.close()


def test_enriched_map_icons_and_layers(browser, helsinki_osm, tmp_path):
    result = enriched(run_small(helsinki_osm, max_sites=3))
    out = write_outputs(result, tmp_path / "rich", lang="en")
    page = Page(browser, out / "map.html")
    page.check_clean()
    assert page.page.locator(".siting-site").count() == 3
    assert page.page.locator(".siting-complex").count() == 1
    assert page.page.locator(".siting-single").count() == 2
    assert page.page.locator(".siting-existing").count() == 1
    labels = page.overlays()
    for name in ("Communities", "Population: Age 0–2", "Existing facilities", "Chosen sites"):
        assert name in labels, labels
    assert page.page.locator("img[src='x']").count() == 0
    # the summary panel lists the plan's services and the area standard
    panel = page.page.locator(".siting-summary")
    assert panel.locator(".siting-row-served td").all_inner_texts() == ["1,000 people",
                                                                         "400 people"]
    assert panel.locator(".siting-row-served th").first.inner_text() == "Infant care"
    assert panel.locator(".siting-row-head").inner_text() == "People served by service"
    assert panel.locator(".siting-row-standard td").inner_text() == "1 / 2"
    page.page.close()
