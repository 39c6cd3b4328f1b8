"""Finding BraTS case folders and reading one case's NIfTI volumes.

Everything that touches the file system lives here, so the loader in ``_brats.py``
only sees validated numpy arrays and every bad input is reported in one place,
with the file that caused it and what to do about it.
"""

import gzip
import numbers
import os
import re
import struct
import warnings
import zlib
from math import prod
from pathlib import Path

import nibabel as nib
import numpy as np

MODALITIES = ("flair", "t1", "t1ce", "t2")
SEG_LABELS = (0, 1, 2, 4)
# Compressed first: it is what the BraTS archives ship.
SUFFIXES = (".nii.gz", ".nii")
# "BraTS2021_00000" (2021), "BraTS20_Training_001" (2020): a prefix, then digits.
# Requiring trailing digits keeps a container such as "BraTS2021_Training_Data"
# from being mistaken for a case.
_CASE_DIR = re.compile(r"^BraTS[A-Za-z0-9_-]*_\d+$")
_SKIP_HINT = "or pass on_error='skip' to load the other patients"
# The largest volume read: 512 voxels a side (BraTS volumes are 240 x 240 x
# 155, 9 million voxels). A header is checked against it, and against the
# file's own size, before any voxel is read: a 1 KB file that claims
# 2000 x 1000 x 1000 voxels must not cost gigabytes to refuse.
MAX_VOXELS = 512**3
# What the loaders do with a patient whose files are bad.
ON_ERROR = ("raise", "skip")


def find_case_dirs(root):
    """Return the sorted BraTS case folders under ``root``.

    Case folders are looked for directly in ``root`` and, when there are none,
    one level down (``root/BraTS2021_Training_Data/BraTS2021_00000``).
    """
    root = check_root(
        root, "BraTS", "the BraTS2021_XXXXX case folders",
        "(or the folder one level above it)",
    )  # fmt: skip
    cases = _case_dirs_in(root)
    if not cases:
        for child in sorted(p for p in root.iterdir() if p.is_dir()):
            cases.extend(_case_dirs_in(child))
    if not cases:
        content = "is empty" if not any(root.iterdir()) else "holds no BraTS folders"
        raise FileNotFoundError(
            f"BraTS root {str(root)!r} {content}: expected case folders named like "
            "'BraTS2021_00000' holding 'BraTS2021_00000_flair.nii.gz', ..., "
            "'BraTS2021_00000_seg.nii.gz', directly in the root or one level down. "
            "Point `root` at the extracted BraTS training data, or write a synthetic "
            "cohort with sklearn_inr.datasets.make_brats_like(root)."
        )
    sort_unique_cases(cases)
    return cases


def check_root(root, dataset: str, holds: str, above: str) -> Path:
    """``root`` as an existing folder, or an error saying what to pass.

    ``holds`` names what the folder should hold ("the patientNNN folders")
    and ``above`` where else it may point ("(or the folder one level above
    it)"), for the messages of each loader.
    """
    if not isinstance(root, str | os.PathLike):
        raise ValueError(
            f"root must be a folder path (str or pathlib.Path), got "
            f"{type(root).__name__}."
        )
    root = Path(root).expanduser()
    if not root.exists():
        raise FileNotFoundError(
            f"{dataset} root {str(root)!r} does not exist. Pass the folder that "
            f"holds {holds} {above}."
        )
    if not root.is_dir():
        raise NotADirectoryError(
            f"{dataset} root {str(root)!r} is a file, not a folder. Pass the folder "
            f"that holds {holds}."
        )
    return root


def sort_unique_cases(cases: list) -> None:
    """Sort patient folders by name, in place; refuse a patient found twice.

    Two folders for one patient (two collections under one root) would put
    it in two cross-validation groups.
    """
    cases.sort(key=lambda p: (p.name, str(p)))
    for first, second in zip(cases, cases[1:]):
        if first.name == second.name:
            raise ValueError(
                f"Patient {first.name} appears twice: {str(first)!r} and "
                f"{str(second)!r}. Point `root` at only one of the two collections."
            )


def check_common_loader_params(percentiles, on_error) -> None:
    """The checks of the loaders' shared ``percentiles`` and ``on_error``."""
    try:
        lo, hi = (float(p) for p in percentiles)
    except (TypeError, ValueError):
        lo = hi = np.nan
    if not 0 <= lo < hi <= 100:
        raise ValueError(
            f"percentiles must be (low, high) with 0 <= low < high <= 100; "
            f"got {percentiles!r}."
        )
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {ON_ERROR}; got {on_error!r}.")


def check_modality(modality, allow_all: bool = False) -> list:
    """``modality`` (a name or a list of distinct names) as a list of names.

    With ``allow_all``, ``"all"`` stands for the four modalities in
    :data:`MODALITIES` order.
    """
    allowed = f"one of {MODALITIES}" + (', "all"' if allow_all else "")
    if allow_all and isinstance(modality, str) and modality == "all":
        return list(MODALITIES)
    modalities = [modality] if isinstance(modality, str) else modality
    if (
        not isinstance(modalities, list | tuple)
        or not modalities
        or any(not isinstance(m, str) or m not in MODALITIES for m in modalities)
        or len(set(modalities)) != len(modalities)
    ):
        raise ValueError(
            f"modality must be {allowed} or a list of distinct ones; got {modality!r}."
        )
    return list(modalities)


def check_size(size, form: str, ndim: int):
    """``size`` (None, an int or ``ndim`` ints) as None or a tuple of ``ndim`` ints.

    ``form`` names the tuple in the message ("a pair (H, W)").
    """
    if size is None:
        return None
    if isinstance(size, numbers.Integral):
        out_size = (size,) * ndim
    elif isinstance(size, tuple | list):
        out_size = tuple(size)
    else:
        out_size = ()  # reported below
    if len(out_size) != ndim or not all(
        isinstance(s, numbers.Integral) and s > 0 for s in out_size
    ):
        raise ValueError(f"size must be None, a positive int or {form}; got {size!r}.")
    return tuple(int(s) for s in out_size)


def _case_dirs_in(folder):
    return [p for p in folder.iterdir() if p.is_dir() and _CASE_DIR.match(p.name)]


def misnamed_dirs(root, case_dirs):
    """Folders beside the case folders whose names are not BraTS case names.

    They are not loaded, so ``load_brats_slices`` lists them in ``skipped``: a
    renamed or copied case (``patient_01``, ``BraTS2021_00001_copy``) would
    otherwise vanish from the cohort without a word. Only the folders that hold
    case folders are looked at (a container one level down may have any name),
    and hidden folders (``.ipynb_checkpoints``, ``.git``) are not data.

    Returns
    -------
    misnamed : dict
        ``{folder: reason}``, the folder as a path relative to ``root`` (its
        name when it sits directly in ``root``), in sorted order.
    """
    root = Path(root).expanduser()
    misnamed = {}
    for parent in sorted({p.parent for p in case_dirs}):
        for path in sorted(parent.iterdir()):
            if (
                path.is_dir()
                and not path.name.startswith(".")
                and not _CASE_DIR.match(path.name)
            ):
                misnamed[path.relative_to(root).as_posix()] = (
                    f"folder name {path.name!r} is not a BraTS case name such as "
                    "'BraTS2021_00000' ('BraTS...', then '_' and digits at the end); "
                    "rename it to the case id its files carry to load it"
                )
    return misnamed


def skip_patient(skipped: dict, pid: str, reason, stacklevel: int) -> None:
    """Leave patient ``pid`` out (``on_error="skip"``): record why, and warn.

    ``stacklevel`` is the caller's own (as it would pass to
    :func:`warnings.warn`); this function adds its frame.
    """
    skipped[pid] = str(reason)
    warnings.warn(
        f"Skipping patient {pid}: {reason}", UserWarning, stacklevel=stacklevel + 1
    )


def warn_misnamed_dirs(root, case_dirs, stacklevel: int) -> dict:
    """:func:`misnamed_dirs`, with one warning for all of them (if any).

    One warning for all: a download with many stray folders should not bury
    the per-patient warnings that follow. ``stacklevel`` is the one that
    points at the user's call of the loader.
    """
    skipped = misnamed_dirs(root, case_dirs)
    if skipped:
        shown = ", ".join(list(skipped)[:5]) + (", ..." if len(skipped) > 5 else "")
        warnings.warn(
            f"Ignoring {len(skipped)} folder(s) under {str(root)!r} whose names are "
            f"not BraTS case names such as 'BraTS2021_00000': {shown}. Rename them "
            "to load them; they are listed with the reason in the returned "
            "Bunch's `skipped`.",
            UserWarning,
            stacklevel=stacklevel,
        )
    return skipped


def case_file(case_dir, kind):
    """Path of ``<case>_<kind>.nii.gz`` (or ``.nii``) in ``case_dir``."""
    case_dir = Path(case_dir)
    for suffix in SUFFIXES:
        path = case_dir / f"{case_dir.name}_{kind}{suffix}"
        if path.is_file():
            return path
    expected = case_dir / f"{case_dir.name}_{kind}.nii.gz"
    raise FileNotFoundError(
        f"Missing {kind} file for patient {case_dir.name}: expected {str(expected)!r} "
        f"(or '.nii'). Re-extract this case from the BraTS archive, {_SKIP_HINT}."
    )


def _check_gzip(path) -> None:
    """Read a .gz file to its end, so that gzip checks its CRC and length.

    nibabel reads only the bytes the image needs and never reaches the gzip
    trailer, so a damaged byte would otherwise load as wrong intensities.
    """
    with gzip.open(path, "rb") as file:
        while file.read(1 << 22):
            pass


def read_volume(path, ndim: int = 3):
    """Read one ``ndim``-D image as stored on disk (no cast to float64).

    With ``ndim=3`` (a volume), a 4-D file whose extra axes all have length 1
    is squeezed to 3-D: it holds one volume, just saved with a singleton time
    axis. ``ndim=4`` reads a cine file ``(x, y, z, t)`` with the same checks.
    """
    try:
        img = nib.load(path)  # the header only: the voxels are read below
    except Exception as exc:  # nibabel, gzip and zlib each raise their own types
        raise ValueError(
            f"Could not read {str(path)!r} ({type(exc).__name__}: {exc}). The file is "
            f"corrupt or truncated: re-download or re-extract it, {_SKIP_HINT}."
        ) from exc
    shape = tuple(int(n) for n in img.shape)
    if ndim == 3 and len(shape) > 3 and all(n == 1 for n in shape[3:]):
        shape = shape[:3]
    if len(shape) != ndim and ndim != 3:
        raise ValueError(
            f"{str(path)!r} holds a {len(shape)}-D image of shape {img.shape}; a "
            f"{ndim}-D image is expected. Replace it, {_SKIP_HINT}."
        )
    if len(shape) != ndim:
        raise ValueError(
            f"{str(path)!r} holds a {len(shape)}-D volume of shape {img.shape}; a 3-D "
            "(x, y, z) volume is expected. Pass the per-modality BraTS files, or save "
            "one 3-D volume per file (e.g. nibabel's img.slicer[..., 0]), "
            f"{_SKIP_HINT}."
        )
    _check_declared_size(path, img, shape)
    try:
        # dataobj keeps the on-disk dtype (int16 for BraTS images, uint8 for segs):
        # a quarter of the memory and time of get_fdata's float64.
        data = np.asanyarray(img.dataobj).reshape(shape)
        if str(path).endswith(".gz"):
            _check_gzip(path)
    except MemoryError as exc:
        # A ValueError naming the file, so that on_error="skip" applies; it
        # is the machine, not the file, that falls short.
        raise ValueError(
            f"Could not read {str(path)!r}: its {' x '.join(map(str, shape))} "
            "voxels do not fit in the memory left. Free memory, or load fewer "
            f"patients at a time (n_patients=), {_SKIP_HINT}."
        ) from exc
    except Exception as exc:  # nibabel, gzip and zlib each raise their own types
        raise ValueError(
            f"Could not read {str(path)!r} ({type(exc).__name__}: {exc}). The file is "
            f"corrupt or truncated: re-download or re-extract it, {_SKIP_HINT}."
        ) from exc
    if data.dtype.kind == "f" and not np.isfinite(data).all():
        raise ValueError(
            f"{str(path)!r} contains NaN or infinite values. Re-export the volume with "
            f"finite intensities (background 0), {_SKIP_HINT}."
        )
    return data


def _check_declared_size(path, img, shape) -> None:
    """Refuse a header whose volume is too large, or larger than its file.

    A ``.nii`` must hold its header's bytes. A ``.nii.gz`` records its
    uncompressed size (modulo 2**32) in its last four bytes: when that matches
    the header's, nothing is decompressed; when it does not (several gzip
    members, trailing bytes), the file is decompressed as a stream, counting
    bytes and keeping none, up to the header's size.
    """
    n_voxels = prod(shape)
    if n_voxels > MAX_VOXELS:
        raise ValueError(
            f"{str(path)!r} declares a volume of {' x '.join(map(str, shape))} "
            f"voxels, more than the {MAX_VOXELS:,} (512 a side) this loader "
            "reads. BraTS volumes are 240 x 240 x 155: check the file, or "
            f"downsample it first, {_SKIP_HINT}."
        )
    header = img.header
    n_bytes = img.dataobj.offset + n_voxels * header.get_data_dtype().itemsize
    file_size = os.path.getsize(path)
    if str(path).endswith(".gz"):
        with open(path, "rb") as file:
            file.seek(max(0, file_size - 4))
            (stored,) = struct.unpack("<I", file.read(4).rjust(4, b"\0"))
        matches = stored == n_bytes % 2**32 or _gzip_holds(path, n_bytes)
    else:
        matches = file_size >= n_bytes
    if not matches:
        raise ValueError(
            f"Could not read {str(path)!r}: its header declares "
            f"{' x '.join(map(str, shape))} voxels of {header.get_data_dtype()} "
            f"({n_bytes:,} bytes), which the file does not hold. The file is "
            f"corrupt or truncated: re-download or re-extract it, {_SKIP_HINT}."
        )


def _gzip_holds(path, n_bytes: int) -> bool:
    """Whether ``path`` decompresses to at least ``n_bytes`` (streamed, kept none)."""
    total = 0
    try:
        with gzip.open(path, "rb") as file:
            while total < n_bytes:
                chunk = file.read(min(1 << 22, n_bytes - total))
                if not chunk:
                    break
                total += len(chunk)
    except (OSError, EOFError, zlib.error):
        return False
    return total >= n_bytes


def read_case(case_dir, modalities):
    """Read and validate one case: a list of modality volumes and the seg.

    All files are read (once each) before anything is checked against another, so
    the first error is about the first bad file, in a fixed order.
    """
    case_dir = Path(case_dir)
    paths = [case_file(case_dir, m) for m in modalities]
    seg_path = case_file(case_dir, "seg")
    volumes = [read_volume(p) for p in paths]
    seg = read_volume(seg_path)
    for path, volume in zip(paths, volumes):
        if volume.shape != seg.shape:
            raise ValueError(
                f"Shape mismatch in patient {case_dir.name}: {path.name} is "
                f"{volume.shape} but {seg_path.name} is {seg.shape}. The modalities "
                "and the seg must be co-registered on one grid; resample them to the "
                f"same grid, {_SKIP_HINT}."
            )
    if not _valid_labels(seg):
        bad = np.ones(seg.shape, dtype=bool)
        for label in SEG_LABELS:
            bad &= seg != label
        found = np.unique(seg[bad])
        shown = ", ".join(f"{v:g}" for v in found[:10])
        raise ValueError(
            f"{str(seg_path)!r} has labels outside {{0, 1, 2, 4}}: {shown}. BraTS2021 "
            "segs use 1 necrotic core, 2 oedema, 4 enhancing tumour; remap your labels "
            f"to these (BraTS 2023 files use 3 for enhancing tumour: map 3 -> 4), "
            f"{_SKIP_HINT}."
        )
    return volumes, seg


def _valid_labels(seg):
    """Whether every seg voxel is 0, 1, 2 or 4, without sorting 9 million voxels."""
    if seg.dtype.kind in "iub":
        # Integers in [0, 4] other than 3: two reductions and one comparison.
        return seg.min() >= 0 and seg.max() <= 4 and not (seg == 3).any()
    valid = seg == SEG_LABELS[0]
    for label in SEG_LABELS[1:]:
        valid |= seg == label
    return bool(valid.all())
