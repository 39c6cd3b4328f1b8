import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_inr import (
    INRFeaturizer,
    INRFitResult,
    INRSpec,
    LabelLeakWarning,
    fit_inrs,
    unflatten_theta,
)

SMALL = {"hidden_features": 16, "hidden_layers": 1}


def _featurizer(**kwargs):
    params = {"lr": 1e-3, "n_steps": 20, "random_state": 0, **SMALL}
    return INRFeaturizer(**{**params, **kwargs})


def test_defaults_fit_the_paper_tiny_siren():
    """The defaults reach the engine as the paper's TinySIREN, bit for bit."""
    image = np.linspace(0.1, 0.9, 16, dtype=np.float32).reshape(1, 4, 4)
    featurizer = INRFeaturizer(n_steps=2, random_state=0)
    with warnings.catch_warnings():
        # No weight transfer by default: labels are ignored, nothing leaks.
        warnings.simplefilter("error", LabelLeakWarning)
        theta = featurizer.fit_transform(image, [1])
    assert featurizer.n_params_ == theta.shape[1] == 264_193
    paper = fit_inrs(
        image, model="siren", hidden_features=256, hidden_layers=4, omega_0=30.0,
        loss="bce", lr=1e-4, n_steps=2, init=featurizer.init_params_,
    )  # fmt: skip
    np.testing.assert_array_equal(theta, paper.theta)
    # Sitzmann's init: first layer within 1/fan_in, the others within
    # sqrt(6/fan_in)/omega_0, from the one shared draw.
    weights, _ = unflatten_theta(featurizer.init_params_, featurizer.spec_.layer_shapes)
    assert np.abs(weights[0]).max() <= 1 / 2 < 2 * np.abs(weights[0]).max()
    bound = np.sqrt(6 / 256) / 30
    assert np.abs(weights[2]).max() <= bound < 1.05 * np.abs(weights[2]).max()


def test_x_forms_give_the_same_theta(smooth_images):
    theta_3d = _featurizer().fit_transform(smooth_images)
    flat = smooth_images.reshape(6, -1)
    theta_shape = _featurizer(image_shape=(12, -1)).fit_transform(flat)
    np.testing.assert_array_equal(theta_3d, theta_shape)
    theta_list = _featurizer().fit_transform(list(smooth_images))
    np.testing.assert_array_equal(theta_3d, theta_list)
    featurizer = _featurizer(image_shape=(12, 12)).fit(flat)
    assert featurizer.image_shape_ == (12, 12)
    assert featurizer.n_features_in_ == 144
    assert featurizer.inverse_transform(theta_3d).shape == (6, 144)


def test_channels_in_4d_input(smooth_images):
    images = np.stack([smooth_images, 1 - smooth_images], axis=-1)
    featurizer = _featurizer().fit(images)
    assert featurizer.image_shape_ == (12, 12, 2)
    assert featurizer.n_params_ == INRSpec(out_features=2, **SMALL).n_params
    theta = featurizer.transform(images)
    assert featurizer.inverse_transform(theta).shape == (6, 12, 12, 2)
    flat = _featurizer(image_shape=(12, 12, 2)).fit_transform(images.reshape(6, -1))
    np.testing.assert_array_equal(flat, theta)


def test_shared_init_and_fitted_attributes(smooth_images):
    featurizer = _featurizer(n_steps=25).fit(smooth_images)
    spec = INRSpec(**SMALL)
    assert featurizer.n_params_ == spec.n_params
    assert featurizer.init_params_.shape == (spec.n_params,)
    assert featurizer.loss_history_.shape[0] == 6
    assert featurizer.history_steps_[-1] == 25
    assert featurizer.train_psnr_.shape == (6,)
    np.testing.assert_array_equal(
        featurizer.get_feature_names_out(), spec.feature_names()
    )
    # transform starts from init_params_: one step with a tiny lr stays there.
    tiny = _featurizer(n_steps=1, lr=1e-12).fit(smooth_images)
    theta = tiny.transform(smooth_images)
    np.testing.assert_allclose(theta, np.tile(tiny.init_params_, (6, 1)), atol=1e-9)


def test_random_init_seeds_by_image_not_position(smooth_images):
    featurizer = _featurizer(init="random", n_steps=1, lr=1e-12).fit(smooth_images)
    assert featurizer.init_params_ is None
    theta = featurizer.transform(smooth_images)
    reversed_theta = featurizer.transform(smooth_images[::-1])
    np.testing.assert_array_equal(reversed_theta, theta[::-1])
    assert np.abs(theta[0] - theta[1]).max() > 0.1


def test_transform_reproduces_fit_transform(smooth_images):
    featurizer = _featurizer()
    theta = featurizer.fit_transform(smooth_images)
    np.testing.assert_array_equal(featurizer.transform(smooth_images), theta)
    np.testing.assert_array_equal(
        _featurizer().fit(smooth_images).transform(smooth_images), theta
    )


def test_warm_start_by_class_chains_each_class_in_order(smooth_images):
    y = np.array(["b", "a", "b", "a", "a", "b"])
    featurizer = _featurizer(warm_start_by_class=True)
    with pytest.warns(LabelLeakWarning, match="encodes the label"):
        theta = featurizer.fit_transform(smooth_images, y)
    settings = dict(lr=1e-3, n_steps=20, **SMALL)
    previous = featurizer.init_params_
    for row in (1, 3, 4):  # class "a", in the given order
        expected = fit_inrs(smooth_images[[row]], init=previous, **settings).theta[0]
        np.testing.assert_allclose(theta[row], expected, atol=1e-6)
        previous = expected
    np.testing.assert_array_equal(featurizer.classes_, ["a", "b"])
    np.testing.assert_allclose(featurizer.class_init_[0], theta[4])
    np.testing.assert_allclose(featurizer.class_init_[1], theta[5])
    # transform has no labels: it starts from the shared init.
    label_free = _featurizer().fit(smooth_images).transform(smooth_images)
    np.testing.assert_array_equal(featurizer.transform(smooth_images), label_free)
    assert not np.allclose(theta[3], label_free[3], atol=1e-4)


def test_warm_start_needs_y(smooth_images):
    with pytest.raises(ValueError, match="needs y"):
        _featurizer(warm_start_by_class=True).fit(smooth_images)


def test_noise_leaks_the_label_only_through_weight_transfer():
    """40 pure-noise images, alternating labels: weight transfer is readable."""
    rng = np.random.default_rng(0)
    noise = rng.uniform(size=(40, 16, 16)).astype(np.float32)
    y = np.arange(40) % 2
    settings = dict(
        hidden_features=8, hidden_layers=1, lr=1e-3, n_steps=20, random_state=0
    )
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LabelLeakWarning)
        leaky = INRFeaturizer(warm_start_by_class=True, **settings).fit_transform(
            noise, y
        )
    honest = INRFeaturizer(**settings).fit_transform(noise)
    leaky_accuracy = cross_val_score(probe, leaky, y, cv=cv).mean()
    honest_accuracy = cross_val_score(probe, honest, y, cv=cv).mean()
    assert leaky_accuracy >= 0.9
    assert honest_accuracy <= 0.7


def test_inverse_transform_score_and_feature_names(smooth_images):
    featurizer = _featurizer(n_steps=60).fit(smooth_images)
    theta = featurizer.transform(smooth_images)
    images = featurizer.inverse_transform(theta)
    assert images.shape == smooth_images.shape
    psnr = -10 * np.log10(((images - smooth_images) ** 2).mean(axis=(1, 2)))
    np.testing.assert_allclose(featurizer.score(smooth_images), psnr.mean(), rtol=1e-4)
    np.testing.assert_allclose(featurizer.train_psnr_, psnr, rtol=1e-4)
    assert featurizer.get_feature_names_out()[-1] == "l2.b[0]"
    with pytest.raises(ValueError, match="outputs"):
        featurizer.inverse_transform(theta[:, :-1])


@pytest.mark.parametrize(
    "X, params, match",
    [
        (np.full((2, 16), np.nan), {"image_shape": (4, 4)}, "NaN"),
        (np.full((2, 4, 4), 2.0), {}, r"needs intensities in \[0, 1\]"),
        (np.zeros((2, 10)), {}, r"pass image_shape=\(H, W\).*X\[None\]"),
        # One (64, 64) image as a 2-D array was read as 64 images of 8 x 8.
        (np.zeros((64, 64)), {}, r"2-D with 64 columns.*X\[None\]"),
        (np.zeros((2, 16)), {"image_shape": (3, 5)}, "holds 15"),
        (np.zeros((2, 16)), {"image_shape": (3, -1)}, "cannot hold"),
        (np.zeros((2, 16)), {"image_shape": (4,)}, "image_shape must be"),
        (np.zeros((0, 16)), {"image_shape": (4, 4)}, "0 sample"),
        (np.zeros(16), {}, r"got 1-D input.*X\[None\]"),
        (np.zeros((2, 4, 4), dtype=complex), {}, "Complex data not supported"),
        ([np.zeros((4, 4)), np.zeros((4, 5))], {}, r"X\[1\] has shape \(4, 5\)"),
        (np.zeros((2, 16)), {"model": "tanh"}, "'model' parameter"),
        (np.zeros((2, 16)), {"loss": "l1"}, "'loss' parameter"),
        (np.zeros((2, 16)), {"init": "zeros"}, "'init' parameter"),
        (np.zeros((2, 16)), {"n_steps": 0}, "'n_steps' parameter"),
        (np.zeros((2, 16)), {"lr": 0.0}, "'lr' parameter"),
        (np.zeros((2, 16)), {"omega_0": 0.0}, "'omega_0' parameter"),
        (np.zeros((2, 2, 2, 2, 2)), {}, "4-D"),
    ],
)
def test_bad_input_raises_clear_value_error(X, params, match, smooth_images):
    # A fitted featurizer refitted on bad input ends unfitted, not half-fitted
    # (transform used to fail with AttributeError: no 'init_params_').
    featurizer = _featurizer(n_steps=1).fit(smooth_images)
    with pytest.raises(ValueError, match=match) as caught:
        featurizer.set_params(**params).fit(X)
    assert not [name for name in vars(featurizer) if name.endswith("_")]
    with pytest.raises(NotFittedError):
        featurizer.transform(smooth_images)
    # No message prints the data (numpy's repr of these arrays).
    message = str(caught.value).lower()
    assert "[0. 0." not in message and "nan nan" not in message
    assert "[[" not in message and "array(" not in message


def test_interrupted_fit_leaves_the_estimator_unfitted(smooth_images, monkeypatch):
    import sklearn_inr.fitting._runner as runner

    def interrupted(*args):
        raise KeyboardInterrupt

    featurizer = _featurizer(n_steps=1).fit(smooth_images)
    monkeypatch.setattr(runner, "_train_batch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        featurizer.fit(smooth_images[::-1])
    with pytest.raises(NotFittedError):
        featurizer.transform(smooth_images)


@pytest.mark.parametrize("shape, n_pixels", [((1, 1), 1), ((1, 3), 3)])
def test_tiny_images_warn(shape, n_pixels, smooth_images):
    with pytest.warns(UserWarning, match=rf"{n_pixels} pixel\(s\)"):
        _featurizer(n_steps=1).fit(smooth_images[:, : shape[0], : shape[1]])


@pytest.mark.parametrize(
    "y, match",
    [
        ([0.0, 1.0, np.nan, 1.0, 0.0, 1.0], r"1 missing or non-finite label\(s\) \(at "
         r"positions \[2\]\)"),
        (np.array(["a", None, "b", "a", "b", "a"], dtype=object), r"positions \[1\]"),
        ([0, 0, 0, 0, 0, 0], r"y has 1 class\(es\); it needs at least two"),
    ],
)  # fmt: skip
def test_weight_transfer_needs_finite_labels_of_two_classes(y, match, smooth_images):
    with pytest.raises(ValueError, match=match):
        _featurizer(warm_start_by_class=True).fit(smooth_images, y)


def test_transform_checks_image_shape(smooth_images):
    featurizer = _featurizer(n_steps=1).fit(smooth_images)
    with pytest.raises(ValueError, match="fitted on images of shape"):
        featurizer.transform(smooth_images[:, :6, :])


def test_memory_caches_train_and_test_fits(tmp_path, smooth_images, fit_counter):
    featurizer = _featurizer(memory=str(tmp_path))
    theta = featurizer.fit_transform(smooth_images[:4])
    assert fit_counter["images"] == 4
    np.testing.assert_array_equal(featurizer.transform(smooth_images[:4]), theta)
    featurizer.transform(smooth_images)
    assert fit_counter["images"] == 6
    _featurizer(memory=str(tmp_path), lr=2e-3).fit(smooth_images[:1])
    assert fit_counter["images"] == 7


def test_progress_bar(smooth_images, capsys):
    _featurizer(n_steps=2, verbose=1).fit(smooth_images)
    assert "Fitting INRs" in capsys.readouterr().err
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LabelLeakWarning)
        _featurizer(n_steps=2, verbose=1, warm_start_by_class=True).fit(
            smooth_images, [0, 1] * 3
        )
    assert "Weight transfer" in capsys.readouterr().err


def test_pickle_round_trip(smooth_images):
    featurizer = _featurizer(n_steps=3).fit(smooth_images)
    restored = pickle.loads(pickle.dumps(featurizer))
    np.testing.assert_array_equal(
        restored.transform(smooth_images), featurizer.transform(smooth_images)
    )


def test_list_of_images_is_accepted(smooth_images):
    theta = _featurizer(n_steps=2).fit_transform(list(smooth_images))
    np.testing.assert_array_equal(
        theta, _featurizer(n_steps=2).fit_transform(smooth_images)
    )


def test_failed_fit_sets_nothing(smooth_images):
    from sklearn.utils.validation import check_is_fitted

    featurizer = _featurizer(features="shift", init="random")
    with pytest.raises(ValueError, match="features='shift'"):
        featurizer.fit(smooth_images)
    with pytest.raises(NotFittedError):
        check_is_fitted(featurizer)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        _featurizer(warm_start_by_class=True).fit(smooth_images, [0, 1])


def test_random_init_chain_starts_where_transform_starts(smooth_images):
    y = np.array([0, 1, 0, 1, 0, 1])
    settings = dict(init="random", n_steps=1, lr=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LabelLeakWarning)
        chained = _featurizer(warm_start_by_class=True, **settings).fit_transform(
            smooth_images, y
        )
    alone = _featurizer(**settings).fit(smooth_images).transform(smooth_images[:2])
    np.testing.assert_allclose(chained[:2], alone, atol=1e-9)


def test_target_psnr_records_the_steps_of_each_training_image(smooth_images):
    images = np.concatenate([np.full((2, 12, 12), 0.3), smooth_images[:2]])
    featurizer = _featurizer(
        loss="mse", lr=1e-2, n_steps=70, target_psnr=40.0, hidden_layers=2
    )
    featurizer.fit(images.astype(np.float32))
    np.testing.assert_array_equal(featurizer.n_steps_ < 70, [True, True, False, False])
    assert (featurizer.train_psnr_[:2] >= 40.0).all()
    assert (_featurizer(n_steps=5).fit(images).n_steps_ == 5).all()
    # check_every reaches the fits: checked every step, the flat images stop
    # at a step that is not a multiple of 10, and sooner.
    every_step = clone(featurizer).set_params(check_every=1, target_psnr=38.0)
    every_step.fit(images.astype(np.float32))
    assert (every_step.n_steps_[:2] % 10 != 0).all()
    assert (every_step.n_steps_[:2] < featurizer.n_steps_[:2]).all()
    assert (every_step.train_psnr_[:2] >= 38.0).all()


# ------------------------------------------- parameters are read at fit
@pytest.mark.parametrize(
    "changed",
    [
        {"n_steps": -5},
        {"lr": np.nan, "loss": "mse"},
        {"model": "relu"},
        {"hidden_features": 8},
        {"init": "random", "features": "shift"},
        {"target_psnr": 1.0, "omega_0": 1.0},
    ],
    ids=lambda changed: ",".join(changed),
)
def test_set_params_after_fit_takes_effect_at_the_next_fit(changed, smooth_images):
    # transform, inverse_transform, score and the feature names use the
    # settings of the fit; set_params (even to an invalid value) changes
    # nothing until the next fit, which validates it.
    featurizer = _featurizer(n_steps=5).fit(smooth_images)
    theta = featurizer.transform(smooth_images[:2])
    score = featurizer.score(smooth_images[:2])
    names = featurizer.get_feature_names_out()
    rendered = featurizer.inverse_transform(theta)
    featurizer.set_params(**changed)
    np.testing.assert_array_equal(featurizer.transform(smooth_images[:2]), theta)
    assert featurizer.score(smooth_images[:2]) == score
    np.testing.assert_array_equal(featurizer.get_feature_names_out(), names)
    np.testing.assert_array_equal(featurizer.inverse_transform(theta), rendered)
    if changed.get("n_steps") == -5 or "lr" in changed:
        with pytest.raises(ValueError, match="n_steps|lr"):
            featurizer.fit(smooth_images)


def test_transform_checks_intensities_for_the_fitted_loss(smooth_images):
    # Fitted with bce, intensities outside [0, 1] stay an error after
    # set_params(loss="mse"): the fit's loss decides.
    featurizer = _featurizer(n_steps=2).fit(smooth_images)
    featurizer.set_params(loss="mse")
    with pytest.raises(ValueError, match="loss='bce' needs intensities"):
        featurizer.transform(smooth_images[:1] + 2.0)


# ----------------------------------------------------------- convergence
def test_converged_flags_fits_far_below_their_target(smooth_images):
    with pytest.warns(ConvergenceWarning):
        featurizer = _featurizer(n_steps=5, target_psnr=60.0).fit(smooth_images)
    assert featurizer.converged_.dtype == bool
    assert featurizer.converged_.shape == (len(smooth_images),)
    assert not featurizer.converged_.any()
    # A reachable target: every fit stopped at it and converged.
    flat = np.full((3, 12, 12), 0.3, dtype=np.float32)
    reached = _featurizer(loss="mse", lr=1e-2, n_steps=70, target_psnr=30.0)
    assert reached.fit(flat).converged_.all()


def test_converged_is_set_for_class_chains_which_warn_once(smooth_images):
    # Each of the 3 chain positions is one runner call; the fit warns once.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        featurizer = _featurizer(
            n_steps=5, target_psnr=60.0, warm_start_by_class=True
        ).fit(smooth_images, [0, 1] * 3)
    np.testing.assert_array_equal(featurizer.converged_, np.zeros(6, dtype=bool))
    unconverged = [w for w in caught if w.category is ConvergenceWarning]
    assert len(unconverged) == 1
    assert "6 of 6 fits did not converge" in str(unconverged[0].message)
    assert sum(w.category is LabelLeakWarning for w in caught) == 1


def test_class_chains_align_histories_of_different_lengths():
    # Each chain position is one call, whose history covers the steps that
    # call took: a later, longer call must not break the stacking.
    from sklearn_inr.estimators._weight_transfer import fit_class_chains

    def fake_fit(images, init):
        n_taken = 3 if images[0, 0, 0, 0] < 0.5 else 9
        steps = np.append(np.arange(0, n_taken, 2), n_taken)
        history = np.tile(np.linspace(1, 0.5, len(steps)), (len(images), 1))
        return INRFitResult(
            theta=np.zeros((len(images), 2), np.float32),
            loss=history[:, -1], loss_history=history, history_steps=steps,
            reconstructions=images, mse=np.zeros(len(images)),
            psnr=np.zeros(len(images)), spec=None,
            n_steps=np.full(len(images), n_taken), converged=np.ones(len(images), bool),
        )  # fmt: skip

    images = np.concatenate([np.zeros((2, 2, 2, 1)), np.ones((2, 2, 2, 1))])
    out = fit_class_chains(
        fake_fit, images, np.array([0, 1, 0, 1]), 2, lambda x: np.zeros((2, 2))
    )
    np.testing.assert_array_equal(out["history_steps"], [0, 2, 4, 6, 8, 9])
    assert out["loss_history"].shape == (4, 6)
    # The short histories repeat their final loss over the steps not taken.
    np.testing.assert_array_equal(out["loss_history"][0], [1, 0.75, 0.5, 0.5, 0.5, 0.5])
    assert out["converged"].all()


# ------------------------------------------------------------------ volumes
VOLUME = {"hidden_features": 8, "omega_0": 10.0, "device": "cpu"}


def test_volumes_fit_and_round_trip_through_inverse_transform(smooth_volumes):
    featurizer = _featurizer(spatial_ndim=3, n_steps=300, **VOLUME)
    theta = featurizer.fit_transform(smooth_volumes)
    assert featurizer.image_shape_ == (4, 6, 5)
    assert featurizer.spec_.in_features == 3 and featurizer.spec_.out_features == 1
    assert featurizer.n_features_in_ == 120
    reconstructions = featurizer.inverse_transform(theta)
    assert reconstructions.shape == smooth_volumes.shape
    errors = ((reconstructions - smooth_volumes) ** 2).mean(axis=(1, 2, 3))
    assert (10 * np.log10(1 / errors)).min() > 30  # a smooth volume fits well
    np.testing.assert_allclose(featurizer.train_psnr_, 10 * np.log10(1 / errors),
                               atol=0.05)  # fmt: skip
    assert featurizer.score(smooth_volumes) > 30
    names = featurizer.get_feature_names_out()
    assert len(names) == featurizer.n_params_ == theta.shape[1]
    # The first layer takes (z, y, x): three weights per hidden unit.
    assert list(names[:4]) == ["l0.w[0,0]", "l0.w[0,1]", "l0.w[0,2]", "l0.w[1,0]"]


def test_volume_x_forms_give_the_same_theta(smooth_volumes):
    theta = _featurizer(spatial_ndim=3, n_steps=5, **VOLUME).fit_transform(
        smooth_volumes
    )
    flat = smooth_volumes.reshape(4, -1)
    rows = _featurizer(spatial_ndim=3, n_steps=5, image_shape=(4, 6, 5), **VOLUME)
    np.testing.assert_array_equal(rows.fit_transform(flat), theta)
    assert rows.inverse_transform(theta).shape == (4, 120)
    # Two channels, as a 5-D array or as rows with image_shape=(D, H, W, C).
    volumes = np.stack([smooth_volumes, 1 - smooth_volumes], axis=-1)
    five_d = _featurizer(spatial_ndim=3, n_steps=5, **VOLUME).fit(volumes)
    assert five_d.spec_.out_features == 2 and five_d.image_shape_ == (4, 6, 5, 2)
    flat = _featurizer(spatial_ndim=3, n_steps=5, image_shape=(4, 6, 5, -1), **VOLUME)
    np.testing.assert_array_equal(
        flat.fit_transform(volumes.reshape(4, -1)), five_d.transform(volumes)
    )
    assert five_d.inverse_transform(five_d.transform(volumes)).shape == volumes.shape


def test_volume_theta_does_not_depend_on_its_companions(smooth_volumes):
    featurizer = _featurizer(spatial_ndim=3, n_steps=50, **VOLUME)
    together = featurizer.fit_transform(smooth_volumes)
    np.testing.assert_array_equal(featurizer.transform(smooth_volumes[[3, 1]]),
                                  together[[3, 1]])  # fmt: skip


def test_volumes_and_images_never_share_a_cache_entry(
    tmp_path, smooth_volumes, fit_counter
):
    as_images = _featurizer(n_steps=2, memory=str(tmp_path), **VOLUME)
    with pytest.warns(UserWarning, match="pass spatial_ndim=3"):
        as_images.fit(smooth_volumes)  # (D, H) pixels with W channels
    as_volumes = _featurizer(spatial_ndim=3, n_steps=2, memory=str(tmp_path), **VOLUME)
    as_volumes.fit(smooth_volumes)
    assert fit_counter["images"] == 8
    as_volumes.transform(smooth_volumes)  # hits the volumes' own entries
    assert fit_counter["images"] == 8


def test_channel_first_images_warn_at_the_callers_line():
    images = np.full((2, 1, 28, 28), 0.5, dtype=np.float32)
    with pytest.warns(UserWarning, match=r"moveaxis\(X, 1, -1\)") as record:
        _featurizer(n_steps=1, hidden_features=4).fit(images)
    (warning,) = [w for w in record if "moveaxis" in str(w.message)]
    assert warning.filename == __file__
    assert "1 x 28 pixels with 28 channels" in str(warning.message)


@pytest.mark.parametrize("spatial_ndim", [1, 4, 2.5, "3", None])
def test_spatial_ndim_is_validated(spatial_ndim, smooth_images):
    with pytest.raises(ValueError, match="'spatial_ndim' parameter of INRFeaturizer"):
        _featurizer(spatial_ndim=spatial_ndim).fit(smooth_images)


def test_a_fit_pickled_before_volumes_reads_2d_images(smooth_images):
    featurizer = _featurizer(n_steps=2).fit(smooth_images)
    del featurizer._fit_params["spatial_ndim"]  # as a pickle of that version
    assert featurizer.transform(smooth_images).shape == (6, featurizer.n_params_)
