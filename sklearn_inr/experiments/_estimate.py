"""How long a reproduction should take: a throughput probe and the estimate.

:func:`probe_throughput` times a few Adam steps of the preset's own networks
at the run's image size (cropped on a CPU), on the run's device and threads,
through the fitting layer's probe (:func:`sklearn_inr.fitting.probe_fit_speed`),
and :func:`estimate` turns the FLOPs of a
:func:`~sklearn_inr.experiments._plan.plan` into seconds.
:func:`~sklearn_inr.experiments._plan_table.format_plan` makes the table that
``sklearn-inr reproduce`` prints.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np
import torch

from ..fitting import probe_fit_speed, resolve_device, torch_threads
from ._costs import FIGURE_SECONDS, classifier_weights
from ._expected_steps import expected_fraction, probe_target_steps
from ._plan import StagePlan
from ._plan_table import format_flops, format_shape
from ._protocols import fit_params, inr_spec, make_classifier, protocol_models

__all__ = ["Throughput", "estimate", "probe_throughput"]


@dataclass(frozen=True)
class Throughput:
    """Training speed measured by :func:`probe_throughput`.

    Attributes
    ----------
    flops_per_second : dict
        FLOP/s by ``(model key, "batch" or "chain")``: independent fits in
        the batches the runner makes, and weight-transfer chains (one image
        per class at a time).
    classifier : tuple of (float, float) or None
        Seconds per fit and per Adam step of the classifier, measured; None
        where probing it would take seconds (large inputs on a CPU, where
        its FLOPs dominate): it is then timed from its FLOPs.
    device : str
        Where it was measured, e.g. ``"cpu, 2 threads"``.
    detail : str
        One line per model: the speeds and how they were measured.
    seconds : float
        Wall time of the probe (the speeds and the steps).
    target_steps : dict
        ``{model: (mean steps, cap, note)}`` of the models whose fits of
        images stop at a ``target_psnr``
        (:func:`~._expected_steps.probe_target_steps`); empty: every fit is
        priced at its cap.
    """

    flops_per_second: dict
    classifier: tuple | None
    device: str
    detail: str
    seconds: float
    target_steps: dict = field(default_factory=dict)

    def of(self, model: str, kind: str) -> float:
        """FLOP/s of ``model``'s fits of ``kind`` (``"batch"``, ``"chain"``)."""
        return self.flops_per_second[model, kind]


def _bulk_params(settings: dict, name: str) -> dict:
    """The fit parameters of most of a model's fits: the paper protocol's,
    unless the preset runs only the leak-free fits (cpu-240, cpu-paper)."""
    runs = protocol_models(settings)
    leak_free_only = name not in runs["paper"] and name in runs["leak-free"]
    protocol = "leak-free" if leak_free_only else "paper"
    return fit_params(settings["models"][name], protocol)


def probe_throughput(
    settings: dict,
    device="auto",
    image_shape=(240, 240),
    *,
    n_images: int | None = None,
    target_seconds: float | None = None,
    random_state: int = 0,
    images=None,
    memory=None,
) -> Throughput:
    """Measure how fast the preset's INRs train here: a few real Adam steps.

    Each model of ``settings`` trains random targets through the fitting
    engine (:func:`sklearn_inr.fitting.probe_fit_speed`) for a warm-up step,
    then for about ``target_seconds``, as the runner would train the run's
    fits: on a CPU, one batch per thread of the run (the preset's
    ``torch_threads``, else torch's), each at most the runner's batch of
    pixels (larger images are cropped to that); on a GPU, one batch of up to
    2**20 pixels. It times independent fits (batches of the runner's size)
    and weight-transfer chains (one image per class, two at a time)
    separately. Then the classifier trains a few epochs on random features
    of the networks' size, for its time per fit and per Adam step, unless
    that alone would take seconds (a large network on a CPU: the classifier
    is then timed from its FLOPs, a negligible part of such a run). About 1
    to 8 seconds on a CPU, a second or two on a GPU.

    Models whose leak-free fits stop at a ``target_psnr`` then fit a few
    slices to it (:func:`~._expected_steps.probe_target_steps`: the run's
    first slices, ``images``, or those of the synthetic cohort it writes),
    for the mean steps that :func:`estimate` prices their fits of images
    at: a few seconds more.

    Parameters
    ----------
    settings : dict
        A preset (:func:`get_preset`).
    device : {"auto", "cpu", "cuda"}, default="auto"
    image_shape : tuple of (int, int), default=(240, 240)
        ``(H, W)`` of the run's slices.
    n_images : int, default=None
        Images a stage fits at once (the run's slices), which bounds the
        batches and sizes the classifier's probe; None: no bound but the
        runner's.
    target_seconds : float, default=None
        Timed part of each measurement; None: 0.5 s on a CPU, 0.2 s on a GPU.
    random_state : int, default=0
        The run's seed: the shared init and the synthetic cohort of the
        steps probe.
    images : ndarray of shape (n_slices, H, W), default=None
        The run's slices, for the steps probe; None: the first slices of
        the synthetic cohort the run writes, made in a temporary folder.
    memory : str, path, joblib.Memory or None, default=None
        The run's cache, where the steps probe finds an init that a previous
        run learned.

    Returns
    -------
    throughput : Throughput

    Examples
    --------
    >>> from sklearn_inr.experiments import get_preset, probe_throughput
    >>> speed = probe_throughput(get_preset("tiny"), "cpu", (12, 12),
    ...                          n_images=8, target_seconds=0.01)
    >>> sorted(speed.flops_per_second)  # doctest: +NORMALIZE_WHITESPACE
    [('relu', 'batch'), ('relu', 'chain'), ('siren', 'batch'),
     ('siren', 'chain')]
    """
    started = time.perf_counter()
    device = resolve_device(device)
    on_cpu = device.type == "cpu"
    n_threads = (
        (settings.get("torch_threads") or torch.get_num_threads()) if on_cpu else 1
    )
    speeds, lines, shape = {}, [], tuple(image_shape)
    for name, model in settings["models"].items():
        bulk = _bulk_params(settings, name)
        precision = bulk["precision"]
        speed = probe_fit_speed(
            inr_spec(model), image_shape, loss=model["loss"], lr=float(bulk["lr"]),
            precision=precision, optimizer=bulk["optimizer"], device=device,
            n_threads=n_threads, n_images=n_images, target_seconds=target_seconds,
        )  # fmt: skip
        shape = speed.shape
        for kind, value in speed.flops_per_second.items():
            speeds[name, kind] = value
        text = _speed_text(speed, on_cpu)
        if precision == "bf16":
            text += ", bfloat16 products"
        if bulk["optimizer"] == "kfac":
            text += ", K-FAC steps"
        lines.append((model["name"], text))
    n_features = max(inr_spec(m).n_params for m in settings["models"].values())
    batch_speed = float(np.mean([v for (_, k), v in speeds.items() if k == "batch"]))
    with torch_threads(n_threads) if on_cpu else nullcontext():
        classifier = _probe_classifier(
            settings, device, n_features, n_images, batch_speed
        )
    if classifier is None:
        text = f"not probed ({n_features:,} inputs): timed from its FLOPs"
    else:
        text = (
            f"{1e3 * classifier[1]:.3g} ms per Adam step of {n_features:,} inputs"
            f" + {classifier[0]:.2g} s per fit"
        )
    lines.append(("Classifier", text))
    target_steps = probe_target_steps(
        settings, image_shape, lambda name: speeds[name, "batch"], device=device,
        n_threads=n_threads, random_state=random_state, images=images,
        memory=memory,
    )  # fmt: skip
    for key, (_, _, note) in target_steps.items():
        name, kind = (key, "") if isinstance(key, str) else (key[0], f" {key[1]}")
        lines.append((f"{settings['models'][name]['name']}{kind} steps", note))
    where = f"cpu, {n_threads} thread{'s' * (n_threads > 1)}" if on_cpu else str(device)
    if device.type == "cuda":
        where += f", {torch.cuda.get_device_name(device)}"
    if shape != tuple(image_shape):
        where += (
            f"; {format_shape(shape)} crops of the {format_shape(image_shape)} slices"
        )
    seconds = time.perf_counter() - started
    width = max(len(label) for label, _ in lines)
    detail = "\n".join(
        [f"Speed, from a {seconds:.1f} s probe on {where}:"]
        + [f"  {label.ljust(width)}  {text}" for label, text in lines]
    )
    return Throughput(speeds, classifier, where, detail, seconds, target_steps)


def _probe_classifier(settings, device, n_features, n_images, flops_per_second):
    """Seconds per fit and per Adam step of the classifier, or None.

    Fits it (scaler and MLP, as the run does) on random features for one
    epoch and for a few more, after a warm-up fit; the difference is the
    epochs' time. None when that would take more than about a second at
    ``flops_per_second``: its FLOPs then tell its time well enough.
    """
    config = settings["classifier"]
    batch = config["batch_size"]
    n_samples = max(2, min(2 * batch, n_images or 2 * batch))
    n_batches = -(-n_samples // batch)
    extra = 4
    step_flops = 6.0 * min(batch, n_samples) * classifier_weights(settings, n_features)
    if device.type == "cpu" and step_flops * n_batches * (3 + extra) > (
        flops_per_second
    ):
        return None
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n_samples, n_features), dtype=np.float32)
    y = np.arange(n_samples) % 2

    def fit(epochs):
        classifier = make_classifier(
            {**config, "max_epochs": epochs}, device=str(device), random_state=0
        )
        start = time.perf_counter()
        classifier.fit(X, y)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - start

    fit(1)  # warm-up: imports, allocator, kernels
    one, more = fit(1), fit(1 + extra)
    per_step = (more - one) / (extra * n_batches)
    if per_step <= 0:  # timing noise: all of it per step
        return 0.0, more / ((1 + extra) * n_batches)
    return max(0.0, one - n_batches * per_step), per_step


def _speed_text(speed, on_cpu) -> str:
    """``"22.8 GFLOP/s in batches of 16, 24 GFLOP/s in chains (2 images)"``."""

    def layout(config):
        per_worker, workers = config
        if on_cpu:
            return f"{workers} thread{'s' * (workers > 1)} x {per_worker} image" + (
                "s" * (per_worker > 1)
            )
        return f"{per_worker} image{'s' * (per_worker > 1)}"

    batch, chain = (speed.layouts[kind] for kind in ("batch", "chain"))
    speeds = {kind: format_flops(v) for kind, v in speed.flops_per_second.items()}
    if batch == chain:
        return f"{speeds['batch']}/s ({layout(batch)}, for all fits)"
    return (
        f"{speeds['batch']}/s in batches ({layout(batch)}), "
        f"{speeds['chain']}/s in chains ({layout(chain)})"
    )


def estimate(
    stages: list[StagePlan],
    flops_per_second,
    *,
    data_seconds: float | None = None,
    figure_seconds: float | None = FIGURE_SECONDS,
) -> dict:
    """Seconds of each stage, and in all, at the given speed.

    Each stage's INR fits (those the cache does not serve) and classifier
    fits are timed at the given speed, and its ``fixed_seconds`` (cache
    reads, pixel-baseline fits, learned inits' bookkeeping) added; the data
    and the figures come on top, as rows of their own. With a
    :class:`Throughput` whose probe measured the steps to a target PSNR,
    the fits of images that stop at it (a stage's ``target_work``) are
    priced at those expected steps instead of the cap, and the probe's own
    time is a row (``"probe"``): the run probes again before it starts.

    Parameters
    ----------
    stages : list of StagePlan
        From :func:`plan`.
    flops_per_second : float or Throughput
        One speed for all FLOPs (INRs and classifiers), or
        :func:`probe_throughput`'s measure: the INR fits at the speed of
        their model and kind, the classifiers from their probe (else from
        their FLOPs at the mean speed of the independent INR fits).
    data_seconds : float, default=None
        Writing and loading the cohort (:func:`~._costs.data_seconds`);
        None: the data are already loaded (not counted).
    figure_seconds : float, default=FIGURE_SECONDS
        Drawing the figures; None: not counted.

    Returns
    -------
    seconds : dict
        ``{"stages": {name: seconds}, "other": {"probe": seconds, "data":
        seconds, "figures": seconds}, "total": seconds}``; ``other`` holds
        what was counted.
    """
    measured, steps, probe = None, {}, None
    if isinstance(flops_per_second, Throughput):
        steps, probe = flops_per_second.target_steps, flops_per_second.seconds
        speed = flops_per_second.of
        batch = [
            v for (_, k), v in flops_per_second.flops_per_second.items() if k == "batch"
        ]
        classifier_speed = float(np.mean(batch))
        measured = flops_per_second.classifier
    else:
        classifier_speed = float(flops_per_second)
        if not classifier_speed > 0:
            raise ValueError(f"flops_per_second must be > 0, got {flops_per_second}.")

        def speed(model, kind):
            return classifier_speed

    def classifier_seconds(stage):
        if measured is None:
            return stage.classifier_flops / classifier_speed
        per_fit, per_step = measured
        return stage.classifier_fits * per_fit + stage.classifier_steps * per_step

    def saved(stage):
        # The part of the capped FLOPs that the fits stopping at their
        # target, or given up on, do not run.
        return sum(
            (1.0 - expected_fraction(steps, *key)) * f / speed(*key)
            for key, f in getattr(stage, "target_work", {}).items()
        ) + sum(
            (1.0 - expected_fraction(steps, key[0], "noise")) * f / speed(*key)
            for key, f in getattr(stage, "unreachable_work", {}).items()
        )

    seconds = {
        s.name: sum(f / speed(*key) for key, f in s.work.items())
        - saved(s)
        + classifier_seconds(s)
        + s.fixed_seconds
        for s in stages
    }
    counted = (("probe", probe or None), ("data", data_seconds),
               ("figures", figure_seconds))  # fmt: skip
    other = {name: float(value) for name, value in counted if value is not None}
    total = float(sum(seconds.values()) + sum(other.values()))
    return {"stages": seconds, "other": other, "total": total}
