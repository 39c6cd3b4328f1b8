"""The torch module of :class:`~sklearn_inr.GraphMetanetClassifier`.

Theta is read as the INR's graph: one node per neuron (the input
coordinates, every hidden neuron, the output channels), a bias (and the
neuron's activations at a grid of probe inputs, as in NG-GNN) as a node
feature and a weight as the feature of the edge it sits on. Message passing
runs over that graph with the batch vectorised: each Linear layer's edges
are one dense ``(batch, n_out, n_in, channels)`` tensor, each layer of nodes
one ``(batch, n_nodes, channels)`` tensor, and a message is an ``einsum``
over a layer's edges, so there is no loop over graphs or neurons.

Symmetries, as in ScaleGMN (Kalogeropoulos et al., NeurIPS 2024):

- Permutations of hidden neurons: every network is applied to each node or
  edge on its own, with weights shared within a layer, and messages and the
  readout are means (and maxima) over neurons, so node and edge features
  are permuted along with theta and the output does not change.
- Sign flips (``symmetry="sign"``): a SIREN is unchanged when the incoming
  weights and bias of a hidden neuron ``i`` and its outgoing weights all
  change sign (sine is odd), i.e. when ``b_i -> q_i b_i`` and
  ``w_ij -> q_i w_ij q_j`` with ``q = +-1`` on hidden neurons and ``q = 1``
  on inputs and outputs. Every feature keeps that rule: a hidden node's
  features change sign with ``q_i``, an edge's with ``q_i q_j``. Messages
  are products ``e_ij * B(h_j)`` (sign ``q_i``), updates of hidden nodes and
  of edges are odd functions (``f(x) - f(-x)`` of an MLP ``f``, linear maps
  without bias), and the readout of hidden nodes is even (``f(x) + f(-x)``),
  so the output is exactly invariant. A hidden neuron's probe activations
  change sign with it too, the activation being odd. Input and output
  nodes, which no
  symmetry flips, are updated by plain MLPs and read out as they are.

With ``aligned=True`` neither symmetry is kept, on purpose: for theta
fitted from one shared init, hidden neuron ``i`` of every INR started from
the same weights, so its index means something. Each hidden neuron then has
a learned embedding added to its node's first features, theta is
standardised per weight (each weight and bias by its own mean and standard
deviation over the training INRs, as a ``StandardScaler`` would), and the
readout keeps a few features of every hidden node
(``node_readout_features``) instead of their mean and max, and every
weight and bias as well.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..core import INRSpec, get_model, layer_slices, make_coordinates, unflatten_theta
from ._mlp_network import MLP_ACTIVATIONS, MLPModule

__all__ = ["GraphMetanetModule", "SymmetricMLP"]


class SymmetricMLP(nn.Module):
    """A one-hidden-layer MLP made odd, even or left as it is in its input's sign.

    ``f(x) = W2 act(W1 x + b1) + b2``; ``parity="odd"`` computes
    ``f(x) - f(-x)`` (sign-equivariant), ``"even"`` ``f(x) + f(-x)``
    (sign-invariant), ``None`` plain ``f(x)``. Both linear maps are shared
    by ``x`` and ``-x``, so the symmetric forms cost one product each:
    ``W2 (act(z + b1) -+ act(-z + b1))`` with ``z = W1 x``. The input comes
    in parts (its concatenation, which is never built), one ``W1`` block
    each.
    """

    def __init__(self, in_sizes, hidden: int, out: int, activation: str, parity):
        super().__init__()
        self.inputs = nn.ModuleList(
            nn.Linear(size, hidden, bias=False) for size in in_sizes
        )
        bound = 1.0 / float(np.sqrt(sum(in_sizes)))
        self.bias = nn.Parameter(torch.empty(hidden).uniform_(-bound, bound))
        if parity == "even":
            # act(z + b) + act(b - z) is flat in z where |z| < |b|: start at
            # b = 0 (|z| for ReLU), or the readout starts blind.
            nn.init.zeros_(self.bias)
        for layer in self.inputs:
            # nn.Linear's default init, at the fan-in of the whole input.
            nn.init.uniform_(layer.weight, -bound, bound)
        self.act = MLP_ACTIVATIONS[activation]()
        self.output = nn.Linear(hidden, out, bias=parity != "odd")
        self.parity = parity

    def forward(self, *parts: torch.Tensor) -> torch.Tensor:
        z = sum(layer(part) for layer, part in zip(self.inputs, parts))
        a = self.act(z + self.bias)
        if self.parity == "odd":
            a = a - self.act(self.bias - z)
        elif self.parity == "even":
            a = a + self.act(self.bias - z)
        return self.output(a)


class GraphMetanetModule(nn.Module):
    """Torch module: theta -> logits over the INR's graph of neurons.

    Node layer ``k`` (``k = 0`` the inputs, ``k = L`` the outputs of an INR
    of ``L`` Linear layers) has ``n_k`` nodes of ``neuron_features``
    channels; Linear layer ``k`` joins node layers ``k`` and ``k + 1`` with
    edges of ``edge_features`` channels. Each round of message passing sends
    every node a forward message (the mean over its incoming edges of
    ``e_ij * B(h_j)``) and a backward one (over its outgoing edges), updates
    every node by a residual MLP of its features and messages, then every
    edge (when ``edge_updates``) by a residual MLP of its features and the
    product of its end nodes' features. The readout is the input and output
    nodes' features as they are, the mean and max over each hidden layer of
    an invariant embedding of its nodes, and the output bias, through a
    classification MLP. With ``aligned``, the readout is instead every
    hidden node's embedding (``node_readout_features`` channels) and every
    standardised weight and bias, beside the input and output nodes.

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
        message_passing_layers: int = 2,
        edge_updates: bool = False,
        symmetry: str = "sign",
        model: str = "siren",
        omega_0: float = 30.0,
        probe_grid: int = 0,
        layer_mean=None,
        layer_scale=None,
        aligned: bool = False,
        feature_mean=None,
        feature_scale=None,
        node_readout_features: int = 8,
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
        nodes = [self.layer_shapes[0][1]] + [o for o, _ in self.layer_shapes]
        self.sign = symmetry == "sign"
        mean = np.zeros((n_layers, 2)) if layer_mean is None else layer_mean
        scale = np.ones((n_layers, 2)) if layer_scale is None else layer_scale
        self.register_buffer("layer_mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("layer_scale", torch.as_tensor(scale, dtype=torch.float32))
        if aligned:
            # Per weight: shared-init theta is the init's value plus a small
            # fit-specific change, which a per-layer scale leaves tiny
            # beside the init's spread. On FashionMNIST's shared theta, 3
            # classifier seeds: 0.814 per layer, 0.8225 per weight (the
            # "Choosing features" page).
            mean = np.zeros(n_params) if feature_mean is None else feature_mean
            scale = np.ones(n_params) if feature_scale is None else feature_scale
            self.register_buffer(
                "feature_mean", torch.as_tensor(mean, dtype=torch.float32)
            )
            self.register_buffer(
                "feature_scale", torch.as_tensor(scale, dtype=torch.float32)
            )
        self.aligned = bool(aligned)
        d_v, d_e = neuron_features, edge_features
        self.spec = INRSpec(
            model,
            in_features=nodes[0],
            hidden_features=nodes[1],
            hidden_layers=n_layers - 2,
            out_features=nodes[-1],
            omega_0=omega_0,
        )
        # Probe features (as in NG-GNN): each neuron's activation at a grid
        # of input points, the outputs' values there. A hidden neuron's
        # activations change sign with it when the activation is odd.
        n_probes = probe_grid ** nodes[0] if probe_grid else 0
        probes = make_coordinates((probe_grid,) * nodes[0]) if probe_grid else None
        self.register_buffer("probes", probes)
        bias = not self.sign
        # Hidden node layers are flipped by the sign symmetry; inputs and
        # outputs never are, so they may use any function.
        parity = [
            "odd" if self.sign and 0 < k < n_layers else None
            for k in range(n_layers + 1)
        ]
        self.input_nodes = nn.Parameter(torch.randn(nodes[0], d_v))
        self.output_nodes = nn.Parameter(torch.randn(nodes[-1], d_v))
        if aligned and self.sign:
            raise ValueError(
                "aligned=True gives each hidden neuron an identity, which a "
                "sign flip would have to keep: use symmetry='none'."
            )
        # Hidden neurons' identities (aligned theta only), as the input and
        # output nodes have theirs.
        self.hidden_nodes = (
            nn.ParameterList(nn.Parameter(torch.randn(n_k, d_v)) for n_k in nodes[1:-1])
            if aligned
            else None
        )
        self.node_init = nn.ModuleList(
            nn.Linear(1 + n_probes, d_v, bias=bias or k == n_layers)
            for k in range(1, n_layers + 1)
        )
        self.edge_init = nn.ModuleList(
            nn.Linear(1, d_e, bias=bias) for _ in range(n_layers)
        )
        self.rounds = nn.ModuleList()
        for _ in range(message_passing_layers):
            block = nn.ModuleDict(
                {
                    # Node features -> edge channels, for the messages that
                    # go forward (from layer k) and backward (from k + 1),
                    # and for the end nodes' product in the edge updates.
                    "to_next": nn.ModuleList(
                        nn.Linear(d_v, d_e, bias=bias) for _ in range(n_layers)
                    ),
                    "to_previous": nn.ModuleList(
                        nn.Linear(d_v, d_e, bias=bias) for _ in range(n_layers)
                    ),
                    "nodes": nn.ModuleList(
                        SymmetricMLP(
                            (d_v,) + (d_e,) * ((k > 0) + (k < n_layers)),
                            d_v,
                            d_v,
                            activation,
                            parity[k],
                        )
                        for k in range(n_layers + 1)
                    ),
                }
            )
            if edge_updates:
                block["edge_out"] = nn.ModuleList(
                    nn.Linear(d_v, d_e, bias=bias) for _ in range(n_layers)
                )
                block["edge_in"] = nn.ModuleList(
                    nn.Linear(d_v, d_e, bias=bias) for _ in range(n_layers)
                )
                block["edges"] = nn.ModuleList(
                    SymmetricMLP(
                        (d_e, d_e), d_e, d_e, activation, "odd" if self.sign else None
                    )
                    for _ in range(n_layers)
                )
            self.rounds.append(block)
        # Per hidden layer: its nodes' mean and max, or (aligned) each node's
        # few channels, and every weight and bias (which hold the output
        # bias). Few: on FashionMNIST's shared theta (3 seeds), 64 channels
        # a node gave the head 4,096 inputs and scored 0.8225, 8 channels
        # 0.828.
        d_r = node_readout_features if aligned else d_v
        self.readout = nn.ModuleList(
            SymmetricMLP((d_v,), d_v, d_r, activation, "even" if self.sign else None)
            for _ in range(n_layers - 1)
        )
        if aligned:
            hidden_readout = sum(nodes[1:-1]) * d_r + n_params
        else:
            hidden_readout = (n_layers - 1) * 2 * d_v + 1  # and the output bias
        readout_size = (nodes[0] + nodes[-1]) * d_v + hidden_readout
        self.head = MLPModule(
            input_dim=readout_size,
            hidden_layer_sizes=hidden_layer_sizes,
            activation=activation,
            dropout=dropout,
            output_dim=output_dim,
        )

    def _standardized(self, X: torch.Tensor):
        if self.aligned:
            return unflatten_theta(
                (X - self.feature_mean) / self.feature_scale, self.layer_shapes
            )
        weights, biases = unflatten_theta(X, self.layer_shapes)
        mean, scale = self.layer_mean, self.layer_scale
        if self.sign:
            # Subtracting a mean would not commute with a sign flip: divide
            # by the root mean square (sqrt(mean^2 + std^2)) alone.
            rms = torch.sqrt(mean**2 + scale**2)
            return (
                [w / rms[k, 0] for k, w in enumerate(weights)],
                [b / rms[k, 1] for k, b in enumerate(biases)],
            )
        return (
            [(w - mean[k, 0]) / scale[k, 0] for k, w in enumerate(weights)],
            [(b - mean[k, 1]) / scale[k, 1] for k, b in enumerate(biases)],
        )

    def _probe_activations(self, X: torch.Tensor) -> list[torch.Tensor]:
        """Each node layer's activations at the probes: (batch, n_k, n_probes)."""
        weights, biases = unflatten_theta(X, self.layer_shapes)
        model = get_model(self.spec.model)
        hidden = model.encode(self.probes, self.spec).expand(X.shape[0], -1, -1)
        out = []
        for k, (w, b) in enumerate(zip(weights, biases)):
            hidden = torch.baddbmm(b[:, None, :], hidden, w.transpose(1, 2))
            if k < len(weights) - 1:
                hidden = model.activate(hidden, self.spec)
            out.append(hidden.transpose(1, 2))
        return out

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        w, b = self._standardized(X)
        batch = X.shape[0]
        # Edges of Linear layer k: (batch, n_out, n_in, d_e), w[k][:, i, j]
        # joining node j of layer k to node i of layer k + 1.
        edges = [init(wk[..., None]) for init, wk in zip(self.edge_init, w)]
        h = [self.input_nodes.expand(batch, -1, -1)]
        local = [bk[..., None] for bk in b]
        if self.probes is not None:
            local = [
                torch.cat([lk, ak], dim=-1)
                for lk, ak in zip(local, self._probe_activations(X))
            ]
        h += [init(lk) for init, lk in zip(self.node_init, local)]
        h[-1] = h[-1] + self.output_nodes
        if self.aligned:
            h[1:-1] = [hk + ek for hk, ek in zip(h[1:-1], self.hidden_nodes)]
        for block in self.rounds:
            messages: list[list[torch.Tensor]] = [[hk] for hk in h]
            for k, e in enumerate(edges):
                # e_ij * B(h_j) changes sign with q_i q_j * q_j = q_i: a
                # message to node i has node i's sign, whatever j's. Means
                # over the edges, so that width does not set the scale.
                forward = block["to_next"][k](h[k])
                messages[k + 1].append(
                    torch.einsum("bijc,bjc->bic", e, forward) / e.shape[2]
                )
                backward = block["to_previous"][k](h[k + 1])
                messages[k].append(
                    torch.einsum("bijc,bic->bjc", e, backward) / e.shape[1]
                )
            h = [
                hk + update(*parts)
                for hk, update, parts in zip(h, block["nodes"], messages)
            ]
            if "edges" in block:
                edges = [
                    e
                    + block["edges"][k](
                        e,
                        block["edge_out"][k](h[k + 1])[:, :, None, :]
                        * block["edge_in"][k](h[k])[:, None, :, :],
                    )
                    for k, e in enumerate(edges)
                ]
        pooled = [h[0].flatten(1), h[-1].flatten(1)]
        if self.aligned:
            pooled += [wk.flatten(1) for wk in w] + [bk.flatten(1) for bk in b]
        else:
            pooled.append(b[-1])
        for readout, hk in zip(self.readout, h[1:-1]):
            z = readout(hk)
            if self.aligned:
                pooled.append(z.flatten(1))
            else:
                pooled += [z.mean(dim=1), z.amax(dim=1)]
        return self.head(torch.cat(pooled, dim=-1))
