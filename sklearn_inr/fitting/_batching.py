"""How many images a batch holds: the memory budget and the time between saves.

The runner (:mod:`sklearn_inr.fitting._runner`) sizes its ``"auto"`` batches
here, and warns before any work when even one image exceeds the budget.
Results never depend on the batch sizes.
"""

from __future__ import annotations

import math

import torch

from ..core import INRSpec, bytes_per_batch, gemm_dtype
from ._report import warn_memory_budget

__all__ = [
    "ASSUMED_FLOPS",
    "CPU_BATCH_PIXELS",
    "CPU_MEMORY_BUDGET",
    "GPU_MEMORY_FRACTION",
    "BatchSizer",
    "auto_batch_size",
    "check_one_image",
    "memory_budget",
]

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


def memory_budget(device: torch.device, n_threads: int = 1) -> float:
    """Bytes the batches of one thread may take on ``device``."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return GPU_MEMORY_FRACTION * free
    return CPU_MEMORY_BUDGET / n_threads


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
    budget = memory_budget(device, n_threads)
    if device.type == "cuda":
        high = 2**20
    else:
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


def itemsizes(dtype: torch.dtype, precision: str) -> tuple[int, int | None]:
    """Bytes of theta's dtype, and of the GEMM dtype of ``precision`` (or None)."""
    low = gemm_dtype(precision)
    low_itemsize = None if low is None else torch.finfo(low).bits // 8
    return torch.finfo(dtype).bits // 8, low_itemsize


def check_one_image(spec, settings, shape, here: torch.device) -> None:
    """Warn, before any work, when one image alone exceeds the memory budget.

    ``shape`` is the spatial shape of an image, ``(H, W)`` or ``(D, H, W)``:
    its pixels (voxels) are their product.
    """
    itemsize, low_itemsize = itemsizes(settings.dtype, settings.precision)
    needed = bytes_per_batch(spec, 1, math.prod(shape), itemsize, here.type,
                             low_itemsize)  # fmt: skip
    warn_memory_budget(needed, memory_budget(here), spec, shape, here.type)


class BatchSizer:
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
        itemsize, low_itemsize = itemsizes(chunk.settings.dtype,
                                           chunk.settings.precision)  # fmt: skip
        spec = chunk.spec
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
