"""The evaluation protocols: the paper's single random split, grouped CV, controls.

Every function returns plain Python numbers (floats, lists), ready for
``results.json``.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import clone
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold, train_test_split
from sklearn.pipeline import Pipeline

from .._exceptions import LabelLeakWarning
from ..featurizer import INRFeaturizer
from ._statistics import accuracy_counts

__all__ = [
    "grouped_cv_score",
    "grouped_folds",
    "inr_pipeline",
    "noise_images",
    "paper_split",
    "permute_within_groups",
    "permuted_fold_targets",
    "single_split_score",
]


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
        **accuracy_counts(target[test], test_pred),
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
        **accuracy_counts(np.concatenate(y_all), np.concatenate(pred_all)),
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
