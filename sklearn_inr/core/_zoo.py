"""INR zoos: theta to and from torch ``state_dict``\\ s.

Weight-space datasets (the SIREN zoos of DWSNet and NFN, MNIST-INR,
FashionMNIST-INR) are kept as one ``state_dict`` per INR: a mapping from
parameter names (``net.0.linear.weight``, ``layers.0.weight``, ...) to
tensors. This module turns such a list into theta rows in this package's
layout (:func:`~sklearn_inr.core.flatten_theta`) and back, checking every
shape against one :class:`~sklearn_inr.INRSpec`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from ._models import get_model
from ._networks import INRSpec, flatten_theta, unflatten_theta

__all__ = ["theta_from_state_dicts", "theta_to_state_dicts"]

_SUFFIXES = (".pt", ".pth", ".npz")


def theta_from_state_dicts(
    state_dicts,
    spec: INRSpec | None = None,
    *,
    model: str | None = None,
    omega_0: float | None = None,
    keys: Callable[[str], bool] | Sequence[str] | None = None,
    omega_0_folded: bool = False,
) -> tuple[np.ndarray, INRSpec]:
    """Read a zoo of INRs, one ``state_dict`` each, into theta rows.

    The Linear layers of each ``state_dict`` are found by a naming rule,
    in the mapping's order (for ``nn.Module.state_dict()``, the order the
    submodules were assigned in ``__init__``, which must be the order of
    the forward pass): an entry whose name ends in ``weight`` and holds a
    2-D tensor ``(out, in)`` starts a layer, and the next entry must end in
    ``bias`` and hold a 1-D tensor ``(out,)``. Any other entry (a buffer, a
    norm's parameters, a Linear layer without bias) raises a ``ValueError``
    naming it, unless ``keys`` leaves it out.

    Parameters
    ----------
    state_dicts : list of mappings or paths
        Each item is one INR: a mapping of name -> ``torch.Tensor`` or
        array, or the path of a ``.pt``/``.pth`` file (read with
        ``torch.load(path, weights_only=True)``, which loads tensors and
        plain containers only and never unpickles arbitrary objects) or of a
        ``.npz`` file (read with ``allow_pickle=False``, entries in the
        order they were saved). A file may hold one ``state_dict`` or a list
        of them (a whole zoo).
    spec : INRSpec, default=None
        The architecture to check every ``state_dict`` against. ``None``
        infers it from the first one's shapes: ``in_features`` from the
        first layer's fan-in, ``hidden_features`` from its width,
        ``hidden_layers`` as the number of layers minus 2, ``out_features``
        from the last layer. Every hidden layer must then be ``width ->
        width`` (this package's networks have one width).
    model : str, default=None
        The INR family when ``spec`` is None (default ``"siren"``): weights
        do not say which activation they were trained with. A family with a
        coordinate encoding (``"fourier"``) needs ``spec``.
    omega_0 : float, default=None
        The SIREN frequency when ``spec`` is None (default 30.0): it is not
        in the weights either. Pass ``model`` and ``omega_0`` only without
        ``spec``.
    keys : callable or sequence of str, default=None
        Which entries hold the Linear layers. A callable ``keys(name)``
        returning False skips that entry (e.g. a buffer); a sequence lists
        the names to read, in layer order (weight, bias, weight, bias, ...),
        whatever the mapping's order and names. ``None`` reads every entry.
    omega_0_folded : bool, default=False
        ``model="siren"`` only. This package's SIREN computes
        ``sin(omega_0 (W x + b))`` on every layer but the last (the SIREN
        reference code's convention). Pass True for a zoo whose networks
        compute ``sin(W' x + b')``, omega_0 already folded into the weights
        (``W' = omega_0 W``, ``b' = omega_0 b``): the weights and biases of
        every layer but the last are divided by ``omega_0`` on the way in, so
        the imported INRs compute the same function (to float32 rounding).

    Returns
    -------
    theta : ndarray of shape (n_inrs, n_params)
        float32, in this package's layout; use it with
        :func:`~sklearn_inr.render_inrs` or as features.
    spec : INRSpec
        ``spec`` as given, or as inferred.

    See Also
    --------
    theta_to_state_dicts : The inverse.
    sklearn_inr.theta_to_module : One INR as a ``torch.nn.Sequential``.

    Examples
    --------
    >>> import torch
    >>> from sklearn_inr import theta_from_state_dicts
    >>> nets = [torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Linear(8, 1))
    ...         for _ in range(3)]
    >>> theta, spec = theta_from_state_dicts([net.state_dict() for net in nets])
    >>> theta.shape
    (3, 33)
    >>> spec.hidden_features, spec.hidden_layers
    (8, 0)
    """
    if spec is not None and (model is not None or omega_0 is not None):
        raise ValueError(
            f"Got spec={spec!r} and model={model!r}, omega_0={omega_0!r}; pass "
            "either spec or model and omega_0 (they complete the inferred shapes)."
        )
    family = spec.model if spec is not None else model or "siren"
    if omega_0_folded and family != "siren":
        raise ValueError(
            f"omega_0_folded=True applies to model='siren' only, got {family!r}."
        )
    layer_lists = [
        (where, _linear_layers(state_dict, keys, where))
        for where, state_dict in _iter_state_dicts(state_dicts)
    ]
    if not layer_lists:
        raise ValueError("state_dicts is empty; pass at least one state_dict.")
    if spec is None:
        spec = _infer_spec(*layer_lists[0], family, omega_0)
    expected = spec.layer_shapes
    weights = [[] for _ in expected]
    biases = [[] for _ in expected]
    for where, layers in layer_lists:
        _check_shapes(where, layers, expected, spec)
        for k, (_, weight, _, bias) in enumerate(layers):
            weights[k].append(weight)
            biases[k].append(bias)
    weights = [np.stack(w) for w in weights]
    biases = [np.stack(b) for b in biases]
    if omega_0_folded:
        # In float64, so the division rounds once (at the cast to float32).
        for k in range(len(expected) - 1):
            weights[k] = weights[k].astype(np.float64) / spec.omega_0
            biases[k] = biases[k].astype(np.float64) / spec.omega_0
    return flatten_theta(weights, biases).astype(np.float32, copy=False), spec


def theta_to_state_dicts(
    theta,
    spec: INRSpec,
    *,
    naming: str | Callable[[int, str], str] = "sequential",
    omega_0_folded: bool = False,
) -> list[dict[str, torch.Tensor]] | dict[str, torch.Tensor]:
    """Write theta rows as torch ``state_dict``\\ s, one per INR.

    Parameters
    ----------
    theta : array-like of shape (n_inrs, n_params) or (n_params,)
    spec : INRSpec
        The architecture theta came from.
    naming : "sequential", str or callable, default="sequential"
        The parameter names. ``"sequential"``: those of
        :func:`~sklearn_inr.theta_to_module`'s ``nn.Sequential``
        (``"0.weight"``, ``"0.bias"``, ``"2.weight"``, ...), so
        ``theta_to_module(row, spec).load_state_dict(state_dict)`` works
        (a ``"fourier"`` module also holds its fixed frequencies, so load
        it with ``strict=False``). A template string with ``{i}`` (the
        layer, from 0) and ``{param}`` (``"weight"`` or ``"bias"``), e.g.
        ``"layers.{i}.{param}"`` or ``"net.{i}.linear.{param}"``. A callable
        ``naming(i, param)`` returning the name, for any other module.
    omega_0_folded : bool, default=False
        ``model="siren"`` only: multiply the weights and biases of every
        layer but the last by ``omega_0``, for networks computing
        ``sin(W' x + b')`` (see :func:`theta_from_state_dicts`).

    Returns
    -------
    state_dicts : list of dict or dict
        Name -> float ``torch.Tensor`` (each its own copy, so ``torch.save``
        stores only that INR), layers in order, weight before bias. A 1-D
        theta gives a single dict.

    See Also
    --------
    theta_from_state_dicts : The inverse.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_inr import INRSpec, theta_from_state_dicts, theta_to_state_dicts
    >>> spec = INRSpec("siren", hidden_features=8, hidden_layers=1)
    >>> theta = np.stack([spec.init_theta(seed) for seed in range(2)])
    >>> state_dicts = theta_to_state_dicts(theta, spec, naming="layers.{i}.{param}")
    >>> list(state_dicts[0])[:3]
    ['layers.0.weight', 'layers.0.bias', 'layers.1.weight']
    >>> back, _ = theta_from_state_dicts(state_dicts, spec)
    >>> bool(np.array_equal(back, theta))
    True
    """
    if omega_0_folded and spec.model != "siren":
        raise ValueError(
            f"omega_0_folded=True applies to model='siren' only, got {spec.model!r}."
        )
    name = _naming(naming, spec)
    theta = torch.as_tensor(np.asarray(theta) if not torch.is_tensor(theta) else theta)
    single = theta.ndim == 1
    weights, biases = unflatten_theta(
        theta.detach().cpu().reshape(-1, theta.shape[-1]), spec.layer_shapes
    )
    last = len(weights) - 1
    state_dicts = []
    for n in range(weights[0].shape[0]):
        state_dict = {}
        for k, (weight, bias) in enumerate(zip(weights, biases)):
            scale = spec.omega_0 if omega_0_folded and k < last else None
            for param, value in (("weight", weight[n]), ("bias", bias[n])):
                value = value.clone() if scale is None else _scaled(value, scale)
                state_dict[name(k, param)] = value
        state_dicts.append(state_dict)
    return state_dicts[0] if single else state_dicts


def _scaled(value: torch.Tensor, scale: float) -> torch.Tensor:
    # In float64, so the product rounds once (at the cast back).
    return (value.double() * scale).to(value.dtype)


def _naming(naming, spec: INRSpec) -> Callable[[int, str], str]:
    if callable(naming):
        return naming
    if naming == "sequential":
        # theta_to_module: [encoding], Linear, activation, Linear, ..., Linear.
        offset = int(get_model(spec.model).encoding_module(spec) is not None)
        return lambda i, param: f"{offset + 2 * i}.{param}"
    if isinstance(naming, str) and "{i}" in naming and "{param}" in naming:
        return lambda i, param: naming.format(i=i, param=param)
    raise ValueError(
        f"naming must be 'sequential', a template with '{{i}}' and '{{param}}' "
        f"such as 'layers.{{i}}.{{param}}', or a callable (i, param) -> name; "
        f"got {naming!r}."
    )


def _iter_state_dicts(state_dicts):
    """``(where, mapping)`` of each INR; ``where`` names it in error messages."""
    if isinstance(state_dicts, (Mapping, str, os.PathLike)):
        raise TypeError(
            f"state_dicts must be a list of state_dicts or paths, got a "
            f"{type(state_dicts).__name__}; wrap one in a list: [state_dict]."
        )
    for index, item in enumerate(state_dicts):
        where = f"state_dicts[{index}]"
        if not isinstance(item, (str, os.PathLike)):
            yield where, _as_mapping(item, where)
            continue
        loaded = _load(Path(item))
        if isinstance(loaded, (list, tuple)):
            for j, state_dict in enumerate(loaded):
                yield f"{where}[{j}]", _as_mapping(state_dict, f"{where}[{j}]")
        else:
            yield where, _as_mapping(loaded, where)


def _load(path: Path):
    if path.suffix not in _SUFFIXES:
        raise ValueError(
            f"Cannot read {os.fspath(path)!r}: the file types read are "
            f"{', '.join(_SUFFIXES)}. Load it yourself and pass the state_dict."
        )
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}
    # weights_only: tensors and plain containers only, never arbitrary pickles.
    return torch.load(path, map_location="cpu", weights_only=True)


def _as_mapping(state_dict, where: str) -> Mapping:
    if not isinstance(state_dict, Mapping):
        raise TypeError(
            f"{where} is a {type(state_dict).__name__}, not a mapping of "
            "parameter names to tensors (a state_dict)."
        )
    return state_dict


def _as_array(value) -> np.ndarray:
    if torch.is_tensor(value):
        value = value.detach().cpu()
        if value.is_floating_point() and value.dtype not in (
            torch.float32,
            torch.float64,
        ):
            value = value.float()  # numpy has no bfloat16
        value = value.numpy()
    return np.asarray(value)


def _linear_layers(state_dict: Mapping, keys, where: str):
    """``[(weight_name, weight, bias_name, bias), ...]``, by the naming rule."""
    by_rule = keys is None or callable(keys)
    if by_rule:
        names = [name for name in state_dict if keys is None or keys(name)]
    else:
        names = list(keys)
        missing = [name for name in names if name not in state_dict]
        if missing:
            raise ValueError(
                f"{where} has no entry {missing[0]!r} (from keys); its entries "
                f"are {list(state_dict)}."
            )
    layers = []
    for i in range(0, len(names), 2):
        name, weight = names[i], _as_array(state_dict[names[i]])
        if weight.ndim != 2 or (by_rule and not str(name).endswith("weight")):
            raise ValueError(
                f"{where}[{name!r}] (shape {weight.shape}) is not the weight of a "
                "Linear layer (a name ending in 'weight' holding a 2-D tensor). "
                f"Leave it out with keys=, e.g. keys=lambda name: name != {name!r}, "
                "or pass keys=[the layers' weight and bias names, in order]."
            )
        bias_name = names[i + 1] if i + 1 < len(names) else None
        bias = None if bias_name is None else _as_array(state_dict[bias_name])
        if (
            bias is None
            or bias.ndim != 1
            or (by_rule and not str(bias_name).endswith("bias"))
        ):
            found = "nothing" if bias is None else f"{bias_name!r} (shape {bias.shape})"
            raise ValueError(
                f"{where}[{name!r}] is followed by {found}, not its bias (a name "
                "ending in 'bias' holding a 1-D tensor): every Linear layer needs "
                "a bias, right after its weight."
            )
        for param_name, value in ((name, weight), (bias_name, bias)):
            if not np.issubdtype(value.dtype, np.floating):
                raise ValueError(
                    f"{where}[{param_name!r}] has dtype {value.dtype}; a Linear "
                    "layer's parameters are floating point."
                )
        layers.append((name, weight, bias_name, bias))
    if not layers:
        raise ValueError(f"{where} holds no Linear layer; its entries are {names}.")
    return layers


def _infer_spec(where: str, layers, model: str, omega_0) -> INRSpec:
    omega_0 = 30.0 if omega_0 is None else omega_0
    if len(layers) < 2:
        raise ValueError(
            f"{where}[{layers[0][0]!r}] is its only Linear layer; this package's "
            "INRs have at least two (hidden_layers=0: in -> width -> out)."
        )
    width, in_features = layers[0][1].shape
    spec = INRSpec(
        model,
        in_features=in_features,
        hidden_features=width,
        hidden_layers=len(layers) - 2,
        out_features=layers[-1][1].shape[0],
        omega_0=omega_0,
    )
    if get_model(model).encoding_module(spec) is not None:
        raise ValueError(
            f"model={model!r} encodes the coordinates before its first layer, so "
            "its in_features cannot be read from the weights; pass spec=INRSpec(...)."
        )
    return spec


def _check_shapes(where: str, layers, expected, spec: INRSpec) -> None:
    if len(layers) != len(expected):
        raise ValueError(
            f"{where} has {len(layers)} Linear layers but {spec!r} has "
            f"{len(expected)} (hidden_layers + 2)."
        )
    for k, ((name, weight, bias_name, bias), shape) in enumerate(zip(layers, expected)):
        for param_name, got, want in (
            (name, weight, shape),
            (bias_name, bias, shape[:1]),
        ):
            if got.shape != want:
                raise ValueError(
                    f"{where}[{param_name!r}] has shape {got.shape} but layer {k} "
                    f"of {spec!r} expects {want}."
                )
