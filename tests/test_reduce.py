"""Model reductions keep the optimum: reduced vs unreduced models on random and real instances."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from siting import Instance, MaximalCovering, SetCovering
from siting.models.reduce import reduce_coverage


def clustered_instance(seed: int, n: int = 60, m: int = 25, costs: bool = False) -> Instance:
    """Demand snapped to few 'nodes' (many identical rows) and nested site reaches."""
    rng = np.random.default_rng(seed)
    nodes = rng.uniform(0, 1, (12, 2))
    d = nodes[rng.integers(0, 12, n)] + rng.normal(0, 0.01, (n, 2))
    s = rng.uniform(0, 1, (m, 2))
    dist = np.linalg.norm(d[:, None] - s[None], axis=2)
    i, j = np.nonzero(dist <= 0.3)
    cost = rng.integers(1, 6, m).astype(float) if costs else np.zeros(m)
    weight = rng.integers(0, 40, n)
    return Instance(weight, cost, i, j, dist[i, j], 0.3)


def test_reductions_shrink_and_map_back():
    inst = clustered_instance(0)
    r = reduce_coverage(inst.coverage(), inst.weight)
    assert r.shape[0] < inst.n_demand and r.shape[1] < inst.n_sites
    # every kept point maps to a row with exactly its covering-site set (among kept sites)
    cov = inst.coverage().tocsr()
    for i in np.flatnonzero(r.row >= 0):
        kept = np.intersect1d(cov.indices[cov.indptr[i]:cov.indptr[i + 1]], r.sites)
        row = r.cov.indices[r.cov.indptr[r.row[i]]:r.cov.indptr[r.row[i] + 1]]
        assert np.array_equal(np.sort(r.sites[row]), kept)
    # weights are conserved over kept points; dropped points are uncoverable or weightless
    assert r.weight.sum() == pytest.approx(inst.weight[r.row >= 0].sum())
    dropped = r.row < 0
    assert np.all((inst.weight[dropped] == 0) | ~inst.coverable()[dropped])
    assert [s["step"] for s in r.steps][0] == "input"


def test_identical_sites_keep_one_and_costlier_subset_is_kept_under_budget():
    # sites 0 and 1 cover the same rows; site 2 covers a subset of 0 and 3 but is cheapest
    cov = sp.csr_array(np.array([[1, 1, 1, 1], [1, 1, 0, 1], [0, 0, 0, 1]], bool))
    w = np.ones(3)
    r = reduce_coverage(cov, w, np.array([1.0, 1.0, 0.5, 5.0]), cost_matters=True)
    assert r.sites.tolist() == [0, 2, 3]
    r = reduce_coverage(cov, w)  # count constraint only: costs do not matter
    assert r.sites.tolist() == [3]


@pytest.mark.parametrize("solver", ["cbc", "highs"])
@pytest.mark.parametrize("seed", range(5))
def test_reduced_models_match_unreduced(seed, solver):
    inst = clustered_instance(seed, costs=True)
    for p in (1, 3, 5):
        a = MaximalCovering(inst, p=p).solve(solver)
        b = MaximalCovering(inst, p=p, reduce=False).solve(solver, warm_start=False)
        assert a.objective == pytest.approx(b.objective)
        assert a.covered_population == pytest.approx(a.objective)
    for budget in (4, 9):
        a = MaximalCovering(inst, budget=budget, fixed=[seed]).solve(solver)
        b = MaximalCovering(inst, budget=budget, fixed=[seed], reduce=False).solve(solver)
        assert a.objective == pytest.approx(b.objective)
        assert inst.cost[np.setdiff1d(a.chosen, [seed])].sum() <= budget + 1e-9
    a = SetCovering(inst).solve(solver)
    b = SetCovering(inst, reduce=False).solve(solver, warm_start=False)
    assert a.objective == pytest.approx(b.objective)
    need = inst.coverable() & (inst.weight > 0)
    assert np.all(a.covered[need])


@pytest.mark.slow
def test_reduced_models_match_unreduced_on_real_extract(helsinki_osm):
    from siting.config.scenario import make_scenario
    from siting.pipeline import run

    inst = run(make_scenario(osm=helsinki_osm, max_sites=3)).instance
    m = MaximalCovering(inst, p=3)
    assert m.reduced.shape[1] < inst.n_sites
    assert m.solve("highs").objective == pytest.approx(
        MaximalCovering(inst, p=3, reduce=False).solve("highs").objective)
    assert SetCovering(inst).solve().objective == pytest.approx(
        SetCovering(inst, reduce=False).solve().objective)


def test_nanjing_demand_aggregated_for_the_optimiser_keeps_group_totals(nanjing_osm, tmp_path):
    """Points snapped together (identical covering-site sets) become one model row; every
    demand group's total is kept per row, and the outputs still hold every fine point."""
    import geopandas as gpd

    from siting.config.scenario import make_scenario
    from siting.demand import DEMAND_GROUPS
    from siting.pipeline import run

    result = run(make_scenario(osm=nanjing_osm, max_sites=5))
    inst, demand = result.instance, result.demand
    red = MaximalCovering(inst, p=5).reduced
    kept = red.row >= 0
    assert red.shape[0] < kept.sum() < inst.n_demand  # fewer rows than coverable points
    # points share a row only if the same kept (non-dominated) sites reach them
    cov = inst.coverage()[:, red.sites].tocsr()
    for r in np.unique(red.row[kept])[:200]:
        members = np.flatnonzero(red.row == r)
        sets = {tuple(cov.indices[cov.indptr[i]:cov.indptr[i + 1]]) for i in members}
        assert len(sets) == 1
    for col in ("population", *DEMAND_GROUPS, "households"):
        per_row = np.bincount(red.row[kept], weights=demand[col].to_numpy()[kept],
                              minlength=red.shape[0])
        assert per_row.sum() == pytest.approx(demand.loc[kept, col].sum(), rel=1e-12)
    assert np.allclose(red.weight, np.bincount(red.row[kept], weights=inst.weight[kept]))
    out = result.write(tmp_path / "nj")
    assert len(gpd.read_file(out / "demand.gpkg")) == inst.n_demand  # fine points reported
