"""Why the cpu presets' leak-free fits are set as they are: steps and PSNR.

On FLAIR slices of the default cohort (``make_brats_like``, 96 x 96 x 60,
loaded at 64 x 64), one run, side by side:

- TinySIREN (width 64, 3 hidden layers) from the shared init to
  ``target_psnr=38`` at lr 1e-3 and 2e-3 (the preset's), at most 500 steps:
  mean and largest step counts, PSNR median, 10th percentile and minimum;
- SmallMLP_INR (ReLU, width 64, 3 hidden layers, lr 1e-3) for 1,500 fixed
  steps: the PSNR a ReLU MLP on raw coordinates reaches, and its time.

With ``--size 240``, the cpu-240 preset's: FLAIR slices at 240 x 240
(cohort 240 x 240 x 60), TinySIREN with bfloat16 products to
``target_psnr=35``:

- from the shared init, lr 2e-3, at most 300 steps;
- from an init meta-learned by the preset's recipe (Reptile on the 64 x 64
  slices of a 16-patient calibration cohort of another seed, 10 inner steps
  at the fit's lr) with 30, 100 (the preset's) and 300 meta steps, lr 2e-3,
  at most 200 steps, and with 100 meta steps at lr 3e-3. The learning's time
  is its own column.

Run: ``python benchmarks/bench_preset.py`` (about 3 minutes on 2 CPU cores;
``--slices`` sets how many slices each row fits: 16 for SIREN, a quarter of
it for the slow ReLU row); ``--size 240 --slices 8`` (19 minutes on one
thread, measured).
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch

from sklearn_inr import fit_inrs
from sklearn_inr.datasets import load_brats_slices, make_brats_like
from sklearn_inr.experiments import get_preset
from sklearn_inr.experiments._protocols import learned_init

NETWORK = dict(hidden_features=64, hidden_layers=3, random_state=0)
ROWS = [
    ("TinySIREN, lr 1e-3, to 38 dB", dict(model="siren", lr=1e-3, n_steps=500,
                                          target_psnr=38.0)),
    ("TinySIREN, lr 2e-3, to 38 dB", dict(model="siren", lr=2e-3, n_steps=500,
                                          target_psnr=38.0)),
    ("SmallMLP_INR, lr 1e-3, 1500 steps", dict(model="relu", lr=1e-3,
                                               n_steps=1500, loss="mse")),
]  # fmt: skip


# The cpu-240 rows: (label, meta steps of the learned init or None, lr).
ROWS_240 = [
    ("shared init, lr 2e-3", None, 2e-3),
    ("learned init, 30 meta steps, lr 2e-3", 30, 2e-3),
    ("learned init, 100 meta steps (preset), lr 2e-3", 100, 2e-3),
    ("learned init, 300 meta steps, lr 2e-3", 300, 2e-3),
    ("learned init, 100 meta steps, lr 3e-3", 100, 3e-3),
]


def print_row(label, result, seconds, extra=""):
    psnr = result.psnr
    print(
        f"| {label} | {len(psnr)} | {result.n_steps.mean():.0f} | "
        f"{result.n_steps.max()} | {np.median(psnr):.1f} | "
        f"{np.percentile(psnr, 10):.1f} | {psnr.min():.1f} | {seconds:.1f} |" + extra,
        flush=True,
    )


def rows_240(images):
    """The cpu-240 preset's choices, side by side."""
    siren = get_preset("cpu-240")["models"]["siren"]
    print("| fits | slices | mean steps | most steps | PSNR median dB | "
          "PSNR p10 dB | PSNR min dB | wall s | init learned in s |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for label, meta_steps, lr in ROWS_240:
        init, learning, cap = "shared", 0.0, 300
        if meta_steps is not None:
            settings = {**siren, "leak_free": dict(siren["leak_free"], lr=lr)}
            settings["leak_free"]["learned_init"] = dict(
                settings["leak_free"]["learned_init"], meta_steps=meta_steps
            )
            start = time.perf_counter()
            init = learned_init(settings, random_state=0, memory=None, device="cpu")
            learning, cap = time.perf_counter() - start, 200
        start = time.perf_counter()
        result = fit_inrs(images, **NETWORK, lr=lr, n_steps=cap, target_psnr=35.0,
                          init=init, precision="bf16")  # fmt: skip
        print_row(label, result, time.perf_counter() - start, f" {learning:.0f} |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=16)
    parser.add_argument("--size", type=int, default=64, choices=[64, 240])
    args = parser.parse_args(argv)
    shape = (240, 240, 60) if args.size == 240 else (96, 96, 60)
    with tempfile.TemporaryDirectory() as tmp:
        root = make_brats_like(tmp + "/cohort", -(-args.slices // 2), shape, 0)
        images = load_brats_slices(root, size=args.size).images[: args.slices]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    if args.size == 240:
        rows_240(images)
        return
    print(
        "| fits | slices | mean steps | most steps | PSNR median dB | "
        "PSNR p10 dB | PSNR min dB | wall s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for label, params in ROWS:
        subset = images if params["model"] == "siren" else images[: args.slices // 4]
        start = time.perf_counter()
        result = fit_inrs(subset, **NETWORK, **params)
        print_row(label, result, time.perf_counter() - start)


if __name__ == "__main__":
    main()
