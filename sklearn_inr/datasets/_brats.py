"""Load one tumour and one no-tumour axial slice per patient from BraTS2021 folders."""

import numbers
import textwrap
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.utils import Bunch

from ._intensity import brain_percentiles, scale_to_unit
from ._nifti_io import (
    check_common_loader_params,
    check_modality,
    check_size,
    find_case_dirs,
    read_case,
    skip_patient,
    warn_misnamed_dirs,
)
from ._slice_policy import select_slices, slice_counts

_NORMALIZE = ("slice", "volume")


def load_brats_slices(
    root: str | Path,
    modality: str | list[str] = "flair",
    size: int | tuple[int, int] | None = None,
    n_patients: int | None = None,
    *,
    brain_threshold: float = 0.15,
    min_tumor_pixels: int = 1,
    normalize: str = "slice",
    percentiles: tuple[float, float] = (1.0, 99.0),
    on_error: str = "raise",
    return_X_y: bool = False,
) -> Bunch | tuple[np.ndarray, np.ndarray]:
    """Load one tumour and one no-tumour axial slice per BraTS2021 patient.

    Reads BraTS2021 Task 1 case folders with nibabel, picks two axial slices per
    patient with the slice policy described in the Notes, and returns them as
    float32 images in [0, 1] with patient ids for grouped cross-validation.
    The expected layout (``.nii`` files are accepted as well as ``.nii.gz``)::

        root/                          (or root/<any folder>/, one level down)
            BraTS2021_00000/
                BraTS2021_00000_flair.nii.gz
                BraTS2021_00000_t1.nii.gz
                BraTS2021_00000_t1ce.nii.gz
                BraTS2021_00000_t2.nii.gz
                BraTS2021_00000_seg.nii.gz     labels 0, 1, 2, 4
            BraTS2021_00002/
                ...

    Only the requested modalities and the seg are read, each file once. Folders
    beside the case folders whose names do not follow this naming are not
    loaded: one warning gives their count and ``skipped`` lists each.

    Parameters
    ----------
    root : str or path-like
        Folder holding the ``BraTS2021_XXXXX`` case folders, directly or one
        level down. :func:`make_brats_like` writes such a folder.
    modality : {"flair", "t1", "t1ce", "t2"} or list of them, default="flair"
        One modality gives images of shape ``(n, H, W)``; a list gives
        ``(n, H, W, C)`` with the channels in the order of the list.
    size : int or tuple of (int, int), default=None
        Resize every slice to ``(size, size)`` or ``size=(H, W)`` with
        anti-aliased bilinear interpolation (torch), after normalisation.
        ``None`` keeps the native in-plane shape (240 x 240 for BraTS).
    n_patients : int, default=None
        Load the first ``n_patients`` patients, in sorted folder order, that yield
        a slice pair. ``None`` loads all of them.
    brain_threshold : float, default=0.15
        A slice is eligible when its brain fraction (pixels that are nonzero in
        any requested modality, divided by H * W) is at least this value.
    min_tumor_pixels : int, default=1
        The tumour slice must hold at least this many tumour pixels. With real
        240 x 240 data, e.g. 100 keeps only patients with a sizeable tumour
        cross-section.
    normalize : {"slice", "volume"}, default="slice"
        ``"slice"``: min-max scale each slice and channel to [0, 1] (the paper's).
        ``"volume"``: per volume and modality, map the ``percentiles`` of the
        brain voxels to 0 and 1 and clip, so intensities are comparable across
        the slices of a patient and robust to a few hot voxels.
    percentiles : tuple of (float, float), default=(1.0, 99.0)
        Low and high percentiles used by ``normalize="volume"``.
    on_error : {"raise", "skip"}, default="raise"
        What to do with a patient whose files are missing, unreadable or
        inconsistent. ``"raise"`` stops with an error naming the file and the fix;
        ``"skip"`` warns with the same message and loads the other patients.
    return_X_y : bool, default=False
        If True, return ``(images, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the attributes below, two rows per patient
        (tumour slice first), patients in sorted order.

        images : ndarray of shape (n_slices, H, W) or (n_slices, H, W, C)
            float32 intensities in [0, 1]; background is 0.
        target : ndarray of shape (n_slices,)
            1 for the tumour slice, 0 for the no-tumour slice.
        target_names : ndarray of shape (2,)
            ``["no tumour", "tumour"]``.
        groups : ndarray of shape (n_slices,)
            Patient id of each slice, to pass as ``groups=`` to
            :class:`~sklearn.model_selection.StratifiedGroupKFold` so the two
            slices of a patient never land on both sides of a split.
        patient_id : ndarray of shape (n_slices,)
            Case folder name, e.g. ``"BraTS2021_00000"`` (same values as groups).
        slice_index : ndarray of shape (n_slices,)
            Axial index ``z`` of the slice, ``vol[:, :, z]``.
        brain_area : ndarray of shape (n_slices,)
            Brain pixels of the slice at native resolution.
        tumor_pixels : ndarray of shape (n_slices,)
            Tumour pixels (seg label 1, 2 or 4) of the slice at native resolution.
        modality : list of str
            The modalities, in channel order.
        skipped : dict
            ``{patient_id: reason}`` for every patient that was left out, and
            ``{folder: reason}`` for every folder beside the case folders whose
            name is not a BraTS case name (``patient_01``,
            ``BraTS2021_00001_copy``; hidden folders aside), which is not
            loaded. Those folders also raise one warning with their count.
        DESCR : str
            Description of the data and of the options used.

    (images, target) : tuple
        Returned instead when ``return_X_y=True``.

    Raises
    ------
    FileNotFoundError
        If ``root`` holds no BraTS case folders, or (with ``on_error="raise"``) a
        modality or seg file is missing.
    ValueError
        With ``on_error="raise"``: a file is corrupt, is not 3-D, has a shape that
        differs from the seg's, or the seg has labels outside {0, 1, 2, 4}. Also
        when no patient yields a slice pair.

    See Also
    --------
    make_brats_like : Write a synthetic cohort in this layout.

    Notes
    -----
    **Slice policy.** For each patient, on the native axial slices ``vol[:, :, z]``:

    1. a slice is *eligible* when its brain fraction is ``>= brain_threshold``;
    2. the *tumour slice* is the eligible slice with the most tumour pixels, and
       it must have at least ``min_tumor_pixels`` of them;
    3. the *no-tumour slice* is an eligible slice with no tumour pixel whose brain
       area is closest to the tumour slice's (ties: nearest to the tumour slice,
       then lowest ``z``), so brain area and position do not give the label away;
    4. a patient without such a pair is skipped with a warning naming it.

    The order and the choice depend only on the files, so loading is
    deterministic.

    **Speed.** Each requested volume and the seg are read once, in their on-disk
    dtype; only the two chosen slices are converted to float32. Loading FLAIR for
    50 synthetic patients at the real size (240 x 240 x 155, gzip) takes about
    2 s on one CPU core (all four modalities about 6 s); most of it is gzip
    decompression.

    Examples
    --------
    >>> import tempfile
    >>> from sklearn_inr.datasets import load_brats_slices, make_brats_like
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     root = make_brats_like(tmp, n_patients=3, shape=(32, 32, 16))
    ...     data = load_brats_slices(root, modality=["flair", "t2"], size=16)
    >>> data.images.shape, data.images.dtype
    ((6, 16, 16, 2), dtype('float32'))
    >>> data.target
    array([1, 0, 1, 0, 1, 0])
    >>> data.groups[:2]
    array(['BraTS2021_00000', 'BraTS2021_00000'], dtype='<U15')
    """
    modalities, out_size = _check_params(
        modality,
        size,
        n_patients,
        brain_threshold,
        min_tumor_pixels,
        normalize,
        percentiles,
        on_error,
    )
    case_dirs = find_case_dirs(root)
    images, rows = [], []
    skipped = warn_misnamed_dirs(root, case_dirs, stacklevel=3)
    for case_dir in case_dirs:
        if n_patients is not None and len(images) == n_patients:
            break
        pid = case_dir.name
        try:
            volumes, seg = read_case(case_dir, modalities)
        except (OSError, ValueError) as exc:
            if on_error == "raise":
                raise
            skip_patient(skipped, pid, exc, stacklevel=2)
            continue
        brain_area, tumor_pixels = slice_counts(volumes, seg)
        n_pixels = seg.shape[0] * seg.shape[1]
        pair = select_slices(
            brain_area, tumor_pixels, n_pixels, brain_threshold, min_tumor_pixels
        )
        if isinstance(pair, str):
            skipped[pid] = pair
            warnings.warn(
                f"Skipping patient {pid}: {pair}. Lower brain_threshold or "
                "min_tumor_pixels to keep such patients.",
                UserWarning,
                stacklevel=2,
            )
            continue
        slices = _normalize(volumes, pair, normalize, percentiles)
        if out_size is not None:
            slices = resize_slices(slices, out_size)
        elif images and slices.shape[1:3] != images[0].shape[1:3]:
            raise ValueError(
                f"Patient {pid} has {slices.shape[1:3]} slices but "
                f"{rows[0][0]} has {images[0].shape[1:3]}; pass size=(H, W) to "
                "resize all slices to one shape."
            )
        images.append(slices)
        for target, z in zip((1, 0), pair):
            rows.append((pid, target, z, brain_area[z], tumor_pixels[z]))
    if not images:
        raise ValueError(
            f"No patient under {str(root)!r} yielded a tumour / no-tumour slice pair "
            f"({len(skipped)} skipped; see the warnings). Lower brain_threshold="
            f"{brain_threshold} or min_tumor_pixels={min_tumor_pixels}, or check "
            "the files."
        )
    images = np.concatenate(images)
    if isinstance(modality, str):
        images = images[..., 0]
    pid, target, z, area, tumor = (np.asarray(col) for col in zip(*rows))
    if return_X_y:
        return images, target
    return Bunch(
        images=images,
        target=target.astype(np.int64),
        target_names=np.array(["no tumour", "tumour"]),
        groups=pid.copy(),
        patient_id=pid,
        slice_index=z.astype(np.int64),
        brain_area=area.astype(np.int64),
        tumor_pixels=tumor.astype(np.int64),
        modality=list(modalities),
        skipped=skipped,
        DESCR=_descr(
            root,
            modalities,
            images,
            len(pid) // 2,
            skipped,
            brain_threshold,
            min_tumor_pixels,
            normalize,
            percentiles,
        ),
    )


def _check_params(
    modality,
    size,
    n_patients,
    brain_threshold,
    min_tumor_pixels,
    normalize,
    percentiles,
    on_error,
):
    modalities = check_modality(modality)
    out_size = check_size(size, "a pair (H, W)", 2)
    if n_patients is not None and not (
        isinstance(n_patients, numbers.Integral) and n_patients > 0
    ):
        raise ValueError(
            f"n_patients must be None or a positive int; got {n_patients!r}."
        )
    if not (isinstance(brain_threshold, numbers.Real) and 0 <= brain_threshold <= 1):
        raise ValueError(
            f"brain_threshold must be a fraction in [0, 1]; got {brain_threshold!r}."
        )
    if not (isinstance(min_tumor_pixels, numbers.Integral) and min_tumor_pixels >= 1):
        raise ValueError(
            f"min_tumor_pixels must be an int >= 1; got {min_tumor_pixels!r}."
        )
    if normalize not in _NORMALIZE:
        raise ValueError(f"normalize must be one of {_NORMALIZE}; got {normalize!r}.")
    check_common_loader_params(percentiles, on_error)
    return modalities, out_size


def _normalize(volumes, pair, normalize, percentiles):
    """The two slices of ``pair`` as float32 (2, H, W, C) in [0, 1]."""
    slices = np.stack(
        [np.stack([v[:, :, z] for v in volumes], axis=-1) for z in pair]
    ).astype(np.float32)
    if normalize == "slice":
        lo = slices.min(axis=(1, 2), keepdims=True)
        hi = slices.max(axis=(1, 2), keepdims=True)
    else:
        lo, hi = brain_percentiles(volumes, percentiles)
    return scale_to_unit(slices, lo, hi)


def resize_slices(slices, out_size):
    """Anti-aliased bilinear resize of (n, H, W, C) float32 slices."""
    if slices.shape[1:3] == out_size:
        return slices
    tensor = torch.from_numpy(np.ascontiguousarray(slices.transpose(0, 3, 1, 2)))
    resized = torch.nn.functional.interpolate(
        tensor, size=out_size, mode="bilinear", antialias=True, align_corners=False
    )
    # Bilinear weights are convex, so the range stays [0, 1] up to rounding.
    return resized.clamp_(0, 1).permute(0, 2, 3, 1).contiguous().numpy()


def _descr(
    root,
    modalities,
    images,
    n_loaded,
    skipped,
    brain_threshold,
    min_tumor_pixels,
    normalize,
    percentiles,
):
    norm = (
        "per-slice min-max"
        if normalize == "slice"
        else f"per-volume robust percentiles {tuple(percentiles)} of brain voxels"
    )
    policy = textwrap.fill(
        "Slice policy: eligible slices have a brain fraction >= "
        f"{brain_threshold}; the tumour slice is the eligible slice with the most "
        f"tumour pixels (at least {min_tumor_pixels}); the no-tumour slice is an "
        "eligible slice without tumour whose brain area is closest to the tumour "
        "slice's.",
        width=79,
    )
    return (
        "BraTS2021 axial slices (sklearn_inr.datasets.load_brats_slices)\n"
        "---------------------------------------------------------------\n"
        f"Root: {root}\n"
        f"Patients loaded: {n_loaded}; skipped: {len(skipped)}\n"
        f"Slices: {images.shape[0]} (one tumour, one no-tumour per patient)\n"
        f"Image shape: {images.shape[1:]}, float32 in [0, 1]\n"
        f"Modalities: {', '.join(modalities)}\n"
        f"Normalisation: {norm}\n\n"
        f"{policy}\n\n"
        "target: 1 tumour, 0 no tumour. groups: patient id, for grouped\n"
        "cross-validation (e.g. StratifiedGroupKFold).\n"
    )
