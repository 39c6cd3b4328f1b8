"""Plotting helpers (matplotlib, Agg)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from sklearn_inr.plotting import (  # noqa: E402
    plot_accuracy_comparison,
    plot_loss_curves,
    plot_reconstructions,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_loss_curves_accept_the_engines_extra_final_column():
    steps = np.arange(0, 50, 10)
    history = np.ones((3, 6))
    ax = plot_loss_curves(steps, history, label="x", log_scale=False)
    x, _ = ax.lines[0].get_data()
    assert list(x) == [0, 10, 20, 30, 40, 50]


@pytest.mark.parametrize("band", ["quantile", "std", "minmax"])
def test_loss_curve_bands(band):
    history = np.random.default_rng(0).uniform(0.1, 1, size=(4, 5))
    ax = plot_loss_curves(np.arange(5), history, band=band)
    assert ax.get_yscale() == "log" and len(ax.collections) == 1


def test_loss_curves_reject_bad_shapes():
    with pytest.raises(ValueError, match="2-D"):
        plot_loss_curves(np.arange(3), np.ones(3))
    with pytest.raises(ValueError, match="3 records"):
        plot_loss_curves(np.arange(7), np.ones((2, 3)))
    with pytest.raises(ValueError, match="band must be"):
        plot_loss_curves(np.arange(3), np.ones((2, 3)), band="iqr")


def test_reconstructions_grid():
    images = np.random.default_rng(0).uniform(size=(2, 6, 6))
    fig = plot_reconstructions(
        images,
        {"a": images, "b": images.reshape(2, -1)},
        row_labels=["tumour", "no tumour"],
    )
    assert len(fig.axes) == 6
    assert [ax.get_title() for ax in fig.axes[:3]] == ["original", "a", "b"]
    with pytest.raises(ValueError, match="n_rows, H, W"):
        plot_reconstructions(images[0], {})


def test_accuracy_comparison_draws_chance_and_gaps():
    ax = plot_accuracy_comparison(
        ["p", "q"],
        {"images": [1.0, np.nan]},
        errors={"images": [np.nan, 0.1]},
        chance=0.5,
    )
    assert len(ax.patches) == 2
    assert any(list(line.get_ydata()) == [0.5, 0.5] for line in ax.lines)
    with pytest.raises(ValueError, match="1 values for 2 labels"):
        plot_accuracy_comparison(["p", "q"], {"images": [1.0]})
