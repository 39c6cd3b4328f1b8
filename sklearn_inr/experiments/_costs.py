"""What the reproduction's fits cost, in FLOPs.

One Adam step of one image costs about ``6 * n_params * n_pixels`` FLOPs (a
forward GEMM and two backward GEMMs per layer); a classifier step, six times
its weights per sample.
"""

from __future__ import annotations

import math

from ._protocols import fit_params, inr_spec

__all__ = [
    "classifier_cost",
    "classifier_weights",
    "flops_per_fit",
    "learned_init_flops",
]


def flops_per_fit(model_settings: dict, image_shape, protocol="paper") -> float:
    """FLOPs of one INR fit: ``6 * n_params * n_pixels * n_steps``.

    With a ``target_psnr`` (the leak-free fits of the cpu presets),
    ``n_steps`` is a cap: the fits stop earlier, so this is an upper bound.
    """
    n_pixels = math.prod(image_shape)
    steps = fit_params(model_settings, protocol)["n_steps"]
    return 6.0 * inr_spec(model_settings).n_params * n_pixels * steps


def learned_init_flops(model_settings: dict, recipe: dict) -> float:
    """FLOPs of meta-learning a leak-free entry's ``"learned_init"``.

    Reptile runs ``meta_steps x meta_batch_size x inner_steps`` image-steps
    on the calibration slices (``image_size`` squared pixels).
    """
    image_steps = (
        recipe["meta_steps"] * recipe["meta_batch_size"] * recipe["inner_steps"]
    )
    n_pixels = recipe["image_size"] ** 2
    return 6.0 * inr_spec(model_settings).n_params * n_pixels * image_steps


def classifier_weights(settings: dict, n_features: int) -> int:
    """Weights of the preset's classifier on ``n_features`` inputs."""
    sizes = [n_features, *settings["classifier"]["hidden_layer_sizes"], 1]
    return sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


def classifier_cost(settings: dict, n_features: int, n_train: int):
    """Adam steps and FLOPs of one classifier fit on ``n_train`` samples."""
    epochs, batch = (settings["classifier"][k] for k in ("max_epochs", "batch_size"))
    flops = 6.0 * n_train * epochs * classifier_weights(settings, n_features)
    return epochs * -(-n_train // batch), flops
