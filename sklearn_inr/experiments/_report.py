"""results.json, report.md and the figures, all from one results dict.

Numbers are rounded once (:func:`rounded`, 4 significant digits) before
anything is written, and the report prints them with :func:`fmt`, which
shows a rounded number exactly: report.md and results.json always agree.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

CONDITIONS = ("images", "noise", "permuted")
SIGNIFICANT = 4


def rounded(obj):
    """Round every float to 4 significant digits; NaN becomes None (JSON)."""
    if isinstance(obj, dict):
        return {str(k): rounded(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [rounded(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [rounded(v) for v in obj.tolist()]
    if isinstance(obj, bool | np.bool_):
        return bool(obj)
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        if not math.isfinite(obj):
            return None
        return float(f"{float(obj):.{SIGNIFICANT}g}")
    return obj


def fmt(value) -> str:
    """A rounded number as the report prints it ("n/a" for missing)."""
    if value is None:
        return "n/a"
    if isinstance(value, int):
        return str(value)
    return f"{value:.{SIGNIFICANT}g}"


def _cell(result: dict | None, metric: str) -> str:
    if result is None:
        return "not run"
    value = fmt(result[metric])
    if f"{metric}_std" in result:
        return f"{value} ± {fmt(result[metric + '_std'])}"
    return value


def _percent(value) -> str:
    return "n/a" if value is None else f"{100 * value:.0f} %"


# Leak-free fits whose median PSNR is below this do not represent the images.
UNCONVERGED_PSNR = 25.0


def verdict(results: dict) -> dict:
    """The plain-sentence answer: does the paper protocol pass the noise control?

    A protocol passes when its accuracy on pure noise is not significantly
    above guessing (one-sided binomial test at 5 %, against always
    answering the test set's majority class). The verdict also flags the
    models whose leak-free (shared-init) fits have a median PSNR below
    :data:`UNCONVERGED_PSNR`: "theta of unconverged INRs".
    """
    sentences, passes = [], True
    for row in results["scores"]:
        if row["protocol"] != "paper":
            continue
        noise = row["conditions"]["noise"]
        name = row["label"].split(": ", 1)[1]
        detail = (
            f"{noise['n_correct']}/{noise['n_test']} test slices, one-sided "
            f"binomial p = {fmt(noise['p_value'])} against guessing"
        )
        if noise["p_value"] < 0.05:
            passes = False
            sentences.append(
                f"The paper protocol ({name}) scores {_percent(noise['accuracy'])} "
                f"on pure-noise images ({detail}), so it measures the labels, not "
                "the images."
            )
        else:
            sentences.append(
                f"The paper protocol ({name}) scores {_percent(noise['accuracy'])} "
                f"on pure-noise images ({detail}), not significantly above "
                "chance, so it passes the noise control."
            )
    pipeline = [
        f"{row['label'].split(': ', 1)[1]}: "
        f"{_percent(row['conditions']['noise']['accuracy'])}"
        for row in results["scores"]
        if row["protocol"] == "pipeline (shared)"
    ]
    if pipeline:
        sentences.append(
            "On the same noise, the leak-free pipeline (grouped CV) scores "
            + "; ".join(pipeline)
            + " (chance 50 %)."
        )
    unconverged = _unconverged_fits(results)
    for name, median in unconverged:
        sentences.append(
            f"The leak-free rows of {name} classify theta of unconverged INRs: "
            f"their shared-init fits reach a median PSNR of {fmt(median)} dB "
            f"(below {UNCONVERGED_PSNR:g} dB), so they do not represent the "
            "images, and those accuracies say little about what INR weights "
            "carry."
        )
    return {
        "paper_protocol_passes_noise_control": passes,
        "unconverged_leak_free_fits": [name for name, _ in unconverged],
        "text": " ".join(sentences),
    }


def _unconverged_fits(results: dict) -> list:
    """``(model name, median PSNR)`` of the shared-init fits below the bar."""
    models = results["settings"]["models"]
    found = []
    for model, fits in results["reconstruction"].items():
        shared = fits.get("shared")
        if shared is None or "median" not in shared["psnr"]:
            continue
        median = shared["psnr"]["median"]
        if median < UNCONVERGED_PSNR:
            found.append((models[model]["name"], median))
    return found


def summary_table(results: dict) -> str:
    """The headline table (markdown), from the rounded results."""
    lines = [
        "| Protocol | Evaluation | Accuracy (images) | ROC AUC (images) | "
        "Accuracy (pure noise) | Accuracy (permuted labels) |",
        "|---|---|---|---|---|---|",
    ]
    for row in results["scores"]:
        c = row["conditions"]
        lines.append(
            f"| {row['label']} | {row['evaluation']} | "
            f"{_cell(c['images'], 'accuracy')} | {_cell(c['images'], 'roc_auc')} | "
            f"{_cell(c.get('noise'), 'accuracy')} | "
            f"{_cell(c.get('permuted'), 'accuracy')} |"
        )
    return "\n".join(lines)


def reconstruction_table(results: dict) -> str:
    """Mean ± std over slices of the reconstruction scores (markdown).

    PSNR also gets its median and 10th percentile: a few failed fits hide in
    a mean.
    """
    names = {"paper": "paper protocol fit", "shared": "shared init"}
    lines = [
        "| Model | Fit | Final BCE | BCE - entropy | MSE | PSNR (dB) | "
        "PSNR median (dB) | PSNR 10th pct (dB) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    models = results["settings"]["models"]
    for model, fits in results["reconstruction"].items():
        for fit, s in fits.items():
            cells = [
                f"{fmt(s[k]['mean'])} ± {fmt(s[k]['std'])}"
                for k in ("bce", "bce_minus_entropy", "mse", "psnr")
            ]
            cells += [fmt(s["psnr"].get(k)) for k in ("median", "p10")]
            lines.append(
                f"| {models[model]['name']} | {names[fit]} | "
                + " | ".join(cells)
                + " |"
            )
    return "\n".join(lines)


def _settings_lines(results: dict) -> list[str]:
    s = results["settings"]
    lines = [f"- Preset: {s.get('preset', 'custom')}. {s['description']}"]
    for name, m in s["models"].items():
        lines.append(
            f"- {m['name']} ({name}): width {m['hidden_features']}, "
            f"{m['hidden_layers']} hidden layers, omega_0 {fmt(m['omega_0'])}"
            f"{' (unused)' if m['model'] == 'relu' else ''}, loss {m['loss']}, "
            f"lr {fmt(m['lr'])}, {m['n_steps']} full-batch Adam steps; paper "
            f"protocol with weight transfer by class: "
            f"{'yes' if m['paper_weight_transfer'] else 'no'}."
        )
    c = s["classifier"]
    lines += [
        f"- Classifier: StandardScaler, then MLPClassifier with hidden layers "
        f"{tuple(c['hidden_layer_sizes'])}, Adam lr {fmt(c['lr'])}, "
        f"{c['max_epochs']} epochs, batch {c['batch_size']} (the paper states "
        "Adam, 100 epochs and BCE-with-logits only).",
        f"- Paper protocol split (train/validation/test): "
        f"{'/'.join(fmt(f) for f in s['split'])}; the validation part is only "
        "reported, as the paper states no use for it.",
        f"- Grouped CV: {s['n_splits']} folds; seed {s['random_state']}; device "
        f"{s['device']} ({s['resolved_device']}).",
        f"- Weight-transfer pipeline on the controls: "
        f"{'yes' if s['weight_transfer_pipeline_controls'] else 'no (not run)'}.",
    ]
    return lines


def write_report(out_dir: Path, results: dict) -> None:
    """Write results.json and report.md (generated from the same dict)."""
    out_dir = Path(out_dir)
    with open(out_dir / "results.json", "w", encoding="utf-8") as f:
        json.dump(results, f, indent=2, ensure_ascii=False)
    d = results["data"]
    lines = [
        "# sklearn-inr reproduce: INR-based tumour classification, with a leak audit",
        "",
        f"Run on {results['date']}; data: {d['description'] or 'given arrays'}; "
        f"{d['n_slices']} slices ({d['n_tumour']} tumour, {d['n_no_tumour']} no "
        f"tumour) from {d['n_patients']} patients, "
        f"{' x '.join(map(str, d['image_shape']))} pixels.",
        "",
        "## Verdict",
        "",
        results["verdict"]["text"],
        "",
        "## Summary",
        "",
        "Accuracies of the leak-free pipeline and of the pixel baseline are the "
        "mean ± std over the folds of a cross-validation grouped by patient. The "
        "paper-protocol numbers come from one random split of single slices (as "
        "in the paper), with INRs fitted using every slice's label: they are "
        "not an estimate of generalisation. Pure noise: uniform noise images "
        "with the true labels and patients. Permuted labels: true images, "
        "labels shuffled within each patient.",
        "",
        summary_table(results),
        "",
        "## Reconstruction",
        "",
        "Mean ± std over all slices. BCE on soft targets cannot go below the "
        "targets' entropy, so BCE - entropy is the distance from a perfect fit.",
        "",
        reconstruction_table(results),
        "",
        "## Settings",
        "",
        *_settings_lines(results),
        "",
        "## Figures",
        "",
        *[f"![{name}]({path})" for name, path in results["figures"].items()],
        "",
        "## Wall time",
        "",
        "| Stage | Seconds |",
        "|---|---|",
        *[f"| {stage} | {fmt(t)} |" for stage, t in results["timings"].items()],
        "",
    ]
    (out_dir / "report.md").write_text("\n".join(lines), encoding="utf-8")


def write_figures(out_dir: Path, figure_data: dict, results: dict) -> dict:
    """Loss curves, reconstructions and the accuracy chart, as PNG files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..plotting import (
        plot_accuracy_comparison,
        plot_loss_curves,
        plot_reconstructions,
    )

    out_dir = Path(out_dir)
    names = figure_data["models"]
    figures = {}

    fig, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 3.5))
    for ax, model in zip(np.atleast_1d(axes), names):
        for (name, fit), (steps, history) in figure_data["loss"].items():
            if name == model:
                plot_loss_curves(steps, history, ax=ax, label=fit)
        ax.set_title(names[model])
    fig.tight_layout()
    fig.savefig(out_dir / "loss_curves.png", dpi=120)
    plt.close(fig)
    figures["loss curves"] = "loss_curves.png"

    originals, pair = figure_data["pair"]
    renders = {
        names[model]: featurizer.inverse_transform(theta[pair])
        for model, (featurizer, theta) in figure_data["reconstructions"].items()
    }
    fig = plot_reconstructions(originals, renders, row_labels=["tumour", "no tumour"])
    fig.savefig(out_dir / "reconstructions.png", dpi=120)
    plt.close(fig)
    figures["reconstructions"] = "reconstructions.png"

    labels, scores, errors = [], {}, {}
    for row in results["scores"]:
        labels.append(_short_label(row))
        for condition, title in zip(
            CONDITIONS, ("images", "pure noise", "permuted labels")
        ):
            result = row["conditions"].get(condition)
            value = np.nan if result is None else result["accuracy"]
            error = np.nan if result is None else result.get("accuracy_std", np.nan)
            scores.setdefault(title, []).append(value)
            errors.setdefault(title, []).append(error)
    ax = plot_accuracy_comparison(labels, scores, errors=errors, chance=0.5)
    ax.set_title("Test accuracy by protocol (error bars: std over folds)")
    ax.figure.tight_layout()
    ax.figure.savefig(out_dir / "accuracy.png", dpi=120)
    plt.close(ax.figure)
    figures["accuracy"] = "accuracy.png"
    return figures


def _short_label(row: dict) -> str:
    model = row["model"]
    if row["protocol"] == "paper":
        return f"paper split\n{model}"
    if row["protocol"] == "pixel baseline":
        return "pixels\nlogistic"
    variant = "WT" if "transfer" in row["protocol"] else "shared"
    return f"grouped CV\n{model} {variant}"
