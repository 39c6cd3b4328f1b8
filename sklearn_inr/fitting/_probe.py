"""How fast INRs train here, and how many steps a target PSNR takes.

:func:`probe_fit_speed` trains random targets through the engine for a
warm-up step and then for about ``target_seconds``, in the batches the runner
would make (:func:`~sklearn_inr.fitting._runner.auto_batch_size`, one batch
per CPU thread, at most :data:`~sklearn_inr.fitting._runner.CPU_BATCH_PIXELS`
pixels per batch), and returns FLOP/s. Nothing is fitted: no image, no cache,
no result; the fitting runner itself is not called, so probing never counts
as fitting. :func:`probe_fit_steps` fits a few real images to a target PSNR
the same way (no cache, no result) and returns the steps each took.
"""

from __future__ import annotations

import contextlib
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from ..core import (
    KFAC_DEFAULTS,
    BatchedINR,
    INRSpec,
    gemm_dtype,
    make_coordinates,
    matmul_precision,
    resolve_device,
    torch_threads,
)
from ._batching import itemsizes
from ._checks import check_images
from ._runner import CPU_BATCH_PIXELS, auto_batch_size
from ._training import WeightsTrainer, train

__all__ = ["FitSpeed", "probe_fit_speed", "probe_fit_steps", "probe_shape"]

# The GPU probe trains at most this many pixels per step (18 paper slices):
# enough to fill the GPU, a fraction of a second per step.
GPU_PROBE_PIXELS = 2**20
#: Kinds of fits a probe times: independent fits in the runner's batches,
#: and weight-transfer chains (one image per class, two at a time).
KINDS = ("batch", "chain")


@dataclass(frozen=True)
class FitSpeed:
    """Training speed of one network, measured by :func:`probe_fit_speed`.

    Attributes
    ----------
    flops_per_second : dict of str to float
        FLOP/s by kind of fit, ``"batch"`` and ``"chain"``.
    layouts : dict of str to tuple of (int, int)
        ``(images per batch, batches at once)`` of each kind, as the runner
        would train them.
    shape : tuple of (int, int)
        The probed image shape (the run's, cropped on a CPU).
    """

    flops_per_second: dict
    layouts: dict
    shape: tuple


def probe_shape(image_shape, device) -> tuple:
    """The probe's image shape: the run's, cropped on a CPU to a batch's pixels.

    On a CPU the runner trains big images one per thread, chunk by chunk, so
    the speed per pixel does not depend on the image size beyond a batch.

    Examples
    --------
    >>> from sklearn_inr.fitting import probe_shape
    >>> probe_shape((240, 240), "cpu"), probe_shape((64, 64), "cpu")
    ((128, 128), (64, 64))
    """
    height, width = image_shape
    if torch.device(device).type != "cpu" or height * width <= CPU_BATCH_PIXELS:
        return (height, width)
    side = int(math.isqrt(CPU_BATCH_PIXELS))
    return (min(height, side), min(width, CPU_BATCH_PIXELS // min(height, side)))


def _layouts(spec, n_pixels, device, n_threads, n_images, precision) -> dict:
    """``(images per batch, batches at once)`` of each kind, as the runner makes
    them: the memory cap of :func:`auto_batch_size`, one batch's share of the
    images per thread."""
    itemsize, low_itemsize = itemsizes(torch.float32, precision)
    memory_cap = auto_batch_size(
        spec, n_pixels, device, itemsize, n_threads, low_itemsize
    )
    if device.type != "cpu":
        memory_cap = min(memory_cap, max(1, GPU_PROBE_PIXELS // n_pixels))
    layouts = {}
    for kind, images in zip(KINDS, (n_images, 2)):
        per_worker, workers = memory_cap, n_threads
        if images is not None:
            per_worker = min(per_worker, max(1, -(-images // n_threads)))
            workers = min(n_threads, -(-images // per_worker))
        layouts[kind] = (per_worker, workers)
    return layouts


def _measure(spec, loss, lr, device, shape, layout, target_seconds, precision,
             optimizer="adam"):  # fmt: skip
    """FLOP/s of ``workers`` batches of ``batch`` images trained at once.

    As the runner trains them: each batch on one CPU thread, the batches on
    a pool of threads (one batch on a GPU), in ``precision``, stepped by
    ``optimizer``. Timed after a warm-up step; K-FAC's timed steps are whole
    refresh periods, so its factor passes count at their share. (The FLOPs
    are the engine's forward and backward: K-FAC's extra work shows as a
    lower rate.)
    """
    batch, n_workers = layout
    coords = make_coordinates(shape, device=device)
    generator = torch.Generator().manual_seed(0)
    work = []
    for worker in range(n_workers):
        thetas = np.stack([spec.init_theta(worker * batch + i) for i in range(batch)])
        net = BatchedINR(spec, torch.tensor(thetas, device=device), coords,
                         gemm_dtype=gemm_dtype(precision))  # fmt: skip
        targets = torch.rand(batch, coords.shape[0], 1, generator=generator)
        work.append((net, WeightsTrainer().bind(net), targets.to(device)))

    def steps(item, n_steps):
        net, bound, targets = item
        if device.type == "cpu":
            with torch_threads(1):
                train(net, bound, targets, loss=loss, lr=lr, n_steps=n_steps,
                      final=False, optimizer=optimizer)  # fmt: skip
        else:
            train(net, bound, targets, loss=loss, lr=lr, n_steps=n_steps,
                  final=False, optimizer=optimizer)  # fmt: skip

    def timed(n_steps):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        if n_workers == 1:
            steps(work[0], n_steps)
        else:
            with ThreadPoolExecutor(n_workers) as pool:
                list(pool.map(lambda item: steps(item, n_steps), work))
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - start

    with matmul_precision(precision, device):
        warm = timed(1)
        n_steps = int(min(200, max(2, round(target_seconds / max(warm, 1e-6)))))
        if optimizer == "kfac":
            period = KFAC_DEFAULTS["refresh_every"]
            n_steps = period * -(-n_steps // period)
        seconds = timed(n_steps)
    flops = 6.0 * spec.n_params * math.prod(shape) * batch * n_workers * n_steps
    return flops / seconds


def probe_fit_speed(
    spec: INRSpec,
    image_shape,
    *,
    loss: str = "bce",
    lr: float = 1e-4,
    precision: str = "auto",
    optimizer: str = "adam",
    device="auto",
    n_threads: int | None = None,
    n_images: int | None = None,
    target_seconds: float | None = None,
) -> FitSpeed:
    """Measure how fast ``spec``'s INRs train here, as the runner would train them.

    Random targets train through the fitting engine for a warm-up step, then
    for about ``target_seconds``: on a CPU, one batch per thread (each at
    most the runner's batch of pixels; larger images are cropped to that,
    see :func:`probe_shape`), on a GPU one batch of up to 2**20 pixels.
    Independent fits (batches of the runner's size) and weight-transfer
    chains (one image per class, two at a time) are timed separately, once
    each when their layouts differ. Nothing is fitted or cached.

    Parameters
    ----------
    spec : INRSpec
        The network.
    image_shape : tuple of (int, int)
        ``(H, W)`` of the images the run fits.
    loss : {"bce", "mse"}, default="bce"
    lr : float, default=1e-4
    precision : {"auto", "fp32", "bf16"}, default="auto"
        What the width x width products compute in.
    optimizer : {"adam", "kfac"}, default="adam"
    device : {"auto", "cpu", "cuda"} or torch.device, default="auto"
    n_threads : int, default=None
        CPU threads of the run (batches trained at once); None: torch's.
        Ignored on a GPU (one batch at a time).
    n_images : int, default=None
        Images fitted at once, which bounds the batches; None: no bound but
        the runner's.
    target_seconds : float, default=None
        Timed part of each measurement; None: 0.5 s on a CPU, 0.2 s on a GPU.

    Returns
    -------
    speed : FitSpeed

    Examples
    --------
    >>> from sklearn_inr import INRSpec
    >>> from sklearn_inr.fitting import probe_fit_speed
    >>> speed = probe_fit_speed(INRSpec("siren", hidden_features=8,
    ...                                 hidden_layers=1), (12, 12),
    ...                         device="cpu", n_threads=1, target_seconds=0.01)
    >>> sorted(speed.flops_per_second), speed.layouts["chain"]
    (['batch', 'chain'], (2, 1))
    """
    device = resolve_device(device)
    on_cpu = device.type == "cpu"
    if target_seconds is None:
        target_seconds = 0.5 if on_cpu else 0.2
    n_threads = (n_threads or torch.get_num_threads()) if on_cpu else 1
    shape = probe_shape(tuple(image_shape), device)
    layouts = _layouts(spec, math.prod(shape), device, n_threads, n_images, precision)
    measured, speeds = {}, {}
    for kind, layout in layouts.items():
        if layout not in measured:
            measured[layout] = _measure(
                spec, loss, float(lr), device, shape, layout, target_seconds,
                precision, optimizer,
            )  # fmt: skip
        speeds[kind] = measured[layout]
    return FitSpeed(speeds, layouts, shape)


def probe_fit_steps(
    spec: INRSpec,
    images,
    *,
    init_theta,
    target_psnr: float,
    n_steps: int,
    check_every: int = 10,
    stop_unreachable: bool = False,
    loss: str = "bce",
    lr: float = 1e-4,
    precision: str = "auto",
    optimizer: str = "adam",
    device="auto",
    n_threads: int | None = None,
    return_theta: bool = False,
):
    """Steps each of ``images`` takes to reach ``target_psnr``, ``n_steps`` at most.

    The images train from ``init_theta`` as the runner trains them (the
    same engine, precision and check of the target), split
    into one batch per CPU thread (one batch on a GPU). Nothing is cached
    and the runner is not called: a probe for an estimate, not a fit.

    Parameters
    ----------
    spec : INRSpec
        The network.
    images : ndarray of shape (n_images, H, W) or (n_images, H, W, C)
        Volumes ``(n_images, D, H, W[, C])`` for a spec with
        ``in_features=3``; checked as :func:`~sklearn_inr.fit_inrs` checks
        them.
        Intensities in [0, 1].
    init_theta : ndarray of shape (spec.n_params,) or (n_images, spec.n_params)
        Where the fits start: one theta for all (the run's shared init), or
        one per image (e.g. the fit of another image, as in a chain).
    target_psnr : float
        PSNR (dB, data range 1) at which a fit stops.
    n_steps : int
        The cap.
    check_every : int, default=10
        Steps between two checks of the target, as in :func:`fit_inrs`.
    stop_unreachable : bool, default=False
        Give up on fits that cannot reach the target, as in :func:`fit_inrs`.
    loss : {"bce", "mse"}, default="bce"
    lr : float, default=1e-4
    precision : {"auto", "fp32", "bf16"}, default="auto"
    optimizer : {"adam", "kfac"}, default="adam"
    device : {"auto", "cpu", "cuda"} or torch.device, default="auto"
    n_threads : int, default=None
        CPU threads (batches trained at once); None: torch's.
    return_theta : bool, default=False
        Also return the fitted thetas.

    Returns
    -------
    steps : ndarray of int of shape (n_images,)
        ``n_steps`` for the images that did not reach the target.
    theta : ndarray of shape (n_images, spec.n_params)
        Only with ``return_theta``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_inr import INRSpec
    >>> from sklearn_inr.fitting import probe_fit_steps
    >>> spec = INRSpec("siren", hidden_features=8, hidden_layers=1)
    >>> images = np.random.default_rng(0).uniform(size=(2, 8, 8))
    >>> probe_fit_steps(spec, images, init_theta=spec.init_theta(0),
    ...                 target_psnr=100.0, n_steps=5, lr=1e-3, device="cpu")
    array([5, 5])
    """
    device = resolve_device(device)
    # (n, *spatial, C), the layout the runner fits: volumes and channels too.
    images = check_images(
        images, loss, out_features=spec.out_features, spatial_ndim=spec.in_features
    ).astype(np.float32, copy=False)
    n_images = len(images)
    on_cpu = device.type == "cpu"
    n_workers = min(n_images, (n_threads or torch.get_num_threads()) if on_cpu else 1)
    coords = make_coordinates(images.shape[1:-1], device=device)
    thetas = np.asarray(init_theta, dtype=np.float32)
    thetas = np.broadcast_to(thetas, (n_images, spec.n_params))

    def fit(rows):
        start = torch.as_tensor(thetas[rows].copy(), device=device)
        net = BatchedINR(spec, start, coords, gemm_dtype=gemm_dtype(precision))
        targets = images[rows].reshape(len(rows), -1, spec.out_features)
        targets = torch.as_tensor(targets).to(device)
        with (
            matmul_precision(precision, device),
            torch_threads(1) if on_cpu else contextlib.nullcontext(),
        ):
            result = train(net, WeightsTrainer().bind(net), targets, loss=loss,
                           lr=float(lr), n_steps=int(n_steps), final=False,
                           target_psnr=float(target_psnr),
                           check_every=int(check_every),
                           stop_unreachable=bool(stop_unreachable),
                           optimizer=optimizer)  # fmt: skip
        return result.n_steps, result.features.cpu().numpy()

    parts = np.array_split(np.arange(n_images), n_workers)
    with ThreadPoolExecutor(n_workers) as pool:
        done = list(pool.map(fit, parts))
    steps = np.concatenate([s for s, _ in done]).astype(np.int64)
    if return_theta:
        return steps, np.concatenate([t for _, t in done])
    return steps
