"""The classifier head of the task-aware init: a Transformer on neuron tokens.

MWT (Gielisse & van Gemert, CVPR 2025) classifies an INR by the offsets of
its weights from the shared init, one token per neuron of the
``width -> width`` layers: the neuron's incoming weights and its bias. A
learned embedding per token (the position: which layer, which neuron)
is added, the tokens are projected to the model width, go through
pre-LayerNorm Transformer blocks (multi-head self-attention and a GELU MLP,
each scaled by a learned LayerScale), and their mean goes to a linear
layer. MWT's choices are kept: 10 blocks, heads of 64 dimensions (at least
one), an MLP as wide as the model, LayerScale starting at 0.1, no dropout,
no class token. Its width is the INR's width, as MWT's is.

MWT multiplies the offsets by a fixed 500, tuned to its parametrisation
(``sin(x)`` hidden layers, pixels in [-1, 1]); this package's SIREN folds
``omega_0`` into every layer, so its offsets are on another scale. The
tokens are divided instead by the RMS of the first batch's offsets, fixed
from then on (a buffer), which puts them near unit size for any network.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..core import INRSpec, unflatten_theta

__all__ = ["WeightTransformer", "neuron_tokens"]

#: MWT's classifier: blocks, dimensions per attention head, initial LayerScale.
DEPTH, HEAD_DIM, LAYER_SCALE = 10, 64, 0.1


def neuron_tokens(offsets: torch.Tensor, spec: INRSpec) -> torch.Tensor:
    """One token per neuron of the ``width -> width`` layers.

    Parameters
    ----------
    offsets : tensor of shape (B, n_params)
        Theta minus the shared init, in the theta layout.
    spec : INRSpec

    Returns
    -------
    tokens : tensor of shape (B, hidden_layers * width, width + 1)
        Layer by layer, each neuron's incoming weights, then its bias.
    """
    weights, biases = unflatten_theta(offsets, spec.layer_shapes)
    layers = range(1, spec.hidden_layers + 1)
    return torch.cat(
        [torch.cat([weights[k], biases[k].unsqueeze(-1)], dim=-1) for k in layers],
        dim=1,
    )


class _Block(nn.Module):
    """Pre-LayerNorm self-attention and MLP, each scaled by a LayerScale."""

    def __init__(self, width: int):
        super().__init__()
        # Heads of about HEAD_DIM dimensions that split the width evenly.
        self.n_heads = max(1, width // HEAD_DIM)
        while width % self.n_heads:
            self.n_heads -= 1
        self.norm_attention = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width, bias=False)
        self.project = nn.Linear(width, width)
        self.scale_attention = nn.Parameter(torch.full((width,), LAYER_SCALE))
        self.norm_mlp = nn.LayerNorm(width)
        self.mlp = nn.Sequential(
            nn.Linear(width, width), nn.GELU(), nn.Linear(width, width)
        )
        self.scale_mlp = nn.Parameter(torch.full((width,), LAYER_SCALE))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, n_tokens, width = x.shape
        qkv = self.qkv(self.norm_attention(x))
        qkv = qkv.view(batch, n_tokens, 3, self.n_heads, width // self.n_heads)
        query, key, value = qkv.permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(query, key, value)
        attended = attended.transpose(1, 2).reshape(batch, n_tokens, width)
        x = x + self.scale_attention * self.project(attended)
        return x + self.scale_mlp * self.mlp(self.norm_mlp(x))


class WeightTransformer(nn.Module):
    """Classify INRs from their offsets to the init (MWT's classifier).

    Parameters
    ----------
    spec : INRSpec
        The INRs' network; it needs ``hidden_layers >= 1``.
    n_classes : int
    depth : int, default=10
        Transformer blocks.

    Examples
    --------
    >>> import torch
    >>> from sklearn_inr import INRSpec
    >>> from sklearn_inr.learned._weight_transformer import WeightTransformer
    >>> spec = INRSpec(hidden_features=8, hidden_layers=1)
    >>> head = WeightTransformer(spec, n_classes=3, depth=2)
    >>> head(torch.randn(4, spec.n_params)).shape
    torch.Size([4, 3])
    """

    def __init__(self, spec: INRSpec, n_classes: int, depth: int = DEPTH):
        super().__init__()
        width = spec.hidden_features
        self.spec = spec
        self.position = nn.Parameter(torch.zeros(spec.hidden_layers * width, width + 1))
        # The tokens' RMS on the first batch; NaN until then.
        self.register_buffer("token_scale", torch.tensor(math.nan))
        self.project_in = nn.Linear(width + 1, width)
        self.blocks = nn.Sequential(*(_Block(width) for _ in range(depth)))
        self.head = nn.Linear(width, n_classes)

    def forward(self, offsets: torch.Tensor) -> torch.Tensor:
        tokens = neuron_tokens(offsets, self.spec)
        if torch.isnan(self.token_scale):
            rms = tokens.detach().square().mean().sqrt()
            # A batch of zero offsets (no step taken yet) keeps the scale at 1.
            self.token_scale.fill_(float(rms) if float(rms) > 0 else 1.0)
        x = self.project_in(tokens / self.token_scale + self.position)
        return self.head(self.blocks(x).mean(dim=1))
