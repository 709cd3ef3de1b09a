r"""Running costs of a plan: each site's yearly operating balance and the city's subsidy.

From ``[operations.services.<s>]`` (CNY per year, placeholders until a city sets them):
running cost :math:`o_s` per m² and :math:`e_s` per unit of capacity, fee :math:`\phi_s`
and operating subsidy :math:`\gamma_s` per unit served. For site :math:`j`:

.. math::

    C_j &= \textstyle\sum_s (o_s + e_s / q_s)\, a_{js} && \text{running cost}\\
    R_j &= \textstyle\sum_s \phi_s \sum_i f_{ijs},\quad
    G_j = \sum_s \gamma_s \sum_i f_{ijs} && \text{fees, subsidy per unit served}\\
    \beta_j &= R_j + G_j - C_j && \text{operating balance}\\
    \Sigma &= \textstyle\sum_{j \in J^n} \big(G_j + \max(0, -\beta_j)\big)
      && \text{the city's annual subsidy}

(the city pays the subsidy per unit and covers any deficit, so operation is
sustainable). Running costs per m² are charged per service on its area, also where
two services share a room.

With ``operations.subsidy_cap_per_year`` (a scenario's ``[policy.operations]``), the
model gets deficit variables :math:`\delta_j \ge 0` for new sites and the rows

.. math::

    \delta_j \ge C_j - R_j - G_j \;\; (\text{``deficit_{j}''}), \qquad
    \textstyle\sum_{j\in J^n} (G_j + \delta_j) \le \text{cap} \;\; (\text{``subsidy_cap''})

(capacity mode only: fees need the flows :math:`f`). Existing sites are reported but
not capped: their running costs are there with or without the plan.

**A programme's running costs** (:func:`running_items`, when a funding source lists
运营/operations): each year :math:`\tau` a new site is open, with its area
:math:`\sum_{t \le \tau} b_{jst}` and the units it serves that year :math:`u_{js\tau}`
(the yearly flows :math:`g`; the model's :math:`f` in the last year), the city pays
the cost item :math:`\sum_s \gamma_s u_{js\tau} + \delta_{j\tau}` with

.. math::

    \delta_{j\tau} \ge \textstyle\sum_s (o_s + e_s/q_s) \sum_{t\le\tau} b_{jst}
      - \sum_s (\phi_s + \gamma_s)\, u_{js\tau}, \quad \delta_{j\tau} \ge 0
      \quad (\text{``deficit_{j}_y{τ}''}),

paid like any other item (eligible sources, the year's amounts and budget). The solver
may leave :math:`\delta` above the deficit (money it need not spend);
:func:`settle_deficits` sets it to the deficit and the payments to match.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp

from siting.errors import SitingError

if TYPE_CHECKING:
    from siting.models.embedded.data import EmbeddedData
    from siting.models.embedded.formulation import Formulation
    from siting.models.embedded.funding import ProgrammeVars

SUMMARY_KEYS = ("subsidy_total_year", "subsidy_total_year_all", "operating_balance_year",
                "subsidy_cap_per_year")
OPERATION_COLUMNS = ("operating_cost_year", "revenue_year", "unit_subsidy_year",
                     "operating_balance_year", "subsidy_year")


def rates(data: EmbeddedData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per service: running cost per m² of area (incl. per unit ÷ m² per unit), fee and
    subsidy per unit served, CNY per year.

    Parameters
    ----------
    data
        The model's data.

    Returns
    -------
    tuple of numpy.ndarray
        ``(cost_per_m2, fee_per_unit, subsidy_per_unit)``.
    """
    ops = data.policy.operations.services
    cost, fee, sub = (np.zeros(len(data.services)) for _ in range(3))
    for si, s in enumerate(data.services):
        if s in ops:
            o = ops[s]
            cost[si] = o.cost_per_m2_year + o.cost_per_unit_year / data.m2_per_unit[si]
            fee[si], sub[si] = o.fee_per_unit_year, o.subsidy_per_unit_year
    return cost, fee, sub


def add_subsidy_cap(data: EmbeddedData, form: Formulation) -> list | None:
    """Add the deficit rows and the ``subsidy_cap`` row when the policy sets a cap.

    Parameters
    ----------
    data
        The model's data.
    form
        The built formulation (flows made).

    Returns
    -------
    list or None
        Terms of the city's annual subsidy of new sites; None without a cap.
    """
    cap = data.policy.operations.subsidy_cap_per_year
    if cap is None:
        return None
    if not data.capacity:
        raise SitingError("operations.subsidy_cap_per_year needs capacity mode (fees are "
                          "charged per unit served): drop capacity = false or the cap")
    cost, fee, sub = rates(data)
    prob = form.problem
    income: dict[int, list] = {}
    granted: dict[int, list] = {}
    for (j, si), cols in _site_flows(data, form).items():
        if j in form.open_site:
            income.setdefault(j, []).append((cols, float(fee[si] + sub[si])))
            if sub[si]:
                granted.setdefault(j, []).append((cols, float(sub[si])))
    total: list = []
    for j in form.open_site:
        run = [(form.area[j, si], -float(cost[si])) for si in range(len(data.services))
               if (j, si) in form.area and cost[si]]
        if not run:
            total += granted.get(j, [])
            continue
        d = prob.add_var(f"deficit_{j}", 0)
        prob.add_row([(d, 1.0)] + run + income.get(j, []), ">=", 0, f"deficit_{j}")
        total += [(d, 1.0)] + granted.get(j, [])
    prob.add_row(total, "<=", float(cap), "subsidy_cap")
    return total


def _site_flows(data: EmbeddedData, form: Formulation) -> dict[tuple, np.ndarray]:
    """``(site, service) →`` the model's flow columns at that site."""
    out: dict[tuple, np.ndarray] = {}
    for si, cols in form.flows.items():
        ks = np.flatnonzero(cols >= 0)
        js = data.rows[si].pj[ks].astype(np.int64)
        order = np.argsort(js, kind="stable")
        for part in np.split(order, np.flatnonzero(np.diff(js[order])) + 1) if len(ks) else ():
            out[int(js[part[0]]), si] = cols[ks[part]]
    return out


def operation_table(data: EmbeddedData, area: np.ndarray, assign: pd.DataFrame,
                    sites: pd.DataFrame) -> dict:
    """Add :data:`OPERATION_COLUMNS` to the plan's sites (in place); return the totals.

    Parameters
    ----------
    data
        The model's data.
    area
        Site × service floor areas of the plan.
    assign
        The plan's assignments (units served per demand point, site and service).
    sites
        The plan's sites table.

    Returns
    -------
    dict
        ``subsidy_total_year`` (new sites, what the cap bounds),
        ``subsidy_total_year_all`` (with existing sites), ``operating_balance_year``
        (all sites) and ``subsidy_cap_per_year``.
    """
    cost, fee, sub = rates(data)
    served = np.zeros_like(area)
    if len(assign):
        u = assign.groupby(["site", "service"])["units"].sum()
        for (j, s), val in u.items():
            served[int(j), data.services.index(s)] = val
    js = sites["site"].to_numpy(np.int64) if len(sites) else np.zeros(0, np.int64)
    run = area[js] @ cost
    revenue, granted = served[js] @ fee, served[js] @ sub
    balance = revenue + granted - run
    subsidy = granted + np.maximum(-balance, 0.0)
    for col, v in zip(OPERATION_COLUMNS, (run, revenue, granted, balance, subsidy)):
        sites[col] = v
    new = ~data.existing[js] if len(js) else np.zeros(0, bool)
    return {"subsidy_total_year": float(subsidy[new].sum()),
            "subsidy_total_year_all": float(subsidy.sum()),
            "operating_balance_year": float(balance.sum()),
            "subsidy_cap_per_year": data.policy.operations.subsidy_cap_per_year}


def running_items(data: EmbeddedData, form: Formulation, pv: ProgrammeVars) -> None:
    """Add a programme's running-cost items and deficit rows (see the module docstring)
    when some funding source pays 运营/operations; else nothing.

    Parameters
    ----------
    data
        The model's data (``data.programme`` set).
    form
        The formulation (flows made).
    pv
        The programme's variables (yearly areas and flows made); its ``items`` and
        ``deficit`` are extended.
    """
    P = data.programme
    if not P.programme.charges_operations:
        return
    cost, fee, sub = rates(data)
    K = len(P.years)
    last = _site_flows(data, form)  # the model's flows serve the last year
    areas: dict[int, list] = {}
    for (j, si, t), b in pv.area.items():
        areas.setdefault(j, []).append((si, t, b))
    for j in form.open_site:  # from its first year (none within the programme: none)
        hosted = sorted({si for si, _, _ in areas.get(j, [])})
        for tau in range(int(P.first_year[j]), K):
            income = []
            for si in hosted:
                units = last.get((j, si), []) if tau == K - 1 else pv.units.get((j, si, tau), [])
                units = [int(u) for u in units]
                income += [(u, float(fee[si] + sub[si])) for u in units]
                if sub[si]:
                    key = (j, "operations", tau, si if P.split_services else None)
                    pv.items.setdefault(key, []).extend((u, float(sub[si])) for u in units)
            running = [(b, -float(cost[si])) for si, t, b in areas.get(j, [])
                       if t <= tau and cost[si]]
            if not running:
                continue
            d = pv.deficit[j, tau] = form.problem.add_var(f"deficit_{j}_y{tau}", 0)
            form.problem.add_row([(d, 1.0)] + running + income, ">=", 0, f"deficit_{j}_y{tau}")
            pv.items.setdefault((j, "operations", tau, None), []).append((d, 1.0))


def settle_deficits(form: Formulation, pv: ProgrammeVars) -> bool:
    """Set each deficit column of the solve's values to the site's deficit and the
    payments to match: one LP over the deficits and payments, every other column held.

    Parameters
    ----------
    form
        The formulation holding the solve's values (changed in place).
    pv
        The programme's variables.

    Returns
    -------
    bool
        False when that LP failed (the values are left as they were).
    """
    from siting.solvers import MatrixModel
    from siting.solvers.highs import solve_matrix

    if not pv.deficit or form.x is None:
        return True
    m = form.problem.model()
    free = np.array(sorted(set(pv.deficit.values()) | set(pv.pay.values())), np.int64)
    held = np.ones(m.A.shape[1], bool)
    held[free] = False
    x = np.asarray(form.x, float).copy()
    A = sp.csr_array(m.A)
    rest = A[:, held] @ x[held]  # what the held columns contribute to each row
    sub = A[:, free].tocsr()
    rows = np.flatnonzero(np.diff(sub.indptr) > 0)
    now = sub[rows] @ x[free]  # the solve's values hold the rows to its tolerance: so may these
    c = np.isin(free, list(pv.deficit.values())).astype(float)
    lp = MatrixModel(c, sub[rows], np.minimum(m.row_lo[rows] - rest[rows], now),
                     np.maximum(m.row_hi[rows] - rest[rows], now), m.col_hi[free],
                     np.zeros(0, np.int64), col_lo=m.lower[free])
    try:
        r = solve_matrix(lp)
    except SitingError:
        return False
    x[free] = r.x
    form.x = x
    return True
