"""How long a reproduction should take: a throughput probe and the estimate.

:func:`probe_throughput` times a few Adam steps of the preset's own networks
at the run's image size (cropped on a CPU), on the run's device and threads,
through the same engine as the fits, and :func:`estimate` turns the FLOPs of
a :func:`~sklearn_inr.experiments._plan.plan` into seconds.
:func:`format_plan` makes the table that ``sklearn-inr reproduce`` prints.
"""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from ..core._device import gemm_dtype, matmul_precision, resolve_device, torch_threads
from ..core._engine import BatchedINR
from ..core._networks import make_coordinates
from ..fitting._runner import CPU_BATCH_PIXELS, auto_batch_size
from ..fitting._training import WeightsTrainer, train
from ._plan import (
    STAGES,
    Stage,
    classifier_weights,
    flops_per_fit,
    inr_spec,
    plan,
)
from ._protocols import PROTOCOLS, fit_params, make_classifier, protocol_models

__all__ = [
    "STAGES",
    "Stage",
    "Throughput",
    "estimate",
    "flops_per_fit",
    "format_duration",
    "format_plan",
    "plan",
    "probe_throughput",
]

# The GPU probe trains at most this many pixels per step (18 paper slices):
# enough to fill the GPU, a fraction of a second per step.
_GPU_PROBE_PIXELS = 2**20


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
        Wall time of the probe.
    """

    flops_per_second: dict
    classifier: tuple | None
    device: str
    detail: str
    seconds: float

    def of(self, model: str, kind: str) -> float:
        """FLOP/s of ``model``'s fits of ``kind`` (``"batch"``, ``"chain"``)."""
        return self.flops_per_second[model, kind]


def _probe_images(image_shape, device_type):
    """The probe's image shape: the run's, cropped on a CPU to a batch's pixels.

    On a CPU the runner trains big images one per thread, chunk by chunk, so
    the speed per pixel does not depend on the image size beyond a batch.
    """
    height, width = image_shape
    if device_type != "cpu" or height * width <= CPU_BATCH_PIXELS:
        return (height, width)
    side = int(math.isqrt(CPU_BATCH_PIXELS))
    return (min(height, side), min(width, CPU_BATCH_PIXELS // min(height, side)))


def _bulk_precision(settings: dict, name: str) -> str:
    """The precision of most of a model's fits: the paper protocol's, unless
    the preset runs only the leak-free fits (the cpu-240 preset)."""
    runs = protocol_models(settings)
    leak_free_only = name not in runs["paper"] and name in runs["leak-free"]
    protocol = "leak-free" if leak_free_only else "paper"
    return fit_params(settings["models"][name], protocol)["precision"]


def _measure(
    spec, model_settings, device, shape, batch, n_workers, target_seconds, precision
):
    """FLOP/s of ``n_workers`` batches of ``batch`` images trained at once.

    As the runner trains them: each batch on one CPU thread, the batches on
    a pool of threads (one batch on a GPU), in ``precision``. Timed after a
    warm-up step.
    """
    coords = make_coordinates(shape, device=device)
    generator = torch.Generator().manual_seed(0)
    work = []
    for worker in range(n_workers):
        thetas = np.stack([spec.init_theta(worker * batch + i) for i in range(batch)])
        net = BatchedINR(spec, torch.tensor(thetas, device=device), coords,
                         gemm_dtype=gemm_dtype(precision))  # fmt: skip
        targets = torch.rand(batch, coords.shape[0], 1, generator=generator)
        work.append((net, WeightsTrainer().bind(net), targets.to(device)))

    def steps(item, n_steps):
        net, bound, targets = item
        kwargs = {"loss": model_settings["loss"], "lr": float(model_settings["lr"])}
        if device.type == "cpu":
            with torch_threads(1):
                train(net, bound, targets, n_steps=n_steps, final=False, **kwargs)
        else:
            train(net, bound, targets, n_steps=n_steps, final=False, **kwargs)

    def timed(n_steps):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        if n_workers == 1:
            steps(work[0], n_steps)
        else:
            with ThreadPoolExecutor(n_workers) as pool:
                list(pool.map(lambda item: steps(item, n_steps), work))
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - start

    with matmul_precision(precision, device):
        warm = timed(1)
        n_steps = int(min(200, max(2, round(target_seconds / max(warm, 1e-6)))))
        seconds = timed(n_steps)
    flops = 6.0 * spec.n_params * math.prod(shape) * batch * n_workers * n_steps
    return flops / seconds


def probe_throughput(
    settings: dict,
    device="auto",
    image_shape=(240, 240),
    *,
    n_images: int | None = None,
    target_seconds: float | None = None,
) -> Throughput:
    """Measure how fast the preset's INRs train here: a few real Adam steps.

    Each model of ``settings`` trains random targets through the fitting
    engine for a warm-up step, then for about ``target_seconds``, as the
    runner would train the run's fits: on a CPU, one batch per thread of the
    run (the preset's ``torch_threads``, else torch's), each at most
    :data:`~sklearn_inr.fitting._runner.CPU_BATCH_PIXELS` pixels (larger images are
    cropped to that); on a GPU, one batch of up to 2**20 pixels. It times
    independent fits (batches of the runner's size) and weight-transfer
    chains (one image per class, two at a time) separately. Then the
    classifier trains a few epochs on random features of the networks' size,
    for its time per fit and per Adam step, unless that alone would take
    seconds (a large network on a CPU: the classifier is then timed from its
    FLOPs, a negligible part of such a run). About 1 to 8 seconds on a CPU,
    a second or two on a GPU.

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

    Returns
    -------
    throughput : Throughput
    """
    started = time.perf_counter()
    device = resolve_device(device)
    on_cpu = device.type == "cpu"
    if target_seconds is None:
        target_seconds = 0.5 if on_cpu else 0.2
    n_threads = (
        (settings.get("torch_threads") or torch.get_num_threads()) if on_cpu else 1
    )
    shape = _probe_images(tuple(image_shape), device.type)
    n_pixels = math.prod(shape)
    speeds, lines = {}, []
    for name, model in settings["models"].items():
        spec = inr_spec(model)
        memory_cap = auto_batch_size(spec, n_pixels, device, 4, n_threads)
        if not on_cpu:
            memory_cap = min(memory_cap, max(1, _GPU_PROBE_PIXELS // n_pixels))
        configs = {}
        for kind, images in (("batch", n_images), ("chain", 2)):
            per_worker = memory_cap
            if images is not None:
                per_worker = min(per_worker, max(1, -(-images // n_threads)))
            workers = n_threads
            if images is not None:
                workers = min(n_threads, -(-images // per_worker))
            configs[kind] = (per_worker, workers)
        measured = {}
        precision = _bulk_precision(settings, name)
        for kind, config in configs.items():
            if config not in measured:
                measured[config] = _measure(
                    spec, model, device, shape, *config, target_seconds, precision
                )
            speeds[name, kind] = measured[config]
        batch, chain = (configs[kind] for kind in ("batch", "chain"))
        text = _speed_text(speeds, name, batch, chain, on_cpu)
        if precision == "bf16":
            text += ", bfloat16 products"
        lines.append((model["name"], text))
    n_features = max(inr_spec(m).n_params for m in settings["models"].values())
    batch_speed = float(np.mean([v for (_, k), v in speeds.items() if k == "batch"]))
    with torch_threads(n_threads) if on_cpu else _nothing():
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
    where = f"cpu, {n_threads} thread{'s' * (n_threads > 1)}" if on_cpu else str(device)
    if device.type == "cuda":
        where += f", {torch.cuda.get_device_name(device)}"
    if shape != tuple(image_shape):
        where += f"; {_shape(shape)} crops of the {_shape(image_shape)} slices"
    seconds = time.perf_counter() - started
    width = max(len(label) for label, _ in lines)
    detail = "\n".join(
        [f"Speed, from a {seconds:.1f} s probe on {where}:"]
        + [f"  {label.ljust(width)}  {text}" for label, text in lines]
    )
    return Throughput(speeds, classifier, where, detail, seconds)


@contextmanager
def _nothing():
    yield


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


def _speed_text(speeds, name, batch, chain, on_cpu) -> str:
    """``"22.8 GFLOP/s in batches of 16, 24 GFLOP/s in chains (2 images)"``."""

    def layout(config):
        per_worker, workers = config
        if on_cpu:
            return f"{workers} thread{'s' * (workers > 1)} x {per_worker} image" + (
                "s" * (per_worker > 1)
            )
        return f"{per_worker} image{'s' * (per_worker > 1)}"

    if batch == chain:
        return f"{_flops(speeds[name, 'batch'])}/s ({layout(batch)}, for all fits)"
    return (
        f"{_flops(speeds[name, 'batch'])}/s in batches ({layout(batch)}), "
        f"{_flops(speeds[name, 'chain'])}/s in chains ({layout(chain)})"
    )


def estimate(stages: list[Stage], flops_per_second) -> dict:
    """Seconds of each stage, and in all, at the given speed.

    Parameters
    ----------
    stages : list of Stage
        From :func:`plan`.
    flops_per_second : float or Throughput
        One speed for all FLOPs (INRs and classifiers), or
        :func:`probe_throughput`'s measure: the INR fits at the speed of
        their model and kind, the classifiers from their probe (else from
        their FLOPs at the mean speed of the independent INR fits).

    Returns
    -------
    seconds : dict
        ``{"stages": {name: seconds}, "total": seconds}``.
    """
    measured = None
    if isinstance(flops_per_second, Throughput):
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

    seconds = {
        s.name: sum(f / speed(*key) for key, f in s.work.items())
        + classifier_seconds(s)
        for s in stages
    }
    return {"stages": seconds, "total": float(sum(seconds.values()))}


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


def _flops(value: float) -> str:
    for unit, scale in (("PFLOP", 1e15), ("TFLOP", 1e12), ("GFLOP", 1e9)):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value / 1e6:.3g} MFLOP"


def _tflop(value: float) -> str:
    tflop = value / 1e12
    if tflop == 0:
        return "0"
    return f"{tflop:,.0f}" if tflop >= 100 else f"{tflop:.3g}"


def _shape(shape) -> str:
    return " x ".join(map(str, shape))


def format_plan(
    stages: list[Stage],
    seconds: dict,
    throughput: Throughput | None = None,
    *,
    settings: dict | None = None,
    image_shape=None,
    title: str = "Plan",
) -> str:
    """The plan and its estimated duration, as ``sklearn-inr reproduce`` prints it.

    Parameters
    ----------
    stages : list of Stage
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
    rows = [
        (
            s.name,
            f"{s.fits:,}",
            _tflop(s.flops),
            format_duration(seconds["stages"][s.name])
            if s.fits or s.classifier_fits
            else "-",
            s.note,
        )
        for s in stages
    ]
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
                f"steps = {_flops(f)}"
                for p, n, f in per_fit
            )
            + " per fit"
        )
    n_classifiers = sum(s.classifier_fits for s in stages)
    if throughput is not None and throughput.classifier is not None:
        how = "from its probe"
    else:
        flops = _flops(sum(s.classifier_flops for s in stages))
        how = f"roughly, from its FLOPs ({flops}) at the speed of the INR batches"
    lines.append(
        f"An estimate from that probe, not a measurement: INR fits{cost}, timed at "
        f"the probed speed; the classifier's training ({n_classifiers} fits) "
        f"is included {how}; the pixel baseline, the data and the figures are "
        "not. Fits already in the cache are not fitted again."
    )
    return "\n".join(lines)
