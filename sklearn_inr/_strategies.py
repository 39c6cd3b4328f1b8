"""The choices of :class:`~sklearn_inr.INRFeaturizer`, as small objects.

What each image fits (all weights or shift modulations) and where its fit
starts (a shared draw, a per-image draw, a learned init) are looked up once
per call in :data:`FEATURES` and :data:`STARTS`, the way scikit-learn's
KMeans picks its algorithm from a table; the featurizer's methods then call
them without branching on strings. They hold no state: the featurizer's
fitted attributes are passed in, so a fitted featurizer stores only arrays
and plain values (and stays loadable by skops).
"""

from __future__ import annotations

import numpy as np

from ._cache import ArrayStore
from ._inits import RandomInit, SharedInit
from ._meta import meta_learn_init, meta_learn_shift_base
from ._seeds import content_digest, image_seeds
from ._shifts import shift_feature_names, shifts_to_theta
from ._training import ShiftTrainer, WeightsTrainer

__all__ = ["FEATURES", "STARTS"]


class WeightFeatures:
    """Features are theta, every parameter of the image's network."""

    learn_init = staticmethod(meta_learn_init)
    default_meta_lr = 1.0

    @staticmethod
    def check(featurizer) -> None:
        pass

    @staticmethod
    def trainer(init_params):
        return WeightsTrainer()

    @staticmethod
    def n_features(spec) -> int:
        return spec.n_params

    @staticmethod
    def names(spec) -> np.ndarray:
        return spec.feature_names()

    @staticmethod
    def to_theta(features, init_params, spec) -> np.ndarray:
        return features


class ShiftFeatures:
    """Features are shift modulations of one base network (functa)."""

    learn_init = staticmethod(meta_learn_shift_base)
    default_meta_lr = 1e-3

    @staticmethod
    def check(featurizer) -> None:
        if featurizer.init == "random":
            raise ValueError(
                "features='shift' fits per-image shifts of one base network shared "
                "by all images, which init='random' does not have; use "
                "init='meta' (learned base) or init='shared'."
            )
        if featurizer.warm_start_by_class:
            raise ValueError(
                "warm_start_by_class=True chains full networks and does not apply "
                "to features='shift'; set warm_start_by_class=False."
            )
        if featurizer.hidden_layers < 1:
            raise ValueError(
                "features='shift' offsets the biases of the hidden width -> width "
                "layers, and hidden_layers=0 has none; use hidden_layers >= 1."
            )

    @staticmethod
    def trainer(init_params):
        return ShiftTrainer(init_params)

    @staticmethod
    def n_features(spec) -> int:
        return spec.hidden_layers * spec.hidden_features

    @staticmethod
    def names(spec) -> np.ndarray:
        return shift_feature_names(spec)

    @staticmethod
    def to_theta(features, init_params, spec) -> np.ndarray:
        return shifts_to_theta(features, init_params, spec)


class SharedStart:
    """Every image starts from one draw from ``random_state``."""

    @staticmethod
    def init_params(featurizer, images, spec, seed):
        return spec.init_theta(seed)

    @staticmethod
    def start(init_params, images, spec, seed):
        return SharedInit(init_params)

    @staticmethod
    def thetas(init_params, images, spec, seed) -> np.ndarray:
        """Explicit starting thetas of ``images`` (the heads of class chains)."""
        return np.tile(init_params, (len(images), 1))


class RandomStart:
    """Each image starts from its own draw, seeded by its bytes."""

    @staticmethod
    def init_params(featurizer, images, spec, seed):
        return None

    @staticmethod
    def start(init_params, images, spec, seed):
        return RandomInit(image_seeds(images, seed))

    @staticmethod
    def thetas(init_params, images, spec, seed) -> np.ndarray:
        return np.stack([spec.init_theta(s) for s in image_seeds(images, seed)])


class LearnedStart(SharedStart):
    """One init learned from the training images (labels never read).

    The learned init is stored in ``memory``'s array store, keyed by the
    training images and every setting of the learning.
    """

    @staticmethod
    def init_params(featurizer, images, spec, seed):
        features = FEATURES[featurizer.features]
        meta_lr = featurizer.meta_lr
        if meta_lr == "auto":
            meta_lr = features.default_meta_lr
        settings = {
            "init_theta": spec.init_theta(seed),
            "meta_steps": featurizer.meta_steps,
            "meta_lr": float(meta_lr),
            "inner_steps": featurizer.inner_steps,
            "inner_lr": float(featurizer.lr),
            "meta_batch_size": featurizer.meta_batch_size,
            "loss": featurizer.loss,
            "random_state": seed,
        }
        store = ArrayStore.from_memory(featurizer.memory, kind="init")
        key = None
        if store is not None:
            key = content_digest(
                images,
                {
                    "learner": features.learn_init.__name__,
                    "spec": (spec.model, spec.hidden_features, spec.hidden_layers,
                             spec.out_features, spec.omega_0),
                    **{k: v for k, v in settings.items() if k != "init_theta"},
                },
            )  # fmt: skip
            hit = store.load(key, {"theta": (spec.n_params,)})
            store.warn_damaged()
            if hit is not None:
                return hit["theta"]
        theta = features.learn_init(
            images, spec, device=featurizer.device, verbose=featurizer.verbose,
            **settings,
        )  # fmt: skip
        if store is not None:
            store.save(key, theta=theta)
        return theta


FEATURES = {"weights": WeightFeatures, "shift": ShiftFeatures}
STARTS = {"shared": SharedStart, "random": RandomStart, "meta": LearnedStart}
