"""siting: optimal siting of community embedded service facilities on walking networks."""

from siting.errors import InfeasibleError, SitingError
from siting.models.instance import Instance
from siting.models.coverage import CoverageSolution, MaximalCovering, SetCovering

__version__ = "0.1.0"

__all__ = [
    "CoverageSolution", "InfeasibleError", "Instance", "MaximalCovering", "SetCovering",
    "SitingError", "__version__",
]
