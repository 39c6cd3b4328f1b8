"""A task-aware learned initialisation: the classification loss in the loop.

:func:`task_learn_init` learns one starting theta for all images, like
:func:`~sklearn_inr.meta_learn_init`, but for classification: in the spirit
of MWT-L (CVPR 2025), each outer step adapts a batch of images from the
current init with a few *differentiable* Adam steps of reconstruction, feeds
their standardised adapted thetas to a linear classifier head, and
backpropagates the head's cross-entropy (plus, weighted, the reconstruction
loss) through the inner steps to the init and to the head.

It is an update rule of the learned inits' one outer loop
(:func:`~sklearn_inr.learned._loop.outer_loop`). The inner loop is plain
torch autograd on the core's functional forward
(:func:`~sklearn_inr.core.functional_forward`, no in-place engine kernel),
which suits the small networks this targets and runs unchanged on CPU and
CUDA. This module knows nothing of scikit-learn
estimators; :class:`~sklearn_inr.INRFeaturizer` calls it for
``init="task"``.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.utils._param_validation import Interval, validate_params
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_consistent_length, column_or_1d

from .._docs import fill_doc
from ..core import INRSpec, functional_forward, get_loss, unflatten_theta
from ._loop import META_CONSTRAINTS, AutogradRule, outer_loop, prepare

__all__ = ["check_task_labels", "task_learn_init"]

# torch.optim.Adam's defaults: the inner loop mimics the engine's fits.
_BETAS, _EPS = (0.9, 0.999), 1e-8
# The head reads standardised thetas, so one step size suits every network.
_HEAD_LR = 1e-2


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


@fill_doc
@validate_params(
    {
        **META_CONSTRAINTS,
        "y": ["array-like"],
        # The head reads thetas standardised over the batch: at least two.
        "meta_batch_size": [Interval(Integral, 2, None, closed="left")],
        "reconstruction_weight": [Interval(Real, 0, None, closed="left")],
        "second_order": ["boolean"],
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
    meta_lr: float = 1e-3,
    inner_steps: int = 10,
    inner_lr: float = 1e-4,
    meta_batch_size: int = 16,
    reconstruction_weight: float = 1.0,
    second_order: bool = True,
    loss: str = "bce",
    random_state=None,
    device="auto",
    dtype=torch.float32,
    verbose: int = 0,
) -> np.ndarray:
    """Learn a shared initialisation with the classification loss in the loop.

    Each outer step samples ``meta_batch_size`` images and adapts each from
    the current init :math:`\\phi` with ``inner_steps`` differentiable Adam
    steps of its reconstruction loss (learning rate ``inner_lr``, fresh Adam
    state, as the images will later be fitted). A linear head classifies
    the adapted thetas, standardised over the batch (as a StandardScaler
    before a linear classifier would). The outer loss, the head's
    cross-entropy plus ``reconstruction_weight`` times the mean
    reconstruction loss at the adapted thetas, takes one Adam step on
    :math:`\\phi` (``meta_lr``) and on the head (learning rate 1e-2). The
    head is discarded at the end: only :math:`\\phi` is returned.

    With ``second_order=False`` the inner gradients are treated as constants
    (first-order MAML). Each adapted theta is then :math:`\\phi` plus a
    constant, so the classification gradient on :math:`\\phi` is the sum of
    the per-image gradients, which the batch standardisation makes exactly
    zero: only the reconstruction term trains :math:`\\phi`. The
    classification loss reaches the init only through the second-order
    terms (how each image's adaptation depends on :math:`\\phi`).

    Cost: about ``meta_steps * meta_batch_size * inner_steps`` image-steps,
    each 2 to 4 times an engine step with ``second_order=True``, and a
    memory of ``inner_steps`` forward passes of the batch.

    Parameters
    ----------
    %(meta_images)s
    y : array-like of shape (n_images,)
        Class labels of the images (at least two classes).
    %(meta_spec)s
    %(init_theta)s
    %(meta_steps)s
    meta_lr : float, default=1e-3
        Outer Adam learning rate on the init; ``inner_lr * inner_steps``
        (the default's value) lets one outer step move the init as far as
        the inner steps move an image.
    %(inner_steps)s
    inner_lr : float, default=1e-4
        Inner Adam learning rate; use the one the images will be fitted with.
    meta_batch_size : int, default=16
        Images sampled per outer step (all of them if there are fewer); at
        least 2, since the head reads thetas standardised over the batch.
    reconstruction_weight : float, default=1.0
        Weight of the mean reconstruction loss at the adapted thetas in the
        outer loss; 0 trains the init for classification alone.
    second_order : bool, default=True
        Backpropagate through the inner gradients (see above).
    %(loss)s
    random_state : int, RandomState instance or None, default=None
        Seeds the starting point, the head and the batch sampling.
    %(meta_device)s
    %(dtype)s
    %(meta_verbose)s

    Returns
    -------
    theta : ndarray of shape (n_params,)
        The learned initialisation, float32.

    See Also
    --------
    meta_learn_init : The label-free learned initialisation (Reptile).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_inr import INRSpec, task_learn_init
    >>> images = np.random.default_rng(0).uniform(size=(6, 8, 8))
    >>> spec = INRSpec(hidden_features=8, hidden_layers=1)
    >>> task_learn_init(images, [0, 1, 0, 1, 0, 1], spec, meta_steps=2,
    ...                 inner_steps=2, random_state=0).shape
    (105,)
    """
    problem = prepare(
        images, spec, init_theta=init_theta, loss=loss, random_state=random_state,
        device=device, dtype=dtype,
    )  # fmt: skip
    rule = _TaskRule(
        check_task_labels(problem.images, y), meta_lr=meta_lr, inner_lr=inner_lr,
        inner_steps=inner_steps, reconstruction_weight=reconstruction_weight,
        second_order=second_order,
    )  # fmt: skip
    return outer_loop(rule, problem, meta_steps=meta_steps,
                      meta_batch_size=meta_batch_size, verbose=verbose)  # fmt: skip


class _TaskRule(AutogradRule):
    """Adapt by differentiable Adam steps; classify the adapted thetas.

    The outer parameters are the init ``phi`` and a linear head; the
    objective is the head's cross-entropy on the standardised adapted
    thetas plus the weighted reconstruction loss.
    """

    description = "Task-aware init"
    keep_grads = True

    def __init__(self, y_index, *, meta_lr, inner_lr, inner_steps,
                 reconstruction_weight, second_order):  # fmt: skip
        self.y_index = y_index
        self.meta_lr = meta_lr
        self.inner_lr = inner_lr
        self.inner_steps = inner_steps
        self.reconstruction_weight = reconstruction_weight
        self.second_order = second_order

    def start(self, problem, batch_size):
        self.problem = problem
        n_classes = int(self.y_index.max()) + 1
        factory = {"dtype": problem.dtype, "device": problem.device}
        self.labels = torch.as_tensor(self.y_index, device=problem.device)
        self.phi = torch.tensor(problem.init_theta, **factory, requires_grad=True)
        # The head starts small, drawn from numpy like every init of the package.
        self.head_weight = torch.tensor(
            problem.rng.normal(scale=0.01, size=(n_classes, problem.spec.n_params)),
            **factory, requires_grad=True,
        )  # fmt: skip
        self.head_bias = torch.zeros(n_classes, **factory, requires_grad=True)
        self.optimizer = torch.optim.Adam(
            [{"params": [self.phi], "lr": self.meta_lr},
             {"params": [self.head_weight, self.head_bias], "lr": _HEAD_LR}],
        )  # fmt: skip
        self.checked = (self.phi, self.head_weight)

    def sample(self, rng, n_images, batch_size):
        return _batch_rows(rng, self.y_index, batch_size)

    def objective(self, rows):
        theta, recon = adapt(
            self.problem.spec, self.phi, self.problem.coords,
            self.problem.targets[rows], loss=self.problem.loss, lr=self.inner_lr,
            n_steps=self.inner_steps, second_order=self.second_order,
        )  # fmt: skip
        logits = _standardise(theta) @ self.head_weight.T + self.head_bias
        objective = F.cross_entropy(logits, self.labels[rows])
        return objective + self.reconstruction_weight * recon.mean()

    def result(self):
        return self.phi.detach().cpu().numpy().astype(np.float32)

    def watched(self):
        return (self.phi,)


def adapt(
    spec: INRSpec,
    phi: torch.Tensor,
    coords: torch.Tensor,
    targets: torch.Tensor,
    *,
    loss: str,
    lr: float,
    n_steps: int,
    second_order: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Differentiable Adam steps of reconstruction from ``phi``, per image.

    Parameters
    ----------
    spec : INRSpec
    phi : tensor of shape (n_params,)
        The shared starting point (may require grad).
    coords : tensor of shape (n_pixels, in_features)
    targets : tensor of shape (B, n_pixels, out_features)
    loss : {"bce", "mse"}
    lr : float
    n_steps : int
    second_order : bool, default=True
        Keep the graph of the inner gradients (else they are constants).

    Returns
    -------
    theta : tensor of shape (B, n_params)
        The adapted thetas, differentiable with respect to ``phi``.
    losses : tensor of shape (B,)
        Each image's mean loss at its adapted theta.
    """
    theta = phi.expand(len(targets), -1)
    if not theta.requires_grad:  # adapting a fixed init: the steps need grads
        theta = theta.clone().requires_grad_()
    m = torch.zeros_like(theta)
    v = torch.zeros_like(theta)
    for t in range(1, n_steps + 1):
        losses = image_losses(spec, theta, coords, targets, loss)
        (grad,) = torch.autograd.grad(losses.sum(), theta, create_graph=second_order)
        # torch.optim.Adam's update, written out so that it stays in the graph.
        m = _BETAS[0] * m + (1 - _BETAS[0]) * grad
        v = _BETAS[1] * v + (1 - _BETAS[1]) * grad * grad
        m_hat = m / (1 - _BETAS[0] ** t)
        # clamp_min: sqrt's derivative is infinite at 0 (a parameter with no
        # gradient yet); 1e-30 under the root is far below eps.
        v_hat = (v / (1 - _BETAS[1] ** t)).clamp_min(1e-30)
        theta = theta - lr * m_hat / (v_hat.sqrt() + _EPS)
    return theta, image_losses(spec, theta, coords, targets, loss)


def image_losses(spec, theta, coords, targets, loss) -> torch.Tensor:
    """Each image's mean reconstruction loss, differentiable, shape (B,)."""
    weights, biases = unflatten_theta(theta, spec.layer_shapes)
    output = functional_forward(spec, weights, biases, coords)
    return get_loss(loss).pixel_losses(output, targets).mean(dim=(1, 2))


def _standardise(theta: torch.Tensor) -> torch.Tensor:
    """Zero mean and unit variance per feature over the batch."""
    centred = theta - theta.mean(dim=0)
    variance = centred.square().mean(dim=0)
    # As StandardScaler: a feature with no spread keeps scale 1 (and the
    # clamp keeps sqrt's derivative finite on the branch not taken).
    spread = variance > 1e-24
    scale = torch.where(spread, variance.clamp_min(1e-24).sqrt(), 1.0)
    return centred / scale


def _batch_rows(rng, y_index, batch_size) -> np.ndarray:
    """A batch of rows with every class in it when the batch allows."""
    n_images = len(y_index)
    if batch_size >= n_images:
        return np.arange(n_images)
    # One image of each class first (as far as the batch holds them), so the
    # head always has more than one class to separate.
    classes = rng.permutation(int(y_index.max()) + 1)[:batch_size]
    firsts = [rng.choice(np.flatnonzero(y_index == c)) for c in classes]
    rest = np.setdiff1d(np.arange(n_images), firsts)
    others = rng.choice(rest, size=batch_size - len(firsts), replace=False)
    return np.sort(np.concatenate([firsts, others]))
