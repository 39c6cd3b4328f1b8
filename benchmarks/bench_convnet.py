"""The CNN baseline's memory layout and precision, side by side.

``ConvNetModule`` keeps its convolution weights and its inputs
channels-last (NHWC), where oneDNN's CPU convolutions are fastest. This
times, side by side in one run, training steps (forward, backward, Adam) of
the default network (channels 8, 16, 32) on batches of 16 slices in both
layouts, at the cpu presets' 64 x 64 and the cpu-240 presets' 240 x 240, and
one whole ``ConvNetClassifier`` fit of 120 slices of 240 x 240 (5 epochs)
each way. It also prints the largest difference between the two layouts'
logits (the same function, to rounding).

A second table times ``precision="bf16"`` (the convolutions under bfloat16
autocast, channels-last both ways) against float32 the same way, and a
third scores both on the cohort's 240 x 240 slices: the 5-fold grouped
cross-validated accuracy of ``ConvNetClassifier(max_epochs=30)``, the
cpu-240 preset's CNN row, each precision on the same folds.

Run: ``python benchmarks/bench_convnet.py`` (about six minutes on 2 CPU
cores; ``--skip-accuracy``: one).
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings

import numpy as np
import torch

from sklearn_inr import ConvNetClassifier
from sklearn_inr.estimators._convnet_module import ConvNetModule

STEPS = 10


def step_ms(side: int, channels_last: bool, precision: str = "fp32") -> float:
    """Milliseconds per training step of a batch of 16 slices of ``side``."""
    torch.manual_seed(0)
    module = ConvNetModule(
        channels=(8, 16, 32), channels_last=channels_last, precision=precision
    )
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-3)
    X, y = torch.rand(16, 1, side, side), torch.rand(16, 1)
    for step in range(STEPS + 2):
        if step == 2:  # after the warm-up steps
            start = time.perf_counter()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(module(X), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return 1000 * (time.perf_counter() - start) / STEPS


def fit_seconds(channels_last: bool, precision: str = "fp32") -> float:
    """Seconds of one ConvNetClassifier fit, 120 slices of 240 x 240."""
    rng = np.random.default_rng(0)
    X = rng.random((120, 240, 240)).astype(np.float32)
    y = rng.integers(0, 2, 120)
    original = ConvNetModule.__init__

    def layout(self, *args, **kwargs):
        original(self, *args, **kwargs, channels_last=channels_last)

    ConvNetModule.__init__ = layout
    try:
        start = time.perf_counter()
        ConvNetClassifier(max_epochs=5, precision=precision, random_state=0).fit(X, y)
        return time.perf_counter() - start
    finally:
        ConvNetModule.__init__ = original


def largest_difference() -> float:
    torch.manual_seed(0)
    fast = ConvNetModule(channels=(8, 16, 32))
    plain = ConvNetModule(channels=(8, 16, 32), channels_last=False)
    plain.load_state_dict(fast.state_dict())
    X = torch.rand(8, 1, 240, 240)
    with torch.no_grad():
        return float((fast(X) - plain(X)).abs().max())


def cohort_accuracy(precision: str) -> float:
    """Grouped 5-fold accuracy of cpu-240's CNN on 75 patients' 240 x 240 slices."""
    from sklearn.model_selection import StratifiedGroupKFold, cross_val_score

    from sklearn_inr.datasets import load_brats_slices, make_brats_like

    with tempfile.TemporaryDirectory() as tmp:
        root = make_brats_like(tmp, 75, (240, 240, 60), random_state=0)
        bunch = load_brats_slices(root, size=240)
    cv = StratifiedGroupKFold(n_splits=5, shuffle=True, random_state=0)
    clf = ConvNetClassifier(max_epochs=30, precision=precision, random_state=0)
    scores = cross_val_score(
        clf, bunch.images, bunch.target, groups=bunch.groups, cv=cv
    )
    return float(scores.mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-accuracy", action="store_true")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("| what | default layout | channels-last | speed-up |")
    print("|---|---|---|---|")
    for side in (64, 240):
        before, after = step_ms(side, False), step_ms(side, True)
        print(
            f"| step, 16 slices of {side} x {side} | {before:.1f} ms | "
            f"{after:.1f} ms | {before / after:.2f}x |"
        )
    before, after = fit_seconds(False), fit_seconds(True)
    print(
        f"| ConvNetClassifier fit, 120 slices of 240 x 240, 5 epochs | "
        f"{before:.2f} s | {after:.2f} s | {before / after:.2f}x |"
    )
    print(f"largest logit difference between the layouts: {largest_difference():.1e}")
    print()
    print("| what | float32 | bfloat16 autocast | speed-up |")
    print("|---|---|---|---|")
    for side in (64, 240):
        before, after = step_ms(side, True), step_ms(side, True, "bf16")
        print(
            f"| step, 16 slices of {side} x {side} | {before:.1f} ms | "
            f"{after:.1f} ms | {before / after:.2f}x |"
        )
    before, after = fit_seconds(True), fit_seconds(True, "bf16")
    print(
        f"| ConvNetClassifier fit, 120 slices of 240 x 240, 5 epochs | "
        f"{before:.2f} s | {after:.2f} s | {before / after:.2f}x |"
    )
    if args.skip_accuracy:
        return
    print()
    print("| precision | 5-fold grouped accuracy, 150 slices of 240 x 240 |")
    print("|---|---|")
    for precision in ("fp32", "bf16"):
        print(f"| {precision} | {cohort_accuracy(precision):.3f} |")


if __name__ == "__main__":
    main()
