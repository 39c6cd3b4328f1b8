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

Both are update rules of the learned inits' one outer loop
(:func:`~sklearn_inr.learned._loop.outer_loop`, which samples, reports
progress and catches divergence), and run the package's one training loop
(:func:`sklearn_inr.fitting._training.train`) as their inner loop, on the
batched kernel; this module knows nothing of scikit-learn.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.utils._param_validation import validate_params

from .._docs import fill_doc
from ..core import BatchedINR, INRSpec, make_adam
from ..fitting import ShiftTrainer, WeightsTrainer, check_shift_spec, train
from ._loop import META_CONSTRAINTS, OuterRule, outer_loop, prepare

__all__ = ["meta_learn_init", "meta_learn_shift_base"]


# ------------------------------------------------------------ meta-learning
@fill_doc
@validate_params(META_CONSTRAINTS, prefer_skip_nested_validation=True)
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
    rule = _Reptile(meta_lr=meta_lr, inner_lr=inner_lr, inner_steps=inner_steps)
    return _meta_learn(
        images, spec, rule, init_theta=init_theta, meta_steps=meta_steps,
        meta_batch_size=meta_batch_size, loss=loss, random_state=random_state,
        device=device, dtype=dtype, verbose=verbose,
    )  # fmt: skip


@fill_doc
@validate_params(META_CONSTRAINTS, prefer_skip_nested_validation=True)
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
    rule = _ShiftMAML(meta_lr=meta_lr, inner_lr=inner_lr, inner_steps=inner_steps)
    return _meta_learn(
        images, spec, rule, init_theta=init_theta, meta_steps=meta_steps,
        meta_batch_size=meta_batch_size, loss=loss, random_state=random_state,
        device=device, dtype=dtype, verbose=verbose,
    )  # fmt: skip


class _EngineRule(OuterRule):
    """Inner fits on the batched engine from ``phi``, by :func:`train`."""

    trainer = None  # a WeightsTrainer or ShiftTrainer: what the inner fit moves

    def __init__(self, *, meta_lr, inner_lr, inner_steps):
        self.meta_lr = meta_lr
        self.inner_lr = inner_lr
        self.inner_steps = inner_steps

    def start(self, problem, batch_size):
        self.problem = problem
        self.phi = torch.as_tensor(problem.init_theta, dtype=problem.dtype).to(
            problem.device
        )
        self.net = BatchedINR(
            problem.spec, self.phi.expand(batch_size, -1), problem.coords
        )

    def outer_gradient(self, rows):
        targets = self.problem.targets[rows]
        self.net.load_theta(self.phi)
        train(
            self.net, self.trainer.bind(self.net), targets, loss=self.problem.loss,
            lr=self.inner_lr, n_steps=self.inner_steps, final=False,
        )  # fmt: skip
        return self.adapted(targets)

    def adapted(self, targets) -> list[torch.Tensor]:
        """The outer update's tensors, from the adapted batch in ``self.net``."""
        raise NotImplementedError

    def result(self):
        return self.phi.detach().cpu().numpy().astype(np.float32)

    def watched(self):
        return (self.phi,)


class _Reptile(_EngineRule):
    """Move the init toward the mean adapted theta (Nichol et al., 2018)."""

    description = "Meta-learning init (Reptile)"
    trainer = WeightsTrainer()

    def adapted(self, targets):
        # The mean adapted theta minus phi is, to first order, a descent
        # direction of the loss after a few steps.
        self.direction = self.net.theta().mean(dim=0).sub_(self.phi)
        return [self.direction]

    def update(self):
        self.phi.add_(self.direction, alpha=self.meta_lr)


class _ShiftMAML(_EngineRule):
    """One Adam step on the base along the first-order MAML gradient."""

    description = "Meta-learning shift base"
    trainer = ShiftTrainer(None)

    def start(self, problem, batch_size):
        super().start(problem, batch_size)
        self.phi.grad = torch.zeros_like(self.phi)
        self.outer = make_adam([self.phi], self.meta_lr)

    def adapted(self, targets):
        self.net.backward(targets, self.problem.loss)
        # d loss / d base = the network's gradient at the adapted shifts
        # (bias = base + shift), averaged over the images.
        torch.mean(self.net.grad_theta(), dim=0, out=self.phi.grad)
        return [self.phi.grad]

    def update(self):
        self.outer.step()


def _meta_learn(images, spec, rule, *, init_theta, meta_steps, meta_batch_size,
                loss, random_state, device, dtype, verbose):  # fmt: skip
    problem = prepare(
        images, spec, init_theta=init_theta, loss=loss, random_state=random_state,
        device=device, dtype=dtype,
    )  # fmt: skip
    return outer_loop(rule, problem, meta_steps=meta_steps,
                      meta_batch_size=meta_batch_size, verbose=verbose)  # fmt: skip
