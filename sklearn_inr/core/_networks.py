"""Implicit neural representations: shapes, initialisation, theta.

An INR here is a plain multilayer perceptron mapping pixel coordinates to
intensities; its family (SIREN, ReLU, Gaussian, Fourier features) comes from
the model table (:mod:`sklearn_inr.core._models`). ``hidden_layers=H``
follows the SIREN reference convention: the network has ``H + 2`` Linear
layers (``in -> width``, ``H x width -> width``, ``width -> out``).

theta, the feature vector of one fitted INR, concatenates for each layer in
order its weight ``(out, in)`` in row-major order, then its bias ``(out,)``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from math import prod, sqrt

import numpy as np
import torch
from torch import nn

from ._models import get_model, model_names

__all__ = [
    "INRSpec",
    "flatten_theta",
    "make_coordinates",
    "theta_to_module",
    "unflatten_theta",
]


@dataclass(frozen=True)
class INRSpec:
    """Architecture of one INR: everything needed to size, initialise and run it.

    Parameters
    ----------
    model : {"siren", "relu", "gauss", "fourier"}, default="siren"
        A name in the model table (:func:`~sklearn_inr.core.model_names`).
        ``"siren"``: ``sin(omega_0 * (W x + b))`` on every layer but the last.
        ``"relu"``: ReLU on every layer but the last. ``"gauss"``:
        ``exp(-(s (W x + b))^2 / 2)`` with ``s = omega_0 / 2``.
        ``"fourier"``: ReLU MLP on random Fourier features of the
        coordinates (frequencies of standard deviation ``omega_0 / 10``).
        The output is linear.
    in_features : int, default=2
        Coordinate dimension (before any encoding: ``"fourier"``'s first
        layer takes the encoded coordinates, see :attr:`layer_shapes`).
    hidden_features : int, default=256
        Width of the hidden layers.
    hidden_layers : int, default=4
        Number of ``width -> width`` layers; the network has
        ``hidden_layers + 2`` Linear layers.
    out_features : int, default=1
        Output dimension (number of image channels).
    omega_0 : float, default=30.0
        SIREN frequency, Gaussian sharpness or Fourier-feature scale
        (see ``model``); ignored by ``"relu"``.

    Examples
    --------
    >>> from sklearn_inr import INRSpec
    >>> spec = INRSpec("siren", hidden_features=256, hidden_layers=4)
    >>> spec.n_params
    264193
    >>> spec.layer_shapes[:2]
    ((256, 2), (256, 256))
    """

    model: str = "siren"
    in_features: int = 2
    hidden_features: int = 256
    hidden_layers: int = 4
    out_features: int = 1
    omega_0: float = 30.0

    def __post_init__(self):
        if self.model not in model_names():
            get_model(self.model)  # raises, naming the registered models
        for name in ("in_features", "hidden_features", "out_features"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}.")
        if int(self.hidden_layers) < 0:
            raise ValueError(f"hidden_layers must be >= 0, got {self.hidden_layers}.")
        if not self.omega_0 > 0:
            raise ValueError(f"omega_0 must be > 0, got {self.omega_0}.")

    @property
    def layer_shapes(self) -> tuple[tuple[int, int], ...]:
        """``(out, in)`` of each Linear layer, input layer first.

        The first layer's fan-in is the width of the model's coordinate
        encoding (``in_features`` but for ``"fourier"``).
        """
        width = self.hidden_features
        return (
            ((width, get_model(self.model).encoded_features(self)),)
            + ((width, width),) * self.hidden_layers
            + ((self.out_features, width),)
        )

    @property
    def n_params(self) -> int:
        """Length of theta."""
        return layer_slices(self.layer_shapes)[-1][1].stop

    def feature_names(self) -> np.ndarray:
        """Names of the theta entries: ``l2.w[17,3]``, ``l2.b[17]``, ..."""
        names = []
        for k, (n_out, n_in) in enumerate(self.layer_shapes):
            rows, cols = np.divmod(np.arange(n_out * n_in), n_in)
            names.extend(f"l{k}.w[{i},{j}]" for i, j in zip(rows, cols))
            names.extend(f"l{k}.b[{i}]" for i in range(n_out))
        return np.asarray(names, dtype=object)

    def init_bounds(self) -> list[tuple[float, float]]:
        """Uniform init half-widths ``(weight_bound, bias_bound)`` of each layer.

        The weights' are the model's (SIREN, Sitzmann et al., 2020: the first
        layer's weights are ``U(-1/fan_in, 1/fan_in)``, the others
        ``U(+-sqrt(6/fan_in)/omega_0)``; the other families follow
        ``torch.nn.Linear``). Biases follow ``torch.nn.Linear``:
        ``U(+-1/sqrt(fan_in))``.
        """
        model = get_model(self.model)
        return [
            (model.weight_bound(self, k, fan_in), 1.0 / sqrt(fan_in))
            for k, (_, fan_in) in enumerate(self.layer_shapes)
        ]

    def check_size(self, itemsize: int = 4) -> None:
        """Refuse a network that one image cannot be trained with here.

        Training one image holds ``4 * n_params`` numbers (theta, its
        gradient and Adam's two moments); a network whose share exceeds this
        machine's memory raises a ``ValueError`` naming the parameters,
        before numpy or torch fail to allocate it.
        """
        n_bytes = self.n_params * itemsize
        limit = _physical_memory()
        if 4 * n_bytes > limit:
            raise ValueError(
                f"hidden_features={self.hidden_features} and hidden_layers="
                f"{self.hidden_layers} give a network of {self.n_params:,} "
                f"parameters: {_gib(n_bytes)} per theta and at least "
                f"{_gib(4 * n_bytes)} to train one image, more than this "
                f"machine's {_gib(limit)} of memory. Lower hidden_features (the "
                "parameter count grows with its square) or hidden_layers; the "
                "paper's network (256, 4) has 264,193 parameters."
            )

    def init_theta(self, random_state: int | np.random.Generator | None) -> np.ndarray:
        """Draw one initial theta, float32, from numpy's generator.

        Drawing with numpy (not torch) makes the initialisation identical on
        every device and torch version.
        """
        self.check_size()
        rng = np.random.default_rng(random_state)
        pieces = []
        for (n_out, n_in), (w_bound, b_bound) in zip(
            self.layer_shapes, self.init_bounds()
        ):
            pieces.append(rng.uniform(-w_bound, w_bound, size=n_out * n_in))
            pieces.append(rng.uniform(-b_bound, b_bound, size=n_out))
        return np.concatenate(pieces).astype(np.float32)


def _physical_memory() -> int:
    """Bytes of memory of this machine (1 TiB where the OS does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):  # e.g. Windows
        return 2**40


def _gib(n_bytes: int) -> str:
    return f"{n_bytes / 2**30:,.1f} GiB"


def flatten_theta(weights, biases):
    """Concatenate per-layer weights and biases into theta.

    Works on numpy arrays and torch tensors, with or without leading batch
    dimensions.

    Parameters
    ----------
    weights : list of arrays of shape (..., out, in)
        Weight of each Linear layer, input layer first.
    biases : list of arrays of shape (..., out)
        Bias of each Linear layer.

    Returns
    -------
    theta : array of shape (..., n_params)

    See Also
    --------
    unflatten_theta : The inverse.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_inr import flatten_theta, unflatten_theta
    >>> weights = [np.ones((3, 2)), np.ones((1, 3))]
    >>> biases = [np.zeros(3), np.zeros(1)]
    >>> theta = flatten_theta(weights, biases)
    >>> theta.shape
    (13,)
    >>> w, b = unflatten_theta(theta, [(3, 2), (1, 3)])
    >>> w[1].shape, b[0].shape
    ((1, 3), (3,))
    """
    if len(weights) != len(biases):
        raise ValueError(
            f"Got {len(weights)} weights but {len(biases)} biases; pass one of each "
            "per layer."
        )
    pieces = []
    for weight, bias in zip(weights, biases):
        lead = tuple(weight.shape[:-2])
        pieces.append(weight.reshape(*lead, -1))
        pieces.append(bias.reshape(*lead, -1))
    if isinstance(pieces[0], torch.Tensor):
        return torch.cat(pieces, dim=-1)
    return np.concatenate(pieces, axis=-1)


def unflatten_theta(theta, layer_shapes):
    """Split theta into per-layer weights and biases (views where possible).

    Parameters
    ----------
    theta : array of shape (..., n_params)
        numpy array or torch tensor.
    layer_shapes : sequence of (out, in)
        As given by :attr:`INRSpec.layer_shapes`.

    Returns
    -------
    weights : list of arrays of shape (..., out, in)
    biases : list of arrays of shape (..., out)

    See Also
    --------
    flatten_theta : The inverse.

    Examples
    --------
    >>> from sklearn_inr import INRSpec, unflatten_theta
    >>> spec = INRSpec("siren", hidden_features=8, hidden_layers=1)
    >>> theta = spec.init_theta(0)
    >>> weights, biases = unflatten_theta(theta, spec.layer_shapes)
    >>> [w.shape for w in weights]
    [(8, 2), (8, 8), (1, 8)]
    """
    slices = layer_slices(layer_shapes)
    n_params = slices[-1][1].stop if slices else 0
    if theta.shape[-1] != n_params:
        raise ValueError(
            f"theta has {theta.shape[-1]} features but the layer shapes "
            f"{list(layer_shapes)} need {n_params}. Use the INRSpec (model, "
            "hidden_features, hidden_layers, channels) that produced theta."
        )
    lead = tuple(theta.shape[:-1])
    weights, biases = [], []
    for (n_out, n_in), (weight, bias) in zip(layer_shapes, slices):
        weights.append(theta[..., weight].reshape(*lead, n_out, n_in))
        biases.append(theta[..., bias].reshape(*lead, n_out))
    return weights, biases


def permute_hidden_neurons(theta, spec: INRSpec, rng) -> np.ndarray:
    """Reorder the hidden neurons of each INR; each network's function is unchanged.

    Every hidden layer of every row of ``theta`` gets its own permutation from
    ``rng`` (a :class:`numpy.random.Generator`): layer k's rows (weight and
    bias) and layer k + 1's columns follow it. What a permutation-invariant
    feature or classifier must not see.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_inr import INRSpec
    >>> from sklearn_inr.core._networks import permute_hidden_neurons
    >>> spec = INRSpec("siren", hidden_features=8, hidden_layers=1)
    >>> theta = spec.init_theta(0)[None]
    >>> permuted = permute_hidden_neurons(theta, spec, np.random.default_rng(0))
    >>> bool(np.allclose(np.sort(permuted[0]), np.sort(theta[0])))
    True
    """
    weights, biases = unflatten_theta(np.asarray(theta), spec.layer_shapes)
    weights = [w.copy() for w in weights]
    biases = [b.copy() for b in biases]
    for n in range(len(theta)):
        for k in range(len(weights) - 1):
            perm = rng.permutation(weights[k].shape[1])
            weights[k][n] = weights[k][n][perm]
            biases[k][n] = biases[k][n][perm]
            weights[k + 1][n] = weights[k + 1][n][:, perm]
    return flatten_theta(weights, biases)


def layer_slices(layer_shapes) -> list[tuple[slice, slice]]:
    """Where each layer's weight and bias sit in theta: the theta layout.

    Parameters
    ----------
    layer_shapes : sequence of (out, in)

    Returns
    -------
    slices : list of (weight_slice, bias_slice), one per layer

    Examples
    --------
    >>> from sklearn_inr.core._networks import layer_slices
    >>> layer_slices([(3, 2), (1, 3)])
    [(slice(0, 6, None), slice(6, 9, None)), (slice(9, 12, None), slice(12, 13, None))]
    """
    slices, start = [], 0
    for n_out, n_in in layer_shapes:
        stop = start + n_out * n_in
        slices.append((slice(start, stop), slice(stop, stop + n_out)))
        start = stop + n_out
    return slices


def make_coordinates(shape, dtype=torch.float32, device=None) -> torch.Tensor:
    """Pixel-centre coordinates of a regular grid, scaled to [-1, 1] per axis.

    Pixel ``i`` of an axis of length ``n`` sits at ``(2 i + 1) / n - 1``, so the
    grid is symmetric about 0 and a rendering at another resolution samples
    the same continuous square. Columns follow the array axes (row, column),
    and rows follow the row-major (C) order of the pixels.

    Parameters
    ----------
    shape : tuple of int
        Image shape without channels, e.g. ``(H, W)``.
    dtype, device
        Of the returned tensor.

    Returns
    -------
    coords : tensor of shape (prod(shape), len(shape))

    Examples
    --------
    >>> from sklearn_inr import make_coordinates
    >>> make_coordinates((2, 2))
    tensor([[-0.5000, -0.5000],
            [-0.5000,  0.5000],
            [ 0.5000, -0.5000],
            [ 0.5000,  0.5000]])
    """
    axes = [(torch.arange(n, dtype=torch.float64) * 2 + 1) / n - 1 for n in shape]
    grid = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1)
    return grid.reshape(prod(shape), len(shape)).to(dtype=dtype, device=device)


def theta_to_module(theta, spec: INRSpec) -> nn.Sequential:
    """Build a plain ``torch.nn.Sequential`` INR holding the parameters theta.

    This is the textbook per-image network (Linear, activation, ...), used as
    the reference the batched engine is tested against, and handy for using a
    fitted INR elsewhere (e.g. to evaluate it at arbitrary coordinates).

    Parameters
    ----------
    theta : array-like of shape (n_params,)
    spec : INRSpec

    Returns
    -------
    module : torch.nn.Sequential
        Its ``parameters()`` follow the theta layout. A model with a
        coordinate encoding (``"fourier"``) starts with it, a module holding
        its fixed frequencies as a buffer, not a parameter.

    Examples
    --------
    >>> from sklearn_inr import INRSpec, make_coordinates, theta_to_module
    >>> spec = INRSpec("siren", hidden_features=16, hidden_layers=2)
    >>> net = theta_to_module(spec.init_theta(0), spec)
    >>> net(make_coordinates((4, 4))).shape
    torch.Size([16, 1])
    """
    theta = torch.as_tensor(
        np.asarray(theta, dtype=np.float32)
        if not isinstance(theta, torch.Tensor)
        else theta
    )
    weights, biases = unflatten_theta(theta, spec.layer_shapes)
    model = get_model(spec.model)
    encoding = model.encoding_module(spec)
    layers: list[nn.Module] = [] if encoding is None else [encoding]
    for k, (weight, bias) in enumerate(zip(weights, biases)):
        linear = nn.Linear(weight.shape[1], weight.shape[0], dtype=theta.dtype)
        with torch.no_grad():
            linear.weight.copy_(weight)
            linear.bias.copy_(bias)
        layers.append(linear)
        if k < len(weights) - 1:
            layers.append(model.activation_module(spec))
    return nn.Sequential(*layers)
