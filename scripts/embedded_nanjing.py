"""Benchmark: the embedded model on the Nanjing Xinjiekou extract (default policy).

Prints one row per (budget, solver, time limit): status, objective, bound, gap, cost,
sites, complexes, communities meeting the 30 m²/100 households standard, people served,
run time. Usage::

    PYTHONPATH=. python scripts/embedded_nanjing.py [--budgets 1e7,2e7] [--limits 10,60]
        [--solvers cbc,highs] [--bbox W,S,E,N]

City scale (``--tiles K1,K2,…``): K copies of the district planned as one city under
K × the budget (``--budgets`` per copy), each configuration in its own process so its
peak memory (``resource.getrusage``) is its own. ``--decompose`` solves by the
decomposition (:mod:`siting.models.embedded.decompose`), ``--whole-up-to N`` also
solves the whole model side by side for K ≤ N, ``--connected`` joins neighbouring
copies by streets across their seams (:func:`siting.models.embedded.tiles.joined`;
decomposed, they are solved as districts at their seams, :mod:`siting.models.embedded.seams`),
``--vary`` gives copy t site costs × (0.8 + 0.4 t/(K-1)) so the districts differ,
``--workers N`` runs the group solves in N processes::

    PYTHONPATH=. python scripts/embedded_nanjing.py --tiles 1,8,32 --decompose
        --budgets 2e7 --limits 120 --whole-up-to 8 [--connected] [--vary]
"""

from __future__ import annotations

import argparse
import json
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pandas as pd

from siting.access import build_instance
from siting.config.policy import load_policy
from siting.config.scenario import make_scenario
from siting.models.embedded import EmbeddedFacilities
from siting.models.embedded.tiles import joined, tiled
from siting.pipeline import run

OSM = Path(__file__).resolve().parents[2] / "shared/data/nanjing_xinjiekou_osm/nanjing_xinjiekou.osm"


def _district(osm: str, bbox):
    """The district's instance and tables (the cheapest pipeline run gives them)."""
    r = run(make_scenario(osm=osm, model="max_cover", max_sites=1, bbox=bbox))
    pol = load_policy()
    inst = build_instance(r.access, r.demand["population"].to_numpy(),
                          r.sites["cost"].to_numpy(), pol.max_threshold_m)
    return inst, r.demand, r.sites


def _one(cfg: dict) -> dict:
    """Solve one city configuration (in a fresh process); its table row."""
    inst, demand, sites = pickle.loads(Path(cfg["district"]).read_bytes())
    k = cfg["tiles"]
    factors = list(0.8 + 0.4 * np.arange(k) / max(k - 1, 1)) if cfg["vary"] else None
    make = joined if cfg["connected"] else tiled
    inst, demand, sites = make(inst, demand, sites, k, cost_factors=factors)
    pol = load_policy()
    t0 = time.perf_counter()
    m = EmbeddedFacilities(inst, pol, demand, sites, budget=cfg["budget"] * k)
    built = time.perf_counter() - t0
    trace: list = []
    workers = cfg.get("workers", 1)
    with ProcessPoolExecutor(workers) if workers > 1 else nullcontext() as pool:
        sol = m.solve(cfg["solver"], time_limit=cfg["limit"], mip_gap=cfg["gap"],
                      marginal=False, decompose=cfg["decompose"],
                      mapper=None if pool is None else pool.map, workers=workers,
                      progress=lambda t, o, b: trace.append((round(t, 1), o, b)))
    s = sol.summary
    dec = next((n for n in s["notes"] if n.startswith("decomposed into")), "")
    seam = next((n for n in s["notes"] if "rows across their seams" in n), "")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if workers > 1:  # and each worker's peak (the largest), on top
        peak_mb += workers * resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"copies": k, "cells": s["communities_total"], "candidates": inst.n_sites,
            "mode": (f"decomposed: {dec.split()[2]} groups, {dec.split('(')[1].split(';')[0]}"
                     if dec else "at seams: " + seam.split("cut into ")[1].split(";")[0]
                     if seam else "whole"),
            "status": s["status"], "objective": round(s["objective"], 1),
            "bound": round(s["best_bound"], 1), "gap_%": round(100 * s["mip_gap"], 3),
            "cost_M": round(s["cost_total"] / 1e6, 2), "build_s": round(built, 1),
            "wall_s": round(time.perf_counter() - t0, 1), "peak_MB": round(peak_mb),
            "gap_over_time": [(t, round(100 * (b - o) / max(abs(o), 1e-9), 2))
                              for t, o, b in trace][-6:]}


def _city(args) -> None:
    """The city-scale table: one process per configuration."""
    bbox = tuple(float(v) for v in args.bbox.split(",")) if args.bbox else None
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        district = Path(tmp) / "district.pkl"
        district.write_bytes(pickle.dumps(_district(args.osm, bbox)))
        for budget in (float(b) for b in args.budgets.split(",")):
            for limit in (float(t) for t in args.limits.split(",")):
                for k in (int(v) for v in args.tiles.split(",")):
                    modes = [True] if args.decompose else []
                    if not args.decompose or k <= args.whole_up_to:
                        modes.append(False)
                    for dec in modes:
                        cfg = {"district": str(district), "tiles": k, "budget": budget,
                               "limit": limit, "gap": args.gap, "solver": "highs",
                               "decompose": dec if dec else False,
                               "connected": args.connected, "vary": args.vary,
                               "workers": args.workers}
                        out = subprocess.run([sys.executable, __file__, "--one", json.dumps(cfg)],
                                             capture_output=True, text=True)
                        if out.returncode:
                            print(out.stderr[-2000:])
                            continue
                        row = json.loads(out.stdout.strip().splitlines()[-1])
                        row = {"budget_M_per_copy": budget / 1e6, "limit_s": limit, **row}
                        rows.append(row)
                        print(pd.DataFrame(rows[-1:]).drop(columns="gap_over_time").to_string(
                            index=False, header=len(rows) == 1), flush=True)
                        print("   gap % over time:", row["gap_over_time"], flush=True)
    print(pd.DataFrame(rows).drop(columns="gap_over_time").to_string(index=False))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--osm", default=str(OSM))
    ap.add_argument("--budgets", default="1e7,2e7")
    ap.add_argument("--limits", default="10,60")
    ap.add_argument("--solvers", default="cbc,highs")
    ap.add_argument("--bbox", default=None)
    ap.add_argument("--tiles", default=None, help="copies, comma-separated (city scale)")
    ap.add_argument("--decompose", action="store_true")
    ap.add_argument("--whole-up-to", type=int, default=0)
    ap.add_argument("--connected", action="store_true")
    ap.add_argument("--vary", action="store_true")
    ap.add_argument("--gap", type=float, default=0.005)
    ap.add_argument("--workers", type=int, default=1,
                    help="processes for the decomposition's group solves")
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(_one(json.loads(args.one))))
        return
    if args.tiles:
        _city(args)
        return
    bbox = tuple(float(v) for v in args.bbox.split(",")) if args.bbox else None
    inst, demand, sites = _district(args.osm, bbox)
    pol = load_policy()
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
