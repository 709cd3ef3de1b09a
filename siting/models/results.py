"""The result type of the covering models."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass
class CoverageSolution:
    """Result of a coverage model.

    Attributes
    ----------
    chosen
        Indices of opened sites (sorted).
    covered
        Boolean per demand point: within the threshold of an opened site.
    objective
        Objective value of the solution found (people covered, or total cost).
    bound
        Best proven bound (the MIP dual bound; equals ``objective`` when optimal). When
        the solver stopped before proving any bound, the model's ``simple_bound()``.
    mip_gap
        ``|objective - bound| / max(|objective|, 1e-9)``; 0 when proven optimal.
    status
        ``"optimal"`` (proven) or ``"feasible"`` (stopped by the time limit).
    solver, runtime_s, model
        Solver name, wall time of the solve, and the model's name.
    trace
        Progress of the solve: ``(seconds, objective, bound)`` tuples (gap over time).
    reduction
        Model size after each reduction step (see :mod:`siting.models.reduce`).
    """

    chosen: np.ndarray
    covered: np.ndarray
    objective: float
    bound: float
    mip_gap: float
    status: str
    solver: str
    runtime_s: float
    model: str
    weight: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    trace: list = field(repr=False, default_factory=list)
    reduction: list = field(repr=False, default_factory=list)

    @property
    def covered_population(self) -> float:
        """People at the covered demand points (sum of ``weight`` over ``covered``)."""
        return float(self.weight[self.covered].sum())

    def summary(self) -> dict:
        """Headline numbers as a plain dict (JSON-ready)."""
        return {
            "model": self.model,
            "status": self.status,
            "objective": self.objective,
            "best_bound": self.bound,
            "mip_gap": self.mip_gap,
            "solver": self.solver,
            "solve_time_s": self.runtime_s,
            "n_sites_chosen": int(len(self.chosen)),
            "covered_population": self.covered_population,
        }

    def _repr_html_(self) -> str:
        return pd.Series(self.summary()).to_frame("value")._repr_html_()
