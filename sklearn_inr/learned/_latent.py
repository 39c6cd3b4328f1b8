"""Functa latent modulations: a few numbers per image, mapped to shifts.

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

The meta-learning runs plain torch autograd on a functional network (the
hand-written engine has no second derivatives); the per-image fits run on
the engine through the fitting runner, so they are cached, dispatched and
exact per image like every other fit.
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import NamedTuple

import joblib
import numpy as np
import torch
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from .._docs import fill_doc
from ..core._device import parse_device, resolve_device
from ..core._engine import BatchedINR
from ..core._functions import LOSSES, get_loss
from ..core._networks import INRSpec, make_coordinates, unflatten_theta
from ..fitting._checks import check_images
from ..fitting._seeds import to_seed
from ..fitting._shifts import check_shift_spec, shifts_to_theta

__all__ = [
    "LatentModel",
    "LatentTrainer",
    "adapt_latents",
    "latent_feature_names",
    "latent_model_size",
    "latents_to_theta",
    "meta_learn_latent",
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
    >>> from sklearn_inr.learned._latent import LatentModel, latents_to_theta
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
    >>> from sklearn_inr.learned._latent import latent_feature_names
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
        shift_grads = torch.cat([self.net.bias_grads[k] for k in self.layers], dim=1)
        self.grads = latent_gradient(shift_grads, self.weight)

    def after_step(self):
        self.latents.addcmul_(self.lrs, self.grads, value=-1.0)
        shifts = modulations(self.latents, self.weight_t, self.bias)
        biases = torch.add(self.base_biases, shifts)
        for i, k in enumerate(self.layers):
            self.net.biases[k].copy_(biases[:, i * self.width : (i + 1) * self.width])

    def features(self) -> torch.Tensor:
        return self.latents.clone()


# ----------------------------------------------------------- meta-learning
def _functional_outputs(base, shifts, coords, spec):
    """Outputs ``(B, n_pixels, out)`` of the base with per-image shifts.

    The textbook forward pass in differentiable torch ops (the engine has no
    second derivatives): hidden layers ``1 .. hidden_layers`` get
    ``shifts[:, k - 1]`` added to their bias.
    """
    weights, biases = unflatten_theta(base, spec.layer_shapes)
    hidden = coords
    last = len(weights) - 1
    for k, (weight, bias) in enumerate(zip(weights, biases)):
        pre = hidden @ weight.T + bias
        if 1 <= k <= spec.hidden_layers:
            pre = pre + shifts[:, k - 1].unsqueeze(1)
        if k == last:
            return pre
        if spec.model == "siren":
            hidden = torch.sin(spec.omega_0 * pre)
        else:
            hidden = torch.relu(pre)
    raise AssertionError("unreachable")  # pragma: no cover


def _image_losses(base, weight, bias, latents, coords, targets, spec, loss):
    """Each image's mean loss ``(B,)`` at ``latents``."""
    shifts = latents @ weight.T + bias
    shifts = shifts.view(len(latents), spec.hidden_layers, spec.hidden_features)
    outputs = _functional_outputs(base, shifts, coords, spec)
    return get_loss(loss).pixel_losses(outputs, targets).mean(dim=(1, 2))


def adapt_latents(base, weight, bias, lrs, coords, targets, spec, *, loss,
                  inner_steps, second_order=False):  # fmt: skip
    """Latents after ``inner_steps`` meta-SGD steps from zero, and their losses.

    The loss summed over images is differentiated, so each image's gradient
    is its own. With ``second_order``, the graph of the steps is kept, so
    the final losses can be differentiated through the adaptation (MAML);
    otherwise each step's gradient is a constant (first-order MAML), though
    the latents still depend on ``lrs``.
    """
    latents = torch.zeros(
        (len(targets), len(lrs)), dtype=targets.dtype, device=targets.device,
        requires_grad=True,
    )  # fmt: skip
    for _ in range(inner_steps):
        losses = _image_losses(base, weight, bias, latents, coords, targets, spec,
                               loss)  # fmt: skip
        (grad,) = torch.autograd.grad(losses.sum(), latents,
                                      create_graph=second_order)  # fmt: skip
        latents = latents - lrs * grad
    losses = _image_losses(base, weight, bias, latents, coords, targets, spec, loss)
    return latents, losses


_META_CONSTRAINTS = {
    "images": ["array-like"],
    "spec": [INRSpec],
    "latent_dim": [Interval(Integral, 1, None, closed="left")],
    "init_theta": ["array-like", None],
    "meta_steps": [Interval(Integral, 1, None, closed="left")],
    "meta_lr": [Interval(Real, 0, 1e6, closed="right")],
    "inner_steps": [Interval(Integral, 1, None, closed="left")],
    "inner_lr": [Interval(Real, 0, 1e6, closed="right")],
    "meta_batch_size": [Interval(Integral, 1, None, closed="left")],
    "second_order": ["boolean"],
    "loss": [StrOptions(set(LOSSES))],
    "random_state": ["random_state"],
    "device": [str, torch.device, None],
    "dtype": [torch.dtype],
    "verbose": ["verbose"],
}


@fill_doc
@validate_params(_META_CONSTRAINTS, prefer_skip_nested_validation=True)
def meta_learn_latent(
    images,
    spec: INRSpec,
    *,
    latent_dim: int = 64,
    init_theta=None,
    meta_steps: int = 100,
    meta_lr: float = 1e-3,
    inner_steps: int = 3,
    inner_lr: float = 1e-2,
    meta_batch_size: int = 16,
    second_order: bool = True,
    loss: str = "bce",
    random_state=None,
    device="auto",
    dtype=torch.float32,
    verbose: int = 0,
) -> np.ndarray:
    """Meta-learn a base network, latent map and inner lrs (functa, meta-SGD).

    Each outer step samples ``meta_batch_size`` images, adapts their latents
    from zero with ``inner_steps`` steps ``z -= lrs * d loss / d z`` (the
    base, the map ``shifts = W z + b`` and the per-dimension rates ``lrs``
    shared), and takes one Adam step (``meta_lr``) on base, map and rates
    along the gradient of the images' mean loss at their adapted latents,
    differentiated through the adaptation (``second_order=True``, MAML) or
    not (first-order MAML). Labels are never involved. The rates stay
    positive (an outer step never takes one below 1e-3 of ``inner_lr``).

    Parameters
    ----------
    %(meta_images)s
    spec : INRSpec
        Must have ``hidden_layers >= 1``.
    latent_dim : int, default=64
        Numbers per image.
    %(init_theta)s
    %(meta_steps)s
    meta_lr : float, default=1e-3
        Outer Adam learning rate.
    inner_steps : int, default=3
        Gradient steps on the latent per image.
    inner_lr : float, default=1e-2
        Starting value of every inner learning rate.
    %(meta_batch_size)s
    second_order : bool, default=True
        Differentiate through the inner steps (costs about twice the memory
        and time of first order, and reconstructs better on small networks).
    %(loss)s
    %(meta_random_state)s
    %(meta_device)s
    %(dtype)s
    %(meta_verbose)s

    Returns
    -------
    params : ndarray of float32
        The packed :class:`LatentModel` (see :meth:`LatentModel.unpack`).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_inr import INRSpec
    >>> from sklearn_inr.learned._latent import LatentModel, meta_learn_latent
    >>> images = np.random.default_rng(0).uniform(size=(4, 8, 8))
    >>> spec = INRSpec(hidden_features=8, hidden_layers=1)
    >>> params = meta_learn_latent(images, spec, latent_dim=4, meta_steps=2,
    ...                            random_state=0)
    >>> LatentModel.unpack(params, spec).weight.shape
    (8, 4)
    """
    check_shift_spec(spec)
    images = check_images(images, loss, out_features=spec.out_features)
    device = resolve_device(parse_device(device))
    rng = np.random.default_rng(to_seed(random_state))
    if init_theta is None:
        init_theta = spec.init_theta(rng)
    init_theta = np.asarray(init_theta, dtype=np.float32)
    if init_theta.shape != (spec.n_params,):
        raise ValueError(
            f"init_theta must have shape ({spec.n_params},), got {init_theta.shape}."
        )
    n_shifts = spec.hidden_layers * spec.hidden_features
    # The map's init is torch.nn.Linear's; with z = 0 the shifts start at b = 0.
    bound = 1.0 / np.sqrt(latent_dim)
    start = LatentModel(
        init_theta,
        rng.uniform(-bound, bound, size=(n_shifts, latent_dim)),
        np.zeros(n_shifts),
        np.full(latent_dim, inner_lr),
    )
    factory = {"dtype": dtype, "device": device}
    base, weight, bias, lrs = (
        torch.tensor(np.asarray(p, dtype=np.float32), **factory).requires_grad_()
        for p in start
    )
    min_lr = 1e-3 * inner_lr
    coords = make_coordinates(images.shape[1:3], **factory)
    targets = torch.as_tensor(
        images.reshape(len(images), -1, spec.out_features), **factory
    )
    batch = min(meta_batch_size, len(images))
    learned = [base, weight, bias, lrs]
    optimizer = torch.optim.Adam(learned, lr=meta_lr)
    progress = None
    if verbose > 0:
        from tqdm.auto import tqdm

        progress = tqdm(total=meta_steps, desc="Meta-learning latents", unit="step")
    try:
        for _ in range(meta_steps):
            rows = np.sort(rng.choice(len(images), size=batch, replace=False))
            _, losses = adapt_latents(
                base, weight, bias, lrs, coords, targets[rows], spec, loss=loss,
                inner_steps=inner_steps, second_order=second_order,
            )  # fmt: skip
            optimizer.zero_grad()
            losses.mean().backward()
            if not all(torch.isfinite(p.grad).all() for p in learned):
                raise ValueError(
                    f"Meta-learning the latent model diverged (NaN or infinite "
                    f"gradient) with inner_lr={inner_lr:g} and meta_lr="
                    f"{meta_lr:g}. Lower the learning rates (e.g. by 10x)."
                )
            optimizer.step()
            with torch.no_grad():
                lrs.clamp_(min=min_lr)
            if progress is not None:
                progress.update()
    finally:
        if progress is not None:
            progress.close()
    return LatentModel(*(p.detach().cpu().numpy() for p in learned)).pack()
