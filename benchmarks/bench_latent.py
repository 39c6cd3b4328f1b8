"""Functa latents against shifts and weights, after the same few steps.

On scikit-learn's digits (8x8, scaled to [0, 1], a stratified 70/30 split),
three featurizers are meta-learned on the training digits (no labels) and
then fit every digit in ``--steps`` steps:

- ``latent``: ``features="latent"``, ``latent_dim`` numbers per digit, the
  meta-learned base, map and inner learning rates (second- and first-order
  MAML rows);
- ``shift``: ``features="shift"``, Adam on the shifts of a meta-learned
  base (first-order MAML);
- ``weights``: ``features="weights"``, Adam on all weights from a Reptile
  init.

It reports the held-out PSNR of the reconstructions, the number of
features, the meta-learning time, and the held-out accuracy of a
logistic regression on the standardised features, beside the same on the
raw pixels.

Run::

    python benchmarks/bench_latent.py              # ~3 min on 2 cores
    python benchmarks/bench_latent.py --quick      # 600 digits, fewer meta steps

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

from sklearn_inr import INRFeaturizer, psnr
from sklearn_inr.estimators._strategies import FEATURES
from sklearn_inr.learned._latent import meta_learn_latent

NET = dict(hidden_features=32, hidden_layers=2, omega_0=10.0, device="cpu",
           random_state=0)  # fmt: skip


def accuracy(train, test, y_train, y_test) -> float:
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000))
    return model.fit(train, y_train).score(test, y_test)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--latent-dim", type=int, default=64)
    parser.add_argument("--meta-steps", type=int, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)
    target = digits.target
    if args.quick:
        images, target = images[:600], target[:600]
    meta_steps = args.meta_steps or (200 if args.quick else 500)
    train, test, y_train, y_test = train_test_split(
        images, target, test_size=0.3, stratify=target, random_state=0
    )
    steps = args.steps
    common = dict(init="meta", meta_steps=meta_steps, inner_steps=steps,
                  meta_batch_size=16, n_steps=steps, **NET)  # fmt: skip
    rows = []
    candidates = {
        "latent (2nd order)": dict(features="latent", latent_dim=args.latent_dim,
                                   lr=1e-1),
        "latent (1st order)": dict(features="latent", latent_dim=args.latent_dim,
                                   lr=1e-1, _second_order=False),
        "shift": dict(features="shift", lr=1e-2),
        "weights": dict(features="weights", lr=1e-3),
    }  # fmt: skip
    for name, params in candidates.items():
        params = dict(params)
        second_order = params.pop("_second_order", True)
        featurizer = INRFeaturizer(**common, **params)
        start = time.perf_counter()
        featurizer_fit = featurizer.fit
        if not second_order:
            featurizer_fit = _with_learner(featurizer, _first_order)
        featurizer_fit(train)
        fit_seconds = time.perf_counter() - start
        features_train = featurizer.transform(train)
        features_test = featurizer.transform(test)
        reconstruction = featurizer.inverse_transform(features_test)
        rows.append(
            (
                name,
                features_test.shape[1],
                float(np.mean(psnr(test, reconstruction))),
                accuracy(features_train, features_test, y_train, y_test),
                fit_seconds,
            )
        )
    pixels = accuracy(train.reshape(len(train), -1), test.reshape(len(test), -1),
                      y_train, y_test)  # fmt: skip
    rows.append(("pixels", 64, float("inf"), pixels, 0.0))
    print(
        f"\n{len(train)} training / {len(test)} held-out digits, {steps} steps per "
        f"digit, {meta_steps} meta steps, SIREN 2 -> 32 -> 32 -> 32 -> 1\n"
    )
    print("| features | columns | held-out PSNR (dB) | accuracy | fit (s) |")
    print("|---|---:|---:|---:|---:|")
    for name, columns, value, acc, seconds in rows:
        print(f"| {name} | {columns} | {value:.2f} | {acc:.3f} | {seconds:.1f} |")


def _first_order(*args, **kwargs):
    return meta_learn_latent(*args, second_order=False, **kwargs)


def _with_learner(featurizer, learner):
    """``featurizer.fit`` with the latent strategy's learner swapped."""

    def fit(images):
        latent = FEATURES["latent"]
        original = latent.learn_init
        latent.learn_init = staticmethod(learner)
        try:
            return featurizer.fit(images)
        finally:
            latent.learn_init = original

    return fit


if __name__ == "__main__":
    main()
