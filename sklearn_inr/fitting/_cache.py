"""On-disk store of fitted arrays, one ``.npz`` file per key; never unpickled.

Keys are digests (:func:`~sklearn_inr.fitting._seeds.content_digest`) of numpy
arrays and plain Python values only. Every entry stores its own key and a
checksum of its arrays, and a load checks them, the fields, their shapes and
their finiteness: a truncated, foreign or damaged file is a miss, refitted
and overwritten, never an error or a wrong answer. Only zip archives reach
``np.load``, with ``allow_pickle=False``, so a planted pickle is never
executed. Files are written to a temporary name and renamed, so an
interrupted run never leaves a half-written entry, and workers sharing one
folder (a Dask cluster on a shared file system) can read and write it
concurrently.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
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
        self.n_damaged = 0

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

    def load(self, key: str, shapes) -> dict | None:
        """The arrays stored under ``key``, or None if absent or not trustworthy.

        Parameters
        ----------
        key : str
        shapes : dict or sequence of str
            The expected shape of each field (``None``: any shape), or just
            the fields' names.

        Returns
        -------
        arrays : dict or None
            None when there is no entry, and also when the entry is truncated,
            unreadable, of another key, of the wrong fields, shapes or
            checksum, or non-finite; those damaged entries are counted in
            :attr:`n_damaged` (a later :meth:`save` overwrites them).
        """
        path = self._path(key)
        if not path.exists():
            return None
        if not isinstance(shapes, dict):
            shapes = dict.fromkeys(shapes)
        arrays = self._read(path, key, shapes)
        if arrays is None:
            self.n_damaged += 1
        return arrays

    def warn_damaged(self) -> None:
        """One warning counting the damaged entries met so far, if any."""
        if self.n_damaged:
            entries = "entry" if self.n_damaged == 1 else "entries"
            warnings.warn(
                f"{self.n_damaged} cache {entries} in {self.root} could not be "
                "trusted (truncated, unreadable, of the wrong shape or checksum, "
                "non-finite or of another key); they are refitted and "
                "overwritten.",
                UserWarning,
                stacklevel=4,
            )

    def _read(self, path, key, shapes):
        try:
            with open(path, "rb") as file:
                # Only a zip archive (.npz) reaches np.load: a .npy or a pickle
                # planted at an entry's path is a miss, whatever it holds.
                if file.read(4) != _ZIP_MAGIC:
                    return None
                file.seek(0)
                with np.load(file, allow_pickle=False) as data:
                    if str(data["__key__"]) != key:
                        return None
                    checksum = str(data["__checksum__"])
                    stored = {
                        name: data[name]
                        for name in data.files
                        if name not in ("__key__", "__checksum__")
                    }
            arrays = {name: stored[name] for name in shapes}
        except Exception:  # noqa: BLE001
            # Truncated, damaged or foreign, whatever the error its bytes
            # raise: a miss, overwritten by the next save.
            return None
        if checksum != _checksum(stored):
            return None
        for name, array in arrays.items():
            if shapes[name] is not None and array.shape != tuple(shapes[name]):
                return None
            if np.issubdtype(array.dtype, np.floating) or np.iscomplexobj(array):
                if not np.isfinite(array).all():
                    return None
        return arrays

    def save(self, key: str, **arrays: np.ndarray) -> None:
        """Store ``arrays`` under ``key`` with the key and their checksum."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(
                    f,
                    __key__=np.str_(key),
                    __checksum__=np.str_(_checksum(arrays)),
                    **arrays,
                )
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _checksum(arrays: dict) -> str:
    """Digest of the fields' names, dtypes, shapes and bytes."""
    digest = hashlib.blake2b(digest_size=16)
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}:{array.dtype.str}:{array.shape};".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()
