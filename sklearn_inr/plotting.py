"""Figures for INR fits and their evaluation (matplotlib).

Each function draws on a given :class:`matplotlib.axes.Axes` or
:class:`matplotlib.figure.Figure` (or a new one when None) and returns what
it drew on, so the figures of :func:`sklearn_inr.experiments.run_reproduction`
can be rebuilt, restyled or combined by hand. Every figure explains itself:
panels say what they show, shaded bands and missing values are named in the
legend, and images share one colour scale with a colour bar. matplotlib is
an optional dependency (the ``plots`` extra); it is imported when a function
is called.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

from .metrics import psnr

__all__ = [
    "plot_accuracy_comparison",
    "plot_loss_curves",
    "plot_reconstructions",
    "plot_weight_space",
    "weight_space_pca",
]

_BANDS = {
    "quantile": "10th-90th percentile over images",
    "std": "mean ± 1 std over images",
    "minmax": "min-max over images",
}


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

    The legend names each mean curve and says what the shaded band is (one
    grey entry per axes, however many curves share it).

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
    plt = _pyplot()
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
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5))
    mean = history.mean(axis=0)
    if band == "quantile":
        low, high = np.percentile(history, [10, 90], axis=0)
    elif band == "std":
        std = history.std(axis=0)
        low, high = np.maximum(mean - std, history.min(axis=0)), mean + std
    else:
        low, high = history.min(axis=0), history.max(axis=0)
    (line,) = ax.plot(
        steps, mean, label="mean over images" if label is None else label, color=color
    )
    ax.fill_between(steps, low, high, color=line.get_color(), alpha=0.25, lw=0)
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


def plot_reconstructions(
    originals,
    reconstructions: dict,
    *,
    row_labels: Sequence[str] | None = None,
    show_psnr: bool = True,
    fig=None,
    cmap: str = "gray",
):
    """A grid of images: originals in the first column, then one per model.

    Every panel shows intensities on one scale, 0 (black) to 1 (white), read
    off the colour bar; per-panel autoscaling would hide a reconstruction's
    loss of contrast. Each reconstruction's title gives its PSNR against the
    original of its row.

    Parameters
    ----------
    originals : array-like of shape (n_rows, H, W)
        The images, intensities in [0, 1], e.g. a tumour and a no-tumour
        slice.
    reconstructions : dict of str to array-like of shape (n_rows, H, W)
        One entry per column (what it is, e.g. ``"SIREN, shared init"``, to
        its renderings of the originals), e.g. from
        ``INRFeaturizer.inverse_transform``.
    row_labels : sequence of str, default=None
        A label per row, e.g. ``["tumour", "no tumour"]``.
    show_psnr : bool, default=True
        Add ``PSNR <x> dB`` to each reconstruction's title.
    fig : matplotlib Figure, default=None
        Figure to draw into (it is cleared); a new one when None.
    cmap : str, default="gray"

    Returns
    -------
    fig : matplotlib Figure
        Its last axes is the colour bar.

    See Also
    --------
    sklearn_inr.psnr : The PSNR in the titles.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from sklearn_inr.plotting import plot_reconstructions
    >>> images = np.full((2, 8, 8), 0.5)
    >>> fig = plot_reconstructions(images, {"darker": images - 0.1},
    ...                            row_labels=["tumour", "no tumour"])
    >>> len(fig.axes)  # 2 x 2 images and the colour bar
    5
    >>> fig.axes[1].get_title()
    'darker\\nPSNR 20.0 dB'
    """
    plt = _pyplot()
    originals = np.asarray(originals, dtype=float)
    if originals.ndim != 3:
        raise ValueError(
            f"originals must have shape (n_rows, H, W), got {originals.shape}."
        )
    if row_labels is not None and len(row_labels) != len(originals):
        raise ValueError(
            f"row_labels has {len(row_labels)} labels for {len(originals)} rows."
        )
    columns = {"original": originals}
    for name, images in reconstructions.items():
        images = np.asarray(images, dtype=float)
        if images.size != originals.size:
            raise ValueError(
                f"reconstructions[{name!r}] has shape {images.shape}; it must "
                f"hold one image per original, {originals.shape}."
            )
        columns[name] = images.reshape(originals.shape)
    n_rows, n_cols = len(originals), len(columns)
    if fig is None:
        fig = plt.figure(figsize=(2.3 * n_cols + 0.8, 2.5 * n_rows))
    else:
        fig.clear()
    # Constrained layout makes room for the titles and the shared colour bar.
    fig.set_layout_engine("constrained")
    axes = np.asarray(fig.subplots(n_rows, n_cols, squeeze=False))
    for col, (name, images) in enumerate(columns.items()):
        scores = psnr(originals, images)
        for row in range(n_rows):
            ax = axes[row, col]
            shown = ax.imshow(images[row], cmap=cmap, vmin=0.0, vmax=1.0)
            ax.set_xticks([])
            ax.set_yticks([])
            title = name
            if col > 0 and show_psnr:
                title += f"\nPSNR {scores[row]:.1f} dB"
            ax.set_title(title, fontsize="small")
            if col == 0 and row_labels is not None:
                ax.set_ylabel(row_labels[row])
    fig.colorbar(shown, ax=axes, shrink=0.8, label="intensity (all panels)")
    return fig


def _bar_positions(n_labels: int, n_series: int):
    width = 0.8 / max(n_series, 1)
    x = np.arange(n_labels)
    return [x + (i - (n_series - 1) / 2) * width for i in range(n_series)], width


def plot_accuracy_comparison(
    labels: Sequence[str],
    scores: dict,
    *,
    errors: dict | None = None,
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
        Error bars (e.g. standard deviations over folds), keyed like
        ``scores``; ``nan`` draws none.
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
    plt = _pyplot()
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
        err = np.full(len(values), np.nan)
        if errors is not None and name in errors:
            err = np.asarray(errors[name], dtype=float)
            if len(err) != len(labels):
                raise ValueError(
                    f"errors[{name!r}] has {len(err)} values for {len(labels)} labels."
                )
        missing = np.isnan(values)
        bars = ax.bar(
            pos[~missing],
            values[~missing],
            width,
            yerr=err[~missing],
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
        if np.any(~missing):
            spread = np.nan_to_num(err)
            top = max(top, float(np.nanmax(values + spread)))
            bottom = min(bottom, float(np.nanmin(values - spread)))
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
    # Outside the axes: bars reach 1.0 and any corner inside would hide some.
    ax.legend(
        handles, names, fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0)
    )
    return ax


def weight_space_pca(theta, *, random_state=None) -> tuple[np.ndarray, np.ndarray]:
    """Project theta on its first two principal components, after standardising.

    Standardising first matters for theta: its entries span orders of
    magnitude across layers, and without it the largest layer's weights
    would decide the picture alone.

    Parameters
    ----------
    theta : array-like of shape (n_images, n_params)
        One row per image, e.g. from ``INRFeaturizer.fit_transform``.
    random_state : int, RandomState instance or None, default=None
        Passed to :class:`~sklearn.decomposition.PCA` (its randomised
        solver, used for large theta).

    Returns
    -------
    coordinates : ndarray of shape (n_images, 2)
    explained_variance_ratio : ndarray of shape (2,)
        The share of the standardised theta's variance along each axis.

    See Also
    --------
    plot_weight_space : Draws these coordinates, coloured by class.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_inr.plotting import weight_space_pca
    >>> theta = np.random.default_rng(0).normal(size=(10, 30))
    >>> coordinates, ratio = weight_space_pca(theta, random_state=0)
    >>> coordinates.shape, bool(ratio[0] >= ratio[1])
    ((10, 2), True)
    """
    theta = np.asarray(theta)
    if not np.issubdtype(theta.dtype, np.floating):
        theta = theta.astype(np.float64)
    # float32 theta stays float32 (scaler and PCA keep it): a large cohort's
    # theta is GBs, and a float64 copy would double that.
    if theta.ndim != 2 or min(theta.shape) < 2:
        raise ValueError(
            f"theta must have shape (n_images, n_params) with at least 2 images "
            f"and 2 parameters for a 2-D PCA, got shape {theta.shape}."
        )
    if not np.all(np.isfinite(theta)):
        raise ValueError("theta contains NaN or inf; check the fits for divergence.")
    scaled = StandardScaler().fit_transform(theta)
    if not np.any(scaled):
        raise ValueError(
            "theta is the same for every image: there is no spread to project."
        )
    pca = PCA(n_components=2, random_state=random_state)
    coordinates = pca.fit_transform(scaled)
    return coordinates, pca.explained_variance_ratio_


def plot_weight_space(
    panels: Mapping,
    y,
    *,
    precomputed: bool = False,
    class_names: Mapping | None = None,
    random_state=None,
    fig=None,
):
    """Theta of each image in 2-D (PCA), coloured by class, one panel per fit.

    The picture of a label leak: theta fitted to pure noise carries no
    information about the class, so its points should mix; where they split
    by class, the class reached theta some other way (e.g. each class's INRs
    started from a different point: weight transfer by class).

    Parameters
    ----------
    panels : mapping of str to mapping of str to array-like
        Rows of panels, then the panels of each row:
        ``{row: {column: theta}}`` (e.g. ``{"pure noise": {"shared init":
        theta, ...}}``), each theta of shape (n_images, n_params). Rows may
        leave out a column: its panel is left empty. Each panel gets its own
        :func:`weight_space_pca`.
    y : array-like of shape (n_images,)
        Class of each image, the same for every panel.
    precomputed : bool, default=False
        The panels hold ``(coordinates, explained_variance_ratio)`` pairs
        from :func:`weight_space_pca` instead of theta (keep those rather
        than every theta of a large cohort).
    class_names : mapping, default=None
        Legend name of each class, e.g. ``{1: "tumour", 0: "no tumour"}``;
        the class values when None.
    random_state : int, RandomState instance or None, default=None
        Passed to :func:`weight_space_pca`.
    fig : matplotlib Figure, default=None
        Figure to draw into (it is cleared); a new one when None.

    Returns
    -------
    fig : matplotlib Figure

    See Also
    --------
    weight_space_pca : The projection of each panel.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from sklearn_inr.plotting import plot_weight_space
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat([0, 1], 10)
    >>> mixed = rng.normal(size=(20, 50))
    >>> split = mixed + 3.0 * y[:, None]
    >>> fig = plot_weight_space(
    ...     {"pure noise": {"shared init": mixed, "weight transfer": split}},
    ...     y, class_names={0: "no tumour", 1: "tumour"}, random_state=0)
    >>> [ax.get_title() for ax in fig.axes]
    ['shared init\\non pure noise', 'weight transfer\\non pure noise']
    """
    plt = _pyplot()
    y = np.asarray(y).ravel()
    rows = list(panels.values()) if isinstance(panels, Mapping) else []
    if not rows or not all(isinstance(row, Mapping) and row for row in rows):
        raise ValueError(
            "panels must be a non-empty mapping {row: {column: theta}} with at "
            "least one panel per row."
        )
    columns = list(dict.fromkeys(col for row in panels.values() for col in row))
    classes = np.unique(y)
    names = {c: str(c) for c in classes}
    names.update(class_names or {})
    if fig is None:
        fig = plt.figure(figsize=(3.2 * len(columns) + 1.5, 3.0 * len(panels) + 0.4))
    else:
        fig.clear()
    fig.set_layout_engine("constrained")
    axes = np.asarray(fig.subplots(len(panels), len(columns), squeeze=False))
    for i, (row, row_panels) in enumerate(panels.items()):
        for j, column in enumerate(columns):
            ax = axes[i, j]
            if column not in row_panels:
                ax.remove()
                continue
            value = row_panels[column]
            n_images = len(value[0]) if precomputed else len(value)
            if n_images != len(y):
                raise ValueError(
                    f"panel ({row!r}, {column!r}) has {n_images} images "
                    f"but y has {len(y)} labels."
                )
            if precomputed:
                coordinates, ratio = (np.asarray(v, dtype=float) for v in value)
            else:
                coordinates, ratio = weight_space_pca(value, random_state=random_state)
            for k, label in enumerate(classes):
                members = y == label
                ax.scatter(
                    *coordinates[members].T,
                    s=14,
                    alpha=0.75,
                    color=f"C{k}",
                    label=names[label],
                    lw=0,
                )
            ax.set_title(f"{column}\non {row}", fontsize="small")
            ax.set_xlabel(f"PC1 ({100 * ratio[0]:.0f} % of variance)", fontsize="small")
            ax.set_ylabel(f"PC2 ({100 * ratio[1]:.0f} %)", fontsize="small")
            ax.tick_params(labelsize="x-small")
    handles, labels = next(ax for ax in fig.axes).get_legend_handles_labels()
    fig.legend(
        handles, labels, loc="outside lower center", ncols=len(labels), title="class"
    )
    return fig
