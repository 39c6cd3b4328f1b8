"""The fitting layer's speed probe (fitting/_probe.py)."""

import pytest
import torch

from sklearn_inr import INRSpec
from sklearn_inr.fitting import _probe, probe_fit_speed, probe_shape
from sklearn_inr.fitting._runner import CPU_BATCH_PIXELS, auto_batch_size


def test_probe_shape_crops_to_one_cpu_batch():
    assert probe_shape((240, 240), "cpu") == (128, 128)
    assert 128 * 128 == CPU_BATCH_PIXELS
    assert probe_shape((64, 64), "cpu") == (64, 64)
    assert probe_shape((100, 400), "cpu") == (100, 163)
    assert probe_shape((240, 240), torch.device("meta")) == (240, 240)


def test_probe_lays_out_batches_as_the_runner_does():
    spec = INRSpec("siren", hidden_features=16, hidden_layers=1)
    speed = probe_fit_speed(spec, (12, 12), device="cpu", n_threads=2,
                            n_images=9, target_seconds=0.01)  # fmt: skip
    cap = auto_batch_size(spec, 144, torch.device("cpu"), 4, 2)
    per_thread = min(cap, 5)  # nine images over two threads
    assert speed.layouts["batch"] == (per_thread, -(-9 // per_thread))
    assert speed.layouts["chain"] == (1, 2)  # two chains, one image each
    assert speed.shape == (12, 12)
    assert all(v > 0 for v in speed.flops_per_second.values())


def test_probe_counts_six_flops_per_parameter_pixel_and_step(monkeypatch):
    # With a clock that ticks one second per reading and training stubbed
    # out, the FLOP/s are the probe's FLOP count: 6 x parameters (from the
    # layer shapes) x pixels x images x steps, per timed second.
    steps = []
    monkeypatch.setattr(
        _probe, "train", lambda *args, n_steps, **kwargs: steps.append(n_steps)
    )
    clock = iter(range(1000))
    monkeypatch.setattr(_probe.time, "perf_counter", lambda: float(next(clock)))
    spec = INRSpec("relu", hidden_features=8, hidden_layers=2)
    n_params = (2 * 8 + 8) + 2 * (8 * 8 + 8) + (8 + 1)
    speed = probe_fit_speed(spec, (4, 6), device="cpu", n_threads=1,
                            n_images=3, target_seconds=2.0)  # fmt: skip
    assert speed.layouts == {"batch": (3, 1), "chain": (2, 1)}
    # Each measurement: a one-step warm-up (1 s), then round(2 s / 1 s) = 2
    # steps timed (1 s).
    assert steps == [1, 2, 1, 2]
    for kind, (batch, workers) in speed.layouts.items():
        expected = 6.0 * n_params * 4 * 6 * batch * workers * 2 / 1.0
        assert speed.flops_per_second[kind] == pytest.approx(expected, rel=1e-12)


def test_probe_fit_steps_stops_each_image_at_the_target(fit_counter):
    import numpy as np

    from sklearn_inr.fitting import fit_inrs, probe_fit_steps

    spec = INRSpec("siren", hidden_features=16, hidden_layers=1)
    images = np.random.default_rng(0).uniform(0.3, 0.7, size=(3, 8, 8))
    kwargs = dict(target_psnr=22.0, n_steps=200, lr=1e-3, device="cpu")
    steps, theta = probe_fit_steps(
        spec, images, init_theta=spec.init_theta(0), n_threads=2,
        return_theta=True, **kwargs,
    )  # fmt: skip
    assert steps.shape == (3,) and theta.shape == (3, spec.n_params)
    assert (0 < steps).all() and (steps < 200).all()
    # The runner's fits from the same init stop at the same steps.
    start = np.tile(spec.init_theta(0), (3, 1))
    fit = fit_inrs(images, hidden_features=16, hidden_layers=1, init=start,
                   **kwargs)  # fmt: skip
    np.testing.assert_array_equal(fit.n_steps, steps)
    assert fit_counter["images"] == 3  # the probe itself never reached the runner
    # From its own fit, an image is at the target at once; out of reach, the cap.
    assert probe_fit_steps(spec, images[:1], init_theta=theta[:1], **kwargs)[0] == 0
    unreachable = {**kwargs, "target_psnr": 200.0, "n_steps": 7}
    capped = probe_fit_steps(spec, images, init_theta=spec.init_theta(0),
                             **unreachable)  # fmt: skip
    np.testing.assert_array_equal(capped, 7)


def test_probe_fit_steps_reads_volumes_and_channels_as_the_runner_does(smooth_volumes):
    import numpy as np

    from sklearn_inr.fitting import fit_inrs, probe_fit_steps

    kwargs = dict(target_psnr=25.0, n_steps=150, lr=1e-3, device="cpu")
    volumes = smooth_volumes[:2]
    spec = INRSpec("siren", hidden_features=8, hidden_layers=1, in_features=3)
    steps = probe_fit_steps(spec, volumes, init_theta=spec.init_theta(0), **kwargs)
    fit = fit_inrs(volumes, spatial_ndim=3, hidden_features=8, hidden_layers=1,
                   init=np.tile(spec.init_theta(0), (2, 1)), **kwargs)  # fmt: skip
    np.testing.assert_array_equal(fit.n_steps, steps)
    # Two channels of 2-D images: two outputs, checked like fit_inrs's input.
    images = np.stack([volumes[:, 0], volumes[:, 1]], axis=-1)
    spec2 = INRSpec("siren", hidden_features=8, hidden_layers=1, out_features=2)
    steps2 = probe_fit_steps(spec2, images, init_theta=spec2.init_theta(0), **kwargs)
    fit2 = fit_inrs(images, hidden_features=8, hidden_layers=1,
                    init=np.tile(spec2.init_theta(0), (2, 1)), **kwargs)  # fmt: skip
    np.testing.assert_array_equal(fit2.n_steps, steps2)
