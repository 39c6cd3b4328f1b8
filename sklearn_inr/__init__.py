"""sklearn-inr: implicit neural representations as scikit-learn features."""

from ._exceptions import DivergenceWarning, INRDivergenceError, LabelLeakWarning
from .classifier import MLPClassifier
from .core._networks import (
    INRSpec,
    flatten_theta,
    make_coordinates,
    theta_to_module,
    unflatten_theta,
)
from .estimators._invariant_classifier import PermutationInvariantClassifier
from .estimators._weight_statistics import WeightStatistics
from .featurizer import INRFeaturizer
from .fitting._fit import fit_inrs
from .fitting._rendering import render_inrs
from .fitting._results import INRFitResult
from .fitting._shifts import (
    fit_shifts,
    shift_feature_names,
    shift_indices,
    shifts_to_theta,
)
from .learned._meta import meta_learn_init, meta_learn_shift_base
from .learned._task_init import task_learn_init
from .metrics import binary_entropy, mean_squared_error_per_image, psnr

__version__ = "0.1.0.dev0"

__all__ = [
    "DivergenceWarning",
    "INRDivergenceError",
    "INRFeaturizer",
    "INRFitResult",
    "INRSpec",
    "LabelLeakWarning",
    "MLPClassifier",
    "PermutationInvariantClassifier",
    "WeightStatistics",
    "binary_entropy",
    "fit_inrs",
    "fit_shifts",
    "flatten_theta",
    "make_coordinates",
    "mean_squared_error_per_image",
    "meta_learn_init",
    "meta_learn_shift_base",
    "psnr",
    "render_inrs",
    "shift_feature_names",
    "shift_indices",
    "shifts_to_theta",
    "task_learn_init",
    "theta_to_module",
    "unflatten_theta",
]
