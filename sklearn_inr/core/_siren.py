"""SIREN (Sitzmann et al., 2020): ``sin(omega_0 (W a + b))`` on every hidden layer."""

from __future__ import annotations

from math import sqrt

import torch
from torch import nn

from ._models import ModelType, register_model

__all__ = ["Sine", "Siren"]


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


# Named as before the model table: module reprs show it.
class _Sine(nn.Module):
    """``sin(omega_0 x)`` as a module."""

    def __init__(self, omega_0: float):
        super().__init__()
        self.omega_0 = omega_0

    def forward(self, x):
        return torch.sin(self.omega_0 * x)


@register_model
class Siren(ModelType):
    """SIREN. Init as Sitzmann et al.: the first layer's weights
    ``U(+-1/fan_in)``, the others' ``U(+-sqrt(6/fan_in)/omega_0)``."""

    name = "siren"
    uses_omega_0 = True

    def activation(self, spec):
        return Sine(spec.omega_0)

    def activate(self, pre, spec):
        return torch.sin(spec.omega_0 * pre)

    def activation_module(self, spec):
        return _Sine(spec.omega_0)

    def weight_bound(self, spec, layer, fan_in):
        if layer == 0:
            return 1.0 / fan_in
        return sqrt(6.0 / fan_in) / spec.omega_0
