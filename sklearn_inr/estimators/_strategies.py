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

from ..fitting import (
    RandomInit,
    SharedInit,
    ShiftTrainer,
    WeightsTrainer,
    content_digest,
    image_seeds,
    shift_feature_names,
    shifts_to_theta,
)
from ..learned import (
    TASK_META_LR,
    TASK_STEP_SIZE,
    LatentTrainer,
    check_task_labels,
    latent_feature_names,
    latent_model_size,
    latents_to_theta,
    meta_learn_init,
    meta_learn_latent,
    meta_learn_shift_base,
    stored_init,
    task_init_size,
    task_learn_init,
    unpack_task_init,
)

__all__ = ["FEATURES", "STARTS", "init_name", "start_of"]


def init_name(init) -> str:
    """``init`` when it names a start, ``"array"`` when it is one theta."""
    return init if isinstance(init, str) else "array"


class _FeatureDefaults:
    """What a kind of features does unless it says otherwise."""

    @staticmethod
    def learn_settings(featurizer) -> dict:
        """Keyword arguments of ``learn_init`` beyond the common ones."""
        return {}

    @staticmethod
    def init_size(spec, settings) -> int:
        """Length of the learned ``init_params_``."""
        return spec.n_params

    @staticmethod
    def start_theta(init_params, spec):
        """The theta each image's fit starts from, given ``init_params_``."""
        return init_params

    @staticmethod
    def fit_steps(featurizer) -> int:
        return featurizer.n_steps


class WeightFeatures(_FeatureDefaults):
    """Features are theta, every parameter of the image's network."""

    learn_init = staticmethod(meta_learn_init)
    default_meta_lr = 1.0

    @staticmethod
    def check(featurizer) -> None:
        pass

    @staticmethod
    def start_theta(init_params, spec):
        # A task init packs its learned step sizes after the init.
        return None if init_params is None else init_params[: spec.n_params]

    @staticmethod
    def trainer(init_params, spec):
        if init_params is None or len(init_params) == spec.n_params:
            return WeightsTrainer()
        return WeightsTrainer(step_sizes=unpack_task_init(init_params, spec)[1])

    @staticmethod
    def n_features(spec, featurizer=None) -> int:
        return spec.n_params

    @staticmethod
    def names(spec, featurizer=None) -> np.ndarray:
        return spec.feature_names()

    @staticmethod
    def to_theta(features, init_params, spec) -> np.ndarray:
        return features


class ShiftFeatures(_FeatureDefaults):
    """Features are shift modulations of one base network (functa)."""

    learn_init = staticmethod(meta_learn_shift_base)
    default_meta_lr = 1e-3

    @staticmethod
    def check(featurizer) -> None:
        if init_name(featurizer.init) == "random":
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
    def trainer(init_params, spec):
        return ShiftTrainer(init_params)

    @staticmethod
    def n_features(spec, featurizer=None) -> int:
        return spec.hidden_layers * spec.hidden_features

    @staticmethod
    def names(spec, featurizer=None) -> np.ndarray:
        return shift_feature_names(spec)

    @staticmethod
    def to_theta(features, init_params, spec) -> np.ndarray:
        return shifts_to_theta(features, init_params, spec)


class LatentFeatures(_FeatureDefaults):
    """Features are a latent vector mapped to shift modulations (functa).

    ``init_params_`` is the packed ``LatentModel`` of :mod:`._latent`
    (base network, latent-to-shift map, inner learning rates), meta-learned
    in :meth:`fit`; each image then takes ``inner_steps`` steps of the
    learned gradient descent on its latent.
    """

    learn_init = staticmethod(meta_learn_latent)
    default_meta_lr = 1e-3

    @staticmethod
    def check(featurizer) -> None:
        if init_name(featurizer.init) != "meta":
            raise ValueError(
                f"features='latent' needs its base network, latent map and inner "
                f"learning rates learned from the training images, which "
                f"init={init_name(featurizer.init)!r} does not give; use init='meta'."
            )
        if featurizer.warm_start_by_class:
            raise ValueError(
                "warm_start_by_class=True chains full networks and does not apply "
                "to features='latent'; set warm_start_by_class=False."
            )
        if featurizer.optimizer != "adam":
            raise ValueError(
                f"features='latent' takes the inner_steps steps of its learned "
                f"gradient descent, which optimizer={featurizer.optimizer!r} would "
                f"replace; use optimizer='adam' (the default)."
            )
        if featurizer.hidden_layers < 1:
            raise ValueError(
                "features='latent' maps each latent to offsets of the biases of "
                "the hidden width -> width layers, and hidden_layers=0 has none; "
                "use hidden_layers >= 1."
            )

    @staticmethod
    def learn_settings(featurizer) -> dict:
        return {"latent_dim": int(featurizer.latent_dim)}

    @staticmethod
    def init_size(spec, settings) -> int:
        return latent_model_size(spec, settings["latent_dim"])

    @staticmethod
    def start_theta(init_params, spec):
        return LatentTrainer(init_params).start_theta(spec)

    @staticmethod
    def fit_steps(featurizer) -> int:
        # The learned rates are tuned for exactly inner_steps steps.
        return featurizer.inner_steps

    @staticmethod
    def trainer(init_params, spec):
        return LatentTrainer(init_params)

    @staticmethod
    def n_features(spec, featurizer=None) -> int:
        return int(featurizer.latent_dim)

    @staticmethod
    def names(spec, featurizer=None) -> np.ndarray:
        return latent_feature_names(featurizer.n_params_)

    @staticmethod
    def to_theta(features, init_params, spec) -> np.ndarray:
        return latents_to_theta(features, init_params, spec)


class SharedStart:
    """Every image starts from one draw from ``random_state``."""

    @staticmethod
    def check(featurizer, images, y) -> None:
        """What this start needs of the settings and of ``y``, before any work."""

    @staticmethod
    def init_params(featurizer, images, spec, seed, y=None):
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

    check = SharedStart.check

    @staticmethod
    def init_params(featurizer, images, spec, seed, y=None):
        return None

    @staticmethod
    def start(init_params, images, spec, seed):
        return RandomInit(image_seeds(images, seed, spec.in_features))

    @staticmethod
    def thetas(init_params, images, spec, seed) -> np.ndarray:
        seeds = image_seeds(images, seed, spec.in_features)
        return np.stack([spec.init_theta(s) for s in seeds])


class LearnedStart(SharedStart):
    """One init learned from the training images (labels never read).

    The learned init is stored in ``memory``'s array store, keyed by the
    training images and every setting of the learning.
    """

    @staticmethod
    def init_params(featurizer, images, spec, seed, y=None):
        features = FEATURES[featurizer.features]
        meta_lr = featurizer.meta_lr
        if meta_lr == "auto":
            meta_lr = features.default_meta_lr
        settings = {
            "init_theta": spec.init_theta(seed),
            **_learning_settings(featurizer, meta_lr, seed),
            **features.learn_settings(featurizer),
        }
        return stored_init(
            featurizer.memory,
            images,
            key={
                "learner": features.learn_init.__name__,
                **{k: v for k, v in settings.items() if k != "init_theta"},
            },
            spec=spec,
            size=features.init_size(spec, settings),
            learn=lambda: features.learn_init(
                images, spec, device=featurizer.device, verbose=featurizer.verbose,
                **settings,
            ),
        )  # fmt: skip


def _learning_settings(featurizer, meta_lr, seed) -> dict:
    """The settings of an init's learning that the featurizer's params give."""
    return {
        "meta_steps": featurizer.meta_steps,
        "meta_lr": float(meta_lr),
        "inner_steps": featurizer.inner_steps,
        "inner_lr": float(featurizer.lr),
        "meta_batch_size": featurizer.meta_batch_size,
        "loss": featurizer.loss,
        "random_state": seed,
    }


def _require_weight_features(featurizer, what: str, hint: str = "") -> None:
    """Refuse features other than all weights: ``what`` needs them."""
    if featurizer.features != "weights":
        raise ValueError(
            f"{what} needs features='weights', got "
            f"features={featurizer.features!r}{hint}."
        )


class GivenStart(SharedStart):
    """Every image starts from one theta the user gives (``init=array``).

    For an init learned elsewhere, e.g. another featurizer's
    ``init_params_`` learned on a separate set of images: fits then start
    from it without learning anything in :meth:`fit`.
    """

    @staticmethod
    def check(featurizer, images, y) -> None:
        _require_weight_features(
            featurizer, "init as an array is one theta, all weights of a network, and"
        )

    @staticmethod
    def init_params(featurizer, images, spec, seed, y=None):
        theta = np.asarray(featurizer.init)
        if theta.shape != (spec.n_params,) or not np.issubdtype(theta.dtype, np.number):
            raise ValueError(
                f"init as an array must be one theta of shape ({spec.n_params},) "
                f"for this network ({spec.model}, hidden_features="
                f"{spec.hidden_features}, hidden_layers={spec.hidden_layers}, "
                f"{spec.out_features} channel(s)), got an array of shape "
                f"{theta.shape} and dtype {theta.dtype}; for example, pass "
                "another featurizer's init_params_."
            )
        if not np.all(np.isfinite(theta)):
            raise ValueError("init as an array must be finite; it holds NaN or inf.")
        # float32 like every theta, and a copy: the user's array may change.
        return theta.astype(np.float32, copy=True)


class TaskStart(SharedStart):
    """An init and its step sizes learned from the images *and their labels*.

    :func:`~sklearn_inr.learned._task_init.task_learn_init` (after MWT) puts
    a classifier in the loop. Only :meth:`~sklearn_inr.INRFeaturizer.fit`
    reads ``y``; every image, training or new, is then fitted from the one
    learned init, its first ``inner_steps`` steps the learned ones. The
    packed init is stored in ``memory``'s array store, keyed by the
    training images, their labels and every setting.
    """

    @staticmethod
    def check(featurizer, images, y) -> None:
        _require_weight_features(
            featurizer,
            "init='task' learns an init of all network weights and",
            "; use init='meta' for a label-free learned base",
        )
        if featurizer.hidden_layers < 1:
            raise ValueError(
                "init='task' classifies the neurons of the hidden width -> width "
                "layers, and hidden_layers=0 has none; use hidden_layers >= 1."
            )
        check_task_labels(images, y)

    @staticmethod
    def init_params(featurizer, images, spec, seed, y=None):
        y_index = check_task_labels(images, y)
        meta_lr = featurizer.meta_lr
        if meta_lr == "auto":  # MWT's peak AdamW rate of the init
            meta_lr = TASK_META_LR
        settings = _learning_settings(featurizer, meta_lr, seed)
        # The learned steps are plain gradient steps: their scale is not the
        # fit's Adam lr.
        settings["inner_lr"] = TASK_STEP_SIZE
        # The labels are part of the key: the same images with other labels
        # learn another init.
        return stored_init(
            featurizer.memory,
            images,
            key={
                "learner": task_learn_init.__name__,
                "recipe": "mwt",
                "labels": content_digest(y_index),
                **settings,
            },
            spec=spec,
            size=task_init_size(spec, featurizer.inner_steps),
            learn=lambda: task_learn_init(
                images, y_index, spec, init_theta=spec.init_theta(seed),
                device=featurizer.device, verbose=featurizer.verbose, **settings,
            ),
        )  # fmt: skip

    @staticmethod
    def thetas(init_params, images, spec, seed) -> np.ndarray:
        # The chains start from the learned init, without its step sizes.
        init = unpack_task_init(init_params, spec)[0]
        return SharedStart.thetas(init, images, spec, seed)


FEATURES = {"weights": WeightFeatures, "shift": ShiftFeatures, "latent": LatentFeatures}
STARTS = {
    "shared": SharedStart,
    "random": RandomStart,
    "meta": LearnedStart,
    "task": TaskStart,
}


def start_of(init):
    """The start of an ``init`` parameter: a name of :data:`STARTS` or a theta."""
    return STARTS[init] if isinstance(init, str) else GivenStart
