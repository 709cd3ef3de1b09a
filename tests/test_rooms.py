"""Shared rooms, the three levels, residents' needs and running costs (issue #16, items 3–6).

Each input is changed on a tiny hand-built instance and the plan must change as it
should; then the MILP is checked against brute force (an independent formulation: it
enumerates each site's services and level and, for the subsidy cap, which sites run a
deficit, and solves the rest as LPs with scipy) on small random instances with all four
at once; finally the Nanjing example in data/nanjing runs with the sample inputs.
"""

from __future__ import annotations

import itertools
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linprog

from siting.config.policy import load_policy
from siting.errors import SitingError
from siting.models.embedded import EmbeddedFacilities
from siting.models.embedded.needs import read_needs, with_needs
from siting.models.instance import Instance

SERVICES = ("meal_assist", "after_school", "elderly_care")
ALL = ("infant_care", "elderly_care", "meal_assist", "after_school", "health_station",
       "housekeeping", "culture_station")
REACH = 600.0
DATA = Path(__file__).resolve().parents[1] / "data" / "nanjing"
PACKAGED_LEVELS = list(load_policy().hierarchy.levels)


def close(value):
    """Equal within the least-cost stage's tolerance (1e-6 of the objective)."""
    return pytest.approx(value, rel=1e-5)


def policy(services=("meal_assist", "after_school"), **over):
    """Only ``services``, walking ``walk_m`` metres, complexes not required (so a small
    site may host two services), the area standard off; ``over`` merged on top."""
    base = {"services": {s: {"enabled": s in services} for s in ALL},
            "complex": {"multi_function_requires_complex": False},
            "tiers": {"minutes": [3.0, 6.0]},
            "area_standard": {"reach_min": 5.0},
            # the packaged levels off: each test names its own
            "hierarchy": {"levels": {k: {"enabled": False} for k in PACKAGED_LEVELS}}}
    for s in services:
        base["services"][s].update({"walk_m": 500.0, "walk_min": None})
    from siting.config.policy import deep_merge

    for lv in over.get("hierarchy", {}).get("levels", {}).values():
        lv.setdefault("enabled", True)
    return load_policy(overrides=deep_merge(base, over))


def case(dist, demand, area, cost=None):
    """An instance from a demand × site distance matrix (metres)."""
    dist = np.asarray(dist, float)
    i, j = np.nonzero(dist <= REACH)
    pop = demand["population"].to_numpy(float)
    inst = Instance(pop, np.zeros(dist.shape[1]), i, j, dist[i, j], REACH)
    sites = pd.DataFrame({"usable_area_m2": np.asarray(area, float),
                          "cost": np.zeros(len(area)) if cost is None else np.asarray(cost, float)})
    return inst, sites


def plan(pol, inst, demand, sites, marginal=False, **kw):
    kw.setdefault("standard_mode", "off")
    return EmbeddedFacilities(inst, pol, demand, sites, **kw).solve("highs", marginal=marginal)


def hosted(sol, site):
    row = sol.sites.set_index("site").loc[site]
    return set(filter(None, row["services"].split(", ")))


# ---------------------------------------------------------------------------
# each input changes the plan as it should
# ---------------------------------------------------------------------------
def test_shared_pair_lets_a_small_site_host_both():
    """A 100 m² site: meal assistance wants 80 m², after-school care 90 m². Apart they
    do not fit (the plan keeps meal assistance); as one room used at different hours
    both fit, counted once in the site's area and its cost."""
    demand = pd.DataFrame({"population": [4000.0], "age_60_plus": [800.0],
                           "age_6_14": [300.0], "community_id": ["c"]})
    inst, sites = case([[100.0]], demand, [100.0])
    sites["one_off_per_m2_used"] = 1000.0
    apart = plan(policy(), inst, demand, sites)
    assert hosted(apart, 0) == {"meal_assist"}
    assert "shared_rooms" not in apart.sheets
    pol = policy(shared_rooms={"pairs": [["meal_assist", "after_school"]]})
    both = plan(pol, inst, demand, sites)
    assert hosted(both, 0) == {"meal_assist", "after_school"}
    assert both.served_by_service["after_school"] == close(300.0)
    assert both.served_by_service["meal_assist"] == close(800.0)
    row = both.sites.iloc[0]
    assert row["area_m2"] <= 100.0 + 1e-6  # the room counted once
    assert row["area_m2_meal_assist"] + row["area_m2_after_school"] > 100.0 + 1
    rooms = both.sheets["shared_rooms"]
    assert list(rooms[["service_a", "service_b"]].iloc[0]) == ["meal_assist", "after_school"]
    assert row["shared_m2"] == pytest.approx(rooms["shared_m2"].sum())
    assert "meal_assist+after_school" in row["shared_rooms"]
    # the renovation per m² is paid on the physical area, fit-out per service
    fit = load_policy().costs.fit_out_per_m2
    assert row["cost_one_off"] == pytest.approx(1000.0 * row["area_m2"])
    assert row["cost_fit_out"] == pytest.approx(
        fit * (row["area_m2_meal_assist"] + row["area_m2_after_school"]))
    assert both.summary["cost_total"] == pytest.approx(row["cost_one_off"] + row["cost_fit_out"])


def test_level_service_list_forbids_a_service_at_a_point():
    """Children need 450 m² of after-school care; two sites reach them, 150 m² and
    300 m². Without levels both open. With levels the 150 m² site can only be a compound
    point (50–200 m²), which may not host after-school care here, so only the larger
    site opens, as a community complex; allowing it at points opens both again."""
    demand = pd.DataFrame({"population": [9000.0], "age_60_plus": [0.0],
                           "age_6_14": [1500.0], "community_id": ["c"]})
    inst, sites = case([[100.0, 200.0]], demand, [150.0, 300.0], cost=[1e5, 2e5])
    one = ("after_school",)
    free = plan(policy(one), inst, demand, sites)
    assert free.chosen.tolist() == [0, 1]
    assert "level" not in free.sites
    levels = {"enabled": True, "levels": {
        "compound": {"name_zh": "小区级服务点", "name_en": "compound point", "min_m2": 50.0,
                     "max_m2": 200.0, "services": ["meal_assist"]},
        "community": {"name_zh": "社区级", "name_en": "community complex", "min_m2": 200.0,
                      "max_m2": 1000.0, "services": []}}}
    lv = plan(policy(one, hierarchy=levels), inst, demand, sites)
    assert lv.chosen.tolist() == [1]
    row = lv.sites.iloc[0]
    assert row["level"] == "community" and row["level_name"] == "社区级"
    assert lv.served_by_service["after_school"] == close(1000.0)
    # allowed at a point: the small site opens as one
    ok = policy(one, hierarchy={**levels, "levels": {**levels["levels"], "compound": {
        **levels["levels"]["compound"], "services": ["after_school"]}}})
    pt = plan(ok, inst, demand, sites)
    assert pt.chosen.tolist() == [0, 1]
    assert pt.sites.set_index("site")["level"].to_dict() == {0: "compound", 1: "community"}
    # a level's minimum binds: a centre of at least 400 m² fits neither site
    big = {"enabled": True, "levels": {"centre": {"name_zh": "街道级", "name_en": "centre",
                                                  "min_m2": 400.0, "max_m2": 5000.0}}}
    assert len(plan(policy(one, hierarchy=big), inst, demand, sites).sites) == 0


def test_a_community_requirement_names_a_level():
    """The east's children reach two sites; the west has households but no children. Without
    a requirement one site serves them all; requiring a compound point within reach of every
    community opens the site by the west as a point too. A community no candidate can
    serve at that level is named in a note."""
    demand = pd.DataFrame({"population": [3000.0, 3000.0], "age_60_plus": [0.0, 0.0],
                           "age_6_14": [100.0, 0.0], "community_id": ["东", "西"]})
    inst, sites = case([[100.0, 400.0], [900.0, 100.0]], demand, [300.0, 300.0],
                       cost=[1e5, 2e5])
    point = {"compound": {"name_zh": "小区级服务点", "name_en": "compound point",
                          "min_m2": 50.0, "max_m2": 200.0, "services": []}}
    one = ("after_school",)
    free = plan(policy(one, hierarchy={"enabled": True, "levels": point}), inst, demand, sites)
    assert free.chosen.tolist() == [0]
    need = {"enabled": True, "levels": point, "required_in_reach": ["compound"]}
    both = plan(policy(one, hierarchy=need), inst, demand, sites)
    assert both.chosen.tolist() == [0, 1]
    assert set(both.sites["level"]) == {"compound"}
    assert both.served_by_service["after_school"] == close(100.0)
    sites.loc[1, "usable_area_m2"] = 40.0  # too small for any point: said, not applied
    small = plan(policy(one, hierarchy=need), inst, demand, sites)
    assert small.chosen.tolist() == [0]
    assert any("required_in_reach compound" in n and "西" in n for n in small.summary["notes"])


def test_an_existing_facility_of_the_required_level_counts():
    """An existing compound point (层级 given by its Chinese name) within the west's reach
    meets the west's requirement: the plan no longer opens the site by the west. A level
    on a candidate, an unknown level, or levels with the hierarchy off are refused."""
    demand = pd.DataFrame({"population": [3000.0, 3000.0], "age_60_plus": [0.0, 0.0],
                           "age_6_14": [100.0, 0.0], "community_id": ["东", "西"]})
    inst, sites = case([[100.0, 400.0, 900.0], [900.0, 100.0, 100.0]], demand,
                       [300.0, 300.0, 80.0], cost=[1e5, 2e5, 0.0])
    sites["existing"] = [False, False, True]
    sites["existing_services"] = [None, None, "after_school"]
    point = {"compound": {"name_zh": "小区级服务点", "name_en": "compound point",
                          "min_m2": 50.0, "max_m2": 200.0, "services": []}}
    need = {"enabled": True, "levels": point, "required_in_reach": ["compound"]}
    pol = policy(("after_school",), hierarchy=need)
    assert plan(pol, inst, demand, sites).chosen.tolist() == [0, 1, 2]  # no level given
    sites["level"] = [None, None, "小区级服务点"]
    sol = plan(pol, inst, demand, sites, marginal=True)
    assert sol.chosen.tolist() == [0, 2]  # 2: the existing point
    assert sol.sites.set_index("site").loc[2, "level_name"] == "小区级服务点"  # in the tables
    assert not any("required_in_reach" in n for n in sol.summary["notes"])
    assert np.isfinite(sol.sites["marginal_value"]).all()
    for level, fix, over in (("compound", "for existing facilities", None),
                             ("街道中心", "not an enabled level", None),
                             ("compound", "hierarchy", {"enabled": False})):
        bad = sites.assign(level=[level if fix.startswith("for") else None, None,
                                  None if fix.startswith("for") else level])
        with pytest.raises(SitingError, match=fix):
            plan(policy(("after_school",), hierarchy=over or need), inst, demand, bad)


def test_levels_with_the_same_services_are_one_choice():
    """The packaged street centre and community complex host every service and their
    ranges overlap: one choice of 200–5000 m²; a requirement naming one keeps it apart."""
    from siting.models.embedded.rooms import level_groups

    h = load_policy().hierarchy
    groups = level_groups(h)
    assert {k: (g.keys, g.min_m2, g.max_m2) for k, g in groups.items()} == {
        "compound": (("compound",), 50.0, 200.0),
        "community": (("community", "street"), 200.0, 5000.0)}
    apart = level_groups(h.model_copy(update={"required_in_reach": ["street"]}))
    assert sorted(apart) == ["community", "compound", "street"]


def test_a_levels_walking_reach_limits_whom_a_site_serves():
    """Children live 100 m and 400 m from a site. As a point with a reach of about 250 m
    (the 5-minute circle of GB 50180 shortened to make the case) it serves only the near
    ones; with no reach, both. The service's own threshold (500 m) is the same."""
    demand = pd.DataFrame({"population": [3000.0, 3000.0], "age_60_plus": [0.0, 0.0],
                           "age_6_14": [40.0, 40.0], "community_id": ["c", "c"]})
    inst, sites = case([[100.0], [400.0]], demand, [150.0])
    one = ("after_school",)
    pol = policy(one)
    speed = pol.walking.speed_m_per_min[pol.services["after_school"].speed_profile]
    point = {"compound": {"name_zh": "小区级服务点", "name_en": "compound point",
                          "min_m2": 50.0, "max_m2": 200.0, "services": []}}
    far = plan(policy(one, hierarchy={"enabled": True, "levels": point}), inst, demand, sites)
    near_only = {"compound": {**point["compound"], "walk_minutes": 250.0 / speed}}
    near = plan(policy(one, hierarchy={"enabled": True, "levels": near_only}), inst, demand,
                sites)
    assert far.served_by_service["after_school"] == close(80.0)
    assert near.served_by_service["after_school"] == close(40.0)
    with pytest.raises(SitingError, match="walk_minutes need capacity mode"):
        plan(policy(one, hierarchy={"enabled": True, "levels": near_only}), inst, demand,
             sites, capacity=False)


@pytest.mark.parametrize("seed", range(4))
def test_one_level_reach_equals_dropping_the_pairs_beyond_it(seed):
    """An independent formulation: when every site takes the one level, its walking reach
    is the same as each service's threshold set to that reach at the service's speed."""
    rng = np.random.default_rng(seed)
    n, m = 6, 3
    dist = rng.uniform(50, 550, (n, m))
    demand = pd.DataFrame({"population": rng.uniform(500, 3000, n),
                           "age_60_plus": rng.uniform(50, 300, n),
                           "age_6_14": rng.uniform(20, 200, n),
                           "community_id": ["c"] * n})
    inst, sites = case(dist, demand, rng.uniform(80, 300, m), cost=rng.uniform(1e5, 5e5, m))
    pol = policy()
    speed = {s: pol.walking.speed_m_per_min[pol.services[s].speed_profile]
             for s in ("meal_assist", "after_school")}
    minutes = 300.0 / max(speed.values())
    every = {"one": {"name_zh": "一级", "name_en": "one", "min_m2": 0.0, "max_m2": 1e6,
                     "services": [], "walk_minutes": minutes}}
    lv = plan(policy(hierarchy={"enabled": True, "levels": every}), inst, demand, sites,
              budget=6e5)
    # the reference: each service's own threshold set to the level's reach at its speed
    wide = plan(pol, inst, demand, sites, budget=6e5)  # the reach binds in these cases
    assert lv.summary["objective"] < wide.summary["objective"] - 1.0
    ref_pol = pol.model_copy(deep=True)
    for s, v in speed.items():
        ref_pol.services[s].walk_m = minutes * v
    ref = plan(ref_pol, inst, demand, sites, budget=6e5)
    assert lv.summary["objective"] == close(ref.summary["objective"])


def _two_communities():
    demand = pd.DataFrame({"population": [3000.0, 3000.0], "age_60_plus": [0.0, 0.0],
                           "age_6_14": [110.0, 100.0], "community_id": ["东", "西"],
                           "community_name": ["东社区", "西社区"]})
    inst, sites = case([[100.0, 900.0], [900.0, 100.0]], demand, [400.0, 400.0])
    return demand, inst, sites


def test_needs_weights_move_a_site_toward_the_community_that_needs_it(tmp_path):
    """One site may open; each community has its own. The east has more children, so
    the plan serves the east; a survey weight of 2 for after-school care in the west
    (a needs table with Chinese headers) moves the site west."""
    demand, inst, sites = _two_communities()
    pol = policy(services=("after_school",))
    base = plan(pol, inst, demand, sites, max_new_sites=1)
    assert base.chosen.tolist() == [0]
    path = tmp_path / "needs.csv"
    path.write_text("社区编号,儿童托管\n西,2\n东,1\n", encoding="utf-8")
    weighted = with_needs(demand, read_needs(path, pol), "priority")
    moved = plan(pol, inst, weighted, sites, max_new_sites=1)
    assert moved.chosen.tolist() == [1]
    # people served stay people; the objective counts the west twice
    assert moved.served_by_service["after_school"] == close(100.0)
    assert moved.summary["weighted_served"] == close(2 * 100.0 * 10.0)
    # stated demand: the east's need is halved (long table, English headers)
    path.write_text("community_name,service,weight\n东社区,after_school,0.5\n", encoding="utf-8")
    stated = with_needs(demand, read_needs(path, pol), "demand")
    half = plan(pol, inst, stated, sites, max_new_sites=1)
    assert half.chosen.tolist() == [1]
    assert half.services.set_index("service").loc["after_school", "units_needed"] == \
        pytest.approx(0.1 * (55.0 + 100.0))


def test_marginal_values_carry_the_needs_weights():
    """With needs, a site's marginal value is what the objective loses (each community's
    weight counted): with one weight of 2 everywhere it is twice the value without
    needs, the people lost the same; with the west weighted 2 and the east 1, dropping
    the two sites loses 2 × and 1 × the people each serves."""
    demand, inst, sites = _two_communities()
    pol = policy(services=("after_school",))
    base = plan(pol, inst, demand, sites, marginal=True)
    assert base.chosen.tolist() == [0, 1]
    for west, east in ((2.0, 2.0), (2.0, 1.0)):
        weighted = demand.assign(needs_priority_after_school=[east, west])
        sol = plan(pol, inst, weighted, sites, marginal=True)
        assert sol.chosen.tolist() == [0, 1]
        got = sol.sites.set_index("site")
        ref = base.sites.set_index("site")
        assert got["marginal_people"].tolist() == pytest.approx(ref["marginal_people"].tolist())
        assert got["marginal_value"].tolist() == pytest.approx(
            [east * ref.loc[0, "marginal_value"], west * ref.loc[1, "marginal_value"]])
    # coverage mode (people within reach, no capacities): the same weighing
    base = plan(pol, inst, demand, sites, marginal=True, capacity=False)
    sol = plan(pol, inst, demand.assign(needs_priority_after_school=[1.0, 2.0]), sites,
               marginal=True, capacity=False)
    assert base.chosen.tolist() == sol.chosen.tolist() == [0, 1]
    ref, got = base.sites.set_index("site"), sol.sites.set_index("site")
    assert got["marginal_value"].tolist() == pytest.approx(
        [ref.loc[0, "marginal_value"], 2 * ref.loc[1, "marginal_value"]])
    assert got["marginal_people"].tolist() == pytest.approx(ref["marginal_people"].tolist())


def test_needs_table_errors_name_the_fix(tmp_path):
    demand, _, _ = _two_communities()
    pol = policy(services=("after_school",))
    bad = tmp_path / "needs.csv"
    bad.write_text("社区编号,游泳池\n西,2\n", encoding="utf-8")
    with pytest.raises(SitingError, match="游泳池.*not an active service"):
        read_needs(bad, pol)
    bad.write_text("社区编号,after_school\n南,2\n", encoding="utf-8")
    with pytest.raises(SitingError, match=r"none of its communities \(南\) is in the study"):
        with_needs(demand, read_needs(bad, pol))
    bad.write_text("社区编号,after_school\n南,2\n西,3\n", encoding="utf-8")
    with pytest.warns(UserWarning, match="南 are not in the study area"):
        part = with_needs(demand, read_needs(bad, pol))
    assert part["needs_priority_after_school"].tolist() == [1.0, 3.0]
    bad.write_text("社区编号,after_school\n西,-1\n", encoding="utf-8")
    with pytest.raises(SitingError, match="finite and >= 0"):
        read_needs(bad, pol)


def test_subsidy_cap_changes_the_plan():
    """After-school places run at a loss (cost 5,000 per place a year, fee 2,000). The
    uncapped plan serves all 100 children, a 300,000 CNY yearly subsidy; a 90,000 cap
    keeps the deficit within it by serving fewer."""
    demand = pd.DataFrame({"population": [3000.0], "age_60_plus": [0.0],
                           "age_6_14": [1000.0], "community_id": ["c"]})
    inst, sites = case([[100.0]], demand, [400.0])
    ops = {"services": {"after_school": {"cost_per_m2_year": 0.0,
                                         "cost_per_unit_year": 5000.0,
                                         "fee_per_unit_year": 2000.0}}}
    pol = policy(services=("after_school",), operations=ops)
    free = plan(pol, inst, demand, sites)
    assert free.served_by_service["after_school"] == close(1000.0)
    assert free.summary["subsidy_total_year"] == close(300_000.0)
    row = free.sites.iloc[0]
    assert row["operating_balance_year"] == close(-300_000.0)
    capped = plan(policy(services=("after_school",),
                         operations={**ops, "subsidy_cap_per_year": 90_000.0}),
                  inst, demand, sites)
    assert capped.summary["subsidy_total_year"] <= 90_000.0 + 1e-3
    assert capped.summary["subsidy_cap_per_year"] == 90_000.0
    assert capped.served_by_service["after_school"] == close(300.0)


# ---------------------------------------------------------------------------
# brute force
# ---------------------------------------------------------------------------
def _random(seed, n=5, m=3):
    rng = np.random.default_rng(seed)
    d = rng.uniform(0, 700, (n, 2))
    s = rng.uniform(0, 700, (m, 2))
    dist = np.abs(d[:, None] - s[None]).sum(2)
    pop = rng.integers(1000, 4000, n).astype(float)
    demand = pd.DataFrame({"population": pop,
                           "age_60_plus": (pop * rng.uniform(0.1, 0.3, n)).round(),
                           "age_6_14": (pop * rng.uniform(0.05, 0.15, n)).round(),
                           "community_id": rng.choice(["a", "b"], n)})
    demand["households"] = demand["population"] / 2.62
    demand["needs_priority_after_school"] = np.where(demand["community_id"] == "a", 2.0, 0.5)
    inst, sites = case(dist, demand, rng.uniform(60, 500, m).round(),
                       cost=rng.uniform(1e5, 5e5, m).round(-3))
    sites["one_off_per_m2_used"] = rng.choice([0.0, 800.0], m)
    return demand, inst, sites, dist


def brute(pol, demand, sites, dist, budget):
    """(primary, cost) of the best plan by enumeration; None when no plan exists."""
    S = pol.active_services
    sv = [pol.services[s] for s in S]
    n, m = dist.shape
    N = np.column_stack([demand[x.demand_group].to_numpy(float) for x in sv])
    rate = np.array([x.rate for x in sv])
    q = np.array([x.floor_m2_per_unit for x in sv])
    mins = np.array([x.min_floor_m2 for x in sv])
    w = np.array([x.priority_weight for x in sv])
    k = np.ones((n, len(S)))
    for si, s in enumerate(S):
        if f"needs_priority_{s}" in demand:
            k[:, si] = demand[f"needs_priority_{s}"]
    fit = np.array([pol.costs.fit_out_per_m2 if x.fit_out_per_m2 is None else x.fit_out_per_m2
                    for x in sv])
    A = sites["usable_area_m2"].to_numpy(float)
    V = sites["one_off_per_m2_used"].to_numpy(float)
    F = np.where(V > 0, 0.0, sites["cost"].to_numpy(float))  # a renovation is charged per m²
    D = N * rate
    t = np.array([pol.threshold_m(s) for s in S])
    pairs = [(S.index(a), S.index(b)) for a, b in pol.shared_rooms.pairs]
    levels = list(pol.hierarchy.active.values()) if pol.hierarchy.enabled else [None]
    ops = pol.operations
    oc = np.array([ops.services[s].cost_per_m2_year + ops.services[s].cost_per_unit_year / q[si]
                   for si, s in enumerate(S)])
    fee = np.array([ops.services[s].fee_per_unit_year for s in S])
    sub = np.array([ops.services[s].subsidy_per_unit_year for s in S])
    cap = ops.subsidy_cap_per_year

    def options(j):
        out = [None]
        for lv in levels:
            allowed = [si for si in range(len(S)) if A[j] >= mins[si]
                       and (lv is None or not lv.services or S[si] in lv.services)
                       and np.any((D[:, si] > 0) & (dist[:, j] <= t[si]))]
            for r in range(1, len(allowed) + 1):
                out += [(lv, c) for c in itertools.combinations(allowed, r)]
        return out

    best = None
    for choice in itertools.product(*[options(j) for j in range(m)]):
        opened = [j for j in range(m) if choice[j] is not None]
        deficit_sets = [()] if cap is None else [
            c for r in range(len(opened) + 1) for c in itertools.combinations(opened, r)]
        for deficit in deficit_sets:
            res = _lp(choice, deficit, D, dist, t, q, mins, w, k, rate, fit, A, F, V, pairs,
                      oc, fee, sub, cap, budget)
            if res is not None and (best is None or res[0] > best[0] + 1e-6 or (
                    abs(res[0] - best[0]) <= 1e-6 * max(1, best[0]) and res[1] < best[1])):
                best = res
    return best


def _lp(choice, deficit, D, dist, t, q, mins, w, k, rate, fit, A, F, V, pairs, oc, fee, sub,
        cap, budget):
    """Stage 1 (max weighted served) then stage 2 (min cost) for fixed services and
    levels. Variables per hosted (j, s): a shared room r_jp per pair hosted in full and
    an own room o_js, so a_js = o_js + Σ_p r_jp (the physical area is Σ o + Σ r)."""
    n = D.shape[0]
    var = {}

    def v(key):
        var.setdefault(key, len(var))
        return var[key]
    host = [(j, si) for j, c in enumerate(choice) if c is not None for si in c[1]]
    for j, si in host:
        v(("o", j, si))
    for j, c in enumerate(choice):
        if c is not None:
            for p, (si, ti) in enumerate(pairs):
                if si in c[1] and ti in c[1]:
                    v(("r", j, p))
    flows = [(i, j, si) for j, si in host for i in range(n)
             if dist[i, j] <= t[si] and D[i, si] > 0]
    for f in flows:
        v(("f", *f))
    nv = len(var)
    if nv == 0:  # nothing opened
        return 0.0, 0.0
    rows, rhs = [], []

    def row(terms, b):
        r = np.zeros(nv)
        for key, c in terms:
            r[var[key]] += c
        rows.append(r)
        rhs.append(b)

    def area(j, si, c=1.0):  # a_js = o_js + Σ shared rooms of its pairs
        return [(("o", j, si), c)] + [(("r", j, p), c) for p, pr in enumerate(pairs)
                                      if si in pr and ("r", j, p) in var]

    def physical(j, c=1.0):
        return [(("o", j, si), c) for jj, si in host if jj == j] + [
            (key, c) for key in var if key[0] == "r" and key[1] == j]
    cost, income, granted = [], {}, {}
    for j, c in enumerate(choice):
        if c is None:
            continue
        row(physical(j), A[j])
        if c[0] is not None:
            row(physical(j), c[0].max_m2)
            row(physical(j, -1.0), -c[0].min_m2)
        for si in c[1]:
            row(area(j, si, -1.0), -mins[si])
            need = q[si] * D[dist[:, j] <= t[si], si].sum()
            row(area(j, si), min(A[j], max(mins[si], need)))
            cost += area(j, si, fit[si])
        cost += physical(j, V[j])
    for i, j, si in flows:
        income.setdefault(j, []).append((("f", i, j, si), fee[si] + sub[si]))
        granted.setdefault(j, []).append((("f", i, j, si), sub[si]))
    fixed = sum(F[j] for j, c in enumerate(choice) if c is not None)
    if budget is not None:
        row(cost, budget - fixed)
    for si in range(D.shape[1]):
        for i in range(n):
            fs = [(("f", i, j, s2), 1.0) for (i2, j, s2) in flows if i2 == i and s2 == si]
            if fs:
                row(fs, D[i, si])
    for j, si in host:
        fs = [(("f", i, j2, s2), 1.0) for (i, j2, s2) in flows if j2 == j and s2 == si]
        row(fs + area(j, si, -1.0 / q[si]), 0.0)
    if cap is not None:  # subsidy = Σ granted + Σ_{deficit sites} (run − income)
        total = [t2 for j in granted for t2 in granted[j]]
        for j, c in enumerate(choice):
            if c is None:
                continue
            run = [t2 for si in c[1] for t2 in area(j, si, oc[si])]
            inc = [(key, -cc) for key, cc in income.get(j, [])]
            if j in deficit:  # run − income ≥ 0, counted
                row([(key, -cc) for key, cc in run] + [(key, -cc) for key, cc in inc], 0.0)
                total += run + inc
            else:
                row(run + inc, 0.0)
        row(total, cap)
    a_ub, b_ub = np.array(rows).reshape(-1, nv), np.array(rhs)
    obj = np.zeros(nv)
    for i, j, si in flows:
        obj[var["f", i, j, si]] = -w[si] * k[i, si] / rate[si]
    r1 = linprog(obj, A_ub=a_ub, b_ub=b_ub, bounds=(0, None), method="highs")
    if r1.status != 0:
        return None
    primary = -r1.fun
    c2 = np.zeros(nv)
    for key, c in cost:
        c2[var[key]] += c
    r2 = linprog(c2, A_ub=np.vstack([a_ub, obj]), b_ub=np.append(b_ub, r1.fun + 1e-6 * max(
        1, primary)), bounds=(0, None), method="highs")
    return primary, fixed + (r2.fun if r2.status == 0 else c2 @ r1.x)


# what each seed exercises (so the comparison is not between idle rows): the cap binds,
# a room is shared, sites take levels
EXERCISED = {1: {"cap", "level"}, 2: {"cap", "shared"}, 3: {"shared", "level"}, 4: {"cap"}}


@pytest.mark.parametrize("seed", range(6))
def test_milp_agrees_with_brute_force(seed):
    """Shared pair, levels, needs weights and a subsidy cap together on 5 points × 3 sites."""
    demand, inst, sites, dist = _random(seed)
    levels = {"enabled": True, "levels": {
        "point": {"name_zh": "点", "name_en": "point", "min_m2": 20.0, "max_m2": 150.0,
                  "services": ["meal_assist"]},
        "complex": {"name_zh": "综合", "name_en": "complex", "min_m2": 150.0,
                    "max_m2": 400.0, "services": []}}}
    ops = {"subsidy_cap_per_year": [None, 40_000.0, 150_000.0][seed % 3], "services": {
        "meal_assist": {"cost_per_m2_year": 100.0, "cost_per_unit_year": 2000.0,
                        "fee_per_unit_year": 1500.0, "subsidy_per_unit_year": 200.0},
        "after_school": {"cost_per_m2_year": 50.0, "cost_per_unit_year": 3000.0,
                         "fee_per_unit_year": 2000.0}}}
    pol = policy(shared_rooms={"pairs": [["meal_assist", "after_school"]]},
                 hierarchy=levels if seed % 2 else {}, operations=ops)
    budget = [None, 6e5][seed % 2]
    want = brute(pol, demand, sites, dist, budget)
    assert want is not None
    got = plan(pol, inst, demand, sites, budget=budget)
    s = got.summary
    assert s["objective"] == pytest.approx(want[0], rel=1e-6, abs=1e-6)
    assert s["cost_total"] == pytest.approx(want[1], rel=1e-5, abs=1e-3)
    if ops["subsidy_cap_per_year"] is not None:
        assert s["subsidy_total_year"] <= ops["subsidy_cap_per_year"] * (1 + 1e-6) + 1e-6
    if pol.hierarchy.enabled and len(got.sites):
        for r in got.sites.itertuples():
            lv = pol.hierarchy.levels[r.level]
            assert lv.min_m2 - 1e-6 <= r.area_m2 <= lv.max_m2 + 1e-6
            assert lv.services == [] or set(r.services.split(", ")) <= set(lv.services)
    cap = ops["subsidy_cap_per_year"]
    seen = {"cap"} if cap and s["subsidy_total_year"] >= cap * (1 - 1e-4) else set()
    seen |= {"shared"} if got.sites["shared_m2"].sum() > 0 else set()
    seen |= {"level"} if "level" in got.sites and len(got.sites) else set()
    assert EXERCISED.get(seed, set()) <= seen


@pytest.mark.parametrize("seed", range(3))
def test_service_in_two_pairs_agrees_with_brute_force(seed):
    """Meal assistance shares with after-school care and with housekeeping: each part of
    its room is shared with one of them (brute force: disjoint shared rooms per pair)."""
    demand, inst, sites, dist = _random(10 + seed, n=4, m=2)
    sites["usable_area_m2"] = [150.0, 90.0]
    pol = policy(("meal_assist", "after_school", "housekeeping"), shared_rooms={"pairs": [
        ["meal_assist", "after_school"], ["meal_assist", "housekeeping"]]},
        operations={"subsidy_cap_per_year": [None, 60_000.0, 20_000.0][seed]})
    want = brute(pol, demand, sites, dist, None)
    got = plan(pol, inst, demand, sites)
    assert got.summary["objective"] == pytest.approx(want[0], rel=1e-6, abs=1e-6)
    assert got.summary["cost_total"] == pytest.approx(want[1], rel=1e-5, abs=1e-3)
    for r in got.sites.itertuples():
        assert r.area_m2 <= sites["usable_area_m2"][r.site] + 1e-6


def test_nanjing_example_shows_shared_rooms_levels_and_subsidy(nanjing_osm, tmp_path):
    """data/nanjing/scenario.toml (its needs table, two shared pairs, levels and a cap on
    the yearly subsidy) on the real Xinjiekou extract, with a shorter time limit: the
    written report has the shared-rooms and levels tables, each site's level and
    operating balance, and the subsidy within the cap."""
    from siting.config.scenario import make_scenario
    from siting.pipeline import run

    sc = make_scenario(DATA / "scenario.toml", osm=nanjing_osm, out=tmp_path / "out",
                       time_limit=10, mip_gap=0.05)
    assert sc.needs == DATA / "needs.csv" and sc.policy["hierarchy"]["enabled"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = run(sc)
    out = r.write(tmp_path / "out")
    pol = load_policy(overrides=sc.policy)
    levels = pd.read_csv(out / "tables" / "levels.csv", encoding="utf-8-sig")
    assert set(levels["level"]) == set(pol.hierarchy.active)
    sites = pd.read_csv(out / "tables" / "sites.csv", encoding="utf-8-sig")
    new = sites[~sites["existing"].astype(bool)]
    assert len(new) and set(new["level"]) <= set(pol.hierarchy.active)
    assert levels["n_sites"].sum() == len(new)
    for r_ in new.itertuples():
        lv = pol.hierarchy.levels[r_.level]
        assert lv.min_m2 - 1e-6 <= r_.area_used_m2 <= lv.max_m2 + 1e-6
    rooms = pd.read_csv(out / "tables" / "shared_rooms.csv", encoding="utf-8-sig")
    pairs = {tuple(p) for p in pol.shared_rooms.pairs}
    assert {(a, b) for a, b in zip(rooms["service_a"], rooms["service_b"])} <= pairs
    assert {"shared_m2", "operating_balance_year", "subsidy_year"} <= set(sites.columns)
    s = r.summary
    assert s["needs"].endswith("needs.csv") and s["needs_mode"] == "priority"
    assert s["subsidy_total_year"] <= pol.operations.subsidy_cap_per_year * (1 + 1e-6)
    assert s["subsidy_total_year"] == pytest.approx(new["subsidy_year"].sum(), rel=1e-6)


def test_programme_inputs_are_checked():
    """Bad sections and keys are refused with the key and the fix."""
    from siting.config.scenario import make_scenario

    for over, match in (
            ({"shared_rooms": {"pairs": [["meal_assist", "gym"]]}},
             r"shared_rooms\.pairs\[0\]: 'gym' is not a service"),
            ({"shared_rooms": {"pairs": [["meal_assist", "meal_assist"]]}}, "two different"),
            ({"hierarchy": {"levels": {"compound": {"min_m2": 300.0}}}}, "above max_m2"),
            ({"hierarchy": {"enabled": True, "levels": {k: {"enabled": False}
                                                        for k in PACKAGED_LEVELS}}},
             "at least one enabled"),
            ({"operations": {"services": {"gym": {"cost_per_m2_year": 1.0}}}},
             r"operations\.services\.gym: not a service"),
            ({"operations": {"subsidy_cap_per_year": -1.0}}, "greater than or equal to 0")):
        with pytest.raises(SitingError, match=match):
            load_policy(overrides=over)
    with pytest.raises(SitingError, match="needs_mode .* has no needs table"):
        make_scenario(osm="x.osm", model="embedded", needs_mode="demand")
    with pytest.raises(SitingError, match="only read by the embedded model"):
        make_scenario(osm="x.osm", model="max_cover", max_sites=2, needs="needs.csv")
    demand, inst, sites = _two_communities()
    pol = policy(services=("after_school",), operations={"subsidy_cap_per_year": 1e5})
    with pytest.raises(SitingError, match="needs capacity mode"):
        EmbeddedFacilities(inst, pol, demand, sites, capacity=False, standard_mode="off")
