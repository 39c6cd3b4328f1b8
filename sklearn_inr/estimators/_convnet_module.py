"""The torch network behind :class:`~sklearn_inr.ConvNetClassifier`."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

__all__ = ["ConvNetModule", "conv_macs"]


class ConvNetModule(nn.Module):
    """Small CNN: standardise, (conv3x3, ReLU[, max-pool 2]) x k, pool, linear.

    Input ``(n, C, H, W)``. Each channel is standardised by the buffers
    ``mean`` and ``scale`` (fitted on the training images, restored from the
    ``state_dict`` on loading). Block ``k`` is a 3x3 convolution (zero
    padding 1, so the size is kept) to ``channels[k]`` maps and a ReLU; every
    block but the last ends with a 2x2 max-pool (``ceil_mode``, so images of
    any size, down to 1 x 1, go through). Each of the last maps gives its
    mean and its maximum over space (global average and max pooling: the
    mean sees how much of a pattern there is, the max whether a small one is
    anywhere), these ``2 * channels[-1]`` values are dropped out in training,
    and a linear layer gives ``output_dim`` logits.

    The weights and the images are kept channels-last (NHWC), where oneDNN's
    CPU convolutions are fastest: a training step of 16 slices of 240 x 240
    took 48 ms against 141 in the default layout on 2 cores, a whole fit of
    120 of them 1.67 times less (``benchmarks/bench_convnet.py``).
    ``channels_last=False`` keeps the default layout (the benchmark's
    comparison); both compute the same function, to rounding.

    ``precision="bf16"`` runs the convolutions and the max-pools between
    them under bfloat16 autocast (the standardisation, the final pooling
    and the head stay in float32, the weights and their gradients too): on
    CPUs with AVX512-BF16 or AMX and on GPUs, about half the time of a step
    (``benchmarks/bench_convnet.py``).
    """

    def __init__(
        self,
        in_channels: int = 1,
        channels: tuple[int, ...] = (8, 16, 32),
        dropout: float = 0.0,
        output_dim: int = 1,
        mean=None,
        scale=None,
        channels_last: bool = True,
        precision: str = "fp32",
    ):
        super().__init__()
        if precision not in ("fp32", "bf16"):
            raise ValueError(f"precision must be 'fp32' or 'bf16', got {precision!r}.")
        self.bf16 = precision == "bf16"
        self.memory_format = (
            torch.channels_last if channels_last else torch.contiguous_format
        )
        mean = np.zeros(in_channels) if mean is None else mean
        scale = np.ones(in_channels) if scale is None else scale
        # Buffers, so that they move with the module and are saved with it.
        self.register_buffer(
            "mean", torch.as_tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        )
        self.register_buffer(
            "scale", torch.as_tensor(scale, dtype=torch.float32).view(1, -1, 1, 1)
        )
        layers: list[nn.Module] = []
        width = in_channels
        for k, size in enumerate(channels):
            layers += [nn.Conv2d(width, size, kernel_size=3, padding=1), nn.ReLU()]
            if k < len(channels) - 1:
                layers.append(nn.MaxPool2d(2, ceil_mode=True))
            width = size
        self.features = nn.Sequential(*layers)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(2 * width, output_dim)
        self.features.to(memory_format=self.memory_format)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        X = ((X - self.mean) / self.scale).contiguous(memory_format=self.memory_format)
        with torch.autocast(X.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            maps = self.features(X)
        # Pooled in float32: a bfloat16 mean over a map's pixels would drift.
        maps = maps.float()
        pooled = torch.cat([maps.mean(dim=(2, 3)), maps.amax(dim=(2, 3))], dim=1)
        return self.head(self.dropout(pooled))


def conv_macs(image_shape, channels) -> int:
    """Multiply-adds of the convolutions of one forward pass of one image.

    ``image_shape`` is ``(H, W)`` or ``(H, W, C)``; the head and the pooling
    are negligible beside them.
    """
    height, width = image_shape[:2]
    in_channels = image_shape[2] if len(image_shape) == 3 else 1
    macs = 0
    for k, size in enumerate(channels):
        macs += height * width * 9 * in_channels * size
        if k < len(channels) - 1:
            height, width = math.ceil(height / 2), math.ceil(width / 2)
        in_channels = size
    return macs
