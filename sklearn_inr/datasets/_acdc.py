"""Load ED and ES short-axis slices or volumes of ACDC patients, labelled by group."""

import numbers
import textwrap
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
from sklearn.utils import Bunch

from ._acdc_arrays import pick_slice, prepare, resize
from ._acdc_io import GROUPS, find_patient_dirs, read_frame, read_gt, read_info
from ._nifti_io import check_common_loader_params, skip_patient

_PHASES = ("ED", "ES")
_POLICIES = ("middle", "lv")


def load_acdc(
    root: str | Path,
    *,
    phases: str | tuple[str, ...] = ("ED", "ES"),
    as_volumes: bool = False,
    size: int | tuple[int, ...] | None = None,
    n_patients: int | None = None,
    slice_policy: str = "middle",
    return_masks: bool = False,
    require_labels: bool = True,
    percentiles: tuple[float, float] = (1.0, 99.5),
    on_error: str = "raise",
    return_X_y: bool = False,
) -> Bunch | tuple[np.ndarray, np.ndarray]:
    """Load ED / ES short-axis cine MRI of ACDC patients, labelled by group.

    Reads the ACDC challenge's patient folders (Bernard et al., IEEE TMI 2018)
    with nibabel and returns, per patient and requested phase, one short-axis
    slice or the whole stack, as float32 in [0, 1], with the diagnostic group
    as the label and the patient id for grouped cross-validation. The layout
    (``.nii`` is accepted as well as ``.nii.gz``)::

        root/                  (or root/training/, root/ACDC/database/testing/, ...)
            patient001/
                Info.cfg                       ED: 1 / ES: 12 / Group: DCM / ...
                patient001_4d.nii.gz           all frames, (x, y, z, t)
                patient001_frame01.nii.gz      the ED frame, (x, y, z)
                patient001_frame01_gt.nii.gz   0 bg, 1 RV, 2 myocardium, 3 LV
                patient001_frame12.nii.gz      the ES frame
                patient001_frame12_gt.nii.gz

    Frame numbers come from ``Info.cfg`` and may be written ``1`` or ``01``
    there and in the file names. A frame file that is absent is read from
    the 4d file instead. Only the files needed are read: the ``_gt`` masks
    only for ``return_masks=True`` or ``slice_policy="lv"``.

    Parameters
    ----------
    root : str or path-like
        Folder holding the ``patientNNN`` folders, directly or up to two
        levels down (``training/``, ``testing/``; the first level holding any
        is used). :func:`make_acdc_like` writes such a folder.
    phases : {"ED", "ES"} or tuple of them, default=("ED", "ES")
        The frames to return for each patient, in this order.
    as_volumes : bool, default=False
        False: one short-axis slice per frame, images ``(n, H, W)``.
        True: the whole stack, images ``(n, D, H, W)``, with ``D`` the slices
        from apex to base as stored (``vol.transpose(2, 0, 1)``).
    size : int or tuple of int, default=None
        Slices: resize to ``(size, size)`` or ``(H, W)`` (anti-aliased
        bilinear). Volumes: a tuple ``(D, H, W)`` (in-plane anti-aliased
        bilinear, then linear across slices). Masks use nearest neighbours.
        ``None`` keeps the native shape, which must then agree across
        patients (real ACDC stacks do not: pass ``size``).
    n_patients : int, default=None
        Load the first ``n_patients`` patients, in sorted folder order, that
        load without error. ``None`` loads all of them.
    slice_policy : {"middle", "lv"}, default="middle"
        Which slice ``z`` a patient's slices come from (the same ``z`` for
        every phase, so ED and ES show one level). ``"middle"``: ``D // 2``.
        ``"lv"``: the middle of the slices that hold LV cavity (label 3) in
        the ED mask, a mid-ventricular slice whatever the stack's coverage.
    return_masks : bool, default=False
        Also return the ``_gt`` labels of each row as ``masks``.
    require_labels : bool, default=True
        A patient whose ``Info.cfg`` has no ``Group`` line (the testing folder
        of the original release) is an error. False loads it with target -1
        and diagnosis ``""``.
    percentiles : tuple of (float, float), default=(1.0, 99.5)
        Intensities are scaled per frame volume: these percentiles of its
        voxels map to 0 and 1, and values beyond are clipped.
    on_error : {"raise", "skip"}, default="raise"
        What to do with a patient whose files are missing, unreadable or
        inconsistent. ``"raise"`` stops with an error naming the file and the
        fix; ``"skip"`` warns with the same message and loads the others.
    return_X_y : bool, default=False
        If True, return ``(images, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        One row per patient and phase, patients in sorted order, with:

        images : ndarray of shape (n, H, W) or (n, D, H, W)
            float32 intensities in [0, 1].
        target : ndarray of shape (n,)
            Index of the group in ``target_names``; -1 when unknown.
        target_names : ndarray of shape (5,)
            ``["NOR", "MINF", "DCM", "HCM", "RV"]``.
        diagnosis : ndarray of shape (n,)
            The group's name, ``""`` when unknown.
        groups : ndarray of shape (n,)
            Patient id of each row, for ``groups=`` of
            :class:`~sklearn.model_selection.StratifiedGroupKFold`.
        patient_id : ndarray of shape (n,)
            The folder name, e.g. ``"patient001"`` (same values as groups).
        phase : ndarray of shape (n,)
            ``"ED"`` or ``"ES"``.
        frame : ndarray of shape (n,)
            The frame number (from 1) of each row.
        slice_index : ndarray of shape (n,)
            The native slice ``z`` (``vol[:, :, z]``); -1 for volumes.
        masks : ndarray of uint8, same shape as images
            Only with ``return_masks=True``: 0 background, 1 RV cavity,
            2 myocardium, 3 LV cavity.
        height, weight : ndarray of shape (n,)
            From ``Info.cfg`` (cm, kg); NaN when absent.
        voxel_size : ndarray of shape (n, 3)
            The native voxel size (x, y, z) in mm, from the header.
        skipped : dict
            ``{patient_id: reason}`` for every patient left out, and
            ``{folder: reason}`` for every folder beside the patient folders
            whose name is not a patient name; these are not loaded and
            raise one warning with their count.
        DESCR : str
            Description of the data and of the options used.

    (images, target) : tuple
        Returned instead when ``return_X_y=True``.

    Raises
    ------
    FileNotFoundError
        If ``root`` holds no ACDC patient folders (the message says what is
        expected), or (``on_error="raise"``) ``Info.cfg``, a frame, or a
        needed ``_gt`` file is missing.
    ValueError
        With ``on_error="raise"``: ``Info.cfg`` is malformed or lacks a
        needed key, a file is corrupt or not 3-D, a mask's shape or labels
        are wrong. Also for invalid parameters, and when no patient loads.

    See Also
    --------
    make_acdc_like : Write a synthetic cohort in this layout.
    load_brats_slices : The BraTS loader, with the same conventions.

    Examples
    --------
    >>> import tempfile
    >>> from sklearn_inr.datasets import load_acdc, make_acdc_like
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     root = make_acdc_like(tmp, n_patients=5, shape=(32, 32, 6), n_frames=5)
    ...     data = load_acdc(root, size=16)
    ...     vols = load_acdc(root, phases="ED", as_volumes=True, return_masks=True)
    >>> data.images.shape, data.images.dtype
    ((10, 16, 16), dtype('float32'))
    >>> data.diagnosis[::2]
    array(['NOR', 'MINF', 'DCM', 'HCM', 'RV'], dtype='<U4')
    >>> data.phase[:2]
    array(['ED', 'ES'], dtype='<U2')
    >>> data.groups[:2]
    array(['patient001', 'patient001'], dtype='<U10')
    >>> vols.images.shape, sorted(set(vols.masks.ravel().tolist()))
    ((5, 6, 32, 32), [0, 1, 2, 3])
    """
    phases, out_size = _check_params(
        phases, as_volumes, size, n_patients, slice_policy, percentiles, on_error
    )
    case_dirs, skipped = find_patient_dirs(root)
    if skipped:
        shown = ", ".join(list(skipped)[:5]) + (", ..." if len(skipped) > 5 else "")
        warnings.warn(
            f"Ignoring {len(skipped)} folder(s) under {str(root)!r} whose names are "
            f"not ACDC patient names such as 'patient001': {shown}. Rename them to "
            "load them; they are listed with the reason in the returned Bunch's "
            "`skipped`.",
            UserWarning,
            stacklevel=2,
        )
    images, masks, rows = [], [], []
    need_gt = return_masks or slice_policy == "lv"
    for case_dir in case_dirs:
        if n_patients is not None and len(rows) == n_patients * len(phases):
            break
        pid = case_dir.name
        try:
            info, volumes, gts, sources = _read_patient(
                case_dir, phases, need_gt, slice_policy, require_labels
            )
        except (OSError, ValueError) as exc:
            if on_error == "raise":
                raise
            skip_patient(skipped, pid, exc, stacklevel=2)
            continue
        z = pick_slice(volumes[0].shape[2], gts.get("ED"), slice_policy)
        for phase, volume, source in zip(phases, volumes, sources):
            image, mask = prepare(volume, gts.get(phase), z, as_volumes, percentiles)
            if out_size is not None:
                image, mask = resize(image, mask, out_size, as_volumes)
            elif images and image.shape != images[0].shape:
                what = "(D, H, W)" if as_volumes else "(H, W)"
                raise ValueError(
                    f"Patient {pid} has images of shape {image.shape} but "
                    f"{rows[0][0]} has {images[0].shape}; pass size={what} to resize "
                    "them all to one shape."
                )
            images.append(image)
            masks.append(mask)
            rows.append(
                (pid, info["Group"] or "", phase, info[phase], -1 if as_volumes else z,
                 info["Height"], info["Weight"], _zooms(source))
            )  # fmt: skip
    if not images:
        raise ValueError(
            f"No patient under {str(root)!r} could be loaded ({len(skipped)} "
            "skipped; see the warnings and the errors they quote)."
        )
    images = np.stack(images)
    pid, diagnosis, phase, frame, z, height, weight, zooms = (
        np.asarray(col) for col in zip(*rows)
    )
    names = np.array(GROUPS)
    target = np.array([GROUPS.index(d) if d else -1 for d in diagnosis], np.int64)
    if return_X_y:
        return images, target
    data = Bunch(
        images=images,
        target=target,
        target_names=names,
        diagnosis=diagnosis.astype(str),
        groups=pid.copy(),
        patient_id=pid,
        phase=phase,
        frame=frame.astype(np.int64),
        slice_index=z.astype(np.int64),
        height=height.astype(np.float64),
        weight=weight.astype(np.float64),
        voxel_size=zooms.astype(np.float64).reshape(-1, 3),
        skipped=skipped,
    )
    if return_masks:
        data.masks = np.stack(masks)
    data.DESCR = _descr(root, data, phases, as_volumes, slice_policy, percentiles)
    return data


def _check_params(phases, as_volumes, size, n_patients, policy, percentiles, on_error):
    given = (phases,) if isinstance(phases, str) else phases
    if not isinstance(given, tuple | list) or not given or any(
        p not in _PHASES for p in given
    ) or len(set(given)) != len(given):  # fmt: skip
        raise ValueError(
            f"phases must be 'ED', 'ES' or a tuple of distinct ones; got {phases!r}."
        )
    if not isinstance(as_volumes, bool | np.bool_):
        raise ValueError(f"as_volumes must be True or False; got {as_volumes!r}.")
    out_size = None
    if size is not None:
        n_axes = 3 if as_volumes else 2
        if isinstance(size, numbers.Integral) and not as_volumes:
            out_size = (size, size)
        elif isinstance(size, tuple | list):
            out_size = tuple(size)
        if out_size is None or len(out_size) != n_axes or not all(
            isinstance(s, numbers.Integral) and s > 0 for s in out_size
        ):  # fmt: skip
            allowed = (
                "None or a tuple (D, H, W) of positive ints with as_volumes=True"
                if as_volumes
                else "None, a positive int or a pair (H, W)"
            )
            raise ValueError(f"size must be {allowed}; got {size!r}.")
        out_size = tuple(int(s) for s in out_size)
    if n_patients is not None and not (
        isinstance(n_patients, numbers.Integral) and n_patients > 0
    ):
        raise ValueError(
            f"n_patients must be None or a positive int; got {n_patients!r}."
        )
    if policy not in _POLICIES:
        raise ValueError(f"slice_policy must be one of {_POLICIES}; got {policy!r}.")
    check_common_loader_params(percentiles, on_error)
    return tuple(given), out_size


def _read_patient(case_dir, phases, need_gt, slice_policy, require_labels):
    """Info, the requested frames, their masks (when needed) and their files."""
    info = read_info(case_dir)
    if info["Group"] is None and require_labels:
        raise ValueError(
            f"{str(case_dir / 'Info.cfg')!r} has no 'Group' line, so patient "
            f"{case_dir.name} has no label (the original ACDC testing folder has "
            "none). Pass require_labels=False to load it with target -1, or add a "
            "line such as 'Group: NOR' (NOR, MINF, DCM, HCM or RV)."
        )
    cache, volumes, sources, gts = {}, [], [], {}
    for phase in phases:
        volume, source = read_frame(case_dir, info[phase], cache)
        volumes.append(volume)
        sources.append(source)
    for volume, source in zip(volumes[1:], sources[1:]):
        if volume.shape != volumes[0].shape:
            raise ValueError(
                f"Shape mismatch in patient {case_dir.name}: {source.name} is "
                f"{volume.shape} but {sources[0].name} is {volumes[0].shape}. The "
                "frames of a patient share one grid; re-extract them, or pass "
                "on_error='skip' to load the other patients."
            )
    gt_phases = (phases if need_gt else ()) + (
        ("ED",) if slice_policy == "lv" and "ED" not in phases else ()
    )
    for phase in gt_phases:
        gts[phase] = read_gt(case_dir, info[phase], phase, volumes[0].shape)
    if slice_policy == "lv" and not (gts["ED"] == 3).any():
        raise ValueError(
            f"The ED mask of patient {case_dir.name} has no LV cavity (label 3), so "
            "slice_policy='lv' cannot place a slice. Check the mask, use "
            "slice_policy='middle', or pass on_error='skip' to load the others."
        )
    return info, volumes, gts, sources


def _zooms(path):
    return np.asarray(nib.load(path).header.get_zooms()[:3], dtype=np.float64)


def _descr(root, data, phases, as_volumes, policy, percentiles):
    n_patients = len(np.unique(data.patient_id))
    counts = ", ".join(
        f"{name or 'unknown'} {np.unique(data.patient_id[data.diagnosis == name]).size}"
        for name in (*GROUPS, "")
        if (data.diagnosis == name).any()
    )
    what = textwrap.fill(
        ("Whole short-axis stacks (D, H, W), D from apex to base as stored."
         if as_volumes else
         f"One short-axis slice per frame, z chosen by slice_policy={policy!r} "
         "(the same z for every phase of a patient).")
        + f" Intensities: per frame, percentiles {tuple(percentiles)} to [0, 1].",
        width=79,
    )  # fmt: skip
    return (
        "ACDC cine MRI (sklearn_inr.datasets.load_acdc)\n"
        "----------------------------------------------\n"
        f"Root: {root}\n"
        f"Patients loaded: {n_patients}; skipped: {len(data.skipped)}\n"
        f"Patients per group: {counts}\n"
        f"Rows: {data.images.shape[0]} ({' and '.join(phases)} per patient)\n"
        f"Image shape: {data.images.shape[1:]}, float32 in [0, 1]\n\n"
        f"{what}\n\n"
        "target: index into target_names (NOR, MINF, DCM, HCM, RV), -1 unknown.\n"
        "groups: patient id, for grouped cross-validation.\n"
    )
