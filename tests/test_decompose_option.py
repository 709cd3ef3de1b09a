"""`decompose` as a scenario key and `siting run --decompose/--workers/--scheduler`.

On a study area that splits by itself (tests/life_circle.py: 5-minute walks in Nanjing,
5 groups sharing only the budget) the setting takes effect — the run's notes and summary
say how the plan was solved — and bad values or settings it cannot apply are refused.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from siting.cli import app
from siting.config.scenario import make_scenario
from siting.errors import SitingError
from siting.pipeline import run

from life_circle import life_circle_toml


@pytest.mark.parametrize("keys, match", [
    (dict(decompose="yes"), r"--decompose: Input should be 'off', 'on' or 'auto' \(got 'yes'\)"),
    (dict(decompose=True), r"--decompose: Input should be 'off', 'on' or 'auto'"),
    (dict(model="max_cover", decompose="on"), "only the embedded model is decomposed"),
    (dict(model="set_cover", decompose="auto"), "conflicts with model set_cover"),
    (dict(model="embedded", decompose="on"), "no budget is given; give --budget"),
    (dict(model="embedded", budget=1e6, objective="min_cost", decompose="on"),
     "needs objective max_served"),
])
def test_bad_values_and_settings_it_cannot_apply_are_refused(keys, match):
    with pytest.raises(SitingError, match=match):
        make_scenario(osm="x.osm", **keys)


def test_defaults_and_allowed_values():
    assert make_scenario(osm="x.osm").decompose == "off"
    assert make_scenario(osm="x.osm", decompose="off").decompose == "off"  # any model
    # auto follows the model's rule, so it needs no budget and any objective
    assert make_scenario(osm="x.osm", model="embedded", objective="min_cost",
                         decompose="auto").decompose == "auto"


def test_cli_option_and_scenario_key_take_effect(nanjing_osm, tmp_path):
    # the CLI option over a scenario file, the groups on a running Dask cluster of 2
    # workers (in this process for speed: --workers N starts worker processes, as
    # `siting batch` does in tests/test_batch.py)
    from distributed import LocalCluster

    toml = life_circle_toml(tmp_path, nanjing_osm)
    out = tmp_path / "on"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster:
        res = CliRunner().invoke(app, ["run", str(toml), "--out", str(out), "--decompose",
                                       "on", "--scheduler", cluster.scheduler_address])
        assert res.exit_code == 0, res.output
        ran = [w.state.transition_counter for w in cluster.workers.values()]
    assert all(n > 0 for n in ran)  # both workers ran tasks: the group solves
    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert s["decompose"] == "on"
    assert any(n.startswith("decomposed into 5 independent groups") for n in s["notes"])
    assert (f"the 5 groups were solved on the Dask cluster at {cluster.scheduler_address}, "
            "2 at once") in s["notes"]
    assert [g["group"] for g in s["groups"]] == [0, 1, 2, 3, 4]
    assert sum(g["cost"] for g in s["groups"]) == pytest.approx(s["cost_total"], rel=1e-6)
    assert s["cost_total"] <= 5e6 + 1
    # the groups sheet is written: per district, in the stable ids of the other tables
    groups = pd.read_csv(out / "tables" / "groups.csv", encoding="utf-8-sig")
    sites_csv = pd.read_csv(out / "tables" / "sites.csv", encoding="utf-8-sig")
    listed = {i for cell in groups["site_ids"].dropna() for i in str(cell).split(", ")}
    assert listed and listed <= set(sites_csv["source_id"].astype(str))
    assert groups["cost_total"].sum() == pytest.approx(s["cost_total"], rel=1e-6)
    assert {i for g in s["groups"] for i in g["sites_new"]} == listed
    assert "site_rows" not in json.dumps(s["groups"])
    # the scenario key: off solves the model whole, auto by the model's rule (at 5 minutes
    # the largest group holds over two thirds of the model: whole, and said so)
    off = run(make_scenario(life_circle_toml(tmp_path, nanjing_osm, decompose="off")))
    assert off.summary["decompose"] == "off" and "groups" not in off.summary
    assert not any("decompos" in n for n in off.summary["notes"])
    auto = run(make_scenario(life_circle_toml(tmp_path, nanjing_osm, decompose="auto")))
    assert "groups" not in auto.summary
    assert any(n.startswith("decompose = auto: solved whole") for n in auto.summary["notes"])
    assert auto.summary["objective"] >= s["objective"] * (1 - 0.01) - 1e-6  # proven whole
    # at 4 minutes the largest of 6 groups holds a third of the model: auto decomposes
    auto4 = run(make_scenario(life_circle_toml(tmp_path, nanjing_osm, 4, decompose="auto")))
    assert len(auto4.summary["groups"]) == 6
    assert any(n.startswith("decomposed into 6 independent groups")
               for n in auto4.summary["notes"])
    assert "the 6 groups were solved one after another in this process" \
        in auto4.summary["notes"]


def test_cli_refusals(nanjing_osm, tmp_path):
    toml = life_circle_toml(tmp_path, nanjing_osm)
    cases = [(["--decompose", "yes"], "--decompose: Input should be 'off', 'on' or 'auto'"),
             (["--workers", "2"], "decompose is off; add --decompose on"),
             (["--decompose", "on", "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"],
              "not both"),
             (["--decompose", "on", "--workers", "0"], "--workers must be >= 1"),
             (["--decompose", "on", "--model", "max_cover"],
              "only the embedded model is decomposed")]
    for flags, said in cases:
        out = tmp_path / "refused"
        res = CliRunner().invoke(app, ["run", str(toml), "--out", str(out), *flags])
        assert res.exit_code == 2 and said in res.output, (flags, res.output)
        assert not out.exists()  # refused before any work or output
    with pytest.raises(SitingError, match="add --decompose on or auto"):
        run(make_scenario(toml), groups_on=lambda: None)
