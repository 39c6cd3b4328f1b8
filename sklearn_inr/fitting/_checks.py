"""Checks of image arrays, shared by the functions and the estimators.

Parameters are checked at the door (``validate_params`` and
``_parameter_constraints``); these functions check the data, and each rule
has one message.
"""

from __future__ import annotations

import numpy as np

from ..core import get_loss

__all__ = ["check_images", "check_intensity_range"]


def check_intensity_range(images: np.ndarray, loss: str) -> None:
    """Raise if ``loss`` needs a range (BCE: [0, 1]) that the images leave."""
    target_range = get_loss(loss).target_range
    if target_range is None:
        return
    low, high = images.min(), images.max()
    if low < target_range[0] or high > target_range[1]:
        raise ValueError(
            f"loss={loss!r} needs intensities in [{target_range[0]:g}, "
            f"{target_range[1]:g}], got values in [{_shortest(low)}, "
            f"{_shortest(high)}]. Rescale the images (e.g. divide each by its "
            "maximum, or "
            "sklearn.preprocessing.minmax_scale per image) or use loss='mse'."
        )


def _shortest(value) -> str:
    """The shortest text that reads back as ``value`` in its own dtype.

    ``1 + 1 ulp`` must not print as ``1`` (``:g`` keeps 6 digits); whole
    numbers print without ``.0``.
    """
    text = str(value)
    return text[:-2] if text.endswith(".0") else text


def check_images(images, loss: str = "bce", out_features=None) -> np.ndarray:
    """Validate images and return them as ``(n, H, W, C)`` float arrays.

    With ``out_features``, the images must have that many channels (those
    of a given network).
    """
    images = np.asarray(images)
    if images.dtype == object or not (
        np.issubdtype(images.dtype, np.floating)
        or np.issubdtype(images.dtype, np.integer)
        or images.dtype == bool
    ):
        raise ValueError(f"images must be numeric, got dtype {images.dtype}.")
    if images.ndim not in (3, 4):
        raise ValueError(
            "images must have shape (n_images, H, W) or (n_images, H, W, C), got "
            f"shape {images.shape}."
        )
    if images.size == 0:
        raise ValueError(f"Got no pixels to fit: images have shape {images.shape}.")
    if not np.issubdtype(images.dtype, np.floating):
        images = images.astype(np.float32)
    bad = ~np.isfinite(images).reshape(len(images), -1).all(axis=1)
    if bad.any():
        raise ValueError(
            f"images contain NaN or infinite values (image positions "
            f"{np.flatnonzero(bad)[:20].tolist()}); fill or drop them first."
        )
    check_intensity_range(images, loss)
    if images.ndim == 3:
        images = images[..., np.newaxis]
    if out_features is not None and images.shape[-1] != out_features:
        raise ValueError(
            f"images have {images.shape[-1]} channel(s) but spec.out_features="
            f"{out_features}."
        )
    return images
