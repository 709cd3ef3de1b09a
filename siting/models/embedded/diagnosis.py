"""After a solve: why no plan exists, and what each chosen site is worth (post-optimal LPs)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from siting.config.scenario import DEFAULT_SOLVER
from siting.errors import InfeasibleError, SitingError
from siting.models.embedded.data import EmbeddedData
from siting.models.embedded.formulation import Formulation, build, solve_safe
from siting.solvers import MatrixModel
from siting.solvers import solve as solve_matrix

# ---------------------------------------------------------------------------
# infeasibility
# ---------------------------------------------------------------------------

class Explanation(str):
    """A message in English (the string itself) that also has its Chinese text.

    Attributes
    ----------
    zh
        The same message in Chinese.
    """

    zh: str

    def __new__(cls, en: str, zh: str) -> Explanation:
        obj = super().__new__(cls, en)
        obj.zh = zh
        return obj

    def in_lang(self, lang: str) -> str:
        """The message in ``lang``.

        Parameters
        ----------
        lang
            ``"zh"`` or ``"en"``.

        Returns
        -------
        str
        """
        return self.zh if lang == "zh" else str(self)


def explain_infeasible(data: EmbeddedData, solver: str = DEFAULT_SOLVER,
                       time_limit: float | None = None) -> Explanation:
    """Why no plan exists, in planning terms (communities, budget, limits), one reason a line.

    Parameters
    ----------
    data
        The model's data.
    solver
        Solver of the least budget meeting every other requirement (a MILP).
    time_limit
        Seconds for that solve; None for no limit.

    Returns
    -------
    Explanation
        ``"no feasible plan:"`` and a ``- reason`` line each, in English; its ``zh`` the
        same in Chinese (``siting run`` prints the outputs' language).
    """
    reasons: list[tuple[str, str]] = []  # (en, zh)
    if data.standard_mode == "hard":
        possible = data.reachable_m2()
        R = data.required_m2
        bad = [c for c in range(len(data.community_ids)) if possible[c] < R[c] - 1e-6]
        reach, share = data.policy.standard_reach_m, data.policy.area_standard.reach_share
        for c in bad[:10]:
            name, hh = data.community_names[c], data.households[c]
            reasons.append((
                f"community {data.community_ids[c]} ({name}, {hh:,.0f} households) needs "
                f"{R[c]:,.0f} m² ({data.standard:g} m² per 100 households) but all candidates "
                f"within {reach:.0f} m of {share:.0%} of its households offer only "
                f"{possible[c]:,.0f} m²",
                f"社区 {data.community_ids[c]}（{name}，{hh:,.0f} 户）需配置 "
                f"{R[c]:,.0f} m²（每百户 {data.standard:g} m²），但距其 {share:.0%} 住户 "
                f"{reach:.0f} 米内的全部候选场所只能提供 {possible[c]:,.0f} m²"))
        if len(bad) > 10:
            reasons.append((f"… and {len(bad) - 10} more communities",
                            f"……另有 {len(bad) - 10} 个社区"))
    if not reasons and data.budget is not None:
        least = _least_budget(data, solver, time_limit)
        en, zh = requirements(data, budget=False), requirements(data, False, "zh")
        if least is not None:
            reasons.append((
                f"the budget of {data.budget:,.0f} CNY is too small: the least budget meeting "
                f"every requirement ({en}) is {least:,.0f} CNY",
                f"预算 {data.budget:,.0f} 元不足：满足全部要求（{zh}）的最低预算为 "
                f"{least:,.0f} 元"))
        else:
            reasons.append((
                f"even with an unlimited budget no plan meets {en} (each site hosts one "
                "service unless it is a complex, and each m² counts for one community only); "
                "relax one of them",
                f"即使预算不限，也没有方案能满足：{zh}（非综合服务设施的场所只设一项服务，"
                "每平方米只计入一个社区）；请放宽其中一项"))
    if not reasons:
        reasons.append((f"no plan meets all of: {requirements(data)}; relax one of them",
                        f"没有方案能同时满足：{requirements(data, lang='zh')}；请放宽其中一项"))
    return Explanation("no feasible plan:\n" + "\n".join(f"- {en}" for en, _ in reasons),
                       "无可行方案：\n" + "\n".join(f"- {zh}" for _, zh in reasons))


def requirements(data: EmbeddedData, budget: bool = True, lang: str = "en") -> str:
    """The model's hard requirements, as a planner states them.

    Parameters
    ----------
    data
        The model's data.
    budget
        Include the budget.
    lang
        ``"en"`` or ``"zh"``.

    Returns
    -------
    str
    """
    zh = lang == "zh"
    req = []
    if data.standard_mode == "hard":
        req.append(f"每个社区每百户 {data.standard:g} m²（硬约束）" if zh else
                   f"{data.standard:g} m² per 100 households in every community (hard)")
    if data.objective in ("min_cost", "min_distance"):
        req.append("步行范围内的需求全部得到服务" if zh else "all demand within reach served")
    if data.min_coverage:
        req.append(f"每个社区步行范围内至少 {data.min_coverage:.0%} 的人获得服务" if zh else
                   f"at least {data.min_coverage:.0%} of each community's people in reach served")
    if data.max_new_sites is not None:
        req.append(f"新增场所不超过 {data.max_new_sites} 处" if zh else
                   f"at most {data.max_new_sites} new sites")
    if budget and data.budget is not None:
        req.append(f"预算 {data.budget:,.0f} 元" if zh else f"budget {data.budget:,.0f} CNY")
    return ("，" if zh else ", ").join(req) or ("无" if zh else "none")


def _least_budget(data: EmbeddedData, solver: str, time_limit: float | None) -> float | None:
    """Cost of the cheapest plan meeting the same requirements without the budget."""
    form = build(data, budget_row=False)
    cheapest = form.problem.variant(objective=form.cost, maximize=False)
    try:
        r = solve_safe(form, cheapest, solver, time_limit, False, 0.0)
    except SitingError:
        return None
    return r.objective if r.status == "optimal" else r.bound


# ---------------------------------------------------------------------------
# marginal values
# ---------------------------------------------------------------------------

def marginal_values(data: EmbeddedData, sites: list[int],
                    area: np.ndarray) -> tuple[list[float], list[float]]:
    """What is lost when a chosen site is removed, others keeping their floor areas.

    Re-solves the continuous rest (assignment and area standard) as an LP with
    scipy/HiGHS.

    Parameters
    ----------
    data
        The model's data.
    sites
        The chosen sites (rows).
    area
        Site × service floor areas of the plan.

    Returns
    -------
    tuple of (list of float, list of float)
        Per site, ``marginal_value`` in objective points (priority-weighted people
        served minus the shortfall penalty) and ``marginal_people`` in people served.
    """
    pen = data.penalty_per_m2
    base_w, base_p, base_short = _evaluate(data, area)
    vals, people = [], []
    for j in sites:
        a2 = area.copy()
        a2[j] = 0.0
        w, p, short = _evaluate(data, a2, closed=j)
        vals.append((base_w - pen * base_short) - (w - pen * short))
        people.append(base_p - p)
    return vals, people


def marginal_lp(fixed: MatrixModel, sites: list[int], site_cols: dict, people: list,
                solver: str = DEFAULT_SOLVER) -> tuple[list[float], list[float]]:
    """What is lost when a chosen site is removed, on the model's own objective: one LP of
    the whole model per site, every other site keeping its decisions (open, services,
    complex, level, year) and floor areas, the flows (and payments) solved again.

    Used where :func:`marginal_values` does not apply: a programme (its objective counts
    people-years), residents' needs (weights per community), levels (a level's walking
    reach), shared rooms and the subsidy cap. On a plain model the two agree (a test
    checks it).

    Parameters
    ----------
    fixed
        The whole model with the plan's decisions and floor areas fixed
        (:func:`~siting.models.embedded.heuristics.fixed_to`, :func:`held`).
    sites
        The chosen sites (rows).
    site_cols
        Site → every column of it (decisions, areas, flows at it), set to 0 to remove it
        (:func:`plan_columns`).
    people
        ``(column(s), people per unit)`` terms of people served (people-years).
    solver
        ``"highs"`` or ``"cbc"``.

    Returns
    -------
    tuple of (list of float, list of float)
        Per site, ``marginal_value`` in objective points and ``marginal_people`` (NaN
        where the plan without the site breaks a hard rule on the flows, e.g. the area
        standard in ``hard`` mode).
    """
    lp = replace(fixed, integer=np.zeros(0, np.int64))
    magnitude = abs(lp.A)

    def served(off: list) -> tuple[float, float]:
        lo, hi = lp.lower.copy(), lp.col_hi.copy()
        lo[off] = hi[off] = 0.0
        # rows on held columns only (a level required in reach, the complex rule) are the
        # plan's, not the flows': dropped, so removing a site changes only what it serves
        live = magnitude @ (lo < hi).astype(float) > 0
        model = replace(lp, col_lo=lo, col_hi=hi, row_lo=np.where(live, lp.row_lo, -np.inf),
                        row_hi=np.where(live, lp.row_hi, np.inf))
        try:
            r = solve_matrix(model, solver, None, False, 0.0)
        except InfeasibleError:  # a hard requirement (e.g. the area standard) fails
            return float("nan"), float("nan")
        return r.objective, float(sum(np.sum(r.x[c] * v) for c, v in people))

    v0, p0 = served([])
    out = [served(list(site_cols.get(j, []))) for j in sites]
    return [v0 - v for v, _ in out], [p0 - p for _, p in out]


def held(form: Formulation, kept: np.ndarray) -> MatrixModel:
    """The model with the columns ``kept`` held at the last solve's values (integer
    columns rounded).

    Parameters
    ----------
    form
        The built model, after a solve (:attr:`Formulation.x`).
    kept
        Columns to hold (:func:`plan_columns`).

    Returns
    -------
    MatrixModel
    """
    assert form.x is not None
    base = form.problem.model()
    plan = form.x.copy()
    plan[base.integer] = np.round(plan[base.integer])
    lo, hi = base.lower.copy(), base.col_hi.copy()
    lo[kept] = hi[kept] = plan[kept]
    return replace(base, col_lo=lo, col_hi=hi)


def flow_people(form: Formulation, data: EmbeddedData) -> list:
    """``(flow columns, people per unit)`` terms of people served (capacity mode).

    Parameters
    ----------
    form
        The built model.
    data
        Its data.

    Returns
    -------
    list
    """
    return [(c[c >= 0], 1.0 / float(data.rate[si])) for si, c in form.flows.items()]


def plan_columns(form: Formulation, data: EmbeddedData, more: dict | None = None,
                 more_kept: list | None = None) -> tuple[dict, np.ndarray]:
    """The columns :func:`marginal_lp` needs: per site every column of it, and the
    columns a plan holds (integer columns and floor areas).

    Parameters
    ----------
    form
        The built model.
    data
        Its data.
    more
        Site → more columns of it (a programme's years, yearly areas and flows).
    more_kept
        More columns to hold (a programme's yearly areas).

    Returns
    -------
    tuple
        ``(site_cols, kept)``.
    """
    cols: dict[int, list] = {}
    for key, v in [*form.host.items(), *form.area.items(), *form.counted.items()]:
        cols.setdefault(key[0], []).append(v)
    rooms = form.rooms
    for key, v in ([] if rooms is None else [*rooms.level.items(), *rooms.shared.items()]):
        cols.setdefault(key[0], []).append(v)
    for j, v in [*form.open_site.items(), *form.complex.items()]:
        cols.setdefault(j, []).append(v)
    for si, fc in form.flows.items():
        pj = data.rows[si].pj
        for j in np.unique(pj[fc >= 0]):
            cols.setdefault(int(j), []).extend(fc[(pj == j) & (fc >= 0)].tolist())
    for j, vs in (more or {}).items():
        cols.setdefault(j, []).extend(vs)
    kept = [*form.problem.model().integer.tolist(), *form.area.values(),
            *([] if rooms is None else rooms.shared.values()), *(more_kept or [])]
    return cols, np.asarray(kept, np.int64)


def _evaluate(data: EmbeddedData, area: np.ndarray, closed: int | None = None):
    """(weighted served, people served, shortfall m²) for fixed floor areas (LPs)."""
    weighted = people = 0.0
    for si in range(len(data.services)):
        pi, pj, _ = data.pairs[si]
        cap = area[pj, si] > 0
        if data.capacity:
            served = _max_flow_lp(pi[cap], pj[cap], data.units[:, si],
                                  area[:, si] / data.m2_per_unit[si])
            p = served / data.rate[si]
        else:
            covered = np.zeros(data.instance.n_demand, bool)
            covered[pi[cap]] = True
            p = float(data.people[covered, si].sum())
            if data.needs is not None:  # residents' needs weigh each point's people
                weighted += data.weight[si] * float(
                    (data.people[covered, si] * data.needs[covered, si]).sum())
                people += p
                continue
        weighted += data.weight[si] * p
        people += p
    short = 0.0
    if data.standard_mode != "off":
        cs, js = data.standard_reach
        tot = area.sum(axis=1)
        for j in np.flatnonzero(data.existing):
            tot[j] = 0.0 if j == closed else data.area[j]
        short = _shortfall_lp(cs, js, tot, data.required_m2)
    return weighted, people, short


def _max_flow_lp(pi, pj, demand, cap) -> float:
    """Most units assignable: sum f over pairs, f ≤ demand per row, ≤ cap per site (LP)."""
    if len(pi) == 0:
        return 0.0
    n = len(pi)
    ui, ri = np.unique(pi, return_inverse=True)
    uj, rj = np.unique(pj, return_inverse=True)
    a = sp.vstack([sp.csr_array((np.ones(n), (ri, np.arange(n))), shape=(len(ui), n)),
                   sp.csr_array((np.ones(n), (rj, np.arange(n))), shape=(len(uj), n))])
    res = linprog(-np.ones(n), A_ub=a, b_ub=np.concatenate([demand[ui], cap[uj]]),
                  bounds=(0, None), method="highs")
    if res.status != 0:
        raise SitingError(f"assignment LP failed: {res.message}")
    return float(-res.fun)


def _shortfall_lp(cs, js, site_area, required) -> float:
    """Least total shortfall of the area standard given each site's floor area (LP)."""
    nC = len(required)
    ok = site_area[js] > 0
    cs, js = cs[ok], js[ok]
    n = len(cs)
    if n == 0:
        return float(np.clip(required, 0, None).sum())
    uj, rj = np.unique(js, return_inverse=True)
    # variables: g (n), short (nC); min sum short
    c = np.concatenate([np.zeros(n), np.ones(nC)])
    a_site = sp.hstack([sp.csr_array((np.ones(n), (rj, np.arange(n))), shape=(len(uj), n)),
                        sp.csr_array((len(uj), nC))])
    a_comm = sp.hstack([sp.csr_array((-np.ones(n), (cs, np.arange(n))), shape=(nC, n)),
                        -sp.eye_array(nC)])
    res = linprog(c, A_ub=sp.vstack([a_site, a_comm]),
                  b_ub=np.concatenate([site_area[uj], -required]), bounds=(0, None),
                  method="highs")
    if res.status != 0:
        raise SitingError(f"area-standard LP failed: {res.message}")
    return float(res.fun)
