"""Policy files: the shipped default, validation messages that name the key, overrides."""

from __future__ import annotations

import numpy as np
import pytest

from siting.config.policy import deep_merge, load_policy, read_policy_dict
from siting.config.scenario import make_scenario
from siting.errors import SitingError


def test_default_policy_loads_with_sources_and_thresholds():
    pol = load_policy()
    assert {"infant_care", "elderly_care", "meal_assist", "after_school", "health_station",
            "housekeeping", "culture_station"} <= set(pol.services)
    for name, s in pol.services.items():
        assert s.name_zh and s.name_en and s.source, name
    # minutes × the group's speed: infant care 6 min at 50 m/min, health 5 min at 60 m/min
    assert pol.threshold_m("infant_care") == pytest.approx(300.0)
    assert pol.threshold_m("health_station") == pytest.approx(300.0)
    assert pol.threshold_m("housekeeping") == pytest.approx(900.0)
    assert pol.tier_m == [300.0, 600.0, 900.0]
    assert pol.area_rate() == pytest.approx(0.30) and pol.area_rate(80) == pytest.approx(0.80)
    assert pol.complex.min_floor_m2 == 600 and pol.complex.min_functions == 3
    # 4.5 places per 1000 residents / 3 % aged 0-2 = 0.15 places per child
    assert pol.services["infant_care"].rate == pytest.approx(0.15)
    assert "floor_m2_per_unit" in pol.services["infant_care"].placeholder
    table = pol.service_table()
    assert list(table["service"]) == pol.active_services


def _write(tmp_path, data_text):
    p = tmp_path / "policy.toml"
    p.write_text(data_text, encoding="utf-8")
    return p


def _default_text():
    from importlib import resources
    return resources.files("siting.config").joinpath("policies/cn_default.toml").read_text("utf-8")


def test_unknown_key_is_named(tmp_path):
    text = _default_text().replace("[services.infant_care]\n",
                                   "[services.infant_care]\nflor_m2_per_unit = 9.0\n")
    with pytest.raises(SitingError, match=r"services\.infant_care\.flor_m2_per_unit: unknown key"):
        load_policy(_write(tmp_path, text))


def test_unknown_top_level_table_is_named(tmp_path):
    with pytest.raises(SitingError, match=r"standards: unknown key"):
        load_policy(_write(tmp_path, _default_text() + "\n[standards]\nx = 1\n"))


def test_missing_unit_is_named(tmp_path):
    text = _default_text().replace('unit = "托位 (place)"\n', "")
    with pytest.raises(SitingError, match=r"services\.infant_care\.unit: missing"):
        load_policy(_write(tmp_path, text))


def test_missing_floor_area_is_named():
    data = read_policy_dict()
    del data["services"]["elderly_care"]["floor_m2_per_unit"]
    from siting.config.policy import validate_policy
    with pytest.raises(SitingError, match=r"services\.elderly_care\.floor_m2_per_unit: missing"):
        validate_policy(data)


def test_zero_area_rejected():
    with pytest.raises(SitingError, match=r"services\.meal_assist\.min_floor_m2: Input should be greater than 0"):
        load_policy(overrides={"services": {"meal_assist": {"min_floor_m2": 0}}})
    with pytest.raises(SitingError, match=r"services\.meal_assist\.floor_m2_per_unit"):
        load_policy(overrides={"services": {"meal_assist": {"floor_m2_per_unit": 0.0}}})


def test_threshold_given_twice_or_unknown_speed():
    with pytest.raises(SitingError, match="exactly one of walk_min"):
        load_policy(overrides={"services": {"meal_assist": {"walk_m": 400.0}}})
    with pytest.raises(SitingError, match=r"services\.meal_assist\.speed_profile: 'cyclist'"):
        load_policy(overrides={"services": {"meal_assist": {"speed_profile": "cyclist"}}})


def test_sites_table_is_opaque():
    pol = load_policy(overrides={"sites": {"classes": {"industrial": "idle_factory"},
                                           "acquisition": {"lease": {"per_m2_year": 600}}}})
    assert pol.sites["acquisition"]["lease"]["per_m2_year"] == 600


def test_deep_merge_and_none_removes():
    base = {"a": {"b": 1, "c": 2}, "d": 3}
    assert deep_merge(base, {"a": {"b": 5}}) == {"a": {"b": 5, "c": 2}, "d": 3}
    assert deep_merge(base, {"a": {"c": None}}) == {"a": {"b": 1}, "d": 3}
    assert base == {"a": {"b": 1, "c": 2}, "d": 3}


def test_scenario_policy_table_overrides(tmp_path):
    sc_file = tmp_path / "scenario.toml"
    sc_file.write_text(
        'osm = "x.osm"\npolicy_file = "my_policy.toml"\nbudget = 5e6\nstandard = 80\n'
        "[policy.services.infant_care]\nwalk_min = 8.0\n", encoding="utf-8")
    (tmp_path / "my_policy.toml").write_text(_default_text(), encoding="utf-8")
    sc = make_scenario(sc_file)
    assert sc.embedded and sc.standard == 80
    assert sc.policy_file == tmp_path / "my_policy.toml"
    pol = load_policy(sc.policy_file, sc.policy)
    assert pol.threshold_m("infant_care") == pytest.approx(400.0)  # 8 min x 50 m/min
    assert not make_scenario(osm="x.osm").embedded
    assert make_scenario(osm="x.osm", model="embedded").embedded


def test_scenario_policy_overrides_reach_demand_sites_and_communities(helsinki_osm):
    """One resolved policy per run: a scenario's [policy] values are the ones every stage
    uses (age shares and household size in demand, the planning cell of communities, the
    [sites] table of the candidates), not the packaged file's."""
    from siting.config.scenario import make_scenario
    from siting.pipeline import run

    over = {"population": {"household_size": 1.0, "age_shares": {"age_60_plus": 0.5}},
            "area_standard": {"fallback_cell_m": 2000.0},
            "sites": {"min_floor_area_m2": 3000.0},
            "walking": {"speed_m_per_min": {"elderly": 40.0}}}
    r = run(make_scenario(osm=helsinki_osm, policy=over, budget=2e7, time_limit=5))
    d = r.demand
    assert np.allclose(d["age_60_plus"], 0.5 * d["population"])
    assert np.allclose(d["households"], d["population"])
    assert d["community_id"].str.startswith("grid2000_").all()
    assert (r.candidates.loc[r.candidates["floor_area_m2"] < 3000, "excluded_reason"]
            .fillna("").str.contains("below the minimum 3000").all())
    assert r.summary["communities_total"] == d["community_id"].nunique()
    # the summary records the walks used: per service, at the policy's speeds
    assert r.summary["threshold_m_by_service"]["elderly_care"] == pytest.approx(6 * 40.0)
    assert r.summary["speed_m_per_min_by_profile"]["elderly"] == 40.0
    assert r.summary["walk_minutes"] is None and r.summary["speed_m_per_min"] is None


@pytest.mark.parametrize("flag", [["--speed", "70"], ["--walk-minutes", "12"],
                                  ["--threshold-m", "800"]])
def test_walk_flags_refused_for_the_embedded_model(helsinki_osm, tmp_path, flag):
    """--speed / --walk-minutes / --threshold-m would be ignored by the embedded model
    (each service walks its policy threshold): refused, with where to set them instead."""
    from typer.testing import CliRunner

    from siting.cli import app

    res = CliRunner().invoke(app, ["run", "--osm", str(helsinki_osm), "--model", "embedded",
                                   "--out", str(tmp_path / "o"), *flag])
    assert res.exit_code == 2 and "not used by the embedded model" in res.output
    assert "[policy.walking.speed_m_per_min]" in res.output and not (tmp_path / "o").exists()
