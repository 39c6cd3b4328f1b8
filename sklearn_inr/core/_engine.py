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

from ._functions import get_activation, get_loss
from ._networks import INRSpec, flatten_theta, layer_slices, unflatten_theta

# Pixel counts are padded to a multiple of this: a multiple of two vector
# widths of every CPU kernel (16 float32 or 32 bfloat16 lanes with AVX-512).
PIXEL_ALIGN = 64
# Rows (images x pixels) a chunk of the training step works on. Every
# pixel's forward and backward pass is independent of the others' but for
# the sums of the gradients, so a step runs chunk by chunk. On a CPU, small
# chunks keep the activations in cache between the GEMMs and the elementwise
# passes, and activation memory no longer grows with the image size. A GPU
# wants few, large kernels instead.
CHUNK_ROWS = {"cpu": 4096, "cuda": 2**18}
# Most pixels of one image in a chunk (a multiple of PIXEL_ALIGN).
CHUNK_PIXELS = {"cpu": 1024, "cuda": 2**18}


def padded_pixels(n_pixels: int) -> int:
    """``n_pixels`` rounded up to a multiple of :data:`PIXEL_ALIGN`."""
    return -(-n_pixels // PIXEL_ALIGN) * PIXEL_ALIGN


def chunk_shape(n_pixels: int, device_type: str = "cpu") -> tuple[int, int]:
    """``(images, pixels)`` of a chunk: a function of the image size only.

    About :data:`CHUNK_ROWS` rows in all; never dependent on the batch, so
    an image's reduction order is the same in every batch.
    """
    rows = CHUNK_ROWS.get(device_type, CHUNK_ROWS["cpu"])
    pixels = min(
        padded_pixels(n_pixels), CHUNK_PIXELS.get(device_type, CHUNK_PIXELS["cpu"])
    )
    return max(1, rows // pixels), pixels


def activation_bytes(
    spec: INRSpec, itemsize: int = 4, low_itemsize: int | None = None
) -> int:
    """Bytes one image holds per ``(chunk pixel, unit of width)`` in a step.

    Each hidden layer keeps its activation, and SIREN its pre-activation too
    (its cosine is the backward's derivative; ReLU's derivative is the
    activation's sign, from a one-byte mask), in the layer's dtype; the
    backward pass ping-pongs between two gradient buffers of each dtype in
    use. With ``low_itemsize`` (``precision="bf16"``) the layers of
    :func:`gemm_layers` hold that size, and where two adjacent layers differ,
    a converted copy of the activation is kept too. In float32 that is
    ``4 (2 (H + 1) + 2)`` bytes for SIREN and ``4 (H + 1) + 9`` for ReLU.
    """
    low = gemm_layers(spec, low_itemsize is not None)

    def size(k):
        return low_itemsize if k in low else itemsize

    n_hidden = spec.hidden_layers + 1
    keeps_pre = get_activation(spec).keeps_pre_activation
    total = 0
    for k in range(n_hidden):
        total += size(k) * (2 if keeps_pre else 1)
        if size(k) != size(k + 1):
            total += size(k + 1)
    total += 2 * sum({size(k) for k in range(n_hidden + 1)})
    return total + (0 if keeps_pre else 1)


def bytes_per_batch(
    spec: INRSpec,
    batch: int,
    n_pixels: int,
    itemsize: int = 4,
    device_type: str = "cpu",
    low_itemsize: int | None = None,
) -> int:
    """Training memory of a batch: parameters, activations and outputs.

    Per image, ``4 * n_params`` numbers (parameters, gradients and Adam's two
    moments) and four ``padded pixels x out`` tensors (targets, outputs,
    their chunk copies); per chunk shape, :func:`activation_bytes` per
    ``pixels x width`` per image. Chunks are ``(images, pixels)``
    (:func:`chunk_shape`) and the batch's remainders get buffers of their own
    shape, so the activations count every distinct group size times every
    distinct run of pixels.
    """
    images, pixels = chunk_shape(n_pixels, device_type)
    n_pad = padded_pixels(n_pixels)
    groups = {min(images, batch)} | ({batch % images} if batch > images else set())
    runs = ({pixels} | {n_pad % pixels}) if n_pad > pixels else {n_pad}
    out = max(2, spec.out_features)
    per_image = 4 * spec.n_params + 4 * n_pad * out
    activations = activation_bytes(spec, itemsize, low_itemsize)
    activations *= spec.hidden_features * sum(groups - {0}) * sum(runs - {0})
    return int(batch * per_image * itemsize + activations)


class BatchedINR:
    """B INRs of one spec, trained together on one coordinate grid.

    Parameters
    ----------
    spec : INRSpec
    theta : tensor of shape (B, n_params)
        Initial parameters; copied.
    coords : tensor of shape (n_pixels, in_features)
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
        self.coords = torch.zeros(
            (n_pad, coords.shape[1]), dtype=coords.dtype, device=coords.device
        )
        self.coords[: self.n_pixels] = coords
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

    @property
    def params(self) -> list[torch.Tensor]:
        """What the optimiser updates: the one tensor holding every parameter."""
        return [self.flat]

    def _unpadded(self, weights, biases):
        n_out = self.spec.out_features
        return (
            weights[:-1] + [weights[-1][:, :n_out]],
            biases[:-1] + [biases[-1][:, :n_out]],
        )

    def theta(self) -> torch.Tensor:
        """The parameters, shape ``(B, n_params)`` (a copy)."""
        return flatten_theta(*self._unpadded(self.weights, self.biases))

    def grad_theta(self) -> torch.Tensor:
        """The gradients of :meth:`backward`, in the theta layout (a copy)."""
        return flatten_theta(*self._unpadded(self.weight_grads, self.bias_grads))

    def load_theta(self, theta: torch.Tensor) -> None:
        """Copy ``theta`` (``(n_params,)`` or ``(B, n_params)``) into the networks."""
        weights, biases = unflatten_theta(theta, self.spec.layer_shapes)
        targets = self._unpadded(self.weights, self.biases)
        for dst, src in zip(targets[0] + targets[1], weights + biases):
            dst.copy_(src.expand_as(dst))

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

    def _attach(self, flat: torch.Tensor, grad: torch.Tensor | None) -> None:
        """Hold ``flat`` (and its ``grad``) and the per-layer views of both."""
        self.flat = flat
        self.weights, self.biases = _layer_views(flat, *self._layout)
        if grad is not None:
            flat.grad = grad
            self.weight_grads, self.bias_grads = _layer_views(grad, *self._layout)

    def _chunks(self):
        """``(images, pixels, valid pixels, buffers)`` of each chunk in order."""
        n_pad = self.coords.shape[0]
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
        """Buffers for a chunk of ``n_images x rows``, allocated once and reused.

        ``pre[k]`` holds the GEMM output of hidden layer k where the
        activation keeps it (SIREN: omega_0 (W a + b), then its cosine in
        the backward); ``act[k]`` holds the activation. Both are in layer
        k's GEMM dtype; where layer k + 1 computes in another one,
        ``cast[k]`` holds ``act[k]`` converted for it.
        """
        buffers = self._buffers.get((n_images, rows))
        if buffers is None:
            device = self._output.device
            shape = (n_images, rows, self.spec.hidden_features)
            n_hidden = self.spec.hidden_layers + 1
            keeps_pre = self.activation.keeps_pre_activation

            def empty(k):
                return torch.empty(shape, dtype=self._dtype(k), device=device)

            buffers = {
                "act": [empty(k) for k in range(n_hidden)],
                "pre": [empty(k) if keeps_pre else None for k in range(n_hidden)],
                "cast": [
                    empty(k + 1) if self._dtype(k) != self._dtype(k + 1) else None
                    for k in range(n_hidden)
                ],
                "output": torch.empty(
                    (n_images, rows, self._output.shape[2]),
                    dtype=self._output.dtype,
                    device=device,
                ),
            }
            if self.training:  # what only the backward pass needs
                dtypes = {self._dtype(k) for k in range(n_hidden + 1)}
                buffers["grad_act"] = {
                    dtype: [torch.empty(shape, dtype=dtype, device=device)
                            for _ in range(2)]
                    for dtype in dtypes
                }  # fmt: skip
                buffers["mask"] = (
                    None
                    if keeps_pre
                    else torch.empty(shape, dtype=torch.bool, device=device)
                )
                buffers["grad_output"] = torch.zeros_like(buffers["output"])
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
            coords = self.coords[pixels].to(self._dtype(0))
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
            grad = grad_in


def gemm_layers(spec: INRSpec, low_precision: bool) -> frozenset:
    """Layers whose GEMMs may run in a low-precision dtype (e.g. bfloat16).

    The width x width products, nearly all the FLOPs, go to the low dtype.
    The output layer stays in theta's dtype: its product is cheap, and the
    reconstruction and the loss are what the fit is judged on. So does the
    first layer (2 inputs, no FLOPs to save): bfloat16 would merge nearby
    pixel coordinates (386 distinct values of 512 on a 512-pixel axis), and
    a SIREN's argument omega_0 (W x + b) spans tens of radians, where its
    8-bit mantissa would be off by up to 0.1 rad.
    """
    if not low_precision:
        return frozenset()
    return frozenset(range(1, spec.hidden_layers + 1))


def _layer_views(flat, shapes, slices):
    """Per-layer ``(B, out, in)`` weight and ``(B, out)`` bias views of ``flat``."""
    weights, biases = [], []
    for (n_out, n_in), (weight, bias) in zip(shapes, slices):
        weights.append(flat[:, weight].view(-1, n_out, n_in))
        biases.append(flat[:, bias])
    return weights, biases


def make_adam(params, lr: float, **kwargs) -> torch.optim.Adam:
    """``torch.optim.Adam``, fused where the device allows.

    The fused kernel makes one pass over the parameters instead of about
    eight; for the classifier's 3.3M weights it was most of a step's time.
    """
    try:
        return torch.optim.Adam(params, lr=lr, fused=True, **kwargs)
    except (RuntimeError, TypeError):  # pragma: no cover - older torch / device
        return torch.optim.Adam(params, lr=lr, **kwargs)


@torch.no_grad()
def render_batch(
    spec: INRSpec, theta: torch.Tensor, coords: torch.Tensor
) -> torch.Tensor:
    """Network outputs ``(B, n_pixels, out)`` for theta, chunk by chunk."""
    return BatchedINR(spec, theta, coords, training=False).forward()
