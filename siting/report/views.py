"""How a report shows a run to people: stable site ids, values and keys in one language.

Tables are built with the internal ``site_id`` (a site's row in the optimiser, which moves
with ``--exclude``/``--forbid``); :func:`public_table` puts the stable ``source_id`` in its
place before anything is written. Key values (classes, modes, services, statuses …) and
summary keys are shown as their labels in the output's language; households services say
their unit.
"""

from __future__ import annotations

from collections.abc import Set
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from siting.report.i18n import both, key_list, label, place_name, value_label

if TYPE_CHECKING:
    from siting.pipeline import RunResult


def public_table(df: pd.DataFrame, ids) -> pd.DataFrame:
    """A table as it is written out: the site's stable id ``source_id`` first, the internal
    ``site_id`` (its row in the optimiser, which changes with ``--exclude``/``--forbid``)
    dropped.

    Parameters
    ----------
    df
        A table or layer; one without ``site_id`` is returned as it is.
    ids
        ``source_id`` of each site by ``site_id`` (``result.sites["source_id"]``).

    Returns
    -------
    pandas.DataFrame
        A copy (a GeoDataFrame stays one); a row without a site (a total row) has no id.
    """
    if "site_id" not in df:
        return df
    out = df.copy()
    sid = pd.to_numeric(out.pop("site_id"), errors="coerce")
    if "source_id" not in out:
        ids = np.asarray(ids, dtype=object)
        ok = sid.notna() & sid.between(0, len(ids) - 1)
        out["source_id"] = [ids[int(v)] if o else None for v, o in zip(sid, ok)]
    return out[["source_id", *[c for c in out.columns if c != "source_id"]]]


def household_services(result: RunResult) -> set[str]:
    """Services counted in households, not people (their demand group is ``households``).

    Parameters
    ----------
    result
        The run.

    Returns
    -------
    set of str
        Service keys of the run's policy (``summary["assumptions"]["services"]``).
    """
    spec = (result.summary.get("assumptions") or {}).get("services") or {}
    return {k for k, v in spec.items() if isinstance(v, dict)
            and v.get("demand_group") == "households"}


# columns whose text values are keys (classes, modes, services …), shown in the sheet's language
VALUE_COLUMNS = ("kind", "acquisition_mode", "source", "existing_services", "services",
                 "service", "demand_group", "snap_flag", "walk_from", "status", "model",
                 "objective_kind", "standard_mode", "unit", "decompose")


def value_text(col: str, v, lang: str):
    """A value as a sheet (or the PDF) shows it in ``lang``.

    Parameters
    ----------
    col
        Its column (or summary key): a key column (:data:`VALUE_COLUMNS`) shows the label
        of each key (lists split on ``;`` / ``,``); a name column its generated names in
        ``lang`` (:func:`~siting.report.i18n.place_name`).
    v
        The value.
    lang
        ``"zh"`` or ``"en"``.

    Returns
    -------
    object
        The text in ``lang``; other values and unknown keys unchanged.
    """
    if col in ("name", "community_name", "group", "community_source"):
        return place_name(v, lang)
    if col == "population_source" and v == "buildings":
        return label("population_from_buildings", lang)
    if col not in VALUE_COLUMNS or not isinstance(v, str) or not v:
        return v
    return key_list(v, lang)


def service_with_unit(summary: dict, service: str, lang: str) -> str:
    """A service's name, with 户 (households) when its numbers count households.

    Parameters
    ----------
    summary
        The run's summary (its ``assumptions`` give each service's demand group).
    service
        A service key.
    lang
        ``"zh"`` or ``"en"``.

    Returns
    -------
    str
        E.g. 婴幼儿托育, 家政便民（户）, "Housekeeping and convenience (households)".
    """
    spec = ((summary.get("assumptions") or {}).get("services") or {}).get(service) or {}
    name = value_label(service, lang)
    if spec.get("demand_group") != "households":
        return name
    unit = label("households_unit", lang)
    return f"{name}（{unit}）" if lang == "zh" else f"{name} ({unit})"


def kpi_label(key: str, lang: str, households: Set[str] = frozenset()) -> str:
    """A summary.json key as people read it.

    Parameters
    ----------
    key
        A key, nested ones as ``served_by_service.infant_care``.
    lang
        ``"zh"`` or ``"en"``.
    households
        Services counted in households (:func:`household_services`).

    Returns
    -------
    str
        E.g. 获服务人数：婴幼儿托育, 获服务户数：家政便民.
    """
    if "." in key:
        head, sub = key.split(".", 1)
        if head == "served_by_service":
            return served_label(sub, lang, households)
        unit = f"（{label('households_unit', lang)}）" if lang == "zh" else \
            f" ({label('households_unit', lang)})"
        return (f"{label(head, lang)}: {value_label(sub, lang)}"
                + (unit if head == "unmet_by_service" and sub in households else ""))
    return label(key, lang)


def served_label(service: str, lang: str, households: Set[str]) -> str:
    """People served by a service, its unit said.

    Parameters
    ----------
    service
        A service key.
    lang
        ``"zh"`` or ``"en"``.
    households
        Services counted in households.

    Returns
    -------
    str
        获服务人数：托育 / People served: Infant care (获服务户数 for a household service).
    """
    key = "served_households_service" if service in households else "served_service"
    return label(key, lang, s=value_label(service, lang))


def col_labels(col: str, households: Set[str] = frozenset()) -> tuple[str, str]:
    """The two header rows of a column.

    Parameters
    ----------
    col
        The column.
    households
        Services counted in households (their ``served_<service>`` columns say so).

    Returns
    -------
    tuple of str
        ``(zh, en)``.
    """
    if col.startswith("served_") and col.endswith("min"):
        return both("served_tier", m=col[len("served_"):-len("min")])
    if col.startswith("served_"):  # a plan's people served per service
        return served_label(col[7:], "zh", households), served_label(col[7:], "en", households)
    return both(col)
