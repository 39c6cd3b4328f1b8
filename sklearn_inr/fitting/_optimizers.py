"""The optimizers of the INR trainers: what :func:`~._training.train` steps with.

Each is made on a bound trainer (its ``params`` and gradients) and offers
``step(losses)``, ``select(rows)`` (the networks still in the batch) and
``needs_losses``. A bound trainer with learned ``step_sizes`` (the
task-aware init's) takes those steps first, then the named optimizer.
"""

from __future__ import annotations

import torch

from ..core import KFAC, Engine, make_adam

__all__ = ["OPTIMIZERS", "make_optimizer"]


OPTIMIZERS = ("adam", "kfac")


def make_optimizer(name: str, net: Engine, bound, *, lr: float, loss: str):
    """The optimizer ``name`` on a bound trainer: ``step()`` and ``select(rows)``."""

    def make():
        if name == "kfac":
            return KFAC(net, bound.kfac_blocks, lr=lr, loss=loss)
        return _Adam(bound, lr)

    step_sizes = getattr(bound, "step_sizes", None)
    if step_sizes is None:
        return make()
    return _LearnedSteps(net, step_sizes, then=make)


class _LearnedSteps:
    """Learned per-parameter gradient steps, then another optimizer.

    Step ``t < len(step_sizes)`` is ``theta -= step_sizes[t] * grad`` on
    every network: elementwise, so each image's step is its own whatever
    its batch. The next optimizer is made at the first step after them,
    with a fresh state (as a fit that started there).

    Parameters
    ----------
    net : Engine
    step_sizes : ndarray of shape (n_steps, n_params)
    then : callable
        Makes the optimizer of the steps after them.
    """

    def __init__(self, net: Engine, step_sizes, *, then):
        self.net = net
        self.sizes = torch.as_tensor(step_sizes, dtype=net.dtype, device=net.device)
        self.then, self.next = then, None
        self.taken = 0

    @property
    def needs_losses(self) -> bool:
        return self.next is not None and self.next.needs_losses

    def step(self, losses=None) -> None:
        if self.next is None and self.taken == len(self.sizes):
            self.next = self.then()
        if self.next is not None:
            self.next.step(losses)
            return
        # In the theta layout, through the engine's interface: copies of
        # n_params per network, negligible beside a step's pixels.
        net, sizes = self.net, self.sizes[self.taken]
        net.load_theta(torch.addcmul(net.theta(), sizes, net.grad_theta(), value=-1.0))
        self.taken += 1

    def select(self, rows) -> None:
        if self.next is not None:
            self.next.select(rows)


class _Adam:
    """Adam on a bound trainer's parameters, kept across :meth:`select`."""

    needs_losses = False

    def __init__(self, bound, lr: float):
        self.bound, self.lr = bound, lr
        self.optimizer = make_adam(bound.params, lr)

    def step(self, losses=None) -> None:
        self.optimizer.step()

    def select(self, rows) -> None:
        """A fresh Adam on the bound parameters, holding the old state's ``rows``."""
        fresh = make_adam(self.bound.params, self.lr)
        for old, new in zip(
            self.optimizer.param_groups[0]["params"], self.bound.params
        ):
            state = self.optimizer.state.get(old, {})
            fresh.state[new] = {
                name: value[rows].clone() if value.dim() else value.clone()
                for name, value in state.items()
            }
        self.optimizer = fresh
