"""The batched forward/backward kernel: B independent INRs of one spec at once.

A batch of B INRs is held as stacked weights ``(B, out, in)``. One training
step runs one batched GEMM per layer forward and two backward, with the
gradients written by hand into buffers allocated once per batch, one *chunk*
(a group of images times a run of pixels, see :func:`chunk_shape`) at a time.

Why by hand: autograd over stacked tensors allocates a fresh activation per
layer and step. On CPU, glibc serves every allocation above 32 MiB with a new
``mmap`` and page-faults it on first touch, so autograd ran at 0.3-0.7x a
naive per-image loop. Reused buffers, in-place elementwise ops and omega_0
folded into the GEMM's ``alpha``/``beta`` avoid all of that. The tests check
this kernel against a plain ``nn.Module`` + ``torch.optim.Adam`` loop.

Every image's loss is its own mean over pixels and the batch loss is their
sum, so each image's gradient is the one it would get alone; Adam is
elementwise, so each image follows its solo trajectory.

**Same bits whatever the batch.** On one CPU thread, every floating-point
operation an image sees is the same whatever its batch and neighbours:

- its pixels are cut into chunks that depend only on its pixel count, never
  on the batch, so the gradient sums always add the same partial sums in the
  same order;
- its pixel count is padded to a multiple of :data:`PIXEL_ALIGN` (padded
  pixels get a zero gradient), so the elementwise kernels never process an
  image's values in their scalar remainder loop, which rounds differently
  from their vector loop;
- the output layer has at least two rows (a zero row is added for one
  channel): a single-row product of a batch of one goes through a
  matrix-vector kernel that rounds differently from the batched GEMM.

Several CPU threads split some reductions by thread count, which changes the
rounding, so the runner trains each batch on one thread
(:mod:`sklearn_inr.fitting._runner`). GPU kernels make no such promise.
"""

from __future__ import annotations

import torch

from ._buffers import (  # noqa: F401 - the engine's public names, re-exported
    PIXEL_ALIGN,
    PaddedParameters,
    allocate_chunk_buffers,
    bytes_per_batch,
    chunk_shape,
    gemm_layers,
    padded_pixels,
)
from ._functions import get_loss
from ._kfac_factors import KroneckerFactors
from ._models import get_activation, get_model
from ._networks import INRSpec, layer_slices

__all__ = ["BatchedINR", "render_batch"]


class BatchedINR(KroneckerFactors, PaddedParameters):
    """B INRs of one spec, trained together on one coordinate grid.

    The CPU/GPU implementation of the :class:`~sklearn_inr.core.Engine`
    interface. The model's coordinate encoding (Fourier features) is applied
    once, here, to the coordinates it is given.

    Parameters
    ----------
    spec : INRSpec
    theta : tensor of shape (B, n_params)
        Initial parameters; copied.
    coords : tensor of shape (n_pixels, in_features)
        Raw coordinates (as :func:`~sklearn_inr.make_coordinates` gives);
        kept as :attr:`coords`.
    chunk : (int, int), default=None
        ``(images, pixels)`` per chunk, ``pixels`` a multiple of
        :data:`PIXEL_ALIGN`; ``None`` takes :func:`chunk_shape`.
    training : bool, default=True
        ``False`` allocates only what :meth:`forward` needs (rendering):
        no gradients and no backward buffers.
    gemm_dtype : torch.dtype, default=None
        Operand dtype of the width x width products (``torch.bfloat16`` for
        ``precision="bf16"``); ``None`` keeps theta's dtype. See
        :func:`gemm_layers`: the parameters, their gradients, Adam's state,
        the loss and the layers that need it stay in theta's dtype.
    """

    def __init__(
        self,
        spec: INRSpec,
        theta: torch.Tensor,
        coords: torch.Tensor,
        chunk: tuple[int, int] | None = None,
        *,
        training: bool = True,
        gemm_dtype: torch.dtype | None = None,
    ):
        self.spec = spec
        self.activation = get_activation(spec)
        self.low_dtype = theta.dtype if gemm_dtype is None else gemm_dtype
        self.low_layers = gemm_layers(spec, self.low_dtype != theta.dtype)
        batch, self.n_pixels = theta.shape[0], coords.shape[0]
        if chunk is None:
            chunk = chunk_shape(self.n_pixels, theta.device.type)
        self.chunk_images, self.chunk_pixels = chunk
        n_pad = padded_pixels(self.n_pixels)
        self.coords = coords
        # The first layer's input: the encoded coordinates, padded.
        encoded = get_model(spec.model).encode(coords, spec)
        self._inputs = torch.zeros(
            (n_pad, encoded.shape[1]), dtype=encoded.dtype, device=encoded.device
        )
        self._inputs[: self.n_pixels] = encoded
        # All parameters of an image live in one row of ``self.flat``, padded
        # to a multiple of PIXEL_ALIGN numbers, and each layer's weight and
        # bias are views of it: Adam then updates one tensor with no scalar
        # remainder (whose rounding differs from its vector loop). The
        # output layer gets a zero row when it has one: its gradient stays 0,
        # so Adam keeps it 0.
        out_padded = max(2, spec.out_features)
        shapes = spec.layer_shapes[:-1] + ((out_padded, spec.hidden_features),)
        self._layout = (shapes, layer_slices(shapes))
        row = padded_pixels(self._layout[1][-1][1].stop)
        factory = {"dtype": theta.dtype, "device": theta.device}
        flat = torch.zeros((batch, row), **factory)
        self.training = training
        self._attach(flat, torch.zeros_like(flat) if training else None)
        self.load_theta(theta)
        self._output = torch.empty((batch, n_pad, out_padded), **factory)
        self._buffers: dict[tuple[int, int], dict] = {}

    @property
    def batch_size(self) -> int:
        return self._output.shape[0]

    def render(self, theta: torch.Tensor) -> torch.Tensor:
        """Outputs ``(B', n_pixels, out)`` of other networks on this grid."""
        return render_batch(self.spec, theta, self.coords)

    def select(self, rows) -> None:
        """Keep only the networks ``rows`` (e.g. when others have finished).

        Each kept network's numbers are copied unchanged, and its later
        operations do not depend on its batch, so it goes on exactly as it
        would have.
        """
        rows = torch.as_tensor(rows, device=self.flat.device)
        grad = None if self.flat.grad is None else self.flat.grad[rows].clone()
        self._attach(self.flat[rows].clone(), grad)
        self._output = self._output[rows].clone()
        self._buffers = {}

    def _chunks(self):
        """``(images, pixels, valid pixels, buffers)`` of each chunk in order."""
        n_pad = self._inputs.shape[0]
        for first in range(0, self.batch_size, self.chunk_images):
            images = slice(first, min(first + self.chunk_images, self.batch_size))
            n_images = images.stop - images.start
            for start in range(0, n_pad, self.chunk_pixels):
                stop = min(start + self.chunk_pixels, n_pad)
                valid = max(0, min(stop, self.n_pixels) - start)
                yield (
                    images,
                    slice(start, stop),
                    valid,
                    self._chunk_buffers(n_images, stop - start),
                )

    def _dtype(self, k: int) -> torch.dtype:
        """Dtype of layer ``k``'s GEMM operands and outputs."""
        return self.low_dtype if k in self.low_layers else self._output.dtype

    def _chunk_buffers(self, n_images: int, rows: int) -> dict:
        """The buffers of a chunk of ``n_images x rows``, allocated once."""
        buffers = self._buffers.get((n_images, rows))
        if buffers is None:
            buffers = allocate_chunk_buffers(
                (n_images, rows, self.spec.hidden_features),
                self._dtype,
                self.spec.hidden_layers + 1,
                self.activation.keeps_pre_activation,
                self._output,
                self.training,
            )
            self._buffers[(n_images, rows)] = buffers
        return buffers

    def _gemm_operands(self) -> None:
        """The layers' weights and biases in their GEMM dtype, for this step."""
        self._gemm_weights, self._gemm_biases = [], []
        for k, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            if k in self.low_layers:
                weight, bias = weight.to(self.low_dtype), bias.to(self.low_dtype)
            self._gemm_weights.append(weight)
            self._gemm_biases.append(bias)

    def _layer_input(self, k, images, pixels, buffers) -> torch.Tensor:
        if k == 0:
            coords = self._inputs[pixels].to(self._dtype(0))
            return coords.expand(images.stop - images.start, *coords.shape)
        cast = buffers["cast"][k - 1]
        return buffers["act"][k - 1] if cast is None else cast

    def _forward_chunk(self, images, pixels, buffers) -> torch.Tensor:
        n_layers = len(self.weights)
        for k in range(n_layers):
            weight_t = self._gemm_weights[k][images].transpose(1, 2)
            bias = self._gemm_biases[k][images].unsqueeze(1)
            inputs = self._layer_input(k, images, pixels, buffers)
            if k == n_layers - 1:
                torch.baddbmm(bias, inputs, weight_t, out=buffers["output"])
            else:
                self.activation.forward(
                    bias, inputs, weight_t, pre=buffers["pre"][k], act=buffers["act"][k]
                )
                if buffers["cast"][k] is not None:
                    buffers["cast"][k].copy_(buffers["act"][k])
        return buffers["output"]

    @torch.no_grad()
    def forward(self) -> torch.Tensor:
        """The output (logits or intensities) on every pixel, ``(B, n_pixels, out)``."""
        self._gemm_operands()
        for images, pixels, _, buffers in self._chunks():
            self._output[images, pixels] = self._forward_chunk(images, pixels, buffers)
        return self._output[:, : self.n_pixels, : self.spec.out_features]

    @torch.no_grad()
    def losses(self, targets: torch.Tensor, loss: str) -> torch.Tensor:
        """Each image's mean loss for the output of :meth:`forward`, shape (B,)."""
        output = self._output[:, : self.n_pixels, : self.spec.out_features]
        return get_loss(loss).pixel_losses(output, targets).mean(dim=(1, 2))

    @torch.no_grad()
    def backward(
        self,
        targets: torch.Tensor,
        loss: str,
        *,
        weight_grads: bool = True,
        return_losses: bool = False,
        return_mse: bool = False,
    ):
        """Write d(sum of per-image mean losses)/d(params) into ``.grad``.

        Runs the forward pass too, chunk by chunk (no call to :meth:`forward`
        is needed). ``weight_grads=False`` writes only the biases' gradients
        (the weights' ``.grad`` keep stale values): fitting shift modulations
        needs no weight gradient, and skipping its GEMM saves a third of the
        work.

        Parameters
        ----------
        targets : tensor of shape (B, n_pixels, out_features)
        loss : {"bce", "mse"}

        Returns
        -------
        losses : tensor of shape (B,) or None
            With ``return_losses``: each image's mean loss before the update.
        mse : tensor of shape (B,)
            Only with ``return_mse``: each image's reconstruction mean squared
            error before the update (returned after ``losses``).
        """
        loss_fn = get_loss(loss)
        n_out = self.spec.out_features
        scale = 1.0 / (self.n_pixels * n_out)
        factory = {"dtype": targets.dtype, "device": targets.device}
        total = torch.zeros(self.batch_size, **factory) if return_losses else None
        squared = torch.zeros(self.batch_size, **factory) if return_mse else None
        self._gemm_operands()
        for images, pixels, valid, buffers in self._chunks():
            output = self._forward_chunk(images, pixels, buffers)
            grad = buffers["grad_output"]
            # Padded pixels and the padded output row keep a zero gradient
            # (zeroed at allocation; only the valid part is ever written).
            if valid:
                chunk_output = output[:, :valid, :n_out]
                chunk_targets = targets[images, pixels.start : pixels.start + valid]
                if return_losses:
                    total[images] += loss_fn.pixel_losses(
                        chunk_output, chunk_targets
                    ).sum(dim=(1, 2))
                if return_mse:
                    error = loss_fn.reconstruct(chunk_output) - chunk_targets
                    squared[images] += error.square_().sum(dim=(1, 2))
                loss_fn.output_grad(
                    chunk_output, chunk_targets, scale, out=grad[:, :valid, :n_out]
                )
            if valid < grad.shape[1]:
                grad[:, valid:].zero_()
            self._backward_chunk(
                images,
                pixels,
                buffers,
                accumulate=pixels.start > 0,
                weight_grads=weight_grads,
            )
        losses = None if total is None else total.mul_(scale)
        if return_mse:
            return losses, squared.mul_(scale)
        return losses

    def _backward_chunk(self, images, pixels, buffers, *, accumulate, weight_grads):
        grad = buffers["grad_output"]
        n_layers = len(self.weights)
        for k in reversed(range(n_layers)):
            # Gradients w.r.t. the layer's GEMM output u; for a sine layer
            # u = omega (W a + b), hence the factor omega below.
            factor = 1.0 if k == n_layers - 1 else self.activation.gemm_scale
            inputs = self._layer_input(k, images, pixels, buffers)
            if weight_grads:
                # beta=0 ignores the stale contents (even NaN) on the first
                # chunk; later chunks add their share of the pixel sum.
                target = self.weight_grads[k][images]
                beta = 1.0 if accumulate else 0.0
                if k in self.low_layers:
                    # The product in the GEMM dtype, accumulated over chunks
                    # in theta's: one rounding per chunk, not per addition.
                    product = torch.bmm(grad.transpose(1, 2), inputs)
                    if accumulate:
                        target.add_(product, alpha=factor)
                    else:  # in theta's dtype: a bf16 multiply would round again
                        target.copy_(product).mul_(factor)
                else:
                    target.baddbmm_(
                        grad.transpose(1, 2), inputs, beta=beta, alpha=factor
                    )
            bias_grad = self.bias_grads[k][images]
            if not accumulate:
                bias_grad.zero_()
            # (A low-precision sum is rounded once, like the weights' product.)
            bias_grad.add_(grad.sum(dim=1), alpha=factor)
            if k == 0:
                break
            grad = self._propagate(k, grad, images, buffers, factor)

    def _propagate(self, k, grad, images, buffers, factor):
        """The gradient w.r.t. layer ``k - 1``'s GEMM output, from layer ``k``'s."""
        grad_in = buffers["grad_act"][self._dtype(k)][k % 2]
        torch.baddbmm(
            grad_in,
            grad,
            self._gemm_weights[k][images],
            beta=0.0,
            alpha=factor,
            out=grad_in,
        )
        if self._dtype(k - 1) != grad_in.dtype:
            # Into the dtype of the layer below before its elementwise
            # work: mixed-dtype elementwise kernels run 3-5x slower.
            converted = buffers["grad_act"][self._dtype(k - 1)][k % 2]
            grad_in = converted.copy_(grad_in)
        self.activation.backward_(
            grad_in,
            pre=buffers["pre"][k - 1],
            act=buffers["act"][k - 1],
            mask=buffers["mask"],
        )
        return grad_in


@torch.no_grad()
def render_batch(
    spec: INRSpec, theta: torch.Tensor, coords: torch.Tensor
) -> torch.Tensor:
    """Network outputs ``(B, n_pixels, out)`` for theta, chunk by chunk."""
    return BatchedINR(spec, theta, coords, training=False).forward()
