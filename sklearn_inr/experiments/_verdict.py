"""The verdict: does each protocol pass the noise control, and can we tell?

Each protocol's pure-noise accuracy is tested against guessing
(:mod:`._statistics`), and the p-values of all the noise controls of a run
are adjusted together (Holm); the verdict is plain sentences built from those
outcomes, the cohort's size and the fidelity of the leak-free fits, and every
flag it raises is also listed on its own (``verdict["flags"]``), so the report
can state each one.
"""

from __future__ import annotations

from ._comparisons import row_name, theta_against_pixels
from ._datasets import chance_rate
from ._evaluation import paper_split
from ._report_tables import accuracy_text, fmt, percent, rounded
from ._statistics import (
    ALPHA,
    DETECTABLE_ACCURACY,
    TARGET_POWER,
    detection_power,
    holm_adjust,
    slices_needed,
)

__all__ = [
    "MIN_PATIENTS",
    "NOISE_KINDS",
    "PIXELS_ON_NOISE",
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

#: What a model of the pixels alone above chance on noise means (report.md).
PIXELS_ON_NOISE = (
    "A model of the pixels alone (the pixel baseline) above chance on pure "
    "noise is not a leak through features: it never sees a label at test "
    "time, and the noise images are drawn from the seed and the images' "
    "shape only, never from the labels, patients or image content (so they "
    "carry no label information by construction). Its noise control can then "
    "beat chance only by chance, or through the evaluation itself (test "
    "labels reaching the training folds). By chance is expected: at 5 % each, "
    "one of several controls will now and then score p < 0.05 on label-free "
    "noise (one run in five with four controls), which is why the verdict "
    "judges each control on its Holm-adjusted p-value and lists every control "
    "below 5 % before the adjustment as a flag. Such a flag that does not "
    "survive the adjustment is no evidence of a leak; one that does, or one "
    "that comes back on other seeds, is: look for a cue in how the noise or "
    "the folds are made."
)


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


def noise_control(
    row: dict, results: dict, p_holm: float | None = None, n_controls: int = 1
) -> dict | None:
    """The noise-control outcome of one protocol (None if noise was not run).

    ``kind`` is "leak" (noise accuracy significantly above guessing,
    one-sided binomial test, Holm-adjusted p (``p_holm``, over the
    ``n_controls`` noise controls of the run; the raw p when None) below
    0.05), "no evidence of a leak" (not significant,
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
    p_holm = noise["p_value"] if p_holm is None else p_holm
    if p_holm < ALPHA:
        kind = NOISE_KINDS[0]
    elif power >= TARGET_POWER:
        kind = NOISE_KINDS[1]
    else:
        kind = NOISE_KINDS[2]
    chance = chance_rate(results["data"])
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
        "n_chance": noise["n_chance"],
        "accuracy_ci": noise["accuracy_ci"],
        "p_value": noise["p_value"],
        "p_holm": p_holm,
        "n_controls": n_controls,
        # Below 5 % before the adjustment: stated in the report either way.
        "nominal": noise["p_value"] < ALPHA,
        "power": power,
        "detectable_accuracy": DETECTABLE_ACCURACY,
        "n_test_needed": n_test_needed,
        "n_patients_needed": n_patients_needed,
    }


def _noise_figures(c: dict) -> str:
    """``0.61 (49/80, 95 % CI 0.50–0.71; p = 0.028, Holm 0.084)``, with words."""
    holm = (
        f", {fmt(c['p_holm'])} after Holm's correction for the "
        f"{c['n_controls']} noise controls of this run"
        if c["n_controls"] > 1
        else ""
    )
    return (
        accuracy_text(c)[:-1] + f"; one-sided binomial p = {fmt(c['p_value'])} "
        f"against guessing{holm})"
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
    if c["n_test_needed"] <= c["n_test"]:
        # Enough slices for a test set of the cohort's balance, but this one's
        # majority class is larger (a small random split of K classes), which
        # raises the chance it must beat.
        return (
            f"{clause}, as its majority class holds {c['n_chance']} of them "
            f"(more than the cohort's share); a test set of the cohort's class "
            f"balance reaches {percent(TARGET_POWER)} power with "
            f"{c['n_test_needed']} test slices ({c['n_patients_needed']} "
            "patients under this protocol)"
        )
    return (
        f"{clause}; {percent(TARGET_POWER)} power needs {c['n_test_needed']} "
        f"test slices ({c['n_patients_needed']} patients under this protocol)"
    )


def _controls(results: dict) -> dict:
    """The noise control of every row that ran noise, Holm-adjusted together."""
    rows = [r for r in results["scores"] if r["conditions"].get("noise")]
    adjusted = holm_adjust([r["conditions"]["noise"]["p_value"] for r in rows])
    return {
        # Rounded before the text uses it: report.md shows results.json.
        row["key"]: rounded(noise_control(row, results, p, len(rows)))
        for row, p in zip(rows, adjusted)
    }


def _nominal_flag(row: dict, c: dict) -> str:
    """The sentence of a control below 5 % before Holm's adjustment only."""
    name = row_name(row)
    if row["protocol"] == "pixel baseline":
        name = f"the pixel baseline ({name})"
    text = (
        f"Flag: {name} scores above chance on pure noise before "
        f"correction (one-sided p = {fmt(c['p_value'])} < {ALPHA:g}), but not "
        f"after Holm's correction for the {c['n_controls']} noise controls "
        f"tested (p = {fmt(c['p_holm'])}): no evidence of a leak, and what one "
        "of several tests on label-free noise gives by chance now and then"
    )
    if row["protocol"] == "pixel baseline":
        text += (
            "; the pixel model sees no label at test time and the noise holds "
            "none (see the controls below)"
        )
    return text + "."


def verdict(results: dict) -> dict:
    """The plain-sentence answer: does the paper protocol pass the noise control?

    Each protocol's pure-noise accuracy is tested against guessing (always
    answering the test set's majority class), one-sided binomial, and the
    p-values of the run's noise controls are adjusted together (Holm): a
    control is judged at 5 % on its adjusted p, with three outcomes
    (:func:`noise_control`): a leak, no evidence of a leak, or inconclusive
    (too few test slices for 80 % power against a true 80 % accuracy). The
    text covers every row with a noise control: the paper-protocol rows
    (single split), the leak-free pipeline rows (pooled out-of-fold
    predictions) and the pixel baseline; a leak-free row above chance on
    noise is called out as a weaker leak or a brightness cue, and a control
    below 5 % before the adjustment only is stated as such. It opens with
    :func:`cohort_warning` on a small cohort, and flags the models whose
    leak-free (shared-init) fits have a median PSNR below
    :data:`UNCONVERGED_PSNR`: "theta of unconverged INRs".

    Returns
    -------
    verdict : dict
        ``text``; ``noise_control`` (each row's control, raw and adjusted
        p); ``flags``, one entry per flag raised (``kind``: "leak",
        "nominal" (below 5 % before the adjustment only), "unconverged",
        "theta loses" (a leak-free theta row below a pixel baseline on the
        images by more than two standard errors) or "small cohort"; ``key``;
        ``text``, a sentence of ``text``), so that
        the report lists every one; ``paper_protocol_passes_noise_control``,
        ``cohort_warning``, ``unconverged_leak_free_fits``,
        ``theta_against_pixels`` (:func:`theta_against_pixels`).
    """
    sentences, flags = [], []
    warning = cohort_warning(results["data"]["n_patients"])
    if warning:
        sentences.append(warning)
        flags.append({"kind": "small cohort", "key": None, "text": warning})
    controls = _controls(results)
    rows = {row["key"]: row for row in results["scores"] if row["key"] in controls}

    def flag(row, kind, text):
        sentences.append(text)
        flags.append({"kind": kind, "key": row["key"], "text": text})

    # None: no paper-protocol row was run (e.g. the cpu-240 preset).
    passes = None
    for key, row in rows.items():
        c = controls[key]
        if row["protocol"] != "paper":
            continue
        passes = True if passes is None else passes
        start = (
            f"The paper protocol ({row_name(row)}) scores {_noise_figures(c)} on "
            "pure-noise images"
        )
        if c["kind"] == "leak":
            passes = False
            flag(
                row, "leak", f"{start}: a leak; it measures the labels, not the images."
            )
        else:
            sentences.append(f"{start}: {_power_clause(c)}.")
    pipeline = [row for row in rows.values() if row["protocol"].startswith("pipeline")]
    if pipeline:
        parts, reasons = [], []
        for row in pipeline:
            c = controls[row["key"]]
            parts.append(f"{row_name(row)}: {_noise_figures(c)}, {c['kind']}")
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
    for row in rows.values():
        if row["protocol"] in ("paper",) or row["protocol"].startswith("pipeline"):
            continue
        # Any other row (the pixel baseline): its control, in its own words.
        c = controls[row["key"]]
        clause = "a leak" if c["kind"] == "leak" else _power_clause(c)
        sentences.append(
            f"On the same noise, the pixel baseline ({row_name(row)}) scores "
            f"{_noise_figures(c)}: {clause}."
        )
    for row in rows.values():
        c = controls[row["key"]]
        if c["kind"] == "leak" and row["protocol"].startswith("pipeline"):
            flag(row, "leak", (
                f"The leak-free row {row_name(row)} scores significantly above "
                f"chance on pure noise (p = {fmt(c['p_value'])}, Holm-adjusted "
                f"{fmt(c['p_holm'])}), which the noise cannot explain: a weaker "
                "leak of the labels into its features, or a cue such as "
                "brightness that the noise images carry; find it before "
                "trusting this row."
            ))  # fmt: skip
        elif c["kind"] == "leak" and row["protocol"] != "paper":
            flag(row, "leak", (
                f"The pixel baseline ({row_name(row)}) scores significantly above "
                f"chance on pure noise (p = {fmt(c['p_value'])}, Holm-adjusted "
                f"{fmt(c['p_holm'])}): a model of the pixels sees no label at "
                "test time and the noise holds none by construction, so the "
                "evaluation itself lets labels through (test labels in the "
                "training folds) or the noise carries a cue; find it before "
                "trusting any row."
            ))  # fmt: skip
        elif c["nominal"] and c["kind"] != "leak":
            flag(row, "nominal", _nominal_flag(row, c))
    comparisons = theta_against_pixels(results)
    for comparison in comparisons:
        if comparison["outcome"] == "loses" and comparison["clear"]:
            rows_by_key = {row["key"]: row for row in results["scores"]}
            flag(rows_by_key[comparison["theta"]], "theta loses", comparison["text"])
        else:
            sentences.append(comparison["text"])
    for name, median in _unconverged_fits(results):
        flags.append({
            "kind": "unconverged", "key": name,
            "text": (
                f"The leak-free rows of {name} classify theta of unconverged "
                f"INRs: their shared-init fits reach a median PSNR of "
                f"{fmt(median)} dB (below {UNCONVERGED_PSNR:g} dB), so they do "
                "not represent the images, and those accuracies say little "
                "about what INR weights carry."
            ),
        })  # fmt: skip
        sentences.append(flags[-1]["text"])
    return {
        "paper_protocol_passes_noise_control": passes,
        "noise_control": controls,
        "flags": flags,
        "cohort_warning": warning,
        "theta_against_pixels": comparisons,
        "unconverged_leak_free_fits": [
            f["key"] for f in flags if f["kind"] == "unconverged"
        ],
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
