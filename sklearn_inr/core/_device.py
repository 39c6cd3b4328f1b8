"""Devices and CPU threads of the fitting runner."""

from __future__ import annotations

import threading
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

#: Device types the engine runs on (``parse_device`` refuses the others).
SUPPORTED_DEVICE_TYPES = ("cpu", "cuda")

#: Values of ``precision``: what the width x width products compute in.
PRECISIONS = ("auto", "fp32", "bf16")


def parse_device(device) -> str:
    """Check a device name without requiring the device to be here.

    ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or a ``torch.device`` of
    those types; any other (``"mps"``, ``"xla"``, ``"meta"``, ...) raises a
    ``ValueError`` that says what is supported.

    The machine that dispatches work (e.g. a Dask client) may have no GPU
    while its workers do, so availability is checked where the work runs
    (:func:`resolve_device`).
    """
    if device is None or device == "auto":
        return "auto"
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}."
        ) from exc
    if parsed.type not in SUPPORTED_DEVICE_TYPES:
        # torch knows these names (mps, xla, meta, xpu, ...), but the batched
        # engine, its memory sizing and its bit-for-bit guarantees are
        # written and tested for CPU and CUDA only; torch's own errors come
        # late and do not name the parameter.
        raise ValueError(
            f"device={device!r} is not supported: sklearn-inr fits on 'cpu' "
            "or 'cuda' ('cuda:N' for the N-th GPU), the only devices its "
            "batched engine is built and tested for; 'auto' picks CUDA when "
            "present. Use device='cpu' on machines without an NVIDIA GPU."
        )
    return str(parsed)


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


# torch's float32 matmul setting is process-wide: the runner's worker threads
# share it, so the first to enter sets it and the last to leave restores it.
_MATMUL_LOCK = threading.Lock()
_matmul_users = {"count": 0, "saved": None}


@contextmanager
def matmul_precision(precision: str, device: torch.device):
    """Float32 matmuls on CUDA as ``precision`` asks; nothing on CPU.

    ``"auto"``: TF32 (float32 storage, a 10-bit mantissa in the products, what
    cuBLAS does on Ampere and later when allowed). ``"fp32"``: IEEE float32,
    whatever the process had set. ``"bf16"`` leaves the setting alone (its
    float32 products are the cheap ones). On CPU, ``"auto"`` means float32:
    bfloat16 is opt-in there (see the performance guide for its measured speed
    and PSNR ceiling). Threads that overlap with different requests share one
    process-wide setting: the first one's holds until the last one leaves.
    """
    wanted = {"auto": "tf32", "fp32": "ieee"}.get(precision)
    if wanted is None or device.type != "cuda":
        yield
        return
    matmul = torch.backends.cuda.matmul
    new_api = hasattr(matmul, "fp32_precision")  # torch >= 2.9
    with _MATMUL_LOCK:
        if _matmul_users["count"] == 0:
            if new_api:
                _matmul_users["saved"] = matmul.fp32_precision
                matmul.fp32_precision = wanted
            else:  # pragma: no cover - older torch
                _matmul_users["saved"] = matmul.allow_tf32
                matmul.allow_tf32 = wanted == "tf32"
        _matmul_users["count"] += 1
    try:
        yield
    finally:
        with _MATMUL_LOCK:
            _matmul_users["count"] -= 1
            if _matmul_users["count"] == 0:
                if new_api:
                    matmul.fp32_precision = _matmul_users["saved"]
                else:  # pragma: no cover - older torch
                    matmul.allow_tf32 = _matmul_users["saved"]
