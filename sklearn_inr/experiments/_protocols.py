"""How a preset is read: its models, protocols, conditions and estimators.

A preset (:mod:`._settings`) is data. This module is the one place that turns
a preset's model entry into an :class:`~sklearn_inr.INRSpec`, into the fit
parameters of each protocol and into an :class:`~sklearn_inr.INRFeaturizer`,
and that says which models run which protocol; the stages (:mod:`._stages`)
read the preset only through it.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from .. import INRSpec, __version__, meta_learn_init
from .._exceptions import LabelLeakWarning
from ..classifier import MLPClassifier
from ..featurizer import INRFeaturizer
from ..fitting import ArrayStore, chunk_key, content_digest
from ..learned import network_key, stored_init
from ..metrics import binary_entropy

__all__ = [
    "CALIBRATION_COHORT_VERSION",
    "CALIBRATION_SEED_OFFSET",
    "CONDITIONS",
    "CONDITION_SOURCES",
    "INR_KEYS",
    "PROTOCOLS",
    "cached_learned_init",
    "fit_featurizer",
    "fit_params",
    "inr_spec",
    "learned_init",
    "make_classifier",
    "make_featurizer",
    "make_pixel_baseline",
    "protocol_models",
    "reconstruction_scores",
]

#: The inputs every protocol is scored on: the slices, pure noise with the
#: same labels, and the slices with labels permuted within each patient.
CONDITIONS = ("images", "noise", "permuted")
#: The images each condition fits: the permuted-label control fits the slices.
CONDITION_SOURCES = {"images": "images", "noise": "noise", "permuted": "images"}

INR_KEYS = ("model", "hidden_features", "hidden_layers", "omega_0", "loss", "lr")
#: The two protocols a preset's model entry configures: the paper's fits
#: (its learning rates and fixed step count) and the leak-free pipeline's
#: shared-init fits (the entry's ``"leak_free"`` overrides, e.g. a fidelity).
PROTOCOLS = ("paper", "leak-free")


def fit_params(model_settings: dict, protocol: str = "paper") -> dict:
    """The :class:`INRFeaturizer` fit parameters of a preset's model entry.

    ``protocol="leak-free"`` applies the entry's ``"leak_free"`` overrides
    (absent or ``{}``: the paper's settings). An entry whose ``"leak_free"``
    is None has no leak-free rows.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}.")
    params = {key: model_settings[key] for key in (*INR_KEYS, "n_steps")}
    params["target_psnr"] = None
    params["check_every"] = 10
    params["stop_unreachable"] = False
    params["precision"] = model_settings.get("precision", "auto")
    params["optimizer"] = model_settings.get("optimizer", "adam")
    if protocol == "leak-free":
        overrides = model_settings.get("leak_free", {})
        if overrides is None:
            raise ValueError(
                f"{model_settings['name']} has no leak-free fits in this preset."
            )
        params.update({k: v for k, v in overrides.items() if k != "learned_init"})
    return params


def inr_spec(model_settings: dict) -> INRSpec:
    """The network of a preset's model entry (one channel: FLAIR).

    Both protocols train this network; only their fit settings differ.
    """
    return INRSpec(
        model_settings["model"],
        hidden_features=model_settings["hidden_features"],
        hidden_layers=model_settings["hidden_layers"],
        omega_0=float(model_settings["omega_0"]),
    )


def protocol_models(settings: dict) -> dict[str, list[str]]:
    """Which of a preset's models run each protocol, as the run and its plan
    both read it.

    ``"paper"``: all models, unless the preset sets ``"paper_protocol"`` to
    False. ``"leak-free"``: the models whose ``"leak_free"`` entry is not
    None. ``"weight transfer"``: the leak-free models again, unless the
    preset sets ``"weight_transfer_pipeline"`` to False (custom presets
    without these keys run everything).
    """
    models = settings["models"]
    leak_free = [m for m in models if models[m].get("leak_free", {}) is not None]
    return {
        "paper": list(models) if settings.get("paper_protocol", True) else [],
        "leak-free": leak_free,
        "weight transfer": (
            leak_free if settings.get("weight_transfer_pipeline", True) else []
        ),
    }


#: The calibration cohort of a learned init (a leak-free entry's
#: ``"learned_init"``) is generated with the run's seed plus this: other
#: patients than the evaluated ones.
CALIBRATION_SEED_OFFSET = 1000


#: Version of the calibration cohort's images, in the key of the learned
#: inits stored from them: bump it when what ``make_brats_like`` writes for a
#: given seed and shape changes (its ``__version__`` is in the key too).
CALIBRATION_COHORT_VERSION = 1


def learned_init(
    model_settings: dict, *, random_state: int, memory, device, verbose: int = 0
):
    """The init a leak-free entry's ``"learned_init"`` asks for, or None.

    Meta-learned (:func:`~sklearn_inr.meta_learn_init`, Reptile, no labels)
    on the FLAIR slices of a calibration cohort: synthetic patients drawn
    with ``random_state + CALIBRATION_SEED_OFFSET``, never evaluated, at
    their own (small) size; the coordinates span [-1, 1] at any size, so the
    init serves the run's slices. Its inner steps use the leak-free fits'
    learning rate.

    Stored in ``memory``'s array store twice: under a key of the recipe, the
    seed, the network and its fit settings and the cohort's generator
    (``make_brats_like``, the package's version and
    :data:`CALIBRATION_COHORT_VERSION`), which a rerun finds without writing
    the cohort (about 40 s at 240 x 240 x 60); and under the key of the
    images that ``INRFeaturizer(init="meta")`` gives the same learning, so
    either finds the other's init.
    """
    found = _recipe(model_settings, random_state)
    if found is None:
        return None
    recipe, spec, settings, seed = found
    store = ArrayStore.from_memory(memory, kind="init")
    recipe_key = None
    if store is not None:
        store.check_location()
        recipe_key = _recipe_key(recipe, spec, settings)
        hit = store.load(recipe_key, {"theta": (spec.n_params,)})
        store.warn_damaged()
        if hit is not None:
            return hit["theta"]
    from ..datasets import load_brats_slices, make_brats_like

    if verbose > 0:
        print(
            f"Learning the shared init of {model_settings['name']} on a "
            f"calibration cohort of {recipe['n_patients']} other patients...",
            flush=True,
        )
    with tempfile.TemporaryDirectory() as tmp:
        root = make_brats_like(
            Path(tmp) / "calibration",
            recipe["n_patients"],
            tuple(recipe["cohort_shape"]),
            seed,
            n_jobs=-1,
        )
        images = load_brats_slices(root, size=recipe["image_size"]).images

    def learn():
        return meta_learn_init(
            images, spec, init_theta=spec.init_theta(seed), device=device,
            verbose=verbose, **settings,
        )  # fmt: skip

    # The key of the featurizer's learned inits (a featurizer with
    # init="meta", or a cache written before the recipe's key, serves it).
    theta = stored_init(
        memory, images, spec=spec, key={"learner": "meta_learn_init", **settings},
        size=spec.n_params, learn=learn,
    )  # fmt: skip
    if store is not None:
        store.save(recipe_key, theta=theta)
        store.warn_failed_saves()
    return theta


def cached_learned_init(model_settings: dict, *, random_state: int, memory):
    """The init :func:`learned_init` stored in ``memory`` before, or None.

    Never learns and never writes the calibration cohort: for an estimate,
    which counts what is cached.
    """
    found = _recipe(model_settings, random_state)
    store = ArrayStore.from_memory(memory, kind="init")
    if found is None or store is None:
        return None
    recipe, spec, settings, _ = found
    hit = store.load(_recipe_key(recipe, spec, settings), {"theta": (spec.n_params,)})
    return None if hit is None else hit["theta"]


def _recipe(model_settings: dict, random_state: int):
    """``(recipe, spec, settings, seed)`` of an entry's learned init, or None."""
    recipe = (model_settings.get("leak_free") or {}).get("learned_init")
    if recipe is None:
        return None
    params = fit_params(model_settings, "leak-free")
    seed = int(random_state) + CALIBRATION_SEED_OFFSET
    # The settings of INRFeaturizer(init="meta", meta_lr="auto") for weights.
    settings = {
        "meta_steps": recipe["meta_steps"],
        "meta_lr": 1.0,
        "inner_steps": recipe["inner_steps"],
        "inner_lr": float(params["lr"]),
        "meta_batch_size": recipe["meta_batch_size"],
        "loss": params["loss"],
        "random_state": seed,
    }
    return recipe, inr_spec(params), settings, seed


def _recipe_key(recipe: dict, spec: INRSpec, settings: dict) -> str:
    """The store key of a learned init: its recipe, seed, network, fit
    settings and the calibration cohort's generator (and, for slices above
    4,096 pixels, the chunking: see :func:`~sklearn_inr.core.chunk_key`)."""
    side = recipe.get("image_size")
    n_pixels = side * side if side else int(np.prod(recipe["cohort_shape"][:2]))
    return content_digest(
        np.zeros(0),
        {
            "learner": "learned_init",
            "spec": network_key(spec),
            "recipe": {k: recipe[k] for k in sorted(recipe)},
            "settings": settings,
            "generator": ("make_brats_like", __version__,
                          CALIBRATION_COHORT_VERSION),
            **chunk_key(n_pixels),
        },
    )  # fmt: skip


def make_featurizer(
    model_settings: dict, *, device, memory, random_state, protocol="paper", **extra
):
    """An :class:`INRFeaturizer` of a preset's model entry; see :func:`fit_params`."""
    return INRFeaturizer(
        **fit_params(model_settings, protocol),
        device=device,
        memory=memory,
        random_state=random_state,
        **extra,
    )


def make_classifier(classifier_settings: dict, *, device, random_state):
    """Standardise theta, then the paper's MLP classifier.

    Standardising matters for theta: its entries span orders of magnitude
    across layers (first-layer weights ~1, later ones ~1e-2 for SIREN).
    """
    return make_pipeline(
        StandardScaler(),
        MLPClassifier(
            hidden_layer_sizes=tuple(classifier_settings["hidden_layer_sizes"]),
            lr=classifier_settings["lr"],
            max_epochs=classifier_settings["max_epochs"],
            batch_size=classifier_settings["batch_size"],
            device=device,
            random_state=random_state,
        ),
    )


def make_pixel_baseline():
    """Logistic regression on the standardised raw pixels."""
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))


def fit_featurizer(featurizer: INRFeaturizer, images, labels=None):
    """``fit_transform`` that silences the leak warning we know about."""
    with warnings.catch_warnings():
        # The paper protocol leaks on purpose (it is what we audit), and the
        # weight-transfer pipeline uses the labels of training folds only.
        warnings.simplefilter("ignore", LabelLeakWarning)
        return featurizer.fit_transform(images, labels)


def reconstruction_scores(featurizer: INRFeaturizer, images) -> dict:
    """Per-image final BCE, BCE above its floor, MSE and PSNR of a fit.

    Read from the fitted featurizer (the engine scored each reconstruction
    when it fitted it), not rendered again.
    """
    final_loss = featurizer.loss_history_[:, -1].astype(float)
    return {
        "bce": final_loss,
        "bce_minus_entropy": final_loss - binary_entropy(images),
        "mse": featurizer.train_mse_.astype(float),
        "psnr": featurizer.train_psnr_.astype(float),
    }
