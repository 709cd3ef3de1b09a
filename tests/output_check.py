"""One plan, one set of numbers: check a written run folder against itself.

:func:`check_run_folder` reads every output of a ``siting run`` folder and asserts that
the cost of each chosen site is the same in ``sites.gpkg``, ``candidates.gpkg``,
``report.xlsx`` (sites and cost sheets), ``report.gpkg``, ``tables/costs.csv``,
``tables/sites.csv`` and the popups of ``map.html``;
that its parts (one-off, fit-out, rent over the horizon) add up to ``cost_total``; that
``summary.json`` ``cost_total`` is their sum; and that the people served (in total and
per service, when present) agree between ``summary.json``, the summary sheet and
``tables/summary.csv`` — for a plan also per site (``served_<service>`` of the sites table and
the popups), each service's people served at most the people covered. Sites are named by
their stable ``source_id`` in every output; none shows the internal ``site_id``.
``tests/conftest.py`` runs it on every run folder a test writes.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio

from siting.report.i18n import both, label

MARKER = ".siting-output.json"
# a popup labels the site's id by its source (siting.report.maplayers._id_label)
ID_LABELS = ("osm_id", "id_inventory", "id_existing", "id_other")
PARTS = ("cost_one_off", "cost_fit_out", "cost_rent_horizon")
REQUIRED = ("summary.json", "sites.gpkg", "candidates.gpkg", "report.gpkg", "report.xlsx",
            "map.html", "tables/costs.csv",
            "tables/sites.csv", "tables/summary.csv")


def _marked(root: Path, kind: str) -> list[Path]:
    """Folders under ``root`` holding a siting marker of ``kind``."""
    out = []
    for marker in Path(root).rglob(MARKER):
        try:
            data = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("tool") == "siting" \
                and data.get("kind") == kind:
            out.append(marker.parent)
    return sorted(out)


def run_folders(root: Path) -> list[Path]:
    """Folders under ``root`` holding a siting marker of kind ``run``."""
    return _marked(root, "run")


def complete(folder: Path) -> bool:
    """Whether ``folder`` is a whole run: its marker's files and the outputs checked exist
    (a failed or partial run, or a folder a test tampered with, is not checked)."""
    try:
        listed = json.loads((folder / MARKER).read_text(encoding="utf-8")).get("files") or []
        json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, AttributeError):
        return False
    return all((folder / f).exists() for f in [*listed, *REQUIRED])


def _close(a: float, b: float, what: str, abs_tol: float = 1.0) -> None:
    assert abs(float(a) - float(b)) <= abs_tol + 1e-9 * max(abs(a), abs(b)), f"{what}: {a} != {b}"


def _sheet(wb, key: str) -> pd.DataFrame:
    """A workbook sheet (Chinese or English name) with its English header row."""
    for name in both(key):
        if name[:31] in wb.sheetnames:
            rows = list(wb[name[:31]].iter_rows(values_only=True))
            return pd.DataFrame(rows[2:], columns=rows[1])
    raise AssertionError(f"report.xlsx has no sheet {both(key)}; sheets {wb.sheetnames}")


def popups(map_html: str) -> list[dict[str, str]]:
    """Label → text of every site popup table in a map (character references decoded)."""
    out = []
    cell = r"<th[^>]*>(.*?)</th><td class='siting-val'>(.*?)</td>"
    for table in re.findall(r"<table class='siting-popup'.*?</table>", map_html, re.DOTALL):
        rows = re.findall(cell, table, re.DOTALL)
        out.append({html.unescape(k): html.unescape(v) for k, v in rows})
    return out


def _number(text: str) -> float:
    return float(text.replace(",", "").split()[0])


def check_run_folder(folder: str | Path) -> dict:
    """Assert that every output of a run folder tells the same costs and people served.

    Returns
    -------
    dict
        ``sites`` (chosen sites checked), ``cost_total``.
    """
    import geopandas as gpd
    import openpyxl

    folder = Path(folder)
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    gpkg = gpd.read_file(folder / "sites.gpkg")
    assert len(gpkg) == summary["n_sites_chosen"], "sites.gpkg rows != n_sites_chosen"
    for col in (*PARTS, "cost_total"):
        assert col in gpkg, f"sites.gpkg has no {col}"
    # sites are named by their stable id (source_id) everywhere; no output shows the
    # internal row number (site_id), which changes with --exclude/--forbid
    for name in ("sites.gpkg", "candidates.gpkg", "demand.gpkg"):
        cols = pyogrio.read_info(folder / name)["fields"]
        assert "site_id" not in cols, f"{name} shows the internal site_id"
    assert gpkg["source_id"].is_unique, "sites.gpkg: source_id repeats"
    cost = dict(zip(gpkg["source_id"].astype(str), gpkg["cost_total"].astype(float)))
    parts = gpkg[list(PARTS)].astype(float).sum(axis=1).to_numpy()
    assert np.allclose(parts, gpkg["cost_total"].astype(float), rtol=1e-9, atol=1e-3), \
        "sites.gpkg: cost parts do not add up to cost_total"
    total = float(summary["cost_total"])
    _close(sum(cost.values()), total, "summary.json cost_total vs sum over sites.gpkg")

    def same(table: pd.DataFrame, id_col: str, cost_col: str, where: str, tol=1.0) -> None:
        assert "site_id" not in table or id_col == "site_id", f"{where} shows site_id"
        ids = table[id_col].where(table[id_col].notna(), None)  # the total row: no id
        rows = table[ids.notna()]
        got = dict(zip(ids[ids.notna()].astype(str), rows[cost_col].astype(float)))
        assert set(got) == set(cost), f"{where}: sites {sorted(got)} != {sorted(cost)}"
        for sid, v in got.items():
            _close(v, cost[sid], f"{where}: site {sid} cost_total", tol)

    costs_csv = pd.read_csv(folder / "tables" / "costs.csv", encoding="utf-8-sig",
                            dtype={"source_id": str})
    same(costs_csv, "source_id", "cost_total", "tables/costs.csv")
    body = costs_csv[costs_csv["source_id"].notna()]
    assert np.allclose(body[list(PARTS)].sum(axis=1), body["cost_total"], rtol=1e-9, atol=1e-3), \
        "tables/costs.csv: parts do not add up"
    foot = costs_csv[costs_csv["source_id"].isna()]
    assert len(foot) == 1, "tables/costs.csv: no total row"
    _close(foot["cost_total"].iloc[0], total, "tables/costs.csv total row vs summary.json")
    cand = gpd.read_file(folder / "candidates.gpkg", columns=["source_id", "chosen",
                                                              "cost_total"])
    assert cand["source_id"].is_unique, "candidates.gpkg: source_id repeats"
    same(cand[cand["chosen"].astype(bool)], "source_id", "cost_total", "candidates.gpkg")
    for layer in ("sites", "costs"):
        same(gpd.read_file(folder / "report.gpkg", layer=layer), "source_id", "cost_total",
             f"report.gpkg layer {layer}")
    gpkg_sites = gpd.read_file(folder / "report.gpkg", layer="sites")
    sites_csv = pd.read_csv(folder / "tables" / "sites.csv", encoding="utf-8-sig",
                            dtype={"source_id": str})
    same(sites_csv, "source_id", "cost_total", "tables/sites.csv")
    _close(sites_csv["covered_population"].sum(), summary["covered_population"],
           "tables/sites.csv covered_population vs summary.json", 1e-3)

    wb = openpyxl.load_workbook(folder / "report.xlsx", read_only=True)
    en = {k: both(k)[1] for k in ("source_id", "cost_total", *PARTS)}
    sheet = _sheet(wb, "sheet_costs")
    same(sheet, en["source_id"], en["cost_total"], "report.xlsx cost sheet")
    rows = sheet[sheet[en["source_id"]].notna()]
    assert np.allclose(rows[[en[p] for p in PARTS]].astype(float).sum(axis=1),
                       rows[en["cost_total"]].astype(float), rtol=1e-9, atol=1e-3)
    same(_sheet(wb, "sheet_sites"), en["source_id"], en["cost_total"], "report.xlsx sites sheet")
    kpi = _sheet(wb, "sheet_summary").set_index(both("key")[1])[both("value")[1]]
    _close(kpi["cost_total"], total, "report.xlsx summary cost_total")
    kpi_csv = pd.read_csv(folder / "tables" / "summary.csv", encoding="utf-8-sig") \
        .set_index("key")["value"]
    _close(float(kpi_csv["cost_total"]), total, "tables/summary.csv cost_total")
    # people served: in total and per service
    people = {"covered_population": summary["covered_population"],
              **{f"served_by_service.{k}": v
                 for k, v in (summary.get("served_by_service") or {}).items()}}
    for key, v in people.items():
        _close(kpi[key], v, f"report.xlsx summary {key}", 1e-6)
        _close(float(kpi_csv[key]), v, f"tables/summary.csv {key}", 1e-6)
    served = summary.get("served_by_service") or {}
    if served:
        # "covered" (residents at points the plan serves in some service) bounds each
        # service's "served" (a part of those residents, or their households)
        for k, v in served.items():
            assert v <= summary["covered_population"] + 1e-6, \
                f"served_by_service.{k} {v} > covered_population"
        by = pd.read_csv(folder / "tables" / "unmet_by_service.csv", encoding="utf-8-sig")
        for k, v in zip(by["service"], by["served"]):
            _close(v, served[k], f"unmet_by_service.csv {k}", 1e-6)
        plan = served if summary.get("model") == "embedded" else {}  # a plan's assignments
        for k, v in plan.items():  # the sites table's people served per service add up
            _close(sites_csv[f"served_{k}"].sum(), v, f"tables/sites.csv served_{k}", 1e-3)
            _close(gpkg_sites[f"served_{k}"].sum(), v, f"report.gpkg sites served_{k}", 1e-3)

    # the map: one popup per chosen site, its total cost as the plan charges it
    pops = popups((folder / "map.html").read_text(encoding="utf-8"))
    seen = {}
    id_labels = {label(k, lang) for k in ID_LABELS for lang in ("zh", "en")}
    for lang in ("zh", "en"):
        cost_l = label("cost_total", lang)
        for p in pops:
            sid = [p[k] for k in id_labels if k in p]
            assert len(sid) == 1, f"map.html: a popup without one site id: {p}"
            if cost_l in p:
                seen[sid[0]] = _number(p[cost_l])
    missing = set(cost) - set(seen)  # (existing facilities have popups too)
    assert not missing, f"map.html has no popup cost for chosen sites {sorted(missing)}"
    for sid, v in cost.items():
        _close(seen[sid], v, f"map.html popup site {sid} cost_total", 0.51)
    for k, v in (served if summary.get("model") == "embedded" else {}).items():  # popups too
        heads = {label(key, lang, s=label(k, lang)) for lang in ("zh", "en")
                 for key in ("served_service", "served_households_service")}
        got = [_number(p[h]) for p in pops for h in heads if h in p]
        _close(sum(got), v, f"map.html popups: people served, {k}", 0.51 * max(len(got), 1))
    _check_pdf_cover(folder, summary)
    return {"sites": len(cost), "cost_total": total}


def _check_pdf_cover(folder: Path, summary: dict) -> None:
    """report.pdf's cover prints summary.json's headline numbers (as siting.report.pdf formats
    them), in Chinese or in English; skipped without report.pdf or pymupdf."""
    pdf = folder / "report.pdf"
    try:
        import pymupdf
    except ImportError:
        return
    if not pdf.exists():
        return
    from siting.report.pdf import headline

    with pymupdf.open(pdf) as doc:
        cover = doc[0].get_text()
    for lang in ("zh", "en"):
        rows = headline(summary, lang)
        if all(name in cover for name, _ in rows):
            for name, value in rows:
                assert value in cover, f"report.pdf cover: {name} is not {value}"
            return
    raise AssertionError("report.pdf cover has not the headline numbers of summary.json")


def comparison_folders(root: Path) -> list[Path]:
    """Folders under ``root`` holding a siting marker of kind ``comparison`` (complete)."""
    return [f for f in _marked(root, "comparison") if (f / "comparison.csv").exists()]


def check_comparison_folder(folder: str | Path) -> int:
    """``siting compare``: each scenario's ``cost_total`` and people served in
    ``comparison.csv`` are those of its run folder (``runs/<scenario>``) when written.
    Returns the number of runs compared."""
    from siting.compare import _slug

    folder = Path(folder)
    table = pd.read_csv(folder / "comparison.csv", encoding="utf-8-sig")
    n = 0
    for _, row in table.iterrows():
        run = folder / "runs" / _slug(str(row["scenario"]))
        if not (run / "summary.json").exists() or row.get("status") == "failed":
            continue
        summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
        for key in ("cost_total", "covered_population"):
            if key in table and pd.notna(row[key]):
                _close(row[key], summary[key], f"comparison.csv {row['scenario']} {key}", 1e-3)
        if (run / "sites.gpkg").exists() and "site_ids" in table:  # matched by stable id
            ids = set(str(row["site_ids"]).split(";")) if pd.notna(row["site_ids"]) else set()
            want = set(pyogrio.read_dataframe(run / "sites.gpkg", columns=["source_id"],
                                              read_geometry=False)["source_id"].astype(str))
            assert ids == want, f"comparison.csv {row['scenario']}: site_ids {ids} != {want}"
        n += 1
    return n
