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
The noise controls never reach a target: they stay at the cap, unless the
entry gives up on unreachable fits (``"stop_unreachable"``): then the probe
fits two noise images too, and prices the noise fits at their steps.
Entries whose init is meta-learned by the run (``"learned_init"``) are
probed from that init when a previous run cached it; otherwise (their init
does not exist before the run) they stay at the cap.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
from sklearn.utils import check_random_state

from ..fitting import probe_fit_steps
from ._costs import flops_per_fit
from ._evaluation import noise_images
from ._protocols import cached_learned_init, fit_params, inr_spec, protocol_models

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
PROBE_FIT_SECONDS = 30.0
#: Noise images the probe fits, for entries that give up on unreachable fits.
PROBE_NOISE = 2


class _Probe(NamedTuple):
    """What the probe fits for one entry: up to ``n_slices`` slices from
    ``init`` (said ``start`` in its note), capped at ``cap`` steps."""

    name: str
    params: dict
    spec: object
    cap: int
    n_slices: int
    init: np.ndarray
    start: str


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
    memory=None,
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
    memory : str, path, joblib.Memory or None, default=None
        The run's cache: an init that a previous run learned is read from it
        (:func:`~._protocols.cached_learned_init`).

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
        spec = inr_spec(params)
        # The shared init of INRFeaturizer(random_state=random_state).
        seed = check_random_state(random_state).randint(np.iinfo(np.int32).max)
        init, start = spec.init_theta(int(seed)), "from the shared init"
        if (model.get("leak_free") or {}).get("learned_init"):
            init = cached_learned_init(model, random_state=random_state,
                                       memory=memory)  # fmt: skip
            start = "from the learned init a previous run cached"
            if init is None:
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
        probed.append(_Probe(name, params, spec, cap, n_slices, init, start))
    if probed:
        n_max = max(probe.n_slices for probe in probed)
        if images is None:
            images = _cohort_slices(settings, n_max, random_state)
        images = np.asarray(images, dtype=np.float32)
        if images.shape[1:3] != tuple(image_shape):
            images = None  # not the run's slices: no probe
    chained = protocol_models(settings)["weight transfer"]
    for name, params, spec, cap, n_slices, init, start in probed:
        if images is None:
            result[name] = (cap, cap, "at the cap: no slices to probe")
            continue
        kwargs = dict(
            target_psnr=float(params["target_psnr"]), n_steps=cap,
            check_every=int(params["check_every"]),
            stop_unreachable=bool(params["stop_unreachable"]),
            loss=params["loss"], lr=float(params["lr"]),
            precision=params["precision"], optimizer=params["optimizer"],
            device=device, n_threads=n_threads,
        )  # fmt: skip
        steps, theta = probe_fit_steps(
            spec, images[:n_slices], init_theta=init, return_theta=True, **kwargs
        )
        result[name] = _summary(steps, cap, params, start)
        if params["stop_unreachable"]:
            noise = noise_images(images[:PROBE_NOISE], random_state)
            steps = probe_fit_steps(spec, noise, init_theta=init, **kwargs)
            result[name, "noise"] = _summary(
                steps, cap, params, "for noise (given up on)", target=False
            )
        if name in chained and n_slices > 2:
            steps = probe_fit_steps(
                spec, images[2:n_slices], init_theta=theta[:-2], **kwargs
            )
            result[name, "chain"] = _summary(
                steps, cap, params, "in chains (from the previous patient's fit)"
            )
    result.seconds = time.perf_counter() - started
    return result


def _summary(steps, cap, params, how, target=True) -> tuple:
    stopped = int((steps < cap).sum())
    if target:
        note = (
            f"{float(steps.mean()):.0f} steps to {params['target_psnr']:g} dB "
            f"{how}, mean of {len(steps)} probed slices ({stopped} reached it "
            f"before the cap of {cap})"
        )
    else:
        note = (
            f"{float(steps.mean()):.0f} steps {how}, mean of {len(steps)} "
            f"probed images ({stopped} stopped before the cap of {cap})"
        )
    return float(steps.mean()), cap, note


def expected_fraction(
    steps: TargetSteps | None, name: str, kind: str = "batch"
) -> float:
    """Expected steps over the cap of ``name``'s fits of images of ``kind``
    (``"batch"``, ``"chain"`` or ``"noise"``); 1 (the cap) where nothing was
    probed."""
    if not steps:
        return 1.0
    found = steps.get((name, kind))
    if found is None and kind != "noise":
        found = steps.get(name)
    if found is None:
        return 1.0
    mean, cap, _ = found
    return min(1.0, mean / cap) if cap else 1.0
