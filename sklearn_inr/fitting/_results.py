"""What a fit returns: :class:`INRFitResult`, assembled from per-image entries."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from .._exceptions import DivergenceWarning, INRDivergenceError
from ..core import INRSpec
from ..metrics import mean_squared_error_per_image, psnr

__all__ = ["DIVERGENCE_FACTOR", "INRFitResult", "collect_results", "diverged"]

# A fit whose final loss ends above this multiple of its starting loss, with
# a reconstruction worse than predicting the image's mean, diverged.
DIVERGENCE_FACTOR = 10.0


@dataclass
class INRFitResult:
    """What :func:`fit_inrs` returns.

    Attributes
    ----------
    theta : ndarray of shape (n_images, n_params)
        Fitted parameters, in the theta layout of :class:`INRSpec`.
    loss : ndarray of shape (n_images,)
        Final training loss of the fitted parameters.
    loss_history : ndarray of shape (n_images, n_records)
        Training loss at ``history_steps`` (before that step's update; the
        last column is the final loss, after the last update).
    history_steps : ndarray of shape (n_records,)
    reconstructions : ndarray of shape (n_images, H, W[, C])
        The fitted networks rendered on the training grid (sigmoid of the
        logits for ``loss="bce"``).
    mse : ndarray of shape (n_images,)
        Mean squared error of the reconstructions.
    psnr : ndarray of shape (n_images,)
        PSNR of the reconstructions in dB, for data range 1.
    spec : INRSpec
    n_steps : ndarray of int of shape (n_images,)
        Adam steps each image took: ``n_steps``, or fewer for the images
        that reached ``target_psnr`` (their later recorded losses repeat
        their final loss).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_inr import fit_inrs
    >>> result = fit_inrs(np.full((2, 4, 4), 0.5), hidden_features=4,
    ...                   hidden_layers=1, n_steps=3, random_state=0)
    >>> result.theta.shape, result.loss_history.shape, result.history_steps
    ((2, 37), (2, 2), array([0, 3]))
    """

    theta: np.ndarray
    loss: np.ndarray
    loss_history: np.ndarray
    history_steps: np.ndarray
    reconstructions: np.ndarray
    mse: np.ndarray
    psnr: np.ndarray
    spec: INRSpec
    n_steps: np.ndarray


def diverged(history, reconstruction, image) -> bool:
    """Whether one image's fit diverged (see :class:`INRDivergenceError`).

    ``history`` is its loss history (first entry: the loss at step 0).
    Slow or unfinished fits never qualify: their loss is below its start.
    """
    start, final = history[0], history[-1]
    if not (np.isfinite(start) and np.isfinite(final)):
        return True
    if not np.isfinite(reconstruction).all():
        return True
    image = np.asarray(image, dtype=np.float64)
    worse_than_mean = np.mean((reconstruction - image) ** 2) > np.var(image)
    return bool(final > DIVERGENCE_FACTOR * start and worse_than_mean)


def collect_results(
    results, images, history_steps, spec, lr, on_divergence="raise"
) -> INRFitResult:
    """Order per-row entries into an :class:`INRFitResult`; check divergence.

    ``results`` maps each row of ``images`` to its ``theta``,
    ``loss_history`` and ``output`` (the reconstruction). Diverged images
    raise, warn or pass as ``on_divergence`` says.
    """
    ordered = [results[row] for row in range(len(images))]
    loss_history = np.stack([r["loss_history"] for r in ordered]).astype(np.float64)
    reconstructions = np.stack([r["output"] for r in ordered])
    targets = images
    if images.shape[-1] == 1:
        reconstructions, targets = reconstructions[..., 0], images[..., 0]
    with np.errstate(over="ignore", invalid="ignore"):
        mse = mean_squared_error_per_image(targets, reconstructions)
        scores = psnr(targets, reconstructions)
        bad = [
            row
            for row in range(len(images))
            if diverged(loss_history[row], reconstructions[row], targets[row])
        ]
    if bad and on_divergence != "ignore":
        error = INRDivergenceError(
            bad,
            lr,
            final_loss=loss_history[bad, -1],
            psnr=scores[bad],
            overflow=~np.isfinite(loss_history[bad, 0]),
        )
        if on_divergence == "raise":
            raise error
        warnings.warn(str(error), DivergenceWarning, stacklevel=3)
    return INRFitResult(
        theta=np.stack([r["theta"] for r in ordered]),
        loss=loss_history[:, -1].copy(),
        loss_history=loss_history,
        history_steps=history_steps,
        reconstructions=reconstructions,
        mse=mse,
        psnr=scores,
        spec=spec,
        n_steps=np.array([int(r["n_steps"]) for r in ordered], dtype=np.int64),
    )
