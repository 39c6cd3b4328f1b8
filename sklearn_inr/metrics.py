"""Reconstruction scores."""

from __future__ import annotations

import numpy as np

__all__ = ["binary_entropy", "mean_squared_error_per_image", "psnr"]


def mean_squared_error_per_image(images, reconstructions) -> np.ndarray:
    """Mean squared error of each image, averaged over pixels and channels.

    Parameters
    ----------
    images, reconstructions : array-like of shape (n_images, ...)

    Returns
    -------
    mse : ndarray of shape (n_images,)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_inr import mean_squared_error_per_image
    >>> mean_squared_error_per_image(np.zeros((2, 4)), np.full((2, 4), 0.5))
    array([0.25, 0.25])
    """
    images = np.asarray(images, dtype=np.float64)
    reconstructions = np.asarray(reconstructions, dtype=np.float64)
    if images.shape != reconstructions.shape:
        raise ValueError(
            f"images {images.shape} and reconstructions {reconstructions.shape} "
            "must have the same shape."
        )
    return _per_image((images - reconstructions) ** 2).mean(axis=1)


def psnr(images, reconstructions, data_range: float = 1.0) -> np.ndarray:
    """Peak signal-to-noise ratio of each image, in dB.

    ``PSNR = 10 log10(data_range**2 / MSE)``; a perfect reconstruction gives
    ``inf``.

    Parameters
    ----------
    images, reconstructions : array-like of shape (n_images, ...)
    data_range : float, default=1.0
        Peak-to-peak range of the images (1 for images scaled to [0, 1]).

    Returns
    -------
    psnr : ndarray of shape (n_images,)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_inr import psnr
    >>> psnr(np.zeros((1, 4)), np.full((1, 4), 0.1)).round(6)
    array([20.])
    """
    mse = mean_squared_error_per_image(images, reconstructions)
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(data_range**2 / mse)


def binary_entropy(images) -> np.ndarray:
    """Mean binary entropy of each image's pixels, in nats.

    The floor of the binary cross-entropy loss on soft targets: a
    reconstruction with BCE loss can never go below it, so
    ``loss - binary_entropy(images)`` is how far a fit is from perfect.

    Parameters
    ----------
    images : array-like of shape (n_images, ...)
        Values in [0, 1].

    Returns
    -------
    entropy : ndarray of shape (n_images,)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_inr import binary_entropy
    >>> binary_entropy(np.array([[0.0, 1.0], [0.5, 0.5]])).round(4)
    array([0.    , 0.6931])
    """
    p = _per_image(np.asarray(images, dtype=np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = -(p * np.log(p) + (1 - p) * np.log1p(-p))
    return np.nan_to_num(terms, nan=0.0).mean(axis=1)


def _per_image(array: np.ndarray) -> np.ndarray:
    """``array`` as ``(n_images, values)``; zero images give ``(0, values)``.

    (``reshape(n, -1)`` cannot infer the second axis of an empty array.)
    """
    return array.reshape(len(array), int(np.prod(array.shape[1:])))
