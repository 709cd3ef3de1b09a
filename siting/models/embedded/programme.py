r"""Programme data of the embedded model: years, funding sources, new residential projects.

The Plan (国办函〔2023〕121号) asks for a roll-out over years paid from several funding
channels (central budget investment, local finance, special bonds, old-community
renovation …). Three tables describe a programme (CSV or Excel, Chinese or English
headers, read by :mod:`siting.io.tables`); :func:`read_programme` reads and validates
them into a :class:`Programme`, and :func:`resolve` ties it to one model's sites and
demand (:class:`ProgrammeData`, the ``programme`` field of
:class:`~siting.models.embedded.data.EmbeddedData`). The rows and variables it adds to
the model are in :mod:`~siting.models.embedded.funding`.

**Phases** (``phases``): 年份/year, 预算/budget (CNY spent that year on all new sites;
blank: no cap). Years are consecutive.

**Funding** (``funding``): one row per source and year: 资金来源/source, 年份/year,
金额/amount (CNY available that year); per source (blank: no restriction, repeated
values must agree): 服务/services (service keys or Chinese names, split on ``;``),
费用类型/cost_types (建设/construction, 装修/fit_out, 租金/rent, 运营/operations; blank:
the first three),
上限比例/cap_share (the most of a site's investment of the cost types it pays: 0.4 or
40%), 条件/condition (a site attribute test such as ``建成年份<2001``: old-community
renovation pays only in communities built before 2001; a site without the attribute is
not eligible). With a funding table every cost item — rent in later years too — needs
a source with an amount in the year it is paid. Running costs are charged only when
some source lists 运营/operations: then each year a new site is open its city subsidy
(per unit served plus any operating deficit, policy ``[operations]``) is a cost item
too (:mod:`~siting.models.embedded.operations`). Without ``phases`` the funding's years
are the programme's years.

**Projects** (``projects``, 同步配建): 编号/id, 名称/name, 经度/lon, 纬度/lat,
人口/population, 交付年份/delivery_year, 配建面积/space_m2 (service space the project
must provide, free, available from its delivery year). Each project is a demand point
counted from its delivery year and a candidate site of that area at no cost
(:func:`project_rows`).

The amounts are the user's: the policy texts name the channels and the rules (special
bonds pay no rent or operations; central budget investment at most 40/60/80 % of
construction by region, STANDARDS.md §9.1), not the money a city has.
"""

from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from siting.errors import SitingError
from siting.io.tables import match_headers, read_table

COST_TYPES = ("construction", "fit_out", "rent", "operations")
# what a source without a cost_types entry pays: running costs only when a source says so
DEFAULT_TYPES = frozenset(COST_TYPES[:3])
_TYPE_WORDS = {
    "construction": ("construction", "renovation", "build", "建设", "改造", "建设改造", "土建",
                     "购置"),
    "fit_out": ("fit_out", "fit-out", "fitout", "equipment", "装修", "设备", "装修设备",
                "装修及设备"),
    "rent": ("rent", "lease", "租金", "租赁"),
    "operations": ("operations", "operation", "operating", "运营", "运营费用"),
}
_PHASE_HEADERS = {"year": ("year", "年份", "年度"), "budget": ("budget", "预算", "年度预算")}
_FUND_HEADERS = {
    "source": ("source", "资金来源", "来源", "资金渠道"),
    "year": ("year", "年份", "年度"),
    "amount": ("amount", "金额", "资金", "额度"),
    "services": ("services", "服务", "可支付服务"),
    "cost_types": ("cost_types", "cost_type", "费用类型", "可支付费用"),
    "cap_share": ("cap_share", "cap", "上限比例", "比例上限"),
    "condition": ("condition", "条件", "适用条件"),
}
_PROJECT_HEADERS = {
    "id": ("id", "编号", "项目编号"),
    "name": ("name", "名称", "项目名称"),
    "lon": ("lon", "lng", "longitude", "经度"),
    "lat": ("lat", "latitude", "纬度"),
    "population": ("population", "人口", "规划人口"),
    "delivery_year": ("delivery_year", "交付年份", "交付年度"),
    "space_m2": ("space_m2", "配建面积", "配套面积"),
}
_OPS = {"<=": operator.le, ">=": operator.ge, "!=": operator.ne, "<": operator.lt,
        ">": operator.gt, "=": operator.eq}
_COND_RE = re.compile(r"^\s*(.+?)\s*(<=|>=|!=|<|>|=)\s*(.+?)\s*$")


@dataclass(frozen=True)
class Source:
    """One funding source: what it may pay for, where, and how much of a site.

    Attributes
    ----------
    name
        As the funding table names it.
    services
        Service keys it may pay for (None: all).
    cost_types
        Cost types it may pay (a subset of :data:`COST_TYPES`).
    cap_share
        Most of a site's investment in those cost types it pays (None: no cap).
    condition
        ``(attribute, operator, value, text)``: only sites passing the test (None: all).
    """

    name: str
    services: frozenset | None
    cost_types: frozenset
    cap_share: float | None
    condition: tuple | None


@dataclass(frozen=True)
class Programme:
    """A programme as its tables give it (see the module docstring).

    Attributes
    ----------
    years
        The programme's consecutive years.
    year_budget
        Year → CNY all new sites may spend that year (years without one: no cap).
    sources
        The funding sources, in table order (empty: no funding table).
    amounts
        ``(source index, year) → CNY``.
    projects
        The projects table (``id``, ``name``, ``lon``, ``lat``, ``population``,
        ``delivery_year``, ``space_m2``) or None.
    """

    years: tuple
    year_budget: dict
    sources: tuple
    amounts: dict
    projects: pd.DataFrame | None = None

    @property
    def charges_operations(self) -> bool:
        """Whether some source pays 运营/operations: then running costs are cost items."""
        return any("operations" in s.cost_types for s in self.sources)


@dataclass(frozen=True)
class ProgrammeData:
    """A programme tied to one model's rows (the ``programme`` of the model's data).

    Attributes
    ----------
    programme
        The programme.
    first_year
        Per site, the index in ``years`` of the first year it may open
        (``len(years)``: never within the programme).
    from_year
        Per demand point, the index of the first year its demand counts (0: now).
    eligible
        Source × site: the site passes the source's condition.
    names
        Per site, its name in the site table (None without a ``name`` column).
    greedy_share
        Share of :attr:`money` a greedy start may plan with (lowered until its plan can
        be scheduled and paid: :func:`~siting.models.embedded.funding.fit_greedy`).
    """

    programme: Programme
    first_year: np.ndarray
    from_year: np.ndarray
    eligible: np.ndarray
    names: tuple | None = None
    greedy_share: float = 1.0

    @property
    def years(self) -> tuple:
        """The programme's years."""
        return self.programme.years

    @property
    def money(self) -> float:
        """The most the programme may spend: per year the smaller of its budget and its
        sources' amounts (inf where neither limits)."""
        prog = self.programme
        total = 0.0
        for y in prog.years:
            cap = prog.year_budget.get(y, np.inf)
            if prog.sources:
                cap = min(cap, sum(a for (_, yy), a in prog.amounts.items() if yy == y))
            total += cap
        return total

    def greedy_view(self, data):
        """The model's data as a greedy start should see it under this programme.

        The budget is :attr:`money` × :attr:`greedy_share` (or the model's, if smaller)
        and rent counts for the programme's years, not the cost horizon.

        Parameters
        ----------
        data
            The model's :class:`~siting.models.embedded.data.EmbeddedData`.

        Returns
        -------
        EmbeddedData
        """
        st, K = data.sites, len(self.years)
        money = self.money * self.greedy_share
        budget = money if data.budget is None else min(money, data.budget)
        return replace(
            data, budget=None if not np.isfinite(budget) else budget,
            fixed_cost=st["cost"].to_numpy(float) + K * st["annual_cost"].to_numpy(float),
            per_m2=st["one_off_per_m2_used"].to_numpy(float)
            + K * st["annual_per_m2_used"].to_numpy(float))

    @property
    def split_services(self) -> bool:
        """Some source pays only some services: cost items are kept per service."""
        return any(s.services is not None for s in self.programme.sources)


def _number(v, what: str, where: str) -> float:
    """A finite number from a cell (``40%`` is 0.4); raise naming the cell."""
    text = str(v).strip().replace(",", "")
    pct = text.endswith(("%", "％"))
    try:
        x = float(text.rstrip("%％")) / (100.0 if pct else 1.0)
    except ValueError:
        raise SitingError(f"{where}: {what} {v!r} is not a number") from None
    if not math.isfinite(x):
        raise SitingError(f"{where}: {what} must be finite, got {v!r}")
    return x


def _blank(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or str(v).strip() == ""


def _year(v, where: str) -> int:
    y = _number(v, "year", where)
    if y != int(y) or not 1900 <= y <= 2200:
        raise SitingError(f"{where}: year {v!r} must be a whole year between 1900 and 2200")
    return int(y)


def _table(path, headers: dict, need: tuple, what: str) -> tuple[pd.DataFrame, dict]:
    raw = read_table(path, what, text=True)
    cols = match_headers(raw, headers)
    missing = [f for f in need if f not in cols]
    if missing:
        names = "; ".join(f"{f}: {' / '.join(headers[f])}" for f in missing)
        raise SitingError(f"{Path(path).name}: the {what} needs the columns {names}; "
                          f"its columns are {list(raw.columns)}")
    if raw.empty:
        raise SitingError(f"{Path(path).name}: the {what} has no rows")
    return raw, cols


def read_phases(path: str | Path) -> tuple[tuple, dict]:
    """The years of a phases table and their budgets.

    Parameters
    ----------
    path
        CSV or Excel with 年份/year and optionally 预算/budget (CNY).

    Returns
    -------
    tuple
        ``(years, year → budget)``.
    """
    raw, cols = _table(path, _PHASE_HEADERS, ("year",), "phases table")
    years, budget = [], {}
    for r in range(len(raw)):
        where = f"{Path(path).name} row {r + 2}"
        y = _year(raw[cols["year"]].iloc[r], where)
        if y in years:
            raise SitingError(f"{where}: year {y} is listed twice")
        years.append(y)
        if "budget" in cols and not _blank(raw[cols["budget"]].iloc[r]):
            b = _number(raw[cols["budget"]].iloc[r], "budget", where)
            if b < 0:
                raise SitingError(f"{where}: budget must be >= 0 CNY, got {b:g}")
            budget[y] = b
    return _consecutive(years, Path(path).name), budget


def _consecutive(years: list, where: str) -> tuple:
    ys = sorted(years)
    if ys != list(range(ys[0], ys[0] + len(ys))):
        raise SitingError(f"{where}: the programme's years must be consecutive (each year's "
                          f"people served counts once), got {ys}")
    return tuple(ys)


def _split(v) -> list[str]:
    return [p.strip() for p in re.split(r"[;；、,，/]", str(v)) if p.strip()]


def _cost_types(v, where: str) -> frozenset:
    out = set()
    for word in _split(v):
        hit = [t for t, ws in _TYPE_WORDS.items() if word.lower() in ws]
        if not hit:
            raise SitingError(f"{where}: unknown cost type {word!r}; use 建设/construction, "
                              "装修/fit_out, 租金/rent or 运营/operations (split on ;)")
        out.add(hit[0])
    return frozenset(out)


def _condition(v, where: str) -> tuple:
    m = _COND_RE.match(str(v))
    if not m:
        raise SitingError(f"{where}: condition {v!r} is not 'attribute operator value' "
                          f"(e.g. 建成年份<2001; operators {' '.join(_OPS)})")
    attr, op, value = m.groups()
    try:
        val: float | str = float(value)
    except ValueError:
        val = value
    return attr, op, val, str(v).strip()


def read_funding(path: str | Path, services: dict) -> tuple[tuple, dict, list]:
    """The sources of a funding table, their amounts per year and the table's years.

    Parameters
    ----------
    path
        CSV or Excel (see the module docstring for the columns).
    services
        Accepted service words → service key (keys and Chinese names of the policy).

    Returns
    -------
    tuple
        ``(sources, (source index, year) → CNY, years)``.
    """
    raw, cols = _table(path, _FUND_HEADERS, ("source", "year", "amount"), "funding table")
    name = Path(path).name
    per: dict[str, dict] = {}
    amounts: dict = {}
    order: list[str] = []
    for r in range(len(raw)):
        where = f"{name} row {r + 2}"
        src = str(raw[cols["source"]].iloc[r]).strip()
        if _blank(raw[cols["source"]].iloc[r]):
            raise SitingError(f"{where}: the source (资金来源) is blank")
        y = _year(raw[cols["year"]].iloc[r], where)
        amt = _number(raw[cols["amount"]].iloc[r], "amount", where)
        if amt < 0:
            raise SitingError(f"{where}: amount must be >= 0 CNY, got {amt:g}")
        if src not in per:
            per[src] = {}
            order.append(src)
        if (order.index(src), y) in amounts:
            raise SitingError(f"{where}: source {src!r} has two rows for {y}")
        amounts[order.index(src), y] = amt
        for f in ("services", "cost_types", "cap_share", "condition"):
            if f not in cols or _blank(raw[cols[f]].iloc[r]):
                continue
            val = str(raw[cols[f]].iloc[r]).strip()
            if per[src].setdefault(f, val) != val:
                raise SitingError(f"{where}: source {src!r} has {f} {val!r} here and "
                                  f"{per[src][f]!r} in an earlier row; give one value")
    sources = []
    for src in order:
        attrs, where = per[src], f"{name}, source {src!r}"
        svc = None
        if "services" in attrs:
            words = _split(attrs["services"])
            unknown = [w for w in words if w not in services]
            if unknown:
                raise SitingError(f"{where}: unknown services {unknown}; use the policy's "
                                  f"service keys or names: {sorted(services)}")
            svc = frozenset(services[w] for w in words)
        types = _cost_types(attrs["cost_types"], where) if "cost_types" in attrs \
            else DEFAULT_TYPES
        cap = None
        if "cap_share" in attrs:
            cap = _number(attrs["cap_share"], "cap_share", where)
            if not 0 <= cap <= 1:
                raise SitingError(f"{where}: cap_share must be a share between 0 and 1 "
                                  f"(or a percentage), got {attrs['cap_share']!r}")
        cond = _condition(attrs["condition"], where) if "condition" in attrs else None
        sources.append(Source(src, svc, types, cap, cond))
    years = sorted({y for (_, y) in amounts})
    return tuple(sources), amounts, years


def read_projects(path: str | Path, years: tuple) -> pd.DataFrame:
    """The new residential projects (同步配建) of a projects table.

    Parameters
    ----------
    path
        CSV or Excel (see the module docstring for the columns).
    years
        The programme's years: a project delivered after the last one is refused.

    Returns
    -------
    pandas.DataFrame
        ``id``, ``name``, ``lon``, ``lat``, ``population``, ``delivery_year``,
        ``space_m2``.
    """
    need = ("lon", "lat", "population", "delivery_year", "space_m2")
    raw, cols = _table(path, _PROJECT_HEADERS, need, "projects table")
    rows = []
    name = Path(path).name
    for r in range(len(raw)):
        where = f"{name} row {r + 2}"
        pid = str(raw[cols["id"]].iloc[r]) if "id" in cols else f"project{r + 1}"
        label = str(raw[cols["name"]].iloc[r]) if "name" in cols else None
        num = {f: _number(raw[cols[f]].iloc[r], f, where)
               for f in ("lon", "lat", "population", "space_m2")}
        year = _year(raw[cols["delivery_year"]].iloc[r], where)
        if not (-180 <= num["lon"] <= 180 and -90 <= num["lat"] <= 90):
            raise SitingError(f"{where}: lon/lat {num['lon']:g}, {num['lat']:g} are not degrees")
        if num["population"] < 0 or num["space_m2"] < 0:
            raise SitingError(f"{where}: population and space_m2 must be >= 0")
        if year > years[-1]:
            raise SitingError(f"{where}: project {pid} is delivered in {year}, after the "
                              f"programme's last year {years[-1]}; extend the phases or "
                              "leave it out")
        rows.append({"id": pid, "name": label, **num, "delivery_year": year})
    out = pd.DataFrame(rows)
    if out["id"].duplicated().any():
        raise SitingError(f"{name}: duplicate project ids {sorted(out['id'][out['id'].duplicated()])}")
    return out


def read_programme(funding: str | Path | None, phases: str | Path | None,
                   projects: str | Path | None, services: dict) -> Programme | None:
    """The programme of a scenario's ``funding``, ``phases`` and ``projects`` tables.

    Parameters
    ----------
    funding
        Funding table or None.
    phases
        Phases table or None (then the funding's years are the programme's).
    projects
        Projects table or None (needs phases or funding for its years).
    services
        Accepted service words → service key.

    Returns
    -------
    Programme or None
        None when no table is given.
    """
    if funding is None and phases is None and projects is None:
        return None
    sources: tuple = ()
    amounts: dict = {}
    years: tuple = ()
    budget: dict = {}
    if phases is not None:
        years, budget = read_phases(phases)
    if funding is not None:
        sources, amounts, fyears = read_funding(funding, services)
        if not years:
            years = _consecutive(fyears, Path(funding).name)
        outside = sorted(set(fyears) - set(years))
        if outside:
            raise SitingError(f"{Path(funding).name}: years {outside} are not programme years "
                              f"{list(years)} (phases table); add them there or drop the rows")
    if not years:
        raise SitingError("projects enter from their delivery year: give the programme's "
                          "years (a phases or a funding table)")
    table = None if projects is None else read_projects(projects, years)
    return Programme(years, budget, sources, amounts, table)


def service_words(policy) -> dict:
    """Service key and Chinese name → key, for the active services of a policy.

    Parameters
    ----------
    policy
        A validated policy.

    Returns
    -------
    dict
    """
    out = {}
    for s in policy.active_services:
        out[s] = s
        out[policy.services[s].name_zh] = s
    return out


def resolve(programme: Programme, demand: pd.DataFrame, sites: pd.DataFrame) -> ProgrammeData:
    """Tie a programme to a model's rows: when each site may open, when each demand point
    counts, which sites each source may pay for.

    Parameters
    ----------
    programme
        The programme.
    demand
        The model's demand table; optional ``from_year`` (the year its people arrive,
        e.g. a project's delivery year; blank: now).
    sites
        The model's site table; optional ``year_available`` (可用年份; blank: now) and
        the attributes the sources' conditions test (a condition on a column the
        table does not have is refused).

    Returns
    -------
    ProgrammeData
    """
    years = np.asarray(programme.years)
    K = len(years)

    def index(col: pd.Series | None, n: int) -> np.ndarray:
        if col is None:
            return np.zeros(n, np.int64)
        y = pd.to_numeric(col, errors="coerce").to_numpy(float)
        idx = np.searchsorted(years, np.where(np.isnan(y), years[0], y), side="left")
        return np.minimum(idx, K).astype(np.int64)

    first = index(sites["year_available"] if "year_available" in sites else None, len(sites))
    if "from_year" in demand:
        fy = pd.to_numeric(demand["from_year"], errors="coerce").to_numpy(float)
        late = fy > years[-1]
        if late.any():
            raise SitingError(f"{int(late.sum())} demand points arrive after the programme's "
                              f"last year {years[-1]} (from_year up to {np.nanmax(fy):.0f}); "
                              "extend the phases or leave them out")
    frm = index(demand["from_year"] if "from_year" in demand else None, len(demand))
    elig = np.ones((len(programme.sources), len(sites)), bool)
    for k, src in enumerate(programme.sources):
        if src.condition is None:
            continue
        attr, op, val, text = src.condition
        col = next((c for c in sites.columns if str(c).strip().lower() == attr.lower()), None)
        if col is None:
            raise SitingError(
                f"funding source {src.name!r}: its condition {text!r} tests {attr!r}, "
                f"which no site has; give that column in the inventory (sites without "
                f"it are not eligible) or drop the condition")
        elig[k] = _test(sites[col], op, val)
    names = tuple("" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
                  for v in sites["name"]) if "name" in sites else None
    return ProgrammeData(programme, first, frm, elig, names)


def _test(values: pd.Series, op: str, val) -> np.ndarray:
    """Which rows pass ``value op val`` (numbers compared as numbers; blanks fail)."""
    if isinstance(val, float):
        x = pd.to_numeric(values, errors="coerce").to_numpy(float)
        with np.errstate(invalid="ignore"):
            return np.asarray(_OPS[op](x, val)) & ~np.isnan(x)
    x = values.astype(object)
    ok = x.notna().to_numpy()
    return ok & np.array([bool(_OPS[op](str(v).strip(), val)) if o else False
                          for v, o in zip(x, ok)], bool)
