"""What the reproduction's fits cost, in FLOPs, and the rest in seconds.

One Adam step of one image costs about ``6 * n_params * n_pixels`` FLOPs (a
forward GEMM and two backward GEMMs per layer); a classifier step, six times
its weights per sample. What FLOPs do not measure (writing and reading the
cohort, cache reads, the pixel baseline, the learned inits' bookkeeping, the
figures) is priced in seconds by the constants below, measured on two cores
of the development machine (2026-12, Python 3.12, torch CPU build) and
checked against the ``tiny`` preset's wall times; they scale with the
machine only roughly, and are small beside the fits of the ``cpu`` preset.
"""

from __future__ import annotations

import math

from ._protocols import fit_params, inr_spec

__all__ = [
    "CACHE_HIT_SECONDS",
    "FIGURE_SECONDS",
    "LEARNED_INIT_SECONDS",
    "classifier_cost",
    "data_seconds",
    "pixel_fit_seconds",
    "classifier_weights",
    "flops_per_fit",
    "learned_init_flops",
]

#: Reading one fitted INR from the cache (open, checksum, load): a few ms.
CACHE_HIT_SECONDS = 0.003
#: The four figures: matplotlib's start and the drawing (4-5 s on ``tiny``).
FIGURE_SECONDS = 5.0
#: Bookkeeping of one task-aware init beyond its FLOPs (its outer loop, a
#: fresh featurizer): about 0.6 s each on ``tiny``, where FLOPs are nothing.
LEARNED_INIT_SECONDS = 0.6
# make_brats_like: the template and imports once, then per patient a time
# that grows with its voxels; reproduce writes the patients on all cores.
# Written and loaded on 2 quiet cores (2026-12-06): the cpu preset's 40
# patients of 96 x 96 x 60 in 5.9 s, cpu-paper's 75 of 240 x 240 x 60 in
# 51 s: 0.18 s per million voxels, of which loading the FLAIR slices took
# about 0.1 when it was measured alone.
_DATA_FIXED_SECONDS = 2.5
_DATA_SECONDS_PER_MVOXEL = 0.08
_LOAD_SECONDS_PER_MVOXEL = 0.1


def data_seconds(n_patients: int, cohort_shape, synthetic: bool = True) -> float:
    """Seconds to write (when ``synthetic``) and load a cohort's slices."""
    mvoxels = math.prod(cohort_shape) / 1e6
    per_patient = _LOAD_SECONDS_PER_MVOXEL * mvoxels
    if synthetic:
        per_patient += _DATA_SECONDS_PER_MVOXEL * mvoxels
    return _DATA_FIXED_SECONDS * synthetic + n_patients * per_patient


def pixel_fit_seconds(n_train: int, n_pixels: int) -> float:
    """One logistic regression of the pixel baseline (lbfgs, standardised):
    about 0.1 s, plus 0.3 µs per training pixel."""
    return 0.1 + 3e-7 * n_train * n_pixels


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
