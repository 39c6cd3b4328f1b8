"""The evaluation protocols: the paper's single random split, grouped CV, controls.

Every function returns plain Python numbers (floats, lists), ready for
``results.json``.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import clone
from sklearn.metrics import accuracy_score, balanced_accuracy_score, roc_auc_score
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
    "permute_across_groups",
    "permute_labels",
    "one_label_per_group",
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


def _class_scores(estimator, X):
    """Class probabilities and predictions; a single column for two classes."""
    proba = estimator.predict_proba(X)
    pred = estimator.classes_[np.argmax(proba, axis=1)]
    return (proba[:, 1] if proba.shape[1] == 2 else proba), pred


def _auc(y_true, scores, classes):
    """ROC AUC: binary for two classes, macro one-vs-rest for more.

    NaN, not an error, for a test set that lacks a class the classifier
    knows (possible for 10 % of a small cohort) or holds one it does not:
    its AUC is undefined.
    """
    present = np.unique(y_true)
    if len(present) < 2 or len(present) != len(classes):
        return float("nan")
    if not np.isin(present, classes).all():
        return float("nan")
    if len(classes) == 2:
        return float(roc_auc_score(y_true, scores))
    return float(
        roc_auc_score(
            y_true, scores, multi_class="ovr", average="macro", labels=classes
        )
    )


def _balanced_accuracy(y_true, y_pred) -> float:
    """Mean recall over the test set's classes (accuracy for balanced ones)."""
    with warnings.catch_warnings():
        # "y_pred contains classes not in y_true": a small test set; the
        # score is still the mean recall of the classes it holds.
        warnings.simplefilter("ignore", UserWarning)
        return float(balanced_accuracy_score(y_true, y_pred))


def single_split_score(classifier, theta, target, split) -> dict:
    """Train on the training part; score on validation and test.

    Besides the accuracies: the test set's balanced accuracy and ROC AUC
    (binary for two classes, macro one-vs-rest for more; NaN when the test
    set lacks a class), its correct and chance counts, the 95 % Wilson
    interval of the accuracy and the one-sided binomial p-value against
    guessing.
    """
    train, val, test = split
    classifier = clone(classifier).fit(theta[train], target[train])
    _, val_pred = _class_scores(classifier, theta[val])
    test_scores, test_pred = _class_scores(classifier, theta[test])
    return {
        "accuracy": float(accuracy_score(target[test], test_pred)),
        "balanced_accuracy": _balanced_accuracy(target[test], test_pred),
        "roc_auc": _auc(target[test], test_scores, classifier.classes_),
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
    """Accuracy, balanced accuracy and ROC AUC of ``estimator`` on each fold.

    The AUC is binary for two classes and macro one-vs-rest for more; a
    fold whose test part lacks a class has none (NaN, left out of the
    mean).

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
    accuracy, balanced, auc, y_all, pred_all = [], [], [], [], []
    for (train, test), y in zip(folds, fold_targets):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LabelLeakWarning)
            fitted = clone(estimator).fit(X[train], y[train])
        scores, pred = _class_scores(fitted, X[test])
        accuracy.append(float(accuracy_score(y[test], pred)))
        balanced.append(_balanced_accuracy(y[test], pred))
        auc.append(_auc(y[test], scores, fitted.classes_))
        y_all.append(y[test])
        pred_all.append(pred)
    return {
        "accuracy": float(np.mean(accuracy)),
        "accuracy_std": float(np.std(accuracy)),
        "balanced_accuracy": float(np.mean(balanced)),
        "balanced_accuracy_std": float(np.std(balanced)),
        "roc_auc": _finite_stat(auc),
        "roc_auc_std": _finite_stat(auc, np.nanstd),
        "fold_accuracy": accuracy,
        "fold_balanced_accuracy": balanced,
        "fold_roc_auc": auc,
        **accuracy_counts(np.concatenate(y_all), np.concatenate(pred_all)),
    }


def _finite_stat(values, reduce=np.nanmean) -> float:
    """``reduce`` of the non-NaN values; NaN (no warning) when there are none."""
    values = np.asarray(values, dtype=float)
    return float(reduce(values)) if np.isfinite(values).any() else float("nan")


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


def permute_across_groups(target, groups, random_state, blocks=None) -> np.ndarray:
    """Shuffle the patients' labels among the patients.

    For cohorts where every patient holds one label (ACDC: a patient's ED
    and ES slices share its diagnostic group), shuffling within a patient
    changes nothing; here each patient's label moves, whole, to another
    patient, so a patient's slices still share one label. Labels move only
    between patients with as many slices and in the same block, so the
    class counts of the slices, and of each block, are kept.

    Parameters
    ----------
    target, groups : array-like of shape (n_slices,)
        Every group must hold one label.
    random_state : int, Generator or None
        A :class:`numpy.random.Generator` is drawn from.
    blocks : sequence of array of int, default=None
        Slice indices that keep their own labels among themselves, e.g. the
        training and the test part of a fold (so each keeps its class
        counts and the fold its stratification); their groups must not
        straddle two blocks. None: one block of every slice.

    Returns
    -------
    permuted : ndarray of shape (n_slices,)
    """
    rng = np.random.default_rng(random_state)
    target, groups = np.asarray(target), np.asarray(groups)
    permuted = target.copy()
    if blocks is None:
        blocks = [np.arange(len(target))]
    for block in blocks:
        patients, first, sizes = np.unique(
            groups[block], return_index=True, return_counts=True
        )
        for size in np.unique(sizes):
            same = np.flatnonzero(sizes == size)
            labels = target[np.asarray(block)[first[same]]]
            for patient, label in zip(
                patients[same], labels[rng.permutation(len(same))]
            ):
                permuted[groups == patient] = label
    return permuted


def one_label_per_group(target, groups) -> bool:
    """Whether every group holds a single label (ACDC; not BraTS pairs)."""
    target, groups = np.asarray(target), np.asarray(groups)
    pairs = np.unique(np.stack([groups.astype(str), target.astype(str)]), axis=1)
    return pairs.shape[1] == len(np.unique(groups))


def permute_labels(target, groups, random_state, blocks=None) -> np.ndarray:
    """The permuted-label control's labels: within patients, or across them.

    Within each patient (:func:`permute_within_groups`) where patients hold
    slices of several classes (BraTS: one tumour and one no-tumour slice);
    when every patient holds one label, shuffling within a patient would
    change nothing, so the patients' labels are shuffled among the patients
    instead (:func:`permute_across_groups`, within each of ``blocks``). Either
    way the class counts and the grouped folds stay as they are; only the
    link between image and label is broken.
    """
    if one_label_per_group(target, groups):
        return permute_across_groups(target, groups, random_state, blocks)
    return permute_within_groups(target, groups, random_state)


def permuted_fold_targets(target, groups, folds, random_state) -> list:
    """One independent :func:`permute_labels` draw per fold.

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

    Where every patient holds one label (ACDC), the labels are shuffled
    among the training patients and among the test patients of the fold
    separately: each part keeps its class counts, so a classifier that
    learned the training part's class balance meets the test part's, as
    with the true labels, and the test patients' labels are a fresh shuffle
    independent of everything it trained on.

    Returns
    -------
    fold_targets : list of ndarray
        Labels for each fold, for its training and its test part alike.
    """
    rng = np.random.default_rng(random_state)
    if one_label_per_group(target, groups):
        return [
            permute_across_groups(target, groups, rng, blocks=fold) for fold in folds
        ]
    return [permute_within_groups(target, groups, rng) for _ in folds]
