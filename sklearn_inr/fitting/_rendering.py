"""``render_inrs``: fitted INRs rendered on a pixel grid of any resolution."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from ..core import (
    LOSSES,
    INRSpec,
    get_loss,
    make_coordinates,
    parse_device,
    render_batch,
    resolve_device,
)
from ._fit import ModelNames

__all__ = ["render_inrs"]


@validate_params(
    {
        "theta": ["array-like"],
        "shape": [tuple, list],
        "model": [ModelNames()],
        "hidden_features": [Interval(Integral, 1, None, closed="left")],
        "hidden_layers": [Interval(Integral, 0, None, closed="left")],
        "omega_0": [Interval(Real, 1e-3, 1e4, closed="both")],
        "out_features": [Interval(Integral, 1, None, closed="left")],
        "loss": [StrOptions(set(LOSSES))],
        "device": [str, torch.device, None],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
def render_inrs(
    theta,
    shape,
    *,
    model: str = "siren",
    hidden_features: int = 256,
    hidden_layers: int = 4,
    omega_0: float = 30.0,
    out_features: int = 1,
    loss: str = "bce",
    device="auto",
    batch_size: int = 16,
) -> np.ndarray:
    """Render fitted INRs on a pixel grid of any resolution.

    Parameters
    ----------
    theta : array-like of shape (n_images, n_params) or (n_params,)
    shape : tuple of int
        ``(H, W)`` of the rendered images. The networks are continuous, so a
        larger shape than the training images' super-samples them.
    model, hidden_features, hidden_layers, omega_0, out_features
        The architecture theta came from.
    loss : {"bce", "mse"}, default="bce"
        ``"bce"`` applies the sigmoid to the outputs.
    device : {"auto", "cpu", "cuda"}, default="auto"
    batch_size : int, default=16
        Networks rendered together.

    Returns
    -------
    images : ndarray of shape (n_images, H, W) or (n_images, H, W, C)
        float32; a 1-D theta gives a single image without the leading axis.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_inr import fit_inrs, render_inrs
    >>> images = np.random.default_rng(0).uniform(size=(2, 8, 8))
    >>> theta = fit_inrs(images, hidden_features=16, hidden_layers=1,
    ...                  n_steps=5, random_state=0).theta
    >>> render_inrs(theta, (32, 32), hidden_features=16, hidden_layers=1).shape
    (2, 32, 32)
    """
    spec = INRSpec(
        model,
        in_features=len(shape),
        hidden_features=hidden_features,
        hidden_layers=hidden_layers,
        out_features=out_features,
        omega_0=float(omega_0),
    )
    theta = np.asarray(theta, dtype=np.float32)
    single = theta.ndim == 1
    theta = np.atleast_2d(theta)
    if theta.shape[1] != spec.n_params:
        raise ValueError(
            f"theta has {theta.shape[1]} features but this architecture ({spec}) "
            f"has {spec.n_params} parameters; pass the settings it was fitted with."
        )
    device = resolve_device(parse_device(device))
    coords = make_coordinates(shape, device=device)
    images = []
    for start in range(0, len(theta), batch_size):
        batch = torch.as_tensor(theta[start : start + batch_size]).to(device)
        output = get_loss(loss).reconstruct(render_batch(spec, batch, coords))
        images.append(output.cpu().numpy())
    images = np.concatenate(images).reshape(len(theta), *shape, out_features)
    if out_features == 1:
        images = images[..., 0]
    return images[0] if single else images
