"""The embedded-facility model: several services per site sharing floor area.

:class:`EmbeddedFacilities` (its formulation is in its docstring) is built from
:mod:`.data` (the model's data, derived and validated), :mod:`.formulation` (its
matrices, every row and column named) and solved by :mod:`.solve` (two stages, a greedy
fallback from :mod:`.heuristics`, a budget sweep); :mod:`.tables` reads the plan
(:class:`EmbeddedSolution`) and :mod:`.diagnosis` explains infeasibility and values
each chosen site. A city-wide plan under one budget is solved by :mod:`.city`: groups
that share only the budget by :mod:`.decompose`, districts joined by the people who walk
across their borders by :mod:`.seams`.
"""

from __future__ import annotations

import numpy as np

from siting.models.embedded.data import OBJECTIVES, EmbeddedData
from siting.models.embedded.model import EmbeddedFacilities
from siting.models.embedded.prepare import prepare_demand, prepare_sites
from siting.models.embedded.tables import COST_COLUMNS, EmbeddedSolution
from siting.models.instance import Instance
from siting.models.results import CoverageSolution

__all__ = ["COST_COLUMNS", "OBJECTIVES", "EmbeddedData", "EmbeddedFacilities",
           "EmbeddedSolution", "plan_to_coverage", "prepare_demand", "prepare_sites"]


def plan_to_coverage(plan: EmbeddedSolution, instance: Instance) -> CoverageSolution:
    """A :class:`~siting.models.results.CoverageSolution` view of a plan (for maps and reports).

    Parameters
    ----------
    plan
        An embedded plan.
    instance
        The instance it was solved on.

    Returns
    -------
    CoverageSolution
        chosen = opened sites; covered = demand points served by any service.
    """
    covered = np.zeros(instance.n_demand, bool)
    if len(plan.assignments):
        served = plan.assignments.groupby("demand")["people"].sum()
        covered[served.index[served > 1e-9].to_numpy(np.int64)] = True
    s = plan.summary
    return CoverageSolution(
        chosen=plan.chosen, covered=covered, objective=s["objective"], bound=s["best_bound"],
        mip_gap=s["mip_gap"], status=s["status"], solver=s["solver"],
        runtime_s=s["solve_time_s"], model="embedded", weight=instance.weight)
