"""Expected steps of the fits that stop at a target PSNR, for the estimate.

A leak-free entry with a ``target_psnr`` caps its fits at ``n_steps``, but
most slices reach the target well before (79 of 200 steps on average for the
``cpu`` preset's TinySIREN): priced at the cap, the estimate of the ``cpu``
preset was 60 % above its run. :func:`probe_target_steps` fits a few slices
of the run's kind to the target, from the run's shared init
(:func:`sklearn_inr.fitting.probe_fit_steps`), and the estimate prices every
fit of an image at their mean steps. A weight-transfer chain starts each
fit from the fit of the previous slice of its class: the probe fits each
slice again from the fit of the previous patient's corresponding slice (the
same class in the BraTS layout; in the ACDC layout the same phase of a
patient of the next group, whose heart differs by as much as a same-group
neighbour's may: an approximation), and prices the chains' fits at those
steps.
The noise controls never reach a target: they stay at the cap. Entries
whose init is meta-learned during the run (``"learned_init"``) are not
probed (their init does not exist before the run) and stay at the cap too.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.utils import check_random_state

from ..fitting import probe_fit_steps
from ._costs import flops_per_fit
from ._protocols import fit_params, inr_spec, protocol_models

__all__ = [
    "PROBE_SLICES",
    "TargetSteps",
    "expected_fraction",
    "probe_target_steps",
    "target_models",
]

#: Slices the probe fits to the target (at most; fewer when a slice at the
#: cap would cost more than ``PROBE_FIT_SECONDS`` / ``PROBE_SLICES``).
PROBE_SLICES = 6
#: Bound on the probe's fits, at their cap and the probed speed.
PROBE_FIT_SECONDS = 20.0


class TargetSteps(dict):
    """``{model: (mean steps, cap, note)}`` of the probed entries (and
    ``{(model, "chain"): ...}`` for weight-transfer chains), and the probe's
    wall time in ``seconds``."""

    seconds = 0.0


def target_models(settings: dict) -> list[str]:
    """The models whose leak-free fits stop at a ``target_psnr``."""
    return [
        name
        for name in protocol_models(settings)["leak-free"]
        if fit_params(settings["models"][name], "leak-free")["target_psnr"]
    ]


def _cohort_slices(settings: dict, n_slices: int, random_state: int) -> np.ndarray:
    """The first slices of the run's synthetic cohort (same generator, seed,
    shape and loader settings as ``sklearn-inr reproduce``), written to a
    temporary folder: a patient gives two slices."""
    from ..datasets import (
        load_acdc,
        load_brats_slices,
        make_acdc_like,
        make_brats_like,
    )

    n_patients = -(-n_slices // 2)
    shape, size = tuple(settings["cohort_shape"]), settings["image_size"]
    with tempfile.TemporaryDirectory(prefix="sklearn_inr_probe_") as tmp:
        if settings.get("dataset", "brats") == "acdc":
            root = make_acdc_like(Path(tmp), n_patients, shape,
                                  random_state=random_state)  # fmt: skip
            data = load_acdc(root, phases=("ED", "ES"), size=size,
                             n_patients=n_patients, slice_policy="lv")  # fmt: skip
        else:
            root = make_brats_like(Path(tmp), n_patients, shape, random_state)
            data = load_brats_slices(root, "flair", size=size, n_patients=n_patients)
    return np.asarray(data.images[:n_slices], dtype=np.float32)


def probe_target_steps(
    settings: dict,
    image_shape,
    flops_per_second,
    *,
    device="cpu",
    n_threads: int | None = None,
    random_state: int = 0,
    images=None,
) -> TargetSteps:
    """Mean steps to the target of each entry that fits to a ``target_psnr``.

    Up to :data:`PROBE_SLICES` slices train from the run's shared init (the
    draw of ``random_state``) to the target, with the entry's leak-free
    settings; the mean of their steps (the cap for a slice that does not
    reach it) prices the run's fits of images. A few seconds on a CPU.

    Parameters
    ----------
    settings : dict
        A preset (:func:`get_preset`).
    image_shape : tuple of (int, int)
        ``(H, W)`` of the run's slices.
    flops_per_second : callable
        ``flops_per_second(model)``: the probed speed of the model's fits,
        which bounds the probe's slices.
    device, n_threads
        Where and on how many CPU threads the probe trains.
    random_state : int, default=0
        The run's seed: its shared init, and the synthetic cohort's.
    images : ndarray of shape (n_slices, H, W), default=None
        The run's slices, when loaded; None: the first slices of the
        synthetic cohort the run writes (made in a temporary folder), at the
        run's image size.

    Returns
    -------
    steps : TargetSteps
    """
    started = time.perf_counter()
    result = TargetSteps()
    names = target_models(settings)
    probed = []
    for name in names:
        model = settings["models"][name]
        params = fit_params(model, "leak-free")
        cap = int(params["n_steps"])
        if (model.get("leak_free") or {}).get("learned_init"):
            result[name] = (cap, cap, "at the cap: its init is learned in the run")
            continue
        per_slice = flops_per_fit(model, image_shape, "leak-free")
        n_slices = min(
            PROBE_SLICES,
            int(PROBE_FIT_SECONDS * flops_per_second(name) // per_slice),
        )
        if n_slices < 2:
            result[name] = (cap, cap, "at the cap: a probe would take too long")
            continue
        probed.append((name, params, cap, n_slices))
    if probed:
        n_max = max(n for *_, n in probed)
        if images is None:
            images = _cohort_slices(settings, n_max, random_state)
        images = np.asarray(images, dtype=np.float32)
        if images.shape[1:3] != tuple(image_shape):
            images = None  # not the run's slices: no probe
    chained = protocol_models(settings)["weight transfer"]
    for name, params, cap, n_slices in probed:
        if images is None:
            result[name] = (cap, cap, "at the cap: no slices to probe")
            continue
        spec = inr_spec(params)
        # The shared init of INRFeaturizer(random_state=random_state).
        seed = check_random_state(random_state).randint(np.iinfo(np.int32).max)
        kwargs = dict(
            target_psnr=float(params["target_psnr"]), n_steps=cap,
            loss=params["loss"], lr=float(params["lr"]),
            precision=params["precision"], optimizer=params["optimizer"],
            device=device, n_threads=n_threads,
        )  # fmt: skip
        steps, theta = probe_fit_steps(
            spec, images[:n_slices], init_theta=spec.init_theta(int(seed)),
            return_theta=True, **kwargs,
        )  # fmt: skip
        result[name] = _summary(steps, cap, params, "from the shared init")
        if name in chained and n_slices > 2:
            steps = probe_fit_steps(
                spec, images[2:n_slices], init_theta=theta[:-2], **kwargs
            )
            result[name, "chain"] = _summary(
                steps, cap, params, "in chains (from the previous patient's fit)"
            )
    result.seconds = time.perf_counter() - started
    return result


def _summary(steps, cap, params, how) -> tuple:
    reached = int((steps < cap).sum())
    note = (
        f"{float(steps.mean()):.0f} steps to {params['target_psnr']:g} dB {how}, "
        f"mean of {len(steps)} probed slices ({reached} reached it before the "
        f"cap of {cap})"
    )
    return float(steps.mean()), cap, note


def expected_fraction(
    steps: TargetSteps | None, name: str, kind: str = "batch"
) -> float:
    """Expected steps over the cap of ``name``'s fits of images of ``kind``
    (``"batch"`` or ``"chain"``); 1 (the cap) where nothing was probed."""
    if not steps:
        return 1.0
    found = steps.get((name, kind)) or steps.get(name)
    if found is None:
        return 1.0
    mean, cap, _ = found
    return min(1.0, mean / cap) if cap else 1.0
