"""Settings of a run: the scenario (what to plan) and the policy (the planning standards).

Every default lives here, once: :mod:`siting.config.scenario` for run settings and the
packaged ``policies/cn_default.toml`` (read by :mod:`siting.config.policy`) for standards.
"""
