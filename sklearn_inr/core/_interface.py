"""The engine interface: what a trainer may ask of a batch of INRs.

Every trainer (:mod:`sklearn_inr.fitting._training`, the meta-learners)
drives a batch of B networks of one :class:`~sklearn_inr.INRSpec` through
this interface only; :class:`~sklearn_inr.core.BatchedINR` (torch, CPU and
CUDA) is its implementation. Another backend (a fused CUDA kernel, a
compiled graph) implements the same methods and nothing else changes.

Contract for an implementation
------------------------------
- **Parameters.** :attr:`Engine.params` is a list of tensors an optimiser
  from :mod:`sklearn_inr.core._optim` steps (``torch.optim`` style); their
  ``.grad`` are written by :meth:`Engine.backward`. Their layout is the
  engine's own (e.g. padded); :meth:`Engine.theta` /
  :meth:`Engine.load_theta` convert from and to the theta layout
  (:func:`~sklearn_inr.flatten_theta`).
- **Loss.** ``backward`` differentiates the *sum over networks of each
  network's mean loss* over its pixels and outputs, so each network's
  gradient is the one it would get alone.
- **Bits.** On CPU an implementation must give each network the same bits
  whatever the batch, its position or its neighbours (see
  :mod:`sklearn_inr.core._engine` for how the torch one does it), or
  document the residual.
- **Model.** The network is the model table's
  (:mod:`sklearn_inr.core._models`): its encoding applied to the
  coordinates, its activation on hidden layers, a linear output.
  :func:`~sklearn_inr.core.functional_forward` is the reference forward.
- **Biases.** Shift and latent modulations fit only hidden biases:
  :meth:`Engine.backward` with ``weight_grads=False`` must write the bias
  gradients (the weights' may be stale), read with
  :meth:`Engine.get_bias_grads`; :meth:`Engine.set_biases` writes biases.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import torch

__all__ = ["Engine"]


@runtime_checkable
class Engine(Protocol):
    """A batch of B INRs of one spec on one coordinate grid.

    Attributes
    ----------
    spec : INRSpec
    n_pixels : int
    coords : tensor of shape (n_pixels, in_features)
        The raw coordinates it was built on.
    """

    spec: object
    n_pixels: int
    coords: torch.Tensor

    @property
    def batch_size(self) -> int:
        """B, the number of networks (changes with :meth:`select`)."""

    @property
    def dtype(self) -> torch.dtype:
        """The parameters' dtype."""

    @property
    def device(self) -> torch.device:
        """The parameters' device."""

    @property
    def params(self) -> list[torch.Tensor]:
        """The tensors an optimiser steps; ``.grad`` written by :meth:`backward`."""

    def forward(self) -> torch.Tensor:
        """Outputs (logits or intensities), shape ``(B, n_pixels, out)``."""

    def losses(self, targets: torch.Tensor, loss: str) -> torch.Tensor:
        """Each network's mean loss for the last :meth:`forward`, shape ``(B,)``."""

    def backward(
        self,
        targets: torch.Tensor,
        loss: str,
        *,
        weight_grads: bool = True,
        return_losses: bool = False,
        return_mse: bool = False,
    ):
        """Forward and backward: write the gradients into ``params``' ``.grad``.

        Returns the losses before the update (``return_losses``) and the
        reconstructions' mean squared errors (``return_mse``, after the
        losses), each ``(B,)``, or None.
        """

    def select(self, rows) -> None:
        """Keep only networks ``rows``; each goes on exactly as it would have."""

    def theta(self) -> torch.Tensor:
        """The parameters in the theta layout, ``(B, n_params)`` (a copy)."""

    def grad_theta(self) -> torch.Tensor:
        """The gradients of :meth:`backward` in the theta layout (a copy)."""

    def load_theta(self, theta: torch.Tensor) -> None:
        """Set the parameters from ``(n_params,)`` or ``(B, n_params)``."""

    def get_biases(self, layers: Sequence[int]) -> torch.Tensor:
        """Biases of ``layers``, ``(B, len(layers), width)`` (a copy)."""

    def get_bias_grads(self, layers: Sequence[int]) -> torch.Tensor:
        """Their gradients from the last :meth:`backward` (a copy)."""

    def set_biases(self, layers: Sequence[int], values: torch.Tensor) -> None:
        """Write ``values`` ``(B, len(layers), width)`` into those biases."""

    def render(self, theta: torch.Tensor) -> torch.Tensor:
        """Outputs ``(B', n_pixels, out)`` of other parameters on this grid."""
