r"""Residents' needs: a community × service table scaling priority or demand.

The Plan configures services "根据群众需求" (STANDARDS.md §9.6); no standard survey
instrument or weighting was found, so the table is the city's own: survey weights or
stated demand per community and service (scenario keys ``needs`` and ``needs_mode``).

A needs table (CSV or Excel, :func:`siting.io.tables.read_table`) is either *wide*: a
community column (``社区编号``/``community_id`` or ``社区名称``/``community_name``) and one
column per service, headed by its key (``elderly_care``) or its Chinese or English name
(``社区养老服务（日间照料/短期托养）``), or *long*: community, ``服务``/``service`` and
``权重``/``weight``. A missing cell is 1 (no change). Weights are finite and ≥ 0.

With weight :math:`k_{cs}` of community :math:`c` and service :math:`s`:

* ``needs_mode = "priority"`` (default): a person of :math:`c` served counts
  :math:`w_s k_{cs}` in the objective instead of :math:`w_s` (people served stay people);
* ``needs_mode = "demand"``: the units needed are :math:`D_{is} = N_{is} r_s k_{cs}`
  (stated demand above or below the standard rate); people served are still
  units ÷ :math:`r_s`, so with :math:`k > 1` they can exceed the group's people.

The marginal value of a chosen site (``marginal_value``) counts the needs factors: in
capacity mode through the model's own LP
(:func:`~siting.models.embedded.diagnosis.marginal_lp`), in coverage mode per point.

The model reads the weights from demand columns ``needs_priority_<s>`` /
``needs_demand_<s>`` (:func:`with_needs`), so a caller of
:class:`~siting.models.embedded.EmbeddedFacilities` may give them directly.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from siting.errors import SitingError
from siting.io.tables import header_key, match_headers, read_table

if TYPE_CHECKING:
    from siting.config.policy import Policy
    from siting.models.embedded.data import EmbeddedData

MODES = ("priority", "demand")
_COMMUNITY = {"id": ["社区编号", "社区代码", "community_id", "社区id", "id"],
              "name": ["社区名称", "社区", "community_name", "community", "name"]}
_LONG = {"service": ["服务", "服务类型", "service"], "weight": ["权重", "需求权重", "weight"]}


def read_needs(path: str | Path, policy: Policy) -> pd.DataFrame:
    """The needs table as long rows: ``community`` (id or name), ``by`` (``"id"`` or
    ``"name"``), ``service`` (key), ``weight``.

    Parameters
    ----------
    path
        A CSV or Excel file (wide or long, see the module docstring).
    policy
        The run's policy (its active services and their names).

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    SitingError
        Naming the file, the column or cell and how to fix it.
    """
    where = f"needs table {Path(path).name}"
    df = read_table(path, "needs table", text=True)
    cols = match_headers(df, {**_COMMUNITY, **_LONG})
    by = "id" if "id" in cols else "name" if "name" in cols else None
    if by is None:
        raise SitingError(f"{where}: no community column (社区编号/community_id or "
                          f"社区名称/community_name); columns are {list(df.columns)}")
    names = {}  # compared without case, spaces and brackets: 社区养老服务 matches its name_zh
    for k in policy.active_services:
        sv = policy.services[k]
        for n in (k, sv.name_zh, sv.name_en):
            names[header_key(n)] = k
    if "service" in cols and "weight" in cols:  # long
        rows = [(c, s, w) for c, s, w in zip(df[cols[by]], df[cols["service"]],
                                             df[cols["weight"]])]
    else:
        svc_cols = [c for c in df.columns if c not in (cols.get("id"), cols.get("name"))]
        rows = [(c, s, w) for s in svc_cols for c, w in zip(df[cols[by]], df[s])]
    out = []
    for c, s, w in rows:
        key = names.get(header_key(s))
        if key is None:
            raise SitingError(f"{where}: {s!r} is not an active service; use a key "
                              f"({', '.join(policy.active_services)}) or its name_zh/name_en")
        if pd.isna(w) or str(w).strip() == "":
            continue
        try:
            val = float(w)
        except ValueError:
            raise SitingError(f"{where}: weight {w!r} of community {c} and {s} is not a "
                              "number") from None
        if not np.isfinite(val) or val < 0:
            raise SitingError(f"{where}: weight {val} of community {c} and {s} must be "
                              "finite and >= 0")
        out.append({"community": str(c).strip(), "by": by, "service": key, "weight": val})
    return pd.DataFrame(out, columns=["community", "by", "service", "weight"])


def with_needs(demand: pd.DataFrame, needs: pd.DataFrame, mode: str = "priority") -> pd.DataFrame:
    """The demand table with one ``needs_<mode>_<service>`` column per service named.

    Parameters
    ----------
    demand
        Demand points with ``community_id`` (and ``community_name``).
    needs
        :func:`read_needs` rows.
    mode
        ``"priority"`` or ``"demand"``.

    Returns
    -------
    pandas.DataFrame
        A copy; points of communities the table does not name get 1.

    Raises
    ------
    SitingError
        When none of the table's communities is in the demand (a warning names those
        that are not, when some are).
    """
    if mode not in MODES:
        raise SitingError(f"needs_mode must be one of {', '.join(MODES)}, got {mode!r}")
    out = demand.copy()
    for by, col in (("id", "community_id"), ("name", "community_name")):
        part = needs[needs["by"] == by]
        if not len(part):
            continue
        if col not in out:
            raise SitingError(f"the needs table names communities by {by} but the demand has "
                              f"no {col} column; give community boundaries (--communities)")
        have = set(out[col].astype(str))
        unknown = sorted(set(part["community"]) - have)
        if len(unknown) == part["community"].nunique():
            raise SitingError(
                f"needs table: none of its communities ({', '.join(unknown[:5])}) is in the "
                f"study area (its {col} values are e.g. {', '.join(sorted(have)[:3])}); fix "
                "the table or the community boundaries")
        if unknown:  # a table for a larger area: said, not silently dropped
            warnings.warn(f"needs table: communities {', '.join(unknown[:5])}"
                          f"{' …' if len(unknown) > 5 else ''} are not in the study area; "
                          "their weights are not used", UserWarning, stacklevel=2)
        for s, g in part.groupby("service"):
            w = dict(zip(g["community"], g["weight"]))
            out[f"needs_{mode}_{s}"] = out[col].astype(str).map(w).fillna(1.0).to_numpy(float)
    return out


def need_factors(demand: pd.DataFrame, services: list) -> tuple[np.ndarray | None,
                                                                   np.ndarray | None]:
    """Demand point × service weights of the ``needs_priority_<s>`` and
    ``needs_demand_<s>`` columns (None when there are none).

    Parameters
    ----------
    demand
        The demand table as given to the model.
    services
        The model's service keys.

    Returns
    -------
    tuple
        ``(priority, demand)`` factors.
    """
    out: list[np.ndarray | None] = []
    for mode in MODES:
        cols = [f"needs_{mode}_{s}" for s in services]
        if not any(c in demand for c in cols):
            out.append(None)
            continue
        f = np.ones((len(demand), len(services)))
        for si, c in enumerate(cols):
            if c in demand:
                v = pd.to_numeric(demand[c], errors="coerce").to_numpy(float)
                if not np.all(np.isfinite(v) & (v >= 0)):
                    raise SitingError(f"demand column {c}: weights must be finite and >= 0")
                f[:, si] = v
        out.append(f)
    return out[0], out[1]


def row_weights(data: EmbeddedData, si: int) -> np.ndarray:
    """The needs factor of each of the model's demand rows of service ``si`` (ones without
    needs).

    Rows merge points of one community only, so the first member's factor is the row's.

    Parameters
    ----------
    data
        The model's data.
    si
        Service index.

    Returns
    -------
    numpy.ndarray
        One factor per demand row (:class:`~siting.models.embedded._rows.DemandRows`).
    """
    grp = data.rows[si]
    if data.needs is None:
        return np.ones(len(grp.D))
    first = np.array([m[0] for m in grp.members], np.int64)
    return np.asarray(data.needs[first, si], float)


def weighted_served(data: EmbeddedData, assign: pd.DataFrame) -> float | None:
    """Priority-weighted people served with the needs factors (None without needs).

    Parameters
    ----------
    data
        The model's data.
    assign
        The plan's assignments.
    """
    if data.needs is None:
        return None
    if not len(assign):
        return 0.0
    si = assign["service"].map({s: k for k, s in enumerate(data.services)}).to_numpy(np.int64)
    i = assign["demand"].to_numpy(np.int64)
    return float((assign["people"].to_numpy(float) * data.weight[si] * data.needs[i, si]).sum())
