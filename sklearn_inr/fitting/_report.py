"""What a fit tells its user: progress, the expected cost, early warnings.

:class:`FitReport` is the runner's voice during one call of
:func:`~sklearn_inr.fitting._runner.run_fits`:

- with ``verbose > 0``, a bar of the images done, whose postfix shows the
  step and the median PSNR of the batch being trained (so a long batch, or
  a ``target_psnr`` that is never reached, still shows movement);
- with ``verbose == 0``, one line on stderr with the expected duration,
  when the first steps, timed, project the call beyond
  :data:`COST_NOTICE_SECONDS`.

Neither changes a number: the PSNR shown is a reduction computed beside the
loss on the steps already recorded (see :func:`~sklearn_inr.fitting.train`).
The warnings of this module are said before any fitting.
"""

from __future__ import annotations

import math
import sys
import threading
import time
import warnings

import numpy as np

from .._exceptions import user_stacklevel

__all__ = ["COST_NOTICE_SECONDS", "FitReport", "format_duration", "warn_data_range",
           "warn_memory_budget"]  # fmt: skip

#: A call projected to take longer than this (seconds) says so at verbose=0.
COST_NOTICE_SECONDS = 30.0
# The projection waits for check_every steps of the first batch, or this
# many seconds of it (a step of a large image can take seconds).
_TIMED_SECONDS = 2.0
# The clock of the projection (tests replace it).
_clock = time.perf_counter


def format_duration(seconds: float) -> str:
    """``"45 s"``, ``"2 min 20 s"``, ``"3 h 05 min"``."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def _bytes(n_bytes: float) -> str:
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20)):
        if n_bytes >= size:
            return f"{n_bytes / size:.1f} {unit}"
    return f"{n_bytes / 2**10:.1f} KiB"


class FitReport:
    """Progress and expected cost of one call, in the calling process.

    Parameters
    ----------
    n_todo, n_done : int
        Images to fit, and images already done (read from the cache).
    spec : INRSpec
    settings : FitSettings
    device : str
        Where the fits run, for the cost line.
    verbose : int
    desc : str
        The bar's label.
    """

    def __init__(self, n_todo, n_done, spec, settings, device, verbose, desc):
        self.n_todo, self.spec, self.settings = n_todo, spec, settings
        self.device = device
        self.bar = None
        # No bar when the cache holds every image: a grid search would print
        # one finished bar per test fold and refit.
        if verbose > 0 and n_todo:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=n_todo + n_done, initial=n_done, unit="image",
                            desc=desc)  # fmt: skip
        # The cost line is for the silent default only: a bar already shows
        # the rate and the time left.
        self.project = verbose == 0 and n_todo > 0
        self.lock = threading.Lock()

    def update(self, n_images: int) -> None:
        if self.bar is not None:
            self.bar.update(n_images)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def hooks(self, batch_size: int, n_parallel: int):
        """``(on_step, on_record)`` for :func:`~sklearn_inr.fitting.train`.

        The first batch asked for gets the timing hook; every batch gets the
        postfix hook when there is a bar. ``n_parallel`` batches run at once.
        """
        on_step = on_record = None
        with self.lock:
            timing, self.project = self.project, False
        if timing:
            on_step = self._timer(batch_size, n_parallel)
        if self.bar is not None:
            on_record = self._postfix
        return on_step, on_record

    def _timer(self, batch_size, n_parallel):
        check_every = self.settings.check_every
        state = {"said": False, "start": None, "first": 0}

        def on_step(step):
            if state["said"]:
                return
            if state["start"] is None:
                # The clock starts after the first step: that one also
                # allocates the batch's buffers and warms the kernels, and
                # timing it doubled the projection of short fits.
                state["start"], state["first"] = _clock(), step
                return
            elapsed = _clock() - state["start"]
            timed_steps = step - state["first"]
            if timed_steps < check_every and elapsed < _TIMED_SECONDS:
                return
            state["said"] = True
            rate = batch_size * timed_steps / max(elapsed, 1e-9)  # image-steps/s
            work = self.n_todo * self.settings.n_steps
            seconds = work / (rate * n_parallel)
            if seconds > COST_NOTICE_SECONDS:
                self._say_cost(seconds)

        return on_step

    def _say_cost(self, seconds: float) -> None:
        # One line on stderr, not a warning: it is information about a
        # correct call, not a problem to fix; the warnings filter would also
        # show it only once per session (the default "once per location"),
        # and ``-W error`` would turn a slow fit into an exception.
        images = "INR" if self.n_todo == 1 else "INRs"
        bound = "up to " if self.settings.target_psnr is not None else ""
        print(
            f"Fitting {self.n_todo} {images} ({self.spec.n_params:,} parameters "
            f"each, at most {self.settings.n_steps} steps) will take {bound}about "
            f"{format_duration(seconds)} on {self.device}; pass verbose=1 for "
            "progress, memory= to cache the fits.",
            file=sys.stderr,
            flush=True,
        )

    def _postfix(self, step, losses, mse):
        if mse is None or not len(mse):
            return
        median = float(mse.median())
        text = "inf" if median <= 0 else f"{-10.0 * math.log10(median):.1f}"
        self.bar.set_postfix_str(
            f"step {step}/{self.settings.n_steps}, median PSNR {text} dB",
            refresh=False,
        )


def warn_data_range(images: np.ndarray, loss: str) -> bool:
    """Warn once if ``loss="mse"`` images leave [0, 1]; return whether it warned.

    PSNR (``result.psnr``, ``train_psnr_``, ``score``) and ``target_psnr``
    assume a data range of 1, so on 0-255 data the PSNR is about -48 dB off
    and a target is never reached. (``loss="bce"`` refuses such data.)
    """
    if loss != "mse":
        return False
    low, high = float(images.min()), float(images.max())
    if low >= 0.0 and high <= 1.0:
        return False
    warnings.warn(
        f"loss='mse' images have values in [{low:.6g}, {high:.6g}], beyond [0, 1]: "
        "PSNR (result.psnr, train_psnr_, score) and target_psnr assume a data "
        "range of 1, so they are off and a target may never be reached. Scale "
        "the images to [0, 1] (e.g. divide 8-bit images by 255) for meaningful "
        "PSNRs.",
        UserWarning,
        stacklevel=user_stacklevel(),
    )
    return True


def warn_kfac_step_size(optimizer: str, lr: float) -> None:
    """Warn when K-FAC is given a step size in Adam's range.

    K-FAC's ``lr`` scales a Gauss-Newton step (1 is a full one); at Adam's
    1e-4 it would barely move, and the fit would end unconverged.
    """
    if optimizer == "kfac" and lr < 0.01:
        warnings.warn(
            f"optimizer='kfac' with lr={lr:g}: K-FAC's lr is the fraction of a "
            "damped Gauss-Newton step it takes (about 0.1 to 1; 1 is the "
            "tuned default), not Adam's learning rate, so these fits will "
            "barely move. Use lr=1.0 with optimizer='kfac'.",
            UserWarning,
            stacklevel=user_stacklevel(),
        )


def warn_memory_budget(needed, budget, spec, shape, device_type):
    """Warn when even one image's training memory exceeds the runner's budget."""
    if needed <= budget:
        return False
    warnings.warn(
        f"Training one {'x'.join(str(int(n)) for n in shape)} "
        f"{'image' if len(shape) == 2 else 'volume'} with this network "
        f"(hidden_features={spec.hidden_features}, hidden_layers="
        f"{spec.hidden_layers}, {spec.n_params:,} parameters) needs about "
        f"{_bytes(needed)}, {needed / budget:.1f}x the runner's memory budget "
        f"of {_bytes(budget)} on {device_type}. The fit goes on one image at a "
        "time but may run out of memory; lower hidden_features or "
        "hidden_layers, or fit smaller images.",
        UserWarning,
        stacklevel=user_stacklevel(),
    )
    return True
