"""On-disk store of fitted arrays, one ``.npz`` file per key; never unpickled.

Keys are digests (:func:`~sklearn_inr.fitting._seeds.content_digest`) of numpy
arrays and plain Python values only. Every entry stores its own key and a
checksum of its arrays, and a load checks them, the fields, their shapes and
their finiteness: a truncated, foreign or damaged file is a miss, refitted
and overwritten, never an error or a wrong answer. The checksum detects
damage, not tampering: whoever can write the folder can write a valid entry.

What a load never does, whatever sits at an entry's path:

- unpickle: only zip archives reach ``np.load``, with ``allow_pickle=False``;
- block: only regular files are opened for reading (a FIFO, a device, a
  directory or a symbolic link is a miss), and the open itself cannot wait
  for a writer;
- allocate more than the entry should hold: the archive's member names and
  the shapes and dtypes in their ``.npy`` headers are checked against the
  expected fields before any data is decompressed, so a small file that
  inflates to gigabytes is a miss.

Files are written to a temporary name and renamed, so an interrupted run never
leaves a half-written entry, and workers sharing one folder (a Dask cluster on
a shared file system) can read and write it concurrently. A save that the
file system refuses (a full disk, a read-only folder, a directory at the
entry's path) is skipped with one warning: the fit goes on, uncached.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
import warnings
import zipfile
from math import prod
from pathlib import Path

import joblib
import numpy as np

from .._exceptions import user_stacklevel

__all__ = ["ArrayStore"]

_ZIP_MAGIC = b"PK\x03\x04"
# The two bookkeeping fields every entry holds besides its arrays.
_META_FIELDS = ("__key__", "__checksum__")
# dtype kinds an entry's arrays may have: booleans, integers, floats, complex.
_DATA_KINDS = "biufc"
# Bytes a ``.npy`` member may hold beyond its array: its header (numpy caps
# headers at 10,000 bytes by default).
_NPY_HEADER_MAX = 10_000
# Most bytes the fields of unknown shape of an entry may declare in all.
_UNKNOWN_SHAPE_MAX_BYTES = 64 * 2**20
# Opening with these never follows a link and never waits for a FIFO's writer.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)


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
        self.save_error: OSError | None = None

    @classmethod
    def from_memory(cls, memory, kind: str = "theta") -> ArrayStore | None:
        """``None``, a folder or a :class:`joblib.Memory` -> store (or None)."""
        if memory is None:
            return None
        if isinstance(memory, joblib.Memory):
            return None if memory.location is None else cls(memory.location, kind)
        if isinstance(memory, str | os.PathLike):
            if not os.fspath(memory):
                raise ValueError(
                    "memory='' is an empty path. Pass None for no cache, or "
                    "the folder to cache the fits in."
                )
            return cls(Path(memory).expanduser(), kind)
        raise TypeError(
            "memory must be None, a folder path or a joblib.Memory, got "
            f"{type(memory).__name__}."
        )

    def check_location(self) -> None:
        """Refuse a location that is not a folder; warn if it is read-only.

        Called before any fitting, so a wrong ``memory=`` costs nothing. A
        folder that cannot be written is still read (a shared, read-only
        cache of finished fits is useful): the warning says the new fits will
        not be kept.
        """
        for folder in (self.location, *self.root.parents, self.root):
            if folder.exists() and not folder.is_dir():
                raise ValueError(
                    f"memory={str(self.location)!r}: {folder} is a file, not a "
                    "folder. Pass a folder for the cache (it is created if "
                    "missing), or None for no cache."
                )
        try:  # a real write: permission bits do not stop root, /proc does
            self.root.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=self.root):
                pass
        except OSError as error:
            warnings.warn(
                f"The cache folder {self.root} cannot be written ({error}): "
                "fits found there are reused, new fits are not kept. Pass a "
                "writable folder as memory= to keep them.",
                UserWarning,
                stacklevel=user_stacklevel(),
            )

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.npz"

    def load(self, key: str, shapes, accept=None) -> dict | None:
        """The arrays stored under ``key``, or None if absent or not trustworthy.

        Parameters
        ----------
        key : str
        shapes : dict or sequence of str
            The expected shape of each field (``None``: any shape), or just
            the fields' names.
        accept : callable, default=None
            A last check of the loaded arrays (e.g. how a field's length
            relates to another's); an entry it refuses counts as damaged.

        Returns
        -------
        arrays : dict or None
            None when there is no entry, and also when the entry is truncated,
            unreadable, of another key, of the wrong fields, shapes or
            checksum, or non-finite; those damaged entries are counted in
            :attr:`n_damaged` (a later :meth:`save` overwrites them).
        """
        path = self._path(key)
        if not os.path.lexists(path):
            return None
        if not isinstance(shapes, dict):
            shapes = dict.fromkeys(shapes)
        arrays = self._read(path, key, shapes)
        if arrays is not None and accept is not None and not accept(arrays):
            arrays = None
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
                stacklevel=user_stacklevel(),
            )

    def warn_failed_saves(self, error: OSError | None = None) -> None:
        """One warning if a save was refused by the file system, if any.

        ``error`` is one met by another store of the same folder (a joblib
        worker's); without it, this store's own.
        """
        if error is not None:
            self.save_error = error
        if self.save_error is not None:
            warnings.warn(
                f"Could not write to the cache in {self.root} ({self.save_error}); "
                "the fits went on without caching. Free space or pass a "
                "writable folder as memory= to keep them.",
                UserWarning,
                stacklevel=user_stacklevel(),
            )
            self.save_error = None

    def _read(self, path, key, shapes):
        try:
            fd = os.open(path, _OPEN_FLAGS)
        except OSError:  # a link (O_NOFOLLOW), unreadable, or gone meanwhile
            return None
        try:
            with os.fdopen(fd, "rb") as file:
                if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
                    return None  # a FIFO, a device or a directory
                # Only a zip archive (.npz) reaches np.load: a .npy or a pickle
                # planted at an entry's path is a miss, whatever it holds.
                if file.read(4) != _ZIP_MAGIC:
                    return None
                file.seek(0)
                if not _members_fit(file, shapes):
                    return None
                file.seek(0)
                with np.load(file, allow_pickle=False) as data:
                    if str(data["__key__"]) != key:
                        return None
                    checksum = str(data["__checksum__"])
                    stored = {
                        name: data[name]
                        for name in data.files
                        if name not in _META_FIELDS
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

    def save(self, key: str, **arrays: np.ndarray) -> bool:
        """Store ``arrays`` under ``key`` with the key and their checksum.

        Returns whether the entry was written. A refusal of the file system
        (full disk, read-only folder, a directory at the entry's path) is
        not raised: the first is kept in :attr:`save_error` for
        :meth:`warn_failed_saves`, and the fit it would have cached is not
        lost.
        """
        path = self._path(key)
        tmp = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                np.savez(
                    f,
                    __key__=np.str_(key),
                    __checksum__=np.str_(_checksum(arrays)),
                    **arrays,
                )
            os.replace(tmp, path)
        except OSError as error:
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)
            if self.save_error is None:  # the first says why; the rest repeat it
                self.save_error = error
            return False
        except BaseException:
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)
            raise
        return True


def _checksum(arrays: dict) -> str:
    """Digest of the fields' names, dtypes, shapes and bytes."""
    digest = hashlib.blake2b(digest_size=16)
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}:{array.dtype.str}:{array.shape};".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def _members_fit(file, shapes: dict) -> bool:
    """Whether the archive's members are the fields and sizes ``shapes`` implies.

    Reads the zip directory and each ``.npy`` header only (a few hundred
    bytes): a member that would inflate beyond its field's declared size, an
    object dtype, an unexpected shape or a missing field is refused before
    ``np.load`` decompresses anything.
    """
    unknown_bytes = 0
    with zipfile.ZipFile(file) as archive:
        members = {info.filename: info for info in archive.infolist()}
        names = {name.removesuffix(".npy") for name in members}
        if len(names) != len(members) or not {*_META_FIELDS, *shapes} <= names:
            return False
        for name, info in members.items():
            field = name.removesuffix(".npy")
            with archive.open(info) as member:
                version = np.lib.format.read_magic(member)
                read_header = (
                    np.lib.format.read_array_header_1_0
                    if version == (1, 0)
                    else np.lib.format.read_array_header_2_0
                )
                shape, _, dtype = read_header(member)
            expected = shapes.get(field)
            if field in _META_FIELDS:
                # A key or checksum: one short string.
                if shape != () or dtype.kind != "U" or dtype.itemsize > 4 * 256:
                    return False
            elif dtype.kind not in _DATA_KINDS or dtype.itemsize > 16:
                # Only plain numbers: an object, string or void dtype of the
                # right shape could still declare gigabytes per element.
                return False
            elif expected is not None and shape != tuple(expected):
                return False
            n_bytes = prod(shape) * dtype.itemsize
            if expected is None and field not in _META_FIELDS:
                unknown_bytes += n_bytes
                if unknown_bytes > _UNKNOWN_SHAPE_MAX_BYTES:
                    return False
            if not n_bytes <= info.file_size <= n_bytes + _NPY_HEADER_MAX:
                return False
    return True
