"""ReLU MLP: ``max(0, W a + b)`` on every hidden layer, ``torch.nn.Linear``'s init."""

from __future__ import annotations

import torch
from torch import nn

from ._models import ModelType, register_model

__all__ = ["ReLU", "Relu"]


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


@register_model
class Relu(ModelType):
    """The paper's SmallMLP_INR: a ReLU MLP; omega_0 is ignored."""

    name = "relu"

    def activation(self, spec):
        return ReLU()

    def activate(self, pre, spec):
        return torch.relu(pre)

    def activation_module(self, spec):
        return nn.ReLU()
