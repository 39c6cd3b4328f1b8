"""Per-image random seeds, from ``random_state`` and the image itself."""

from __future__ import annotations

import joblib
import numpy as np

__all__ = ["content_digest", "image_seeds", "to_seed"]


def to_seed(random_state) -> int | None:
    """An int seed (or None) from an int, a ``RandomState`` or None."""
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(np.iinfo(np.int32).max))
    return random_state


def content_digest(array: np.ndarray, extra=None) -> str:
    """Digest of an array's bytes, dtype and shape, and of ``extra``.

    Only numpy arrays and plain Python values enter it: torch tensors do not
    pickle to stable bytes.
    """
    array = np.ascontiguousarray(array)
    return joblib.hash((array.dtype.str, array.shape, array.tobytes(), extra))


def image_seeds(images: np.ndarray, random_state, spatial_ndim: int = 2) -> np.ndarray:
    """One seed per image from ``random_state`` and the image's own bytes.

    Deriving seeds from content, not position, keeps every image's random
    initialisation the same whatever order or company it comes in.
    ``(n, H, W)`` and ``(n, H, W, 1)`` images get the same seeds (with
    ``spatial_ndim=3``, ``(n, D, H, W)`` and ``(n, D, H, W, 1)`` volumes).
    """
    base = (
        random_state
        if isinstance(random_state, np.random.RandomState)
        else np.random.RandomState(random_state)
    )
    salt = int(base.randint(np.iinfo(np.int32).max))
    if images.ndim == spatial_ndim + 1:
        images = images[..., np.newaxis]
    return np.array(
        [int(content_digest(image, {"salt": salt})[:15], 16) for image in images],
        dtype=np.int64,
    )
