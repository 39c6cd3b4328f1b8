"""The paper's weight transfer: class chains, their labels and the leak warning.

With ``warm_start_by_class=True``, :class:`~sklearn_inr.INRFeaturizer`
fits the training images of each class in the given order, each from the
previous image of its class. This module checks the labels that this
needs, fits the chains and says, once per fit, that the result leaks the
label.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.utils.validation import check_consistent_length, column_or_1d

from .._exceptions import LabelLeakWarning, user_stacklevel
from ..fitting import GivenInit

__all__ = ["check_chain_labels", "fit_class_chains", "warn_label_leak"]


def check_chain_labels(images, y) -> np.ndarray:
    """``y`` as a 1-D array of finite labels of at least two classes."""
    if np.iscomplexobj(y):
        raise ValueError(
            "y is complex; warm_start_by_class needs class labels (ints or strings)."
        )
    y = column_or_1d(y, warn=True)
    check_consistent_length(images, y)
    missing = _missing_labels(y)
    if missing.any():
        raise ValueError(
            f"y has {int(missing.sum())} missing or non-finite label(s) (at "
            f"positions {np.flatnonzero(missing)[:20].tolist()}); "
            "warm_start_by_class chains images by class, so every image "
            "needs a class. Drop those images or fill their labels."
        )
    classes = np.unique(y)
    if len(classes) < 2:
        raise ValueError(
            f"warm_start_by_class=True chains images by class, and y has "
            f"{len(classes)} class(es); it needs at least two."
        )
    return y


def warn_label_leak() -> None:
    """The one warning of a fit with weight transfer."""
    warnings.warn(
        "warm_start_by_class=True: each training image's INR starts from "
        "the previous image of its class, so the training theta encodes "
        "the label (even for pure noise). transform() has no labels and "
        "starts new images from init_params_, so train and test features "
        "differ. Evaluate only with test folds passed through transform() "
        "(e.g. inside a Pipeline), never on fit_transform output.",
        LabelLeakWarning,
        stacklevel=user_stacklevel(),
    )


def fit_class_chains(fit, images, y_index, n_classes, first_thetas, *, verbose=0):
    """The paper's weight transfer: chain each class's images in the given order.

    Parameters
    ----------
    fit : callable
        ``fit(images, init)`` runs the fits of some images from an
        initialisation object and returns an
        :class:`~sklearn_inr.INRFitResult`.
    images : ndarray of shape (n_images, H, W, C)
    y_index : ndarray of int of shape (n_images,)
        Class of each image, ``0 .. n_classes - 1``.
    n_classes : int
    first_thetas : callable
        ``first_thetas(images)``: starting thetas of the first image of
        each class.
    verbose : int, default=0

    Returns
    -------
    result : dict
        ``theta``, ``loss_history``, ``history_steps``, ``mse``, ``psnr``,
        ``n_steps`` and ``converged`` of every image, and ``class_init``: the last theta
        of each chain.
    """
    members = [np.flatnonzero(y_index == c) for c in range(n_classes)]
    current = first_thetas(images[[m[0] for m in members]])
    out = {"loss_history": [None] * len(images)}
    positions = range(max(len(m) for m in members))
    if verbose > 0:
        from tqdm.auto import tqdm

        positions = tqdm(positions, desc="Weight transfer by class", unit="step")
    for position in positions:
        active = [c for c, m in enumerate(members) if position < len(m)]
        rows = [members[c][position] for c in active]
        result = fit(images[rows], GivenInit(current[active]))
        current[active] = result.theta
        if position == 0:
            out.update(
                theta=np.empty((len(images), result.theta.shape[1]), np.float32),
                mse=np.empty(len(images)),
                psnr=np.empty(len(images)),
                n_steps=np.empty(len(images), dtype=np.int64),
                converged=np.empty(len(images), dtype=bool),
                history_steps=result.history_steps,
            )
        if len(result.history_steps) > len(out["history_steps"]):
            # A history covers the steps its call took: keep the longest.
            out["history_steps"] = result.history_steps
        out["theta"][rows] = result.theta
        out["mse"][rows], out["psnr"][rows] = result.mse, result.psnr
        out["n_steps"][rows] = result.n_steps
        out["converged"][rows] = result.converged
        for row, history in zip(rows, result.loss_history):
            out["loss_history"][row] = history
    n_columns = len(out["history_steps"])
    out["loss_history"] = np.stack(
        [_pad_history(history, n_columns) for history in out["loss_history"]]
    )
    out["class_init"] = current
    return out


def _pad_history(history, n_columns: int) -> np.ndarray:
    """A shorter history to ``n_columns``, its final loss repeated.

    As a fit records an image that stopped early: the steps it did not take
    repeat its final loss.
    """
    missing = n_columns - len(history)
    if missing <= 0:
        return history
    return np.concatenate([history[:-1], np.repeat(history[-1:], missing + 1)])


def _missing_labels(y) -> np.ndarray:
    """Which labels are NaN, infinite or None."""
    if y.dtype.kind in "fc":
        return ~np.isfinite(y)
    if y.dtype.kind == "O":
        return np.array(
            [
                label is None
                or (isinstance(label, float | np.floating) and not np.isfinite(label))
                for label in y
            ]
        )
    return np.zeros(len(y), dtype=bool)
