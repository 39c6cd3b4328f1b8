"""What a fit returns: :class:`INRFitResult`, assembled from per-image entries."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from .._exceptions import DivergenceWarning, INRDivergenceError, user_stacklevel
from ..core import INRSpec
from ..metrics import mean_squared_error_per_image, psnr

__all__ = [
    "CONVERGENCE_FLOOR_PSNR",
    "CONVERGENCE_MARGIN_DB",
    "DIVERGENCE_FACTOR",
    "INRFitResult",
    "PADDED_RECORDS_MAX",
    "collect_results",
    "converged",
    "diverged",
    "history_steps",
    "pad_history",
    "trim_history",
    "warn_unconverged",
]

# A fit whose final loss ends above this multiple of its starting loss, with
# a reconstruction worse than predicting the image's mean, diverged.
DIVERGENCE_FACTOR = 10.0
# A fit converged when its final PSNR is within this many dB of target_psnr
# (the target is checked every check_every steps, so a fit that stopped there
# is above it; one that ran out of steps just below it is close enough) ...
CONVERGENCE_MARGIN_DB = 1.0
# ... or, without a target, when it reaches this PSNR: below 20 dB a
# reconstruction is visibly blurred (a fit of the paper's net on a 64 x 64
# slice reaches 30-40 dB).
CONVERGENCE_FLOOR_PSNR = 20.0
# A result's histories cover every step of the n_steps cap up to this many
# records per image (a few tens of KiB), as they always did; beyond it, only
# the most steps any image of the call took: a cap of 10**8 steps that
# target_psnr stops at step 20 must not cost gigabytes.
PADDED_RECORDS_MAX = 10_000


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
        PSNR of the reconstructions in dB, for data range 1 (with
        ``loss="mse"`` on data beyond [0, 1] the fit warns: scale the images
        to [0, 1] for a meaningful PSNR).
    spec : INRSpec
    n_steps : ndarray of int of shape (n_images,)
        Adam steps each image took: ``n_steps``, or fewer for the images
        that reached ``target_psnr`` (their later recorded losses repeat
        their final loss). The history covers the most steps any image of
        the call took: it covers the whole ``n_steps`` cap (as
        ``history_steps`` says) unless that is more than 10,000 records
        (:data:`PADDED_RECORDS_MAX`); then, when every image stopped early,
        it ends at the most steps one took.
    converged : ndarray of bool of shape (n_images,)
        Whether each fit converged: its final PSNR is at least
        ``target_psnr - 1`` dB (:data:`CONVERGENCE_MARGIN_DB`) with a
        target, at least 20 dB (:data:`CONVERGENCE_FLOOR_PSNR`) without
        one; a diverged fit never converged. The fit warns
        (:class:`~sklearn.exceptions.ConvergenceWarning`) once per call when
        the median image did not.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_inr import fit_inrs
    >>> result = fit_inrs(np.full((2, 4, 4), 0.5), hidden_features=4,
    ...                   hidden_layers=1, n_steps=3, random_state=0)
    >>> result.theta.shape, result.loss_history.shape, result.history_steps
    ((2, 37), (2, 2), array([0, 3]))
    >>> result.converged.shape
    (2,)
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
    converged: np.ndarray


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


def history_steps(n_taken: int, record_every: int) -> np.ndarray:
    """Steps of a history that ends after ``n_taken`` steps.

    The recorded steps below ``n_taken``, then ``n_taken`` itself (the final
    loss, after the last update).
    """
    return np.append(np.arange(0, n_taken, record_every), n_taken)


def n_records(n_taken: int, record_every: int) -> int:
    """Records of an image that took ``n_taken`` steps: every ``record_every``
    steps before it stopped, and its final loss."""
    return len(range(0, int(n_taken), record_every)) + 1


def trim_history(history: np.ndarray, n_taken: int, record_every: int):
    """One image's history cut to the steps it took (``n_taken``).

    Its recorded losses after it stopped repeat its final loss, so nothing
    is lost; a history already as short is returned as it is.
    """
    n_kept = n_records(n_taken, record_every) - 1
    if len(history) <= n_kept + 1:
        return history
    return np.concatenate([history[:n_kept], history[-1:]])


def pad_history(history: np.ndarray, n_columns: int) -> np.ndarray:
    """One image's history padded to ``n_columns`` by repeating its final loss.

    The padding goes before the last column, in the columns of the steps the
    image did not take (as the fit records a stopped image's history).
    """
    missing = n_columns - len(history)
    if missing <= 0:
        return history
    return np.concatenate([history[:-1], np.repeat(history[-1:], missing + 1)])


def converged(scores, target_psnr=None) -> np.ndarray:
    """Whether each final PSNR counts as converged (see :class:`INRFitResult`)."""
    scores = np.asarray(scores, dtype=np.float64)
    if target_psnr is None:
        return scores >= CONVERGENCE_FLOOR_PSNR
    return scores >= float(target_psnr) - CONVERGENCE_MARGIN_DB


def collect_results(
    results,
    images,
    record_every,
    spec,
    lr,
    on_divergence="raise",
    *,
    n_steps=None,
    target_psnr=None,
    warn_convergence=False,
) -> INRFitResult:
    """Order per-row entries into an :class:`INRFitResult`; check divergence.

    ``results`` maps each row of ``images`` to its ``theta``,
    ``loss_history`` (recorded every ``record_every`` steps, then the final
    loss), ``n_steps`` and ``output`` (the reconstruction). The histories
    are aligned on the ``n_steps`` cap when that takes at most
    :data:`PADDED_RECORDS_MAX` records, else on the most steps any image
    took. Diverged images raise, warn or pass as ``on_divergence`` says;
    ``target_psnr`` decides
    :attr:`INRFitResult.converged`, and ``warn_convergence`` whether an
    unconverged median warns (:func:`warn_unconverged`).
    """
    ordered = [results[row] for row in range(len(images))]
    steps = np.array([int(r["n_steps"]) for r in ordered], dtype=np.int64)
    n_taken = int(steps.max())
    if n_steps is not None:
        if n_records(n_steps, record_every) - 1 < PADDED_RECORDS_MAX:
            n_taken = max(n_taken, int(n_steps))
    histories = [
        trim_history(np.asarray(r["loss_history"]), int(n), record_every)
        for r, n in zip(ordered, steps)
    ]
    n_columns = n_records(n_taken, record_every)
    loss_history = np.stack([pad_history(h, n_columns) for h in histories])
    loss_history = loss_history.astype(np.float64)
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
        warnings.warn(str(error), DivergenceWarning, stacklevel=user_stacklevel())
    ok = converged(scores, target_psnr)
    ok[bad] = False
    result = INRFitResult(
        theta=np.stack([r["theta"] for r in ordered]),
        loss=loss_history[:, -1].copy(),
        loss_history=loss_history,
        history_steps=history_steps(n_taken, record_every),
        reconstructions=reconstructions,
        mse=mse,
        psnr=scores,
        spec=spec,
        n_steps=steps,
        converged=ok,
    )
    if warn_convergence:
        warn_unconverged(result.psnr, result.converged, target_psnr,
                         diverged_rows=bad)  # fmt: skip
    return result


def warn_unconverged(psnr, is_converged, target_psnr=None, *, diverged_rows=()) -> bool:
    """One ConvergenceWarning if the median fit did not converge.

    ``psnr`` and ``is_converged`` are per image (an :class:`INRFitResult`'s
    ``psnr`` and ``converged``, or a featurizer's class chains'). The median
    is over the images that did not diverge (divergence has its own error or
    warning). Returns whether it warned.
    """
    psnr, is_converged = np.asarray(psnr), np.asarray(is_converged, dtype=bool)
    keep = np.ones(len(psnr), dtype=bool)
    keep[list(diverged_rows)] = False
    scores = psnr[keep]
    if not len(scores):
        return False
    median = float(np.median(scores))
    if converged([median], target_psnr)[0]:
        return False
    n_bad = int((~is_converged[keep]).sum())
    if target_psnr is None:
        goal = (
            f"below {CONVERGENCE_FLOOR_PSNR:g} dB, the floor a fit without "
            "target_psnr is judged by"
        )
    else:
        goal = (
            f"more than {CONVERGENCE_MARGIN_DB:g} dB below target_psnr="
            f"{float(target_psnr):g}"
        )
    warnings.warn(
        f"The median INR fit ended at {median:.1f} dB PSNR, {goal}: {n_bad} of "
        f"{len(scores)} fits did not converge (see the result's converged, or a "
        "featurizer's converged_). Give them "
        "more steps (n_steps), a higher lr, or a learned initialisation "
        "(INRFeaturizer(init='meta') or init='task').",
        ConvergenceWarning,
        stacklevel=user_stacklevel(),
    )
    return True
