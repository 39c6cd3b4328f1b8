"""Learned initialisations (first-order meta-learning) and shift modulations.

Two ways to make every image's INR cheap to fit and comparable:

- :func:`meta_learn_init` learns one starting theta with Reptile (Nichol et
  al., 2018): each outer step fits a batch of images for a few Adam steps
  from the current init and moves the init toward their mean adapted theta.
- :func:`meta_learn_shift_base` learns a base SIREN for which per-image
  *shift modulations* (one bias offset per hidden unit, as in functa, Dupont
  et al., 2022), fitted from zero in a few steps, reconstruct well; it uses
  the first-order MAML gradient. :func:`~sklearn_inr.fit_shifts` (in
  :mod:`sklearn_inr.fitting._shifts`) then fits the shifts of new images with the
  base fixed.

Both run the package's one training loop (:func:`sklearn_inr.fitting._training.train`)
as their inner loop, on the batched kernel; this module knows nothing of
scikit-learn.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from .._docs import fill_doc
from ..core._device import parse_device, resolve_device
from ..core._engine import BatchedINR, make_adam
from ..core._functions import LOSSES
from ..core._networks import INRSpec, make_coordinates
from ..fitting._checks import check_images
from ..fitting._seeds import to_seed
from ..fitting._shifts import check_shift_spec
from ..fitting._training import ShiftTrainer, WeightsTrainer, train

__all__ = ["meta_learn_init", "meta_learn_shift_base"]


# ---------------------------------------------------------------- helpers
_META_CONSTRAINTS = {
    "images": ["array-like"],
    "spec": [INRSpec],
    "init_theta": ["array-like", None],
    "meta_steps": [Interval(Integral, 1, None, closed="left")],
    "meta_lr": [Interval(Real, 0, 1e6, closed="right")],
    "inner_steps": [Interval(Integral, 1, None, closed="left")],
    "inner_lr": [Interval(Real, 0, 1e6, closed="right")],
    "meta_batch_size": [Interval(Integral, 1, None, closed="left")],
    "loss": [StrOptions(set(LOSSES))],
    "random_state": ["random_state"],
    "device": [str, torch.device, None],
    "dtype": [torch.dtype],
    "verbose": ["verbose"],
}


def _prepare(images, spec, loss, device, dtype):
    """Checked images on the device as targets, and their coordinates."""
    images = check_images(images, loss, out_features=spec.out_features)
    device = resolve_device(parse_device(device))
    coords = make_coordinates(images.shape[1:3], dtype=dtype, device=device)
    targets = torch.as_tensor(
        images.reshape(len(images), -1, spec.out_features), dtype=dtype
    ).to(device)
    return targets, coords, device


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
@fill_doc
@validate_params(_META_CONSTRAINTS, prefer_skip_nested_validation=True)
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
    %(meta_images)s
    %(meta_spec)s
    %(init_theta)s
    %(meta_steps)s
    meta_lr : float, default=1.0
        Outer step size, as a fraction of the way to the mean adapted theta.
        The step's scale is set by ``inner_lr * inner_steps``, so the default
        suits any architecture.
    %(inner_steps)s
    inner_lr : float, default=1e-4
        Inner Adam learning rate; use the one the images will be fitted with.
    %(meta_settings)s

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
    return _meta_learn(
        images, spec, _Reptile(meta_lr), init_theta=init_theta,
        meta_steps=meta_steps, inner_steps=inner_steps, inner_lr=inner_lr,
        meta_batch_size=meta_batch_size, loss=loss, random_state=random_state,
        device=device, dtype=dtype, verbose=verbose,
    )  # fmt: skip


@fill_doc
@validate_params(_META_CONSTRAINTS, prefer_skip_nested_validation=True)
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
    %(meta_images)s
    spec : INRSpec
        Must have ``hidden_layers >= 1``.
    %(init_theta)s
    %(meta_steps)s
    meta_lr : float, default=1e-3
        Outer Adam learning rate on the base.
    %(inner_steps)s
    inner_lr : float, default=1e-2
        Inner Adam learning rate on the shifts; use the one the shifts will
        be fitted with.
    %(meta_settings)s

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
    check_shift_spec(spec)
    return _meta_learn(
        images, spec, _ShiftMAML(meta_lr), init_theta=init_theta,
        meta_steps=meta_steps, inner_steps=inner_steps, inner_lr=inner_lr,
        meta_batch_size=meta_batch_size, loss=loss, random_state=random_state,
        device=device, dtype=dtype, verbose=verbose,
    )  # fmt: skip


class _Reptile:
    """Move the init toward the mean adapted theta (Nichol et al., 2018)."""

    description = "Meta-learning init (Reptile)"
    trainer = WeightsTrainer()

    def __init__(self, meta_lr):
        self.meta_lr = meta_lr

    def start(self, phi):
        pass

    def update(self, phi, net, targets, loss):
        # The mean adapted theta minus phi is, to first order, a descent
        # direction of the loss after a few steps.
        direction = net.theta().mean(dim=0).sub_(phi)
        _check_finite(direction)
        phi.add_(direction, alpha=self.meta_lr)


class _ShiftMAML:
    """One Adam step on the base along the first-order MAML gradient."""

    description = "Meta-learning shift base"
    trainer = ShiftTrainer(None)

    def __init__(self, meta_lr):
        self.meta_lr = meta_lr

    def start(self, phi):
        phi.grad = torch.zeros_like(phi)
        self.outer = make_adam([phi], self.meta_lr)

    def update(self, phi, net, targets, loss):
        net.backward(targets, loss)
        # d loss / d base = the network's gradient at the adapted shifts
        # (bias = base + shift), averaged over the images.
        torch.mean(net.grad_theta(), dim=0, out=phi.grad)
        _check_finite(phi.grad)
        self.outer.step()


def _meta_learn(images, spec, rule, *, init_theta, meta_steps, inner_steps,
                inner_lr, meta_batch_size, loss, random_state, device, dtype,
                verbose):  # fmt: skip
    """The outer loop: inner fits from ``phi`` with :func:`train`, then ``rule``."""
    rng, phi = _start(spec, init_theta, random_state)
    targets, coords, device = _prepare(images, spec, loss, device, dtype)
    phi = torch.as_tensor(phi, dtype=dtype).to(device)
    batch = min(meta_batch_size, len(targets))
    net = BatchedINR(spec, phi.expand(batch, -1), coords)
    rule.start(phi)
    progress = _progress(meta_steps, rule.description, verbose)
    try:
        for _ in range(meta_steps):
            batch_targets = targets[_batch_rows(rng, len(targets), batch)]
            net.load_theta(phi)
            train(
                net, rule.trainer.bind(net), batch_targets, loss=loss,
                lr=inner_lr, n_steps=inner_steps, final=False,
            )  # fmt: skip
            try:
                rule.update(phi, net, batch_targets, loss)
            except FloatingPointError as exc:
                raise ValueError(
                    f"Meta-learning diverged (NaN or infinite update) with "
                    f"inner_lr={inner_lr:g} and meta_lr={rule.meta_lr:g}. Lower "
                    "the learning rates (e.g. by 10x)."
                ) from exc
            if progress is not None:
                progress.update()
    finally:
        if progress is not None:
            progress.close()
    return phi.detach().cpu().numpy().astype(np.float32)


def _start(spec, init_theta, random_state):
    rng = np.random.default_rng(to_seed(random_state))
    if init_theta is None:
        init_theta = spec.init_theta(rng)
    # A copy: the outer loop updates phi in place through a shared buffer.
    init_theta = np.array(init_theta, dtype=np.float32)
    if init_theta.shape != (spec.n_params,):
        raise ValueError(
            f"init_theta must have shape ({spec.n_params},), got {init_theta.shape}."
        )
    return rng, init_theta


def _check_finite(update):
    if not torch.isfinite(update).all():
        raise FloatingPointError
