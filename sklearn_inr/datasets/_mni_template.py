"""The MNI152 brain that nilearn ships, as tissue maps to resample per patient.

nilearn's wheel holds the ICBM 2009 (MNI152, nonlinear symmetric) T1 template
and its grey- and white-matter probability maps at 1 mm, in
``nilearn/datasets/data/``; its ``load_mni152_*`` functions read those files and
download nothing. No CSF map is shipped, so CSF is the hole-filled brain mask
minus grey and white matter: the ventricles, the sulci and the cisterns.
"""

import functools

import numpy as np
from scipy import ndimage

# Tissue order of the maps.
TISSUES = ("csf", "gm", "wm")
# Voxels of margin kept around the brain's bounding box when cropping.
_MARGIN = 4


@functools.lru_cache(maxsize=1)
def _template():
    """The 1 mm maps cropped to the brain (3, X, Y, Z), their affine, the brain box."""
    # Imported here: importing nilearn.datasets takes a second or two, which only
    # the users of the synthetic cohort should pay.
    from nilearn.datasets import (
        load_mni152_brain_mask,
        load_mni152_gm_template,
        load_mni152_wm_template,
    )

    gm_img = load_mni152_gm_template()
    gm = np.asarray(gm_img.get_fdata(dtype=np.float32))
    wm = np.asarray(load_mni152_wm_template().get_fdata(dtype=np.float32))
    # The T1 template above 0.2: the ventricles are inside (filling the mask's
    # holes would add 6 voxels).
    mask = np.asarray(load_mni152_brain_mask().dataobj) > 0
    csf = np.clip(mask - gm - wm, 0.0, 1.0)
    idx = np.argwhere(mask)
    lo, hi = idx.min(0), idx.max(0)
    box = tuple(slice(max(a - _MARGIN, 0), b + 1 + _MARGIN) for a, b in zip(lo, hi))
    affine = gm_img.affine.copy()
    corners = np.stack([lo, hi]) @ affine[:3, :3].T + affine[:3, 3]
    bounds = corners.min(0), corners.max(0)
    affine[:3, 3] += affine[:3, :3] @ [s.start for s in box]
    maps = np.stack([csf[box], gm[box], wm[box]]).astype(np.float32)
    # Nothing outside the mask: the background of the maps is exactly zero.
    maps *= mask[box]
    return maps, affine, bounds


def brain_box_mm():
    """World (RAS, mm) bounding box of the template brain: ``(low, high)``."""
    return _template()[2]


# A few voxel sizes at once (about 55 MB each): tests and examples mix shapes.
@functools.lru_cache(maxsize=4)
def tissue_maps(zooms):
    """Tissue maps low-pass filtered for sampling at voxel size ``zooms`` (mm).

    Returns ``(maps, world_to_voxel)``: maps of shape (3, X, Y, Z) in the order
    of ``TISSUES``, and the 4 x 4 matrix from world (RAS, mm) to their voxel
    indices. A voxel of ``zooms`` mm averages the 1 mm tissue below it (partial
    volume), and without the filter linear sampling of a coarse grid would alias
    the cortex's folds.
    """
    maps, affine, _ = _template()
    voxel = np.sqrt((affine[:3, :3] ** 2).sum(0))
    # Gaussian of about the width of the target voxel, less the template's own.
    sigma = 0.4 * np.sqrt(np.maximum(np.asarray(zooms) ** 2 - voxel**2, 0)) / voxel
    if np.any(sigma > 0):
        maps = np.stack(
            [ndimage.gaussian_filter(m, sigma, mode="constant") for m in maps]
        )
    return _read_only(maps), _read_only(np.linalg.inv(affine))


def wm_candidates(step=3):
    """World positions (RAS, mm) of deep white matter, a tumour-centre pool.

    Voxels where white matter dominates (probability above 0.8), on a grid of
    ``step`` mm, as an (n, 3) array.
    """
    return _wm_candidates(step)


@functools.lru_cache(maxsize=2)
def _wm_candidates(step):
    maps, affine, _ = _template()
    grid = maps[2, ::step, ::step, ::step]
    idx = np.argwhere(grid > 0.8) * step
    return _read_only((idx @ affine[:3, :3].T + affine[:3, 3]).astype(np.float64))


def _read_only(array: np.ndarray) -> np.ndarray:
    # Cached results are shared by every caller: writing into one would change
    # every later cohort, so writing raises instead.
    array.setflags(write=False)
    return array


def sample(maps, world_to_voxel, coords):
    """Tissue probabilities at world points ``coords`` (3 arrays, RAS mm).

    Linear interpolation; points outside the template read 0 (background).
    Returns a float32 array of shape (3, *coords[0].shape).
    """
    lin, off = world_to_voxel[:3, :3], world_to_voxel[:3, 3]
    vox = np.stack(
        [
            lin[a, 0] * coords[0]
            + lin[a, 1] * coords[1]
            + lin[a, 2] * coords[2]
            + off[a]
            for a in range(3)
        ]
    )
    out = np.empty((len(maps), *vox.shape[1:]), dtype=np.float32)
    for i, m in enumerate(maps):
        ndimage.map_coordinates(
            m, vox, output=out[i], order=1, mode="constant", cval=0.0, prefilter=False
        )
    return out
