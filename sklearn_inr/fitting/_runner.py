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
- shows progress and detects divergence.
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
    bytes_per_batch,
    gemm_dtype,
    get_model,
    make_coordinates,
    matmul_precision,
    resolve_device,
    torch_threads,
)
from ._cache import ArrayStore
from ._results import INRFitResult, collect_results, diverged
from ._seeds import content_digest
from ._training import train

__all__ = ["FitSettings", "auto_batch_size", "run_fits"]

# Training-memory budget of the batches in flight on CPU (shared by threads).
CPU_MEMORY_BUDGET = 512 * 2**20
# On CPU a batch also stops at this many pixels in all: batching pays for
# small images (it amortises the per-step overhead), but once a step holds
# this much work, more images only add memory traffic (measured with
# benchmarks/bench_fit.py: 64 x 64 paper-net images ran about 20 % slower in
# batches of 72 than of 4).
CPU_BATCH_PIXELS = 16384
# Fraction of the free GPU memory a batch may take.
GPU_MEMORY_FRACTION = 0.5
# Speed assumed for sizing the first "auto" batches by duration, before any
# batch is measured (one CPU thread ran the engine at 58 GFLOP/s with a
# width-64 SIREN and 100 GFLOP/s with the paper net, benchmarks/bench_fit.py;
# a GPU guess on the slow side).
ASSUMED_FLOPS = {"cpu": 5e10, "cuda": 1e12}

# joblib backends whose workers are processes on this machine: their torch
# threads must share its cores. Dask, Ray and other backends manage their own
# workers (e.g. ``dask worker --nthreads 1``) and may run elsewhere.
_LOCAL_PROCESS_BACKENDS = ("LokyBackend", "MultiprocessingBackend")
_IN_PROCESS_BACKENDS = ("SequentialBackend", "ThreadingBackend")


@dataclass(frozen=True)
class FitSettings:
    """How each image is fitted: everything but the network, start and batching.

    Parameters
    ----------
    loss : {"bce", "mse"}
    lr : float
        Adam learning rate.
    n_steps : int
        Full-batch Adam steps per image.
    record_every : int
        Stride of the loss history, in steps.
    dtype : torch.dtype
    target_psnr : float or None
        Each image stops when its reconstruction reaches this PSNR (dB),
        checked every ``check_every`` steps, or after ``n_steps``.
    check_every : int
    precision : {"auto", "fp32", "bf16"}
        What the width x width products compute in (see
        :func:`~sklearn_inr.core._engine.gemm_layers`).
    """

    loss: str = "bce"
    lr: float = 1e-4
    n_steps: int = 1000
    record_every: int = 10
    dtype: torch.dtype = torch.float32
    target_psnr: float | None = None
    check_every: int = 10
    precision: str = "auto"

    @property
    def record_steps(self) -> np.ndarray:
        return np.arange(0, self.n_steps, self.record_every)

    @property
    def history_steps(self) -> np.ndarray:
        return np.append(self.record_steps, self.n_steps)

    def key(self, spec: INRSpec) -> dict:
        """What a cache key holds besides the image, start and trainer.

        The dtype is in; the device and the batching are not (on CPU they do
        not change a bit; on GPU only by rounding). omega_0 only matters for
        the families that read it (the model table's ``uses_omega_0``).
        """
        omega_0 = spec.omega_0 if get_model(spec.model).uses_omega_0 else None
        key = {
            "spec": (spec.model, spec.hidden_features, spec.hidden_layers, omega_0),
            "loss": self.loss,
            "lr": float(self.lr),
            "n_steps": int(self.n_steps),
            "record_every": int(self.record_every),
            "dtype": str(self.dtype),
        }
        if self.target_psnr is not None:
            key["stop"] = (float(self.target_psnr), int(self.check_every))
        # "auto" is float32 on CPU and TF32 on CUDA: a rounding difference,
        # like the device itself, so it shares float32's entries.
        if self.precision == "bf16":
            key["precision"] = self.precision
        return key


def auto_batch_size(
    spec: INRSpec,
    n_pixels: int,
    device,
    itemsize: int = 4,
    n_threads: int = 1,
    low_itemsize: int | None = None,
) -> int:
    """Largest batch whose training memory fits the budget (at least 1).

    The budget is :data:`CPU_MEMORY_BUDGET` on CPU, shared by the
    ``n_threads`` batches in flight, and :data:`GPU_MEMORY_FRACTION` of the
    free memory on a GPU; a batch needs
    :func:`sklearn_inr.core._engine.bytes_per_batch`, which grows with the batch.
    On CPU the batch holds at most :data:`CPU_BATCH_PIXELS` pixels (and at
    least one image).
    """
    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        budget = GPU_MEMORY_FRACTION * free
        high = 2**20
    else:
        budget = CPU_MEMORY_BUDGET / n_threads
        high = max(1, CPU_BATCH_PIXELS // n_pixels)
    low = 1  # bisect for the largest batch that fits
    while low < high:
        middle = (low + high + 1) // 2
        needed = bytes_per_batch(
            spec, middle, n_pixels, itemsize, device.type, low_itemsize
        )
        if needed <= budget:
            low = middle
        else:
            high = middle - 1
    return low


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
    """Fit every image (checked ``(n, H, W, C)`` floats) and collect the results.

    ``init`` and ``trainer`` are objects of :mod:`sklearn_inr.fitting._inits` and
    :mod:`sklearn_inr.fitting._training`; the other arguments are those of
    :func:`~sklearn_inr.fit_inrs`, already validated.
    """
    store = ArrayStore.from_memory(memory)
    keys = [None] * len(images)
    results = {}
    if store is not None:
        common = {**settings.key(spec), **trainer.key()}
        shapes = {
            "theta": (trainer.n_features(spec),),
            "loss_history": (len(settings.history_steps),),
            "output": images.shape[1:],
            "n_steps": (),
        }
        for row, image in enumerate(images):
            keys[row] = content_digest(image, {**common, "init": init.key(row)})
            hit = store.load(keys[row], shapes)
            if hit is not None:
                results[row] = hit
        store.warn_damaged()
    todo = np.array([row for row in range(len(images)) if row not in results], int)
    chunk = _Chunk(
        images, todo, init, keys, spec, settings, trainer, batch_size, device,
        None if store is None else store.location, float(checkpoint_every), None,
    )  # fmt: skip
    progress = None
    # No bar when the cache holds every image: a grid search would print one
    # finished bar per test fold and refit.
    if verbose > 0 and len(todo):
        from tqdm.auto import tqdm

        progress = tqdm(
            total=len(images), initial=len(results), unit="image", desc=desc
        )
    try:
        if len(todo):
            results.update(_dispatch(chunk, n_jobs, chunk_size, progress))
    finally:
        if progress is not None:
            progress.close()
    return collect_results(
        results, images, settings.history_steps, spec, settings.lr, on_divergence
    )


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
        return _fit_chunk(_subset(chunk, todo, None), progress)
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
    results = {}
    for part in parallel(
        joblib.delayed(_fit_chunk)(_subset(chunk, rows, n_threads))
        for rows in np.array_split(todo, n_chunks)
    ):
        results.update(part)
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
    coords = make_coordinates(chunk.images.shape[1:3], dtype=chunk.settings.dtype,
                              device=device)  # fmt: skip
    sizer = _BatchSizer(chunk, coords.shape[0], device, n_threads)

    def fit_batch(local):
        start = time.perf_counter()
        if device.type == "cpu":
            with torch_threads(1):
                out = _train_batch(chunk, local, coords, device)
        else:
            out = _train_batch(chunk, local, coords, device)
        return out, time.perf_counter() - start

    results, pending, next_row = {}, {}, 0
    n_rows = len(chunk.rows)
    with ThreadPoolExecutor(n_threads) if n_threads > 1 else _Sequential() as pool:
        while next_row < n_rows or pending:
            # Keep every thread busy; each new batch is sized by what the
            # finished ones measured.
            while next_row < n_rows and len(pending) < n_threads:
                size = sizer.next_size(n_rows - next_row)
                local = np.arange(next_row, next_row + size)
                pending[pool.submit(fit_batch, local)] = local
                next_row += size
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in sorted(done, key=lambda f: pending[f][0]):
                local = pending.pop(future)
                (features, output, history, steps), seconds = future.result()
                sizer.observe(len(local), seconds)
                for i, row in enumerate(chunk.rows[local]):
                    entry = {"theta": features[i], "loss_history": history[i],
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
    return results


class _BatchSizer:
    """Batch sizes within the memory budget and ``checkpoint_every`` seconds.

    An explicit ``batch_size`` is kept. ``"auto"`` takes the largest batch
    whose memory fits the budget (:func:`auto_batch_size`), at most one
    batch's share of the chunk per thread, and at most the images that
    finish within ``checkpoint_every`` seconds at the measured speed (before
    any measurement, at :data:`ASSUMED_FLOPS` per second). Results never
    depend on the batch sizes.
    """

    def __init__(self, chunk, n_pixels, device, n_threads):
        self.fixed = None if chunk.batch_size == "auto" else int(chunk.batch_size)
        itemsize = torch.finfo(chunk.settings.dtype).bits // 8
        spec = chunk.spec
        low = gemm_dtype(chunk.settings.precision)
        low_itemsize = None if low is None else torch.finfo(low).bits // 8
        self.memory_cap = auto_batch_size(
            spec, n_pixels, device, itemsize, n_threads, low_itemsize
        )
        self.thread_cap = max(1, -(-len(chunk.rows) // n_threads))
        self.flops_per_image = 6.0 * spec.n_params * n_pixels * chunk.settings.n_steps
        self.flops_per_second = ASSUMED_FLOPS.get(device.type, ASSUMED_FLOPS["cpu"])
        self.seconds = chunk.checkpoint_every

    def next_size(self, remaining: int) -> int:
        if self.fixed is not None:
            return min(self.fixed, remaining)
        in_time = int(self.seconds * self.flops_per_second / self.flops_per_image)
        size = min(self.memory_cap, self.thread_cap, max(1, in_time))
        return min(size, remaining)

    def observe(self, n_images: int, seconds: float) -> None:
        if seconds > 0:
            self.flops_per_second = n_images * self.flops_per_image / seconds


def _train_batch(chunk: _Chunk, local, coords, device):
    """Train the images ``local`` of a chunk; numpy features, output, history."""
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
