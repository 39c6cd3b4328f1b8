"""Learned initialisations (first-order meta-learning) and shift modulations.

Two ways to make every image's INR cheap to fit and comparable:

- :func:`meta_learn_init` learns one starting theta with Reptile (Nichol et
  al., 2018): each outer step fits a batch of images for a few Adam steps
  from the current init and moves the init toward their mean adapted theta.
- :func:`meta_learn_shift_base` learns a base SIREN for which per-image
  *shift modulations* (one bias offset per hidden unit, as in functa, Dupont
  et al., 2022), fitted from zero in a few steps, reconstruct well; it uses
  the first-order MAML gradient. :func:`fit_shifts` then fits the shifts of
  new images with the base fixed.

Everything runs on the batched kernel of :mod:`sklearn_inr._engine`; this
module knows nothing of scikit-learn.
"""

from __future__ import annotations

import numpy as np
import torch

from ._cache import ThetaCache
from ._engine import BatchedINR, make_adam
from ._fitting import (
    INRDivergenceError,
    INRFitResult,
    auto_batch_size,
    check_images,
    parse_device,
    resolve_device,
)
from ._networks import INRSpec, make_coordinates, unflatten_theta
from .metrics import mean_squared_error_per_image, psnr

__all__ = [
    "fit_shifts",
    "meta_learn_init",
    "meta_learn_shift_base",
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
    indices, start = [], 0
    for k, (n_out, n_in) in enumerate(spec.layer_shapes):
        bias_start = start + n_out * n_in
        if 1 <= k <= spec.hidden_layers:
            indices.append(np.arange(bias_start, bias_start + n_out))
        start = bias_start + n_out
    return np.concatenate(indices)


def shift_feature_names(spec: INRSpec) -> np.ndarray:
    """Names of the shift features: ``l1.shift[0]``, ..., ``lH.shift[width-1]``."""
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


# ---------------------------------------------------------------- helpers
def _prepare(images, spec, loss, device, dtype):
    images = check_images(images, loss)
    if images.shape[-1] != spec.out_features:
        raise ValueError(
            f"images have {images.shape[-1]} channel(s) but spec.out_features="
            f"{spec.out_features}."
        )
    device = resolve_device(parse_device(device))
    coords = make_coordinates(images.shape[1:3], dtype=dtype, device=device)
    targets = torch.as_tensor(
        images.reshape(len(images), -1, spec.out_features), dtype=dtype
    ).to(device)
    return images, coords, targets, device


def _load(net: BatchedINR, theta: torch.Tensor) -> None:
    """Copy one theta into every network of the batch, in place."""
    weights, biases = unflatten_theta(theta, net.spec.layer_shapes)
    for dst, src in zip(net.weights + net.biases, weights + biases):
        dst.copy_(src.expand_as(dst))


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


def _progress(total, desc, verbose):
    if verbose > 0:
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=desc, unit="step")
    return None


def _batch_rows(rng, n_images, batch_size):
    if batch_size >= n_images:
        return np.arange(n_images)
    return np.sort(rng.choice(n_images, size=batch_size, replace=False))


# ------------------------------------------------------------ meta-learning
def meta_learn_init(
    images,
    spec: INRSpec,
    *,
    init_theta=None,
    meta_steps: int = 100,
    meta_lr: float = 1e-3,
    inner_steps: int = 10,
    inner_lr: float = 1e-4,
    meta_batch_size: int = 16,
    loss: str = "bce",
    random_state=None,
    device="auto",
    dtype=torch.float32,
    verbose: int = 0,
) -> np.ndarray:
    """Learn a shared initialisation with Reptile on the batched engine.

    Each outer step samples ``meta_batch_size`` images, fits them for
    ``inner_steps`` Adam steps (fresh Adam state, learning rate
    ``inner_lr``) from the current init ``phi``, and takes one outer Adam
    step (learning rate ``meta_lr``) along the Reptile direction
    ``mean_i(theta_i) - phi``. Labels are never involved.

    Cost: ``meta_steps * meta_batch_size * inner_steps`` image-steps of the
    engine, i.e. about ``6 * n_params * n_pixels`` FLOPs each.

    Parameters
    ----------
    images : array-like of shape (n_images, H, W) or (n_images, H, W, C)
        Training images; in [0, 1] for ``loss="bce"``.
    spec : INRSpec
        Architecture (``out_features`` must equal the number of channels).
    init_theta : array-like of shape (n_params,), default=None
        Starting point; ``None`` draws ``spec.init_theta(random_state)``.
    meta_steps : int, default=100
        Outer steps.
    meta_lr : float, default=1e-3
        Outer Adam learning rate: about how far each parameter moves per
        outer step.
    inner_steps : int, default=10
        Adam steps per image in each outer step.
    inner_lr : float, default=1e-4
        Inner Adam learning rate; use the one the images will be fitted with.
    meta_batch_size : int, default=16
        Images per outer step (all of them if there are fewer).
    loss : {"bce", "mse"}, default="bce"
    random_state : int, RandomState instance or None, default=None
        Seeds the starting point and the batch sampling.
    device : {"auto", "cpu", "cuda"}, default="auto"
    dtype : torch.dtype, default=torch.float32
    verbose : int, default=0
        Progress bar of outer steps when > 0.

    Returns
    -------
    theta : ndarray of shape (n_params,)
        The learned initialisation, float32.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_inr import INRSpec, meta_learn_init
    >>> images = np.random.default_rng(0).uniform(size=(4, 8, 8))
    >>> spec = INRSpec(hidden_features=8, hidden_layers=1)
    >>> meta_learn_init(images, spec, meta_steps=2, inner_steps=2,
    ...                 random_state=0).shape
    (97,)
    """
    rng, phi = _start(spec, init_theta, random_state)
    images, coords, targets, device = _prepare(images, spec, loss, device, dtype)
    phi = torch.as_tensor(phi, dtype=dtype).to(device)
    batch = min(meta_batch_size, len(images))
    net = BatchedINR(spec, phi.expand(batch, -1), coords)
    phi.grad = torch.zeros_like(phi)
    outer = make_adam([phi], meta_lr)
    progress = _progress(meta_steps, "Meta-learning init (Reptile)", verbose)
    for _ in range(meta_steps):
        batch_targets = targets[_batch_rows(rng, len(images), batch)]
        _load(net, phi)
        inner = make_adam(net.params, inner_lr)
        for _ in range(inner_steps):
            net.forward()
            net.backward(batch_targets, loss)
            inner.step()
        # Reptile's direction as a gradient: Adam then moves phi toward the
        # adapted weights by about meta_lr per parameter and step.
        torch.sub(phi, net.theta().mean(dim=0), out=phi.grad)
        _check_finite(phi.grad, inner_lr)
        outer.step()
        if progress is not None:
            progress.update()
    if progress is not None:
        progress.close()
    return phi.detach().cpu().numpy().astype(np.float32)


def meta_learn_shift_base(
    images,
    spec: INRSpec,
    *,
    init_theta=None,
    meta_steps: int = 100,
    meta_lr: float = 1e-4,
    inner_steps: int = 10,
    inner_lr: float = 1e-2,
    meta_batch_size: int = 16,
    loss: str = "bce",
    random_state=None,
    device="auto",
    dtype=torch.float32,
    verbose: int = 0,
) -> np.ndarray:
    """Learn a base SIREN for shift modulations, by first-order MAML.

    Each outer step samples ``meta_batch_size`` images, fits their shifts
    (see :func:`fit_shifts`) from zero for ``inner_steps`` Adam steps with
    the base fixed, then takes one outer Adam step (``meta_lr``) on the base
    along the mean gradient of the images' losses at their adapted shifts
    (first order: the dependence of the shifts on the base is ignored).

    Cost: ``meta_steps * meta_batch_size * (inner_steps * 2/3 + 1)``
    engine image-steps (the inner steps skip the weight gradients).

    Parameters
    ----------
    images : array-like of shape (n_images, H, W) or (n_images, H, W, C)
    spec : INRSpec
        Must have ``hidden_layers >= 1``.
    init_theta : array-like of shape (n_params,), default=None
        Starting base; ``None`` draws ``spec.init_theta(random_state)``.
    meta_steps : int, default=100
    meta_lr : float, default=1e-4
        Outer Adam learning rate on the base.
    inner_steps : int, default=10
        Adam steps on the shifts per outer step.
    inner_lr : float, default=1e-2
        Inner Adam learning rate on the shifts; use the one the shifts will
        be fitted with.
    meta_batch_size : int, default=16
    loss : {"bce", "mse"}, default="bce"
    random_state : int, RandomState instance or None, default=None
    device : {"auto", "cpu", "cuda"}, default="auto"
    dtype : torch.dtype, default=torch.float32
    verbose : int, default=0

    Returns
    -------
    base_theta : ndarray of shape (n_params,)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_inr import INRSpec, meta_learn_shift_base
    >>> images = np.random.default_rng(0).uniform(size=(4, 8, 8))
    >>> spec = INRSpec(hidden_features=8, hidden_layers=1)
    >>> meta_learn_shift_base(images, spec, meta_steps=2, inner_steps=2,
    ...                       random_state=0).shape
    (97,)
    """
    _check_shift_spec(spec)
    rng, base = _start(spec, init_theta, random_state)
    images, coords, targets, device = _prepare(images, spec, loss, device, dtype)
    base = torch.as_tensor(base, dtype=dtype).to(device)
    batch = min(meta_batch_size, len(images))
    net = BatchedINR(spec, base.expand(batch, -1), coords)
    _, base_biases = unflatten_theta(base, spec.layer_shapes)
    base.grad = torch.zeros_like(base)
    grad_weights, grad_biases = unflatten_theta(base.grad, spec.layer_shapes)
    outer = make_adam([base], meta_lr)
    progress = _progress(meta_steps, "Meta-learning shift base", verbose)
    for _ in range(meta_steps):
        batch_targets = targets[_batch_rows(rng, len(images), batch)]
        _load(net, base)
        shifts = _attach_shifts(net)
        inner = make_adam(shifts, inner_lr)
        for _ in range(inner_steps):
            net.forward()
            net.backward(batch_targets, loss, weight_grads=False)
            inner.step()
            _apply_shifts(net, base_biases, shifts)
        net.forward()
        net.backward(batch_targets, loss)
        # d loss / d base = the network's gradient at the adapted shifts
        # (bias = base + shift), averaged over the images.
        for dst, src in zip(grad_weights + grad_biases, net.weights + net.biases):
            torch.mean(src.grad, dim=0, out=dst)
        _check_finite(base.grad, inner_lr)
        outer.step()
        if progress is not None:
            progress.update()
    if progress is not None:
        progress.close()
    return base.detach().cpu().numpy().astype(np.float32)


def _start(spec, init_theta, random_state):
    if isinstance(random_state, np.random.RandomState):
        random_state = int(random_state.randint(np.iinfo(np.int32).max))
    rng = np.random.default_rng(random_state)
    if init_theta is None:
        init_theta = spec.init_theta(rng)
    init_theta = np.asarray(init_theta, dtype=np.float32)
    if init_theta.shape != (spec.n_params,):
        raise ValueError(
            f"init_theta must have shape ({spec.n_params},), got {init_theta.shape}."
        )
    return rng, init_theta


def _check_finite(grad, inner_lr):
    if not torch.isfinite(grad).all():
        raise ValueError(
            f"Meta-learning diverged (NaN or infinite gradient) with inner_lr="
            f"{inner_lr:g}. Lower the learning rates (e.g. by 10x)."
        )


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
    import joblib

    _check_shift_spec(spec)
    images, coords, _, device = _prepare(images, spec, loss, device, dtype)
    base_np = np.asarray(base_theta, dtype=np.float32)
    if base_np.shape != (spec.n_params,):
        raise ValueError(
            f"base_theta must have shape ({spec.n_params},), got {base_np.shape}."
        )
    record_steps = np.arange(0, n_steps, record_every)
    cache = ThetaCache.from_memory(memory)
    settings = {
        "kind": "shift",
        "spec": (spec.model, spec.hidden_features, spec.hidden_layers, spec.omega_0),
        "loss": loss,
        "lr": float(lr),
        "n_steps": int(n_steps),
        "record_every": int(record_every),
        "dtype": str(dtype),
        "base": joblib.hash(base_np),
    }
    keys = [
        None if cache is None else ThetaCache.key(image, settings) for image in images
    ]
    results = {}
    for row, key in enumerate(keys):
        hit = None if key is None else cache.load(key)
        if hit is not None:
            results[row] = hit
    todo = np.array([r for r in range(len(images)) if r not in results], dtype=int)
    if batch_size == "auto":
        batch_size = auto_batch_size(
            spec, coords.shape[0], device, torch.finfo(dtype).bits // 8
        )
    base = torch.as_tensor(base_np, dtype=dtype).to(device)
    for start in range(0, len(todo), batch_size):
        rows = todo[start : start + batch_size]
        targets = torch.as_tensor(
            images[rows].reshape(len(rows), -1, spec.out_features), dtype=dtype
        ).to(device)
        shifts, output, history = _train_shifts(
            spec, base, targets, coords, loss=loss, lr=lr, n_steps=n_steps,
            record_steps=set(record_steps.tolist()),
        )  # fmt: skip
        if loss == "bce":
            output = torch.sigmoid(output)
        shifts = shifts.cpu().numpy()
        output = output.cpu().numpy().reshape(len(rows), *images.shape[1:])
        history = history.cpu().numpy()
        for i, row in enumerate(rows):
            entry = {
                "theta": shifts[i],
                "loss_history": history[i],
                "output": output[i],
            }
            results[int(row)] = entry
            if cache is not None and np.isfinite(history[i, -1]):
                cache.save(keys[row], **entry)
    ordered = [results[row] for row in range(len(images))]
    loss_history = np.stack([r["loss_history"] for r in ordered]).astype(np.float64)
    diverged = np.flatnonzero(~np.isfinite(loss_history[:, -1]))
    if len(diverged):
        raise INRDivergenceError(diverged, lr)
    reconstructions = np.stack([r["output"] for r in ordered])
    if reconstructions.shape[-1] == 1:
        reconstructions = reconstructions[..., 0]
    targets_np = images[..., 0] if images.shape[-1] == 1 else images
    return INRFitResult(
        theta=np.stack([r["theta"] for r in ordered]),
        loss=loss_history[:, -1].copy(),
        loss_history=loss_history,
        history_steps=np.append(record_steps, n_steps),
        reconstructions=reconstructions,
        mse=mean_squared_error_per_image(targets_np, reconstructions),
        psnr=psnr(targets_np, reconstructions),
        spec=spec,
    )


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
        net.forward()
        if step in record_steps:
            history[:, column] = net.losses(targets, loss)
            column += 1
        net.backward(targets, loss, weight_grads=False)
        optimizer.step()
        _apply_shifts(net, base_biases, shifts)
    output = net.forward()
    history[:, column] = net.losses(targets, loss)
    return torch.cat(shifts, dim=1), output, history
