"""sklearn-inr: implicit neural representations as scikit-learn features."""

import importlib

__version__ = "0.1.0.dev0"

# Where each public name lives. They are imported on first use (PEP 562), so
# that ``sklearn-inr --help`` and ``--version`` answer in a fraction of a
# second instead of first importing torch and scikit-learn (seconds);
# ``from sklearn_inr import INRFeaturizer`` works as before.
_EXPORTS = {
    "DivergenceWarning": "._exceptions",
    "INRDivergenceError": "._exceptions",
    "LabelLeakWarning": "._exceptions",
    "MLPClassifier": ".classifier",
    "ConvNetClassifier": ".estimators._convnet",
    "INRSpec": ".core",
    "flatten_theta": ".core",
    "make_coordinates": ".core",
    "theta_from_state_dicts": ".core",
    "theta_to_module": ".core",
    "theta_to_state_dicts": ".core",
    "unflatten_theta": ".core",
    "GraphMetanetClassifier": ".estimators._graph_metanet",
    "PermutationInvariantClassifier": ".estimators._invariant_classifier",
    "WeightStatistics": ".estimators._weight_statistics",
    "INRFeaturizer": ".featurizer",
    "INRFitResult": ".fitting",
    "fit_inrs": ".fitting",
    "fit_shifts": ".fitting",
    "render_inrs": ".fitting",
    "shift_feature_names": ".fitting",
    "shift_indices": ".fitting",
    "shifts_to_theta": ".fitting",
    "meta_learn_init": ".learned",
    "meta_learn_shift_base": ".learned",
    "task_learn_init": ".learned",
    "unpack_task_init": ".learned",
    "binary_entropy": ".metrics",
    "mean_squared_error_per_image": ".metrics",
    "psnr": ".metrics",
}
# Subpackages and modules reachable as attributes (``sklearn_inr.datasets``)
# after a bare ``import sklearn_inr``, as when the names above were imported
# eagerly.
_SUBMODULES = {
    "classifier",
    "cli",
    "core",
    "datasets",
    "estimators",
    "experiments",
    "featurizer",
    "fitting",
    "learned",
    "metrics",
    "plotting",
}

__all__ = sorted(_EXPORTS, key=lambda name: (name.lower() == name, name))


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted({*globals(), *__all__, *_SUBMODULES})
