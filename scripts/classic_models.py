"""Measure HiGHS against CBC on the classic location models, to choose their defaults.

OR-Library set covering scp41–45 (:class:`siting.models.coverage.SetCovering`) and p-median
pmed1–5 (:class:`siting.models.median.PMedian`); p-center on pmed1–5 and on seeded
random instances; backup and capacitated covering on seeded random instances. Prints
one table: instance, model, solver, objective, status, seconds (wall time of
``solve()``, the model built beforehand).

    SITING_SHARED_DATA=/work/shared/data python scripts/classic_models.py [--time-limit 30] [--center-milp]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from siting.models.backup import BackupCovering
from siting.models.benchmarks import pmed_instance, scp_instance
from siting.models.capacitated import CapacitatedMaximalCovering
from siting.models.center import PCenter
from siting.models.coverage import SetCovering
from siting.models.instance import Instance
from siting.models.median import PMedian

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SITING_SHARED_DATA", ROOT.parent / "shared" / "data"))
SOLVERS = ("highs", "cbc")


def seeded(seed: int, n_demand: int = 400, n_sites: int = 80, reach: float = 250.0):
    """Points and candidates uniform in a 1 km square, straight-line distances within
    ``reach`` as the pairs, integer weights 0..20."""
    rng = np.random.default_rng(seed)
    pts, cand = rng.random((n_demand, 2)) * 1000, rng.random((n_sites, 2)) * 1000
    dist = np.round(np.hypot(*(pts[:, None, :] - cand[None, :, :]).transpose(2, 0, 1)))
    d, s = np.nonzero(dist <= reach)
    return Instance(weight=rng.integers(0, 21, n_demand).astype(float), cost=np.ones(n_sites),
                    pair_demand=d, pair_site=s, pair_dist=dist[d, s], threshold_m=reach)


def cases(center_milp: bool = False):
    """``(instance name, model name, model)`` in the order of the table; with
    ``center_milp`` also the one-MILP p-center on pmed1–3."""
    orlib = SHARED / "orlib"
    if orlib.exists():
        for k in range(1, 6):
            yield f"scp4{k}", "set_covering", SetCovering(scp_instance(orlib / f"scp4{k}.txt"))
        for k in range(1, 6):
            inst, p = pmed_instance(orlib / f"pmed{k}.txt")
            yield f"pmed{k}", "p_median", PMedian(inst, p)
            yield f"pmed{k}", "p_center", PCenter(inst, p)
            if center_milp and k <= 3:
                yield f"pmed{k}", "p_center(milp)", PCenter(inst, p, method="milp")
    else:
        print(f"{orlib} not found: OR-Library rows skipped")
    for seed in range(3):
        inst = seeded(seed)
        name = f"seed{seed} 400x80"
        yield name, "p_center", PCenter(inst, 12)
        yield name, "backup(theta=0)", BackupCovering(inst, 10, theta=0.0, threshold_m=200)
        yield name, "backup(theta=0.5)", BackupCovering(inst, 10, theta=0.5, threshold_m=200)
        yield name, "capacitated", CapacitatedMaximalCovering(inst, 8, 400.0, threshold_m=200)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--time-limit", type=float, default=30.0)
    ap.add_argument("--center-milp", action="store_true",
                    help="also the one-MILP p-center on pmed1-3 (slow: it proves none)")
    args = ap.parse_args()
    rows = []
    print(f"{'instance':<18} {'model':<18} {'solver':<6} {'objective':>12} {'status':<9} "
          f"{'seconds':>8}")
    for inst_name, model_name, model in cases(args.center_milp):
        for solver in SOLVERS:
            t0 = time.perf_counter()
            sol = model.solve(solver=solver, time_limit=args.time_limit)
            sec = time.perf_counter() - t0
            rows.append((inst_name, model_name, solver, sol.objective, sol.status, sec))
            print(f"{inst_name:<18} {model_name:<18} {solver:<6} {sol.objective:>12.6g} "
                  f"{sol.status:<9} {sec:>8.2f}", flush=True)
    print()
    print("total seconds per model and solver:")
    for model_name in dict.fromkeys(r[1] for r in rows):
        tot = {s: sum(r[5] for r in rows if r[1] == model_name and r[2] == s) for s in SOLVERS}
        print(f"  {model_name:<18} " + "  ".join(f"{s} {t:7.2f}" for s, t in tot.items()))


if __name__ == "__main__":
    main()
