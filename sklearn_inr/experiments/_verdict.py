"""The verdict: does each protocol pass the noise control, and can we tell?

Each protocol's pure-noise accuracy is tested against guessing
(:mod:`._statistics`); the verdict is plain sentences built from those
outcomes, the cohort's size and the fidelity of the leak-free fits.
"""

from __future__ import annotations

from ._evaluation import paper_split
from ._report_tables import fmt, percent, rounded
from ._statistics import (
    ALPHA,
    DETECTABLE_ACCURACY,
    TARGET_POWER,
    detection_power,
    slices_needed,
)

__all__ = [
    "MIN_PATIENTS",
    "NOISE_KINDS",
    "UNCONVERGED_PSNR",
    "cohort_warning",
    "noise_control",
    "verdict",
]


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
        f"{percent(c['accuracy'])} ({c['n_correct']}/{c['n_test']} test slices, "
        f"95 % CI {percent(low)} to {percent(high)}; one-sided binomial "
        f"p = {fmt(c['p_value'])} against guessing)"
    )


def _power_clause(c: dict, whose: str = "its") -> str:
    """Why a non-significant control is conclusive or not, with the power."""
    if c["kind"] == "no evidence of a leak":
        return (
            f"no evidence of a leak: {whose} {c['n_test']} test slices would "
            f"catch a true {percent(c['detectable_accuracy'])} accuracy with "
            f"{percent(c['power'])} power"
        )
    clause = (
        f"inconclusive: {whose} {c['n_test']} test slices would catch a true "
        f"{percent(c['detectable_accuracy'])} accuracy with only "
        f"{percent(c['power'])} power"
    )
    if c["n_test_needed"] is None:
        return clause + ", and no test set of these classes would do better"
    return (
        f"{clause}; {percent(TARGET_POWER)} power needs {c['n_test_needed']} "
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
