"""Where each image's fit starts: one shared theta, a seeded draw, or given thetas.

An initialisation object answers three questions for the runner: the
starting thetas of some rows, the part of a row's cache key that names its
start, and the object restricted to some rows (what a dispatched chunk
carries). Starting thetas are built lazily, per batch: random inits of
thousands of large networks need not sit in memory at once.
"""

from __future__ import annotations

import joblib
import numpy as np
import torch

from ..core import INRSpec
from ._seeds import image_seeds, to_seed

__all__ = ["GivenInit", "RandomInit", "SharedInit", "resolve_init"]


class SharedInit:
    """Every image starts from one theta."""

    def __init__(self, theta: np.ndarray):
        self.theta = theta
        self._digest = joblib.hash(np.ascontiguousarray(theta))

    def start(self, spec, rows, dtype, device) -> torch.Tensor:
        # One copy on the device, expanded (BatchedINR copies it per image).
        theta = torch.tensor(self.theta, dtype=dtype, device=device)
        return theta.expand(len(rows), -1)

    def key(self, row: int):
        return self._digest

    def subset(self, rows) -> SharedInit:
        return self


class RandomInit:
    """Each image starts from its own draw, seeded per image."""

    def __init__(self, seeds: np.ndarray):
        self.seeds = seeds

    def start(self, spec, rows, dtype, device) -> torch.Tensor:
        thetas = np.stack([spec.init_theta(int(self.seeds[row])) for row in rows])
        return torch.tensor(thetas, dtype=dtype, device=device)

    def key(self, row: int):
        return ("random", int(self.seeds[row]))

    def subset(self, rows) -> RandomInit:
        return RandomInit(self.seeds[rows])


class GivenInit:
    """Each image starts from a theta of its own, given by the caller."""

    def __init__(self, thetas: np.ndarray):
        self.thetas = thetas

    def start(self, spec, rows, dtype, device) -> torch.Tensor:
        return torch.tensor(self.thetas[rows], dtype=dtype, device=device)

    def key(self, row: int):
        return joblib.hash(np.ascontiguousarray(self.thetas[row]))

    def subset(self, rows) -> GivenInit:
        return GivenInit(self.thetas[rows])


def resolve_init(init, spec: INRSpec, images: np.ndarray, random_state):
    """``"shared"``, ``"random"`` or an array -> an initialisation object."""
    n_images = len(images)
    if isinstance(init, str):
        if init == "shared":
            return SharedInit(spec.init_theta(to_seed(random_state)))
        if init == "random":
            return RandomInit(image_seeds(images, random_state))
        raise ValueError(
            f"init must be 'shared', 'random' or an array of shape "
            f"({spec.n_params},) or ({n_images}, {spec.n_params}); got {init!r}."
        )
    init = np.asarray(init)
    if not np.issubdtype(init.dtype, np.floating):
        init = init.astype(np.float32)
    if init.shape == (spec.n_params,):
        return SharedInit(init)
    if init.shape == (n_images, spec.n_params):
        return GivenInit(init)
    raise ValueError(
        f"An init array must have shape ({spec.n_params},) or "
        f"({n_images}, {spec.n_params}) for this network, got {init.shape}."
    )
