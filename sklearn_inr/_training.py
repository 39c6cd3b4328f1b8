"""One training loop, and the trainers that say what it fits per image.

Every fit in the package runs :func:`train`: full-batch Adam on what a
*trainer* exposes, with a hook after each step. :class:`WeightsTrainer`
fits all of each image's parameters; :class:`ShiftTrainer` fits per-image
shift modulations of a fixed base network (functa). The meta-learning of
:mod:`sklearn_inr._meta` runs the same loop as its inner loop.
"""

from __future__ import annotations

import joblib
import numpy as np
import torch

from ._engine import BatchedINR, make_adam, padded_pixels
from ._functions import get_loss
from ._networks import INRSpec

__all__ = ["ShiftTrainer", "WeightsTrainer", "train"]


class WeightsTrainer:
    """Fit every parameter of each image's network; its features are theta."""

    def key(self) -> dict:
        return {}

    def n_features(self, spec: INRSpec) -> int:
        return spec.n_params

    def bind(self, net: BatchedINR) -> _BoundWeights:
        return _BoundWeights(net)


class _BoundWeights:
    weight_grads = True

    def __init__(self, net):
        self.net = net
        self.params = net.params

    def before_step(self):
        pass

    def after_step(self):
        pass

    def features(self) -> torch.Tensor:
        return self.net.theta()


class ShiftTrainer:
    """Fit per-image shift modulations of a fixed base network.

    Each image's network is the base with a shift added to the biases of
    its ``hidden_layers`` ``width -> width`` layers (layers
    ``1 .. hidden_layers``); the shifts start at zero and are the features.

    Parameters
    ----------
    base_theta : ndarray of shape (n_params,)
    """

    def __init__(self, base_theta: np.ndarray):
        self.base_theta = base_theta

    def key(self) -> dict:
        return {"trainer": "shift", "base": joblib.hash(self.base_theta)}

    def n_features(self, spec: INRSpec) -> int:
        return spec.hidden_layers * spec.hidden_features

    def bind(self, net: BatchedINR) -> _BoundShifts:
        return _BoundShifts(net)


class _BoundShifts:
    """Shifts of one batch: one padded tensor for Adam, a view per layer.

    A shift's gradient is its bias's gradient (the bias is base + shift), so
    it is copied from the network's bias gradients before each step.
    """

    weight_grads = False

    def __init__(self, net: BatchedINR):
        self.net = net
        width, depth = net.spec.hidden_features, net.spec.hidden_layers
        self.layers = range(1, depth + 1)
        # Padded like the network's own parameters: no scalar remainder in
        # Adam, so a shift's update does not depend on its batch.
        self.flat = torch.zeros(
            (net.batch_size, padded_pixels(depth * width)),
            dtype=net.flat.dtype,
            device=net.flat.device,
        )
        self.flat.grad = torch.zeros_like(self.flat)
        self.shifts = self.flat[:, : depth * width].view(-1, depth, width)
        self.grads = self.flat.grad[:, : depth * width].view(-1, depth, width)
        self.base_biases = [net.biases[k].clone() for k in self.layers]
        self.params = [self.flat]

    def before_step(self):
        for i, k in enumerate(self.layers):
            self.grads[:, i].copy_(self.net.bias_grads[k])

    def after_step(self):
        for i, k in enumerate(self.layers):
            torch.add(self.base_biases[i], self.shifts[:, i], out=self.net.biases[k])

    def features(self) -> torch.Tensor:
        return self.shifts.reshape(self.net.batch_size, -1).clone()


@torch.no_grad()
def train(
    net: BatchedINR,
    bound,
    targets: torch.Tensor,
    *,
    loss: str,
    lr: float,
    n_steps: int,
    record_steps=(),
    on_step=None,
    final: bool = True,
):
    """Run ``n_steps`` full-batch Adam steps on ``bound.params``.

    Parameters
    ----------
    net : BatchedINR
    bound : object
        A trainer bound to ``net`` (``trainer.bind(net)``).
    targets : tensor of shape (B, n_pixels, out_features)
    loss : {"bce", "mse"}
    lr : float
    n_steps : int
    record_steps : sequence of int, default=()
        Steps whose loss (before that step's update) is recorded.
    on_step : callable, default=None
        Called as ``on_step(step)`` after each update.
    final : bool, default=True
        Also run a forward pass after the last step, for the final loss and
        output.

    Returns
    -------
    history : tensor of shape (B, len(record_steps) + final)
        The recorded losses, then the final loss.
    output : tensor of shape (B, n_pixels, out_features) or None
        The reconstruction (``loss``'s inverse link applied) after the last
        step, with ``final``.
    """
    optimizer = make_adam(bound.params, lr)
    columns = {int(step): column for column, step in enumerate(record_steps)}
    history = torch.empty(
        (net.batch_size, len(columns) + int(final)),
        dtype=targets.dtype,
        device=targets.device,
    )
    for step in range(n_steps):
        losses = net.backward(
            targets,
            loss,
            weight_grads=bound.weight_grads,
            return_losses=step in columns,
        )
        if losses is not None:
            history[:, columns[step]] = losses
        bound.before_step()
        optimizer.step()
        bound.after_step()
        if on_step is not None:
            on_step(step)
    output = None
    if final:
        output = get_loss(loss).reconstruct(net.forward())
        history[:, -1] = net.losses(targets, loss)
    return history, output
