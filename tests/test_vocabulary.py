"""One service vocabulary (existing facilities' names and 服务 cells), storeys (楼层) and
lifts (电梯), and the elderly-care storey rules of the policy (JGJ 450-2018)."""

from __future__ import annotations

import json
import re
import warnings
from importlib import resources

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from siting.cli import app
from siting.config.policy import load_policy
from siting.config.site_policy import load_site_policy, site_policy
from siting.errors import SitingError
from siting.inventory import read_existing, read_inventory
from siting.vocabulary import Vocabulary, parse_storey
from tests.conftest import SHARED, shared_file

POLICY = load_site_policy()
MIN = {k: s.min_floor_m2 for k, s in load_policy().services.items()}
INTERNAL_IDS = re.compile(r"sites? \[\d")  # e.g. "for sites [31, 32]": never shown


def _csv(tmp_path, text, name="ex.csv"):
    p = tmp_path / name
    p.write_text(text.strip() + "\n", encoding="utf-8")
    return p


def _notes(call):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = call()
    return out, [str(w.message) for w in caught if issubclass(w.category, UserWarning)]


# --------------------------------------------------------------------------
# storeys
# --------------------------------------------------------------------------
STOREYS = [
    ("1", 1), ("2", 2), ("-1", -1), ("-2", -2), (3, 3), (-1.0, -1),
    ("1F", 1), ("1f", 1), ("F1", 1), ("f3", 3), ("12F", 12), ("１Ｆ", 1),
    ("一层", 1), ("首层", 1), ("底层", 1), ("地面层", 1), ("一楼", 1), ("1楼", 1),
    ("2层", 2), ("二楼", 2), ("3楼", 3), ("第三层", 3), ("十二层", 12), ("地上2层", 2),
    ("地下一层", -1), ("地下1层", -1), ("负一层", -1), ("负1层", -1), ("地下二层", -2),
    ("B1", -1), ("b1", -1), ("b2", -2), ("B1F", -1), ("地下室", -1), ("半地下室", -1),
    ("1-2层", 1), ("1~2层", 1), ("1～3层", 1), ("1至3层", 1), ("2-3F", 2), ("B1-1F", -1),
    ("-1-2", -1), ("一至二层", 1), (" 2 层 ", 2), ("1、2层", 1), ("2，3层", 2), ("B1,1F", -1),
    ("", None), (None, None), (np.nan, None),
]


@pytest.mark.parametrize("written, storey", STOREYS)
def test_storey_notations(written, storey):
    got = parse_storey(written)
    assert (np.isnan(got) if storey is None else got == storey), (written, got)


@pytest.mark.parametrize("written", ["夹层", "0", "0层", "2.5", "屋顶", "二三层", "B", "高层"])
def test_storey_refused_naming_file_row_column_and_forms(tmp_path, written):
    inv = _csv(tmp_path, f"名称,经度,纬度,建筑面积,楼层\n甲,118.78,32.04,500,1层\n"
                         f"乙,118.78,32.04,500,{written}", name="inv.csv")
    with pytest.raises(SitingError) as err:
        read_inventory(inv)
    msg = str(err.value)
    assert msg.startswith(f"inv.csv row 3, column '楼层': '{written}'")
    assert "地下一层" in msg and "B1" in msg and "1F" in msg and "1-2层" in msg
    if written == "夹层":
        assert "mezzanine" in msg


def test_inventory_storeys_and_lifts(tmp_path):
    inv = _csv(tmp_path, "名称,经度,纬度,建筑面积,楼层,电梯\n"
                         "a,118.78,32.04,500,地下一层,有\nb,118.78,32.04,500,B2,无\n"
                         "c,118.78,32.04,500,1-2层,\nd,118.78,32.04,500,二楼,否\n"
                         "e,118.78,32.04,500,,yes", name="inv.csv")
    got = read_inventory(inv)
    assert got["ground_floor"].tolist()[:4] == [-1, -2, 1, 2] and np.isnan(got["ground_floor"][4])
    assert got["lift"].tolist()[0:2] == [1.0, 0.0] and np.isnan(got["lift"][2])
    assert got["lift"].tolist()[3:] == [0.0, 1.0]
    bad = _csv(tmp_path, "名称,经度,纬度,建筑面积,电梯\na,118.78,32.04,500,maybe", name="bad.csv")
    with pytest.raises(SitingError, match=r"bad.csv row 2, column '电梯': 'maybe' is not "
                                          r"yes/no; write 有/无"):
        read_inventory(bad)


# --------------------------------------------------------------------------
# the vocabulary
# --------------------------------------------------------------------------
WORDS = {
    "infant_care": ["托育", "托儿所", "婴幼儿照护", "infant care", "Childcare"],
    "elderly_care": ["日间照料", "日照中心", "养老服务中心", "嵌入式养老", "长者照护之家",
                     "elderly care", "elderly_care"],
    "meal_assist": ["助餐", "老年食堂", "老年餐桌", "长者食堂", "社区食堂", "meal assistance"],
    "after_school": ["四点半课堂", "课后托管", "托管", "after-school", "After School"],
    "health_station": ["社区卫生服务站", "卫生服务站", "卫生室", "health station"],
    "housekeeping": ["家政", "housekeeping"],
    "culture_station": ["文化活动室", "文化站", "健身", "culture station"],
}


@pytest.mark.parametrize("service, word", [(s, w) for s, ws in WORDS.items() for w in ws])
def test_each_word_names_its_service_in_names_and_cells(service, word):
    v = Vocabulary(POLICY)
    assert v.find(f"某某街道{word}（一号点）")[0] == [service]
    assert v.cell(word) == ([service], [], [])


@pytest.mark.parametrize("name, services", [
    ("阳光幼儿园", []), ("某某小学", []), ("某某中学", []), ("上海长征医院", []),
    ("某某诊所", []), ("某某Kindergarten", []), ("某银行资产托管部", []),
    ("某社保中心养老保险窗口", []), ("社区服务站", []),
    ("某幼儿园托班", ["infant_care"]),  # a kindergarten's 托班 for under-threes is infant care
    ("某医院社区卫生服务站", ["health_station"]),
    ("中学生课后托管", ["after_school"]), ("after-school club", ["after_school"]),
])
def test_not_modelled_words(name, services):
    assert Vocabulary(POLICY).find(name)[0] == services


@pytest.mark.parametrize("cell", ["日间照料;助餐", "日间照料；助餐", "日间照料、助餐", "日间照料,助餐",
                                  "日间照料，助餐", "日间照料/助餐", "日间照料 助餐",
                                  "elderly_care,meal_assist", "Elderly care; meal assistance"])
def test_service_cell_separators(cell):
    assert Vocabulary(POLICY).cell(cell) == (["elderly_care", "meal_assist"], [], [])


def test_kindergarten_is_not_infant_care_in_a_cell():
    services, other, unknown = Vocabulary(POLICY).cell("幼儿园")
    assert services == [] and other == ["幼儿园"] and unknown == []
    assert Vocabulary(POLICY).cell("日间照料;理发") == (["elderly_care"], [], ["理发"])


# --------------------------------------------------------------------------
# existing facilities
# --------------------------------------------------------------------------
AMAP = """name,address,adname,pname,type,lat,lon,服务
朝阳区某街道养老服务中心,某路1号,朝阳区,北京市,生活服务,39.99,116.47,日间照料;助餐
望京某社区老年餐桌,某路2号,朝阳区,北京市,餐饮服务,39.99,116.47,
阳光幼儿园,某路3号,朝阳区,北京市,科教文化服务;学校;幼儿园,39.99,116.47,
某理发店,某路4号,朝阳区,北京市,生活服务,39.99,116.47,
某社区卫生服务站,某路5号,朝阳区,北京市,医疗保健服务,39.99,116.47,
某四点半课堂,某路6号,朝阳区,北京市,科教文化服务,39.99,116.47,托管、理发
某小学,某路7号,朝阳区,北京市,科教文化服务;学校;小学,39.99,116.47,kindergarten
"""


def test_amap_existing_without_floor_area(tmp_path):
    ex, notes = _notes(lambda: read_existing(_csv(tmp_path, AMAP)))
    assert ex["name"].tolist() == ["朝阳区某街道养老服务中心", "望京某社区老年餐桌", "某社区卫生服务站",
                                   "某四点半课堂"]
    assert ex["existing_services"].tolist() == ["elderly_care,meal_assist", "meal_assist",
                                                "health_station", "after_school"]
    # no floor area: the minimum its services need, said in one note with the row count
    assert ex["usable_area_m2"].tolist() == [MIN["elderly_care"] + MIN["meal_assist"],
                                             MIN["meal_assist"], MIN["health_station"],
                                             MIN["after_school"]]
    assert ex["existing"].all() and ex["cost_total"].eq(0).all()
    rows = [n for n in notes if "name no modelled service" in n]
    assert len(rows) == 1, notes
    note = rows[0]
    assert note.startswith("ex.csv: 3 of 7 rows name no modelled service and are left out")
    assert "row 4 阳光幼儿园 (not a modelled service: 幼儿园)" in note
    assert "row 5 某理发店 (no service word)" in note
    assert "row 8 某小学 (not a modelled service: kindergarten/小学)" in note
    assert "row 7 某四点半课堂 (unrecognised '理发')" in note  # kept, but the word is named
    assert [n for n in notes if "4 existing facilities have no floor area" in n]
    assert not any(INTERNAL_IDS.search(n) for n in notes)


def test_existing_floor_area_given_wins(tmp_path):
    p = _csv(tmp_path, "名称,经度,纬度,建筑面积,服务\n甲,118.78,32.04,800,日间照料\n"
                       "乙,118.78,32.04,,助餐")
    ex, notes = _notes(lambda: read_existing(p))
    assert ex["floor_area_m2"].tolist() == [800.0, MIN["meal_assist"]]
    assert [n for n in notes if "1 existing facility has no floor area" in n]


def test_shanghai_amap_rows_kindergartens_are_not_coverage(tmp_path):
    kg = pd.read_csv(shared_file(SHARED / "shanghai_poi_amap" / "kindergarten_幼儿园.csv")).head(3)
    hosp = pd.read_csv(SHARED / "shanghai_poi_amap" / "shanghai_hospital.csv")
    health = hosp[hosp["name"].str.contains("社区卫生服务站")].head(2)
    path = tmp_path / "sh.csv"
    pd.concat([kg, health]).to_csv(path, index=False)
    ex, notes = _notes(lambda: read_existing(path))
    assert ex["name"].tolist() == health["name"].tolist()
    assert ex["existing_services"].eq("health_station").all()
    note = next(n for n in notes if "name no modelled service" in n)
    for i, name in enumerate(kg["name"]):
        assert f"row {i + 2} {name} (not a modelled service: " in note


def test_inventory_existing_rows_without_a_service_are_excluded(tmp_path):
    p = _csv(tmp_path, "名称,经度,纬度,建筑面积,现有,服务\n甲,118.78,32.04,800,是,幼儿园\n"
                       "乙,118.78,32.04,500,是,老年餐桌\n丙,118.78,32.04,500,否,", name="inv.csv")
    inv, notes = _notes(lambda: read_inventory(p))
    assert inv["existing_services"].fillna("-").tolist() == ["-", "meal_assist", "-"]
    assert inv["excluded_reason"].tolist() == ["existing facility naming no modelled service",
                                               None, None]
    assert any(n.startswith("inv.csv: 1 of 2 existing rows (现有) name no modelled service and "
                            "are excluded: row 2 甲 (not a modelled service: 幼儿园)") for n in notes)


def test_embedded_model_names_sites_without_area_not_positions():
    from siting.models.embedded import prepare_sites

    sites = pd.DataFrame({"usable_area_m2": [100.0, np.nan], "name": ["甲", "某日间照料中心"],
                          "source_id": ["1", "7"], "source": ["inventory", "existing"]})
    with pytest.raises(SitingError) as err:
        prepare_sites(sites, load_policy())
    assert "某日间照料中心 7 (existing)" in str(err.value)
    assert not INTERNAL_IDS.search(str(err.value))


# --------------------------------------------------------------------------
# policy
# --------------------------------------------------------------------------
def test_elderly_care_storey_rules_have_their_source():
    e = load_policy().services["elderly_care"]
    assert e.lowest_storey == 1 and e.highest_storey is None and e.lift_from_storey == 2
    assert "JGJ 450-2018 5.1.2" in e.source and "5.6.4" in e.source
    storey = np.array([-2, -1, 1, 2, 3, np.nan, 2, 2])
    lift = np.array([1, 1, 0, 0, 0, 0, 1, np.nan])
    assert e.storey_ok(storey, lift).tolist() == [False, False, True, False, False, True,
                                                  True, True]
    assert e.storey_ok(storey).tolist() == [False, False, True, True, True, True, True, True]


def test_vocabulary_in_a_policy_file(tmp_path):
    text = resources.files("siting.config").joinpath("policies/cn_default.toml").read_text("utf-8")
    old = tmp_path / "old.toml"
    old.write_text(text + '\n[sites.existing_services]\n"托育" = "infant_care"\n', "utf-8")
    with pytest.raises(SitingError, match=r"\[sites.existing_services\] is no longer read"):
        load_site_policy(old)
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace("housekeeping = [\"家政\"", "house_keeping = [\"家政\"", 1),
                   "utf-8")
    with pytest.raises(SitingError, match="'house_keeping' is not a service"):
        load_site_policy(bad)
    # a city adds its own word; a scenario override adds another
    mine = tmp_path / "city.toml"
    mine.write_text(text.replace('"长者饭堂",', '"长者饭堂", "幸福食堂",', 1), "utf-8")
    assert Vocabulary(site_policy(mine)).find("某幸福食堂")[0] == ["meal_assist"]
    over = {"sites": {"service_vocabulary": {"housekeeping": ["家政", "便民服务站"]}}}
    assert Vocabulary(site_policy(mine, over)).find("某便民服务站")[0] == ["housekeeping"]
    # a policy file without [sites] keeps the packaged vocabulary
    bare = tmp_path / "bare.toml"
    bare.write_text(text[:text.index("[sites]")], "utf-8")
    assert Vocabulary(site_policy(bare)).find("老年餐桌")[0] == ["meal_assist"]


# --------------------------------------------------------------------------
# end to end through the CLI
# --------------------------------------------------------------------------
def _helsinki_existing(tmp_path):
    # Amap-shape rows placed in the built-in Helsinki sample (24.935-24.953 E, 60.164-60.179 N)
    rows = AMAP.replace("39.99,116.47", "{}")
    spots = iter(["60.170,24.940", "60.172,24.945", "60.174,24.948", "60.168,24.950",
                  "60.175,24.942", "60.171,24.937", "60.169,24.946"])
    return _csv(tmp_path, re.sub(r"\{\}", lambda m: next(spots), rows))


def test_cli_embedded_run_recognises_chinese_service_words(tmp_path, helsinki_osm):
    ex = _helsinki_existing(tmp_path)
    policy = tmp_path / "policy.toml"
    policy.write_text(resources.files("siting.config").joinpath("policies/cn_default.toml")
                      .read_text("utf-8"), "utf-8")
    out = tmp_path / "out"
    res = CliRunner().invoke(app, [str(a) for a in (
        "run", "--osm", helsinki_osm, "--existing", ex, "--policy", policy, "--budget", 5e6,
        "--time-limit", 10, "--out", out)])
    assert res.exit_code == 0, res.output
    assert "embedded plan: cost" in res.output
    notes = [line for line in res.output.splitlines() if line.startswith("siting: note: ex.csv")]
    assert len(notes) == 2, res.output  # the rows left out, and the defaulted floor areas
    assert "3 of 7 rows name no modelled service" in notes[0]
    assert "row 4 阳光幼儿园 (not a modelled service: 幼儿园)" in notes[0]
    assert "4 existing facilities have no floor area" in notes[1]
    assert not INTERNAL_IDS.search(res.output) and "usable_area_m2 is missing" not in res.output
    s = json.loads((out / "summary.json").read_text("utf-8"))
    assert s["model"] == "embedded" and s["n_existing_sites"] == 4
    sites = gpd.read_file(out / "sites.gpkg")
    ex_sites = sites[sites["existing"].astype(bool)].set_index("name")
    assert ex_sites.loc["朝阳区某街道养老服务中心", "area_m2_elderly_care"] > 0
    assert ex_sites.loc["朝阳区某街道养老服务中心", "area_m2_meal_assist"] > 0
    assert ex_sites.loc["望京某社区老年餐桌", "area_m2_meal_assist"] > 0
    assert "阳光幼儿园" not in set(sites["name"].dropna())


def test_cli_coverage_model_does_not_count_a_kindergarten(tmp_path, helsinki_osm):
    ex = _csv(tmp_path, "name,lat,lon,服务\n阳光幼儿园,60.174,24.948,\n"
                        "某托儿所,60.170,24.940,\n某小学,60.169,24.946,school")
    out = tmp_path / "out"
    res = CliRunner().invoke(app, [str(a) for a in (
        "run", "--osm", helsinki_osm, "--existing", ex, "--max-sites", 2, "--out", out)])
    assert res.exit_code == 0, res.output
    assert "row 2 阳光幼儿园 (not a modelled service: 幼儿园)" in res.output
    s = json.loads((out / "summary.json").read_text("utf-8"))
    assert s["n_existing_sites"] == 1  # only the 托儿所 (infant care) operates
    only_kg = _csv(tmp_path, "name,lat,lon\n阳光幼儿园,60.174,24.948", name="kg.csv")
    res = CliRunner().invoke(app, [str(a) for a in (
        "run", "--osm", helsinki_osm, "--existing", only_kg, "--out", tmp_path / "o2")])
    assert res.exit_code == 2
    assert "kg.csv: no row names a modelled service (row 2 阳光幼儿园 (not a modelled " \
           "service: 幼儿园))" in res.output


def test_cli_elderly_care_not_in_a_basement(tmp_path, helsinki_osm):
    """An inventory basement next to everyone: the plan never puts elderly care there."""
    from siting.io.osm import read_osm

    area = read_osm(helsinki_osm).study_area()
    c = area.centroid
    inv = _csv(tmp_path, "编号,名称,经度,纬度,建筑面积,楼层,电梯,费用\n"
                         f"K1,地下室,{c.x},{c.y},3000,地下一层,有,1\n"
                         f"K2,二楼无电梯,{c.x + 0.0005},{c.y},3000,二楼,无,1\n"
                         f"K3,首层,{c.x + 0.006},{c.y + 0.004},3000,首层,,1", name="inv.csv")
    over = tmp_path / "sc.toml"
    text = resources.files("siting.config").joinpath("policies/cn_default.toml").read_text("utf-8")
    policy = tmp_path / "policy.toml"
    policy.write_text(text, "utf-8")
    over.write_text(f'osm = "{helsinki_osm}"\ninventory = "{inv}"\npolicy_file = "{policy}"\n'
                    f"budget = 3000000\ntime_limit = 10\n"
                    f'[policy.services]\n' + "".join(
                        f"{k}.enabled = {str(k == 'elderly_care').lower()}\n"
                        for k in load_policy().services), "utf-8")
    from siting.config.scenario import make_scenario
    from siting.pipeline import run

    res = run(make_scenario(over))
    sites = res.sites.set_index("source_id")
    assert sites.loc["K1", "ground_floor"] == -1 and sites.loc["K2", "lift"] == 0
    hosted = sites["area_m2_elderly_care"].fillna(0)
    assert hosted.get("K1", 0) == 0 and hosted.get("K2", 0) == 0
    assert hosted.sum() > 0
    # the same inventory without 楼层/电梯: the basement next to everyone is taken
    free_inv = tmp_path / "free.csv"
    pd.read_csv(inv).drop(columns=["楼层", "电梯"]).to_csv(free_inv, index=False)
    free = run(make_scenario(over, inventory=free_inv))
    free_hosted = free.sites.set_index("source_id")["area_m2_elderly_care"].fillna(0)
    assert free_hosted.get("K1", 0) > 0 or free_hosted.get("K2", 0) > 0


def test_readme_lists_the_vocabulary():
    """README's table of service words holds every Chinese word of the packaged vocabulary."""
    from tests.conftest import ROOT

    readme = (ROOT / "README.md").read_text("utf-8")
    table = readme[readme.index("| service | words"):readme.index("Words are matched longest")]
    for key, words in POLICY["service_vocabulary"].items():
        line = next(x.strip() for x in table.splitlines()
                    if x.strip().startswith(f"| `{key}` |" if key != "not_modelled"
                                            else "| not modelled"))
        missing = [w for w in words if re.search(r"[\u4e00-\u9fff]", w) and w not in line]
        assert not missing, (key, missing)


def test_policy_file_without_sites_table_and_with_fewer_services(tmp_path):
    """A policy of two services: the others' words name services it does not model."""
    import tomllib

    text = resources.files("siting.config").joinpath("policies/cn_default.toml").read_text("utf-8")
    data = tomllib.loads(text)
    head = text[:text.index("[services.")]
    keep = "".join(text[text.index(f"[services.{k}]"):].split("\n[", 1)[0] + "\n\n"
                   for k in ("elderly_care", "meal_assist"))
    p = tmp_path / "two.toml"
    head = head.replace('priority_services = ["elderly_care", "infant_care", "after_school", '
                        '"meal_assist"]', 'priority_services = ["elderly_care", "meal_assist"]')
    p.write_text(head + keep, "utf-8")
    assert set(load_policy(p).services) == {"elderly_care", "meal_assist"}
    pol = site_policy(p)
    v = Vocabulary(pol)
    assert v.find("某日间照料中心")[0] == ["elderly_care"]
    assert v.find("某托育中心") == ([], ["托育"], "某\0中心")
    assert pol["service_min_floor_m2"] == {
        k: data["services"][k]["min_floor_m2"] for k in ("elderly_care", "meal_assist")}
