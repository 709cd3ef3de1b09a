"""Candidate sites: stock buildings, city inventories and existing facilities.

The plan puts services into *stock* space (补建、改造、置换、新建): idle factories,
warehouses, commercial and office space, public property, community buildings. This
module turns OSM buildings, a city's inventory file and files of facilities already
operating into one candidate table (a GeoDataFrame) with these columns:

``site_id``
    Position in the optimiser's :class:`~siting.models.instance.Instance` for candidates that
    are not excluded; excluded rows are numbered after them.
``osm_id``
    OSM id (``w123``) or the inventory's id (as text).
``name``, ``kind``
    Name and class (``industrial``, ``warehouse``, ``commercial``, ``office``,
    ``public``, ``community``, ``disused``, ``brownfield``, ``other``, ``existing``).
``floor_area_m2``, ``usable_area_m2``, ``levels_estimated``
    Gross and usable floor area; whether the storeys were a per-class default.
``acquisition_mode``
    ``renovate`` | ``lease`` | ``transfer`` | ``new_build`` (改造/租赁/置换/新建).
``cost``, ``annual_cost``
    One-off CNY and running CNY per year of the site's usable area (see :func:`price`).
``cost_one_off``, ``cost_fit_out``, ``cost_rent_horizon``, ``cost_total``
    The cost breakdown every output reads: one-off, service fit-out (0 here: only the
    embedded model fits out), annual × horizon years, and their sum. For the covering
    models it is the price of the usable area; for a site an embedded plan chooses, the
    run replaces it with the plan's own (charged on the m² the plan uses).
``one_off_per_m2_used``, ``annual_per_m2_used``
    Rates the embedded model charges per m² it uses (modes with ``charged_on = "used"``
    and no cost given); 0 where the charge is fixed per site.
``ground_floor``
    Lowest floor of the space: 1 is the ground floor (whole OSM buildings), -1 the first
    basement, NaN unknown (an inventory's 楼层 column, read by :func:`parse_storey`).
``lift``
    1.0 when the building has a lift (电梯), 0.0 when it has none, NaN unknown.
``year_available``
    Year the space becomes available (NaN: now).
``ownership``
    Owner as given in an inventory (None for OSM).
``existing``, ``existing_services``
    Facility already operating (kept open by the model) and its service keys,
    comma-separated (keys of the policy's ``[services]`` table).
``excluded_reason``
    Why the candidate is not offered to the optimiser (None when it is).
``source``
    ``"osm"``, ``"inventory"`` or ``"existing"``.

Class mapping, per-class defaults and costs are data in the ``[sites]`` table of the
policy file (``siting/config/policies/cn_default.toml``); see :func:`load_site_policy`.
"""

from __future__ import annotations

import copy
import re
import tomllib
import unicodedata
import warnings
from importlib import resources
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry.base import BaseGeometry

from siting.buildings import classify, floor_area
from siting.io.coords import geodataframe_to_wgs84, to_wgs84
from siting.errors import SitingError

MODES = ("renovate", "lease", "transfer", "new_build")
CHARGED_ON = ("used", "whole")  # [sites.costs.<mode>] charged_on: per m² used, or whole site
COST_PARTS = ("cost_one_off", "cost_fit_out", "cost_rent_horizon")  # sum = cost_total
RATE_COLUMNS = ("one_off_per_m2_used", "annual_per_m2_used")
COLUMNS = (
    "site_id", "osm_id", "name", "kind", "floor_area_m2", "usable_area_m2", "levels_estimated",
    "acquisition_mode", "cost", "annual_cost", *COST_PARTS, "cost_total", *RATE_COLUMNS,
    "ground_floor", "lift", "year_available",
    "ownership", "existing", "existing_services", "excluded_reason", "source",
)
# how inventories spell acquisition modes (Chinese planning terms and English)
_MODE_ALIASES = {
    "renovate": "renovate", "renovation": "renovate", "改造": "renovate", "改建": "renovate",
    "lease": "lease", "rent": "lease", "租赁": "lease", "租用": "lease", "租": "lease",
    "transfer": "transfer", "置换": "transfer", "划拨": "transfer", "调剂": "transfer",
    "new_build": "new_build", "new build": "new_build", "newbuild": "new_build",
    "build": "new_build", "新建": "new_build", "补建": "new_build",
}
# inventory headers (lower case, spaces and bracketed units removed) → field
_HEADER_ALIASES = {
    "id": ("id", "site_id", "编号", "序号", "编码", "代码"),
    "name": ("name", "名称", "名字", "设施名称", "场所名称", "地点"),
    "lon": ("lon", "lng", "long", "longitude", "经度", "x"),
    "lat": ("lat", "latitude", "纬度", "y"),
    "floor_area_m2": ("floor_area", "floor_area_m2", "area", "area_m2", "gfa", "建筑面积",
                      "面积"),
    "usable_area_m2": ("usable_area", "usable_area_m2", "可用面积", "使用面积"),
    "kind": ("class", "kind", "类型", "类别", "用途"),
    "ownership": ("ownership", "owner", "权属", "产权", "产权单位"),
    "acquisition_mode": ("acquisition_mode", "mode", "acquisition", "取得方式", "获取方式",
                         "方式"),
    "cost": ("cost", "one_off_cost", "费用", "一次性费用", "改造费用"),
    "annual_cost": ("annual_cost", "rent", "年租金", "年费用", "租金"),
    "floor": ("floor", "storey", "楼层", "所在楼层", "所在层"),
    "lift": ("lift", "elevator", "电梯", "有无电梯", "是否有电梯", "有电梯"),
    "year_available": ("year_available", "year", "可用年份", "可用年度", "年份"),
    "existing": ("existing", "现有", "是否现有", "已建"),
    "existing_services": ("services", "service", "existing_services", "服务", "服务内容",
                          "现有服务"),
}
_TRUE = {"1", "true", "yes", "y", "是", "有", "现有", "已建"}
_LIFT = {**{v: 1.0 for v in ("1", "1.0", "true", "yes", "y", "是", "有", "有电梯")},
         **{v: 0.0 for v in ("0", "0.0", "false", "no", "n", "否", "无", "没有", "无电梯")}}
# how a services cell is split into words (the vocabulary is matched in each piece)
_SERVICE_SEP = re.compile(r"[,，;；、/／|｜\s]+")
_UNIT_RE = re.compile(r"[（(][^）)]*[）)]")


# --------------------------------------------------------------------------
# policy
# --------------------------------------------------------------------------
def load_site_policy(path: str | Path | None = None) -> dict:
    """The ``[sites]`` table of a policy file.

    Parameters
    ----------
    path
        A policy TOML; default the packaged ``siting/config/policies/cn_default.toml``.

    Returns
    -------
    dict
        ``classes`` (OSM tag values → class), ``class_defaults`` (storeys, usable
        ratio, acquisition mode per class), ``costs`` (per acquisition mode, plus
        ``horizon_years`` copied from the file's ``[costs]`` table), and scalars
        such as ``min_floor_area_m2``.
    """
    try:
        if path is None:
            text = resources.files("siting.config").joinpath("policies/cn_default.toml").read_text("utf-8")
            where = "packaged policy cn_default.toml"
        else:
            where = str(path)
            text = Path(path).read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except FileNotFoundError:
        raise SitingError(f"policy file not found: {path}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SitingError(f"{where}: not valid TOML ({exc})") from exc
    return _site_table(data, where)


def _site_table(data: dict, where: str) -> dict:
    """The checked ``[sites]`` table of a parsed policy file."""
    sites = data.get("sites")
    if not isinstance(sites, dict):
        raise SitingError(f"{where}: no [sites] table")
    for key in ("classes", "class_defaults", "costs", "min_floor_area_m2"):
        if key not in sites:
            raise SitingError(f"{where}: [sites] lacks {key!r}")
    for mode in MODES:
        if not isinstance(sites["costs"].get(mode), dict):
            raise SitingError(f"{where}: [sites.costs.{mode}] is missing")
        if sites["costs"][mode].get("charged_on", "whole") not in CHARGED_ON:
            raise SitingError(f"{where}: [sites.costs.{mode}] charged_on must be \"used\" or "
                              f"\"whole\", got {sites['costs'][mode]['charged_on']!r}")
    if "horizon_years" in sites["costs"]:
        raise SitingError(f"{where}: [sites.costs] horizon_years is no longer read; set "
                          "horizon_years in [costs] (one horizon for every model)")
    horizon = data.get("costs", {}).get("horizon_years", 0.0)
    if not isinstance(horizon, (int, float)) or horizon < 0:
        raise SitingError(f"{where}: [costs] horizon_years must be a number >= 0, "
                          f"got {horizon!r}")
    sites["costs"]["horizon_years"] = float(horizon)  # read by price()
    if sites.get("default_class", "other") not in _class_tables(sites):
        raise SitingError(f"{where}: [sites.class_defaults] has no entry for the default class")
    for cls, d in _class_tables(sites).items():
        if d.get("acquisition_mode") not in MODES:
            raise SitingError(f"{where}: [sites.class_defaults.{cls}] acquisition_mode must be "
                              f"one of {', '.join(MODES)}")
    _check_vocabulary(sites, data.get("services", {}), where)
    return sites


def _check_vocabulary(sites: dict, services: dict, where: str) -> None:
    """``[sites.service_vocabulary]`` names services of the file; remember their min areas."""
    if "existing_services" in sites:
        raise SitingError(f"{where}: [sites.existing_services] is no longer read; list the words "
                          f"of each service in [sites.service_vocabulary] (see the packaged "
                          f"cn_default.toml)")
    vocab = sites.get("service_vocabulary", {})
    if not isinstance(vocab, dict):
        raise SitingError(f"{where}: [sites.service_vocabulary] must be a table")
    for key, words in vocab.items():
        if key != "not_modelled" and services and key not in services:
            raise SitingError(f"{where}: [sites.service_vocabulary] {key!r} is not a service of "
                              f"[services] ({', '.join(services)}) nor not_modelled")
        if not isinstance(words, list) or not all(isinstance(w, str) and w.strip()
                                                  for w in words):
            raise SitingError(f"{where}: [sites.service_vocabulary] {key} must be a list of "
                              f"words")
    # an existing facility without a floor area is given its services' minimum area
    sites["service_min_floor_m2"] = {k: float(v["min_floor_m2"]) for k, v in services.items()
                                     if isinstance(v, dict) and "min_floor_m2" in v}


def site_policy(path: str | Path | None = None, overrides: dict | None = None) -> dict:
    """The ``[sites]`` table a run uses: the policy file's, with a scenario's ``[policy]``
    overrides deep-merged over the file.

    A policy file without a ``[sites]`` table takes the packaged one; vocabulary entries
    of services the file does not have then name services it does not model
    (``not_modelled``). Minimum floor areas come from the file's ``[services]``.
    """
    from siting.config.policy import deep_merge, read_policy_dict

    packaged = tomllib.loads(resources.files("siting.config").joinpath("policies/cn_default.toml")
                             .read_text("utf-8"))
    data = packaged if path is None else read_policy_dict(path)
    if "sites" not in data:
        sites = copy.deepcopy(packaged["sites"])
        services = data.get("services", {})
        vocab = sites.get("service_vocabulary", {})
        for key in [k for k in vocab if k != "not_modelled" and k not in services]:
            vocab.setdefault("not_modelled", []).extend(vocab.pop(key))
        data = {**data, "sites": sites}
    if overrides:
        data = deep_merge(data, overrides)
    return _site_table(copy.deepcopy(data), str(path or "cn_default.toml"))


def _class_tables(policy: dict) -> dict:
    """Per-class default tables (skipping scalar keys such as ``placeholder``)."""
    return {k: v for k, v in policy["class_defaults"].items() if isinstance(v, dict)}


def _class_default(policy: dict, kind: pd.Series, key: str) -> pd.Series:
    tables = _class_tables(policy)
    fallback = tables[policy.get("default_class", "other")]
    return kind.map(lambda k: tables.get(k, fallback).get(key, fallback.get(key)))


def price(usable_m2, mode, policy: dict, cost=None, annual_cost=None) -> pd.DataFrame:
    """What taking a site by ``mode`` costs: its usable-area price and per-m²-used rates.

    Rates are CNY per m² from ``[sites.costs.<mode>]`` (``one_off_per_m2``,
    ``annual_per_m2``); ``charged_on`` says what a mode acquires:

    * ``"whole"`` (purchase, transfer, new build): the usable area is bought, at most
      ``cost_area_cap_m2`` of it — a fixed charge per site in every model;
    * ``"used"`` (rent, renovation): only the m² a facility uses. The embedded model,
      which allocates m², charges ``one_off_per_m2_used`` / ``annual_per_m2_used`` per
      m² it uses; the covering models, which allocate none, charge the usable area (at
      most the cap), the space a facility there takes.

    ``cost`` / ``annual_cost`` given (not NaN, an inventory's whole-row figures) win and
    are fixed per site: their rate per m² used is then 0.

    Returns
    -------
    pandas.DataFrame
        ``cost``, ``annual_cost`` (usable-area price), the breakdown ``cost_one_off``
        (= ``cost``), ``cost_fit_out`` (0), ``cost_rent_horizon`` (annual ×
        ``horizon_years``), ``cost_total`` (their sum), and ``one_off_per_m2_used``,
        ``annual_per_m2_used``.
    """
    usable = pd.Series(np.asarray(usable_m2, dtype=float))
    mode = pd.Series(np.asarray(mode, dtype=object))
    area = usable.clip(upper=float(policy.get("cost_area_cap_m2", np.inf)))
    rate = {k: mode.map(lambda m, k=k: policy["costs"][m].get(k, 0.0)).astype(float)
            for k in ("one_off_per_m2", "annual_per_m2")}
    used = mode.map(lambda m: policy["costs"][m].get("charged_on", "whole") == "used")
    out = {}
    for col, key, given in (("cost", "one_off_per_m2", cost),
                            ("annual_cost", "annual_per_m2", annual_cost)):
        value = area * rate[key]
        per_used = rate[key].where(used, 0.0)
        if given is not None:
            given = pd.Series(np.asarray(given, dtype=float))
            value = given.where(given.notna(), value)
            per_used = per_used.where(given.isna(), 0.0)
        out[col], out[f"{col}_rate"] = value, per_used
    horizon = float(policy["costs"].get("horizon_years", 0))
    return pd.DataFrame({
        "cost": out["cost"], "annual_cost": out["annual_cost"],
        "cost_one_off": out["cost"], "cost_fit_out": 0.0,
        "cost_rent_horizon": out["annual_cost"] * horizon,
        "cost_total": out["cost"] + out["annual_cost"] * horizon,
        "one_off_per_m2_used": out["cost_rate"], "annual_per_m2_used": out["annual_cost_rate"]})


def embedded_site_costs(sites: pd.DataFrame) -> pd.DataFrame:
    """The cost columns the embedded model reads, from a candidate table.

    ``cost`` / ``annual_cost`` become the charges fixed per site (whole-site modes,
    given costs); a component charged per m² used (its rate > 0) has no fixed part.
    """
    out = sites.copy()
    for col, rate in (("cost", "one_off_per_m2_used"), ("annual_cost", "annual_per_m2_used")):
        r = pd.to_numeric(out[rate], errors="coerce").fillna(0.0)
        out[col] = pd.to_numeric(out[col], errors="coerce").fillna(0.0).where(r <= 0, 0.0)
        out[rate] = r
    return out


# --------------------------------------------------------------------------
# OSM
# --------------------------------------------------------------------------
def candidates_from_buildings(
    buildings: gpd.GeoDataFrame,
    landuse: gpd.GeoDataFrame | None = None,
    *,
    policy: dict | None = None,
    default_levels: float | None = None,
    min_floor_area_m2: float | None = None,
    usable_ratio: float | None = None,
) -> gpd.GeoDataFrame:
    """Stock buildings (and brownfield land) from OSM as candidate sites.

    Parameters
    ----------
    buildings, landuse
        Projected building and land-use polygons with OSM tags.
    policy
        The ``[sites]`` table (:func:`load_site_policy`); default the packaged one.
    default_levels
        Storeys where unknown for every class; default per class from the policy
        (either way flagged in ``levels_estimated``).
    min_floor_area_m2
        Smaller candidates are kept but excluded (``excluded_reason``); default the policy's.
    usable_ratio
        Usable share of gross floor area for every class; default per class.

    Returns
    -------
    geopandas.GeoDataFrame
        Points (``representative_point``) with the columns in :data:`COLUMNS`, in the
        buildings' CRS, ``site_id`` numbered in input order.
    """
    policy = load_site_policy() if policy is None else policy
    if buildings is None or buildings.empty:
        raise SitingError("no buildings in the study area: no candidate sites")
    kind = classify(buildings, landuse, policy["classes"])
    # every mapped class is a candidate; classes without defaults take the default class's
    b = buildings[~kind.isin(["residential", "other"])]
    kind = kind[b.index]
    levels = _class_default(policy, kind, "levels") if default_levels is None else default_levels
    fa = floor_area(b, levels, float(policy.get("storey_height_m", 3.0)))
    out = pd.DataFrame({
        "osm_id": b.index.astype(str), "name": b["name"].to_numpy(), "kind": kind.to_numpy(),
        "floor_area_m2": fa["floor_area_m2"].to_numpy(),
        "levels_estimated": fa["levels_estimated"].to_numpy(bool),
    })
    geoms = list(b.representative_point())
    land = _new_build_land(landuse, buildings, policy)
    if len(land):
        out = pd.concat([out, land.drop(columns="geometry")], ignore_index=True)
        geoms += list(land["geometry"])
    ratio = _class_default(policy, out["kind"], "usable_ratio") if usable_ratio is None \
        else pd.Series(usable_ratio, index=out.index)
    out["usable_area_m2"] = out["floor_area_m2"] * ratio.astype(float)
    out["acquisition_mode"] = _class_default(policy, out["kind"], "acquisition_mode")
    out["ground_floor"] = 1.0
    out["source"] = "osm"
    frame = _finish(out, geoms, buildings.crs, policy)
    minimum = policy["min_floor_area_m2"] if min_floor_area_m2 is None else min_floor_area_m2
    return _exclude_small(frame, minimum)


def _new_build_land(landuse, buildings, policy) -> pd.DataFrame:
    """Land-use parcels mapped to a new-build class with no building standing on them."""
    mapping = policy["classes"].get("new_build_landuse", {})
    cols = ["osm_id", "name", "kind", "floor_area_m2", "levels_estimated", "geometry"]
    if landuse is None or landuse.empty or not mapping:
        return pd.DataFrame(columns=cols)
    lu = landuse[landuse["landuse"].isin(mapping.keys())].to_crs(buildings.crs)
    if lu.empty:
        return pd.DataFrame(columns=cols)
    built = gpd.sjoin(lu[["geometry"]], buildings[["geometry"]], predicate="intersects")
    lu = lu[~lu.index.isin(built.index)]
    kind = lu["landuse"].map(mapping)
    plot = _class_default(policy, kind, "plot_ratio").fillna(1.0).astype(float)
    cap = _class_default(policy, kind, "max_floor_area_m2").fillna(np.inf).astype(float)
    return pd.DataFrame({
        "osm_id": lu.index.astype(str), "name": lu["name"].to_numpy(), "kind": kind.to_numpy(),
        "floor_area_m2": np.minimum(lu.geometry.area * plot, cap).to_numpy(),
        "levels_estimated": True,
        "geometry": lu.representative_point().to_numpy(),
    })


def _finish(out: pd.DataFrame, geoms, crs, policy: dict) -> gpd.GeoDataFrame:
    """Fill defaults, prices and order the columns of a candidate frame."""
    out = out.reset_index(drop=True)
    defaults = {"name": None, "ground_floor": np.nan, "lift": np.nan, "year_available": np.nan,
                "ownership": None, "existing": False, "existing_services": None,
                "excluded_reason": None, "levels_estimated": False}
    for col, value in defaults.items():
        if col not in out:
            out[col] = value
    out["existing"] = out["existing"].astype(bool)
    out["levels_estimated"] = out["levels_estimated"].astype(bool)
    costs = price(out["usable_area_m2"], out["acquisition_mode"], policy,
                  out.get("cost"), out.get("annual_cost"))
    for col in costs:
        out[col] = costs[col].to_numpy()
    # an operating facility costs nothing to "open"
    out.loc[out["existing"], ["cost", "annual_cost", *COST_PARTS, "cost_total",
                              *RATE_COLUMNS]] = 0.0
    out["site_id"] = np.arange(len(out))
    for col in ("ground_floor", "lift", "year_available", "floor_area_m2", "usable_area_m2"):
        out[col] = out[col].astype(float)
    return gpd.GeoDataFrame(out[list(COLUMNS)], geometry=list(geoms), crs=crs)


def _exclude_small(c: gpd.GeoDataFrame, minimum: float) -> gpd.GeoDataFrame:
    small = (c["floor_area_m2"] < minimum) & ~c["existing"] & c["excluded_reason"].isna()
    c.loc[small, "excluded_reason"] = [f"floor area {a:.0f} m² below the minimum {minimum:g} m²"
                                       for a in c.loc[small, "floor_area_m2"]]
    return c


# --------------------------------------------------------------------------
# storeys (楼层)
# --------------------------------------------------------------------------
_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6,
              "七": 7, "八": 8, "九": 9}
_NUM = r"(\d+|[零〇一二两三四五六七八九十]+)"
_STOREY_FORMS = (
    "a storey number (1 = ground floor, -1 = first basement), 1F/F1/1层/一层/二楼/3楼, "
    "首层/底层/地面层, 地下一层/地下1层/负一层/负1层/B1/b2/地下室/半地下室, "
    "or a range such as 1-2层 or B1-1F (its lowest storey is taken)")


def _cn_number(text: str) -> int:
    """``"3"``, ``"三"``, ``"十二"``, ``"二十"`` → int (1–99)."""
    if text.isdigit():
        return int(text)
    if "十" in text:
        tens, _, ones = text.partition("十")
        if len(tens) > 1 or len(ones) > 1:
            raise ValueError(text)
        return (_CN_DIGITS[tens] if tens else 1) * 10 + (_CN_DIGITS[ones] if ones else 0)
    if len(text) != 1:
        raise ValueError(text)
    return _CN_DIGITS[text]


def _one_storey(text: str) -> int:
    t = text.strip().lower().replace(" ", "")
    t = re.sub(r"^第", "", t)
    if t in ("首层", "底层", "地面层", "首", "底楼", "地面", "g", "gf"):
        return 1
    if t in ("地下室", "地下", "半地下", "半地下室", "地下层"):
        return -1
    if re.fullmatch(r"-?\d+(\.0+)?", t):
        n = int(float(t))
        if n == 0:
            raise ValueError("0 is not a storey here (1 = ground floor, -1 = first basement)")
        return n
    m = re.fullmatch(r"(?:地下|负|-)" + _NUM + r"(?:层|楼|f)?", t)
    if m:
        return -_cn_number(m.group(1))
    m = re.fullmatch(r"b" + r"(\d+)" + r"(?:层|楼|f)?", t)
    if m:
        return -int(m.group(1))
    m = (re.fullmatch(r"(?:地上)?" + _NUM + r"(?:层|楼|f)", t)
         or re.fullmatch(r"f(\d+)", t) or re.fullmatch(r"(?:地上)" + _NUM, t))
    if m:
        n = _cn_number(m.group(1))
        if n == 0:
            raise ValueError("0 is not a storey here (1 = ground floor, -1 = first basement)")
        return n
    if "夹层" in t:
        raise ValueError("a mezzanine (夹层) has no storey number; give the storey it sits "
                         "on, e.g. 1层")
    raise ValueError("not a storey")


def parse_storey(value) -> float:
    """The storey a space starts on, from how an inventory writes 楼层 (NaN when blank).

    1 is the ground floor and -1 the first basement (no storey 0), as in
    :meth:`siting.config.policy.Service.storey_ok`. Accepted, case and spaces ignored,
    full-width characters folded:

    * 1: ``1``, ``1F``, ``1f``, ``F1``, ``1层``, ``一层``, ``1楼``, ``一楼``, ``首层``,
      ``底层``, ``地面层``;
    * 2, 3 …: ``2层``, ``二楼``, ``3楼``, ``第三层``, ``十二层``, ``地上2层``;
    * -1: ``-1``, ``B1``, ``b1``, ``B1F``, ``地下一层``, ``地下1层``, ``负一层``,
      ``负1层``, ``地下室``, ``半地下室``; -2: ``B2``, ``地下二层``, ``负2层`` …;
    * a range or list, its lowest storey: ``1-2层``, ``1~2层``, ``1至3层``, ``B1-1F``,
      ``1、2层``.

    A range (space over several storeys) gives its lowest storey: the storey rules
    (:attr:`~siting.config.policy.Service.lowest_storey` and the lift rule) are checked there.
    ``夹层`` (mezzanine) is refused: write the storey it sits on.

    Raises
    ------
    ValueError
        Anything else, with a message listing the accepted forms.
    """
    if not _given(value):
        return np.nan
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        if float(value) != int(value) or int(value) == 0:
            raise ValueError(f"{value!r} is not a storey; give {_STOREY_FORMS}")
        return float(int(value))
    text = unicodedata.normalize("NFKC", str(value)).strip()
    parts = re.split(r"(?<=[^\s\-－—–])\s*(?:-|–|—|~|～|至|到|、|,|，)\s*", text)
    parts = [p for p in parts if p.strip()]
    try:
        if len(parts) > 1:
            # 1-2层: the unit may be written only after the last number
            unit = re.search(r"(层|楼|f)$", parts[-1].lower())
            vals = []
            for p in parts:
                try:
                    vals.append(_one_storey(p))
                except ValueError:
                    if not unit:
                        raise
                    vals.append(_one_storey(p + unit.group(1)))
            return float(min(vals))
        return float(_one_storey(text))
    except (ValueError, KeyError) as exc:
        why = str(exc) if str(exc).startswith(("0 is", "a mezzanine")) else "not a storey"
        raise ValueError(f"{value!r}: {why}; give {_STOREY_FORMS}") from None


def _storeys(values: pd.Series, where) -> np.ndarray:
    out = np.full(len(values), np.nan)
    for i, v in enumerate(values):
        try:
            out[i] = parse_storey(v)
        except ValueError as exc:
            raise SitingError(f"{where(i, 'floor')}: {exc}") from None
    return out


def _lifts(values: pd.Series, where) -> np.ndarray:
    out = np.full(len(values), np.nan)
    for i, v in enumerate(values):
        if not _given(v):
            continue
        key = unicodedata.normalize("NFKC", str(v)).strip().lower()
        if key not in _LIFT:
            raise SitingError(f"{where(i, 'lift')}: {v!r} is not yes/no; write 有/无, 是/否, "
                              f"yes/no or 1/0 (blank: unknown, allowed)")
        out[i] = _LIFT[key]
    return out


# --------------------------------------------------------------------------
# the service vocabulary
# --------------------------------------------------------------------------
class Vocabulary:
    """Words naming services, from ``[sites.service_vocabulary]`` (one list per service).

    Matching is case-insensitive and longest first, so 幼儿园 (not modelled) is one word
    and ``after-school`` is not ``school``. Service keys (``elderly_care``) are words too.
    """

    def __init__(self, policy: dict):
        table = policy.get("service_vocabulary", {})
        self.word = {}  # lower-case word → service key, or None (not a modelled service)
        for key, words in table.items():
            service = None if key == "not_modelled" else key
            if service is not None:
                for w in (key, key.replace("_", " ")):
                    self.word.setdefault(w.lower(), service)
            for w in words:
                self.word[unicodedata.normalize("NFKC", w).strip().lower()] = service
        alts = sorted(self.word, key=len, reverse=True)
        self._re = re.compile("|".join(re.escape(w) for w in alts), re.IGNORECASE) \
            if alts else None

    def find(self, text) -> tuple[list[str], list[str], str]:
        """Services named in ``text``, the not-modelled words found, and the rest."""
        if not _given(text) or self._re is None:
            return [], [], "" if not _given(text) else str(text)
        text = unicodedata.normalize("NFKC", str(text))
        services, other = [], []
        for m in self._re.finditer(text):
            s = self.word[m.group(0).lower()]
            (services if s else other).append(s or m.group(0))
        rest = self._re.sub("\0", text)  # each word found leaves a mark
        return list(dict.fromkeys(services)), list(dict.fromkeys(other)), rest

    def cell(self, value) -> tuple[list[str], list[str], list[str]]:
        """A 服务/services cell: services, not-modelled words, unrecognised pieces.

        A piece (between ; ； 、 , / and spaces) holding a word is recognised, with what
        surrounds the word (社区卫生服务站, 日间照料中心); a piece holding none is not.
        """
        services, other, rest = self.find(value)
        unknown = [p for p in _SERVICE_SEP.split(rest) if p.strip() and "\0" not in p]
        return services, other, unknown


def _services(values: pd.Series, names: pd.Series, existing: pd.Series, policy: dict,
              row_label) -> tuple[list, dict]:
    """Service keys per existing row (comma-joined) and, per row, what was not understood.

    A 服务/services cell is read word by word; where it names no modelled service the
    name is read. Returns the services and ``{row: problem}`` for rows with no modelled
    service or with unrecognised words.
    """
    vocab = Vocabulary(policy)
    out, problems = [], {}
    for i, (v, name, ex) in enumerate(zip(values, names, existing)):
        if not ex:
            out.append(None)
            continue
        found, other, unknown = vocab.cell(v) if _given(v) else ([], [], [])
        if not found:
            n_found, n_other, _ = vocab.find(name)
            found, other = n_found, other + n_other
        out.append(",".join(found) or None)
        bits = []
        if unknown:
            bits.append("unrecognised " + "/".join(f"'{u}'" for u in unknown))
        if not found and other:
            bits.append("not a modelled service: " + "/".join(dict.fromkeys(other)))
        elif not found and not unknown:
            bits.append("no service word")
        if bits:
            label = row_label(i) + (f" {name}" if _given(name) else "")
            problems[i] = f"{label} ({'; '.join(bits)})"
    return out, problems


def _area_note(path: Path, n: int, mins: dict) -> None:
    warnings.warn(f"{path.name}: {n} existing {'facility has' if n == 1 else 'facilities have'}"
                  f" no floor area; each is given the minimum floor area of its services "
                  f"([services.<key>] min_floor_m2, e.g. elderly_care "
                  f"{mins.get('elderly_care', float('nan')):g} m², meal_assist "
                  f"{mins.get('meal_assist', float('nan')):g} m²); add a 建筑面积 column for "
                  f"their real size", UserWarning, stacklevel=3)


def _problem_note(path: Path, problems: dict, rows, total: int, dropped: int,
                  left_out: str = "rows name no modelled service and are left out") -> None:
    """One note naming the rows whose services were not (fully) recognised."""
    rows = [i for i in rows if i in problems]
    if not rows:
        return
    shown = "; ".join(problems[i] for i in rows[:15])
    more = f"; … and {len(rows) - 15} more" if len(rows) > 15 else ""
    head = (f"{path.name}: {dropped} of {total} {left_out}" if dropped
            else f"{path.name}: some service words are not recognised")
    warnings.warn(f"{head}: {shown}{more}. Services are recognised by the words of the "
                  f"policy's [sites.service_vocabulary] (e.g. 托育, 日间照料, 助餐, 社区卫生服务站, "
                  f"or keys such as elderly_care)", UserWarning, stacklevel=3)


# --------------------------------------------------------------------------
# inventories and existing facilities
# --------------------------------------------------------------------------
def read_inventory(
    path: str | Path,
    crs: str = "wgs84",
    *,
    study_area: BaseGeometry | None = None,
    policy: dict | None = None,
    existing: bool = False,
    _problems: dict | None = None,
) -> gpd.GeoDataFrame:
    """A city's site inventory (CSV, Excel or GeoPackage) as candidate sites in WGS84.

    Headers may be Chinese or English (case and bracketed units ignored): 编号/id,
    名称/name, 经度/lon/lng, 纬度/lat (or a point geometry), 建筑面积/floor_area,
    可用面积/usable_area, 类型/class, 权属/ownership, 取得方式/acquisition_mode
    (改造/租赁/置换/新建 or renovate/lease/transfer/new_build), 费用/cost (one-off CNY),
    年租金/annual_cost (CNY per year), 楼层/floor (see :func:`parse_storey`: 1, -1, B1, 1F,
    地下一层, 首层, 二楼, 1-2层 …), 电梯/lift (有/无, yes/no; blank unknown),
    可用年份/year_available, 现有/existing (是/否), 服务/services (words of the policy's
    ``[sites.service_vocabulary]`` such as 日间照料;助餐 or service keys, split on
    ; ； 、 , / and spaces).

    Required: a location, and a floor area unless the row is an existing facility
    (an existing facility without one is given the sum of its services'
    ``min_floor_m2``, with a note). Existing rows (现有 = 是) naming no modelled service
    are excluded and named in a note. Defaults for missing optional values: id = row
    number; name = None; class = the policy's
    ``default_class`` (Chinese class names such as 商业, 办公, 厂房 are mapped through
    ``[sites.class_names]``; a class without defaults takes the default class's); usable area = floor area × the class's usable ratio;
    acquisition mode = the class's; costs from ``[sites.costs]``; floor and year
    unknown (NaN); existing = ``existing``.

    Parameters
    ----------
    path
        The file; never modified.
    crs
        Datum of lon/lat: ``wgs84`` (also CGCS2000), ``gcj02`` (Amap, Tencent) or
        ``bd09`` (Baidu); converted on ingest with :mod:`siting.io.coords` (round trip
        within 0.5 m). GeoPackages with a projected CRS are reprojected.
    study_area
        WGS84 polygon. Rows far outside it raise (all rows) or warn and are
        excluded (some rows); rows that would fall inside with lat and lon swapped raise.
    policy
        The ``[sites]`` table; default the packaged one.
    existing
        Treat every row as an operating facility (see :func:`read_existing`).

    Returns
    -------
    geopandas.GeoDataFrame
        Points in EPSG:4326 with the columns in :data:`COLUMNS`.

    Raises
    ------
    SitingError
        Unreadable file, missing required column or value, unknown acquisition mode,
        negative or zero area, a 楼层 or 电梯 value it cannot read, coordinates that are not lon/lat degrees or look
        swapped, duplicate ids, or an inventory entirely outside the study area;
        messages name the file, row and column.
    """
    policy = load_site_policy() if policy is None else policy
    path = Path(path)
    raw, geom, row_label = _read_table(path, crs)
    cols = _match_headers(raw, path)
    lon, lat = _coordinates(raw, cols, geom, path, row_label, crs)
    n = len(raw)

    def col(field):
        return raw[cols[field]] if field in cols else pd.Series([None] * n, index=raw.index)

    def where(i, field):
        return f"{path.name} {row_label(i)}, column {cols.get(field, field)!r}"

    ids = col("id")
    ids = pd.Series([str(v).strip() if _given(v) else str(i + 1) for i, v in enumerate(ids)])
    dup = ids[ids.duplicated(keep=False)]
    if len(dup):
        first = dup.iloc[0]
        rows = [row_label(i) for i in np.flatnonzero(ids.eq(first))]
        raise SitingError(f"{path.name}: id {first!r} appears in {' and '.join(rows)}; "
                          f"ids must be unique (fix or delete the duplicate)")

    is_existing = pd.Series([existing or (_given(v) and str(v).strip().lower() in _TRUE)
                             for v in col("existing")])
    area = _numbers(col("floor_area_m2"), "floor_area_m2", where)
    if "floor_area_m2" not in cols and not existing:
        raise SitingError(f"{path.name}: no floor-area column; add one headed 建筑面积 or "
                          f"floor_area (gross floor area, m²)")
    for i in range(n):
        if np.isnan(area[i]) and not is_existing[i]:
            raise SitingError(f"{where(i, 'floor_area_m2')}: floor area is missing; give the "
                              f"gross floor area in m²")
        if area[i] <= 0:
            raise SitingError(f"{where(i, 'floor_area_m2')}: floor area {area[i]:g} m² is not "
                              f"positive; give the gross floor area in m²")
    services, problems = _services(col("existing_services"), col("name"), is_existing, policy,
                                   row_label)
    # an operating facility without a floor area: the minimum its services need
    mins = policy.get("service_min_floor_m2", {})
    no_area = np.isnan(area) & is_existing.to_numpy()
    for i in np.flatnonzero(no_area):
        keys = services[i].split(",") if services[i] else []
        if keys:
            area[i] = sum(mins.get(k, float(policy["min_floor_area_m2"])) for k in keys)
    n_default = int((no_area & ~np.isnan(area)).sum())
    if _problems is not None:  # read_existing counts the rows it keeps
        _problems["area_defaulted"] = set(np.flatnonzero(no_area & ~np.isnan(area)).tolist())
    elif n_default:
        _area_note(path, n_default, mins)
    usable = _numbers(col("usable_area_m2"), "usable_area_m2", where)
    for i in np.flatnonzero(usable <= 0):
        raise SitingError(f"{where(i, 'usable_area_m2')}: usable area {usable[i]:g} m² is not "
                          f"positive")
    default_class = policy.get("default_class", "other")
    names = policy.get("class_names", {})
    kind = pd.Series([names.get(str(v).strip(), str(v).strip()) if _given(v) else default_class
                      for v in col("kind")])
    if existing:
        kind[col("kind").isna().to_numpy()] = "existing"
    ratio = _class_default(policy, kind, "usable_ratio").astype(float)
    usable = np.where(np.isnan(usable), area * ratio, usable)
    usable[no_area] = area[no_area]  # the defaulted area is the usable area services need
    mode = _modes(col("acquisition_mode"), _class_default(policy, kind, "acquisition_mode"),
                  where)
    out = pd.DataFrame({
        "osm_id": ids, "name": [v if _given(v) else None for v in col("name")],
        "kind": kind, "floor_area_m2": area, "usable_area_m2": usable,
        "levels_estimated": False, "acquisition_mode": mode,
        "cost": _numbers(col("cost"), "cost", where, nonneg=True),
        "annual_cost": _numbers(col("annual_cost"), "annual_cost", where, nonneg=True),
        "ground_floor": _storeys(col("floor"), where),
        "lift": _lifts(col("lift"), where),
        "year_available": _numbers(col("year_available"), "year_available", where),
        "ownership": [str(v) if _given(v) else None for v in col("ownership")],
        "existing": is_existing.to_numpy(), "existing_services": services,
        "source": np.where(is_existing, "existing", "inventory"),
    })
    frame = _finish(out, gpd.points_from_xy(lon, lat), "EPSG:4326", policy)
    if _problems is not None:
        _problems.update(problems)
    elif problems:  # existing rows of an inventory: a row with no service is not a facility
        none = [i for i in problems if services[i] is None]
        frame.loc[none, "excluded_reason"] = "existing facility naming no modelled service"
        _problem_note(path, problems, sorted(problems), int(is_existing.sum()), len(none),
                      "existing rows (现有) name no modelled service and are excluded")
    if study_area is not None:
        frame = _check_study_area(frame, lon, lat, study_area, path, row_label, policy, crs)
    return frame


def read_existing(
    path: str | Path,
    crs: str = "wgs84",
    *,
    study_area: BaseGeometry | None = None,
    policy: dict | None = None,
) -> gpd.GeoDataFrame:
    """Facilities already operating, as fixed sites (``existing=True``), in WGS84.

    Reads an inventory (see :func:`read_inventory`; floor area optional) or a POI file
    such as the Amap exports (``name,address,adname,pname,type,lat,lon``, with or
    without a 服务/services column). Services come from the 服务/services column (words
    such as ``日间照料;助餐``, split on ; ； 、 , / and spaces), else from the name, both
    through the policy's one vocabulary ``[sites.service_vocabulary]`` (e.g. 社区卫生服务站
    → ``health_station``, 老年餐桌 → ``meal_assist``; 幼儿园, schools and hospitals are
    not modelled services). Rows outside the study area are dropped (a POI file usually
    covers a whole city); rows inside it that name no modelled service are dropped too,
    and listed by row number and name in one note, as are rows with unrecognised words.
    An existing facility without a floor area gets its services' ``min_floor_m2``.
    """
    policy = load_site_policy() if policy is None else policy
    path = Path(path)
    problems: dict = {}
    frame = read_inventory(path, crs, policy=policy, existing=True, _problems=problems)
    rows = np.arange(len(frame))
    if study_area is not None:
        inside = frame.within(study_area).to_numpy()
        if not inside.any():
            raise SitingError(f"{path.name}: none of the {len(frame)} existing facilities "
                              f"lies in the study area {tuple(round(v, 4) for v in study_area.bounds)};"
                              f" check the file and --existing-crs")
        frame, rows = frame[inside], rows[inside]
    no_service = frame["existing_services"].isna().to_numpy()
    if no_service.all():
        shown = "; ".join(problems[i] for i in rows[:10] if i in problems)
        raise SitingError(
            f"{path.name}: no row names a modelled service ({shown}); add a 服务/services "
            f"column (e.g. 日间照料;助餐 or elderly_care) or use names with words of the "
            f"policy's [sites.service_vocabulary] (托育, 日间照料, 助餐, 社区卫生服务站 …)")
    _problem_note(path, problems, rows.tolist(), len(frame), int(no_service.sum()))
    n_default = len(problems.get("area_defaulted", set()) & set(rows[~no_service].tolist()))
    if n_default:
        _area_note(path, n_default, policy.get("service_min_floor_m2", {}))
    frame = frame[~no_service]
    return frame.reset_index(drop=True).assign(site_id=np.arange(int(len(frame))))


def _read_table(path: Path, crs: str):
    """Raw rows, optional geometry, and a function naming row ``i`` for messages."""
    if not path.exists():
        raise SitingError(f"inventory file not found: {path}")
    suffix = path.suffix.lower()
    geom = None
    try:
        if suffix == ".csv":
            try:
                raw = pd.read_csv(path, encoding="utf-8-sig", dtype=object)
            except UnicodeDecodeError:  # Chinese spreadsheets often save CSV as GBK
                raw = pd.read_csv(path, encoding="gb18030", dtype=object)
        elif suffix in (".xlsx", ".xlsm"):
            raw = pd.read_excel(path, sheet_name=0, dtype=object, engine="openpyxl")
        elif suffix in (".gpkg", ".geojson", ".json", ".shp"):
            gdf = gpd.read_file(path)
            if gdf.geometry.notna().any():
                try:
                    gdf = (gdf.to_crs("EPSG:4326") if gdf.crs is not None and gdf.crs.is_projected
                           else geodataframe_to_wgs84(gdf, crs))
                except ValueError as exc:
                    raise SitingError(f"{path.name}: {exc}") from exc
                geom = gdf.geometry.representative_point()
            raw = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
        else:
            raise SitingError(f"{path.name}: unsupported inventory format {suffix!r}; "
                              f"give .csv, .xlsx or .gpkg")
    except SitingError:
        raise
    except Exception as exc:  # pandas, openpyxl and pyogrio raise many kinds
        raise SitingError(f"{path}: cannot read the inventory ({exc})") from exc
    if raw.empty:
        raise SitingError(f"{path.name}: the inventory has no rows")
    raw = raw.reset_index(drop=True)
    if geom is not None:
        def row_label(i):
            return f"feature {i + 1}"
    else:
        def row_label(i):  # spreadsheet numbering: the header is row 1
            return f"row {i + 2}"
    return raw, geom, row_label


def _match_headers(raw: pd.DataFrame, path: Path) -> dict:
    """Field → the file's column name."""
    norm = {}
    for c in raw.columns:
        key = _UNIT_RE.sub("", str(c)).strip().lower().replace(" ", "")
        norm.setdefault(key, c)
    cols = {}
    for field, aliases in _HEADER_ALIASES.items():
        for a in aliases:
            if a in norm:
                cols[field] = norm[a]
                break
    return cols


def _coordinates(raw, cols, geom, path, row_label, crs):
    """WGS84 lon, lat arrays from geometry or lon/lat columns, checked."""
    if geom is not None:
        return geom.x.to_numpy(), geom.y.to_numpy()
    missing = [f for f in ("lon", "lat") if f not in cols]
    if missing:
        raise SitingError(f"{path.name}: no {' or '.join(missing)} column; give 经度/lon and "
                          f"纬度/lat in degrees (or a GeoPackage with points)")
    vals = {}
    for f in ("lon", "lat"):
        v = pd.to_numeric(raw[cols[f]], errors="coerce").to_numpy(float)
        bad = np.flatnonzero(np.isnan(v))
        if len(bad):
            raise SitingError(f"{path.name} {row_label(bad[0])}, column {cols[f]!r}: "
                              f"{raw[cols[f]].iloc[bad[0]]!r} is not a number of degrees")
        vals[f] = v
    lon, lat = vals["lon"], vals["lat"]
    for i in range(len(lon)):
        if abs(lat[i]) > 90 or abs(lon[i]) > 180:
            if abs(lon[i]) <= 90 and abs(lat[i]) <= 180:
                hint = "lat and lon look swapped; check which column is 经度 (lon) and 纬度 (lat)"
            else:
                hint = "these are not lon/lat degrees (projected metres?); give WGS84/GCJ-02/BD-09 degrees"
            raise SitingError(f"{path.name} {row_label(i)}: lon {lon[i]:g}, lat {lat[i]:g}: {hint}")
    return _convert_datum(lon, lat, crs, path)


def _convert_datum(lon, lat, crs: str, path: Path):
    try:
        return to_wgs84(lon, lat, crs)
    except ValueError as exc:
        raise SitingError(f"{path.name}: {exc}") from exc


def _given(v) -> bool:
    return v is not None and not (isinstance(v, float) and np.isnan(v)) and str(v).strip() != ""


def _numbers(values: pd.Series, field: str, where, nonneg: bool = False) -> np.ndarray:
    out = np.full(len(values), np.nan)
    for i, v in enumerate(values):
        if not _given(v):
            continue
        try:
            out[i] = float(str(v).replace(",", "").strip())
        except ValueError:
            raise SitingError(f"{where(i, field)}: {v!r} is not a number") from None
        if not np.isfinite(out[i]):
            raise SitingError(f"{where(i, field)}: {v!r} is not a finite number")
        if nonneg and out[i] < 0:
            raise SitingError(f"{where(i, field)}: {out[i]:g} is negative")
    return out


def _modes(values: pd.Series, defaults: pd.Series, where) -> list[str]:
    out = []
    for i, (v, d) in enumerate(zip(values, defaults)):
        if not _given(v):
            out.append(d)
            continue
        m = _MODE_ALIASES.get(str(v).strip().lower())
        if m is None:
            raise SitingError(f"{where(i, 'acquisition_mode')}: unknown acquisition mode {v!r}; "
                              f"use 改造/租赁/置换/新建 or {'/'.join(MODES)}")
        out.append(m)
    return out


def _check_study_area(frame, lon, lat, area, path, row_label, policy,
                      crs: str = "wgs84") -> gpd.GeoDataFrame:
    """Swapped coordinates raise; rows far outside warn and are excluded; all outside raise."""
    from shapely.geometry import Point

    tol_m = float(policy.get("outside_tolerance_m", 200.0))
    local = gpd.GeoSeries([area], crs="EPSG:4326").estimate_utm_crs()
    area_m = gpd.GeoSeries([area], crs="EPSG:4326").to_crs(local).iloc[0]
    dist = frame.to_crs(local).distance(area_m).to_numpy()
    far = dist > tol_m
    for i in np.flatnonzero(far):
        if area.contains(Point(lat[i], lon[i])):
            raise SitingError(f"{path.name} {row_label(i)}: lon {lon[i]:g}, lat {lat[i]:g} lies "
                              f"outside the study area but inside it with lat and lon swapped; "
                              f"check which column is 经度 (lon) and 纬度 (lat)")
    if far.all():
        hint = _datum_hint(lon, lat, crs, area_m, local, tol_m)
        raise SitingError(
            f"{path.name}: every row lies outside the study area "
            f"(nearest {dist.min() / 1000:,.1f} km away); "
            + (hint or "check --inventory-crs (wgs84, gcj02 or bd09) and that the file "
                       "covers this area"))
    if far.any():
        rows = ", ".join(row_label(i) for i in np.flatnonzero(far)[:10])
        warnings.warn(f"{path.name}: {int(far.sum())} rows lie more than {tol_m:g} m outside the "
                      f"study area and are excluded ({rows})", stacklevel=3)
        frame.loc[far, "excluded_reason"] = [f"{d:,.0f} m outside the study area"
                                             for d in dist[far]]
    return frame


def _datum_hint(lon, lat, crs, area_m, local, tol_m) -> str | None:
    """When WGS84 rows miss the area but would hit it read as GCJ-02 or BD-09: say so."""
    from siting.io.coords import _canonical_crs

    if _canonical_crs(crs) != "wgs84":
        return None
    for other, who in (("gcj02", "GCJ-02 (Amap, Tencent)"), ("bd09", "BD-09 (Baidu)")):
        try:
            x, y = to_wgs84(lon, lat, other)
        except ValueError:
            continue
        pts = gpd.GeoSeries(gpd.points_from_xy(x, y), crs="EPSG:4326").to_crs(local)
        if (pts.distance(area_m) <= tol_m).mean() > 0.5:
            return (f"the coordinates look like {who}, not WGS84: give --inventory-crs "
                    f"{other} (--existing-crs {other} for existing facilities) "
                    f"(or inventory_crs/existing_crs = \"{other}\" in the scenario)")
    return None


# --------------------------------------------------------------------------
# exclusions and assembly
# --------------------------------------------------------------------------
def read_exclusions(path: str | Path) -> gpd.GeoDataFrame:
    """Exclusion polygons (hazard buffers, protected areas, land ruled out) in WGS84.

    Any vector file GeoPandas reads, with a CRS. The reason reported for a candidate
    inside a polygon is its ``reason``/``原因`` column, else ``name``/``名称``, else
    ``exclusion zone <n>``.
    """
    path = Path(path)
    zones = read_vector(path, "exclusion polygons")
    zones = zones[zones.geometry.notna()]
    zones = zones[zones.geom_type.isin(["Polygon", "MultiPolygon"])]
    if zones.empty:
        raise SitingError(f"{path}: no polygons in the exclusion layer")
    label = next((c for c in ("reason", "原因", "name", "名称") if c in zones), None)
    reason = [f"in exclusion zone: {v}" if label and _given(v) else f"in exclusion zone {i + 1}"
              for i, v in enumerate(zones[label] if label else [None] * len(zones))]
    return gpd.GeoDataFrame({"reason": reason}, geometry=zones.geometry.to_numpy(),
                            crs="EPSG:4326")


def _flagged(flag: str, read, *args, **kwargs):
    """``read(*args, **kwargs)``; its SitingError starts with the flag of the file read."""
    try:
        return read(*args, **kwargs)
    except SitingError as exc:
        msg = str(exc)
        raise SitingError(msg if msg.startswith(flag) else f"{flag}: {msg}") from None


def read_vector(path: str | Path | None, what: str) -> gpd.GeoDataFrame:
    """A vector layer (GeoPackage, GeoJSON, shapefile …) in WGS84; ``what`` names it in errors."""
    if path is None or not Path(path).exists():
        raise SitingError(f"{what} file not found: {path}")
    try:
        gdf = gpd.read_file(path)
    except Exception as exc:  # pyogrio raises DataSourceError and friends
        raise SitingError(f"{path}: cannot read {what} ({exc})") from exc
    if not isinstance(gdf, gpd.GeoDataFrame) or gdf.geometry.isna().all():
        raise SitingError(f"{path}: {what} layer has no geometry (a table without shapes?); "
                          f"give a vector file such as .gpkg, .geojson or .shp")
    if gdf.crs is None:
        raise SitingError(f"{path}: {what} layer has no CRS; save it with one (e.g. EPSG:4326)")
    return gdf.to_crs("EPSG:4326")


def apply_exclusions(candidates: gpd.GeoDataFrame, zones: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Set ``excluded_reason`` of candidates inside an exclusion polygon (first reason wins).

    Existing facilities are never excluded: they operate already.
    """
    c = candidates.copy()
    z = zones.to_crs(c.crs)
    hit = gpd.sjoin(c[["geometry"]], z[["reason", "geometry"]], how="inner", predicate="within")
    hit = hit[~hit.index.duplicated()]
    free = c.loc[hit.index, "excluded_reason"].isna() & ~c.loc[hit.index, "existing"]
    idx = hit.index[free.to_numpy()]
    c.loc[idx, "excluded_reason"] = hit.loc[idx, "reason"].to_numpy()
    return c


def _described_by(osm: gpd.GeoDataFrame, inventory: gpd.GeoDataFrame,
                  buildings: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Exclude OSM candidates whose building holds an inventory row: the row wins.

    An inventory row (its area, cost and acquisition mode are the city's own) inside
    an OSM building polygon describes that building, so the building is not offered
    twice; its ``excluded_reason`` names the row.
    """
    # every row counts, also one the city marks too small: its figures win
    if not len(osm) or not len(inventory):
        return osm
    polys = gpd.GeoDataFrame({"building": buildings.index.astype(str)},
                             geometry=buildings.geometry.to_numpy(), crs=buildings.crs)
    pts = gpd.GeoDataFrame({"row": inventory["osm_id"].to_numpy(),
                            "label": inventory["name"].to_numpy()},
                           geometry=inventory.geometry.to_numpy(), crs=inventory.crs)
    hit = gpd.sjoin(pts.to_crs(polys.crs), polys, how="inner", predicate="within")
    if not len(hit):
        return osm
    label = {b: f"in the inventory as {i}" + (f" ({n})" if isinstance(n, str) and n else "")
             for b, i, n in zip(hit["building"], hit["row"], hit["label"])}
    out = osm.copy()
    take = out["osm_id"].isin(label.keys()) & out["excluded_reason"].isna() \
        & out["source"].eq("osm")
    out.loc[take, "excluded_reason"] = out.loc[take, "osm_id"].map(label)
    return out


def assemble(parts: list[gpd.GeoDataFrame], crs) -> gpd.GeoDataFrame:
    """One candidate table in ``crs``: optimiser sites first, then excluded rows.

    ``site_id`` is renumbered so that it equals the row's position in the
    optimiser's instance for every candidate not excluded.
    """
    parts = [p.to_crs(crs) for p in parts if p is not None and len(p)]
    if not parts:
        raise SitingError("no candidate sites: no stock building, inventory row or existing facility")
    c = pd.concat(parts, ignore_index=True)
    c = gpd.GeoDataFrame(c, geometry="geometry", crs=crs)
    order = np.argsort(c["excluded_reason"].notna().to_numpy(), kind="stable")
    c = c.iloc[order].reset_index(drop=True)
    c["site_id"] = np.arange(len(c))
    return c


def site_candidates(
    buildings: gpd.GeoDataFrame,
    landuse: gpd.GeoDataFrame | None,
    study_area: BaseGeometry,
    crs,
    *,
    inventory: str | Path | None = None,
    inventory_crs: str = "wgs84",
    existing: str | Path | None = None,
    existing_crs: str = "wgs84",
    exclude: str | Path | None = None,
    min_floor_area_m2: float | None = None,
    default_levels: float | None = None,
    usable_ratio: float | None = None,
    cost_per_m2: float | None = None,
    plan_year: int | None = None,
    policy: dict | None = None,
) -> gpd.GeoDataFrame:
    """Every candidate of a run: OSM stock, inventory rows and existing facilities.

    Parameters
    ----------
    buildings, landuse
        Building and land-use polygons in ``crs`` (projected).
    study_area
        WGS84 polygon (inventory rows far outside it are excluded).
    crs
        The run's projected CRS; the result is in it.
    inventory, inventory_crs, existing, existing_crs
        Files and their lon/lat datums (see :func:`read_inventory`, :func:`read_existing`).
    exclude
        Exclusion polygons (see :func:`read_exclusions`).
    min_floor_area_m2, default_levels, usable_ratio
        Override the policy's minimum and per-class defaults.
    cost_per_m2
        When > 0, a flat one-off CNY per m² for every acquisition mode (no running cost),
        instead of the policy's rates, charged as each mode's ``charged_on`` says; costs
        an inventory gives still win.
    plan_year
        When given, rows whose ``year_available`` is later are excluded (with the
        year as reason); rows without a year are kept.
    policy
        The ``[sites]`` table; default the packaged one.

    Returns
    -------
    geopandas.GeoDataFrame
        The candidate table (:data:`COLUMNS`) ordered by :func:`assemble`.
    """
    policy = load_site_policy() if policy is None else policy
    if cost_per_m2:
        flat = {m: {**policy["costs"][m], "one_off_per_m2": float(cost_per_m2),
                    "annual_per_m2": 0.0} for m in MODES}
        policy = {**policy, "costs": {**policy["costs"], **flat}}
    minimum = policy["min_floor_area_m2"] if min_floor_area_m2 is None else min_floor_area_m2
    parts = [candidates_from_buildings(buildings, landuse, policy=policy,
                                       default_levels=default_levels, usable_ratio=usable_ratio,
                                       min_floor_area_m2=minimum)]
    if inventory is not None:
        inv = _exclude_small(_flagged("--inventory", read_inventory, inventory, inventory_crs,
                                      study_area=study_area, policy=policy), minimum)
        if plan_year is not None:
            late = (inv["year_available"] > plan_year) & inv["excluded_reason"].isna() \
                & ~inv["existing"]
            inv.loc[late, "excluded_reason"] = [
                f"available from {y:.0f}, after the plan year {plan_year}"
                for y in inv.loc[late, "year_available"]]
        parts[0] = _described_by(parts[0], inv, buildings)
        parts.append(inv)
    if existing is not None:
        parts.append(_flagged("--existing", read_existing, existing, existing_crs,
                              study_area=study_area, policy=policy))
    c = assemble(parts, crs)
    if exclude is not None:
        zones = _flagged("--exclude", read_exclusions, exclude)
        if not zones.intersects(study_area).any():
            b = tuple(round(v, 4) for v in zones.total_bounds)
            warnings.warn(f"--exclude {Path(exclude).name}: none of its {len(zones)} polygons "
                          f"touches the study area {tuple(round(v, 4) for v in study_area.bounds)}"
                          f" (the polygons span {b}); nothing is excluded — check the file and "
                          f"its CRS", UserWarning, stacklevel=2)
        c = assemble([apply_exclusions(c, zones)], crs)
    return c
