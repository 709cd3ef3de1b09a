"""Benchmark: the embedded model on the Nanjing Xinjiekou extract (default policy).

Prints one row per (budget, solver, time limit): status, objective, bound, gap, cost,
sites, complexes, communities meeting the 30 m²/100 households standard, people served,
run time. ``--tiles K`` solves K disjoint copies of the district as one plan (K × 31
planning cells; give K × the budget) to see how the model scales towards a pilot city's
≈ 100 communities. Usage::

    PYTHONPATH=. python scripts/embedded_nanjing.py [--budgets 1e7,2e7] [--limits 10,60]
        [--solvers cbc,highs] [--bbox W,S,E,N] [--tiles 1]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from siting.access import build_instance
from siting.config.policy import load_policy
from siting.config.scenario import make_scenario
from siting.models.embedded import EmbeddedFacilities
from siting.models.instance import Instance
from siting.pipeline import run

OSM = Path(__file__).resolve().parents[2] / "shared/data/nanjing_xinjiekou_osm/nanjing_xinjiekou.osm"


def tiled(inst: Instance, demand: pd.DataFrame, sites: pd.DataFrame, k: int):
    """``k`` disjoint copies of an instance and its tables (communities kept apart)."""
    if k == 1:
        return inst, demand, sites
    nd, ns = inst.n_demand, inst.n_sites
    big = Instance(np.tile(inst.weight, k), np.tile(inst.cost, k),
                   np.concatenate([inst.pair_demand + t * nd for t in range(k)]),
                   np.concatenate([inst.pair_site + t * ns for t in range(k)]),
                   np.tile(inst.pair_dist, k), inst.threshold_m)
    d = pd.concat([demand.assign(community_id=demand["community_id"].astype(str) + f"#{t}")
                   for t in range(k)], ignore_index=True)
    st = pd.concat([sites] * k, ignore_index=True)
    st["site_id"] = np.arange(len(st))
    return big, d, st


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--osm", default=str(OSM))
    ap.add_argument("--budgets", default="1e7,2e7")
    ap.add_argument("--limits", default="10,60")
    ap.add_argument("--solvers", default="cbc,highs")
    ap.add_argument("--bbox", default=None)
    ap.add_argument("--tiles", type=int, default=1)
    args = ap.parse_args()
    bbox = tuple(float(v) for v in args.bbox.split(",")) if args.bbox else None
    r = run(make_scenario(osm=args.osm, model="max_cover", max_sites=1, bbox=bbox))
    pol = load_policy()
    inst = build_instance(r.access, r.demand["population"].to_numpy(),
                          r.sites["cost"].to_numpy(), pol.max_threshold_m)
    inst, demand, sites = tiled(inst, r.demand, r.sites, args.tiles)
    print(f"{inst.n_demand} demand points, {inst.n_sites} candidates, {len(inst.pair_dist)} "
          f"pairs within {inst.threshold_m:.0f} m, {inst.weight.sum():,.0f} people")
    rows = []
    for budget in (float(b) for b in args.budgets.split(",")):
        for solver in args.solvers.split(","):
            for limit in (float(t) for t in args.limits.split(",")):
                m = EmbeddedFacilities(inst, pol, demand, sites, budget=budget)
                s = m.solve(solver, time_limit=limit, mip_gap=0.01, marginal=False).summary
                rows.append({
                    "budget": budget, "solver": solver, "limit_s": limit, "status": s["status"],
                    "objective": round(s["objective"]), "bound": s["best_bound"],
                    "gap": s["mip_gap"], "cost": round(s["cost_total"]),
                    "sites": s["n_sites_new"], "complexes": s["n_complexes"],
                    "standard_met": f"{s['communities_meeting_standard']}/{s['communities_total']}",
                    "served": round(sum(s["served_by_service"].values())),
                    "greedy": any("greedy" in n for n in s["notes"]),
                    "run_s": round(s["runtime_s"], 1)})
                print(pd.DataFrame(rows[-1:]).to_string(index=False, header=len(rows) == 1))
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
