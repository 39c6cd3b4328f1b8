"""How :class:`~sklearn_inr.INRFeaturizer` runs its fits and renders its features.

The featurizer's parameters become the fitting layer's settings here, and
what comes back is returned: the estimator sets its own attributes. Every
function reads the featurizer *as fitted* (:class:`FittedView`): the
parameters its last fit took a snapshot of, so ``set_params`` after fit
changes nothing until the next fit.
"""

from __future__ import annotations

import warnings
from functools import partial
from numbers import Integral, Real

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_array

from ..core import INRSpec
from ..fitting import (
    FIT_PARAMETER_CONSTRAINTS,
    FitSettings,
    render_inrs,
    run_fits,
    warn_unconverged,
)
from ._strategies import FEATURES, STARTS
from ._weight_transfer import check_chain_labels, fit_class_chains

__all__ = [
    "FEATURIZER_CONSTRAINTS",
    "FittedView",
    "chain_labels",
    "featurizer_spec",
    "fit_chains",
    "fit_images",
    "fitted_arrays",
    "render_features",
]

#: The ``_parameter_constraints`` of :class:`~sklearn_inr.INRFeaturizer`.
FEATURIZER_CONSTRAINTS: dict = {
    **{
        name: FIT_PARAMETER_CONSTRAINTS[name]
        for name in (
            "model", "hidden_features", "hidden_layers", "omega_0", "loss",
            "lr", "n_steps", "target_psnr", "check_every", "stop_unreachable",
            "precision", "optimizer",
            "batch_size", "device", "memory",
            "n_jobs", "checkpoint_every", "on_divergence", "random_state",
            "verbose", "spatial_ndim",
        )
    },
    "init": [StrOptions(set(STARTS)), "array-like"],
    "features": [StrOptions(set(FEATURES))],
    "latent_dim": [Interval(Integral, 1, None, closed="left")],
    "meta_steps": [Interval(Integral, 1, None, closed="left")],
    "meta_lr": [StrOptions({"auto"}), Interval(Real, 0, 1e6, closed="right")],
    "inner_steps": [Interval(Integral, 1, None, closed="left")],
    "meta_batch_size": [Interval(Integral, 1, None, closed="left")],
    "warm_start_by_class": ["boolean"],
    "image_shape": [tuple, list, None],
}  # fmt: skip


class FittedView:
    """A featurizer as its last fit saw it.

    Its parameters are the snapshot ``params`` that the fit took (of
    ``get_params(deep=False)``, validated); every other attribute (the
    fitted ``spec_``, ``init_params_``, ...) is read from ``featurizer``.
    ``transform``, ``inverse_transform``, ``score`` and
    ``get_feature_names_out`` read only this, so parameters changed after
    fit, valid or not, take effect at the next fit, as in scikit-learn.
    """

    def __init__(self, featurizer, params: dict):
        vars(self).update(params)
        self._featurizer = featurizer

    def __getattr__(self, name):
        # Only names the snapshot lacks come here: the fitted attributes.
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self._featurizer, name)


def featurizer_spec(featurizer, image_shape: tuple) -> INRSpec:
    """The architecture of ``featurizer`` for images of ``image_shape``.

    The first ``spatial_ndim`` axes of ``image_shape`` are space (the
    network's inputs), the one after them, if any, the channels (its
    outputs).
    """
    ndim = featurizer.spatial_ndim
    channels = image_shape[ndim] if len(image_shape) > ndim else 1
    return INRSpec(
        featurizer.model,
        in_features=ndim,
        hidden_features=featurizer.hidden_features,
        hidden_layers=featurizer.hidden_layers,
        out_features=channels,
        omega_0=float(featurizer.omega_0),
    )


def fit_images(featurizer, images, start, *, verbose=None):
    """Fit ``images`` (n, H, W[, C]; volumes n, D, H, W[, C]) from an init object.

    Uses the fitted ``spec_`` and ``init_params_`` of ``featurizer`` and its
    parameters; returns the runner's :class:`~sklearn_inr.INRFitResult`.
    """
    features = FEATURES[featurizer.features]
    n_steps = int(features.fit_steps(featurizer))
    settings = FitSettings(
        loss=featurizer.loss,
        lr=float(featurizer.lr),
        n_steps=n_steps,
        record_every=max(1, n_steps // 100),
        target_psnr=featurizer.target_psnr,
        check_every=featurizer.check_every,
        stop_unreachable=featurizer.stop_unreachable,
        precision=featurizer.precision,
        optimizer=featurizer.optimizer,
    )
    return run_fits(
        # The channel axis, always: (n, *spatial, C).
        images.reshape(*images.shape[: 1 + featurizer.spatial_ndim], -1),
        featurizer.spec_,
        settings,
        start,
        features.trainer(featurizer.init_params_, featurizer.spec_),
        batch_size=featurizer.batch_size,
        device=featurizer.device,
        memory=featurizer.memory,
        n_jobs=featurizer.n_jobs,
        checkpoint_every=featurizer.checkpoint_every,
        on_divergence=featurizer.on_divergence,
        verbose=featurizer.verbose if verbose is None else verbose,
    )


def fit_chains(featurizer, images, y_index, n_classes: int, start, seed: int) -> dict:
    """The paper's weight transfer: each class's images fitted in a chain.

    ``y_index`` holds each image's class, ``0 .. n_classes - 1``; the first
    image of each class starts from ``start.thetas`` (with the fit's
    ``seed``). Returns the dict of
    :func:`~._weight_transfer.fit_class_chains` (with ``class_init``).
    Each chain position is one call of the runner, which may warn that its
    fits did not converge; the chain warns once instead, for all images.
    """
    with warnings.catch_warnings():
        # Judged once below, over all the chain's images, not per position.
        warnings.simplefilter("ignore", ConvergenceWarning)
        out = fit_class_chains(
            # The chain's bar counts its steps; a bar per step is noise.
            partial(fit_images, featurizer, verbose=0),
            images,
            y_index,
            n_classes,
            lambda firsts: start.thetas(
                featurizer.init_params_, firsts, featurizer.spec_, seed
            ),
            verbose=featurizer.verbose,
        )
    warn_unconverged(out["psnr"], out["converged"], featurizer.target_psnr)
    return out


def fitted_arrays(result) -> dict:
    """A fit result as the dict the class chains return (without ``class_init``)."""
    return {
        "theta": result.theta, "loss_history": result.loss_history,
        "history_steps": result.history_steps, "mse": result.mse,
        "psnr": result.psnr, "n_steps": result.n_steps,
        "converged": result.converged,
    }  # fmt: skip


def chain_labels(featurizer, images, y):
    """The labels of the class chains: None without ``warm_start_by_class``."""
    if not featurizer.warm_start_by_class:
        return None
    if y is None:
        raise ValueError(
            "warm_start_by_class=True chains the training images by class and "
            "needs y: call fit(X, y) / fit_transform(X, y), or set "
            "warm_start_by_class=False."
        )
    return check_chain_labels(images, y)


def render_features(featurizer, X) -> np.ndarray:
    """Render the features ``X`` of a fitted featurizer: (n, *spatial[, C]) images."""
    features = check_array(X, dtype=np.float32, input_name="theta")
    if features.shape[1] != featurizer.n_params_:
        raise ValueError(
            f"theta has {features.shape[1]} features but this featurizer outputs "
            f"{featurizer.n_params_}."
        )
    theta = FEATURES[featurizer.features].to_theta(
        features, featurizer.init_params_, featurizer.spec_
    )
    return render_inrs(
        theta,
        featurizer.image_shape_[: featurizer.spatial_ndim],
        model=featurizer.model,
        hidden_features=featurizer.hidden_features,
        hidden_layers=featurizer.hidden_layers,
        omega_0=featurizer.omega_0,
        out_features=featurizer.spec_.out_features,
        loss=featurizer.loss,
        device=featurizer.device,
    )
