"""Plotting helpers (matplotlib, Agg): each figure explains itself."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from sklearn_inr.plotting import (  # noqa: E402
    plot_accuracy_comparison,
    plot_loss_curves,
    plot_reconstructions,
    plot_weight_space,
    radiological_view,
    weight_space_pca,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _texts(ax):
    return [text.get_text() for text in ax.texts]


def _legend_texts(legend):
    return [text.get_text() for text in legend.get_texts()]


def test_loss_curves_accept_the_engines_extra_final_column():
    steps = np.arange(0, 50, 10)
    history = np.ones((3, 6))
    ax = plot_loss_curves(steps, history, label="x", log_scale=False)
    x, _ = ax.lines[0].get_data()
    assert list(x) == [0, 10, 20, 30, 40, 50]


@pytest.mark.parametrize(
    "band, meaning",
    [
        ("quantile", "10th-90th percentile"),
        ("std", "mean ± 1 std"),
        ("minmax", "min-max"),
    ],
)
def test_loss_curve_bands_are_named_in_the_legend(band, meaning):
    history = np.random.default_rng(0).uniform(0.1, 1, size=(4, 5))
    ax = plot_loss_curves(np.arange(5), history, band=band)
    assert ax.get_yscale() == "log" and len(ax.collections) == 1
    assert _legend_texts(ax.get_legend()) == [
        "mean over images",
        f"shaded: {meaning} over images",
    ]


def test_two_curves_on_one_axes_explain_the_band_once():
    history = np.random.default_rng(0).uniform(0.1, 1, size=(4, 5))
    ax = plot_loss_curves(np.arange(5), history, label="shared init")
    plot_loss_curves(np.arange(5), history / 2, label="paper protocol", ax=ax)
    assert _legend_texts(ax.get_legend()) == [
        "shared init",
        "paper protocol",
        "shaded: 10th-90th percentile over images",
    ]


def test_loss_curves_reject_bad_shapes():
    with pytest.raises(ValueError, match="2-D"):
        plot_loss_curves(np.arange(3), np.ones(3))
    with pytest.raises(ValueError, match="3 records"):
        plot_loss_curves(np.arange(7), np.ones((2, 3)))
    with pytest.raises(ValueError, match="band must be"):
        plot_loss_curves(np.arange(3), np.ones((2, 3)), band="iqr")


def test_reconstructions_grid_titles_psnr_and_one_colour_scale():
    images = np.random.default_rng(0).uniform(0.2, 0.8, size=(2, 6, 6))
    fig = plot_reconstructions(
        images,
        {"exact": images + 0.1, "darker": (images - 0.01).reshape(2, -1)},
        row_labels=["tumour", "no tumour"],
    )
    *panels, colorbar = fig.axes
    assert len(panels) == 6
    assert [ax.get_title() for ax in panels[:3]] == [
        "original",
        "exact\nPSNR 20.0 dB",
        "darker\nPSNR 40.0 dB",
    ]
    # Every panel's own title, not only the first row's.
    assert panels[4].get_title() == "exact\nPSNR 20.0 dB"
    assert [panels[0].get_ylabel(), panels[3].get_ylabel()] == ["tumour", "no tumour"]
    assert colorbar.get_ylabel() == "intensity (all panels)"
    for ax in panels:
        assert ax.images[0].get_clim() == (0.0, 1.0)


def test_reconstructions_without_psnr_and_bad_input():
    images = np.full((1, 4, 4), 0.5)
    fig = plot_reconstructions(images, {"same": images}, show_psnr=False)
    assert fig.axes[1].get_title() == "same"
    with pytest.raises(ValueError, match="n_rows, H, W"):
        plot_reconstructions(images[0], {})
    with pytest.raises(ValueError, match="one image per original"):
        plot_reconstructions(images, {"half": images[:, :2]})
    with pytest.raises(ValueError, match="2 labels for 1 rows"):
        plot_reconstructions(images, {}, row_labels=["a", "b"])


def test_accuracy_comparison_marks_missing_zero_and_chance():
    ax = plot_accuracy_comparison(
        ["p", "q", "r"],
        {"images": [1.0, np.nan, 0.0], "noise": [0.5, 0.6, 0.7]},
        errors={"images": [np.nan, np.nan, 0.0], "noise": [np.nan, 0.1, 0.2]},
        chance=0.5,
    )
    # The missing value is written, not drawn as an empty slot.
    assert _texts(ax) == ["n/a"]
    assert len(ax.patches) == 5
    # The true zero has a marker at the foot of its bar.
    (zero,) = [line for line in ax.lines if line.get_marker() == "^"]
    assert list(zero.get_ydata()) == [0.0]
    assert any(list(line.get_ydata()) == [0.5, 0.5] for line in ax.lines)
    legend = _legend_texts(ax.get_legend())
    assert legend == [
        "images",
        "noise",
        "chance level (0.50, guessing)",
        "n/a: not run",
    ]
    assert ax.get_ylim() == (0.0, 1.05)


def test_accuracy_axis_holds_every_error_bar_whole():
    ax = plot_accuracy_comparison(
        ["a", "b"], {"images": [0.9, 0.1]}, errors={"images": [0.3, 0.2]}
    )
    low, high = ax.get_ylim()
    assert high >= 0.9 + 0.3 and low <= 0.1 - 0.2
    assert _texts(ax) == []
    assert "n/a: not run" not in _legend_texts(ax.get_legend())


def test_accuracy_comparison_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="1 values for 2 labels"):
        plot_accuracy_comparison(["p", "q"], {"images": [1.0]})
    with pytest.raises(ValueError, match=r"errors\['images'\] has 1 values"):
        plot_accuracy_comparison(
            ["p", "q"], {"images": [1.0, 0.5]}, errors={"images": [0.1]}
        )


def test_weight_space_pca_is_scaler_then_pca():
    theta = np.random.default_rng(0).normal(size=(12, 40)) * np.logspace(-3, 1, 40)
    coordinates, ratio = weight_space_pca(theta, random_state=0)
    pca = PCA(2, random_state=0)
    expected = pca.fit_transform(StandardScaler().fit_transform(theta))
    np.testing.assert_allclose(coordinates, expected)
    np.testing.assert_allclose(ratio, pca.explained_variance_ratio_)
    float32, _ = weight_space_pca(theta.astype(np.float32), random_state=0)
    assert float32.dtype == np.float32


@pytest.mark.parametrize(
    "theta, message",
    [
        (np.ones((1, 5)), "at least 2 images"),
        (np.ones(5), "n_images, n_params"),
        (np.full((3, 3), np.nan), "NaN or inf"),
        (np.ones((3, 4)), "the same for every image"),
    ],
)
def test_weight_space_pca_rejects_bad_theta(theta, message):
    with pytest.raises(ValueError, match=message):
        weight_space_pca(theta)


def test_weight_space_panels_titles_and_class_split():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 8)
    mixed = rng.normal(size=(16, 30))
    split = mixed + 4.0 * y[:, None]
    fig = plot_weight_space(
        {
            "images": {"leak-free": mixed, "paper": split},
            "pure noise": {"paper": split},
        },
        y,
        class_names={0: "no tumour", 1: "tumour"},
        random_state=0,
    )
    # The row without a "leak-free" panel leaves that slot empty.
    assert [ax.get_title() for ax in fig.axes] == [
        "leak-free\non images",
        "paper\non images",
        "paper\non pure noise",
    ]
    assert fig.axes[1].get_xlabel().startswith("PC1 (")
    assert _legend_texts(fig.legends[0]) == ["no tumour", "tumour"]
    # One scatter per class; the split panel separates them along PC1.
    no_tumour, tumour = (c.get_offsets()[:, 0] for c in fig.axes[1].collections)
    assert no_tumour.max() < tumour.min() or tumour.max() < no_tumour.min()


def test_weight_space_precomputed_and_bad_input():
    y = np.array([0, 1, 0, 1])
    coordinates = np.arange(8.0).reshape(4, 2)
    fig = plot_weight_space(
        {"noise": {"fit": (coordinates, [0.5, 0.25])}}, y, precomputed=True
    )
    (ax,) = fig.axes
    assert ax.get_xlabel() == "PC1 (50 % of variance)"
    assert ax.get_ylabel() == "PC2 (25 %)"
    offsets = np.concatenate([c.get_offsets() for c in ax.collections])
    assert sorted(map(tuple, offsets)) == sorted(map(tuple, coordinates))
    with pytest.raises(ValueError, match="has 4 images but y has 3 labels"):
        plot_weight_space({"noise": {"fit": np.ones((4, 3))}}, y[:3])
    with pytest.raises(ValueError, match="non-empty mapping"):
        plot_weight_space({"noise": {}}, y)
    with pytest.raises(ValueError, match="non-empty mapping"):
        plot_weight_space({}, y)


def test_radiological_orientation_of_an_asymmetric_slice():
    """Issue 24: BraTS slices are stored [x: patient's right -> left, y: front
    -> back]; radiologists read anterior at the top and the patient's right on
    the image's left."""
    slice_ = np.zeros((6, 4))  # 6 voxels right -> left, 4 front -> back
    slice_[0, 0] = 1.0  # the patient's right, front
    slice_[5, 3] = 0.5  # the patient's left, back
    slice_[5, 0] = 0.25  # the patient's left, front
    fig = plot_reconstructions(
        slice_[None], {"same": slice_[None]}, orientation="radiological"
    )
    shown = fig.axes[0].images[0].get_array()
    assert shown.shape == (4, 6)  # front-back down the page, right-left across
    assert shown[0, 0] == 1.0  # top left: anterior, on the patient's right
    assert shown[0, -1] == 0.25  # top right: anterior, on the patient's left
    assert shown[-1, -1] == 0.5  # bottom right: posterior, left
    letters = {t.get_text() for t in fig.axes[0].texts}
    assert letters == {"A", "P", "R", "L"}
    np.testing.assert_array_equal(radiological_view(slice_), slice_.T)
    with pytest.raises(ValueError, match="orientation must be one of"):
        plot_reconstructions(slice_[None], {}, orientation="neurological")


def test_loss_curves_draw_stopped_fits_to_their_stop_and_mark_the_floor():
    """Issue 24: a fit that stopped is not drawn flat to the last step."""
    steps = np.arange(0, 200, 10)  # records every 10 steps; the final appended
    history = np.exp(-np.arange(21) / 5.0)[None, :] * np.array([[1.0], [2.0], [3.0]])
    stops = np.array([50, 50, 80])
    for i, stop in enumerate(stops):  # the fit's records after its stop
        history[i, stop // 10 :] = history[i, stop // 10]
    ax = plot_loss_curves(steps, history, n_steps=stops, floor=0.01, label="fits")
    mean_line = ax.lines[0]
    assert mean_line.get_xdata().max() == 80  # not 200
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0] == "fits (over the fits still training)"
    assert "| a fit stops (reached its target)" in labels
    assert "BCE floor: mean entropy of the targets (0.01)" in labels
    (floor,) = [ln for ln in ax.lines if ln.get_linestyle() == "--"]
    assert floor.get_ydata()[0] == 0.01
    with pytest.raises(ValueError, match="n_steps has 2 entries for 3 images"):
        plot_loss_curves(steps, history, n_steps=[1, 2])


def test_accuracy_bars_show_wilson_intervals_and_n():
    """Issue 24: 8 test slices do not read as solidly as 80."""
    ax = plot_accuracy_comparison(
        ["small", "large"], {"images": [7 / 8, 70 / 80]},
        intervals={"images": [(0.53, 0.98), (0.79, 0.93)]},
        counts={"images": [8, 80]},
    )  # fmt: skip
    assert [t.get_text() for t in ax.texts] == ["n=8", "n=80"]
    (bars,) = [c for c in ax.containers if hasattr(c, "errorbar")]
    segments = bars.errorbar.lines[2][0].get_segments()
    assert [tuple(np.round(s[:, 1], 2)) for s in segments] == [
        (0.53, 0.98), (0.79, 0.93),
    ]  # fmt: skip
