"""Weight space in 2-D: theta's principal components, coloured by class."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

from ._common import import_pyplot

__all__ = ["plot_weight_space", "weight_space_pca"]


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
    plt = import_pyplot()
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
