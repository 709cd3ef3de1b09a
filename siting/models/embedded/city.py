"""The city-wide plan: the embedded model decomposed when asked (or when it pays).

Independent groups sharing only the budget are solved by :mod:`.decompose`; a model
of one group (districts joined by the people who walk across their borders) by its
districts, with the rows across their seams relaxed (:mod:`.seams`).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from siting.errors import SitingError
from siting.models.embedded.data import EmbeddedData
from siting.models.embedded.decompose import Decomposed, refusal, solve_decomposed, split
from siting.models.embedded.formulation import Formulation
from siting.models.embedded.seams import AUTO_DISTRICTS, solve_seams
from siting.solvers import Progress


def solve_city(data: EmbeddedData, form: Formulation, decompose: bool | None,
               solver: str = "highs", time_limit: float | None = None, mip_gap: float = 0.0,
               mapper: Callable | None = None, workers: int = 1,
               progress: Progress | None = None, notes: list | None = None) -> tuple | None:
    """Decompose and solve when asked (or, with ``decompose=None``, when it pays).

    ``None`` (auto) decomposes a model that can be (:func:`refusal`) into at least two
    paid groups, the largest with at most two thirds of the paid columns, and a model of
    one group at its districts' seams (:mod:`.seams`) when it has at least
    :data:`~.seams.AUTO_DISTRICTS`; ``True`` decomposes whenever it can (refused with a
    :class:`SitingError` otherwise), one group from two districts; ``False`` never.

    Parameters
    ----------
    data
        The model's data.
    form
        Its built formulation.
    decompose
        True, False or None (auto).
    solver
        ``"highs"`` or ``"cbc"``.
    time_limit
        Seconds for the whole call; None for no limit.
    mip_gap
        Relative city gap at which to stop.
    mapper
        ``map``-like callable for the groups' solves.
    workers
        How many solves the mapper runs at once.
    progress
        Called with ``(seconds, plan value, bound)`` after each round.
    notes
        Where to say that a model asked to decompose is one group (solved whole).

    Returns
    -------
    tuple or None
        ``(r1, r2, notes, groups)`` with the plan's values in ``form.x``
        (``groups``: one dict per paid group: budget, cost, value, new sites'
        ids, ``site_rows`` of all its sites);
        None when the whole model is to be solved instead.

    Raises
    ------
    SitingError
        When ``decompose=True`` and the model cannot be decomposed.
    """
    if decompose is False:
        return None
    why = refusal(data, form)
    if why is not None:
        if decompose:
            raise SitingError(f"the embedded model cannot be decomposed: {why}; solve it "
                              "whole (decompose=False)")
        return None
    t0 = time.perf_counter()
    parts = split(form)
    sizes = np.array([len(g) for g in parts.groups])
    left = None if time_limit is None else max(time_limit - (time.perf_counter() - t0), 0.5)
    dec: Decomposed | None
    if parts.n_groups < 2:  # decompose True or None (auto): by districts, if enough
        found = solve_seams(data, form, solver, left, mip_gap, mapper, workers, progress,
                            min_districts=2 if decompose else AUTO_DISTRICTS)
        if found is None:
            if decompose and notes is not None:
                notes.append("decomposition asked for, but the model is one group (its "
                             "districts share demand, sites or communities) and its sites "
                             "form one district, or its districts found no plan in time: "
                             "solved whole")
            return None
        dec, parts = found
    elif decompose is None and sizes.max() > 2 / 3 * sizes.sum():
        return None
    else:
        dec = solve_decomposed(parts, float(data.budget or 0.0), solver, left, mip_gap,
                               mapper, workers, progress)
        if dec is None:
            return None
    form.x = np.asarray(dec.x, float)
    c = form.problem.model().c
    sites: dict[int, list] = {}
    ids = "source_id" if "source_id" in data.sites else "site_id"  # the planner's stable id
    rows: dict[int, set] = {}  # the sites of each group, existing ones through their flows
    for j, v in form.open_site.items():
        g = int(dec.group_of_column[v])
        rows.setdefault(g, set()).add(j)
        if form.val(v) > 0.5:
            sites.setdefault(g, []).append(data.sites[ids][j])
    for si, cols in form.flows.items():
        ks = np.flatnonzero(cols >= 0)
        for g, j in set(zip(dec.group_of_column[cols[ks]].tolist(),
                            data.rows[si].pj[ks].tolist())):
            rows.setdefault(int(g), set()).add(int(j))
    groups = [{"group": g, "budget": float(dec.budgets[g]), "cost": float(dec.costs[g]),
               "value": float(c[cols] @ dec.x[cols]),
               "sites_new": sites.get(g, []), "site_rows": sorted(rows.get(g, ()))}
              for g, cols in enumerate(parts.groups)]
    return dec.result, dec.stage2, dec.notes, groups
