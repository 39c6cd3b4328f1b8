import signal
import subprocess
import sys
import time
import warnings

import joblib
import numpy as np
import pytest

import sklearn_inr.core._engine as engine
import sklearn_inr.fitting._runner as runner
from sklearn_inr import INRDivergenceError, INRSpec, fit_inrs, fit_shifts
from sklearn_inr.fitting._cache import ArrayStore
from sklearn_inr.fitting._runner import auto_batch_size

SMALL = {"hidden_features": 16, "hidden_layers": 2}


def test_auto_batch_size_follows_memory_budget(monkeypatch):
    paper, n_pixels = INRSpec(), 240 * 240
    # A 240 x 240 image alone fills the CPU batch's pixel cap.
    assert auto_batch_size(paper, n_pixels, "cpu") == 1
    assert auto_batch_size(paper, 32 * 32, "cpu") == 16
    monkeypatch.setattr(runner, "CPU_BATCH_PIXELS", 10**9)
    batch = auto_batch_size(paper, n_pixels, "cpu")
    assert engine.bytes_per_batch(paper, batch, n_pixels) <= 512 * 2**20
    assert engine.bytes_per_batch(paper, batch + 1, n_pixels) > 512 * 2**20
    # Threads share the budget: each one's batch fits its share.
    halved = auto_batch_size(paper, n_pixels, "cpu", n_threads=2)
    assert (
        engine.bytes_per_batch(paper, halved, n_pixels)
        <= 256 * 2**20
        < (engine.bytes_per_batch(paper, halved + 1, n_pixels))
    )


def test_interrupted_run_resumes_from_the_cache(tmp_path, smooth_images, monkeypatch):
    original = runner._train_batch
    calls = {"n": 0, "images": 0}

    def dies_on_second_batch(chunk, local, *args):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        calls["images"] += len(local)
        return original(chunk, local, *args)

    monkeypatch.setattr(runner, "_train_batch", dies_on_second_batch)
    kwargs = dict(n_steps=5, random_state=0, memory=tmp_path, batch_size=2, **SMALL)
    with pytest.raises(KeyboardInterrupt):
        fit_inrs(smooth_images, **kwargs)
    assert calls["images"] == 2
    resumed = fit_inrs(smooth_images, **kwargs)
    assert calls["images"] == 6  # the two cached images were not refitted
    fresh = fit_inrs(smooth_images, **{**kwargs, "memory": None})
    np.testing.assert_array_equal(resumed.theta, fresh.theta)


def test_n_jobs_backends_and_chunks_give_the_same_bits(smooth_images):
    """300 steps: n_jobs, thread pools, chunk sizes and Dask change no bit."""
    distributed = pytest.importorskip(
        "distributed", reason="the 'dask' extra (dask[distributed]) is not installed"
    )
    kwargs = dict(lr=1e-3, n_steps=300, random_state=0, **SMALL)
    serial = fit_inrs(smooth_images, n_jobs=1, **kwargs).theta
    runs = {"loky n_jobs=2": fit_inrs(smooth_images, n_jobs=2, **kwargs)}
    with joblib.parallel_config(backend="threading"):
        runs["threads, chunks of 1"] = fit_inrs(
            smooth_images, n_jobs=2, chunk_size=1, **kwargs
        )
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster),
        joblib.parallel_config(backend="dask"),
    ):
        runs["dask, chunks of 4"] = fit_inrs(smooth_images, chunk_size=4, **kwargs)
    for name, result in runs.items():
        np.testing.assert_array_equal(result.theta, serial, err_msg=name)
    assert np.abs(serial - INRSpec(**SMALL).init_theta(0)).max() > 1e-2


def test_thread_pool_gives_the_same_bits(smooth_images, monkeypatch):
    """Batches trained by two threads at once equal those trained one by one."""
    kwargs = dict(lr=1e-3, n_steps=100, random_state=0, batch_size=2, **SMALL)
    one_thread = fit_inrs(smooth_images, **kwargs).theta
    monkeypatch.setattr(runner.torch, "get_num_threads", lambda: 2)
    two_threads = fit_inrs(smooth_images, **kwargs).theta
    np.testing.assert_array_equal(two_threads, one_thread)


def test_shifts_use_n_jobs_the_cache_and_progress(
    tmp_path, smooth_images, fit_counter, capsys
):
    spec = INRSpec(**SMALL)
    base = spec.init_theta(0)
    kwargs = dict(n_steps=50, lr=1e-2, memory=tmp_path, verbose=1)
    serial = fit_shifts(smooth_images, base, spec, n_jobs=1, **kwargs)
    assert fit_counter["images"] == 6 and "Fitting shifts" in capsys.readouterr().err
    parallel = fit_shifts(smooth_images, base, spec, n_jobs=2,
                          **{**kwargs, "memory": None})  # fmt: skip
    np.testing.assert_array_equal(parallel.theta, serial.theta)
    cached = fit_shifts(smooth_images[::-1], base, spec, n_jobs=2, **kwargs)
    assert fit_counter["images"] == 6  # loky workers did not run: all cached
    np.testing.assert_array_equal(cached.theta, serial.theta[::-1])


def test_failed_chunk_keeps_finished_chunks(tmp_path, smooth_images, monkeypatch):
    original = runner._train_batch
    fitted = {"images": 0, "poisoned": True}

    def dies_on_image_4(chunk, local, *args):
        images = chunk.images[local]
        if fitted["poisoned"] and any(np.array_equal(i[..., 0], smooth_images[4])
                                      for i in images):  # fmt: skip
            raise RuntimeError("worker lost")  # what a dead worker looks like
        fitted["images"] += len(local)
        return original(chunk, local, *args)

    monkeypatch.setattr(runner, "_train_batch", dies_on_image_4)
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


def test_chunks_carry_only_their_own_images(smooth_images, monkeypatch):
    sizes, original = [], runner._fit_chunk

    def recording(chunk, progress=None):
        sizes.append((len(chunk.images), len(chunk.rows), len(chunk.keys)))
        return original(chunk, progress)

    monkeypatch.setattr(runner, "_fit_chunk", recording)
    with joblib.parallel_config(backend="threading"):
        fit_inrs(smooth_images, n_steps=2, init="random", random_state=0,
                 n_jobs=2, chunk_size=4, **SMALL)  # fmt: skip
    assert sizes == [(3, 3, 3), (3, 3, 3)]  # 6 images, chunks of at most 4


def test_fit_settings_key_names_what_changes_a_fit():
    settings = runner.FitSettings(lr=1e-3, n_steps=5)
    siren, relu = INRSpec("siren", omega_0=10.0), INRSpec("relu", omega_0=10.0)
    assert settings.key(siren) != settings.key(INRSpec("siren", omega_0=30.0))
    assert settings.key(relu) == settings.key(INRSpec("relu", omega_0=30.0))
    assert settings.key(siren) != runner.FitSettings(lr=2e-3, n_steps=5).key(siren)
    np.testing.assert_array_equal(settings.history_steps, [0, 5])
    stopping = runner.FitSettings(lr=1e-3, n_steps=5, target_psnr=30.0)
    assert stopping.key(siren) != settings.key(siren)
    assert stopping.key(siren) != runner.FitSettings(
        lr=1e-3, n_steps=5, target_psnr=35.0
    ).key(siren)
    with pytest.raises(AttributeError):  # frozen
        settings.lr = 1.0


def test_untrustworthy_cache_entries_are_refitted_with_one_warning(
    tmp_path, smooth_images, fit_counter
):
    kwargs = dict(n_steps=5, random_state=0, memory=tmp_path, **SMALL)
    clean = fit_inrs(smooth_images[:4], **kwargs)
    store = ArrayStore(tmp_path)
    paths = sorted(store.root.rglob("*.npz"))
    entries = []
    for path in paths:
        with np.load(path) as data:
            entries.append({name: data[name] for name in data.files})
    # Wrong shape, NaN theta, another image's entry, half a file.
    bad = dict(entries[0], theta=entries[0]["theta"][:-1])
    np.savez(paths[0], **bad)
    nan = dict(entries[1], theta=np.full_like(entries[1]["theta"], np.nan))
    np.savez(paths[1], **nan)
    paths[2].write_bytes(paths[3].read_bytes())
    paths[3].write_bytes(paths[3].read_bytes()[:100])
    before = fit_counter["images"]
    with pytest.warns(UserWarning, match="4 cache entries .* could not be trusted"):
        again = fit_inrs(smooth_images[:4], **kwargs)
    assert fit_counter["images"] == before + 4
    np.testing.assert_array_equal(again.theta, clean.theta)
    # Overwritten: a third run trusts every entry.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit_inrs(smooth_images[:4], **kwargs)
    assert fit_counter["images"] == before + 4


def test_auto_batches_finish_within_checkpoint_every(smooth_images, monkeypatch):
    sizes, original = [], runner._train_batch

    def recording(chunk, local, *args):
        sizes.append(len(local))
        return original(chunk, local, *args)

    monkeypatch.setattr(runner, "_train_batch", recording)
    # Assume a slow machine: one image-step of this network takes 1 s.
    spec = INRSpec(**SMALL)
    monkeypatch.setitem(runner.ASSUMED_FLOPS, "cpu", 6.0 * spec.n_params * 144)
    fit_inrs(smooth_images, n_steps=2, checkpoint_every=2.5, **SMALL)
    # 2 steps an image at the assumed speed: one image per 2.5 s batch first;
    # later batches are sized by the measured (much higher) speed.
    assert sizes[0] == 1 and sum(sizes) == 6 and len(sizes) < 6


def test_kill_9_keeps_finished_batches_and_the_rerun_matches(tmp_path, fit_counter):
    """A fit killed by SIGKILL resumes: only the rest is fitted, same bits."""
    images = np.random.default_rng(0).uniform(size=(12, 12, 12)).astype(np.float32)
    np.save(tmp_path / "images.npy", images)
    kwargs = dict(lr=1e-3, n_steps=3000, random_state=0, **SMALL)
    script = (
        "import numpy as np, torch; torch.set_num_threads(1)\n"
        "from sklearn_inr import fit_inrs\n"
        f"fit_inrs(np.load({str(tmp_path / 'images.npy')!r}), "
        f"memory={str(tmp_path / 'cache')!r}, checkpoint_every=0.2, **{kwargs!r})\n"
    )
    process = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.monotonic() + 120
    while len(list(tmp_path.rglob("*.npz"))) < 2 and process.poll() is None:
        assert time.monotonic() < deadline, "no batch finished in 2 minutes"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    kept = len(list(tmp_path.rglob("*.npz")))
    assert 2 <= kept < len(images)  # killed mid-fit, with work kept
    resumed = fit_inrs(images, memory=tmp_path / "cache", **kwargs)
    assert fit_counter["images"] == len(images) - kept
    clean = fit_inrs(images, **kwargs)
    np.testing.assert_array_equal(resumed.theta, clean.theta)
