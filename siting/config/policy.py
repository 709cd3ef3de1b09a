"""Policy: the services and planning standards the embedded-facility model plans to.

A policy is a TOML file (the default ships as ``siting/config/policies/cn_default.toml``),
validated on load: unknown keys are rejected and every error names the key, e.g.
``services.infant_care.floor_m2_per_unit: missing``. A scenario may override any
value with a ``[policy]`` table that is deep-merged over the file.

The top-level ``[sites]`` table (candidate class mapping and acquisition costs) is kept
as a dict here and checked by :mod:`siting.config.site_policy`.
"""

from __future__ import annotations

import copy
import functools
import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Literal, cast

import numpy as np
from pydantic import Field, ValidationError, field_validator, model_validator

from siting.config.programme import (
    Hierarchy,
    Operations,
    SharedRooms,
    Strict,
    check_programme,
)
from siting.errors import SitingError

GROUPS = ("age_0_2", "age_3_5", "age_6_14", "age_60_plus", "age_65_plus", "age_80_plus",
          "population", "households")
AGE_GROUPS = GROUPS[:6]
# 60+ ⊃ 65+ ⊃ 80+ nest; 0–2, 3–5, 6–14 and 60+ are disjoint
_DISJOINT_GROUPS = ("age_0_2", "age_3_5", "age_6_14", "age_60_plus")
_NESTED_GROUPS = ("age_60_plus", "age_65_plus", "age_80_plus")  # each ⊇ the next
DEFAULT_POLICY = "cn_default"
SCHEMA_VERSION = 1  # the policy layout this version of siting reads ([meta] schema_version)
# keys a run does not read: a scenario's [policy] table may not change them (a setting
# either takes effect or is refused), with where to set the thing instead
UNREAD_OVERRIDES = {
    "area_standard.m2_per_100_households_enhanced": (
        "a run plans to area_standard.m2_per_100_households (or --standard / standard = 80 in "
        "the scenario); the enhanced figure is documentation only"),
    "costs.acquisition_per_m2": (
        "a run prices every candidate by [sites.costs.<mode>] one_off_per_m2 / annual_per_m2 "
        "(or the inventory's 费用); costs.acquisition_per_m2 prices only site tables without "
        "costs given to siting.models.embedded.EmbeddedFacilities directly"),
    "sites.class_defaults.brownfield.levels": (
        "new-build land gets its floor area from plot_ratio × the parcel's area, capped at "
        "max_floor_area_m2 ([sites.class_defaults.brownfield]); set those instead"),
}


class Meta(Strict):
    """``[meta]``: the policy's name, the plan and guideline it follows, its schema version."""

    schema_version: int = SCHEMA_VERSION
    name: str
    plan: str = ""
    guideline: str = ""
    notes: str = ""

    @field_validator("schema_version")
    @classmethod
    def _supported(cls, v: int) -> int:
        if v != SCHEMA_VERSION:
            raise ValueError(f"{v} is not supported: this "
                             f"version of siting reads policy schema {SCHEMA_VERSION}; start from "
                             f"the shipped siting/config/policies/cn_default.toml")
        return v


class Population(Strict):
    """``[population]``: household size and the share of people per age group."""

    household_size: float = Field(gt=0)
    household_size_source: str = ""
    age_shares: dict[str, float]
    age_shares_source: str = ""

    @model_validator(mode="after")
    def _check(self) -> Population:
        for k, v in self.age_shares.items():
            if k not in AGE_GROUPS:
                raise ValueError(f"age_shares.{k}: unknown group; use {', '.join(AGE_GROUPS)}")
            if not 0 <= v <= 1:
                raise ValueError(f"age_shares.{k}: must be between 0 and 1, got {v}")
        missing = [g for g in AGE_GROUPS if g not in self.age_shares]
        if missing:
            raise ValueError(f"age_shares: missing {', '.join(missing)}")
        return self


class Walking(Strict):
    """``[walking]``: speeds per profile and where a point meets the street."""

    speed_m_per_min: dict[str, float]
    source: str = ""
    placeholder: bool = False
    # where a point meets the street (siting.access.build_access)
    max_snap_m: float = Field(250.0, gt=0, allow_inf_nan=False)
    min_component_nodes: int = Field(5, ge=1)
    large_footprint_m: float = Field(60.0, gt=0, allow_inf_nan=False)
    step_free_avoid: list[str] = ["highway=steps", "wheelchair=no"]
    access_source: str = ""

    @model_validator(mode="after")
    def _check(self) -> Walking:
        if "default" not in self.speed_m_per_min:
            raise ValueError("speed_m_per_min.default: missing")
        for k, v in self.speed_m_per_min.items():
            if not v > 0:
                raise ValueError(f"speed_m_per_min.{k}: must be > 0, got {v}")
        for rule in self.step_free_avoid:
            if rule.count("=") != 1 or not all(rule.split("=")):
                raise ValueError(f"step_free_avoid: {rule!r} is not KEY=VALUE (e.g. highway=steps)")
        return self


class Tiers(Strict):
    """``[tiers]``: the walking-time tiers (minutes) the report counts people in."""

    minutes: list[float] = Field(min_length=1)
    speed_profile: str = "default"
    source: str = ""


class AreaStandard(Strict):
    """``[area_standard]``: m² of service space per 100 households within reach."""

    m2_per_100_households: float = Field(gt=0)
    m2_per_100_households_enhanced: float = Field(gt=0)
    source: str = ""
    reach_min: float = Field(gt=0)
    speed_profile: str = "default"
    reach_share: float = Field(0.5, gt=0, le=1)
    mode: Literal["hard", "penalty"] = "penalty"
    penalty_per_m2: float = Field(ge=0)
    fallback_cell_m: float = Field(500.0, gt=0)
    placeholder: list[str] = []


class Complex(Strict):
    """``[complex]``: when several services share one site (a service complex)."""

    min_floor_m2: float = Field(ge=0)
    min_functions: int = Field(ge=1)
    min_priority_functions: int = Field(ge=0)
    priority_services: list[str]
    multi_function_requires_complex: bool = True
    source: str = ""


class Costs(Strict):
    """``[costs]``: acquisition and fit-out rates and the horizon of running costs."""

    acquisition_per_m2: float = Field(ge=0)
    fit_out_per_m2: float = Field(ge=0)
    horizon_years: float = Field(0.0, ge=0)
    source: str = ""
    placeholder: list[str] = []


class Service(Strict):
    """``[services.<key>]``: one service's demand group, rate, floor area, reach and rules."""

    name_zh: str
    name_en: str
    demand_group: Literal[GROUPS]  # type: ignore[valid-type]
    unit: str
    units_per_person: float | None = Field(None, gt=0)
    units_per_1000: float | None = Field(None, gt=0)
    floor_m2_per_unit: float = Field(gt=0)
    min_floor_m2: float = Field(gt=0)
    walk_min: float | None = Field(None, gt=0)
    speed_profile: str = "default"
    walk_m: float | None = Field(None, gt=0)
    priority_weight: float = Field(ge=0)
    fit_out_per_m2: float | None = Field(None, ge=0)
    step_free: bool = False            # walk on the step-free network (walking.step_free_avoid)
    lowest_storey: int | None = None   # 1 = ground floor, -1 = first basement
    highest_storey: int | None = None
    # a lift is needed on this storey and above (JGJ 450-2018 5.6.4 for elderly care);
    # checked against an inventory's 电梯/lift column (no lift: not allowed; unknown: allowed)
    lift_from_storey: int | None = None
    enabled: bool = True
    source: str
    placeholder: list[str] = []

    @model_validator(mode="after")
    def _check(self) -> Service:
        if (self.units_per_person is None) == (self.units_per_1000 is None):
            raise ValueError("give exactly one of units_per_person and units_per_1000")
        if (self.walk_min is None) == (self.walk_m is None):
            raise ValueError("give exactly one of walk_min (with speed_profile) and walk_m")
        if (self.lowest_storey is not None and self.highest_storey is not None
                and self.lowest_storey > self.highest_storey):
            raise ValueError(f"lowest_storey {self.lowest_storey} is above highest_storey "
                             f"{self.highest_storey}")
        unknown = set(self.placeholder) - set(type(self).model_fields)
        if unknown:
            raise ValueError(f"placeholder names unknown fields {sorted(unknown)}")
        return self

    def storey_ok(self, storey: np.ndarray, lift: np.ndarray | None = None) -> np.ndarray:
        """Whether space starting on ``storey`` may host the service (NaN: unknown, allowed).

        ``lift`` (1 = the building has a lift, 0 = it has none, NaN = unknown) matters
        for services with ``lift_from_storey``: space on that storey or above in a
        building known to have no lift may not host them; unknown is allowed.

        Parameters
        ----------
        storey
            Lowest storey of each space (1 = ground floor, -1 = first basement, NaN unknown).
        lift
            Whether each building has a lift (1, 0, NaN unknown); optional.
        """
        storey = np.asarray(storey, float)
        ok = np.ones(storey.shape, bool)
        if self.lowest_storey is not None:
            ok &= ~(storey < self.lowest_storey)
        if self.highest_storey is not None:
            ok &= ~(storey > self.highest_storey)
        if self.lift_from_storey is not None and lift is not None:
            lift = np.broadcast_to(np.asarray(lift, float), storey.shape)
            ok &= ~((storey >= self.lift_from_storey) & (lift == 0))
        return ok

    @property
    def rate(self) -> float:
        """Units needed per person (or household) of the demand group."""
        if self.units_per_person is not None:
            return self.units_per_person
        return cast(float, self.units_per_1000) / 1000.0  # one of the two (validated)


class Policy(Strict):
    """A validated policy (see the module docstring and ``policies/cn_default.toml``)."""

    meta: Meta
    population: Population
    walking: Walking
    tiers: Tiers
    area_standard: AreaStandard
    complex: Complex
    costs: Costs
    services: dict[str, Service] = Field(min_length=1)
    shared_rooms: SharedRooms = SharedRooms()  # programme sections: siting.config.programme
    hierarchy: Hierarchy = Hierarchy()
    operations: Operations = Operations(subsidy_cap_per_year=None)
    sites: dict = {}  # owned by the sites stage; not validated here

    @model_validator(mode="after")
    def _check(self) -> Policy:
        speeds = self.walking.speed_m_per_min
        for name, s in self.services.items():
            if s.walk_min is not None and s.speed_profile not in speeds:
                raise ValueError(f"services.{name}.speed_profile: {s.speed_profile!r} is not in "
                                 f"walking.speed_m_per_min ({', '.join(speeds)})")
        for where, prof in (("tiers", self.tiers.speed_profile),
                            ("area_standard", self.area_standard.speed_profile)):
            if prof not in speeds:
                raise ValueError(f"{where}.speed_profile: {prof!r} is not in walking.speed_m_per_min")
        for key in self.complex.priority_services:
            if key not in self.services:
                raise ValueError(f"complex.priority_services: {key!r} is not a service")
        if not self.active_services:
            raise ValueError("services: every service is disabled")
        check_programme(self.services, self.shared_rooms, self.hierarchy, self.operations)
        return self

    @property
    def step_free_services(self) -> list[str]:
        """Active services whose walks avoid steps (``services.<s>.step_free``)."""
        return [k for k in self.active_services if self.services[k].step_free]

    @property
    def active_services(self) -> list[str]:
        """Keys of the services that are enabled."""
        return [k for k, s in self.services.items() if s.enabled]

    def threshold_m(self, service: str) -> float:
        """Walking threshold of a service in metres.

        Parameters
        ----------
        service
            A service key.
        """
        s = self.services[service]
        if s.walk_m is not None:
            return s.walk_m
        # walk_min when walk_m is not given (validated)
        return cast(float, s.walk_min) * self.walking.speed_m_per_min[s.speed_profile]

    @property
    def tier_m(self) -> list[float]:
        """The walking-time tiers in metres, shortest first."""
        v = self.walking.speed_m_per_min[self.tiers.speed_profile]
        return [m * v for m in sorted(self.tiers.minutes)]

    @property
    def standard_reach_m(self) -> float:
        """Reach of the area standard in metres."""
        a = self.area_standard
        return a.reach_min * self.walking.speed_m_per_min[a.speed_profile]

    @property
    def max_threshold_m(self) -> float:
        """Largest distance the model needs (services, area standard, tiers)."""
        return max([self.threshold_m(s) for s in self.active_services]
                   + [self.standard_reach_m] + self.tier_m)

    def area_rate(self, standard: float | None = None) -> float:
        """m² per household for the area standard (``standard`` 30 or 80 m² per 100 hh).

        Parameters
        ----------
        standard
            m² per 100 households; default the policy's ``m2_per_100_households``.
        """
        a = self.area_standard
        return (a.m2_per_100_households if standard is None else float(standard)) / 100.0

    def assumptions(self) -> dict:
        """The resolved policy as a run used it, with its sources and placeholder flags
        (``summary.json`` ``assumptions``): meta, population, walking (speeds, access
        rules), tiers (with metres), area standard (with reach in metres), complex, costs
        and each active service (names, numbers, threshold in metres, placeholder fields,
        source), plus the placeholder flags of the ``[sites]`` tables. Keys a run does not
        read (:data:`UNREAD_OVERRIDES`) are left out."""
        out = self.model_dump(exclude={"sites", "services"})
        for key in UNREAD_OVERRIDES:
            table, name = key.split(".", 1)
            if table in out:
                out[table].pop(name, None)
        out["tiers"]["metres"] = self.tier_m
        out["area_standard"]["reach_m"] = self.standard_reach_m
        out["services"] = {k: {**self.services[k].model_dump(exclude={"enabled"}),
                               "threshold_m": self.threshold_m(k)}
                           for k in self.active_services}
        out["sites"] = {name: self.sites.get(name, {}).get("placeholder")
                        for name in ("class_defaults", "costs")}
        return out

    def service_table(self):
        """One row per active service: names, group, unit, rate, areas, threshold, weight."""
        import pandas as pd

        rows = []
        for k in self.active_services:
            s = self.services[k]
            rows.append({"service": k, "name_zh": s.name_zh, "name_en": s.name_en,
                         "demand_group": s.demand_group, "unit": s.unit,
                         "units_per_person": s.rate, "floor_m2_per_unit": s.floor_m2_per_unit,
                         "min_floor_m2": s.min_floor_m2, "threshold_m": self.threshold_m(k),
                         "priority_weight": s.priority_weight,
                         "placeholder": ", ".join(s.placeholder), "source": s.source})
        return pd.DataFrame(rows)


def deep_merge(base: dict, over: dict) -> dict:
    """``over`` merged into a copy of ``base``: tables merge key by key, values replace.

    A ``None`` value (Python overrides only; TOML has no null) removes the key, e.g.
    ``{"services": {"x": {"walk_min": None, "walk_m": 400}}}``.

    Parameters
    ----------
    base
        The tables merged into (not modified).
    over
        The tables merged on top.
    """
    out = copy.deepcopy(base)
    for k, v in over.items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def read_policy_dict(path: str | Path | None = None) -> dict:
    """The raw TOML tables of a policy file (default: the shipped ``cn_default``).

    Parameters
    ----------
    path
        A policy TOML file; default the packaged ``cn_default.toml`` (the only place the
        packaged file is read).
    """
    if path is None:
        text = resources.files("siting.config").joinpath(f"policies/{DEFAULT_POLICY}.toml").read_text(
            encoding="utf-8")
        where = f"{DEFAULT_POLICY}.toml"
    else:
        path = Path(path)
        if not path.exists():
            raise SitingError(f"--policy: policy file not found: {path}")
        if not path.is_file():
            raise SitingError(f"--policy: {path} is a folder, not a file; give a policy .toml "
                              f"file (e.g. a copy of siting/config/policies/cn_default.toml)")
        where = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise SitingError(f"--policy {path}: not UTF-8 text ({exc}); save it as UTF-8") from exc
        except OSError as exc:
            raise SitingError(f"--policy {path}: cannot read it ({exc.strerror})") from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SitingError(f"{where}: not valid TOML ({exc})") from exc


def load_policy(path: str | Path | None = None, overrides: dict | None = None) -> Policy:
    """Load and validate a policy file, with ``overrides`` deep-merged on top.

    Parameters
    ----------
    path
        A policy TOML file; default the packaged ``cn_default.toml``.
    overrides
        A scenario's ``[policy]`` table, deep-merged over the file.


    Raises
    ------
    SitingError
        Naming every bad key, e.g. ``services.infant_care.floor_m2_per_unit: missing``.
    """
    data = read_policy_dict(path)
    if path is not None:  # a file's own value of a key no run reads changes nothing
        refuse_unread(read_policy_dict(None), data, str(path), given=data)
    if overrides:
        base, data = data, deep_merge(data, overrides)
        refuse_unread(base, data, "[policy] table")
    return validate_policy(data, where=str(path) if path else f"{DEFAULT_POLICY}.toml")


@functools.cache
def packaged_policy() -> Policy:
    """The packaged policy, read once: the source of the stages' module-level defaults.

    Shared between callers: read it, never change it (a run loads its own with
    :func:`load_policy`).
    """
    return load_policy()


def refuse_unread(base: dict, merged: dict, where: str, given: dict | None = None) -> None:
    """Refuse changes to keys a run does not read (:data:`UNREAD_OVERRIDES`).

    Parameters
    ----------
    base
        The tables changed: a policy file's (for overrides), or the packaged policy's
        (for a policy file).
    merged
        The tables after the change.
    where
        What holds the change, for the message.
    given
        When set, only keys these tables give are checked (a policy file may leave a
        key out: it then keeps the packaged value).
    """
    for key, why in UNREAD_OVERRIDES.items():
        parts = key.split(".")

        def get(d, parts=parts):
            for p in parts:
                d = d.get(p) if isinstance(d, dict) else None
            return d
        if get(base) != get(merged) and (given is None or get(given) is not None):
            raise SitingError(f"{where}: {key} is not read by a run, so changing it would change "
                              f"nothing; {why}")


def check_policy_overrides(path: str | Path | None, overrides: dict, where: str) -> None:
    """Validate a scenario's ``[policy]`` table over its policy file; errors the file alone
    does not have are blamed on ``where`` (the scenario file), not on the policy file.

    A policy file that is itself unreadable or invalid is left to :func:`load_policy`.

    Parameters
    ----------
    path
        The policy file (default the packaged one).
    overrides
        The scenario's ``[policy]`` table.
    where
        The scenario file, named in errors.
    """
    try:
        base = read_policy_dict(path)
        validate_policy(base)
    except SitingError:
        return
    merged = deep_merge(base, overrides)
    refuse_unread(base, merged, where)
    validate_policy(merged, where=where,
                    hint="the keys of the scenario's [policy] table mirror the policy file")


def validate_policy(data: dict, where: str = "policy",
                    hint: str = "see siting/config/policies/cn_default.toml") -> Policy:
    """Validate a policy dict; errors name the dotted key and what is wrong.

    Parameters
    ----------
    data
        The policy's tables.
    where
        The file, named in errors.
    hint
        Where to look for the right keys, appended to unknown-key errors.
    """
    try:
        return Policy(**data)
    except ValidationError as exc:
        msgs = []
        for e in exc.errors():
            loc = ".".join(str(p) for p in e["loc"])
            msg = e["msg"].removeprefix("Value error, ")
            if e["type"] == "missing":
                msg = "missing"
            elif e["type"] == "finite_number":
                msg = f"must be a finite number, got {e.get('input')!r}"
            elif e["type"] == "extra_forbidden":
                msg = f"unknown key (check the spelling; {hint})"
            msgs.append(f"{loc}: {msg}" if loc else msg)
        raise SitingError(f"{where}: invalid policy: " + "; ".join(msgs)) from None


def check_age_shares(age_shares: Mapping[str, float] | None = None,
                     defaults: Mapping[str, float] | None = None) -> dict[str, float]:
    """Validated age shares: ``defaults`` with ``age_shares`` on top.

    Rules: every key is one of :data:`AGE_GROUPS`; every share lies in [0, 1]; the
    disjoint groups 0–2, 3–5, 6–14 and 60+ sum to at most 1; and the nested groups
    satisfy 80+ ≤ 65+ ≤ 60+ (65+ and 80+ are part of 60+, so they are not added).

    Parameters
    ----------
    age_shares
        Share of the population per age group (e.g. a scenario's ``age_shares``).
    defaults
        Shares of the groups not given; default the packaged policy's
        ``population.age_shares`` (7th census).

    Returns
    -------
    dict
        One share per group of :data:`AGE_GROUPS`.

    Raises
    ------
    SitingError
        Naming the key or rule that fails.
    """
    shares = dict(packaged_policy().population.age_shares if defaults is None else defaults)
    for key, value in (age_shares or {}).items():
        if key not in AGE_GROUPS:
            raise SitingError(f"unknown age group {key!r} in age shares; use "
                              f"{', '.join(AGE_GROUPS)}")
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise SitingError(f"age share {key} = {value!r} is not a number") from None
        if not 0 <= value <= 1:
            raise SitingError(f"age share {key} = {value} must be a fraction in [0, 1] "
                              "(e.g. 0.187 for 18.7 %)")
        shares[key] = value
    total = sum(shares[k] for k in _DISJOINT_GROUPS)
    if total > 1 + 1e-12:
        parts = " + ".join(f"{k} {shares[k]:g}" for k in _DISJOINT_GROUPS)
        raise SitingError(f"age shares of the disjoint groups sum to {total:g} > 1 ({parts}); "
                          "65+ and 80+ are counted inside 60+")
    for big, small in zip(_NESTED_GROUPS, _NESTED_GROUPS[1:]):
        if shares[small] > shares[big]:
            raise SitingError(f"age share {small} = {shares[small]:g} exceeds {big} = "
                              f"{shares[big]:g}, but every {small} person is also {big}")
    return shares
