"""Report tables of a run: summary KPIs, sites, services per site, community compliance,
cost breakdown, unmet demand — as an Excel workbook (Chinese and English headers),
CSV files and GeoPackage layers.

Columns added by later stages (services: ``area_m2_<service>``, ``units_<service>``;
demand groups and communities: ``community_id``, ``community_name``; candidate
attributes: ``acquisition_mode``, ``existing``, ``source``) are used when present;
without them the tables fall back to what the run has (e.g. unmet demand by network
component instead of by community).
"""

from __future__ import annotations

from collections.abc import Set
from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd

from siting.costs import COST_PARTS
from siting.models.embedded.rooms import PROGRAMME_COLUMNS
from siting.report.common import (
    TIERS_MIN,
    map_lang,
    number_or_zero,
    served_by_site,
    served_by_tier,
    services,
)
from siting.report.i18n import both, label
from siting.report.views import (
    col_labels,
    household_services,
    kpi_label,
    public_table,
    value_text,
)

if TYPE_CHECKING:
    from siting.pipeline import RunResult

# a site's cost breakdown (siting.costs.price; an embedded plan's own on its sites):
# cost_total = cost_one_off + cost_fit_out + cost_rent_horizon
COST_COLUMNS = (*COST_PARTS, "cost_total")
SHEETS = ("summary", "sites", "services", "communities", "costs", "unmet")
OPTIONAL_SITE_COLS = ("acquisition_mode", "source", "existing", "existing_services", "year_open")
_INT_FMT, _AREA_FMT, _SHARE_FMT, _DEG_FMT = "#,##0", "#,##0.0", "0.0%", "0.000000"


def summary_table(result: RunResult) -> pd.DataFrame:
    """The headline numbers of ``summary.json`` as a table.

    Parameters
    ----------
    result
        The run.

    Returns
    -------
    pandas.DataFrame
        One row per number: ``key`` (as in summary.json; nested dicts flattened as
        ``key.sub``; lists such as ``components`` are left to summary.json), ``value``,
        and ``item_zh``/``item_en``, the key as people read it (units said: a
        household service's numbers are households).
    """
    rows = []
    for key, value in result.summary.items():
        if isinstance(value, dict):
            rows += [(f"{key}.{k}", _scalar(v)) for k, v in value.items()
                     if not isinstance(v, (dict, list))]
        elif not isinstance(value, (list, tuple)):
            rows.append((key, _scalar(value)))
    out = pd.DataFrame(rows, columns=["key", "value"])
    hh = household_services(result)
    for lang in ("zh", "en"):  # the translated view of summary.json's keys
        out[f"item_{lang}"] = [kpi_label(k, lang, hh) for k in out["key"]]
    return out


# why each chosen site (siting.pipeline._explain; embedded: the plan's marginal values)
EXPLAIN_COLS = ("unique_covered", "unique_per_10k_cny", "cost_rank_in_reach", "loss_if_dropped",
                "marginal_value", "marginal_people")


def sites_table(result: RunResult, tiers_min: tuple[float, ...] = TIERS_MIN) -> gpd.GeoDataFrame:
    """The chosen sites.

    Parameters
    ----------
    result
        The run.
    tiers_min
        Walking tiers (minutes) people served are counted within.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per chosen site with area, cost breakdown (:data:`COST_COLUMNS`),
        people covered (``covered_population``: in reach, for whom it is the nearest
        chosen site; and by walking tier), for a plan the people (households for a
        household service) it serves per service (``served_<service>``, summing to
        ``served_by_service``), and ``lon``/``lat``, in WGS-84.
    """
    s = result.chosen_sites.to_crs("EPSG:4326")
    cols = ["site_id", "name", "kind", *[c for c in OPTIONAL_SITE_COLS if c in s],
            "floor_area_m2", "usable_area_m2", "levels_estimated",
            *[c for c in ("area_used_m2",) if c in s], *_cost_cols(s),
            "covered_population", "population_in_reach",
            *[c for c in EXPLAIN_COLS if c in s], *[c for c in PROGRAMME_COLUMNS if c in s]]
    out = pd.DataFrame(s[cols]).reset_index(drop=True)
    served = served_by_tier(result, tiers_min)
    out = out.join(served, on="site_id")
    plan = served_by_site(result)  # a plan's people (households) served per service
    if plan is not None:
        out = out.join(plan.add_prefix("served_"), on="site_id").fillna(
            {f"served_{k}": 0.0 for k in plan.columns})
    out["lon"], out["lat"] = s.geometry.x.to_numpy(), s.geometry.y.to_numpy()
    out["source_id"] = s["source_id"].to_numpy()
    return gpd.GeoDataFrame(out, geometry=s.geometry.to_numpy(), crs="EPSG:4326")


def services_table(result: RunResult) -> pd.DataFrame:
    """Services per chosen site.

    Parameters
    ----------
    result
        The run.

    Returns
    -------
    pandas.DataFrame
        Floor area and units of each service at each chosen site (long form:
        ``site_id``, ``name``, ``service``, ``area_m2``, ``units``; empty when the run
        allocates no services).
    """
    keys = services(result.sites)
    s = result.chosen_sites
    rows = []
    for _, c in s.iterrows():
        for k in keys:
            area = number_or_zero(c.get(f"area_m2_{k}"))
            if area > 0:
                rows.append({"site_id": int(c["site_id"]), "name": c.get("name"), "service": k,
                             "area_m2": area, "units": number_or_zero(c.get(f"units_{k}"))})
    return pd.DataFrame(rows, columns=["site_id", "name", "service", "area_m2", "units"])


STANDARD_COLS = ["community_id", "name", "households", "required_m2", "provided_m2", "met",
                 "shortfall_m2", "reachable_m2"]


def communities_table(result: RunResult) -> pd.DataFrame:
    """Compliance per community. With an embedded plan: the area standard first (households,
    required and provided m², met, shortfall, m² in reach), then the people served; else
    population served per ``community_id`` of the demand, else one row for the whole
    study area.

    Parameters
    ----------
    result
        The run.

    Returns
    -------
    pandas.DataFrame
        One row per community (or one for the study area).
    """
    plan = result.plan
    if plan is not None and len(plan.communities):
        std = plan.communities[STANDARD_COLS].copy()
        std["community_id"] = std["community_id"].astype(str)
        d = result.demand
        if "community_id" in d:
            g = d.assign(cov=d["population"].where(d["covered"].astype(bool), 0.0),
                         community_id=d["community_id"].astype(str)).groupby("community_id")
            served = pd.DataFrame({"total_population": g["population"].sum(),
                                   "covered_population": g["cov"].sum()}).reset_index()
            std = std.merge(served, on="community_id", how="left")
        return std.reset_index(drop=True)
    d = result.demand
    if "community_id" in d and d["community_id"].notna().any():
        keys = ["community_id"] + (["community_name"] if "community_name" in d else [])
        g = d.assign(cov=d["population"].where(d["covered"].astype(bool), 0.0)) \
             .groupby(keys, dropna=False)
        out = pd.DataFrame({"total_population": g["population"].sum(),
                            "covered_population": g["cov"].sum()}).reset_index()
    else:
        out = pd.DataFrame({"group": [label("study_area", "zh") + " / " +
                                      label("study_area", "en")],
                            "total_population": [float(d["population"].sum())],
                            "covered_population": [float(result.summary["covered_population"])]})
    out["covered_share"] = out["covered_population"] / out["total_population"].where(
        out["total_population"] > 0)
    return out


def _cost_cols(s: pd.DataFrame) -> list[str]:
    """The breakdown columns of a site table (a table without them: ``cost``)."""
    return [c for c in COST_COLUMNS if c in s] if "cost_total" in s else ["cost"]


def costs_table(result: RunResult) -> pd.DataFrame:
    """Cost breakdown of each chosen site and its share, with a total row (``site_id``
    empty): ``annual_cost`` (CNY per year) and :data:`COST_COLUMNS`, the same columns
    as the sites sheet, sites.gpkg and the map; shares are of ``cost_total``, the total
    row's ``cost_total`` is the summary's.

    Parameters
    ----------
    result
        The run.

    Returns
    -------
    pandas.DataFrame
        One row per chosen site and the total row.
    """
    s = result.chosen_sites
    money = [*[c for c in ("annual_cost",) if c in s], *_cost_cols(s)]
    cols = ["site_id", "name", *[c for c in ("acquisition_mode",) if c in s],
            "usable_area_m2", *[c for c in ("area_used_m2",) if c in s], *money]
    out = pd.DataFrame(s[cols]).reset_index(drop=True)
    out["site_id"] = out["site_id"].astype("Int64")
    key = "cost_total" if "cost_total" in out else "cost"
    total = float(out[key].sum())
    out["cost_share"] = out[key] / total if total > 0 else np.nan
    tot = {"site_id": pd.NA, "name": label("total", "zh") + " / " + label("total", "en"),
           **{c: float(out[c].sum()) for c in ("usable_area_m2", "area_used_m2") if c in out},
           **{c: float(out[c].sum()) for c in money},
           "cost_share": 1.0 if total > 0 else np.nan}
    return pd.concat([out, pd.DataFrame([tot])], ignore_index=True)


def unmet_table(result: RunResult) -> pd.DataFrame:
    """Where the uncovered people are.

    Parameters
    ----------
    result
        The run.

    Returns
    -------
    pandas.DataFrame
        Per community (or per network component when the demand has no communities)
        with uncovered people, most first: total, uncovered, of which with no candidate
        within reach at all, and uncovered demand points.
    """
    d = result.demand
    coverable = result.instance.coverable()
    key = ("community_id" if "community_id" in d and d["community_id"].notna().any()
           else "component")
    keys = [key] + (["community_name"] if key == "community_id" and "community_name" in d else [])
    unc = ~d["covered"].astype(bool).to_numpy()
    pop = d["population"].to_numpy(dtype=float)
    t = d[keys].copy()
    t["total_population"] = pop
    t["uncovered_population"] = np.where(unc, pop, 0.0)
    t["unreachable_population"] = np.where(~coverable, pop, 0.0)
    t["uncovered_points"] = unc.astype(int)
    out = t.groupby(keys, dropna=False).sum().reset_index()
    out = out[out["uncovered_population"] > 0]
    return out.sort_values("uncovered_population", ascending=False).reset_index(drop=True)


def unmet_by_service_table(result: RunResult) -> pd.DataFrame | None:
    """Unmet demand and people served per service.

    Parameters
    ----------
    result
        The run.

    Returns
    -------
    pandas.DataFrame or None
        ``service``, ``unit`` (``people`` or ``households``), ``served``
        (``summary["served_by_service"]``) and ``unmet`` (``unmet_by_service``), in that
        unit; None when the run has no services.
    """
    s = result.summary
    if not isinstance(s.get("unmet_by_service"), dict):
        return None
    served = s.get("served_by_service") or {}
    hh = household_services(result)
    return pd.DataFrame([{"service": k, "unit": "households" if k in hh else "people",
                          "served": _scalar(served.get(k)), "unmet": _scalar(v)}
                         for k, v in s["unmet_by_service"].items()])


def report_tables(result: RunResult) -> dict[str, pd.DataFrame]:
    """Every report table.

    Parameters
    ----------
    result
        The run.

    Returns
    -------
    dict of str to pandas.DataFrame
        The tables by sheet key (:data:`SHEETS`, and ``unmet_by_service`` when the run
        has services, and an embedded plan's ``extra`` tables such as ``shared_rooms``).
    """
    tables = {"summary": summary_table(result), "sites": sites_table(result),
              "services": services_table(result), "communities": communities_table(result),
              "costs": costs_table(result), "unmet": unmet_table(result)}
    extra = unmet_by_service_table(result)
    if extra is not None:
        tables["unmet_by_service"] = extra
    if result.plan is not None:  # shared rooms, levels, a programme's annual plan, funding …
        tables.update(result.plan.sheets)
    return tables


def write_tables(result: RunResult, folder: str | Path,
                 lang: str = "zh") -> dict[str, pd.DataFrame]:
    """Write ``report.xlsx``, ``tables/<name>.csv`` (UTF-8 with BOM, opens in Excel) and
    ``report.gpkg`` (one layer per table; sites as points) into ``folder``.

    Parameters
    ----------
    result
        The run.
    folder
        An existing folder.
    lang
        Language of the sheet names and key values (headers are in both).

    Returns
    -------
    dict of str to pandas.DataFrame
        The tables (:func:`report_tables`), with the internal ``site_id`` the PDF joins on;
        the files show the stable ``source_id`` instead (:func:`public_table`).
    """
    folder = Path(folder)
    tables = report_tables(result)
    ids = result.sites["source_id"].to_numpy()
    public = {name: public_table(df, ids) for name, df in tables.items()}
    write_workbook(public, folder / "report.xlsx", lang, household_services(result))
    (folder / "tables").mkdir(exist_ok=True)
    import pyogrio

    for name, df in public.items():
        plain = pd.DataFrame(df.drop(columns="geometry", errors="ignore"))
        write_csv(plain, folder / "tables" / f"{name}.csv")
        if isinstance(df, gpd.GeoDataFrame):
            df.to_file(folder / "report.gpkg", layer=name, driver="GPKG")
        else:
            pyogrio.write_dataframe(_gpkg_safe(plain), folder / "report.gpkg", layer=name)
    return tables


def write_workbook(tables: dict[str, pd.DataFrame], path: str | Path, lang: str = "zh",
                   households: Set[str] = frozenset()) -> None:
    """Write an Excel workbook: one sheet per table, two header rows (Chinese, English),
    number formats by column and frozen header rows; every value and the summary's items
    in ``lang`` (the ``key`` column keeps summary.json's keys).

    Parameters
    ----------
    tables
        Tables by sheet key.
    path
        The workbook to write.
    lang
        Language of the sheet names and key values (e.g. building classes).
    households
        Services counted in households (their people-served columns say so).
    """
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    wb.remove(wb.active)
    head_font, head_fill = Font(bold=True), PatternFill("solid", fgColor="DDEBF7")
    for name, df in tables.items():
        zh, en = both(f"sheet_{name}") if f"sheet_{name}" in _SHEET_KEYS else both(name)
        ws = wb.create_sheet((zh if lang == "zh" else en)[:31])
        df = pd.DataFrame(df.drop(columns="geometry", errors="ignore"))
        if name == "summary":  # summary.json's key, the item in lang, the value in lang
            item = df[f"item_{lang}"] if f"item_{lang}" in df else \
                [kpi_label(k, lang, households) for k in df["key"]]
            df = pd.DataFrame({"key": df["key"], "item": item,
                               "value": [value_text(k.split(".")[0], v, lang)
                                         for k, v in zip(df["key"], df["value"])]})
            heads = [both("key"), both("item"), both("value")]
        else:
            heads = [col_labels(c, households) for c in df.columns]
        for r, row_labels in enumerate(zip(*heads), start=1):
            for c, text in enumerate(row_labels, start=1):
                cell = _text_cell(ws, r, c, text)
                cell.font, cell.fill = head_font, head_fill
                cell.alignment = Alignment(wrap_text=True, vertical="top")
        for r, values in enumerate(df.itertuples(index=False), start=3):
            for c, (col, v) in enumerate(zip(df.columns, values), start=1):
                cell = _text_cell(ws, r, c, value_text(col, _cell(v), lang))
                fmt = _number_format(col, v)
                if fmt:
                    cell.number_format = fmt
        for c, col in enumerate(df.columns, start=1):
            width = max([len(str(h[c - 1])) for h in zip(*heads)] +
                        [len(str(v)) for v in df[col].head(200)] + [6])
            ws.column_dimensions[get_column_letter(c)].width = min(width + 2, 48)
        ws.freeze_panes = "B3" if name != "summary" else "A3"
    path = Path(path)
    wb.save(path)


_SHEET_KEYS = {f"sheet_{k}" for k in SHEETS}

# a text cell starting with one of these is read by Excel as a formula (OWASP CSV injection;
# full-width forms too, which CJK input turns into formulas)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")


def write_csv(df: pd.DataFrame, path: str | Path) -> None:
    """CSV that opens safely in Excel: UTF-8 with BOM (Chinese is not garbled), and every
    text cell Excel would run as a formula prefixed with ``'`` (shown as text, readable).

    Parameters
    ----------
    df
        The table; only text cells are changed (numbers stay numbers).
    path
        Where to write.
    """
    df = pd.DataFrame(df).copy()
    for col in df.columns:
        if df[col].dtype == object or pd.api.types.is_string_dtype(df[col]):
            df[col] = df[col].map(_csv_text)
    df.to_csv(path, index=False, encoding="utf-8-sig")


def _csv_text(v):
    return "'" + v if isinstance(v, str) and v.startswith(_FORMULA_START) else v


def _text_cell(ws, row: int, column: int, value):
    """A worksheet cell holding ``value``; text is always stored as text, never as a
    formula, and characters XML cannot hold are replaced by U+FFFD."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    if not isinstance(value, str):
        return ws.cell(row=row, column=column, value=value)
    cell = ws.cell(row=row, column=column)
    cell.value = ILLEGAL_CHARACTERS_RE.sub("\ufffd", value)
    cell.data_type = "s"  # openpyxl makes "=…" a formula; store it as the text it is
    return cell


def _number_format(col: str, v) -> str | None:
    if not isinstance(v, (int, float, np.integer, np.floating)) or isinstance(v, bool):
        return None
    if not np.isfinite(v):
        return None
    if col.endswith("share") or col == "covered_share":
        return _SHARE_FMT
    if col in ("lon", "lat"):
        return _DEG_FMT
    if "population" in col or col.startswith("served") or col in ("units", "uncovered_points",
                                                                  "unmet", "cost",
                                                                  *COST_COLUMNS, "annual_cost"):
        return _INT_FMT
    if "area" in col:
        return _AREA_FMT
    if isinstance(v, (float, np.floating)):
        return "#,##0.###"
    return None


def _cell(v):
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v) if np.isfinite(v) else None
    if isinstance(v, (int, str)):
        return v
    return str(v)


def _scalar(v):
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    return v


def bools_as_int8(df: pd.DataFrame) -> pd.DataFrame:
    """A table ready for a GeoPackage layer.

    Parameters
    ----------
    df
        A table or layer.

    Returns
    -------
    pandas.DataFrame
        A copy with boolean columns as 0/1 (``int8``), as GeoPackage fields hold them.
    """
    df = df.copy()
    for col in df.columns:
        if df[col].dtype == bool:
            df[col] = df[col].astype("int8")
    return df


def _gpkg_safe(df: pd.DataFrame) -> pd.DataFrame:
    """Mixed-type object columns as text, booleans as 0/1 (GeoPackage field types)."""
    df = bools_as_int8(df)
    for col in df.columns:
        if df[col].dtype == object:
            df[col] = df[col].map(lambda v: None if v is None else str(v))
    return df


HEADLINE = ("total_population", "covered_population", "covered_share", "coverable_population",
            "n_sites_chosen", "n_candidate_sites", "cost_total", "budget", "status", "mip_gap",
            "solver", "threshold_m", "communities_meeting_standard", "communities_total",
            "runtime_s")


def result_html(result: RunResult, lang: str | None = None, max_rows: int = 20) -> str:
    """Readable HTML of a run for Jupyter: headline numbers and the chosen sites.

    Parameters
    ----------
    result
        The run.
    lang
        ``"zh"``, ``"en"`` or None (by study area).
    max_rows
        Most sites listed.

    Returns
    -------
    str
        An HTML fragment; names from data escaped by pandas.
    """
    lang = map_lang(result, lang)
    s = result.summary
    kpi = pd.DataFrame(
        [(label(k, lang), _fmt(k, s[k])) for k in HEADLINE if s.get(k) is not None],
        columns=[label("item", lang), label("value", lang)])
    sites = pd.DataFrame(public_table(sites_table(result), result.sites["source_id"])
                         .drop(columns=["geometry", "lon", "lat"]))
    sites.columns = [col_labels(c)[0 if lang == "zh" else 1] for c in sites.columns]
    more = (f"<p>… {len(sites) - max_rows} more</p>" if len(sites) > max_rows else "")
    return (f"<div><h4>{label('sheet_summary', lang)}</h4>{kpi.to_html(index=False)}"
            f"<h4>{label('sheet_sites', lang)}</h4>"
            f"{sites.head(max_rows).to_html(index=False, float_format=lambda v: f'{v:,.0f}')}"
            f"{more}</div>")


def _fmt(key: str, v) -> str:
    if isinstance(v, float):
        if key.endswith("share") or key == "mip_gap":
            return f"{100 * v:.1f} %"
        return f"{v:,.1f}" if key.endswith("_s") else f"{v:,.0f}"
    return str(v)
