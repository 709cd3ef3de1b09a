"""What the plan does, on the map and in print: the assignment layer (which demand goes to
which site), unserved demand per service, popups that say what a site holds and serves,
and the budget curve in the PDF of a sweep.

Maps are opened in headless Chromium with every network request blocked (see
``test_browser``); PDFs are read back with pymupdf.
"""

from __future__ import annotations

import html
import re

import numpy as np
import pandas as pd
import pytest
from test_browser import Page, _shot, browser  # noqa: F401  (the browser fixture)
from typer.testing import CliRunner

from siting.cli import app
from siting.report.i18n import label, short_label
from siting.report.maplayers import (
    MIN_UNSERVED,
    assignment_pairs,
    site_popup,
    unserved_by_service,
)
from siting.report.pdf import write_curve_pdf, write_pdf
from siting.report.write import write_outputs

from report_helpers import enriched, run_small

# every GeoJSON feature the page holds, with whether its layer is on the map
FEATURES_JS = """() => {
    let map = null;
    for (const v of Object.values(window)) if (v instanceof L.Map) map = v;
    const out = [];
    for (const v of Object.values(window)) {
        if (v instanceof L.GeoJSON) v.eachLayer(l => {
            const p = (l.feature && l.feature.properties) || {};
            out.push({k: p.k || null, n: p.n || null, tip: p.tip || null, v: p.u ?? null,
                      coords: l.feature ? l.feature.geometry.coordinates : null,
                      on: map.hasLayer(l)});
        });
    }
    return out;
}"""
POPUPS_JS = """() => {
    const out = [];
    for (const v of Object.values(window)) {
        if (v instanceof L.Marker && v.getPopup()) {
            v.openPopup();
            out.push(v.getPopup().getElement().innerText);
            v.closePopup();
        }
    }
    return out;
}"""


@pytest.fixture(scope="module")
def cov(helsinki_osm, tmp_path_factory):
    """A covering run on the Helsinki sample (3 sites) and its output folder (English)."""
    result = run_small(helsinki_osm, max_sites=3)
    return result, write_outputs(result, tmp_path_factory.mktemp("layers") / "cov", lang="en")


@pytest.fixture(scope="module")
def emb(helsinki_osm, tmp_path_factory):
    """An embedded plan on the Helsinki sample (budget 20 M CNY), its folder in Chinese."""
    result = run_small(helsinki_osm, model="embedded", budget=2e7, time_limit=10)
    return result, write_outputs(result, tmp_path_factory.mktemp("layers") / "emb", lang="zh")


def _overlay_paths(page: Page) -> int:
    return page.page.locator(".leaflet-overlay-pane path").count()


def _toggle(page: Page, name: str) -> int:
    """Switch an overlay on by its label; the number of SVG paths it added."""
    before = _overlay_paths(page)
    box = page.page.locator(".leaflet-control-layers-overlays label", has_text=name)
    assert box.count() == 1, name
    box.locator("input").check()
    page.page.wait_for_timeout(150)
    return _overlay_paths(page) - before


def _rows(text: str) -> dict[str, str]:
    """A popup's table as ``{label: value}``."""
    return dict(line.split("\t", 1) for line in text.splitlines() if "\t" in line)


def test_covering_map_assignment_lines_one_per_covered_point(browser, cov):  # noqa: F811
    result, out = cov
    page = Page(browser, out / "map.html")
    page.check_clean()
    name = label("assignments", "en")
    assert name in page.overlays() and "Uncovered demand" in page.overlays()
    assert name in page.page.locator(".siting-legend").inner_text()
    feats = [f for f in page.page.evaluate(FEATURES_JS) if f["k"] == "assign"]
    d = result.demand
    covered = d["covered"].to_numpy(bool) & (d["nearest_site"].to_numpy() >= 0)
    assert sum(len(f["coords"]) for f in feats) == sum(f["n"] for f in feats) == covered.sum() > 0
    assert len(feats) == len(result.chosen_sites) and not any(f["on"] for f in feats)  # off
    # each line runs from a covered point to its nearest chosen site (rounded to 1e-5°)
    dw = d.to_crs("EPSG:4326")
    starts = {(round(x, 5), round(y, 5)) for x, y in zip(dw.geometry.x[covered],
                                                         dw.geometry.y[covered])}
    sw = result.sites.to_crs("EPSG:4326")
    for f in feats:
        ends = {tuple(line[1]) for line in f["coords"]}
        assert len(ends) == 1
        j = int(np.argmin(np.hypot(sw.geometry.x - f["coords"][0][1][0],
                                   sw.geometry.y - f["coords"][0][1][1])))
        assert result.sites["chosen"].iloc[j]
        assert {tuple(line[0]) for line in f["coords"]} <= starts
        assert f["n"] == int((d["nearest_site"].to_numpy()[covered] == j).sum())
        assert f"{f['n']} demand points" in html.unescape(f["tip"])
    # uncovered points name the nearest site by its name, not an internal number
    chosen = result.chosen_sites
    names = {n if isinstance(n, str) and n else f"Site ID {j}"  # unnamed: the stable id
             for n, j in zip(chosen["name"], chosen["source_id"])}
    walks = [html.unescape(f["tip"]).split(" m walk to ", 1)[1]
             for f in page.page.evaluate(FEATURES_JS) if f["tip"] and " m walk to " in f["tip"]]
    assert walks and set(walks) <= names, (walks, names)
    assert _toggle(page, name) == len(feats)  # one SVG path per site, shown when ticked
    assert all(f["on"] for f in page.page.evaluate(FEATURES_JS) if f["k"] == "assign")
    page.check_clean()
    page.page.close()


def test_embedded_map_unserved_per_service_and_assignments(browser, emb):  # noqa: F811
    result, out = emb
    plan = result.plan
    page = Page(browser, out / "map.html")
    page.check_clean()
    overlays = page.overlays()
    keys = list(plan.services["service"])
    names = [label("unserved_service", "zh", s=label(k, "zh")) for k in keys]
    assert "未覆盖需求" not in overlays  # replaced by one layer per service
    assert overlays[-len(keys) - 1:] == ["服务分配（需求点→场所）", *names]
    legend = page.page.locator(".siting-legend").inner_text()
    assert all(n in legend for n in names) and "服务分配（需求点→场所）" in legend
    # the summary panel: households for the service of households, people for the others
    panel = page.page.locator(".siting-summary .siting-row-served td").all_inner_texts()
    assert panel == [f"{v:,.0f} " + ("户" if k == "housekeeping" else "人")
                     for k, v in result.summary["served_by_service"].items()]

    # assignments: one line per (demand point, site) of the plan, drawn when ticked
    feats = [f for f in page.page.evaluate(FEATURES_JS) if f["k"] == "assign"]
    pairs = plan.assignments.loc[plan.assignments["people"] > 0, ["demand", "site"]]
    assert sum(len(f["coords"]) for f in feats) == len(pairs.drop_duplicates()) > 0
    assert len(feats) == pairs["site"].nunique()
    assert _toggle(page, "服务分配（需求点→场所）") == len(feats)

    # unserved: the people of each service's group the plan leaves out, point by point
    left = unserved_by_service(result)
    assert list(left) == keys
    shown = [left[k][left[k] >= MIN_UNSERVED] for k in keys]
    values = [f["v"] for f in page.page.evaluate(FEATURES_JS) if f["v"] is not None]
    assert len(values) == sum(len(v) for v in shown)
    assert sum(values) == pytest.approx(sum(v.sum() for v in shown), abs=0.05 * len(values))
    for n, (k, name) in enumerate(zip(keys, names)):
        # the points hold the plan's unmet people (tiny remainders aside)
        unmet = float(plan.services.set_index("service").loc[k, "unmet_people"])
        assert left[k].sum() == pytest.approx(unmet, rel=1e-6, abs=1e-6)
        assert _toggle(page, name) == len(shown[n]), k
        if n == 0:  # its tooltip: the service, the group, the people left
            page.page.evaluate("""() => {
                let map = null;
                for (const v of Object.values(window)) if (v instanceof L.Map) map = v;
                for (const v of Object.values(window)) {
                    if (v instanceof L.GeoJSON) v.eachLayer(l => {
                        if (l.feature.properties && l.feature.properties.u != null
                                && map.hasLayer(l) && !window._tipped) {
                            l.fire('mouseover', {latlng: l.getLatLng()}, true);
                            window._tipped = true;
                        }
                    });
                }
            }""")
            tip = page.page.locator(".leaflet-tooltip-pane").inner_text()
            assert f"{label(k, 'zh')} (0–2 岁) · 未获服务人数" in tip, tip
    _shot(page, "helsinki_embedded_layers.png")
    page.check_clean()
    page.page.close()


def test_embedded_popups_show_people_served_per_service(browser, emb):  # noqa: F811
    """Each chosen site's popup: the plan's people per service (not everyone in reach),
    its units in the policy's unit, the id under its source's label, no bare `*`."""
    result, out = emb
    plan = result.plan
    served = plan.assignments.groupby(["site", "service"])["people"].sum()
    page = Page(browser, out / "map.html")
    popups = [_rows(t) for t in page.page.evaluate(POPUPS_JS)]
    page.check_clean()
    assert len(popups) == len(plan.sites)
    seen_units = 0
    for rows in popups:
        j = int(np.flatnonzero(result.sites["source_id"] == rows["OSM 编号"])[0])
        site = result.sites.iloc[j]
        assert "覆盖人口" not in rows and not any("分钟内覆盖人口" in k for k in rows)
        for k in plan.services["service"]:
            key = ("获服务户数：" if k == "housekeeping" else "获服务人数：") + label(k, "zh")
            want = float(served.get((j, k), 0.0))
            if want > 0:
                got = float(re.match(r"[\d,.]+", rows[key]).group().replace(",", ""))
                assert got == pytest.approx(want, abs=0.051 if want < 10 else 0.51), (j, k)
                unit = {"infant_care": " 人（0–2 岁）", "housekeeping": " 户",
                        "health_station": " 人"}.get(k)
                assert unit is None or rows[key].endswith(unit), rows[key]
            else:
                assert key not in rows
        if float(site.get("units_infant_care", 0)) > 0:
            assert rows[f"服务: {label('infant_care', 'zh')}"].endswith("托位")
            seen_units += 1
        assert rows["OSM 编号"] == site["source_id"]  # the sample's sites are all OSM buildings
        assert not any(v.endswith("*") for v in rows.values())
        if bool(site["levels_estimated"]):
            assert rows["建筑面积（m²）"].endswith("（层数为估计值）")
    assert seen_units >= 1
    page.page.close()


def test_popup_labels_by_source_and_no_mode_on_existing(cov):
    """An inventory's id is no OSM id; an existing facility has no acquisition mode."""
    from siting.report.i18n import label as lab

    result = enriched(cov[0])
    sites = result.sites.copy()
    j = int(result.solution.chosen[1])
    sites.loc[j, ["source", "source_id"]] = ["inventory", "INV-007"]
    ex = int(np.flatnonzero(sites["existing"].to_numpy(bool))[0])
    sites.loc[ex, "source_id"] = "F-1"
    sites.loc[ex, "source"] = "existing"
    result.sites = sites
    L = lambda key, **f: lab(key, "en", **f)  # noqa: E731

    def rows(i):
        text = html.unescape(site_popup(sites.iloc[i], result, L, None, "en"))
        return dict(re.findall(r"<th[^>]*>(.*?)</th><td[^>]*>(.*?)</td>", text))

    inv, exist, osm = rows(j), rows(ex), rows(int(result.solution.chosen[0]))
    assert inv["Inventory ID"] == "INV-007" and "OSM ID" not in inv
    assert inv["Acquisition mode"] == "lease"
    assert exist["Facility ID"] == "F-1" and "Acquisition mode" not in exist
    assert "OSM ID" in osm and osm["Acquisition mode"] == "transfer"
    assert osm["Service: Infant care"] == "120 m² · 15 Units"  # no policy unit: the generic one


def test_compare_budget_sweep_pdf_has_the_curve(helsinki_osm, tmp_path, cov):
    pymupdf = pytest.importorskip("pymupdf")
    out = tmp_path / "sweep"
    res = CliRunner().invoke(app, ["compare", "--osm", str(helsinki_osm), "--budgets",
                                   "1e6,3e6,1e7", "--vary", "cost_per_m2=1000", "--lang",
                                   "en", "--out", str(out)])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out / "comparison.csv", encoding="utf-8-sig")
    with pymupdf.open(out / "report.pdf") as doc:
        curve = doc[0].get_text()
        text = "\n".join(p.get_text() for p in doc)
        doc[0].get_pixmap(dpi=80).save(tmp_path / "curve.png")
    assert "Budget curve" in curve and "Budget (CNY)" in curve and "People served" in curve
    assert "e+0" not in text and "1e7" not in text
    for v in table["covered_population"]:
        assert f"{v:,.0f}" in curve  # each point labelled with its people served
    assert "5,000,000" in curve or "4,000,000" in curve  # budget ticks written out
    for name in table["scenario"]:  # the scenarios' table follows
        assert name in text.replace("\n", " ")
    # the run's own pack carries the same page when handed the sweep
    write_pdf(cov[0], tmp_path / "run.pdf", lang="en", curve=table)
    with pymupdf.open(tmp_path / "run.pdf") as doc:
        assert any("Budget curve" in p.get_text() for p in doc)
    write_pdf(cov[0], tmp_path / "single.pdf", lang="en")
    with pymupdf.open(tmp_path / "single.pdf") as doc:
        assert not any("Budget curve" in p.get_text() for p in doc)
    # a non-budget sweep is drawn against its own axis
    write_curve_pdf(table.assign(budget=None, max_sites=[1, 2, 3]), tmp_path / "p.pdf")
    with pymupdf.open(tmp_path / "p.pdf") as doc:
        page = doc[0].get_text()
    assert "Most sites" in page and "Budget curve" not in page


def test_embedded_pdf_lists_people_served_per_service(emb):
    """The PDF's sites table of a plan: the people each site serves per service (the
    plan's), and everyone in reach only in its own, so-named column."""
    pymupdf = pytest.importorskip("pymupdf")
    from siting.report.fonts import cjk_font

    if cjk_font() is None:
        pytest.skip("no CJK font installed (apt-get install fonts-wqy-zenhei)")
    result, out = emb
    with pymupdf.open(out / "report.pdf") as doc:
        text = "\n".join(p.get_text() for p in doc)
    assert "服务与服务人数（人）" in text and "步行范围内人口" in text
    flat = re.sub(r"\s", "", text)  # table cells wrap
    served = result.plan.assignments.groupby(["site", "service"])["people"].sum()
    assert len(served)
    for (_, k), v in served.items():
        unit = "户" if k == "housekeeping" else ""  # a service of households counts them
        assert f"{short_label(k, 'zh')}{v:,.0f}{unit}" in flat, (k, v)


def test_assignment_pairs_of_a_plan_match_its_assignments(emb):
    result, _ = emb
    pairs = assignment_pairs(result)
    a = result.plan.assignments
    assert pairs["people"].sum() == pytest.approx(a["people"].sum())
    assert not pairs.duplicated(["demand", "site"]).any()
