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

from ._protocols import (
    ALPHA,
    DETECTABLE_ACCURACY,
    TARGET_POWER,
    detection_power,
    paper_split,
    slices_needed,
)

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


def _accuracy_cell(result: dict | None) -> str:
    """Accuracy (± fold spread), its count and its 95 % Wilson interval."""
    if result is None:
        return "not run"
    low, high = result["accuracy_ci"]
    return (
        f"{_cell(result, 'accuracy')} ({result['n_correct']}/{result['n_test']}, "
        f"CI {fmt(low)}–{fmt(high)})"
    )


def _percent(value) -> str:
    return "n/a" if value is None else f"{100 * value:.0f} %"


# Leak-free fits whose median PSNR is below this do not represent the images.
UNCONVERGED_PSNR = 25.0

# Below this many patients the report calls its numbers anecdotal.
MIN_PATIENTS = 20

NOISE_KINDS = ("leak", "no evidence of a leak", "inconclusive")


def cohort_warning(n_patients: int) -> str | None:
    """The warning of a cohort below :data:`MIN_PATIENTS` patients, or None."""
    if n_patients >= MIN_PATIENTS:
        return None
    return (
        f"Only {n_patients} patients: below {MIN_PATIENTS}, these numbers are "
        "anecdotal. A patient's slices succeed or fail together, so every "
        "accuracy rests on a handful of independent cases; use at least "
        f"{MIN_PATIENTS} patients (--n-patients) before reading anything into "
        "them."
    )


def _test_slices(row: dict, results: dict, n_patients: int) -> int:
    """Test slices the protocol of ``row`` scores on a cohort of that size."""
    per_patient = results["data"]["n_slices"] / results["data"]["n_patients"]
    n_slices = max(round(per_patient * n_patients), 1)
    if row["protocol"] == "paper":
        try:
            return len(paper_split(n_slices, results["settings"]["split"], 0)[2])
        except ValueError:  # too few slices to split three ways
            return 0
    # Grouped CV tests every slice once (pooled out-of-fold predictions).
    return n_slices


def noise_control(row: dict, results: dict) -> dict | None:
    """The noise-control outcome of one protocol (None if noise was not run).

    ``kind`` is "leak" (noise accuracy significantly above guessing,
    one-sided binomial p < 0.05), "no evidence of a leak" (not significant,
    and the test set would detect a true 80 % accuracy with at least 80 %
    power) or "inconclusive" (not significant on too few test slices).
    ``n_test_needed`` and ``n_patients_needed`` are the fewest test slices,
    and patients under the same protocol, whose control reaches that power,
    for a test set of the cohort's class balance.
    """
    noise = row["conditions"].get("noise")
    if noise is None:
        return None
    n_test = noise["n_test"]
    power = detection_power(n_test, noise["n_chance"] / n_test)
    if noise["p_value"] < ALPHA:
        kind = NOISE_KINDS[0]
    elif power >= TARGET_POWER:
        kind = NOISE_KINDS[1]
    else:
        kind = NOISE_KINDS[2]
    d = results["data"]
    chance = max(d["n_tumour"], d["n_no_tumour"]) / d["n_slices"]
    try:
        n_test_needed = slices_needed(chance)
    except ValueError:  # the classes are too imbalanced for any test set
        n_test_needed = n_patients_needed = None
    else:
        # Searched upward: under the paper's split, power is not monotone in
        # the cohort size either.
        n_patients_needed = 1
        while (
            detection_power(_test_slices(row, results, n_patients_needed), chance)
            < TARGET_POWER
        ):
            n_patients_needed += 1
    return {
        "key": row["key"],
        "protocol": row["protocol"],
        "kind": kind,
        "accuracy": noise["accuracy"],
        "n_correct": noise["n_correct"],
        "n_test": n_test,
        "accuracy_ci": noise["accuracy_ci"],
        "p_value": noise["p_value"],
        "power": power,
        "detectable_accuracy": DETECTABLE_ACCURACY,
        "n_test_needed": n_test_needed,
        "n_patients_needed": n_patients_needed,
    }


def _name(row: dict) -> str:
    return row["label"].split(": ", 1)[1]


def _noise_figures(c: dict) -> str:
    low, high = c["accuracy_ci"]
    return (
        f"{_percent(c['accuracy'])} ({c['n_correct']}/{c['n_test']} test slices, "
        f"95 % CI {_percent(low)} to {_percent(high)}; one-sided binomial "
        f"p = {fmt(c['p_value'])} against guessing)"
    )


def _power_clause(c: dict, whose: str = "its") -> str:
    """Why a non-significant control is conclusive or not, with the power."""
    if c["kind"] == "no evidence of a leak":
        return (
            f"no evidence of a leak: {whose} {c['n_test']} test slices would "
            f"catch a true {_percent(c['detectable_accuracy'])} accuracy with "
            f"{_percent(c['power'])} power"
        )
    clause = (
        f"inconclusive: {whose} {c['n_test']} test slices would catch a true "
        f"{_percent(c['detectable_accuracy'])} accuracy with only "
        f"{_percent(c['power'])} power"
    )
    if c["n_test_needed"] is None:
        return clause + ", and no test set of these classes would do better"
    return (
        f"{clause}; {_percent(TARGET_POWER)} power needs {c['n_test_needed']} "
        f"test slices ({c['n_patients_needed']} patients under this protocol)"
    )


def verdict(results: dict) -> dict:
    """The plain-sentence answer: does the paper protocol pass the noise control?

    Each protocol's pure-noise accuracy is tested against guessing (always
    answering the test set's majority class), one-sided binomial at 5 %,
    with three outcomes (:func:`noise_control`): a leak, no evidence of a
    leak, or inconclusive (too few test slices for 80 % power against a true
    80 % accuracy). The text covers the paper-protocol rows (single split)
    and the leak-free pipeline rows (pooled out-of-fold predictions); a
    leak-free row above chance on noise is called out as a weaker leak or a
    brightness cue. It opens with :func:`cohort_warning` on a small cohort,
    and flags the models whose leak-free (shared-init) fits have a median
    PSNR below :data:`UNCONVERGED_PSNR`: "theta of unconverged INRs".
    """
    sentences, controls = [], {}
    warning = cohort_warning(results["data"]["n_patients"])
    if warning:
        sentences.append(warning)
    for row in results["scores"]:
        control = noise_control(row, results)
        if control is not None:
            # Rounded before the text uses it: report.md shows results.json.
            controls[row["key"]] = rounded(control)
    # None: no paper-protocol row was run (e.g. the cpu-240 preset).
    passes = None
    for row in results["scores"]:
        c = controls.get(row["key"])
        if row["protocol"] != "paper" or c is None:
            continue
        passes = True if passes is None else passes
        start = (
            f"The paper protocol ({_name(row)}) scores {_noise_figures(c)} on "
            "pure-noise images"
        )
        if c["kind"] == "leak":
            passes = False
            sentences.append(
                f"{start}: a leak; it measures the labels, not the images."
            )
        else:
            sentences.append(f"{start}: {_power_clause(c)}.")
    pipeline = [
        row
        for row in results["scores"]
        if row["protocol"].startswith("pipeline") and row["key"] in controls
    ]
    if pipeline:
        parts, reasons = [], []
        for row in pipeline:
            c = controls[row["key"]]
            parts.append(f"{_name(row)}: {_noise_figures(c)}, {c['kind']}")
            # Rows of one cohort share their test slices, so their power:
            # say it once per distinct reason.
            if c["kind"] != "leak":
                reason = _power_clause(c, whose="the pooled")
                reasons += [] if reason in reasons else [reason]
        sentences.append(
            "On the same noise, the leak-free pipeline (grouped CV, pooled "
            "out-of-fold predictions) scores " + "; ".join(parts) + "."
        )
        # The kind is already in each part; the reason says why it holds.
        sentences += [
            reason.split(": ", 1)[1][0].upper() + reason.split(": ", 1)[1][1:] + "."
            for reason in reasons
        ]
    for row in pipeline:
        c = controls[row["key"]]
        if c["kind"] == "leak":
            sentences.append(
                f"The leak-free row {_name(row)} scores significantly above "
                f"chance on pure noise (p = {fmt(c['p_value'])}), which the "
                "noise cannot explain: a weaker leak of the labels into its "
                "features, or a cue such as brightness that the noise images "
                "carry; find it before trusting this row."
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
        "noise_control": controls,
        "cohort_warning": warning,
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
            f"{_accuracy_cell(c['images'])} | {_cell(c['images'], 'roc_auc')} | "
            f"{_accuracy_cell(c.get('noise'))} | "
            f"{_accuracy_cell(c.get('permuted'))} |"
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
        parts.append(
            f"to {fmt(overrides['target_psnr'])} dB PSNR (each slice stops there)"
        )
    if overrides.get("n_steps") is not None:
        parts.append(f"at most {overrides['n_steps']} steps")
    if overrides.get("precision") not in (None, "auto"):
        parts.append(f"precision {overrides['precision']}")
    recipe = overrides.get("learned_init")
    if recipe:
        parts.append(
            f"from one init meta-learned without labels ({recipe['meta_steps']} "
            f"Reptile steps) on the {recipe['image_size']} x "
            f"{recipe['image_size']} FLAIR slices of {recipe['n_patients']} other "
            "synthetic patients (a calibration cohort, never evaluated)"
        )
    return ", ".join(parts) or "the same settings"


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
        "not an estimate of generalisation. Beside each accuracy: correct/total "
        "test slices (pooled over the folds) and the 95 % Wilson interval of "
        "that proportion. Slices of one patient are not independent, so the "
        "intervals are if anything too narrow.",
        "",
        "Pure noise: uniform noise images with the true labels and patients. "
        "Permuted labels: the true images, with each patient's tumour / "
        "no-tumour labels swapped or not by a coin flip, drawn afresh in each "
        "fold of the grouped CV (one draw for the paper split). A classifier "
        "that never saw a test patient's labels scores exactly 50 % on "
        "average, whatever it learned, since that patient's flip is "
        "independent of everything it trained on; a protocol whose features "
        "saw the labels (weight transfer by class over all slices) scores far "
        "above. The chance unit is the patient, not the slice: a classifier "
        "that finds the tumour gets both slices of a patient right or both "
        "wrong, so on a few patients this column swings widely around 50 %, "
        "both ways. One draw shared by all folds made it swing wider still "
        "(the folds erred together), hence the fresh draw per fold. In the "
        "paper split a patient's other slice, with the opposite label by "
        "construction, can be in the training part: a classifier that "
        "recognises the patient then scores below chance.",
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
