"""Meta-learning functa latent models (:func:`meta_learn_latent`).

As in functa (Dupont et al., 2022), every image is described by a latent
vector ``z``; one linear map shared by all images turns it into shift
modulations of one base network (see :class:`LatentModel`). The base
network, the map and one inner learning rate per latent dimension
(meta-SGD, Li et al., 2017) are meta-learned here so that a few plain
gradient steps on ``z``, from ``z = 0``, reconstruct an image. New images
then fit only their latent (:class:`LatentTrainer`).

The meta-learning is an update rule of the learned inits' one outer loop
(:func:`~sklearn_inr.learned._loop.outer_loop`); its inner steps run plain
torch autograd on the core's functional forward
(:func:`~sklearn_inr.core.functional_forward`: the hand-written engine has
no second derivatives).
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, validate_params

from .._docs import fill_doc
from ..core import INRSpec, functional_forward, get_loss, unflatten_theta
from ..fitting import check_shift_spec
from ._latent_model import (
    LatentModel,
    LatentTrainer,
    latent_feature_names,
    latent_model_size,
    latents_to_theta,
)
from ._loop import META_CONSTRAINTS, AutogradRule, outer_loop, prepare

# The model's names stay importable from here (estimators/_strategies.py).
__all__ = [
    "LatentModel",
    "LatentTrainer",
    "adapt_latents",
    "latent_feature_names",
    "latent_model_size",
    "latents_to_theta",
    "meta_learn_latent",
]


def _image_losses(base, weight, bias, latents, coords, targets, spec, loss):
    """Each image's mean loss ``(B,)`` at ``latents``."""
    shifts = latents @ weight.T + bias
    shifts = shifts.view(len(latents), spec.hidden_layers, spec.hidden_features)
    weights, biases = unflatten_theta(base, spec.layer_shapes)
    outputs = functional_forward(spec, weights, biases, coords, shifts)
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


@fill_doc
@validate_params(
    {
        **META_CONSTRAINTS,
        "latent_dim": [Interval(Integral, 1, None, closed="left")],
        "second_order": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
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
    >>> from sklearn_inr.learned import LatentModel, meta_learn_latent
    >>> images = np.random.default_rng(0).uniform(size=(4, 8, 8))
    >>> spec = INRSpec(hidden_features=8, hidden_layers=1)
    >>> params = meta_learn_latent(images, spec, latent_dim=4, meta_steps=2,
    ...                            random_state=0)
    >>> LatentModel.unpack(params, spec).weight.shape
    (8, 4)
    """
    check_shift_spec(spec)
    problem = prepare(
        images, spec, init_theta=init_theta, loss=loss, random_state=random_state,
        device=device, dtype=dtype,
    )  # fmt: skip
    rule = _LatentRule(latent_dim, meta_lr=meta_lr, inner_lr=inner_lr,
                       inner_steps=inner_steps, second_order=second_order)  # fmt: skip
    return outer_loop(rule, problem, meta_steps=meta_steps,
                      meta_batch_size=meta_batch_size, verbose=verbose)  # fmt: skip


class _LatentRule(AutogradRule):
    """One Adam step on base, map and inner rates, through the adaptation."""

    description = "Meta-learning latents"

    def __init__(self, latent_dim, *, meta_lr, inner_lr, inner_steps, second_order):
        self.latent_dim = latent_dim
        self.meta_lr = meta_lr
        self.inner_lr = inner_lr
        self.inner_steps = inner_steps
        self.second_order = second_order

    def start(self, problem, batch_size):
        self.problem = problem
        spec, dim = problem.spec, self.latent_dim
        n_shifts = spec.hidden_layers * spec.hidden_features
        # The map's init is torch.nn.Linear's; with z = 0 the shifts start at b = 0.
        bound = 1.0 / np.sqrt(dim)
        start = LatentModel(
            problem.init_theta,
            problem.rng.uniform(-bound, bound, size=(n_shifts, dim)),
            np.zeros(n_shifts),
            np.full(dim, self.inner_lr),
        )
        factory = {"dtype": problem.dtype, "device": problem.device}
        self.learned = [
            torch.tensor(np.asarray(p, dtype=np.float32), **factory).requires_grad_()
            for p in start
        ]
        self.optimizer = torch.optim.Adam(self.learned, lr=self.meta_lr)
        self.checked = self.learned
        self.min_lr = 1e-3 * self.inner_lr

    def objective(self, rows):
        base, weight, bias, lrs = self.learned
        _, losses = adapt_latents(
            base, weight, bias, lrs, self.problem.coords, self.problem.targets[rows],
            self.problem.spec, loss=self.problem.loss, inner_steps=self.inner_steps,
            second_order=self.second_order,
        )  # fmt: skip
        return losses.mean()

    def after_update(self):
        # The rates stay positive: a step never takes one below min_lr.
        with torch.no_grad():
            self.learned[3].clamp_(min=self.min_lr)

    def result(self):
        return LatentModel(*(p.detach().cpu().numpy() for p in self.learned)).pack()

    def watched(self):
        # The base network: it starts at problem.init_theta.
        return self.learned[:1]
