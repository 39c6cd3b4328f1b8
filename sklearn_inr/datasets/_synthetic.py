"""A synthetic cohort of brain MRIs with gliomas, in the BraTS2021 layout.

The anatomy is the MNI152 template that nilearn ships (see ``_mni_template``),
resampled per patient with a random pose and deformation.
"""

import numbers
from pathlib import Path

import nibabel as nib
import numpy as np
from joblib import Parallel, delayed
from sklearn.utils import check_random_state

from ._mni_template import brain_box_mm, sample, tissue_maps, wm_candidates
from ._nifti_io import MODALITIES

# Field of view of a BraTS2021 volume in mm (240 x 240 x 155 voxels of 1 mm).
# Every shape covers the same field of view, so a 64 x 64 x 40 cohort is a
# low-resolution version of the same anatomy, not a zoomed-in one.
_FOV_MM = np.array([240.0, 240.0, 155.0])

# Intensity of each tissue in each modality, before per-patient jitter: the
# three template tissues (CSF, grey matter, white matter), then the tumour's
# necrotic core, oedema and enhancing rim (seg labels 1, 2 and 4).
_TUMOUR_LABELS = (1, 2, 4)
_CONTRAST = {
    # FLAIR: CSF suppressed, grey brighter than white, oedema hyperintense: 1.5
    # times white matter, 1.1 times grey. A brighter oedema makes the tumour /
    # no-tumour task near trivial for a pixel classifier (Notes of the function).
    "flair": [0.08, 0.62, 0.48, 0.40, 0.70, 0.68],
    # T1: white brighter than grey brighter than CSF; tumour dark.
    "t1": [0.18, 0.52, 0.80, 0.22, 0.42, 0.50],
    # T1ce: as T1, but the gadolinium-enhancing rim is the brightest tissue.
    "t1ce": [0.20, 0.54, 0.80, 0.24, 0.44, 1.00],
    # T2: CSF and fluid-rich tumour bright, white matter dark.
    "t2": [1.00, 0.62, 0.40, 0.95, 0.85, 0.60],
}
# Tumour centres: bands of height (MNI z, mm) above and below the ventricles.
_UPPER_BAND = (24.0, 48.0)
_LOWER_BAND = (-26.0, -10.0)
_CORE_RADIUS_MM = (8.0, 20.0)
# Cap on the oedema's half-height, so tumour-free slices remain on one side.
_MAX_HALF_HEIGHT_MM = 18.0


def make_brats_like(
    out_dir: str | Path,
    n_patients: int = 50,
    shape: tuple[int, int, int] = (240, 240, 155),
    random_state: int | np.random.RandomState | None = 0,
    *,
    compress: bool = True,
    n_jobs: int | None = None,
) -> Path:
    """Write a synthetic cohort of brain MRIs with gliomas in the BraTS2021 layout.

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
    n_jobs : int, default=None
        Patients written at once (joblib threads: NumPy, SciPy and zlib
        release the GIL for most of a patient's work). None: 1 unless in a
        :func:`joblib.parallel_config` context; -1: all cores. The files are
        the same bytes whatever ``n_jobs``.

    Returns
    -------
    out_dir : pathlib.Path
        The folder holding the case folders, to pass to :func:`load_brats_slices`.

    See Also
    --------
    load_brats_slices : Load a tumour and a no-tumour slice per patient.

    Notes
    -----
    Each patient is a real brain: the MNI152 template (ICBM 2009a nonlinear
    symmetric, skull-stripped, 1 mm) that `nilearn <https://nilearn.github.io>`__
    ships inside its wheel, as grey- and white-matter probability maps, with CSF
    as the brain mask minus both. Nothing is downloaded. Per patient:

    - the template is resampled onto ``shape`` with a random head size (0.88 to
      1.04 times the template per axis), small rotations, an offset and a smooth
      random displacement field (2 to 4 mm); the maps are low-pass filtered to
      the voxel size first, so each voxel holds a mixture of tissues (partial
      volume). The brain is skull-stripped, with an exact-zero background;
    - one glioma is centred in deep white matter off the midline, in a band
      above or below the lateral ventricles (as often one as the other), and
      off the brain's widest slices, with a random size
      (enhancing radius 8 to 20 mm), elongation and irregular outline: a
      necrotic core (seg label 1) inside an enhancing rim (label 4), surrounded
      by oedema (label 2) that follows the white matter and spares the CSF. It
      pushes the anatomy around it outwards (mass effect) and is capped in
      height, so every patient keeps brain slices without tumour;
    - each modality mixes per-tissue intensities (FLAIR: CSF dark, grey matter
      brighter than white, oedema bright; T1: white > grey > CSF; T1ce: as T1
      with a bright enhancing rim; T2: CSF and oedema bright), with per-patient
      jitter of each tissue's intensity, a multiplicative bias field, texture,
      tumour heterogeneity and Gaussian noise.

    The FLAIR oedema is about 1.5 times as bright as white matter, and that
    sets how hard the task is: on 40 patients of shape (96, 96, 60), with FLAIR
    slices loaded at 64 x 64, logistic regression on the pixels scores 0.79 to
    0.84 grouped 5-fold accuracy (mean 0.81 over ``random_state`` 0 to 4), and
    0.53 with the tumour made invisible (``random_state=0``): the matched
    no-tumour slice leaves the tumour itself as the only cue. A brighter oedema
    makes the task easy: 0.96 at 1.9 times white matter (``random_state=0``).

    Axes and orientation are those of BraTS: ``vol[:, :, z]`` is an axial slice,
    with the patient's right to left along the rows and front to back along the
    columns, the feet at ``z = 0``.

    A patient takes about 0.2 s at 64 x 64 x 40, 0.5 s at 96 x 96 x 60 and 8 s
    at the real size (one busy CPU core). The first call in a process also
    imports nilearn and reads the template: a few seconds more.

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

    def write(i, stream):
        case = f"BraTS2021_{i:05d}"
        case_dir = out_dir / case
        case_dir.mkdir(parents=True, exist_ok=True)
        images, seg = _patient(np.random.default_rng(stream), shape)
        for name, data in [*images.items(), ("seg", seg)]:
            _save(data, affine, case_dir / f"{case}_{name}{suffix}")

    # Each patient has its own stream and files, so the order in which the
    # threads write them changes no byte.
    Parallel(n_jobs=n_jobs, prefer="threads")(
        delayed(write)(i, stream) for i, stream in enumerate(streams)
    )
    return out_dir


def _save(data, affine, path):
    img = nib.Nifti1Image(data, affine)
    # Scanner-aligned codes, as in the BraTS files; mm and s units.
    img.header.set_qform(affine, code=1)
    img.header.set_sform(affine, code=1)
    img.header.set_xyzt_units("mm", "sec")
    nib.save(img, path)


def _smooth_field(rng, shape, n_basis, slope=1.0, box=None):
    """Smooth random field of unit variance over the field of view.

    A sum of separable cosines (a 3-D DCT with ``n_basis`` frequencies per axis)
    whose random amplitudes fall as ``1 / (1 + |k|^2) ** slope`` with the
    frequency ``k``. The basis is defined on the field of view, not on the
    voxels, so one patient has the same field at any ``shape``. ``box`` (three
    slices) evaluates only that part of the volume.
    """
    k = np.arange(n_basis)
    freq2 = k[:, None, None] ** 2 + k[None, :, None] ** 2 + k[None, None, :] ** 2
    coef = rng.standard_normal((n_basis,) * 3) / (1.0 + freq2) ** slope
    coef[0, 0, 0] = 0.0  # zero mean: the mean is set by the caller
    # A cosine of frequency k > 0 has mean square 1/2 over the field of view.
    power = np.where(k == 0, 1.0, 0.5)
    var = np.einsum("abc,a,b,c->", coef**2, power, power, power)
    box = box or (slice(None),) * 3
    bases = [
        np.cos(np.pi * np.outer(k, (np.arange(n)[b] + 0.5) / n)).astype(np.float32)
        for n, b in zip(shape, box)
    ]
    coef = (coef / np.sqrt(var)).astype(np.float32)
    return np.einsum("abc,ax,by,cz->xyz", coef, *bases, optimize=True)


def _rotation(angles):
    """Rotation matrix from angles (radians) about x, y and z, applied in turn."""
    out = np.eye(3)
    for axis, angle in enumerate(angles):
        i, j = [a for a in range(3) if a != axis]
        rot = np.eye(3)
        rot[i, i] = rot[j, j] = np.cos(angle)
        rot[i, j], rot[j, i] = -np.sin(angle), np.sin(angle)
        out = rot @ out
    return out


def _patient(rng, shape):
    """One patient: dict of int16 volumes by modality, and the uint8 seg."""
    zooms = _FOV_MM / np.array(shape)
    maps, to_voxel = tissue_maps(tuple(np.round(zooms, 4).tolist()))
    low, high = brain_box_mm()
    # Voxel centres in mm from the centre of the field of view, in world (RAS)
    # directions: with the LPS affine, x grows to the left and y to the back.
    x, y, z = (
        ((np.arange(n) + 0.5) * d - f / 2).astype(np.float32)
        for n, d, f in zip(shape, zooms, _FOV_MM)
    )
    grid = (-x[:, None, None], -y[None, :, None], z[None, None, :])

    # Pose and size of the head, then a smooth deformation of the anatomy. Each
    # output voxel reads the template at `world` (MNI mm).
    size = rng.uniform(0.88, 1.04, size=3)
    rotation = _rotation(np.deg2rad(rng.uniform(-1, 1, size=3) * [5.0, 3.0, 8.0]))
    linear = (rotation / size).astype(np.float32)
    centre = (low + high) / 2 + rng.uniform(-1, 1, size=3) * [4.0, 6.0, 4.0]
    warp = rng.uniform(2.0, 4.0)  # mm, standard deviation of the displacement
    world = [
        float(centre[a])
        + sum(float(linear[a, b]) * grid[b] for b in range(3))
        + warp * _smooth_field(rng, shape, 4)
        for a in range(3)
    ]
    pushed, tumour = _tumour(rng, shape, world)
    tissue = sample(maps, to_voxel, pushed)
    total = tissue.sum(axis=0)
    brain = total > 0.5
    box = tumour["box"]
    seg = np.zeros(shape, dtype=np.uint8)
    seg[box] = _tumour_labels(tumour, brain[box], tissue[(slice(None), *box)])

    # Composition of each voxel (partial volume), not darkened at the brain edge.
    frac = tissue / np.maximum(total, 1e-3)
    texture = 1 + 0.03 * _smooth_field(rng, shape, 12)
    heterogeneity = 1 + 0.08 * _smooth_field(rng, shape, 10, box=box)
    labels = [seg[box] == label for label in _TUMOUR_LABELS]
    images = {}
    for name in MODALITIES:
        lut = np.asarray(_CONTRAST[name], dtype=np.float32)
        lut *= rng.uniform(0.93, 1.07, size=lut.size)  # per-patient contrast
        image = np.einsum("t,txyz->xyz", lut[:3], frac) * texture
        region = image[box]  # a view: writes go to the image
        for where, value in zip(labels, lut[3:]):
            region[where] = value * heterogeneity[where]
        # Partial volume at the tumour's borders: an in-plane [1, 2, 1] / 4 blur.
        for axis in (0, 1):
            image = _blur(image, axis)
        # Smooth multiplicative bias field (coil sensitivity), different per scan.
        image *= np.exp(rng.uniform(0.05, 0.15) * _smooth_field(rng, shape, 3))
        image += rng.uniform(0.015, 0.035) * rng.standard_normal(
            shape, dtype=np.float32
        )
        scale = rng.uniform(500, 1500)  # arbitrary scanner units, as in BraTS
        # Skull-stripped: the background is exactly 0 and the brain never is.
        out = np.clip(np.rint(image * scale), 1, 32767).astype(np.int16)
        out[~brain] = 0
        images[name] = out
    return images, seg


def _tumour(rng, shape, world):
    """Draw one glioma in template space, and the mass effect it has.

    Returns the world points to read the tissue maps at (the anatomy pushed
    away from the tumour) and the geometry :func:`_tumour_labels` needs.
    """
    pool = wm_candidates()
    # Centre in deep white matter, in a band above or below the level of the
    # lateral ventricles' level (as often one as the other), off the brain's
    # widest slices and capped in height: every patient keeps tumour-free brain
    # slices whose area matches the tumour slice's (the slice policy's pick).
    # Supratentorial and off the midline, as most adult gliomas: no brain stem,
    # cerebellum or corpus callosum.
    x, y, height = pool.T
    pool = pool[(np.abs(x) > 12) & ((y > -40) | (height > -5))]
    height = pool[:, 2]
    if rng.random() < 0.5:
        pool = pool[(height > _UPPER_BAND[0]) & (height < _UPPER_BAND[1])]
    else:
        pool = pool[(height > _LOWER_BAND[0]) & (height < _LOWER_BAND[1])]
    centre = pool[rng.integers(len(pool))] + rng.uniform(-1.5, 1.5, size=3)
    core = rng.uniform(*_CORE_RADIUS_MM)  # enhancing radius
    necrosis = core * rng.uniform(0.3, 0.7)
    # The oedema reaches well beyond the rim (the rim's and the oedema's
    # outlines are irregular, so a thinner margin would leave next to none).
    oedema = min(core * rng.uniform(1.5, 2.4), 40.0)
    stretch = rng.uniform(0.75, 1.3, size=3)
    stretch[2] = min(stretch[2], _MAX_HALF_HEIGHT_MM / oedema)
    offset = [w - float(c) for w, c in zip(world, centre)]
    dist = np.sqrt(sum((o / float(s)) ** 2 for o, s in zip(offset, stretch)))
    # Mass effect: a voxel near the tumour reads the anatomy from closer to its
    # centre, so the surrounding tissue (ventricles, sulci) is pushed outwards.
    # The radial map r -> r * push(r) stays monotonic since the push is < 1; it
    # fades within about two core radii, so the brain's outline barely moves.
    push = 1 - rng.uniform(0.15, 0.35) * np.exp(-0.5 * (dist / core) ** 2)
    pushed = [float(c) + o * push for c, o in zip(centre, offset)]
    # Irregular outlines: the distance is scaled by smooth random fields, each
    # clipped to [0.5, 1.5], so the tumour lies within twice its oedema radius:
    # only that box of the volume is computed.
    box = _bounding_box(dist < 2 * oedema)
    rim, spread = (
        dist[box]
        * (1 + np.clip(a * _smooth_field(rng, shape, 12, 0.5, box), -0.5, 0.5))
        for a in (0.15, 0.25)
    )
    return pushed, {
        "box": box,
        "rim": rim,
        "spread": spread,
        "necrosis": necrosis,
        "core": core,
        "oedema": oedema,
    }


def _bounding_box(mask):
    """Slices of the smallest box holding every True voxel (empty if none)."""
    box = []
    for axis in range(mask.ndim):
        hit = np.flatnonzero(
            mask.any(axis=tuple(a for a in range(mask.ndim) if a != axis))
        )
        box.append(slice(hit[0], hit[-1] + 1) if hit.size else slice(0, 0))
    return tuple(box)


def _tumour_labels(tumour, brain, tissue):
    """The seg in the tumour's box: necrosis (1) in an enhancing rim (4), oedema (2)."""
    rim, spread, core = tumour["rim"], tumour["spread"], tumour["core"]
    csf, wm = tissue[0], tissue[2]
    seg = np.zeros(brain.shape, dtype=np.uint8)
    # Vasogenic oedema follows the white matter and spares the CSF spaces.
    seg[
        brain
        & (spread < tumour["oedema"])
        & (csf < 0.5)
        & ((wm > 0.3) | (rim < 1.25 * core))
    ] = 2
    seg[brain & (rim < core)] = 4
    seg[brain & (rim < tumour["necrosis"])] = 1
    return seg


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
