"""One training loop, and the trainers that say what it fits per image.

Every fit in the package runs :func:`train`: full-batch Adam (or K-FAC) on what a
*trainer* exposes, with a hook after each step. :class:`WeightsTrainer`
fits all of each image's parameters; :class:`ShiftTrainer` fits per-image
shift modulations of a fixed base network (functa). The meta-learning of
:mod:`sklearn_inr.learned._meta` runs the same loop as its inner loop.

The loop and the trainers see the batch of networks only through the
:class:`~sklearn_inr.core.Engine` interface, so another compute backend
drops in without a change here.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import NamedTuple

import joblib
import numpy as np
import torch

from ..core import Engine, INRSpec, KFACBlock, get_loss, padded_pixels
from ._optimizers import make_optimizer

__all__ = [
    "GAIN_FROM",
    "GIVE_UP_AFTER",
    "ShiftTrainer",
    "TrainResult",
    "WeightsTrainer",
    "train",
]


#: ``stop_unreachable`` judges a fit from this step on. Where a fit's PSNR
#: grows fastest early and slows as it nears its image (as the fits from a
#: learned init measured), its mean gain per step over-promises for the
#: steps left; Adam's first few steps, still settling, are not judged.
GIVE_UP_AFTER = 10
#: ... and measures its mean gain per step from the first check at or after
#: this step. The first few steps move the output's level, not its detail:
#: measured on 240 x 240 cohort slices and pure noise from cpu-240's learned
#: init (lr 1.5e-3), noise jumped from 5.8 to 9.2 dB in 5 steps and then
#: gained 0.03 dB a step, so a gain counted from step 0 kept it going to step
#: 22 or 23; counted from step 5, it is given up at step 10, and every slice
#: that reached 35 dB by the cap (10 of 12, at steps 49 to 89) still does.
GAIN_FROM = 5


class WeightsTrainer:
    """Fit every parameter of each image's network; its features are theta.

    Parameters
    ----------
    step_sizes : ndarray of shape (n_learned, n_params), default=None
        Learned gradient steps taken first (the task-aware init's): step
        ``t < n_learned`` is ``theta -= step_sizes[t] * grad``, then the
        fit's optimizer takes over.
    """

    def __init__(self, step_sizes: np.ndarray | None = None):
        self.step_sizes = step_sizes

    def key(self) -> dict:
        # Plain fits keep the keys they had before learned steps existed.
        if self.step_sizes is None:
            return {}
        return {"learned_steps": joblib.hash(np.asarray(self.step_sizes))}

    def n_features(self, spec: INRSpec) -> int:
        return spec.n_params

    def bind(self, net: Engine) -> _BoundWeights:
        return _BoundWeights(net, self.step_sizes)


class _BoundWeights:
    weight_grads = True

    def __init__(self, net, step_sizes=None):
        self.net = net
        self.params = net.params
        self.step_sizes = step_sizes

    def before_step(self):
        pass

    def after_step(self):
        pass

    def select(self, rows):
        self.params = self.net.params

    def features(self) -> torch.Tensor:
        return self.net.theta()

    def kfac_blocks(self) -> list[KFACBlock]:
        """Every layer, the output layer without its padding row."""
        net, n_out = self.net, self.net.spec.out_features
        parts = zip(net.weights, net.biases, net.weight_grads, net.bias_grads)
        blocks = [KFACBlock(k, *layer) for k, layer in enumerate(parts)]
        last = blocks[-1]
        blocks[-1] = KFACBlock(last.layer, *(part[:, :n_out] for part in last[1:]))
        return blocks


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

    def bind(self, net: Engine) -> _BoundShifts:
        return _BoundShifts(net)


class _BoundShifts:
    """Shifts of one batch: one padded tensor for Adam, a view per layer.

    A shift's gradient is its bias's gradient (the bias is base + shift), so
    it is copied from the network's bias gradients before each step.
    """

    weight_grads = False

    def __init__(self, net: Engine):
        self.net = net
        width, depth = net.spec.hidden_features, net.spec.hidden_layers
        self.layers = range(1, depth + 1)
        # Padded like the network's own parameters: no scalar remainder in
        # Adam, so a shift's update does not depend on its batch.
        self.flat = torch.zeros(
            (net.batch_size, padded_pixels(depth * width)),
            dtype=net.dtype,
            device=net.device,
        )
        self.flat.grad = torch.zeros_like(self.flat)
        self.base_biases = net.get_biases(self.layers)
        self._views()

    def _views(self):
        depth, width = self.net.spec.hidden_layers, self.net.spec.hidden_features
        self.shifts = self.flat[:, : depth * width].view(-1, depth, width)
        self.grads = self.flat.grad[:, : depth * width].view(-1, depth, width)
        self.params = [self.flat]

    def select(self, rows):
        grad = self.flat.grad
        self.flat = self.flat[rows].clone()
        self.flat.grad = grad[rows].clone()
        self.base_biases = self.base_biases[rows]
        self._views()

    def before_step(self):
        self.grads.copy_(self.net.get_bias_grads(self.layers))

    def after_step(self):
        self.net.set_biases(self.layers, torch.add(self.base_biases, self.shifts))

    def features(self) -> torch.Tensor:
        return self.shifts.reshape(self.net.batch_size, -1).clone()

    def kfac_blocks(self) -> list[KFACBlock]:
        """One bias-only block per shifted layer."""
        return [
            KFACBlock(k, None, self.shifts[:, i], None, self.grads[:, i])
            for i, k in enumerate(self.layers)
        ]


class TrainResult(NamedTuple):
    """What :func:`train` returns, one row per network of the batch."""

    history: torch.Tensor  # (B, len(record_steps) + final): losses, then final
    output: torch.Tensor | None  # (B, n_pixels, out): reconstruction, if final
    features: torch.Tensor  # (B, n_features): what the trainer fitted
    n_steps: np.ndarray  # (B,): steps each network took


@torch.no_grad()
def train(
    net: Engine,
    bound,
    targets: torch.Tensor,
    *,
    loss: str,
    lr: float,
    n_steps: int,
    record_steps=(),
    on_step=None,
    final: bool = True,
    target_psnr: float | None = None,
    check_every: int = 10,
    stop_unreachable: bool = False,
    on_record=None,
    optimizer: str = "adam",
) -> TrainResult:
    """Run up to ``n_steps`` full-batch steps on ``bound.params``.

    Parameters
    ----------
    net : Engine
    bound : object
        A trainer bound to ``net`` (``trainer.bind(net)``).
    targets : tensor of shape (B, n_pixels, out_features)
    loss : {"bce", "mse"}
    lr : float
    n_steps : int
    record_steps : range or increasing sequence of int, default=()
        Steps whose loss (before that step's update) is recorded. The history
        grows with the steps taken, not with ``n_steps``: a ``range`` (what
        the runner passes) costs nothing until its steps are reached.
    on_step : callable, default=None
        Called as ``on_step(step)`` after each update.
    final : bool, default=True
        Also run a forward pass after the last step, for the final loss and
        output.
    target_psnr : float, default=None
        Every ``check_every`` steps (before that step's update), each network
        whose reconstruction reaches this PSNR (dB, data range 1) stops and
        leaves the batch, which goes on without it. Its recorded losses after
        it stopped repeat its final loss.
    check_every : int, default=10
    stop_unreachable : bool, default=False
        With ``target_psnr``: from step :data:`GIVE_UP_AFTER` on, a network
        also stops at a check when its PSNR, growing at its mean gain per
        step since the first check at or after step :data:`GAIN_FROM`, would
        end below the target at ``n_steps``.
    on_record : callable, default=None
        Called as ``on_record(step, losses, mse)`` with the losses of the
        networks still in the batch whenever they are computed (recorded or
        checked steps); ``mse`` is their reconstruction error (also computed
        on recorded steps when ``on_record`` is given: a reduction beside
        the loss, which changes no number). For progress reports.

    Returns
    -------
    result : TrainResult
        Its history has one column per recorded step below the most steps
        any network took (all of ``record_steps`` below ``n_steps`` unless
        every network stopped early), then the final loss if ``final``.
    """
    n_networks, targets_all = targets.shape[0], targets
    optimizer = make_optimizer(optimizer, net, bound, lr=lr, loss=loss)
    columns = _Columns(record_steps)
    history = _History(n_networks, len(columns), targets)
    stopped = _Stopped(n_networks, n_steps)
    active = torch.arange(n_networks, device=targets.device)
    # The first check at or after GAIN_FROM: its step, and the PSNR then of
    # the networks still in the batch.
    anchor_step, anchor_psnr = None, None
    for step in range(n_steps):
        check = target_psnr is not None and step % check_every == 0
        column = columns.get(step)
        record = column is not None
        want_mse = check or (record and on_record is not None)
        losses = net.backward(
            targets,
            loss,
            weight_grads=bound.weight_grads,
            return_losses=record or check or optimizer.needs_losses,
            return_mse=want_mse,
        )
        mse = None
        if want_mse:
            losses, mse = losses
        if record:
            history.write(active, column, losses)
        if on_record is not None and (record or check):
            on_record(step, losses, mse)
        if check:
            psnr = _psnr(mse)
            reached = psnr >= target_psnr
            if stop_unreachable and anchor_psnr is None:
                if step >= GAIN_FROM:
                    anchor_step, anchor_psnr = step, psnr
            elif stop_unreachable and step >= GIVE_UP_AFTER:
                rate = (psnr - anchor_psnr) / (step - anchor_step)
                reached |= psnr + rate * (n_steps - step) < target_psnr
            if reached.any():
                stopped.add(
                    active[reached],
                    step,
                    losses[reached],
                    bound.features()[reached],
                    net.theta()[reached],
                )
                keep = ~reached
                active, targets = active[keep], targets[keep]
                if not len(active):
                    break
                net.select(keep)
                bound.select(keep)
                optimizer.select(keep)
                losses = losses[keep]
                if anchor_psnr is not None:
                    anchor_psnr = anchor_psnr[keep]
        bound.before_step()
        optimizer.step(losses)
        bound.after_step()
        if on_step is not None:
            on_step(step)
    # Only the columns of steps some network took: a cap of 10**8 steps that
    # stops at step 20 keeps two records, not ten million.
    n_taken = int(stopped.n_steps.max()) if n_networks else 0
    history = history.columns(columns.n_before(n_taken), final)
    output = torch.empty_like(targets_all) if final else None
    running = bound.features()  # of the networks still in the batch
    features = torch.empty(
        (n_networks, running.shape[1]), dtype=running.dtype, device=running.device
    )
    if len(active):
        features[active] = running
        if final:
            output[active] = get_loss(loss).reconstruct(net.forward())
            history[active, -1] = net.losses(targets, loss)
    if stopped.rows:
        rows = torch.cat(stopped.rows)
        features[rows] = torch.cat(stopped.features)
        if final:
            history[rows, -1] = torch.cat(stopped.losses)
            thetas = torch.cat(stopped.thetas)
            output[rows] = get_loss(loss).reconstruct(net.render(thetas))
        # Recorded steps after a network stopped repeat its final loss.
        final_loss = history[rows, -1:].expand(-1, history.shape[1])
        history[rows] = torch.where(history[rows].isnan(), final_loss, history[rows])
    return TrainResult(history, output, features, stopped.n_steps)


class _Columns:
    """The history column of each recorded step, in O(1) memory for a range."""

    def __init__(self, steps):
        self.range = steps if isinstance(steps, range) else None
        if self.range is None:
            self.steps = [int(step) for step in steps]
            self.lookup = {step: column for column, step in enumerate(self.steps)}

    def __len__(self) -> int:
        return len(self.range if self.range is not None else self.steps)

    def get(self, step: int) -> int | None:
        if self.range is not None:
            return self.range.index(step) if step in self.range else None
        return self.lookup.get(step)

    def n_before(self, n_taken: int) -> int:
        """How many recorded steps come before step ``n_taken``."""
        if self.range is not None:
            steps = self.range
            stop = min(steps.stop, max(n_taken, steps.start))
            return len(range(steps.start, stop, steps.step))
        return bisect_left(self.steps, n_taken)


class _History:
    """Recorded losses of a batch, grown in blocks as steps are taken."""

    BLOCK = 256

    def __init__(self, n_networks, n_columns, like):
        self.n_columns = n_columns
        self.values = torch.full(
            (n_networks, min(n_columns, self.BLOCK)),
            torch.nan,
            dtype=like.dtype,
            device=like.device,
        )

    def write(self, rows, column, losses):
        if column >= self.values.shape[1]:
            self._grow(column + 1)
        self.values[rows, column] = losses

    def _grow(self, needed):
        size = min(self.n_columns, max(needed, 2 * self.values.shape[1]))
        grown = torch.full(
            (self.values.shape[0], size),
            torch.nan,
            dtype=self.values.dtype,
            device=self.values.device,
        )
        grown[:, : self.values.shape[1]] = self.values
        self.values = grown

    def columns(self, n_kept, final) -> torch.Tensor:
        """The first ``n_kept`` columns, then a (NaN) final one if ``final``."""
        if n_kept > self.values.shape[1]:
            self._grow(n_kept)
        kept = self.values[:, :n_kept]
        if not final:
            return kept.clone()
        last = torch.full(
            (kept.shape[0], 1), torch.nan, dtype=kept.dtype, device=kept.device
        )
        return torch.cat([kept, last], dim=1)


class _Stopped:
    """The networks that stopped early, with their state at that step."""

    def __init__(self, n_networks, n_steps):
        self.rows, self.losses, self.features, self.thetas = [], [], [], []
        self.n_steps = np.full(n_networks, n_steps, dtype=np.int64)

    def add(self, rows, step, losses, features, thetas):
        self.rows.append(rows)
        self.losses.append(losses)
        self.features.append(features)
        self.thetas.append(thetas)
        self.n_steps[rows.cpu().numpy()] = step


def _psnr(mse: torch.Tensor) -> torch.Tensor:
    """PSNR in dB for data range 1 (infinite for a perfect fit)."""
    return -10.0 * torch.log10(mse)
