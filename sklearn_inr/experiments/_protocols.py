"""The evaluation protocols: the paper's single random split, grouped CV.

Every function returns plain Python numbers (floats, lists), ready for
``results.json``.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import numpy as np
from scipy.stats import binom, binomtest, norm
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold, train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from .._exceptions import LabelLeakWarning
from ..classifier import MLPClassifier
from ..core._networks import INRSpec
from ..estimators._strategies import STARTS
from ..featurizer import INRFeaturizer
from ..metrics import binary_entropy

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
    params["precision"] = model_settings.get("precision", "auto")
    if protocol == "leak-free":
        overrides = model_settings.get("leak_free", {})
        if overrides is None:
            raise ValueError(
                f"{model_settings['name']} has no leak-free fits in this preset."
            )
        params.update({k: v for k, v in overrides.items() if k != "learned_init"})
    return params


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


def learned_init(
    model_settings: dict, *, random_state: int, memory, device, verbose: int = 0
):
    """The init a leak-free entry's ``"learned_init"`` asks for, or None.

    Meta-learned (:func:`~sklearn_inr.meta_learn_init`, Reptile, no labels)
    on the FLAIR slices of a calibration cohort: synthetic patients drawn
    with ``random_state + CALIBRATION_SEED_OFFSET``, never evaluated, at
    their own (small) size; the coordinates span [-1, 1] at any size, so the
    init serves the run's slices. Its inner steps use the leak-free fits'
    learning rate. Cached in ``memory``'s array store.
    """
    recipe = (model_settings.get("leak_free") or {}).get("learned_init")
    if recipe is None:
        return None
    from ..datasets import load_brats_slices, make_brats_like

    params = fit_params(model_settings, "leak-free")
    seed = int(random_state) + CALIBRATION_SEED_OFFSET
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
        )
        images = load_brats_slices(root, size=recipe["image_size"]).images
    # The featurizer's own init="meta" learning (stored in memory's array
    # store), without fit()'s per-image fits of the calibration slices.
    featurizer = INRFeaturizer(
        **params,
        init="meta",
        meta_steps=recipe["meta_steps"],
        inner_steps=recipe["inner_steps"],
        meta_batch_size=recipe["meta_batch_size"],
        device=device,
        memory=memory,
        verbose=verbose,
    )
    spec = INRSpec(
        params["model"],
        hidden_features=params["hidden_features"],
        hidden_layers=params["hidden_layers"],
        omega_0=float(params["omega_0"]),
    )
    return STARTS["meta"].init_params(featurizer, images, spec, seed)


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


def paper_split(n_samples: int, fractions, random_state):
    """The paper's one random train/validation/test split (not grouped).

    Returns
    -------
    train, validation, test : ndarray of int
    """
    _, val_fraction, test_fraction = fractions
    indices = np.arange(n_samples)
    rest, test = train_test_split(
        indices, test_size=test_fraction, random_state=random_state
    )
    train, val = train_test_split(
        rest,
        test_size=val_fraction / (1.0 - test_fraction),
        random_state=random_state,
    )
    return np.sort(train), np.sort(val), np.sort(test)


def _positive_scores(estimator, X):
    proba = estimator.predict_proba(X)
    return proba[:, 1], estimator.classes_[np.argmax(proba, axis=1)]


def _auc(y_true, scores):
    # A test set of one class (possible for 10 % of a small cohort) has no AUC.
    if len(np.unique(y_true)) < 2:
        return float("nan")
    return float(roc_auc_score(y_true, scores))


# The noise control's test: one-sided binomial at ALPHA against guessing,
# sized to detect a true accuracy of DETECTABLE_ACCURACY with TARGET_POWER.
ALPHA = 0.05
DETECTABLE_ACCURACY = 0.8
TARGET_POWER = 0.8


def wilson_interval(
    n_correct: int, n_total: int, confidence: float = 0.95
) -> tuple[float, float]:
    """Wilson score interval of a proportion ``n_correct / n_total``.

    Unlike the normal approximation, it stays inside [0, 1] and keeps close
    to its nominal coverage on the few test slices of a small cohort
    (Newcombe, Statistics in Medicine 17, 1998). It is statsmodels'
    ``proportion_confint(..., method="wilson")``.

    Parameters
    ----------
    n_correct : int
        Successes (correct test slices), between 0 and ``n_total``.
    n_total : int
        Trials (test slices), at least 1.
    confidence : float, default=0.95
        Coverage of the interval, strictly between 0 and 1.

    Returns
    -------
    low, high : float

    Examples
    --------
    >>> from sklearn_inr.experiments._protocols import wilson_interval
    >>> low, high = wilson_interval(81, 263)
    >>> round(low, 4), round(high, 4)
    (0.2553, 0.3662)
    """
    if isinstance(n_total, bool) or int(n_total) != n_total or n_total < 1:
        raise ValueError(f"n_total must be an integer >= 1, got {n_total!r}.")
    if int(n_correct) != n_correct or not 0 <= n_correct <= n_total:
        raise ValueError(
            f"n_correct must be an integer between 0 and n_total={n_total}, got "
            f"{n_correct!r}."
        )
    if not 0.0 < confidence < 1.0:
        raise ValueError(
            f"confidence must be strictly between 0 and 1 (e.g. 0.95), got "
            f"{confidence!r}."
        )
    z = float(norm.ppf(0.5 + confidence / 2.0))
    p = n_correct / n_total
    denominator = 1.0 + z**2 / n_total
    centre = (p + z**2 / (2 * n_total)) / denominator
    half = z * np.sqrt(p * (1 - p) / n_total + z**2 / (4 * n_total**2)) / denominator
    # Clipped: at 0 or n_total successes rounding can leave -1e-17 or 1+1e-16.
    return float(max(centre - half, 0.0)), float(min(centre + half, 1.0))


def chance_count(y_test) -> int:
    """Test slices that guessing gets right: those of the majority class.

    Always answering the test set's majority class is the best label-only
    strategy, so ``chance_count(y) / len(y)`` is the chance level the
    noise control tests against.
    """
    _, counts = np.unique(np.asarray(y_test), return_counts=True)
    return int(counts.max())


def above_chance_pvalue(n_correct: int, n_total: int, y_test) -> float:
    """One-sided binomial p-value of ``n_correct`` against guessing.

    Guessing is taken as always answering the majority class of the test
    set, the best label-only strategy.
    """
    chance = chance_count(y_test) / len(y_test)
    return float(binomtest(n_correct, n_total, chance, alternative="greater").pvalue)


def critical_count(n_total: int, chance: float, alpha: float = ALPHA) -> int:
    """The fewest correct slices out of ``n_total`` that beat ``chance``.

    The smallest ``k`` with one-sided binomial p-value ``P(X >= k) < alpha``
    under ``X ~ Binomial(n_total, chance)``; ``n_total + 1`` when even a
    perfect score is not significant.
    """
    k = np.arange(n_total + 2)
    significant = np.flatnonzero(binom.sf(k - 1, n_total, chance) < alpha)
    return int(k[significant[0]]) if len(significant) else n_total + 1


def detection_power(
    n_total: int,
    chance: float,
    *,
    accuracy: float = DETECTABLE_ACCURACY,
    alpha: float = ALPHA,
) -> float:
    """Power of the one-sided binomial test on ``n_total`` test slices.

    The probability that a classifier whose true accuracy is ``accuracy``
    scores significantly above ``chance`` (``P(X >= critical count)``,
    ``X ~ Binomial(n_total, accuracy)``), computed exactly.

    Examples
    --------
    >>> from sklearn_inr.experiments._protocols import detection_power
    >>> round(detection_power(12, 0.5), 3), round(detection_power(18, 0.5), 3)
    (0.558, 0.867)
    """
    crit = critical_count(n_total, chance, alpha)
    return float(binom.sf(crit - 1, n_total, accuracy))


def slices_needed(
    chance: float,
    *,
    accuracy: float = DETECTABLE_ACCURACY,
    alpha: float = ALPHA,
    power: float = TARGET_POWER,
    max_slices: int = 100_000,
) -> int:
    """The fewest test slices whose noise control reaches ``power``.

    Power is not monotone in the number of slices (the critical count moves
    in whole slices), so this is the smallest such number, searched upward.

    Examples
    --------
    >>> from sklearn_inr.experiments._protocols import slices_needed
    >>> slices_needed(0.5)
    18
    """
    if not chance < accuracy:
        raise ValueError(
            f"No test set detects accuracy {accuracy} against a chance level of "
            f"{chance}; the classes are too imbalanced for this control."
        )
    for n in range(1, max_slices + 1):
        if detection_power(n, chance, accuracy=accuracy, alpha=alpha) >= power:
            return n
    raise ValueError(f"More than {max_slices} test slices would be needed.")


def _accuracy_counts(y_true, y_pred) -> dict:
    """Correct slices, the chance count and the Wilson interval."""
    n_correct, n_total = int(np.sum(y_pred == y_true)), len(y_true)
    return {
        "n_correct": n_correct,
        "n_test": n_total,
        "n_chance": chance_count(y_true),
        "accuracy_ci": list(wilson_interval(n_correct, n_total)),
        "p_value": above_chance_pvalue(n_correct, n_total, y_true),
    }


def single_split_score(classifier, theta, target, split) -> dict:
    """Train on the training part; score on validation and test.

    Besides the accuracies: the test set's correct and chance counts, the
    95 % Wilson interval of the accuracy and the one-sided binomial p-value
    against guessing.
    """
    train, val, test = split
    classifier = clone(classifier).fit(theta[train], target[train])
    val_scores, val_pred = _positive_scores(classifier, theta[val])
    test_scores, test_pred = _positive_scores(classifier, theta[test])
    return {
        "accuracy": float(accuracy_score(target[test], test_pred)),
        "roc_auc": _auc(target[test], test_scores),
        "val_accuracy": float(accuracy_score(target[val], val_pred)),
        "n_train": len(train),
        "n_val": len(val),
        **_accuracy_counts(target[test], test_pred),
    }


def grouped_folds(target, groups, n_splits: int, random_state) -> list:
    """StratifiedGroupKFold by patient, as a list of (train, test) pairs."""
    cv = StratifiedGroupKFold(
        n_splits=n_splits, shuffle=True, random_state=random_state
    )
    return list(cv.split(np.zeros(len(target)), target, groups))


def grouped_cv_score(estimator, X, target, folds, fold_targets=None) -> dict:
    """Accuracy and ROC AUC of ``estimator`` on each fold.

    ``estimator`` is cloned and fitted on each training fold; its test fold
    goes through ``predict_proba`` only (for a Pipeline with an
    :class:`INRFeaturizer`, through ``transform``, which never sees labels).
    ``fold_targets``, one label array per fold (see
    :func:`permuted_fold_targets`), replaces ``target`` in that fold, for
    training and scoring alike.

    The counts, Wilson interval and p-value are those of the pooled
    out-of-fold predictions. Folds are not independent, and slices of one
    patient are not either, so read the p-value as a rough guide only.
    """
    if fold_targets is None:
        fold_targets = [target] * len(folds)
    accuracy, auc, y_all, pred_all = [], [], [], []
    for (train, test), y in zip(folds, fold_targets):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LabelLeakWarning)
            fitted = clone(estimator).fit(X[train], y[train])
        scores, pred = _positive_scores(fitted, X[test])
        accuracy.append(float(accuracy_score(y[test], pred)))
        auc.append(_auc(y[test], scores))
        y_all.append(y[test])
        pred_all.append(pred)
    return {
        "accuracy": float(np.mean(accuracy)),
        "accuracy_std": float(np.std(accuracy)),
        "roc_auc": float(np.nanmean(auc)),
        "roc_auc_std": float(np.nanstd(auc)),
        "fold_accuracy": accuracy,
        "fold_roc_auc": auc,
        **_accuracy_counts(np.concatenate(y_all), np.concatenate(pred_all)),
    }


def inr_pipeline(featurizer: INRFeaturizer, classifier) -> Pipeline:
    """``INRFeaturizer -> StandardScaler -> MLPClassifier``."""
    return Pipeline([("inr", featurizer), *classifier.steps])


def noise_images(images, random_state) -> np.ndarray:
    """Uniform noise in [0, 1] of the images' shape and dtype."""
    rng = np.random.default_rng(random_state)
    return rng.uniform(size=images.shape).astype(images.dtype)


def permute_within_groups(target, groups, random_state) -> np.ndarray:
    """Shuffle the labels within each patient.

    Each patient keeps its number of slices per class (one tumour and one
    no-tumour slice for BraTS pairs: the pair's labels are swapped or not by
    a coin flip), so the class balance and the grouped folds stay as they
    are; only the link between image and label is broken.

    ``random_state`` may be a :class:`numpy.random.Generator`, which is
    drawn from (for several independent draws).
    """
    rng = np.random.default_rng(random_state)
    permuted = np.array(target, copy=True)
    for group in np.unique(groups):
        members = np.flatnonzero(groups == group)
        permuted[members] = permuted[rng.permutation(members)]
    return permuted


def permuted_fold_targets(target, groups, folds, random_state) -> list:
    """One independent :func:`permute_within_groups` draw per fold.

    The permuted-label control of grouped CV trains and scores each fold on
    its own draw. With one draw shared by all folds, the draws of the
    training folds and of the test fold are tied: given the draw, patients
    whose pair was swapped are a fixed number, so a training fold with more
    of them leaves the test fold with fewer. A classifier that finds the
    tumour then learns the training folds' majority (swapped or not) and
    scores below chance on the test fold, and the folds err together, so a
    small cohort lands far below (or above) chance more often than a fair
    coin would. With a fresh draw per fold, each fold's test patients are
    independent coin flips of everything it trained on.

    Returns
    -------
    fold_targets : list of ndarray
        Labels for each fold, for its training and its test part alike.
    """
    rng = np.random.default_rng(random_state)
    return [permute_within_groups(target, groups, rng) for _ in folds]
