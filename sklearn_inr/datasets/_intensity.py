"""Intensity scaling shared by the BraTS slice and volume loaders."""

import numpy as np


def brain_percentiles(volumes, percentiles):
    """Per volume, the ``percentiles`` of its brain (nonzero) voxels, as float32.

    Percentiles of the brain only: the zero background would pull them down.
    A volume without a brain voxel gets ``(0, 0)``.

    Returns
    -------
    lo, hi : ndarray of shape (n_volumes,)
    """
    bounds = []
    for volume in volumes:
        brain = volume[volume != 0]
        bounds.append(np.percentile(brain, percentiles) if brain.size else (0, 0))
    lo, hi = np.asarray(bounds, dtype=np.float32).T
    return lo, hi


def scale_to_unit(array, lo, hi):
    """``(array - lo) / (hi - lo)`` clipped to [0, 1], float32.

    ``lo`` and ``hi`` broadcast against ``array`` (one pair per channel). A
    constant image (``hi == lo``) becomes all zeros instead of NaN.
    """
    scale = np.where(hi > lo, hi - lo, 1).astype(np.float32)
    return np.clip((array - lo) / scale, 0, 1).astype(np.float32)
