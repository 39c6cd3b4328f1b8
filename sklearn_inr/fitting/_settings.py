"""Frozen settings of a fit: how each image is trained, and its cache key."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..core import INRSpec, get_model
from ._training import GAIN_FROM

__all__ = ["FitSettings"]


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
    stop_unreachable : bool
        With ``target_psnr``: also stop a fit that, at its mean PSNR gain per
        step so far, would end below the target (see
        :func:`~sklearn_inr.fitting.train`).
    precision : {"auto", "fp32", "bf16"}
        What the width x width products compute in (see
        :func:`~sklearn_inr.core._engine.gemm_layers`).
    optimizer : {"adam", "kfac"}
        What steps the parameters (see :func:`~sklearn_inr.fitting.train`).
    """

    loss: str = "bce"
    lr: float = 1e-4
    n_steps: int = 1000
    record_every: int = 10
    dtype: torch.dtype = torch.float32
    target_psnr: float | None = None
    check_every: int = 10
    stop_unreachable: bool = False
    precision: str = "auto"
    optimizer: str = "adam"

    @property
    def record_steps(self) -> range:
        """Steps whose loss is recorded: a ``range``, which allocates nothing
        (``n_steps`` may be a cap of 10**9 that ``target_psnr`` never reaches).
        """
        return range(0, self.n_steps, self.record_every)

    @property
    def n_records(self) -> int:
        """Length of the history of an image that takes all ``n_steps``."""
        return len(self.record_steps) + 1

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
        # Volumes (in_features=3) key apart from images; the 2-D keys stay
        # as they were before volumes existed.
        if spec.in_features != 2:
            key["in_features"] = int(spec.in_features)
        if self.target_psnr is not None:
            key["stop"] = (float(self.target_psnr), int(self.check_every))
            # Keys of fits that are never given up on stay as they were. The
            # step the gain is measured from is in the key: it was 0 before.
            if self.stop_unreachable:
                key["stop"] += ("unreachable", GAIN_FROM)
        # "auto" is float32 on CPU and TF32 on CUDA: a rounding difference,
        # like the device itself, so it shares float32's entries.
        if self.precision == "bf16":
            key["precision"] = self.precision
        # Adam's keys stay as they were before other optimizers existed.
        if self.optimizer != "adam":
            key["optimizer"] = self.optimizer
        return key
