"""The batched forward/backward/Adam kernel behind :func:`fit_inrs`.

A batch of B independent INRs is held as stacked weights ``(B, out, in)``.
One training step runs one batched GEMM per layer forward and two backward,
with the gradients written by hand into buffers allocated once per batch,
chunk of pixels by chunk of pixels (see :data:`CHUNK_ROWS`).

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

# Rows (images x pixels) a chunk of the training step works on. Every
# pixel's forward and backward pass is independent of the others' but for
# the sums of the gradients, so a step runs chunk by chunk. On a CPU, small
# chunks keep the activations in cache between the GEMMs and the elementwise
# passes, and activation memory no longer grows with the image size. A GPU
# wants few, large kernels instead.
CHUNK_ROWS = {"cpu": 4096, "cuda": 2**18}
# Fewer pixels than this per image and chunk make the GEMMs inefficient.
MIN_CHUNK_PIXELS = 256


def chunk_pixels(batch: int, n_pixels: int, device_type: str = "cpu") -> int:
    """Pixels per chunk for a batch: about :data:`CHUNK_ROWS` rows in all."""
    rows = CHUNK_ROWS.get(device_type, CHUNK_ROWS["cpu"])
    return min(n_pixels, max(MIN_CHUNK_PIXELS, rows // max(1, batch)))


def activation_tensors_per_image(spec: INRSpec) -> float:
    """How many ``(chunk pixels, width)`` tensors one image holds in a step.

    SIREN keeps the pre-activation (its cosine is the backward's derivative)
    and the activation of every hidden layer; ReLU keeps only the activation
    (its sign is the derivative) plus a one-byte mask. Both add two gradient
    buffers that the backward pass ping-pongs between.
    """
    n_hidden = spec.hidden_layers + 1
    if spec.model == "siren":
        return 2.0 * n_hidden + 2.0
    return n_hidden + 2.0 + 0.25


def bytes_per_batch(
    spec: INRSpec,
    batch: int,
    n_pixels: int,
    itemsize: int = 4,
    device_type: str = "cpu",
) -> int:
    """Training memory of a batch: parameters, activations and outputs.

    Per image, ``4 * n_params`` numbers (parameters, gradients and Adam's two
    moments) and four ``n_pixels x out_features`` tensors (targets, outputs,
    their chunk copies); per chunk, :func:`activation_tensors_per_image`
    tensors of ``chunk_pixels x width`` for every image.
    """
    chunk = chunk_pixels(batch, n_pixels, device_type)
    per_image = 4 * spec.n_params + 4 * n_pixels * spec.out_features
    activations = activation_tensors_per_image(spec) * chunk * spec.hidden_features
    return int(batch * (per_image + activations) * itemsize)


class BatchedINR:
    """B INRs of one spec, trained together on one coordinate grid.

    Parameters
    ----------
    spec : INRSpec
    theta : tensor of shape (B, n_params)
        Initial parameters; copied.
    coords : tensor of shape (n_pixels, in_features)
    chunk : int, default=None
        Pixels per chunk; ``None`` takes :func:`chunk_pixels`.
    training : bool, default=True
        ``False`` allocates only what :meth:`forward` needs (rendering):
        no gradients and no backward buffers.
    """

    def __init__(
        self,
        spec: INRSpec,
        theta: torch.Tensor,
        coords: torch.Tensor,
        chunk: int | None = None,
        *,
        training: bool = True,
    ):
        self.spec = spec
        self.coords = coords
        batch, n_pixels = theta.shape[0], coords.shape[0]
        if chunk is None:
            chunk = chunk_pixels(batch, n_pixels, theta.device.type)
        self.chunk = chunk
        weights, biases = unflatten_theta(theta, spec.layer_shapes)
        # Separate contiguous tensors per layer: bmm wants contiguous matrices,
        # and Adam updates the list in one fused call.
        self.weights = [w.contiguous().clone() for w in weights]
        self.biases = [b.contiguous().clone() for b in biases]
        self.training = training
        if training:
            for p in self.params:
                p.grad = torch.zeros_like(p)
        self.output = torch.empty(
            (batch, n_pixels, spec.out_features), dtype=theta.dtype, device=theta.device
        )
        self._buffers: dict[int, dict] = {}

    @property
    def params(self) -> list[torch.Tensor]:
        return [p for pair in zip(self.weights, self.biases) for p in pair]

    def theta(self) -> torch.Tensor:
        return flatten_theta(self.weights, self.biases)

    def _chunks(self):
        n_pixels = self.coords.shape[0]
        for start in range(0, n_pixels, self.chunk):
            stop = min(start + self.chunk, n_pixels)
            yield slice(start, stop), self._chunk_buffers(stop - start)

    def _chunk_buffers(self, rows: int) -> dict:
        """Buffers for a chunk of ``rows`` pixels, allocated once and reused.

        SIREN: ``pre[k]`` holds omega_0 (W a + b), then (in the backward)
        its cosine; ``act[k]`` holds sin(pre[k]). ReLU: ``act[k]`` only.
        """
        buffers = self._buffers.get(rows)
        if buffers is None:
            batch, device = self.output.shape[0], self.output.device
            factory = {"dtype": self.output.dtype, "device": device}
            shape = (batch, rows, self.spec.hidden_features)
            n_hidden = self.spec.hidden_layers + 1
            siren = self.spec.model == "siren"
            buffers = {
                "act": [torch.empty(shape, **factory) for _ in range(n_hidden)],
                "pre": [torch.empty(shape, **factory) for _ in range(n_hidden)]
                if siren
                else None,
                "output": torch.empty((batch, rows, self.spec.out_features), **factory),
            }
            if self.training:  # what only the backward pass needs
                buffers["grad_act"] = [torch.empty(shape, **factory) for _ in range(2)]
                buffers["mask"] = (
                    None
                    if siren
                    else torch.empty(shape, dtype=torch.bool, device=device)
                )
                buffers["grad_output"] = torch.empty_like(buffers["output"])
            self._buffers[rows] = buffers
        return buffers

    def _layer_input(self, k: int, pixels: slice, buffers: dict) -> torch.Tensor:
        if k == 0:
            coords = self.coords[pixels]
            return coords.expand(self.output.shape[0], *coords.shape)
        return buffers["act"][k - 1]

    def _forward_chunk(self, pixels: slice, buffers: dict) -> torch.Tensor:
        omega = self.spec.omega_0
        n_layers = len(self.weights)
        act, pre = buffers["act"], buffers["pre"]
        for k in range(n_layers):
            weight_t = self.weights[k].transpose(1, 2)
            bias = self.biases[k].unsqueeze(1)
            inputs = self._layer_input(k, pixels, buffers)
            if k == n_layers - 1:
                torch.baddbmm(bias, inputs, weight_t, out=buffers["output"])
            elif pre is not None:
                # sin(omega (W a + b)) with omega folded into the GEMM.
                torch.baddbmm(
                    bias, inputs, weight_t, beta=omega, alpha=omega, out=pre[k]
                )
                torch.sin(pre[k], out=act[k])
            else:
                torch.baddbmm(bias, inputs, weight_t, out=act[k])
                act[k].clamp_(min=0)
        return buffers["output"]

    @torch.no_grad()
    def forward(self) -> torch.Tensor:
        """Return the output (logits or intensities) on every pixel."""
        for pixels, buffers in self._chunks():
            self.output[:, pixels] = self._forward_chunk(pixels, buffers)
        return self.output

    @torch.no_grad()
    def losses(self, targets: torch.Tensor, loss: str) -> torch.Tensor:
        """Each image's mean loss for the output of :meth:`forward`, shape (B,)."""
        return _pixel_losses(self.output, targets, loss).mean(dim=(1, 2))

    @torch.no_grad()
    def backward(
        self,
        targets: torch.Tensor,
        loss: str,
        *,
        weight_grads: bool = True,
        return_losses: bool = False,
    ):
        """Write d(sum of per-image mean losses)/d(params) into ``.grad``.

        Runs the forward pass too, chunk by chunk (no call to :meth:`forward`
        is needed). ``weight_grads=False`` writes only the biases' gradients
        (the weights' ``.grad`` keep stale values): fitting shift modulations
        needs no weight gradient, and skipping its GEMM saves a third of the
        work.

        Returns
        -------
        losses : tensor of shape (B,) or None
            With ``return_losses``: each image's mean loss before the update.
        """
        n_pixels, n_out = self.output.shape[1:]
        scale = 1.0 / (n_pixels * n_out)
        total = None
        for first, (pixels, buffers) in enumerate(self._chunks()):
            output = self._forward_chunk(pixels, buffers)
            chunk_targets = targets[:, pixels]
            if return_losses:
                chunk_loss = _pixel_losses(output, chunk_targets, loss).sum(dim=(1, 2))
                total = chunk_loss if total is None else total.add_(chunk_loss)
            grad = buffers["grad_output"]
            if loss == "bce":
                torch.sigmoid(output, out=grad)
                grad.sub_(chunk_targets).mul_(scale)
            else:
                torch.sub(output, chunk_targets, out=grad).mul_(2.0 * scale)
            self._backward_chunk(
                pixels, buffers, accumulate=first > 0, weight_grads=weight_grads
            )
        return None if total is None else total.mul_(scale)

    def _backward_chunk(self, pixels, buffers, *, accumulate, weight_grads):
        omega = self.spec.omega_0
        pre, act = buffers["pre"], buffers["act"]
        grad = buffers["grad_output"]
        n_layers = len(self.weights)
        for k in reversed(range(n_layers)):
            # Gradients w.r.t. the layer's GEMM output u; for a sine layer
            # u = omega (W a + b), hence the factor omega below.
            factor = omega if (pre is not None and k < n_layers - 1) else 1.0
            if weight_grads:
                # beta=0 ignores the stale contents (even NaN) on the first
                # chunk; later chunks add their share of the pixel sum.
                self.weights[k].grad.baddbmm_(
                    grad.transpose(1, 2),
                    self._layer_input(k, pixels, buffers),
                    beta=1.0 if accumulate else 0.0,
                    alpha=factor,
                )
            bias_grad = self.biases[k].grad
            if not accumulate:
                bias_grad.zero_()
            bias_grad.add_(grad.sum(dim=1), alpha=factor)
            if k == 0:
                break
            grad_in = buffers["grad_act"][k % 2]
            torch.baddbmm(
                grad_in, grad, self.weights[k], beta=0.0, alpha=factor, out=grad_in
            )
            if pre is not None:
                # d sin(u)/du = cos(u); the pre-activation is no longer needed.
                grad_in.mul_(torch.cos_(pre[k - 1]))
            else:
                torch.le(act[k - 1], 0, out=buffers["mask"])
                grad_in.masked_fill_(buffers["mask"], 0.0)
            grad = grad_in


def _pixel_losses(output: torch.Tensor, targets: torch.Tensor, loss: str):
    if loss == "bce":
        return F.binary_cross_entropy_with_logits(output, targets, reduction="none")
    return (output - targets).square_()


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
        losses = net.backward(targets, loss, return_losses=step in record)
        if losses is not None:
            history[:, column] = losses
            column += 1
        optimizer.step()
    output = net.forward()
    history[:, column] = net.losses(targets, loss)
    return net.theta(), output, history


@torch.no_grad()
def render_batch(
    spec: INRSpec, theta: torch.Tensor, coords: torch.Tensor
) -> torch.Tensor:
    """Network outputs ``(B, n_pixels, out)`` for theta, chunk by chunk."""
    return BatchedINR(spec, theta, coords, training=False).forward()
