"""Losses of the INRs, as small objects the engine calls.

Each loss is defined here once; the engine, the runner and the input checks
ask these objects instead of comparing strings. The activations live with
their model family in the model table (:mod:`sklearn_inr.core._models`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["LOSSES", "get_loss"]


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

    @staticmethod
    def output_curvature(output: torch.Tensor) -> torch.Tensor:
        """d2 loss / d output2 per pixel: ``p (1 - p)`` (K-FAC's Gauss-Newton)."""
        p = torch.sigmoid(output)
        return p.mul_(1.0 - p)


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

    @staticmethod
    def output_curvature(output: torch.Tensor) -> torch.Tensor:
        """d2 loss / d output2 per pixel: 2 everywhere."""
        return torch.full_like(output, 2.0)


LOSSES = {"bce": BCEWithLogits(), "mse": SquaredError()}


def get_loss(name: str):
    """The loss object of ``name`` (``"bce"`` or ``"mse"``)."""
    return LOSSES[name]
