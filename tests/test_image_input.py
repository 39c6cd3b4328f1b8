import warnings

import numpy as np
import pytest

from sklearn_inr import INRFeaturizer
from sklearn_inr.estimators._image_input import flat_image_shape, validate_images


@pytest.mark.parametrize(
    "image_shape, n_features, expected",
    [((2, 8), 16, (2, 8)), ((-1, 4), 16, (4, 4)),
     ((4, 4, -1), 48, (4, 4, 3))],
)  # fmt: skip
def test_flat_image_shape(image_shape, n_features, expected):
    assert flat_image_shape(image_shape, n_features) == expected


@pytest.mark.parametrize(
    "image_shape, n_features, match",
    [(None, 16, r"pass image_shape"), ((3, 4), 16, "holds 12"),
     ((-1, 3), 16, "cannot hold"),
     ((2, -1, -1), 16, "at most one -1"), ((0, 4), 16, "positive ints")],
)  # fmt: skip
def test_flat_image_shape_errors_say_what_to_do(image_shape, n_features, match):
    with pytest.raises(ValueError, match=match):
        flat_image_shape(image_shape, n_features)


def test_validate_images_returns_the_shape_and_checks_it_later():
    estimator = INRFeaturizer(image_shape=(2, 3))
    images, image_shape, was_2d = validate_images(
        estimator, np.full((4, 6), 0.5), reset=True
    )
    assert images.shape == (4, 2, 3) and image_shape == (2, 3) and was_2d
    # It tells the estimator what it learned; it does not set its attributes
    # (validate_data's n_features_in_ aside).
    assert not hasattr(estimator, "image_shape_")
    assert not hasattr(estimator, "_input_was_2d")
    assert estimator.n_features_in_ == 6
    estimator.image_shape_ = image_shape
    checked = validate_images(estimator, np.full((1, 2, 3), 0.5), reset=False)
    assert checked.images.shape == (1, 2, 3) and not checked.was_2d
    assert checked.image_shape == (2, 3)
    with pytest.raises(ValueError, match=r"fitted on images of shape \(2, 3\)"):
        validate_images(estimator, np.full((1, 3, 2), 0.5), reset=False)
    with pytest.raises(ValueError, match="loss='bce' needs intensities"):
        validate_images(estimator, np.full((1, 6), 2.0), reset=False)


@pytest.mark.parametrize(
    "X, image_shape, expected_shape, was_2d",
    [(np.full((3, 4, 5), 0.5), None, (4, 5), False),
     (np.full((3, 4, 5, 2), 0.5), None, (4, 5, 2), False),
     (np.full((3, 40), 0.5), (4, 5, 2), (4, 5, 2), True)],
)  # fmt: skip
def test_validate_images_reports_the_input_layout(
    X, image_shape, expected_shape, was_2d
):
    checked = validate_images(INRFeaturizer(image_shape=image_shape), X, reset=True)
    assert checked.image_shape == expected_shape and checked.was_2d is was_2d
    assert checked.images.shape == (3, *expected_shape)


def _column_of_images(n=3, shape=(8, 8)):
    """A 1-D object array holding ``n`` images: what a DataFrame column gives."""
    column = np.empty(n, dtype=object)
    column[:] = [np.full(shape, 0.5) for _ in range(n)]
    return column


@pytest.mark.parametrize(
    "X, match",
    [
        (_column_of_images(), r"1-D array of 3 objects \(arrays of shape \(8, 8\)\): "
         r"stack them with np.stack\(list\(X\)\) to get one array of shape "
         r"\(3, 8, 8\)"),
        ([], r"X holds no images \(an empty list\)"),
        ((), r"X holds no images \(an empty tuple\)"),
        (np.array([]), r"X holds no images \(an empty 1-D array\)"),
        (np.array(["a", "b"], dtype=object), r"2 objects of type str, not images"),
    ],
    ids=["object-array", "empty-list", "empty-tuple", "empty-array", "strings"],
)  # fmt: skip
def test_a_column_of_images_or_no_images_is_named(X, match):
    # Not the "pass X[None]" advice of a 1-D numeric X: the real problem.
    with pytest.raises(ValueError, match=match) as error:
        INRFeaturizer().fit(X)
    assert "X[None]" not in str(error.value)


def test_a_column_of_images_of_different_shapes_says_so():
    column = _column_of_images(2)
    column[1] = np.zeros((4, 4))
    with pytest.raises(ValueError, match=r"different shapes .*\(8, 8\) and \(4, 4\)"):
        INRFeaturizer().fit(column)


def test_a_pandas_series_of_images_is_named():
    pd = pytest.importorskip("pandas")
    with pytest.raises(ValueError, match=r"pandas Series of 3 objects .* np.stack"):
        INRFeaturizer().fit(pd.Series(list(_column_of_images())))
    with pytest.raises(ValueError, match=r"no images \(an empty pandas Series\)"):
        INRFeaturizer().fit(pd.Series([], dtype=object))


def test_one_flat_image_still_gets_the_reshape_advice():
    with pytest.raises(ValueError, match=r"got 1-D input.*X\[None\]"):
        INRFeaturizer().fit(np.full(16, 0.5))


# ------------------------------------------------------------------ volumes
@pytest.mark.parametrize(
    "X, image_shape, expected_shape, was_2d",
    [(np.full((3, 4, 6, 5), 0.5), None, (4, 6, 5), False),
     (np.full((3, 4, 6, 5, 2), 0.5), None, (4, 6, 5, 2), False),
     (np.full((3, 120), 0.5), (4, 6, 5), (4, 6, 5), True),
     (np.full((3, 240), 0.5), (4, 6, 5, -1), (4, 6, 5, 2), True)],
)  # fmt: skip
def test_validate_images_reads_volumes_with_spatial_ndim_3(
    X, image_shape, expected_shape, was_2d
):
    estimator = INRFeaturizer(image_shape=image_shape, spatial_ndim=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # volumes read as volumes: no warning
        checked = validate_images(estimator, X, reset=True, spatial_ndim=3)
    assert checked.image_shape == expected_shape and checked.was_2d is was_2d
    assert checked.images.shape == (3, *expected_shape)


@pytest.mark.parametrize(
    "shape, spatial_ndim, match",
    [((4, 6, 5), 3, r"spatial_ndim=2, it would be \(n_images, H, W\).*X\[None\]"),
     ((2, 4, 6, 5, 2, 1), 3, r"4-D \(n_images, D, H, W\) or 5-D"),
     ((2, 4, 6, 5, 2), 2, r"3-D \(n_images, H, W\) or 4-D.*spatial_ndim=3")],
)  # fmt: skip
def test_wrong_ndim_names_both_readings(shape, spatial_ndim, match):
    estimator = INRFeaturizer(spatial_ndim=spatial_ndim)
    with pytest.raises(ValueError, match=match):
        validate_images(
            estimator, np.full(shape, 0.5), reset=True, spatial_ndim=spatial_ndim
        )


@pytest.mark.parametrize(
    "image_shape, spatial_ndim, match",
    [((4, 6), 3, r"\(D, H, W\) or \(D, H, W, C\).*pass spatial_ndim=2"),
     ((4, 6, 5, 2), 2, r"\(H, W\) or \(H, W, C\).*pass spatial_ndim=3"),
     (None, 3, r"image_shape=\(D, H, W\) or image_shape=\(D, H, W, C\)")],
)  # fmt: skip
def test_flat_image_shape_follows_spatial_ndim(image_shape, spatial_ndim, match):
    with pytest.raises(ValueError, match=match):
        flat_image_shape(image_shape, 240, spatial_ndim)


def test_channel_first_and_volume_arrays_warn_but_image_shape_does_not():
    estimator = INRFeaturizer()
    with pytest.warns(UserWarning, match=r"np\.moveaxis\(X, 1, -1\)"):
        validate_images(estimator, np.full((2, 1, 28, 28), 0.5), reset=True)
    with pytest.warns(
        UserWarning, match=r"4 x 6 pixels with 5 channels.*spatial_ndim=3"
    ):
        validate_images(estimator, np.full((2, 4, 6, 5), 0.5), reset=True)
    # image_shape states the layout: nothing to misread.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        validate_images(
            INRFeaturizer(image_shape=(4, 6, 5)), np.full((2, 120), 0.5), reset=True
        )
