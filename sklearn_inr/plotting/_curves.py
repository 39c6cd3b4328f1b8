"""Training curves: the loss of many images' fits, as a mean and a band."""

from __future__ import annotations

import numpy as np

from ._common import import_pyplot

__all__ = ["plot_loss_curves"]

_BANDS = {
    "quantile": "10th-90th percentile over images",
    "std": "mean ± 1 std over images",
    "minmax": "min-max over images",
}


def plot_loss_curves(
    history_steps,
    loss_history,
    *,
    ax=None,
    label: str | None = None,
    band: str = "quantile",
    log_scale: bool = True,
    color=None,
    n_steps=None,
    floor: float | None = None,
):
    """Mean training loss over images, with a band showing their spread.

    The legend names each mean curve and says what the shaded band is (one
    grey entry per axes, however many curves share it). With ``n_steps``,
    each fit counts only up to the step it stopped at (a fit that reached
    its target is not drawn flat to the last step), the curve ends where
    the last fit stopped, and a tick at the foot of the axes marks each
    stop. With ``floor``, a dashed line marks the lowest loss possible
    (for BCE on soft targets, their mean entropy).

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
        Legend label of the mean curve; "mean over images" when None.
    band : {"quantile", "std", "minmax"}, default="quantile"
        The shaded band: 10th-90th percentiles, mean +/- one standard
        deviation (clipped at the smallest loss, for log axes) or min-max.
    log_scale : bool, default=True
        Use a logarithmic loss axis.
    color : matplotlib color, default=None
        Colour of the curve and band; the axes' next colour when None.
    n_steps : array-like of int of shape (n_images,), default=None
        Steps each image took (e.g. ``INRFeaturizer.n_steps_``). A fit's
        records after its stop (which repeat its final loss) are left out:
        its final loss is drawn at the first record at or after its stop,
        and the mean and band at a step are over the fits still training.
        None: every record counts.
    floor : float, default=None
        The loss no fit can go below, drawn as a dashed black line, e.g. the
        mean :func:`~sklearn_inr.binary_entropy` of the targets for
        ``loss="bce"`` (BCE on soft targets never reaches 0).

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
    >>> [text.get_text() for text in ax.get_legend().get_texts()]
    ['5 images', 'shaded: 10th-90th percentile over images']
    """
    plt = import_pyplot()
    from matplotlib.patches import Patch

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
    if band not in _BANDS:
        raise ValueError(f"band must be 'quantile', 'std' or 'minmax', got {band!r}.")
    stops = None
    if n_steps is not None:
        stops = np.asarray(n_steps, dtype=float).ravel()
        if len(stops) != len(history):
            raise ValueError(
                f"n_steps has {len(stops)} entries for {len(history)} images."
            )
        history = _cut_at_stops(history, steps, stops)
        # Where the last fit stopped: nothing is drawn beyond.
        kept = np.flatnonzero(~np.all(np.isnan(history), axis=0))
        steps, history = steps[: kept[-1] + 1], history[:, : kept[-1] + 1]
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5))
    with np.errstate(all="ignore"):
        mean = np.nanmean(history, axis=0)
        if band == "quantile":
            low, high = np.nanpercentile(history, [10, 90], axis=0)
        elif band == "std":
            std = np.nanstd(history, axis=0)
            low, high = np.maximum(mean - std, np.nanmin(history, axis=0)), mean + std
        else:
            low, high = np.nanmin(history, axis=0), np.nanmax(history, axis=0)
    name = "mean over images" if label is None else label
    if stops is not None and np.any(stops < stops.max()):
        name += " (over the fits still training)"
    (line,) = ax.plot(steps, mean, label=name, color=color)
    ax.fill_between(steps, low, high, color=line.get_color(), alpha=0.25, lw=0)
    if stops is not None and np.any(stops < stops.max()):
        # A rug of the steps where fits stopped, at the foot of the axes
        # (named in the legend once per axes).
        rug = "| a fit stops (reached its target)"
        seen = rug in ax.get_legend_handles_labels()[1]
        ax.plot(
            stops, np.zeros_like(stops), ls="none", marker="|", ms=8,
            color=line.get_color(), alpha=0.6, transform=ax.get_xaxis_transform(),
            label="_nolegend_" if seen else rug,
        )  # fmt: skip
    if floor is not None:
        text = f"BCE floor: mean entropy of the targets ({floor:.3g})"
        if text not in ax.get_legend_handles_labels()[1]:
            ax.axhline(floor, color="black", ls="--", lw=1, label=text)
    if log_scale:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    # The band's meaning goes in the legend once, as a neutral grey swatch:
    # the proxy is not an artist of the axes, so each call adds it afresh.
    handles, labels = ax.get_legend_handles_labels()
    text = f"shaded: {_BANDS[band]}"
    if text not in labels:
        handles.append(Patch(color="0.5", alpha=0.35, lw=0))
        labels.append(text)
    ax.legend(handles, labels, fontsize="small")
    return ax


def _cut_at_stops(history, steps, stops):
    """Each image's records up to its stop: its final loss at the first record
    at or after the stop (records after the stop repeat it), NaN beyond."""
    history = history.copy()
    for i, stop in enumerate(stops):
        after = np.flatnonzero(steps >= stop)
        if len(after) > 1:
            history[i, after[0]] = history[i, -1]
            history[i, after[1:]] = np.nan
    return history
