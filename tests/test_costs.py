"""Cost = what is acquired: per m² used for leases and renovations, whole for purchases;
one cost breakdown per site, the same in every output (tests/output_check.py)."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from siting.cli import app
from siting.config.site_policy import load_site_policy
from siting.costs import embedded_site_costs, price
from siting.errors import SitingError
from siting.io.osm import read_osm

runner = CliRunner()
CRS = "EPSG:4549"
AREAS = [50, 80, 120, 160, 200, 240, 300, 60, 100, 280]  # stock spaces, m²


def cli(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_price_charges_what_each_mode_acquires():
    pol = load_site_policy()
    costs, h = pol["costs"], pol["costs"]["horizon_years"]
    assert {m: costs[m]["charged_on"] for m in ("renovate", "lease", "transfer", "new_build")} \
        == {"renovate": "used", "lease": "used", "transfer": "whole", "new_build": "whole"}
    out = price([200.0, 5000.0, 200.0, 200.0], ["lease", "lease", "transfer", "lease"], pol,
                cost=[np.nan, np.nan, np.nan, 7e4], annual_cost=[np.nan, np.nan, np.nan, 1e4])
    lease = costs["lease"]
    # per m² used: the rates; the usable-area price (capped) is what covering models charge
    assert out["one_off_per_m2_used"].tolist() == [lease["one_off_per_m2"]] * 2 + [0.0, 0.0]
    assert out["annual_per_m2_used"].tolist() == [lease["annual_per_m2"]] * 2 + [0.0, 0.0]
    assert out["cost"][1] == pol["cost_area_cap_m2"] * lease["one_off_per_m2"]
    assert out["cost"][2] == 200.0 * costs["transfer"]["one_off_per_m2"]
    assert out["cost"][3] == 7e4 and out["annual_cost"][3] == 1e4  # given: fixed per site
    parts = out[["cost_one_off", "cost_fit_out", "cost_rent_horizon"]].sum(axis=1)
    assert np.allclose(parts, out["cost_total"])
    assert np.allclose(out["cost_rent_horizon"], h * out["annual_cost"])
    # the embedded model's inputs: no fixed part where the charge is per m² used
    fixed = embedded_site_costs(out)
    assert fixed["cost"].tolist() == [0.0, 0.0, out["cost"][2], 7e4]
    assert fixed["annual_cost"].tolist() == [0.0, 0.0, 0.0, 1e4]


def test_charged_on_is_checked(tmp_path):
    from importlib import resources

    text = resources.files("siting.config").joinpath("policies/cn_default.toml").read_text("utf-8")
    bad = tmp_path / "bad.toml"
    lease = 'charged_on = "used"                # rent'
    bad.write_text(text.replace(lease, 'charged_on = "m2"  #'), "utf-8")
    with pytest.raises(SitingError, match=r"sites.costs.lease\] charged_on must be"):
        load_site_policy(bad)


@pytest.fixture(scope="module")
def stock_inventory(nanjing_osm, tmp_path_factory):
    """Ten stock spaces of 50–300 m² (leases and renovations) on the real buildings
    nearest lon 118.78, lat 32.04 in the Xinjiekou extract."""
    b = read_osm(nanjing_osm).buildings.to_crs(CRS)
    pts = b.representative_point()
    centre = gpd.GeoSeries(gpd.points_from_xy([118.78], [32.04]), crs="EPSG:4326").to_crs(CRS)[0]
    near = pts.iloc[np.argsort(pts.distance(centre).to_numpy())[:len(AREAS)]].to_crs("EPSG:4326")
    rows = pd.DataFrame({"编号": [f"GX-{i:02d}" for i in range(len(AREAS))],
                         "名称": [f"存量空间{i}" for i in range(len(AREAS))],
                         "经度": near.x.round(7).to_numpy(), "纬度": near.y.round(7).to_numpy(),
                         "建筑面积": AREAS, "取得方式": ["租赁", "改造"] * (len(AREAS) // 2),
                         # one basement row: no infant or elderly care may go there
                         "楼层": ["1层", "首层", "B1", *["1F"] * (len(AREAS) - 3)]})
    path = tmp_path_factory.mktemp("inventory") / "存量空间.csv"
    rows.to_csv(path, index=False)
    return path


def test_nanjing_stock_spaces_plan_within_10m(nanjing_osm, stock_inventory, tmp_path):
    """A 10 M CNY budget gives an embedded plan: leases and renovations pay for the m²
    the plan uses, not for 1,000 m² of each building."""
    out = tmp_path / "stock-10m"
    res = cli("run", "--osm", nanjing_osm, "--inventory", stock_inventory,
              "--min-floor-area", 40, "--model", "embedded", "--budget", 1e7,
              "--time-limit", 60, "--out", out, "--require", "GX-09")
    assert res.exit_code == 0, res.output
    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert s["model"] == "embedded" and s["status"] in ("optimal", "feasible")
    assert 0 < s["cost_total"] <= 1e7 + 1
    assert sum(s["served_by_service"].values()) > 0
    sites = gpd.read_file(out / "sites.gpkg")
    pol = load_site_policy()
    h = pol["costs"]["horizon_years"]
    used = sites[sites["acquisition_mode"].isin(["lease", "renovate"])]
    assert len(used) and sites["source_id"].str.startswith("GX-").any()
    for _, r in used.iterrows():  # no inventory costs given: charged per m² used
        rate = pol["costs"][r["acquisition_mode"]]
        assert r["area_used_m2"] <= r["usable_area_m2"] + 1e-6
        used_m2 = r["area_used_m2"]
        assert r["cost_one_off"] == pytest.approx(rate["one_off_per_m2"] * used_m2, rel=1e-6)
        assert r["cost_rent_horizon"] == pytest.approx(
            h * rate.get("annual_per_m2", 0.0) * used_m2, rel=1e-6, abs=1e-6)
    # under the old rule (usable area up to the cap, whatever is used) it cost far more
    old = price(sites["usable_area_m2"], sites["acquisition_mode"], pol)["cost_total"].sum()
    print(f"\nNanjing stock spaces, 10 M CNY: {len(sites)} sites, cost {s['cost_total']:,.0f} "
          f"CNY (charged on usable area: {old:,.0f} CNY)")
    assert old > 2 * s["cost_total"]
    # the required space is in the plan, its cost counted in the total
    req = sites[sites["source_id"] == "GX-09"]
    assert len(req) == 1 and req["cost_total"].iloc[0] > 0
    assert s["cost_total"] == pytest.approx(float(sites["cost_total"].sum()))
    # nothing for infants or the elderly below ground
    basement = sites[sites["source_id"] == "GX-02"]
    for col in ("area_m2_infant_care", "area_m2_elderly_care"):
        assert (basement[col].fillna(0) == 0).all()
    # the same ids name the same buildings in another run (other model, one site forbidden)
    again = tmp_path / "again"
    res = cli("run", "--osm", nanjing_osm, "--inventory", stock_inventory, "--min-floor-area", 40,
              "-p", 2, "--forbid", "GX-01", "--out", again)
    assert res.exit_code == 0, res.output
    a = gpd.read_file(out / "candidates.gpkg").set_index("source_id").geometry
    b = gpd.read_file(again / "candidates.gpkg").set_index("source_id").geometry
    common = a.index.intersection(b.index)
    assert len(common) > 100 and a.loc[common].geom_equals_exact(b.loc[common], 1e-9).all()


def test_nanjing_covering_budget_charges_usable_area(nanjing_osm, stock_inventory, tmp_path):
    """Covering models allocate no m²: a lease is charged on its usable area (capped)."""
    out = tmp_path / "stock-cover"
    res = cli("run", "--osm", nanjing_osm, "--inventory", stock_inventory,
              "--min-floor-area", 40, "--budget", 5e6, "--out", out)
    assert res.exit_code == 0, res.output
    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    sites = gpd.read_file(out / "sites.gpkg")
    assert len(sites) and s["cost_total"] <= 5e6 + 1
    expected = price(sites["usable_area_m2"], sites["acquisition_mode"], load_site_policy())
    assert np.allclose(sites["cost_total"], expected["cost_total"])
    assert (sites["cost_fit_out"] == 0).all()


def test_output_check_catches_a_second_set_of_numbers(helsinki_osm, tmp_path):
    """The checker run on every output folder is not vacuous: a popup, a cost sheet row
    or a summary that tells another cost is caught."""
    import re
    import shutil

    from siting.report.i18n import label

    from output_check import MARKER, check_run_folder
    from report_helpers import run_small

    out = run_small(helsinki_osm, max_sites=3).write(tmp_path / "run", lang="en")
    assert check_run_folder(out)["sites"] == 3

    def popup(text):  # the first popup's total cost shows the one-off cost only
        row = f"{label('cost_total', 'en')}</th><td class='siting-val'>"
        return re.sub(re.escape(row) + r"[\d,]+", row + "1,500,000", text, count=1)

    def costs(text):  # one site's total without its fit-out or rent
        import io

        t = pd.read_csv(io.StringIO(text))
        t.loc[0, "cost_total"] += 12345.0
        return t.to_csv(index=False)

    def summary(text):
        s = json.loads(text)
        s["cost_total"] += 1e6
        return json.dumps(s)

    for name, (path, change) in {"popup": ("map.html", popup),
                                 "cost sheet": ("tables/costs.csv", costs),
                                 "summary": ("summary.json", summary)}.items():
        bad = tmp_path / name.replace(" ", "_")
        shutil.copytree(out, bad)
        f = bad / path
        text = f.read_text(encoding="utf-8-sig")
        assert change(text) != text, name
        f.write_text(change(text), encoding="utf-8")
        with pytest.raises(AssertionError, match="cost_total"):
            check_run_folder(bad)
        (bad / MARKER).unlink()  # not a run folder any more: the autouse check skips it
