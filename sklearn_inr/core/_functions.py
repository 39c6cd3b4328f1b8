"""Losses and activations of the INRs, as small objects the engine calls.

Each loss and each activation is defined here once; the engine, the runner
and the input checks ask these objects instead of comparing strings.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["ACTIVATIONS", "LOSSES", "get_activation", "get_loss"]


class BCEWithLogits:
    """Binary cross-entropy on the logit output; the reconstruction is its sigmoid.

    The paper's ``BCEWithLogitsLoss``: targets must lie in [0, 1], and the
    loss never reaches 0 on soft targets (its floor is their entropy).
    """

    name = "bce"
    target_range = (0.0, 1.0)

    @staticmethod
    def pixel_losses(output: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(output, targets, reduction="none")

    @staticmethod
    def output_grad(output, targets, scale: float, out: torch.Tensor) -> None:
        """Write ``scale * d loss / d output`` into ``out``."""
        torch.sigmoid(output, out=out)
        out.sub_(targets).mul_(scale)

    @staticmethod
    def reconstruct(output: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(output)


class SquaredError:
    """Squared error on the output itself; the output is the intensity."""

    name = "mse"
    target_range = None

    @staticmethod
    def pixel_losses(output: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return (output - targets).square_()

    @staticmethod
    def output_grad(output, targets, scale: float, out: torch.Tensor) -> None:
        torch.sub(output, targets, out=out).mul_(2.0 * scale)

    @staticmethod
    def reconstruct(output: torch.Tensor) -> torch.Tensor:
        return output


class Sine:
    """SIREN's ``sin(omega_0 (W a + b))``, with omega_0 folded into the GEMM.

    The layer keeps its pre-activation ``u = omega_0 (W a + b)``: the
    backward pass turns it into ``cos(u)`` in place, the derivative.
    """

    keeps_pre_activation = True

    def __init__(self, omega_0: float):
        self.omega_0 = float(omega_0)

    @property
    def gemm_scale(self) -> float:
        """Factor between the layer's GEMM output and ``W a + b``."""
        return self.omega_0

    def forward(self, bias, inputs, weight_t, *, pre, act) -> None:
        omega = self.omega_0
        torch.baddbmm(bias, inputs, weight_t, beta=omega, alpha=omega, out=pre)
        torch.sin(pre, out=act)

    @staticmethod
    def backward_(grad, *, pre, act, mask) -> None:
        """Multiply ``grad`` by the derivative at the layer's pre-activation."""
        grad.mul_(torch.cos_(pre))


class ReLU:
    """``max(0, W a + b)``; its derivative is the activation's sign."""

    keeps_pre_activation = False
    gemm_scale = 1.0

    @staticmethod
    def forward(bias, inputs, weight_t, *, pre, act) -> None:
        torch.baddbmm(bias, inputs, weight_t, out=act)
        act.clamp_(min=0)

    @staticmethod
    def backward_(grad, *, pre, act, mask) -> None:
        torch.le(act, 0, out=mask)
        grad.masked_fill_(mask, 0.0)


LOSSES = {"bce": BCEWithLogits(), "mse": SquaredError()}
ACTIVATIONS = {"siren": Sine, "relu": lambda omega_0: ReLU()}


def get_loss(name: str):
    """The loss object of ``name`` (``"bce"`` or ``"mse"``)."""
    return LOSSES[name]


def get_activation(spec):
    """The hidden-layer activation of an :class:`~sklearn_inr.INRSpec`."""
    return ACTIVATIONS[spec.model](spec.omega_0)
