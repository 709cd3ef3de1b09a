"""``report.pdf``: a printable A4 review-meeting pack of one run (matplotlib, no browser).

Pages: a cover with the headline numbers (``result.summary``, as in ``summary.json``),
the plan map drawn from the extract itself (streets, buildings, walking reach, chosen
sites, unserved demand; no tiles), the sites and cost table, the community compliance
table, the budget curve of a sweep (:mod:`siting.report.curve`), and the assumptions
(policy values and placeholders, data sources, solver status), tables on landscape pages. :func:`write_curve_pdf` writes the curve alone, with the table
of scenarios, for ``siting compare``.

Chinese text needs a CJK font; the one :func:`siting.report.fonts.cjk_font` finds on the
machine is embedded (TrueType, ``pdf.fonttype`` 42). Without one a zh report is written
with English labels and says so in a note, rather than printing empty boxes. Names from
data are drawn as plain text (no mathtext, no TeX).
"""

from __future__ import annotations

import logging
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import matplotlib
import numpy as np
import pandas as pd
from matplotlib.artist import Artist
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from siting.config.policy import load_policy
from siting.report import i18n
from siting.report.common import (
    TIERS_MIN,
    as_text,
    reach_polygons,
    served_by_site,
    service_mix,
    services,
    street_lines,
)
from siting.report.curve import curve_page, curve_x
from siting.report.fonts import cjk_font
from siting.report.i18n import label, list_sep, note_text, place_name, short_label, value_label
from siting.report.tables import report_tables
from siting.report.views import service_with_unit, value_text

if TYPE_CHECKING:
    from siting.pipeline import RunResult

A4 = (8.27, 11.69)  # inches, portrait
A4_LANDSCAPE = (11.69, 8.27)
TABLE_ROWS = 24  # rows per table page
TIER_COLOURS = {5: "#1a9850", 10: "#91cf60", 15: "#d9ef8b"}
SITE_COLOUR = "#d7301f"

def write_pdf(result: RunResult, path: str | Path, lang: str = "zh",
              tables: dict | None = None, curve: pd.DataFrame | None = None,
              reach: gpd.GeoDataFrame | None = None) -> list[str]:
    """Write the review-meeting pack of ``result`` to ``path``.

    Parameters
    ----------
    result
        A :class:`siting.pipeline.RunResult`.
    path
        The PDF to write.
    lang
        ``"zh"`` or ``"en"``; ``"zh"`` falls back to English labels when no CJK font is
        installed (the returned notes say so, and so does the cover).
    tables
        :func:`siting.report.tables.report_tables` of the run (computed when not given).
    curve
        A budget sweep (``siting.compare`` table with ``covered_population``); drawn on
        its own page when given, skipped for a single run.
    reach
        The merged reach polygons of the walking tiers
        (:func:`~siting.report.common.reach_polygons` with ``merged=True``), when already
        computed.

    Returns
    -------
    list of str
        Notes about the rendering (e.g. the English fallback).
    """
    notes: list[str] = []
    tables = report_tables(result) if tables is None else tables
    if reach is None and len(result.chosen_sites):
        reach = reach_polygons(result, tiers_min=TIERS_MIN, merged=True)
    with _drawing(lang, notes) as lang:
        figures = [_cover(result, lang, notes), _map_page(result, lang, reach)]
        figures += _sites_pages(result, tables, lang)
        figures += _community_pages(tables, lang)
        if curve is not None and len(curve):
            figures.append(curve_page(curve, lang))
        figures += _assumption_pages(result, lang)
        _save(figures, path, lang)
    return notes


def write_curve_pdf(curve: pd.DataFrame, path: str | Path, lang: str = "en",
                    x: str | None = None) -> list[str]:
    """Write the printable pack of a sweep (``siting compare``): the budget curve and the
    table of scenarios.

    Parameters
    ----------
    curve
        A comparison table (:func:`siting.compare.compare`; failed runs left out).
    path
        The PDF to write.
    lang
        ``"zh"`` or ``"en"`` (English labels when no CJK font is installed).
    x
        The curve's x column (default :func:`siting.report.curve.curve_x`).

    Returns
    -------
    list of str
        Notes about the rendering (e.g. the English fallback).
    """
    notes: list[str] = []
    x = x if x is not None and x in curve else curve_x(curve)
    cols = [c for c in ("scenario", x, "n_sites_chosen", "cost_total", "covered_population")
            if c in curve]
    cols = list(dict.fromkeys(cols + [c for c in curve.columns if c.startswith("served_")]))
    rows = [[as_text(v) if c == "scenario" else _num(v) for c, v in r.items()]
            for _, r in curve[cols].iterrows()]
    widths = [0.3] + [0.7 / max(len(cols) - 1, 1)] * (len(cols) - 1)
    with _drawing(lang, notes) as lang:
        heads = [label(c[len("served_"):] if c.startswith("served_") else c, lang) for c in cols]
        figures = [curve_page(curve, lang, x)]
        figures += _table_pages(label("scenario", lang), heads, rows, widths, lang,
                                wrap=[40 if lang == "zh" else 60])
        _save(figures, path, lang)
    return notes


@contextmanager
def _drawing(lang: str, notes: list[str]) -> Iterator[str]:
    """Draw in ``lang`` (English without a CJK font, noted in ``notes``): fonts embedded as
    TrueType, no mathtext or TeX in names from data, and matplotlib's "Failed to find font
    weight" messages silenced (a CJK font with one weight is used for bold too)."""
    cjk = cjk_font()  # in English too: names and sources from data may be Chinese
    families = ["DejaVu Sans", cjk] if cjk else ["DejaVu Sans"]  # glyph by glyph fallback
    if lang == "zh":
        if cjk:
            families = [cjk, "DejaVu Sans"]
        else:
            lang = "en"
            notes.append(label("pdf_font_note", "en"))
    rc = {"pdf.fonttype": 42, "text.usetex": False, "text.parse_math": False,
          "font.family": families, "font.sans-serif": families, "font.size": 9,
          "axes.unicode_minus": False}
    log = logging.getLogger("matplotlib.font_manager")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        # matplotlib's stubs list every rc key as a Literal; these are checked when set
        with matplotlib.rc_context(rc):  # type: ignore[arg-type]
            yield lang
    finally:
        log.setLevel(level)


def _save(figures: list, path: str | Path, lang: str) -> None:
    """The pages, numbered, into one PDF."""
    with PdfPages(path) as pdf:
        for i, fig in enumerate(figures, start=1):
            fig.text(0.5, 0.015, label("pdf_page", lang, i=i, n=len(figures)), ha="center",
                     fontsize=7, color="#666")
            pdf.savefig(fig)
        info = pdf.infodict()
        info["Title"] = label("pdf_title", "en")
        info["Creator"] = "siting"


# ---------------------------------------------------------------------------
# cover
# ---------------------------------------------------------------------------
def headline(summary: dict, lang: str) -> list[tuple[str, str]]:
    """The cover's headline numbers as ``(label, text)``, formatted as the PDF prints them.

    Parameters
    ----------
    summary
        ``result.summary`` (the values of ``summary.json``).
    lang
        ``"zh"`` or ``"en"``.
    """
    s = summary
    rows = [(label("people_covered", lang),
             f"{_num(s.get('covered_population'))} / {_num(s.get('total_population'))}"
             f" ({_pct(s.get('covered_share'))})"),
            (label("pdf_sites_chosen", lang),
             f"{_num(s.get('n_sites_chosen'))} / {_num(s.get('n_candidate_sites'))}")]
    if s.get("model") == "embedded" or s.get("cost_total") is not None:
        rows.append((label("pdf_cost_budget", lang), f"{_num(s.get('cost_total'))} / "
                     + i18n.budget_text(s, lang, unit=False)))
    if s.get("communities_total") is not None:
        rows.append((label("pdf_communities_std", lang),
                     f"{_num(s.get('communities_meeting_standard'))} / "
                     f"{_num(s.get('communities_total'))}"))
    rows.append((label("pdf_solver_gap", lang), _solver_text(s, lang)))
    return rows


def _solver_text(summary: dict, lang: str) -> str:
    """``highs: optimal, gap 0.0 %``."""
    return (f"{summary.get('solver', '')}: {value_label(str(summary.get('status', '')), lang)}, "
            f"{label('pdf_gap', lang)} {_pct(summary.get('mip_gap'))}")


def _num(v) -> str:
    if v is None:
        return "–"
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    return f"{f:,.0f}" if np.isfinite(f) else "–"


def _pct(v) -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return "–"
    return f"{100 * f:.1f} %" if np.isfinite(f) else "–"


def _cover(result: RunResult, lang: str, notes: list[str]):
    s = result.summary
    fig = Figure(figsize=A4)
    fig.text(0.08, 0.92, label("pdf_title", lang), fontsize=20, weight="bold")
    fig.text(0.08, 0.895, label("pdf_subtitle", lang), fontsize=12, color="#555")
    src = Path(str(s.get("source") or "")).name
    fig.text(0.08, 0.87, as_text(src), fontsize=9, color="#555")
    fig.add_artist(Line2D([0.08, 0.92], [0.855, 0.855], color=SITE_COLOUR, lw=1.5))
    y = 0.81
    for name, value in headline(s, lang):
        low = 0.022 * (len(value) > 34)  # a long value (a programme's money) on its own line
        fig.text(0.08, y, name, fontsize=11, color="#333")
        fig.text(0.92, y - low, value, fontsize=11 if low else 14, weight="bold", ha="right")
        y -= 0.045 + low
    served = s.get("served_by_service") or {}
    if served:
        y -= 0.01
        fig.text(0.08, y, label("pdf_served_per_service", lang), fontsize=12, weight="bold")
        y -= 0.035
        for k, v in served.items():
            fig.text(0.12, y, service_with_unit(s, k, lang), fontsize=10)
            fig.text(0.92, y, _num(v), fontsize=10, ha="right")
            y -= 0.028
    notes_all = [*notes, *[note_text(str(n), lang) for n in s.get("notes") or []]]
    if notes_all:
        y -= 0.02
        fig.text(0.08, y, label("pdf_notes", lang), fontsize=10, weight="bold")
        y -= 0.025
        for n in notes_all[:8]:
            for line in _wrap(n, 55 if _has_cjk(n) else 110):
                if y < 0.05:
                    break
                fig.text(0.08, y, as_text(line), fontsize=8, color="#444")
                y -= 0.018
    return fig


# ---------------------------------------------------------------------------
# map
# ---------------------------------------------------------------------------
def _map_page(result: RunResult, lang: str, reach: gpd.GeoDataFrame | None):
    fig = Figure(figsize=A4)
    fig.text(0.06, 0.955, label("pdf_map_title", lang), fontsize=16, weight="bold")
    ax = fig.add_axes((0.05, 0.16, 0.9, 0.77))
    ax.set_aspect("equal")
    ax.set_anchor("N")
    ax.set_xticks([])
    ax.set_yticks([])
    crs = result.graph.graph.get("crs")
    handles: list[Artist] = []
    lines = [np.asarray(g.coords)[:, :2] for g in
             street_lines(result.graph).geometry.explode(index_parts=False)]
    if lines:
        ax.add_collection(LineCollection(lines, colors="#9a9a9a", linewidths=0.5, zorder=2))
        handles.append(Line2D([], [], color="#9a9a9a", lw=0.8, label=label("pdf_streets", lang)))
    buildings = result.buildings
    if buildings is not None and len(buildings):
        buildings.to_crs(crs).plot(ax=ax, color="#e3e0da", lw=0, zorder=1)
        handles.append(Patch(color="#e3e0da", label=label("buildings", lang)))
    if reach is not None and len(result.chosen_sites):
        reach_handles: list[Artist] = []
        for _, r in reach.sort_values("minutes", ascending=False).iterrows():
            colour = TIER_COLOURS.get(int(r["minutes"]), "#cccccc")
            if r.geometry is None or r.geometry.is_empty:
                continue
            gpd.GeoSeries([r.geometry], crs=reach.crs).plot(ax=ax, color=colour, alpha=0.55,
                                                            lw=0, zorder=1.5)
            reach_handles.insert(0, Patch(color=colour, alpha=0.55,
                                          label=label("pdf_reach", lang, m=f"{r['minutes']:g}")))
        handles += reach_handles  # 5, 10, 15 minutes
    d = result.demand.to_crs(crs)
    unserved = d[~d["covered"].astype(bool)] if "covered" in d else d.iloc[:0]
    if len(unserved):
        ax.scatter(unserved.geometry.x, unserved.geometry.y, s=4, color="#3b6fb6",
                   alpha=0.7, zorder=3, lw=0)
        handles.append(Line2D([], [], marker="o", ls="", color="#3b6fb6", ms=3,
                              label=label("pdf_unserved", lang)))
    sites = result.chosen_sites.to_crs(crs)
    if len(sites):
        ax.scatter(sites.geometry.x, sites.geometry.y, s=70, color=SITE_COLOUR,
                   edgecolor="white", lw=1, zorder=5)
        for i, (x, y) in enumerate(zip(sites.geometry.x, sites.geometry.y), start=1):
            ax.annotate(str(i), (x, y), xytext=(5, 5), textcoords="offset points",
                        fontsize=8, weight="bold", zorder=6,
                        bbox=dict(boxstyle="round,pad=0.15", fc="white", ec=SITE_COLOUR,
                                  lw=0.6))
        handles.append(Line2D([], [], marker="o", ls="", color=SITE_COLOUR, ms=7,
                              label=label("pdf_sites", lang)))
    ax.autoscale_view()
    ax.set_xlabel("")
    ax.set_ylabel("")
    _fit_extent(ax)
    _scale_bar(ax)
    _north_arrow(ax, lang)
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.01), ncol=3,
              fontsize=9, frameon=False)
    _site_key(fig, ax, sites, lang)
    return fig


def _site_key(fig, ax, sites, lang: str) -> None:
    """Numbered list of the chosen sites (name and services) below the map's legend."""
    if not len(sites):
        return
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    _, bottom, width, height = ax.get_position().bounds
    box_w, box_h = width * A4[0], height * A4[1]
    data_h = min(box_h, box_w * (y1 - y0) / (x1 - x0))  # equal aspect, anchored at the top
    y = bottom + height - data_h / A4[1] - 0.085
    keys = services(sites)
    sep = list_sep(lang)
    per_col = max(int((y - 0.04) / 0.017), 1)
    for i, (_, r) in enumerate(sites.iterrows()):
        if i >= 2 * per_col:
            fig.text(0.06, 0.03, "…", fontsize=7)
            break
        col, row = divmod(i, per_col)
        name = _site_label(r, lang)
        mix = sep.join(label(k, lang) for k in service_mix(r, keys))
        text = f"{i + 1}  {name}" + (f" — {mix}" if mix else "")
        lines = _wrap(text, 36 if _has_cjk(text) else 68)
        fig.text(0.06 + 0.45 * col, y - row * 0.017, lines[0] + ("…" if len(lines) > 1 else ""),
                 fontsize=7.5)


def _site_label(r, lang: str) -> str:
    """A site as the PDF names it: its name, else （its class）, and its stable id (w123)."""
    kind = value_label(str(r.get("kind") or "site_generic"), lang)
    name = as_text(place_name(r.get("name"), lang)) or (f"（{kind}）" if lang == "zh"
                                                        else f"({kind})")
    return f"{name} ({as_text(r.get('source_id'))})"


def _fit_extent(ax) -> None:
    """Pad the data extent by 3 % so sites at the edge are not cut."""
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    px, py = 0.03 * (x1 - x0), 0.03 * (y1 - y0)
    ax.set_xlim(x0 - px, x1 + px)
    ax.set_ylim(y0 - py, y1 + py)


def _scale_bar(ax) -> None:
    """A black-and-white scale bar (metres; the map is in a metric CRS) bottom left."""
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    target = (x1 - x0) / 5
    length = max(b for b in (10, 20, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000, 20000)
                 if b <= max(target, 10))
    bx, by, h = x0 + 0.04 * (x1 - x0), y0 + 0.04 * (y1 - y0), 0.008 * (y1 - y0)
    half = length / 2
    ax.add_patch(_rect(bx, by, half, h, "black"))
    ax.add_patch(_rect(bx + half, by, half, h, "white"))
    for x, text in ((bx, "0"), (bx + length,
                                f"{length / 1000:g} km" if length >= 1000 else f"{length} m")):
        ax.text(x, by + 1.8 * h, text, ha="center", va="bottom", fontsize=8, zorder=8)


def _rect(x: float, y: float, w: float, h: float, colour: str):
    return Rectangle((x, y), w, h, facecolor=colour, edgecolor="black", lw=0.6, zorder=8)


def _north_arrow(ax, lang: str) -> None:
    """North arrow top right (the projected CRS has grid north up)."""
    ax.annotate(label("pdf_north", lang), xy=(0.95, 0.96), xytext=(0.95, 0.87),
                xycoords="axes fraction", ha="center", va="center", fontsize=10,
                weight="bold", zorder=8,
                arrowprops=dict(facecolor="black", width=3, headwidth=9, headlength=9))


# ---------------------------------------------------------------------------
# tables
# ---------------------------------------------------------------------------
def _sites_pages(result: RunResult, tables: dict, lang: str) -> list:
    sites = tables["sites"]
    costs = tables["costs"].set_index("site_id") if len(tables["costs"]) else None
    svc = tables.get("services")
    plan = served_by_site(result)  # a plan's people per service; then everyone in reach last
    last = "covered_population" if plan is None else "population_in_reach"
    hh = {k for k, v in ((result.summary.get("assumptions") or {}).get("services") or {}).items()
          if v.get("demand_group") == "households"}  # counted in households, not people
    rows = []
    for i, (_, r) in enumerate(sites.iterrows(), start=1):
        sid = int(r["site_id"])
        mix = []
        if svc is not None and len(svc):
            mix = [label(k, lang) if plan is None or sid not in plan.index else
                   f"{short_label(k, lang)} {_num(plan.at[sid, k])}"
                   + (f" {label('households_unit', lang)}" if k in hh else "")
                   for k in svc.loc[svc["site_id"] == sid, "service"]]
        c = costs.loc[sid] if costs is not None and sid in costs.index else {}
        area = r.get("area_used_m2", r.get("usable_area_m2"))
        name = _site_label(r, lang)
        rows.append([str(i), name,
                     list_sep(lang).join(mix), _num(area),
                     *[_num(c.get(k)) if len(c) else "–" for k in
                       ("cost_one_off", "cost_fit_out", "cost_rent_horizon", "cost_total")],
                     _num(r.get(last))])
    heads = [label("pdf_no", lang), label("name", lang),
             label("pdf_services" if plan is None else "pdf_services_people", lang),
             label("area_used_m2" if "area_used_m2" in sites else "usable_area_m2", lang),
             label("cost_one_off", lang), label("cost_fit_out", lang),
             label("cost_rent_horizon", lang), label("cost_total", lang), label(last, lang)]
    widths = [0.04, 0.2, 0.26, 0.07, 0.08, 0.08, 0.08, 0.09, 0.1]
    return _table_pages(label("sheet_sites", lang), heads, rows, widths, lang,
                        wrap=[None, 22 if lang == "zh" else 36, 30 if lang == "zh" else 48])


def _community_pages(tables: dict, lang: str) -> list:
    com = tables["communities"]
    cols = [c for c in ("name", "households", "required_m2", "provided_m2", "shortfall_m2",
                        "met", "total_population", "covered_population") if c in com]
    rows = []
    for _, r in com.iterrows():
        row = []
        for c in cols:
            v = r[c]
            if c == "name":
                row.append(as_text(place_name(v, lang)))
            elif c == "met":
                row.append(("是" if lang == "zh" else "yes") if bool(v) else
                           ("否" if lang == "zh" else "no"))
            else:
                row.append(_num(v))
        rows.append(row)
    widths = [0.34 if c == "name" else 0.6 / max(len(cols) - 1, 1) for c in cols]
    return _table_pages(label("sheet_communities", lang), [label(c, lang) for c in cols],
                        rows, widths, lang, wrap=[40 if lang == "zh" else 60])


def _table_pages(title: str, heads: list[str], rows: list[list[str]], widths: list[float],
                 lang: str, wrap: list | None = None) -> list:
    """Landscape pages of a table drawn as text (every cell a plain text, no markup)."""
    wrap = wrap or []
    pages = []
    chunks = [rows[i:i + TABLE_ROWS] for i in range(0, len(rows), TABLE_ROWS)] or [[]]
    x_edges = np.concatenate([[0.0], np.cumsum(widths)])
    x_edges = 0.04 + 0.92 * x_edges / x_edges[-1]
    for n, chunk in enumerate(chunks):
        fig = Figure(figsize=A4_LANDSCAPE)
        fig.text(0.04, 0.94, title + (label("pdf_continued", lang) if n else ""), fontsize=15,
                 weight="bold")
        y = 0.89
        head_h = 0.045
        fig.add_artist(Rectangle((0.04, y - head_h), 0.92, head_h, color="#dde8f3",
                                     transform=fig.transFigure))
        for j, head in enumerate(heads):
            chars = _chars(x_edges[j + 1] - x_edges[j], head)
            numeric = j and (j >= len(wrap) or not wrap[j])
            fig.text(x_edges[j + 1] - 0.006 if numeric else x_edges[j] + 0.004,
                     y - head_h / 2, "\n".join(_wrap(head, chars)[:3]), fontsize=7.5,
                     weight="bold", va="center", ha="right" if numeric else "left")
        y -= head_h
        if not chunk:
            fig.text(0.05, y - 0.03, label("pdf_no_rows", lang), fontsize=9)
        for k, row in enumerate(chunk):
            cells = [(_wrap(v, wrap[j]) if j < len(wrap) and wrap[j] else [v])
                     for j, v in enumerate(row)]
            lines = max(len(c) for c in cells)
            h = 0.012 + 0.016 * lines
            if k % 2:
                fig.add_artist(Rectangle((0.04, y - h), 0.92, h, color="#f4f4f4",
                                             transform=fig.transFigure))
            for j, c in enumerate(cells):
                numeric = j >= len(wrap) or not wrap[j]
                x = x_edges[j + 1] - 0.006 if numeric and j else x_edges[j] + 0.004
                fig.text(x, y - h / 2, "\n".join(c[:3]), fontsize=7.5, va="center",
                         ha="right" if numeric and j else "left", linespacing=1.3)
            y -= h
        pages.append(fig)
    return pages


def _assumption_pages(result: RunResult, lang: str) -> list:
    sc, s = result.scenario, result.summary
    fig = Figure(figsize=A4_LANDSCAPE)
    fig.text(0.04, 0.94, label("pdf_assumptions", lang), fontsize=15, weight="bold")
    policy = None
    if s.get("model") == "embedded":
        try:
            policy = load_policy(sc.policy_file, sc.policy)
        except Exception:  # noqa: BLE001 - the report never fails on the policy page
            policy = None
    y = 0.89
    if policy is not None:
        fig.text(0.04, y, f"{label('pdf_policy', lang)}  ({label('pdf_placeholder_note', lang)})",
                 fontsize=10, weight="bold")
        y -= 0.03
        heads = [label("service", lang), label("pdf_unit", lang), label("pdf_rate", lang),
                 label("pdf_m2_per_unit", lang), label("pdf_walk", lang), label("pdf_weight", lang),
                 label("source", lang)]
        xs = [0.04, 0.17, 0.23, 0.31, 0.39, 0.46, 0.52]
        for x, h in zip(xs, heads):
            fig.text(x, y, h, fontsize=7.5, weight="bold")
        y -= 0.022
        for k in policy.active_services:
            sv = policy.services[k]
            ph = set(sv.placeholder)
            walk = "walk_min" if sv.walk_min is not None else "walk_m"
            rate = "units_per_person" if sv.units_per_person is not None else "units_per_1000"
            vals = [label(k, lang), as_text(sv.unit), f"{sv.rate:.4g}" + _star(rate, ph),
                    f"{sv.floor_m2_per_unit:g}" + _star("floor_m2_per_unit", ph),
                    f"{policy.threshold_m(k):,.0f}" + _star(walk, ph),
                    f"{sv.priority_weight:g}" + _star("priority_weight", ph)]
            src = _wrap(as_text(sv.source), 95 if lang == "en" else 60)[:2]
            for x, v in zip(xs, vals):
                fig.text(x, y, v, fontsize=7.5, va="top")
            fig.text(xs[-1], y, "\n".join(src), fontsize=6.5, va="top", color="#444")
            y -= 0.012 + 0.014 * max(1, len(src))
        y -= 0.01
        a, c = policy.area_standard, policy.costs
        for key, model, extra in (("pdf_area_std", a, f"{a.m2_per_100_households:g} m²/100 hh"),
                                  ("pdf_costs", c, "")):
            text = f"{label(key, lang)}: {extra}"
            if model.placeholder:
                text += f"  {label('pdf_placeholders', lang)}: {', '.join(model.placeholder)}"
            for line in _wrap(as_text(text), 150 if lang == "en" else 90)[:2]:
                fig.text(0.04, y, line, fontsize=7.5)
                y -= 0.018
            for line in _wrap(as_text(model.source), 170 if lang == "en" else 100)[:2]:
                fig.text(0.06, y, line, fontsize=6.5, color="#444")
                y -= 0.016
    y -= 0.015
    fig.text(0.04, y, label("pdf_data_sources", lang), fontsize=10, weight="bold")
    y -= 0.028
    rows = [(label("pdf_osm_file", lang), s.get("source") or sc.osm or sc.graphml or sc.place),
            (label("pdf_population_file", lang),
             f"{sc.population or '–'} ({value_text('population_source', s.get('population_source'), lang)})"),
            (label("pdf_community_source", lang), place_name(s.get("community_source") or "", lang)),
            (label("pdf_policy_name", lang), s.get("policy") or "–"),
            (label("model", lang), value_label(s.get("model") or "–", lang)),
            (label("threshold_m", lang), _num(s.get("threshold_m"))),
            (label("max_sites", lang), _num(s.get("max_sites"))),
            (label("budget", lang), _num(s.get("budget"))),
            (label("pdf_solver_gap", lang), _solver_text(s, lang))]
    for name, value in rows:
        fig.text(0.04, y, name, fontsize=8, weight="bold")
        fig.text(0.2, y, as_text(str(value)), fontsize=8)
        y -= 0.024
    return [fig]


def _star(field: str, placeholders: set[str]) -> str:
    return " *" if field in placeholders else ""


def _has_cjk(text: str) -> bool:
    """Whether ``text`` holds CJK (full-width) characters."""
    return any("\u3000" <= ch <= "\u9fff" or "\uff00" <= ch <= "\uffef" for ch in text)


def _chars(width: float, sample: str) -> int:
    """Characters of 7.5 pt text fitting a column ``width`` (figure fraction, landscape):
    about one em per CJK character, half an em per Latin one."""
    points = width * A4_LANDSCAPE[0] * 72 - 6
    return max(int(points / (7.5 if _has_cjk(sample) else 4.2)), 4)


def _wrap(text, width: int | None) -> list[str]:
    text = "" if text is None else str(text)
    if not width:
        return [text]
    return textwrap.wrap(text, width, break_long_words=True) or [""]
