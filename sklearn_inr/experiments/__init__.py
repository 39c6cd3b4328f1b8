"""The paper's experiment, end to end, with a leak audit.

:func:`run_reproduction` is what ``sklearn-inr reproduce`` runs; ``PRESETS``
holds its named settings.
"""

from ._reproduce import run_reproduction
from ._settings import PRESETS, get_preset

__all__ = ["PRESETS", "get_preset", "run_reproduction"]
