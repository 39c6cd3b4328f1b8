"""K-FAC: per-network Kronecker-factored natural-gradient steps for a batch of INRs.

Fitting an INR is full-batch least squares (or cross-entropy) on a few
thousand to a few hundred thousand pixels: the setting where curvature-aware
steps pay. For each network and each dense layer, the Gauss-Newton block of
its mean loss is approximated by ``A (x) G`` (Martens & Grosse, 2015): ``A``
the second moment of the layer's inputs (a 1 appended for the bias), ``G``
that of the gradients at its output, both over the image's pixels (see
:meth:`~sklearn_inr.core.BatchedINR.kronecker_factors`). A step solves
``(A (x) G + lambda) d = grad`` in the factors' eigenbases (the damping is
added to the eigenvalue products, not to each factor) and bounds the step's
length in that norm: ``lr**2 d.(F + lambda) d <= max_step`` per network (the
"KL clipping" of Ba et al., 2017). Each network's damping ``lambda`` adapts
as Levenberg-Marquardt's does: up when a step did worse than its quadratic
model predicted, down when it did as well.

Everything is per network: an image's step never reads another image's
numbers, so its theta does not depend on its batch. The factors and their
eigendecompositions are refreshed every ``refresh_every`` steps, from at
most ``factor_pixels`` pixels spread over the image.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from ._buffers import padded_pixels

__all__ = ["KFAC", "KFACBlock", "KFAC_DEFAULTS"]

# Tuned on the cohort's 64 x 64 slices for the width-64 SIREN and the
# paper's (benchmarks/bench_quality.py; the performance guide has the
# table). The damping is relative: a fraction of the mean eigenvalue product
# of each layer's two factors, so it does not depend on the loss's scale or
# the layer's width. Momentum made the steps erratic and is left out.
KFAC_DEFAULTS = {
    "damping": 0.1,
    "refresh_every": 5,
    "max_step": 1.0,
    "factor_pixels": 16_384,
}
# Levenberg-Marquardt adaptation of each network's damping (Martens & Grosse,
# 2015, section 6.5): the factor per step, the factor after a step that
# raised the loss (and was undone), and the range the damping stays in.
_DAMPING_FACTOR = 1.5
_UNDO_FACTOR = 4.0
_DAMPING_RANGE = (1e-6, 1e3)
# Seeds the +-1 probes of images with several channels; one probe per
# refresh, shared by every network of every batch (it depends on the step
# and the pixel count only).
_PROBE_SEED = 20_201_217


class KFACBlock(NamedTuple):
    """One layer's parameters and gradients as K-FAC steps them.

    ``weight`` and ``weight_grad`` are None for a bias-only block (the shift
    modulations of :func:`~sklearn_inr.fit_shifts`).
    """

    layer: int
    weight: torch.Tensor | None  # (B, out, in)
    bias: torch.Tensor  # (B, out)
    weight_grad: torch.Tensor | None
    bias_grad: torch.Tensor


class KFAC:
    """Natural-gradient steps on a batch of INRs, one K-FAC per network.

    Parameters
    ----------
    net : Engine
        A batch with :meth:`~sklearn_inr.core.BatchedINR.kronecker_factors`.
    blocks : callable
        Returns the :class:`KFACBlock` list to step (views into the
        parameters; called at every step, since :meth:`select` re-makes
        them).
    lr : float
        Step size along the natural gradient: 1 is a damped Gauss-Newton
        step (``max_step`` bounds it).
    loss : {"bce", "mse"}
    damping : float, default=0.1
        Each network's starting damping, relative to each layer's mean
        eigenvalue product; it then adapts.
    refresh_every : int, default=5
        Steps between two computations of the factors.
    max_step : float, default=1.0
        Bound on ``lr**2 d.(F + lambda) d``, the squared step length.
    factor_pixels : int, default=16384
        The factors are estimated from at most about this many pixels, in
        chunks spread evenly over the image.

    Examples
    --------
    >>> import torch
    >>> from sklearn_inr.core import BatchedINR, INRSpec, make_coordinates
    >>> from sklearn_inr.core._kfac import KFAC, KFACBlock
    >>> spec = INRSpec("siren", hidden_features=8, hidden_layers=1)
    >>> theta = torch.randn(2, spec.n_params) * 0.1
    >>> net = BatchedINR(spec, theta, make_coordinates((8, 8)))
    >>> blocks = lambda: [KFACBlock(k, w, b, gw, gb) for k, (w, b, gw, gb)
    ...     in enumerate(zip(net.weights, net.biases, net.weight_grads,
    ...                      net.bias_grads))][:-1]
    >>> optimizer = KFAC(net, blocks, lr=1.0, loss="mse")
    >>> losses = net.backward(torch.rand(2, 64, 1), "mse", return_losses=True)
    >>> optimizer.step(losses)
    >>> optimizer.n_steps
    1
    """

    # The training loop passes each step's losses (before the step): they
    # adapt the damping and undo bad steps.
    needs_losses = True

    def __init__(
        self,
        net,
        blocks,
        *,
        lr: float,
        loss: str,
        damping: float = KFAC_DEFAULTS["damping"],
        refresh_every: int = KFAC_DEFAULTS["refresh_every"],
        max_step: float = KFAC_DEFAULTS["max_step"],
        factor_pixels: int = KFAC_DEFAULTS["factor_pixels"],
    ):
        self.net, self.blocks = net, blocks
        self.lr, self.loss = float(lr), loss
        self.damping, self.refresh_every = damping, refresh_every
        self.max_step, self.factor_pixels = max_step, factor_pixels
        self.n_steps = 0
        # Per block: the factors' eigenbases, their eigenvalue products and
        # the damping's unit. Per network: its damping, and its parameters,
        # gradients, loss and predicted change before the last step.
        self.bases = None
        self.lambdas, self._previous = None, None

    def _probe(self) -> torch.Tensor:
        n_rows, n_out = padded_pixels(self.net.n_pixels), self.net.spec.out_features
        if n_out == 1:  # one output: the probe is exact, nothing to draw
            return torch.ones((n_rows, 1), dtype=self.net.dtype, device=self.net.device)
        generator = torch.Generator().manual_seed(_PROBE_SEED + self.n_steps)
        signs = torch.randint(0, 2, (n_rows, n_out), generator=generator)
        return (2.0 * signs - 1.0).to(self.net.dtype).to(self.net.device)

    def _refresh(self, blocks) -> None:
        factors = self.net.kronecker_factors(
            self.loss,
            self._probe(),
            [block.layer for block in blocks],
            max_pixels=self.factor_pixels,
        )
        self.bases = []
        for block in blocks:
            input_factor, output_factor = factors[block.layer]
            if block.weight is None:  # a bias sees the constant input 1
                input_factor = input_factor[:, -1:, -1:]
            # In float64: the eigenvalues span many decades.
            input_values, input_basis = torch.linalg.eigh(input_factor.double())
            output_values, output_basis = torch.linalg.eigh(output_factor.double())
            input_values, output_values = input_values.clamp(0), output_values.clamp(0)
            products = output_values[:, :, None] * input_values[:, None, :]
            # The damping's unit: the layer's mean eigenvalue product (so the
            # damping does not depend on the loss's scale or the width).
            unit = (input_values.mean(1) * output_values.mean(1)).clamp_(
                min=torch.finfo(torch.float32).tiny
            )
            dtype = self.net.dtype
            self.bases.append(
                tuple(
                    part.to(dtype)
                    for part in (input_basis, output_basis, products, unit)
                )
            )

    @staticmethod
    def _gradient(block) -> torch.Tensor:
        bias_grad = block.bias_grad.unsqueeze(2)
        if block.weight_grad is None:
            return bias_grad.clone()
        return torch.cat([block.weight_grad, bias_grad], dim=2)

    def _adapt(self, blocks, gradients, losses: torch.Tensor) -> torch.Tensor:
        """Levenberg-Marquardt, per network: more damping where the last step
        did worse than its quadratic model predicted, less where it did as
        well. A step that raised the loss (or made it NaN) is undone: that
        network goes back to its parameters and gradient before it, with
        much more damping. Returns the losses at the points kept."""
        params, old_gradients, previous, predicted = self._previous
        ratio = (losses - previous) / predicted
        ratio = torch.where(predicted < 0, ratio, torch.ones_like(ratio))
        worse = ~(losses <= previous)  # NaN too
        ones = torch.ones_like(self.lambdas)
        factor = torch.where(
            ratio < 0.25,
            ones * _DAMPING_FACTOR,
            torch.where(ratio > 0.75, ones / _DAMPING_FACTOR, ones),
        )
        factor = torch.where(worse, ones * _UNDO_FACTOR, factor)
        self.lambdas = (self.lambdas * factor).clamp_(*_DAMPING_RANGE)
        if not worse.any():
            return losses
        for block, gradient, (weight, bias), old_gradient in zip(
            blocks, gradients, params, old_gradients
        ):
            if block.weight is not None:
                block.weight[worse] = weight[worse]
            block.bias[worse] = bias[worse]
            gradient[worse] = old_gradient[worse]
        return torch.where(worse, previous, losses)

    @torch.no_grad()
    def step(self, losses: torch.Tensor | None = None) -> None:
        """One step from the gradients in the blocks (after ``backward``).

        ``losses`` (each network's loss before this step) adapt the damping
        and undo steps that raised the loss; without them the damping stays
        at ``damping`` and every step is kept.
        """
        blocks = self.blocks()
        if self.lambdas is None:
            self.lambdas = torch.full(
                (blocks[0].bias.shape[0],), self.damping,
                dtype=self.net.dtype, device=self.net.device,
            )  # fmt: skip
        gradients = [self._gradient(block) for block in blocks]
        if losses is not None and self._previous is not None:
            losses = self._adapt(blocks, gradients, losses)
        if self.n_steps % self.refresh_every == 0:
            self._refresh(blocks)
        # The gradient in each layer's eigenbasis, divided by the damped
        # eigenvalue products there: the step d (still rotated). The
        # quadratic model along d follows in that basis: its slope d.grad
        # and its curvature d.F d, with and without the damping.
        steps, slope, curvature, damped_curvature = [], 0.0, 0.0, 0.0
        for gradient, basis in zip(gradients, self.bases):
            input_basis, output_basis, products, unit = basis
            rotated = _per_network(output_basis.transpose(1, 2), gradient, input_basis)
            damped = products + (self.lambdas * unit)[:, None, None]
            step = rotated / damped
            squares = step.square()
            slope = slope + (step * rotated).sum(dim=(1, 2))
            curvature = curvature + (squares * products).sum(dim=(1, 2))
            damped_curvature = damped_curvature + (squares * damped).sum(dim=(1, 2))
            steps.append(step)
        # The step's squared length lr**2 d.(F + damping) d is bounded by
        # max_step per network (Ba et al.'s "KL clipping").
        length = (damped_curvature * self.lr**2).clamp_(
            min=torch.finfo(damped_curvature.dtype).tiny
        )
        scale = torch.clamp(self.max_step / length, max=1.0).sqrt_().mul_(self.lr)
        if losses is not None:
            params = [
                (
                    None if block.weight is None else block.weight.clone(),
                    block.bias.clone(),
                )
                for block in blocks
            ]
            predicted = scale * (0.5 * scale * curvature - slope)
            self._previous = (params, gradients, losses, predicted)
        for block, step, basis in zip(blocks, steps, self.bases):
            input_basis, output_basis = basis[:2]
            update = _per_network(
                output_basis,
                step.mul_(scale[:, None, None]),
                input_basis.transpose(1, 2),
            )
            if block.weight is not None:
                block.weight.sub_(update[:, :, :-1])
            block.bias.sub_(update[:, :, -1])
        self.n_steps += 1

    def select(self, rows) -> None:
        """Keep the state of networks ``rows`` (the engine kept the same)."""
        if self.lambdas is not None:
            self.lambdas = self.lambdas[rows]
        if self._previous is not None:
            params, gradients, losses, predicted = self._previous
            self._previous = (
                [
                    tuple(None if part is None else part[rows] for part in p)
                    for p in params
                ],
                [gradient[rows] for gradient in gradients],
                losses[rows],
                predicted[rows],
            )
        if self.bases is not None:
            self.bases = [tuple(part[rows] for part in basis) for basis in self.bases]


def _per_network(left, middle, right) -> torch.Tensor:
    """``left @ middle @ right`` one network at a time.

    Batched products of small matrices (3 rows, as for three channels) round
    differently with the batch's size on CPU; one network at a time, an
    image's numbers never depend on its batch.
    """
    return torch.cat(
        [
            left[i : i + 1] @ middle[i : i + 1] @ right[i : i + 1]
            for i in range(middle.shape[0])
        ]
    )
