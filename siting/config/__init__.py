"""Settings of a run: the scenario (what to plan) and the policy (the planning standards).

Every default lives here, once: :mod:`siting.config.scenario` for run settings and the
packaged ``policies/cn_default.toml`` for standards, read only by
:func:`siting.config.policy.read_policy_dict` (its ``[sites]`` table checked by
:mod:`siting.config.site_policy`); the names of lon/lat datums a user may give are in
:mod:`siting.config.datums`.
"""
