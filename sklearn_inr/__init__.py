"""sklearn-inr: implicit neural representations as scikit-learn features."""

from ._exceptions import DivergenceWarning, INRDivergenceError, LabelLeakWarning
from .classifier import MLPClassifier
from .core import (
    INRSpec,
    flatten_theta,
    make_coordinates,
    theta_to_module,
    unflatten_theta,
)
from .estimators._invariant_classifier import PermutationInvariantClassifier
from .estimators._weight_statistics import WeightStatistics
from .featurizer import INRFeaturizer
from .fitting import (
    INRFitResult,
    fit_inrs,
    fit_shifts,
    render_inrs,
    shift_feature_names,
    shift_indices,
    shifts_to_theta,
)
from .learned import meta_learn_init, meta_learn_shift_base, task_learn_init
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
