"""Functa latent modulations: meta-learning, per-image latents, the featurizer."""

import numpy as np
import pytest
import torch
from conftest import make_smooth_images
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_inr import INRFeaturizer, INRSpec, make_coordinates, psnr
from sklearn_inr.fitting._checks import check_images
from sklearn_inr.fitting._inits import SharedInit
from sklearn_inr.fitting._runner import FitSettings, run_fits
from sklearn_inr.learned import (
    LatentModel,
    LatentTrainer,
    adapt_latents,
    latent_model_size,
    latents_to_theta,
    meta_learn_latent,
)

# Small enough for a second per fit; omega_0=10 and lr=0.1 (the starting
# inner rates) learn a useful model in 100 meta steps on the smooth images.
LATENT = dict(init="meta", features="latent", latent_dim=8, hidden_features=16,
              hidden_layers=2, omega_0=10.0, lr=0.1, inner_steps=3,
              meta_steps=100, meta_batch_size=6, device="cpu")  # fmt: skip


@pytest.fixture(scope="module")
def fitted():
    images = make_smooth_images()
    featurizer = INRFeaturizer(**LATENT, random_state=0)
    latents = featurizer.fit_transform(images)
    return featurizer, images, latents


def test_shapes_names_and_rendering(fitted):
    featurizer, images, latents = fitted
    assert latents.shape == (6, 8) and latents.dtype == np.float32
    assert featurizer.n_params_ == 8
    names = featurizer.get_feature_names_out()
    assert names.tolist() == [f"latent[{i}]" for i in range(8)]
    spec = featurizer.spec_
    assert featurizer.init_params_.shape == (latent_model_size(spec, 8),)
    np.testing.assert_array_equal(featurizer.n_steps_, 3)
    rendered = featurizer.inverse_transform(latents)
    assert rendered.shape == images.shape
    # The rendering repeats the fit's own float32 operations.
    np.testing.assert_allclose(psnr(images, rendered), featurizer.train_psnr_,
                               rtol=1e-5)  # fmt: skip


def test_latent_fit_beats_the_base_network(fitted):
    featurizer, images, latents = fitted
    base = featurizer.inverse_transform(np.zeros_like(latents))
    gain = psnr(images, featurizer.inverse_transform(latents)) - psnr(images, base)
    # Three steps on 8 numbers add well over 5 dB to every image.
    assert gain.min() > 5.0, gain


def test_inner_learning_rates_are_learned_positive_and_finite(fitted):
    featurizer, _, _ = fitted
    model = LatentModel.unpack(featurizer.init_params_, featurizer.spec_)
    assert np.isfinite(featurizer.init_params_).all()
    assert (model.lrs > 0).all()
    # Meta-SGD moved them from their common start (lr=0.1).
    assert np.ptp(model.lrs) > 1e-3 and not np.allclose(model.lrs, 0.1)


def test_latents_do_not_depend_on_batch_or_company(fitted):
    featurizer, images, latents = fitted
    np.testing.assert_array_equal(featurizer.transform(images), latents)
    np.testing.assert_array_equal(featurizer.transform(images[[3]]), latents[[3]])
    np.testing.assert_array_equal(featurizer.transform(images[::-1]), latents[::-1])
    featurizer.set_params(batch_size=4)  # batches of 4 and 2
    try:
        np.testing.assert_array_equal(featurizer.transform(images), latents)
    finally:
        featurizer.set_params(batch_size="auto")


def test_trainer_follows_the_meta_learned_inner_loop(fitted):
    # The runner's latent step (hand-written gradient through the engine)
    # equals the autograd inner loop the model was meta-learned with.
    featurizer, images, latents = fitted
    spec = featurizer.spec_
    model = LatentModel.unpack(featurizer.init_params_, spec)
    targets = torch.tensor(images.reshape(6, -1, 1))
    expected, _ = adapt_latents(
        *(torch.tensor(part) for part in model), make_coordinates((12, 12)),
        targets, spec, loss="bce", inner_steps=3,
    )  # fmt: skip
    np.testing.assert_allclose(latents, expected.detach().numpy(), atol=1e-5)


def test_same_random_state_same_features_and_cache(tmp_path, fit_counter):
    images = make_smooth_images()[:4]
    settings = {**LATENT, "meta_steps": 5, "meta_batch_size": 2}
    first = INRFeaturizer(**settings, random_state=1, memory=tmp_path)
    latents = first.fit_transform(images)
    assert fit_counter["images"] == 4
    again = INRFeaturizer(**settings, random_state=1, memory=tmp_path)
    np.testing.assert_array_equal(again.fit_transform(images), latents)
    np.testing.assert_array_equal(again.init_params_, first.init_params_)
    # Model and latents came from the cache: nothing was fitted again.
    assert fit_counter["images"] == 4
    other = INRFeaturizer(**settings, random_state=2).fit(images)
    assert not np.array_equal(other.init_params_, first.init_params_)


def test_labels_are_never_read():
    class Untouchable:
        def __array__(self, *args, **kwargs):
            raise AssertionError("y was read")

        def __len__(self):
            raise AssertionError("y was read")

    images = make_smooth_images()[:4]
    settings = {**LATENT, "meta_steps": 3, "meta_batch_size": 2, "random_state": 0}
    with_y = INRFeaturizer(**settings).fit(images, Untouchable())
    without = INRFeaturizer(**settings).fit(images)
    np.testing.assert_array_equal(with_y.init_params_, without.init_params_)


def test_runs_on_every_device(device):
    images = make_smooth_images()[:4]
    settings = {**LATENT, "meta_steps": 3, "meta_batch_size": 2, "device": device}
    featurizer = INRFeaturizer(**settings, random_state=0)
    latents = featurizer.fit_transform(images)
    assert latents.shape == (4, 8) and np.isfinite(latents).all()
    assert featurizer.inverse_transform(latents).shape == images.shape


def test_second_order_differs_from_first_order():
    images = make_smooth_images()[:3]
    spec = INRSpec(hidden_features=8, hidden_layers=1)
    kwargs = dict(latent_dim=4, meta_steps=2, inner_steps=2, random_state=0,
                  device="cpu")  # fmt: skip
    second = meta_learn_latent(images, spec, **kwargs)
    first = meta_learn_latent(images, spec, second_order=False, **kwargs)
    assert first.shape == second.shape and np.isfinite(first).all()
    assert not np.array_equal(first, second)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"init": "shared"}, "features='latent' needs .* use init='meta'"),
        ({"init": "random"}, "init='random' does not give"),
        ({"warm_start_by_class": True}, "set warm_start_by_class=False"),
        ({"hidden_layers": 0}, "hidden_layers >= 1"),
    ],
)
def test_unsupported_settings_are_rejected(params, match):
    featurizer = INRFeaturizer(**{**LATENT, **params})
    with pytest.raises(ValueError, match=match):
        featurizer.fit(make_smooth_images()[:2], [0, 1])
    assert not hasattr(featurizer, "init_params_")


def test_invalid_latent_dim():
    with pytest.raises(InvalidParameterError, match="'latent_dim' parameter"):
        INRFeaturizer(**{**LATENT, "latent_dim": 0}).fit(make_smooth_images()[:2])


def test_bad_arrays_get_clear_errors(fitted):
    featurizer, _, latents = fitted
    with pytest.raises(ValueError, match="theta has 7 features but this"):
        featurizer.inverse_transform(latents[:, :7])
    spec = featurizer.spec_
    with pytest.raises(ValueError, match="latent_dim \\+ 1"):
        LatentModel.unpack(np.zeros(spec.n_params + 5), spec)
    with pytest.raises(ValueError, match="latents must have shape"):
        latents_to_theta(np.zeros((2, 3)), featurizer.init_params_, spec)


def test_trainer_latents_are_those_of_its_images_only():
    # A direct run of the trainer: the start theta is the base with the
    # shifts of z = 0, and a bigger batch changes no bit of a row.
    spec = INRSpec(hidden_features=8, hidden_layers=2)
    rng = np.random.default_rng(0)
    model = LatentModel(spec.init_theta(0), rng.normal(size=(16, 5)),
                        rng.normal(size=16), np.full(5, 0.05))  # fmt: skip
    trainer = LatentTrainer(model.pack())
    images = check_images(make_smooth_images())
    start = SharedInit(trainer.start_theta(spec))
    settings = FitSettings(n_steps=4, record_every=1)
    alone = run_fits(images[:1], spec, settings, start, trainer, device="cpu")
    together = run_fits(images, spec, settings, start, trainer, device="cpu")
    np.testing.assert_array_equal(alone.theta[0], together.theta[0])
    # The loss went down from the start for every image.
    assert (together.loss_history[:, -1] < together.loss_history[:, 0]).all()


def test_rendering_in_blocks_changes_no_bit():
    spec = INRSpec(hidden_features=8, hidden_layers=1)
    rng = np.random.default_rng(1)
    model = LatentModel(spec.init_theta(1), rng.normal(size=(8, 3)),
                        rng.normal(size=8), np.full(3, 0.1))  # fmt: skip
    latents = rng.normal(size=(300, 3))  # more rows than one block
    theta = latents_to_theta(latents, model.pack(), spec)
    assert theta.shape == (300, spec.n_params)
    np.testing.assert_array_equal(
        theta[290:], latents_to_theta(latents[290:], model.pack(), spec)
    )
