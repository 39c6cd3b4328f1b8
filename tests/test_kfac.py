import warnings

import numpy as np
import pytest
import torch

from sklearn_inr import (
    INRFeaturizer,
    INRSpec,
    fit_inrs,
    fit_shifts,
    make_coordinates,
    unflatten_theta,
)
from sklearn_inr.core import KFAC, BatchedINR, KFACBlock
from sklearn_inr.fitting._settings import FitSettings
from sklearn_inr.fitting._training import WeightsTrainer

SMALL = {"hidden_features": 16, "hidden_layers": 2}
KFAC_FIT = dict(optimizer="kfac", lr=1.0, loss="mse", random_state=0, **SMALL)


def _engine(spec, images, dtype=torch.float64, chunk=None):
    theta = torch.as_tensor(spec.init_theta(0), dtype=dtype).expand(len(images), -1)
    coords = make_coordinates(images.shape[1:3], dtype=dtype)
    net = BatchedINR(spec, theta, coords, chunk=chunk)
    targets = torch.as_tensor(images.reshape(len(images), -1, 1), dtype=dtype)
    return net, targets


def _reference_factors(spec, theta, coords, pixels):
    """A and G of every layer by autograd, over the pixels ``pixels``: the mean
    of [a, 1][a, 1]^T and of 2 g g^T, g = d output / d (W a + b)."""
    layers = theta_layers(spec, theta)
    inputs, pre_activations = [], []
    activation = coords[pixels]
    for k, (weight, bias) in enumerate(layers):
        inputs.append(activation)
        pre = (activation @ weight.T + bias).requires_grad_(True)
        pre_activations.append(pre)
        last = k == len(layers) - 1
        activation = pre if last else torch.sin(spec.omega_0 * pre)
    grads = torch.autograd.grad(activation.sum(), pre_activations)
    factors = []
    for a, g in zip(inputs, grads):
        a = torch.cat([a, torch.ones(len(a), 1, dtype=a.dtype)], dim=1)
        factors.append((a.T @ a / len(a), 2.0 * g.T @ g / len(a)))
    return [(a.detach(), g.detach()) for a, g in factors]


def theta_layers(spec, theta):
    weights, biases = unflatten_theta(theta, spec.layer_shapes)
    return list(zip(weights, biases))


@pytest.mark.parametrize("max_pixels", [None, 64])
def test_kronecker_factors_match_autograd(max_pixels, smooth_images):
    spec = INRSpec("siren", omega_0=20.0, **SMALL)
    images = np.pad(smooth_images[:2], ((0, 0), (0, 4), (0, 4)))  # 16 x 16
    # Four chunks of 64 pixels; max_pixels=64 keeps every 4th: the first.
    net, _ = _engine(spec, images, chunk=(2, 64))
    probe = torch.ones(256, 1, dtype=torch.float64)
    factors = net.kronecker_factors("mse", probe, range(4), max_pixels=max_pixels)
    pixels = slice(None) if max_pixels is None else slice(0, 64)
    coords = make_coordinates((16, 16), dtype=torch.float64)
    for image in range(2):
        theta = net.theta()[image]
        expected = _reference_factors(spec, theta, coords, pixels)
        for k, (input_factor, output_factor) in enumerate(expected):
            np.testing.assert_allclose(factors[k][0][image], input_factor, atol=1e-12)
            np.testing.assert_allclose(factors[k][1][image], output_factor, atol=1e-12)


def test_one_exact_step_solves_the_output_layer_least_squares(smooth_images):
    # The output layer is linear: its Gauss-Newton block is exactly A (x) G,
    # so one undamped, unbounded step lands on the least-squares solution.
    spec = INRSpec("siren", omega_0=20.0, **SMALL)
    net, targets = _engine(spec, smooth_images[:2])
    last = len(spec.layer_shapes) - 1

    def blocks():
        return WeightsTrainer().bind(net).kfac_blocks()[last:]

    optimizer = KFAC(net, blocks, lr=1.0, loss="mse", damping=1e-12, max_step=1e12)
    losses = net.backward(targets, "mse", return_losses=True)
    optimizer.step(losses)
    # The features the output layer sees, and the best linear fit on them.
    coords = make_coordinates(smooth_images.shape[1:3], dtype=torch.float64)
    for image in range(2):
        layers = theta_layers(spec, net.theta()[image])
        activation = coords
        for weight, bias in layers[:-1]:
            activation = torch.sin(spec.omega_0 * (activation @ weight.T + bias))
        design = torch.cat([activation, torch.ones(len(activation), 1)], dim=1)
        solution = torch.linalg.lstsq(design, targets[image]).solution
        weight, bias = layers[-1]
        np.testing.assert_allclose(weight[0], solution[:-1, 0], atol=1e-6)
        np.testing.assert_allclose(bias, solution[-1], atol=1e-6)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"model": "siren"},
        {"model": "relu", "loss": "bce"},
        {"model": "siren", "target_psnr": 30.0},
        {"model": "siren", "precision": "bf16"},
    ],
    ids=["siren", "relu-bce", "target-psnr", "bf16"],
)
def test_kfac_theta_is_bit_identical_whatever_batch_order_and_company(
    kwargs, smooth_images
):
    settings = {**KFAC_FIT, "n_steps": 40, **kwargs}
    base = fit_inrs(smooth_images, batch_size=6, **settings)
    order = np.array([4, 0, 5, 2, 1, 3])
    shuffled = fit_inrs(smooth_images[order], batch_size=4, **settings)
    alone = fit_inrs(smooth_images[[2]], **settings)
    strangers = fit_inrs(
        np.concatenate([1 - smooth_images[:3], smooth_images[[5]]]), **settings
    )
    np.testing.assert_array_equal(shuffled.theta, base.theta[order])
    np.testing.assert_array_equal(alone.theta, base.theta[[2]])
    np.testing.assert_array_equal(strangers.theta[[3]], base.theta[[5]])
    np.testing.assert_array_equal(shuffled.n_steps, base.n_steps[order])
    assert np.abs(base.theta - base.theta[0]).max() > 1e-2


def test_kfac_channels_use_a_probe_that_depends_on_the_step_only(smooth_images):
    colour = np.stack([smooth_images, 1 - smooth_images, smooth_images**2], axis=-1)
    settings = {**KFAC_FIT, "n_steps": 30}
    base = fit_inrs(colour, batch_size=3, **settings)
    alone = fit_inrs(colour[[4]], **settings)
    np.testing.assert_array_equal(alone.theta, base.theta[[4]])
    assert np.median(base.psnr) > 25.0


def test_kfac_needs_fewer_steps_than_adam_to_the_same_psnr(smooth_images):
    common = dict(loss="mse", target_psnr=35.0, n_steps=400, random_state=0,
                  hidden_features=32, hidden_layers=2)  # fmt: skip
    adam = fit_inrs(smooth_images, lr=1e-3, **common)
    kfac = fit_inrs(smooth_images, optimizer="kfac", lr=1.0, **common)
    assert (kfac.psnr >= 35.0).all() and (adam.psnr >= 35.0).all()
    assert kfac.n_steps.max() * 2 <= adam.n_steps.max(), (kfac.n_steps, adam.n_steps)


def test_kfac_fits_are_cached_apart(tmp_path, smooth_images, fit_counter):
    kwargs = dict(lr=1.0, n_steps=5, random_state=0, memory=tmp_path, **SMALL)
    adam = fit_inrs(smooth_images, **kwargs)
    kfac = fit_inrs(smooth_images, optimizer="kfac", **kwargs)
    assert fit_counter["images"] == 2 * len(smooth_images)
    again = fit_inrs(smooth_images, optimizer="kfac", **kwargs)
    assert fit_counter["images"] == 2 * len(smooth_images)
    np.testing.assert_array_equal(again.theta, kfac.theta)
    assert np.abs(adam.theta - kfac.theta).max() > 1e-3
    # Adam's keys hold no optimizer entry: they are those of earlier versions.
    spec = INRSpec(**SMALL)
    assert "optimizer" not in FitSettings().key(spec)
    assert FitSettings(optimizer="kfac").key(spec)["optimizer"] == "kfac"


def test_kfac_fits_shifts_bias_blocks_only(smooth_images):
    spec = INRSpec(**SMALL)
    mean_image = smooth_images.mean(axis=0, keepdims=True)
    base = fit_inrs(mean_image, lr=1e-3, n_steps=300, loss="mse", random_state=0,
                    **SMALL).theta[0]  # fmt: skip
    kwargs = dict(lr=1.0, n_steps=20, loss="mse", optimizer="kfac", record_every=1)
    kfac = fit_shifts(smooth_images, base, spec, batch_size=3, **kwargs)
    alone = fit_shifts(smooth_images[[1]], base, spec, **kwargs)
    np.testing.assert_array_equal(alone.theta, kfac.theta[[1]])
    # From the shared base (shifts at zero), every image's loss fell, as far
    # as Adam's (the shifts of a 16-wide net hold little: both end near 16 dB).
    adam = fit_shifts(smooth_images, base, spec, **{**kwargs, "lr": 1e-2,
                                                    "optimizer": "adam"})  # fmt: skip
    start, end = kfac.loss_history[:, 0], kfac.loss_history[:, -1]
    assert (end < start).all(), (start, end)
    assert np.median(end) <= 1.05 * np.median(adam.loss_history[:, -1])


def test_featurizer_passes_the_optimizer_and_refuses_it_for_latents(smooth_images):
    featurizer = INRFeaturizer(optimizer="kfac", lr=1.0, n_steps=10, loss="mse",
                               random_state=0, **SMALL)  # fmt: skip
    theta = featurizer.fit_transform(smooth_images)
    direct = fit_inrs(smooth_images, n_steps=10, init=featurizer.init_params_,
                      **KFAC_FIT)  # fmt: skip
    np.testing.assert_array_equal(theta, direct.theta)
    latent = INRFeaturizer(features="latent", init="meta", optimizer="kfac", **SMALL)
    with pytest.raises(ValueError, match="optimizer='adam'"):
        latent.fit(smooth_images)


def test_adam_sized_lr_with_kfac_warns_with_the_fix(smooth_images):
    with pytest.warns(UserWarning, match="Use lr=1.0 with optimizer='kfac'"):
        fit_inrs(smooth_images[:1], optimizer="kfac", lr=1e-4, n_steps=2, **SMALL)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="optimizer='kfac'")
        fit_inrs(smooth_images[:1], optimizer="kfac", lr=0.5, n_steps=2, **SMALL)


def test_unknown_optimizer_is_a_clear_error(smooth_images):
    with pytest.raises(ValueError, match="optimizer"):
        fit_inrs(smooth_images, optimizer="sgd", n_steps=1, **SMALL)


def test_select_keeps_each_networks_state(smooth_images):
    spec = INRSpec(**SMALL)
    net, targets = _engine(spec, smooth_images[:3], dtype=torch.float32)
    optimizer = KFAC(net, WeightsTrainer().bind(net).kfac_blocks, lr=1.0, loss="mse")
    for _ in range(3):
        optimizer.step(net.backward(targets, "mse", return_losses=True))
    lambdas = optimizer.lambdas.clone()
    keep = torch.tensor([True, False, True])
    net.select(keep)
    optimizer.select(keep)
    np.testing.assert_array_equal(optimizer.lambdas, lambdas[keep])
    assert all(len(part) == 2 for basis in optimizer.bases for part in basis)
    optimizer.step(net.backward(targets[keep], "mse", return_losses=True))
    assert isinstance(WeightsTrainer().bind(net).kfac_blocks()[0], KFACBlock)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_kfac_on_cuda_agrees_with_cpu_to_rounding(smooth_images):
    # In float64 the two devices differ by rounding only; so do the damping
    # decisions, which compare losses.
    kwargs = dict(KFAC_FIT, n_steps=20, dtype=torch.float64)
    cpu = fit_inrs(smooth_images, device="cpu", **kwargs)
    cuda = fit_inrs(smooth_images, device="cuda", **kwargs)
    np.testing.assert_allclose(cuda.theta, cpu.theta, rtol=0, atol=1e-6)
    assert np.abs(cpu.theta - cpu.theta[0]).max() > 1e-2
