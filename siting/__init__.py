"""siting: optimal siting of community embedded service facilities on walking networks."""

from siting._version import __version__
from siting.errors import InfeasibleError, SitingError
from siting.models.instance import Instance
from siting.models.coverage import CoverageSolution, MaximalCovering, SetCovering


__all__ = [
    "CoverageSolution", "InfeasibleError", "Instance", "MaximalCovering", "SetCovering",
    "SitingError", "__version__",
]
