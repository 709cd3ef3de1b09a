"""Measure HiGHS against CBC on the covering models of real extracts, to choose the default.

Runs both solvers on the same models (real extracts: Helsinki sample, and the Chinese
extracts in ../shared/data when present) and prints one table: instance, model, solver,
status, objective, gap, wall seconds, ratio to the faster.

    python scripts/solver_choice.py [--time-limit 60]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from siting.access import build_instance
from siting.cli import sample_osm
from siting.models.coverage import MaximalCovering, SetCovering

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmark import real_inputs  # noqa: E402  (same instance builder as the benchmark)

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
EXTRACTS = {
    "helsinki": sample_osm(),
    "nanjing": SHARED / "nanjing_xinjiekou_osm" / "nanjing_xinjiekou.osm",
    "wangjing": SHARED / "beijing_chaoyang_wangjing_osm" / "beijing_chaoyang_wangjing.osm",
    "haidian": SHARED / "beijing_haidian_cau_osm" / "beijing_haidian_cau.osm",
}


def instance_for(osm: Path, reach: float):
    """The benchmark's instance of an extract (scripts/benchmark.py), sites without costs."""
    inp = real_inputs(osm, osm.stem)
    return build_instance(inp.access(), inp.weight, np.zeros(len(inp.site_node)), reach)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--time-limit", type=float, default=60)
    args = ap.parse_args()
    rows = []
    for name, osm in EXTRACTS.items():
        if not osm.exists():
            print(f"skip {name}: {osm} not found")
            continue
        for reach in (300.0, 600.0, 1000.0):
            inst = instance_for(osm, reach)
            models = [(f"max_cover p={p}", lambda p=p, inst=inst: MaximalCovering(inst, p=p))
                      for p in (3, 10, 25) if p <= inst.n_sites]
            models.append(("set_cover", lambda inst=inst: SetCovering(inst)))
            for label, make in models:
                times = {}
                for solver in ("cbc", "highs"):
                    t0 = time.perf_counter()
                    sol = make().solve(solver, time_limit=args.time_limit)
                    times[solver] = time.perf_counter() - t0
                    rows.append([f"{name} {inst.n_demand}x{inst.n_sites} {reach:.0f}m", label,
                                 solver, sol.status, sol.objective, sol.mip_gap, times[solver]])
                best = min(times.values())
                for r in rows[-2:]:
                    r.append(r[6] / best)
    head = ["instance", "model", "solver", "status", "objective", "gap", "wall_s", "ratio"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]:.1f} | {r[5]:.4f} | {r[6]:.3f} | "
              f"{r[7]:.2f} |")
    for solver in ("cbc", "highs"):
        total = sum(r[6] for r in rows if r[2] == solver)
        print(f"total wall seconds {solver}: {total:.2f}")


if __name__ == "__main__":
    main()
