"""The statistics of the noise control: Wilson intervals, binomial tests, power.

The noise control asks whether a protocol scores above guessing on pure
noise: a one-sided binomial test at :data:`ALPHA`, with the test set sized to
detect a true accuracy of :data:`DETECTABLE_ACCURACY` with
:data:`TARGET_POWER` power.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import binom, binomtest, norm

__all__ = [
    "ALPHA",
    "DETECTABLE_ACCURACY",
    "TARGET_POWER",
    "above_chance_pvalue",
    "accuracy_counts",
    "chance_count",
    "critical_count",
    "detection_power",
    "holm_adjust",
    "slices_needed",
    "wilson_interval",
]

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
    >>> from sklearn_inr.experiments._statistics import wilson_interval
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
    >>> from sklearn_inr.experiments._statistics import detection_power
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
    >>> from sklearn_inr.experiments._statistics import slices_needed
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


def holm_adjust(p_values) -> list:
    """Holm's step-down adjustment of p-values for testing them all.

    A run tests one noise control per protocol; at 5 % each, some control
    of a clean run would be flagged by chance alone (one in five with four
    controls). Holm's adjustment keeps the chance of any false flag at 5 %
    (family-wise), without assuming the tests independent (Holm,
    Scandinavian Journal of Statistics 6, 1979): the ``i``-th smallest of
    ``m`` p-values is multiplied by ``m - i`` (``i`` from 0), made
    non-decreasing in that order and capped at 1.

    Parameters
    ----------
    p_values : sequence of float
        The raw p-values, one per test; None (a test not run) stays None.

    Returns
    -------
    adjusted : list of float or None
        In the order given.

    Examples
    --------
    >>> from sklearn_inr.experiments._statistics import holm_adjust
    >>> [round(p, 4) for p in holm_adjust([0.003906, 0.028, 0.2882, 0.3633])]
    [0.0156, 0.084, 0.5764, 0.5764]
    """
    p_values = list(p_values)
    tested = [i for i, p in enumerate(p_values) if p is not None]
    order = sorted(tested, key=lambda i: p_values[i])
    adjusted, running = list(p_values), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * float(p_values[i])))
        adjusted[i] = running
    return adjusted


def accuracy_counts(y_true, y_pred) -> dict:
    """Correct slices, the chance count and the Wilson interval."""
    n_correct, n_total = int(np.sum(y_pred == y_true)), len(y_true)
    return {
        "n_correct": n_correct,
        "n_test": n_total,
        "n_chance": chance_count(y_true),
        "accuracy_ci": list(wilson_interval(n_correct, n_total)),
        "p_value": above_chance_pvalue(n_correct, n_total, y_true),
    }
