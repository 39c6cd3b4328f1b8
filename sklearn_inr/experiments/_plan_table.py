"""The plan as ``sklearn-inr reproduce`` prints it: a table of stages and times."""

from __future__ import annotations

import math

from ._costs import flops_per_fit
from ._protocols import PROTOCOLS, fit_params, inr_spec, protocol_models

__all__ = ["format_duration", "format_flops", "format_plan", "format_shape"]


def format_duration(seconds: float) -> str:
    """``"4 s"``, ``"2 min 51 s"``, ``"3 h 42 min"``, ``"52 d 3 h"``."""
    seconds = float(seconds)
    if seconds < 1:
        return "<1 s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(round(seconds / 60), 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(round(seconds / 3600), 24)
    return f"{days} d {hours} h"


def format_flops(value: float) -> str:
    """``"22.8 GFLOP"``, ``"91.3 TFLOP"``: three significant digits."""
    for unit, scale in (("PFLOP", 1e15), ("TFLOP", 1e12), ("GFLOP", 1e9)):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value / 1e6:.3g} MFLOP"


def _tflop(value: float) -> str:
    tflop = value / 1e12
    if tflop == 0:
        return "0"
    return f"{tflop:,.0f}" if tflop >= 100 else f"{tflop:.3g}"


def format_shape(shape) -> str:
    """``"240 x 240"``."""
    return " x ".join(map(str, shape))


def format_plan(
    stages: list,
    seconds: dict,
    throughput=None,
    *,
    settings: dict | None = None,
    image_shape=None,
    title: str = "Plan",
) -> str:
    """The plan and its estimated duration, as ``sklearn-inr reproduce`` prints it.

    Parameters
    ----------
    stages : list of StagePlan
        From :func:`plan`.
    seconds : dict
        From :func:`estimate`.
    throughput : Throughput, default=None
        The probe's measure, described under the table.
    settings : dict, default=None
        The preset, to state the cost of one fit.
    image_shape : tuple of (int, int), default=None
        ``(H, W)`` of the slices, with ``settings``.
    title : str, default="Plan"
        First line.

    Returns
    -------
    text : str
    """
    header = ("Stage", "INR fits", "TFLOP", "Est. time", "What it fits")
    other = seconds.get("other", {})
    target_steps = getattr(throughput, "target_steps", {}) or {}
    expected = any(mean < cap for mean, cap, _ in target_steps.values())
    rows = [
        (
            s.name,
            f"{s.fits:,}",
            _tflop(s.flops),
            format_duration(seconds["stages"][s.name])
            if s.fits or s.classifier_fits or s.fixed_seconds
            else "-",
            s.note
            + (
                f"; {s.cached_fits:,} fits done by a previous run (cached)"
                if getattr(s, "cached_fits", 0)
                else ""
            )
            + (
                f"; {s.target_fits:,} fits to a target PSNR at expected steps"
                if expected and getattr(s, "target_fits", 0)
                else ""
            ),
        )
        for s in stages
    ]
    notes = {
        "probe": "the speed and steps probe below (the run probes again)",
        "data": "writing and loading the cohort",
        "figures": "the four figures",
    }
    for name in ("data", "probe"):
        if name in other:
            rows.insert(0, (name, "-", "-", format_duration(other[name]), notes[name]))
    if "figures" in other:
        rows.append(
            ("figures", "-", "-", format_duration(other["figures"]), notes["figures"])
        )
    total_fits = sum(s.fits for s in stages)
    rows.append(
        (
            "total",
            f"{total_fits:,}",
            _tflop(sum(s.flops for s in stages)),
            format_duration(seconds["total"]),
            "",
        )
    )
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]
    lines = [title]
    for row in [header, *rows]:
        cells = [row[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(row[1:4], widths[1:])]
        lines.append(("  " + "  ".join(cells) + "  " + row[4]).rstrip())
    if throughput is not None:
        lines.append(throughput.detail)
    cost = ""
    if settings is not None and image_shape is not None:
        runs = protocol_models(settings)
        per_fit = sorted(
            {
                (
                    inr_spec(settings["models"][name]).n_params,
                    fit_params(settings["models"][name], protocol)["n_steps"],
                    flops_per_fit(settings["models"][name], image_shape, protocol),
                )
                for protocol in PROTOCOLS
                for name in runs[protocol]
            }
        )
        cost = (
            " at "
            + " or ".join(
                f"6 x {p:,} parameters x {math.prod(image_shape):,} pixels x {n} "
                f"steps = {format_flops(f)}"
                for p, n, f in per_fit
            )
            + " per fit"
        )
    n_classifiers = sum(s.classifier_fits for s in stages)
    if throughput is not None and throughput.classifier is not None:
        how = "from its probe"
    else:
        flops = format_flops(sum(s.classifier_flops for s in stages))
        how = f"roughly, from its FLOPs ({flops}) at the speed of the INR batches"
    n_cached = sum(getattr(s, "cached_fits", 0) for s in stages)
    cached = (
        f" {n_cached:,} fits that a previous run with this cache finished are "
        "counted as done (cache reads)."
        if n_cached
        else " Fits a previous run finished are counted as done when they are "
        "recorded in the cache (its progress.json)."
    )
    if expected:
        given_up = any(
            isinstance(key, tuple) and key[1] == "noise" for key in target_steps
        )
        noise = (
            "fits of noise that are given up on at the mean steps of their "
            "probe, other fits of noise at the cap"
            if given_up
            else "fits of noise at the cap"
        )
        capped = (
            "fits of images with a target PSNR at the mean steps their probe "
            f"took (the TFLOP column counts them at the cap), {noise}: they "
            "never reach a target"
        )
    else:
        capped = "fits with a target PSNR at their step cap: an upper bound"
    lines.append(
        f"An estimate from that probe, not a measurement: INR fits{cost}, timed at "
        f"the probed speed ({capped}); the classifier's training "
        f"({n_classifiers} fits) is included "
        f"{how}; cache reads, the pixel baseline, the learned inits' "
        "bookkeeping, the data and the figures from per-unit costs measured on "
        f"two CPU cores.{cached}"
    )
    return "\n".join(lines)
