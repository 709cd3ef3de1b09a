"""Every policy key either changes what a run produces or is refused (issue #12).

The test is generated over the packaged policy: every leaf key of
``siting.config.policy.read_policy_dict()`` is changed, one at a time, in a scenario's
``[policy]`` table, and the output that depends on it must change. Each key is
classified by :data:`RULES` (pattern → perturbation, what must change); a key no rule
matches fails with "policy key X has no rule". Keys a run does not read are refused
(:data:`siting.config.policy.UNREAD_OVERRIDES`).

One small synthetic town (metres east/north of a point in Nanjing, as in
tests/test_access.py) is planned once (module fixture) and once per policy key. Keys of
the ``[sites]`` table that only shape the candidate table are checked on the pipeline's
own candidate stage (``site_candidates`` with ``site_policy(None, overrides)``) over a
second synthetic "catalogue" town with one building or inventory row per tag value,
class name and vocabulary list of the policy (generated from it too), with no model run.
Documentation keys (sources, names, units, placeholder flags, meta) share one run in which
each is changed to a value of its own, checked in ``summary["assumptions"]``. About
100 model runs of ~1 s: the file takes ~1 1/2–2 1/2 minutes on one core.
"""

from __future__ import annotations

import fnmatch
import json
import warnings
from importlib import resources

import numpy as np
import pytest

from siting.config.policy import UNREAD_OVERRIDES, load_policy, read_policy_dict
from siting.config.scenario import make_scenario
from siting.errors import SitingError

LON0, LAT0 = 118.78, 32.04
M_LAT = 1 / 111_000.0
M_LON = 1 / (111_000.0 * np.cos(np.radians(LAT0)))
POLICY = read_policy_dict()


def leaves(d: dict, prefix: str = "") -> list[str]:
    """Dotted paths of every leaf (scalars and lists) of a nested dict."""
    out = []
    for k, v in d.items():
        path = f"{prefix}{k}"
        out.extend(leaves(v, path + ".") if isinstance(v, dict) else [path])
    return out


def get(d: dict, key: str):
    for p in key.split("."):
        d = d[p]
    return d


def nest(key: str, value) -> dict:
    out: dict = value
    for p in reversed(key.split(".")):
        out = {p: out}
    return out


# ---------------------------------------------------------------------------
# the synthetic towns
# ---------------------------------------------------------------------------
class Osm:
    def __init__(self):
        self.nodes: dict[int, tuple[float, float, dict]] = {}
        self.ways: list[tuple[list[int], dict]] = []
        self._next = 1

    def node(self, x, y, tags=None) -> int:
        nid = self._next
        self._next += 1
        self.nodes[nid] = (x, y, tags or {})
        return nid

    def way(self, ids, tags):
        self.ways.append((ids, tags))

    def box(self, x0, y0, x1, y1, tags, door=None):
        ids = [self.node(x0, y0), self.node(x1, y0), self.node(x1, y1), self.node(x0, y1)]
        if door is not None:  # an entrance node on the north wall
            ids = ids[:3] + [self.node(door, y1, {"entrance": "main"})] + ids[3:]
        self.way(ids + [ids[0]], tags)

    def write(self, path):
        out = ['<?xml version="1.0"?>', '<osm version="0.6">']
        for nid, (x, y, tags) in self.nodes.items():
            tag = "".join(f'<tag k="{k}" v="{v}"/>' for k, v in tags.items())
            out.append(f'<node id="{nid}" version="1" lat="{LAT0 + y * M_LAT:.9f}" '
                       f'lon="{LON0 + x * M_LON:.9f}">{tag}</node>')
        for wid, (refs, tags) in enumerate(self.ways, start=1):
            nd = "".join(f'<nd ref="{r}"/>' for r in refs)
            tag = "".join(f'<tag k="{k}" v="{v}"/>' for k, v in tags.items())
            out.append(f'<way id="{wid}" version="1">{nd}{tag}</way>')
        out.append("</osm>")
        path.write_text("\n".join(out), encoding="utf-8")
        return path


def lonlat(x, y):
    return f"{LON0 + x * M_LON:.7f}", f"{LAT0 + y * M_LAT:.7f}"


def csv(path, header, rows):
    path.write_text("\n".join([",".join(header)] + [",".join(map(str, r)) for r in rows]),
                    encoding="utf-8")
    return path


FOOT = {"highway": "footway"}
HOME = {"building": "apartments", "building:levels": "20"}


def town(tmp):
    """Two streets joined at both ends, a 150 m flight of steps between them in the middle
    (the step-free detour is 1350 m), a two-node street fragment, homes (one 80 m square
    without an entrance, one 400 m from every street), four OSM candidates and four
    inventory rows (basement; storey 2 without a lift; storey 3 with one; a new build)
    and one existing health station."""
    o = Osm()
    s1 = [o.node(x, 0) for x in (0, 300, 600, 900, 1200)]
    s2 = [o.node(x, 150) for x in (0, 300, 600, 900, 1200)]
    o.way(s1, FOOT)
    o.way(s2, FOOT)
    o.way([s1[0], s2[0]], FOOT)
    o.way([s1[-1], s2[-1]], FOOT)
    o.way([s1[2], s2[2]], {"highway": "steps"})
    for n, x, y in ((s1[1], 300, -30), (s1[3], 900, -30), (s2[1], 300, 180),
                    (s2[3], 900, 180)):  # dead ends: junctions that simplification keeps
        o.way([n, o.node(x, y)], FOOT)
    o.way([o.node(300, 60), o.node(340, 60)], FOOT)         # fragment
    o.box(100, 15, 120, 30, HOME)
    o.box(480, 15, 500, 30, HOME)
    o.box(580, 165, 600, 180, HOME)                        # above the steps
    o.box(1000, 165, 1020, 180, HOME)
    o.box(310, 70, 330, 85, HOME)                          # by the fragment
    o.box(600, -420, 620, -400, HOME)                      # far from every street
    o.box(700, -100, 780, -20, {"building": "apartments", "building:levels": "3"})  # large
    o.box(620, -50, 660, -10, {"building": "commercial", "building:levels": "2"})
    o.box(150, 165, 180, 195, {"building": "office", "building:levels": "3"}, door=165)
    o.box(1050, -50, 1090, -10, {"building": "industrial"})
    o.box(850, 165, 880, 195, {"building": "public", "building:levels": "2"})
    osm = o.write(tmp / "town.osm")
    head = ["编号", "名称", "经度", "纬度", "建筑面积", "类型", "取得方式", "楼层", "电梯"]
    inv = csv(tmp / "inventory.csv", head, [
        ["I1", "地下室", *lonlat(300, -20), 400, "商业", "租赁", "-1", ""],
        ["I2", "二楼", *lonlat(900, -20), 500, "厂房", "改造", "2", "无"],
        ["I3", "三楼", *lonlat(450, 170), 600, "公共", "置换", "3", "有"],
        ["I4", "空地", *lonlat(1150, 20), 800, "空地", "新建", "1", ""]])
    ex = csv(tmp / "existing.csv", ["名称", "经度", "纬度", "建筑面积"],
             [["社区卫生服务站", *lonlat(200, 20), 150]])
    return osm, inv, ex


def catalogue(tmp):
    """One OSM building per ``[sites.classes]`` tag value, tag and land use (and one
    ``never`` value), one brownfield parcel, a 200 m² building (between the minimum floor
    area and twice it), one with only a height; inventory rows per ``[sites.class_names]``
    name, one without a class and one 300 m outside the area; one existing facility per
    ``[sites.service_vocabulary]`` list, named by its first word. Generated from the
    packaged policy, so a new tag value or class name gets its building or row."""
    cls = POLICY["sites"]["classes"]
    o = Osm()
    o.way([o.node(-20, 0), o.node(4000, 0)], FOOT)
    x = iter(range(0, 4000, 40))

    def building(tags, landuse=None, size=20):
        x0 = next(x)
        if landuse:
            o.box(x0 - 5, 10, x0 + size + 5, 35 + size, {"landuse": landuse})
        o.box(x0, 20, x0 + size, 20 + size, tags)

    for v in cls["tag_values"]:
        building({"building": v})
    for k in cls["tag_present"]:
        building({"building": "yes", k: "x"})
    for v in cls["landuse"]:
        building({"building": "yes"}, landuse=v)
    # a shop that is also a never value (e.g. amenity=school): not a candidate
    building({"building": "yes", "amenity": cls["never"]["values"][0], "shop": "x"})
    building({"building": "kiosk"})  # a class without defaults when mapped (CONTEXT)
    building({"building": "office", "building:levels": "1"}, size=10)  # 10 x 20 = 200 m²
    building({"building": "office", "height": "9"})
    for v in cls["new_build_landuse"]:
        x0 = next(x)
        o.box(x0, 20, x0 + 20, 40, {"landuse": v})
    end = next(x)
    osm = o.write(tmp / "catalogue.osm")
    head = ["编号", "名称", "经度", "纬度", "建筑面积", "类型"]
    rows = [[f"C{i}", name, *lonlat(20 * i, -20), 600, name]
            for i, name in enumerate(POLICY["sites"]["class_names"])]
    rows += [["C_none", "无类型", *lonlat(10, -40), 600, ""],
             ["C_out", "外面", *lonlat(end / 2, -340), 600, "商业"]]
    inv = csv(tmp / "catalogue_inventory.csv", head, rows)
    vocab = POLICY["sites"]["service_vocabulary"]
    names = [words[0] + "点" for k, words in vocab.items() if k != "not_modelled"]
    ex = csv(tmp / "catalogue_existing.csv", ["名称", "经度", "纬度", "建筑面积"],
             [[n, *lonlat(30 * i, -60), 200] for i, n in enumerate(names + ["资产托管中心"])])
    bbox = (LON0 - 50 * M_LON, LAT0 - 100 * M_LAT, LON0 + (end + 50) * M_LON, LAT0 + 100 * M_LAT)
    return osm, inv, ex, bbox


# ---------------------------------------------------------------------------
# perturbations
# ---------------------------------------------------------------------------
def scaled(f):
    return lambda v, key: v * f if v else v + 1


def plus(n):
    return lambda v, key: v + n


def flip(v, key):
    return not v


def drop_first(v, key):
    return v[1:]


def drop_last(v, key):
    return v[:-1] if v else ["source"]


def marked(v, key):
    return f"{v} [changed: {key}]"


def other_of(*choices):
    """The first of ``choices`` that differs from the value."""
    return lambda v, key: next(c for c in choices if c != v)


def other_class(v, key):
    return other_of("office", "public")(v, key)


def other_profile(v, key):
    speeds = POLICY["walking"]["speed_m_per_min"]
    return next(p for p in speeds if speeds[p] != speeds[v])


# ---------------------------------------------------------------------------
# what must change: functions of a run result (``run``/``doc`` rules) or of the
# pipeline's candidate table (``cand`` rules)
# ---------------------------------------------------------------------------
def svc(key):
    return key.split(".")[1]


def plan_service(col=None):
    def f(r, key):
        t = r.plan.services.set_index("service").loc[svc(key)]
        return t if col is None else t[col]
    return f


def summary(name, per_service=False):
    return lambda r, key: r.summary[name][svc(key)] if per_service else r.summary[name]


def demand(col):
    return lambda r, key: r.demand[col if col else key.rsplit(".", 1)[1]]


def access(attr):
    return lambda r, key: getattr(r.access, attr)


def plan_outcome(r, key):
    """What the optimiser chose: objective, sites with their services, complexes."""
    return (r.summary["objective"], r.summary["n_complexes"],
            r.plan.sites[["site", "services", "complex", "area_m2"]])


def communities(r, key):
    return (r.summary["objective"], r.plan.communities)


def assignments(r, key):
    a = r.plan.assignments
    return (r.plan.services.set_index("service").loc[svc(key)], a[a["service"] == svc(key)])


def assumption(r, key):
    """The value the summary's ``assumptions`` block records for a documentation key."""
    a = r.summary["assumptions"]
    parts = key.split(".")
    if parts[0] == "sites":  # the placeholder flag of a [sites] table
        return a["sites"][parts[1]]
    for p in parts:
        a = a[p]
    return a


def cand(*cols):
    return lambda c, key: c[["source_id", *cols]]


def levels(r, key):
    """The plan's hierarchy: its levels' rules and the sites at each (sheet ``levels``)."""
    return (r.plan.sheets["levels"], r.plan.sites[["site", "services", "area_m2", "level"]])


def operations(r, key):
    """Each plan site's yearly running cost, fees, subsidy and balance."""
    from siting.models.embedded.operations import OPERATION_COLUMNS

    return r.plan.sites[["site", *OPERATION_COLUMNS]]


def other_services(v, key):
    return ["meal_assist"] if v != ["meal_assist"] else []


REFUSED = "refused"
# (pattern, kind, perturbation, what must change); the first match wins
RULES = [
    # refused: a setting that cannot take effect
    ("meta.schema_version", REFUSED, plus(1), r"meta\.schema_version: 2 is not supported"),
    *[(k, REFUSED, scaled(2), "is not read by a run") for k in UNREAD_OVERRIDES],
    # documentation: must reach summary.json (assumptions) — one shared run
    ("meta.name", "doc", marked, summary("policy")),
    ("meta.*", "doc", marked, assumption),
    ("*.source", "doc", marked, assumption),
    ("*_source", "doc", marked, assumption),
    ("*.placeholder", "doc", None, assumption),  # bool flipped, list shortened (see perturb)
    ("services.*.name_zh", "doc", marked, assumption),
    ("services.*.name_en", "doc", marked, assumption),
    ("services.*.unit", "doc", marked, assumption),
    # demand
    ("population.household_size", "run", scaled(2), demand("households")),
    ("population.age_shares.age_60_plus", "run", scaled(1.5), demand(None)),  # >= 65+
    ("population.age_shares.*", "run", scaled(0.5), demand(None)),  # 65+ <= 60+
    ("area_standard.fallback_cell_m", "run", scaled(2), demand("community_id")),
    # walking and access
    ("walking.speed_m_per_min.*", "run", scaled(2), summary("threshold_m_by_service")),
    ("walking.max_snap_m", "run", scaled(2), access("demand_flag")),  # the home 400 m away
    ("walking.min_component_nodes", "run", lambda v, k: 1, access("demand_flag")),  # fragment
    ("walking.large_footprint_m", "run", scaled(2), access("demand_door")),  # 80 m square
    ("walking.step_free_avoid", "run", drop_first, lambda r, k: r.plan.services),  # the steps
    ("tiers.minutes", "run", lambda v, k: [*v, 7.0], lambda r, k: r.plan.services),
    ("tiers.speed_profile", "run", other_profile, lambda r, k: r.plan.services),
    # area standard
    ("area_standard.m2_per_100_households", "run", scaled(2), communities),
    ("area_standard.reach_min", "run", scaled(0.5), communities),
    ("area_standard.speed_profile", "run", other_profile, communities),
    ("area_standard.reach_share", "run", scaled(0.5), communities),
    # hard: no penalty trade-off left to explain (the note on an unmet standard goes)
    ("area_standard.mode", "run", other_of("hard", "penalty"), summary("notes")),
    ("area_standard.penalty_per_m2", "run", scaled(2), summary("objective")),
    # complexes
    ("complex.min_floor_m2", "run", scaled(2), plan_outcome),
    # (the town's complexes host every service: only a rule no site can meet binds)
    ("complex.min_functions", "run", lambda v, k: len(POLICY["services"]) + 1, plan_outcome),
    ("complex.min_priority_functions", "run",
     lambda v, k: len(POLICY["complex"]["priority_services"]) + 1, plan_outcome),
    ("complex.priority_services", "run", lambda v, k: v[:1], plan_outcome),
    ("complex.multi_function_requires_complex", "run", flip, plan_outcome),
    # costs
    ("costs.fit_out_per_m2", "run", scaled(2), summary("cost_total")),
    ("costs.horizon_years", "run", scaled(2), summary("cost_total")),
    # services
    ("services.*.demand_group", "run", other_of("population", "households"),
     plan_service("demand_people")),
    ("services.*.units_per_1000", "run", scaled(2), plan_service("units_needed")),
    ("services.*.units_per_person", "run", scaled(2), plan_service("units_needed")),
    ("services.*.floor_m2_per_unit", "run", scaled(2), plan_service()),
    ("services.*.min_floor_m2", "run", scaled(2), plan_service()),
    ("services.*.walk_min", "run", scaled(2), summary("threshold_m_by_service", True)),
    ("services.*.walk_m", "run", scaled(2), summary("threshold_m_by_service", True)),
    ("services.*.speed_profile", "run", other_profile, summary("threshold_m_by_service", True)),
    ("services.*.priority_weight", "run", scaled(2), summary("objective")),
    ("services.*.fit_out_per_m2", "run", scaled(2), summary("cost_total")),
    ("services.*.step_free", "run", flip, assignments),
    ("services.*.lowest_storey", "run", lambda v, k: -1, summary("notes")),
    ("services.*.highest_storey", "run", plus(1), summary("notes")),
    ("services.*.lift_from_storey", "run", plus(1), summary("notes")),
    ("services.*.enabled", "run", flip, summary("served_by_service")),
    # sites: the candidate table of the pipeline's candidate stage (catalogue town)
    ("sites.min_floor_area_m2", "cand", scaled(2), cand("excluded_reason")),
    ("sites.storey_height_m", "cand", scaled(2), cand("floor_area_m2")),
    ("sites.default_class", "cand", other_class, cand("kind")),
    ("sites.cost_area_cap_m2", "cand", scaled(0.5), cand("cost_total")),
    ("sites.outside_tolerance_m", "cand", scaled(2), cand("excluded_reason")),
    ("sites.classes.never.values", "cand", drop_first, cand("kind")),
    ("sites.classes.*", "cand", other_class, cand("kind")),
    ("sites.class_names.*", "cand", other_class, cand("kind")),
    ("sites.class_defaults.*.levels", "cand", scaled(2), cand("floor_area_m2")),
    ("sites.class_defaults.*.usable_ratio", "cand", scaled(0.5), cand("usable_area_m2")),
    ("sites.class_defaults.*.acquisition_mode", "cand", other_of("lease", "renovate"),
     cand("acquisition_mode")),
    ("sites.class_defaults.*.plot_ratio", "cand", scaled(2), cand("floor_area_m2")),
    ("sites.class_defaults.*.max_floor_area_m2", "cand", scaled(0.25), cand("floor_area_m2")),
    ("sites.costs.*.charged_on", "cand", other_of("used", "whole"),
     cand("cost", "annual_cost", "one_off_per_m2_used", "annual_per_m2_used")),
    ("sites.costs.*_per_m2", "cand", scaled(2), cand("cost_total", "annual_cost")),
    ("sites.service_vocabulary.not_modelled", "cand",
     lambda v, k: [w for w in v if w != "资产托管"], cand("existing_services")),
    ("sites.service_vocabulary.*", "cand", drop_first, cand("existing_services")),
    # programme planning (siting.config.programme): shared rooms, levels, running costs
    ("shared_rooms.pairs", "run", lambda v, k: [["meal_assist", "after_school"]], plan_outcome),
    ("hierarchy.enabled", "run", flip, lambda r, k: r.plan.sites),
    ("hierarchy.levels.*.name_*", "doc", marked, assumption),
    ("hierarchy.levels.*.services", "run", other_services, levels),
    ("hierarchy.levels.*_m2", "run", scaled(2), levels),
    # unset in the file (ABSENT): tests/test_rooms.py shows a reach changes whom a site serves
    ("hierarchy.levels.*.walk_minutes", "run", lambda v, k: 5.0, plan_outcome),
    ("hierarchy.required_in_reach", "run", lambda v, k: ["compound"],
     lambda r, k: (levels(r, k), r.summary["notes"])),
    ("operations.services.*", "run", scaled(2), operations),
    ("operations.subsidy_cap_per_year", "run", lambda v, k: 1e6, plan_outcome),
]


# overrides applied to the baseline and the perturbed run alike, where a key only binds in
# a setting the packaged policy does not have: the default class's storeys are read for
# classes without defaults, so map building=kiosk to such a class; a hard area standard
# is infeasible where a community reaches no site (the town's home 400 m from every street
# keeps one below reach_share), so lower reach_share for that comparison
CONTEXT = {"sites.class_defaults.other.*": {"sites": {"classes": {"tag_values": {
    "kiosk": "kiosk"}}}},
    "area_standard.mode": {"area_standard": {"reach_share": 0.25}},
    # levels are off by default: their rules are compared with levels on
    "hierarchy.levels.*_m2": {"hierarchy": {"enabled": True}},
    "hierarchy.levels.*.services": {"hierarchy": {"enabled": True}},
    "hierarchy.required_in_reach": {"hierarchy": {"enabled": True}},
    # within 300 m, one home reaches a meal point only by the steps: whether it is in
    # reach does not hang on which of several equally good plans the solver returns
    "services.meal_assist.step_free": {"services": {"meal_assist": {"walk_min": 6.0}}}}


def context(key: str) -> dict:
    return next((c for p, c in CONTEXT.items() if fnmatch.fnmatchcase(key, p)), {})


def rule(key: str):
    for r in RULES:
        if fnmatch.fnmatchcase(key, r[0]):
            return r
    pytest.fail(f"policy key {key} has no rule: say what it changes (RULES in {__file__})")


def perturbed(key: str):
    value = get(POLICY, key)
    fn = rule(key)[2]
    if fn is None:  # placeholder flags and lists
        fn = flip if isinstance(value, bool) else drop_last
    new = fn(value, key)
    assert new != value, f"{key}: the perturbation leaves {value!r} unchanged"
    return new


KEYS = leaves(POLICY)


def fingerprint(x) -> str:
    """A comparable text of an output (frames rounded, so solver noise does not count)."""
    import pandas as pd

    if isinstance(x, tuple):
        return "|".join(fingerprint(v) for v in x)
    if isinstance(x, pd.Series):
        x = x.to_frame()
    if isinstance(x, pd.DataFrame):
        x = x.apply(lambda c: c.map(lambda v: round(v, 4) if isinstance(v, float) else v))
        return x.to_json(force_ascii=False, default_handler=str)
    if isinstance(x, np.ndarray):
        return json.dumps(x.tolist(), ensure_ascii=False)
    if isinstance(x, float):
        return f"{x:.6g}"
    return json.dumps(x, ensure_ascii=False, default=str, sort_keys=True)


# ---------------------------------------------------------------------------
# runs
# ---------------------------------------------------------------------------
def _run(files, over):
    from siting.pipeline import run

    osm, inv, ex = files
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # grid communities, left-out rows: noted, not tested
        return run(make_scenario(osm=osm, inventory=inv, existing=ex, model="embedded",
                                 policy=over, marginal=False, time_limit=30))


@pytest.fixture(scope="module")
def town_files(tmp_path_factory):
    return town(tmp_path_factory.mktemp("town"))


@pytest.fixture(scope="module")
def base_run(town_files):
    return _run(town_files, {})


@pytest.fixture(scope="module")
def doc_run(town_files):
    """Every documentation key changed at once (each to a value of its own): one run."""
    from siting.config.policy import deep_merge

    over: dict = {}
    for key in KEYS:
        if rule(key)[1] == "doc":
            over = deep_merge(over, nest(key, perturbed(key)))
    return _run(town_files, over)


@pytest.fixture(scope="module")
def candidates_of(tmp_path_factory):
    """The pipeline's candidate stage over the catalogue town, for a [policy] table."""
    from siting import network
    from siting.config.site_policy import site_policy
    from siting.pipeline import load_inputs
    from siting.sites import site_candidates

    osm, inv, ex, bbox = catalogue(tmp_path_factory.mktemp("catalogue"))
    sc = make_scenario(osm=osm, inventory=inv, existing=ex, bbox=bbox)
    G, buildings, landuse, area, _ = load_inputs(sc)
    crs = network.project(G).graph["crs"]
    buildings = buildings[buildings.representative_point().within(area)].to_crs(crs)
    landuse = None if landuse is None or landuse.empty else landuse.to_crs(crs)

    def candidates(over):
        # as siting.pipeline.run calls it: the [sites] table with the scenario's overrides
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return site_candidates(
                buildings, landuse, area, crs, inventory=sc.inventory,
                inventory_crs=sc.inventory_crs, existing=sc.existing,
                existing_crs=sc.existing_crs, exclude=sc.exclude,
                min_floor_area_m2=sc.min_floor_area_m2, default_levels=sc.candidate_levels,
                usable_ratio=sc.usable_ratio, cost_per_m2=sc.cost_per_m2,
                plan_year=sc.plan_year, policy=site_policy(None, over))
    return candidates


@pytest.fixture(scope="module")
def base_candidates(candidates_of):
    return candidates_of({})


@pytest.mark.parametrize("key", KEYS, ids=KEYS)
def test_policy_key_takes_effect_or_is_refused(key, request):
    """Changing the key in a scenario's [policy] table changes the output that depends on
    it, or the run is refused with a message saying why."""
    from siting.config.policy import deep_merge

    _, kind, _, what = rule(key)
    over = deep_merge(context(key), nest(key, perturbed(key)))
    if kind == REFUSED:
        with pytest.raises(SitingError, match=what):
            _run(request.getfixturevalue("town_files"), over)
        return
    if kind == "cand":
        before = what(request.getfixturevalue("candidates_of")(context(key)) if context(key)
                      else request.getfixturevalue("base_candidates"), key)
        after = what(request.getfixturevalue("candidates_of")(over), key)
    else:
        before = what(_run(request.getfixturevalue("town_files"), context(key)) if context(key)
                      else request.getfixturevalue("base_run"), key)
        after = what(request.getfixturevalue("doc_run") if kind == "doc"
                     else _run(request.getfixturevalue("town_files"), over), key)
    assert fingerprint(before) != fingerprint(after), \
        f"policy key {key} changed to {get(over, key)!r} but {rule(key)[3]} did not change"


# schema fields the packaged file leaves out (alternatives and defaults): their rules
# classify them for a policy that sets them, but they are not perturbed here
ABSENT = {"meta.notes", "services.*.units_per_person", "services.*.walk_m",
          "services.*.enabled", "operations.subsidy_cap_per_year",
          "hierarchy.levels.*.walk_minutes"}


def test_every_rule_is_used_and_every_schema_field_is_in_the_file():
    """No stale rule: each pattern classifies some key of the packaged policy (or a schema
    field the file leaves out, listed in ABSENT); and every field of the schema is in the
    packaged file or in ABSENT, so a new field cannot escape the generated test."""
    from siting.config.policy import Policy, Service

    unused = [r[0] for r in RULES if not any(fnmatch.fnmatchcase(k, r[0]) for k in KEYS)
              and r[0] not in ABSENT]
    assert not unused, f"rules matching no policy key: {unused}"
    fields = [f"{t}.{f}" for t, info in Policy.model_fields.items()
              if t not in ("services", "sites") for f in info.annotation.model_fields]
    fields += [f"services.*.{f}" for f in Service.model_fields]
    missing = [f for f in fields if f not in ABSENT
               and not any(fnmatch.fnmatchcase(k, f) or k.startswith(f + ".") for k in KEYS)]
    assert not missing, f"schema fields neither in cn_default.toml nor in ABSENT: {missing}"
    for f in ABSENT:
        rule(f.replace("*", "infant_care"))  # classified all the same


def test_unread_keys_are_refused_in_a_scenario_file(tmp_path):
    """A scenario file's [policy] table changing a key a run does not read is refused when
    the scenario is read (before any run)."""
    for key in [*UNREAD_OVERRIDES, "meta.schema_version"]:
        table, name = key.rsplit(".", 1)
        sc = tmp_path / "scenario.toml"
        sc.write_text(f'osm = "x.osm"\n[policy.{table}]\n{name} = {get(POLICY, key) * 2}\n',
                      encoding="utf-8")
        with pytest.raises(SitingError, match=key.replace(".", r"\.")):
            make_scenario(sc)


def _set_in_toml(text: str, key: str, value: str) -> str:
    """The policy text with ``key`` (dotted) set to ``value``."""
    table, name = key.rsplit(".", 1)
    lines, inside = text.split("\n"), False
    for k, line in enumerate(lines):
        if line.startswith("["):
            inside = line.split("]")[0] == f"[{table}"
        elif inside and line.split("=")[0].strip() == name:
            lines[k] = f"{name} = {value}"
            return "\n".join(lines)
    raise AssertionError(f"{key} not in the packaged policy")


def test_unread_keys_are_refused_in_a_policy_file(tmp_path):
    """A policy file giving a key no run reads a value other than the packaged one is
    refused when it is loaded; the packaged values pass."""
    text = resources.files("siting.config").joinpath("policies/cn_default.toml").read_text(
        "utf-8")
    same = tmp_path / "same.toml"
    same.write_text(text, encoding="utf-8")
    load_policy(same)
    path = tmp_path / "changed.toml"
    for key in UNREAD_OVERRIDES:
        path.write_text(_set_in_toml(text, key, str(get(POLICY, key) * 2)), encoding="utf-8")
        with pytest.raises(SitingError, match=rf"changed\.toml: {key.replace('.', '[.]')} is "):
            load_policy(path)


def test_assumptions_are_written_to_summary_json(base_run, tmp_path):
    """The review meeting reads the numbers and sources of the plan in summary.json."""
    out = base_run.write(tmp_path / "out")
    a = json.loads((out / "summary.json").read_text(encoding="utf-8"))["assumptions"]
    pol = load_policy()
    assert a["services"]["infant_care"]["name_zh"] == "婴幼儿托育"
    assert a["services"]["infant_care"]["threshold_m"] == pytest.approx(300.0)
    assert a["services"]["infant_care"]["placeholder"] == pol.services["infant_care"].placeholder
    assert a["area_standard"]["source"] == pol.area_standard.source
    assert a["walking"]["speed_m_per_min"] == pol.walking.speed_m_per_min
    assert a["costs"]["source"] == pol.costs.source
    for key in UNREAD_OVERRIDES:  # not read, not presented as an assumption
        table, name = key.split(".", 1)
        assert name not in a.get(table, {})
