"""Benchmark: the Nanjing programme example (data/nanjing: three years, three sources, a
project) solved with several time limits and solvers.

Prints one row per (solver, time limit): status, people-years served (the objective),
bound, gap, sites opened per year, money spent, run time of the solve alone (each row
builds the model afresh first). ``--bbox`` widens or narrows the study area; ``--only``
keeps some of the tables (``phases``, ``funding``, ``projects``) to see what each costs.
``--greedy-start`` adds rows of HiGHS started from the greedy plan (a programme's solve
gives it no start), side by side. Usage::

    PYTHONPATH=. python scripts/programme_nanjing.py [--limits 8,20,60] [--solvers highs,cbc]
        [--bbox W,S,E,N] [--only phases,funding,projects] [--greedy-start]
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import pandas as pd

import siting.models.embedded.solve as embedded_solve
import siting.pipeline as pipeline
from siting.config.scenario import make_scenario
from siting.models.embedded import model as embedded_model

SCENARIO = Path(__file__).resolve().parents[1] / "data" / "nanjing" / "scenario.toml"


def build(overrides: dict):
    """The example's embedded model, built once (the run stops before it solves)."""
    built = {}
    original = embedded_model.EmbeddedFacilities.solve

    def keep(self, *args, **kwargs):
        built["model"] = self
        raise _Built

    embedded_model.EmbeddedFacilities.solve = keep  # type: ignore[method-assign]
    try:
        pipeline.run(make_scenario(SCENARIO, **overrides))
    except _Built:
        pass
    finally:
        embedded_model.EmbeddedFacilities.solve = original  # type: ignore[method-assign]
    return built["model"]


class _Built(Exception):
    """Raised to stop a run once its model is built."""


def main() -> None:
    """Parse the arguments, solve, print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limits", default="8,20,60")
    ap.add_argument("--solvers", default="highs")
    ap.add_argument("--bbox", default=None)
    ap.add_argument("--only", default="phases,funding,projects")
    ap.add_argument("--greedy-start", action="store_true",
                    help="also HiGHS started from the greedy plan")
    a = ap.parse_args()
    keep = set(a.only.split(","))
    sc = make_scenario(SCENARIO)
    over: dict = {k: getattr(sc, k) if k in keep else None
                  for k in ("phases", "funding", "projects")}
    if a.bbox:
        over["bbox"] = tuple(float(v) for v in a.bbox.split(","))
    rows = []
    runs = [(s, False) for s in a.solvers.split(",")]
    runs += [("highs", True)] if a.greedy_start else []
    for solver, start in runs:
        for limit in (float(v) for v in a.limits.split(",")):
            model = build(over)  # a fresh model per solve (a solve leaves its greedy share)
            t0 = time.perf_counter()
            embedded_solve._START_PROGRAMMES = start
            sol = model.solve(solver, time_limit=limit, marginal=False)
            s = sol.summary
            summ = sol.sheets.get("annual_summary", pd.DataFrame())
            rows.append({
                "solver": solver + (" (greedy start)" if start else ""), "limit_s": limit, "status": s["status"],
                "people_years": _r(s["objective"]), "bound": _r(s["best_bound"]),
                "gap_%": _r(100 * s["mip_gap"], 1),
                "opened_per_year": "/".join(str(int(v)) for v in summ.get("sites_opened", [])),
                "spent_cny": round(float(summ["spent_total"].sum())) if len(summ) else 0,
                "candidates": len(model.data.new_sites),
                "run_s": round(time.perf_counter() - t0, 1)})
            print(pd.DataFrame(rows[-1:]).to_string(index=False, header=len(rows) == 1),
                  flush=True)


def _r(x, digits: int = 0):
    """A number rounded for the table (NaN, an unknown bound, kept)."""
    return round(x, digits) if math.isfinite(x) else x


if __name__ == "__main__":
    main()
