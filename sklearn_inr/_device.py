"""Devices and CPU threads of the fitting runner."""

from __future__ import annotations

from contextlib import contextmanager

import torch

__all__ = ["parse_device", "resolve_device", "torch_threads"]


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
