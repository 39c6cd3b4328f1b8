"""The CNN pixel baseline: a small convolutional network on the raw slices.

It runs in the grouped CV of the leak-free pipeline (the same folds, the
same noise images and the same per-fold permuted labels), so its row stands
beside logistic regression's and theta's in the report. A preset configures
it under ``"cnn_baseline"``: a dict of :class:`~sklearn_inr.ConvNetClassifier`
parameters (:data:`CNN_BASELINE` when the key is absent), or ``None`` /
``False`` to leave it out.
"""

from __future__ import annotations

from .. import ConvNetClassifier
from ..estimators import SINGLE_THREAD_MACS, conv_macs
from ._cohort import Task
from ._cv_stages import PixelBaselineStage
from ._protocols import CONDITIONS

__all__ = [
    "CNN_BASELINE",
    "CNNBaselineStage",
    "cnn_fit_seconds",
    "cnn_params",
    "describe_cnn",
]

#: The baseline's ConvNetClassifier parameters when a preset does not say:
#: the estimator's defaults, sized for 64 x 64 slices on two CPU cores.
CNN_BASELINE: dict = {}

# One CPU fit costs about _FIT_SECONDS plus _SECONDS_PER_GMAC per billion
# multiply-adds of training (3x the forward convolutions: forward, and the
# backward to the inputs and to the weights, per image and epoch).
# Measured on 2 shared cores of the development machine (2026-12-06, torch
# 2.13 CPU build, one torch thread, the estimator's choice for such small
# nets): the 15 fits of the cpu preset's CNN row (5 folds x 3 conditions,
# the default network on training folds of 64 slices of 64 x 64, 60
# epochs, 31 GMACs each) took 29.7 s in all in the channels-last layout
# (44 s in the default one).
_FIT_SECONDS = 0.2
_SECONDS_PER_GMAC = 0.058
# Networks whose steps are too large for one thread train on both cores:
# the 15 fits of cpu-240's CNN row (240 x 240 slices, training folds of
# 120, 30 epochs, about 400 GMACs each) took 191 s in all on 2 quiet cores
# (2026-12-06), with reproduce's allocator setting and the channels-last
# layout (275 s in the default layout).
_SECONDS_PER_GMAC_ALL_CORES = 0.031
# precision="bf16" (bfloat16 convolutions): the same 15 fits took 140 s
# (cpu-240's cached rerun, 2026-12-06). Measured on both cores only; one
# thread is assumed to gain the same.
_BF16_FACTOR = 140 / 191


def cnn_params(settings: dict) -> dict | None:
    """A preset's (or results.json's) ConvNetClassifier parameters, or None: not run."""
    params = settings.get("cnn_baseline", CNN_BASELINE)
    if params is None or params is False:
        return None
    return dict(params)


def describe_cnn(settings: dict) -> str:
    """The CNN baseline of ``settings`` in words: the plan's note, the report's line."""
    params = cnn_params(settings)
    if params is None:
        return "not run"
    full = {**ConvNetClassifier().get_params(), **params}
    precision = ", bfloat16 convolutions" if full["precision"] == "bf16" else ""
    return (
        f"small CNN on pixels, no INR: channels {tuple(full['channels'])}, "
        f"{full['max_epochs']} epochs{precision}, refitted in each fold"
    )


def cnn_fit_seconds(n_train: int, image_shape, params: dict) -> float:
    """Seconds of one ConvNetClassifier fit on ``n_train`` images on a CPU."""
    defaults = ConvNetClassifier().get_params()
    settings = {**defaults, **params}
    macs = conv_macs(tuple(image_shape), tuple(settings["channels"]))
    gmacs = 3 * macs * n_train * settings["max_epochs"] / 1e9
    # ConvNetClassifier's own choice of threads.
    one_thread = 3 * settings["batch_size"] * macs < SINGLE_THREAD_MACS
    per_gmac = _SECONDS_PER_GMAC if one_thread else _SECONDS_PER_GMAC_ALL_CORES
    if settings["precision"] == "bf16":
        per_gmac *= _BF16_FACTOR
    return _FIT_SECONDS + per_gmac * gmacs


class CNNBaselineStage(PixelBaselineStage):
    """A small CNN on the pixels, same grouped folds and controls; no INR."""

    name, desc = "CNN baseline", "CNN baseline"
    row = {
        "key": "pixels/cnn",
        "model": "CNN",
        "label": "Pixel baseline: small CNN on raw slices",
    }
    # Absent from the timings when the preset leaves it out.
    always_timed = False

    def tasks(self, cohort):
        if cnn_params(cohort.settings) is None:
            return []
        return [Task("pixels", "cnn", condition) for condition in CONDITIONS]

    def extra_seconds(self, cohort, image_shape, tasks):
        # Not cached: every task refits, finished before or not.
        params = cnn_params(cohort.settings)
        if params is None:
            return 0.0
        fits = [
            cnn_fit_seconds(len(train), image_shape, params)
            for train, _ in cohort.folds
        ]
        return len(self.tasks(cohort)) * sum(fits)

    def note(self, cohort, tasks):
        return describe_cnn(cohort.settings)

    def estimator(self, cohort, state) -> ConvNetClassifier:
        params = {"device": state.device, "random_state": cohort.seed}
        return ConvNetClassifier(**{**params, **cnn_params(cohort.settings)})

    def inputs(self, X):
        """The slices as images: the CNN reads them whole."""
        return X
