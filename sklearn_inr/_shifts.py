"""Shift modulations: per-image bias offsets of a shared base network.

As in functa (Dupont et al., 2022), each image's network is a base network
shared by all images with a *shift* added to the biases of its hidden
``width -> width`` layers; the shifts are the image's features. Fitting them
reuses the batched kernel of :mod:`sklearn_inr._engine`: the biases are
``base + shift``, so a shift's gradient is its bias's gradient.
"""

from __future__ import annotations

import joblib
import numpy as np
import torch

from ._cache import ThetaCache
from ._engine import BatchedINR, make_adam
from ._fitting import (
    INRFitResult,
    auto_batch_size,
    check_batch_size,
    check_fit_params,
    check_images,
    collect_results,
    fit_key_settings,
    load_cached,
    parse_device,
    resolve_device,
    store_batch,
)
from ._networks import INRSpec, layer_slices, make_coordinates, unflatten_theta

__all__ = [
    "fit_shifts",
    "shift_feature_names",
    "shift_indices",
    "shifts_to_theta",
]


# ----------------------------------------------------------------- layout
def shift_indices(spec: INRSpec) -> np.ndarray:
    """Positions in theta of the biases that shift modulations offset.

    One offset per hidden unit of the ``hidden_layers`` ``width -> width``
    layers (layers ``1 .. hidden_layers``), so there are
    ``hidden_layers * hidden_features`` shifts.

    Parameters
    ----------
    spec : INRSpec

    Returns
    -------
    indices : ndarray of int of shape (hidden_layers * hidden_features,)

    Examples
    --------
    >>> from sklearn_inr import INRSpec, shift_indices
    >>> shift_indices(INRSpec(hidden_features=4, hidden_layers=2)).shape
    (8,)
    """
    _check_shift_spec(spec)
    slices = layer_slices(spec.layer_shapes)[1 : spec.hidden_layers + 1]
    return np.concatenate([np.arange(bias.start, bias.stop) for _, bias in slices])


def shift_feature_names(spec: INRSpec) -> np.ndarray:
    """Names of the shift features: ``l1.shift[0]``, ..., ``lH.shift[width-1]``.

    Parameters
    ----------
    spec : INRSpec
        The base network (``hidden_layers >= 1``).

    Returns
    -------
    names : ndarray of str objects, shape (hidden_layers * hidden_features,)

    Examples
    --------
    >>> from sklearn_inr import INRSpec, shift_feature_names
    >>> shift_feature_names(INRSpec(hidden_features=3, hidden_layers=2))
    array(['l1.shift[0]', 'l1.shift[1]', 'l1.shift[2]', 'l2.shift[0]',
           'l2.shift[1]', 'l2.shift[2]'], dtype=object)
    """
    _check_shift_spec(spec)
    width = spec.hidden_features
    return np.asarray(
        [
            f"l{k}.shift[{i}]"
            for k in range(1, spec.hidden_layers + 1)
            for i in range(width)
        ],
        dtype=object,
    )


def shifts_to_theta(shifts, base_theta, spec: INRSpec) -> np.ndarray:
    """Full network parameters from shift modulations and their base.

    The result renders with :func:`render_inrs` like any theta.

    Parameters
    ----------
    shifts : array-like of shape (n_images, hidden_layers * hidden_features)
    base_theta : array-like of shape (n_params,)
        The shared base network.
    spec : INRSpec

    Returns
    -------
    theta : ndarray of shape (n_images, n_params), float32

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_inr import INRSpec, render_inrs, shifts_to_theta
    >>> spec = INRSpec(hidden_features=8, hidden_layers=2)
    >>> theta = shifts_to_theta(np.zeros((3, 16)), spec.init_theta(0), spec)
    >>> render_inrs(theta, (5, 5), hidden_features=8, hidden_layers=2).shape
    (3, 5, 5)
    """
    index = shift_indices(spec)
    shifts = np.atleast_2d(np.asarray(shifts, dtype=np.float32))
    base = np.asarray(base_theta, dtype=np.float32)
    if base.shape != (spec.n_params,):
        raise ValueError(
            f"base_theta must have shape ({spec.n_params},) for {spec}, got "
            f"{base.shape}."
        )
    if shifts.shape[1] != len(index):
        raise ValueError(
            f"shifts have {shifts.shape[1]} features but this network has "
            f"{len(index)} shifts (hidden_layers x hidden_features)."
        )
    theta = np.tile(base, (len(shifts), 1))
    # The same float32 addition as during fitting (base bias + shift), so a
    # rendering reproduces the fitted output exactly.
    theta[:, index] = base[index] + shifts
    return theta


def _check_shift_spec(spec):
    if spec.hidden_layers < 1:
        raise ValueError(
            "Shift modulations offset the biases of the hidden width -> width "
            "layers, and this network has hidden_layers=0; use hidden_layers >= 1."
        )


def _prepare(images, spec, loss, device, dtype, *, upload=True):
    """Checked images, coordinates, the images on the device (if ``upload``)."""
    images = check_images(images, loss)
    if images.shape[-1] != spec.out_features:
        raise ValueError(
            f"images have {images.shape[-1]} channel(s) but spec.out_features="
            f"{spec.out_features}."
        )
    device = resolve_device(parse_device(device))
    coords = make_coordinates(images.shape[1:3], dtype=dtype, device=device)
    targets = None
    if upload:
        targets = torch.as_tensor(
            images.reshape(len(images), -1, spec.out_features), dtype=dtype
        ).to(device)
    return images, coords, targets, device


def _attach_shifts(net: BatchedINR):
    """Zero shift tensors whose gradients are the shifted biases' gradients.

    A shift's gradient equals its bias's gradient (the bias is base + shift),
    so each shift's ``.grad`` *is* that bias's ``.grad`` buffer: the backward
    pass fills it without a copy.
    """
    shifts = []
    for k in range(1, net.spec.hidden_layers + 1):
        shift = torch.zeros_like(net.biases[k])
        shift.grad = net.biases[k].grad
        shifts.append(shift)
    return shifts


def _apply_shifts(net, base_biases, shifts):
    for k, shift in enumerate(shifts, start=1):
        torch.add(base_biases[k], shift, out=net.biases[k])


# ------------------------------------------------------------ shift fitting
def fit_shifts(
    images,
    base_theta,
    spec: INRSpec,
    *,
    n_steps: int = 10,
    lr: float = 1e-2,
    loss: str = "bce",
    batch_size="auto",
    device="auto",
    dtype=torch.float32,
    record_every: int = 1,
    memory=None,
    verbose: int = 0,
) -> INRFitResult:
    """Fit per-image shift modulations of a fixed base network.

    Each image's network is the base with ``shift`` added to the biases of
    its ``hidden_layers`` ``width -> width`` layers; the shifts start at
    zero and follow full-batch Adam. As in :func:`fit_inrs`, every image
    follows its solo trajectory whatever its batch.

    Parameters
    ----------
    images : array-like of shape (n_images, H, W) or (n_images, H, W, C)
    base_theta : array-like of shape (n_params,)
        E.g. from :func:`meta_learn_shift_base`.
    spec : INRSpec
    n_steps : int, default=10
    lr : float, default=1e-2
    loss : {"bce", "mse"}, default="bce"
    batch_size : int or "auto", default="auto"
    device : {"auto", "cpu", "cuda"}, default="auto"
    dtype : torch.dtype, default=torch.float32
    record_every : int, default=1
        Stride of the loss history, in steps.
    memory : None, str, path or joblib.Memory, default=None
        Folder caching each image's shifts (keyed by the image, the base and
        the settings).
    verbose : int, default=0
        Show a progress bar of images done when > 0.

    Returns
    -------
    result : INRFitResult
        ``theta`` holds the shifts, shape
        ``(n_images, hidden_layers * hidden_features)``; see
        :func:`shifts_to_theta` for the full parameters.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_inr import INRSpec, fit_shifts
    >>> images = np.random.default_rng(0).uniform(size=(3, 8, 8))
    >>> spec = INRSpec(hidden_features=8, hidden_layers=2)
    >>> fit_shifts(images, spec.init_theta(0), spec, n_steps=3).theta.shape
    (3, 16)
    """
    _check_shift_spec(spec)
    check_fit_params(loss=loss, n_steps=n_steps, lr=lr, record_every=record_every)
    check_batch_size(batch_size)
    # Batches go to the device one at a time, not the whole set at once.
    images, coords, _, device = _prepare(
        images, spec, loss, device, dtype, upload=False
    )
    base_np = np.asarray(base_theta, dtype=np.float32)
    if base_np.shape != (spec.n_params,):
        raise ValueError(
            f"base_theta must have shape ({spec.n_params},), got {base_np.shape}."
        )
    record_steps = np.arange(0, n_steps, record_every)
    cache = ThetaCache.from_memory(memory)
    settings = {
        "kind": "shift",
        **fit_key_settings(
            spec, loss=loss, lr=lr, n_steps=n_steps, record_every=record_every,
            dtype=dtype,
        ),
        "base": joblib.hash(base_np),
    }  # fmt: skip
    keys = [
        None if cache is None else ThetaCache.key(image, settings) for image in images
    ]
    results, todo = load_cached(cache, keys)
    if batch_size == "auto":
        batch_size = auto_batch_size(
            spec, coords.shape[0], device, torch.finfo(dtype).bits // 8
        )
    base = torch.as_tensor(base_np, dtype=dtype).to(device)
    progress = None
    if verbose > 0 and len(todo):
        from tqdm.auto import tqdm

        progress = tqdm(total=len(todo), unit="image", desc="Fitting shifts")
    for start in range(0, len(todo), batch_size):
        rows = todo[start : start + batch_size]
        targets = torch.as_tensor(
            images[rows].reshape(len(rows), -1, spec.out_features), dtype=dtype
        ).to(device)
        shifts, output, history = _train_shifts(
            spec, base, targets, coords, loss=loss, lr=lr, n_steps=n_steps,
            record_steps=set(record_steps.tolist()),
        )  # fmt: skip
        store_batch(
            results, rows, shifts, output, history,
            loss=loss, image_shape=images.shape[1:], cache=cache,
            keys=[keys[row] for row in rows],
        )  # fmt: skip
        if progress is not None:
            progress.update(len(rows))
    if progress is not None:
        progress.close()
    history_steps = np.append(record_steps, n_steps)
    return collect_results(results, images, history_steps, spec, lr)


def _train_shifts(spec, base, targets, coords, *, loss, lr, n_steps, record_steps):
    """Adam on the shifts of a batch; return shifts, output and loss history."""
    batch = targets.shape[0]
    net = BatchedINR(spec, base.expand(batch, -1), coords)
    _, base_biases = unflatten_theta(base, spec.layer_shapes)
    shifts = _attach_shifts(net)
    optimizer = make_adam(shifts, lr)
    history = torch.empty(
        (batch, len(record_steps) + 1), dtype=base.dtype, device=base.device
    )
    column = 0
    for step in range(n_steps):
        losses = net.backward(
            targets, loss, weight_grads=False, return_losses=step in record_steps
        )
        if losses is not None:
            history[:, column] = losses
            column += 1
        optimizer.step()
        _apply_shifts(net, base_biases, shifts)
    output = net.forward()
    history[:, column] = net.losses(targets, loss)
    return torch.cat(shifts, dim=1), output, history
