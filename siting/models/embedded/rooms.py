r"""Shared rooms (错时使用) and the three levels (街道—社区—小区) of the embedded model.

Rows added to the model of :func:`~siting.models.embedded.formulation.build`
by :func:`add_rooms` (before the budget) and :meth:`Rooms.finish` (after the demand and
standard rows), for new site :math:`j`, service :math:`s` and the symbols of
:class:`~siting.models.embedded.EmbeddedFacilities`.

**Shared rooms.** For each pair :math:`p = (s, t)` of ``shared_rooms.pairs`` whose two
services may both be placed at :math:`j`, a shared area :math:`b_{jp} \ge 0`:

.. math::

    &b_{jp} \le a_{js},\quad b_{jp} \le a_{jt}
      && \text{(``shared_{j}_{s}_{t}_{u}``: only what both have; 0 unless both hosted)}\\
    &\textstyle\sum_{p \ni s} b_{jp} \le a_{js}
      && \text{(``shared_parts_{j}_{s}``, for } s \text{ in several pairs)}\\
    &\textstyle\sum_s a_{js} - \sum_p b_{jp} \le A_j y_j && \text{(``site_area_{j}``)}

The physical floor area :math:`\sum_s a_{js} - \sum_p b_{jp}` also replaces
:math:`\sum_s a_{js}` in ``complex_area_{j}`` (≥ 600 m² of rooms) and
``standard_area_{j}`` (each m² counted once), and the rent and renovation per m² used
are charged on it: the cost is :math:`F_j y_j + \sum_s (v_j + k_s) a_{js} - v_j
\sum_p b_{jp}` (fit-out :math:`k_s` is paid for each service: each has its own
equipment). Capacities stay :math:`\sum_i f_{ijs} \le a_{js}/q_s` for each service, so a
shared room serves both in full. Pairs are disjoint in time by the policy's word. A
room is shared by two services at most: a service in several pairs shares different
parts of its area with each (``shared_parts``), so :math:`a_{js} = o_{js} + \sum_{p
\ni s} b_{jp}` with its own part :math:`o_{js} \ge 0` and the physical area
:math:`\sum_s o_{js} + \sum_p b_{jp}` is exactly the one above (a canteen used for
after-school care in the afternoon and for culture in the evening, three uses of one
room, is not modelled: its second sharing is not counted).

**Levels.** With ``hierarchy.enabled``, binaries :math:`l_{jk}` for the levels
:math:`k` (floor area :math:`[\underline{M}_k, \overline{M}_k]`, services
:math:`S_k`) whose minimum the site holds — levels with the same services and
overlapping ranges that no requirement names are one choice (:func:`level_groups`):

.. math::

    &\textstyle\sum_k l_{jk} = y_j && \text{(``level_one_{j}``)}\\
    &\textstyle\sum_k \underline{M}_k l_{jk} \le \sum_s a_{js} - \sum_p b_{jp}
      \le \sum_k \overline{M}_k l_{jk} && \text{(``level_min_{j}``, ``level_max_{j}``)}\\
    &x_{js} \le \textstyle\sum_{k:\, s \in S_k} l_{jk}
      && \text{(``level_hosts_{j}_{s}``, where some level forbids } s)

``hierarchy.required_in_reach`` names levels every community needs within its reach
(the area standard's :math:`R(c)`): :math:`\sum_{j \in R(c)} l_{jk} \ge 1`
(``level_reach_{c}_{k}``) for each community with households, where some candidate in
:math:`R(c)` can take level :math:`k`; the others are named in a note (:func:`room_notes`).

The marginal value of a chosen site (``marginal_value``) keeps the others' levels and
shared rooms (:func:`~siting.models.embedded.diagnosis.marginal_lp`). An existing
facility takes the level its table gives (``level``, 层级; none without): a community
with one of a required level within its reach needs no new one.

**A level's walking reach** (``walk_minutes``, e.g. the 15/10/5-minute life circles of
GB 50180-2018 for centre, complex and point): at speed :math:`v_s` of service
:math:`s`'s group, a site at level :math:`k` serves no pair farther than
:math:`r_{ks} = ` ``walk_minutes`` :math:`\times v_s` (where that is below the service's
own threshold):

.. math::

    \textstyle\sum_{i:\, d_{ij} > r_{ks}} f_{ijs} \le M_{js} (1 - l_{jk}),\quad
    M_{js} = \sum_{i:\, d_{ij} > r_{ks}} D_{is}
    \quad \text{(``level_walk_{j}_{k}_{s}``)}

Demand points are then not merged (their distances matter), and the coverage mode is
refused (it has no flows to limit).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from siting.errors import SitingError
from siting.models.embedded.operations import OPERATION_COLUMNS, add_subsidy_cap

if TYPE_CHECKING:
    from siting.config.programme import Hierarchy
    from siting.models.embedded.data import EmbeddedData
    from siting.models.embedded.formulation import Formulation
    from siting.solvers.builder import ModelBuilder


# the plan's per-site columns of programme planning (levels, shared rooms, running costs)
PROGRAMME_COLUMNS = ("level", "level_name", "shared_m2", "shared_rooms", *OPERATION_COLUMNS)
_TEXT = ("level", "level_name", "shared_rooms")


@dataclass
class Rooms:
    """The shared-room and level variables of a built model.

    Attributes
    ----------
    pairs
        ``(si, ti)`` service indices of the active shared pairs.
    shared
        ``(j, p) → b_{jp}`` for pair ``pairs[p]`` at new site ``j``.
    level
        ``(j, key) → l_{jk}``.
    cost_terms
        The cost's terms of the shared rooms (:math:`-v_j b_{jp}`).
    subsidy
        Terms of the city's annual subsidy of new sites, when capped.
    """

    pairs: list = field(default_factory=list)
    shared: dict = field(default_factory=dict)
    level: dict = field(default_factory=dict)
    cost_terms: list = field(default_factory=list)
    subsidy: list | None = None

    def shared_terms(self, j: int) -> list:
        """``[(b_{jp}, -1)]`` of site ``j``: its terms of the physical floor area.

        Parameters
        ----------
        j
            A new site.
        """
        return [(v, -1.0) for (jj, _p), v in self.shared.items() if jj == j]

    @property
    def active(self) -> bool:
        """Shared rooms, levels or the subsidy cap are in the model."""
        return bool(self.shared or self.level or self.subsidy)

    def values(self, x: np.ndarray) -> dict:
        """``shared``: ``(j, p) → m²``; ``level``: ``j → level choice`` of the open sites
        (the first level key of its group, :func:`level_groups`).

        Parameters
        ----------
        x
            Column values of a solve.

        Returns
        -------
        dict
        """
        val = lambda v: float(x[v])  # noqa: E731
        return {"shared": {k: max(val(v), 0.0) for k, v in self.shared.items()},
                "level": {j: key for (j, key), v in self.level.items() if val(v) > 0.5}}

    def level_start(self, data: EmbeddedData, areas: dict) -> dict:
        """Level values of a plan given by its areas (a greedy start): each open site
        at the first level its floor area and services fit, none where no level fits
        (the start is then infeasible and not used).

        Parameters
        ----------
        data
            The model's data.
        areas
            ``(j, si) → m²`` of the plan (no shared rooms).

        Returns
        -------
        dict
            ``l_{jk}`` column → 0 or 1.
        """
        groups = level_groups(data.policy.hierarchy)
        total: dict[int, float] = {}
        hosts: dict[int, set] = {}
        for (j, si), m2 in areas.items():
            total[j] = total.get(j, 0.0) + m2
            hosts.setdefault(j, set()).add(data.services[si])
        out = {v: 0.0 for v in self.level.values()}
        for j, m2 in total.items():
            for k, g in groups.items():
                ok = g.services is None or hosts[j] <= g.services
                if ok and g.min_m2 - 1e-9 <= m2 <= g.max_m2 + 1e-9 and (j, k) in self.level:
                    out[self.level[j, k]] = 1.0
                    break
        return out

    def finish(self, data: EmbeddedData, form: Formulation) -> None:
        """Physical area in the area-standard rows; the cap on the annual subsidy.

        Parameters
        ----------
        data
            The model's data.
        form
            The built formulation (its standard and demand rows made).
        """
        by_site: dict[int, list] = {}
        for (j, _p), v in self.shared.items():
            by_site.setdefault(j, []).append((v, 1.0))
        for j, terms in by_site.items():  # Σ g ≤ Σ a − Σ b
            form.problem.extend_row(f"standard_area_{j}", terms)
        self.subsidy = add_subsidy_cap(data, form)
        if data.policy.hierarchy.has_reach:
            _walk_rows(data, form, self)


def _walk_rows(data: EmbeddedData, form: Formulation, rooms: Rooms) -> None:
    """A site at a level with a walking reach serves no one beyond it (per service)."""
    pol, S = data.policy, data.services
    groups = level_groups(pol.hierarchy)
    for si, s in enumerate(S):
        grp = data.rows[si]
        speed = pol.walking.speed_m_per_min[pol.services[s].speed_profile]
        order = np.argsort(grp.pj, kind="stable")
        starts = np.searchsorted(grp.pj[order], np.arange(len(data.area) + 1))
        for (j, key), lv in rooms.level.items():
            minutes = groups[key].walk_minutes
            if minutes is None or minutes * speed >= data.threshold[si]:
                continue
            ks = order[starts[j]:starts[j + 1]]
            far = ks[grp.dist[ks] > minutes * speed]
            far = far[form.flows[si][far] >= 0]
            if not len(far):
                continue
            big = float(grp.D[grp.pi[far]].sum())
            form.problem.add_row([(form.flows[si][far], 1.0), (lv, big)], "<=", big,
                                 f"level_walk_{j}_{key}_{s}")


def add_rooms(data: EmbeddedData, prob: ModelBuilder, y: dict, x: dict, a: dict) -> Rooms:
    """Add the shared-room and level variables and rows (see the module docstring).

    Called after the site rows (``site_area_{j}`` and ``complex_area_{j}`` get the
    shared terms in place) and before the cost is summed.

    Parameters
    ----------
    data
        The model's data.
    prob
        The model being built.
    y, x, a
        Its opening, hosting and area columns.

    Returns
    -------
    Rooms
    """
    pol, S = data.policy, data.services
    out = Rooms()
    out.pairs = _pairs(data)
    for j in y:
        terms = []
        for p, (si, ti) in enumerate(out.pairs):
            if (j, si) not in a or (j, ti) not in a:
                continue
            b = out.shared[j, p] = prob.add_var(f"b_{j}_{p}", 0)
            terms.append((b, -1.0))
            for u in (si, ti):
                prob.add_row([(b, 1.0), (a[j, u], -1.0)], "<=", 0,
                             f"shared_{j}_{S[si]}_{S[ti]}_{S[u]}")
            out.cost_terms.append((b, -float(data.per_m2[j])))
        for si in {u for pr in out.pairs for u in pr}:  # each part shared with one pair
            bs = [(out.shared[j, p], 1.0) for p, pr in enumerate(out.pairs)
                  if si in pr and (j, p) in out.shared]
            if len(bs) > 1:
                prob.add_row(bs + [(a[j, si], -1.0)], "<=", 0, f"shared_parts_{j}_{S[si]}")
        for name in (f"site_area_{j}", f"complex_area_{j}") if terms else ():
            prob.extend_row(name, terms)  # the physical floor area: Σ a − Σ b
    if pol.hierarchy.has_reach and not data.capacity:
        raise SitingError("hierarchy levels with walk_minutes need capacity mode (a level's "
                          "reach limits whom a site serves): drop capacity = false or the "
                          "levels' walk_minutes")
    if pol.hierarchy.enabled:
        _level_rows(data, prob, y, x, a, out)
        _reach_rows(data, prob, out)
    return out


def _existing_level(data: EmbeddedData) -> set:
    """``(community, level key)`` pairs an existing facility of that level within the
    community's reach already gives."""
    level = data.sites["level"]
    cs, js = data.standard_reach
    return {(int(c), level[int(j)]) for c, j in zip(cs, js)
            if data.existing[j] and level[int(j)] is not None}


def _reach_rows(data: EmbeddedData, prob: ModelBuilder, out: Rooms) -> None:
    """Each community a site of each required level within its reach (where one can be
    and no existing facility of that level is)."""
    cs, js = data.standard_reach
    have = _existing_level(data)
    for k in data.policy.hierarchy.required_in_reach:
        for c in range(len(data.community_ids)):
            if (c, k) in have:
                continue
            vs = [out.level[j, k] for j in js[cs == c].tolist() if (j, k) in out.level]
            if vs and data.households[c] > 0:
                prob.add_row([(v, 1.0) for v in vs], ">=", 1, f"level_reach_{c}_{k}")


def room_notes(data: EmbeddedData) -> list[str]:
    """Communities that no candidate within reach can give a required level (said once).

    Parameters
    ----------
    data
        The model's data.

    Returns
    -------
    list of str
    """
    h = data.policy.hierarchy
    if not h.enabled or not h.required_in_reach:
        return []
    cs, js = data.standard_reach
    new = set(data.new_sites)
    have = _existing_level(data)
    out = []
    for k in h.required_in_reach:
        lv = h.levels[k]
        none = [data.community_names[c] for c in range(len(data.community_ids))
                if data.households[c] > 0 and (c, k) not in have and not any(
                    j in new and lv.min_m2 <= data.site_cap[j] + 1e-9
                    for j in js[cs == c].tolist())]
        if none:
            out.append(f"hierarchy.required_in_reach {k} ({lv.name_zh}): no candidate within "
                       f"reach of {len(none)} communities can be one ({', '.join(none[:3])}"
                       f"{' …' if len(none) > 3 else ''}); the requirement is not applied there")
    return out


@dataclass(frozen=True)
class _Group:
    """Levels the model need not tell apart: one choice (see :func:`level_groups`)."""

    keys: tuple
    min_m2: float
    max_m2: float
    services: frozenset | None  # None: every service
    walk_minutes: float | None = None  # None: each service's own threshold


def level_groups(h: Hierarchy) -> dict:
    """The level choices of the model, by the key of their first level.

    Levels with the same services and walking reach whose floor-area ranges overlap, and that no
    ``required_in_reach`` names, are one choice with the union of their ranges: a site
    fits one of them exactly when it fits the union, so a binary per level would only
    add symmetric branches. A plan's site is reported at the first of them (in the
    policy's order) whose range holds its floor area.

    Parameters
    ----------
    h
        The policy's ``[hierarchy]``.

    Returns
    -------
    dict
        First level key → ``_Group``.
    """
    out: dict[str, _Group] = {}
    open_: dict = {}  # services → the group being extended
    items = sorted(h.active.items(), key=lambda kv: kv[1].min_m2)
    for k, lv in items:
        svc = frozenset(lv.services) if lv.services else None
        same = (svc, lv.walk_minutes)  # same services and the same walking reach
        g = open_.get(same)
        if (k not in h.required_in_reach and g is not None and g.keys[0] not in
                h.required_in_reach and lv.min_m2 <= g.max_m2 + 1e-9):
            out[g.keys[0]] = open_[same] = _Group(g.keys + (k,), g.min_m2,
                                                  max(g.max_m2, lv.max_m2), svc,
                                                  lv.walk_minutes)
            continue
        out[k] = _Group((k,), lv.min_m2, lv.max_m2, svc, lv.walk_minutes)
        if k not in h.required_in_reach:
            open_[same] = out[k]
    return out


def _level_of(data: EmbeddedData, group: str, m2: float) -> str:
    """The level of a site at choice ``group`` with ``m2`` of floor area."""
    levels = data.policy.hierarchy.active
    keys = level_groups(data.policy.hierarchy)[group].keys
    order = [k for k in levels if k in keys]
    return next((k for k in order if levels[k].min_m2 - 1e-6 <= m2 <= levels[k].max_m2 + 1e-6),
                order[0])


def _level_rows(data: EmbeddedData, prob: ModelBuilder, y: dict, x: dict, a: dict,
                out: Rooms) -> None:
    """One level per open new site: its floor-area limits and the services it may host."""
    S = data.services
    groups = level_groups(data.policy.hierarchy)
    for j in y:
        sis = [si for si in range(len(S)) if (j, si) in x]
        keys = [k for k, g in groups.items() if g.min_m2 <= data.site_cap[j] + 1e-9]
        ls = {k: prob.add_var(f"l_{j}_{k}", 0, 1, integer=True) for k in keys}
        for k, v in ls.items():
            out.level[j, k] = v
        prob.add_row([(v, 1.0) for v in ls.values()] + [(y[j], -1.0)], "==", 0,
                     f"level_one_{j}")
        area = [(a[j, si], 1.0) for si in sis] + out.shared_terms(j)
        prob.add_row(area + [(ls[k], -float(groups[k].min_m2)) for k in keys], ">=", 0,
                     f"level_min_{j}")
        prob.add_row(area + [(ls[k], -float(groups[k].max_m2)) for k in keys], "<=", 0,
                     f"level_max_{j}")
        for si in sis:
            ok = [k for k in keys if groups[k].services is None or S[si] in groups[k].services]
            if len(ok) < len(keys):
                prob.add_row([(x[j, si], 1.0)] + [(ls[k], -1.0) for k in ok], "<=", 0,
                             f"level_hosts_{j}_{S[si]}")


def level_fits(data: EmbeddedData, areas: dict) -> bool:
    """Whether some level takes a new site with ``areas`` (``si → m²``, no shared
    rooms): its floor area within the level's limits and its services allowed there.
    True when levels are off.

    Parameters
    ----------
    data
        The model's data.
    areas
        Floor area per service index of one site.
    """
    if not data.policy.hierarchy.enabled:
        return True
    m2 = sum(areas.values())
    names = {data.services[si] for si in areas}
    return any(lv.min_m2 - 1e-9 <= m2 <= lv.max_m2 + 1e-9
               and (not lv.services or names <= set(lv.services))
               for lv in data.policy.hierarchy.active.values())


def shared_by_site(data: EmbeddedData, values: dict) -> dict:
    """``j → m²`` shared at each site of a plan (counted once in its floor area).

    Parameters
    ----------
    data
        The model's data.
    values
        The plan's variable values (:meth:`Formulation.values`).

    Returns
    -------
    dict
    """
    out: dict[int, float] = {}
    for (j, _p), m2 in _shared(data, values).items():
        out[j] = out.get(j, 0.0) + m2
    return out


def _shared(data: EmbeddedData, values: dict) -> dict:
    """``(j, p) → m²`` of the rooms shared by two hosted services (solver noise dropped)."""
    pairs, out = _pairs(data), {}
    area = lambda j, si: values["area"][j, si] if values["host"].get((j, si)) else 0.0  # noqa: E731
    for (j, p), m2 in values.get("shared", {}).items():
        si, ti = pairs[p]
        m2 = min(m2, area(j, si), area(j, ti))
        if m2 > 1e-6:
            out[j, p] = m2
    return out


def room_tables(data: EmbeddedData, values: dict, sites: pd.DataFrame) -> dict:
    """Add ``level``, ``level_name``, ``shared_m2`` and ``shared_rooms`` to the plan's
    sites (in place); return the plan's tables of shared rooms and levels.

    Parameters
    ----------
    data
        The model's data.
    values
        The plan's variable values.
    sites
        The plan's sites table (one row per opened site, with ``people_served``).

    Returns
    -------
    dict
        ``shared_rooms`` (when the policy lists pairs): one row per shared room, ``site``,
        ``site_id``, ``service_a``, ``service_b`` (keys), ``names`` (Chinese names),
        ``shared_m2``. ``levels`` (when levels are enabled): the hierarchy, one row per
        level with its limits, services, and the sites, m² and people served at it.
    """
    S, pol = data.services, data.policy
    rows = []
    for (j, p), m2 in sorted(_shared(data, values).items()):
        si, ti = _pairs(data)[p]
        rows.append({"site": j, "site_id": data.sites["site_id"][j], "service_a": S[si],
                     "service_b": S[ti],
                     "names": f"{pol.services[S[si]].name_zh} / {pol.services[S[ti]].name_zh}",
                     "shared_m2": m2})
    table = pd.DataFrame(rows, columns=["site", "site_id", "service_a", "service_b", "names",
                                        "shared_m2"])
    js = sites["site"].tolist() if len(sites) else []
    out = {}
    if pol.shared_rooms.pairs:
        m2 = table.groupby("site")["shared_m2"].sum() if len(table) else pd.Series(dtype=float)
        sites["shared_m2"] = [float(m2.get(j, 0.0)) for j in js]
        sites["shared_rooms"] = [
            "; ".join(f"{r.service_a}+{r.service_b} {r.shared_m2:.0f} m²"
                      for r in table[table["site"] == j].itertuples()) for j in js]
        out["shared_rooms"] = table
    if pol.hierarchy.enabled:
        group = values.get("level", {})
        m2 = dict(zip(js, sites["area_m2"])) if len(sites) else {}
        level = {j: _level_of(data, g, m2[j]) for j, g in group.items() if j in m2}
        # existing facilities: the level their table gives
        level.update({j: data.sites["level"][j] for j in js
                      if data.existing[j] and data.sites["level"][j] is not None})
        sites["level"] = [level.get(j, "") for j in js]
        sites["level_name"] = [pol.hierarchy.levels[level[j]].name_zh if j in level else ""
                               for j in js]
        # the planner's stable ids (source_id), never the optimiser's row numbers
        key = "source_id" if "source_id" in data.sites else "site_id"
        ids = data.sites[key].to_numpy()
        out["levels"] = _level_table(pol.hierarchy.active, sites, ids)
    return out


def _level_table(levels: dict, sites: pd.DataFrame, ids) -> pd.DataFrame:
    """The hierarchy of a plan: per level, its rules and the sites at it (by ``ids``,
    the id of each site row)."""
    rows = []
    for key, lv in levels.items():
        at = sites[sites["level"] == key] if len(sites) else sites
        rows.append({"level": key, "name_zh": lv.name_zh, "name_en": lv.name_en,
                     "min_m2": lv.min_m2, "max_m2": lv.max_m2,
                     "services": ", ".join(lv.services) or "*", "n_sites": len(at),
                     "site_ids": ", ".join(str(ids[int(v)]) for v in at["site"])
                     if len(at) else "",
                     "area_m2": float(at["area_m2"].sum()) if len(at) else 0.0,
                     "people_served": float(at["people_served"].sum()) if len(at) else 0.0})
    return pd.DataFrame(rows)


def _pairs(data: EmbeddedData) -> list:
    """``(si, ti)`` of the policy's shared pairs whose services are both active."""
    S = data.services
    return [(S.index(s), S.index(t)) for s, t in data.policy.shared_rooms.pairs
            if s in S and t in S]


def programme_columns(sites: pd.DataFrame, plan) -> pd.DataFrame:
    """Copy the plan's :data:`PROGRAMME_COLUMNS` onto the candidate sites (row ``j`` is
    plan site ``j``); sites the plan does not open get "" or 0.

    Parameters
    ----------
    sites
        The sites offered to the optimiser (changed in place and returned).
    plan
        The :class:`~siting.models.embedded.EmbeddedSolution`.

    Returns
    -------
    pandas.DataFrame
    """
    t = plan.sites.set_index("site") if len(plan.sites) else None
    for c in PROGRAMME_COLUMNS:
        if c not in plan.sites:
            continue
        text = c in _TEXT
        values = pd.Series("" if text else 0.0, index=np.arange(len(sites)), dtype=object)
        if t is not None:
            values.loc[t.index] = t[c].to_numpy()
        sites[c] = values.to_numpy() if text else values.astype(float).to_numpy()
    return sites
