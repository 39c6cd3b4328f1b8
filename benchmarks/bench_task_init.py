"""Held-out digit accuracy of theta from a task-aware (MWT), Reptile or shared init.

scikit-learn's digits (8x8, scaled to [0, 1]) are split once into training
and held-out halves (stratified). Each initialisation is learned on the
training half only: ``shared`` is the random draw every init starts from,
``meta`` is Reptile (:func:`~sklearn_inr.meta_learn_init`, no labels), and
``task`` is :func:`~sklearn_inr.task_learn_init` (MWT's recipe: an init and
6 learned steps, a Transformer's cross-entropy in the loop at weight 0.01),
also with the weight 0 (MWT's "WT-sim") and first order. Every image,
training or held-out, is then fitted from that init for the same
``n_steps`` (the task inits' learned steps first, then Adam: what
``INRFeaturizer(init="task").transform`` does), and one classifier
(StandardScaler + LogisticRegression(C=0.1)) is trained on the training
thetas and scored on the held-out ones. Two more rows are MWT's own test
time: the 6 learned steps alone, and the jointly trained Transformer
classifying their offsets.

A held-out split, not cross-validation, because the task-aware init is the
thing under test: the held-out digits never shape it. Run::

    python benchmarks/bench_task_init.py            # all 1797 digits, ~4 min on 1 core
    python benchmarks/bench_task_init.py --quick    # 600 digits, ~2 min

and read the markdown table it prints.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from sklearn_inr import INRSpec, meta_learn_init, task_learn_init, unpack_task_init
from sklearn_inr.fitting import FitSettings, SharedInit, WeightsTrainer, run_fits

# The network and fit of benchmarks/bench_digits.py's meta rows: a
# 2 -> 32 -> 32 -> 32 -> 1 SIREN (2,241 weights), omega_0=10, lr=1e-3,
# 20 steps per image from the learned init.
SPEC = INRSpec(hidden_features=32, hidden_layers=2, omega_0=10.0)
LR, N_STEPS = 1e-3, 20
# Reptile: 100 outer steps of 16 images x 10 inner Adam steps. The task
# inits: MWT's budget, 10 passes over the training images at 16 a step (561
# outer steps here), with its 6 learned steps.
REPTILE = dict(meta_steps=100, meta_batch_size=16, inner_steps=10, inner_lr=LR)
MWT_EPOCHS, MWT_BATCH, MWT_STEPS = 10, 16, 6


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="600 digits")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    with threadpool_limits(args.threads):
        _run(args)


def _run(args):
    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)
    y = digits.target
    if args.quick:
        images, y = images[:600], y[:600]
    train, test = train_test_split(
        np.arange(len(y)), test_size=0.5, stratify=y, random_state=args.seed
    )
    start = SPEC.init_theta(args.seed)
    common = dict(random_state=args.seed, device="cpu")

    mwt = dict(meta_steps=round(MWT_EPOCHS * len(train) / MWT_BATCH),
               meta_batch_size=MWT_BATCH, inner_steps=MWT_STEPS)  # fmt: skip

    def task(**kwargs):
        return lambda: task_learn_init(
            images[train], y[train], SPEC, init_theta=start,
            return_classifier=True, **mwt, **kwargs, **common,
        )  # fmt: skip

    inits = {
        "shared": lambda: (start, None),
        "meta (Reptile)": lambda: (
            meta_learn_init(images[train], SPEC, init_theta=start, **REPTILE, **common),
            None,
        ),
        "task (MWT)": task(),
        "task, classification weight 0 (WT-sim)": task(classification_weight=0.0),
        "task, first order": task(second_order=False),
    }
    print(
        f"{len(y)} digits ({len(train)} train / {len(test)} held out), SIREN "
        f"{SPEC.hidden_features}x{SPEC.hidden_layers} omega_0={SPEC.omega_0:g}, "
        f"lr={LR:g}, n_steps={N_STEPS}, seed {args.seed}",
        flush=True,
    )
    rows = []
    for name, learn in inits.items():
        tic = time.perf_counter()
        params, head = learn()
        learn_s = time.perf_counter() - tic
        theta, step_sizes = (
            (params, None) if head is None else unpack_task_init(params, SPEC)
        )
        result = fit(images, theta, step_sizes, N_STEPS)
        rows.append((name, *score(result, y, train, test), learn_s))
        if head is None:
            continue
        # MWT's test time: the learned steps alone, read by a linear model
        # and by the Transformer trained with the init.
        steps_only = fit(images, theta, step_sizes, MWT_STEPS)
        rows.append((f"{name}, {MWT_STEPS} learned steps only",
                     *score(steps_only, y, train, test), learn_s))  # fmt: skip
        with torch.no_grad():
            offsets = torch.as_tensor(steps_only.theta[test] - theta)
            predicted = head(offsets).argmax(dim=1).numpy()
        accuracy = float((predicted == y[test]).mean())
        psnr = float(np.median(steps_only.psnr[test]))
        rows.append((f"{name}, its Transformer on {MWT_STEPS} learned steps",
                     accuracy, float("nan"), psnr, learn_s))  # fmt: skip
    print()
    print("| init | held-out accuracy | train accuracy | held-out PSNR dB | learn s |")
    print("|---|---|---|---|---|")
    for name, accuracy, train_accuracy, psnr, learn_s in rows:
        print(
            f"| {name} | {accuracy:.3f} | {train_accuracy:.3f} | {psnr:.1f} "
            f"| {learn_s:.0f} |"
        )


def fit(images, theta, step_sizes, n_steps):
    """Every image fitted from ``theta``, the learned steps first."""
    settings = FitSettings(loss="bce", lr=LR, n_steps=n_steps)
    return run_fits(images[..., None], SPEC, settings, SharedInit(theta),
                    WeightsTrainer(step_sizes=step_sizes), device="cpu")  # fmt: skip


def score(result, y, train, test):
    """Held-out and training accuracy of a linear model, held-out PSNR."""
    classifier = make_pipeline(
        StandardScaler(), LogisticRegression(C=0.1, max_iter=2000)
    )
    classifier.fit(result.theta[train], y[train])
    accuracy = classifier.score(result.theta[test], y[test])
    train_accuracy = classifier.score(result.theta[train], y[train])
    return accuracy, train_accuracy, float(np.median(result.psnr[test]))


if __name__ == "__main__":
    main()
