"""Devices and CPU threads of the fitting runner."""

from __future__ import annotations

from contextlib import contextmanager

import torch

__all__ = [
    "PRECISIONS",
    "gemm_dtype",
    "matmul_precision",
    "parse_device",
    "resolve_device",
    "torch_threads",
]

#: Values of ``precision``: what the width x width products compute in.
PRECISIONS = ("auto", "fp32", "bf16")


def parse_device(device) -> str:
    """Check a device name without requiring the device to be here.

    The machine that dispatches work (e.g. a Dask client) may have no GPU
    while its workers do, so availability is checked where the work runs
    (:func:`resolve_device`).
    """
    if device is None or device == "auto":
        return "auto"
    try:
        return str(torch.device(device))
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}."
        ) from exc


def resolve_device(device) -> torch.device:
    """``"auto"`` -> the first visible CUDA device if any, else the CPU.

    Inside a worker started with ``CUDA_VISIBLE_DEVICES=i``, the first
    visible device is that worker's GPU.
    """
    device = parse_device(device)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={str(device)!r} was requested but CUDA is not available; use "
            "device='auto' or 'cpu'."
        )
    return device


@contextmanager
def torch_threads(n_threads: int):
    """Run torch's CPU kernels of the calling thread on ``n_threads`` threads.

    torch keeps the OpenMP and MKL thread counts per calling thread, so each
    of the runner's worker threads can train on one core while the caller
    keeps its own setting.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def gemm_dtype(precision: str) -> torch.dtype | None:
    """Operand dtype of the engine's width x width products, or None (theta's)."""
    return torch.bfloat16 if precision == "bf16" else None


@contextmanager
def matmul_precision(precision: str, device: torch.device):
    """TF32 matmuls on CUDA for ``precision="auto"``; nothing anywhere else.

    TF32 keeps float32 storage and a 10-bit mantissa in the products (what
    cuBLAS does for float32 on Ampere and later when allowed). On CPU,
    ``"auto"`` means float32: bfloat16 is opt-in there (see the performance
    guide for its measured speed and PSNR ceiling). The setting is
    process-wide in torch, so it is restored on exit.
    """
    if precision != "auto" or device.type != "cuda":
        yield
        return
    matmul = torch.backends.cuda.matmul
    if hasattr(matmul, "fp32_precision"):  # torch >= 2.9
        previous = matmul.fp32_precision
        matmul.fp32_precision = "tf32"
        try:
            yield
        finally:
            matmul.fp32_precision = previous
    else:  # pragma: no cover - older torch
        previous = matmul.allow_tf32
        matmul.allow_tf32 = True
        try:
            yield
        finally:
            matmul.allow_tf32 = previous
