"""Scenario: every knob of one run, validated, from a TOML file and/or CLI flags."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from siting.config.datums import ACCEPTED_CRS
from siting.errors import SitingError

SOLVERS = ("cbc", "highs")
# Chosen by measurement. Through PuLP, CBC was 1–2.4× faster than HiGHS on the real
# extracts. With HiGHS fed straight from the sparse matrices and the exact reductions,
# both solve every real-extract model in < 0.15 s (scripts/solver_choice.py: 1.33 s CBC vs
# 1.22 s HiGHS in all). On the hard connected lattice (scripts/benchmark.py) HiGHS proves
# p = 25 optimal in 28.5 s where CBC is at 0.24 % after 60 s, and gets set covering to an
# 8.1 % gap against CBC's 13 %; CBC is faster only at p = 10 (1.3 s vs 3.2 s). The
# embedded model also measured HiGHS ahead (scripts/embedded_nanjing.py).
DEFAULT_SOLVER = "highs"


class Scenario(BaseModel):
    """One siting run.

    Inputs: exactly one of ``osm`` (an .osm/.osm.pbf file), ``graphml`` (a saved osmnx
    walking graph, with ``buildings``), or ``place`` (a place name, downloaded with
    osmnx when online). Walking reach is ``threshold_m`` if given, else
    ``walk_minutes × speed_m_per_min``.
    """

    # finite numbers only (inf/nan refused everywhere); booleans are not numbers (see _no_bools)
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    _source: Path | None = PrivateAttr(None)  # the scenario file, for messages

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

    # embedded-facility model (siting.models.embedded); a policy_file or [policy] table selects it
    policy_file: Path | None = Field(None, description="policy TOML (default: the shipped cn_default)")
    policy: dict = Field(default_factory=dict, description="overrides deep-merged over the policy")
    standard: float | None = Field(None, gt=0, description="m² per 100 households (30 or 80)")
    standard_mode: Literal["hard", "penalty", "off"] | None = None
    objective: Literal["max_served", "min_cost", "min_distance"] = "max_served"
    capacity: bool = Field(True, description="capacities from floor area (False: pure coverage)")
    min_coverage: float | None = Field(None, ge=0, le=1)
    marginal: bool = Field(True, description="marginal value of each chosen site")
    needs: Path | None = Field(None, description=(
        "residents' needs: community × service weights, CSV/XLSX (siting.models.embedded.needs)"))
    needs_mode: Literal["priority", "demand"] | None = Field(
        None, description="needs weights scale priority (default) or units needed")
    decompose: Literal["off", "on", "auto"] = Field("off", description=(
        "embedded model: solve the groups that share only the budget (districts no walk, "
        "site or community joins) apart and allocate the budget over them: off, on, or auto "
        "(when there are ≥ 2 groups, none over two thirds of the model)"))

    m2_per_person: float = Field(40.0, gt=0)
    residential_levels: float = Field(6.0, gt=0, description="storeys where unknown")
    candidate_levels: float | None = Field(
        None, gt=0, description="storeys where unknown (default: per class, policy [sites])")
    population_total: float | None = Field(None, gt=0)
    min_floor_area_m2: float | None = Field(None, ge=0, description="default: policy [sites]")
    plan_year: int | None = Field(
        None, ge=1900, le=2200,
        description="inventory rows available only after this year are excluded")
    usable_ratio: float | None = Field(
        None, gt=0, le=1, description="default: per class, policy [sites]")

    # programme (siting.models.embedded.programme): years, funding sources, new projects
    funding: Path | None = Field(None, description="funding table: source, year, amount, rules")
    phases: Path | None = Field(None, description="phases table: year, budget")
    projects: Path | None = Field(None, description="new residential projects (同步配建)")

    # candidate sites beyond OSM (see siting.sites)
    inventory: Path | None = Field(None, description="site inventory: .csv, .xlsx or .gpkg")
    inventory_crs: str = Field("wgs84", description="wgs84, gcj02 (Amap/Tencent) or bd09 (Baidu)")
    existing: Path | None = Field(None, description="existing facilities: inventory or POI file")
    existing_crs: str = "wgs84"
    exclude: Path | None = Field(None, description="exclusion polygons (any vector file)")
    require: list[str] = Field(default_factory=list, description=(
        "candidate ids (source_id: OSM w123/r45 or an inventory 编号) forced into the plan, "
        "their costs counted"))
    forbid: list[str] = Field(default_factory=list, description="candidate ids never opened")

    # population and demand groups (siting.demand)
    population: Path | None = Field(None, description="population raster, polygons or table")
    population_column: str = "population"
    population_crs: str | None = Field(
        None, description="CRS of a population file without one; table lon/lat: wgs84/gcj02/bd09")
    communities: Path | None = Field(None, description="community (社区) polygons, id and name")
    age_shares: dict[str, float] | None = Field(
        None, description="share per demand group; defaults: 2020 census (siting.demand)")
    household_size: float | None = Field(
        None, gt=0, description="persons per household (default: the policy's, 2020 census)")
    group_rasters: dict[str, Path | list[Path]] | None = Field(
        None, description="per-group count rasters (summed when a list), e.g. WorldPop age bands")

    @model_validator(mode="before")
    @classmethod
    def _no_bools(cls, data):
        """``max_sites = true`` is a typo, not 1: refuse booleans in number fields."""
        if isinstance(data, dict):
            for key, value in data.items():
                field = cls.model_fields.get(key)
                if field is None or isinstance(field.annotation, type) and \
                        field.annotation is bool:
                    continue
                ann = str(field.annotation)
                numeric = any(t in ann for t in ("int", "float"))
                values = value if key == "bbox" and isinstance(value, (list, tuple)) else \
                    value.values() if key == "age_shares" and isinstance(value, dict) else [value]
                if numeric and any(isinstance(v, bool) for v in values):
                    raise ValueError(f"{key} must be a number, got {value!r}")
        return data

    @model_validator(mode="after")
    def _check(self) -> Scenario:
        sources = [x for x in (self.osm, self.graphml, self.place) if x is not None]
        if len(sources) > 1:
            raise ValueError("give only one of osm, graphml and place")
        if self.threshold_m is not None and self.threshold_m <= 0:
            raise ValueError(f"--threshold-m: threshold_m must be > 0, got {self.threshold_m}")
        if self.solver.lower() not in SOLVERS:
            raise ValueError(f"unknown solver {self.solver!r}; choose one of {', '.join(SOLVERS)}")
        if self.max_sites is not None and self.max_sites < 1:
            raise ValueError(f"--max-sites: max_sites must be >= 1, got {self.max_sites}")
        if self.graphml is not None and self.buildings is None:
            raise ValueError("graphml needs buildings (a GeoPackage/GeoJSON of building polygons)")
        for key in ("inventory_crs", "existing_crs"):
            if getattr(self, key).strip().lower() not in ACCEPTED_CRS:
                raise ValueError(f"{key} must be wgs84, gcj02 or bd09, got {getattr(self, key)!r}")
        if self.population is not None and self.population_total is not None:
            raise ValueError("population_total scales the building estimate; a population "
                             "file carries its own totals, so give only one of them")
        if self.age_shares is not None:
            from siting.config.policy import check_age_shares

            try:
                check_age_shares(self.age_shares)
            except SitingError as exc:
                raise ValueError(str(exc)) from None
        if self.bbox is not None:
            w, s, e, n = self.bbox
            for name, v, lim in (("west", w, 180), ("south", s, 90), ("east", e, 180),
                                 ("north", n, 90)):
                if not -lim <= v <= lim:
                    raise ValueError(f"bbox {name} {v:g} is outside [-{lim}, {lim}] degrees "
                                     f"(bbox is west, south, east, north in WGS84 degrees)")
            if not (w < e and s < n):
                raise ValueError(f"bbox must be west, south, east, north with west < east and "
                                 f"south < north, got {self.bbox}")
        self._check_conflicts()
        return self

    def _check_conflicts(self) -> None:
        """Settings that another setting makes meaningless are refused, not dropped."""
        given = self.model_fields_set
        if self.model == "set_cover":
            for key, flag in (("max_sites", "--max-sites"), ("budget", "--budget")):
                if getattr(self, key) is not None:
                    raise ValueError(
                        f"{key} ({flag}) conflicts with model set_cover: set covering opens as "
                        f"many sites as it takes to reach everyone in reach, so it has no site "
                        f"limit or budget; drop {flag}, or use --model max_cover")
        embedded_only = [(k, f) for k, f in (
            ("policy_file", "--policy"), ("policy", "[policy]"), ("standard", "--standard"),
            ("standard_mode", "--standard-mode"), ("objective", "--objective"),
            ("min_coverage", "--min-coverage"), ("needs", "--needs"),
            ("needs_mode", "--needs-mode"), ("funding", "--funding"),
            ("phases", "--phases"), ("projects", "--projects"))
            if k in given and getattr(self, k) not in (None, {})]
        walk = [(k, f) for k, f in (("walk_minutes", "--walk-minutes"),
                                     ("speed_m_per_min", "--speed"),
                                     ("threshold_m", "--threshold-m")) if k in given]
        if self.embedded and walk:
            key, flag = walk[0]
            raise ValueError(
                f"{key} ({flag}) is not used by the embedded model: each service walks its own "
                f"threshold from the policy (services.<service>.walk_min × "
                f"walking.speed_m_per_min.<profile>); drop {flag} and set those in a [policy] "
                f"table, e.g. [policy.walking.speed_m_per_min] default = 70")
        self._check_decompose()
        if self.needs_mode is not None and self.needs is None:
            raise ValueError("needs_mode (--needs-mode) has no needs table to apply: give "
                             "needs (--needs), or drop needs_mode")
        if not self.embedded and embedded_only:
            key, flag = embedded_only[0]
            raise ValueError(
                f"{key} ({flag}) conflicts with model {self.model}: it is only read by the "
                f"embedded model; drop {flag}, or use --model embedded (a policy alone selects it)")

    def _check_decompose(self) -> None:
        """``decompose`` takes effect or is refused: embedded model, ``max_served``, a budget."""
        if self.decompose == "off":
            return
        if not self.embedded:
            raise ValueError(
                f"decompose (--decompose) = {self.decompose} conflicts with model {self.model}: "
                f"only the embedded model is decomposed (into districts sharing its budget); "
                f"drop --decompose, or use --model embedded")
        if self.decompose == "on" and self.objective != "max_served":
            raise ValueError(
                f"decompose (--decompose) = on needs objective max_served (it allocates one "
                f"budget over the groups' value curves), not {self.objective}; use "
                f"--decompose off or auto, or --objective max_served")
        if self.decompose == "on" and self.budget is None:
            raise ValueError(
                "decompose (--decompose) = on allocates the budget over the groups, and no "
                "budget is given; give --budget CNY, or use --decompose off or auto")

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

    Parameters
    ----------
    path
        A scenario TOML file; relative paths in it are resolved against its folder.
    **overrides
        Settings that win over the file's (e.g. from command-line flags).
    """
    data: dict = {}
    if path is not None:
        path = Path(path)
        if not path.exists():
            raise SitingError(f"scenario file not found: {path}")
        if not path.is_file():
            raise SitingError(f"scenario file {path} is a folder, not a file; give a scenario "
                              f".toml file")
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise SitingError(f"{path}: not valid TOML ({exc})") from exc
        except OSError as exc:
            raise SitingError(f"scenario file {path}: cannot read it ({exc.strerror})") from exc

        def rel(v):
            return str(path.parent / v) if isinstance(v, str) and not Path(v).is_absolute() else v

        for key in PATH_FIELDS:
            if key in data:
                data[key] = rel(data[key])
        if isinstance(data.get("group_rasters"), dict):
            data["group_rasters"] = {
                k: [rel(p) for p in v] if isinstance(v, list) else rel(v)
                for k, v in data["group_rasters"].items()}
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        sc = Scenario(**data)
    except ValidationError as exc:
        where = f"{path}: " if path else ""
        msgs = "; ".join(_describe(e) for e in exc.errors())
        raise SitingError(f"{where}invalid scenario: {msgs}") from None
    sc._source = path
    if path is not None and sc.policy:
        from siting.config.policy import check_policy_overrides

        check_policy_overrides(sc.policy_file, sc.policy, f"{path}: [policy] table")
    return sc


# scenario fields read as paths (relative to the scenario file)
PATH_FIELDS = ("osm", "graphml", "buildings", "out", "inventory", "existing", "exclude",
               "population", "communities", "policy_file", "needs", "funding", "phases",
               "projects")
# the CLI flag of each scenario field whose name differs from --field-name
_FLAG_NAMES = {"speed_m_per_min": "--speed", "min_floor_area_m2": "--min-floor-area",
               "policy_file": "--policy", "group_rasters": "--group-raster",
               "policy": "[policy] table"}


def flag_name(field: str) -> str:
    """How a user names a scenario field: its CLI flag and scenario key, e.g.
    ``--policy (policy_file)``; keys without a flag are named as such.

    Parameters
    ----------
    field
        A scenario field such as ``population_crs``.
    """
    if field in _FLAG_NAMES:
        flag = _FLAG_NAMES[field]
        return flag if not flag.startswith("--") else f"{flag} ({field})"
    if field in ("capacity", "marginal", "mip_gap", "residential_levels",
                 "candidate_levels", "usable_ratio"):
        return f"scenario key {field}"
    return f"--{field.replace('_', '-')}"


def _describe(error: Mapping[str, Any]) -> str:
    """One pydantic error as ``--flag: what is wrong (got …)``."""
    loc = [str(p) for p in error["loc"]]
    msg = error["msg"].removeprefix("Value error, ")
    if not loc:
        return msg
    head = flag_name(loc[0]) + ("." + ".".join(loc[1:]) if len(loc) > 1 else "")
    if error["type"] == "extra_forbidden":
        return (f"{loc[0]}: unknown scenario key (check the spelling; `siting run --help` "
                f"lists the flags, the keys are the same with _ for -)")
    if error["type"] in ("finite_number",):
        msg = "must be a finite number (inf and nan are not accepted)"
    got = error.get("input")
    if error["type"] not in ("missing",) and not isinstance(got, (dict, list)) \
            and got is not None and "got" not in msg:
        msg += f" (got {got!r})"
    return f"{head}: {msg}"
