"""Theta from whole volumes against theta from one slice, per patient.

On the synthetic cohort (``make_brats_like``, 96 x 96 x 60 voxels), every
patient has a tumour, so the label is the volume rule of
``load_brats_volumes``: large against small tumour (tumour voxels over brain
voxels above ``--threshold``; by default the cohort's median fraction, so
the classes are balanced). Side by side, one run:

- theta of one 3-D INR per patient (``INRFeaturizer(spatial_ndim=3)``) on
  its FLAIR volume downsampled to ``--volume-size`` (D, H, W);
- theta of one 2-D INR per patient on its tumour slice (the axial slice
  with the most tumour, from ``load_brats_slices``) at ``--slice-size``;
- logistic regression on the voxels and on the pixels of the same inputs.

Both INRs are the same SIREN (width ``--width``, 2 hidden layers, lr 2e-3),
each fitted to ``--target-psnr`` dB with at most ``--max-steps`` steps. Each
row reports the median PSNR and steps, the fitting seconds for all
patients, the number of features and the grouped 5-fold cross-validated
accuracy and balanced accuracy (``StratifiedGroupKFold`` by patient) of
``INRFeaturizer -> StandardScaler -> LogisticRegression``, the featurizer
inside the pipeline (its ``memory=`` cache makes each fold's fits cache hits
of the timed fit: with ``init="shared"`` a patient's theta does not depend
on the fold).

Run: ``python benchmarks/bench_volumes.py`` (40 patients, about 4 minutes
on 2 shared CPU cores); ``--patients``, ``--volume-size``, ``--slice-size``
and ``--width`` change the size.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
import warnings

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_inr import INRFeaturizer
from sklearn_inr.datasets import load_brats_slices, load_brats_volumes, make_brats_like

COHORT_SHAPE = (96, 96, 60)


def cohort(n_patients, volume_size, slice_size, threshold, seed):
    """Volumes, tumour slices, labels and patient ids of the patients in both."""
    with tempfile.TemporaryDirectory() as tmp:
        root = make_brats_like(tmp + "/cohort", n_patients, COHORT_SHAPE, seed)
        volumes = load_brats_volumes(root, size=volume_size)
        slices = load_brats_slices(root, size=slice_size)
    if threshold is None:
        threshold = float(np.median(volumes.tumor_fraction))
    # A patient without a slice pair is skipped by the slice loader.
    tumour = slices.target == 1
    keep = np.isin(volumes.patient_id, slices.patient_id[tumour])
    pid = volumes.patient_id[keep]
    # Both loaders return patients in sorted order: the rows line up.
    assert np.array_equal(pid, slices.patient_id[tumour])
    images = slices.images[tumour]
    y = (volumes.tumor_fraction[keep] > threshold).astype(int)
    return volumes.images[keep], images, y, pid, threshold


def featurizer(spatial_ndim, args, memory):
    return INRFeaturizer(
        spatial_ndim=spatial_ndim,
        hidden_features=args.width,
        hidden_layers=2,
        lr=2e-3,
        n_steps=args.max_steps,
        target_psnr=args.target_psnr,
        device="cpu",
        memory=memory,
        random_state=0,
    )


def classifier():
    return LogisticRegression(max_iter=5000)


def evaluate(model, X, y, pid):
    cv = StratifiedGroupKFold(n_splits=5, shuffle=True, random_state=0)
    with warnings.catch_warnings():
        # The fits' fidelity is reported in its own columns.
        warnings.filterwarnings("ignore", message=".*PSNR")
        scores = cross_validate(
            model, X, y, groups=pid, cv=cv, scoring=("accuracy", "balanced_accuracy")
        )
    acc, bacc = scores["test_accuracy"], scores["test_balanced_accuracy"]
    return f"{acc.mean():.2f} ± {acc.std():.2f} | {bacc.mean():.2f} ± {bacc.std():.2f}"


def theta_row(label, X, y, pid, spatial_ndim, args, memory):
    inr = featurizer(spatial_ndim, args, memory)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*PSNR")
        theta = inr.fit_transform(X)  # fills the cache the folds read
    seconds = time.perf_counter() - start
    model = make_pipeline(featurizer(spatial_ndim, args, memory), StandardScaler(),
                          classifier())  # fmt: skip
    scores = evaluate(model, X, y, pid)
    print(
        f"| {label} | {theta.shape[1]:,} | {np.median(inr.train_psnr_):.1f} | "
        f"{np.median(inr.n_steps_):.0f} | {seconds:.1f} | {scores} |",
        flush=True,
    )


def pixel_row(label, X, y, pid):
    flat = X.reshape(len(X), -1)
    model = make_pipeline(StandardScaler(), classifier())
    print(
        f"| {label} | {flat.shape[1]:,} | - | - | - | {evaluate(model, flat, y, pid)} |"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=40)
    parser.add_argument("--volume-size", type=int, nargs=3, default=(16, 32, 32))
    parser.add_argument("--slice-size", type=int, default=32)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--target-psnr", type=float, default=30.0)
    parser.add_argument("--max-steps", type=int, default=300)
    parser.add_argument("--threshold", type=float, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    volumes, slices, y, pid, threshold = cohort(
        args.patients, tuple(args.volume_size), args.slice_size, args.threshold,
        args.seed,
    )  # fmt: skip
    print(
        f"{platform.machine()} {platform.processor() or ''}, {os.cpu_count()} CPUs, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    print(
        f"{len(y)} patients of shape {COHORT_SHAPE} (seed {args.seed}); label: "
        f"tumour fraction > {threshold:.4f} ({y.sum()} large, {len(y) - y.sum()} "
        f"small); SIREN width {args.width}, 2 hidden layers, lr 2e-3, to "
        f"{args.target_psnr:g} dB, at most {args.max_steps} steps\n"
    )
    print("| features | n features | PSNR median dB | steps median | fit s | "
          "accuracy | balanced accuracy |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    d, h, w = args.volume_size
    s = args.slice_size
    with tempfile.TemporaryDirectory() as memory:
        theta_row(f"theta, volume {d}x{h}x{w}", volumes, y, pid, 3, args, memory)
        theta_row(f"theta, tumour slice {s}x{s}", slices, y, pid, 2, args, memory)
    pixel_row(f"voxels, volume {d}x{h}x{w}", volumes, y, pid)
    pixel_row(f"pixels, tumour slice {s}x{s}", slices, y, pid)


if __name__ == "__main__":
    main()
