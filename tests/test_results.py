"""Tests of :mod:`sklearn_inr.fitting._results`: assembling and checking fits."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from sklearn_inr import DivergenceWarning, INRDivergenceError, INRFitResult, INRSpec
from sklearn_inr.fitting._results import (
    DIVERGENCE_FACTOR,
    collect_results,
    diverged,
)
from sklearn_inr.metrics import mean_squared_error_per_image, psnr

SPEC = INRSpec(hidden_features=2, hidden_layers=1)
STEPS = np.array([0, 5, 10])  # of histories of 10 steps recorded every 5
RECORD_EVERY = 5


def _entry(row, output, history=(1.0, 0.5, 0.2), n_steps=10):
    """One image's per-row entry, its theta filled with the row number."""
    return {
        "theta": np.full(SPEC.n_params, row, dtype=np.float32),
        "loss_history": np.asarray(history, dtype=np.float32),
        "output": np.asarray(output, dtype=np.float32),
        "n_steps": n_steps,
    }


def _images(n=4, side=3, channels=1, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(size=(n, side, side, channels)).astype(np.float32)


# ----------------------------------------------------------------- diverged
def test_diverged_flags_non_finite_losses_and_outputs():
    image = np.linspace(0, 1, 9).reshape(3, 3)
    good = image + 0.01
    assert not diverged(np.array([1.0, 0.1]), good, image)
    assert diverged(np.array([np.nan, 0.1]), good, image)
    assert diverged(np.array([1.0, np.inf]), good, image)
    assert diverged(np.array([1.0, -np.inf]), good, image)
    bad = good.copy()
    bad[1, 1] = np.nan
    assert diverged(np.array([1.0, 0.1]), bad, image)


def test_diverged_needs_both_a_loss_blow_up_and_a_bad_reconstruction():
    image = np.linspace(0, 1, 9).reshape(3, 3)
    worse_than_mean = 1.0 - image  # MSE 0.417 > var 0.104
    near = image + 0.01
    blown = np.array([0.1, 0.1 * DIVERGENCE_FACTOR * 1.01])
    held = np.array([0.1, 0.1 * DIVERGENCE_FACTOR * 0.99])
    assert diverged(blown, worse_than_mean, image)
    # A loss that rose, but stayed under the factor, is a slow fit.
    assert not diverged(held, worse_than_mean, image)
    # A loss blow-up with a reconstruction better than the mean is not.
    assert not diverged(blown, near, image)
    # A fit whose loss went down never qualifies, however bad it renders.
    assert not diverged(np.array([1.0, 0.9]), worse_than_mean, image)


def test_diverged_uses_only_the_first_and_last_losses():
    image = np.linspace(0, 1, 9).reshape(3, 3)
    # A spike in the middle of the history is not divergence.
    assert not diverged(np.array([1.0, 1e6, 0.5]), 1.0 - image, image)
    assert diverged(np.array([0.1, 0.05, 5.0]), 1.0 - image, image)


# ---------------------------------------------------------- collect_results
def test_collect_results_orders_rows_whatever_the_dict_order():
    images = _images()
    outputs = images + 0.1 * np.arange(1, 5)[:, None, None, None]
    # Entries arrive out of order (workers finish in any order).
    results = {row: _entry(row, outputs[row]) for row in (2, 0, 3, 1)}
    result = collect_results(results, images, RECORD_EVERY, SPEC, lr=1e-3)
    assert isinstance(result, INRFitResult)
    np.testing.assert_array_equal(result.theta[:, 0], [0, 1, 2, 3])
    np.testing.assert_allclose(result.mse, (0.1 * np.arange(1, 5)) ** 2, rtol=1e-5)
    assert result.spec is SPEC
    np.testing.assert_array_equal(result.history_steps, STEPS)


def test_collect_results_scores_agree_with_the_metrics():
    images = _images(channels=1)
    noise = np.random.default_rng(1).normal(0, 0.05, images.shape)
    outputs = np.clip(images + noise, 0, 1).astype(np.float32)
    results = {row: _entry(row, outputs[row]) for row in range(len(images))}
    result = collect_results(results, images, RECORD_EVERY, SPEC, lr=1e-3)
    # The single channel axis is dropped from the reconstructions.
    assert result.reconstructions.shape == (4, 3, 3)
    np.testing.assert_array_equal(result.reconstructions, outputs[..., 0])
    np.testing.assert_array_equal(
        result.mse, mean_squared_error_per_image(images[..., 0], outputs[..., 0])
    )
    np.testing.assert_array_equal(result.psnr, psnr(images[..., 0], outputs[..., 0]))
    np.testing.assert_allclose(result.psnr, 10 * np.log10(1 / result.mse))


def test_collect_results_keeps_channels_of_colour_images():
    images = _images(n=2, channels=3)
    outputs = images.copy()
    outputs[1, :, :, 2] += 0.3  # one channel of three: MSE 0.09 / 3
    results = {row: _entry(row, outputs[row]) for row in range(2)}
    result = collect_results(results, images, RECORD_EVERY, SPEC, lr=1e-3)
    assert result.reconstructions.shape == (2, 3, 3, 3)
    np.testing.assert_allclose(result.mse, [0.0, 0.03], rtol=1e-5)
    assert result.psnr[0] == np.inf
    np.testing.assert_allclose(result.psnr[1], 10 * np.log10(1 / 0.03), rtol=1e-5)


def test_collect_results_loss_fields():
    images = _images(n=2)
    results = {
        0: _entry(0, images[0], history=(1.0, 0.5, 0.25), n_steps=10),
        1: _entry(1, images[1], history=(2.0, 0.75, 0.75), n_steps=4),
    }
    result = collect_results(results, images, RECORD_EVERY, SPEC, lr=1e-3)
    assert result.loss_history.dtype == np.float64
    np.testing.assert_array_equal(
        result.loss_history, [[1, 0.5, 0.25], [2, 0.75, 0.75]]
    )
    # The final loss is the last column (not the first, not the minimum).
    np.testing.assert_array_equal(result.loss, [0.25, 0.75])
    # loss is a copy: editing it leaves the history alone.
    result.loss[0] = 99.0
    assert result.loss_history[0, -1] == 0.25
    assert result.n_steps.dtype == np.int64
    np.testing.assert_array_equal(result.n_steps, [10, 4])


def _with_divergence(images):
    """Rows 1 (NaN loss) and 3 (inf output) diverge; 0 and 2 are fine."""
    results = {row: _entry(row, images[row] + 0.01) for row in range(len(images))}
    results[1]["loss_history"] = np.array([1.0, np.nan, np.nan], dtype=np.float32)
    results[3]["output"] = np.full_like(images[3], np.inf)
    return results


def test_divergence_raises_naming_exactly_the_diverged_images():
    images = _images()
    with pytest.raises(INRDivergenceError) as info:
        collect_results(_with_divergence(images), images, RECORD_EVERY, SPEC, lr=0.5)
    error = info.value
    np.testing.assert_array_equal(error.indices, [1, 3])
    assert "positions [1, 3]" in str(error)
    assert "lr=0.5" in str(error)
    assert not error.overflow.any()
    # The error carries the final losses of those images, in their order.
    assert np.isnan(error.final_loss[0]) and error.final_loss[1] == pytest.approx(0.2)


def test_divergence_warns_then_returns_every_image():
    images = _images()
    with pytest.warns(DivergenceWarning, match=r"positions \[1, 3\]"):
        result = collect_results(
            _with_divergence(images), images, RECORD_EVERY, SPEC, lr=1e-3,
            on_divergence="warn",
        )  # fmt: skip
    assert result.theta.shape == (4, SPEC.n_params)
    assert np.isnan(result.loss[1]) and np.isfinite(result.loss[[0, 2, 3]]).all()
    # The diverged images keep their scores, untouched by the checks.
    assert result.mse[3] == np.inf and result.psnr[3] == -np.inf
    assert np.isfinite(result.psnr[[0, 1, 2]]).all()


def test_divergence_ignored_is_silent():
    images = _images()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = collect_results(
            _with_divergence(images), images, RECORD_EVERY, SPEC, lr=1e-3,
            on_divergence="ignore",
        )  # fmt: skip
    np.testing.assert_array_equal(result.theta[:, 0], [0, 1, 2, 3])


def test_loss_not_finite_from_the_start_is_reported_as_overflow():
    images = _images(n=3)
    results = {row: _entry(row, images[row] + 0.01) for row in range(3)}
    results[2]["loss_history"] = np.array([np.inf, np.inf, np.inf], dtype=np.float32)
    with pytest.raises(INRDivergenceError, match="Rescale the images") as info:
        collect_results(results, images, RECORD_EVERY, SPEC, lr=1e-3)
    np.testing.assert_array_equal(info.value.indices, [2])
    np.testing.assert_array_equal(info.value.overflow, [True])


def test_no_divergence_no_warning():
    images = _images()
    results = {row: _entry(row, images[row] + 0.01) for row in range(4)}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = collect_results(results, images, RECORD_EVERY, SPEC, lr=1e-3)
    assert np.isfinite(result.psnr).all()


# ------------------------------------------- histories and convergence
def test_histories_are_trimmed_to_the_steps_taken_and_padded_back():
    from sklearn_inr.fitting._results import history_steps, pad_history, trim_history

    full = np.array([1.0, 0.5, 0.3, 0.3, 0.3])  # steps 0, 5, 10, 15 + final 20
    trimmed = trim_history(full, 12, 5)  # it stopped at step 12
    np.testing.assert_array_equal(trimmed, [1.0, 0.5, 0.3, 0.3])
    np.testing.assert_array_equal(trim_history(trimmed, 12, 5), trimmed)
    np.testing.assert_array_equal(pad_history(trimmed, 5), full)
    np.testing.assert_array_equal(history_steps(12, 5), [0, 5, 10, 12])


def test_collect_results_aligns_histories_of_different_lengths():
    images = _images(n=2)
    results = {
        0: _entry(0, images[0], history=(1.0, 0.5, 0.25), n_steps=10),
        1: _entry(1, images[1], history=(2.0, 0.75), n_steps=4),  # trimmed
    }
    result = collect_results(results, images, RECORD_EVERY, SPEC, lr=1e-3, n_steps=10)
    np.testing.assert_array_equal(
        result.loss_history, [[1, 0.5, 0.25], [2, 0.75, 0.75]]
    )
    np.testing.assert_array_equal(result.history_steps, STEPS)
    # With a huge cap that no image reached, the history ends at their steps.
    huge = collect_results(results, images, RECORD_EVERY, SPEC, lr=1e-3,
                           n_steps=10**9)  # fmt: skip
    np.testing.assert_array_equal(huge.history_steps, STEPS)


def test_converged_rule():
    from sklearn_inr.fitting._results import converged

    np.testing.assert_array_equal(converged([29.5, 28.9, 35.0], 30.0),
                                  [True, False, True])  # fmt: skip
    np.testing.assert_array_equal(converged([19.9, 20.0]), [False, True])


def test_collect_results_flags_convergence_and_warns_only_when_asked():
    images = _images(n=3)
    results = {row: _entry(row, images[row] + 0.2) for row in range(3)}  # ~14 dB
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = collect_results(results, images, RECORD_EVERY, SPEC, lr=1e-3)
    assert not result.converged.any()
    with pytest.warns(ConvergenceWarning, match=r"14\.0 dB PSNR, below 20 dB"):
        collect_results(results, images, RECORD_EVERY, SPEC, lr=1e-3,
                        warn_convergence=True)  # fmt: skip
    # Diverged fits are neither converged nor counted in the median.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        diverging = _with_divergence(_images())
        for row in (0, 2):
            diverging[row]["output"] = _images()[row]  # perfect fits
        out = collect_results(
            diverging, _images(), RECORD_EVERY, SPEC, lr=1e-3,
            on_divergence="ignore", warn_convergence=True,
        )  # fmt: skip
    np.testing.assert_array_equal(out.converged, [True, False, True, False])
