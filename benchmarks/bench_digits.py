"""Classify scikit-learn's digits from INR weights, against pixel baselines.

Each 8x8 digit (scaled to [0, 1]) is featurized by a small SIREN with a shared
initialisation; its flattened weights, theta, go through a StandardScaler into
a logistic regression or an :class:`~sklearn_inr.MLPClassifier`. The same
classifiers on the raw pixels are the baselines. Everything is scored by
5-fold stratified cross-validation, with the featurizer inside the pipeline
(its test folds go through ``transform``).

The INR fits are counted (by wrapping the engine's training kernel) for the
theta rows, which share one ``memory=`` cache: the first cross-validation fits
every image once, later ones fit nothing. The last row runs the first
cross-validation again without a cache, for comparison.

The last four rows (issue 8) use ``init="meta"``: a Reptile-learned init,
learned inside the pipeline on each training fold without labels, after which
each digit is fitted for 20 steps instead of 200 (``meta theta``), and shift
modulations of a meta-learned 64 x 3 base, 192 features from 10 steps
(``shift``). Their INR fits count the per-image fits, not the meta-learning's
inner steps (16,000 image-steps per fold, once).

Run::

    python benchmarks/bench_digits.py            # all 1797 digits, ~6 min on 2 cores
    python benchmarks/bench_digits.py --quick    # 400 digits, ~2 min

and read the markdown table it prints.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

import sklearn_inr.fitting._runner as runner
from sklearn_inr import INRFeaturizer, MLPClassifier, WeightStatistics

# Chosen on the first 600 digits (5-fold logistic regression on theta): a
# 2 -> 32 -> 32 -> 32 -> 1 SIREN (2,241 weights). omega_0=10 beat 30 and 5
# (8x8 digits have no fine detail to need high frequencies), lr=1e-3 beat
# 1e-4, and 200 steps reach about 35 dB PSNR.
INR = dict(
    hidden_features=32,
    hidden_layers=2,
    omega_0=10.0,
    lr=1e-3,
    n_steps=200,
    init="shared",
    device="cpu",
    random_state=0,
)

# A meta-learned init (Reptile, inside the pipeline: learned on each training
# fold, without labels) lets each image stop after 20 steps instead of 200.
# Meta-learning costs meta_steps x meta_batch_size x inner_steps = 16,000
# image-steps per fold, once.
META_INR = dict(
    INR, init="meta", n_steps=20, meta_steps=100, inner_steps=10, meta_batch_size=16
)
# Shift modulations (functa) of a meta-learned base: 3 x 64 = 192 features,
# 10 Adam steps at lr=1e-2 per image (chosen on the first 400 digits: the
# 32 x 2 base gave 64 features and 0.93, this one 0.965).
SHIFT_INR = dict(
    META_INR,
    hidden_features=64,
    hidden_layers=3,
    lr=1e-2,
    n_steps=10,
    features="shift",
)


class FitCounter:
    """Count the INRs the runner trains, weights and shifts alike (cache hits
    are not trained)."""

    def __init__(self):
        self.n_images = 0
        self._original = runner._train_batch

    def __call__(self, chunk, local, *args):
        self.n_images += len(local)
        return self._original(chunk, local, *args)

    def __enter__(self):
        runner._train_batch = self
        return self

    def __exit__(self, *exc):
        runner._train_batch = self._original


def logistic():
    # The same regularisation for pixels and theta (C chosen on pixels).
    return LogisticRegression(C=0.1, max_iter=2000)


def mlp():
    return MLPClassifier(
        hidden_layer_sizes=(128,), max_epochs=50, batch_size=64, random_state=0
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="400 digits, ~2 min")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch and BLAS threads (default 1: these networks and tables are "
        "too small to gain from more, and on a shared machine extra threads "
        "mostly spin-wait; on a loaded 2-core box 2 threads ran 5-80x slower)",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    with threadpool_limits(args.threads):
        _run(args)


def _run(args):

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)
    y = digits.target
    if args.quick:
        # The first 400 digits hold every class about 40 times.
        images, y = images[:400], y[:400]
    pixels = images.reshape(len(images), -1)
    cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)

    rows = []

    def run(features, classifier, model, X, cache="-"):
        with FitCounter() as counter:
            start = time.perf_counter()
            scores = cross_val_score(model, X, y, cv=cv)
            wall = time.perf_counter() - start
        fits = counter.n_images if features != "pixels" else "-"
        rows.append((features, classifier, scores, wall, fits, cache))
        print(
            f"  {features} -> {classifier} ({cache}): {scores.mean():.3f} "
            f"in {wall:.1f} s, {fits} INR fits",
            flush=True,
        )

    print(
        f"{len(images)} digits, 5-fold stratified CV, SIREN "
        f"{INR['hidden_features']}x{INR['hidden_layers']} omega_0={INR['omega_0']:g} "
        f"lr={INR['lr']:g} n_steps={INR['n_steps']}, torch threads={args.threads}",
        flush=True,
    )
    run(
        "pixels",
        "LogisticRegression",
        make_pipeline(StandardScaler(), logistic()),
        pixels,
    )
    run("pixels", "MLPClassifier", make_pipeline(StandardScaler(), mlp()), pixels)

    with tempfile.TemporaryDirectory() as memory:
        featurizer = INRFeaturizer(**INR, memory=memory)
        n_params = INRFeaturizer(**INR).fit(images[:1]).n_params_
        theta = f"theta ({n_params})"
        run(
            theta,
            "LogisticRegression",
            make_pipeline(featurizer, StandardScaler(), logistic()),
            images,
            cache="cold cache",
        )
        run(
            theta,
            "MLPClassifier",
            make_pipeline(featurizer, StandardScaler(), mlp()),
            images,
            cache="warm cache",
        )
        stats = WeightStatistics(
            hidden_features=INR["hidden_features"], hidden_layers=INR["hidden_layers"]
        )
        run(
            f"WeightStatistics ({7 * 2 * (INR['hidden_layers'] + 2)})",
            "LogisticRegression",
            make_pipeline(featurizer, stats, StandardScaler(), logistic()),
            images,
            cache="warm cache",
        )
    run(
        theta,
        "LogisticRegression",
        make_pipeline(INRFeaturizer(**INR), StandardScaler(), logistic()),
        images,
        cache="no cache",
    )
    with tempfile.TemporaryDirectory() as memory:
        for label, settings in (
            (f"meta theta ({n_params}), 20 steps", META_INR),
            (f"shift ({64 * 3}), 10 steps", SHIFT_INR),
        ):
            featurizer = INRFeaturizer(**settings, memory=memory)
            for classifier, cache in (
                (logistic(), "cold cache"),
                (mlp(), "warm cache"),
            ):
                run(
                    label,
                    type(classifier).__name__,
                    make_pipeline(featurizer, StandardScaler(), classifier),
                    images,
                    cache=cache,
                )

    print()
    print("| features | classifier | cache | accuracy | wall time (s) | INR fits |")
    print("|---|---|---|---|---|---|")
    for features, classifier, scores, wall, fits, cache in rows:
        print(
            f"| {features} | {classifier} | {cache} | "
            f"{scores.mean():.3f} ± {scores.std():.3f} | {wall:.1f} | {fits} |"
        )


if __name__ == "__main__":
    main()
