"""The reproduction's figures, as PNG files, from what ``_run`` kept for them.

Each figure is meant to be read alone, without the report beside it: every
panel says what it shows, abbreviations are spelled out, missing results
are marked "n/a" and shaded bands are named in the legend.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

CONDITION_TITLES = {
    "images": "images",
    "noise": "pure noise",
    "permuted": "permuted labels",
}
CLASS_NAMES = {1: "tumour", 0: "no tumour"}
DPI = 120


def write_figures(out_dir: Path, figure_data: dict, results: dict) -> dict:
    """Write the figures to ``out_dir``; return ``{title: file name}``.

    ``figure_data`` is what ``_run`` kept: ``models`` (key to display
    name), ``loss`` (``(model, fit)`` to steps and loss history),
    ``pair`` (the tumour and no-tumour slices and their indices),
    ``reconstructions`` (``(model, "shared" | "paper")`` to the featurizer
    and the theta of the pair), ``weight_space`` (``(model, "shared" |
    "paper", condition)`` to :func:`~sklearn_inr.plotting.weight_space_pca`
    output) and ``target``. ``results`` is the rounded results dict.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    figures = {}
    for title, name, draw in (
        ("loss curves", "loss_curves.png", _loss_figure),
        ("reconstructions", "reconstructions.png", _reconstruction_figure),
        ("accuracy", "accuracy.png", _accuracy_figure),
        ("weight space", "weight_space.png", _weight_space_figure),
    ):
        fig = draw(figure_data, results)
        try:
            fig.savefig(out_dir / name, dpi=DPI)
        finally:
            plt.close(fig)
        figures[title] = name
    return figures


def _paper_fit(results: dict, model: str) -> str:
    """How the paper protocol fitted ``model``'s INRs, in words."""
    transfer = results["settings"]["models"][model]["paper_weight_transfer"]
    return "weight transfer by class" if transfer else "fresh init per slice"


def _fit_names(figure_data: dict, results: dict, model: str) -> dict:
    name = figure_data["models"][model]
    return {
        "shared": f"{name}\nshared init (leak-free)",
        "paper": f"{name}, paper protocol\n({_paper_fit(results, model)})",
    }


def _loss_figure(figure_data: dict, results: dict):
    import matplotlib.pyplot as plt

    from ..plotting import plot_loss_curves

    names = figure_data["models"]
    fig, axes = plt.subplots(
        1, len(names), figsize=(5.5 * len(names), 4), layout="constrained"
    )
    for ax, model in zip(np.atleast_1d(axes), names):
        for (name, fit), (steps, history) in figure_data["loss"].items():
            if name == model:
                plot_loss_curves(steps, history, ax=ax, label=fit)
        loss = results["settings"]["models"][model]["loss"]
        ax.set_ylabel(f"training loss ({'BCE' if loss == 'bce' else 'MSE'})")
        ax.set_title(f"{names[model]}: loss of every slice's INR")
    return fig


def _reconstruction_figure(figure_data: dict, results: dict):
    from ..plotting import plot_reconstructions

    originals, _ = figure_data["pair"]
    renders = {}
    for model in figure_data["models"]:
        fit_names = _fit_names(figure_data, results, model)
        for fit in ("shared", "paper"):
            entry = figure_data["reconstructions"].get((model, fit))
            if entry is not None:
                featurizer, theta = entry
                renders[fit_names[fit]] = featurizer.inverse_transform(theta)
    fig = plot_reconstructions(
        originals, renders, row_labels=["tumour slice", "no-tumour slice"]
    )
    fig.suptitle("One patient's slices and their INR reconstructions")
    return fig


def _accuracy_figure(figure_data: dict, results: dict):
    from ..plotting import plot_accuracy_comparison

    labels, scores, errors = [], {}, {}
    for row in results["scores"]:
        labels.append(_short_label(row, figure_data["models"]))
        for condition, title in CONDITION_TITLES.items():
            result = row["conditions"].get(condition)
            value = np.nan if result is None else result["accuracy"]
            error = np.nan if result is None else result.get("accuracy_std")
            scores.setdefault(title, []).append(value)
            # Rounded results hold None, not NaN, for a missing number.
            errors.setdefault(title, []).append(np.nan if error is None else error)
    ax = plot_accuracy_comparison(labels, scores, errors=errors, chance=0.5)
    ax.set_title(
        "Test accuracy by protocol\n(error bars: ± 1 std over grouped-CV folds; "
        "the paper protocol is one split)",
        fontsize="medium",
    )
    ax.figure.set_layout_engine("constrained")
    return ax.figure


def _weight_space_figure(figure_data: dict, results: dict):
    from ..plotting import plot_weight_space

    panels = {}
    for condition in ("images", "noise"):
        row = panels.setdefault(CONDITION_TITLES[condition], {})
        for model in figure_data["models"]:
            fit_names = _fit_names(figure_data, results, model)
            for fit in ("shared", "paper"):
                entry = figure_data["weight_space"].get((model, fit, condition))
                if entry is not None:
                    row[fit_names[fit]] = entry
    fig = plot_weight_space(
        panels,
        figure_data["target"],
        precomputed=True,
        class_names=CLASS_NAMES,
    )
    fig.suptitle(
        "Weight space: each slice's theta, standardised, on its first two "
        "principal components (one PCA per panel).\nOn pure noise, points that "
        "split by class mean the labels reached theta: the leak."
    )
    return fig


def _short_label(row: dict, names: dict) -> str:
    """A protocol's tick label, abbreviations spelled out."""
    model = names.get(row["model"], row["model"])
    if row["protocol"] == "paper":
        return f"paper protocol\n{model}"
    if row["protocol"] == "pixel baseline":
        return "pixels\nlogistic regression"
    variant = "shared init"
    if "transfer" in row["protocol"]:
        variant = "weight transfer"
    elif "task-aware" in row["protocol"]:
        variant = "task-aware init"
    return f"grouped CV\n{model}, {variant}"
