"""A synthetic cohort of cine cardiac MRIs in the ACDC layout, on a parametric heart.

The group statistics below are design choices, not estimates of ACDC's own
distributions: each group's range sits on its side of the ACDC challenge's
group definitions (Bernard et al., IEEE TMI 2018, and the challenge's web
page), and the normal ranges follow the adult CMR reference values of
Kawel-Boehm et al. (J Cardiovasc Magn Reson 2015; 2020 update). See the
Notes of :func:`make_acdc_like` and the user guide's ACDC section.
"""

import numbers
from pathlib import Path

import nibabel as nib
import numpy as np
from sklearn.utils import check_random_state

from . import _heart
from ._heart import THETA

GROUPS = ("NOR", "MINF", "DCM", "HCM", "RV")
# Per group, uniform ranges of: LV end-diastolic volume index (mL/m2), LV
# ejection fraction (%), largest end-diastolic wall thickness (mm), RV
# end-diastolic volume index (mL/m2), RV ejection fraction (%), and the LV
# cavity's long-to-short half-axis ratio (lower is more spherical).
_STATS = {
    # Kawel-Boehm 2015/2020 adult normals: LV EDVi about 60-90 mL/m2, LVEF
    # 57-75 %, mid-ventricular wall 6-10 mm, RV EDVi 65-100 mL/m2, RVEF > 50 %.
    "NOR": ((60, 85), (58, 72), (7, 10), (65, 95), (52, 65), (2.4, 2.9)),
    # ACDC: LVEF < 40 % with abnormal regional contraction. Remote wall
    # normal, an akinetic thinned sector (below), a mildly dilated LV.
    "MINF": ((85, 120), (22, 38), (8, 11), (65, 95), (45, 60), (2.0, 2.5)),
    # ACDC: LV EDVi > 100 mL/m2 and LVEF < 40 %; thin walls, spherical LV.
    "DCM": ((115, 170), (12, 32), (5, 7.5), (75, 105), (40, 55), (1.5, 1.9)),
    # ACDC: normal LVEF (> 55 %) and segments thicker than 15 mm in diastole
    # (LV mass index > 110 g/m2); small cavity, asymmetric septal hypertrophy.
    "HCM": ((55, 80), (65, 80), (16, 22), (60, 90), (55, 68), (2.3, 2.8)),
    # ACDC: RV EDVi > 110 mL/m2 (men; 100 women) or RVEF < 40 %; normal LV.
    "RV": ((55, 80), (55, 68), (7, 10), (120, 170), (25, 45), (2.4, 2.9)),
}
_INFARCT_WIDTH_DEG = (70.0, 120.0)
_INFARCT_WALL_MM = (3.5, 5.5)
_HCM_LATERAL = (0.6, 0.85)  # lateral over septal thickness
# Field of view (mm) of every shape: 250 x 250 in plane, 100 mm of stack
# from apex to base (10 slices of 10 mm at the default shape).
_FOV_MM = np.array([250.0, 250.0, 100.0])
_MAX_LV_LENGTH = 76.0  # cavity half-length cap, so the apex stays in the stack


def make_acdc_like(
    out_dir: str | Path,
    n_patients: int = 50,
    shape: tuple[int, int, int] = (96, 96, 10),
    n_frames: int = 10,
    random_state: int | np.random.RandomState | None = 0,
    *,
    compress: bool = True,
) -> Path:
    """Write a synthetic cohort of cine cardiac MRIs in the ACDC layout.

    Every patient gets the files of an ACDC training case, with ACDC's names::

        out_dir/
            patient001/
                Info.cfg                         ED, ES, Group, Height, NbFrame, Weight
                patient001_4d.nii.gz             (x, y, z, t), int16, all frames
                patient001_frame01.nii.gz        the ED frame, int16
                patient001_frame01_gt.nii.gz     its labels, uint8
                patient001_frame04.nii.gz        the ES frame
                patient001_frame04_gt.nii.gz
            patient002/
                ...

    so :func:`load_acdc` (and ACDC tools) read it unchanged. Labels are
    ACDC's: 0 background, 1 RV cavity, 2 LV myocardium, 3 LV cavity.

    Parameters
    ----------
    out_dir : str or path-like
        Folder to write the patient folders into; created if needed. Existing
        files with the same names are overwritten.
    n_patients : int, default=50
        Number of patients, ``patient001`` onwards. Patient ``i`` (from 0) is
        in group ``("NOR", "MINF", "DCM", "HCM", "RV")[i % 5]``, so every
        block of five patients is balanced.
    shape : tuple of (int, int, int), default=(96, 96, 10)
        Shape ``(x, y, z)`` of a frame; ``z`` counts the short-axis slices.
        Every shape covers the same 250 x 250 x 100 mm field of view, so
        ``(96, 96, 10)`` has 2.6 mm pixels and 10 mm slices.
    n_frames : int, default=10
        Frames in the cardiac cycle (``NbFrame``; real ACDC scans have 12 to
        35). The ED frame is frame 1 and the ES frame about a third of the way
        through the cycle.
    random_state : int, RandomState instance or None, default=0
        Seed of the cohort. Patient ``i`` only depends on ``random_state`` and
        ``i``, not on ``n_patients``.
    compress : bool, default=True
        Write ``.nii.gz`` (as ACDC ships) or, if False, ``.nii``.

    Returns
    -------
    out_dir : pathlib.Path
        The folder holding the patient folders, to pass to :func:`load_acdc`.

    See Also
    --------
    load_acdc : Load ED / ES short-axis slices or volumes of ACDC patients.

    Notes
    -----
    **Anatomy.** The LV cavity is a half prolate ellipsoid cut at the base
    plane, the myocardium a shell around it whose thickness varies around
    the LV, and the RV cavity a crescent that wraps the septum; the left
    atrium shows above the base as unlabelled blood, as in ACDC's basal
    slices. In systole the LV cavity shrinks, the wall thickens at constant
    myocardial volume (so mass is conserved), and the base descends towards
    the apex. Every volume is solved for, so a patient's ED and ES hearts
    hold the sampled volumes and ejection fractions, before voxelisation.

    **Groups.** Per patient, height and weight give the body surface area
    (Mosteller), and the group's uniform ranges below give indexed volumes
    (mL/m2), ejection fractions (%) and the largest ED wall thickness (mm):

    ====  ===========  ========  ==========  ===========  ========
    grp   LV EDVi      LVEF      wall        RV EDVi      RVEF
    ====  ===========  ========  ==========  ===========  ========
    NOR   60-85        58-72     7-10        65-95        52-65
    MINF  85-120       22-38     8-11 (*)    65-95        45-60
    DCM   115-170      12-32     5-7.5       75-105       40-55
    HCM   55-80        65-80     16-22 (**)  60-90        55-68
    RV    55-80        55-68     7-10        120-170      25-45
    ====  ===========  ========  ==========  ===========  ========

    (*) MINF: a sector of 70 to 120 degrees (anterior, inferior or lateral)
    is thinned to 3.5 to 5.5 mm and akinetic: it does not move in systole,
    and the remote wall contracts to reach the group's LVEF.
    (**) HCM: asymmetric septal hypertrophy, the lateral wall 0.6 to 0.85
    times the septum. The DCM LV is also more spherical.

    The ranges are design choices that sit on each side of the ACDC
    challenge's group definitions (Bernard et al., "Deep Learning
    Techniques for Automatic MRI Cardiac Multi-Structures Segmentation and
    Diagnosis: Is the Problem Solved?", IEEE TMI 37(11), 2018): DCM has LV
    EDVi > 100 mL/m2 and LVEF < 40 %, MINF LVEF < 40 % with abnormal
    regional contraction, HCM a normal LVEF with diastolic wall thickness
    > 15 mm, RV an RV EDVi > 110 mL/m2 or RVEF < 40 %. NOR follows the
    adult CMR reference ranges of Kawel-Boehm et al. (J Cardiovasc Magn
    Reson 17:29, 2015, and the 2020 update, 22:87). They are not estimates
    of ACDC's own distributions: groups overlap less than patients do.

    **Images.** A bSSFP-like contrast (blood bright, myocardium dark, lungs
    darker, chest wall in between), with partial volume at every edge, a
    random pose (heart position, in-plane rotation of 180 +- 25 degrees for
    the RV direction, long-axis tilt up to 8 degrees), per-patient contrast
    and gain, a smooth bias field and Rician noise. The ``_gt`` labels are
    the anatomy at the voxel centres. Slice 0 is the most apical, and the
    stack reaches a little above the base.

    50 patients at the default size take about 6 s on one CPU core, most of
    it drawing and compressing the 4d files.

    Examples
    --------
    >>> import tempfile
    >>> from sklearn_inr.datasets import make_acdc_like
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     root = make_acdc_like(tmp, n_patients=2, shape=(32, 32, 6), n_frames=5)
    ...     sorted(p.name for p in (root / "patient002").iterdir())
    ...     print((root / "patient002" / "Info.cfg").read_text())
    ['Info.cfg', 'patient002_4d.nii.gz', 'patient002_frame01.nii.gz',
     'patient002_frame01_gt.nii.gz', 'patient002_frame03.nii.gz',
     'patient002_frame03_gt.nii.gz']
    ED: 1
    ES: 3
    Group: MINF
    Height: ...
    NbFrame: 5
    Weight: ...
    <BLANKLINE>
    """
    if not (isinstance(n_patients, numbers.Integral) and 0 < n_patients <= 999):
        raise ValueError(f"n_patients must be an int in [1, 999]; got {n_patients!r}.")
    shape = tuple(shape) if isinstance(shape, tuple | list) else ()
    if len(shape) != 3 or not all(
        isinstance(n, numbers.Integral) and n >= m for n, m in zip(shape, (16, 16, 3))
    ):
        raise ValueError(
            f"shape must be three ints (x, y, z), x and y >= 16, z >= 3; got {shape!r}."
        )
    if not (isinstance(n_frames, numbers.Integral) and 3 <= n_frames <= 99):
        raise ValueError(f"n_frames must be an int in [3, 99]; got {n_frames!r}.")
    shape = tuple(int(n) for n in shape)
    seed = check_random_state(random_state).randint(np.iinfo(np.int32).max)
    streams = np.random.SeedSequence(seed).spawn(n_patients)
    out_dir = Path(out_dir).expanduser()
    suffix = ".nii.gz" if compress else ".nii"
    zooms = _FOV_MM / np.array(shape)
    affine = np.diag([*zooms, 1.0])
    for i, stream in enumerate(streams):
        case = f"patient{i + 1:03d}"
        case_dir = out_dir / case
        case_dir.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(stream)
        info, frames, gts = _patient(rng, GROUPS[i % len(GROUPS)], shape, n_frames)
        _save(np.stack(frames, axis=-1), affine, case_dir / f"{case}_4d{suffix}")
        for key in ("ED", "ES"):
            number = info[key]
            name = f"{case}_frame{number:02d}"
            _save(frames[number - 1], affine, case_dir / f"{name}{suffix}")
            _save(gts[key], affine, case_dir / f"{name}_gt{suffix}")
        lines = [f"{key}: {value}" for key, value in sorted(info.items())]
        (case_dir / "Info.cfg").write_text("\n".join(lines) + "\n")
    return out_dir


def _save(data, affine, path):
    img = nib.Nifti1Image(data, affine)
    img.header.set_qform(affine, code=1)
    img.header.set_sform(affine, code=1)
    img.header.set_xyzt_units("mm", "msec")
    nib.save(img, path)


def sample_hearts(rng, group):
    """Body size, and the ED and ES frame parameters of one patient's heart."""
    lv_edvi, lv_ef, wall, rv_edvi, rv_ef, sphericity = (
        rng.uniform(*r) for r in _STATS[group]
    )
    height = float(np.clip(rng.normal(171, 9), 150, 195))
    weight = float(np.clip(rng.normal(77, 13), 45, 130))
    bsa = np.sqrt(height * weight / 3600)  # Mosteller, m2
    lv_ef, rv_ef = lv_ef / 100, rv_ef / 100
    # ED cavity: a gently non-circular cross-section of the sampled volume.
    phase = rng.uniform(0, 2 * np.pi, size=2)
    profile = 1 + 0.04 * np.cos(2 * THETA - phase[0]) + 0.03 * np.cos(THETA - phase[1])
    edv = lv_edvi * bsa
    c = min(sphericity * (3 * edv * 1000 / (2 * np.pi * sphericity)) ** (1 / 3), 76.0)
    a_ed = _heart.solve_cavity(edv, profile, c)
    infarct = np.zeros_like(THETA)
    if group == "MINF":
        centre = np.deg2rad(rng.choice([70.0, -70.0, 180.0]) + rng.uniform(-20, 20))
        half = np.deg2rad(rng.uniform(*_INFARCT_WIDTH_DEG)) / 2
        gap = np.abs(np.angle(np.exp(1j * (THETA - centre))))
        # A raised-cosine border of 20 degrees around the sector.
        infarct = np.clip((half + np.deg2rad(10) - gap) / np.deg2rad(20), 0, 1)
        infarct = (1 - np.cos(np.pi * infarct)) / 2
        t_ed = wall * (1 - infarct) + rng.uniform(*_INFARCT_WALL_MM) * infarct
    elif group == "HCM":
        lateral = rng.uniform(*_HCM_LATERAL)
        t_ed = wall * (lateral + (1 - lateral) * np.clip(np.cos(THETA), 0, None) ** 2)
    else:
        t_ed = wall * (0.92 + 0.08 * np.cos(THETA - rng.uniform(-0.5, 0.5)))
    t_apex = 0.6 * float(np.mean(t_ed))
    ed = {"a": a_ed, "t": t_ed, "c": c, "t_apex": t_apex, "descent": 0.0}
    # ES: the base descends, the remote wall moves in, the infarct does not.
    shortening = 0.22 * lv_ef
    c_es = c * (1 - shortening)
    live = 1 - infarct
    sums = [np.sum(a_ed**2 * live**p) for p in range(3)]
    target = 3 * edv * (1 - lv_ef) * 1000 / (c_es * _heart._DTHETA)
    disc = sums[1] ** 2 - sums[2] * (sums[0] - target)
    k = min((sums[1] - np.sqrt(max(disc, 0.0))) / sums[2], 0.85)
    a_es = a_ed * (1 - k * live)
    # Wall thickening at constant myocardial volume (the infarct does not thicken).
    t_apex_es = t_apex * (1 + 0.5 * lv_ef)
    myo = _heart.epi_volume(a_ed, t_ed, c, t_apex) - _heart.lv_volume(a_ed, c)
    ring = (a_ed + t_ed) ** 2 - a_ed**2
    c_epi = c_es + t_apex_es
    sum_fixed = c_epi * np.sum(a_es**2 + ring * infarct) - c_es * np.sum(a_es**2)
    kappa = (myo * 1000 * 3 / _heart._DTHETA - sum_fixed) / (
        c_epi * np.sum(ring * live)
    )
    t_es = np.sqrt(a_es**2 + ring * (infarct + kappa * live)) - a_es
    es = {"a": a_es, "t": t_es, "c": c_es, "t_apex": t_apex_es, "descent": c - c_es}
    # RV: a crescent on the septum, its reach calibrated to the ED and ES
    # volumes; a dilated RV also wraps further around the LV.
    alpha = np.deg2rad(rng.uniform(55, 75) + max(0.0, rv_edvi - 95) * 0.4)
    for frame, volume, c_rv in (
        (ed, rv_edvi * bsa, 0.85 * c),
        (es, rv_edvi * bsa * (1 - rv_ef), 0.85 * c * (1 - 1.3 * shortening)),
    ):
        frame.update(alpha=alpha, c_rv=c_rv)
        frame["h"] = _heart.solve_rv(volume, frame)
    body = {"Height": round(height, 1), "Weight": round(weight, 1)}
    return body, ed, es


def _patient(rng, group, shape, n_frames):
    """Info.cfg values, the int16 frames (1 to n_frames) and the ED / ES labels."""
    body, ed, es = sample_hearts(rng, group)
    es_frame = int(np.clip(round(1 + rng.uniform(0.3, 0.42) * n_frames), 2, n_frames))
    info = {"ED": 1, "ES": es_frame, "Group": group, "NbFrame": n_frames, **body}
    zooms = _FOV_MM / np.array(shape)
    # Pose: the base-plane centre near the middle of the field of view, a
    # margin of stack above the base, the RV towards the image's -x side.
    origin = np.array(
        [
            _FOV_MM[0] / 2 + 18 + rng.uniform(-10, 10),
            _FOV_MM[1] / 2 + rng.uniform(-12, 12),
            _FOV_MM[2] - rng.uniform(6, 12),
        ]
    )
    spin = np.pi + np.deg2rad(rng.uniform(-25, 25))
    tilt = np.deg2rad(rng.uniform(-8, 8, size=2))
    rotation = _rotate(0, tilt[0]) @ _rotate(1, tilt[1]) @ _rotate(2, spin)
    axes = [((np.arange(n) + 0.5) * d).astype(np.float32) for n, d in zip(shape, zooms)]
    x, y, z = np.meshgrid(*axes, indexing="ij")
    offset = np.stack([x, y, z]) - origin[:, None, None, None].astype(np.float32)
    u, v, w = np.einsum("ba,bxyz->axyz", rotation.astype(np.float32), offset)
    theta = np.arctan2(v, u)
    ed, es = _heart.at_voxels(ed, theta), _heart.at_voxels(es, theta)
    background = _background(rng, x, y, origin)
    blood, muscle = rng.uniform(0.9, 1.1), rng.uniform(0.2, 0.32)
    gain = rng.uniform(200, 600)
    sigma = rng.uniform(0.02, 0.05)
    bias = np.exp(
        0.12 * ((x - 125) * np.cos(spin) + (y - 125) * np.sin(spin)) / 125
    ).astype(np.float32)
    frames, gts = [], {}
    for number, f in enumerate(_heart.cycle(n_frames, 1, es_frame), start=1):
        frame = _heart.interpolate(ed, es, f)
        labels, occ = _heart.rasterise(frame, u, v, w, zooms[0], zooms[2])
        rest = 1 - occ["blood"] - occ["muscle"]
        image = (
            background * rest + blood * occ["blood"] + muscle * occ["muscle"]
        ) * bias
        # Rician magnitude noise: the modulus of a complex signal with noise.
        noise = rng.standard_normal((2, *shape), dtype=np.float32) * sigma
        image = np.hypot(image + noise[0], noise[1])
        frames.append(np.clip(np.rint(image * gain), 0, 32767).astype(np.int16))
        for key in ("ED", "ES"):
            if number == info[key]:
                gts[key] = labels
    return info, frames, gts


def _background(rng, x, y, origin):
    """Chest wall and lungs around the heart (intensity, before the heart)."""
    cx, cy = _FOV_MM[0] / 2 + rng.uniform(-8, 8), _FOV_MM[1] / 2 + rng.uniform(-8, 8)
    body = ((x - cx) / rng.uniform(125, 145)) ** 2 + (
        (y - cy) / rng.uniform(100, 120)
    ) ** 2
    image = np.where(body < 1, rng.uniform(0.3, 0.42), 0.0).astype(np.float32)
    for side in (-1, 1):
        lx = origin[0] - 18 + side * rng.uniform(65, 80)
        ly = origin[1] + rng.uniform(5, 25)
        lung = ((x - lx) / rng.uniform(38, 48)) ** 2 + (
            (y - ly) / rng.uniform(55, 70)
        ) ** 2
        image[lung < 1] = rng.uniform(0.04, 0.1)
    return image


def _rotate(axis, angle):
    """Rotation matrix by ``angle`` (radians) about one axis."""
    i, j = [a for a in range(3) if a != axis]
    out = np.eye(3)
    out[i, i] = out[j, j] = np.cos(angle)
    out[i, j], out[j, i] = -np.sin(angle), np.sin(angle)
    return out
