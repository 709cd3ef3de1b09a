"""siting: optimal siting of community embedded service facilities on walking networks."""

from siting._version import __version__
from siting.errors import InfeasibleError, SitingError
from siting.models.coverage import MaximalCovering, SetCovering
from siting.models.instance import Instance
from siting.models.results import CoverageSolution

__all__ = [
    "CoverageSolution", "InfeasibleError", "Instance", "MaximalCovering", "SetCovering",
    "SitingError", "__version__",
]
