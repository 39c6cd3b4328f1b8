"""The model table: what an INR family is, in one object per family.

A *model type* (``"siren"``, ``"relu"``, ``"gauss"``, ``"fourier"``) says
everything the package needs to know about a family of INRs:

- its hidden activation for the batched engine (forward into buffers,
  derivative in place: :meth:`ModelType.activation`), the same activation as
  differentiable torch ops (:meth:`ModelType.activate`, for
  :func:`~sklearn_inr.core.functional_forward`) and as an ``nn.Module``
  (:meth:`ModelType.activation_module`, for
  :func:`~sklearn_inr.theta_to_module`);
- its initialisation, layer by layer (:meth:`ModelType.weight_bound`, the
  first-layer rule included);
- whether ``omega_0`` changes the network (:attr:`ModelType.uses_omega_0`,
  which also decides whether it enters cache keys);
- its coordinate encoding (:meth:`ModelType.encode`, identity but for
  Fourier features), applied once to the coordinates before the first layer.

Every consumer asks this table; none compares model names. A new family is
one module in :mod:`sklearn_inr.core` whose class is decorated with
:func:`register_model`, plus one import line at the bottom of this module.
"""

from __future__ import annotations

from math import sqrt
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:  # pragma: no cover
    from ._networks import INRSpec

__all__ = [
    "MODELS",
    "ModelType",
    "get_activation",
    "get_model",
    "model_names",
    "register_model",
]

# name -> ModelType, in registration order (the order error messages list).
MODELS: dict[str, ModelType] = {}


class ModelType:
    """One INR family. Subclass it, set :attr:`name`, override what differs.

    The defaults are a plain MLP: ``torch.nn.Linear``'s init on every layer,
    no coordinate encoding, ``omega_0`` unused. A subclass must provide the
    activation in its three forms (:meth:`activation`, :meth:`activate`,
    :meth:`activation_module`), which must compute the same function.

    Examples
    --------
    >>> import torch
    >>> from sklearn_inr import INRSpec
    >>> from sklearn_inr.core import get_model
    >>> spec = INRSpec("siren", hidden_features=4, hidden_layers=1)
    >>> siren = get_model("siren")
    >>> siren.activate(torch.tensor([0.0]), spec)
    tensor([0.])
    >>> siren.uses_omega_0, get_model("relu").uses_omega_0
    (True, False)
    """

    #: The ``model=`` string.
    name: str = ""
    #: Whether ``omega_0`` changes the network (and so belongs in cache keys).
    uses_omega_0: bool = False

    def activation(self, spec: INRSpec):
        """The engine's activation object for ``spec``.

        It has ``keeps_pre_activation`` (whether the backward needs the GEMM
        output), ``gemm_scale`` (the factor ``s`` in ``u = s (W a + b)``,
        folded into the GEMM's ``alpha``/``beta``), ``forward(bias, inputs,
        weight_t, *, pre, act)`` (writes ``u`` into ``pre`` where kept and the
        activation into ``act``) and ``backward_(grad, *, pre, act, mask)``
        (multiplies ``grad``, a gradient w.r.t. the activation, in place by
        its derivative w.r.t. ``u``; ``pre`` and ``act`` may be overwritten).
        """
        raise NotImplementedError

    def activate(self, pre: torch.Tensor, spec: INRSpec) -> torch.Tensor:
        """The activation of ``pre = W a + b`` in differentiable torch ops."""
        raise NotImplementedError

    def activation_module(self, spec: INRSpec) -> nn.Module:
        """The activation as an ``nn.Module``, for :func:`theta_to_module`."""
        raise NotImplementedError

    def weight_bound(self, spec: INRSpec, layer: int, fan_in: int) -> float:
        """Half-width of layer ``layer``'s uniform weight init.

        Default: ``torch.nn.Linear``'s ``1 / sqrt(fan_in)``. (Biases always
        follow ``torch.nn.Linear``.)
        """
        return 1.0 / sqrt(fan_in)

    def encoded_features(self, spec: INRSpec) -> int:
        """Width of the encoded coordinates: the first Linear layer's fan-in."""
        return spec.in_features

    def encode(self, coords: torch.Tensor, spec: INRSpec) -> torch.Tensor:
        """The first layer's input for ``coords`` ``(n, in_features)``.

        A function of the coordinates alone (never of the images), computed
        once per batch's engine: it changes no bit of the same-bits promise.
        """
        return coords

    def encoding_module(self, spec: INRSpec) -> nn.Module | None:
        """:meth:`encode` as an ``nn.Module`` (``None``: no encoding)."""
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def register_model(cls: type[ModelType]) -> type[ModelType]:
    """Class decorator: put one instance of ``cls`` in the model table.

    Examples
    --------
    >>> from sklearn_inr.core import MODELS
    >>> list(MODELS)
    ['siren', 'relu', 'gauss', 'fourier']
    """
    model = cls()
    if not model.name:
        raise ValueError(f"{cls.__name__} must set a non-empty `name`.")
    if model.name in MODELS:
        raise ValueError(
            f"A model named {model.name!r} is already registered "
            f"({MODELS[model.name]!r})."
        )
    MODELS[model.name] = model
    return cls


def model_names() -> tuple[str, ...]:
    """The registered ``model=`` strings, in registration order.

    Examples
    --------
    >>> from sklearn_inr.core import model_names
    >>> model_names()
    ('siren', 'relu', 'gauss', 'fourier')
    """
    return tuple(MODELS)


def get_model(name: str) -> ModelType:
    """The model type registered as ``name``.

    Examples
    --------
    >>> from sklearn_inr.core import get_model
    >>> get_model("siren").uses_omega_0
    True
    """
    try:
        return MODELS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"model must be one of {model_names()}, got {name!r}."
        ) from None


def get_activation(spec: INRSpec):
    """The engine's hidden-layer activation of ``spec`` (its family's).

    Examples
    --------
    >>> from sklearn_inr import INRSpec
    >>> from sklearn_inr.core import get_activation
    >>> get_activation(INRSpec("siren", omega_0=7.0)).gemm_scale
    7.0
    """
    return get_model(spec.model).activation(spec)


# The model table: one line per family (each module registers its class).
from . import _siren  # noqa: E402, F401, I001
from . import _relu  # noqa: E402, F401, I001
from . import _gauss  # noqa: E402, F401, I001
from . import _fourier  # noqa: E402, F401, I001
