"""``fit_inrs``: the public function that fits one INR per image.

It checks its arguments at the door, builds the network spec, the settings,
the initialisation and the trainer once, and hands them to the runner
(:mod:`sklearn_inr.fitting._runner`). :class:`~sklearn_inr.INRFeaturizer` is its
scikit-learn face.
"""

from __future__ import annotations

import os
from numbers import Integral, Real

import torch
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    Options,
    StrOptions,
    validate_params,
)

from .._docs import fill_doc
from ..core import LOSSES, PRECISIONS, INRSpec, model_names, parse_device
from ._checks import check_images
from ._inits import resolve_init
from ._optimizers import OPTIMIZERS
from ._results import INRFitResult
from ._runner import FitSettings, run_fits
from ._training import WeightsTrainer

__all__ = ["FIT_PARAMETER_CONSTRAINTS", "ModelNames", "fit_inrs"]


class ModelNames(StrOptions):
    """The ``model=`` names of the model table, read when a value is checked.

    A family registered after this module was imported (a user's own, with
    ``sklearn_inr.core.register_model``) is accepted like the built-in ones.
    """

    def __init__(self):
        super().__init__(set(model_names()))

    def is_satisfied_by(self, val):
        self.options = set(model_names())
        return super().is_satisfied_by(val)

    def __str__(self):
        self.options = set(model_names())
        return super().__str__()


# The rules of the fit parameters, shared by fit_inrs, fit_shifts and
# INRFeaturizer: one rule, one message.
FIT_PARAMETER_CONSTRAINTS = {
    "model": [ModelNames()],
    "hidden_features": [Interval(Integral, 1, None, closed="left")],
    "hidden_layers": [Interval(Integral, 0, None, closed="left")],
    # Beyond these, float32 overflows or the init's bounds underflow; useful
    # values are 1 to 100.
    "omega_0": [Interval(Real, 1e-3, 1e4, closed="both")],
    "loss": [StrOptions(set(LOSSES))],
    "lr": [Interval(Real, 0, 1e6, closed="right")],
    "n_steps": [Interval(Integral, 1, None, closed="left")],
    "target_psnr": [Interval(Real, 0, None, closed="neither"), None],
    "check_every": [Interval(Integral, 1, None, closed="left")],
    "stop_unreachable": ["boolean"],
    "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
    "device": [str, torch.device, None],
    "dtype": [torch.dtype],
    "precision": [StrOptions(set(PRECISIONS))],
    "optimizer": [StrOptions(set(OPTIMIZERS))],
    "record_every": [Interval(Integral, 1, None, closed="left")],
    "memory": [None, str, os.PathLike, HasMethods(["cache"])],
    "n_jobs": [Integral, None],
    "chunk_size": [Interval(Integral, 1, None, closed="left"), None],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
    "on_divergence": [StrOptions({"raise", "warn", "ignore"})],
    "checkpoint_every": [Interval(Real, 0, None, closed="neither")],
    # Images (2) or volumes (3); the core takes any in_features, the checks,
    # messages and tests cover these two.
    "spatial_ndim": [Options(Integral, {2, 3})],
}


@fill_doc
@validate_params(
    {
        "images": ["array-like"],
        "init": [StrOptions({"shared", "random"}), "array-like"],
        **FIT_PARAMETER_CONSTRAINTS,
    },
    prefer_skip_nested_validation=True,
)
def fit_inrs(
    images,
    *,
    model: str = "siren",
    hidden_features: int = 256,
    hidden_layers: int = 4,
    omega_0: float = 30.0,
    loss: str = "bce",
    lr: float = 1e-4,
    n_steps: int = 1000,
    target_psnr: float | None = None,
    check_every: int = 10,
    stop_unreachable: bool = False,
    init="shared",
    spatial_ndim: int = 2,
    random_state=None,
    batch_size="auto",
    device="auto",
    dtype=torch.float32,
    precision: str = "auto",
    optimizer: str = "adam",
    record_every: int = 10,
    memory=None,
    n_jobs: int | None = None,
    chunk_size: int | None = None,
    checkpoint_every: float = 60.0,
    on_divergence: str = "raise",
    verbose: int = 0,
) -> INRFitResult:
    """Fit one INR per image, many at once, and return their parameters.

    Each image gets its own network mapping pixel coordinates (pixel centres
    scaled to [-1, 1]) to intensities, trained full-batch with Adam for
    ``n_steps`` steps. Images are trained in batches with stacked weights;
    every image follows the trajectory it would follow alone, and on CPU its
    theta is the same to the bit whatever ``batch_size``, ``n_jobs``, the
    joblib backend, the order of the images or the other images in the call
    (see the Notes).

    Parameters
    ----------
    images : array-like of shape (n_images, H, W) or (n_images, H, W, C)
        Intensities; in [0, 1] for ``loss="bce"``. Channels become output
        features of the network. With ``spatial_ndim=3``, volumes of shape
        ``(n_images, D, H, W)`` or ``(n_images, D, H, W, C)``.
    %(inr)s
    %(target_psnr)s
    %(check_every)s
    %(stop_unreachable)s
    init : {"shared", "random"} or ndarray, default="shared"
        ``"shared"``: every image starts from one draw from
        ``random_state``. ``"random"``: each image gets its own draw, seeded
        by ``random_state`` and the image's bytes. An array of shape
        ``(n_params,)`` or ``(n_images, n_params)``: explicit starting points.
    spatial_ndim : {2, 3}, default=2
        How many axes of each image, after ``n_images``, are space; the rest
        are channels. The network maps ``spatial_ndim`` coordinates (its
        ``in_features``: ``(y, x)``, or ``(z, y, x)`` for volumes) to the
        channels: ``images.ndim == 1 + spatial_ndim`` means one channel,
        ``2 + spatial_ndim`` channels last. Channels at least as many as the
        smallest spatial side (a channel-first array, or volumes read as
        images) give a ``UserWarning`` naming the fix.
    %(random_state)s
    %(batch_size)s
    %(device)s
    %(dtype)s
    %(precision)s
    %(optimizer)s
    %(record_every)s
    %(memory)s
    %(n_jobs)s
    chunk_size : int or None, default=None
        Most images per dispatched chunk (chunks are cut evenly); ``None``
        cuts the images into two chunks per worker. Each chunk is fitted in
        batches of ``batch_size``, and every finished batch is written to
        ``memory`` at once.
    %(checkpoint_every)s
    %(on_divergence)s
    %(verbose)s

    Returns
    -------
    result : INRFitResult

    Raises
    ------
    INRDivergenceError
        A ``ValueError`` naming the images whose fit diverged, with their
        final loss and PSNR and what to change (with ``on_divergence="raise"``).

    See Also
    --------
    INRFeaturizer : The scikit-learn transformer built on this function.
    render_inrs : Render fitted theta at any resolution.

    Notes
    -----
    **Same bits.** On CPU, each batch trains on one thread, with every
    image's pixels cut into chunks that depend only on the image size, so
    an image's floating-point operations never depend on its batch. The
    tests assert exact equality after 300 steps across batch sizes, image
    orders, companions, ``n_jobs`` and backends. Thread *counts* do not
    matter either, because a batch never uses more than one. On a GPU the
    kernels make no such promise: results agree to rounding, which the
    chaotic dynamics of a long SIREN fit can amplify (measured on CPU before
    this guarantee: up to 1.3 % of theta's largest entry after 500 steps).

    **PSNR assumes a data range of 1.** ``result.psnr`` and ``target_psnr``
    are computed for intensities in [0, 1] (``loss="bce"`` requires them).
    With ``loss="mse"`` on data beyond [0, 1], e.g. 0-255, the fit warns
    once: the PSNR is off (about -48 dB on 0-255 data) and a target may
    never be reached. Scale the images to [0, 1].

    **Convergence.** ``result.converged`` says which fits ended within 1 dB
    of ``target_psnr`` (at least 20 dB without a target); when the median
    image did not, the call warns once with
    :class:`~sklearn.exceptions.ConvergenceWarning`.

    **Cost.** A step costs about ``6 * n_params * n_pixels`` FLOPs per image.
    At ``verbose=0``, a call whose first timed steps project it beyond about
    30 s prints one line to stderr with the expected duration; ``verbose=1``
    shows a bar of images with the step and median PSNR of the running
    batch. Loss histories grow with the steps taken, so a large ``n_steps``
    cap with a ``target_psnr`` costs nothing until it is reached.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_inr import fit_inrs
    >>> images = np.random.default_rng(0).uniform(size=(3, 8, 8))
    >>> result = fit_inrs(images, hidden_features=16, hidden_layers=1,
    ...                   lr=1e-3, n_steps=20, random_state=0)
    >>> result.theta.shape
    (3, 337)
    >>> bool(result.loss_history[:, -1].mean() < result.loss_history[:, 0].mean())
    True
    """
    images = check_images(images, loss, spatial_ndim=spatial_ndim)
    spec = INRSpec(
        model,
        in_features=int(spatial_ndim),
        hidden_features=hidden_features,
        hidden_layers=hidden_layers,
        out_features=images.shape[-1],
        omega_0=float(omega_0),
    )
    settings = FitSettings(
        loss=loss, lr=float(lr), n_steps=int(n_steps),
        record_every=int(record_every), dtype=dtype, target_psnr=target_psnr,
        check_every=int(check_every), stop_unreachable=bool(stop_unreachable),
        precision=precision, optimizer=optimizer,
    )  # fmt: skip
    return run_fits(
        images,
        spec,
        settings,
        resolve_init(init, spec, images, random_state),
        WeightsTrainer(),
        batch_size=batch_size,
        device=parse_device(device),
        memory=memory,
        n_jobs=n_jobs,
        chunk_size=chunk_size,
        checkpoint_every=checkpoint_every,
        on_divergence=on_divergence,
        verbose=verbose,
    )
