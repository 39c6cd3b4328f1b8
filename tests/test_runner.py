import signal
import subprocess
import sys
import time
import warnings

import joblib
import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import sklearn_inr.core._engine as engine
import sklearn_inr.fitting._batching as batching
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
    monkeypatch.setattr(batching, "CPU_BATCH_PIXELS", 10**9)
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


def test_large_images_same_bits_in_any_batch_and_keyed_apart(
    tmp_path, fit_counter, monkeypatch
):
    """Images above 4,096 pixels run 4,096 of them at a time (plus the rest)."""
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(3, 70, 70)).astype(np.float32)
    kwargs = dict(lr=1e-3, n_steps=20, random_state=0, hidden_features=8,
                  hidden_layers=1)  # fmt: skip
    together = fit_inrs(images, batch_size=3, memory=tmp_path, **kwargs).theta
    alone = fit_inrs(images[1:2], batch_size=1, **kwargs).theta
    np.testing.assert_array_equal(alone, together[1:2])
    assert fit_counter["images"] == 4
    fit_inrs(images, memory=tmp_path, **kwargs)
    assert fit_counter["images"] == 4  # all cached
    # Entries of the old rule (no chunk_pixels in the key) are not served.
    monkeypatch.setattr(runner, "chunk_key", lambda n_pixels: {})
    fit_inrs(images, memory=tmp_path, **kwargs)
    assert fit_counter["images"] == 7


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
    assert list(settings.record_steps) == [0] and settings.n_records == 2
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
        # (These short fits do not converge; that warning is not the point.)
        warnings.simplefilter("ignore", ConvergenceWarning)
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
    monkeypatch.setitem(batching.ASSUMED_FLOPS, "cpu", 6.0 * spec.n_params * 144)
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


# ---------------------------------------------------- memory= end to end
def test_memory_that_is_a_file_fails_before_any_fit(tmp_path, smooth_images,
                                                    fit_counter):  # fmt: skip
    file = tmp_path / "cache"
    file.write_text("a file")
    with pytest.raises(ValueError, match="is a file, not a folder"):
        fit_inrs(smooth_images[:2], n_steps=2, memory=file, **SMALL)
    assert fit_counter["images"] == 0


def _quiet_fit(images, **kwargs):
    """fit_inrs and its warnings, but the convergence one of short fits."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("ignore", ConvergenceWarning)
        result = fit_inrs(images, **kwargs)
    return result, [str(w.message) for w in caught]


def test_a_directory_at_an_entry_path_warns_once_and_the_fit_goes_on(
    tmp_path, smooth_images
):
    kwargs = dict(n_steps=3, random_state=0, memory=tmp_path, **SMALL)
    first, _ = _quiet_fit(smooth_images[:3], **kwargs)
    entries = sorted(tmp_path.rglob("*.npz"))
    for path in entries[:2]:  # damaged into directories
        path.unlink()
        path.mkdir()
    again, messages = _quiet_fit(smooth_images[:3], **kwargs)
    np.testing.assert_array_equal(again.theta, first.theta)
    failed = [m for m in messages if "Could not write to the cache" in m]
    assert len(failed) == 1, messages


def test_a_full_disk_warns_once_and_the_fit_goes_on(tmp_path, smooth_images,
                                                    monkeypatch):  # fmt: skip
    import errno
    import os

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    result, messages = _quiet_fit(smooth_images[:3], n_steps=3, random_state=0,
                                  memory=tmp_path, batch_size=1, **SMALL)  # fmt: skip
    assert result.theta.shape[0] == 3
    failed = [m for m in messages if "No space left" in m]
    assert len(failed) == 1, messages
    monkeypatch.undo()
    plain, _ = _quiet_fit(smooth_images[:3], n_steps=3, random_state=0, **SMALL)
    np.testing.assert_array_equal(result.theta, plain.theta)


# ------------------------------------------------- histories in the cache
def test_cached_histories_hold_the_steps_taken_and_old_entries_load(
    tmp_path, smooth_images, fit_counter
):
    kwargs = dict(lr=1e-2, n_steps=400, target_psnr=25.0, random_state=0,
                  memory=tmp_path, **SMALL)  # fmt: skip
    first, _ = _quiet_fit(smooth_images[:3], **kwargs)
    assert (first.n_steps < 400).any()
    store = ArrayStore(tmp_path)
    for path in tmp_path.rglob("*.npz"):
        with np.load(path) as data:
            arrays = {name: data[name] for name in data.files}
        taken = int(arrays["n_steps"])
        # New entries keep the records of the steps their image took ...
        assert len(arrays["loss_history"]) == len(range(0, taken, 10)) + 1
        # ... and entries written before (padded to the whole cap) still load.
        history = arrays["loss_history"]
        padded = np.concatenate(
            [history[:-1], np.repeat(history[-1:], 41 - len(history) + 1)]
        )
        assert len(padded) == 41
        key = str(arrays.pop("__key__"))
        arrays.pop("__checksum__")
        store.save(key, **{**arrays, "loss_history": padded})
    before = fit_counter["images"]
    again, messages = _quiet_fit(smooth_images[:3], **kwargs)
    assert fit_counter["images"] == before and not messages
    np.testing.assert_array_equal(again.loss_history, first.loss_history)
    np.testing.assert_array_equal(again.theta, first.theta)


def test_a_cached_history_of_the_wrong_length_is_refitted(tmp_path, smooth_images,
                                                          fit_counter):  # fmt: skip
    kwargs = dict(n_steps=20, random_state=0, memory=tmp_path, **SMALL)
    _quiet_fit(smooth_images[:1], **kwargs)
    (path,) = tmp_path.rglob("*.npz")
    with np.load(path) as data:
        arrays = {name: data[name] for name in data.files}
    key = str(arrays.pop("__key__"))
    arrays.pop("__checksum__")
    ArrayStore(tmp_path).save(key, **{**arrays, "loss_history": np.ones(7, np.float32)})
    before = fit_counter["images"]
    _, messages = _quiet_fit(smooth_images[:1], **kwargs)
    assert fit_counter["images"] == before + 1
    assert any("could not be trusted" in m for m in messages)


# ------------------------------------------ memory budget, progress, cost
def test_one_image_over_the_memory_budget_warns(smooth_images, monkeypatch):
    monkeypatch.setattr(batching, "CPU_MEMORY_BUDGET", 1024)
    result, messages = _quiet_fit(smooth_images[:1], n_steps=2, **SMALL)
    (message,) = [m for m in messages if "memory budget" in m]
    assert "1.0 KiB" in message and "hidden_features" in message
    assert result.theta.shape[0] == 1  # the fit went on


def test_progress_shows_steps_and_psnr_and_changes_no_number(smooth_images, capsys):
    kwargs = dict(n_steps=30, record_every=10, random_state=0, **SMALL)
    quiet, _ = _quiet_fit(smooth_images[:2], verbose=0, **kwargs)
    assert capsys.readouterr().err == ""  # a short fit says nothing
    shown, _ = _quiet_fit(smooth_images[:2], verbose=1, **kwargs)
    err = capsys.readouterr().err
    assert "step 20/30, median PSNR" in err and "2/2" in err
    np.testing.assert_array_equal(shown.theta, quiet.theta)
    np.testing.assert_array_equal(shown.loss_history, quiet.loss_history)


def test_a_long_fit_says_its_expected_cost_once(smooth_images, capsys, monkeypatch):
    import itertools

    import sklearn_inr.fitting._report as report

    # A clock that advances 10 s per reading: each step "takes" 10 s.
    clock = itertools.count(0.0, 10.0)
    monkeypatch.setattr(report, "_clock", lambda: next(clock))
    _quiet_fit(smooth_images[:2], n_steps=20, batch_size=2, **SMALL)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    # 2 images x 20 steps at 2 image-steps per 10 s: 200 s.
    assert lines[0].startswith("Fitting 2 INRs (")
    assert "at most 20 steps) will take about 3 min 20 s on cpu" in lines[0]
    assert "verbose=1" in lines[0] and "memory=" in lines[0]
    # With a bar, or for a short fit, no line.
    _quiet_fit(smooth_images[:2], n_steps=20, batch_size=2, verbose=1, **SMALL)
    assert "will take" not in capsys.readouterr().err


# ------------------------------------------------------------------ volumes
def test_volumes_key_apart_and_image_keys_are_unchanged():
    settings = runner.FitSettings(lr=1e-3, n_steps=5)
    image_key = settings.key(INRSpec("siren"))
    assert "in_features" not in image_key  # the keys of every 2-D cache entry
    assert settings.key(INRSpec("siren", in_features=3)) == {
        **image_key,
        "in_features": 3,
    }


def test_volume_batches_are_sized_by_their_voxels(smooth_volumes, monkeypatch):
    spec = INRSpec(in_features=3, **SMALL)
    sizes = []
    monkeypatch.setattr(
        batching, "bytes_per_batch",
        lambda spec, batch, n_pixels, *args: sizes.append(n_pixels) or 0,
    )  # fmt: skip
    monkeypatch.setattr(batching, "warn_memory_budget", lambda *args: None)
    cpu = batching.torch.device("cpu")
    batching.check_one_image(spec, runner.FitSettings(), (4, 6, 5), cpu)
    assert sizes == [120]  # D * H * W voxels, not D * H
    # Over the budget, the warning names the volume's shape.
    monkeypatch.undo()
    monkeypatch.setattr(batching, "CPU_MEMORY_BUDGET", 1024)
    result, messages = _quiet_fit(smooth_volumes[:1], spatial_ndim=3, n_steps=2,
                                  **SMALL)  # fmt: skip
    (message,) = [m for m in messages if "memory budget" in m]
    assert "one 4x6x5 volume" in message
    assert result.theta.shape == (1, INRSpec(in_features=3, **SMALL).n_params)


def test_run_fits_needs_as_many_spatial_axes_as_the_spec(smooth_volumes):
    spec = INRSpec(in_features=3, **SMALL)
    with pytest.raises(ValueError, match=r"3 spatial axes \(spec.in_features\)"):
        runner.run_fits(smooth_volumes, spec, runner.FitSettings(), None, None)
