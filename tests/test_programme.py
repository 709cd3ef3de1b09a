"""Programme planning (issue #16 items 1, 2, 7): funding sources, yearly phases and new
residential projects (同步配建) in the embedded model.

Each feature is checked by changing its input and seeing the plan change as it should,
and the MILP is checked against brute force on tiny hand-built instances: every choice
of opening year per site is enumerated and the continuous rest (areas, yearly flows,
payments by source) solved as an LP with scipy, written here from the raw tables.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linprog

from siting.cli import run_lines
from siting.config.policy import load_policy
from siting.config.scenario import make_scenario
from siting.errors import InfeasibleError, SitingError, in_chinese
from siting.models.embedded import EmbeddedFacilities
from siting.models.embedded.operations import settle_deficits
from siting.models.embedded.programme import (
    COST_TYPES,
    DEFAULT_TYPES,
    Programme,
    Source,
    read_programme,
    service_words,
)
from siting.models.instance import Instance
from siting.report.i18n import budget_text, note_text

ALL = ["infant_care", "elderly_care", "meal_assist", "after_school", "health_station",
       "housekeeping", "culture_station"]
WALK = 500.0
YEARS = (2025, 2026, 2027)
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def policy():
    """Meal assistance only (60+, 0.05 places per person, 2 m² per place, ≥ 20 m²)."""
    over = {"services": {s: {"enabled": s == "meal_assist"} for s in ALL}}
    over["services"]["meal_assist"].update({"walk_m": WALK, "walk_min": None})
    return load_policy(overrides=over)


def case(dist, old, sites, from_year=None):
    """An instance from a distance matrix (demand × sites), people aged 60+ per point."""
    dist = np.asarray(dist, float)
    i, j = np.nonzero(dist <= WALK)
    n = len(old)
    inst = Instance(np.asarray(old, float) * 5, np.zeros(dist.shape[1]), i, j, dist[i, j],
                    2000.0)
    demand = pd.DataFrame({"population": np.asarray(old, float) * 5, "age_60_plus": old,
                           "community_id": [f"c{k}" for k in range(n)]})
    if from_year is not None:
        demand["from_year"] = from_year
    return inst, demand, pd.DataFrame(sites)


def source(name, types=DEFAULT_TYPES, cap=None, cond=None, services=None):
    return Source(name, None if services is None else frozenset(services), frozenset(types),
                  cap, cond)


def programme(sources=(), amounts=None, budget=None, years=YEARS):
    amounts = amounts or {}
    return Programme(tuple(years), budget or {}, tuple(sources), amounts)


def plan(policy, inst, demand, sites, prog, **kw):
    kw.setdefault("standard_mode", "off")
    m = EmbeddedFacilities(inst, policy, demand, sites, programme=prog, **kw)
    return m.solve("highs", marginal=False)


def opened(sol):
    return dict(zip(sol.sites["site_id"], sol.sites["year_open"]))


# ---------------------------------------------------------------------------
# each input changes the plan as it should
# ---------------------------------------------------------------------------

def test_source_that_cannot_pay_rent_makes_a_lease_unaffordable(policy):
    """Only a lease is in reach: a bond-like source (construction, fit-out) cannot open it;
    a source that may pay rent can."""
    inst, demand, sites = case([[100.0]], [1000.0], {
        "site_id": ["lease"], "usable_area_m2": [150.0], "annual_per_m2_used": [300.0]})
    every = {(0, y): 1e7 for y in YEARS}
    bonds = plan(policy, inst, demand, sites,
                 programme([source("bonds", ("construction", "fit_out"))], every))
    assert bonds.sites.empty
    assert bonds.sheets["funding"]["spent"].sum() == 0
    local = plan(policy, inst, demand, sites, programme([source("local")], every))
    assert opened(local) == {"lease": 2025}
    fund = local.sheets["funding"]
    # 100 m² × 1500 fit-out in 2025, rent 100 m² × 300 in each year
    assert fund.loc[fund["year"] == 2025, "spent_fit_out"].sum() == pytest.approx(1.5e5, rel=1e-6)
    assert fund["spent_rent"].tolist() == pytest.approx([3e4] * 3, rel=1e-6)


def test_later_year_available_moves_the_opening(policy):
    inst, demand, sites = case([[100.0, 150.0]], [1000.0], {
        "site_id": ["A", "B"], "usable_area_m2": [100.0, 100.0], "cost": [1e5, 1.1e5],
        "year_available": [2025, 2025]})
    # money for one site a year only: A (the cheaper) first, B never needed (A serves
    # everyone)
    prog = programme([source("local")], {(0, y): 3e5 for y in YEARS})
    assert opened(plan(policy, inst, demand, sites, prog)) == {"A": 2025}
    sites["year_available"] = [2027, 2026]
    assert opened(plan(policy, inst, demand, sites, prog)) == {"B": 2026}
    sites["year_available"] = [2027, 2028]
    sol = plan(policy, inst, demand, sites, prog)
    assert opened(sol) == {"A": 2027}
    plan_sheet = sol.sheets["annual_plan"]
    assert plan_sheet["year"].tolist() == [2027] and plan_sheet["site_id"].tolist() == ["A"]
    served = sol.sheets["annual_summary"].set_index("year")["people_served"]
    assert served[2025] == served[2026] == 0 and served[2027] == pytest.approx(1000.0, rel=1e-5)


def test_project_delivery_year_sets_when_its_demand_counts(policy):
    """A project's people (from its delivery year) and its free space (from then too)."""
    inst, demand, sites = case([[100.0, 400.0], [450.0, 50.0]], [1000.0, 600.0], {
        "site_id": ["stock", "project"], "usable_area_m2": [100.0, 80.0],
        "cost": [2e5, 0.0], "year_available": [np.nan, 2026]}, from_year=[np.nan, 2026])
    prog = programme(budget={y: 1e6 for y in YEARS})
    sol = plan(policy, inst, demand, sites, prog)
    assert opened(sol) == {"stock": 2025, "project": 2026}
    served = sol.sheets["annual_summary"].set_index("year")["people_served"]
    assert served.tolist() == pytest.approx([1000.0, 1600.0, 1600.0], rel=1e-5)
    demand["from_year"] = [np.nan, 2027]
    sites["year_available"] = [np.nan, 2027]
    later = plan(policy, inst, demand, sites, prog)
    assert opened(later) == {"stock": 2025, "project": 2027}
    served = later.sheets["annual_summary"].set_index("year")["people_served"]
    assert served.tolist() == pytest.approx([1000.0, 1000.0, 1600.0], rel=1e-5)
    assert later.summary["objective"] < sol.summary["objective"]


def test_share_cap_and_condition(policy):
    """Central money pays ≤ 40 % of a site; old-community money only sites built before
    2001: the new compound's site cannot be paid in full, the old one can."""
    inst, demand, sites = case([[100.0, 120.0]], [1000.0], {
        "site_id": ["old", "new"], "usable_area_m2": [100.0, 100.0], "cost": [5e5, 3e5],
        "built_year": [1990, 2010]})
    srcs = [source("central", ("construction", "fit_out"), cap=0.4),
            source("renewal", ("construction", "fit_out"),
                   cond=("built_year", "<", 2001.0, "built_year<2001"))]
    amounts = {(0, 2025): 1e7, (1, 2025): 1e7}
    sol = plan(policy, inst, demand, sites, programme(srcs, amounts))
    assert opened(sol) == {"old": 2025}  # the cheaper new one has no source for 60 %
    fund = sol.sheets["funding"].set_index(["source", "year"])
    total = 5e5 + 100 * 1500
    assert fund.loc[("central", 2025), "spent"] <= 0.4 * total + 1e-3
    assert fund.loc[("central", 2025), "spent"] + fund.loc[("renewal", 2025), "spent"] == \
        pytest.approx(total, rel=1e-6)
    # only the cap and central money: 40 % of any site is all it pays, nothing opens
    none = plan(policy, inst, demand, sites, programme(srcs[:1], {(0, 2025): 1e7}))
    assert none.sites.empty
    # the cap binds where the plan leans on central money
    amounts = {(0, 2025): 1e7, (1, 2025): 0.6 * total}
    capped = plan(policy, inst, demand, sites, programme(srcs, amounts))
    binds = capped.sheets["funding"].set_index("source")["binds"]
    assert "cap_share 40%: old" in binds["central"] and "amount" in binds["renewal"]


def test_infeasible_plan_names_the_short_source(policy):
    inst, demand, sites = case([[100.0]], [1000.0], {
        "site_id": ["A"], "usable_area_m2": [100.0], "cost": [8e5]})
    prog = programme([source("local")], {(0, 2025): 5e5})
    # required open: at least 20 m² (8e5 + 20 × 1500 fit-out), 5e5 of it paid
    m = EmbeddedFacilities(inst, policy, demand, sites, programme=prog, standard_mode="off",
                           required=[0])
    with pytest.raises(InfeasibleError, match="'local' in 2025 runs short by 330,000 CNY") as e:
        m.solve("highs", marginal=False)
    assert in_chinese(str(e.value)) == (  # as the CLI says it in Chinese
        "没有方案能在项目资金内满足要求：资金来源 'local' 2025 年缺口 330,000 元；请提高这些金额"
        "（资金表 金额、分期表 预算），或允许其他来源支付（费用类型、服务、条件）")
    sites["annual_per_m2_used"] = 100.0
    m = EmbeddedFacilities(inst, policy, demand, sites, standard_mode="off", required=[0],
                           programme=programme([source("bonds", ("construction", "fit_out"))],
                                               {(0, y): 1e7 for y in YEARS}))
    with pytest.raises(InfeasibleError, match="no funding source may pay the rent of site A") \
            as e:
        m.solve("highs", marginal=False)
    assert "没有资金来源可支付场所 A 2027 年的租金（2,000 元）" in in_chinese(str(e.value))


def test_year_budget_delays_openings(policy):
    inst, demand, sites = case([[100.0, 900.0], [900.0, 100.0]], [1000.0, 1000.0], {
        "site_id": ["A", "B"], "usable_area_m2": [100.0, 100.0], "cost": [2e5, 2e5]})
    rich = plan(policy, inst, demand, sites, programme(budget={y: 1e6 for y in YEARS}))
    assert opened(rich) == {"A": 2025, "B": 2025}
    poor = plan(policy, inst, demand, sites, programme(budget={y: 4e5 for y in YEARS}))
    assert sorted(opened(poor).values()) == [2025, 2026]
    summ = poor.sheets["annual_summary"]
    assert (summ["spent_total"] <= summ["budget"] + 1e-3).all()
    assert not any(rich.sheets["annual_summary"]["binds"])


def test_running_costs_are_charged_when_a_source_pays_operations():
    """One meal-assistance site of 100 m² for 1,000 people aged 60+ (50 places): a year
    costs 300/m² + 3,000/place (÷ 2 m²) = 1,800 CNY per m²; fees 2,400 and a subsidy of 500
    per place served. At full use the city pays 500 × 50 + (180,000 − 2,900 × 50) = 60,000
    CNY a year, which only a source listing 运营 may pay."""
    over = {"services": {s: {"enabled": s == "meal_assist"} for s in ALL},
            "operations": {"services": {"meal_assist": {
                "cost_per_m2_year": 300.0, "cost_per_unit_year": 3000.0,
                "fee_per_unit_year": 2400.0, "subsidy_per_unit_year": 500.0}}}}
    over["services"]["meal_assist"].update({"walk_m": WALK, "walk_min": None})
    pol = load_policy(overrides=over)
    inst, demand, sites = case([[100.0]], [1000.0], {
        "site_id": ["A"], "usable_area_m2": [100.0], "cost": [1e5]})
    capital = source("capital", ("construction", "fit_out"))
    money = {(0, y): 1e7 for y in YEARS}

    def run(ops_amounts, types=COST_TYPES):
        srcs = (capital, source("city", types))
        return plan(pol, inst, demand, sites,
                    programme(srcs, money | {(1, y): a for y, a in zip(YEARS, ops_amounts)}))

    # not charged: no source lists 运营 (the running costs are still reported per site)
    free = run([0.0, 0.0, 0.0], DEFAULT_TYPES)
    assert opened(free) == {"A": 2025}
    assert free.sheets["annual_summary"]["spent_operations"].tolist() == [0.0] * 3
    assert not any("running costs" in n for n in free.summary["notes"])
    # charged and paid in full: 60,000 a year (to the solver's tolerance, 1e-7 of a row),
    # by the source listing 运营 only
    full = run([1e6] * 3)
    summ, fund = full.sheets["annual_summary"], full.sheets["funding"]
    assert opened(full) == {"A": 2025}
    assert summ["spent_operations"].tolist() == pytest.approx([6e4] * 3, rel=1e-5)
    assert fund.groupby("year")["spent_operations"].sum().tolist() == \
        pytest.approx([6e4] * 3, rel=1e-5)
    assert fund.loc[fund["source"] == "capital", "spent_operations"].sum() == 0
    assert summ["spent_operations"].iloc[-1] == pytest.approx(
        full.summary["subsidy_total_year"], rel=1e-5)  # the sites' reported subsidy
    assert any(n.endswith("paid by city") for n in full.summary["notes"])
    # no money for running costs in 2025: the site opens in 2026
    assert opened(run([0.0, 1e6, 1e6])) == {"A": 2026}
    # 40,000 a year pays for 600 CNY per m² at full use: a room of 66.7 m², 33.3 places,
    # 666.7 people for three years (10 objective points per meal served)
    part = run([4e4] * 3)
    assert part.sites["area_m2"].iloc[0] == pytest.approx(4e4 / 600, rel=1e-5)
    assert part.summary["objective"] == pytest.approx(10 * 3 * 4e4 / 600 / 2 / 0.05, rel=1e-5)
    assert part.sheets["annual_summary"]["spent_operations"].tolist() == \
        pytest.approx([4e4] * 3, rel=1e-5)
    # a solve that leaves a deficit above the site's (money it need not spend) is settled
    # back to it, and its payments with it
    m = EmbeddedFacilities(inst, pol, demand, sites, standard_mode="off", programme=programme(
        (capital, source("city", COST_TYPES)), money | {(1, y): 1e6 for y in YEARS}))
    m.solve("highs", marginal=False)
    form, pv = m.formulation, m.programme_vars
    d = pv.deficit[0, 1]
    pay = next(p for (key, k), p in pv.pay.items() if key == (0, "operations", 1, None))
    x = form.x.copy()
    x[d] += 5e3
    x[pay] += 5e3
    form.x = x
    assert settle_deficits(form, pv)
    assert form.val(d) == pytest.approx(6e4 - 500 * 50, rel=1e-5)  # 35,000: the deficit
    assert form.val(pay) == pytest.approx(form.val(d) + 500 * 50, rel=1e-6)  # + the subsidy


def test_source_for_one_service_pays_only_that_service():
    """A source for meal assistance only: per-m² costs of its service are paid, those of
    after-school care are not; a per-site charge needs a source without a service list."""
    over = {"services": {s: {"enabled": s in ("meal_assist", "after_school")} for s in ALL}}
    for s in ("meal_assist", "after_school"):
        over["services"][s].update({"walk_m": WALK, "walk_min": None})
    pol = load_policy(overrides=over)
    inst, demand, sites = case([[100.0, 120.0]], [1000.0], {
        "site_id": ["A", "B"], "usable_area_m2": [200.0, 200.0],
        "one_off_per_m2_used": [1000.0, 1000.0]})
    demand["age_6_14"] = 2000.0  # 0.1 places each, 3 m² per place: 600 m² wanted
    every = {(0, y): 1e8 for y in YEARS}

    def hosted(services):
        prog = programme([source("meals", services=services)], every)
        sol = plan(pol, inst, demand, sites, prog)
        return sorted(sol.sites["services"])

    assert hosted(["meal_assist"]) == ["meal_assist"]
    assert hosted(["meal_assist", "after_school"]) == ["after_school", "meal_assist"]
    # a per-site charge (a purchase): no source with a service list pays it
    sites["cost"], sites["one_off_per_m2_used"] = 1e5, 0.0
    assert hosted(["meal_assist"]) == []
    assert hosted(None) == ["after_school", "meal_assist"]


# ---------------------------------------------------------------------------
# brute force
# ---------------------------------------------------------------------------

def _row_maker(var: dict):
    """A function turning ``(variable key, coefficient)`` terms into an LP row."""
    def row(terms):
        r = np.zeros(len(var))
        for key, coef in terms:
            r[var[key]] += coef
        return r
    return row


def brute(policy, dist, people, sites, from_year, prog):
    """Best people-years by enumerating each site's service and opening year (or closed),
    one LP each. ``people`` maps each service to its group's people per demand point; a
    site hosts one service (two services cannot make a complex of three functions)."""
    S = list(people)
    sv = [policy.services[s] for s in S]
    q = [x.floor_m2_per_unit for x in sv]
    m_min = [x.min_floor_m2 for x in sv]
    rate = [x.rate for x in sv]
    w = [x.priority_weight for x in sv]
    k_fit = [x.fit_out_per_m2 or policy.costs.fit_out_per_m2 for x in sv]
    years = list(prog.years)
    K, (n, J) = len(years), dist.shape
    D = [np.asarray(people[s], float) * rate[k] for k, s in enumerate(S)]
    fy = [0 if np.isnan(f) else years.index(int(f)) for f in from_year]
    avail = [0 if np.isnan(y) else (years.index(int(y)) if y <= years[-1] else K)
             for y in sites["year_available"]]
    A, c, u, ca, ua = (sites[col].to_numpy(float) if col in sites else np.zeros(J) for col in
                       ("usable_area_m2", "cost", "one_off_per_m2_used", "annual_cost",
                        "annual_per_m2_used"))
    ops = [policy.operations.services.get(s) for s in S]
    run_m2 = [0.0 if o is None else o.cost_per_m2_year + o.cost_per_unit_year / q[k]
              for k, o in enumerate(ops)]
    income = [0.0 if o is None else o.fee_per_unit_year + o.subsidy_per_unit_year for o in ops]
    sub = [0.0 if o is None else o.subsidy_per_unit_year for o in ops]
    best = 0.0
    options = [[None] + [(k, t) for k in range(len(S)) for t in range(avail[j], K)]
               for j in range(J)]
    for choice in itertools.product(*options):
        open_ = [j for j in range(J) if choice[j] is not None]
        var: dict = {}
        v = var.setdefault
        for j in open_:
            v(("a", j), len(var))
        for tau in range(K):
            for i in range(n):
                for j in open_:
                    k, t = choice[j]
                    if dist[i, j] <= WALK and t <= tau and fy[i] <= tau and D[k][i] > 0:
                        v(("f", i, j, tau), len(var))
        # cost items (site, type, year paid, service or None) as {variable or "one": coef}
        items: dict = {}
        running: list = []  # (deficit column, service, site, units served that year)
        for j in open_:
            k, t = choice[j]
            items[j, "construction", t, None] = {"one": c[j]}
            items[j, "construction", t, k] = {("a", j): u[j]}
            items[j, "fit_out", t, k] = {("a", j): k_fit[k]}
            for tau in range(t, K):
                items[j, "rent", tau, None] = {"one": ca[j]}
                items[j, "rent", tau, k] = {("a", j): ua[j]}
        if prog.charges_operations:  # each year open: subsidy per unit + any deficit
            for j in open_:
                k, t = choice[j]
                for tau in range(t, K):
                    units = {key: 1.0 for key in var if key[0] == "f" and key[2] == j
                             and key[3] == tau}
                    v(("d", j, tau), len(var))
                    running.append((("d", j, tau), k, j, units))
                    items[j, "operations", tau, k] = {u: sub[k] for u in units}
                    items[j, "operations", tau, None] = {("d", j, tau): 1.0}
        for key in items:
            for si, src in enumerate(prog.sources):
                if key[1] not in src.cost_types or (si, years[key[2]]) not in prog.amounts:
                    continue
                if src.services is not None and (key[3] is None
                                                 or S[key[3]] not in src.services):
                    continue
                cond = src.condition
                if cond is None or sites[cond[0]].iloc[key[0]] < cond[2]:
                    v(("p", key, si), len(var))
        if not var:
            continue  # nothing open: 0 people-years (best starts there)
        A_ub, b_ub, A_eq, b_eq = [], [], [], []
        row = _row_maker(var)

        def expr(item):
            return [(k, cf) for k, cf in item.items() if k != "one"], item.get("one", 0.0)

        for i in range(n):
            for tau in range(K):
                ts = [(k, 1.0) for k in var if k[0] == "f" and k[1] == i and k[3] == tau]
                for kk in range(len(S)):  # one row per service
                    mine = [(key, cf) for key, cf in ts if choice[key[2]][0] == kk]
                    if mine:
                        A_ub.append(row(mine))
                        b_ub.append(D[kk][i])
        for j in open_:
            k = choice[j][0]
            for tau in range(K):
                ts = [(key, 1.0) for key in var if key[0] == "f" and key[2] == j
                      and key[3] == tau]
                if ts:
                    A_ub.append(row(ts + [(("a", j), -1.0 / q[k])]))
                    b_ub.append(0.0)
        for d, k, j, units in running:  # deficit ≥ running cost − fees − subsidy
            A_ub.append(row([(d, -1.0), (("a", j), run_m2[k])]
                            + [(u, -income[k]) for u in units]))
            b_ub.append(0.0)
        for key, item in items.items():
            terms, const = expr(item)
            pays = [(k, 1.0) for k in var if k[0] == "p" and k[1] == key]
            if prog.sources:
                A_eq.append(row(pays + [(k, -cf) for k, cf in terms]))
                b_eq.append(const)
        for (si, y), amount in prog.amounts.items():
            ts = [(k, 1.0) for k in var if k[0] == "p" and k[2] == si
                  and years[k[1][2]] == y]
            if ts:
                A_ub.append(row(ts))
                b_ub.append(amount)
        for si, src in enumerate(prog.sources):
            if src.cap_share is None:
                continue
            for j in open_:
                ts = [(k, 1.0) for k in var if k[0] == "p" and k[2] == si and k[1][0] == j]
                base = [it for key, it in items.items()
                        if key[0] == j and key[1] in src.cost_types]
                terms = [(k, -src.cap_share * cf) for it in base for k, cf in expr(it)[0]]
                A_ub.append(row(ts + terms))
                b_ub.append(src.cap_share * sum(expr(it)[1] for it in base))
        for tau, y in enumerate(years):
            if y in prog.year_budget:
                its = [it for key, it in items.items() if key[2] == tau]
                A_ub.append(row([(k, cf) for it in its for k, cf in expr(it)[0]]))
                b_ub.append(prog.year_budget[y] - sum(expr(it)[1] for it in its))
        obj = np.zeros(len(var))
        for key, col in var.items():
            if key[0] == "f":
                k = choice[key[2]][0]
                obj[col] = -w[k] / rate[k]
        bounds = [(m_min[choice[key[1]][0]], A[key[1]]) if key[0] == "a" else (0, None)
                  for key in var]
        res = linprog(obj, A_ub=np.array(A_ub) if A_ub else None, b_ub=b_ub or None,
                      A_eq=np.array(A_eq) if A_eq else None, b_eq=b_eq or None,
                      bounds=bounds, method="highs")
        if res.status == 0:
            best = max(best, -res.fun)
    return best


def random_programme(seed):
    rng = np.random.default_rng(seed)
    n, J = 3, 3
    dist = rng.uniform(0, 700, (n, J))
    old = rng.integers(300, 1200, n).astype(float)
    kids = rng.integers(0, 900, n).astype(float)
    K = 2 + seed % 2
    years = YEARS[:K]
    # each cost component either fixed per site or per m² used, as the site table gives it
    per_m2 = rng.random(J) < 0.5
    rent_m2 = rng.random(J) < 0.5
    sites = pd.DataFrame({
        "site_id": [f"s{j}" for j in range(J)],
        "usable_area_m2": rng.uniform(40, 200, J).round(),
        "cost": np.where(per_m2, 0.0, rng.choice([0.0, 1e5, 3e5], J)),
        "one_off_per_m2_used": np.where(per_m2, rng.choice([500.0, 1500.0], J), 0.0),
        "annual_cost": np.where(rent_m2, 0.0, rng.choice([0.0, 2e4], J)),
        "annual_per_m2_used": np.where(rent_m2, rng.choice([0.0, 200.0], J), 0.0),
        "year_available": rng.choice([np.nan, float(years[-1])], J),
        "built_year": rng.choice([1990.0, 2010.0], J)})
    from_year = rng.choice([np.nan, float(years[-1])], n)
    two = seed in (3, 4, 5)  # two services, one source pays meals only
    ops = ("operations",) if seed >= 6 else ()  # the last seeds charge running costs
    srcs = (source("central", ("construction", "fit_out"), cap=float(rng.choice([0.4, 0.8])),
                   services=["meal_assist"] if two else None),
            source("renewal", ("construction", "fit_out", "rent"),
                   cond=("built_year", "<", 2001.0, "built_year<2001")),
            source("local", ("construction", "fit_out", "rent", *ops)))
    amounts = {(k, y): float(rng.uniform(0, 3e5)) for k in range(3) for y in years}
    budget = {years[0]: float(rng.uniform(1e5, 6e5))}
    people = {"meal_assist": old} | ({"after_school": kids} if two else {})
    return dist, people, sites, from_year, Programme(years, budget, srcs, amounts)


@pytest.mark.parametrize("seed", range(8))
def test_milp_agrees_with_brute_force(seed):
    dist, people, sites, from_year, prog = random_programme(seed)
    over = {"services": {s: {"enabled": s in people} for s in ALL},
            # a subsidy per meal place too (the packaged placeholder has none)
            "operations": {"services": {"meal_assist": {"subsidy_per_unit_year": 300.0}}}}
    for s in people:
        over["services"][s].update({"walk_m": WALK, "walk_min": None})
    pol = load_policy(overrides=over)
    inst, demand, sites = case(dist, people["meal_assist"], sites, from_year)
    demand["age_6_14"] = people.get("after_school", 0.0)
    sol = plan(pol, inst, demand, sites, prog)
    expect = brute(pol, dist, people, sites, from_year, prog)
    assert sol.summary["objective"] == pytest.approx(expect, rel=1e-6, abs=1e-6)
    # the plan respects every source's amount and each year's budget
    fund = sol.sheets["funding"]
    assert (fund["spent"] <= fund["amount"] + 1e-3).all()
    summ = sol.sheets["annual_summary"].set_index("year")
    y0 = prog.years[0]
    assert summ.loc[y0, "spent_total"] <= prog.year_budget[y0] + 1e-3
    paid = fund.groupby("year")["spent"].sum().reindex(summ.index, fill_value=0)
    assert paid.tolist() == pytest.approx(summ["spent_total"].tolist(), abs=1e-3)


# ---------------------------------------------------------------------------
# tables and scenario keys
# ---------------------------------------------------------------------------

def test_reads_chinese_tables_and_refuses_bad_ones(policy, tmp_path):
    words = service_words(policy)
    f = tmp_path / "funding.csv"
    f.write_text("资金来源,年份,金额,服务,费用类型,上限比例,条件\n"
                 "中央预算内投资,2025,100,社区助餐,建设;装修,40%,\n"
                 "中央预算内投资,2026,100,,,,\n"
                 "老旧小区改造资金,2026,50,,建设,,建成年份<2001\n", encoding="utf-8")
    p = tmp_path / "phases.csv"
    p.write_text("年份,预算\n2025,80\n2026,\n", encoding="utf-8")
    prog = read_programme(f, p, None, words)
    assert prog.years == (2025, 2026) and prog.year_budget == {2025: 80.0}
    central, renewal = prog.sources
    assert central.services == {"meal_assist"} and central.cap_share == pytest.approx(0.4)
    assert central.cost_types == {"construction", "fit_out"}
    assert renewal.condition[:3] == ("建成年份", "<", 2001.0)
    assert prog.amounts == {(0, 2025): 100.0, (0, 2026): 100.0, (1, 2026): 50.0}
    p.write_text("年份\n2025\n2026\n", encoding="utf-8")  # one column: nothing to sniff
    assert read_programme(None, p, None, words).year_budget == {}
    bad = {
        "资金来源,年份,金额,费用类型\nA,2025,1,停车\n": "unknown cost type '停车'",
        "资金来源,年份\nA,2025\n": "needs the columns amount",
        "资金来源,年份,金额\nA,2025,1\nA,2025,2\n": "two rows for 2025",
        "资金来源,年份,金额,上限比例\nA,2025,1,40%\nA,2026,1,60%\n": "give one value",
        "资金来源,年份,金额,上限比例\nA,2025,1,1.5\n": "cap_share must be a share",
        "资金来源,年份,金额\nA,2025,-1\n": "amount must be >= 0",
        "资金来源,年份,金额,服务\nA,2025,1,停车场\n": "unknown services",
        "资金来源,年份,金额,条件\nA,2025,1,old\n": "not 'attribute operator value'",
        "资金来源,年份,金额\nA,2025,1\nA,2028,1\n": "must be consecutive",
    }
    for text, msg in bad.items():
        f.write_text(text, encoding="utf-8")
        with pytest.raises(SitingError, match=msg):
            read_programme(f, None, None, words)
    f.write_text("资金来源,年份,金额\nA,2029,1\n", encoding="utf-8")
    with pytest.raises(SitingError, match=r"years \[2029\] are not programme years"):
        read_programme(f, p, None, words)
    j = tmp_path / "projects.csv"
    j.write_text("编号,经度,纬度,人口,交付年份,配建面积\nP1,118.78,32.04,100,2027,50\n",
                 encoding="utf-8")
    with pytest.raises(SitingError, match="delivered in 2027, after the programme's last year"):
        read_programme(None, p, j, words)
    with pytest.raises(SitingError, match="give the programme's years"):
        read_programme(None, None, j, words)
    # a condition on a column the sites do not have is refused
    inst, demand, sites = case([[100.0]], [1000.0], {"usable_area_m2": [100.0]})
    cond = programme([source("renewal", cond=("建成年份", "<", 2001.0, "建成年份<2001"))],
                     {(0, 2025): 1.0})
    with pytest.raises(SitingError, match="tests '建成年份', which no site has"):
        EmbeddedFacilities(inst, policy, demand, sites, programme=cond, standard_mode="off")
    with pytest.raises(SitingError, match="needs objective max_served"):
        EmbeddedFacilities(inst, policy, demand, sites, programme=programme(),
                           objective="min_cost")


def test_scenario_keys_are_paths_and_embedded_only(tmp_path):
    (tmp_path / "s.toml").write_text('model = "max_cover"\nfunding = "funding.csv"\n',
                                     encoding="utf-8")
    with pytest.raises(SitingError, match="funding .* conflicts with model max_cover"):
        make_scenario(tmp_path / "s.toml")
    (tmp_path / "s.toml").write_text('model = "embedded"\nphases = "p.csv"\n', encoding="utf-8")
    assert make_scenario(tmp_path / "s.toml").phases == tmp_path / "p.csv"


def test_nanjing_example_runs_end_to_end(nanjing_osm, tmp_path):
    """data/nanjing: three sources over three years, the annual plan and funding sheets."""
    import openpyxl

    from siting.pipeline import run

    sc = make_scenario(ROOT / "data" / "nanjing" / "scenario.toml", time_limit=8)
    assert sc.osm.resolve() == nanjing_osm.resolve()
    result = run(sc)
    out = result.write(tmp_path / "out")
    plan_sheet = pd.read_csv(out / "tables" / "annual_plan.csv", encoding="utf-8-sig")
    fund = pd.read_csv(out / "tables" / "funding.csv", encoding="utf-8-sig")
    assert set(fund["source"]) == {"中央预算内投资", "地方财政", "老旧小区改造资金"}
    assert sorted(set(fund["year"])) == [2025, 2026, 2027]
    assert (fund["spent"] <= fund["amount"] + 1).all()
    assert len(plan_sheet) == int((~result.plan.sites["existing"]).sum())
    assert set(plan_sheet["year"]) <= {2025, 2026, 2027}
    sheets = openpyxl.load_workbook(out / "report.xlsx").sheetnames
    assert {"年度建设计划", "资金安排"} <= set(sheets)
    html = (out / "map.html").read_text(encoding="utf-8")
    assert all(f"{y} 年建设" in html for y in set(plan_sheet["year"]))  # a layer per year
    # the money the plan was held to: the years' budgets against their sources, and what
    # the plan spends in them — one text in the CLI, the map and the PDF (not "no budget")
    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    phases = pd.read_csv(ROOT / "data" / "nanjing" / "phases.csv", encoding="utf-8-sig")
    raw = pd.read_csv(ROOT / "data" / "nanjing" / "funding.csv", encoding="utf-8-sig")
    by_year = raw.groupby("年份")["金额"].sum()
    assert s["programme_money"] == pytest.approx(sum(
        min(b, by_year[y]) for y, b in zip(phases["年份"], phases["预算"])))
    annual = pd.read_csv(out / "tables" / "annual_summary.csv", encoding="utf-8-sig")
    assert s["programme_spent"] == pytest.approx(annual["spent_total"].sum())
    assert s["programme_spent"] <= s["programme_money"] + 1
    text = budget_text(s, "zh")
    assert f"{s['programme_money']:,.0f}" in text and "2025–2027" in text
    assert text in html and text in run_lines(s, out, "zh")  # the PDF: output_check
    assert "未设预算" not in html
    # 地方财政 lists 运营: running costs are charged to it each year a new site is open;
    # the last year's equal the yearly subsidy of the new sites the run reports
    assert any("running costs are charged" in n and n.endswith("paid by 地方财政")
               for n in s["notes"])
    assert (annual["spent_operations"] > 0).all()
    assert annual["spent_operations"].iloc[-1] == pytest.approx(s["subsidy_total_year"])
    paid = fund.groupby("year")["spent_operations"].sum()
    assert paid.tolist() == pytest.approx(annual["spent_operations"].tolist())
    assert (fund.loc[fund["source"] != "地方财政", "spent_operations"] == 0).all()
    for n in s["notes"]:  # the Chinese map and PDF say each of the run's notes in Chinese
        assert note_text(n, "zh") != n, n
    sites = result.chosen_sites
    assert "year_open" in sites and sites.loc[~sites["existing"], "year_open"].notna().all()
    # the project (同步配建) is a candidate from its delivery year, and its people count
    proj = result.candidates[result.candidates["source"] == "project"]
    assert proj["year_available"].tolist() == [2026.0]
    assert (result.demand["from_year"] == 2026).sum() == 1
    # the four inventory spaces are offered; those available later open no earlier
    inv = result.candidates[result.candidates["source"] == "inventory"]
    assert len(inv) == 4 and inv["excluded_reason"].isna().all()
    assert inv["小区建成年份"].notna().all()  # the attribute the renewal money tests
    # the sheet names sites by their stable id (source_id), as every output does
    avail = dict(zip(result.sites["source_id"].astype(str), result.sites["year_available"]))
    for sid, year in zip(plan_sheet["source_id"].astype(str), plan_sheet["year"]):
        assert not avail[sid] > year


def test_projects_and_site_attributes_join_the_run_tables(tmp_path):
    """A project becomes a demand point from its delivery year and a free site available
    from then; inventory columns a condition tests reach the candidates by id."""
    import geopandas as gpd
    from shapely.geometry import box

    from siting.candidates import candidate_frame
    from siting.config.site_policy import load_site_policy
    from siting.models.embedded.projects import add_projects, add_site_attributes

    crs = "EPSG:32650"
    pol = load_site_policy()
    pts = gpd.GeoSeries(gpd.points_from_xy([118.78, 118.781], [32.04, 32.041]),
                        crs="EPSG:4326").to_crs(crs)
    demand = gpd.GeoDataFrame({"population": [100.0, 200.0], "age_60_plus": [20.0, 40.0],
                               "households": [40.0, 80.0], "community_id": ["a", "a"]},
                              geometry=pts.to_numpy(), crs=crs)
    cands = candidate_frame(pd.DataFrame({
        "source_id": ["NJ01", "w1"], "kind": ["office", "office"],
        "floor_area_m2": [500.0, 800.0], "usable_area_m2": [400.0, 600.0],
        "acquisition_mode": ["renovate", "lease"], "source": ["inventory", "osm"]}),
        pts.to_numpy(), crs, pol)
    projects = pd.DataFrame({"id": ["P1"], "name": ["新区"], "lon": [118.7805],
                             "lat": [32.0405], "population": [1000.0],
                             "delivery_year": [2026], "space_m2": [300.0]})
    area = box(118.77, 32.03, 118.79, 32.05)
    d2, c2 = add_projects(demand, cands, projects, {"age_60_plus": 0.2}, 2.5, pol, area)
    new = d2.iloc[-1]
    assert len(d2) == 3 and new["from_year"] == 2026 and new["age_60_plus"] == 200.0
    assert new["households"] == 400.0 and new["community_id"] == "project P1"
    site = c2[c2["source"] == "project"].iloc[0]
    assert (site["usable_area_m2"], site["year_available"], site["cost_total"]) == \
        (300.0, 2026.0, 0.0)
    with pytest.raises(SitingError, match=r"projects \['P1'\] lie outside the study area"):
        add_projects(demand, cands, projects, {}, 2.5, pol, box(0, 0, 1, 1))
    inv = tmp_path / "inventory.csv"
    inv.write_text("编号,经度,纬度,建筑面积,小区建成年份\nNJ01,118.78,32.04,500,1995\n",
                   encoding="utf-8")
    prog = programme([source("renewal", cond=("小区建成年份", "<", 2001.0, "小区建成年份<2001"))],
                     {(0, 2025): 1.0})
    out = add_site_attributes(c2, prog, inv)
    built = out["小区建成年份"].tolist()
    assert built[0] == "1995" and pd.isna(built[1])  # the OSM building has none
    with pytest.raises(SitingError, match="only get from an inventory column"):
        add_site_attributes(c2, prog, None)


def test_a_bad_table_is_refused_before_the_network_is_built(nanjing_osm, tmp_path,
                                                             monkeypatch):
    """``--funding`` (and the other programme flags) take effect through the CLI, and a
    malformed table is refused when the inputs are checked, before any network is read."""
    from typer.testing import CliRunner

    import siting.pipeline as pl
    from siting.cli import app

    def no_network(sc):
        raise AssertionError("the network was read before the tables were checked")

    monkeypatch.setattr(pl, "load_inputs", no_network)
    bad = tmp_path / "funding.csv"
    bad.write_text("资金来源,年份,金额\n地方财政,2025,很多\n", encoding="utf-8")
    res = CliRunner().invoke(app, ["run", "--osm", str(nanjing_osm), "--model", "embedded",
                                   "--funding", str(bad), "--out", str(tmp_path / "out")])
    assert res.exit_code == 2, res.output
    assert "funding.csv" in res.output and "network was read" not in res.output
    assert not (tmp_path / "out").exists()
    res = CliRunner().invoke(app, ["run", "--osm", str(nanjing_osm), "--funding", str(bad),
                                   "--out", str(tmp_path / "out")])
    assert res.exit_code == 2 and "--funding" in res.output  # embedded only


def test_marginal_values_count_people_years(policy):
    """A programme's marginal values are on its own objective (people-years): one LP of the
    whole model per site (diagnosis.marginal_lp). On a single-period model that LP gives
    the per-service LPs of marginal_values; a one-year programme gives the same numbers as
    the single-period plan; over three years a site open longer is worth more."""
    from siting.models.embedded.diagnosis import flow_people, held, marginal_lp, plan_columns

    rng = np.random.default_rng(3)
    dist = rng.uniform(0, 900, (8, 5))
    old = rng.integers(100, 900, 8).astype(float)
    sites = pd.DataFrame({"site_id": [f"s{j}" for j in range(5)],
                          "usable_area_m2": rng.uniform(30, 120, 5).round(),
                          "cost": rng.choice([1e5, 2e5], 5), "annual_cost": 0.0})
    inst, demand, st = case(dist, old, sites)
    one = EmbeddedFacilities(inst, policy, demand, st, budget=4e5, standard_mode="off")
    sol = one.solve("highs", marginal=True)
    assert len(sol.sites) >= 2 and (sol.sites["marginal_value"] > 0).all()
    cols, kept = plan_columns(one.formulation, one.data)
    vals, ppl = marginal_lp(held(one.formulation, kept), sol.sites["site"].tolist(), cols,
                            flow_people(one.formulation, one.data))
    assert vals == pytest.approx(sol.sites["marginal_value"].tolist(), rel=1e-6)
    assert ppl == pytest.approx(sol.sites["marginal_people"].tolist(), rel=1e-6)
    # a one-year programme with that year's budget: the same plan, the same numbers
    single = EmbeddedFacilities(inst, policy, demand, st, standard_mode="off",
                                programme=programme(budget={2025: 4e5}, years=(2025,)))
    s1 = single.solve("highs", marginal=True)
    assert s1.summary["objective"] == pytest.approx(sol.summary["objective"], rel=1e-6)
    pd.testing.assert_frame_equal(
        s1.sites[["site", "marginal_value", "marginal_people"]].reset_index(drop=True),
        sol.sites[["site", "marginal_value", "marginal_people"]].reset_index(drop=True),
        rtol=1e-6)
    # three years: people-years; dropping a site loses at most what it serves, so the
    # losses add up to at most the people-years served (each m² counts at one site)
    three = EmbeddedFacilities(inst, policy, demand, st, standard_mode="off",
                               programme=programme(budget={2025: 2e5, 2026: 2e5}))
    s3 = three.solve("highs", marginal=True)
    assert any("people-years" in n for n in s3.summary["notes"])
    assert s3.sites["year_open"].nunique() >= 2
    assert (s3.sites["marginal_people"] > 0).all()
    served = s3.sheets["annual_summary"]["people_served"].sum()
    assert s3.sites["marginal_people"].sum() <= served * (1 + 1e-9)
    assert s3.sites["marginal_people"].max() > ppl[0]  # more than one year's worth
