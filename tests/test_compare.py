"""Scenario comparison: sweeps, loading output folders, files written, CLI."""

from __future__ import annotations

import json

import openpyxl
import pandas as pd
import pytest
from typer.testing import CliRunner

from siting.cli import app
from siting.compare import compare, curve_html, sweep, write_comparison
from siting.config.scenario import make_scenario
from siting.errors import SitingError
from siting.pipeline import run

runner = CliRunner()


def test_sweep_grid_and_paired():
    grid = sweep({"osm": "x"}, {"max_sites": [1, 2], "walk_minutes": [5, 10]})
    assert [n for n, _ in grid] == ["max_sites=1, walk_minutes=5", "max_sites=1, walk_minutes=10",
                                    "max_sites=2, walk_minutes=5", "max_sites=2, walk_minutes=10"]
    assert all(o["osm"] == "x" for _, o in grid)
    paired = sweep({}, {"max_sites": [2, 4, 4], "walk_minutes": [10, 5, 15]}, grid=False)
    assert [(o["max_sites"], o["walk_minutes"]) for _, o in paired] == [(2, 10), (4, 5), (4, 15)]
    assert len(sweep({}, {"max_sites": [2, 4, 8], "walk_minutes": [10]}, grid=False)) == 3
    with pytest.raises(SitingError, match="needs 3 values"):
        sweep({}, {"max_sites": [2, 4, 8], "walk_minutes": [10, 5]}, grid=False)


def test_compare_sweep_matches_single_runs(helsinki_osm):
    table = compare(base={"osm": helsinki_osm}, vary={"max_sites": [1, 2, 4]})
    assert list(table["scenario"]) == ["max_sites=1", "max_sites=2", "max_sites=4"]
    assert list(table["n_sites_chosen"]) == [1, 2, 4]
    cov = table["covered_population"].to_numpy()
    assert (cov[1:] > cov[:-1]).all() and (table["status"] == "optimal").all()
    direct = run(make_scenario(osm=helsinki_osm, max_sites=2)).summary["covered_population"]
    assert cov[1] == pytest.approx(direct)


def test_compare_loads_output_folders_and_writes_files(helsinki_osm, tmp_path):
    folders = []
    for p in (1, 3):
        out = tmp_path / f"p{p}"
        run(make_scenario(osm=helsinki_osm, max_sites=p)).write(out)
        folders.append(out)
    table = compare(folders)
    for row, folder in zip(table.itertuples(), folders):
        s = json.loads((folder / "summary.json").read_text())
        assert row.covered_population == s["covered_population"] and row.scenario == folder.name
    out = write_comparison(table, tmp_path / "cmp", lang="zh")
    assert sorted(p.name for p in out.iterdir()) == [".siting-output.json", "comparison.csv",
                                                     "comparison.xlsx", "comparison_sites.csv",
                                                     "curve.html", "curve.png", "report.pdf"]
    assert (out / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    csv = pd.read_csv(out / "comparison.csv")
    assert list(csv["covered_population"]) == list(table["covered_population"])
    ws = openpyxl.load_workbook(out / "comparison.xlsx").worksheets[0]
    assert ws.cell(1, 1).value == "方案" and ws.cell(2, 1).value == "Scenario"
    assert ws.freeze_panes == "B3"
    html = (out / "curve.html").read_text(encoding="utf-8")
    assert html.count("<circle class='pt'") == 2 and "<title>p1:" in html
    assert "http" not in html.replace("http://www.w3.org/2000/svg", "")   # offline
    # never replaces a folder of other files
    other = tmp_path / "mine"
    other.mkdir()
    (other / "keep.txt").write_text("x")
    with pytest.raises(SitingError, match="holds other files"):
        write_comparison(table, other)
    assert (other / "keep.txt").exists()


def test_curve_html_escapes_names(helsinki_osm):
    table = pd.DataFrame({"scenario": ["<b>x</b>", "y"], "max_sites": [1, 2],
                          "n_sites_chosen": [1, 2], "covered_population": [10.0, 20.0],
                          "total_population": [30.0, 30.0], "covered_share": [1 / 3, 2 / 3]})
    html = curve_html(table)
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html


@pytest.mark.parametrize("args, message", [
    (["--max-sites", "1,2"], "a sweep needs a base scenario"),
    (["--osm", "x.osm", "--vary", "max_sites"], "--vary needs KEY=V1,V2"),
    (["nope.txt"], "not a scenario .toml file nor an output folder"),
    ([], "nothing to compare"),
])
def test_cli_compare_bad_input(tmp_path, args, message):
    res = runner.invoke(app, ["compare", *args, "--out", str(tmp_path / "c")])
    assert res.exit_code == 2 and message in res.output, res.output
    assert not (tmp_path / "c").exists()


def test_cli_compare_grid(helsinki_osm, tmp_path):
    out = tmp_path / "c"
    res = runner.invoke(app, ["compare", "--osm", str(helsinki_osm), "--max-sites", "1,3",
                              "--walk-minutes", "5,10", "--out", str(out)])
    assert res.exit_code == 0, res.output
    csv = pd.read_csv(out / "comparison.csv")
    assert len(csv) == 4 and set(csv["threshold_m"]) == {300.0, 600.0}
    for _, g in csv.groupby("threshold_m"):
        assert g.sort_values("max_sites")["covered_population"].is_monotonic_increasing
    # more minutes, same p: at least as many people
    wide = csv.set_index(["max_sites", "threshold_m"])["covered_population"]
    assert wide[(1, 600.0)] >= wide[(1, 300.0)] and wide[(3, 600.0)] >= wide[(3, 300.0)]


def test_nanjing_five_scenarios_one_command(nanjing_osm, tmp_path):
    out = tmp_path / "nj"
    res = runner.invoke(app, ["compare", "--osm", str(nanjing_osm), "--max-sites", "2,4,8,8,8",
                              "--walk-minutes", "10,10,10,5,15", "--no-grid", "--out", str(out)])
    assert res.exit_code == 0, res.output
    print(res.output)
    csv = pd.read_csv(out / "comparison.csv")
    assert len(csv) == 5 and (csv["status"] == "optimal").all()
    c = csv.set_index("scenario")["covered_population"]
    assert c["max_sites=2, walk_minutes=10"] < c["max_sites=4, walk_minutes=10"] \
        < c["max_sites=8, walk_minutes=10"]
    assert c["max_sites=8, walk_minutes=5"] < c["max_sites=8, walk_minutes=10"] \
        < c["max_sites=8, walk_minutes=15"]
    assert (csv["covered_population"] <= csv["total_population"]).all()
    # a Chinese study area: the curve and workbook are in Chinese unless --lang says otherwise
    page = (out / "curve.html").read_text(encoding="utf-8")
    assert "<title>投入与覆盖人口</title>" in page and ">覆盖人口</text>" in page
    import openpyxl

    sheet = list(openpyxl.load_workbook(out / "comparison.xlsx")["方案比较"]
                 .iter_rows(values_only=True))
    status = [r[sheet[1].index("Solver status")] for r in sheet[2:]]
    assert status == ["最优"] * 5  # values in the comparison's language


def test_cli_compare_write_runs_inside_new_folder(helsinki_osm, tmp_path, monkeypatch):
    """--write-runs puts each run in runs/ of the comparison folder, listed in its marker."""
    result = run(make_scenario(osm=helsinki_osm, max_sites=1))
    monkeypatch.setattr("siting.pipeline.run", lambda sc, **kw: result)
    out = tmp_path / "c"
    res = runner.invoke(app, ["compare", "--osm", str(helsinki_osm), "--max-sites", "1,2",
                              "--write-runs", "--out", str(out)])
    assert res.exit_code == 0, res.output
    files = json.loads((out / ".siting-output.json").read_text())["files"]
    for slug in ("max_sites_1", "max_sites_2"):
        assert (out / "runs" / slug / "summary.json").exists()
        assert f"runs/{slug}/summary.json" in files
    assert [p.name for p in tmp_path.iterdir()] == ["c"]


def test_compare_names_progress_notes_and_sites(helsinki_osm, tmp_path):
    """Readable sweep names (budget=5,000,000, not 5e+06), one progress line per run as it
    starts and ends, the runs' warnings as notes naming the scenario (no raw Python
    warnings), and the chosen sites of each scenario in the table."""
    out = tmp_path / "b"
    res = runner.invoke(app, ["compare", "--osm", str(helsinki_osm), "--budgets", "2e6,5e6",
                              "--vary", "cost_per_m2=1000", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "[1/2] budget=2,000,000, cost_per_m2=1,000: running" in res.output
    assert "[2/2] budget=5,000,000, cost_per_m2=1,000: optimal in" in res.output
    assert "siting: note: [budget=2,000,000, cost_per_m2=1,000] no community layer" in res.output
    assert "UserWarning" not in res.output and "e+06" not in res.output
    table = pd.read_csv(out / "comparison.csv", encoding="utf-8-sig")
    assert table["sites"].str.contains(r"\bw\d+").all()  # stable ids (name (id) where named)
    n = table["sites"].str.count("; ") + 1
    assert (n == table["n_sites_chosen"]).all()
    # sites matched across scenarios by their stable id: one row each, 1 where opened
    by_site = pd.read_csv(out / "comparison_sites.csv", encoding="utf-8-sig")
    assert set(by_site["source_id"]) == {i for ids in table["site_ids"] for i in ids.split(";")}
    for name, ids in zip(table["scenario"], table["site_ids"]):
        assert set(by_site.loc[by_site[name] == 1, "source_id"]) == set(ids.split(";"))
    assert (by_site["n_scenarios"] == by_site[list(table["scenario"])].notna().sum(axis=1)).all()
