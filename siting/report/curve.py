"""The budget curve page of the PDF: people served against the budget (or sites) of a sweep.

Drawn with matplotlib on a landscape A4 figure, numbers written out (``5,000,000``, never
``5e+06``), each point labelled with its people served so the printed page reads without
the axes. Used by :func:`siting.report.pdf.write_pdf` (a run's pack, when given a sweep) and
:func:`siting.report.pdf.write_curve_pdf` (the ``siting compare`` pack).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from siting.report.i18n import label

A4_LANDSCAPE = (11.69, 8.27)


def curve_x(curve: pd.DataFrame) -> str:
    """The x column of a sweep, as ``siting compare`` draws it.

    Parameters
    ----------
    curve
        A comparison table (:func:`siting.compare.compare`).

    Returns
    -------
    str
        ``budget`` when it varies, else ``cost_total`` when it varies and ``max_sites``
        does not, else ``max_sites`` when it varies, else ``n_sites_chosen``.
    """
    def varies(col: str) -> bool:
        return col in curve and pd.to_numeric(curve[col], errors="coerce").dropna().nunique() > 1

    if varies("budget"):
        return "budget"
    if varies("cost_total") and not varies("max_sites"):
        return "cost_total"
    return "max_sites" if varies("max_sites") else "n_sites_chosen"


def curve_page(curve: pd.DataFrame, lang: str, x: str | None = None) -> Figure:
    """The budget curve: people served (in total and per service) against ``x``.

    Parameters
    ----------
    curve
        A comparison table with ``covered_population`` and ``served_<service>`` columns.
    lang
        ``"zh"`` or ``"en"``.
    x
        The x column (default :func:`curve_x`).

    Returns
    -------
    matplotlib.figure.Figure
        A landscape A4 page.
    """
    x = x if x is not None and x in curve else curve_x(curve)
    t = curve.assign(_x=pd.to_numeric(curve[x], errors="coerce")).dropna(subset=["_x"])
    t = t.sort_values("_x")
    fig = Figure(figsize=A4_LANDSCAPE)
    fig.text(0.06, 0.93, label("pdf_curve" if x == "budget" else "curve_title", lang),
             fontsize=15, weight="bold")
    ax = fig.add_axes((0.1, 0.12, 0.66, 0.74))
    xs = t["_x"].to_numpy(float)
    ys = pd.to_numeric(t["covered_population"], errors="coerce").to_numpy(float)
    ax.plot(xs, ys, marker="o", lw=2, color="#d7301f", label=label("covered_population", lang))
    for xv, yv in zip(xs, ys):
        if np.isfinite(yv):
            ax.annotate(f"{yv:,.0f}", (xv, yv), xytext=(0, 7), textcoords="offset points",
                        ha="center", fontsize=8)
    for col in (c for c in t.columns if c.startswith("served_")):
        ax.plot(xs, pd.to_numeric(t[col], errors="coerce").to_numpy(float), marker=".",
                lw=1, label=label(col[len("served_"):], lang))
    ax.set_xlabel(label(x, lang))
    ax.set_ylabel(label("people_served", lang))
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False)
    return fig
