"""On-disk store of fitted arrays, one ``.npz`` file per key; never unpickled.

Keys are digests (:func:`~sklearn_inr._seeds.content_digest`) of numpy
arrays and plain Python values only. Every entry stores its own key, and a
load checks it, the fields and their finiteness: a truncated, foreign or
damaged file is a miss, refitted and overwritten, never an error or a wrong
answer. ``np.load`` runs with ``allow_pickle=False``, so a planted pickle is
never executed. Files are written to a temporary name and renamed, so an
interrupted run never leaves a half-written entry, and workers sharing one
folder (a Dask cluster on a shared file system) can read and write it
concurrently.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import joblib
import numpy as np

__all__ = ["ArrayStore"]

_ZIP_MAGIC = b"PK\x03\x04"


class ArrayStore:
    """Per-key store of named arrays under ``<location>/sklearn_inr/<kind>``.

    Parameters
    ----------
    location : str or path-like
        Folder of the store, shareable with other :class:`joblib.Memory`
        caches.
    kind : str, default="theta"
        Sub-folder: ``"theta"`` for per-image fits, ``"init"`` for learned
        initialisations.
    """

    def __init__(self, location, kind: str = "theta"):
        self.location = Path(location)
        self.root = self.location / "sklearn_inr" / kind

    @classmethod
    def from_memory(cls, memory, kind: str = "theta") -> ArrayStore | None:
        """``None``, a folder or a :class:`joblib.Memory` -> store (or None)."""
        if memory is None:
            return None
        if isinstance(memory, joblib.Memory):
            return None if memory.location is None else cls(memory.location, kind)
        if isinstance(memory, str | os.PathLike):
            return cls(memory, kind)
        raise TypeError(
            "memory must be None, a folder path or a joblib.Memory, got "
            f"{type(memory).__name__}."
        )

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.npz"

    def load(self, key: str, fields) -> dict | None:
        """The arrays stored under ``key``, or None if absent or not trustworthy."""
        try:
            with open(self._path(key), "rb") as file:
                # Only a zip archive (.npz) reaches np.load: a .npy or a pickle
                # planted at an entry's path is a miss, whatever it holds.
                if file.read(4) != _ZIP_MAGIC:
                    return None
                file.seek(0)
                with np.load(file, allow_pickle=False) as data:
                    if str(data["__key__"]) != key:
                        return None
                    arrays = {name: data[name] for name in fields}
        except Exception:  # noqa: BLE001
            # Missing, truncated, damaged or foreign, whatever the error its
            # bytes raise: a miss, overwritten by the next save.
            return None
        if not all(
            np.isfinite(array).all()
            for array in arrays.values()
            if np.issubdtype(array.dtype, np.floating)
        ):
            return None
        return arrays

    def save(self, key: str, **arrays: np.ndarray) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, __key__=np.str_(key), **arrays)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
