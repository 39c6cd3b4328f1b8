"""The one outer loop of every learned initialisation.

A learned initialisation (Reptile, first-order MAML on shift modulations,
the task-aware init, functa latents) is an *update rule* run by
:func:`outer_loop`. The loop owns what they all share:

- the argument constraints (:data:`META_CONSTRAINTS`), the checked images
  as targets on the device, their coordinates, the seeded generator and the
  starting theta (:func:`prepare`);
- the seeded batch sampling (:func:`sample_rows`, which a rule may refine);
- the progress bar (one tick per outer step);
- the divergence checks and their error, once for every rule: a NaN or
  infinite outer update, and a learned init whose size (RMS) grows by orders
  of magnitude, which a too large ``meta_lr`` does without any NaN (sin is
  bounded: a SIREN init with values in the thousands still gives finite,
  meaningless reconstructions).

A rule says how a batch adapts and what the outer step is: its
:meth:`OuterRule.outer_gradient` adapts the sampled images and returns the
tensors the outer update is made of (gradients or a direction); the loop
checks them and only then calls :meth:`OuterRule.update`. Rules that
differentiate an objective with autograd subclass :class:`AutogradRule` and
only write the objective. This module knows nothing of scikit-learn
estimators.
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import NamedTuple

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, StrOptions

from ..core import LOSSES, INRSpec, make_coordinates, parse_device, resolve_device
from ..fitting import check_images, to_seed

__all__ = [
    "INIT_GROWTH_LIMIT",
    "META_CONSTRAINTS",
    "AutogradRule",
    "MetaProblem",
    "OuterRule",
    "outer_loop",
    "prepare",
    "sample_rows",
]

#: The parameters every learner takes, as ``validate_params`` constraints;
#: a learner adds its own with ``{**META_CONSTRAINTS, ...}``.
META_CONSTRAINTS = {
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

#: An outer loop whose learned init's RMS exceeds this many times its start's
#: has diverged. Measured (8 images of 16 x 16, 30 outer steps): every rule at
#: its default meta_lr stays within 1.02x, and default featurizer settings can
#: move the init by at most ~8x its RMS in 100 steps; meta_lr=10 (Adam rules)
#: reached 400-750x with values in the hundreds, Reptile at meta_lr=1e6
#: 14,000x with values in the thousands.
INIT_GROWTH_LIMIT = 100.0
# The start's RMS is floored here, so a start of zeros is not "grown" by any
# first step.
_MIN_START_RMS = 1e-2


class MetaProblem(NamedTuple):
    """What a rule learns from, prepared once by :func:`prepare`."""

    spec: INRSpec
    images: np.ndarray  # checked, (n_images, *spatial, C)
    targets: torch.Tensor  # (n_images, n_pixels, out_features), on the device
    coords: torch.Tensor  # (n_pixels, in_features), on the device
    init_theta: np.ndarray  # (n_params,) float32, a copy the rule may own
    rng: np.random.Generator  # seeds the starting point, the rule, the batches
    loss: str

    @property
    def device(self) -> torch.device:
        return self.targets.device

    @property
    def dtype(self) -> torch.dtype:
        return self.targets.dtype


def prepare(images, spec: INRSpec, *, init_theta, loss, random_state, device,
            dtype) -> MetaProblem:  # fmt: skip
    """Checked images as targets, coordinates, generator and starting theta.

    The generator is created here and draws the starting theta first (when
    ``init_theta`` is None), so a rule's own draws and the batches follow it.

    Parameters
    ----------
    images : array-like of shape (n_images, H, W) or (n_images, H, W, C)
        With ``spec.in_features=3``, volumes ``(n_images, D, H, W[, C])``:
        the spatial axes are ``spec.in_features`` many.
    spec : INRSpec
    init_theta : array-like of shape (n_params,) or None
    loss : {"bce", "mse"}
    random_state : int, RandomState instance or None
    device : str, torch.device or None
    dtype : torch.dtype

    Returns
    -------
    problem : MetaProblem
    """
    images = check_images(images, loss, out_features=spec.out_features,
                          spatial_ndim=spec.in_features)  # fmt: skip
    rng = np.random.default_rng(to_seed(random_state))
    if init_theta is None:
        init_theta = spec.init_theta(rng)
    # A copy: rules update their start in place through shared buffers.
    init_theta = np.array(init_theta, dtype=np.float32)
    if init_theta.shape != (spec.n_params,):
        raise ValueError(
            f"init_theta must have shape ({spec.n_params},), got {init_theta.shape}."
        )
    device = resolve_device(parse_device(device))
    coords = make_coordinates(images.shape[1:-1], dtype=dtype, device=device)
    targets = torch.as_tensor(
        images.reshape(len(images), -1, spec.out_features), dtype=dtype
    ).to(device)
    return MetaProblem(spec, images, targets, coords, init_theta, rng, loss)


def sample_rows(rng: np.random.Generator, n_images: int, batch_size: int) -> np.ndarray:
    """Sorted rows of one outer step's batch; every row, undrawn, if it holds them.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_inr.learned._loop import sample_rows
    >>> sample_rows(np.random.default_rng(0), 3, 5)
    array([0, 1, 2])
    >>> sample_rows(np.random.default_rng(0), 10, 3).shape
    (3,)
    """
    if batch_size >= n_images:
        return np.arange(n_images)
    return np.sort(rng.choice(n_images, size=batch_size, replace=False))


class OuterRule:
    """An update rule: what one outer step does with a sampled batch.

    Subclasses set :attr:`description` (the progress bar's and the
    divergence error's name) and ``inner_lr`` / ``meta_lr`` (named by the
    error), and implement :meth:`start`, :meth:`outer_gradient`,
    :meth:`update` and :meth:`result`; a rule that learns an init from
    ``problem.init_theta`` returns it from :meth:`watched`, so the loop
    can catch it diverging without NaN.
    """

    description = "Meta-learning"
    inner_lr: float
    meta_lr: float

    def start(self, problem: MetaProblem, batch_size: int) -> None:
        """Create the outer parameters (after the starting theta's draws)."""
        raise NotImplementedError

    def sample(self, rng: np.random.Generator, n_images: int,
               batch_size: int) -> np.ndarray:  # fmt: skip
        """Rows of the next batch; :func:`sample_rows` unless refined."""
        return sample_rows(rng, n_images, batch_size)

    def outer_gradient(self, rows: np.ndarray) -> list[torch.Tensor]:
        """Adapt the images ``rows``; the tensors the outer update is made of."""
        raise NotImplementedError

    def update(self) -> None:
        """Apply the outer update (its tensors were checked finite)."""
        raise NotImplementedError

    def result(self) -> np.ndarray:
        """The learned parameters, float32 on the CPU."""
        raise NotImplementedError

    def watched(self) -> tuple:
        """The learned init's tensors, started from ``problem.init_theta``.

        The loop stops when their RMS grows more than
        :data:`INIT_GROWTH_LIMIT` times the start's; none (the default) is
        not watched.
        """
        return ()


class AutogradRule(OuterRule):
    """A rule whose outer step is a torch optimiser's on an objective.

    :meth:`start` must set ``self.optimizer``, ``self.checked`` (the
    parameters whose gradients must be finite) and may set
    ``self.keep_grads`` (zero the gradients in place rather than drop them);
    :meth:`objective` gives the batch's differentiable outer loss.
    """

    keep_grads = False

    def objective(self, rows: np.ndarray) -> torch.Tensor:
        raise NotImplementedError

    def outer_gradient(self, rows):
        objective = self.objective(rows)
        self.optimizer.zero_grad(set_to_none=not self.keep_grads)
        objective.backward()
        # A checked tensor the objective does not reach has no gradient.
        return [p.grad for p in self.checked if p.grad is not None]

    def update(self):
        self.optimizer.step()
        self.after_update()

    def after_update(self) -> None:
        """Hook after each optimiser step (e.g. a projection); none by default."""


def outer_loop(rule: OuterRule, problem: MetaProblem, *, meta_steps: int,
               meta_batch_size: int, verbose: int = 0) -> np.ndarray:  # fmt: skip
    """Run ``meta_steps`` outer steps of ``rule`` on ``problem``.

    Parameters
    ----------
    rule : OuterRule
    problem : MetaProblem
        From :func:`prepare`; its generator draws the batches.
    meta_steps : int
    meta_batch_size : int
        Images per outer step (all of them if there are fewer).
    verbose : int, default=0
        A progress bar of outer steps when > 0.

    Returns
    -------
    params : ndarray of float32
        ``rule.result()``.

    Raises
    ------
    ValueError
        When an outer update is NaN or infinite, or the init the rule
        learns (:meth:`OuterRule.watched`) grows to more than
        :data:`INIT_GROWTH_LIMIT` times its starting RMS; it names the rule
        and its learning rates.
    """
    n_images = len(problem.targets)
    batch_size = min(meta_batch_size, n_images)
    # Measured before start(): a rule may update init_theta's memory in place.
    start_rms = max(_rms([torch.as_tensor(problem.init_theta)]), _MIN_START_RMS)
    rule.start(problem, batch_size)
    progress = _progress(meta_steps, rule.description, verbose)
    try:
        for step in range(meta_steps):
            rows = rule.sample(problem.rng, n_images, batch_size)
            parts = rule.outer_gradient(rows)
            if not all(torch.isfinite(part).all() for part in parts):
                raise ValueError(
                    f"{rule.description} diverged (NaN or infinite outer update) "
                    f"with inner_lr={rule.inner_lr:g} and meta_lr="
                    f"{rule.meta_lr:g}. Lower the learning rates (e.g. by 10x)."
                )
            rule.update()
            _check_growth(rule, start_rms, step)
            if progress is not None:
                progress.update()
    finally:
        if progress is not None:
            progress.close()
    return rule.result()


def _rms(tensors) -> float:
    """Root mean square of all entries of ``tensors``."""
    total = sum(float(t.detach().double().square().sum()) for t in tensors)
    return (total / sum(t.numel() for t in tensors)) ** 0.5


def _check_growth(rule: OuterRule, start_rms: float, step: int) -> None:
    """Raise when the learned init outgrew its start (diverged without NaN)."""
    watched = rule.watched()
    if not watched:
        return
    rms = _rms(watched)
    if rms > INIT_GROWTH_LIMIT * start_rms:
        raise ValueError(
            f"{rule.description} diverged: the learned init's RMS grew from "
            f"{start_rms:.3g} to {rms:.3g} in {step + 1} outer step(s) (more than "
            f"{INIT_GROWTH_LIMIT:g}x), with inner_lr={rule.inner_lr:g} and "
            f"meta_lr={rule.meta_lr:g}. Lower meta_lr (e.g. by 10x)."
        )


def _progress(total, desc, verbose):
    if verbose > 0:
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=desc, unit="step")
    return None
