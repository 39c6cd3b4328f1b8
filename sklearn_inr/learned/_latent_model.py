"""Functa latent models: what maps a latent to an image, and its trainer.

As in functa (Dupont et al., 2022), every image is described by a latent
vector ``z`` of ``latent_dim`` numbers. One linear map shared by all images
turns it into shift modulations, ``s = W z + b``, which offset the biases of
the hidden ``width -> width`` layers of one base network (the shifts of
:mod:`sklearn_inr.fitting._shifts`). The base network, the map and one inner
learning rate per latent dimension (meta-SGD, Li et al., 2017) are
meta-learned by :func:`meta_learn_latent` so that a few plain gradient
steps on ``z``, from ``z = 0``, reconstruct an image. New images then fit
only their latent (:class:`LatentTrainer`), with everything else frozen.

The learned model travels as one flat float32 vector (:class:`LatentModel`
packs and unpacks it), so the featurizer stores it as ``init_params_``
like any learned initialisation, and the array store caches it.

The per-image fits (:class:`LatentTrainer`) run on the engine through the
fitting runner, so they are cached, dispatched and exact per image like
every other fit; the meta-learning is in :mod:`._latent`.
"""

from __future__ import annotations

from typing import NamedTuple

import joblib
import numpy as np
import torch

from ..core import BatchedINR, INRSpec, unflatten_theta
from ..fitting import shifts_to_theta

__all__ = [
    "LatentModel",
    "LatentTrainer",
    "latent_feature_names",
    "latent_gradient",
    "latent_model_size",
    "latents_to_theta",
    "modulations",
]

# Rows of latents turned into shifts at once when rendering (bounds the
# (rows, latent_dim, n_shifts) product of :func:`modulations`).
_RENDER_ROWS = 256


# ------------------------------------------------------------------ model
class LatentModel(NamedTuple):
    """What maps a latent to an image: base network, linear map, inner lrs.

    ``shifts = weight @ z + bias`` are added to the biases of the base
    network's hidden layers ``1 .. hidden_layers``; ``lrs`` are the
    meta-learned step sizes of the latent's gradient steps.
    """

    base: np.ndarray  # (n_params,)
    weight: np.ndarray  # (hidden_layers * hidden_features, latent_dim)
    bias: np.ndarray  # (hidden_layers * hidden_features,)
    lrs: np.ndarray  # (latent_dim,)

    @property
    def latent_dim(self) -> int:
        return len(self.lrs)

    def pack(self) -> np.ndarray:
        """One flat float32 vector: base, weight (row-major), bias, lrs."""
        parts = (self.base, self.weight, self.bias, self.lrs)
        return np.concatenate([np.ravel(p) for p in parts]).astype(np.float32)

    @classmethod
    def unpack(cls, params, spec: INRSpec) -> LatentModel:
        """The model of a vector made by :meth:`pack` for ``spec``."""
        params = np.asarray(params, dtype=np.float32)
        n_shifts = spec.hidden_layers * spec.hidden_features
        # size = n_params + n_shifts * (d + 1) + d, so d follows from it.
        rest = params.size - spec.n_params - n_shifts
        dim = rest // (n_shifts + 1) if rest > 0 else 0
        if params.ndim != 1 or dim < 1 or rest != dim * (n_shifts + 1):
            raise ValueError(
                f"A latent model of {spec} has {spec.n_params} + {n_shifts} x "
                f"(latent_dim + 1) + latent_dim numbers; got an array of shape "
                f"{params.shape}. Use the init_params_ of a featurizer fitted "
                "with features='latent' and this network."
            )
        cuts = np.cumsum([spec.n_params, n_shifts * dim, n_shifts])
        base, weight, bias, lrs = np.split(params, cuts)
        return cls(base, weight.reshape(n_shifts, dim), bias, lrs)


def latent_model_size(spec: INRSpec, latent_dim: int) -> int:
    """Length of a packed :class:`LatentModel` (``init_params_``)."""
    n_shifts = spec.hidden_layers * spec.hidden_features
    return spec.n_params + n_shifts * (latent_dim + 1) + latent_dim


def modulations(latents: torch.Tensor, weight_t: torch.Tensor, bias) -> torch.Tensor:
    """Shifts ``(B, n_shifts)`` of latents ``(B, d)``; ``weight_t`` is ``(d, S)``.

    On CPU each row is reduced on its own (an elementwise product, then a
    sum over ``d``), never by a matrix product, whose kernel (and so
    rounding) a BLAS picks from the batch size: an image's shifts are the
    same bits in every batch. GPU kernels make no such promise anyway, and
    there a matrix product avoids the ``(B, d, S)`` temporary.
    """
    if latents.device.type != "cpu":
        return torch.addmm(bias, latents, weight_t)
    products = latents.unsqueeze(2) * weight_t
    return products.sum(dim=1).add_(bias)


def latent_gradient(shift_grads: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``d loss / d z`` ``(B, d)`` from ``d loss / d shifts`` ``(B, n_shifts)``.

    ``weight`` is ``(n_shifts, d)``; reduced per row on CPU, as in
    :func:`modulations`.
    """
    if shift_grads.device.type != "cpu":
        return shift_grads @ weight
    return (shift_grads.unsqueeze(2) * weight).sum(dim=1)


def latents_to_theta(latents, params, spec: INRSpec) -> np.ndarray:
    """Full network parameters of latents, for :func:`render_inrs`.

    Parameters
    ----------
    latents : array-like of shape (n_images, latent_dim)
    params : array-like
        A packed :class:`LatentModel` (a latent featurizer's ``init_params_``).
    spec : INRSpec

    Returns
    -------
    theta : ndarray of shape (n_images, n_params), float32

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_inr import INRSpec
    >>> from sklearn_inr.learned import LatentModel, latents_to_theta
    >>> spec = INRSpec(hidden_features=4, hidden_layers=1)
    >>> model = LatentModel(spec.init_theta(0), np.ones((4, 2)), np.zeros(4),
    ...                     np.full(2, 0.1))
    >>> latents_to_theta(np.zeros((3, 2)), model.pack(), spec).shape
    (3, 37)
    """
    model = LatentModel.unpack(params, spec)
    latents = np.atleast_2d(np.asarray(latents, dtype=np.float32))
    if latents.ndim != 2 or latents.shape[1] != model.latent_dim:
        raise ValueError(
            f"latents must have shape (n_images, {model.latent_dim}), got "
            f"{latents.shape}."
        )
    # The same float32 operations as a fit on CPU, so a rendering reproduces
    # the fitted output; rows are independent, so blocks change no bit.
    weight_t = torch.from_numpy(np.ascontiguousarray(model.weight.T))
    bias = torch.from_numpy(model.bias)
    shifts = np.concatenate(
        [
            modulations(torch.from_numpy(block), weight_t, bias).numpy()
            for block in np.split(latents, range(_RENDER_ROWS, len(latents),
                                                 _RENDER_ROWS))
        ]
    )  # fmt: skip
    return shifts_to_theta(shifts, model.base, spec)


def latent_feature_names(latent_dim: int) -> np.ndarray:
    """``latent[0]``, ..., ``latent[latent_dim - 1]``.

    Examples
    --------
    >>> from sklearn_inr.learned import latent_feature_names
    >>> latent_feature_names(2)
    array(['latent[0]', 'latent[1]'], dtype=object)
    """
    return np.asarray([f"latent[{i}]" for i in range(latent_dim)], dtype=object)


# ------------------------------------------------------- per-image fitting
class LatentTrainer:
    """Fit each image's latent, with base, map and inner lrs frozen.

    A step is the meta-learned one: ``z -= lrs * d loss / d z``, plain
    gradient descent with one rate per latent dimension, starting from
    ``z = 0``. The runner's images start from :meth:`start_theta` (the base
    with the shifts of ``z = 0``).

    Parameters
    ----------
    params : ndarray
        A packed :class:`LatentModel`.
    """

    def __init__(self, params: np.ndarray):
        self.params = np.asarray(params, dtype=np.float32)

    def key(self) -> dict:
        return {"trainer": "latent", "model": joblib.hash(self.params)}

    def n_features(self, spec: INRSpec) -> int:
        return LatentModel.unpack(self.params, spec).latent_dim

    def start_theta(self, spec: INRSpec) -> np.ndarray:
        dim = self.n_features(spec)
        return latents_to_theta(np.zeros((1, dim)), self.params, spec)[0]

    def bind(self, net: BatchedINR) -> _BoundLatents:
        return _BoundLatents(net, LatentModel.unpack(self.params, net.spec))


class _BoundLatents:
    """Latents of one batch and the meta-SGD step that moves them.

    The training loop steps ``params`` with Adam; the latent's step is plain
    gradient descent, so ``params`` is the latent with a gradient kept at
    zero (Adam's step is then exactly zero) and the descent step happens in
    :meth:`after_step`.
    """

    weight_grads = False

    def __init__(self, net: BatchedINR, model: LatentModel):
        self.net = net
        factory = {"dtype": net.flat.dtype, "device": net.flat.device}
        spec = net.spec
        self.layers = range(1, spec.hidden_layers + 1)
        self.width = spec.hidden_features
        self.weight = torch.tensor(model.weight, **factory)
        self.weight_t = self.weight.T.contiguous()
        self.bias = torch.tensor(model.bias, **factory)
        self.lrs = torch.tensor(model.lrs, **factory)
        weights, biases = unflatten_theta(torch.tensor(model.base, **factory),
                                          spec.layer_shapes)  # fmt: skip
        self.base_biases = torch.cat([biases[k] for k in self.layers])
        self.latents = torch.zeros((net.batch_size, model.latent_dim), **factory)
        self.latents.grad = torch.zeros_like(self.latents)
        self.params = [self.latents]
        self.grads = torch.zeros_like(self.latents)

    def select(self, rows):
        self.latents = self.latents[rows].clone()
        self.latents.grad = torch.zeros_like(self.latents)
        self.params = [self.latents]
        self.grads = self.grads[rows].clone()

    def before_step(self):
        shift_grads = self.net.get_bias_grads(self.layers)
        shift_grads = shift_grads.reshape(len(shift_grads), -1)
        self.grads = latent_gradient(shift_grads, self.weight)

    def after_step(self):
        self.latents.addcmul_(self.lrs, self.grads, value=-1.0)
        shifts = modulations(self.latents, self.weight_t, self.bias)
        biases = torch.add(self.base_biases, shifts)
        self.net.set_biases(
            self.layers, biases.view(len(biases), len(self.layers), self.width)
        )

    def features(self) -> torch.Tensor:
        return self.latents.clone()
