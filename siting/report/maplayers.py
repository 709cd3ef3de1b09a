"""Map layers of what the plan does: who is assigned where, who is not served per service,
and the site popups.

Called from :func:`siting.report.webmap.make_map` while its page is built, so every text
shown goes through :func:`siting.report.markup.esc` here too. Lines and points are written
as one GeoJSON layer each (coordinates rounded like the offline basemap), so the file stays
small with thousands of demand points.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

import folium
import geopandas as gpd
import numpy as np
import pandas as pd

from siting.costs import COST_PARTS
from siting.report.basemap import COORD_DECIMALS
from siting.report.common import as_text, number_or_zero, served_by_site, services
from siting.report.i18n import key_list, value_label
from siting.report.markup import esc, swatch

if TYPE_CHECKING:
    from siting.pipeline import RunResult

SITE_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                "#17becf", "#bcbd22", "#7f7f7f"]
SERVICE_COLOURS = ["#e6007e", "#7b3294", "#c2a5cf", "#008837", "#a6611a", "#0571b0",
                   "#ca0020", "#404040"]
ASSIGN_COLOUR = "#555555"  # the legend's line; each site's lines have their own colour
MIN_UNSERVED = 0.01  # people: a demand point below this counts as served
UNSERVED_SIZES = (2.5, 4.0, 5.5, 7.0)  # dot radii of unserved demand, by sqrt(people left)


def points_layer(m: folium.Map, gdf: gpd.GeoDataFrame, name: str, colour, radius,
                 tip: list[str], show: bool = True) -> folium.FeatureGroup:
    """Many circle markers as one GeoJSON layer (a small file even with thousands of points).

    Parameters
    ----------
    m
        The map.
    gdf
        Points in the map's frame.
    name
        Layer name (already escaped).
    colour
        One CSS colour, or one per point.
    radius
        Pixels, one value or one per point.
    tip
        Tooltip text per point (escaped here).
    show
        Whether the layer is on when the map opens.

    Returns
    -------
    folium.FeatureGroup
        The layer, added to ``m``.
    """
    n = len(gdf)
    colour = [colour] * n if isinstance(colour, str) else list(colour)
    radius = np.broadcast_to(np.asarray(radius, dtype=float), (n,))
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point",
                                         "coordinates": [round(x, 7), round(y, 7)]},
         "properties": {"tip": esc(t), "c": c, "r": round(float(r), 2)}}
        for x, y, t, c, r in zip(gdf.geometry.x, gdf.geometry.y, tip, colour, radius)]}
    g = folium.FeatureGroup(name=name, show=show)
    if n:
        folium.GeoJson(
            fc, marker=folium.CircleMarker(radius=4, fill=True, weight=1),
            style_function=lambda f: {"color": f["properties"]["c"],
                                      "fillColor": f["properties"]["c"],
                                      "radius": f["properties"]["r"], "fillOpacity": 0.75,
                                      "weight": 1},
            tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False),
        ).add_to(g)
    g.add_to(m)
    return g


def year_layers(m: folium.Map, sites: gpd.GeoDataFrame, L: Callable[..., str],
                legend: list[str]) -> None:
    """One layer per year of a programme: the sites opened that year (``year_open``).

    Parameters
    ----------
    m
        The map.
    sites
        The new sites of the plan in the map's frame, with ``year_open``.
    L
        Label of a key in the map's language.
    legend
        Legend entries; one is added per year.
    """
    years = sorted({int(y) for y in sites["year_open"] if np.isfinite(y)})
    for k, year in enumerate(years):
        at = sites[sites["year_open"].to_numpy(float) == year]
        colour = SITE_COLOURS[k % len(SITE_COLOURS)]
        name = L("opened_in", y=year)
        points_layer(m, at, esc(name), colour=colour, radius=9.0,
                     tip=[f"{as_text(c.get('name')) or c['site_id']}: {name}"
                          for _, c in at.iterrows()])
        legend.append(swatch(colour, name, dot=True))


def assignment_pairs(result: RunResult) -> pd.DataFrame:
    """Which demand point goes to which site: one row per (demand point, site).

    Parameters
    ----------
    result
        The run.

    Returns
    -------
    pandas.DataFrame
        ``demand`` and ``site`` (rows of ``result.demand`` and ``result.sites``) and
        ``people``: for an embedded plan its assignments summed over services; for a
        covering run each covered point and its nearest chosen site (``nearest_site``).
    """
    if result.plan is not None:
        a = result.plan.assignments
        a = a[a["people"] > 0]
        return a.groupby(["demand", "site"], as_index=False)["people"].sum()
    d = result.demand
    near = d["nearest_site"].to_numpy(np.int64)
    ok = d["covered"].astype(bool).to_numpy() & (near >= 0)
    return pd.DataFrame({"demand": np.flatnonzero(ok), "site": near[ok],
                         "people": d["population"].to_numpy(float)[ok]})


def assignment_layer(m: folium.Map, result: RunResult, demand: gpd.GeoDataFrame,
                     sites: gpd.GeoDataFrame, L: Callable[..., str], lang: str,
                     legend: list[str]) -> folium.FeatureGroup:
    """The toggled layer of thin lines from each demand point to the site serving it.

    One GeoJSON feature per site (a multi-line of its demand points, in the site's colour,
    tooltip: its name, the number of points and the people served, per service for a
    plan); off when the map opens.

    Parameters
    ----------
    m
        The map.
    result
        The run.
    demand, sites
        ``result.demand`` and ``result.sites`` in the map's frame (same rows).
    L
        Label of a key in the map's language.
    lang
        ``"zh"`` or ``"en"``.
    legend
        Legend entries; the layer's is appended.

    Returns
    -------
    folium.FeatureGroup
        The layer, added to ``m``.
    """
    pairs = assignment_pairs(result)
    dx, dy = demand.geometry.x.to_numpy(), demand.geometry.y.to_numpy()
    sx, sy = sites.geometry.x.to_numpy(), sites.geometry.y.to_numpy()
    per_service = served_by_site(result)
    features = []
    for k, (j, grp) in enumerate(pairs.groupby("site", sort=True)):
        i = grp["demand"].to_numpy(np.int64)
        ends = np.round(np.stack([np.column_stack([dx[i], dy[i]]),
                                  np.tile([sx[j], sy[j]], (len(i), 1))], axis=1),
                        COORD_DECIMALS)
        name = site_title(sites.iloc[int(j)], L)
        if per_service is not None and int(j) in per_service.index:
            served = [f"{L(s)} {_people(v)}" for s, v in per_service.loc[int(j)].items() if v > 0]
        else:
            served = [f"{_people(grp['people'].sum())} {L('people')}"]
        tip = L("assigned_to", site=name, n=len(i)) + " · " + _sep(lang).join(served)
        features.append({"type": "Feature", "properties": {
            "k": "assign", "n": int(len(i)), "c": SITE_COLOURS[k % len(SITE_COLOURS)],
            "tip": esc(tip)}, "geometry": {"type": "MultiLineString",
                                           "coordinates": ends.tolist()}})
    g = folium.FeatureGroup(name=esc(L("assignments")), show=False)
    if features:
        folium.GeoJson({"type": "FeatureCollection", "features": features},
                       style_function=lambda f: {"color": f["properties"]["c"], "weight": 1.2,
                                                 "opacity": 0.75},
                       tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False)).add_to(g)
    g.add_to(m)
    legend.append(swatch(ASSIGN_COLOUR, L("assignments"), solid=1))
    return g


def unserved_by_service(result: RunResult) -> dict[str, np.ndarray]:
    """People of each service's group left unserved at each demand point by the plan.

    Parameters
    ----------
    result
        An embedded run (``result.plan``).

    Returns
    -------
    dict of str to numpy.ndarray
        Service key → people per demand point (rows of ``result.demand``): the people of
        its demand group (``summary.json`` ``assumptions``) less those the plan assigns
        there, within that service's walk or not at all. Services whose group is not a
        demand column are left out; empty without a plan.
    """
    if result.plan is None:
        return {}
    spec = (result.summary.get("assumptions") or {}).get("services") or {}
    a = result.plan.assignments
    got = a.groupby(["service", "demand"])["people"].sum()
    out = {}
    for k in result.plan.services["service"]:
        group = (spec.get(k) or {}).get("demand_group")
        if group not in result.demand:
            continue
        need = result.demand[group].to_numpy(float)
        served = np.zeros(len(need))
        if k in got.index.get_level_values(0):
            s = got.loc[k]
            served[s.index.to_numpy(np.int64)] = s.to_numpy(float)
        out[str(k)] = np.clip(need - served, 0.0, None)
    return out


def unserved_layers(m: folium.Map, result: RunResult, demand: gpd.GeoDataFrame,
                    L: Callable[..., str], legend: list[str]) -> list[folium.FeatureGroup]:
    """One toggled layer per service of the demand the plan leaves unserved (off when the
    map opens), the dot sized by the people left; a legend entry each.

    Kept small for thousands of points: the people left are a number per point and the
    tooltip's text is the layer's own; dots come in :data:`UNSERVED_SIZES` (pixels).

    Parameters
    ----------
    m
        The map.
    result
        An embedded run.
    demand
        ``result.demand`` in the map's frame.
    L
        Label of a key in the map's language.
    legend
        Legend entries; one per layer is appended.

    Returns
    -------
    list of folium.FeatureGroup
        The layers, in the plan's service order.
    """
    x, y = demand.geometry.x.to_numpy(), demand.geometry.y.to_numpy()
    layers = []
    for n, (k, left) in enumerate(unserved_by_service(result).items()):
        who = _group(result, k, L, "en")  # " (0–2 岁)": the alias stays on one line
        what = "unserved_households" if _spec(result, k).get("demand_group") == "households" \
            else "unserved_people"
        colour = SERVICE_COLOURS[n % len(SERVICE_COLOURS)]
        name = L("unserved_service", s=L(k))
        tip = folium.GeoJsonTooltip(fields=["u"], aliases=[esc(
            f"{L(k)}{who} · {L(what)}")], localize=True)
        g = folium.FeatureGroup(name=esc(name), show=False)
        idx = np.flatnonzero(left >= MIN_UNSERVED)
        size = np.sqrt(left[idx] / max(float(left.max()), 1e-9))  # 0…1
        size = np.minimum((size * len(UNSERVED_SIZES)).astype(int), len(UNSERVED_SIZES) - 1)
        for c, radius in enumerate(UNSERVED_SIZES):
            pts = idx[size == c]
            if not len(pts):
                continue
            fc = {"type": "FeatureCollection", "features": [
                {"type": "Feature", "properties": {"u": round(float(left[i]), 1)},
                 "geometry": {"type": "Point", "coordinates": [
                     round(float(x[i]), COORD_DECIMALS), round(float(y[i]), COORD_DECIMALS)]}}
                for i in pts]}
            folium.GeoJson(fc, marker=folium.CircleMarker(
                radius=radius, color=colour, fill=True, fill_color=colour, fill_opacity=0.75,
                weight=1), tooltip=tip if c == 0 else folium.GeoJsonTooltip(
                    fields=["u"], aliases=tip.aliases, localize=True)).add_to(g)
        g.add_to(m)
        layers.append(g)
        legend.append(swatch(colour, name, dot=True))
    return layers


def _people(v: float) -> str:
    v = float(v)
    return f"{v:,.0f}" if v >= 10 or v == 0 else f"{v:,.1f}"


def _sep(lang: str) -> str:
    return "；" if lang == "zh" else "; "


def _paren(text: str, lang: str) -> str:
    return f"（{text}）" if lang == "zh" else f" ({text})"


def _spec(result: RunResult, key: str) -> dict:
    """A service as the run's policy had it (``summary.json`` ``assumptions``), or {}."""
    return ((result.summary.get("assumptions") or {}).get("services") or {}).get(key) or {}


def _unit(result: RunResult, key: str, n: float, L: Callable[..., str], lang: str) -> str:
    """The service's unit (``托位`` / ``places``) for ``n`` of them, from the policy."""
    m = re.match(r"^\s*(.*?)\s*\((.+)\)\s*$", as_text(_spec(result, key).get("unit")))
    if m is None:
        return L("units").split("（")[0].split(" (")[0]
    zh, en = m.groups()
    return zh if lang == "zh" else en + ("" if en.endswith("s") or round(n) == 1 else "s")


def _group(result: RunResult, key: str, L: Callable[..., str], lang: str) -> str:
    """The people a service serves, when not everyone: （0–2 岁）."""
    group = _spec(result, key).get("demand_group")
    return "" if group in (None, "population", "households") else _paren(L(group), lang)


def served_text(result: RunResult, key: str, value: float, L: Callable[..., str],
                lang: str, group: bool = True) -> str:
    """People (or households) a service serves, as shown: ``50 人（0–2 岁）``, ``2,337 户``.

    Parameters
    ----------
    result
        The run (its policy's demand group of ``key``, from ``summary.json``).
    key
        A service key.
    value
        People of its demand group (households for a service of households).
    L
        Label of a key in the map's language.
    lang
        ``"zh"`` or ``"en"``.
    group
        Name the age group served (e.g. 0–2 岁) after the number.

    Returns
    -------
    str
        The number with its unit.
    """
    if _spec(result, key).get("demand_group") == "households":
        return f"{_people(value)} {L('households_unit')}"
    return f"{_people(value)} {L('people')}" + (_group(result, key, L, lang) if group else "")


def site_title(c: pd.Series, L: Callable[..., str]) -> str:
    """A site as labels and tooltips name it: its name, else 场所编号 w123 (its stable id).

    Parameters
    ----------
    c
        One row of ``result.sites``.
    L
        Label of a key in the map's language.

    Returns
    -------
    str
        The name or the id (unescaped).
    """
    return as_text(c.get("name")) or f"{L('site_id')} {as_text(c.get('source_id'))}"


def _id_label(c: pd.Series) -> str:
    """Label key of a site's id by where it comes from (an inventory's 编号 is no OSM id)."""
    src, oid = as_text(c.get("source")), as_text(c.get("source_id"))
    by_source = {"osm": "osm_id", "inventory": "id_inventory", "existing": "id_existing"}
    if src in by_source:
        return by_source[src]
    return "osm_id" if re.fullmatch(r"[nwr]\d+", oid) else "id_other"


def site_popup(c: pd.Series, result: RunResult, L: Callable[..., str],
               served: pd.DataFrame | None, lang: str) -> str:
    """HTML of a site's popup: id, name, class, areas, services, costs, people served.

    For an embedded plan the people served are the plan's, per service (its assignments);
    for a covering run those within each walking tier. Existing facilities show no
    acquisition mode; the id is labelled by its source (OSM, inventory, facility file).

    Parameters
    ----------
    c
        One row of ``result.sites``.
    result
        The run.
    L
        Label of a key in the map's language.
    served
        :func:`~siting.report.common.served_by_tier` of the run, or None (not shown).
    lang
        ``"zh"`` or ``"en"``.

    Returns
    -------
    str
        A table; every text escaped with :func:`esc`.
    """
    existing = number_or_zero(c.get("existing")) > 0
    rows: list[tuple[str, str]] = [  # the stable id, labelled by its source
        (L(_id_label(c)), as_text(c.get("source_id")) or "—"),
        (L("name"), as_text(c.get("name")) or "—"),
        (L("kind"), value_label(as_text(c.get("kind")), lang)),
    ]
    for key in ("acquisition_mode", "source", "existing_services"):
        if as_text(c.get(key)) and not (existing and key == "acquisition_mode"):
            rows.append((L(key), key_list(as_text(c.get(key)), lang)))
    est = number_or_zero(c.get("levels_estimated")) > 0
    rows.append((L("floor_area_m2"), f"{c['floor_area_m2']:,.0f}"
                 + (_paren(L("storeys_estimated"), lang) if est else "")))
    rows.append((L("usable_area_m2"), f"{c['usable_area_m2']:,.0f}"))
    for key in ("level_name", "shared_rooms"):  # levels and shared rooms (embedded/rooms.py)
        if as_text(c.get(key)):
            rows.append((L(key), as_text(c.get(key))))
    if number_or_zero(c.get("area_used_m2")) > 0 and "operating_balance_year" in c:
        rows.append((L("operating_balance_year"), f"{float(c['operating_balance_year']):,.0f}"))
    for k in services(result.sites):
        area = number_or_zero(c.get(f"area_m2_{k}"))
        if area > 0:
            txt = f"{area:,.0f} m²"
            units = c.get(f"units_{k}")
            if units is not None and np.isfinite(float(units)):
                txt += f" · {float(units):,.0f} {_unit(result, k, float(units), L, lang)}"
            rows.append((f"{L('service')}: {L(k)}", txt))
    if "cost_total" in c:  # the breakdown every output shows (siting.report.tables.COST_COLUMNS)
        for key in (*COST_PARTS, "cost_total"):
            v = float(c.get(key, np.nan))
            if np.isfinite(v) and (v > 0 or key == "cost_total"):
                rows.append((L(key), f"{v:,.0f}"))
    elif "cost" in c and np.isfinite(float(c["cost"])) and float(c["cost"]) > 0:
        rows.append((L("cost"), f"{float(c['cost']):,.0f}"))
    by_service = served_by_site(result)
    if by_service is not None:  # the plan's people, per service: not everyone in reach
        j = int(c["site_id"])
        if j in by_service.index:
            rows += [(L("served_households_service" if _spec(result, k).get("demand_group")
                        == "households" else "served_service", s=L(k)),
                      served_text(result, k, v, L, lang))
                     for k, v in by_service.loc[j].items() if v > 0]
    else:
        if served is not None and int(c["site_id"]) in served.index:
            for col, v in served.loc[int(c["site_id"])].items():
                rows.append((L("served_tier", m=col[len("served_"):-len("min")]), f"{v:,.0f}"))
        rows.append((L("covered_population"), f"{c['covered_population']:,.0f}"))
    rows.append((L("population_in_reach"), f"{c['population_in_reach']:,.0f}"))
    body = "".join(f"<tr><th style='text-align:left;padding-right:8px'>{esc(k)}</th>"
                   f"<td class='siting-val'>{esc(v)}</td></tr>" for k, v in rows)
    return f"<table class='siting-popup' style='font-size:12px'>{body}</table>"
