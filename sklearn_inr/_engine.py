"""The batched forward/backward/Adam kernel behind :func:`fit_inrs`.

A batch of B independent INRs is held as stacked weights ``(B, out, in)``.
One training step runs one batched GEMM per layer forward and two backward,
with the gradients written by hand into buffers allocated once per batch.

Why by hand: autograd over stacked tensors allocates a fresh activation per
layer and step. On CPU, glibc serves every allocation above 32 MiB with a new
``mmap`` and page-faults it on first touch, so autograd ran at 0.3-0.7x a
naive per-image loop. Reused buffers, in-place elementwise ops and omega_0
folded into the GEMM's ``alpha``/``beta`` avoid all of that. The tests check
this kernel against a plain ``nn.Module`` + ``torch.optim.Adam`` loop.

Every image's loss is its own mean over pixels and the batch loss is their
sum, so each image's gradient is the one it would get alone; Adam is
elementwise, so each image follows exactly its solo trajectory.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._networks import INRSpec, flatten_theta, unflatten_theta


def activation_tensors_per_image(spec: INRSpec) -> float:
    """How many ``(pixels, width)`` tensors one image holds during training.

    SIREN keeps the pre-activation (its cosine is the backward's derivative)
    and the activation of every hidden layer; ReLU keeps only the activation
    (its sign is the derivative) plus a one-byte mask. Both add two gradient
    buffers that the backward pass ping-pongs between.
    """
    n_hidden = spec.hidden_layers + 1
    if spec.model == "siren":
        return 2.0 * n_hidden + 2.0
    return n_hidden + 2.0 + 0.25


def bytes_per_image(spec: INRSpec, n_pixels: int, itemsize: int = 4) -> int:
    """Training memory of one image: parameters and activations.

    ``4 * n_params`` numbers (parameters, gradients and Adam's two moments)
    plus :func:`activation_tensors_per_image` tensors of ``pixels x width``,
    plus the output, target and output-gradient tensors.
    """
    params = 4 * spec.n_params
    activations = activation_tensors_per_image(spec) * n_pixels * spec.hidden_features
    outputs = 4 * n_pixels * spec.out_features
    return int((params + activations + outputs) * itemsize)


class BatchedINR:
    """B INRs of one spec, trained together on one coordinate grid.

    Parameters
    ----------
    spec : INRSpec
    theta : tensor of shape (B, n_params)
        Initial parameters; copied.
    coords : tensor of shape (n_pixels, in_features)
    """

    def __init__(self, spec: INRSpec, theta: torch.Tensor, coords: torch.Tensor):
        self.spec = spec
        self.coords = coords
        batch, n_pixels = theta.shape[0], coords.shape[0]
        weights, biases = unflatten_theta(theta, spec.layer_shapes)
        # Separate contiguous tensors per layer: bmm wants contiguous matrices,
        # and Adam updates the list in one fused call.
        self.weights = [w.contiguous().clone() for w in weights]
        self.biases = [b.contiguous().clone() for b in biases]
        for p in self.params:
            p.grad = torch.zeros_like(p)
        factory = {"dtype": theta.dtype, "device": theta.device}
        width, n_hidden = spec.hidden_features, spec.hidden_layers + 1
        shape = (batch, n_pixels, width)
        # SIREN: pre[k] holds omega_0 * (W a + b), then (in the backward) its
        # cosine; act[k] holds sin(pre[k]). ReLU: act[k] only.
        self.act = [torch.empty(shape, **factory) for _ in range(n_hidden)]
        self.pre = (
            [torch.empty(shape, **factory) for _ in range(n_hidden)]
            if spec.model == "siren"
            else None
        )
        self.grad_act = [torch.empty(shape, **factory) for _ in range(2)]
        self.mask = (
            torch.empty(shape, dtype=torch.bool, device=theta.device)
            if spec.model == "relu"
            else None
        )
        self.output = torch.empty((batch, n_pixels, spec.out_features), **factory)
        self.grad_output = torch.empty_like(self.output)

    @property
    def params(self) -> list[torch.Tensor]:
        return [p for pair in zip(self.weights, self.biases) for p in pair]

    def theta(self) -> torch.Tensor:
        return flatten_theta(self.weights, self.biases)

    def _layer_input(self, k: int) -> torch.Tensor:
        if k == 0:
            return self.coords.expand(self.output.shape[0], *self.coords.shape)
        return self.act[k - 1]

    @torch.no_grad()
    def forward(self) -> torch.Tensor:
        """Fill the activations and return the output (logits or intensities)."""
        omega = self.spec.omega_0
        n_layers = len(self.weights)
        for k in range(n_layers):
            weight_t = self.weights[k].transpose(1, 2)
            bias = self.biases[k].unsqueeze(1)
            inputs = self._layer_input(k)
            if k == n_layers - 1:
                torch.baddbmm(bias, inputs, weight_t, out=self.output)
            elif self.pre is not None:
                # sin(omega (W a + b)) with omega folded into the GEMM.
                torch.baddbmm(
                    bias, inputs, weight_t, beta=omega, alpha=omega, out=self.pre[k]
                )
                torch.sin(self.pre[k], out=self.act[k])
            else:
                torch.baddbmm(bias, inputs, weight_t, out=self.act[k])
                self.act[k].clamp_(min=0)
        return self.output

    @torch.no_grad()
    def losses(self, targets: torch.Tensor, loss: str) -> torch.Tensor:
        """Each image's mean loss for the current output, shape (B,)."""
        out = self.output
        if loss == "bce":
            per_pixel = F.binary_cross_entropy_with_logits(
                out, targets, reduction="none"
            )
        else:
            per_pixel = (out - targets).square_()
        return per_pixel.mean(dim=(1, 2))

    @torch.no_grad()
    def backward(
        self, targets: torch.Tensor, loss: str, *, weight_grads: bool = True
    ) -> None:
        """Write d(sum of per-image mean losses)/d(params) into ``.grad``.

        Call right after :meth:`forward`; it consumes the stored
        pre-activations. ``weight_grads=False`` writes only the biases'
        gradients (the weights' ``.grad`` keep stale values): fitting shift
        modulations needs no weight gradient, and skipping its GEMM saves a
        third of the work.
        """
        omega = self.spec.omega_0
        n_pixels, n_out = self.output.shape[1:]
        scale = 1.0 / (n_pixels * n_out)
        grad = self.grad_output
        if loss == "bce":
            torch.sigmoid(self.output, out=grad)
            grad.sub_(targets).mul_(scale)
        else:
            torch.sub(self.output, targets, out=grad).mul_(2.0 * scale)

        n_layers = len(self.weights)
        for k in reversed(range(n_layers)):
            # Gradients w.r.t. the layer's GEMM output u; for a sine layer
            # u = omega (W a + b), hence the factor omega below.
            factor = omega if (self.pre is not None and k < n_layers - 1) else 1.0
            inputs = self._layer_input(k)
            weight_grad = self.weights[k].grad
            if weight_grads:
                torch.baddbmm(
                    weight_grad,
                    grad.transpose(1, 2),
                    inputs,
                    beta=0.0,
                    alpha=factor,
                    out=weight_grad,
                )
            torch.sum(grad, dim=1, out=self.biases[k].grad)
            if factor != 1.0:
                self.biases[k].grad.mul_(factor)
            if k == 0:
                break
            grad_in = self.grad_act[k % 2]
            torch.baddbmm(
                grad_in, grad, self.weights[k], beta=0.0, alpha=factor, out=grad_in
            )
            if self.pre is not None:
                # d sin(u)/du = cos(u); the pre-activation is no longer needed.
                grad_in.mul_(torch.cos_(self.pre[k - 1]))
            else:
                torch.le(self.act[k - 1], 0, out=self.mask)
                grad_in.masked_fill_(self.mask, 0.0)
            grad = grad_in


def make_adam(params: list[torch.Tensor], lr: float) -> torch.optim.Adam:
    """``torch.optim.Adam`` with its defaults, fused where the device allows."""
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, TypeError):  # pragma: no cover - older torch / device
        return torch.optim.Adam(params, lr=lr)


def train_batch(
    spec: INRSpec,
    theta: torch.Tensor,
    targets: torch.Tensor,
    coords: torch.Tensor,
    *,
    loss: str,
    lr: float,
    n_steps: int,
    record_steps: torch.Tensor,
):
    """Train a batch of INRs; return final theta, output and loss history.

    Returns
    -------
    theta : tensor (B, n_params)
    output : tensor (B, n_pixels, out_features)
        Network output for the final parameters.
    history : tensor (B, len(record_steps) + 1)
        Loss before the update at each recorded step, then the final loss.
    """
    net = BatchedINR(spec, theta, coords)
    optimizer = make_adam(net.params, lr)
    history = torch.empty(
        (theta.shape[0], len(record_steps) + 1), dtype=theta.dtype, device=theta.device
    )
    record = set(record_steps.tolist())
    column = 0
    for step in range(n_steps):
        net.forward()
        if step in record:
            history[:, column] = net.losses(targets, loss)
            column += 1
        net.backward(targets, loss)
        optimizer.step()
    output = net.forward()
    history[:, column] = net.losses(targets, loss)
    return net.theta(), output, history


@torch.no_grad()
def render_batch(
    spec: INRSpec, theta: torch.Tensor, coords: torch.Tensor, max_elements: int
) -> torch.Tensor:
    """Network outputs ``(B, n_pixels, out)`` for theta, in pixel chunks.

    ``max_elements`` bounds ``B x chunk x width`` so that rendering at a high
    resolution stays within memory.
    """
    batch, n_pixels = theta.shape[0], coords.shape[0]
    chunk = max(1, max_elements // max(1, batch * spec.hidden_features))
    outputs = []
    for start in range(0, n_pixels, chunk):
        net = BatchedINR(spec, theta, coords[start : start + chunk])
        outputs.append(net.forward().clone())
    return torch.cat(outputs, dim=1)
