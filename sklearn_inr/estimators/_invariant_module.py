"""The torch module of :class:`~sklearn_inr.PermutationInvariantClassifier`.

It reads theta as sets of neurons (DeepSets over neurons, with the weights
between two hidden layers read as a set of edges), so that no permutation
of an INR's hidden neurons changes its output.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..core import layer_slices, unflatten_theta
from ._mlp_network import MLP_ACTIVATIONS, MLPModule

__all__ = ["InvariantWeightModule"]


class InvariantWeightModule(nn.Module):
    """Torch module: theta -> logits, invariant to hidden-neuron permutations.

    Each neuron of a hidden layer ``k`` (an output of Linear layer ``k``) has
    a local descriptor of what in theta belongs to it and is not permuted:
    its bias, plus its raw weight row in the first hidden layer (the
    coordinates are not permuted) and its raw outgoing weight column in the
    last one (the channels are not permuted). A weight ``w_ij`` between two
    hidden layers is an edge: it is embedded, with the descriptors of its two
    end neurons, by a small per-matrix network, and the embeddings are
    averaged over ``j`` (what comes into neuron ``i``) and over ``i`` (what
    goes out of neuron ``j``). A per-layer network embeds each neuron from
    its descriptor and these averages; the embeddings are pooled over the
    layer's neurons (mean and max), and the pooled vectors of all hidden
    layers, with the output bias, go through a classification MLP.

    ``input_dim`` is set from the data by skorch's ``InputShapeSetter``; it
    must equal the length of theta for ``layer_shapes``.
    """

    def __init__(
        self,
        input_dim: int = 1,
        hidden_layer_sizes: tuple[int, ...] = (64,),
        activation: str = "relu",
        dropout: float = 0.0,
        output_dim: int = 1,
        layer_shapes: tuple[tuple[int, int], ...] = ((8, 2), (1, 8)),
        edge_features: int = 16,
        neuron_features: int = 32,
        layer_mean=None,
        layer_scale=None,
    ):
        super().__init__()
        self.layer_shapes = tuple((int(o), int(i)) for o, i in layer_shapes)
        n_params = layer_slices(self.layer_shapes)[-1][1].stop
        if input_dim != n_params:
            raise ValueError(
                f"X has {input_dim} features, but theta of the layer shapes "
                f"{list(self.layer_shapes)} has {n_params}."
            )
        n_layers = len(self.layer_shapes)
        n_hidden = n_layers - 1
        # Per-layer standardisation (weights, biases): one scalar per group,
        # so it commutes with any permutation of the group's entries.
        mean = np.zeros((n_layers, 2)) if layer_mean is None else layer_mean
        scale = np.ones((n_layers, 2)) if layer_scale is None else layer_scale
        self.register_buffer("layer_mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("layer_scale", torch.as_tensor(scale, dtype=torch.float32))
        # Size of each hidden layer's neuron descriptor.
        local = [1] * n_hidden
        local[0] += self.layer_shapes[0][1]
        local[-1] += self.layer_shapes[-1][0]
        act = MLP_ACTIVATIONS[activation]
        # One edge embedding per weight matrix between two hidden layers.
        self.edge_embeddings = nn.ModuleList(
            nn.Sequential(nn.Linear(1 + local[k] + local[k - 1], edge_features), act())
            for k in range(1, n_hidden)
        )
        self.neuron_embeddings = nn.ModuleList()
        for k in range(n_hidden):
            n_edges = (k > 0) + (k < n_hidden - 1)
            self.neuron_embeddings.append(
                nn.Sequential(
                    nn.Linear(local[k] + n_edges * edge_features, neuron_features),
                    act(),
                    nn.Linear(neuron_features, neuron_features),
                    act(),
                )
            )
        self.head = MLPModule(
            input_dim=n_hidden * 2 * neuron_features + self.layer_shapes[-1][0],
            hidden_layer_sizes=hidden_layer_sizes,
            activation=activation,
            dropout=dropout,
            output_dim=output_dim,
        )

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        weights, biases = unflatten_theta(X, self.layer_shapes)
        w = [
            (wk - self.layer_mean[k, 0]) / self.layer_scale[k, 0]
            for k, wk in enumerate(weights)
        ]
        b = [
            (bk - self.layer_mean[k, 1]) / self.layer_scale[k, 1]
            for k, bk in enumerate(biases)
        ]
        n_hidden = len(w) - 1
        # (batch, neurons, features) per hidden layer, in the neurons' order.
        local = [bk[..., None] for bk in b[:-1]]
        local[0] = torch.cat([w[0], local[0]], dim=-1)
        local[-1] = torch.cat([local[-1], w[-1].transpose(-1, -2)], dim=-1)
        parts: list[list[torch.Tensor]] = [[lk] for lk in local]
        for k in range(1, n_hidden):
            # w[k][:, i, j] joins neuron j of hidden layer k-1 to neuron i of
            # hidden layer k. Both ends are permuted, so each edge is embedded
            # on its own, knowing its ends only by their descriptors, and the
            # edges are averaged over one end: every neuron's row and column
            # are read as sets, exactly invariant to the neighbours' orders.
            wk = w[k]
            n_out, n_in = wk.shape[-2:]
            edges = torch.cat(
                [
                    wk[..., None],
                    local[k][:, :, None, :].expand(-1, -1, n_in, -1),
                    local[k - 1][:, None, :, :].expand(-1, n_out, -1, -1),
                ],
                dim=-1,
            )
            embedded = self.edge_embeddings[k - 1](edges)
            parts[k].append(embedded.mean(dim=2))
            parts[k - 1].append(embedded.mean(dim=1))
        pooled = []
        for k in range(n_hidden):
            h = self.neuron_embeddings[k](torch.cat(parts[k], dim=-1))
            pooled += [h.mean(dim=1), h.amax(dim=1)]
        pooled.append(b[-1])
        return self.head(torch.cat(pooled, dim=-1))
