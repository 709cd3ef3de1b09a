r"""The embedded model, built straight into matrices, every row and column named.

:func:`build` writes the formulation of
:class:`~siting.models.embedded.EmbeddedFacilities` from :class:`EmbeddedData`; the
rows are named after what they say, per site ``j``, service key ``s``, demand row ``i``
and community ``c`` (a :class:`~siting.solvers.builder.ModelBuilder`: a column is
its index, an expression a list of ``(column, coefficient)`` terms; the flows and their
rows are added as numpy families), so an exported LP file reads:

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
from siting.models.embedded.needs import row_weights
from siting.models.embedded.rooms import add_rooms
from siting.solvers import MatrixModel, Progress, SolverResult, solve, write_model
from siting.solvers.builder import ModelBuilder, Terms


@dataclass
class Formulation:
    """A built model: its columns by index, its objectives and the last solve's values.

    Attributes
    ----------
    problem
        The :class:`~siting.solvers.builder.ModelBuilder`, with the model's own
        objective.
    open_site
        ``j → y_j`` (column) for new sites.
    host
        ``(j, si) → x_{js}``.
    complex
        ``j → z_j``.
    area
        ``(j, si) → a_{js}``.
    flows
        ``si →`` the column of each of the service's row × site pairs (``-1`` where the
        pair has no flow; capacity mode).
    cover
        ``(si, i) → v_{is}`` of demand row ``i`` (coverage mode; None where an existing
        facility covers it).
    counted
        ``(j, c) → g_{jc}``.
    shortfall
        ``c → σ_c`` (penalty mode).
    cost
        Terms of the total cost of new sites (the budget's left-hand side).
    primary
        Terms of priority-weighted people served minus the shortfall penalty.
    rooms
        Shared rooms, levels and the subsidy cap (:class:`~.rooms.Rooms`).
    x
        Column values of the last solve (:func:`solve_safe`); None before one.
    """

    problem: ModelBuilder
    open_site: dict
    host: dict
    complex: dict
    area: dict
    flows: dict
    cover: dict
    counted: dict
    shortfall: dict
    cost: Terms
    primary: Terms
    rooms: Any = None
    x: np.ndarray | None = None

    def val(self, col: int) -> float:
        """Value of column ``col`` in the last solve (0 before one).

        Parameters
        ----------
        col
            A column.

        Returns
        -------
        float
        """
        return 0.0 if self.x is None else float(self.x[col])

    def value_of(self, terms: Terms) -> float:
        """Value of an expression (terms may hold arrays of columns) in the last solve.

        Parameters
        ----------
        terms
            ``(column, coefficient)`` pairs.

        Returns
        -------
        float
        """
        if self.x is None:
            return 0.0
        return float(sum(np.sum(self.x[c] * v) for c, v in terms))

    @property
    def n_flows(self) -> int:
        """Number of flow columns."""
        return int(sum(int((c >= 0).sum()) for c in self.flows.values()))

    def values(self) -> dict:
        """The last solve's values: ``open``, ``host``, ``complex`` (booleans), ``area``,
        ``flow`` (per service, an array over its pairs), ``cover`` (None where an
        existing facility covers), ``counted``, ``shared`` and ``level``
        (:meth:`.rooms.Rooms.values`).

        Returns
        -------
        dict
        """
        x = np.zeros(self.problem.n_cols) if self.x is None else self.x
        val = lambda v: float(x[v])  # noqa: E731
        flow = {si: np.where(cols >= 0, np.maximum(x[np.maximum(cols, 0)], 0.0), 0.0)
                for si, cols in self.flows.items()}
        return {**(self.rooms.values(x) if self.rooms is not None else {}),
            "open": {j: val(v) > 0.5 for j, v in self.open_site.items()},
            "host": {k: val(v) > 0.5 for k, v in self.host.items()},
            "complex": {k: val(v) > 0.5 for k, v in self.complex.items()},
            "area": {k: max(val(v), 0.0) for k, v in self.area.items()},
            "flow": flow,
            "cover": {k: (None if v is None else min(max(val(v), 0.0), 1.0))
                      for k, v in self.cover.items()},
            "counted": {k: max(val(v), 0.0) for k, v in self.counted.items()},
        }


def build(data: EmbeddedData, budget_row: bool = True) -> Formulation:
    """Build the model (see the module docstring for the row names).

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
    prob = ModelBuilder(f"embedded_{data.objective}", maximize=data.objective == "max_served")
    y = {j: prob.add_var(f"y_{j}", 0, 1, integer=True) for j in data.new_sites}
    x, a = {}, {}
    for si, s in enumerate(S):
        m = float(data.min_area[si])
        for j in data.candidates[si].tolist():
            xc = x[j, si] = prob.add_var(f"x_{j}_{si}", 0, 1, integer=True)
            u = data.max_area[j, si]
            ac = a[j, si] = prob.add_var(f"a_{j}_{si}", 0, u)
            prob.add_row([(ac, 1.0), (xc, -m)], ">=", 0, f"min_area_{j}_{s}")
            prob.add_row([(ac, 1.0), (xc, -u)], "<=", 0, f"max_area_{j}_{s}")
    z = _site_rows(data, prob, y, x, a)
    rooms = add_rooms(data, prob, y, x, a)  # shared rooms and levels (rooms.py)
    cost = ([(y[j], float(data.fixed_cost[j])) for j in y]
            + [(a[j, si], float(data.per_m2[j] + data.fit_out[si])) for (j, si) in a]
            + rooms.cost_terms)
    if budget_row and data.budget is not None and data.objective != "min_cost":
        prob.add_row(cost, "<=", float(data.budget), "budget")
    if data.max_new_sites is not None:
        prob.add_row([(v, 1.0) for v in y.values()], "<=", data.max_new_sites, "max_new_sites")
    for j in data.required:  # --require: open, its cost counted like any other
        prob.add_row([(y[j], 1.0)], ">=", 1, f"required_{j}")
    form = Formulation(prob, y, x, z, a, {}, {}, {}, {}, cost, [], rooms)
    served_terms, dist_terms = _demand_rows(data, form)
    penalty = _standard_rows(data, form)
    rooms.finish(data, form)  # physical area in the standard rows; the subsidy cap
    form.primary = served_terms + penalty
    if data.objective == "max_served":
        prob.set_objective(form.primary)
    elif data.objective == "min_cost":
        prob.set_objective(cost)
    else:
        prob.set_objective(dist_terms)
    return form


def _site_rows(data: EmbeddedData, prob: ModelBuilder, y: dict, x: dict, a: dict) -> dict:
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
        prob.add_row([(a[j, si], 1.0) for si in sis] + [(yj, -float(data.area[j]))], "<=", 0,
                     f"site_area_{j}")
        prob.add_row([(x[j, si], 1.0) for si in sis] + [(yj, -1.0)], ">=", 0,
                     f"open_hosts_{j}")
        for si in sis:  # implied for integers; tightens the LP bound a lot
            prob.add_row([(x[j, si], 1.0), (yj, -1.0)], "<=", 0, f"host_open_{j}_{S[si]}")
        declared = data.declared_complex[j]
        if cx.multi_function_requires_complex or declared:
            zj = z[j] = prob.add_var(f"z_{j}", 0, 1, integer=True)
            xs = [(x[j, si], 1.0) for si in sis]
            prob.add_row([(zj, 1.0), (yj, -1.0)], "<=", 0, f"complex_open_{j}")
            if declared:
                prob.add_row([(zj, 1.0), (yj, -1.0)], "==", 0, f"complex_declared_{j}")
            if cx.multi_function_requires_complex:
                prob.add_row(xs + [(zj, -float(max(len(sis) - 1, 0)))], "<=", 1,
                             f"single_function_{j}")
            prob.add_row([(a[j, si], 1.0) for si in sis] + [(zj, -float(cx.min_floor_m2))],
                         ">=", 0, f"complex_area_{j}")
            prob.add_row(xs + [(zj, -float(cx.min_functions))], ">=", 0,
                         f"complex_functions_{j}")
            prob.add_row([(x[j, si], 1.0) for si in sis if si in prio]
                         + [(zj, -float(cx.min_priority_functions))], ">=", 0,
                         f"complex_priority_{j}")
    return z


def _demand_rows(data: EmbeddedData, form: Formulation) -> tuple[list, list]:
    """Flows (or coverage) with their demand and capacity rows; the equity rows.

    Returns the objective terms of people served (priority-weighted) and of people ×
    metres walked.
    """
    prob = form.problem
    served: list = []
    dist_terms: list = []
    serve_all = data.objective in ("min_cost", "min_distance")
    people_by_comm: dict[tuple[int, int], list] = {}  # (si, c) -> [(cols, people per unit)]
    for si, s in enumerate(data.services):
        grp = data.rows[si]
        weight = data.weight[si] * row_weights(data, si)
        if data.capacity:
            _flow_rows(data, form, si, serve_all, weight, served, dist_terms, people_by_comm)
            continue
        rows: dict[int, list] = {}
        for k in range(len(grp.pi)):
            rows.setdefault(int(grp.pi[k]), []).append(int(grp.pj[k]))
        for i, js in rows.items():
            if any((j, si) in data.fixed_area for j in js):
                v = None  # an existing facility covers it
            else:
                v = prob.add_var(f"v_{si}_{i}", 0, 1)
                xs = [(form.host[j, si], -1.0) for j in js if (j, si) in form.host]
                prob.add_row([(v, 1.0)] + xs, "<=", 0, f"serve_{i}_{s}")
                if serve_all:
                    prob.add_row([(v, 1.0)], ">=", 1, f"serve_all_{i}_{s}")
                served.append((v, float(weight[i] * grp.N[i])))
                people_by_comm.setdefault((si, int(grp.comm[i])), []).append(
                    (v, float(grp.N[i])))
            form.cover[si, i] = v
    if data.min_coverage:
        _equity_rows(data, form, people_by_comm)
    return served, dist_terms


def _flow_rows(data: EmbeddedData, form: Formulation, si: int, serve_all: bool,
               weight: np.ndarray, served: list, dist_terms: list,
               people_by_comm: dict) -> None:
    """The flows of service ``si`` and their rows, as numpy families: ``serve``,
    ``capacity`` and ``serve_cap`` (see the module docstring)."""
    prob, s = form.problem, data.services[si]
    grp = data.rows[si]
    n_sites = len(data.area)
    q, rate = float(data.m2_per_unit[si]), float(data.rate[si])
    area_col = np.full(n_sites, -1, np.int64)
    host_col = np.full(n_sites, -1, np.int64)
    fixed = np.full(n_sites, np.nan)
    for (j, s2), col in form.area.items():
        if s2 == si:
            area_col[j] = col
            host_col[j] = form.host[j, si]
    for (j, s2), m2 in data.fixed_area.items():
        if s2 == si:
            fixed[j] = m2
    gi, gj = grp.pi.astype(np.int64), grp.pj.astype(np.int64)
    has = ~np.isnan(fixed)
    ks = np.flatnonzero((area_col[gj] >= 0) | has[gj])
    cols = prob.add_vars("f_{}_{}", [np.full(len(ks), si), ks])
    form.flows[si] = np.full(len(gi), -1, np.int64)
    form.flows[si][ks] = cols
    if not len(ks):
        return
    fi, fj = gi[ks], gj[ks]
    served.append((cols, weight[fi] / rate))
    if not np.isnan(grp.dist).any():  # distances only for point rows (min_distance)
        dist_terms.append((cols, grp.dist[ks] / rate))
    comm = grp.comm[fi]
    order = np.argsort(comm, kind="stable")
    for part in np.split(order, np.flatnonzero(np.diff(comm[order])) + 1):
        people_by_comm.setdefault((si, int(comm[part[0]])), []).append((cols[part], 1.0 / rate))
    ui, ri = np.unique(fi, return_inverse=True)  # serve_{i}_{s}
    prob.add_rows(f"serve_{{}}_{s}", [ui], ri, cols, np.ones(len(cols)),
                  "==" if serve_all else "<=", grp.D[ui])
    uj, rj = np.unique(fj, return_inverse=True)  # capacity_{j}_{s}
    hosted = area_col[uj] >= 0
    r = np.concatenate([rj, np.flatnonzero(hosted)])
    c = np.concatenate([cols, area_col[uj[hosted]]])
    v = np.concatenate([np.ones(len(cols)), np.full(int(hosted.sum()), -1.0 / q)])
    prob.add_rows(f"capacity_{{}}_{s}", [uj], r, c, v, "<=",
                  np.where(hosted, 0.0, np.nan_to_num(fixed[uj]) / q))
    # serve_cap_{j}_{s}: implied for integers; a much tighter LP bound
    reach = np.bincount(rj, weights=grp.D[fi], minlength=len(uj))
    hj = np.flatnonzero(hosted)
    cap = np.minimum(reach[hj], np.array([data.max_area[j, si] for j in uj[hj].tolist()]) / q)
    local = np.full(len(uj), -1, np.int64)
    local[hj] = np.arange(len(hj))
    keep = local[rj] >= 0
    r = np.concatenate([local[rj[keep]], np.arange(len(hj))])
    c = np.concatenate([cols[keep], host_col[uj[hj]]])
    v = np.concatenate([np.ones(int(keep.sum())), -cap])
    prob.add_rows(f"serve_cap_{{}}_{s}", [uj[hj]], r, c, v, "<=", 0.0)


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
            form.problem.add_row(terms, ">=", rhs, f"min_coverage_{s}_{c}")


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
        var = form.counted[j, c] = prob.add_var(f"g_{j}_{c}", 0)
        by_site.setdefault(j, []).append(var)
        by_comm.setdefault(c, []).append(var)
    for j, vs in by_site.items():
        if data.existing[j]:
            prob.add_row([(v, 1.0) for v in vs], "<=", float(data.area[j]), f"standard_area_{j}")
        else:
            terms = [(form.area[j, si], -1.0) for si in range(len(data.services))
                     if (j, si) in form.area]
            prob.add_row([(v, 1.0) for v in vs] + terms, "<=", 0, f"standard_area_{j}")
    pen = []
    for c in range(len(data.community_ids)):
        if data.required_m2[c] <= 0:
            continue
        terms = [(v, 1.0) for v in by_comm.get(c, [])]
        if data.standard_mode == "penalty":
            s = form.shortfall[c] = prob.add_var(f"short_{c}", 0)
            terms.append((s, 1.0))
            pen.append((s, -float(data.penalty_per_m2)))
        prob.add_row(terms, ">=", float(data.required_m2[c]), f"standard_{c}")
    return pen


def write_lp(form: Formulation, path: str | Path) -> Path:
    """Write the built model to a CPLEX LP file (rows and columns under their names).

    Parameters
    ----------
    form
        A built formulation.
    path
        Where to write, ``.lp``.

    Returns
    -------
    pathlib.Path
    """
    return write_model(form.problem.model(names=True), Path(path))


def solve_safe(form: Formulation, model: MatrixModel | None, solver: str,
               time_limit: float | None, msg: bool, mip_gap: float,
               start: np.ndarray | None = None,
               progress: Progress | None = None) -> SolverResult:
    """Solve ``model`` (the built one, or a variant with the same columns), its values
    kept in ``form.x``; a crashed solver reported as a SitingError.

    Parameters
    ----------
    form
        The formulation whose columns the model has.
    model
        :meth:`~siting.solvers.builder.ModelBuilder.model` or a
        :meth:`~siting.solvers.builder.ModelBuilder.variant`; None: the built model.
    solver
        ``"highs"`` or ``"cbc"``.
    time_limit
        Seconds; None for no limit.
    msg
        Show the solver's log.
    mip_gap
        Relative gap at which the solver may stop.
    start
        A complete feasible column vector, the solver's first incumbent.
    progress
        Called with ``(seconds, incumbent, bound)`` during the solve.

    Returns
    -------
    SolverResult
    """
    model = form.problem.model() if model is None else model
    try:
        r = solve(model, solver, time_limit, msg, mip_gap, start=start, progress=progress)
    except pulp.PulpSolverError as exc:
        raise SitingError(f"{solver} failed on {form.problem.name} ({exc}); try --solver "
                          f"{'highs' if solver == 'cbc' else 'cbc'} or another time limit") from None
    form.x = np.asarray(r.x, float)
    return r
