"""The report's numbers and tables: rounding, formatting, markdown tables.

Numbers are rounded once (:func:`rounded`, 4 significant digits) before
anything is written, and the report prints them with :func:`fmt`, which
shows a rounded number exactly: report.md and results.json always agree.
"""

from __future__ import annotations

import math

import numpy as np

from ..fitting import GAIN_FROM, GIVE_UP_AFTER
from ._cnn_stage import describe_cnn

__all__ = [
    "SIGNIFICANT",
    "accuracy_text",
    "auc_name",
    "fmt",
    "percent",
    "reconstruction_table",
    "rounded",
    "settings_lines",
    "summary_table",
]

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


def accuracy_text(result: dict | None) -> str:
    """An accuracy as the report writes it everywhere (tables and verdict).

    ``"0.79 (63/80, 95 % CI 0.69–0.86)"``: the proportion of correct test
    slices (pooled over the folds of a grouped CV: the fold mean when the
    folds are of one size), its count and its 95 % Wilson interval, to two
    decimals. results.json keeps four significant digits of each, and the
    fold mean and spread (``accuracy``, ``accuracy_std``).
    """
    if result is None:
        return "not run"
    low, high = result["accuracy_ci"]
    n_correct, n_test = result["n_correct"], result["n_test"]
    return (
        f"{n_correct / n_test:.2f} ({n_correct}/{n_test}, 95 % CI {low:.2f}–{high:.2f})"
    )


def _score_cell(result: dict | None, key: str = "roc_auc") -> str:
    """A score (± its spread over folds), to two decimals like accuracies.

    ``key``: ``"roc_auc"`` or ``"balanced_accuracy"``; "n/a" where it is
    missing (an AUC of test sets lacking a class, or results written before
    balanced accuracy existed).
    """
    if result is None or result.get(key) is None:
        return "not run" if result is None else "n/a"
    text = f"{result[key]:.2f}"
    if result.get(f"{key}_std") is not None:
        text += f" ± {result[f'{key}_std']:.2f}"
    return text


def auc_name(n_classes: int) -> str:
    """Which ROC AUC a run of ``n_classes`` classes reports, in words."""
    if n_classes <= 2:
        return "the binary ROC AUC of the positive class's probability"
    return (
        f"the macro one-vs-rest ROC AUC (each of the {n_classes} classes "
        "against the rest, averaged with equal weights)"
    )


def _n_classes(results: dict) -> int:
    data = results.get("data", {})
    return len(data.get("class_counts") or [0, 0])


def percent(value) -> str:
    return "n/a" if value is None else f"{100 * value:.0f} %"


def summary_table(results: dict) -> str:
    """The headline table (markdown), from the rounded results."""
    auc = "ROC AUC" if _n_classes(results) <= 2 else "Macro OvR ROC AUC"
    lines = [
        "| Protocol | Evaluation | Accuracy (images) | Balanced accuracy (images) "
        f"| {auc} (images) | Accuracy (pure noise) | Accuracy (permuted labels) |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in results["scores"]:
        c = row["conditions"]
        lines.append(
            f"| {row['label']} | {row['evaluation']} | "
            f"{accuracy_text(c['images'])} | "
            f"{_score_cell(c['images'], 'balanced_accuracy')} | "
            f"{_score_cell(c['images'])} | "
            f"{accuracy_text(c.get('noise'))} | "
            f"{accuracy_text(c.get('permuted'))} |"
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


def settings_lines(results: dict) -> list[str]:
    s = results["settings"]
    lines = [f"- Preset: {s.get('preset', 'custom')}. {s['description']}"]
    for name, m in s["models"].items():
        network = (
            f"- {m['name']} ({name}): width {m['hidden_features']}, "
            f"{m['hidden_layers']} hidden layers, omega_0 {fmt(m['omega_0'])}"
            f"{' (unused)' if m['model'] == 'relu' else ''}, loss {m['loss']}"
        )
        if s.get("paper_protocol", True):
            network += (
                f", lr {fmt(m['lr'])}, {m['n_steps']} full-batch Adam steps; "
                f"paper protocol with weight transfer by class: "
                f"{'yes' if m['paper_weight_transfer'] else 'no'}"
            )
        lines.append(network + ".")
        lines.append(f"  - Leak-free pipeline fits: {_leak_free_text(m)}.")
    c = s["classifier"]
    lines += [
        f"- Classifier: StandardScaler, then MLPClassifier with hidden layers "
        f"{tuple(c['hidden_layer_sizes'])}, Adam lr {fmt(c['lr'])}, "
        f"{c['max_epochs']} epochs, batch {c['batch_size']} (the paper states "
        "Adam, 100 epochs and BCE-with-logits only).",
        f"- CNN baseline: {describe_cnn(s)}.",
        f"- Paper protocol split (train/validation/test): "
        f"{'/'.join(fmt(f) for f in s['split'])}; the validation part is only "
        "reported, as the paper states no use for it.",
        f"- Grouped CV: {s['n_splits']} folds; seed {s['random_state']}; device "
        f"{s['device']} ({s['resolved_device']}).",
        f"- Weight-transfer pipeline on the controls: "
        f"{'yes' if s['weight_transfer_pipeline_controls'] else 'no (not run)'}.",
    ]
    if not s.get("paper_protocol", True):
        lines.append("- Paper protocol: not run in this preset.")
    if not s.get("weight_transfer_pipeline", True):
        lines.append("- Weight-transfer pipeline: not run in this preset.")
    return lines


def _leak_free_text(model: dict) -> str:
    """How a model's leak-free (shared-init) fits differ from the paper's."""
    overrides = model.get("leak_free", {})
    if overrides is None:
        return model.get("leak_free_note", "not run in this preset")
    if not overrides:
        return "the same settings"
    parts = []
    if overrides.get("lr") is not None:
        parts.append(f"lr {fmt(overrides['lr'])}")
    if overrides.get("target_psnr") is not None:
        checked = overrides.get("check_every", 10)
        every = "every step" if checked == 1 else f"every {checked} steps"
        parts.append(
            f"to {fmt(overrides['target_psnr'])} dB PSNR (each slice stops there, "
            f"checked {every})"
        )
    if overrides.get("n_steps") is not None:
        parts.append(f"at most {overrides['n_steps']} steps")
    if overrides.get("stop_unreachable"):
        parts.append(
            f"given up from step {GIVE_UP_AFTER} when the mean gain per step "
            f"since step {GAIN_FROM} cannot reach the target by the cap (the "
            "noise controls)"
        )
    if overrides.get("precision") not in (None, "auto"):
        parts.append(f"precision {overrides['precision']}")
    if overrides.get("optimizer") not in (None, "adam"):
        parts.append(f"optimizer {overrides['optimizer']} (natural gradient)")
    recipe = overrides.get("learned_init")
    if recipe:
        parts.append(
            f"from one init meta-learned without labels ({recipe['meta_steps']} "
            f"Reptile steps) on the {recipe['image_size']} x "
            f"{recipe['image_size']} FLAIR slices of {recipe['n_patients']} other "
            "synthetic patients (a calibration cohort, never evaluated)"
        )
    return ", ".join(parts) or "the same settings"
