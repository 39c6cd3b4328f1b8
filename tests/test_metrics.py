"""Tests of :mod:`sklearn_inr.metrics`: known values, per-image axes, errors."""

import numpy as np
import pytest

import sklearn_inr
from sklearn_inr.metrics import binary_entropy, mean_squared_error_per_image, psnr


def test_public_names_are_the_metrics_module_functions():
    assert sklearn_inr.psnr is psnr
    assert sklearn_inr.mean_squared_error_per_image is mean_squared_error_per_image
    assert sklearn_inr.binary_entropy is binary_entropy


# ------------------------------------------------------------------------ MSE
def test_mse_is_per_image_over_every_non_leading_axis():
    images = np.zeros((3, 2, 4, 2))
    recon = np.zeros_like(images)
    recon[0, 0, 0, 0] = 1.0  # one pixel of one channel: 1 / 16
    recon[1] = 0.5  # everywhere: 0.25
    recon[2, :, :, 1] = 2.0  # one of two channels: 4 / 2
    np.testing.assert_allclose(
        mean_squared_error_per_image(images, recon), [1 / 16, 0.25, 2.0]
    )


def test_mse_does_not_mix_images():
    # A bug averaging over axis 0 (or flattening everything) would spread
    # image 1's error over image 0.
    images = np.zeros((2, 3, 3))
    recon = images.copy()
    recon[1] = 1.0
    np.testing.assert_array_equal(mean_squared_error_per_image(images, recon), [0, 1])


def test_mse_is_symmetric_and_exact_in_float64():
    rng = np.random.default_rng(0)
    a = rng.uniform(size=(4, 5, 6)).astype(np.float32)
    b = rng.uniform(size=(4, 5, 6)).astype(np.float32)
    mse = mean_squared_error_per_image(a, b)
    assert mse.dtype == np.float64 and mse.shape == (4,)
    np.testing.assert_array_equal(mse, mean_squared_error_per_image(b, a))
    expected = ((a.astype(np.float64) - b) ** 2).mean(axis=(1, 2))
    np.testing.assert_allclose(mse, expected, rtol=1e-12)


def test_mse_accepts_lists():
    np.testing.assert_allclose(
        mean_squared_error_per_image([[0, 0], [1, 1]], [[0, 1], [1, 1]]), [0.5, 0.0]
    )


@pytest.mark.parametrize(
    "shapes",
    [((2, 4, 4), (2, 4, 5)), ((2, 4, 4), (1, 4, 4)), ((2, 4, 4), (4, 4))],
)
def test_mse_refuses_shapes_that_would_broadcast_or_differ(shapes):
    # (1, 4, 4) or (4, 4) would broadcast silently against (2, 4, 4): refused.
    first, second = shapes
    with pytest.raises(ValueError, match="must have the same shape") as info:
        mean_squared_error_per_image(np.zeros(first), np.zeros(second))
    assert str(first) in str(info.value) and str(second) in str(info.value)
    with pytest.raises(ValueError, match="must have the same shape"):
        psnr(np.zeros(first), np.zeros(second))


# ----------------------------------------------------------------------- PSNR
def test_psnr_known_values():
    images = np.zeros((3, 10))
    recon = np.stack([np.full(10, 0.1), np.full(10, 0.01), np.full(10, 1.0)])
    # MSE 0.01 -> 20 dB, 1e-4 -> 40 dB, 1 -> 0 dB, for data range 1.
    np.testing.assert_allclose(psnr(images, recon), [20.0, 40.0, 0.0], atol=1e-10)


def test_psnr_uses_data_range_squared():
    images = np.zeros((1, 4))
    recon = np.full((1, 4), 0.1)  # MSE 0.01
    # 10 log10(255**2 / 0.01) = 20 log10(255) + 20; a data_range (not squared)
    # would give 10 log10(255) + 20.
    np.testing.assert_allclose(
        psnr(images, recon, data_range=255.0), 20 * np.log10(255.0) + 20.0
    )
    np.testing.assert_allclose(
        psnr(images, recon, data_range=2.0), 20.0 + 20 * np.log10(2.0)
    )


def test_psnr_argument_order_does_not_matter_and_orders_images():
    rng = np.random.default_rng(1)
    images = rng.uniform(size=(3, 4, 4))
    noise = np.array([0.01, 0.1, 0.3])[:, None, None] * rng.standard_normal((3, 4, 4))
    scores = psnr(images, images + noise)
    np.testing.assert_array_equal(scores, psnr(images + noise, images))
    # More noise, lower PSNR: catches a sign error (log10(mse / range**2)).
    assert scores[0] > scores[1] > scores[2]
    mse = mean_squared_error_per_image(images, images + noise)
    np.testing.assert_allclose(scores, 10 * np.log10(1 / mse))


def test_identical_images_give_inf_without_a_warning():
    images = np.random.default_rng(2).uniform(size=(2, 3, 3))
    recon = images.copy()
    recon[1, 0, 0] += 0.1
    with np.errstate(all="raise"):  # a divide-by-zero warning would raise here
        scores = psnr(images, recon)
    assert scores[0] == np.inf and np.isfinite(scores[1])


def test_psnr_of_nan_reconstruction_is_nan():
    recon = np.zeros((2, 4))
    recon[1, 2] = np.nan
    scores = psnr(np.zeros((2, 4)), recon)
    assert scores[0] == np.inf and np.isnan(scores[1])


# ------------------------------------------------------------- binary entropy
def test_binary_entropy_known_values():
    p = np.array([[0.5, 0.5], [0.0, 1.0], [0.5, 0.0]])
    np.testing.assert_allclose(binary_entropy(p), [np.log(2), 0.0, np.log(2) / 2])


def test_binary_entropy_of_0_and_1_is_zero_without_nan():
    entropy = binary_entropy(np.array([[0.0, 0.0, 1.0, 1.0]]))
    assert entropy[0] == 0.0


def test_binary_entropy_is_symmetric_and_matches_the_formula():
    p = np.array([[0.1, 0.2, 0.3], [0.9, 0.8, 0.7]])
    entropy = binary_entropy(p)
    np.testing.assert_allclose(entropy[0], entropy[1], rtol=1e-12)
    q = p[0]
    expected = np.mean(-(q * np.log(q) + (1 - q) * np.log(1 - q)))
    np.testing.assert_allclose(entropy[0], expected, rtol=1e-12)


def test_binary_entropy_is_per_image_and_in_nats():
    images = np.full((2, 3, 3, 2), 0.5)
    images[1] = 0.0
    entropy = binary_entropy(images)
    assert entropy.shape == (2,)
    # nats, not bits: ln 2, not 1.
    np.testing.assert_allclose(entropy, [np.log(2), 0.0])


def test_binary_entropy_is_the_floor_of_the_bce_loss():
    rng = np.random.default_rng(3)
    p = rng.uniform(0.05, 0.95, size=(1, 50))
    q = np.clip(p + rng.normal(scale=0.05, size=p.shape), 1e-3, 1 - 1e-3)
    bce = np.mean(-(p * np.log(q) + (1 - p) * np.log(1 - q)))
    bce_at_p = np.mean(-(p * np.log(p) + (1 - p) * np.log(1 - p)))
    assert binary_entropy(p)[0] < bce
    np.testing.assert_allclose(binary_entropy(p)[0], bce_at_p, rtol=1e-12)


# ------------------------------------------------------------------ no images
@pytest.mark.parametrize(
    "metric",
    [
        mean_squared_error_per_image,
        psnr,
        lambda images, reconstructions: binary_entropy(images),
    ],
    ids=["mse", "psnr", "binary_entropy"],
)
def test_no_images_give_empty_scores(metric):
    scores = metric(np.zeros((0, 4, 4)), np.zeros((0, 4, 4)))
    assert scores.shape == (0,)
