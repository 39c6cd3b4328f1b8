"""Image input of the estimators: 2-D rows with ``image_shape``, or image arrays."""

from __future__ import annotations

import math
import warnings
from numbers import Integral
from typing import NamedTuple

import numpy as np
from sklearn.utils.validation import FLOAT_DTYPES, check_array, validate_data

from .._exceptions import user_stacklevel
from ..fitting import check_intensity_range, image_layouts, warn_ambiguous_channels

__all__ = ["MIN_PIXELS", "ImageInput", "flat_image_shape", "validate_images"]

# Images with fewer pixels than this get a warning.
MIN_PIXELS = 4


class ImageInput(NamedTuple):
    """What :func:`validate_images` learned from X.

    The estimator keeps what it needs (with ``reset=True``: ``image_shape``
    as ``image_shape_`` and ``was_2d``, to give 2-D rows back in
    ``inverse_transform``); this module never sets its attributes.
    """

    images: np.ndarray
    """The images, of shape ``(n_images, H, W[, C])`` (volumes:
    ``(n_images, D, H, W[, C])``)."""
    image_shape: tuple
    """``(H, W)`` or ``(H, W, C)`` (volumes: ``(D, H, W)`` or
    ``(D, H, W, C)``): read from X with ``reset=True``, else the fitted
    ``image_shape_``."""
    was_2d: bool
    """Whether X was 2-D rows of flattened images."""


def validate_images(
    estimator, X, *, reset: bool, loss=None, spatial_ndim: int = 2
) -> ImageInput:
    """Check X for ``estimator`` and return its images ``(n, H, W[, C])``.

    ``spatial_ndim`` leading axes of each image are space (3: volumes
    ``(n, D, H, W[, C])``), the rest channels. With ``reset``, the image
    shape is read from X (and ``image_shape``), and channels that look
    like a misread spatial axis warn (``warn_ambiguous_channels``);
    otherwise X must hold images of the fitted ``image_shape_``. The
    intensities are checked for ``loss`` (default: ``estimator.loss``; a
    fitted estimator passes the loss it was fitted with). Like
    :func:`~sklearn.utils.validation.validate_data`, which it calls, it
    records ``n_features_in_`` (and ``feature_names_in_``) when ``reset``;
    the shape it learned is returned, for the estimator to keep. Error
    messages never print the data.
    """
    if isinstance(X, list | tuple):
        if not len(X):
            raise ValueError(
                _NO_IMAGES.format(
                    what=f"an empty {type(X).__name__}",
                    layouts=image_layouts(spatial_ndim),
                )
            )
        X = _stack_images(X, spatial_ndim)
    dtype = getattr(X, "dtype", None)
    if dtype is not None and np.issubdtype(dtype, np.complexfloating):
        raise ValueError(
            "Complex data not supported: an INR fits real intensities; pass "
            "np.abs(X) (magnitude) or X.real."
        )
    if len(getattr(X, "shape", (0, 0))) < 2:
        raise ValueError(_low_dimensional(X, spatial_ndim))
    if isinstance(X, np.ndarray) and X.ndim > 2:
        X = check_array(
            X,
            allow_nd=True,
            dtype=FLOAT_DTYPES,
            ensure_min_features=1,
            input_name="X",
        )
        if reset and X.ndim not in (spatial_ndim + 1, spatial_ndim + 2):
            raise ValueError(_wrong_ndim(X.shape, spatial_ndim))
        shape, was_2d = X.shape[1:], False
        if not reset and tuple(shape) != estimator.image_shape_:
            raise ValueError(
                f"X holds images of shape {tuple(shape)}, but "
                f"{type(estimator).__name__} was fitted on images of shape "
                f"{estimator.image_shape_}."
            )
        validate_data(
            estimator, X.reshape(len(X), -1), reset=reset, skip_check_array=True
        )
    else:
        X = validate_data(estimator, X, reset=reset, dtype=FLOAT_DTYPES)
        shape = (
            flat_image_shape(estimator.image_shape, X.shape[1], spatial_ndim)
            if reset
            else estimator.image_shape_
        )
        was_2d = True
    image_shape = tuple(int(n) for n in shape) if reset else estimator.image_shape_
    if 0 in image_shape:
        raise ValueError(
            f"X holds empty images of shape {image_shape}: every image "
            "needs at least one pixel and one channel."
        )
    images = X.reshape(len(X), *image_shape)
    n_pixels = math.prod(image_shape[:spatial_ndim])
    if reset and n_pixels < MIN_PIXELS:
        warnings.warn(
            f"The images have {n_pixels} pixel(s) "
            f"(shape {image_shape}): each INR then fits more parameters "
            "than there are values, and theta says little about the image.",
            UserWarning,
            stacklevel=user_stacklevel(),
        )
    if reset and not was_2d and len(image_shape) > spatial_ndim:
        # image_shape= states the layout; an array's is read, and may be
        # misread.
        warn_ambiguous_channels(image_shape, spatial_ndim)
    check_intensity_range(images, estimator.loss if loss is None else loss)
    return ImageInput(images, image_shape, was_2d)


_NO_IMAGES = (
    "X holds no images ({what}); pass at least one image, as an array of shape "
    "{layouts}."
)


def _wrong_ndim(shape: tuple, spatial_ndim: int) -> str:
    """What X of ``shape`` is not, under ``spatial_ndim``, and the other reading."""
    axes = "H, W" if spatial_ndim == 2 else "D, H, W"
    message = (
        f"X must be 2-D (n_images, n_pixels) with image_shape, "
        f"{spatial_ndim + 1}-D (n_images, {axes}) or {spatial_ndim + 2}-D "
        f"(n_images, {axes}, C) with spatial_ndim={spatial_ndim}; got shape "
        f"{tuple(shape)}."
    )
    other = 3 if spatial_ndim == 2 else 2
    if len(shape) in (other + 1, other + 2):
        message += (
            f" Read with spatial_ndim={other}, it would be "
            f"{image_layouts(other)}: pass spatial_ndim={other} if that is "
            "its layout."
        )
    if len(shape) == spatial_ndim:
        message += " For one image, pass X[None]."
    return message


def _low_dimensional(X, spatial_ndim: int = 2) -> str:
    """What is wrong with a 0-D or 1-D X, and how to fix it."""
    shape = tuple(X.shape)
    kind = (
        "1-D array"
        if isinstance(X, np.ndarray)
        else f"{type(X).__module__.partition('.')[0]} {type(X).__name__}"
    )
    if len(shape) == 1 and shape[0] == 0:
        return _NO_IMAGES.format(
            what=f"an empty {kind}", layouts=image_layouts(spatial_ndim)
        )
    values = np.asarray(X)
    if values.ndim == 1 and values.dtype == object:
        # A column of images (a 1-D object array, a pandas Series of
        # arrays): the images are there, one level down.
        shapes = {np.shape(value) for value in values}
        first = np.shape(values[0])
        if len(first) >= 2:
            if len(shapes) > 1:
                return (
                    f"X is a {kind} of {len(values)} arrays of different shapes "
                    f"(e.g. {first} and {sorted(shapes - {first})[0]}): resize "
                    "them to one shape, then stack them with np.stack(list(X)) "
                    f"to get {image_layouts(spatial_ndim)}."
                )
            return (
                f"X is a {kind} of {len(values)} objects (arrays of shape "
                f"{first}): stack them with np.stack(list(X)) to get one array "
                f"of shape {(len(values), *first)}."
            )
        return (
            f"X is a {kind} of {len(values)} objects of type "
            f"{type(values[0]).__name__}, not images: pass an array of shape "
            f"{image_layouts(spatial_ndim)}."
        )
    return _wrong_ndim(shape, spatial_ndim).replace(
        f"got shape {tuple(shape)}.", f"got {len(shape)}-D input."
    ) + (
        " Reshape your data: for one image of shape "
        f"{_one_image(spatial_ndim).split(' or ')[0]}, pass X[None]."
    )


def _stack_images(images, spatial_ndim: int = 2) -> np.ndarray:
    """A list of images as one array, or an error naming the first mismatch."""
    shapes = []
    for position, image in enumerate(images):
        try:
            shapes.append(np.shape(image))
        except ValueError:  # a ragged nested list
            raise ValueError(
                f"X[{position}] is not a regular array (its rows have different "
                "lengths); give each image as an array of shape "
                f"{_one_image(spatial_ndim)}."
            ) from None
    for position, shape in enumerate(shapes):
        if shape != shapes[0]:
            raise ValueError(
                f"X is a list of images of different shapes: X[{position}] has "
                f"shape {shape} but X[0] has shape {shapes[0]}. Resize them to one "
                "shape first (e.g. skimage.transform.resize, or "
                "load_brats_slices(size=...))."
            )
    return np.asarray(images)


def _one_image(spatial_ndim: int) -> str:
    """``(H, W) or (H, W, C)``, or the volumes' ``(D, H, W) or (D, H, W, C)``."""
    axes = "H, W" if spatial_ndim == 2 else "D, H, W"
    return f"({axes}) or ({axes}, C)"


def flat_image_shape(image_shape, n_features: int, spatial_ndim: int = 2) -> tuple:
    """The ``(H, W[, C])`` of 2-D X's rows, from ``image_shape``.

    With ``spatial_ndim=3``, the ``(D, H, W[, C])`` of flattened volumes.
    """
    if image_shape is None:
        # A guess (say, square images) would read one (64, 64) image as 64
        # images of 8 x 8: ask instead.
        raise ValueError(
            f"X is 2-D with {n_features} columns: pass image_shape="
            f"{_one_image(spatial_ndim).replace(' or ', ' or image_shape=')} "
            "for rows of flattened images, or give the images as an "
            f"array of shape {image_layouts(spatial_ndim)} (X[None] for one "
            "image)."
        )
    shape = list(image_shape)
    if (
        len(shape) not in (spatial_ndim, spatial_ndim + 1)
        or not all(isinstance(n, Integral) and not isinstance(n, bool) for n in shape)
        or shape.count(-1) > 1
        or any(n < 1 and n != -1 for n in shape)
    ):
        message = (
            f"image_shape must be {_one_image(spatial_ndim)} of positive ints "
            f"with at most one -1, got {image_shape!r}"
        )
        if spatial_ndim == 2 and len(shape) == 4:
            message += "; for volumes (D, H, W, C), pass spatial_ndim=3"
        elif spatial_ndim == 3 and len(shape) == 2:
            message += "; for 2-D images (H, W), pass spatial_ndim=2"
        raise ValueError(message + ".")
    # Python ints: a numpy product could wrap around for huge sizes.
    shape = [int(n) for n in shape]
    known = math.prod(n for n in shape if n != -1)
    if -1 in shape:
        if n_features % known:
            raise ValueError(
                f"X has {n_features} features, which image_shape="
                f"{tuple(image_shape)} cannot hold."
            )
        shape[shape.index(-1)] = n_features // known
    if math.prod(shape) != n_features:
        raise ValueError(
            f"X has {n_features} features but image_shape={tuple(shape)} holds "
            f"{math.prod(shape)}; fix image_shape or X."
        )
    return tuple(shape)
