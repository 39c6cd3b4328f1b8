"""A synthetic cohort of brain MRI phantoms with gliomas, in the BraTS2021 layout."""

import numbers
from pathlib import Path

import nibabel as nib
import numpy as np
from sklearn.utils import check_random_state

from ._nifti_io import MODALITIES

# Field of view of a BraTS2021 volume in mm (240 x 240 x 155 voxels of 1 mm).
# Every shape covers the same field of view, so a 64 x 64 x 40 cohort is a
# low-resolution version of the same anatomy, not a zoomed-in one.
_FOV_MM = np.array([240.0, 240.0, 155.0])

# Tissue classes, then their intensity in each modality (before per-patient jitter).
# Index: 0 background, 1 CSF, 2 grey matter, 3 white matter, 4 deep grey nuclei,
# 5 necrotic core, 6 oedema, 7 enhancing rim.
_NECROSIS, _OEDEMA, _ENHANCING = 5, 6, 7
_SEG_LABEL = np.array([0, 0, 0, 0, 0, 1, 2, 4], dtype=np.uint8)
_CONTRAST = {
    # FLAIR: CSF suppressed, oedema the brightest tissue (what a classifier can see).
    "flair": [0.0, 0.10, 0.62, 0.48, 0.57, 0.42, 0.95, 0.78],
    # T1: white brighter than grey, tumour dark.
    "t1": [0.0, 0.18, 0.55, 0.80, 0.62, 0.20, 0.44, 0.52],
    # T1ce: as T1, but the gadolinium-enhancing rim is the brightest tissue.
    "t1ce": [0.0, 0.20, 0.56, 0.80, 0.63, 0.22, 0.46, 1.00],
    # T2: CSF and fluid-rich tumour bright, white matter dark.
    "t2": [0.0, 1.00, 0.62, 0.40, 0.54, 0.92, 0.84, 0.60],
}


def make_brats_like(
    out_dir: str | Path,
    n_patients: int = 50,
    shape: tuple[int, int, int] = (240, 240, 155),
    random_state: int | np.random.RandomState | None = 0,
    *,
    compress: bool = True,
) -> Path:
    """Write a synthetic cohort of brain MRI phantoms in the BraTS2021 layout.

    Every patient gets the four modalities and a tumour segmentation, with the
    folder and file names, dtypes (int16 images, uint8 seg) and an LPS-oriented
    affine like the BraTS2021 Task 1 release::

        out_dir/
            BraTS2021_00000/
                BraTS2021_00000_flair.nii.gz
                BraTS2021_00000_t1.nii.gz
                BraTS2021_00000_t1ce.nii.gz
                BraTS2021_00000_t2.nii.gz
                BraTS2021_00000_seg.nii.gz
            BraTS2021_00001/
                ...

    so :func:`load_brats_slices` (and any BraTS tool) reads it unchanged.

    Parameters
    ----------
    out_dir : str or path-like
        Folder to write the case folders into; created if needed. Existing files
        with the same names are overwritten.
    n_patients : int, default=50
        Number of patients, named ``BraTS2021_00000`` onwards.
    shape : tuple of (int, int, int), default=(240, 240, 155)
        Volume shape. Every shape covers the BraTS field of view
        (240 x 240 x 155 mm), so smaller shapes such as ``(64, 64, 40)`` give
        the same anatomy at a coarser voxel size, quickly.
    random_state : int, RandomState instance or None, default=0
        Seed of the cohort. Patient ``i`` only depends on ``random_state`` and
        ``i``, not on ``n_patients``.
    compress : bool, default=True
        Write ``.nii.gz`` (as BraTS ships) or, if False, ``.nii``.

    Returns
    -------
    out_dir : pathlib.Path
        The folder holding the case folders, to pass to :func:`load_brats_slices`.

    See Also
    --------
    load_brats_slices : Load a tumour and a no-tumour slice per patient.

    Notes
    -----
    Each phantom is built from smooth random fields (vectorised numpy):

    - a skull-stripped brain of random size, shape, position and in-plane
      rotation, with an exact-zero background;
    - a folded grey-matter cortex over white matter, sulcal CSF, two lateral
      ventricles, a third ventricle and deep grey nuclei;
    - one glioma per patient, of random size, elongation, irregular outline and
      position inside the brain: a necrotic core (seg label 1) inside an
      enhancing rim (label 4), surrounded by oedema (label 2). It is placed above
      or below the brain's centre and capped in height, so every patient keeps
      brain slices without tumour;
    - per-modality contrasts (FLAIR: suppressed CSF, hyperintense oedema; T1;
      T1ce: bright enhancing rim; T2: bright CSF), with per-patient contrast
      jitter, a multiplicative bias field, texture and Gaussian noise.

    Writing 50 patients takes about 2 s at 64 x 64 x 40 and about 1 to 2 s
    per patient at the real size.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from sklearn_inr.datasets import make_brats_like
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     root = make_brats_like(tmp, n_patients=2, shape=(32, 32, 16))
    ...     sorted(p.name for p in (root / "BraTS2021_00001").iterdir())
    ['BraTS2021_00001_flair.nii.gz', 'BraTS2021_00001_seg.nii.gz',
     'BraTS2021_00001_t1.nii.gz', 'BraTS2021_00001_t1ce.nii.gz',
     'BraTS2021_00001_t2.nii.gz']
    """
    if not (isinstance(n_patients, numbers.Integral) and 0 < n_patients <= 100_000):
        raise ValueError(
            f"n_patients must be an int in [1, 100000]; got {n_patients!r}."
        )
    shape = tuple(shape)
    if len(shape) != 3 or not all(
        isinstance(n, numbers.Integral) and n >= 8 for n in shape
    ):
        raise ValueError(f"shape must be three ints >= 8 (x, y, z); got {shape!r}.")
    shape = tuple(int(n) for n in shape)
    seed = check_random_state(random_state).randint(np.iinfo(np.int32).max)
    # One independent stream per patient: patient i does not depend on n_patients.
    streams = np.random.SeedSequence(seed).spawn(n_patients)
    out_dir = Path(out_dir).expanduser()
    suffix = ".nii.gz" if compress else ".nii"
    zooms = _FOV_MM / np.array(shape)
    # BraTS2021's orientation (LPS): x and y flipped, origin on the first voxel.
    affine = np.diag([-zooms[0], -zooms[1], zooms[2], 1.0])
    affine[1, 3] = (shape[1] - 1) * zooms[1]
    for i, stream in enumerate(streams):
        case = f"BraTS2021_{i:05d}"
        case_dir = out_dir / case
        case_dir.mkdir(parents=True, exist_ok=True)
        images, seg = _phantom(np.random.default_rng(stream), shape)
        for name, data in [*images.items(), ("seg", seg)]:
            _save(data, affine, case_dir / f"{case}_{name}{suffix}")
    return out_dir


def _save(data, affine, path):
    img = nib.Nifti1Image(data, affine)
    # Scanner-aligned codes, as in the BraTS files; mm and s units.
    img.header.set_qform(affine, code=1)
    img.header.set_sform(affine, code=1)
    img.header.set_xyzt_units("mm", "sec")
    nib.save(img, path)


def _field(rng, coords, n_terms, freq):
    """Smooth random field with unit-ish variance, a sum of separable cosines.

    ``coords`` are (u, v, w) grids broadcastable to the volume, with ``u`` and
    ``v`` varying in-plane only and ``w`` along z only. Each term is a product of
    an in-plane plane-wave pair at a random angle (so the pattern is not aligned
    with the voxel axes) and a cosine along z: one 3-D product per term keeps a
    real-size phantom around a second.
    """
    u, v, w = coords
    total = 0
    for _ in range(n_terms):
        # Python floats, not numpy float64 scalars, keep the arithmetic float32.
        k = (rng.uniform(0.5, 1.0, size=3) * freq).tolist()
        phase = rng.uniform(0, 2 * np.pi, size=3).tolist()
        angle = rng.uniform(0, np.pi)
        cos, sin = np.cos(angle).item(), np.sin(angle).item()
        along = cos * u + sin * v
        across = cos * v - sin * u
        plane = np.cos(k[0] * along + phase[0]) * np.cos(k[1] * across + phase[1])
        total = total + (rng.choice([-1, 1]) * plane) * np.cos(k[2] * w + phase[2])
    # A product of three cosines has variance 1/8.
    return (total * np.sqrt(8.0 / n_terms)).astype(np.float32)


def _phantom(rng, shape):
    """One patient: dict of int16 volumes by modality, and the uint8 seg."""
    zooms = _FOV_MM / np.array(shape)
    # Voxel centres in mm, relative to the centre of the field of view.
    x, y, z = (
        ((np.arange(n) + 0.5) * d - f / 2).astype(np.float32)
        for n, d, f in zip(shape, zooms, _FOV_MM)
    )
    x, y, z = x[:, None, None], y[None, :, None], z[None, None, :]

    # Brain: an egg-shaped ellipsoid (narrower at the front, flatter below),
    # randomly sized, shifted and rotated in-plane, with a wobbly surface.
    a, b, c = rng.uniform(60, 70), rng.uniform(76, 86), rng.uniform(56, 64)
    cx, cy, cz = rng.uniform(-4, 4), rng.uniform(-6, 6), rng.uniform(-4, 4)
    angle = np.deg2rad(rng.uniform(-8, 8))
    cos, sin = np.cos(angle).item(), np.sin(angle).item()
    xr = cos * (x - cx) + sin * (y - cy)
    yr = cos * (y - cy) - sin * (x - cx)
    v = yr / b  # 2-D: anterior-posterior
    u = xr / (a * (1 - 0.05 * v))  # 2-D: left-right, narrower frontally
    # 1-D: inferior-superior
    w = ((z - cz) / np.where(z < cz, 0.85 * c, c)).astype(np.float32)
    unit = (u, v, w)
    rho = np.sqrt(u**2 + v**2 + w**2) * (1 + 0.03 * _field(rng, unit, 4, 3.0))
    brain = rho < 1

    tissue = np.full(shape, 3, dtype=np.uint8)  # white matter
    # Cortex: a band ~10 mm deep whose inner border folds (gyri); sulci (CSF) cut
    # into it from the surface where the folding field is high.
    gyri = _field(rng, unit, 8, rng.uniform(28, 36))
    tissue[rho + 0.06 * gyri > 0.86] = 2
    tissue[((rho > 0.9) & (gyri > 1.0)) | (rho > 0.98)] = 1
    # Interhemispheric fissure, open at the front, back and top.
    fissure = (np.abs(u) < 0.025) & ((np.abs(v) > 0.4) | (w > 0.45))
    tissue[fissure & (rho > 0.3)] = 1
    deep = ((np.abs(u) - 0.22) / 0.1) ** 2 + ((v + 0.05) / 0.16) ** 2 + (w / 0.15) ** 2
    tissue[deep < 1] = 4
    # Lateral ventricles: curved, elongated front-to-back; size varies (atrophy).
    s = rng.uniform(0.8, 1.4)
    lateral = (
        ((np.abs(u) - 0.13 - 0.15 * v**2) / (0.08 * s)) ** 2
        + ((v - 0.02) / (0.42 * s)) ** 2
        + ((w - 0.12) / (0.28 * s)) ** 2
    )
    third = (u / 0.025) ** 2 + (v / 0.16) ** 2 + ((w + 0.02) / 0.15) ** 2
    tissue[(lateral < 1) | (third < 1)] = 1
    _add_tumour(rng, tissue, brain, x, y, z, (cx, cy, cz), (a, b, c))
    tissue[~brain] = 0
    seg = _SEG_LABEL[tissue]

    texture = 1 + 0.04 * _field(rng, unit, 6, 8.0)
    images = {}
    for name in MODALITIES:
        lut = np.asarray(_CONTRAST[name], dtype=np.float32)
        lut[1:] *= rng.uniform(0.93, 1.07, size=7)  # per-patient contrast
        image = lut[tissue] * texture
        # Partial volume at tissue borders: an in-plane [1, 2, 1] / 4 blur.
        for axis in (0, 1):
            image = _blur(image, axis)
        # Smooth multiplicative bias field (coil sensitivity), different per scan.
        bias = sum(rng.normal(0, 0.12) * t + rng.normal(0, 0.06) * t**2 for t in unit)
        image *= np.exp(bias, dtype=np.float32)
        image += rng.uniform(0.015, 0.035) * rng.standard_normal(
            shape, dtype=np.float32
        )
        scale = rng.uniform(500, 1500)  # arbitrary scanner units, as in BraTS
        # Skull-stripped: the background is exactly 0 and the brain never is.
        out = np.clip(np.rint(image * scale), 1, 32767).astype(np.int16)
        out[~brain] = 0
        images[name] = out
    return images, seg


def _add_tumour(rng, tissue, brain, x, y, z, centre, radii):
    """Draw one glioma into ``tissue`` (in place), inside the brain."""
    a, b, c = radii
    # Centre in one hemisphere, above or below the brain's centre: the slices on
    # the other side stay tumour-free, so each patient has a no-tumour slice.
    pos = np.array(
        [
            rng.choice([-1, 1]) * rng.uniform(0.15, 0.5) * a,
            rng.uniform(-0.45, 0.45) * b,
            rng.choice([-1, 1]) * rng.uniform(0.25, 0.45) * c,
        ]
    ) + np.asarray(centre)
    core = rng.uniform(8, 22)  # enhancing radius in mm
    necrosis = core * rng.uniform(0.3, 0.7)
    oedema = min(core * rng.uniform(1.3, 2.2), 40.0)
    stretch = rng.uniform(0.75, 1.3, size=3)
    # Cap the height (z extent) so the tumour never spans the whole brain.
    stretch[2] = min(stretch[2], 0.45 * c / oedema)
    # Only the box around the tumour is computed: cheap at any volume size.
    reach = oedema * stretch * 1.3
    grids = (x[:, 0, 0], y[0, :, 0], z[0, 0, :])
    box = tuple(
        slice(
            np.searchsorted(g, p - r),
            np.searchsorted(g, p + r),
        )
        for g, p, r in zip(grids, pos, reach)
    )
    local = [
        ((g[s] - p) / st).astype(np.float32)
        for g, s, p, st in zip(grids, box, pos, stretch)
    ]
    local = (local[0][:, None, None], local[1][None, :, None], local[2][None, None, :])
    dist = np.sqrt(local[0] ** 2 + local[1] ** 2 + local[2] ** 2)
    unit = tuple(d / oedema for d in local)
    rim = dist * (1 + 0.15 * _field(rng, unit, 4, 4.0))
    spread = dist * (1 + 0.25 * _field(rng, unit, 5, 5.0))
    region = tissue[box]
    inside = brain[box]
    region[inside & (spread < oedema) & (region != 1)] = _OEDEMA
    region[inside & (rim < core)] = _ENHANCING
    region[inside & (rim < necrosis)] = _NECROSIS


def _blur(image, axis):
    """[1, 2, 1] / 4 along ``axis``, edges replicated; returns a new array."""
    out = image * 0.5
    lo = [slice(None)] * 3
    hi = [slice(None)] * 3
    lo[axis], hi[axis] = slice(None, -1), slice(1, None)
    lo, hi = tuple(lo), tuple(hi)
    out[hi] += 0.25 * image[lo]
    out[lo] += 0.25 * image[hi]
    # The two edge planes only got one neighbour: give them their own value back.
    first, last = [slice(None)] * 3, [slice(None)] * 3
    first[axis], last[axis] = 0, -1
    out[tuple(first)] += 0.25 * image[tuple(first)]
    out[tuple(last)] += 0.25 * image[tuple(last)]
    return out
