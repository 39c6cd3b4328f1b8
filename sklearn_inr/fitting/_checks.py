"""Checks of image arrays, shared by the functions and the estimators.

Parameters are checked at the door (``validate_params`` and
``_parameter_constraints``); these functions check the data, and each rule
has one message.
"""

from __future__ import annotations

import warnings

import numpy as np

from .._exceptions import user_stacklevel
from ..core import get_loss

__all__ = [
    "check_images",
    "check_intensity_range",
    "image_layouts",
    "warn_ambiguous_channels",
]

_AXES = {2: "H, W", 3: "D, H, W"}


def image_layouts(spatial_ndim: int) -> str:
    """The two layouts of an image array, for messages.

    ``(n_images, H, W) or (n_images, H, W, C)`` for ``spatial_ndim=2``, the
    same with ``D, H, W`` for volumes.
    """
    axes = _AXES.get(spatial_ndim, f"{spatial_ndim} spatial axes")
    return f"(n_images, {axes}) or (n_images, {axes}, C)"


def warn_ambiguous_channels(image_shape: tuple, spatial_ndim: int) -> bool:
    """Warn when an image's channels look like a misread spatial axis.

    ``image_shape`` is one image's ``(*spatial, C)`` as it was read. Real
    channels (colours, MRI modalities) are few; at least as many channels as
    the smallest spatial side means a layout the reading likely got wrong: a
    channel-first array (``(1, 28, 28)`` read as 1 x 28 pixels with 28
    channels) or a volume read as 2-D images (``(D, H, W)`` as D x H pixels
    with W channels). Returns whether it warned.
    """
    spatial, channels = tuple(image_shape[:spatial_ndim]), image_shape[spatial_ndim]
    if channels < 2 or channels < min(spatial):
        return False
    fixes = "if X is channel-first (n_images, C, ...), pass np.moveaxis(X, 1, -1)"
    if spatial_ndim == 2:
        fixes += (
            "; if X holds volumes (n_images, D, H, W), pass spatial_ndim=3 "
            "(INRFeaturizer or fit_inrs)"
        )
    sides = " x ".join(str(int(n)) for n in spatial)
    warnings.warn(
        f"Images of shape {tuple(int(n) for n in image_shape)} were read as "
        f"{spatial_ndim}-D images of {sides} pixels with {int(channels)} "
        f"channels (spatial_ndim={spatial_ndim}: the first {spatial_ndim} axes "
        "after n_images are space, the rest channels), and the channels are "
        "at least the smallest spatial side. If that is not the layout: "
        f"{fixes}.",
        UserWarning,
        stacklevel=user_stacklevel(),
    )
    return True


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


def check_images(
    images, loss: str = "bce", out_features=None, spatial_ndim: int = 2
) -> np.ndarray:
    """Validate images and return them as ``(n, *spatial, C)`` float arrays.

    ``spatial_ndim`` axes after the first are space (a network's
    ``in_features``): images of ``1 + spatial_ndim`` axes have one channel,
    of ``2 + spatial_ndim`` axes their channels last. With ``out_features``,
    the images must have that many channels (those of a given network).
    Warns when the channels look like a misread spatial axis
    (:func:`warn_ambiguous_channels`).
    """
    images = np.asarray(images)
    if images.dtype == object or not (
        np.issubdtype(images.dtype, np.floating)
        or np.issubdtype(images.dtype, np.integer)
        or images.dtype == bool
    ):
        raise ValueError(f"images must be numeric, got dtype {images.dtype}.")
    if images.ndim not in (spatial_ndim + 1, spatial_ndim + 2):
        raise ValueError(
            f"images must have shape {image_layouts(spatial_ndim)} (spatial_ndim="
            f"{spatial_ndim}, i.e. a network with in_features={spatial_ndim}), got "
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
    if images.ndim == spatial_ndim + 1:
        images = images[..., np.newaxis]
    else:
        warn_ambiguous_channels(images.shape[1:], spatial_ndim)
    if out_features is not None and images.shape[-1] != out_features:
        raise ValueError(
            f"images have {images.shape[-1]} channel(s) but spec.out_features="
            f"{out_features}."
        )
    return images
