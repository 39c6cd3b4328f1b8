"""Learned initialisations (first-order meta-learning) and shift modulations.

Two ways to make every image's INR cheap to fit and comparable:

- :func:`meta_learn_init` learns one starting theta with Reptile (Nichol et
  al., 2018): each outer step fits a batch of images for a few Adam steps
  from the current init and moves the init toward their mean adapted theta.
- :func:`meta_learn_shift_base` learns a base SIREN for which per-image
  *shift modulations* (one bias offset per hidden unit, as in functa, Dupont
  et al., 2022), fitted from zero in a few steps, reconstruct well; it uses
  the first-order MAML gradient. :func:`~sklearn_inr.fit_shifts` (in
  :mod:`sklearn_inr._shifts`) then fits the shifts of new images with the
  base fixed.

Everything runs on the batched kernel of :mod:`sklearn_inr._engine`; this
module knows nothing of scikit-learn.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import torch

from ._engine import BatchedINR, make_adam
from ._fitting import LOSSES
from ._networks import INRSpec, unflatten_theta
from ._shifts import _apply_shifts, _attach_shifts, _check_shift_spec, _prepare

__all__ = ["meta_learn_init", "meta_learn_shift_base"]


# ---------------------------------------------------------------- helpers
def _load(net: BatchedINR, theta: torch.Tensor) -> None:
    """Copy one theta into every network of the batch, in place."""
    weights, biases = unflatten_theta(theta, net.spec.layer_shapes)
    for dst, src in zip(net.weights + net.biases, weights + biases):
        dst.copy_(src.expand_as(dst))


def _progress(total, desc, verbose):
    if verbose > 0:
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=desc, unit="step")
    return None


def _batch_rows(rng, n_images, batch_size):
    if batch_size >= n_images:
        return np.arange(n_images)
    return np.sort(rng.choice(n_images, size=batch_size, replace=False))


# ------------------------------------------------------------ meta-learning
def meta_learn_init(
    images,
    spec: INRSpec,
    *,
    init_theta=None,
    meta_steps: int = 100,
    meta_lr: float = 1.0,
    inner_steps: int = 10,
    inner_lr: float = 1e-4,
    meta_batch_size: int = 16,
    loss: str = "bce",
    random_state=None,
    device="auto",
    dtype=torch.float32,
    verbose: int = 0,
) -> np.ndarray:
    """Learn a shared initialisation with Reptile on the batched engine.

    Each outer step samples ``meta_batch_size`` images, fits them for
    ``inner_steps`` Adam steps (fresh Adam state, learning rate
    ``inner_lr``) from the current init ``phi``, and moves the init toward
    the adapted weights: ``phi += meta_lr * (mean_i(theta_i) - phi)``.
    Labels are never involved.

    Cost: ``meta_steps * meta_batch_size * inner_steps`` image-steps of the
    engine, i.e. about ``6 * n_params * n_pixels`` FLOPs each.

    Parameters
    ----------
    images : array-like of shape (n_images, H, W) or (n_images, H, W, C)
        Training images; in [0, 1] for ``loss="bce"``.
    spec : INRSpec
        Architecture (``out_features`` must equal the number of channels).
    init_theta : array-like of shape (n_params,), default=None
        Starting point; ``None`` draws ``spec.init_theta(random_state)``.
    meta_steps : int, default=100
        Outer steps.
    meta_lr : float, default=1.0
        Outer step size, as a fraction of the way to the mean adapted theta.
        The step's scale is set by ``inner_lr * inner_steps``, so the default
        suits any architecture.
    inner_steps : int, default=10
        Adam steps per image in each outer step.
    inner_lr : float, default=1e-4
        Inner Adam learning rate; use the one the images will be fitted with.
    meta_batch_size : int, default=16
        Images per outer step (all of them if there are fewer).
    loss : {"bce", "mse"}, default="bce"
    random_state : int, RandomState instance or None, default=None
        Seeds the starting point and the batch sampling.
    device : {"auto", "cpu", "cuda"}, default="auto"
    dtype : torch.dtype, default=torch.float32
    verbose : int, default=0
        Progress bar of outer steps when > 0.

    Returns
    -------
    theta : ndarray of shape (n_params,)
        The learned initialisation, float32.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_inr import INRSpec, meta_learn_init
    >>> images = np.random.default_rng(0).uniform(size=(4, 8, 8))
    >>> spec = INRSpec(hidden_features=8, hidden_layers=1)
    >>> meta_learn_init(images, spec, meta_steps=2, inner_steps=2,
    ...                 random_state=0).shape
    (105,)
    """
    _check_meta_params(
        loss=loss, meta_steps=meta_steps, meta_lr=meta_lr, inner_steps=inner_steps,
        inner_lr=inner_lr, meta_batch_size=meta_batch_size,
    )  # fmt: skip
    rng, phi = _start(spec, init_theta, random_state)
    images, coords, targets, device = _prepare(images, spec, loss, device, dtype)
    phi = torch.as_tensor(phi, dtype=dtype).to(device)
    batch = min(meta_batch_size, len(images))
    net = BatchedINR(spec, phi.expand(batch, -1), coords)
    progress = _progress(meta_steps, "Meta-learning init (Reptile)", verbose)
    for _ in range(meta_steps):
        batch_targets = targets[_batch_rows(rng, len(images), batch)]
        _load(net, phi)
        inner = make_adam(net.params, inner_lr)
        for _ in range(inner_steps):
            net.backward(batch_targets, loss)
            inner.step()
        # Reptile: the mean adapted theta minus phi is, to first order, a
        # descent direction of the loss after a few steps (Nichol et al.).
        direction = net.theta().mean(dim=0).sub_(phi)
        _check_finite(direction, inner_lr)
        phi.add_(direction, alpha=meta_lr)
        if progress is not None:
            progress.update()
    if progress is not None:
        progress.close()
    return phi.detach().cpu().numpy().astype(np.float32)


def meta_learn_shift_base(
    images,
    spec: INRSpec,
    *,
    init_theta=None,
    meta_steps: int = 100,
    meta_lr: float = 1e-3,
    inner_steps: int = 10,
    inner_lr: float = 1e-2,
    meta_batch_size: int = 16,
    loss: str = "bce",
    random_state=None,
    device="auto",
    dtype=torch.float32,
    verbose: int = 0,
) -> np.ndarray:
    """Learn a base SIREN for shift modulations, by first-order MAML.

    Each outer step samples ``meta_batch_size`` images, fits their shifts
    (see :func:`fit_shifts`) from zero for ``inner_steps`` Adam steps with
    the base fixed, then takes one outer Adam step (``meta_lr``) on the base
    along the mean gradient of the images' losses at their adapted shifts
    (first order: the dependence of the shifts on the base is ignored).

    Cost: ``meta_steps * meta_batch_size * (inner_steps * 2/3 + 1)``
    engine image-steps (the inner steps skip the weight gradients).

    Parameters
    ----------
    images : array-like of shape (n_images, H, W) or (n_images, H, W, C)
    spec : INRSpec
        Must have ``hidden_layers >= 1``.
    init_theta : array-like of shape (n_params,), default=None
        Starting base; ``None`` draws ``spec.init_theta(random_state)``.
    meta_steps : int, default=100
    meta_lr : float, default=1e-3
        Outer Adam learning rate on the base.
    inner_steps : int, default=10
        Adam steps on the shifts per outer step.
    inner_lr : float, default=1e-2
        Inner Adam learning rate on the shifts; use the one the shifts will
        be fitted with.
    meta_batch_size : int, default=16
    loss : {"bce", "mse"}, default="bce"
    random_state : int, RandomState instance or None, default=None
    device : {"auto", "cpu", "cuda"}, default="auto"
    dtype : torch.dtype, default=torch.float32
    verbose : int, default=0

    Returns
    -------
    base_theta : ndarray of shape (n_params,)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_inr import INRSpec, meta_learn_shift_base
    >>> images = np.random.default_rng(0).uniform(size=(4, 8, 8))
    >>> spec = INRSpec(hidden_features=8, hidden_layers=1)
    >>> meta_learn_shift_base(images, spec, meta_steps=2, inner_steps=2,
    ...                       random_state=0).shape
    (105,)
    """
    _check_shift_spec(spec)
    _check_meta_params(
        loss=loss, meta_steps=meta_steps, meta_lr=meta_lr, inner_steps=inner_steps,
        inner_lr=inner_lr, meta_batch_size=meta_batch_size,
    )  # fmt: skip
    rng, base = _start(spec, init_theta, random_state)
    images, coords, targets, device = _prepare(images, spec, loss, device, dtype)
    base = torch.as_tensor(base, dtype=dtype).to(device)
    batch = min(meta_batch_size, len(images))
    net = BatchedINR(spec, base.expand(batch, -1), coords)
    _, base_biases = unflatten_theta(base, spec.layer_shapes)
    base.grad = torch.zeros_like(base)
    grad_weights, grad_biases = unflatten_theta(base.grad, spec.layer_shapes)
    outer = make_adam([base], meta_lr)
    progress = _progress(meta_steps, "Meta-learning shift base", verbose)
    for _ in range(meta_steps):
        batch_targets = targets[_batch_rows(rng, len(images), batch)]
        _load(net, base)
        shifts = _attach_shifts(net)
        inner = make_adam(shifts, inner_lr)
        for _ in range(inner_steps):
            net.backward(batch_targets, loss, weight_grads=False)
            inner.step()
            _apply_shifts(net, base_biases, shifts)
        net.backward(batch_targets, loss)
        # d loss / d base = the network's gradient at the adapted shifts
        # (bias = base + shift), averaged over the images.
        for dst, src in zip(grad_weights + grad_biases, net.weights + net.biases):
            torch.mean(src.grad, dim=0, out=dst)
        _check_finite(base.grad, inner_lr)
        outer.step()
        if progress is not None:
            progress.update()
    if progress is not None:
        progress.close()
    return base.detach().cpu().numpy().astype(np.float32)


def _check_meta_params(*, loss, meta_steps, meta_lr, inner_steps, inner_lr,
                       meta_batch_size):  # fmt: skip
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}.")
    for name, value in (("meta_steps", meta_steps), ("inner_steps", inner_steps),
                        ("meta_batch_size", meta_batch_size)):  # fmt: skip
        if not isinstance(value, Integral) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}.")
    for name, value in (("meta_lr", meta_lr), ("inner_lr", inner_lr)):
        if not isinstance(value, Real) or not value > 0:
            raise ValueError(f"{name} must be a float > 0, got {value!r}.")


def _start(spec, init_theta, random_state):
    if isinstance(random_state, np.random.RandomState):
        random_state = int(random_state.randint(np.iinfo(np.int32).max))
    rng = np.random.default_rng(random_state)
    if init_theta is None:
        init_theta = spec.init_theta(rng)
    # A copy: the outer loop updates phi in place through a shared buffer.
    init_theta = np.array(init_theta, dtype=np.float32)
    if init_theta.shape != (spec.n_params,):
        raise ValueError(
            f"init_theta must have shape ({spec.n_params},), got {init_theta.shape}."
        )
    return rng, init_theta


def _check_finite(grad, inner_lr):
    if not torch.isfinite(grad).all():
        raise ValueError(
            f"Meta-learning diverged (NaN or infinite gradient) with inner_lr="
            f"{inner_lr:g}. Lower the learning rates (e.g. by 10x)."
        )
