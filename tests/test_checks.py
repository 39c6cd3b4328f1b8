import re
import warnings

import numpy as np
import pytest

from sklearn_inr.fitting._checks import check_images, check_intensity_range


def test_3d_integer_images_become_4d_float():
    images = np.random.default_rng(0).integers(0, 2, size=(3, 4, 5))
    checked = check_images(images)
    assert checked.shape == (3, 4, 5, 1)
    assert np.issubdtype(checked.dtype, np.floating)
    np.testing.assert_array_equal(checked[..., 0], images)


def test_4d_float_images_keep_their_values_and_dtype():
    images = np.random.default_rng(0).random((2, 3, 3, 2))
    checked = check_images(images)
    assert checked.dtype == np.float64
    np.testing.assert_array_equal(checked, images)


def test_bool_and_nested_list_images_are_accepted():
    checked = check_images(np.ones((2, 3, 3), dtype=bool))
    assert checked.shape == (2, 3, 3, 1)
    assert checked.dtype.kind == "f"
    checked = check_images([[[0, 1], [1, 0]]])
    np.testing.assert_array_equal(checked[0, ..., 0], [[0, 1], [1, 0]])


@pytest.mark.parametrize(
    "images",
    [
        np.zeros((2, 3, 3), dtype=object),
        np.full((2, 3, 3), "a"),
        np.zeros((2, 3, 3), dtype=complex),
        np.zeros((2, 3, 3), dtype="datetime64[s]"),
    ],
)
def test_non_numeric_images_are_rejected(images):
    with pytest.raises(ValueError, match="must be numeric"):
        check_images(images)


@pytest.mark.parametrize("shape", [(4,), (4, 4), (1, 2, 3, 4, 1)])
def test_wrong_dimensions_are_rejected(shape):
    with pytest.raises(ValueError, match=re.escape(f"got shape {shape}")):
        check_images(np.zeros(shape))


@pytest.mark.parametrize("shape", [(0, 4, 4), (2, 0, 4), (2, 4, 4, 0)])
def test_empty_images_are_rejected(shape):
    with pytest.raises(ValueError, match="no pixels") as excinfo:
        check_images(np.zeros(shape))
    assert str(shape) in str(excinfo.value)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_images_are_rejected_with_their_positions(bad):
    images = np.zeros((6, 3, 3), dtype=np.float32)
    images[1, 0, 2] = bad
    images[4, 2, 2] = bad
    with pytest.raises(ValueError, match=re.escape("image positions [1, 4]")):
        check_images(images)
    with pytest.raises(ValueError, match=re.escape("image positions [1, 4]")):
        check_images(images, loss="mse")


def test_nan_positions_are_listed_before_the_range_check():
    # The NaN check comes first: its message, not the range one.
    images = np.full((3, 2, 2), 5.0)
    images[2, 1, 1] = np.nan
    with pytest.raises(ValueError, match=re.escape("positions [2]")):
        check_images(images, loss="bce")


@pytest.mark.parametrize("low, high", [(-0.1, 0.5), (0.0, 1.5), (0, 255)])
def test_bce_rejects_values_outside_0_1(low, high):
    images = np.zeros((2, 3, 3))
    images[0, 0, 0] = low
    images[1, 2, 2] = high
    with pytest.raises(ValueError, match="loss='bce'") as excinfo:
        check_images(images)
    message = str(excinfo.value)
    assert "loss='mse'" in message
    assert f"[{low:g}, {high:g}]" in message
    with pytest.raises(ValueError, match="loss='bce'"):
        check_intensity_range(images, "bce")


def test_bce_accepts_the_closed_interval():
    images = np.zeros((2, 3, 3))
    images[1] = 1.0
    np.testing.assert_array_equal(check_images(images, loss="bce")[..., 0], images)


@pytest.mark.parametrize("low, high", [(-1000.0, 3000.0), (0, 255), (-1e-3, 1.0)])
def test_mse_accepts_any_finite_range(low, high):
    images = np.linspace(low, high, 2 * 3 * 3).reshape(2, 3, 3)
    checked = check_images(images, loss="mse")
    np.testing.assert_array_equal(checked[..., 0], images)
    check_intensity_range(images, "mse")


def test_unknown_loss_is_a_key_error():
    with pytest.raises(KeyError):
        check_intensity_range(np.zeros((1, 2, 2)), "l1")


def test_check_images_checks_the_channels_of_a_network():
    images = np.zeros((2, 4, 4, 3))
    assert check_images(images, "mse", out_features=3).shape == (2, 4, 4, 3)
    with pytest.raises(ValueError, match=r"3 channel\(s\) but spec.out_features=1"):
        check_images(images, "mse", out_features=1)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bce_range_message_shows_enough_digits(dtype):
    # One ulp above 1 must not read "[1, 1]".
    value = np.nextafter(dtype(1), dtype(2))
    with pytest.raises(ValueError) as info:
        check_intensity_range(np.full((1, 2, 2), value, dtype=dtype), "bce")
    shown = re.search(r"got values in \[([^,]+), ([^\]]+)\]", str(info.value))
    assert dtype(shown.group(2)) == value > 1


# ------------------------------------------------------------ spatial axes
def test_volumes_get_a_channel_axis_with_three_spatial_axes():
    volumes = np.random.default_rng(0).random((2, 4, 6, 5))
    checked = check_images(volumes, spatial_ndim=3)
    assert checked.shape == (2, 4, 6, 5, 1)
    np.testing.assert_array_equal(checked[..., 0], volumes)
    channels = np.random.default_rng(0).random((2, 4, 6, 5, 2))
    assert check_images(channels, spatial_ndim=3).shape == (2, 4, 6, 5, 2)


@pytest.mark.parametrize(
    "shape, spatial_ndim, reading",
    [((2, 4, 6), 3, r"\(n_images, D, H, W\) or \(n_images, D, H, W, C\)"),
     ((2, 4, 6, 5, 2, 1), 3, r"\(n_images, D, H, W\) or \(n_images, D, H, W, C\)"),
     ((2, 4, 6, 5, 2), 2, r"\(n_images, H, W\) or \(n_images, H, W, C\)")],
)  # fmt: skip
def test_wrong_dimensions_name_both_readings(shape, spatial_ndim, reading):
    with pytest.raises(ValueError, match=reading) as excinfo:
        check_images(np.zeros(shape), spatial_ndim=spatial_ndim)
    assert f"in_features={spatial_ndim}" in str(excinfo.value)


def test_channel_first_images_warn_with_the_reading_and_the_fixes():
    images = np.zeros((2, 1, 28, 28))
    with pytest.warns(UserWarning, match="Images of shape") as record:
        checked = check_images(images)
    message = str(record[0].message)
    assert "(1, 28, 28)" in message
    assert "1 x 28 pixels with 28 channels" in message
    assert "np.moveaxis(X, 1, -1)" in message and "spatial_ndim=3" in message
    assert checked.shape == (2, 1, 28, 28)  # a warning, not a change


def test_volumes_read_as_images_warn_and_not_with_spatial_ndim_3():
    volumes = np.zeros((2, 4, 6, 5))
    with pytest.warns(UserWarning, match="4 x 6 pixels with 5 channels"):
        check_images(volumes)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_images(volumes, spatial_ndim=3)
        # Few channels on large sides: the usual layout, no warning.
        check_images(np.zeros((2, 8, 8, 3)))
        check_images(np.zeros((2, 4, 6, 5, 2)), spatial_ndim=3)
    # A channel-first volume: only the moveaxis fix applies.
    with pytest.warns(UserWarning, match="moveaxis") as record:
        check_images(np.zeros((1, 2, 6, 6, 6)), spatial_ndim=3)
    assert "spatial_ndim=3 (" not in str(record[0].message)
