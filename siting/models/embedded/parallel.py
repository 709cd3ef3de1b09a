"""Where a decomposed embedded model solves its groups, and the solve a scenario asks for.

``decompose`` (a scenario key, ``siting run --decompose``) is ``off``, ``on`` or ``auto``
(:meth:`~siting.models.embedded.model.EmbeddedFacilities.solve`, formulation in
:mod:`~siting.models.embedded.decompose`). The groups' solves go through a
:class:`GroupMap`: a dask ``Client.map`` (``siting run --workers N`` or ``--scheduler``;
``siting batch`` gives an area the batch's own cluster, from inside its task), or, without
one, the built-in ``map`` in this process.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, NamedTuple

from siting.models.embedded.tables import EmbeddedSolution

if TYPE_CHECKING:
    from siting.models.embedded.model import EmbeddedFacilities

DECOMPOSE = {"off": False, "on": True, "auto": None}  # scenario value → solve(decompose=)


class GroupMap(NamedTuple):
    """Where a decomposed embedded model solves its groups.

    Attributes
    ----------
    map
        ``map``-like callable (a dask ``Client.map``; futures are gathered).
    workers
        How many group solves it runs at once (the time limit is shared by waves).
    where
        Said in the run's notes, e.g. ``a local Dask cluster of 2 workers``.
    """

    map: Callable
    workers: int
    where: str


# called, and the context manager it returns entered, around the solve: yields a GroupMap
GroupsOn = Callable[[], AbstractContextManager[GroupMap]]


def solve_as(model: EmbeddedFacilities, decompose: str, groups_on: GroupsOn | None = None,
             **solve_kw) -> EmbeddedSolution:
    """Solve ``model`` decomposed as a scenario says; the plan's notes say what was done.

    Parameters
    ----------
    model
        An :class:`~siting.models.embedded.model.EmbeddedFacilities`.
    decompose
        ``"off"``, ``"on"`` (always; refused with the reason when the model cannot be) or
        ``"auto"`` (the model's rule: ≥ 2 groups, none over two thirds of the columns;
        or one group of ≥ 8 districts, at their seams).
    groups_on
        Entered around the solve when ``decompose`` is not off; its :class:`GroupMap`
        runs the group solves. None: one after another in this process.
    **solve_kw
        Passed on to ``model.solve`` (solver, time_limit, mip_gap, marginal, progress).

    Returns
    -------
    EmbeddedSolution
        With a note of where the groups were solved (decomposed), or that ``auto`` solved
        the model whole.
    """
    flag = DECOMPOSE[decompose]
    use = groups_on if groups_on is not None and flag is not False else None
    with use() if use is not None else nullcontext(None) as on:
        plan = model.solve(decompose=flag, mapper=None if on is None else on.map,
                           workers=1 if on is None else on.workers, **solve_kw)
    notes = plan.summary["notes"]
    if "groups" in plan.summary:
        notes.append(f"the {len(plan.summary['groups'])} groups were solved "
                     + (f"on {on.where}, {on.workers} at once" if on is not None
                        else "one after another in this process"))
    elif decompose == "auto":
        notes.append("decompose = auto: solved whole (auto decomposes a max_served model "
                     "with a budget into groups sharing only the budget when there are ≥ 2, "
                     "none over two thirds of the model, or one group at its districts' "
                     "seams from 8 districts of ≤ 300 sites; here neither holds)")
    return plan
