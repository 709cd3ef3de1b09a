"""Errors raised by siting for bad input, each saying what, where and how to fix."""

from __future__ import annotations


class SitingError(ValueError):
    """Bad input or an impossible request, with a message a planner can act on."""


class InfeasibleError(SitingError):
    """The optimisation model has no feasible solution (the message says why)."""
