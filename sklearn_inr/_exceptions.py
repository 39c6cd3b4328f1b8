"""The package's own errors and warnings."""

from __future__ import annotations

import os
import sys

import numpy as np

__all__ = [
    "user_stacklevel",
    "DivergenceWarning",
    "INRDivergenceError",
    "LabelLeakWarning",
]


class INRDivergenceError(ValueError):
    """Raised when some images' fits diverged.

    A fit diverged when its loss became NaN or infinite, or when it ended
    above :data:`~sklearn_inr.fitting._results.DIVERGENCE_FACTOR` times its starting
    loss with a reconstruction worse than predicting the image's mean. A
    loss that is not finite from the first step comes from the input scale
    (values too large for the loss), not from the learning rate, and the
    message says so.

    Attributes
    ----------
    indices : ndarray of int
        Positions of the diverged images in the input.
    final_loss : ndarray of float or None
        Their final training loss.
    psnr : ndarray of float or None
        Their final reconstruction PSNR (dB).
    overflow : ndarray of bool
        Whether each one's loss overflowed from the first step.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_inr import INRDivergenceError, fit_inrs
    >>> images = np.full((3, 4, 4), 0.5)
    >>> images[1] = 1e30  # its squared error overflows float32
    >>> try:
    ...     fit_inrs(images, loss="mse", hidden_features=4, hidden_layers=1,
    ...              n_steps=1)
    ... except INRDivergenceError as error:
    ...     print(error.indices, error.overflow)
    [1] [ True]
    """

    def __init__(self, indices, lr, *, final_loss=None, psnr=None, overflow=None):
        self.indices = np.asarray(indices)
        self.final_loss = None if final_loss is None else np.asarray(final_loss)
        self.psnr = None if psnr is None else np.asarray(psnr)
        self.overflow = (
            np.zeros(len(self.indices), dtype=bool)
            if overflow is None
            else np.asarray(overflow, dtype=bool)
        )
        parts = []
        if self.overflow.any():
            parts.append(
                f"The loss of {int(self.overflow.sum())} image(s) at positions "
                f"{_positions(self.indices[self.overflow])} is not finite from the "
                "first step: their values are too large for the loss in this "
                "dtype. Rescale the images (e.g. to [0, 1]); a lower lr will not "
                "help."
            )
        rows = ~self.overflow
        if rows.any():
            details = ""
            if self.final_loss is not None and self.psnr is not None:
                details = " (final loss {}, PSNR {} dB)".format(
                    _values(self.final_loss[rows], "{:.3g}"),
                    _values(self.psnr[rows], "{:.1f}"),
                )
            parts.append(
                f"The INR fit diverged for {int(rows.sum())} image(s) at "
                f"positions {_positions(self.indices[rows])}{details} with "
                f"lr={lr:g}: the loss became NaN or infinite, or ended far above "
                "its start. Lower the learning rate (e.g. by 10x); for SIREN, a "
                "smaller omega_0 also helps."
            )
        super().__init__(" ".join(parts))


class DivergenceWarning(UserWarning):
    """Some fits diverged, and ``on_divergence="warn"`` asked to go on.

    The message is that of :class:`INRDivergenceError`.

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> from sklearn_inr import DivergenceWarning, fit_inrs
    >>> images = np.full((2, 4, 4), 0.5)
    >>> images[1] = 1e30
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     result = fit_inrs(images, loss="mse", hidden_features=4,
    ...                       hidden_layers=1, n_steps=1, on_divergence="warn")
    >>> any(w.category is DivergenceWarning for w in caught)
    True
    """


def _positions(indices, most=20) -> str:
    shown = ", ".join(map(str, indices[:most]))
    more = "" if len(indices) <= most else f" and {len(indices) - most} more"
    return f"[{shown}]{more}"


def _values(values, form, most=5) -> str:
    shown = ", ".join(form.format(v) for v in values[:most])
    return f"[{shown}{', ...' if len(values) > most else ''}]"


class LabelLeakWarning(UserWarning):
    """Features were fitted from label-dependent initialisations.

    Raised by :meth:`INRFeaturizer.fit_transform` with
    ``warm_start_by_class=True``: the training features then carry their
    label through their starting point, and new images transformed without
    labels do not, so a classifier trained on them learns the leak.

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> from sklearn_inr import INRFeaturizer, LabelLeakWarning
    >>> images = np.random.default_rng(0).uniform(size=(4, 4, 4))
    >>> featurizer = INRFeaturizer(hidden_features=4, hidden_layers=1, n_steps=1,
    ...                            warm_start_by_class=True, random_state=0)
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     _ = featurizer.fit_transform(images, [0, 1, 0, 1])
    >>> caught[0].category is LabelLeakWarning
    True
    """


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
# scikit-learn's decorators around our public functions and fit methods
# (validate_params, _fit_context, the set_output wrappers): their frames are
# not the user's either.
_WRAPPERS = {
    "sklearn.base",
    "sklearn.utils._param_validation",
    "sklearn.utils._set_output",
}


def user_stacklevel() -> int:
    """The ``stacklevel`` of the first caller outside sklearn-inr.

    Call it in the function that calls :func:`warnings.warn`: the warning then
    points at the user's line, however deep in the package it was raised
    (``fit_inrs`` and ``INRFeaturizer.fit`` reach the runner through
    different depths). In a worker thread, where no frame is the user's, it
    points at the outermost frame.
    """
    frame, level = sys._getframe(1), 1
    while frame.f_back is not None and (
        frame.f_code.co_filename.startswith(_PACKAGE_DIR)
        or frame.f_globals.get("__name__") in _WRAPPERS
    ):
        frame, level = frame.f_back, level + 1
    return level
