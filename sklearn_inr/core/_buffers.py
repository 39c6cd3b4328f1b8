"""Memory layout of the batched engine: padding, chunks, buffers, their bytes.

How :class:`~sklearn_inr.core.BatchedINR` lays a batch out in memory, kept
apart from the arithmetic: pixel padding (:func:`padded_pixels`), the chunk
shape (:func:`chunk_shape`), which layers may compute in a low-precision
dtype (:func:`gemm_layers`), the per-chunk buffers
(:func:`allocate_chunk_buffers`) and the byte count a batch needs
(:func:`bytes_per_batch`), which the runner sizes batches with. See
:mod:`sklearn_inr.core._engine` for why each of these choices keeps an
image's bits independent of its batch.
"""

from __future__ import annotations

import torch

from ._models import get_activation, get_model
from ._networks import INRSpec, flatten_theta, unflatten_theta

__all__ = [
    "CHUNK_PIXELS",
    "CHUNK_ROWS",
    "PIXEL_ALIGN",
    "PaddedParameters",
    "activation_bytes",
    "allocate_chunk_buffers",
    "bytes_per_batch",
    "chunk_key",
    "chunk_shape",
    "gemm_layers",
    "layer_views",
    "padded_pixels",
]

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
    an image's reduction order is the same in every batch. Images of up to
    :data:`CHUNK_ROWS` pixels run :data:`CHUNK_PIXELS` at a time, several
    to a chunk. A larger image fills its chunks alone, :data:`CHUNK_ROWS` of
    its pixels at a time: a batch of such images on one CPU thread often
    holds one, and at 1,024 pixels its chunks were a quarter of the rows,
    with four times the kernel launches (``benchmarks/compare_trees.py``
    measures the change: see the performance guide).
    """
    rows = CHUNK_ROWS.get(device_type, CHUNK_ROWS["cpu"])
    n_pad = padded_pixels(n_pixels)
    if n_pad > rows:
        return 1, rows
    pixels = min(n_pad, CHUNK_PIXELS.get(device_type, CHUNK_PIXELS["cpu"]))
    return max(1, rows // pixels), pixels


def chunk_key(n_pixels: int) -> dict:
    """What a cache key holds of the chunking: its rule for large images.

    Empty for images of up to :data:`CHUNK_ROWS` (CPU) pixels, whose CPU
    chunks are as they always were; larger images ran 1,024 pixels at a
    time on a CPU before, which rounds differently, so their entries key
    apart. The device is not in a key (a GPU differs by rounding only), so
    GPU entries of such images key apart too.

    Examples
    --------
    >>> from sklearn_inr.core import chunk_key
    >>> chunk_key(64 * 64)
    {}
    >>> chunk_key(240 * 240)
    {'chunk_pixels': 4096}
    """
    # Derived from chunk_shape's CPU rule, not restated: only large images
    # run more than CHUNK_PIXELS of their pixels at a time.
    _, pixels = chunk_shape(n_pixels, "cpu")
    return {"chunk_pixels": pixels} if pixels > CHUNK_PIXELS["cpu"] else {}


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
    distinct run of pixels. A coordinate encoding (Fourier features) adds its
    ``padded pixels x encoded width`` input, held once per batch; the two raw
    coordinates of the other families are too small to count.
    """
    images, pixels = chunk_shape(n_pixels, device_type)
    n_pad = padded_pixels(n_pixels)
    groups = {min(images, batch)} | ({batch % images} if batch > images else set())
    runs = ({pixels} | {n_pad % pixels}) if n_pad > pixels else {n_pad}
    out = max(2, spec.out_features)
    per_image = 4 * spec.n_params + 4 * n_pad * out
    activations = activation_bytes(spec, itemsize, low_itemsize)
    activations *= spec.hidden_features * sum(groups - {0}) * sum(runs - {0})
    extra_inputs = get_model(spec.model).encoded_features(spec) - spec.in_features
    encoded = n_pad * max(0, extra_inputs) * itemsize
    return int(batch * per_image * itemsize + activations + encoded)


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


def layer_views(flat, shapes, slices):
    """Per-layer ``(B, out, in)`` weight and ``(B, out)`` bias views of ``flat``."""
    weights, biases = [], []
    for (n_out, n_in), (weight, bias) in zip(shapes, slices):
        weights.append(flat[:, weight].view(-1, n_out, n_in))
        biases.append(flat[:, bias])
    return weights, biases


def allocate_chunk_buffers(
    shape, dtype_of, n_hidden: int, keeps_pre: bool, output, training: bool
) -> dict:
    """Buffers for one chunk shape, allocated once and reused every step.

    ``pre[k]`` holds the GEMM output of hidden layer k where the activation
    keeps it (SIREN: omega_0 (W a + b), then its cosine in the backward);
    ``act[k]`` holds the activation. Both are in layer k's GEMM dtype
    (``dtype_of(k)``); where layer k + 1 computes in another one,
    ``cast[k]`` holds ``act[k]`` converted for it.

    Parameters
    ----------
    shape : (n_images, rows, width)
    dtype_of : callable
        Layer index -> its GEMM dtype.
    n_hidden : int
        Number of activated (hidden) layers.
    keeps_pre : bool
        The activation's ``keeps_pre_activation``.
    output : tensor of shape (B, n_pad, out)
        The engine's output; gives the output buffers' last size, dtype and
        device.
    training : bool
        Also allocate what only the backward pass needs.
    """
    device = output.device

    def empty(k):
        return torch.empty(shape, dtype=dtype_of(k), device=device)

    buffers = {
        "act": [empty(k) for k in range(n_hidden)],
        "pre": [empty(k) if keeps_pre else None for k in range(n_hidden)],
        "cast": [
            empty(k + 1) if dtype_of(k) != dtype_of(k + 1) else None
            for k in range(n_hidden)
        ],
        "output": torch.empty(
            (*shape[:2], output.shape[2]), dtype=output.dtype, device=device
        ),
    }
    if training:  # what only the backward pass needs
        dtypes = {dtype_of(k) for k in range(n_hidden + 1)}
        buffers["grad_act"] = {
            dtype: [torch.empty(shape, dtype=dtype, device=device) for _ in range(2)]
            for dtype in dtypes
        }
        buffers["mask"] = (
            None if keeps_pre else torch.empty(shape, dtype=torch.bool, device=device)
        )
        buffers["grad_output"] = torch.zeros_like(buffers["output"])
    return buffers


class PaddedParameters:
    """The parameters of B networks, one padded row each, and their views.

    Base of :class:`~sklearn_inr.core.BatchedINR`: all parameters of an
    image live in one row of ``flat`` (its ``grad`` likewise), and each
    layer's weight ``(B, out, in)`` and bias ``(B, out)`` are views of it
    (``weights``, ``biases``, ``weight_grads``, ``bias_grads``). A subclass
    sets ``spec`` and ``_layout = (shapes, slices)`` (the padded layer
    shapes and their places in a row) before calling :meth:`_attach`.
    """

    @property
    def params(self) -> list[torch.Tensor]:
        """What the optimiser updates: the one tensor holding every parameter."""
        return [self.flat]

    @property
    def dtype(self) -> torch.dtype:
        return self.flat.dtype

    @property
    def device(self) -> torch.device:
        return self.flat.device

    def get_biases(self, layers) -> torch.Tensor:
        """A copy of the biases of ``layers``, shape ``(B, len(layers), width)``."""
        return torch.stack([self.biases[k] for k in layers], dim=1)

    def get_bias_grads(self, layers) -> torch.Tensor:
        """A copy of the biases' gradients of ``layers``, like :meth:`get_biases`."""
        return torch.stack([self.bias_grads[k] for k in layers], dim=1)

    def set_biases(self, layers, values: torch.Tensor) -> None:
        """Copy ``values`` ``(B, len(layers), width)`` into the biases of ``layers``."""
        for i, k in enumerate(layers):
            self.biases[k].copy_(values[:, i])

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

    def _attach(self, flat: torch.Tensor, grad: torch.Tensor | None) -> None:
        """Hold ``flat`` (and its ``grad``) and the per-layer views of both."""
        self.flat = flat
        self.weights, self.biases = layer_views(flat, *self._layout)
        if grad is not None:
            flat.grad = grad
            self.weight_grads, self.bias_grads = layer_views(grad, *self._layout)
