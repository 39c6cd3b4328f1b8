"""Accuracy charts: grouped bars per protocol, chance and missing runs named."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._common import import_pyplot

__all__ = ["plot_accuracy_comparison"]


def _bar_positions(n_labels: int, n_series: int):
    width = 0.8 / max(n_series, 1)
    x = np.arange(n_labels)
    return [x + (i - (n_series - 1) / 2) * width for i in range(n_series)], width


def plot_accuracy_comparison(
    labels: Sequence[str],
    scores: dict,
    *,
    errors: dict | None = None,
    intervals: dict | None = None,
    counts: dict | None = None,
    chance: float = 0.5,
    ax=None,
):
    """Grouped bar chart of accuracies, with the chance level drawn across.

    A value of 0 gets a marker at the foot of its bar, so it cannot be
    mistaken for a missing one; a missing value (``nan``: a condition that
    was not run) is written "n/a" where its bar would be, and the legend
    says so. The accuracy axis reaches above 1 when an error bar does, so no
    interval is cut.

    Parameters
    ----------
    labels : sequence of str
        One group of bars per label (e.g. per protocol).
    scores : dict of str to sequence of float
        One bar series per key (e.g. ``"images"``, ``"pure noise"``,
        ``"permuted labels"``), each with one value per label; ``nan`` marks
        one that was not run ("n/a").
    errors : dict of str to sequence of float, default=None
        Symmetric error bars (e.g. standard deviations over folds), keyed
        like ``scores``; ``nan`` draws none.
    intervals : dict of str to sequence of (float, float), default=None
        Error bars from ``low`` to ``high`` (e.g. a 95 % Wilson interval of
        each accuracy), keyed like ``scores``; they replace ``errors`` for
        their series; ``(nan, nan)`` draws none.
    counts : dict of str to sequence of int, default=None
        The number of test cases behind each bar, written as ``n=80`` at its
        foot, so a bar of 8 cases does not read as solidly as one of 80;
        keyed like ``scores``; ``nan`` writes nothing.
    chance : float, default=0.5
        Accuracy of guessing, drawn as a labelled dashed line.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure and axes when None.

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn_inr.plotting import plot_accuracy_comparison
    >>> ax = plot_accuracy_comparison(
    ...     ["paper", "pipeline"],
    ...     {"images": [1.0, 0.8], "pure noise": [1.0, 0.5]},
    ...     errors={"images": [float("nan"), 0.1], "pure noise": [float("nan"), 0.1]},
    ... )
    >>> [float(y) for y in ax.get_ylim()]
    [0.0, 1.05]
    """
    plt = import_pyplot()
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    labels = list(labels)
    if ax is None:
        _, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(labels) + 3), 4.5))
    positions, width = _bar_positions(len(labels), len(scores))
    bottom, top, any_missing = 0.0, 1.0, False
    for pos, (name, values) in zip(positions, scores.items()):
        values = np.asarray(values, dtype=float)
        if len(values) != len(labels):
            raise ValueError(
                f"scores[{name!r}] has {len(values)} values for {len(labels)} labels."
            )
        err = np.full((2, len(values)), np.nan)
        if errors is not None and name in errors:
            err[:] = _per_label(errors, name, labels, "errors")
        if intervals is not None and name in intervals:
            bounds = _per_label(intervals, name, labels, "intervals").reshape(
                len(labels), 2
            )
            # Distances below and above each bar, as matplotlib takes them.
            err = np.stack([values - bounds[:, 0], bounds[:, 1] - values])
        missing = np.isnan(values)
        bars = ax.bar(
            pos[~missing],
            values[~missing],
            width,
            yerr=err[:, ~missing],
            capsize=3,
            label=name,
            edgecolor="black",
            linewidth=0.6,
        )
        color = bars.patches[0].get_facecolor() if bars.patches else None
        # A bar of height 0 is invisible on the axis: mark its foot.
        zero = ~missing & (values == 0)
        if zero.any():
            ax.plot(
                pos[zero],
                np.zeros(zero.sum()),
                ls="none",
                marker="^",
                ms=7,
                color=color,
                markeredgecolor="black",
                clip_on=False,
                zorder=3,
            )
        for x in pos[missing]:
            any_missing = True
            ax.text(
                x,
                0.02,
                "n/a",
                rotation=90,
                ha="center",
                va="bottom",
                fontsize="small",
                color="0.35",
            )
        if counts is not None and name in counts:
            n = _per_label(counts, name, labels, "counts")
            for x, value in zip(
                pos[~missing & ~np.isnan(n)], n[~missing & ~np.isnan(n)]
            ):
                ax.text(x, 0.01, f"n={value:.0f}", rotation=90, ha="center",
                        va="bottom", fontsize="x-small")  # fmt: skip
        if np.any(~missing):
            spread = np.nan_to_num(err)
            top = max(top, float(np.nanmax(values + spread[1])))
            bottom = min(bottom, float(np.nanmin(values - spread[0])))
    ax.axhline(chance, color="black", ls="--", lw=1)
    ax.set_xticks(np.arange(len(labels)))
    ax.set_xticklabels(labels, rotation=20, ha="right", fontsize="small")
    # Room for every error bar, whole: past 1 (or below 0) when one reaches
    # there, plus a margin.
    ax.set_ylim(0.0 if bottom >= 0 else bottom - 0.05, max(1.05, top + 0.05))
    ax.set_ylabel("test accuracy")
    handles, names = ax.get_legend_handles_labels()
    handles.append(Line2D([], [], color="black", ls="--", lw=1))
    names.append(f"chance level ({chance:.2f}, guessing)")
    if any_missing:
        handles.append(Patch(fill=False, lw=0))
        names.append("n/a: not run")
    if counts is not None:
        handles.append(Patch(fill=False, lw=0))
        names.append("n=: test cases behind a bar")
    # Outside the axes: bars reach 1.0 and any corner inside would hide some.
    ax.legend(
        handles, names, fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0)
    )
    return ax


def _per_label(table: dict, name: str, labels: list, what: str) -> np.ndarray:
    """``table[name]`` as floats, one entry per label (checked)."""
    values = np.asarray(table[name], dtype=float)
    if len(values) != len(labels):
        raise ValueError(
            f"{what}[{name!r}] has {len(values)} values for {len(labels)} labels."
        )
    return values
