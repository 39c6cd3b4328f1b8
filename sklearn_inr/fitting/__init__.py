"""The fitting layer: many images, one INR each, reproducibly.

Settings, the runner (batches, dispatch, cache, progress, divergence), the
array store, starts (inits), trainers and results, and the public functions
built on them: :func:`fit_inrs`, :func:`fit_shifts`, :func:`render_inrs`.
"""

# The fitting layer's interface to the layers above: learned inits,
# estimators and experiments import from here, never from its modules.
from ..core import chunk_key, resolve_device, torch_threads
from ._cache import ArrayStore
from ._checks import (
    check_images,
    check_intensity_range,
    image_layouts,
    warn_ambiguous_channels,
)
from ._fit import FIT_PARAMETER_CONSTRAINTS, fit_inrs
from ._inits import GivenInit, RandomInit, SharedInit
from ._probe import FitSpeed, probe_fit_speed, probe_fit_steps, probe_shape
from ._rendering import render_inrs
from ._results import INRFitResult, warn_unconverged
from ._runner import FitSettings, run_fits
from ._seeds import content_digest, image_seeds, to_seed
from ._shifts import (
    check_shift_spec,
    fit_shifts,
    shift_feature_names,
    shift_indices,
    shifts_to_theta,
)
from ._training import GAIN_FROM, GIVE_UP_AFTER, ShiftTrainer, WeightsTrainer, train

__all__ = [
    "FIT_PARAMETER_CONSTRAINTS",
    "GAIN_FROM",
    "GIVE_UP_AFTER",
    "ArrayStore",
    "check_images",
    "chunk_key",
    "check_intensity_range",
    "check_shift_spec",
    "content_digest",
    "fit_inrs",
    "fit_shifts",
    "FitSettings",
    "FitSpeed",
    "GivenInit",
    "image_layouts",
    "image_seeds",
    "INRFitResult",
    "probe_fit_speed",
    "probe_fit_steps",
    "probe_shape",
    "RandomInit",
    "render_inrs",
    "resolve_device",
    "run_fits",
    "SharedInit",
    "shift_feature_names",
    "shift_indices",
    "shifts_to_theta",
    "ShiftTrainer",
    "to_seed",
    "torch_threads",
    "train",
    "warn_ambiguous_channels",
    "warn_unconverged",
    "WeightsTrainer",
]
