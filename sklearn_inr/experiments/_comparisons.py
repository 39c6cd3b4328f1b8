"""Theta against the pixels it was fitted to, on the same slices and folds."""

from __future__ import annotations

__all__ = ["row_name", "theta_against_pixels"]


def row_name(row: dict) -> str:
    """A results row's label without its kind: ``"TinySIREN, shared init"``."""
    return row["label"].split(": ", 1)[1]


def theta_against_pixels(results: dict) -> list[dict]:
    """Each shared-init leak-free theta row against each pixel baseline.

    Both classify the same slices in the same folds, so their pooled
    out-of-fold counts on the real images compare directly: theta "beats",
    "ties" or "loses" by the number of slices it gets right. The counts and
    balanced accuracies are stated, with the size of the gap against two
    standard errors of a difference of two accuracies on that many slices
    (``2 * sqrt((p_a (1 - p_a) + p_b (1 - p_b)) / n)``, as if the slices
    were independent; they are not quite, the folds and a patient's slices
    being tied): a gap inside it is within what another seed moves, and the
    text says so. No test is made.

    Returns
    -------
    comparisons : list of dict
        ``theta`` and ``pixels`` (row keys), ``outcome``, ``gap`` (slices),
        ``margin`` (two standard errors, in slices), ``clear`` (the gap is
        beyond the margin) and ``text``.
    """
    rows = [row for row in results["scores"] if row["conditions"].get("images")]
    theta = [row for row in rows if row["protocol"] == "pipeline (shared)"]
    pixels = [row for row in rows if row["protocol"] == "pixel baseline"]
    verbs = {"beats": "beats", "ties": "ties with", "loses": "loses to"}
    comparisons = []
    for inr in theta:
        a = inr["conditions"]["images"]
        for base in pixels:
            b = base["conditions"]["images"]
            n = a["n_test"]
            if n != b["n_test"]:
                continue  # not the same test slices: no direct comparison
            gap = a["n_correct"] - b["n_correct"]
            outcome = "beats" if gap > 0 else "loses" if gap < 0 else "ties"
            p_a, p_b = a["n_correct"] / n, b["n_correct"] / n
            margin = 2 * n * ((p_a * (1 - p_a) + p_b * (1 - p_b)) / n) ** 0.5
            clear = abs(gap) > margin
            balanced = (
                f", balanced accuracy {a['balanced_accuracy']:.2f} against "
                f"{b['balanced_accuracy']:.2f}"
                if "balanced_accuracy" in a and "balanced_accuracy" in b
                else ""
            )
            text = (
                f"On the images, theta ({row_name(inr)}) {verbs[outcome]} the pixel "
                f"baseline ({row_name(base)}): {a['n_correct']}/{n} slices right "
                f"against {b['n_correct']}/{n}{balanced}"
            )
            if gap:
                size = "beyond" if clear else "within"
                text += (
                    f"; a gap of {abs(gap)} slice{'s' if abs(gap) > 1 else ''}, "
                    f"{size} two standard errors of the difference (about "
                    f"{margin:.0f} slices)"
                )
            if outcome == "loses":
                text += (
                    ": on this data the INR's weights carry less of the label "
                    "than the pixels they were fitted to"
                    if clear
                    else ": not a clear loss, but no gain from the INR either"
                )
            comparisons.append({
                "theta": inr["key"], "pixels": base["key"], "outcome": outcome,
                "gap": gap, "margin": round(margin, 2), "clear": bool(clear),
                "text": text + ".",
            })  # fmt: skip
    return comparisons
