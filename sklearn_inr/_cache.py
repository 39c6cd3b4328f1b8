"""On-disk cache of fitted INRs, one file per (image, fit settings) pair.

Keys are :func:`joblib.hash` digests of numpy arrays and plain Python values
only: torch tensors do not pickle to stable bytes, so they never enter a key.
Files are written to a temporary name and renamed, so an interrupted run
never leaves a half-written entry, and workers sharing one cache folder (a
Dask cluster on a shared file system) can read and write it concurrently.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import joblib
import numpy as np

_FIELDS = ("theta", "loss_history", "output")


class ThetaCache:
    """Per-image store of theta, loss history and reconstruction.

    Parameters
    ----------
    location : str or path-like
        Folder of the cache; ``sklearn_inr/theta`` is created under it, so
        one folder can be shared with other :class:`joblib.Memory` caches.
    """

    def __init__(self, location):
        self.root = Path(location) / "sklearn_inr" / "theta"

    @classmethod
    def from_memory(cls, memory) -> ThetaCache | None:
        """``None``, a folder or a :class:`joblib.Memory` -> cache (or None)."""
        if memory is None:
            return None
        if isinstance(memory, joblib.Memory):
            return None if memory.location is None else cls(memory.location)
        if isinstance(memory, str | os.PathLike):
            return cls(memory)
        raise TypeError(
            "memory must be None, a folder path or a joblib.Memory, got "
            f"{type(memory).__name__}."
        )

    @staticmethod
    def key(image: np.ndarray, settings: dict) -> str:
        """Digest of the image bytes (with dtype and shape) and the settings."""
        image = np.ascontiguousarray(image)
        return joblib.hash((image.dtype.str, image.shape, image.tobytes(), settings))

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.npz"

    def load(self, key: str) -> dict | None:
        path = self._path(key)
        try:
            with np.load(path) as data:
                return {name: data[name] for name in _FIELDS}
        except (FileNotFoundError, OSError, KeyError, ValueError):
            # Missing, or unreadable (e.g. a foreign file): treat as a miss and
            # let the next save overwrite it.
            return None

    def save(self, key: str, **arrays: np.ndarray) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **{name: arrays[name] for name in _FIELDS})
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
