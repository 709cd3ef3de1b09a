"""Compare scenarios: run or load several, tabulate, and draw effort → people served.

Scenarios come from scenario TOML files, from earlier output folders (their
``summary.json`` is read, nothing is re-run), and/or from one base scenario with a
sweep: every combination of the values given per key (e.g. ``max_sites=[1, 2, 4, 8]``
× ``walk_minutes=[10, 15]``). Any :class:`~siting.config.scenario.Scenario` field may be
swept, so knobs added by later stages (budgets, area standards, existing facilities)
need no new code here.
"""

from __future__ import annotations

import html
import itertools
import json
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from siting import pipeline
from siting.config.scenario import Scenario, make_scenario
from siting.errors import SitingError
from siting.inputs import validate_inputs
from siting.io.outdir import atomic_folder
from siting.report.fonts import cjk_font
from siting.report.i18n import label
from siting.report.pdf import write_curve_pdf
from siting.report.tables import write_csv, write_workbook

COLUMNS = ("scenario", "source", "model", "max_sites", "budget", "walk_minutes", "threshold_m",
           "n_sites_chosen", "covered_population", "total_population", "covered_share",
           "coverable_population", "cost_total", "communities_meeting_standard",
           "communities_total", "status", "mip_gap", "runtime_s", "crs")


def default_lang(table: pd.DataFrame) -> str:
    """The language of a comparison.

    Parameters
    ----------
    table
        A comparison (:func:`compare`), with ``crs``.

    Returns
    -------
    str
        ``"zh"`` when every run's study area is in China (a CGCS2000 Gauss-Krüger CRS,
        EPSG:4534–4554, as :func:`siting.io.coords.metric_crs` picks there), else ``"en"``.
    """
    crs = table["crs"].dropna().astype(str) if "crs" in table else pd.Series([], dtype=str)
    codes = pd.to_numeric(crs.str.extract(r"EPSG:(\d+)")[0], errors="coerce")
    return "zh" if len(codes) and codes.between(4534, 4554).all() else "en"


def sweep(base: dict, vary: dict[str, list], grid: bool = True) -> list[tuple[str, dict]]:
    """The scenarios of a sweep.

    Parameters
    ----------
    base
        Scenario fields every run shares.
    vary
        Field → values.
    grid
        Every combination; else element by element (lists of one value are repeated).

    Returns
    -------
    list of (str, dict)
        ``(name, overrides)`` of each run, ``name`` such as ``max_sites=2, walk_minutes=10``.

    Raises
    ------
    SitingError
        Without a grid, for lists of different lengths.
    """
    keys = [k for k, v in vary.items() if v]
    if not keys:
        return [("base", dict(base))]
    if grid:
        combos = list(itertools.product(*(vary[k] for k in keys)))
    else:
        n = max(len(vary[k]) for k in keys)
        bad = [k for k in keys if len(vary[k]) not in (1, n)]
        if bad:
            raise SitingError(f"without a grid every swept list needs {n} values (or one); "
                              f"{', '.join(bad)} has another length")
        combos = list(zip(*(vary[k] * n if len(vary[k]) == 1 else vary[k] for k in keys)))
    out = []
    for combo in combos:
        name = ", ".join(f"{k}={_value(v)}" for k, v in zip(keys, combo))
        out.append((name, {**base, **dict(zip(keys, combo))}))
    return out


def _value(v) -> str:
    """A swept value as people write it: ``5,000,000`` (not ``5e+06``), ``10``, ``0.5``."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    if float(v).is_integer():
        return f"{int(v):,}"
    return f"{v:g}"


def compare(items: Sequence[str | Path] = (), base: str | Path | dict | None = None,
            vary: dict[str, list] | None = None, runs_dir: str | Path | None = None,
            lang: str | None = None, grid: bool = True,
            progress: Callable[[str], None] | None = None) -> pd.DataFrame:
    """Run or load scenarios and return one row per scenario.

    Parameters
    ----------
    items
        Scenario TOML files (run) and/or output folders holding ``summary.json`` (loaded).
    base
        Base scenario for a sweep: a TOML path or a dict of scenario fields.
    vary
        Field → values to sweep on ``base``: all combinations, or with ``grid=False``
        element by element (``max_sites=[2, 4, 4], walk_minutes=[10, 5, 15]``).
    runs_dir
        When given, every run is written there (map, tables) in a folder per scenario.
    lang
        Map/table language of written runs.
    grid
        Sweep all combinations of the ``vary`` values (True), or pair them element by
        element (False).
    progress
        Called with one line per scenario as it starts and ends (the CLI prints them).

    Returns
    -------
    pandas.DataFrame
        One row per scenario: the :data:`COLUMNS`, people served per service
        (``served_<service>``), the chosen sites (``sites``: names, else ids), ``notes``
        (the run's warnings) and ``error`` (failed runs).
    """
    say = progress or (lambda text: None)
    jobs: list[tuple[str, str, dict | None, str | Path | None]] = []  # name, source, overrides, file
    for item in items:
        p = Path(item)
        if p.is_dir():
            if not (p / "summary.json").exists():
                raise SitingError(f"{p} is a folder without summary.json; give a siting output "
                                  "folder or a scenario TOML")
            jobs.append((p.name, str(p), None, p))
        elif p.suffix.lower() == ".toml":
            jobs.append((p.stem, str(p), {}, p))
        else:
            raise SitingError(f"{p}: not a scenario .toml file nor an output folder")
    if base is not None or vary:
        base_file, base_over = (None, dict(base)) if isinstance(base, dict) else (base, {})
        for name, overrides in sweep(base_over, vary or {}, grid):
            jobs.append((name, str(base_file or "sweep"), overrides, base_file))
    if not jobs:
        raise SitingError("nothing to compare: give scenario files, output folders, or a base "
                          "scenario with values to vary")
    # everything that can be checked without computing is checked first: one bad item
    # stops the comparison before any run starts
    prepared: list[tuple[str, str, dict | Scenario]] = []
    for name, source, over, path in jobs:
        if over is None:
            prepared.append((name, source, _load_summary(Path(str(path)))))
        else:
            try:
                sc = make_scenario(path, **over)
                validate_inputs(sc)
            except SitingError as exc:
                raise SitingError(f"scenario {name!r}: {exc}") from None
            prepared.append((name, source, sc))
    rows = []
    for i, (name, source, job) in enumerate(prepared, start=1):
        error, sites, ids = None, None, None
        notes: list[str] = []
        summary: dict
        if isinstance(job, dict):
            summary = job
            sites, ids = _folder_sites(Path(source))
        else:
            # a run that fails is named in the table (status "failed", column error);
            # the runs that finished are kept
            say(f"[{i}/{len(prepared)}] {name}: running …")
            t0 = time.perf_counter()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", UserWarning)
                try:
                    result = pipeline.run(job)  # looked up here: tests stand in for it
                except SitingError as exc:
                    summary, error = {"status": "failed"}, str(exc)
                else:
                    summary = result.summary
                    sites, ids = _site_names(result.chosen_sites)
                    if runs_dir is not None:
                        result.write(Path(runs_dir) / _slug(name), overwrite=True, lang=lang)
            notes = sorted({str(w.message) for w in caught if issubclass(w.category, UserWarning)})
            say(f"[{i}/{len(prepared)}] {name}: {summary.get('status')} in "
                f"{time.perf_counter() - t0:.1f} s")
        served = {f"served_{k}": v for k, v in (summary.get("served_by_service") or {}).items()}
        rows.append({"scenario": name, "source": source,
                     **{k: summary.get(k) for k in COLUMNS if k not in ("scenario", "source")},
                     **served, "sites": sites, "site_ids": ids,
                     "notes": "\n".join(notes) or None,
                     "error": error})
    extra = sorted({k for r in rows for k in r if k.startswith("served_")})
    table = pd.DataFrame(rows, columns=[*COLUMNS, *extra, "sites", "site_ids", "notes",
                                        "error"])
    failed = table["error"].notna()
    if failed.all():
        raise SitingError("every scenario failed: " + "; ".join(
            f"{n!r}: {e}" for n, e in zip(table["scenario"], table["error"])))
    return table.dropna(axis=1, how="all")


def _site_names(sites: pd.DataFrame) -> tuple[str, str]:
    """Chosen sites as ``name (id)`` joined by ``; ``, and their ids alone joined by
    ``;`` (the stable ``source_id``, the same for a building in every run)."""
    out, ids = [], []
    for _, r in sites.iterrows():
        name, sid = r.get("name"), str(r["source_id"])
        out.append(f"{name} ({sid})" if isinstance(name, str) and name else sid)
        ids.append(sid)
    return "; ".join(out), ";".join(ids)


def _folder_sites(folder: Path) -> tuple[str | None, str | None]:
    """Chosen sites of an earlier output folder (its sites.gpkg), or None."""
    path = folder / "sites.gpkg"
    if not path.exists():
        return None, None
    try:
        return _site_names(gpd.read_file(path))
    except Exception:  # an unreadable layer only loses these columns, not the comparison
        return None, None


def sites_by_scenario(table: pd.DataFrame) -> pd.DataFrame:
    """Which scenario opens which site, sites matched by their stable id.

    Parameters
    ----------
    table
        A comparison (:func:`compare`) with ``site_ids``.

    Returns
    -------
    pandas.DataFrame
        One row per site id chosen in any scenario (``source_id``), one column per
        scenario: 1 where it opens the site, else empty; then ``n_scenarios``.
    """
    cols: dict[str, dict[str, int]] = {}
    for name, ids in zip(table["scenario"], table.get("site_ids", [None] * len(table))):
        if isinstance(ids, str):
            cols[str(name)] = {i: 1 for i in ids.split(";") if i}
    out = pd.DataFrame(cols, dtype="Int64")
    out = out.reindex(sorted(out.index, key=lambda i: (-out.loc[i].notna().sum(), i)))
    out["n_scenarios"] = out.notna().sum(axis=1)
    return out.rename_axis("source_id").reset_index()


def failures(table: pd.DataFrame) -> pd.DataFrame:
    """The failed runs of a comparison.

    Parameters
    ----------
    table
        A comparison (:func:`compare`).

    Returns
    -------
    pandas.DataFrame
        Its rows whose run failed (``status == "failed"``, with ``error``).
    """
    if "error" not in table:
        return table.iloc[:0]
    return table[table["error"].notna()]


def _load_summary(folder: Path) -> dict:
    """An earlier run's ``summary.json``, checked enough to tabulate."""
    path = folder / "summary.json"
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SitingError(f"{path}: not valid JSON ({exc}); the folder is not a complete siting "
                          f"output (re-run its scenario)") from None
    except OSError as exc:
        raise SitingError(f"{path}: cannot read it ({exc.strerror})") from None
    if not isinstance(summary, dict):
        raise SitingError(f"{path}: expected a JSON object of run results, got "
                          f"{type(summary).__name__}")
    for key in ("covered_population", "n_sites_chosen"):
        value = summary.get(key)
        if not isinstance(value, (int, float)) or isinstance(value, bool) \
                or not np.isfinite(value):
            raise SitingError(f"{path}: {key} is missing or not a finite number "
                              f"(got {value!r}); the file is damaged, re-run its scenario")
    return summary


def write_comparison(table: pd.DataFrame, out: str | Path, lang: str = "en",
                     overwrite: bool = False) -> Path:
    """Write ``comparison.csv``, ``comparison_sites.csv`` (which scenario opens which site,
    by stable id: :func:`sites_by_scenario`), ``comparison.xlsx``, ``curve.png``, ``curve.html``
    (interactive: hover a point for its numbers; no network needed) and ``report.pdf`` (the
    printable curve and table, :func:`siting.report.pdf.write_curve_pdf`) into ``out``,
    all-or-nothing (see :func:`siting.io.outdir.atomic_folder`).

    Parameters
    ----------
    table
        A comparison (:func:`compare`).
    out
        The output folder.
    lang
        ``"zh"`` or ``"en"``.
    overwrite
        Replace an earlier siting comparison in ``out`` (never any other folder).

    Returns
    -------
    pathlib.Path
        ``out``.
    """
    with atomic_folder(out, overwrite, "comparison") as tmp:
        write_comparison_files(table, tmp, lang)
    return Path(out)


def write_comparison_files(table: pd.DataFrame, folder: Path, lang: str = "en") -> None:
    """Write the comparison files into an existing ``folder`` (no checks, not atomic).

    Parameters
    ----------
    table
        A comparison (:func:`compare`); failed runs are in the tables, not the curves.
    folder
        An existing folder.
    lang
        ``"zh"`` or ``"en"``.
    """
    done = table.drop(index=failures(table).index)  # failed runs are in the tables only
    write_csv(table, folder / "comparison.csv")
    by_site = sites_by_scenario(table)
    write_csv(by_site, folder / "comparison_sites.csv")
    write_workbook({"comparison": table, "sites_by_scenario": by_site},
                   folder / "comparison.xlsx", lang)
    x, series = _curve_axes(done)
    _curve_png(done, x, series, folder / "curve.png", lang)
    (folder / "curve.html").write_text(curve_html(done, x, series, lang), encoding="utf-8")
    write_curve_pdf(done, folder / "report.pdf", lang, x=x)


def _curve_axes(table: pd.DataFrame) -> tuple[str, str | None]:
    """x: budget when it varies, else max sites, else sites chosen; one line per walk."""
    def varies(col):
        return col in table and table[col].dropna().nunique() > 1

    x = ("budget" if varies("budget") else "cost_total" if varies("cost_total") and
         not varies("max_sites") else "max_sites" if varies("max_sites") else "n_sites_chosen")
    series = next((c for c in ("threshold_m", "walk_minutes") if varies(c)), None)
    return x, series


def _groups(table, x, series):
    if series is None:
        yield None, table.sort_values(x)
    else:
        for key, g in table.groupby(series):
            yield key, g.sort_values(x)


def _series_name(series, key, lang):
    if series is None:
        return label("covered_population", lang)
    return f"{label(series, lang)} = {key:g}" if isinstance(key, (int, float)) else str(key)


def _curve_png(table, x, series, path: Path, lang: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    cjk = cjk_font() if lang == "zh" else None
    if cjk:
        plt.rcParams["font.sans-serif"] = [cjk, *plt.rcParams["font.sans-serif"]]
    else:
        lang = "en"  # no CJK font: English labels rather than empty boxes
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for key, g in _groups(table, x, series):
        ax.plot(g[x], g["covered_population"], marker="o", label=_series_name(series, key, lang))
        for _, r in g.iterrows():
            ax.annotate(f"{r['covered_population']:,.0f}", (r[x], r["covered_population"]),
                        textcoords="offset points", xytext=(0, 6), ha="center", fontsize=7)
    if "total_population" in table:
        ax.axhline(float(table["total_population"].max()), color="#999", ls="--", lw=0.8,
                   label=label("total_population", lang))
    ax.set_ylim(bottom=0)
    whole = FuncFormatter(lambda v, _: f"{v:,.0f}" if abs(v) >= 10 else f"{v:g}")
    ax.xaxis.set_major_formatter(whole)  # 10,000,000, not 1e7
    ax.yaxis.set_major_formatter(whole)
    ax.set_xlabel(label(x, lang))
    ax.set_ylabel(label("covered_population", lang))
    ax.set_title(label("curve_title", lang))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def curve_html(table: pd.DataFrame, x: str | None = None, series: str | None = None,
               lang: str = "en") -> str:
    """Self-contained interactive curve (inline SVG, hover for values) and the table.

    Parameters
    ----------
    table
        A comparison (:func:`compare`) without failed runs.
    x, series
        Column of the x axis and of one line each; default by what varies (budget, else
        most sites, else sites chosen; one line per walking threshold).
    lang
        ``"zh"`` or ``"en"``.

    Returns
    -------
    str
        An HTML page; every text from data escaped.
    """
    if x is None:
        x, series = _curve_axes(table)
    W, H, P = 640, 380, 56
    xs = table[x].astype(float)
    ys = table["covered_population"].astype(float)
    y_top = float(max(ys.max(), table.get("total_population", ys).max()))
    x0, x1 = float(xs.min()), float(xs.max())
    x1 = x1 if x1 > x0 else x0 + 1

    def px(v):
        return P + (float(v) - x0) / (x1 - x0) * (W - 2 * P)

    def py(v):
        return H - P - float(v) / (y_top or 1) * (H - 2 * P)

    colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
    parts = []
    for k, (key, g) in enumerate(_groups(table, x, series)):
        c = colours[k % len(colours)]
        pts = " ".join(f"{px(a):.1f},{py(b):.1f}" for a, b in zip(g[x], g["covered_population"]))
        parts.append(f"<polyline fill='none' stroke='{c}' stroke-width='2' points='{pts}'/>")
        for _, r in g.iterrows():
            tip = html.escape(f"{r['scenario']}: {r['covered_population']:,.0f} "
                              f"{label('people', lang)}"
                              + (f" ({100 * r['covered_share']:.1f} %)" if "covered_share" in r
                                 and pd.notna(r["covered_share"]) else ""))
            parts.append(f"<circle class='pt' cx='{px(r[x]):.1f}' cy='{py(r['covered_population']):.1f}'"
                         f" r='5' fill='{c}'><title>{tip}</title></circle>")
        parts.append(f"<text x='{W - P + 4}' y='{P + 14 * k}' font-size='11' fill='{c}'>"
                     f"{html.escape(_series_name(series, key, lang))}</text>")
    ticks = "".join(
        f"<text x='{px(v):.1f}' y='{H - P + 16}' font-size='10' text-anchor='middle'>{v:,.0f}</text>"
        for v in np.unique(xs))
    yt = "".join(
        f"<text x='{P - 6}' y='{py(v):.1f}' font-size='10' text-anchor='end'>{v:,.0f}</text>"
        for v in np.linspace(0, y_top, 5))
    svg = (f"<svg xmlns='http://www.w3.org/2000/svg' width='{W + 160}' height='{H}'>"
           f"<line x1='{P}' y1='{H - P}' x2='{W - P}' y2='{H - P}' stroke='#333'/>"
           f"<line x1='{P}' y1='{P}' x2='{P}' y2='{H - P}' stroke='#333'/>{ticks}{yt}"
           f"<text x='{W / 2}' y='{H - 12}' text-anchor='middle' font-size='12'>"
           f"{html.escape(label(x, lang))}</text>"
           f"<text x='14' y='{H / 2}' font-size='12' transform='rotate(-90 14 {H / 2})' "
           f"text-anchor='middle'>{html.escape(label('covered_population', lang))}</text>"
           f"{''.join(parts)}</svg>")
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'>"
            f"<title>{html.escape(label('curve_title', lang))}</title>"
            "<style>body{font-family:sans-serif}.pt:hover{r:8;stroke:#000}"
            "table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;"
            "padding:2px 6px}</style></head><body>"
            f"<h3>{html.escape(label('curve_title', lang))}</h3>{svg}"
            f"{table.to_html(index=False, na_rep='', float_format=lambda v: f'{v:,.3g}' if abs(v) < 1 else f'{v:,.0f}')}"
            "</body></html>")


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name).strip("_") or "run"
