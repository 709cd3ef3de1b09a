"""Coverage models on an :class:`~siting.instance.Instance`, solved with PuLP (CBC or HiGHS).

Each model is an object built from data with a docstring stating its formulation,
``solve()`` returning a :class:`CoverageSolution`. Status is reported honestly: a
run stopped by the time limit is ``"feasible"`` with its gap, never ``"optimal"``
(PuLP reports ``Optimal`` for such runs; the solvers' own status and bound are read).
"""

from __future__ import annotations

import re
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pulp

from siting.errors import InfeasibleError, SitingError
from siting.instance import Instance

SOLVERS = ("cbc", "highs")
# Measured on maximal covering models (scripts/solver_choice.py): CBC 2–3× faster.
DEFAULT_SOLVER = "cbc"


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
        Best bound proven by the solver (equals ``objective`` when optimal).
    mip_gap
        ``|objective - bound| / max(|objective|, 1e-9)``; 0 when proven optimal.
    status
        ``"optimal"`` (proven) or ``"feasible"`` (stopped by the time limit).
    solver, runtime_s, model
        Solver name, wall time of the solve, and the model's name.
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
    weight: np.ndarray = field(repr=False, default=None)

    @property
    def covered_population(self) -> float:
        return float(self.weight[self.covered].sum())

    def summary(self) -> dict:
        """Headline numbers as a plain dict (JSON-ready)."""
        return {
            "model": self.model,
            "status": self.status,
            "objective": self.objective,
            "lp_bound": self.bound,
            "mip_gap": self.mip_gap,
            "solver": self.solver,
            "solve_time_s": self.runtime_s,
            "n_sites_chosen": int(len(self.chosen)),
            "covered_population": self.covered_population,
        }

    def _repr_html_(self) -> str:
        return pd.Series(self.summary()).to_frame("value")._repr_html_()


class MaximalCovering:
    """Maximal covering location problem (Church & ReVelle 1974) on sparse coverage.

    .. math::

        \\max \\sum_i w_i z_i \\quad\\text{s.t.}\\quad
        z_i \\le \\sum_{j \\in N_i} y_j \\;\\forall i,\\qquad
        \\sum_j y_j \\le p \\;\\text{and/or}\\; \\sum_j c_j y_j \\le B,\\qquad
        y_j \\in \\{0,1\\},\\; 0 \\le z_i \\le 1

    where :math:`N_i` are the sites within the walking threshold of demand point
    :math:`i`. :math:`z_i` may be continuous: for integral :math:`y` the optimum sets
    :math:`z_i = \\min(1, \\sum_{j\\in N_i} y_j)`, which is integral. Demand points with
    no site in reach are left out of the model (they can never be covered); sites
    that cover no one are fixed closed. Sites in ``fixed`` are forced open (existing
    facilities) and do not count against ``p`` or the budget.

    Parameters
    ----------
    instance
        Demand weights, site costs and pairs within reach.
    p
        Most sites to open (besides ``fixed``).
    budget
        Most total cost of opened sites (besides ``fixed``).
    threshold_m
        Walking threshold; default the instance's.
    fixed
        Site indices that are already open.
    """

    name = "maximal_covering"

    def __init__(self, instance: Instance, p: int | None = None, budget: float | None = None,
                 threshold_m: float | None = None, fixed=()):
        if p is None and budget is None:
            raise SitingError("maximal covering needs p (max sites) or a budget")
        if p is not None and p < 0:
            raise SitingError(f"p must be >= 0, got {p}")
        if p is not None and p > instance.n_sites:
            raise SitingError(
                f"p = {p} is larger than the {instance.n_sites} candidate sites; "
                f"use p <= {instance.n_sites} or add candidates"
            )
        if budget is not None and budget < 0:
            raise SitingError(f"budget must be >= 0, got {budget}")
        self.instance, self.p, self.budget = instance, p, budget
        self.threshold_m = instance.threshold_m if threshold_m is None else threshold_m
        self.fixed = np.asarray(sorted(set(int(j) for j in fixed)), dtype=np.int64)
        self.problem = self._build()

    def _build(self) -> pulp.LpProblem:
        inst = self.instance
        cov = inst.coverage(self.threshold_m)
        prob = pulp.LpProblem(self.name, pulp.LpMaximize)
        useful = np.flatnonzero(np.diff(cov.tocsc().indptr) > 0)
        self.y = {j: prob.add_variable(f"y_{j}", cat="Binary") for j in useful.tolist()}
        fixed = set(self.fixed.tolist())
        for j in fixed & self.y.keys():
            self.y[j].setInitialValue(1)
            self.y[j].fixValue()
        rows = np.flatnonzero((np.diff(cov.indptr) > 0) & (inst.weight > 0))
        self.z = {}
        terms = []
        for i in rows.tolist():
            sites = cov.indices[cov.indptr[i]:cov.indptr[i + 1]]
            z = prob.add_variable(f"z_{i}", 0, 1)
            self.z[i] = z
            terms.append((z, inst.weight[i]))
            prob.addConstraint(
                pulp.LpAffineExpression([(z, 1.0)] + [(self.y[j], -1.0) for j in sites.tolist()])
                <= 0
            )
        prob.setObjective(pulp.LpAffineExpression(terms))
        free = [v for j, v in self.y.items() if j not in fixed]
        if self.p is not None:
            prob.addConstraint(pulp.lpSum(free) <= self.p, "max_sites")
        if self.budget is not None:
            prob.addConstraint(
                pulp.lpSum(inst.cost[j] * v for j, v in self.y.items() if j not in fixed)
                <= self.budget, "budget",
            )
        return prob

    def solve(self, solver: str = DEFAULT_SOLVER, time_limit: float | None = None,
              msg: bool = False, mip_gap: float = 0.0) -> CoverageSolution:
        """Solve and return the chosen sites with status, objective, bound and gap."""
        result = _solve(self.problem, solver, time_limit, msg, mip_gap)
        chosen = sorted(set(j for j, v in self.y.items() if (v.varValue or 0) > 0.5)
                        | set(self.fixed.tolist()))
        return _solution(self.instance, chosen, self.threshold_m, self.name, result)


class SetCovering:
    """Location set covering problem (Toregas et al. 1971) on sparse coverage.

    .. math::

        \\min \\sum_j c_j y_j \\quad\\text{s.t.}\\quad
        \\sum_{j \\in N_i} y_j \\ge 1 \\;\\forall i \\in I_c,\\qquad y_j \\in \\{0,1\\}

    :math:`I_c` is the set of demand points with positive weight and at least one site
    within reach (the coverable population; the rest is reported, not made
    infeasible). Costs :math:`c_j` default to 1 (fewest sites) when the instance
    has no costs or ``use_cost=False``. ``fixed`` sites are forced open at no cost.
    """

    name = "set_covering"

    def __init__(self, instance: Instance, threshold_m: float | None = None, fixed=(),
                 use_cost: bool = True):
        self.instance = instance
        self.threshold_m = instance.threshold_m if threshold_m is None else threshold_m
        self.fixed = np.asarray(sorted(set(int(j) for j in fixed)), dtype=np.int64)
        cost = instance.cost if use_cost and instance.cost.any() else np.ones(instance.n_sites)
        self.cost = cost
        self.problem = self._build()

    def _build(self) -> pulp.LpProblem:
        inst = self.instance
        cov = inst.coverage(self.threshold_m)
        prob = pulp.LpProblem(self.name, pulp.LpMinimize)
        useful = np.flatnonzero(np.diff(cov.tocsc().indptr) > 0)
        self.y = {j: prob.add_variable(f"y_{j}", cat="Binary") for j in useful.tolist()}
        fixed = set(self.fixed.tolist())
        for j in fixed & self.y.keys():
            self.y[j].setInitialValue(1)
            self.y[j].fixValue()
        prob.setObjective(pulp.LpAffineExpression(
            [(v, float(self.cost[j])) for j, v in self.y.items() if j not in fixed]))
        rows = np.flatnonzero((np.diff(cov.indptr) > 0) & (inst.weight > 0))
        seen = set()
        for i in rows.tolist():
            sites = tuple(cov.indices[cov.indptr[i]:cov.indptr[i + 1]].tolist())
            if sites in seen or fixed.intersection(sites):
                continue  # identical rows add nothing; rows met by fixed sites are met
            seen.add(sites)
            prob.addConstraint(pulp.LpAffineExpression([(self.y[j], 1.0) for j in sites]) >= 1)
        return prob

    def solve(self, solver: str = DEFAULT_SOLVER, time_limit: float | None = None,
              msg: bool = False, mip_gap: float = 0.0) -> CoverageSolution:
        """Solve and return the cheapest set of sites covering all coverable demand."""
        result = _solve(self.problem, solver, time_limit, msg, mip_gap)
        chosen = sorted(set(j for j, v in self.y.items() if (v.varValue or 0) > 0.5)
                        | set(self.fixed.tolist()))
        return _solution(self.instance, chosen, self.threshold_m, self.name, result)


def _solution(inst: Instance, chosen, threshold_m, name, result) -> CoverageSolution:
    chosen = np.asarray(chosen, dtype=np.int64)
    return CoverageSolution(
        chosen=chosen,
        covered=inst.covered_by(chosen, threshold_m),
        weight=inst.weight,
        model=name,
        **result,
    )


def _solve(prob: pulp.LpProblem, solver: str, time_limit: float | None, msg: bool,
           mip_gap: float) -> dict:
    """Run CBC or HiGHS; return objective, bound, gap, status, solver, runtime_s."""
    solver = solver.lower()
    if solver not in SOLVERS:
        raise SitingError(f"unknown solver {solver!r}; choose one of {', '.join(SOLVERS)}")
    if time_limit is not None and time_limit <= 0:
        raise SitingError(f"time limit must be > 0 s, got {time_limit}")
    maximize = prob.sense == pulp.LpMaximize
    t0 = time.perf_counter()
    if not prob.variables():  # nothing to decide: no site covers anyone
        return dict(objective=0.0, bound=0.0, mip_gap=0.0, status="optimal", solver=solver,
                    runtime_s=0.0)
    if solver == "highs":
        status, bound = _solve_highs(prob, time_limit, msg, mip_gap, maximize)
    else:
        status, bound = _solve_cbc(prob, time_limit, msg, mip_gap)
    runtime = time.perf_counter() - t0
    if prob.status == pulp.LpStatusInfeasible:
        raise InfeasibleError(f"the {prob.name} model is infeasible")
    if prob.sol_status not in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible):
        raise SitingError(
            f"{solver} found no integer solution for {prob.name} within {time_limit} s; "
            "raise --time-limit"
        )
    objective = float(pulp.value(prob.objective) or 0.0)
    if status == "optimal" or bound is None:
        bound = objective if bound is None or status == "optimal" else bound
    gap = abs(objective - bound) / max(abs(objective), 1e-9)
    if status == "optimal":
        gap = min(gap, mip_gap)
    return dict(objective=objective, bound=float(bound), mip_gap=float(gap), status=status,
                solver=solver, runtime_s=runtime)


def _solve_highs(prob, time_limit, msg, mip_gap, maximize):
    import highspy

    kwargs = {"msg": msg, "gapRel": mip_gap}
    if time_limit is not None:
        kwargs["timeLimit"] = time_limit
    prob.solve(pulp.HiGHS(**kwargs))
    h = prob.solverModel
    model_status = h.getModelStatus()
    info = h.getInfo()
    bound = info.mip_dual_bound
    # PuLP hands HiGHS the minimisation of -objective for a maximisation
    if maximize and h.getObjectiveSense()[1] == highspy.ObjSense.kMinimize:
        bound = -bound
    if not np.isfinite(bound):
        bound = None
    status = "optimal" if model_status == highspy.HighsModelStatus.kOptimal else "feasible"
    return status, bound


_CBC_RESULT = re.compile(r"Result - (.+)")
_CBC_BOUND = re.compile(r"(?:Lower|Upper) bound:\s+(-?[\d.eE+-]+)")


def _solve_cbc(prob, time_limit, msg, mip_gap):
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "cbc.log"
        with warnings.catch_warnings():  # PuLP 3.3 deprecates its bundled CBC for 4.0
            warnings.simplefilter("ignore", DeprecationWarning)
            cmd = pulp.PULP_CBC_CMD(msg=msg, timeLimit=time_limit, gapRel=mip_gap,
                                    logPath=str(log))
            prob.solve(cmd)
        text = log.read_text(errors="replace") if log.exists() else ""
    result = _CBC_RESULT.search(text)
    result = result.group(1).strip() if result else ""
    bound = _CBC_BOUND.search(text)
    bound = float(bound.group(1)) if bound else None
    # PuLP runs CBC with -max for maximisation; the summary bound is in the original sense
    status = "optimal" if result.startswith("Optimal") else "feasible"
    return status, bound
