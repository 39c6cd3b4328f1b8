"""The paper's weight transfer (sklearn_inr/_weight_transfer.py)."""

import warnings

import numpy as np
import pytest

from sklearn_inr import INRFeaturizer, LabelLeakWarning, fit_inrs
from sklearn_inr.estimators._weight_transfer import check_chain_labels, fit_class_chains
from sklearn_inr.fitting._inits import GivenInit

SMALL = {"hidden_features": 8, "hidden_layers": 1}


def test_class_chains_start_each_image_from_its_predecessor(smooth_images):
    calls = []

    def fit(images, init):
        assert isinstance(init, GivenInit)
        calls.append((images[..., 0].copy(), init.thetas.copy()))

        class Result:  # each "fit" adds the image's mean to its start
            theta = init.thetas + images.reshape(len(images), -1).mean(1)[:, None]
            loss_history = np.zeros((len(images), 2))
            history_steps = np.array([0, 1])
            mse = psnr = np.zeros(len(images))
            n_steps = np.ones(len(images), dtype=int)
            converged = np.ones(len(images), dtype=bool)

        return Result

    images = smooth_images[..., None]
    y_index = np.array([1, 0, 1, 0, 0, 1])
    out = fit_class_chains(fit, images, y_index, 2, lambda firsts: np.zeros((2, 3)))
    means = images.reshape(6, -1).mean(1)
    # Class 0 chains rows 1, 3, 4 in order; class 1 rows 0, 2, 5.
    np.testing.assert_allclose(out["theta"][4], means[[1, 3, 4]].sum())
    np.testing.assert_allclose(out["theta"][5], means[[0, 2, 5]].sum())
    np.testing.assert_allclose(out["class_init"][:, 0], out["theta"][[4, 5], 0])
    assert len(calls) == 3  # one call per position, both classes together


def test_weight_transfer_warns_and_transform_stays_label_free(smooth_images):
    featurizer = INRFeaturizer(warm_start_by_class=True, n_steps=5, lr=1e-3,
                               random_state=0, **SMALL)  # fmt: skip
    with pytest.warns(LabelLeakWarning):
        featurizer.fit(smooth_images, [0, 1, 0, 1, 0, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("error", LabelLeakWarning)
        featurizer.transform(smooth_images)


@pytest.mark.parametrize("data", ["images", "volumes"])
def test_three_classes_build_three_chains(data, smooth_images, smooth_volumes):
    """Each class's images chained in order from the label-free init."""
    images = smooth_images if data == "images" else np.concatenate(
        [smooth_volumes, 1 - smooth_volumes[:2]]
    )  # fmt: skip
    spatial_ndim = images.ndim - 1
    y = np.array(["c", "a", "b", "a", "c", "b"])
    settings = dict(lr=1e-3, n_steps=5, **SMALL)
    featurizer = INRFeaturizer(warm_start_by_class=True, spatial_ndim=spatial_ndim,
                               random_state=0, **settings)  # fmt: skip
    with pytest.warns(LabelLeakWarning):
        theta = featurizer.fit_transform(images, y)
    np.testing.assert_array_equal(featurizer.classes_, ["a", "b", "c"])
    assert featurizer.class_init_.shape == (3, featurizer.n_params_)
    for k, rows in enumerate([[1, 3], [2, 5], [0, 4]]):  # classes a, b, c
        previous = featurizer.init_params_  # each chain starts label-free
        for row in rows:
            expected = fit_inrs(images[[row]], init=previous, spatial_ndim=spatial_ndim,
                                **settings).theta[0]  # fmt: skip
            np.testing.assert_allclose(theta[row], expected, atol=1e-6)
            previous = expected
        np.testing.assert_array_equal(featurizer.class_init_[k], theta[rows[-1]])


@pytest.mark.parametrize(
    "y, match",
    [
        (np.array([1 + 1j, 2]), "complex"),
        ([0, 1, 0], "inconsistent numbers of samples"),
        ([0.0, np.inf], "non-finite"),
        (["a", "a"], "it needs at least two"),
    ],
)
def test_chain_labels_are_checked(y, match):
    with pytest.raises(ValueError, match=match):
        check_chain_labels(np.zeros((2, 4, 4)), y)
    np.testing.assert_array_equal(
        check_chain_labels(np.zeros((2, 4, 4)), ["b", "a"]), ["b", "a"]
    )
