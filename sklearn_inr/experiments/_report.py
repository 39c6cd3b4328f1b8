"""results.json and report.md, both from one results dict.

The numbers are rounded before (:func:`~._report_tables.rounded`), and the
report prints them with :func:`~._report_tables.fmt`: report.md and
results.json always agree.
"""

from __future__ import annotations

import json
from pathlib import Path

from ._report_tables import (
    fmt,
    reconstruction_table,
    settings_lines,
    summary_table,
)
from ._verdict import PIXELS_ON_NOISE

__all__ = ["write_report"]


def _flag_lines(verdict: dict) -> list[str]:
    """The "Flags" section: every flag of the verdict, one bullet each."""
    flags = verdict.get("flags", [])
    lines = ["## Flags", ""]
    if not flags:
        return [*lines, "None: no control flagged, no unconverged fits.", ""]
    return [*lines, *[f"- **{f['kind']}**: {f['text']}" for f in flags], ""]


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
        *_flag_lines(results["verdict"]),
        "## Summary",
        "",
        "Every accuracy reads as 0.79 (63/80, 95 % CI 0.69–0.86): the proportion "
        "of correct test slices, correct/total, and the 95 % Wilson interval of "
        "that proportion. For the leak-free pipeline and the pixel baseline the "
        "test slices are pooled over the folds of a cross-validation grouped by "
        "patient (results.json also holds the mean and std over folds); ROC AUC "
        "is the mean ± std over the folds. The paper-protocol numbers come from "
        "one random split of single slices (as in the paper), with INRs fitted "
        "using every slice's label: they are not an estimate of generalisation. "
        "Slices of one patient are not independent, so the intervals are if "
        "anything too narrow.",
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
        "Each noise control is a one-sided binomial test against guessing. A run "
        "tests several (one per row), so their p-values are adjusted together "
        "with Holm's method, and a control is called a leak when its adjusted p "
        "is below 0.05; results.json keeps both (`p_value`, `p_holm`), and every "
        "control below 0.05 before the adjustment is listed under Flags. "
        + PIXELS_ON_NOISE,
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
        *settings_lines(results),
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
