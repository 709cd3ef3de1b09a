"""Read OpenStreetMap extracts (.osm XML, .osm.pbf, .osm.bz2) with pyosmium.

One pass gives the walkable ways (osmnx ``network_type="walk"`` semantics), building
polygons and land-use polygons, all in WGS84. Both XML and PBF go through the same
reader, so clipped extracts behave alike: way nodes missing from the file split the
way instead of failing, and multipolygons with clipped members are skipped and counted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import osmium
import shapely
from shapely.geometry import box

from siting.errors import SitingError

OSM_SUFFIXES = (".osm", ".osm.pbf", ".pbf", ".osm.bz2", ".osm.gz", ".xml", ".o5m")

# osmnx 2.x ``_get_network_filter("walk")`` as (tag, unanchored regex) exclusions,
# evaluated the way Overpass evaluates ``["tag"!~"regex"]``.
_WALK_EXCLUDE = {
    "area": "yes",
    "access": "private",
    "highway": "abandoned|bus_guideway|construction|cycleway|motor|no|planned|"
    "platform|proposed|raceway|razed|rest_area|services",
    "foot": "no",
    "service": "private",
    "sidewalk": "separate",
    "sidewalk:both": "separate",
    "sidewalk:left": "separate",
    "sidewalk:right": "separate",
}
_WALK_EXCLUDE_RE = {k: re.compile(v) for k, v in _WALK_EXCLUDE.items()}

# Tags kept on buildings and land use; everything the demand and sites stages read.
BUILDING_TAGS = (
    "building", "building:levels", "height", "name", "name:en", "name:zh", "amenity",
    "shop", "office", "craft", "industrial", "landuse", "disused", "abandoned",
    "disused:amenity", "disused:shop", "social_facility", "healthcare", "leisure",
    "addr:street", "addr:housenumber", "start_date",
)
_WAY_TAGS = ("highway", "name", "footway", "wheelchair")
# a header box more than this many times the data's extent is not the study area
HEADER_SLACK = 100.0


@dataclass
class OSMExtract:
    """What one OSM file holds for siting, in WGS84 (EPSG:4326).

    Attributes
    ----------
    path
        The file read.
    way_nodes
        Node ids of each walkable way run, as an int64 array per run.
    way_tags
        Highway tags per run (``highway``, ``name`` …), aligned with ``way_nodes``.
    way_ids
        OSM way id per run.
    node_xy
        ``{node id: (lon, lat)}`` for every node used by a walkable way.
    buildings, landuse
        Polygons with their tags (columns from ``BUILDING_TAGS``), index ``osm_id``
        (``w123`` for ways, ``r456`` for relations).
    entrances
        Points of nodes tagged ``entrance=*`` (column ``entrance``), index ``n<id>``.
    bounds
        ``(west, south, east, north)`` from the file header, or None.
    n_ways_total, n_broken_areas
        Counts for the report: all ways read, areas that could not be assembled.
    """

    path: Path
    way_nodes: list[np.ndarray] = field(default_factory=list)
    way_tags: list[dict] = field(default_factory=list)
    way_ids: list[int] = field(default_factory=list)
    node_xy: dict[int, tuple[float, float]] = field(default_factory=dict)
    buildings: gpd.GeoDataFrame | None = None
    landuse: gpd.GeoDataFrame | None = None
    entrances: gpd.GeoDataFrame | None = None
    bounds: tuple[float, float, float, float] | None = None
    n_ways_total: int = 0
    n_broken_areas: int = 0

    def study_area(self):
        """Default study area: the header bounds, else the buildings' extent, else the ways'.

        Raw extracts often carry relation members far outside the area that was asked
        for; the building extent is a better default than the node extent.
        """
        data = self.data_extent()
        if self.bounds is not None:
            header = box(*self.bounds)
            # a whole-world (or continent) header, as some tools write, is no study area:
            # use the data where it is far smaller
            if data is None or header.area <= HEADER_SLACK * max(data.area, 1e-6):
                return header
            import warnings

            warnings.warn(
                f"{self.path.name}: the <bounds> header {tuple(round(v, 4) for v in self.bounds)} "
                f"is far larger than the data; the study area is the data's extent "
                f"{tuple(round(v, 4) for v in data.bounds)} (give --bbox to choose another)",
                UserWarning, stacklevel=2)
            return data
        if data is not None:
            return data
        raise SitingError(f"{self.path}: the extract holds no ways and no buildings")

    def data_extent(self):
        """Box around the buildings, else around the walkable ways' nodes (None: empty)."""
        if self.buildings is not None and len(self.buildings):
            return box(*self.buildings.total_bounds)
        if self.node_xy:
            xy = np.array(list(self.node_xy.values()))
            return box(*xy.min(axis=0), *xy.max(axis=0))
        return None


def is_walkable(tags) -> bool:
    """Whether a way with these tags is in osmnx's ``network_type="walk"`` network."""
    if "highway" not in tags:
        return False
    for key, pattern in _WALK_EXCLUDE_RE.items():
        value = tags.get(key)
        if value is not None and pattern.search(value):
            return False
    return True


def is_osm_file(path: Path) -> bool:
    """Whether the file name looks like an OSM extract pyosmium can read."""
    name = path.name.lower()
    return any(name.endswith(s) for s in OSM_SUFFIXES)


def read_osm(path: str | Path) -> OSMExtract:
    """Read walkable ways, buildings and land use from an OSM file.

    Parameters
    ----------
    path
        ``.osm`` XML, ``.osm.pbf`` or compressed XML.

    Returns
    -------
    OSMExtract
        Walkable way runs with node coordinates, building and land-use polygons.

    Raises
    ------
    SitingError
        When the file is missing or is not an OSM file pyosmium can parse.
    """
    path = Path(path)
    if not path.exists():
        raise SitingError(f"OSM file not found: {path}")
    if path.is_dir():
        raise SitingError(f"{path} is a folder; give an .osm or .osm.pbf file")
    _check_looks_like_osm(path)
    ext = OSMExtract(path=path)
    try:
        ext.bounds = _header_bounds(path)
        buildings, landuse, entrances = [], [], []
        wkb = osmium.geom.WKBFactory()
        processor = osmium.FileProcessor(str(path)).with_locations().with_areas()
        for obj in processor:
            if obj.is_node():
                if "entrance" in obj.tags and obj.location.valid():
                    entrances.append({"osm_id": f"n{obj.id}", "entrance": obj.tags["entrance"],
                                      "geometry": shapely.Point(obj.location.lon,
                                                                obj.location.lat)})
            elif obj.is_way():
                ext.n_ways_total += 1
                if is_walkable(obj.tags):
                    _add_way(ext, obj)
            elif obj.is_area():
                tags = obj.tags
                is_building = tags.get("building", "no") != "no"
                if not is_building and "landuse" not in tags:
                    continue
                try:
                    geom = shapely.from_wkb(wkb.create_multipolygon(obj))
                except RuntimeError:  # clipped multipolygon members
                    ext.n_broken_areas += 1
                    continue
                osm_id = ("w" if obj.from_way() else "r") + str(obj.orig_id())
                row = {k: tags.get(k) for k in BUILDING_TAGS}
                row["osm_id"], row["geometry"] = osm_id, geom
                (buildings if is_building else landuse).append(row)
    except osmium.InvalidLocationError as exc:
        raise SitingError(
            f"--osm {path}: a node has an invalid location ({exc}); latitudes must lie in "
            f"[-90, 90] and longitudes in [-180, 180] degrees. Fix or drop that node."
        ) from exc
    except (RuntimeError, ValueError) as exc:  # libosmium io/xml/pbf errors
        raise SitingError(
            f"--osm {path}: not a readable OSM file ({exc}). Give OSM XML (.osm) or PBF (.osm.pbf)."
        ) from exc
    ext.buildings = _frame(buildings)
    ext.landuse = _frame(landuse)
    ext.entrances = gpd.GeoDataFrame(entrances or None, columns=["osm_id", "entrance", "geometry"],
                                     geometry="geometry", crs="EPSG:4326").set_index("osm_id")
    return ext


def _check_looks_like_osm(path: Path) -> None:
    name = path.name.lower()
    if name.endswith((".pbf", ".bz2", ".gz", ".o5m")):
        return
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if b"<osm" not in head:
        raise SitingError(
            f"{path}: not an OSM XML file (no <osm> element in its first 4 KB). "
            "Give an OSM extract (.osm or .osm.pbf), e.g. from Geofabrik or Overpass."
        )


def _header_bounds(path: Path):
    reader = osmium.io.Reader(str(path), osmium.osm.osm_entity_bits.NOTHING)
    try:
        b = reader.header().box()
        if not b.valid():
            return None
        return (b.bottom_left.lon, b.bottom_left.lat, b.top_right.lon, b.top_right.lat)
    finally:
        reader.close()


def _add_way(ext: OSMExtract, way) -> None:
    """Add a walkable way, split into runs of nodes whose locations are in the file."""
    tags = {k: way.tags.get(k) for k in _WAY_TAGS}
    run: list[int] = []
    for n in way.nodes:
        if n.location.valid():
            ext.node_xy[n.ref] = (n.location.lon, n.location.lat)
            run.append(n.ref)
            continue
        _flush_run(ext, run, tags, way.id)
        run = []
    _flush_run(ext, run, tags, way.id)


def _flush_run(ext: OSMExtract, run: list[int], tags: dict, way_id: int) -> None:
    if len(run) >= 2:
        ext.way_nodes.append(np.asarray(run, dtype=np.int64))
        ext.way_tags.append(tags)
        ext.way_ids.append(way_id)


def _frame(rows: list[dict]) -> gpd.GeoDataFrame:
    columns = ["osm_id", *BUILDING_TAGS, "geometry"]
    if not rows:
        return gpd.GeoDataFrame(columns=columns, geometry="geometry", crs="EPSG:4326")
    gdf = gpd.GeoDataFrame(rows, columns=columns, geometry="geometry", crs="EPSG:4326")
    return gdf.set_index("osm_id")
