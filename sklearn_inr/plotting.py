"""Figures for INR fits and their evaluation (matplotlib).

Each function draws on a given :class:`matplotlib.axes.Axes` (or a new
figure when ``ax`` is None) and returns what it drew on, so the figures of
:func:`sklearn_inr.experiments.run_reproduction` can be rebuilt, restyled or
combined by hand. matplotlib is an optional dependency (the ``plots`` extra);
it is imported when a function is called.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "plot_accuracy_comparison",
    "plot_loss_curves",
    "plot_reconstructions",
]


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError(
            "Plotting needs matplotlib: pip install 'sklearn-inr[plots]'."
        ) from exc
    return plt


def plot_loss_curves(
    history_steps,
    loss_history,
    *,
    ax=None,
    label: str | None = None,
    band: str = "quantile",
    log_scale: bool = True,
    color=None,
):
    """Mean training loss over images, with a band showing their spread.

    Parameters
    ----------
    history_steps : array-like of shape (n_records,) or (n_records - 1,)
        Steps at which the loss was recorded, e.g.
        ``INRFeaturizer.history_steps_``. When it is one shorter than
        ``loss_history`` (whose last column is the final loss, after the last
        update), the final loss is drawn one step after the last record.
    loss_history : array-like of shape (n_images, n_records)
        Loss of each image at each record, e.g.
        ``INRFeaturizer.loss_history_``.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure and axes when None.
    label : str, default=None
        Legend label of the mean curve.
    band : {"quantile", "std", "minmax"}, default="quantile"
        The shaded band: 10th-90th percentiles, mean +/- one standard
        deviation (clipped at the smallest loss, for log axes) or min-max.
    log_scale : bool, default=True
        Use a logarithmic loss axis.
    color : matplotlib color, default=None
        Colour of the curve and band; the axes' next colour when None.

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from sklearn_inr.plotting import plot_loss_curves
    >>> steps = np.arange(0, 100, 10)
    >>> history = np.exp(-steps / 50)[None, :] * np.linspace(1, 2, 5)[:, None]
    >>> ax = plot_loss_curves(steps, history, label="5 images")
    >>> ax.get_ylabel()
    'training loss'
    """
    plt = _pyplot()
    history = np.asarray(loss_history, dtype=float)
    if history.ndim != 2:
        raise ValueError(
            f"loss_history must be 2-D (n_images, n_records), got shape "
            f"{history.shape}."
        )
    steps = np.asarray(history_steps, dtype=float).ravel()
    if len(steps) == history.shape[1] - 1:
        # The engine appends the final loss (after the last update) as an
        # extra column: place it one stride after the last recorded step.
        stride = steps[-1] - steps[-2] if len(steps) > 1 else 1.0
        steps = np.append(steps, steps[-1] + stride)
    if len(steps) != history.shape[1]:
        raise ValueError(
            f"history_steps has {len(steps)} entries but loss_history has "
            f"{history.shape[1]} records per image."
        )
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5))
    mean = history.mean(axis=0)
    if band == "quantile":
        low, high = np.percentile(history, [10, 90], axis=0)
    elif band == "std":
        std = history.std(axis=0)
        low, high = np.maximum(mean - std, history.min(axis=0)), mean + std
    elif band == "minmax":
        low, high = history.min(axis=0), history.max(axis=0)
    else:
        raise ValueError(f"band must be 'quantile', 'std' or 'minmax', got {band!r}.")
    (line,) = ax.plot(steps, mean, label=label, color=color)
    ax.fill_between(steps, low, high, color=line.get_color(), alpha=0.25, lw=0)
    if log_scale:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    if label is not None:
        ax.legend()
    return ax


def plot_reconstructions(
    originals,
    reconstructions: dict,
    *,
    row_labels: Sequence[str] | None = None,
    fig=None,
    cmap: str = "gray",
):
    """A grid of images: originals in the first column, then one per model.

    Parameters
    ----------
    originals : array-like of shape (n_rows, H, W)
        The images, e.g. a tumour and a no-tumour slice.
    reconstructions : dict of str to array-like of shape (n_rows, H, W)
        One entry per model (column title to its renderings of the
        originals), e.g. from ``INRFeaturizer.inverse_transform``.
    row_labels : sequence of str, default=None
        A label per row, e.g. ``["tumour", "no tumour"]``.
    fig : matplotlib Figure, default=None
        Figure to draw into (it is cleared); a new one when None.
    cmap : str, default="gray"

    Returns
    -------
    fig : matplotlib Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from sklearn_inr.plotting import plot_reconstructions
    >>> images = np.random.default_rng(0).uniform(size=(2, 8, 8))
    >>> fig = plot_reconstructions(images, {"blurred": images * 0.9},
    ...                            row_labels=["tumour", "no tumour"])
    >>> len(fig.axes)
    4
    """
    plt = _pyplot()
    originals = np.asarray(originals)
    if originals.ndim != 3:
        raise ValueError(
            f"originals must have shape (n_rows, H, W), got {originals.shape}."
        )
    columns = {"original": originals}
    for name, images in reconstructions.items():
        images = np.asarray(images).reshape(originals.shape)
        columns[name] = images
    n_rows, n_cols = len(originals), len(columns)
    if fig is None:
        fig = plt.figure(figsize=(2.2 * n_cols, 2.2 * n_rows))
    else:
        fig.clear()
    axes = np.asarray(fig.subplots(n_rows, n_cols, squeeze=False))
    for col, (name, images) in enumerate(columns.items()):
        for row in range(n_rows):
            ax = axes[row, col]
            # One fixed range for every panel: intensities are in [0, 1], and
            # per-panel autoscaling would hide a reconstruction's contrast loss.
            ax.imshow(images[row], cmap=cmap, vmin=0.0, vmax=1.0)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(name)
            if col == 0 and row_labels is not None:
                ax.set_ylabel(row_labels[row])
    fig.tight_layout()
    return fig


def plot_accuracy_comparison(
    labels: Sequence[str],
    scores: dict,
    *,
    errors: dict | None = None,
    chance: float = 0.5,
    ax=None,
):
    """Grouped bar chart of accuracies, with the chance level drawn across.

    Parameters
    ----------
    labels : sequence of str
        One group of bars per label (e.g. per protocol).
    scores : dict of str to sequence of float
        One bar series per key (e.g. ``"images"``, ``"pure noise"``,
        ``"permuted labels"``), each with one value per label; ``nan`` leaves
        a gap (a protocol that was not run).
    errors : dict of str to sequence of float, default=None
        Error bars (e.g. standard deviations over folds), keyed like
        ``scores``; ``nan`` draws none.
    chance : float, default=0.5
        Accuracy of guessing, drawn as a dashed line.
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
    plt = _pyplot()
    labels = list(labels)
    if ax is None:
        _, ax = plt.subplots(figsize=(max(5.0, 1.3 * len(labels) + 2), 4))
    n_series = max(len(scores), 1)
    width = 0.8 / n_series
    x = np.arange(len(labels))
    for i, (name, values) in enumerate(scores.items()):
        values = np.asarray(values, dtype=float)
        if len(values) != len(labels):
            raise ValueError(
                f"scores[{name!r}] has {len(values)} values for {len(labels)} labels."
            )
        err = None
        if errors is not None and name in errors:
            err = np.asarray(errors[name], dtype=float)
        ax.bar(
            x + (i - (n_series - 1) / 2) * width,
            np.nan_to_num(values, nan=0.0),
            width,
            yerr=err,
            capsize=3,
            label=name,
        )
    ax.axhline(chance, color="black", ls="--", lw=1, label=f"chance ({chance:.2f})")
    ax.set_xticks(x)
    ax.set_xticklabels(labels, rotation=20, ha="right")
    ax.set_ylim(0.0, 1.05)
    ax.set_ylabel("test accuracy")
    # Outside the axes: bars reach 1.0 and any corner inside would hide some.
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return ax
