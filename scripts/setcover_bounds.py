"""Lattice set covering: what each available solver proves in a time limit.

The connected 200 x 200 lattice of ``scripts/benchmark.py`` (1,497 demand points,
4,506 candidates, 1000 m reach) is reduced exactly (``siting.models.reduce``) and given to:

* ours   -- ``SetCovering.solve`` (greedy + row-weighting search start, HiGHS);
* HiGHS  -- the LP relaxation alone (the root bound every LP-based solver starts from);
* SCIP   -- pyscipopt, aggressive separation (its {0,1/2}-cuts lift the root bound),
  started from our cover;
* CP-SAT -- OR-Tools, 2 workers (this machine's cores), LP-based subsolvers, started
  from our cover.

SCIP and CP-SAT are not dependencies of siting: ``pip install pyscipopt ortools`` to
get their rows. Bounds are rounded up (every site costs 1); gap = (cover - bound) /
cover. One solver runs at a time.

Usage::

    PYTHONPATH=. python scripts/setcover_bounds.py [--time-limit 60]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from benchmark import REACH, lattice  # noqa: E402

from siting.access import build_instance  # noqa: E402
from siting.models.coverage import SetCovering  # noqa: E402
from siting.solvers import MatrixModel, solve  # noqa: E402


def _lp_bound(cov) -> float:
    """The LP relaxation: the covering model with no integer columns."""
    nr, nc = cov.shape
    model = MatrixModel(c=np.ones(nc), A=sp.csr_array(cov, dtype=float), row_lo=np.ones(nr),
                        row_hi=np.full(nr, np.inf), col_hi=np.ones(nc),
                        integer=np.zeros(0, np.int64), maximize=False)
    return solve(model, "highs").objective


def _scip(cov, start, limit):
    from pyscipopt import SCIP_PARAMSETTING, Model, quicksum

    m = Model()
    m.hideOutput()
    y = [m.addVar(vtype="B", obj=1.0) for _ in range(cov.shape[1])]
    for i in range(cov.shape[0]):
        m.addCons(quicksum(y[j] for j in cov.indices[cov.indptr[i]:cov.indptr[i + 1]]) >= 1)
    m.setSeparating(SCIP_PARAMSETTING.AGGRESSIVE)
    m.setParam("limits/time", limit)
    s = m.createSol()
    for j in start:
        m.setSolVal(s, y[j], 1.0)
    m.addSol(s)
    m.optimize()
    return m.getObjVal(), m.getDualbound()


def _cpsat(cov, start, limit):
    from ortools.sat.python import cp_model

    m = cp_model.CpModel()
    y = [m.new_bool_var(f"y{j}") for j in range(cov.shape[1])]
    for i in range(cov.shape[0]):
        m.add_bool_or([y[j] for j in cov.indices[cov.indptr[i]:cov.indptr[i + 1]]])
    m.minimize(sum(y))
    chosen = set(start.tolist())
    for j, v in enumerate(y):
        m.add_hint(v, j in chosen)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 2
    solver.parameters.max_time_in_seconds = limit
    solver.parameters.subsolvers.extend(["max_lp", "core"])
    solver.solve(m)
    return solver.objective_value, solver.best_objective_bound


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--time-limit", type=float, default=60.0)
    args = ap.parse_args(argv)
    inp = lattice(200, 1497, 4506)
    inst = build_instance(inp.access(), inp.weight, np.zeros(len(inp.site_node)), REACH)
    model = SetCovering(inst)
    r = model.reduced
    cov = r.cov.tocsr()
    cov.sort_indices()
    rows = []
    t0 = time.perf_counter()
    lp = _lp_bound(cov)
    rows.append(dict(method="LP relaxation (HiGHS)", wall=time.perf_counter() - t0,
                     cover=None, bound=lp))
    t0 = time.perf_counter()
    sol = model.solve(time_limit=args.time_limit)
    rows.append(dict(method="ours: SetCovering.solve (search start + HiGHS)",
                     wall=time.perf_counter() - t0, cover=len(sol.chosen), bound=sol.bound))
    # our cover in the reduced model's columns, as the other solvers' start
    start = np.flatnonzero(np.isin(r.sites, sol.chosen))
    for name, fn, pkg in (("SCIP, aggressive separation, our start", _scip, "pyscipopt"),
                          ("CP-SAT, 2 workers, max_lp + core, our start", _cpsat, "ortools")):
        try:
            __import__(pkg)
        except ImportError:
            rows.append(dict(method=name, wall=None, cover=None, bound=None,
                             note=f"not run: pip install {pkg}"))
            continue
        t0 = time.perf_counter()
        cover, bound = fn(cov, start, args.time_limit)
        rows.append(dict(method=name, wall=time.perf_counter() - t0, cover=cover, bound=bound))
    print(f"lattice set covering, reduced {cov.shape[0]} x {cov.shape[1]}, "
          f"limit {args.time_limit:g} s\n")
    print("| method | wall s | cover | bound | bound rounded up | gap |")
    print("|---|---:|---:|---:|---:|---:|")
    for row in rows:
        b, c = row["bound"], row["cover"]
        up = math.ceil(b - 1e-6) if b is not None else None
        gap = f"{(c - up) / c:.1%}" if c and up is not None else "–"
        wall = f"{row['wall']:.1f}" if row["wall"] is not None else row.get("note", "–")
        print(f"| {row['method']} | {wall} | {c if c is not None else '–'} | "
              f"{b if b is None else round(b, 4)} | {up if up is not None else '–'} | {gap} |")
    return rows


if __name__ == "__main__":
    main()
