"""Load whole BraTS2021 volumes, downsampled, with one label per patient."""

import csv
import numbers
import os
import textwrap
from collections.abc import Mapping
from pathlib import Path

import nibabel as nib
import numpy as np
from sklearn.utils import Bunch

from ._brats import resize_slices
from ._intensity import brain_percentiles, scale_to_unit
from ._nifti_io import (
    case_file,
    check_common_loader_params,
    check_modality,
    check_size,
    find_case_dirs,
    read_case,
    skip_patient,
    warn_misnamed_dirs,
)

_SKIP = "or pass on_error='skip' to load the other patients"


def load_brats_volumes(
    root: str | Path,
    modality: str | list[str] = "flair",
    size: int | tuple[int, int, int] | None = (40, 64, 64),
    n_patients: int | None = None,
    *,
    threshold: float = 0.02,
    labels: Mapping | str | os.PathLike | None = None,
    percentiles: tuple[float, float] = (1.0, 99.0),
    on_error: str = "raise",
    return_X_y: bool = False,
) -> Bunch | tuple[np.ndarray, np.ndarray]:
    """Load one whole, downsampled BraTS2021 volume per patient, with a label.

    Reads the same BraTS2021 Task 1 case folders as :func:`load_brats_slices`
    (the layout, the file checks and ``on_error`` are the same), scales each
    modality of each patient to [0, 1] and resizes the volume. Every BraTS
    training patient has a tumour, so the label is about the tumour's size:
    *large* when the tumour fills more than ``threshold`` of the brain (see
    Notes), or any per-patient label from a ``labels`` table.

    Parameters
    ----------
    root : str or path-like
        Folder holding the ``BraTS2021_XXXXX`` case folders, directly or one
        level down. :func:`make_brats_like` writes such a folder.
    modality : {"flair", "t1", "t1ce", "t2", "all"} or list of them, default="flair"
        One modality gives volumes of shape ``(n, D, H, W)``; a list gives
        ``(n, D, H, W, C)`` with the channels in the order of the list;
        ``"all"`` is ``["flair", "t1", "t1ce", "t2"]``.
    size : int or tuple of (int, int, int), default=(40, 64, 64)
        Resize every volume to ``(size, size, size)`` or ``size=(D, H, W)``,
        after scaling: each axial slice with anti-aliased bilinear
        interpolation (as :func:`load_brats_slices`), then along ``z`` with
        anti-aliased linear interpolation. The default keeps BraTS's
        240 x 240 x 155 mm at about 3.8 mm voxels in every direction. ``None``
        keeps the native shape (155 x 240 x 240 for BraTS).
    n_patients : int, default=None
        Load the first ``n_patients`` patients, in sorted folder order, that
        load without error. ``None`` loads all of them.
    threshold : float, default=0.02
        The label rule's cut on ``tumor_fraction``: target 1 ("large tumour")
        when it is above ``threshold``, 0 ("small tumour") otherwise. Ignored
        when ``labels`` is given.
    labels : dict, str or path-like, default=None
        A labels table instead of the rule: a mapping ``{patient_id: label}``,
        or the path of a CSV file with a header and the columns
        ``patient_id`` and ``label`` (other columns are ignored). CSV labels
        that are all integers become int64, others stay strings. A patient
        that is not in the table is an error (``on_error="raise"``) or is
        skipped with a warning (``on_error="skip"``); rows for patients that
        are not loaded are ignored.
    percentiles : tuple of (float, float), default=(1.0, 99.0)
        Per patient and modality, these percentiles of the brain voxels map
        to 0 and 1 and intensities are clipped (the slice loader's
        ``normalize="volume"``).
    on_error : {"raise", "skip"}, default="raise"
        What to do with a patient whose files are missing, unreadable or
        inconsistent, or who is missing from ``labels``. ``"raise"`` stops
        with an error naming the file (or patient) and the fix; ``"skip"``
        warns with the same message and loads the other patients.
    return_X_y : bool, default=False
        If True, return ``(images, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the attributes below, one row per patient,
        patients in sorted order.

        images : ndarray of shape (n, D, H, W) or (n, D, H, W, C)
            float32 intensities in [0, 1]; background is 0. Axis 1 is ``z``
            (axial, feet first as stored): ``images[i, z]`` is the axial
            slice ``vol[:, :, z]`` that :func:`load_brats_slices` returns for
            ``slice_index == z`` (equal with ``size=None`` and the slice
            loader's ``normalize="volume"``).
        target : ndarray of shape (n,)
            The label rule's 0 / 1, or the ``labels`` table's labels.
        target_names : ndarray
            ``["small tumour", "large tumour"]`` for the rule; the sorted
            distinct labels for a table.
        groups : ndarray of shape (n,)
            Patient id of each volume (one volume per patient, so any split
            is already by patient; kept for the same code as the slices).
        patient_id : ndarray of shape (n,)
            Case folder name, e.g. ``"BraTS2021_00000"``.
        tumor_fraction : ndarray of shape (n,)
            Tumour voxels (seg label 1, 2 or 4) divided by brain voxels, at
            native resolution.
        tumor_volume_ml, brain_volume_ml : ndarray of shape (n,)
            Tumour and brain volumes in millilitres, from the seg header's
            voxel size.
        modality : list of str
            The modalities, in channel order.
        skipped : dict
            ``{patient_id: reason}`` for every patient left out, and
            ``{folder: reason}`` for misnamed folders (as
            :func:`load_brats_slices`).
        DESCR : str
            Description of the data, the label rule and the options used.

    (images, target) : tuple
        Returned instead when ``return_X_y=True``.

    Raises
    ------
    FileNotFoundError
        If ``root`` holds no BraTS case folders, a ``labels`` CSV does not
        exist, or (with ``on_error="raise"``) a modality or seg file is
        missing.
    ValueError
        With ``on_error="raise"``: a file is corrupt, is not 3-D, has a shape
        that differs from the seg's, the seg has labels outside {0, 1, 2, 4},
        or a patient is not in ``labels``. Also for a malformed labels table,
        and when no patient loads.

    See Also
    --------
    load_brats_slices : One tumour and one no-tumour axial slice per patient.
    make_brats_like : Write a synthetic cohort in this layout.

    Notes
    -----
    **Label rule.** The brain is the voxels that are nonzero in any requested
    modality or in the seg (BraTS volumes are skull-stripped with an
    exact-zero background), the tumour the voxels with seg label 1, 2 or 4,
    both counted at native resolution, so the label does not depend on
    ``size``. ``tumor_fraction = tumour voxels / brain voxels`` and the
    target is ``tumor_fraction > threshold``. A fraction rather than a volume
    in ml makes the rule indifferent to head size and voxel size; a fixed
    cut rather than the cohort's median keeps a patient's label from
    depending on which other patients are loaded. The default 0.02 is close
    to the median of the :func:`make_brats_like` cohort (0.022 over 30
    patients of shape (64, 64, 40), ``random_state=0``; quartiles 0.014 and
    0.033), so the default data has balanced classes. Real whole tumours
    (oedema included) are usually a larger share of the brain: look at
    ``data.tumor_fraction`` and pass, for example, its median as
    ``threshold``.

    Examples
    --------
    >>> import tempfile
    >>> from sklearn_inr.datasets import load_brats_volumes, make_brats_like
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     root = make_brats_like(tmp, n_patients=3, shape=(24, 24, 16))
    ...     data = load_brats_volumes(root, modality="all", size=(8, 12, 12))
    >>> data.images.shape, data.images.dtype
    ((3, 8, 12, 12, 4), dtype('float32'))
    >>> data.target.shape, data.tumor_fraction.shape
    ((3,), (3,))
    """
    modalities = check_modality(modality, allow_all=True)
    out_size = check_size(size, "a triple (D, H, W)", 3)
    if n_patients is not None and not (
        isinstance(n_patients, numbers.Integral) and n_patients > 0
    ):
        raise ValueError(
            f"n_patients must be None or a positive int; got {n_patients!r}."
        )
    if not (isinstance(threshold, numbers.Real) and 0 <= threshold < 1):
        raise ValueError(
            f"threshold must be a fraction of the brain in [0, 1); got {threshold!r}."
        )
    check_common_loader_params(percentiles, on_error)
    table = None if labels is None else read_labels_table(labels)
    case_dirs = find_case_dirs(root)
    skipped = warn_misnamed_dirs(root, case_dirs, stacklevel=3)
    images, rows = [], []
    for case_dir in case_dirs:
        if n_patients is not None and len(images) == n_patients:
            break
        pid = case_dir.name
        try:
            if table is not None and pid not in table[0]:
                raise ValueError(_missing_label(pid, table, case_dirs))
            volumes, seg = read_case(case_dir, modalities)
            voxel_ml = _voxel_ml(case_file(case_dir, "seg"))
        except (OSError, ValueError) as exc:
            if on_error == "raise":
                raise
            skip_patient(skipped, pid, exc, stacklevel=2)
            continue
        brain = seg != 0
        for volume in volumes:
            brain |= volume != 0
        n_brain, n_tumor = np.count_nonzero(brain), np.count_nonzero(seg)
        image = _scaled_volume(volumes, percentiles)
        if out_size is not None:
            image = resize_volume(image, out_size)
        elif images and image.shape[:3] != images[0].shape[:3]:
            raise ValueError(
                f"Patient {pid} has a {image.shape[:3]} volume but {rows[0][0]} has "
                f"{images[0].shape[:3]}; pass size=(D, H, W) to resize all volumes "
                "to one shape."
            )
        images.append(image)
        fraction = n_tumor / n_brain if n_brain else 0.0
        rows.append((pid, fraction, n_tumor * voxel_ml, n_brain * voxel_ml))
    if not images:
        raise ValueError(
            f"No patient under {str(root)!r} could be loaded ({len(skipped)} skipped; "
            "see the warnings and the messages above). Check the files."
        )
    images = np.stack(images)
    if isinstance(modality, str) and modality != "all":
        images = images[..., 0]
    pid, fraction, tumor_ml, brain_ml = (np.asarray(col) for col in zip(*rows))
    if table is None:
        target = (fraction > threshold).astype(np.int64)
        target_names = np.array(["small tumour", "large tumour"])
    else:
        target = np.asarray([table[0][p] for p in pid])
        target_names = np.unique(target)
    if return_X_y:
        return images, target
    return Bunch(
        images=images,
        target=target,
        target_names=target_names,
        groups=pid.copy(),
        patient_id=pid,
        tumor_fraction=fraction.astype(np.float64),
        tumor_volume_ml=tumor_ml.astype(np.float64),
        brain_volume_ml=brain_ml.astype(np.float64),
        modality=list(modalities),
        skipped=skipped,
        DESCR=_descr(root, modalities, images, skipped, threshold, table, percentiles),
    )


def resize_volume(volume, out_size):
    """Anti-aliased resize of one float32 ``(D, H, W, C)`` volume to ``out_size``.

    The D axial slices first, as a batch, with the slice loader's resize; then
    along ``z``, by the same 2-D resize over a ``(D, H * W)`` view whose second
    axis keeps its length (an exact identity there), so ``z`` is anti-aliased
    too: a 155-slice volume brought to 16 slices averages each output slice
    over its ~10 input slices rather than sampling two of them.
    """
    d, h, w = out_size
    volume = resize_slices(volume, (h, w))
    n_slices, n_channels = volume.shape[0], volume.shape[-1]
    if n_slices != d:
        flat = volume.reshape(1, n_slices, h * w, n_channels)
        volume = resize_slices(flat, (d, h * w)).reshape(d, h, w, n_channels)
    return volume


def read_labels_table(labels):
    """``(mapping, source)`` from a mapping or a ``patient_id,label`` CSV file.

    CSV is read as text with the csv module, never unpickled or evaluated.
    """
    if isinstance(labels, Mapping):
        if not labels:
            raise ValueError("labels is an empty mapping; give {patient_id: label}.")
        return {str(k): v for k, v in labels.items()}, "the labels mapping"
    if not isinstance(labels, str | os.PathLike):
        raise ValueError(
            "labels must be None, a mapping {patient_id: label} or the path of a "
            f"CSV file with columns patient_id,label; got {type(labels).__name__}."
        )
    path = Path(labels).expanduser()
    source = f"the labels file {str(path)!r}"
    if not path.is_file():
        raise FileNotFoundError(
            f"labels file {str(path)!r} does not exist. Pass the path of a CSV "
            "file with a header line 'patient_id,label', or a dict."
        )
    with open(path, newline="", encoding="utf-8-sig") as file:
        reader = csv.DictReader(file)
        fields = [f.strip() for f in reader.fieldnames or []]
        if "patient_id" not in fields or "label" not in fields:
            raise ValueError(
                f"{source} has columns {fields}; it needs a header line with "
                "'patient_id' and 'label' (e.g. 'patient_id,label')."
            )
        reader.fieldnames = fields
        table = {}
        for line, row in enumerate(reader, start=2):
            pid, label = ((row.get(k) or "").strip() for k in ("patient_id", "label"))
            if not pid or not label:
                raise ValueError(
                    f"{source}, line {line}: empty patient_id or label. Fill it in "
                    "or delete the line."
                )
            if pid in table:
                raise ValueError(
                    f"{source}, line {line}: patient {pid} appears twice. Keep one "
                    "row per patient."
                )
            table[pid] = label
    if not table:
        raise ValueError(f"{source} has no rows; add one 'patient_id,label' per line.")
    values = list(table.values())
    if all(v.lstrip("+-").isdigit() for v in values):
        table = {k: np.int64(v) for k, v in table.items()}
    return table, source


def _missing_label(pid, table, case_dirs):
    n_missing = sum(p.name not in table[0] for p in case_dirs)
    return (
        f"Patient {pid} has no label in {table[1]} ({n_missing} of the "
        f"{len(case_dirs)} patients under root have none). Add a row for it, "
        f"{_SKIP} (those in the table)."
    )


def _voxel_ml(seg_path):
    """The volume of one voxel in ml, from the seg's header (mm, as NIfTI's)."""
    zooms = nib.load(seg_path).header.get_zooms()[:3]
    if not all(np.isfinite(z) and z > 0 for z in zooms):
        raise ValueError(
            f"{str(seg_path)!r} declares voxel sizes {tuple(map(float, zooms))} mm; "
            f"they must be positive (BraTS: 1 mm). Fix the header's pixdim, {_SKIP}."
        )
    return float(np.prod(zooms, dtype=np.float64)) / 1000.0


def _scaled_volume(volumes, percentiles):
    """The modalities as one float32 ``(D, H, W, C)`` volume in [0, 1], z first."""
    lo, hi = brain_percentiles(volumes, percentiles)
    # Channel by channel, so the native float32 copy exists once per modality;
    # the same operations as the slice loader, so the values are bit for bit.
    return np.stack(
        [
            scale_to_unit(v.astype(np.float32), lo[c], hi[c]).transpose(2, 0, 1)
            for c, v in enumerate(volumes)
        ],
        axis=-1,
    )


def _descr(root, modalities, images, skipped, threshold, table, percentiles):
    if table is None:
        rule = (
            "target: 1 'large tumour' when tumor_fraction (tumour voxels, seg "
            "label 1, 2 or 4, divided by brain voxels, at native resolution) is "
            f"above {threshold}, else 0 'small tumour'."
        )
    else:
        rule = f"target: the label of each patient in {table[1]}."
    # Paths stay whole: a wrapped path cannot be copied.
    rule = textwrap.fill(rule, width=79, break_long_words=False, break_on_hyphens=False)
    return (
        "BraTS2021 volumes (sklearn_inr.datasets.load_brats_volumes)\n"
        "-----------------------------------------------------------\n"
        f"Root: {root}\n"
        f"Patients loaded: {images.shape[0]}; skipped: {len(skipped)}\n"
        f"Volume shape: {images.shape[1:]} (z, x, y[, channel]), float32 in [0, 1]\n"
        f"Modalities: {', '.join(modalities)}\n"
        f"Normalisation: per-volume robust percentiles {tuple(percentiles)} of "
        "brain voxels\n\n"
        f"{rule}\n"
    )
