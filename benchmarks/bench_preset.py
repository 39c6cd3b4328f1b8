"""Why the cpu preset's leak-free fits are set as they are: steps and PSNR.

On FLAIR slices of the default cohort (``make_brats_like``, 96 x 96 x 60,
loaded at 64 x 64), one run, side by side:

- TinySIREN (width 64, 3 hidden layers) from the shared init to
  ``target_psnr=38`` at lr 1e-3 and 2e-3 (the preset's), at most 500 steps:
  mean and largest step counts, PSNR median, 10th percentile and minimum;
- SmallMLP_INR (ReLU, width 64, 3 hidden layers, lr 1e-3) for 1,500 fixed
  steps: the PSNR a ReLU MLP on raw coordinates reaches, and its time.

Run: ``python benchmarks/bench_preset.py`` (about 3 minutes on 2 CPU cores;
``--slices`` sets how many slices each row fits: 16 for SIREN, a quarter of
it for the slow ReLU row).
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch

from sklearn_inr import fit_inrs
from sklearn_inr.datasets import load_brats_slices, make_brats_like

NETWORK = dict(hidden_features=64, hidden_layers=3, random_state=0)
ROWS = [
    ("TinySIREN, lr 1e-3, to 38 dB", dict(model="siren", lr=1e-3, n_steps=500,
                                          target_psnr=38.0)),
    ("TinySIREN, lr 2e-3, to 38 dB", dict(model="siren", lr=2e-3, n_steps=500,
                                          target_psnr=38.0)),
    ("SmallMLP_INR, lr 1e-3, 1500 steps", dict(model="relu", lr=1e-3,
                                               n_steps=1500, loss="mse")),
]  # fmt: skip


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=16)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = make_brats_like(tmp + "/cohort", -(-args.slices // 2), (96, 96, 60), 0)
        images = load_brats_slices(root, size=64).images[: args.slices]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(
        "| fits | slices | mean steps | most steps | PSNR median dB | "
        "PSNR p10 dB | PSNR min dB | wall s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for label, params in ROWS:
        subset = images if params["model"] == "siren" else images[: args.slices // 4]
        start = time.perf_counter()
        result = fit_inrs(subset, **NETWORK, **params)
        seconds = time.perf_counter() - start
        psnr = result.psnr
        print(
            f"| {label} | {len(subset)} | {result.n_steps.mean():.0f} | "
            f"{result.n_steps.max()} | {np.median(psnr):.1f} | "
            f"{np.percentile(psnr, 10):.1f} | {psnr.min():.1f} | {seconds:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
