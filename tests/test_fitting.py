import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.exceptions import ConvergenceWarning

from sklearn_inr import (
    DivergenceWarning,
    INRDivergenceError,
    INRSpec,
    fit_inrs,
    fit_shifts,
    make_coordinates,
    render_inrs,
    theta_to_module,
)
from sklearn_inr._docs import docdict
from sklearn_inr.fitting import FitSettings
from sklearn_inr.fitting._seeds import image_seeds
from sklearn_inr.fitting._training import GAIN_FROM, GIVE_UP_AFTER

SMALL = {"hidden_features": 16, "hidden_layers": 2}


def _reference_loop(images, init, spec, loss, lr, n_steps):
    """The textbook per-image training loop: nn.Module + torch.optim.Adam."""
    coords = make_coordinates(images.shape[1:3], dtype=torch.float64)
    thetas = []
    for image in images:
        net = theta_to_module(torch.as_tensor(init, dtype=torch.float64), spec)
        optimizer = torch.optim.Adam(net.parameters(), lr=lr)
        target = torch.as_tensor(image.reshape(-1, 1), dtype=torch.float64)
        for _ in range(n_steps):
            optimizer.zero_grad()
            out = net(coords)
            if loss == "bce":
                value = F.binary_cross_entropy_with_logits(out, target)
            else:
                value = F.mse_loss(out, target)
            value.backward()
            optimizer.step()
        thetas.append(torch.cat([p.detach().reshape(-1) for p in net.parameters()]))
    return torch.stack(thetas).numpy()


@pytest.mark.parametrize("model", ["siren", "relu"])
@pytest.mark.parametrize("loss", ["bce", "mse"])
def test_batched_fit_equals_per_image_adam_loop_in_float64(model, loss, smooth_images):
    images = smooth_images[:3].astype(np.float64)
    spec = INRSpec(model, omega_0=20.0, **SMALL)
    init = spec.init_theta(0).astype(np.float64)
    result = fit_inrs(
        images,
        model=model,
        omega_0=20.0,
        loss=loss,
        lr=1e-3,
        n_steps=40,
        init=init,
        dtype=torch.float64,
        batch_size=2,
        **SMALL,
    )
    expected = _reference_loop(images, init, spec, loss, 1e-3, 40)
    assert result.theta.dtype == np.float64
    np.testing.assert_allclose(result.theta, expected, rtol=0, atol=1e-10)
    # The fit moved far from the init, so the comparison is not vacuous.
    assert np.abs(expected - init).max() > 1e-3


@pytest.mark.parametrize("init", ["shared", "random"])
@pytest.mark.parametrize("model, width", [("siren", 16), ("siren", 17), ("relu", 5)])
def test_theta_is_bit_identical_whatever_batch_order_and_company(
    init, model, width, smooth_images
):
    kwargs = dict(model=model, hidden_features=width, hidden_layers=2, lr=1e-3,
                  n_steps=300, init=init, random_state=0)  # fmt: skip
    base = fit_inrs(smooth_images, batch_size=6, **kwargs)
    order = np.array([4, 0, 5, 2, 1, 3])
    others = {
        "batch_size=1": (fit_inrs(smooth_images, batch_size=1, **kwargs), slice(None)),
        "shuffled, batches of 4": (
            fit_inrs(smooth_images[order], batch_size=4, **kwargs),
            order,
        ),
        "alone": (fit_inrs(smooth_images[[2]], **kwargs), [2]),
        "with strangers": (
            fit_inrs(
                np.concatenate([1 - smooth_images[:3], smooth_images[[5]]]),
                batch_size=4,
                **kwargs,
            ),  # fmt: skip
            None,
        ),
    }
    for name, (result, rows) in others.items():
        if rows is None:  # the last image of the strangers' batch is image 5
            result, rows = result.theta[[3]], [5]
            np.testing.assert_array_equal(result, base.theta[rows], err_msg=name)
            continue
        np.testing.assert_array_equal(result.theta, base.theta[rows], err_msg=name)
        np.testing.assert_array_equal(
            result.loss_history, base.loss_history[rows], err_msg=name
        )
    # 300 steps moved theta far from its start: equality is not vacuous.
    assert np.abs(base.theta - base.theta[0]).max() > 1e-2


def test_shared_init_is_one_draw_and_random_init_depends_on_content(smooth_images):
    spec = INRSpec(**SMALL)
    seeds = image_seeds(smooth_images, 0)
    assert len(set(seeds.tolist())) == len(smooth_images)
    np.testing.assert_array_equal(image_seeds(smooth_images[::-1], 0), seeds[::-1])
    assert not np.array_equal(image_seeds(smooth_images, 1), seeds)
    one_step = dict(lr=1e-12, n_steps=1, random_state=0, **SMALL)
    shared = fit_inrs(smooth_images, init="shared", **one_step).theta
    np.testing.assert_allclose(shared, np.tile(spec.init_theta(0), (6, 1)), atol=1e-9)
    random = fit_inrs(smooth_images, init="random", **one_step).theta
    assert np.abs(random[0] - random[1]).max() > 0.1


def test_reconstruction_reaches_30_db():
    y, x = np.mgrid[0:32, 0:32] / 31.0
    image = 0.5 + 0.25 * np.sin(3 * np.pi * x) * np.cos(2 * np.pi * y) + 0.1 * x * y
    result = fit_inrs(
        image[None],
        model="siren",
        hidden_features=64,
        hidden_layers=3,
        lr=1e-3,
        n_steps=300,
        random_state=0,
    )
    assert result.psnr[0] >= 30.0
    np.testing.assert_allclose(
        result.reconstructions[0],
        render_inrs(result.theta, (32, 32), hidden_features=64, hidden_layers=3)[0],
        atol=1e-5,
    )


def test_result_fields_and_loss_history(smooth_images):
    result = fit_inrs(
        smooth_images[:2], lr=1e-3, n_steps=25, record_every=10, random_state=0, **SMALL
    )
    np.testing.assert_array_equal(result.history_steps, [0, 10, 20, 25])
    assert result.loss_history.shape == (2, 4)
    np.testing.assert_array_equal(result.loss, result.loss_history[:, -1])
    assert (result.loss_history[:, -1] < result.loss_history[:, 0]).all()
    assert result.reconstructions.shape == (2, 12, 12)
    np.testing.assert_allclose(
        result.mse,
        ((result.reconstructions - smooth_images[:2]) ** 2).mean((1, 2)),
        rtol=1e-5,
    )
    np.testing.assert_allclose(result.psnr, -10 * np.log10(result.mse))


def test_channels_become_outputs(smooth_images):
    images = np.stack([smooth_images[:2], 1 - smooth_images[:2]], axis=-1)
    result = fit_inrs(images, n_steps=3, random_state=0, **SMALL)
    assert result.spec.out_features == 2
    assert result.theta.shape == (2, INRSpec(out_features=2, **SMALL).n_params)
    assert result.reconstructions.shape == (2, 12, 12, 2)
    rendered = render_inrs(result.theta, (6, 6), out_features=2, **SMALL)
    assert rendered.shape == (2, 6, 6, 2)


@pytest.mark.parametrize(
    "scale, dtype", [(1e30, torch.float32), (1e300, torch.float64)]
)
def test_input_overflow_is_told_apart_from_a_high_learning_rate(scale, dtype):
    images = np.full((3, 4, 4), 0.5)
    images[1] = scale  # its squared error overflows from the start
    with pytest.raises(ValueError, match=r"positions \[1\].*Rescale the") as caught:
        fit_inrs(images, loss="mse", n_steps=2, random_state=0, dtype=dtype, **SMALL)
    assert isinstance(caught.value, INRDivergenceError)
    assert "lower lr will not help" in str(caught.value)
    np.testing.assert_array_equal(caught.value.indices, [1])
    np.testing.assert_array_equal(caught.value.overflow, [True])


@pytest.mark.parametrize("model, loss", [("relu", "mse"), ("siren", "bce")])
def test_a_finite_but_exploding_fit_is_divergence(model, loss, smooth_images):
    # lr=1e3 ends with a finite loss (about 1e27 for ReLU/MSE, PSNR -280 dB;
    # about 90 for SIREN/BCE, PSNR 6 dB): only NaN used to be caught.
    kwargs = dict(model=model, loss=loss, lr=1e3, n_steps=200, random_state=0)
    with pytest.raises(INRDivergenceError, match="Lower the learning rate") as caught:
        fit_inrs(smooth_images[:3], **kwargs, **SMALL)
    assert list(caught.value.indices) == [0, 1, 2]
    assert (caught.value.psnr < 10).all()
    assert "final loss" in str(caught.value) and "PSNR" in str(caught.value)
    # A sane lr on the same images is no divergence, however short the fit.
    fit_inrs(smooth_images[:3], model=model, loss=loss, lr=1e-2, n_steps=2, **SMALL)


def test_on_divergence_warn_and_ignore(tmp_path, smooth_images):
    images = smooth_images[:2].copy()
    kwargs = dict(model="relu", loss="mse", lr=1e3, n_steps=200, random_state=0,
                  memory=tmp_path, **SMALL)  # fmt: skip
    with pytest.warns(DivergenceWarning, match=r"positions \[0, 1\]"):
        result = fit_inrs(images, on_divergence="warn", **kwargs)
    assert (result.psnr < 0).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit_inrs(images, on_divergence="ignore", **kwargs)
    # Diverged fits are never cached.
    assert not list(tmp_path.rglob("*.npz"))


@pytest.mark.parametrize(
    "images, kwargs, match",
    [
        (np.full((2, 4, 4), np.nan), {}, "NaN or infinite"),
        (np.full((2, 4, 4), 2.0), {}, r"loss='bce' needs intensities in \[0, 1\]"),
        (np.zeros((2, 16)), {}, "must have shape"),
        (np.zeros((0, 4, 4)), {}, "no pixels"),
        (np.zeros((2, 4, 4)), {"model": "tanh"}, "'model' parameter of fit_inrs"),
        (np.zeros((2, 4, 4)), {"loss": "l1"}, "'loss' parameter of fit_inrs"),
        (np.zeros((2, 4, 4)), {"init": "zeros"}, "'init' parameter of fit_inrs"),
        (np.zeros((2, 4, 4)), {"init": np.zeros(5)}, "init array must have shape"),
        (np.zeros((2, 4, 4)), {"n_steps": 0}, "'n_steps' parameter of fit_inrs"),
        (np.zeros((2, 4, 4)), {"lr": 0.0}, "'lr' parameter of fit_inrs"),
        (np.zeros((2, 4, 4)), {"omega_0": -1.0}, "'omega_0' parameter of fit_inrs"),
        (np.zeros((2, 4, 4)), {"batch_size": 0}, "'batch_size' parameter"),
        (np.zeros((2, 4, 4)), {"chunk_size": 0}, "'chunk_size' parameter"),
        (np.zeros((2, 4, 4)), {"device": "tpu"}, "device must be"),
    ],
)
def test_bad_input_raises_clear_value_error(images, kwargs, match):
    with pytest.raises(ValueError, match=match):
        fit_inrs(images, **{**SMALL, "n_steps": 1, **kwargs})


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_cuda_without_gpu_is_a_clear_error():
    with pytest.raises(ValueError, match="CUDA is not available"):
        fit_inrs(np.zeros((1, 4, 4)), device="cuda", n_steps=1, **SMALL)


def test_memory_cache_hits_and_misses(tmp_path, smooth_images, fit_counter):
    counter = fit_counter
    kwargs = dict(n_steps=5, random_state=0, memory=tmp_path, **SMALL)
    first = fit_inrs(smooth_images[:4], **kwargs)
    assert counter["images"] == 4
    again = fit_inrs(smooth_images[[3, 0, 1, 2]], **kwargs)
    assert counter["images"] == 4
    np.testing.assert_array_equal(again.theta, first.theta[[3, 0, 1, 2]])
    np.testing.assert_array_equal(again.loss_history, first.loss_history[[3, 0, 1, 2]])
    fit_inrs(smooth_images[:5], **kwargs)
    assert counter["images"] == 5  # only the new image
    for changed in (
        {"lr": 2e-4},
        {"omega_0": 10.0},
        {"n_steps": 6},
        {"random_state": 1},
        {"loss": "mse"},
        {"hidden_layers": 1},
    ):
        before = counter["images"]
        fit_inrs(smooth_images[:1], **{**kwargs, **changed})
        assert counter["images"] == before + 1, changed


def test_progress_bar_when_verbose_and_something_to_fit(
    tmp_path, smooth_images, capsys
):
    kwargs = dict(n_steps=2, verbose=1, memory=tmp_path, random_state=0, **SMALL)
    fit_inrs(smooth_images[:2], **kwargs)
    assert "Fitting INRs" in capsys.readouterr().err
    fit_inrs(smooth_images[:2], **kwargs)  # all cached: nothing to show
    assert "Fitting INRs" not in capsys.readouterr().err


def test_relu_cache_key_ignores_omega_0(tmp_path, smooth_images, fit_counter):
    kwargs = dict(model="relu", n_steps=2, random_state=0, memory=tmp_path, **SMALL)
    fit_inrs(smooth_images[:2], omega_0=10.0, **kwargs)
    fit_inrs(smooth_images[:2], omega_0=30.0, **kwargs)
    assert fit_counter["images"] == 2


# ------------------------------------------------------------ target_psnr
def test_each_image_stops_at_the_target_psnr(smooth_images):
    # Images of different difficulty: flat ones are easy, noisy ones hard.
    rng = np.random.default_rng(0)
    images = np.concatenate(
        [np.full((2, 12, 12), 0.3), smooth_images[:2],
         np.clip(smooth_images[:2] + 0.2 * rng.normal(size=(2, 12, 12)), 0, 1)]
    ).astype(np.float32)  # fmt: skip
    kwargs = dict(lr=1e-2, random_state=0, loss="mse", **SMALL)
    result = fit_inrs(images, n_steps=70, target_psnr=40.0, **kwargs)
    stopped = result.n_steps < 70
    assert stopped[:2].all() and not stopped[2:].any()  # flat images are easy
    assert (result.n_steps[stopped] % 10 == 0).all()  # checked every 10 steps
    assert (result.psnr[stopped] >= 40.0).all()
    assert (result.psnr[~stopped] < 40.0).all()
    # Without the target, the same images run all their steps...
    assert (fit_inrs(images, n_steps=70, **kwargs).n_steps == 70).all()
    # ... and a stopped image's theta is its fixed-step theta at that step.
    at_stop = fit_inrs(images[[0]], n_steps=int(result.n_steps[0]), **kwargs)
    np.testing.assert_array_equal(at_stop.theta, result.theta[[0]])
    np.testing.assert_array_equal(at_stop.reconstructions, result.reconstructions[[0]])
    # Its recorded losses after it stopped repeat its final loss.
    last = result.history_steps > result.n_steps[0]
    assert last.any()
    np.testing.assert_array_equal(
        result.loss_history[0, last], np.full(last.sum(), result.loss[0])
    )


@pytest.mark.parametrize("check_every", [1, 3])
def test_check_every_stops_at_the_first_checked_step_at_the_target(
    smooth_images, check_every
):
    kwargs = dict(lr=1e-2, random_state=0, loss="mse", **SMALL)
    result = fit_inrs(smooth_images[:3], n_steps=300, target_psnr=32.0,
                      check_every=check_every, **kwargs)  # fmt: skip
    assert (result.n_steps < 300).all() and (result.psnr >= 32.0).all()
    assert (result.n_steps % check_every == 0).all()
    # One checked step earlier, each image was still below the target.
    for row, steps in enumerate(result.n_steps):
        before = fit_inrs(smooth_images[[row]], n_steps=int(steps) - check_every,
                          **kwargs)  # fmt: skip
        assert before.psnr[0] < 32.0
    # Checking every 10 steps stops no earlier; the two are cached apart.
    every_10 = fit_inrs(smooth_images[:3], n_steps=300, target_psnr=32.0, **kwargs)
    assert (every_10.n_steps >= result.n_steps).all()
    keys = {
        str(FitSettings(target_psnr=32.0, check_every=c).key(INRSpec(**SMALL)))
        for c in (check_every, 10)
    }
    assert len(keys) == 2


def test_stop_unreachable_gives_up_exactly_when_the_projection_falls_short():
    # Two smooth images reach the target; noise, with more pixels than the
    # network has parameters, cannot.
    y, x = np.mgrid[0:24, 0:24] / 23
    smooth = [0.3 + 0.4 * x * y, 0.5 + 0.2 * np.sin(3 * x)]
    noise = list(np.random.default_rng(1).uniform(size=(2, 24, 24)))
    images = np.stack(smooth + noise).astype(np.float32)
    init = INRSpec(**SMALL).init_theta(0)
    kwargs = dict(lr=1e-2, init=init, loss="mse", check_every=1, **SMALL)
    target, cap = 32.0, 200
    plain = fit_inrs(images, n_steps=cap, target_psnr=target, **kwargs)
    given_up = fit_inrs(images, n_steps=cap, target_psnr=target,
                        stop_unreachable=True, **kwargs)  # fmt: skip
    # The smooth images reach the target either way, to the bit; the noise
    # ran to the cap and now stops early, flagged as not converged.
    np.testing.assert_array_equal(given_up.theta[:2], plain.theta[:2])
    np.testing.assert_array_equal(given_up.n_steps[:2], plain.n_steps[:2])
    assert (plain.n_steps[:2] < cap).all() and (plain.n_steps[2:] == cap).all()
    assert (given_up.n_steps[2:] >= GIVE_UP_AFTER).all()
    assert (given_up.n_steps[2:] < cap).all()
    assert not given_up.converged[2:].any()
    # The rule, recomputed from fixed-step fits: the PSNR at the stop,
    # projected at its mean gain per step since GAIN_FROM, ends below the
    # target; one step earlier it did not.
    for row in (2, 3):
        psnr_from = fit_inrs(images[[row]], n_steps=GAIN_FROM, **kwargs).psnr[0]
        steps = int(given_up.n_steps[row])

        def projected(n, row=row, psnr_from=psnr_from):
            psnr = fit_inrs(images[[row]], n_steps=n, **kwargs).psnr[0]
            return psnr + (psnr - psnr_from) / (n - GAIN_FROM) * (cap - n)

        assert projected(steps) < target <= projected(steps - 1)
    # Same bits in any company, and apart in the cache.
    alone = fit_inrs(images[[3]], n_steps=cap, target_psnr=target,
                     stop_unreachable=True, **kwargs)  # fmt: skip
    np.testing.assert_array_equal(alone.theta[0], given_up.theta[3])
    keys = [
        FitSettings(target_psnr=target, stop_unreachable=flag).key(INRSpec())
        for flag in (False, True)
    ]
    assert keys[0] != keys[1]
    # The documented step is the one the loop uses.
    assert f"from step {GIVE_UP_AFTER} on" in " ".join(
        docdict["stop_unreachable"].split()
    )


def test_stop_unreachable_measures_from_the_first_check_at_gain_from():
    # With checks every 10 steps the gain is counted from the check at step
    # 10 (the first at or after GAIN_FROM), so the first judgement is at
    # step 20; the noise is given up there.
    noise = np.random.default_rng(1).uniform(size=(2, 64, 64)).astype(np.float32)
    init = INRSpec(**SMALL).init_theta(0)
    result = fit_inrs(noise, init=init, lr=1e-2, loss="mse", n_steps=200,
                      target_psnr=32.0, check_every=10, stop_unreachable=True,
                      **SMALL)  # fmt: skip
    assert GAIN_FROM < 10 <= GIVE_UP_AFTER < 20
    np.testing.assert_array_equal(result.n_steps, [20, 20])


def test_target_psnr_results_do_not_depend_on_companions(smooth_images):
    kwargs = dict(lr=1e-2, n_steps=300, random_state=0, target_psnr=32.0, **SMALL)
    together = fit_inrs(smooth_images, batch_size=6, **kwargs)
    assert len(set(together.n_steps.tolist())) > 1  # they stop at different steps
    for row in range(6):
        alone = fit_inrs(smooth_images[[row]], **kwargs)
        np.testing.assert_array_equal(alone.theta[0], together.theta[row])
        assert alone.n_steps[0] == together.n_steps[row]


def test_finished_images_leave_the_batch(smooth_images, monkeypatch):
    from sklearn_inr.core._engine import BatchedINR

    sizes, original = [], BatchedINR.backward

    def recording(self, *args, **kwargs):
        sizes.append(self.batch_size)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(BatchedINR, "backward", recording)
    images = np.concatenate([np.full((3, 12, 12), 0.4), smooth_images[:3]])
    result = fit_inrs(images.astype(np.float32), lr=1e-2, n_steps=200,
                      target_psnr=35.0, loss="mse", batch_size=6, random_state=0,
                      **SMALL)  # fmt: skip
    # Every image stopped, the flat ones first; each step trained only the
    # images still running (an image leaves at the check of its last step).
    assert (result.n_steps < 200).all()
    assert result.n_steps[:3].max() < result.n_steps[3:].min()
    expected = [
        int((result.n_steps >= s).sum()) for s in range(max(result.n_steps) + 1)
    ]
    assert sizes == expected


def test_every_path_runs_on_each_device(device, smooth_images):
    """fit_inrs (weights, target_psnr), fit_shifts and render_inrs on ``device``.

    In float64 the device's result equals the CPU's to rounding.
    """
    kwargs = dict(lr=1e-2, n_steps=60, random_state=0, dtype=torch.float64, **SMALL)
    here = fit_inrs(smooth_images[:3], device=device, target_psnr=30.0, **kwargs)
    cpu = fit_inrs(smooth_images[:3], device="cpu", target_psnr=30.0, **kwargs)
    np.testing.assert_array_equal(here.n_steps, cpu.n_steps)
    np.testing.assert_allclose(here.theta, cpu.theta, rtol=0, atol=1e-8)
    rendered = render_inrs(here.theta, (12, 12), device=device, **SMALL)
    np.testing.assert_allclose(rendered, here.reconstructions, atol=1e-5)
    spec = INRSpec(**SMALL)
    shifts = fit_shifts(smooth_images[:3], spec.init_theta(0), spec, n_steps=5,
                        device=device, dtype=torch.float64)  # fmt: skip
    cpu_shifts = fit_shifts(smooth_images[:3], spec.init_theta(0), spec, n_steps=5,
                            device="cpu", dtype=torch.float64)  # fmt: skip
    np.testing.assert_allclose(shifts.theta, cpu_shifts.theta, rtol=0, atol=1e-8)


# ------------------------------------------------------------------ precision
@pytest.mark.parametrize("model", ["siren", "relu"])
def test_bf16_theta_does_not_depend_on_batch_or_company(model, smooth_images):
    kwargs = dict(model=model, hidden_features=32, hidden_layers=2, lr=1e-3,
                  n_steps=100, random_state=0, precision="bf16")  # fmt: skip
    base = fit_inrs(smooth_images, batch_size=6, **kwargs)
    alone = fit_inrs(smooth_images[[4]], batch_size=1, **kwargs)
    np.testing.assert_array_equal(alone.theta, base.theta[[4]])
    fp32 = fit_inrs(smooth_images, batch_size=6, **{**kwargs, "precision": "fp32"})
    # Not the float32 fit: the products really ran in bfloat16.
    assert np.abs(fp32.theta - base.theta).max() > 1e-6


def test_bf16_ceiling_is_far_above_the_fidelities_fits_aim_at():
    y, x = np.mgrid[0:32, 0:32] / 31.0
    image = 0.5 + 0.25 * np.sin(3 * np.pi * x) * np.cos(2 * np.pi * y) + 0.1 * x * y
    kwargs = dict(model="siren", hidden_features=64, hidden_layers=3, lr=1e-3,
                  n_steps=300, random_state=0)  # fmt: skip
    fp32 = fit_inrs(image[None], precision="fp32", **kwargs).psnr[0]
    bf16 = fit_inrs(image[None], precision="bf16", **kwargs).psnr[0]
    # On this smooth image float32 goes past 70 dB; bfloat16's rounding
    # of each product (2**-9) stops it lower, but far above 30-40 dB.
    assert fp32 >= 45.0
    assert 45.0 <= bf16 < fp32, (fp32, bf16)


def test_precision_auto_is_float32_on_cpu(smooth_images):
    kwargs = dict(lr=1e-3, n_steps=20, random_state=0, device="cpu", **SMALL)
    auto = fit_inrs(smooth_images, precision="auto", **kwargs)
    fp32 = fit_inrs(smooth_images, precision="fp32", **kwargs)
    np.testing.assert_array_equal(auto.theta, fp32.theta)


def test_bf16_fits_are_cached_apart(tmp_path, smooth_images, fit_counter):
    kwargs = dict(lr=1e-3, n_steps=5, random_state=0, memory=tmp_path, **SMALL)
    fit_inrs(smooth_images, precision="fp32", **kwargs)
    fit_inrs(smooth_images, precision="auto", **kwargs)  # same entries on CPU
    assert fit_counter["images"] == len(smooth_images)
    fit_inrs(smooth_images, precision="bf16", **kwargs)
    assert fit_counter["images"] == 2 * len(smooth_images)


def test_unknown_precision_is_a_clear_error(smooth_images):
    with pytest.raises(ValueError, match="precision"):
        fit_inrs(smooth_images, precision="fp16", n_steps=1, **SMALL)


# ------------------------------------------- histories, convergence, range
def test_a_huge_step_cap_allocates_with_the_steps_taken(smooth_images):
    import tracemalloc

    kwargs = dict(lr=1e-2, target_psnr=15.0, random_state=0, **SMALL)
    fit_inrs(smooth_images[:2], n_steps=20, **kwargs)  # imports, lazy setup
    tracemalloc.start()
    try:
        result = fit_inrs(smooth_images[:2], n_steps=10**8, **kwargs)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20  # a history for the cap took 1.77 GB
    taken = int(result.n_steps.max())
    assert taken < 1000
    # The history ends at the most steps an image took ...
    np.testing.assert_array_equal(result.history_steps[-1], taken)
    assert result.loss_history.shape == (2, len(result.history_steps))
    assert np.isfinite(result.loss_history).all()
    # ... and holds the same numbers as a fit capped at those steps.
    short = fit_inrs(smooth_images[:2], n_steps=taken, **kwargs)
    np.testing.assert_array_equal(short.theta, result.theta)
    np.testing.assert_array_equal(short.loss_history, result.loss_history)


def test_unreachable_target_warns_once_and_flags_the_fits(smooth_images):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fit_inrs(smooth_images[:3], n_steps=5, target_psnr=60.0,
                          random_state=0, **SMALL)  # fmt: skip
    convergence = [w for w in caught if w.category is ConvergenceWarning]
    assert len(convergence) == 1
    message = str(convergence[0].message)
    assert "target_psnr=60" in message and "n_steps" in message
    assert f"{np.median(result.psnr):.1f} dB" in message
    assert result.converged.dtype == bool and not result.converged.any()


def test_without_target_the_floor_judges_convergence(smooth_images):
    with pytest.warns(ConvergenceWarning, match="below 20 dB"):
        result = fit_inrs(smooth_images[:2], n_steps=2, random_state=0, **SMALL)
    assert not result.converged.any()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a converged fit is quiet
        good = fit_inrs(smooth_images[:2], n_steps=150, lr=1e-2, random_state=0,
                        **SMALL)  # fmt: skip
    np.testing.assert_array_equal(good.converged, good.psnr >= 20.0)
    assert good.converged.all()


def test_mse_on_data_beyond_0_1_warns_that_psnr_assumes_range_1(smooth_images):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fit_inrs(smooth_images[:2] * 255, loss="mse", n_steps=3,
                          target_psnr=30.0, random_state=0, **SMALL)  # fmt: skip
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1, messages  # the range, not also convergence
    assert "data range of 1" in messages[0] and "255" in messages[0]
    assert (result.psnr < 0).all()


def test_an_oversized_network_is_refused_naming_its_parameters():
    with pytest.raises(ValueError, match=r"hidden_features=1000000 .* GiB"):
        fit_inrs(np.zeros((1, 4, 4)), hidden_features=10**6, n_steps=1)
    with pytest.raises(ValueError, match="hidden_layers=4"):
        fit_inrs(np.zeros((1, 4, 4)), hidden_features=10**6, init="random")


# ------------------------------------------------------------------ volumes
VOLUME = {"hidden_features": 8, "hidden_layers": 1, "omega_0": 10.0, "lr": 1e-3}


def test_volumes_fit_over_zyx_and_reach_a_high_psnr(smooth_volumes):
    result = fit_inrs(smooth_volumes, spatial_ndim=3, n_steps=300, random_state=0,
                      **VOLUME)  # fmt: skip
    assert result.spec.in_features == 3
    assert result.spec.layer_shapes[0] == (8, 3)
    assert result.reconstructions.shape == smooth_volumes.shape
    assert result.psnr.min() > 30
    # The network maps make_coordinates((D, H, W)) to the voxels, in order.
    module = theta_to_module(result.theta[1], result.spec)
    voxels = module(make_coordinates(smooth_volumes.shape[1:])).detach().numpy()
    expected = 1 / (1 + np.exp(-voxels.reshape(smooth_volumes.shape[1:])))
    np.testing.assert_allclose(result.reconstructions[1], expected, atol=1e-5)


@pytest.mark.parametrize("init", ["shared", "random"])
def test_volume_theta_is_bit_identical_whatever_batch_order_and_company(
    init, smooth_volumes
):
    kwargs = dict(spatial_ndim=3, n_steps=100, init=init, random_state=0, **VOLUME)
    base = fit_inrs(smooth_volumes, batch_size=4, **kwargs)
    order = np.array([3, 0, 2, 1])
    shuffled = fit_inrs(smooth_volumes[order], batch_size=3, **kwargs)
    np.testing.assert_array_equal(shuffled.theta, base.theta[order])
    alone = fit_inrs(smooth_volumes[[2]], **kwargs)
    np.testing.assert_array_equal(alone.theta, base.theta[[2]])
    strangers = np.concatenate([1 - smooth_volumes[:2], smooth_volumes[[2]]])
    with_strangers = fit_inrs(strangers, batch_size=2, **kwargs)
    np.testing.assert_array_equal(with_strangers.theta[[2]], base.theta[[2]])
    # A trailing channel axis of one is the same volume, with the same seeds.
    channel = fit_inrs(smooth_volumes[[2], ..., None], **kwargs)
    np.testing.assert_array_equal(channel.theta, base.theta[[2]])
    assert np.abs(base.theta - base.theta[0]).max() > 1e-2  # not vacuous


def test_volume_channels_become_outputs(smooth_volumes):
    volumes = np.stack([smooth_volumes, 1 - smooth_volumes], axis=-1)
    result = fit_inrs(volumes, spatial_ndim=3, n_steps=2, random_state=0, **VOLUME)
    assert result.spec.out_features == 2 and result.spec.in_features == 3
    assert result.reconstructions.shape == volumes.shape


@pytest.mark.parametrize("spatial_ndim", [1, 4, 2.0, "3"])
def test_spatial_ndim_is_validated(spatial_ndim, smooth_images):
    with pytest.raises(ValueError, match="'spatial_ndim' parameter of fit_inrs"):
        fit_inrs(smooth_images, spatial_ndim=spatial_ndim, n_steps=1, **SMALL)


def test_volumes_stop_at_their_target_and_fit_in_bf16(smooth_volumes):
    kwargs = dict(spatial_ndim=3, random_state=0, **VOLUME)
    stopped = fit_inrs(smooth_volumes, n_steps=2000, target_psnr=25.0, **kwargs)
    assert (stopped.psnr >= 25.0).all() and (stopped.n_steps < 2000).all()
    bf16 = fit_inrs(smooth_volumes, n_steps=50, precision="bf16", **kwargs)
    fp32 = fit_inrs(smooth_volumes, n_steps=50, precision="fp32", **kwargs)
    assert not np.array_equal(bf16.theta, fp32.theta)  # bf16 products ran
    np.testing.assert_allclose(bf16.psnr, fp32.psnr, atol=1.0)
