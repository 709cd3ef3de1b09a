"""The ``[sites]`` table of a policy: candidate classes, per-class defaults and costs.

The table belongs to the sites stage (:mod:`siting.sites`, :mod:`siting.buildings`) but is
read and checked here, from the same file as the rest of the policy
(:func:`siting.config.policy.read_policy_dict`, the only reader of the packaged
``policies/cn_default.toml``).
"""

from __future__ import annotations

import copy
from pathlib import Path

from siting.config.policy import DEFAULT_POLICY, deep_merge, read_policy_dict
from siting.errors import SitingError

MODES = ("renovate", "lease", "transfer", "new_build")
CHARGED_ON = ("used", "whole")  # [sites.costs.<mode>] charged_on: per m² used, or whole site


def load_site_policy(path: str | Path | None = None) -> dict:
    """The ``[sites]`` table of a policy file.

    Parameters
    ----------
    path
        A policy TOML; default the packaged ``siting/config/policies/cn_default.toml``.

    Returns
    -------
    dict
        ``classes`` (OSM tag values → class), ``class_defaults`` (storeys, usable
        ratio, acquisition mode per class), ``costs`` (per acquisition mode, plus
        ``horizon_years`` copied from the file's ``[costs]`` table), and scalars
        such as ``min_floor_area_m2``.
    """
    where = str(path) if path is not None else f"packaged policy {DEFAULT_POLICY}.toml"
    return _site_table(read_policy_dict(path), where)


def _site_table(data: dict, where: str) -> dict:
    """The checked ``[sites]`` table of a parsed policy file."""
    sites = data.get("sites")
    if not isinstance(sites, dict):
        raise SitingError(f"{where}: no [sites] table")
    for key in ("classes", "class_defaults", "costs", "min_floor_area_m2"):
        if key not in sites:
            raise SitingError(f"{where}: [sites] lacks {key!r}")
    for mode in MODES:
        if not isinstance(sites["costs"].get(mode), dict):
            raise SitingError(f"{where}: [sites.costs.{mode}] is missing")
        if sites["costs"][mode].get("charged_on", "whole") not in CHARGED_ON:
            raise SitingError(f"{where}: [sites.costs.{mode}] charged_on must be \"used\" or "
                              f"\"whole\", got {sites['costs'][mode]['charged_on']!r}")
    if "horizon_years" in sites["costs"]:
        raise SitingError(f"{where}: [sites.costs] horizon_years is no longer read; set "
                          "horizon_years in [costs] (one horizon for every model)")
    horizon = data.get("costs", {}).get("horizon_years", 0.0)
    if not isinstance(horizon, (int, float)) or horizon < 0:
        raise SitingError(f"{where}: [costs] horizon_years must be a number >= 0, "
                          f"got {horizon!r}")
    sites["costs"]["horizon_years"] = float(horizon)  # read by price()
    if sites.get("default_class", "other") not in class_tables(sites):
        raise SitingError(f"{where}: [sites.class_defaults] has no entry for the default class")
    for cls, d in class_tables(sites).items():
        if d.get("acquisition_mode") not in MODES:
            raise SitingError(f"{where}: [sites.class_defaults.{cls}] acquisition_mode must be "
                              f"one of {', '.join(MODES)}")
    _check_vocabulary(sites, data.get("services", {}), where)
    return sites


def _check_vocabulary(sites: dict, services: dict, where: str) -> None:
    """``[sites.service_vocabulary]`` names services of the file; remember their min areas."""
    if "existing_services" in sites:
        raise SitingError(f"{where}: [sites.existing_services] is no longer read; list the words "
                          f"of each service in [sites.service_vocabulary] (see the packaged "
                          f"cn_default.toml)")
    vocab = sites.get("service_vocabulary", {})
    if not isinstance(vocab, dict):
        raise SitingError(f"{where}: [sites.service_vocabulary] must be a table")
    for key, words in vocab.items():
        if key != "not_modelled" and services and key not in services:
            raise SitingError(f"{where}: [sites.service_vocabulary] {key!r} is not a service of "
                              f"[services] ({', '.join(services)}) nor not_modelled")
        if not isinstance(words, list) or not all(isinstance(w, str) and w.strip()
                                                  for w in words):
            raise SitingError(f"{where}: [sites.service_vocabulary] {key} must be a list of "
                              f"words")
    # an existing facility without a floor area is given its services' minimum area
    sites["service_min_floor_m2"] = {k: float(v["min_floor_m2"]) for k, v in services.items()
                                     if isinstance(v, dict) and "min_floor_m2" in v}


def site_policy(path: str | Path | None = None, overrides: dict | None = None) -> dict:
    """The ``[sites]`` table a run uses: the policy file's, with a scenario's ``[policy]``
    overrides deep-merged over the file.

    A policy file without a ``[sites]`` table takes the packaged one; vocabulary entries
    of services the file does not have then name services it does not model
    (``not_modelled``). Minimum floor areas come from the file's ``[services]``.

    Parameters
    ----------
    path
        A policy TOML file; default the packaged ``cn_default.toml``.
    overrides
        A scenario's ``[policy]`` table, deep-merged over the file.

    Returns
    -------
    dict
        The checked ``[sites]`` table (see :func:`load_site_policy`).
    """
    packaged = read_policy_dict(None)
    data = packaged if path is None else read_policy_dict(path)
    if "sites" not in data:
        sites = copy.deepcopy(packaged["sites"])
        services = data.get("services", {})
        vocab = sites.get("service_vocabulary", {})
        for key in [k for k in vocab if k != "not_modelled" and k not in services]:
            vocab.setdefault("not_modelled", []).extend(vocab.pop(key))
        data = {**data, "sites": sites}
    if overrides:
        data = deep_merge(data, overrides)
    return _site_table(copy.deepcopy(data), str(path or "cn_default.toml"))


def class_tables(policy: dict) -> dict:
    """The ``[sites]`` table's per-class default tables (skipping scalar keys such as ``placeholder``).

    Parameters
    ----------
    policy
        The ``[sites]`` table.

    Returns
    -------
    dict
    """
    return {k: v for k, v in policy["class_defaults"].items() if isinstance(v, dict)}
