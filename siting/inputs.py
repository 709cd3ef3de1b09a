"""Check a scenario's input files before any heavy work (network, access, solver).

:func:`validate_inputs` is the second gate of a run (the first is the pydantic
:class:`~siting.config.scenario.Scenario`): every path must be an existing, readable, non-empty
regular file, and the small inputs (policy, inventory, existing facilities, exclusion
and community layers, population tables and layers) are opened and checked now, so a
bad row fails in a second instead of after the walking network is built. Every error
is a :class:`~siting.errors.SitingError` whose message starts with the flag (and
scenario key) of the input, then names the file, row and column.
"""

from __future__ import annotations

import os
from pathlib import Path

from siting.config.scenario import Scenario, flag_name
from siting.errors import SitingError

# vector "files" that are folders (an Esri file geodatabase)
_FOLDER_FORMATS = (".gdb",)
_VECTOR_FIELDS = ("buildings", "exclude", "communities", "population")
_KIND = {"osm": "OSM", "graphml": "GraphML", "buildings": "buildings", "inventory": "inventory",
         "existing": "existing-facilities", "exclude": "exclusion", "population": "population",
         "communities": "communities", "policy_file": "policy", "group_rasters": "group raster"}
_WHAT = {
    "osm": "an .osm / .osm.pbf extract", "graphml": "a .graphml walking graph",
    "buildings": "a vector file of building polygons", "inventory": "a .csv/.xlsx/.gpkg inventory",
    "existing": "a .csv/.xlsx/.gpkg file of existing facilities",
    "exclude": "a vector file of exclusion polygons (.gpkg, .geojson, .shp)",
    "population": "a population raster, vector layer or table",
    "communities": "a vector file of community polygons",
    "policy_file": "a policy .toml file", "group_rasters": "a population raster (GeoTIFF)",
}


def input_paths(sc: Scenario) -> list[tuple[str, Path]]:
    """``(field, path)`` of every input file a scenario names (outputs excluded).

    Parameters
    ----------
    sc
        The scenario.
    """
    out = [(f, Path(getattr(sc, f))) for f in ("osm", "graphml", "buildings", "inventory",
                                               "existing", "exclude", "population",
                                               "communities", "policy_file", "needs",
                                               "funding", "phases", "projects")
           if getattr(sc, f) is not None]
    for paths in (sc.group_rasters or {}).values():
        for p in paths if isinstance(paths, list) else [paths]:
            out.append(("group_rasters", Path(p)))
    return out


def check_file(field: str, path: Path) -> None:
    """An existing, readable, non-empty regular file (or a .gdb folder for vector layers).

    Parameters
    ----------
    field
        The scenario field of the file (its flag is named in errors).
    path
        The file.
    """
    flag = flag_name(field)
    what = _WHAT.get(field, "a file")
    if not path.exists():
        raise SitingError(f"{flag}: {_KIND.get(field, field)} file not found: {path}")
    if path.is_dir():
        if field in _VECTOR_FIELDS and path.suffix.lower() in _FOLDER_FORMATS:
            return
        raise SitingError(f"{flag}: {path} is a folder, not a file; give {what}")
    if not path.is_file():
        raise SitingError(f"{flag}: {path} is not a regular file; give {what}")
    if not os.access(path, os.R_OK):
        raise SitingError(f"{flag}: {path} cannot be read (permission denied)")
    if path.stat().st_size == 0:
        raise SitingError(f"{flag}: {path} is empty (0 bytes); give {what}")


def validate_inputs(sc: Scenario) -> None:
    """Check every input of ``sc`` cheaply, before the network is built.

    Parameters
    ----------
    sc
        The scenario.


    Raises
    ------
    SitingError
        The first problem found, naming the flag, file, row and column.
    """
    for field, path in input_paths(sc):
        check_file(field, path)
    if sc.embedded:
        from siting.config.policy import load_policy

        _named("policy_file", lambda: load_policy(sc.policy_file, sc.policy))
    area = None
    if sc.bbox is not None:  # rows outside a given study area are found now too
        from shapely.geometry import box

        area = box(*sc.bbox)
    if sc.inventory is not None or sc.existing is not None:
        from siting.config.site_policy import site_policy

        # the [sites] table of the run's policy (its service vocabulary)
        sites = named("policy_file", site_policy, sc.policy_file, sc.policy)
    if sc.inventory is not None:
        from siting.inventory import read_inventory

        _named("inventory", lambda: read_inventory(sc.inventory, sc.inventory_crs,
                                                   study_area=area, policy=sites))
    if sc.existing is not None:
        from siting.inventory import read_existing

        _named("existing", lambda: read_existing(sc.existing, sc.existing_crs, policy=sites))
    if sc.exclude is not None:
        from siting.sites import read_exclusions

        _named("exclude", lambda: read_exclusions(sc.exclude))
    if sc.communities is not None:
        _named("communities", lambda: _check_communities(sc))
    if sc.population is not None:
        _named("population", lambda: _check_population(sc))
    for field, path in input_paths(sc):
        if field == "group_rasters":
            _named(field, lambda path=path: _check_raster(path, None))
        elif field == "buildings":
            _named(field, lambda path=path: _check_layer_header(path, "buildings"))


def _named(field: str, check) -> None:
    """Run ``check``; its SitingError is prefixed with the flag when it does not name it.
    Warnings are left to the run itself (it reads the file again), so none is said twice."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        named(field, check)


def named(field: str, step, *args, **kwargs):
    """``step(*args, **kwargs)``; a SitingError it raises starts with the field's flag.

    Parameters
    ----------
    field
        The scenario field whose flag prefixes the message.
    step
        The callable to run.
    *args
    **kwargs
        Passed to ``step``.
    """
    try:
        return step(*args, **kwargs)
    except SitingError as exc:
        flag = flag_name(field).split(" ")[0]
        msg = str(exc)
        raise SitingError(msg if msg.startswith(flag) else f"{flag}: {msg}") from None


def _check_communities(sc: Scenario) -> None:
    from siting.io.vectors import read_vector

    layer = read_vector(sc.communities, "community")
    kinds = sorted(set(layer.geom_type.dropna()))
    if not layer.geom_type.isin(["Polygon", "MultiPolygon"]).all():
        raise SitingError(f"{sc.communities}: community boundaries must be polygons, found "
                          f"{', '.join(map(str, kinds)) or 'no geometry'}")


def _check_raster(path: Path, crs: str | None) -> None:
    import rasterio

    try:
        with rasterio.open(path) as ds:
            if ds.crs is None and crs is None:
                raise SitingError(f"{path}: the raster has no CRS; save it with one "
                                  f"(e.g. EPSG:4326)")
    except rasterio.errors.RasterioError as exc:
        raise SitingError(f"{path}: cannot read the raster ({exc})") from exc


def _check_layer_header(path: Path, what: str) -> None:
    """A vector layer opens and has a CRS and geometry (its header only; no rows read)."""
    import pyogrio

    try:
        info = pyogrio.read_info(path)
    except Exception as exc:  # pyogrio raises DataSourceError and friends
        raise SitingError(f"{path}: cannot read {what} ({exc})") from exc
    if info.get("geometry_type") in (None, "Unknown") and not info.get("crs"):
        raise SitingError(f"{path}: the {what} layer has no geometry (a table without "
                          f"shapes?); give a vector file such as .gpkg, .geojson or .shp")
    if not info.get("crs"):
        raise SitingError(f"{path}: the {what} layer has no CRS; save it with one "
                          f"(e.g. EPSG:4326)")


def _check_population(sc: Scenario) -> None:
    """Open the population file the way :func:`siting.demand.load_population` will."""
    from siting.demand import DEFAULT_HOUSEHOLD_SIZE, demand_from_table
    from siting.io.tables import TABLE_SUFFIXES, read_table
    from siting.io.vectors import read_vector
    from siting.population import RASTER_SUFFIXES, population_values

    if sc.population is None:
        return
    path = Path(sc.population)
    suffix = path.suffix.lower()
    if suffix in RASTER_SUFFIXES:
        try:
            _check_raster(path, sc.population_crs)
        except SitingError as exc:
            raise SitingError(f"{exc}" + ("; or give --population-crs" if "no CRS" in str(exc)
                                          else "")) from None
        return
    if suffix in TABLE_SUFFIXES:
        table = read_table(path, "population table")
        if table.empty:
            raise SitingError(f"{path}: the table has no rows")
        column = sc.population_column
        demand_from_table(path, crs=sc.population_crs or "wgs84",
                          population=column if column != "population" else None,
                          household_size=sc.household_size or DEFAULT_HOUSEHOLD_SIZE)
        return
    layer = read_vector(path, "population", crs=sc.population_crs, crs_flag="--population-crs")
    population_values(layer, sc.population_column, str(path))
