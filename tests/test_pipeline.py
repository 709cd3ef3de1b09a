"""End to end through the CLI on real OSM extracts, and bad input."""

from __future__ import annotations

import json
import textwrap

import geopandas as gpd
import numpy as np
import pytest
from typer.testing import CliRunner

from siting import network
from siting.cli import app
from siting.io.osm import read_osm

import walk_check

runner = CliRunner()


def cli(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_demo_end_to_end(tmp_path):
    out = tmp_path / "demo"
    res = cli("demo", "--out", out)
    assert res.exit_code == 0, res.output
    assert "map:" in res.output
    summary = json.loads((out / "summary.json").read_text())
    for key in ("total_population", "covered_population", "coverable_population",
                "n_sites_chosen", "objective", "status", "mip_gap", "solver", "threshold_m",
                "crs", "runtime_s"):
        assert key in summary
    assert summary["status"] == "optimal" and summary["mip_gap"] == 0
    assert summary["n_sites_chosen"] == 5
    assert 0 < summary["covered_population"] <= summary["coverable_population"]
    assert summary["coverable_population"] <= summary["total_population"]
    sites = gpd.read_file(out / "sites.gpkg")
    assert len(sites) == 5 and sites.crs.to_epsg() == 4326
    assert {"source_id", "kind", "floor_area_m2", "covered_population"} <= set(sites.columns)
    assert sites["covered_population"].sum() == pytest.approx(summary["covered_population"])
    html = (out / "map.html").read_text()
    assert "walking reach" in html.lower() and "leaflet" in html.lower()


def _recompute_covered(osm, out, threshold):
    """Covered population from the output files and an independent networkx search."""
    summary = json.loads((out / "summary.json").read_text())
    G = network.project(network.graph_from_extract(read_osm(osm)))
    crs = G.graph["crs"]
    demand = gpd.read_file(out / "demand.gpkg").to_crs(crs)
    sites = gpd.read_file(out / "sites.gpkg").to_crs(crs)
    # independent: entrances / walls of big footprints, points projected onto their
    # nearest edge (osmnx), networkx Dijkstra
    ext = read_osm(osm)
    foot = ext.buildings.to_crs(crs).geometry
    ent = ext.entrances.to_crs(crs).geometry
    dx, dy = walk_check.doors(G, foot, ent, demand["osm_id"], demand.geometry.x, demand.geometry.y)
    sx, sy = walk_check.doors(G, foot, ent, sites["source_id"], sites.geometry.x, sites.geometry.y)
    pts = walk_check.attach(G, dx, dy, min_nodes=5)
    best = np.full(len(demand), np.inf)
    for site in walk_check.attach(G, sx, sy, min_nodes=5):
        best = np.minimum(best, walk_check.walks_from(G, site, pts, threshold))
    covered = best <= threshold + 1e-6
    return summary, float(demand.loc[covered, "population"].sum()), covered, demand, best


@pytest.mark.parametrize("p", [1, 3, 6])
def test_nanjing_optimal_and_recomputed_from_files(nanjing_osm, tmp_path, p):
    out = tmp_path / f"nj{p}"
    res = cli("run", "--osm", nanjing_osm, "--out", out, "--max-sites", p,
              "--walk-minutes", 10, "--speed", 60)
    assert res.exit_code == 0, res.output
    summary, covered_pop, covered, demand, best = _recompute_covered(nanjing_osm, out, 600.0)
    assert summary["status"] == "optimal" and summary["mip_gap"] == 0
    assert summary["threshold_m"] == 600.0 and summary["crs"] == "EPSG:4549"
    assert summary["n_sites_chosen"] == p
    sure = np.abs(best - 600.0) > 2e-3  # points on a street merge at millimetre positions
    assert np.array_equal(covered[sure], demand["covered"].astype(bool).to_numpy()[sure])
    assert covered_pop == pytest.approx(summary["covered_population"], rel=1e-9) or not sure.all()
    # nearest chosen site's walk: exact within reach, beyond reach where not covered
    assert np.allclose(demand.loc[covered, "walk_m"], best[covered], atol=2e-3)
    far = demand.loc[~covered, "walk_m"].dropna()
    assert (far > 600.0).all() and len(far) > 0
    assert summary["network_components"] > 1
    # fragments of < 5 nodes are not snapped to: their people walk to a larger street
    assert summary["population_relinked_from_fragment"] > 0
    assert summary["demand_walk_from_wall"] > 0 and summary["demand_walk_from_entrance"] > 0


def test_nanjing_coverage_grows_with_p(nanjing_osm, tmp_path):
    from siting.config.scenario import make_scenario
    from siting.pipeline import run

    values = [run(make_scenario(osm=nanjing_osm, max_sites=p)).summary["covered_population"]
              for p in (1, 2, 4, 8)]
    assert all(a < b for a, b in zip(values, values[1:]))


def test_scenario_file_and_flag_override(helsinki_osm, tmp_path):
    toml = tmp_path / "sc.toml"
    toml.write_text(f'osm = "{helsinki_osm}"\nmax_sites = 2\nthreshold_m = 400\n'
                    f'out = "{tmp_path / "o"}"\nmodel = "max_cover"\n')
    res = cli("run", toml, "--max-sites", 3)
    assert res.exit_code == 0, res.output
    s = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert s["n_sites_chosen"] == 3 and s["threshold_m"] == 400


def test_set_cover_covers_everyone_coverable(helsinki_osm, tmp_path):
    res = cli("run", "--osm", helsinki_osm, "--out", tmp_path / "sc", "--model", "set_cover",
              "--threshold-m", 400, "--solver", "highs")
    assert res.exit_code == 0, res.output
    s = json.loads((tmp_path / "sc" / "summary.json").read_text())
    assert s["covered_population"] == pytest.approx(s["coverable_population"])
    assert s["objective"] == s["n_sites_chosen"]


OSM_HEAD = '<?xml version="1.0"?>\n<osm version="0.6">\n'


def _osm(tmp_path, body: str):
    path = tmp_path / "x.osm"
    path.write_text(OSM_HEAD + textwrap.dedent(body) + "</osm>\n")
    return path


BUILDING = """
<node id="1" lat="32.0400" lon="118.7800"/><node id="2" lat="32.0400" lon="118.7810"/>
<node id="3" lat="32.0410" lon="118.7810"/><node id="4" lat="32.0410" lon="118.7800"/>
<way id="10"><nd ref="1"/><nd ref="2"/><nd ref="3"/><nd ref="4"/><nd ref="1"/>
<tag k="building" v="residential"/></way>
"""
ROAD = """
<node id="5" lat="32.0390" lon="118.7790"/><node id="6" lat="32.0420" lon="118.7820"/>
<way id="11"><nd ref="5"/><nd ref="6"/><tag k="highway" v="residential"/></way>
"""


@pytest.mark.parametrize("case, args, message", [
    ("missing", lambda t, h: ["--osm", t / "nope.osm"], "OSM file not found"),
    ("not_osm", lambda t, h: ["--osm", _text(t)], "not an OSM XML file"),
    ("no_ways", lambda t, h: ["--osm", _osm(t, BUILDING)], "no walkable ways"),
    ("no_buildings", lambda t, h: ["--osm", _osm(t, ROAD)], "no buildings"),
    ("threshold", lambda t, h: ["--osm", h, "--threshold-m", 0], "threshold_m must be > 0"),
    ("too_many_p", lambda t, h: ["--osm", h, "--max-sites", 100000], "larger than the"),
    ("solver", lambda t, h: ["--osm", h, "--solver", "gurobi"], "unknown solver 'gurobi'"),
    ("bbox", lambda t, h: ["--osm", h, "--bbox", "1,2,3"], "--bbox must be four numbers"),
])
def test_bad_input_clear_error_and_no_output(tmp_path, helsinki_osm, case, args, message):
    out = tmp_path / "out"
    res = cli("run", *args(tmp_path, helsinki_osm), "--out", out)
    assert res.exit_code == 2, res.output
    assert message in res.output
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]


def _text(tmp_path):
    p = tmp_path / "notes.osm"
    p.write_text("this is a shopping list, not OpenStreetMap\n")
    return p


def test_output_folder_of_other_files_is_never_replaced(tmp_path, helsinki_osm):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    res = cli("run", "--osm", helsinki_osm, "--out", out, "--overwrite")
    assert res.exit_code == 2 and "holds other files" in res.output
    assert (out / "precious.txt").read_text() == "keep me"


def test_demo_embedded_plan(tmp_path):
    out = tmp_path / "demo-embedded"
    res = cli("demo", "--out", out, "--embedded", "--budget", 1e7, "--time-limit", 10)
    assert res.exit_code == 0, res.output
    s = json.loads((out / "summary.json").read_text())
    assert s["model"] == "embedded" and s["budget"] == 1e7
    assert 0 < s["cost_total"] <= 1e7 + 1
    assert s["status"] in ("optimal", "feasible")
    sites = gpd.read_file(out / "sites.gpkg")
    areas = sites.filter(like="area_m2_").sum(axis=1)
    assert (areas > 0).all() and (areas <= sites["usable_area_m2"] + 1e-6).all()
    assert (out / "tables" / "communities.csv").exists() and (out / "report.xlsx").exists()
    assert not (out / "communities.csv").exists()  # one communities table, in tables/


@pytest.mark.parametrize("name", ["beijing_chaoyang_wangjing", "beijing_haidian_cau"])
def test_beijing_covered_flags_agree_with_independent_edge_snapping(name, tmp_path):
    """Held-out extracts: the covered flag of ≥ 99 % of demand points and their walks
    (within 1 m) agree with an independent osmnx + networkx edge-snapped computation."""
    from conftest import SHARED, shared_file

    osm = shared_file(SHARED / f"{name}_osm" / f"{name}.osm")
    out = tmp_path / name
    res = cli("run", "--osm", osm, "--out", out, "--max-sites", 3)
    assert res.exit_code == 0, res.output
    _, _, covered, demand, best = _recompute_covered(osm, out, summary_threshold(out))
    flags = demand["covered"].astype(bool).to_numpy()
    agree = float((covered == flags).mean())
    print(f"\n{name}: covered flags agree for {100 * agree:.2f} % of {len(flags)} points")
    assert agree >= 0.99 and flags.any()
    both = covered & flags
    assert np.abs(demand.loc[both, "walk_m"].to_numpy() - best[both]).max() < 1.0


def summary_threshold(out) -> float:
    return float(json.loads((out / "summary.json").read_text())["threshold_m"])


def test_progress_lines_per_stage(helsinki_osm, tmp_path):
    """--progress prints each stage as it ends (inputs, network, demand, sites, access,
    distances, model, outputs); without it, off a terminal, the run stays quiet."""
    res = cli("run", "--osm", helsinki_osm, "--out", tmp_path / "a", "-p", 2, "--progress")
    assert res.exit_code == 0, res.output
    stages = ["inputs checked", "network:", "demand:", "sites:", "access:", "walking distances:",
              "model: optimal", "outputs written"]
    pos = [res.output.index(f"siting: {s}") for s in stages]
    assert pos == sorted(pos)
    quiet = cli("run", "--osm", helsinki_osm, "--out", tmp_path / "b", "-p", 2)
    assert quiet.exit_code == 0 and "siting: network:" not in quiet.output
