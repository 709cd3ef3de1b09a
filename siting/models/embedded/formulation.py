r"""The embedded model as a PuLP problem, every constraint named.

:func:`build` writes the formulation of
:class:`~siting.models.embedded.EmbeddedFacilities` from :class:`EmbeddedData`; the
rows are named after what they say, per site ``j``, service key ``s``, demand row ``i``
and community ``c``, so an exported LP file reads:

==============================  ===========================================================
``min_area_{j}_{s}``            :math:`a_{js} \ge m_s x_{js}`
``max_area_{j}_{s}``            :math:`a_{js} \le U_{js} x_{js}`
``site_area_{j}``               :math:`\sum_s a_{js} \le A_j y_j`
``open_hosts_{j}``              :math:`y_j \le \sum_s x_{js}`
``host_open_{j}_{s}``           :math:`x_{js} \le y_j`
``complex_open_{j}``            :math:`z_j \le y_j` (``complex_declared_{j}``: :math:`=`)
``single_function_{j}``         :math:`\sum_s x_{js} \le 1 + (|S|-1) z_j`
``complex_area_{j}``            :math:`\sum_s a_{js} \ge 600 z_j`
``complex_functions_{j}``       :math:`\sum_s x_{js} \ge 3 z_j`
``complex_priority_{j}``        :math:`\sum_{s \in S^*} x_{js} \ge 2 z_j`
``budget``, ``max_new_sites``   money and number of new sites; ``required_{j}``: :math:`y_j = 1`
``serve_{i}_{s}``               demand: :math:`\sum_j f_{ijs} \le D_{is}` (coverage mode:
                                :math:`v_{is} \le \sum_j x_{js}`); ``serve_all_{i}_{s}``
                                in coverage mode for objectives that serve everyone
``capacity_{j}_{s}``            :math:`\sum_i f_{ijs} \le a_{js}/q_s`
``serve_cap_{j}_{s}``           :math:`\sum_i f_{ijs} \le \min(\sum_{i:(i,j)\in P_s} D_{is},
                                U_{js}/q_s)\, x_{js}` (implied for integers; with
                                ``min_area`` it charges a site's least area in the LP)
``min_coverage_{s}_{c}``        the optional equity row
``standard_area_{j}``           :math:`\sum_c g_{jc} \le \sum_s a_{js}` (or :math:`A_j`)
``standard_{c}``                :math:`\sum_{j \in R(c)} g_{jc} + \sigma_c \ge R_c`
==============================  ===========================================================

Shared rooms, levels (:mod:`.rooms`), the subsidy cap (:mod:`.operations`) and
residents' needs (:mod:`.needs`) add their rows and weights when the policy or the
demand table sets them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pulp

from siting.errors import SitingError
from siting.models.embedded.data import EmbeddedData
from siting.models.embedded.needs import row_weight
from siting.models.embedded.rooms import add_rooms
from siting.solvers import Progress, SolverResult, solve_pulp


@dataclass
class Formulation:
    """A built model: the PuLP problem, its variables by index and its objectives.

    Attributes
    ----------
    problem
        The PuLP problem, with the model's own objective.
    open_site
        ``j → y_j`` for new sites.
    host
        ``(j, si) → x_{js}``.
    complex
        ``j → z_j``.
    area
        ``(j, si) → a_{js}``.
    flow
        ``(si, k) → f`` of the service's ``k``-th row × site pair (capacity mode).
    cover
        ``(si, i) → v_{is}`` of demand row ``i`` (coverage mode; None where an existing
        facility covers it).
    counted
        ``(j, c) → g_{jc}``.
    shortfall
        ``c → σ_c`` (penalty mode).
    cost
        Total cost of new sites (the budget's left-hand side).
    primary
        Priority-weighted people served minus the shortfall penalty (``max_served``).
    rooms
        Shared rooms, levels and the subsidy cap (:class:`~.rooms.Rooms`).
    """

    problem: pulp.LpProblem
    open_site: dict
    host: dict
    complex: dict
    area: dict
    flow: dict
    cover: dict
    counted: dict
    shortfall: dict
    cost: pulp.LpAffineExpression
    primary: pulp.LpAffineExpression
    rooms: Any = None

    def values(self) -> dict:
        """The current variable values: ``open``, ``host``, ``complex`` (booleans),
        ``area``, ``flow``, ``cover`` (None where an existing facility covers), ``counted``,
        ``shared`` and ``level`` (:meth:`.rooms.Rooms.values`)."""
        val = lambda v: float(v.varValue or 0.0)  # noqa: E731
        return {**(self.rooms.values() if self.rooms is not None else {}),
            "open": {j: val(v) > 0.5 for j, v in self.open_site.items()},
            "host": {k: val(v) > 0.5 for k, v in self.host.items()},
            "complex": {k: val(v) > 0.5 for k, v in self.complex.items()},
            "area": {k: max(val(v), 0.0) for k, v in self.area.items()},
            "flow": {k: max(val(v), 0.0) for k, v in self.flow.items()},
            "cover": {k: (None if v is None else min(max(val(v), 0.0), 1.0))
                      for k, v in self.cover.items()},
            "counted": {k: max(val(v), 0.0) for k, v in self.counted.items()},
        }

    def start(self, problem: pulp.LpProblem | None = None) -> dict:
        """Variable name → current value, a complete plan to hand HiGHS as its start.

        Parameters
        ----------
        problem
            The problem whose variables to read (``problem`` of this formulation or a
            copy with more rows); None: :attr:`problem`.

        Returns
        -------
        dict
        """
        prob = self.problem if problem is None else problem
        return {v.name: v.varValue for v in prob.variables() if v.varValue is not None}


def build(data: EmbeddedData, budget_row: bool = True) -> Formulation:
    """Build the PuLP problem of the model (see the module docstring for the row names).

    Parameters
    ----------
    data
        The model's data.
    budget_row
        Add the ``budget`` row (when the data has a budget and the objective is not
        ``min_cost``); False builds the same model without it.

    Returns
    -------
    Formulation
    """
    S = data.services
    sense = pulp.LpMaximize if data.objective == "max_served" else pulp.LpMinimize
    prob = pulp.LpProblem(f"embedded_{data.objective}", sense)
    y = {j: prob.add_variable(f"y_{j}", cat="Binary") for j in data.new_sites}
    x, a = {}, {}
    for si, s in enumerate(S):
        m = float(data.min_area[si])
        for j in data.candidates[si].tolist():
            x[j, si] = prob.add_variable(f"x_{j}_{si}", cat="Binary")
            u = data.max_area[j, si]
            a[j, si] = prob.add_variable(f"a_{j}_{si}", 0, u)
            prob.addConstraint(pulp.LpAffineExpression([(a[j, si], 1.0), (x[j, si], -m)]) >= 0,
                               f"min_area_{j}_{s}")
            prob.addConstraint(pulp.LpAffineExpression([(a[j, si], 1.0), (x[j, si], -u)]) <= 0,
                               f"max_area_{j}_{s}")
    z = _site_rows(data, prob, y, x, a)
    rooms = add_rooms(data, prob, y, x, a)  # shared rooms and levels (rooms.py)
    cost = pulp.LpAffineExpression(
        [(y[j], float(data.fixed_cost[j])) for j in y]
        + [(a[j, si], float(data.per_m2[j] + data.fit_out[si])) for (j, si) in a]
        + rooms.cost_terms)
    if budget_row and data.budget is not None and data.objective != "min_cost":
        prob.addConstraint(cost <= float(data.budget), "budget")
    if data.max_new_sites is not None:
        prob.addConstraint(pulp.lpSum(y.values()) <= data.max_new_sites, "max_new_sites")
    for j in data.required:  # --require: open, its cost counted like any other
        prob.addConstraint(y[j] >= 1, f"required_{j}")
    form = Formulation(prob, y, x, z, a, {}, {}, {}, {}, cost, pulp.LpAffineExpression(), rooms)
    served_terms, dist_terms = _demand_rows(data, form)
    penalty = _standard_rows(data, form)
    rooms.finish(data, form)  # physical area in the standard rows; the subsidy cap
    form.primary = pulp.LpAffineExpression(served_terms + penalty)
    if data.objective == "max_served":
        prob.setObjective(form.primary)
    elif data.objective == "min_cost":
        prob.setObjective(cost)
    else:
        prob.setObjective(pulp.LpAffineExpression(dist_terms))
    return form


def _site_rows(data: EmbeddedData, prob: pulp.LpProblem, y: dict, x: dict, a: dict) -> dict:
    """Area and opening rows of each new site, and the complex rule; returns ``z``."""
    S = data.services
    by_site: dict[int, list[int]] = {}
    for (j, si) in x:
        by_site.setdefault(j, []).append(si)
    cx = data.policy.complex
    prio = {S.index(s) for s in cx.priority_services if s in S}
    z = {}
    for j, sis in by_site.items():
        yj = y[j]
        prob.addConstraint(pulp.LpAffineExpression(
            [(a[j, si], 1.0) for si in sis] + [(yj, -float(data.area[j]))]) <= 0,
            f"site_area_{j}")
        prob.addConstraint(pulp.LpAffineExpression(
            [(x[j, si], 1.0) for si in sis] + [(yj, -1.0)]) >= 0, f"open_hosts_{j}")
        for si in sis:  # implied for integers; tightens the LP bound a lot
            prob.addConstraint(pulp.LpAffineExpression([(x[j, si], 1.0), (yj, -1.0)]) <= 0,
                               f"host_open_{j}_{S[si]}")
        declared = data.declared_complex[j]
        if cx.multi_function_requires_complex or declared:
            zj = z[j] = prob.add_variable(f"z_{j}", cat="Binary")
            xs = [(x[j, si], 1.0) for si in sis]
            prob.addConstraint(pulp.LpAffineExpression([(zj, 1.0), (yj, -1.0)]) <= 0,
                               f"complex_open_{j}")
            if declared:
                prob.addConstraint(pulp.LpAffineExpression([(zj, 1.0), (yj, -1.0)]) == 0,
                                   f"complex_declared_{j}")
            if cx.multi_function_requires_complex:
                prob.addConstraint(pulp.LpAffineExpression(
                    xs + [(zj, -float(max(len(sis) - 1, 0)))]) <= 1, f"single_function_{j}")
            prob.addConstraint(pulp.LpAffineExpression(
                [(a[j, si], 1.0) for si in sis] + [(zj, -float(cx.min_floor_m2))]) >= 0,
                f"complex_area_{j}")
            prob.addConstraint(pulp.LpAffineExpression(
                xs + [(zj, -float(cx.min_functions))]) >= 0, f"complex_functions_{j}")
            prob.addConstraint(pulp.LpAffineExpression(
                [(x[j, si], 1.0) for si in sis if si in prio]
                + [(zj, -float(cx.min_priority_functions))]) >= 0, f"complex_priority_{j}")
    return z


def _area_terms(data: EmbeddedData, form: Formulation, j: int, si: int, coef: float = 1.0):
    """(terms, constant) of the floor area of service si at site j."""
    if (j, si) in data.fixed_area:
        return [], coef * data.fixed_area[j, si]
    if (j, si) in form.area:
        return [(form.area[j, si], coef)], 0.0
    return [], 0.0


def _demand_rows(data: EmbeddedData, form: Formulation) -> tuple[list, list]:
    """Flows (or coverage) with their demand and capacity rows; the equity rows.

    Returns the objective terms of people served (priority-weighted) and of people ×
    metres walked.
    """
    prob = form.problem
    served, dist_terms = [], []
    serve_all = data.objective in ("min_cost", "min_distance")
    people_by_comm: dict[tuple[int, int], list] = {}  # (si, c) -> [(var, people per unit)]
    for si, s in enumerate(data.services):
        grp = data.rows[si]
        gi, gj, gdist = grp.pi, grp.pj, grp.dist
        merged = bool(np.isnan(gdist).any())
        rate, weight = data.rate[si], data.weight[si]
        if data.capacity:
            rows: dict[int, list] = {}
            cols: dict[int, list] = {}
            reach: dict[int, float] = {}  # units of demand in reach of each site
            for k in range(len(gi)):
                i, j = int(gi[k]), int(gj[k])
                if (j, si) not in form.area and (j, si) not in data.fixed_area:
                    continue
                var = form.flow[si, k] = prob.add_variable(f"f_{si}_{k}", 0)
                rows.setdefault(i, []).append(var)
                cols.setdefault(j, []).append(var)
                reach[j] = reach.get(j, 0.0) + float(grp.D[i])
                served.append((var, float(weight * row_weight(data, si, i) / rate)))
                if not merged:  # distances only for point rows (min_distance)
                    dist_terms.append((var, float(gdist[k] / rate)))
                people_by_comm.setdefault((si, int(grp.comm[i])), []).append((var, 1.0 / rate))
            for i, vs in rows.items():
                e = pulp.LpAffineExpression([(v, 1.0) for v in vs])
                row = e == float(grp.D[i]) if serve_all else e <= float(grp.D[i])
                prob.addConstraint(row, f"serve_{i}_{s}")
            for j, vs in cols.items():
                terms, const = _area_terms(data, form, j, si, -1.0 / data.m2_per_unit[si])
                prob.addConstraint(pulp.LpAffineExpression(
                    [(v, 1.0) for v in vs] + terms) <= -const, f"capacity_{j}_{s}")
                if (j, si) in form.host:  # implied for integers; a much tighter LP bound
                    cap = min(reach[j], data.max_area[j, si] / data.m2_per_unit[si])
                    prob.addConstraint(pulp.LpAffineExpression(
                        [(v, 1.0) for v in vs] + [(form.host[j, si], -float(cap))]) <= 0,
                        f"serve_cap_{j}_{s}")
        else:
            rows = {}
            for k in range(len(gi)):
                rows.setdefault(int(gi[k]), []).append(int(gj[k]))
            for i, js in rows.items():
                if any((j, si) in data.fixed_area for j in js):
                    v = None  # an existing facility covers it
                else:
                    v = prob.add_variable(f"v_{si}_{i}", 0, 1)
                    xs = [(form.host[j, si], -1.0) for j in js if (j, si) in form.host]
                    prob.addConstraint(pulp.LpAffineExpression([(v, 1.0)] + xs) <= 0,
                                       f"serve_{i}_{s}")
                    if serve_all:
                        prob.addConstraint(pulp.LpAffineExpression([(v, 1.0)]) >= 1,
                                           f"serve_all_{i}_{s}")
                    served.append((v, float(weight * row_weight(data, si, i) * grp.N[i])))
                    people_by_comm.setdefault((si, int(grp.comm[i])), []).append(
                        (v, float(grp.N[i])))
                form.cover[si, i] = v
    if data.min_coverage:
        _equity_rows(data, form, people_by_comm)
    return served, dist_terms


def _equity_rows(data: EmbeddedData, form: Formulation, people_by_comm: dict) -> None:
    """At least ``min_coverage`` of each community's people in reach served, per service."""
    n_comm = len(data.community_ids)
    need = np.zeros((len(data.services), n_comm))
    for si in range(len(data.services)):
        need[si] = np.bincount(data.community, weights=data.people[:, si] * data.in_reach[:, si],
                               minlength=n_comm)
    for si, s in enumerate(data.services):
        for c in range(n_comm):
            rhs = data.min_coverage * need[si, c]
            if rhs <= 0:
                continue
            terms = people_by_comm.get((si, c), [])
            if not data.capacity:
                # people covered by existing facilities count as served
                grp = data.rows[si]
                fixed = sum(grp.N[i] for (s2, i), v in form.cover.items()
                            if s2 == si and v is None and grp.comm[i] == c)
                rhs -= fixed
            form.problem.addConstraint(pulp.LpAffineExpression(terms) >= rhs,
                                       f"min_coverage_{s}_{c}")


def _standard_rows(data: EmbeddedData, form: Formulation) -> list:
    """The area standard: area counted per community, each m² once; penalty terms."""
    if data.standard_mode == "off":
        return []
    prob = form.problem
    cs, js = data.standard_reach
    by_site: dict[int, list] = {}
    by_comm: dict[int, list] = {}
    for c, j in zip(cs.tolist(), js.tolist()):
        if not (data.existing[j] or j in form.open_site):
            continue
        var = form.counted[j, c] = prob.add_variable(f"g_{j}_{c}", 0)
        by_site.setdefault(j, []).append(var)
        by_comm.setdefault(c, []).append(var)
    for j, vs in by_site.items():
        if data.existing[j]:
            row = pulp.LpAffineExpression([(v, 1.0) for v in vs]) <= float(data.area[j])
        else:
            terms = [(form.area[j, si], -1.0) for si in range(len(data.services))
                     if (j, si) in form.area]
            row = pulp.LpAffineExpression([(v, 1.0) for v in vs] + terms) <= 0
        prob.addConstraint(row, f"standard_area_{j}")
    pen = []
    for c in range(len(data.community_ids)):
        if data.required_m2[c] <= 0:
            continue
        terms = [(v, 1.0) for v in by_comm.get(c, [])]
        if data.standard_mode == "penalty":
            s = form.shortfall[c] = prob.add_variable(f"short_{c}", 0)
            terms.append((s, 1.0))
            pen.append((s, -float(data.penalty_per_m2)))
        prob.addConstraint(pulp.LpAffineExpression(terms) >= float(data.required_m2[c]),
                           f"standard_{c}")
    return pen


def write_lp(problem: pulp.LpProblem, path: str | Path) -> Path:
    """Write a problem to a CPLEX LP file (rows under their names); return the path.

    Parameters
    ----------
    problem
        A built problem (:attr:`Formulation.problem`).
    path
        Where to write, ``.lp``.

    Returns
    -------
    pathlib.Path
    """
    path = Path(path)
    problem.writeLP(str(path))
    return path


def solve_safe(prob: pulp.LpProblem, solver: str, time_limit: float | None, msg: bool,
               mip_gap: float, start: dict | None = None,
               progress: Progress | None = None) -> SolverResult:
    """:func:`siting.solvers.solve_pulp`, with a crashed solver reported as a SitingError.

    Parameters
    ----------
    prob
        The problem; the values are left on its variables.
    solver
        ``"highs"`` or ``"cbc"``.
    time_limit
        Seconds; None for no limit.
    msg
        Show the solver's log.
    mip_gap
        Relative gap at which the solver may stop.
    start
        HiGHS only: variable name → value of a complete feasible plan, handed to HiGHS
        as its first incumbent.
    progress
        Called with ``(seconds, incumbent, bound)`` during the solve.

    Returns
    -------
    SolverResult
    """
    try:
        return solve_pulp(prob, solver, time_limit, msg, mip_gap,
                          start=start if solver.lower() == "highs" else None,
                          progress=progress)
    except pulp.PulpSolverError as exc:
        raise SitingError(f"{solver} failed on {prob.name} ({exc}); try --solver "
                          f"{'highs' if solver == 'cbc' else 'cbc'} or another time limit") from None
