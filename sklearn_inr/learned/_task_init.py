r"""A task-aware learned initialisation, after MWT (CVPR 2025).

:func:`task_learn_init` follows MWT (Gielisse & van Gemert, "End-to-End
Implicit Neural Representations for Classification", CVPR 2025; its code,
github.com/SanderGielisse/MWT, was read for the details): an init, a step
size per parameter and inner step, and a Transformer on neuron tokens
(:class:`~._weight_transformer.WeightTransformer`) learned end to end, with
MWT's optimiser (AdamW at 1e-4, 1e-2 and 1e-4, weight decay 1e-4, a
one-cycle schedule with 5 % warm-up, each group's gradient clipped to 1).

What differs from MWT, and why:

- The classifier is discarded: :class:`~sklearn_inr.INRFeaturizer` returns
  theta and any scikit-learn classifier is trained on it. MWT classifies
  with the jointly trained Transformer (``return_classifier=True``).
- This package's SIREN folds ``omega_0`` into every layer and fits [0, 1]
  intensities (MWT: ``sin(x)`` hidden layers, [-1, 1] pixels), so MWT's raw
  step sizes and its token scale (x 500) do not carry over: the step sizes
  are ``inner_lr`` times the learned factors, and the tokens are scaled by
  the first batch's RMS.
- The inner loss is the featurizer's (``"bce"`` or ``"mse"``; MWT: MSE).
- It computes in ``dtype`` (float32 by default; MWT: float16 autocast),
  and the schedule does not cycle Adam's momentum.

It is an update rule of the learned inits' one outer loop
(:func:`~sklearn_inr.learned._loop.outer_loop`); the inner loop is torch
autograd on the core's functional forward, on CPU and CUDA alike.
"""

from __future__ import annotations

import math
from functools import partial
from numbers import Integral, Real

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.utils._param_validation import Interval, validate_params
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_consistent_length, column_or_1d

from .._docs import fill_doc
from ..core import (
    INRSpec,
    flatten_theta,
    functional_forward,
    get_loss,
    unflatten_theta,
)
from ._loop import META_CONSTRAINTS, OuterRule, outer_loop, prepare
from ._weight_transformer import DEPTH, WeightTransformer

__all__ = [
    "TASK_META_LR",
    "TASK_STEP_SIZE",
    "check_task_labels",
    "task_init_size",
    "task_learn_init",
    "unpack_task_init",
]

#: The default ``inner_lr``: the scale of the learned step sizes. Plain
#: gradient steps on a SIREN's mean pixel loss (omega_0 = 30, widths 32 and
#: 64, MSE and BCE, on digits) were stable up to 0.01 to 0.1 and diverged
#: at 1; the factors start in [0.1, 1] and are learned from there (on
#: digits, 561 outer steps took their median from 0.55 to 1.5 with BCE;
#: from a scale of 0.2, to 0.75 with MSE).
TASK_STEP_SIZE = 0.05
#: The default ``meta_lr``: MWT's peak AdamW learning rate of the init.
TASK_META_LR = 1e-4
# MWT's outer optimisation (tconfig.py and train.py of its release).
_STEP_SIZE_LR, _HEAD_LR, _WEIGHT_DECAY = 1e-2, 1e-4, 1e-4
_WARMUP, _CLIP = 0.05, 1.0
# OneCycleLR's defaults: the schedule starts at 1/25 of the peak and ends at
# 1/1e4 of that.
_START, _END = 1 / 25, 1 / 25e4
_FACTOR_RANGE = (0.1, 1.0)


def check_task_labels(images, y) -> np.ndarray:
    """``y`` as class indices ``0 .. n_classes - 1`` (at least two classes)."""
    if y is None:
        raise ValueError(
            "init='task' learns the initialisation with the training labels and "
            "needs y: call fit(X, y) / fit_transform(X, y), or use init='meta' "
            "(learned without labels)."
        )
    y = column_or_1d(y, warn=True)
    check_consistent_length(images, y)
    check_classification_targets(y)
    classes, y_index = np.unique(y, return_inverse=True)
    if len(classes) < 2:
        raise ValueError(
            f"init='task' learns the initialisation by classifying the training "
            f"images, and y has {len(classes)} class(es); it needs at least two."
        )
    return y_index.astype(np.int64)


def task_init_size(spec: INRSpec, inner_steps: int) -> int:
    """Length of a packed task init: the init, then one step size per step."""
    return spec.n_params * (1 + int(inner_steps))


def unpack_task_init(params, spec: INRSpec) -> tuple[np.ndarray, np.ndarray]:
    """The init and the step sizes of a packed task init.

    Parameters
    ----------
    params : array-like of shape (n_params * (1 + inner_steps),)
        As :func:`task_learn_init` returns it.
    spec : INRSpec

    Returns
    -------
    theta : ndarray of shape (n_params,)
    step_sizes : ndarray of shape (inner_steps, n_params)
        Step ``t`` of a fit from ``theta`` is ``theta -= step_sizes[t] * grad``.
    """
    params = np.asarray(params, dtype=np.float32)
    n_params = spec.n_params
    if params.ndim != 1 or len(params) < n_params or len(params) % n_params:
        raise ValueError(
            f"A task init for this network holds n_params * (1 + inner_steps) "
            f"values with n_params={n_params}; got an array of shape {params.shape}."
        )
    return params[:n_params], params[n_params:].reshape(-1, n_params)


@fill_doc
@validate_params(
    {
        **META_CONSTRAINTS,
        "y": ["array-like"],
        "classification_weight": [Interval(Real, 0, None, closed="left")],
        "second_order": ["boolean"],
        "head_depth": [Interval(Integral, 1, None, closed="left")],
        "return_classifier": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def task_learn_init(
    images,
    y,
    spec: INRSpec,
    *,
    init_theta=None,
    meta_steps: int = 100,
    meta_lr: float = TASK_META_LR,
    inner_steps: int = 6,
    inner_lr: float = TASK_STEP_SIZE,
    meta_batch_size: int = 16,
    classification_weight: float = 0.01,
    second_order: bool = True,
    head_depth: int = DEPTH,
    return_classifier: bool = False,
    loss: str = "bce",
    random_state=None,
    device="auto",
    dtype=torch.float32,
    verbose: int = 0,
):
    """Learn an init and its step sizes with a classifier in the loop (MWT).

    Each outer step samples ``meta_batch_size`` images (every class the
    batch can hold) and adapts each from the init :math:`\\phi` with
    ``inner_steps`` plain gradient steps of its reconstruction loss,
    :math:`\\theta_{t+1} = \\theta_t - s_t \\odot \\nabla_\\theta L`, with
    learned step sizes :math:`s_t` (one per parameter and step; zero on the
    output layer, which stays shared). A Transformer classifies the adapted
    networks from their offsets :math:`\\theta - \\phi`. The init and the
    step sizes take the gradient of the mean reconstruction loss after the
    steps plus ``classification_weight`` times the classifier's
    cross-entropy, through the inner steps; the classifier takes the
    cross-entropy's. The module docstring gives MWT's optimiser, kept here,
    and what differs from MWT (the user guide's "Task-aware
    initialisation" too).

    Every image is then fitted from :math:`\\phi` with the learned steps
    first (:class:`~sklearn_inr.INRFeaturizer` with ``init="task"``): they
    read no label.

    Cost: about ``meta_steps * meta_batch_size * inner_steps`` image-steps,
    each 3 to 5 times an engine step with ``second_order=True``, a memory of
    ``inner_steps`` forward passes of the batch, and the classifier's
    passes.

    Parameters
    ----------
    %(meta_images)s
    y : array-like of shape (n_images,)
        Class labels of the images (at least two classes).
    %(meta_spec)s
        It needs ``hidden_layers >= 1``: the classifier reads the neurons of
        the ``width -> width`` layers.
    %(init_theta)s
    %(meta_steps)s
    meta_lr : float, default=TASK_META_LR
        Peak AdamW learning rate of the init (MWT's).
    inner_steps : int, default=6
        Learned gradient steps per image (MWT's 6).
    inner_lr : float, default=TASK_STEP_SIZE
        Scale of the step sizes: they start uniform in [0.1, 1] times it.
    meta_batch_size : int, default=16
        Images sampled per outer step (all of them if there are fewer;
        MWT's 16).
    classification_weight : float, default=0.01
        Weight of the cross-entropy on the init and the step sizes (MWT's
        0.01); 0 learns them for reconstruction alone while the classifier
        trains on the detached offsets (MWT's "WT-sim").
    second_order : bool, default=True
        Backpropagate through the inner gradients (MWT does). Without it,
        the offsets do not depend on :math:`\\phi`, so the cross-entropy
        reaches the step sizes only.
    head_depth : int, default=10
        Transformer blocks of the classifier (MWT's 10).
    return_classifier : bool, default=False
        Also return the jointly trained classifier, which MWT classifies
        with: a :class:`torch.nn.Module` in eval mode on the CPU, mapping
        offsets ``theta - init`` of shape ``(n, n_params)`` (images fitted
        with the learned steps only) to class logits, the classes being
        ``np.unique(y)`` in order.
    %(loss)s
    random_state : int, RandomState instance or None, default=None
        Seeds the starting point, the step sizes, the classifier and the
        batch sampling.
    %(meta_device)s
    %(dtype)s
    %(meta_verbose)s

    Returns
    -------
    params : ndarray of shape (n_params * (1 + inner_steps),)
        The learned init, then its step sizes (float32); split them with
        :func:`unpack_task_init`.
    classifier : torch.nn.Module
        With ``return_classifier=True`` only.

    See Also
    --------
    meta_learn_init : The label-free learned initialisation (Reptile).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_inr import INRSpec, task_learn_init
    >>> images = np.random.default_rng(0).uniform(size=(6, 8, 8))
    >>> spec = INRSpec(hidden_features=8, hidden_layers=1)
    >>> params = task_learn_init(images, [0, 1, 0, 1, 0, 1], spec, meta_steps=2,
    ...                          inner_steps=2, head_depth=1, random_state=0)
    >>> params.shape  # the init (105), then 2 steps of 105 step sizes
    (315,)
    """
    if spec.hidden_layers < 1:
        raise ValueError(
            "The task-aware init classifies the neurons of the width -> width "
            "layers, and hidden_layers=0 has none; use hidden_layers >= 1."
        )
    problem = prepare(
        images, spec, init_theta=init_theta, loss=loss, random_state=random_state,
        device=device, dtype=dtype,
    )  # fmt: skip
    rule = _TaskRule(
        check_task_labels(problem.images, y), meta_steps=meta_steps,
        meta_lr=meta_lr, inner_lr=inner_lr, inner_steps=inner_steps,
        classification_weight=classification_weight, second_order=second_order,
        head_depth=head_depth,
    )  # fmt: skip
    params = outer_loop(rule, problem, meta_steps=meta_steps,
                        meta_batch_size=meta_batch_size, verbose=verbose)  # fmt: skip
    if not return_classifier:
        return params
    return params, rule.head.float().cpu().eval().requires_grad_(False)


class _TaskRule(OuterRule):
    """MWT's outer step: adapt with the learned steps, classify, update all."""

    description = "Task-aware init"

    def __init__(self, y_index, *, meta_steps, meta_lr, inner_lr, inner_steps,
                 classification_weight, second_order, head_depth):  # fmt: skip
        self.y_index = y_index
        self.meta_steps = meta_steps
        self.meta_lr = meta_lr
        self.inner_lr = inner_lr
        self.inner_steps = inner_steps
        self.classification_weight = classification_weight
        self.second_order = second_order
        self.head_depth = head_depth

    def start(self, problem, batch_size):
        self.problem = problem
        spec, rng = problem.spec, problem.rng
        factory = {"dtype": problem.dtype, "device": problem.device}
        self.labels = torch.as_tensor(self.y_index, device=problem.device)
        self.phi = torch.tensor(problem.init_theta, **factory, requires_grad=True)
        factors = rng.uniform(*_FACTOR_RANGE, size=(self.inner_steps, spec.n_params))
        self.factors = torch.tensor(factors, **factory, requires_grad=True)
        self.adapted = torch.tensor(_adapted_mask(spec), **factory)
        # The classifier's torch initialisation, seeded from the problem's
        # generator: the same random_state learns the same init.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(rng.integers(2**31)))
            self.head = WeightTransformer(
                spec, int(self.y_index.max()) + 1, depth=self.head_depth
            ).to(**factory)
        self.groups = [[self.phi], [self.factors], list(self.head.parameters())]
        rates = [self.meta_lr, _STEP_SIZE_LR, _HEAD_LR]
        self.optimizer = torch.optim.AdamW(
            [{"params": group, "lr": lr} for group, lr in zip(self.groups, rates)],
            weight_decay=_WEIGHT_DECAY,
        )
        self.schedule = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, partial(_one_cycle, total=self.meta_steps)
        )

    def step_sizes(self) -> torch.Tensor:
        return self.inner_lr * self.factors * self.adapted

    def sample(self, rng, n_images, batch_size):
        return _batch_rows(rng, self.y_index, batch_size)

    def outer_gradient(self, rows):
        theta, recon = adapt(
            self.problem.spec, self.phi, self.problem.coords,
            self.problem.targets[rows], loss=self.problem.loss,
            step_sizes=self.step_sizes(), second_order=self.second_order,
        )  # fmt: skip
        weight = self.classification_weight
        offsets = theta - self.phi
        # Weight 0 is MWT's WT-sim: the classifier learns on detached offsets.
        logits = self.head(offsets if weight > 0 else offsets.detach())
        cross_entropy = F.cross_entropy(logits, self.labels[rows])
        self.optimizer.zero_grad(set_to_none=False)
        (recon.mean() + (weight if weight > 0 else 1.0) * cross_entropy).backward()
        if weight > 0:  # the classifier takes the cross-entropy's gradient alone
            for param in self.groups[2]:
                param.grad.div_(weight)
        for group in self.groups:
            torch.nn.utils.clip_grad_norm_(group, _CLIP)
        return [param.grad for group in self.groups for param in group]

    def update(self):
        self.optimizer.step()
        self.schedule.step()

    def result(self):
        packed = torch.cat([self.phi.detach(), self.step_sizes().detach().ravel()])
        return packed.cpu().numpy().astype(np.float32)

    def watched(self):
        return (self.phi,)


def _one_cycle(step: int, *, total: int) -> float:
    """The learning rate's factor at ``step``: warm-up, then cosine decay.

    OneCycleLR's defaults as MWT uses them (from 1/25 of the peak, linearly
    over the first 5 % of the steps, at least one, then down to 1/25e4 of
    it on a half cosine), without the momentum cycling, and defined for
    any number of steps (OneCycleLR divides by zero below 40).
    """
    warmup = max(1, round(_WARMUP * total))
    if step < warmup:
        return _START + (1 - _START) * step / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return _END + (1 - _END) * (1 + math.cos(math.pi * min(progress, 1.0))) / 2


def _adapted_mask(spec: INRSpec) -> np.ndarray:
    """1 for the parameters the inner steps adapt, 0 for the output layer's."""
    weights, biases = unflatten_theta(np.ones(spec.n_params), spec.layer_shapes)
    weights[-1], biases[-1] = np.zeros_like(weights[-1]), np.zeros_like(biases[-1])
    return flatten_theta(weights, biases)


def adapt(
    spec: INRSpec,
    phi: torch.Tensor,
    coords: torch.Tensor,
    targets: torch.Tensor,
    *,
    loss: str,
    step_sizes: torch.Tensor,
    second_order: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Plain gradient steps of reconstruction from ``phi``, per image.

    Parameters
    ----------
    spec : INRSpec
    phi : tensor of shape (n_params,)
        The shared starting point (may require grad).
    coords : tensor of shape (n_pixels, in_features)
    targets : tensor of shape (B, n_pixels, out_features)
    loss : {"bce", "mse"}
    step_sizes : tensor of shape (n_steps, n_params)
        Step ``t`` is ``theta -= step_sizes[t] * grad`` (may require grad).
    second_order : bool, default=True
        Keep the graph of the inner gradients (else they are constants).

    Returns
    -------
    theta : tensor of shape (B, n_params)
        The adapted thetas, differentiable with respect to ``phi`` and the
        step sizes.
    losses : tensor of shape (B,)
        Each image's mean loss at its adapted theta.
    """
    theta = phi.expand(len(targets), -1)
    if not theta.requires_grad:  # adapting a fixed init: the steps need grads
        theta = theta.clone().requires_grad_()
    for sizes in step_sizes:
        losses = image_losses(spec, theta, coords, targets, loss)
        (grad,) = torch.autograd.grad(losses.sum(), theta, create_graph=second_order)
        theta = theta - sizes * grad
    return theta, image_losses(spec, theta, coords, targets, loss)


def image_losses(spec, theta, coords, targets, loss) -> torch.Tensor:
    """Each image's mean reconstruction loss, differentiable, shape (B,)."""
    weights, biases = unflatten_theta(theta, spec.layer_shapes)
    output = functional_forward(spec, weights, biases, coords)
    return get_loss(loss).pixel_losses(output, targets).mean(dim=(1, 2))


def _batch_rows(rng, y_index, batch_size) -> np.ndarray:
    """A batch of rows with every class in it when the batch allows."""
    n_images = len(y_index)
    if batch_size >= n_images:
        return np.arange(n_images)
    # One image of each class first (as far as the batch holds them), so the
    # classifier always has more than one class to separate.
    classes = rng.permutation(int(y_index.max()) + 1)[:batch_size]
    firsts = [rng.choice(np.flatnonzero(y_index == c)) for c in classes]
    rest = np.setdiff1d(np.arange(n_images), firsts)
    others = rng.choice(rest, size=batch_size - len(firsts), replace=False)
    return np.sort(np.concatenate([firsts, others]))
