"""Scenario: every knob of one run, validated, from a TOML file and/or CLI flags."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from siting.coords import ACCEPTED_CRS
from siting.errors import SitingError
from siting.model import DEFAULT_SOLVER, SOLVERS


class Scenario(BaseModel):
    """One siting run.

    Inputs: exactly one of ``osm`` (an .osm/.osm.pbf file), ``graphml`` (a saved osmnx
    walking graph, with ``buildings``), or ``place`` (a place name, downloaded with
    osmnx when online). Walking reach is ``threshold_m`` if given, else
    ``walk_minutes × speed_m_per_min``.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    osm: Path | None = None
    graphml: Path | None = None
    buildings: Path | None = None
    place: str | None = None
    bbox: tuple[float, float, float, float] | None = Field(
        None, description="study area (west, south, east, north) in WGS84")
    out: Path = Path("siting-out")

    walk_minutes: float = Field(10.0, gt=0)
    speed_m_per_min: float = Field(60.0, gt=0, description="GB 50180: 5 min ≈ 300 m")
    threshold_m: float | None = None

    model: Literal["max_cover", "set_cover", "embedded"] = "max_cover"
    max_sites: int | None = Field(None, description="p: most new sites (max_cover)")
    budget: float | None = Field(None, ge=0, description="CNY (max_cover, with site costs)")
    cost_per_m2: float = Field(
        0.0, ge=0, description="flat one-off CNY per usable m² replacing the policy rates (0: policy)")
    solver: str = DEFAULT_SOLVER
    time_limit: float | None = Field(60.0, gt=0)
    mip_gap: float = Field(0.0, ge=0, lt=1)

    # embedded-facility model (siting.embedded); a policy_file or [policy] table selects it
    policy_file: Path | None = Field(None, description="policy TOML (default: the shipped cn_default)")
    policy: dict = Field(default_factory=dict, description="overrides deep-merged over the policy")
    standard: float | None = Field(None, gt=0, description="m² per 100 households (30 or 80)")
    standard_mode: Literal["hard", "penalty", "off"] | None = None
    objective: Literal["max_served", "min_cost", "min_distance"] = "max_served"
    capacity: bool = Field(True, description="capacities from floor area (False: pure coverage)")
    min_coverage: float | None = Field(None, ge=0, le=1)
    marginal: bool = Field(True, description="marginal value of each chosen site")

    m2_per_person: float = Field(40.0, gt=0)
    residential_levels: float = Field(6.0, gt=0, description="storeys where unknown")
    candidate_levels: float | None = Field(
        None, gt=0, description="storeys where unknown (default: per class, policy [sites])")
    population_total: float | None = Field(None, ge=0)
    min_floor_area_m2: float | None = Field(None, ge=0, description="default: policy [sites]")
    plan_year: int | None = Field(
        None, ge=1900, le=2200,
        description="inventory rows available only after this year are excluded")
    usable_ratio: float | None = Field(
        None, gt=0, le=1, description="default: per class, policy [sites]")

    # candidate sites beyond OSM (see siting.sites)
    inventory: Path | None = Field(None, description="site inventory: .csv, .xlsx or .gpkg")
    inventory_crs: str = Field("wgs84", description="wgs84, gcj02 (Amap/Tencent) or bd09 (Baidu)")
    existing: Path | None = Field(None, description="existing facilities: inventory or POI file")
    existing_crs: str = "wgs84"
    exclude: Path | None = Field(None, description="exclusion polygons (any vector file)")

    # population and demand groups (siting.demand)
    population: Path | None = Field(None, description="population raster, polygons or table")
    population_column: str = "population"
    population_crs: str | None = Field(
        None, description="CRS of a population file without one; table lon/lat: wgs84/gcj02/bd09")
    communities: Path | None = Field(None, description="community (社区) polygons, id and name")
    age_shares: dict[str, float] | None = Field(
        None, description="share per demand group; defaults: 2020 census (siting.demand)")
    household_size: float = Field(2.62, gt=0, description="persons per household (2020 census)")
    group_rasters: dict[str, Path | list[Path]] | None = Field(
        None, description="per-group count rasters (summed when a list), e.g. WorldPop age bands")

    @model_validator(mode="after")
    def _check(self) -> Scenario:
        sources = [x for x in (self.osm, self.graphml, self.place) if x is not None]
        if len(sources) > 1:
            raise ValueError("give only one of osm, graphml and place")
        if self.threshold_m is not None and self.threshold_m <= 0:
            raise ValueError(f"threshold_m must be > 0, got {self.threshold_m}")
        if self.solver.lower() not in SOLVERS:
            raise ValueError(f"unknown solver {self.solver!r}; choose one of {', '.join(SOLVERS)}")
        if self.max_sites is not None and self.max_sites < 1:
            raise ValueError(f"max_sites must be >= 1, got {self.max_sites}")
        if self.graphml is not None and self.buildings is None:
            raise ValueError("graphml needs buildings (a GeoPackage/GeoJSON of building polygons)")
        for key in ("inventory_crs", "existing_crs"):
            if getattr(self, key).strip().lower() not in ACCEPTED_CRS:
                raise ValueError(f"{key} must be wgs84, gcj02 or bd09, got {getattr(self, key)!r}")
        if self.population is not None and self.population_total is not None:
            raise ValueError("population_total scales the building estimate; a population "
                             "file carries its own totals, so give only one of them")
        if self.age_shares is not None:
            from siting.demand import check_age_shares

            try:
                check_age_shares(self.age_shares)
            except SitingError as exc:
                raise ValueError(str(exc)) from None
        if self.bbox is not None:
            w, s, e, n = self.bbox
            if not (w < e and s < n and -180 <= w <= 180 and -90 <= s <= 90):
                raise ValueError(f"bbox must be west, south, east, north in degrees, got {self.bbox}")
        return self

    @property
    def embedded(self) -> bool:
        """True when the embedded-facility model runs (model="embedded", or a policy is
        given and no other model was asked for)."""
        if self.model == "embedded":
            return True
        asked = "model" in self.model_fields_set
        return not asked and (self.policy_file is not None or bool(self.policy))

    @property
    def reach_m(self) -> float:
        """Walking threshold in metres."""
        if self.threshold_m is not None:
            return self.threshold_m
        return self.walk_minutes * self.speed_m_per_min


def make_scenario(path: str | Path | None = None, **overrides) -> Scenario:
    """Scenario from a TOML file (optional) with ``overrides`` (flags) on top.

    ``None`` overrides are ignored, so unset CLI flags keep the file's values. Relative
    paths in the file are read relative to the file's folder.
    """
    data: dict = {}
    if path is not None:
        path = Path(path)
        if not path.exists():
            raise SitingError(f"scenario file not found: {path}")
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise SitingError(f"{path}: not valid TOML ({exc})") from exc
        for key in ("osm", "graphml", "buildings", "out", "inventory", "existing", "exclude",
                    "population", "communities", "policy_file"):
            if key in data and not Path(data[key]).is_absolute():
                data[key] = str(path.parent / data[key])
        if isinstance(data.get("group_rasters"), dict):
            data["group_rasters"] = {
                k: [str(path.parent / p) for p in v] if isinstance(v, list) else str(path.parent / v)
                for k, v in data["group_rasters"].items()}
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Scenario(**data)
    except ValidationError as exc:
        where = f"{path}: " if path else ""
        msgs = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'scenario'}: {e['msg']}" for e in exc.errors()
        )
        raise SitingError(f"{where}invalid scenario: {msgs}") from None
