import numpy as np
import pytest

from sklearn_inr.datasets._mni_template import (
    TISSUES,
    brain_box_mm,
    sample,
    tissue_maps,
    wm_candidates,
)


def _at(maps, to_voxel, points):
    """Tissue probabilities at world points (n, 3), as an (n, 3) array."""
    points = np.asarray(points, dtype=float)
    return sample(maps, to_voxel, [points[:, a] for a in range(3)]).T


def test_maps_are_tissue_probabilities():
    maps, _ = tissue_maps((1.0, 1.0, 1.0))
    assert maps.shape[0] == len(TISSUES) == 3
    assert maps.dtype == np.float32
    assert maps.min() >= 0
    assert maps.sum(axis=0).max() <= 1 + 1e-5
    # Background: the corners of the cropped box hold no tissue.
    assert maps[:, 0, 0, -1].sum() == 0 and maps[:, -1, -1, -1].sum() == 0


def test_known_anatomy_in_mni_coordinates():
    maps, to_voxel = tissue_maps((1.0, 1.0, 1.0))
    points = [
        (10, 0, 20),  # body of the right lateral ventricle: CSF
        (0, -55, -35),  # cerebellar cortex (vermis): grey matter
        (30, -20, 30),  # corona radiata: white matter
    ]
    probs = _at(maps, to_voxel, points)  # row: point, column: tissue
    assert probs[0, 0] > 0.7 and probs[1, 1] > 0.9 and probs[2, 2] > 0.9
    # Above the vertex and in front of the frontal pole: no brain.
    outside = _at(maps, to_voxel, [(0, 0, 100), (0, 90, 0)])
    np.testing.assert_array_equal(outside, 0)
    low, high = brain_box_mm()
    # A brain of about 14 x 18 x 15 cm, from the brain stem to the vertex.
    np.testing.assert_allclose(high - low, [144, 180, 154], atol=6)


def test_template_is_left_right_symmetric():
    maps, to_voxel = tissue_maps((1.0, 1.0, 1.0))
    rng = np.random.default_rng(0)
    points = rng.uniform([1, -100, -60], [70, 70, 80], size=(500, 3))
    mirrored = points * [-1, 1, 1]
    np.testing.assert_allclose(
        _at(maps, to_voxel, points), _at(maps, to_voxel, mirrored), atol=0.05
    )


def test_coarse_maps_are_smoothed_and_keep_the_tissue_volume():
    fine, _ = tissue_maps((1.0, 1.0, 1.0))
    coarse, to_voxel = tissue_maps((3.75, 3.75, 3.875))
    assert tissue_maps((3.75, 3.75, 3.875))[0] is coarse  # cached
    # Low-pass filtered: no sharper than the 1 mm maps, and the same amount
    # of each tissue (the filter only moves it).
    assert np.abs(np.diff(coarse, axis=1)).max() < np.abs(np.diff(fine, axis=1)).max()
    np.testing.assert_allclose(
        coarse.sum(axis=(1, 2, 3)), fine.sum(axis=(1, 2, 3)), rtol=0.01
    )
    np.testing.assert_array_equal(np.linalg.inv(to_voxel)[:3, :3], np.eye(3))


def test_wm_candidates_lie_in_white_matter():
    maps, to_voxel = tissue_maps((1.0, 1.0, 1.0))
    points = wm_candidates()
    assert points.shape[1] == 3 and len(points) > 1000
    assert np.all(_at(maps, to_voxel, points)[:, 2] > 0.8)


@pytest.mark.parametrize("outside", [(500.0, 0.0, 0.0), (0.0, 0.0, -400.0)])
def test_sample_outside_the_template_is_background(outside):
    maps, to_voxel = tissue_maps((1.0, 1.0, 1.0))
    np.testing.assert_array_equal(_at(maps, to_voxel, [outside]), 0)
