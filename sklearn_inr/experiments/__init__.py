"""The paper's experiment, end to end, with a leak audit.

:func:`run_reproduction` is what ``sklearn-inr reproduce`` runs; ``PRESETS``
holds its named settings, as data. The run walks one list of stages
(:data:`STAGES`); :func:`plan` walks the same list to count their fits before
any work, :func:`estimate` times that plan at the speed
:func:`probe_throughput` measures, and :func:`format_plan` prints it.
"""

from ._costs import data_seconds
from ._datasets import DATASETS
from ._estimate import Throughput, estimate, probe_throughput
from ._plan import StagePlan, plan
from ._plan_table import format_plan
from ._reproduce import run_reproduction
from ._settings import DATASET_NAMES, PRESETS, get_preset, presets_for
from ._stages import STAGE_NAMES, STAGES

__all__ = [
    "DATASETS",
    "DATASET_NAMES",
    "PRESETS",
    "STAGES",
    "STAGE_NAMES",
    "StagePlan",
    "Throughput",
    "data_seconds",
    "estimate",
    "format_plan",
    "get_preset",
    "plan",
    "presets_for",
    "probe_throughput",
    "run_reproduction",
]
