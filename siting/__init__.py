"""siting: optimal siting of community embedded service facilities on walking networks."""

from siting._version import __version__
from siting.errors import InfeasibleError, SitingError
from siting.models._classic import AssignmentSolution
from siting.models.backup import BackupCovering
from siting.models.capacitated import CapacitatedMaximalCovering
from siting.models.center import PCenter
from siting.models.coverage import MaximalCovering, SetCovering
from siting.models.embedded import EmbeddedFacilities, EmbeddedSolution
from siting.models.instance import Instance
from siting.models.median import PMedian
from siting.models.results import CoverageSolution

__all__ = [
    "AssignmentSolution", "BackupCovering", "CapacitatedMaximalCovering", "CoverageSolution",
    "EmbeddedFacilities", "EmbeddedSolution",
    "InfeasibleError", "Instance", "MaximalCovering", "PCenter", "PMedian", "SetCovering",
    "SitingError", "__version__",
]
