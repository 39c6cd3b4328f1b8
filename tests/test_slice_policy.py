"""Tests of :mod:`sklearn_inr.datasets._slice_policy` on hand-built volumes."""

import re

import numpy as np
import pytest

from sklearn_inr.datasets._slice_policy import select_slices, slice_counts

# Volumes are (x, y, z): axial slices along the last axis. 4 x 5 = 20 pixels
# per slice, 3 slices, so a count along the wrong axis has the wrong length.
SHAPE = (4, 5, 3)


def test_slice_counts_counts_per_axial_slice():
    flair = np.zeros(SHAPE, dtype=np.int16)
    flair[:, :, 0] = 7  # whole slice: 20
    flair[:2, :, 1] = 3  # two rows: 10
    flair[0, 0, 2] = -5  # negative intensities are brain too: 1
    seg = np.zeros(SHAPE, dtype=np.uint8)
    seg[0, 0, 1] = 1
    seg[1, 1, 1] = 2
    seg[2, 2, 1] = 4  # every tumour label counts
    seg[3, 4, 2] = 4
    brain, tumour = slice_counts([flair], seg)
    np.testing.assert_array_equal(brain, [20, 10, 1])
    np.testing.assert_array_equal(tumour, [0, 3, 1])


def test_slice_counts_brain_is_the_union_of_the_modalities():
    flair = np.zeros(SHAPE)
    t2 = np.zeros(SHAPE)
    flair[0, :, 0] = 1.0  # 5 pixels
    t2[0, :, 0] = 2.0  # the same 5: counted once
    t2[1, :2, 0] = 0.5  # 2 more, only in t2
    t2[:, :, 2] = 1.0  # only in t2: 20
    kept = flair.copy()
    brain, tumour = slice_counts([flair, t2], np.zeros(SHAPE))
    np.testing.assert_array_equal(brain, [7, 0, 20])
    np.testing.assert_array_equal(tumour, [0, 0, 0])
    # The first modality is not overwritten by the union.
    np.testing.assert_array_equal(flair, kept)
    # Order of the modalities does not matter.
    np.testing.assert_array_equal(slice_counts([t2, flair], np.zeros(SHAPE))[0], brain)


# ----------------------------------------------------------------- selection
def test_most_tumour_wins_and_ties_go_to_the_lowest_z():
    area = [600, 600, 600, 600, 600]
    assert select_slices(area, [0, 30, 5, 30, 0], 1000, 0.15, 1) == (1, 0)
    assert select_slices(area, [0, 5, 5, 30, 0], 1000, 0.15, 1) == (3, 4)


def test_thresholds_are_inclusive():
    # brain_threshold * n_pixels = 150: a slice of exactly 150 is eligible.
    assert select_slices([150, 150], [4, 0], 1000, 0.15, 4) == (0, 1)
    assert isinstance(select_slices([149, 150], [4, 0], 1000, 0.15, 4), str)
    assert isinstance(select_slices([150, 149], [4, 0], 1000, 0.15, 4), str)
    # min_tumor_pixels: exactly that many is enough, one fewer is not.
    assert isinstance(select_slices([150, 150], [3, 0], 1000, 0.15, 4), str)


def test_no_tumour_slice_is_the_closest_brain_area_not_the_nearest_slice():
    area = [640, 590, 700, 300, 620, 800]
    tumour = [0, 0, 50, 0, 0, 0]
    # Gaps to the tumour slice's 700: 60, 110, -, 400, 80, 100. The
    # neighbours 1 and 3 lose to slice 0, two slices away.
    assert select_slices(area, tumour, 1000, 0.15, 1) == (2, 0)


def test_area_ties_above_and_below_are_broken_by_distance_then_z():
    # Slices 0 and 4 both differ by 50 from the tumour slice's 600 (one
    # below, one above): a signed gap would pick the smaller area. 4 is
    # nearer to z=3 than 0 is.
    area = [550, 900, 900, 600, 650]
    assert select_slices(area, [0, 9, 9, 40, 0], 1000, 0.15, 1) == (3, 4)
    # Same gap and same distance on both sides: the lower z.
    area = [300, 550, 600, 650, 300]
    assert select_slices(area, [0, 0, 40, 0, 0], 1000, 0.15, 1) == (2, 1)


def test_ineligible_slices_are_never_chosen():
    n_pixels = 100
    # Slice 0 has the most tumour but too little brain; slice 3 has the
    # perfect area match but too little brain as well.
    area = [10, 60, 40, 14, 30]
    tumour = [90, 20, 0, 0, 0]
    assert select_slices(area, tumour, n_pixels, 0.15, 1) == (1, 2)


def test_slice_indices_are_python_ints():
    pair = select_slices(np.array([600, 600]), np.array([5, 0]), 1000, 0.15, 1)
    assert pair == (0, 1)
    assert all(type(z) is int for z in pair)


@pytest.mark.parametrize(
    "area, tumour, min_tumor, match",
    [
        # No slice is eligible: the message gives the largest fraction.
        ([100, 140, 20], [0, 5, 0], 1, r"brain_threshold=0\.15 \(largest is 0\.140\)"),
        # The eligible slices hold too little tumour; the ineligible slice's
        # 50 pixels are not "the most".
        ([600, 600, 100], [0, 3, 50], 4, r"min_tumor_pixels=4 .*\(most is 3\)"),
        # No tumour at all: no tumour slice.
        ([600, 600], [0, 0], 1, r"\(most is 0\)"),
        # The only tumour-free slice is ineligible.
        ([600, 600, 100], [3, 5, 0], 1, "every eligible slice holds tumour"),
    ],
)
def test_patients_without_a_pair_get_a_reason(area, tumour, min_tumor, match):
    reason = select_slices(area, tumour, 1000, 0.15, min_tumor)
    assert isinstance(reason, str)
    assert re.search(match, reason), reason


def test_counts_to_selection_on_a_hand_built_patient():
    # Slices along z: 0 empty, 1 small brain, 2 and 3 brain with tumour,
    # 4 and 5 tumour-free brains of 12 and 16 pixels.
    flair = np.zeros(SHAPE[:2] + (6,), dtype=np.int16)
    flair[:, :2, 1] = 1  # 8 pixels: fraction 0.4
    flair[:, :4, 2] = 1  # 16
    flair[:, :4, 3] = 1  # 16
    flair[:, :3, 4] = 1  # 12
    flair[:, :4, 5] = 1  # 16
    seg = np.zeros_like(flair, dtype=np.uint8)
    seg[0, :3, 1] = 2  # 3 tumour pixels, but slice 1 is ineligible at 0.5
    seg[0, 0, 2] = 1  # 1
    seg[1:3, 1, 3] = 4  # 2: the tumour slice
    brain, tumour = slice_counts([flair], seg)
    np.testing.assert_array_equal(brain, [0, 8, 16, 16, 12, 16])
    np.testing.assert_array_equal(tumour, [0, 3, 1, 2, 0, 0])
    assert select_slices(brain, tumour, 20, 0.5, 1) == (3, 5)
    # With every slice over 0.4 eligible, slice 1's 3 pixels win; 4 (12
    # pixels) is then closer to its 8 than 5 (16) is.
    assert select_slices(brain, tumour, 20, 0.4, 1) == (1, 4)
