"""The reproduction's figures, as PNG files, from what ``_run`` kept for them.

Each figure is meant to be read alone, without the report beside it: every
panel says what it shows, abbreviations are spelled out, missing results
are marked "n/a" and shaded bands are named in the legend.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._datasets import chance_rate, class_names

CONDITION_TITLES = {
    "images": "images",
    "noise": "pure noise",
    "permuted": "permuted labels",
}
#: BraTS's classes (results without class names are BraTS's).
CLASS_NAMES = {1: "tumour", 0: "no tumour"}
DPI = 120


def write_figures(out_dir: Path, figure_data: dict, results: dict) -> dict:
    """Write the figures to ``out_dir``; return ``{title: file name}``.

    ``figure_data`` is what ``_run`` kept: ``models`` (key to display
    name), ``loss`` (``(model, fit)`` to steps, loss history and the steps
    each fit took), ``images``, ``target`` and ``groups`` (the slices, their
    labels and patients), ``reconstructions`` (``(model, "shared" |
    "paper")`` to every slice's reconstruction and PSNR) and
    ``weight_space`` (``(model, "shared" | "paper", condition)`` to
    :func:`~sklearn_inr.plotting.weight_space_pca` output). ``results`` is
    the rounded results dict.
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

    from ..metrics import binary_entropy
    from ..plotting import plot_loss_curves

    names = figure_data["models"]
    fig, axes = plt.subplots(
        1, len(names), figsize=(5.5 * len(names), 4), layout="constrained"
    )
    images = figure_data.get("images")
    for ax, model in zip(np.atleast_1d(axes), names):
        loss = results["settings"]["models"][model]["loss"]
        # BCE on soft targets never reaches 0: its floor is their entropy.
        floor = None
        if loss == "bce" and images is not None:
            floor = float(np.mean(binary_entropy(images)))
        for (name, fit), (steps, history, *taken) in figure_data["loss"].items():
            if name == model:
                plot_loss_curves(
                    steps, history, ax=ax, label=fit, floor=floor,
                    n_steps=taken[0] if taken else None,
                )  # fmt: skip
        ax.set_ylabel(f"training loss ({'BCE' if loss == 'bce' else 'MSE'})")
        ax.set_title(f"{names[model]}: loss of every slice's INR")
    return fig


def typical_patient(figure_data: dict, labels=(1, 0)) -> tuple:
    """The patient most typical of every fit drawn, and its slices to show.

    For each fit, each patient's mean PSNR over its slices is ranked among
    the patients; the patient whose ranks are closest to the middle (the
    median PSNR) over all the fits, summed, is shown. Returns ``(patient,
    rows)``: one slice of each class of ``labels``, in that order (BraTS: a
    tumour and a no-tumour slice), from a patient holding every class while
    one exists (any patient's slice of a class the patient lacks). Where
    every patient holds one class (ACDC), rows are all the patient's slices
    (its ED and ES slices), in load order.
    """
    target, groups = figure_data["target"], np.asarray(figure_data["groups"])
    patients = np.unique(groups)
    one_class = all(len(np.unique(target[groups == p])) == 1 for p in patients)
    complete = [
        p for p in patients if set(np.unique(target[groups == p])) >= set(labels)
    ]
    candidates = list(patients) if one_class else (complete or list(patients))
    distance = np.zeros(len(candidates))
    for _, psnr in figure_data["reconstructions"].values():
        per_patient = np.array([np.mean(psnr[groups == p]) for p in candidates])
        ranks = per_patient.argsort().argsort() / max(len(candidates) - 1, 1)
        distance += np.abs(ranks - 0.5)
    patient = candidates[int(np.argmin(distance))]
    if one_class:
        return patient, [int(i) for i in np.flatnonzero(groups == patient)]
    rows = [
        int(np.flatnonzero((groups == patient) & (target == label))[0])
        if np.any((groups == patient) & (target == label))
        else int(np.flatnonzero(target == label)[0])
        for label in labels
    ]
    return patient, rows


def _row_labels(figure_data: dict, results: dict, rows: list) -> list[str]:
    """Each shown slice's row label: its class, and its name in the patient."""
    data = results.get("data", {})
    names = class_names(data)
    target = np.asarray(figure_data["target"])
    slice_names = data.get("slice_names") or []
    if len(set(target[rows].tolist())) == len(rows):  # one slice per class
        # "no-tumour slice": the name as an adjective.
        return [
            f"{str(names.get(target[i].item(), target[i])).replace(' ', '-')} slice"
            for i in rows
        ]
    labels = []
    for k, i in enumerate(rows):
        which = slice_names[k] if k < len(slice_names) else f"slice {k + 1}"
        labels.append(f"{which}\n({names.get(target[i].item(), target[i])})")
    return labels


def _reconstruction_figure(figure_data: dict, results: dict):
    from ..plotting import plot_reconstructions

    data = results.get("data", {})
    names = class_names(data)
    patient, rows = typical_patient(figure_data, tuple(names))
    renders, titles = {}, {}
    for model in figure_data["models"]:
        fit_names = _fit_names(figure_data, results, model)
        for fit in ("shared", "paper"):
            entry = figure_data["reconstructions"].get((model, fit))
            if entry is not None:
                images, psnr = entry
                renders[fit_names[fit]] = np.asarray(images)[rows]
                median = float(np.median(psnr))
                titles[fit_names[fit]] = [
                    f"(all slices: median {median:.1f} dB)"
                ] * len(rows)
    brats = data.get("dataset", "brats") == "brats"
    fig = plot_reconstructions(
        np.asarray(figure_data["images"])[rows], renders,
        row_labels=_row_labels(figure_data, results, rows),
        # BraTS voxel order; other data are drawn as stored.
        orientation="radiological" if brats else "array", titles=titles,
    )  # fmt: skip
    if brats:
        view = (
            "Axial slices in radiological orientation: anterior (A) at the "
            "top, the patient's right (R) on the image's left"
        )
    else:
        # What a slice is, up to its first clause (the rest is the report's).
        slice_text = data.get("slice", "an image slice").split(";")[0]
        view = f"Each row: {slice_text}, drawn as stored"
    fig.suptitle(
        f"Patient {patient}, a typical patient (closest to the median PSNR of "
        f"the fits shown), and its INR reconstructions\n{view}"
    )
    return fig


def _accuracy_figure(figure_data: dict, results: dict):
    from ..plotting import plot_accuracy_comparison

    labels, scores, intervals, counts = [], {}, {}, {}
    for row in results["scores"]:
        labels.append(_short_label(row, figure_data["models"]))
        for condition, title in CONDITION_TITLES.items():
            result = row["conditions"].get(condition)
            if result is None or result.get("n_test") is None:
                value, interval, n = np.nan, (np.nan, np.nan), np.nan
            else:
                # The proportion the interval is of: correct/total test slices.
                value = result["n_correct"] / result["n_test"]
                interval, n = tuple(result["accuracy_ci"]), result["n_test"]
            scores.setdefault(title, []).append(value)
            intervals.setdefault(title, []).append(interval)
            counts.setdefault(title, []).append(n)
    # Chance: the majority class's share (0.5 for BraTS pairs, 1/5 for a
    # balanced five-group cohort).
    data = results.get("data", {})
    chance = chance_rate(data) if data else 0.5
    ax = plot_accuracy_comparison(
        labels, scores, intervals=intervals, counts=counts, chance=chance
    )
    ax.set_title(
        "Test accuracy by protocol: correct/total test slices (pooled over the "
        "grouped-CV folds;\nthe paper protocol is one split). Error bars: 95 % "
        "Wilson interval; n: test slices under each bar",
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
        class_names=class_names(results.get("data", {})),
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
        return f"pixels\n{row['model']}"
    variant = "shared init"
    if "transfer" in row["protocol"]:
        variant = "weight transfer"
    elif "task-aware" in row["protocol"]:
        variant = "task-aware init"
    elif "compressed" in row["protocol"]:
        variant = "theta PCA"
    return f"grouped CV\n{model}, {variant}"
