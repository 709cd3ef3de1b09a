"""A greedy plan for the embedded model: a MIP start and a fallback when the solver finds none.

:func:`greedy_areas` picks sites and their service areas by value per CNY;
:func:`fixed_to` gives the built model with its binaries and areas fixed to such a plan, so the
continuous rest (assignment, area standard) can be solved exactly.
"""

from __future__ import annotations

import numpy as np

from siting.models.embedded.data import EmbeddedData
from siting.models.embedded.formulation import Formulation
from siting.models.embedded.rooms import level_fits
from siting.solvers import MatrixModel
from siting.solvers.builder import with_bounds


def greedy_areas(data: EmbeddedData) -> dict:
    """A quick feasible plan: sites added one at a time by value per CNY.

    For each unopened site two moves are priced: its best single service, and a
    complex (the best priority services plus others, each at the area its unserved
    demand in reach needs). Value = priority-weighted people served (estimated from
    the demand still unserved in reach) plus, with a penalised standard, the penalty
    per m² of floor area; the best value per CNY is opened until nothing fits (the
    data's budget and most new sites).

    Parameters
    ----------
    data
        The model's data.

    Returns
    -------
    dict
        ``(j, si) → m²`` of each service placed at each new site.
    """
    if data.programme is not None:  # its money and costs (siting.models.embedded.funding)
        data = data.programme.greedy_view(data)
    left = np.inf if data.budget is None else float(data.budget)
    rem = data.units.copy()
    opened: set[int] = set()
    areas: dict = {}
    reach = _reach(data)
    by_site: dict[int, list[int]] = {}
    for (j, si) in reach:
        by_site.setdefault(j, []).append(si)
    pen = data.penalty_per_m2

    def option(j, si):
        pts = reach[j, si]
        want = float(rem[pts, si].sum())
        if data.capacity:
            area = min(data.max_area[j, si], max(data.min_area[si], want * data.m2_per_unit[si]))
            gain = data.weight[si] / data.rate[si] * min(area / data.m2_per_unit[si], want)
        else:
            area = data.min_area[si]
            gain = data.weight[si] * float((rem[pts, si] > 0) @ data.people[pts, si])
        return area, gain + pen * area

    while data.max_new_sites is None or len(opened) < data.max_new_sites:
        best, best_ratio = None, 0.0
        for j, sis in by_site.items():
            if j in opened:
                continue
            opts = {si: option(j, si) for si in sis}
            for pkg, gain, cost in _moves(data, j, opts, left):
                ratio = gain / max(cost, 1e-9)
                if gain > 0 and ratio > best_ratio:
                    best, best_ratio = (j, pkg, cost), ratio
        if best is None:
            break
        j, pkg, cost = best
        opened.add(j)
        left -= cost
        for si, area in pkg.items():
            areas[j, si] = area
            pts = reach[j, si]
            want = rem[pts, si].sum()
            if want > 0:
                served = min(area / data.m2_per_unit[si], want) if data.capacity else want
                rem[pts, si] *= 1 - served / want
    return areas


def _reach(data: EmbeddedData) -> dict:
    """``(j, si) →`` the demand points each candidate host reaches."""
    reach = {}
    for si in range(len(data.services)):
        pi, pj, _ = data.pairs[si]
        order = np.argsort(pj, kind="stable")
        pj_s, pi_s = pj[order], pi[order]
        cuts = np.searchsorted(pj_s, data.candidates[si])
        ends = np.searchsorted(pj_s, data.candidates[si], side="right")
        for j, a, b in zip(data.candidates[si].tolist(), cuts, ends):
            reach[j, si] = np.unique(pi_s[a:b])
    return reach


def _moves(data: EmbeddedData, j: int, opts: dict, left: float) -> list:
    """``(areas, gain, cost)`` of opening site ``j``: each single service, and a complex."""
    cx = data.policy.complex
    S = data.services
    prio = {S.index(x) for x in cx.priority_services if x in S}
    moves = []
    if not data.declared_complex[j]:
        for si, (area, gain) in opts.items():
            per_m2 = data.per_m2[j] + data.fit_out[si]
            cost = data.fixed_cost[j] + per_m2 * area
            if cost > left:  # shrink to the money left
                area = (left - data.fixed_cost[j]) / per_m2 if per_m2 > 0 else -1
                if area < data.min_area[si]:
                    continue
                gain = gain * area / opts[si][0]
                cost = left
            moves.append(({si: area}, gain, cost))
    ranked = sorted(opts, key=lambda si: -opts[si][1])
    pick = [si for si in ranked if si in prio][:cx.min_priority_functions]
    pick += [si for si in ranked if si not in pick][:max(cx.min_functions - len(pick), 0)]
    if len(pick) >= cx.min_functions and sum(si in prio for si in pick) \
            >= cx.min_priority_functions:
        pkg = {si: opts[si][0] for si in pick}
        for si in ranked:  # add more services while they pay for themselves
            if si not in pkg and opts[si][1] > 0 and \
                    sum(pkg.values()) + opts[si][0] <= data.area[j]:
                pkg[si] = opts[si][0]
        total = sum(pkg.values())
        if total < cx.min_floor_m2:  # enlarge within each service's cap
            for si in pkg:
                extra = min(data.max_area[j, si] - pkg[si], cx.min_floor_m2 - total)
                pkg[si] += max(extra, 0.0)
                total = sum(pkg.values())
        cost = data.fixed_cost[j] + sum((data.per_m2[j] + data.fit_out[si]) * a
                                        for si, a in pkg.items())
        if total >= cx.min_floor_m2 - 1e-9 and total <= data.area[j] + 1e-9 and cost <= left:
            moves.append((pkg, sum(opts[si][1] for si in pkg), cost))
    return [mv for mv in moves if level_fits(data, mv[0])]  # rooms.py: some level takes it


def fixed_to(form: Formulation, data: EmbeddedData, areas: dict,
             model: MatrixModel | None = None) -> MatrixModel:
    """The model with its binaries and areas fixed to the plan ``areas``.

    Parameters
    ----------
    form
        The built model.
    data
        Its data.
    areas
        ``(j, si) → m²`` (:func:`greedy_areas`).
    model
        The model to fix (a variant of the built one with the same columns); None: the
        built one.

    Returns
    -------
    MatrixModel
        A copy with the fixed columns' bounds set; ``model`` is left as it is.
    """
    fix: dict[int, float] = {}
    sites = {j for j, _ in areas}
    for j, v in form.open_site.items():
        fix[v] = 1.0 if j in sites else 0.0
    for (j, si), v in form.host.items():
        fix[v] = 1.0 if (j, si) in areas else 0.0
        fix[form.area[j, si]] = float(areas.get((j, si), 0.0))
    n_at: dict[int, int] = {}
    for (j, _si) in areas:
        n_at[j] = n_at.get(j, 0) + 1
    for j, v in form.complex.items():
        fix[v] = 1.0 if n_at.get(j, 0) > 1 or (j in sites and data.sites["complex"][j]) else 0.0
    if form.rooms is not None:  # each site's level: the first its services and m² fit
        fix.update(form.rooms.level_start(data, areas))
    return with_bounds(form.problem.model() if model is None else model,
                       {v: (val, val) for v, val in fix.items()})
