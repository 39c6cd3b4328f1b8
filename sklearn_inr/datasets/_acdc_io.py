"""Finding ACDC patient folders and reading one patient's Info.cfg and frames.

Everything that touches the file system for :func:`load_acdc` lives here, so
every bad input is reported in one place, with the file and the fix.
"""

import math
import re
from pathlib import Path

import numpy as np

from ._nifti_io import check_root, read_volume, sort_unique_cases

GROUPS = ("NOR", "MINF", "DCM", "HCM", "RV")
GT_LABELS = (0, 1, 2, 3)
SUFFIXES = (".nii.gz", ".nii")
_ALIASES = {"ARV": "RV"}  # the ACDC paper's name for the RV group
_PATIENT_DIR = re.compile(r"^patient\d+$")
_SKIP_HINT = "or pass on_error='skip' to load the other patients"
_EXPECTED = (
    "expected patient folders named like 'patient001' holding 'Info.cfg', "
    "'patient001_frame01.nii.gz' (with '_gt' masks) and 'patient001_4d.nii.gz', "
    "directly in the root or up to two levels down ('ACDC/database/training/"
    "patient001')"
)


def find_patient_dirs(root):
    """Return the sorted ACDC patient folders under ``root``, and the misnamed ones.

    Patient folders are looked for in ``root``, then one level down
    (``training/``, ``testing/``), then two (``ACDC/database/training``):
    the first level that holds any is used.
    """
    root = check_root(
        root, "ACDC", "the patientNNN folders",
        "(or the 'training' / 'testing' folders above them)",
    )  # fmt: skip
    level = [root]
    for _ in range(3):
        cases = [p for folder in level for p in _subdirs(folder) if _is_patient(p)]
        if cases:
            break
        level = [p for folder in level for p in _subdirs(folder)]
    if not cases:
        content = "is empty" if not any(root.iterdir()) else "holds no ACDC folders"
        raise FileNotFoundError(
            f"ACDC root {str(root)!r} {content}: {_EXPECTED}. Point `root` at the "
            "extracted ACDC data, or write a synthetic cohort with "
            "sklearn_inr.datasets.make_acdc_like(root)."
        )
    sort_unique_cases(cases)
    misnamed = {}
    for parent in sorted({p.parent for p in cases}):
        for path in _subdirs(parent):
            if not _is_patient(path):
                misnamed[path.relative_to(root).as_posix()] = (
                    f"folder name {path.name!r} is not an ACDC patient name such as "
                    "'patient001'; rename it to the patient id its files carry to "
                    "load it"
                )
    return cases, misnamed


def _subdirs(folder):
    return sorted(
        p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")
    )


def _is_patient(path):
    return bool(_PATIENT_DIR.match(path.name))


def read_info(case_dir):
    """Parse ``Info.cfg`` (``ED``, ``ES``, ``Group``, ``Height``, ``NbFrame``, ...).

    ``Key: value`` lines; CRLF or LF endings, a byte-order mark, blank lines,
    ``#`` comments, spaces and the case of the keys do not matter, and keys
    beyond these six are ignored. ``Group`` is ``None`` when absent (the
    original testing folder), and ``Height``, ``Weight`` and ``NbFrame`` are
    NaN / ``None`` when absent.
    """
    path = Path(case_dir) / "Info.cfg"
    if not path.is_file():
        raise FileNotFoundError(
            f"Missing Info.cfg for patient {Path(case_dir).name}: expected "
            f"{str(path)!r} with lines such as 'ED: 1', 'ES: 12' and 'Group: DCM'. "
            f"Re-extract this patient from the ACDC archive, {_SKIP_HINT}."
        )
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(
            f"Could not read {str(path)!r} as text ({type(exc).__name__}: {exc}). "
            f"Re-extract it from the ACDC archive, {_SKIP_HINT}."
        ) from exc
    values = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        key, sep, value = line.partition(":")
        if not sep:
            key, sep, value = line.partition("=")
        key, value = key.strip().lower(), value.strip()
        if not sep or not key:
            raise ValueError(
                f"{str(path)!r}, line {number}: {line[:60]!r} is not a 'Key: value' "
                f"line. Fix or delete the line (ACDC's lines read 'ED: 1'), "
                f"{_SKIP_HINT}."
            )
        if key in values and values[key][1] != value:
            raise ValueError(
                f"{str(path)!r} gives {key!r} twice ({values[key][1]!r} on line "
                f"{values[key][0]}, {value!r} on line {number}). Keep one, "
                f"{_SKIP_HINT}."
            )
        values[key] = (number, value)
    info = {key: _number(path, key, values, int) for key in ("ED", "ES")}
    n_frames = _number(path, "NbFrame", values, int, required=False)
    for key in ("ED", "ES"):
        if n_frames is not None and info[key] > n_frames:
            raise ValueError(
                f"{str(path)!r} gives {key}: {info[key]}, beyond NbFrame: "
                f"{n_frames} (frames are numbered from 1). Fix the frame number, "
                f"{_SKIP_HINT}."
            )
    group = values.get("group", (0, None))[1]
    if group is not None:
        group = _ALIASES.get(group.upper(), group.upper())
        if group not in GROUPS:
            raise ValueError(
                f"{str(path)!r} gives Group: {values['group'][1]!r}; ACDC's groups "
                f"are {', '.join(GROUPS)}. Fix the line, {_SKIP_HINT}."
            )
    height = _number(path, "Height", values, float, required=False)
    weight = _number(path, "Weight", values, float, required=False)
    return {
        **info,
        "NbFrame": n_frames,
        "Group": group,
        "Height": math.nan if height is None else height,
        "Weight": math.nan if weight is None else weight,
    }


def _number(path, key, values, kind, required=True):
    if key.lower() not in values:
        if not required:
            return None
        raise ValueError(
            f"{str(path)!r} has no {key!r} line. Add one, e.g. '{key}: 1' (the "
            f"frame number, from 1), {_SKIP_HINT}."
        )
    line, text = values[key.lower()]
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    valid = math.isfinite(value) and value > 0
    if kind is int:
        valid = valid and value == int(value)
    if not valid:
        allowed = "a whole number >= 1" if kind is int else "a positive number"
        raise ValueError(
            f"{str(path)!r}, line {line}: {key} must be {allowed}; got {text!r}. "
            f"Fix the line, {_SKIP_HINT}."
        )
    return kind(value)


def frame_path(case_dir, number, gt=False):
    """``patientNNN_frameNN[_gt].nii[.gz]``, two-digit or unpadded; None if absent."""
    case_dir = Path(case_dir)
    tail = "_gt" if gt else ""
    names = dict.fromkeys([f"frame{number:02d}", f"frame{number}"])
    for name in names:
        for suffix in SUFFIXES:
            path = case_dir / f"{case_dir.name}_{name}{tail}{suffix}"
            if path.is_file():
                return path
    return None


def read_frame(case_dir, number, cache):
    """One frame's 3-D volume: its frame file, or else that frame of the 4d file.

    Returns the volume and the path it came from. ``cache`` (a dict) keeps
    the 4d file's image between the ED and ES frames of a patient.
    """
    case_dir = Path(case_dir)
    path = frame_path(case_dir, number)
    if path is not None:
        return read_volume(path), path
    four_d = next(
        (
            case_dir / f"{case_dir.name}_4d{s}"
            for s in SUFFIXES
            if (case_dir / f"{case_dir.name}_4d{s}").is_file()
        ),
        None,
    )
    expected = case_dir / f"{case_dir.name}_frame{number:02d}.nii.gz"
    if four_d is None:
        raise FileNotFoundError(
            f"Missing frame {number} of patient {case_dir.name}: expected "
            f"{str(expected)!r} (or the {case_dir.name}_4d.nii.gz file holding "
            f"every frame). Re-extract this patient, {_SKIP_HINT}."
        )
    if "4d" not in cache:
        cache["4d"] = read_volume(four_d, ndim=4)
    data = cache["4d"]
    if number > data.shape[3]:
        raise ValueError(
            f"{str(four_d)!r} holds {data.shape[3]} frames, but Info.cfg asks for "
            f"frame {number}. Fix Info.cfg or provide {expected.name}, {_SKIP_HINT}."
        )
    return np.ascontiguousarray(data[..., number - 1]), four_d


def read_gt(case_dir, number, phase, frame_shape):
    """The labels of one frame, checked against ACDC's {0, 1, 2, 3} and its shape."""
    case_dir = Path(case_dir)
    path = frame_path(case_dir, number, gt=True)
    if path is None:
        expected = case_dir / f"{case_dir.name}_frame{number:02d}_gt.nii.gz"
        raise FileNotFoundError(
            f"Missing ground truth of patient {case_dir.name}'s {phase} frame: "
            f"expected {str(expected)!r}. return_masks=True and slice_policy='lv' "
            "need the '_gt' files: pass return_masks=False and "
            f"slice_policy='middle' to load the images alone, {_SKIP_HINT}."
        )
    gt = read_volume(path)
    if gt.shape != frame_shape:
        raise ValueError(
            f"Shape mismatch in patient {case_dir.name}: {path.name} is {gt.shape} "
            f"but its frame is {frame_shape}. A mask must be on its frame's grid; "
            f"resample it, {_SKIP_HINT}."
        )
    labels = np.unique(gt)
    bad = labels[~np.isin(labels, GT_LABELS)]
    if bad.size:
        shown = ", ".join(f"{v:g}" for v in bad[:10])
        raise ValueError(
            f"{str(path)!r} has labels outside {{0, 1, 2, 3}}: {shown}. ACDC masks "
            "use 1 RV cavity, 2 myocardium, 3 LV cavity; remap your labels to "
            f"these, {_SKIP_HINT}."
        )
    return gt.astype(np.uint8)
