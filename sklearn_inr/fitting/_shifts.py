"""Shift modulations: per-image bias offsets of a shared base network.

As in functa (Dupont et al., 2022), each image's network is a base network
shared by all images with a *shift* added to the biases of its hidden
``width -> width`` layers; the shifts are the image's features. Fitting them
runs on the fitting runner with a :class:`~sklearn_inr.fitting._training.ShiftTrainer`
(the biases are ``base + shift``, so a shift's gradient is its bias's
gradient), and so gets the cache, ``n_jobs`` and progress of every fit.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.utils._param_validation import validate_params

from .._docs import fill_doc
from ..core import INRSpec, layer_slices, parse_device
from ._checks import check_images
from ._fit import FIT_PARAMETER_CONSTRAINTS
from ._inits import SharedInit
from ._results import INRFitResult
from ._runner import FitSettings, run_fits
from ._training import ShiftTrainer

__all__ = [
    "check_shift_spec",
    "fit_shifts",
    "shift_feature_names",
    "shift_indices",
    "shifts_to_theta",
]


# ----------------------------------------------------------------- layout
def shift_indices(spec: INRSpec) -> np.ndarray:
    """Positions in theta of the biases that shift modulations offset.

    One offset per hidden unit of the ``hidden_layers`` ``width -> width``
    layers (layers ``1 .. hidden_layers``), so there are
    ``hidden_layers * hidden_features`` shifts.

    Parameters
    ----------
    spec : INRSpec

    Returns
    -------
    indices : ndarray of int of shape (hidden_layers * hidden_features,)

    Examples
    --------
    >>> from sklearn_inr import INRSpec, shift_indices
    >>> shift_indices(INRSpec(hidden_features=4, hidden_layers=2)).shape
    (8,)
    """
    check_shift_spec(spec)
    slices = layer_slices(spec.layer_shapes)[1 : spec.hidden_layers + 1]
    return np.concatenate([np.arange(bias.start, bias.stop) for _, bias in slices])


def shift_feature_names(spec: INRSpec) -> np.ndarray:
    """Names of the shift features: ``l1.shift[0]``, ..., ``lH.shift[width-1]``.

    Parameters
    ----------
    spec : INRSpec
        The base network (``hidden_layers >= 1``).

    Returns
    -------
    names : ndarray of str objects, shape (hidden_layers * hidden_features,)

    Examples
    --------
    >>> from sklearn_inr import INRSpec, shift_feature_names
    >>> shift_feature_names(INRSpec(hidden_features=3, hidden_layers=2))
    array(['l1.shift[0]', 'l1.shift[1]', 'l1.shift[2]', 'l2.shift[0]',
           'l2.shift[1]', 'l2.shift[2]'], dtype=object)
    """
    check_shift_spec(spec)
    width = spec.hidden_features
    return np.asarray(
        [
            f"l{k}.shift[{i}]"
            for k in range(1, spec.hidden_layers + 1)
            for i in range(width)
        ],
        dtype=object,
    )


def shifts_to_theta(shifts, base_theta, spec: INRSpec) -> np.ndarray:
    """Full network parameters from shift modulations and their base.

    The result renders with :func:`render_inrs` like any theta.

    Parameters
    ----------
    shifts : array-like of shape (n_images, hidden_layers * hidden_features)
    base_theta : array-like of shape (n_params,)
        The shared base network.
    spec : INRSpec

    Returns
    -------
    theta : ndarray of shape (n_images, n_params), float32

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_inr import INRSpec, render_inrs, shifts_to_theta
    >>> spec = INRSpec(hidden_features=8, hidden_layers=2)
    >>> theta = shifts_to_theta(np.zeros((3, 16)), spec.init_theta(0), spec)
    >>> render_inrs(theta, (5, 5), hidden_features=8, hidden_layers=2).shape
    (3, 5, 5)
    """
    index = shift_indices(spec)
    shifts = np.atleast_2d(np.asarray(shifts, dtype=np.float32))
    base = check_base(base_theta, spec)
    if shifts.shape[1] != len(index):
        raise ValueError(
            f"shifts have {shifts.shape[1]} features but this network has "
            f"{len(index)} shifts (hidden_layers x hidden_features)."
        )
    theta = np.tile(base, (len(shifts), 1))
    # The same float32 addition as during fitting (base bias + shift), so a
    # rendering reproduces the fitted output exactly.
    theta[:, index] = base[index] + shifts
    return theta


def check_shift_spec(spec: INRSpec) -> None:
    if spec.hidden_layers < 1:
        raise ValueError(
            "Shift modulations offset the biases of the hidden width -> width "
            "layers, and this network has hidden_layers=0; use hidden_layers >= 1."
        )


def check_base(base_theta, spec: INRSpec) -> np.ndarray:
    """``base_theta`` as float32 of shape ``(n_params,)``, or a clear error."""
    base = np.asarray(base_theta, dtype=np.float32)
    if base.shape != (spec.n_params,):
        raise ValueError(
            f"base_theta must have shape ({spec.n_params},) for {spec}, got "
            f"{base.shape}."
        )
    return base


# ------------------------------------------------------------ shift fitting
@fill_doc
@validate_params(
    {
        "images": ["array-like"],
        "base_theta": ["array-like"],
        "spec": [INRSpec],
        **FIT_PARAMETER_CONSTRAINTS,
    },
    prefer_skip_nested_validation=True,
)
def fit_shifts(
    images,
    base_theta,
    spec: INRSpec,
    *,
    n_steps: int = 10,
    lr: float = 1e-2,
    target_psnr: float | None = None,
    check_every: int = 10,
    stop_unreachable: bool = False,
    loss: str = "bce",
    batch_size="auto",
    device="auto",
    dtype=torch.float32,
    precision: str = "auto",
    optimizer: str = "adam",
    record_every: int = 1,
    memory=None,
    n_jobs: int | None = None,
    checkpoint_every: float = 60.0,
    on_divergence: str = "raise",
    verbose: int = 0,
) -> INRFitResult:
    """Fit per-image shift modulations of a fixed base network.

    Each image's network is the base with ``shift`` added to the biases of
    its ``hidden_layers`` ``width -> width`` layers; the shifts start at
    zero and follow full-batch Adam. As in :func:`fit_inrs`, every image's
    shifts are the same to the bit whatever its batch, company or
    ``n_jobs`` (on CPU), and finished images are cached in ``memory``.

    Parameters
    ----------
    images : array-like of shape (n_images, H, W) or (n_images, H, W, C)
        With ``spec.in_features=3``, volumes ``(n_images, D, H, W)`` or
        ``(n_images, D, H, W, C)``: the spatial axes are
        ``spec.in_features`` many; ``images.ndim == 1 + in_features`` means
        one channel, ``2 + in_features`` channels last.
    base_theta : array-like of shape (n_params,)
        E.g. from :func:`meta_learn_shift_base`.
    spec : INRSpec
    n_steps : int, default=10
    lr : float, default=1e-2
    %(target_psnr)s
    %(check_every)s
    %(stop_unreachable)s
    %(loss)s
    %(batch_size)s
    %(device)s
    %(dtype)s
    %(precision)s
    %(optimizer)s
    record_every : int, default=1
        Stride of the loss history, in steps.
    memory : None, str, path or joblib.Memory, default=None
        Folder caching each image's shifts (keyed by the image, the base and
        the settings).
    %(n_jobs)s
    %(checkpoint_every)s
    %(on_divergence)s
    %(verbose)s

    Returns
    -------
    result : INRFitResult
        ``theta`` holds the shifts, shape
        ``(n_images, hidden_layers * hidden_features)``; see
        :func:`shifts_to_theta` for the full parameters.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_inr import INRSpec, fit_shifts
    >>> images = np.random.default_rng(0).uniform(size=(3, 8, 8))
    >>> spec = INRSpec(hidden_features=8, hidden_layers=2)
    >>> fit_shifts(images, spec.init_theta(0), spec, n_steps=3).theta.shape
    (3, 16)
    """
    check_shift_spec(spec)
    images = check_images(images, loss, out_features=spec.out_features,
                          spatial_ndim=spec.in_features)  # fmt: skip
    base = check_base(base_theta, spec)
    settings = FitSettings(
        loss=loss, lr=float(lr), n_steps=int(n_steps),
        record_every=int(record_every), dtype=dtype, target_psnr=target_psnr,
        check_every=int(check_every), stop_unreachable=bool(stop_unreachable),
        precision=precision, optimizer=optimizer,
    )  # fmt: skip
    return run_fits(
        images, spec, settings, SharedInit(base), ShiftTrainer(base),
        batch_size=batch_size, device=parse_device(device), memory=memory,
        n_jobs=n_jobs, checkpoint_every=checkpoint_every,
        on_divergence=on_divergence, verbose=verbose, desc="Fitting shifts",
    )  # fmt: skip
