"""The evaluation protocols: the paper's single random split, grouped CV.

Every function returns plain Python numbers (floats, lists), ready for
``results.json``.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.stats import binomtest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold, train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from .._exceptions import LabelLeakWarning
from ..classifier import MLPClassifier
from ..featurizer import INRFeaturizer
from ..metrics import binary_entropy

INR_KEYS = ("model", "hidden_features", "hidden_layers", "omega_0", "loss", "lr")


def make_featurizer(model_settings: dict, *, device, memory, random_state, **extra):
    """An :class:`INRFeaturizer` from a preset's model entry."""
    params = {key: model_settings[key] for key in INR_KEYS}
    return INRFeaturizer(
        **params,
        n_steps=model_settings["n_steps"],
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


def above_chance_pvalue(n_correct: int, n_total: int, y_test) -> float:
    """One-sided binomial p-value of ``n_correct`` against guessing.

    Guessing is taken as always answering the majority class of the test
    set, the best label-only strategy.
    """
    majority = max(np.mean(y_test), 1.0 - np.mean(y_test))
    return float(binomtest(n_correct, n_total, majority, alternative="greater").pvalue)


def single_split_score(classifier, theta, target, split) -> dict:
    """Train on the training part; score on validation and test."""
    train, val, test = split
    classifier = clone(classifier).fit(theta[train], target[train])
    val_scores, val_pred = _positive_scores(classifier, theta[val])
    test_scores, test_pred = _positive_scores(classifier, theta[test])
    n_correct = int(np.sum(test_pred == target[test]))
    return {
        "accuracy": float(accuracy_score(target[test], test_pred)),
        "roc_auc": _auc(target[test], test_scores),
        "val_accuracy": float(accuracy_score(target[val], val_pred)),
        "n_train": len(train),
        "n_val": len(val),
        "n_test": len(test),
        "n_correct": n_correct,
        "p_value": above_chance_pvalue(n_correct, len(test), target[test]),
    }


def grouped_folds(target, groups, n_splits: int, random_state) -> list:
    """StratifiedGroupKFold by patient, as a list of (train, test) pairs."""
    cv = StratifiedGroupKFold(
        n_splits=n_splits, shuffle=True, random_state=random_state
    )
    return list(cv.split(np.zeros(len(target)), target, groups))


def grouped_cv_score(estimator, X, target, folds) -> dict:
    """Accuracy and ROC AUC of ``estimator`` on each fold.

    ``estimator`` is cloned and fitted on each training fold; its test fold
    goes through ``predict_proba`` only (for a Pipeline with an
    :class:`INRFeaturizer`, through ``transform``, which never sees labels).
    """
    accuracy, auc, n_correct, n_total, y_all = [], [], 0, 0, []
    for train, test in folds:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LabelLeakWarning)
            fitted = clone(estimator).fit(X[train], target[train])
        scores, pred = _positive_scores(fitted, X[test])
        accuracy.append(float(accuracy_score(target[test], pred)))
        auc.append(_auc(target[test], scores))
        n_correct += int(np.sum(pred == target[test]))
        n_total += len(test)
        y_all.append(target[test])
    y_all = np.concatenate(y_all)
    return {
        "accuracy": float(np.mean(accuracy)),
        "accuracy_std": float(np.std(accuracy)),
        "roc_auc": float(np.nanmean(auc)),
        "roc_auc_std": float(np.nanstd(auc)),
        "fold_accuracy": accuracy,
        "fold_roc_auc": auc,
        "n_correct": n_correct,
        "n_test": n_total,
        # Pooled out-of-fold predictions against guessing; folds are not
        # independent, so read it as a rough guide only.
        "p_value": above_chance_pvalue(n_correct, n_total, y_all),
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
    """
    rng = np.random.default_rng(random_state)
    permuted = np.array(target, copy=True)
    for group in np.unique(groups):
        members = np.flatnonzero(groups == group)
        permuted[members] = permuted[rng.permutation(members)]
    return permuted
