"""The paper's slice policy: one tumour and one matched no-tumour slice per patient.

Pure numpy on per-slice counts, so the policy can be read and tested without files.
"""

import numpy as np


def slice_counts(volumes, seg):
    """Per axial slice ``z``: brain pixels and tumour pixels.

    The brain is the voxels that are nonzero in any of the requested modalities
    (BraTS volumes are skull-stripped with an exact-zero background). Tumour is any
    nonzero seg label (1, 2 or 4).
    """
    brain = volumes[0] != 0
    for volume in volumes[1:]:
        brain |= volume != 0
    brain_area = np.count_nonzero(brain, axis=(0, 1))
    tumor_pixels = np.count_nonzero(seg, axis=(0, 1))
    return brain_area, tumor_pixels


def select_slices(
    brain_area, tumor_pixels, n_pixels, brain_threshold, min_tumor_pixels
):
    """Pick ``(tumor_z, no_tumor_z)``, or return the reason there is no pair.

    Parameters
    ----------
    brain_area, tumor_pixels : ndarray of shape (n_slices,)
        Brain and tumour pixel counts of each axial slice.
    n_pixels : int
        Pixels per slice (H * W), the denominator of the brain fraction.
    brain_threshold : float
        Minimum brain fraction of an eligible slice.
    min_tumor_pixels : int
        Minimum tumour pixels of the tumour slice.

    Returns
    -------
    pair : tuple of (int, int) or str
        The two slice indices, or a sentence saying why the patient has no pair.
    """
    brain_area = np.asarray(brain_area)
    tumor_pixels = np.asarray(tumor_pixels)
    eligible = brain_area >= brain_threshold * n_pixels
    if not eligible.any():
        return (
            f"no slice has a brain fraction >= brain_threshold={brain_threshold} "
            f"(largest is {brain_area.max() / n_pixels:.3f})"
        )
    # argmax returns the first maximum: the lowest z wins a tie, deterministically.
    tumor_z = int(np.argmax(np.where(eligible, tumor_pixels, -1)))
    if tumor_pixels[tumor_z] < min_tumor_pixels:
        return (
            f"no eligible slice has >= min_tumor_pixels={min_tumor_pixels} tumour "
            f"pixels (most is {int(tumor_pixels[tumor_z])})"
        )
    candidates = np.flatnonzero(eligible & (tumor_pixels == 0))
    if candidates.size == 0:
        return "every eligible slice holds tumour, so there is no no-tumour slice"
    # Closest brain area first; among equals the slice nearest the tumour slice,
    # then the lower index, so the choice never depends on anything but the counts.
    gap = np.abs(brain_area[candidates] - brain_area[tumor_z])
    order = np.lexsort((candidates, np.abs(candidates - tumor_z), gap))
    return tumor_z, int(candidates[order[0]])
