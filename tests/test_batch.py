"""`siting batch` on a real Dask LocalCluster: six areas from ../shared/data (one with a
missing file, one with roads only), resuming, a worker killed mid-area, bad tables, an
area solving its decomposed plan's groups on the batch's own cluster."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import pandas as pd
import pytest
from typer.testing import CliRunner

from siting.batch import read_areas, run_batch
from siting.cli import app
from siting.errors import SitingError
from siting.io.outdir import read_marker

from conftest import SHARED, shared_file
from life_circle import life_circle_toml

NJ = "nanjing_xinjiekou_osm/nanjing_xinjiekou.osm"
WJ = "beijing_chaoyang_wangjing_osm/beijing_chaoyang_wangjing.osm"
HD = "beijing_haidian_cau_osm/beijing_haidian_cau.osm"
ROADS = "shanghai_central_roads_osm/shanghai_center_roads.osm"


@pytest.fixture(scope="module")
def areas_csv(tmp_path_factory):
    for f in (NJ, WJ, HD, ROADS):
        shared_file(SHARED / f)
    folder = tmp_path_factory.mktemp("batch")
    rows = [  # paths relative to the table, as a planner would keep them
        ("nj", "南京新街口", os.path.relpath(SHARED / NJ, folder), 3, ""),
        ("nj-west", "新街口西", os.path.relpath(SHARED / NJ, folder), 2,
         "118.765,32.030,118.780,32.050"),
        ("wj", "望京", str(SHARED / WJ), 3, ""),
        ("hd", "海淀 =HYPERLINK(\"x\")", str(SHARED / HD), 3, ""),
        ("missing", "缺文件", "no-such-file.osm", 3, ""),
        ("roads", "上海道路", str(SHARED / ROADS), 3, ""),
    ]
    path = folder / "areas.csv"
    pd.DataFrame(rows, columns=["area_id", "name", "osm", "max_sites", "bbox"]).to_csv(
        path, index=False, encoding="utf-8-sig")
    return path


@pytest.fixture(scope="module")
def first_run(areas_csv):
    out = areas_csv.parent / "out"
    lines = []
    rollup = run_batch(areas_csv, out, workers=2, progress=lines.append)
    return out, rollup, lines


def test_good_areas_finish_and_bad_ones_are_reported(first_run):
    out, rollup, lines = first_run
    state = dict(zip(rollup["area_id"], rollup["state"]))
    assert state == {"nj": "done", "nj-west": "done", "wj": "done", "hd": "done",
                     "missing": "failed", "roads": "failed"}
    err = dict(zip(rollup["area_id"], rollup["error"]))
    assert "no-such-file.osm" in err["missing"] and "not found" in err["missing"]
    assert "no buildings" in err["roads"]
    for area in ("nj", "nj-west", "wj", "hd"):  # each folder as `siting run` writes it
        assert read_marker(out / area) is not None
        summary = json.loads((out / area / "summary.json").read_text())
        row = rollup.set_index("area_id").loc[area]
        assert summary["covered_population"] == pytest.approx(row["covered_population"])
        assert summary["n_sites_chosen"] == row["n_sites_chosen"] <= 3
    # the bbox row plans a part of the same extract: fewer people
    tot = rollup.set_index("area_id")["total_population"]
    assert 0 < tot["nj-west"] < tot["nj"]
    assert not (out / "missing").exists() and not (out / "roads").exists()
    assert len([x for x in lines if "areas, ETA" in x]) == 6


def test_rollup_files_list_every_area(first_run):
    out, rollup, _ = first_run
    csv = pd.read_csv(out / "rollup.csv", encoding="utf-8-sig")
    assert list(csv["area_id"]) == ["nj", "nj-west", "wj", "hd", "missing", "roads"]
    # a name from the table never becomes a spreadsheet formula
    assert csv.loc[csv["area_id"] == "hd", "name"].iloc[0].startswith("海淀")
    import geopandas as gpd
    from openpyxl import load_workbook

    gpkg = gpd.read_file(out / "rollup.gpkg")
    assert sorted(gpkg["area_id"]) == ["hd", "nj", "nj-west", "wj"]
    assert gpkg.crs.to_epsg() == 4326
    ws = load_workbook(out / "rollup.xlsx").active
    assert not any(c.data_type == "f" for row in ws.iter_rows() for c in row)
    for area in ("nj", "missing"):
        rec = json.loads((out / "status" / f"{area}.json").read_text())
        assert {"state", "wall_s", "peak_memory_mb", "error", "input_hash", "versions"} <= set(rec)
    # the map of all areas: finished ones outlined with their numbers, failed ones listed,
    # every name from the table escaped
    page = (out / "rollup.html").read_text(encoding="utf-8")
    for name in ("南京新街口", "新街口西", "望京", "缺文件", "上海道路"):
        assert name in page
    assert 'HYPERLINK(&#34;x&#34;)' in page and 'HYPERLINK("x")' not in page
    assert page.count('"type": "Polygon"') == 4 and "no-such-file.osm" in page
    assert "cdn.jsdelivr" not in page  # Leaflet inline: opens offline


def test_second_run_skips_finished_areas(first_run, areas_csv):
    out, rollup, _ = first_run
    before = {a: (out / a / "summary.json").stat().st_mtime_ns for a in ("nj", "wj")}
    lines = []
    again = run_batch(areas_csv, out, workers=1, progress=lines.append)
    assert sum("skipped" in x for x in lines) == 4
    assert list(again["state"]) == list(rollup["state"])
    assert {a: (out / a / "summary.json").stat().st_mtime_ns for a in ("nj", "wj")} == before


def test_a_killed_worker_is_survived(areas_csv):
    area = read_areas(areas_csv)[1]  # nj-west: the smallest
    out = areas_csv.parent / "kill"
    killed = []

    def kill_when_running():
        path = out / "status" / f"{area['area_id']}.running.json"
        deadline = time.time() + 120
        while time.time() < deadline and not killed:
            try:
                pid = json.loads(path.read_text())["pid"]
            except (OSError, ValueError, KeyError):
                time.sleep(0.05)
                continue
            time.sleep(1.0)  # inside the area's run
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    t = threading.Thread(target=kill_when_running)
    t.start()
    rollup = run_batch([area], out, workers=1, retries=2)
    t.join()
    assert killed, "the test never saw the area running"
    assert rollup["state"].tolist() == ["done"]
    rec = json.loads((out / "status" / "nj-west.json").read_text())
    assert rec["state"] == "done"
    assert read_marker(out / "nj-west") is not None


def test_bad_tables_and_folders_are_refused(tmp_path, areas_csv):
    bad = tmp_path / "bad.csv"
    bad.write_text("area_id,osm,walk_speed\nx,a.osm,3\n", encoding="utf-8")
    with pytest.raises(SitingError, match="'walk_speed' are not scenario keys"):
        read_areas(bad)
    bad.write_text("area_id,osm\nx,a.osm\nx,b.osm\n", encoding="utf-8")
    with pytest.raises(SitingError, match="appears twice"):
        read_areas(bad)
    bad.write_text("area_id,osm\n../up,a.osm\n", encoding="utf-8")
    with pytest.raises(SitingError, match="names a folder"):
        read_areas(bad)
    bad.write_text("name,osm\nx,a.osm\n", encoding="utf-8")
    with pytest.raises(SitingError, match="no area_id column"):
        read_areas(bad)
    user = tmp_path / "mine"
    user.mkdir()
    (user / "notes.txt").write_text("keep")
    with pytest.raises(SitingError, match="not an earlier siting batch"):
        run_batch(areas_csv, user, workers=1)
    assert (user / "notes.txt").read_text() == "keep" and len(list(user.iterdir())) == 1


def test_cli_reports_failed_areas_with_exit_code_2(first_run, areas_csv):
    out, _, _ = first_run
    res = CliRunner().invoke(app, ["batch", str(areas_csv), "--out", str(out),
                                   "--workers", "1"])
    assert res.exit_code == 2, res.output
    assert "area 'missing' failed" in res.output and "area 'roads' failed" in res.output
    res = CliRunner().invoke(app, ["batch", str(areas_csv), "--out", str(out),
                                   "--workers", "1", "--scheduler", "tcp://127.0.0.1:1"])
    assert res.exit_code == 2 and "--workers sizes the local cluster" in res.output


def test_an_extract_is_read_once_per_process(monkeypatch, tmp_path):
    """Scenarios on one file (compare, batch workers) read it once while it is unchanged."""
    import shutil

    import siting.pipeline as pl
    from siting.config.scenario import make_scenario
    from siting.io.osm import read_osm as real

    osm = tmp_path / "nj.osm"
    shutil.copy(shared_file(SHARED / NJ), osm)
    reads = []
    monkeypatch.setattr(pl, "read_osm", lambda path: reads.append(path) or real(path))
    pl._read_osm_cached.cache_clear()
    bbox = (118.765, 32.030, 118.780, 32.050)
    a = pl.run(make_scenario(osm=osm, bbox=bbox, max_sites=1))
    b = pl.run(make_scenario(osm=osm, bbox=bbox, max_sites=2))
    assert len(reads) == 1 and len(b.solution.chosen) == 2
    assert a.summary["total_population"] == b.summary["total_population"]
    os.utime(osm, ns=(time.time_ns(), time.time_ns() + 10**9))
    pl.run(make_scenario(osm=osm, bbox=bbox, max_sites=1))  # the file changed: read again
    assert len(reads) == 2
    pl._read_osm_cached.cache_clear()


def test_an_area_over_its_time_limit_is_stopped(areas_csv, tmp_path):
    """The per-area wall clock holds even when the run ignores it: the worker is
    restarted, the area is reported as a timeout, the batch goes on."""
    # the whole Nanjing extract's embedded plan at 40 M with a solver limit of 600 s: the
    # build alone is seconds and the proof tens of seconds, far over the area's 2 s
    table = tmp_path / "slow.csv"
    table.write_text("area_id,name,osm,model,budget,time_limit\n"
                     f"nj,南京新街口,{SHARED / NJ},embedded,4e7,600\n", encoding="utf-8")
    rollup = run_batch(table, tmp_path / "slow", workers=1, area_time_limit=2.0)
    assert rollup["state"].tolist() == ["timeout"]
    rec = json.loads((tmp_path / "slow" / "status" / "nj.json").read_text())
    assert rec["state"] == "timeout" and "area time limit of 2 s" in rec["error"]
    assert rec["wall_s"] < 5.0  # checked every second; the worker is killed, not drained
    assert not (tmp_path / "slow" / "nj").exists()


def test_a_decomposed_area_solves_its_groups_on_the_batch_cluster(nanjing_osm, tmp_path):
    """``decompose`` as a column: the area's group solves run on the batch's cluster from
    inside its task. One worker with one thread: the task secedes while it waits, so the
    worker runs the groups instead of deadlocking (the time limit would say so)."""
    base = life_circle_toml(tmp_path, nanjing_osm)
    table = tmp_path / "areas.csv"
    table.write_text("area_id,name,decompose\ncircle5,五分钟生活圈,on\n", encoding="utf-8")
    assert read_areas(table)[0]["keys"] == {"decompose": "on"}
    rollup = run_batch(table, tmp_path / "out", base=base, workers=1, area_time_limit=120)
    assert rollup["state"].tolist() == ["done"], rollup["error"].tolist()
    s = json.loads((tmp_path / "out" / "circle5" / "summary.json").read_text(encoding="utf-8"))
    assert s["decompose"] == "on" and len(s["groups"]) == 5
    assert any(n.startswith("decomposed into 5 independent groups") for n in s["notes"])
    assert "the 5 groups were solved on the batch's Dask cluster, 1 at once" in s["notes"]
