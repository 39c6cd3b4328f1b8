import numpy as np
import pytest
import torch
import torch.nn.functional as F

import sklearn_inr._engine as engine
from sklearn_inr import (
    INRDivergenceError,
    INRSpec,
    fit_inrs,
    make_coordinates,
    render_inrs,
    theta_to_module,
)
from sklearn_inr._fitting import auto_batch_size, image_seeds

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


def _initial_thetas(images, init, random_state):
    spec = INRSpec(**SMALL)
    if init == "shared":
        return np.tile(spec.init_theta(random_state), (len(images), 1))
    return np.stack([spec.init_theta(s) for s in image_seeds(images, random_state)])


@pytest.mark.parametrize("init", ["shared", "random"])
def test_float32_theta_independent_of_batching_order_and_company(init, smooth_images):
    kwargs = dict(lr=1e-3, n_steps=30, init=init, random_state=0, **SMALL)
    base = fit_inrs(smooth_images, batch_size=6, **kwargs).theta
    # Only float32 GEMM rounding may differ: 1e-3 of the update size.
    update = np.abs(base - _initial_thetas(smooth_images, init, 0)).max()
    tolerance = 1e-3 * update
    by_one = fit_inrs(smooth_images, batch_size=1, **kwargs).theta
    order = np.array([4, 0, 5, 2, 1, 3])
    shuffled = fit_inrs(smooth_images[order], batch_size=4, **kwargs).theta
    alone = fit_inrs(smooth_images[[2]], batch_size="auto", **kwargs).theta
    np.testing.assert_allclose(by_one, base, rtol=0, atol=tolerance)
    np.testing.assert_allclose(shuffled, base[order], rtol=0, atol=tolerance)
    np.testing.assert_allclose(alone[0], base[2], rtol=0, atol=tolerance)


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


def test_render_inrs_single_theta_and_mse_loss(smooth_images):
    result = fit_inrs(smooth_images[:1], loss="mse", n_steps=3, random_state=0, **SMALL)
    image = render_inrs(result.theta[0], (12, 12), loss="mse", **SMALL)
    assert image.shape == (12, 12)
    np.testing.assert_allclose(image, result.reconstructions[0], atol=1e-5)
    with pytest.raises(ValueError, match="parameters"):
        render_inrs(result.theta, (12, 12), hidden_features=8)


def test_divergence_names_the_images():
    images = np.zeros((3, 4, 4), dtype=np.float32)
    images[1] = 1e30  # its squared error overflows float32
    with pytest.raises(INRDivergenceError, match=r"positions \[1\].*Lower the"):
        fit_inrs(images, loss="mse", n_steps=2, random_state=0, **SMALL)
    try:
        fit_inrs(images, loss="mse", n_steps=2, random_state=0, **SMALL)
    except ValueError as exc:  # it is a ValueError
        np.testing.assert_array_equal(exc.indices, [1])


@pytest.mark.parametrize(
    "images, kwargs, match",
    [
        (np.full((2, 4, 4), np.nan), {}, "NaN or infinite"),
        (np.full((2, 4, 4), 2.0), {}, r"loss='bce' needs intensities in \[0, 1\]"),
        (np.zeros((2, 16)), {}, "must have shape"),
        (np.zeros((0, 4, 4)), {}, "no pixels"),
        (np.zeros((2, 4, 4)), {"model": "tanh"}, "model must be one of"),
        (np.zeros((2, 4, 4)), {"loss": "l1"}, "loss must be one of"),
        (np.zeros((2, 4, 4)), {"init": "zeros"}, "init must be"),
        (np.zeros((2, 4, 4)), {"init": np.zeros(5)}, "init array must have shape"),
        (np.zeros((2, 4, 4)), {"n_steps": 0}, "n_steps must be an int >= 1"),
        (np.zeros((2, 4, 4)), {"lr": 0.0}, "lr must be a float > 0"),
        (np.zeros((2, 4, 4)), {"omega_0": -1.0}, "omega_0 must be > 0"),
        (np.zeros((2, 4, 4)), {"batch_size": 0}, "batch_size must be"),
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


def test_auto_batch_size_follows_memory_budget(monkeypatch):
    paper, n_pixels = INRSpec(), 240 * 240
    # A 240 x 240 image alone fills the CPU batch's pixel cap.
    assert auto_batch_size(paper, n_pixels, "cpu") == 1
    assert auto_batch_size(paper, 32 * 32, "cpu") == 16
    monkeypatch.setattr("sklearn_inr._fitting.CPU_BATCH_PIXELS", 10**9)
    batch = auto_batch_size(paper, n_pixels, "cpu")
    assert engine.bytes_per_batch(paper, batch, n_pixels) <= 512 * 2**20
    assert engine.bytes_per_batch(paper, batch + 1, n_pixels) > 512 * 2**20


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


def test_interrupted_run_resumes_from_the_cache(tmp_path, smooth_images, monkeypatch):
    original = engine.train_batch
    calls = {"n": 0, "images": 0}

    def dies_on_second_batch(spec, theta, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        calls["images"] += theta.shape[0]
        return original(spec, theta, *args, **kwargs)

    monkeypatch.setattr("sklearn_inr._fitting.train_batch", dies_on_second_batch)
    kwargs = dict(n_steps=5, random_state=0, memory=tmp_path, batch_size=2, **SMALL)
    with pytest.raises(KeyboardInterrupt):
        fit_inrs(smooth_images, **kwargs)
    assert calls["images"] == 2
    resumed = fit_inrs(smooth_images, **kwargs)
    assert calls["images"] == 6  # the two cached images were not refitted
    fresh = fit_inrs(smooth_images, **{**kwargs, "memory": None})
    np.testing.assert_allclose(resumed.theta, fresh.theta, atol=1e-6)


def test_progress_bar_when_verbose(smooth_images, capsys):
    fit_inrs(smooth_images[:2], n_steps=2, verbose=1, **SMALL)
    assert "Fitting INRs" in capsys.readouterr().err


def test_n_jobs_gives_the_same_theta(smooth_images):
    kwargs = dict(lr=1e-3, n_steps=10, random_state=0, **SMALL)
    serial = fit_inrs(smooth_images, n_jobs=1, **kwargs)
    parallel = fit_inrs(smooth_images, n_jobs=2, **kwargs)
    tolerance = 1e-3 * np.abs(serial.theta - INRSpec(**SMALL).init_theta(0)).max()
    np.testing.assert_allclose(parallel.theta, serial.theta, atol=tolerance)


# ---------------------------------------------------------------- scale-out
def _update_tolerance(theta, random_state=0):
    return 1e-3 * np.abs(theta - INRSpec(**SMALL).init_theta(random_state)).max()


def test_dask_cluster_loky_and_serial_agree(smooth_images):
    distributed = pytest.importorskip(
        "distributed", reason="the 'dask' extra (dask[distributed]) is not installed"
    )
    import joblib

    kwargs = dict(lr=1e-3, n_steps=10, random_state=0, **SMALL)
    serial = fit_inrs(smooth_images, n_jobs=1, **kwargs).theta
    tolerance = _update_tolerance(serial)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster),
    ):
        for chunk_size in (1, 4):
            loky = fit_inrs(smooth_images, n_jobs=2, chunk_size=chunk_size, **kwargs)
            with joblib.parallel_config(backend="dask"):
                dask = fit_inrs(smooth_images, chunk_size=chunk_size, **kwargs)
            np.testing.assert_allclose(loky.theta, serial, rtol=0, atol=tolerance)
            np.testing.assert_allclose(dask.theta, serial, rtol=0, atol=tolerance)


def test_failed_chunk_keeps_finished_chunks(tmp_path, smooth_images, monkeypatch):
    import joblib

    original = engine.train_batch
    fitted = {"images": 0, "poisoned": True}
    poison = torch.as_tensor(smooth_images[4].reshape(-1, 1))

    def dies_on_image_4(spec, theta, targets, *args, **kwargs):
        if fitted["poisoned"] and any(torch.equal(t, poison) for t in targets):
            raise RuntimeError("worker lost")  # what a dead worker looks like
        fitted["images"] += theta.shape[0]
        return original(spec, theta, targets, *args, **kwargs)

    monkeypatch.setattr("sklearn_inr._fitting.train_batch", dies_on_image_4)
    kwargs = dict(
        n_steps=5, random_state=0, memory=tmp_path, batch_size=2, chunk_size=2, **SMALL
    )
    # Chunks [0, 1], [2, 3], [4, 5] run in order, so the failure comes after
    # two finished chunks (in a parallel run, after whichever had finished).
    with joblib.parallel_config(backend="threading"):
        with pytest.raises(RuntimeError, match="worker lost"):
            fit_inrs(smooth_images, n_jobs=1, **kwargs)
    assert len(list(tmp_path.rglob("*.npz"))) == fitted["images"] == 4
    # The rerun fits only what the failed run did not finish.
    fitted.update(images=0, poisoned=False)
    with joblib.parallel_config(backend="threading"):
        fit_inrs(smooth_images, n_jobs=2, **kwargs)
    assert fitted["images"] == 2


def test_divergence_in_a_chunk_reports_global_positions():
    images = np.zeros((5, 4, 4), dtype=np.float32)
    images[3] = 1e30
    with pytest.raises(INRDivergenceError, match=r"positions \[3\]"):
        fit_inrs(images, loss="mse", n_steps=2, n_jobs=2, chunk_size=1, **SMALL)


def test_device_is_parsed_here_and_resolved_where_the_work_runs():
    from sklearn_inr._fitting import parse_device, resolve_device

    # A Dask client without a GPU may dispatch to GPU workers.
    assert parse_device("cuda") == "cuda"
    assert parse_device("auto") == "auto"
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    with pytest.raises(ValueError, match="device must be"):
        parse_device("gpu0")


def test_chunks_carry_only_their_own_images(smooth_images, monkeypatch):
    import joblib

    from sklearn_inr import _fitting

    sizes, original = [], _fitting._fit_chunk

    def recording(images, rows, *args, **kwargs):
        sizes.append((len(images), len(rows)))
        return original(images, rows, *args, **kwargs)

    monkeypatch.setattr(_fitting, "_fit_chunk", recording)
    with joblib.parallel_config(backend="threading"):
        fit_inrs(smooth_images, n_steps=2, init="random", random_state=0,
                 n_jobs=2, chunk_size=4, **SMALL)  # fmt: skip
    assert sizes == [(3, 3), (3, 3)]  # 6 images, chunks of at most 4


def test_relu_cache_key_ignores_omega_0(tmp_path, smooth_images, fit_counter):
    kwargs = dict(model="relu", n_steps=2, random_state=0, memory=tmp_path, **SMALL)
    fit_inrs(smooth_images[:2], omega_0=10.0, **kwargs)
    fit_inrs(smooth_images[:2], omega_0=30.0, **kwargs)
    assert fit_counter["images"] == 2
