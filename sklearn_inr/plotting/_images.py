"""Reconstruction grids: originals beside each model's renderings, one scale."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..metrics import psnr
from ._common import import_pyplot

__all__ = ["ORIENTATIONS", "plot_reconstructions", "radiological_view"]

#: How :func:`plot_reconstructions` lays an image array out on the page.
ORIENTATIONS = ("array", "radiological")


def radiological_view(image):
    """An axial slice of BraTS layout as radiologists read it.

    BraTS volumes (and :func:`~sklearn_inr.datasets.load_brats_slices`,
    :func:`~sklearn_inr.datasets.make_brats_like`, which keep their voxel
    axes) are stored LPS: ``slice[i, j]`` runs from the patient's right to
    left along ``i`` and from front to back along ``j``. Radiological
    convention puts the front (anterior) at the top of the image and the
    patient's right on the image's left, as if facing the patient: row ``j``,
    column ``i``, i.e. the transpose. Drawn as stored (``imshow(slice)``),
    the head lies on its side, front to the left.

    Parameters
    ----------
    image : array-like of shape (X, Y) or (n, X, Y)
        Axial slice(s) in BraTS voxel order.

    Returns
    -------
    view : ndarray of shape (Y, X) or (n, Y, X)
        Row 0 is anterior, column 0 the patient's right.
    """
    image = np.asarray(image)
    return np.swapaxes(image, -1, -2)


def plot_reconstructions(
    originals,
    reconstructions: dict,
    *,
    row_labels: Sequence[str] | None = None,
    show_psnr: bool = True,
    fig=None,
    cmap: str = "gray",
    orientation: str = "array",
    titles: dict | None = None,
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
    orientation : {"array", "radiological"}, default="array"
        ``"array"``: each image drawn as stored (first axis down).
        ``"radiological"``: the images are axial slices in BraTS voxel order
        (as :func:`~sklearn_inr.datasets.load_brats_slices` returns them),
        drawn with anterior at the top and the patient's right on the
        image's left (:func:`radiological_view`); the first original's
        edges are marked A (anterior), P, R (the patient's right) and L.
    titles : dict of str to sequence of str, default=None
        Extra lines for a column's panel titles, one per row (e.g. where the
        PSNR stands in the cohort), keyed like ``reconstructions``.

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
    plt = import_pyplot()
    if orientation not in ORIENTATIONS:
        raise ValueError(
            f"orientation must be one of {ORIENTATIONS}, got {orientation!r}."
        )
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
            image = images[row]
            if orientation == "radiological":
                image = radiological_view(image)
            shown = ax.imshow(image, cmap=cmap, vmin=0.0, vmax=1.0)
            ax.set_xticks([])
            ax.set_yticks([])
            title = name
            if col > 0 and show_psnr:
                title += f"\nPSNR {scores[row]:.1f} dB"
            if titles is not None and name in titles:
                title += f"\n{titles[name][row]}"
            ax.set_title(title, fontsize="small")
            if orientation == "radiological" and col == 0 and row == 0:
                _mark_directions(ax)
            if col == 0 and row_labels is not None:
                ax.set_ylabel(row_labels[row])
    fig.colorbar(shown, ax=axes, shrink=0.8, label="intensity (all panels)")
    return fig


def _mark_directions(ax) -> None:
    """A, P, R, L at the edges of a radiologically oriented panel."""
    style = {"transform": ax.transAxes, "color": "yellow", "fontsize": "small",
             "fontweight": "bold"}  # fmt: skip
    ax.text(0.5, 0.97, "A", ha="center", va="top", **style)
    ax.text(0.5, 0.03, "P", ha="center", va="bottom", **style)
    ax.text(0.03, 0.5, "R", ha="left", va="center", **style)
    ax.text(0.97, 0.5, "L", ha="right", va="center", **style)
