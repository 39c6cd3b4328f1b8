"""The fitting runner: the one place that batches, dispatches, caches and reports.

Every fit of the package (:func:`~sklearn_inr.fit_inrs`,
:func:`~sklearn_inr.fit_shifts`, :class:`~sklearn_inr.INRFeaturizer`) calls
:func:`run_fits` with the images, an :class:`~sklearn_inr.INRSpec`, frozen
:class:`FitSettings`, an initialisation object (:mod:`sklearn_inr.fitting._inits`)
and a trainer (:mod:`sklearn_inr.fitting._training`). The runner

- reads finished images from the cache (:class:`~sklearn_inr.fitting._cache.ArrayStore`)
  and writes each finished batch to it at once;
- cuts the rest into *chunks* dispatched through the active joblib backend
  (``n_jobs``, e.g. a Dask cluster), and each chunk into *batches*;
- trains each batch on one CPU thread (several batches run at once on a
  pool of threads), so that an image's theta is the same to the bit whatever
  its batch, companions, ``n_jobs`` or backend (see :mod:`sklearn_inr.core._engine`);
- checks before any work what it can (the device, the network's size,
  the cache folder, the memory of one image, the data range of the PSNR),
  shows progress and the expected cost (:mod:`sklearn_inr.fitting._report`),
  and after the fits detects divergence and unconverged fits.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

import joblib
import numpy as np
import torch

from ..core import (
    BatchedINR,
    INRSpec,
    chunk_key,
    gemm_dtype,
    make_coordinates,
    matmul_precision,
    parse_device,
    resolve_device,
    torch_threads,
)
from ._batching import (
    ASSUMED_FLOPS,
    CPU_BATCH_PIXELS,
    CPU_MEMORY_BUDGET,
    GPU_MEMORY_FRACTION,
    BatchSizer,
    auto_batch_size,
    check_one_image,
    memory_budget,
)
from ._cache import ArrayStore
from ._report import FitReport, warn_data_range, warn_kfac_step_size
from ._results import (
    INRFitResult,
    collect_results,
    diverged,
    n_records,
    trim_history,
)
from ._seeds import content_digest
from ._settings import FitSettings
from ._training import train

# The batch sizing lives in ._batching; its names are re-exported here, the
# runner's interface to the rest of the package.
__all__ = [
    "ASSUMED_FLOPS",
    "CPU_BATCH_PIXELS",
    "CPU_MEMORY_BUDGET",
    "GPU_MEMORY_FRACTION",
    "FitSettings",
    "auto_batch_size",
    "memory_budget",
    "run_fits",
]

# joblib backends whose workers are processes on this machine: their torch
# threads must share its cores. Dask, Ray and other backends manage their own
# workers (e.g. ``dask worker --nthreads 1``) and may run elsewhere.
_LOCAL_PROCESS_BACKENDS = ("LokyBackend", "MultiprocessingBackend")
_IN_PROCESS_BACKENDS = ("SequentialBackend", "ThreadingBackend")


@dataclass(frozen=True)
class _Chunk:
    """One dispatched piece of work: its own images, starts and cache keys."""

    images: np.ndarray
    rows: np.ndarray  # positions in the whole call
    init: object
    keys: list
    spec: INRSpec
    settings: FitSettings
    trainer: object
    batch_size: object
    device: str
    store_location: object
    checkpoint_every: float
    n_threads: int | None


def run_fits(
    images: np.ndarray,
    spec: INRSpec,
    settings: FitSettings,
    init,
    trainer,
    *,
    batch_size="auto",
    device="auto",
    memory=None,
    n_jobs=None,
    chunk_size=None,
    checkpoint_every=60.0,
    on_divergence="raise",
    verbose=0,
    desc="Fitting INRs",
) -> INRFitResult:
    """Fit every image (checked ``(n, *spatial, C)`` floats) and collect the results.

    The spatial axes (``(H, W)``, or ``(D, H, W)`` for volumes) are
    ``spec.in_features`` many: an image of ``images`` has
    ``spec.in_features + 1`` axes, its channels last.

    ``init`` and ``trainer`` are objects of :mod:`sklearn_inr.fitting._inits` and
    :mod:`sklearn_inr.fitting._training`; the other arguments are those of
    :func:`~sklearn_inr.fit_inrs`, already validated.

    Warns once each, per call: K-FAC with an Adam-sized ``lr``, a cache
    folder that cannot be written, damaged
    cache entries, refused cache saves, one image over the memory budget,
    ``loss="mse"`` data beyond [0, 1], and an unconverged median fit
    (:class:`~sklearn.exceptions.ConvergenceWarning`).
    """
    device = parse_device(device)  # mps, xla, ...: refused before any work
    if images.ndim != spec.in_features + 2:
        raise ValueError(
            f"run_fits needs images of shape (n_images, *spatial, C) with "
            f"{spec.in_features} spatial axes (spec.in_features), got shape "
            f"{images.shape}."
        )
    spec.check_size(torch.finfo(settings.dtype).bits // 8)
    warn_kfac_step_size(settings.optimizer, settings.lr)
    # PSNR assumes a data range of 1: out of it, the convergence check means
    # nothing, so only the range is warned about.
    judge = not warn_data_range(images, settings.loss)
    store = ArrayStore.from_memory(memory)
    keys = [None] * len(images)
    results = {}
    if store is not None:
        store.check_location()  # a file or an unwritable folder: before work
        n_pixels = int(np.prod(images.shape[1:-1]))
        common = {**settings.key(spec), **trainer.key(), **chunk_key(n_pixels)}
        shapes = {
            "theta": (trainer.n_features(spec),),
            "loss_history": None,  # as long as the steps taken: checked below
            "output": images.shape[1:],
            "n_steps": (),
        }
        for row, image in enumerate(images):
            keys[row] = content_digest(image, {**common, "init": init.key(row)})
            hit = store.load(
                keys[row], shapes, accept=lambda hit: _history_fits(hit, settings)
            )
            if hit is not None:
                results[row] = hit
        store.warn_damaged()
    todo = np.array([row for row in range(len(images)) if row not in results], int)
    try:
        here = resolve_device(device)
    except ValueError:  # no CUDA here (e.g. a Dask client): the workers have it
        here = None
    if len(todo) and here is not None:
        check_one_image(spec, settings, images.shape[1:-1], here)
    chunk = _Chunk(
        images, todo, init, keys, spec, settings, trainer, batch_size, device,
        None if store is None else store.location, float(checkpoint_every), None,
    )  # fmt: skip
    where = device if here is None else str(here)
    report = FitReport(len(todo), len(results), spec, settings, where, verbose, desc)
    try:
        if len(todo):
            fitted = _dispatch(chunk, n_jobs, chunk_size, report)
            results.update(fitted)
            if store is not None:
                store.warn_failed_saves(fitted.save_error)
    finally:
        report.close()
    return collect_results(
        results, images, settings.record_every, spec, settings.lr, on_divergence,
        n_steps=settings.n_steps, target_psnr=settings.target_psnr,
        warn_convergence=judge,
    )  # fmt: skip


def _history_fits(entry: dict, settings: FitSettings) -> bool:
    """Whether a cached history is as long as the steps its image took.

    Entries written before histories were cut to the steps taken hold all
    ``n_steps`` records (their later ones repeat the final loss): they load.
    """
    history, n_taken = entry["loss_history"], int(entry["n_steps"])
    if history.ndim != 1 or not 0 <= n_taken <= settings.n_steps:
        return False
    own = n_records(n_taken, settings.record_every)
    return len(history) in (own, settings.n_records)


class _Fitted(dict):
    """Per-row entries of fitted images, and the first refused cache save."""

    save_error = None

    def add(self, part) -> None:
        self.update(part)
        if self.save_error is None:
            self.save_error = getattr(part, "save_error", None)


def _subset(chunk: _Chunk, rows: np.ndarray, n_threads) -> _Chunk:
    """The part of the work of ``rows``, so workers get only their images."""
    return _Chunk(
        chunk.images[rows], rows, chunk.init.subset(rows),
        [chunk.keys[row] for row in rows], chunk.spec, chunk.settings,
        chunk.trainer, chunk.batch_size, chunk.device, chunk.store_location,
        chunk.checkpoint_every, n_threads,
    )  # fmt: skip


def _dispatch(chunk: _Chunk, n_jobs, chunk_size, progress) -> dict:
    """Fit ``chunk.rows``: in this process, or in chunks over joblib workers."""
    backend, _ = joblib.parallel.get_active_backend()
    backend_name = type(backend).__name__
    n_workers = joblib.effective_n_jobs(n_jobs)
    todo = chunk.rows
    if (
        n_workers == 1
        and chunk_size is None
        and backend_name in (_IN_PROCESS_BACKENDS + _LOCAL_PROCESS_BACKENDS)
    ):
        results = _Fitted()
        results.add(_fit_chunk(_subset(chunk, todo, None), progress))
        return results
    # A few chunks per worker balance the load without starving batching.
    if chunk_size is None:
        n_chunks = min(len(todo), 2 * n_workers)
    else:
        n_chunks = -(-len(todo) // chunk_size)
    n_threads = None
    if backend_name in _LOCAL_PROCESS_BACKENDS and n_workers > 1:
        # Local process workers share this machine's cores.
        n_threads = max(1, (os.cpu_count() or 1) // n_workers)
    parallel = joblib.Parallel(n_jobs=n_jobs, return_as="generator")
    results = _Fitted()
    for part in parallel(
        joblib.delayed(_fit_chunk)(_subset(chunk, rows, n_threads))
        for rows in np.array_split(todo, n_chunks)
    ):
        results.add(part)
        if progress is not None:
            progress.update(len(part))
    return results


def _fit_chunk(chunk: _Chunk, progress=None) -> dict:
    """Fit one chunk in batches; runs in the caller or in a joblib worker.

    ``chunk.images`` are the chunk's own; results are keyed by
    ``chunk.rows``, the positions in the whole call. On CPU each batch
    trains on one thread, and ``n_threads`` batches (by default the
    caller's torch thread count) train at once. Each finished batch goes to
    the cache at once, and ``"auto"`` batches are cut to finish within
    ``checkpoint_every`` seconds, so a worker that dies (even by ``kill
    -9``) loses at most that much work.
    """
    device = resolve_device(chunk.device)
    n_threads = 1
    if device.type == "cpu":
        n_threads = chunk.n_threads or torch.get_num_threads()
    store = None
    if chunk.store_location is not None:
        store = ArrayStore(chunk.store_location)
    # The spatial axes, (H, W) or (D, H, W): every axis but the channels'.
    coords = make_coordinates(chunk.images.shape[1:-1], dtype=chunk.settings.dtype,
                              device=device)  # fmt: skip
    sizer = BatchSizer(chunk, coords.shape[0], device, n_threads)

    def fit_batch(local, hooks):
        start = time.perf_counter()
        if device.type == "cpu":
            with torch_threads(1):
                out = _train_batch(chunk, local, coords, device, hooks)
        else:
            out = _train_batch(chunk, local, coords, device, hooks)
        return out, time.perf_counter() - start

    results, pending, next_row = _Fitted(), {}, 0
    n_rows = len(chunk.rows)
    with ThreadPoolExecutor(n_threads) if n_threads > 1 else _Sequential() as pool:
        while next_row < n_rows or pending:
            # Keep every thread busy; each new batch is sized by what the
            # finished ones measured.
            while next_row < n_rows and len(pending) < n_threads:
                size = sizer.next_size(n_rows - next_row)
                local = np.arange(next_row, next_row + size)
                hooks = (None, None)
                if progress is not None:
                    hooks = progress.hooks(size, min(n_threads, -(-n_rows // size)))
                pending[pool.submit(fit_batch, local, hooks)] = local
                next_row += size
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in sorted(done, key=lambda f: pending[f][0]):
                local = pending.pop(future)
                (features, output, history, steps), seconds = future.result()
                sizer.observe(len(local), seconds)
                for i, row in enumerate(chunk.rows[local]):
                    # Each image keeps the history of the steps it took.
                    own = trim_history(history[i], int(steps[i]),
                                       chunk.settings.record_every)  # fmt: skip
                    entry = {"theta": features[i], "loss_history": own,
                             "output": output[i], "n_steps": steps[i]}  # fmt: skip
                    results[int(row)] = entry
                    # Diverged images are not cached: a rerun with a lower lr
                    # refits them.
                    image = chunk.images[local[i]]
                    if store is not None and not diverged(history[i], output[i],
                                                          image):  # fmt: skip
                        store.save(chunk.keys[local[i]], **entry)
                if progress is not None:
                    progress.update(len(local))
    if store is not None:
        results.save_error = store.save_error
    return results


def _train_batch(chunk: _Chunk, local, coords, device, hooks=(None, None)):
    """Train the images ``local`` of a chunk; numpy features, output, history.

    ``hooks`` are the ``(on_step, on_record)`` of :class:`FitReport` (progress
    and timing in this process; they change no number).
    """
    spec, settings = chunk.spec, chunk.settings
    targets = torch.as_tensor(
        chunk.images[local].reshape(len(local), -1, spec.out_features),
        dtype=settings.dtype,
    ).to(device)
    net = BatchedINR(spec, chunk.init.start(spec, local, settings.dtype, device),
                     coords, gemm_dtype=gemm_dtype(settings.precision))  # fmt: skip
    bound = chunk.trainer.bind(net)
    with matmul_precision(settings.precision, device):
        result = train(
            net, bound, targets, loss=settings.loss, lr=settings.lr,
            n_steps=settings.n_steps, record_steps=settings.record_steps,
            target_psnr=settings.target_psnr, check_every=settings.check_every,
            stop_unreachable=settings.stop_unreachable,
            on_step=hooks[0], on_record=hooks[1], optimizer=settings.optimizer,
        )  # fmt: skip
    output = result.output.reshape(len(local), *chunk.images.shape[1:])
    return (
        result.features.cpu().numpy(),
        output.cpu().numpy(),
        result.history.cpu().numpy(),
        result.n_steps,
    )


class _Sequential:
    """The :class:`ThreadPoolExecutor` interface, run in the calling thread."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    @staticmethod
    def submit(function, *args) -> Future:
        future = Future()
        try:
            future.set_result(function(*args))
        except BaseException as exc:  # noqa: BLE001 - re-raised by .result()
            future.set_exception(exc)
        return future
