"""Policy sections of programme planning: shared rooms, the three levels, running costs.

Three tables of a policy (``cn_default.toml``), each off or neutral by default so that a
policy without them plans exactly as before:

``[shared_rooms]``
    Service pairs whose opening hours do not overlap (错时使用, e.g. a canteen used for
    after-school care in the afternoon, STANDARDS.md §9.3). At one site the floor area
    of a pair may be one room, counted once in the site's area. ``pairs = []``: none.
``[hierarchy]``
    The "街道—社区—小区" system (STANDARDS.md §9.4): levels with floor-area limits and
    the services each may host; ``enabled = false``: no level is chosen.
``[operations]``
    Annual running cost per service (per m² and per unit), fee and operating subsidy
    per user, and an optional cap on the city's total annual subsidy. No national
    figure was found (STANDARDS.md §9.1): every amount shipped is a placeholder.

The model reads them in :mod:`siting.models.embedded.rooms` and
:mod:`siting.models.embedded.operations`.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Strict(BaseModel):
    """A policy table: unknown keys refused; finite numbers only (``inf`` is valid TOML but
    no area, rate or distance)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class SharedRooms(Strict):
    """``[shared_rooms]``: service pairs that may share one room at a site (错时使用)."""

    pairs: list[list[str]] = []
    source: str = ""

    @model_validator(mode="after")
    def _check(self) -> SharedRooms:
        seen = set()
        for k, p in enumerate(self.pairs):
            if len(p) != 2 or p[0] == p[1]:
                raise ValueError(f"pairs[{k}]: a pair names two different services, got {p}")
            key = frozenset(p)
            if key in seen:
                raise ValueError(f"pairs[{k}]: {p} is listed twice")
            seen.add(key)
        return self


class Level(Strict):
    """``[hierarchy.levels.<key>]``: one level's name, floor-area limits and services."""

    name_zh: str
    name_en: str
    min_m2: float = Field(ge=0)
    max_m2: float = Field(gt=0)
    services: list[str] = []  # the services it may host; empty: every service
    enabled: bool = True      # false: a scenario drops a level the policy file has
    # walking reach of a site at this level, minutes at each service's group speed
    # (None: each service's own threshold; a longer reach than that changes nothing)
    walk_minutes: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _check(self) -> Level:
        if self.min_m2 > self.max_m2:
            raise ValueError(f"min_m2 {self.min_m2:g} is above max_m2 {self.max_m2:g}")
        return self


class Hierarchy(Strict):
    """``[hierarchy]``: the levels a new site may take (the model chooses one per site)."""

    enabled: bool = False
    levels: dict[str, Level] = {}
    # levels every community needs a site of within its reach (the area standard's reach)
    required_in_reach: list[str] = []
    source: str = ""
    placeholder: list[str] = []

    @model_validator(mode="after")
    def _check(self) -> Hierarchy:
        if self.enabled and not self.active:
            raise ValueError("enabled = true needs at least one enabled [hierarchy.levels.<key>]")
        for k in self.required_in_reach:
            if k not in self.active:
                raise ValueError(f"required_in_reach: {k!r} is not an enabled level "
                                 f"({', '.join(self.active) or 'none'})")
        return self

    @property
    def active(self) -> dict[str, Level]:
        """The enabled levels by key."""
        return {k: lv for k, lv in self.levels.items() if lv.enabled}

    @property
    def has_reach(self) -> bool:
        """Whether some enabled level limits its walking reach (``walk_minutes``)."""
        return self.enabled and any(lv.walk_minutes is not None for lv in self.active.values())


class ServiceOperations(Strict):
    """``[operations.services.<service>]``: one service's running cost, fee and subsidy.

    CNY per year: per m² of its floor area, per unit of capacity (place, bed, seat,
    station), and fee and operating subsidy per unit served.
    """

    cost_per_m2_year: float = Field(0.0, ge=0)
    cost_per_unit_year: float = Field(0.0, ge=0)
    fee_per_unit_year: float = Field(0.0, ge=0)
    subsidy_per_unit_year: float = Field(0.0, ge=0)


class Operations(Strict):
    """``[operations]``: running costs per service and the cap on the annual subsidy."""

    subsidy_cap_per_year: float | None = Field(None, ge=0)
    services: dict[str, ServiceOperations] = {}
    source: str = ""
    placeholder: list[str] = []


def check_programme(services: dict, shared: SharedRooms, hierarchy: Hierarchy,
                    operations: Operations) -> None:
    """Raise ``ValueError`` (with the dotted key) when a section names an unknown service.

    Parameters
    ----------
    services
        The policy's services by key.
    shared
        ``[shared_rooms]``.
    hierarchy
        ``[hierarchy]``.
    operations
        ``[operations]``.
    """
    for k, pair in enumerate(shared.pairs):
        for s in pair:
            if s not in services:
                raise ValueError(f"shared_rooms.pairs[{k}]: {s!r} is not a service")
    for name, lv in hierarchy.levels.items():
        for s in lv.services:
            if s not in services:
                raise ValueError(f"hierarchy.levels.{name}.services: {s!r} is not a service")
    for s in operations.services:
        if s not in services:
            raise ValueError(f"operations.services.{s}: not a service")
