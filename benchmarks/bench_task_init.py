"""Held-out digit accuracy of theta from a task-aware, a Reptile and a shared init.

scikit-learn's digits (8x8, scaled to [0, 1]) are split once into training
and held-out halves (stratified). Each initialisation is learned on the
training half only: ``shared`` is the random draw every init starts from,
``meta`` is Reptile (:func:`~sklearn_inr.meta_learn_init`, no labels), and
``task`` is :func:`~sklearn_inr.task_learn_init` (labels in the loop), with
second- and first-order gradients and with or without the reconstruction
term. Every image, training or held-out, is then fitted from that init with
the engine for the same ``n_steps`` (what ``INRFeaturizer.transform`` does),
and one classifier (StandardScaler + LogisticRegression(C=0.1)) is trained on
the training thetas and scored on the held-out ones.

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

from sklearn_inr import INRSpec, fit_inrs, meta_learn_init, task_learn_init

# The network and fit of benchmarks/bench_digits.py's meta rows: a
# 2 -> 32 -> 32 -> 32 -> 1 SIREN (2,241 weights), omega_0=10, lr=1e-3,
# 20 steps per image from the learned init.
SPEC = INRSpec(hidden_features=32, hidden_layers=2, omega_0=10.0)
LR, N_STEPS = 1e-3, 20
# The same meta-learning budget for both learned inits: 100 outer steps of
# 16 images x 10 inner steps.
META = dict(meta_steps=100, inner_steps=10, meta_batch_size=16, inner_lr=LR)


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
    inits = {
        "shared": lambda: start,
        "meta (Reptile)": lambda: meta_learn_init(
            images[train], SPEC, init_theta=start, **META, **common
        ),
    }
    for order, second in (("2nd", True), ("1st", False)):
        for weight in (1.0, 0.0):
            inits[f"task ({order} order, recon weight {weight:g})"] = (
                lambda second=second, weight=weight: task_learn_init(
                    images[train], y[train], SPEC, init_theta=start,
                    meta_lr=LR * META["inner_steps"],
                    second_order=second, reconstruction_weight=weight,
                    **META, **common,
                )
            )  # fmt: skip

    print(
        f"{len(y)} digits ({len(train)} train / {len(test)} held out), SIREN "
        f"{SPEC.hidden_features}x{SPEC.hidden_layers} omega_0={SPEC.omega_0:g}, "
        f"lr={LR:g}, n_steps={N_STEPS}, seed {args.seed}",
        flush=True,
    )
    rows = []
    for name, learn in inits.items():
        tic = time.perf_counter()
        phi = learn()
        learn_s = time.perf_counter() - tic
        result = fit_inrs(
            images, init=phi, lr=LR, n_steps=N_STEPS, model=SPEC.model,
            hidden_features=SPEC.hidden_features,
            hidden_layers=SPEC.hidden_layers, omega_0=SPEC.omega_0, **common,
        )  # fmt: skip
        classifier = make_pipeline(
            StandardScaler(), LogisticRegression(C=0.1, max_iter=2000)
        )
        classifier.fit(result.theta[train], y[train])
        accuracy = classifier.score(result.theta[test], y[test])
        train_accuracy = classifier.score(result.theta[train], y[train])
        psnr = float(np.median(result.psnr[test]))
        rows.append((name, accuracy, train_accuracy, psnr, learn_s))
        print(f"  {name}: held-out {accuracy:.3f} ({learn_s:.0f} s)", flush=True)

    print()
    print("| init | held-out accuracy | train accuracy | held-out PSNR dB | learn s |")
    print("|---|---|---|---|---|")
    for name, accuracy, train_accuracy, psnr, learn_s in rows:
        print(
            f"| {name} | {accuracy:.3f} | {train_accuracy:.3f} | {psnr:.1f} "
            f"| {learn_s:.0f} |"
        )


if __name__ == "__main__":
    main()
