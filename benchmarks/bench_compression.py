"""Theta compressed by PCA: accuracy against the number of components.

The paper's future work asks for "PCA ... techniques for theta feature
compression". Each image is fitted once from the shared init (the
weight-space literature's INR of ``bench_weightspace.py``: a SIREN
2 -> 32 -> 32 -> 1, 1,185 weights, MSE, 100 Adam steps); shared-init
featurization reads no label and fits each image on its own, so fitting
every image once is what a pipeline refitted per fold computes, and
``--memory`` caches it. Then, in each split, ``StandardScaler -> PCA(k) ->
MLPClassifier(512, 512)`` (the classifier of ``bench_weightspace.py``) is
fitted on the training part only and scored on the held-out part, for k in
2, 4, 8, 16, 32, 64 and all features (no PCA); the same for PCA on the
pixels, as a reference. A k above the training images (or the features) is
clipped to them: PCA finds no more.

Datasets (``--datasets``):

- ``cohort``: the synthetic BraTS-layout cohort
  (:func:`~sklearn_inr.datasets.make_brats_like`, ``--patients`` patients,
  two slices each resized to 32 x 32), 5-fold ``StratifiedGroupKFold`` by
  patient; mean ± standard deviation over the folds.
- ``digits``: scikit-learn's 1,797 digits (8x8), 30 % held out (stratified),
  ``omega_0=10`` as in ``bench_weightspace.py --digits``.
- ``fashion``: FashionMNIST, 3,000 training / 2,000 validation images drawn
  from the 60,000 training images (Debian package ``dataset-fashion-mnist``);
  says so and is skipped when the package is not installed.

With ``--metanet``, a second table reads the same shared-init theta with
:class:`~sklearn_inr.GraphMetanetClassifier` (``bench_weightspace.py``'s
settings, invariant to permutations and sign flips) for ``neuron_features``
of 2, 4, 8, 16 and 64: its embedding, the readout the classification head
reads, has ``7 * neuron_features + 1`` numbers for this INR (the three input
and output nodes, the mean and max over each of the two hidden layers, the
output bias), to set beside PCA's k.

Run::

    python benchmarks/bench_compression.py --memory /tmp/theta_cache
    python benchmarks/bench_compression.py --datasets fashion
    python benchmarks/bench_compression.py --datasets fashion --metanet

Read the markdown table it prints (and the machine it names).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_weightspace import (  # noqa: E402
    FASHION_DIR,
    INR,
    LR,
    STEPS,
    classifier,
    cohort,
    digits,
    fashion_mnist,
    mlp,
)

from sklearn_inr import INRFeaturizer  # noqa: E402

COMPONENTS = (2, 4, 8, 16, 32, 64, None)  # None: all features, no PCA
NEURON_FEATURES = (2, 4, 8, 16, 64)  # the metanetwork's, with --metanet
DATASETS = ("cohort", "digits", "fashion")


def load(dataset: str, args, tmp: str):
    """Images, labels, splits and omega_0 of ``dataset``; None if absent."""
    if dataset == "cohort":
        return (*cohort(args.seed, args.patients, tmp + "/cohort"), 30.0)
    if dataset == "digits":
        # 8x8 digits have no fine detail to need high frequencies.
        return (*digits(args.seed), 10.0)
    data = fashion_mnist(3000, 2000, args.seed)
    return None if data is None else (*data, 30.0)


def scores(features, y, splits, k, args) -> list:
    """Held-out accuracy of ``StandardScaler -> PCA(k) -> MLP`` per split."""
    out = []
    for train, test in splits:
        steps = [StandardScaler()]
        if k is not None:
            # PCA finds at most min(training images, features) components.
            n = min(k, len(train), features.shape[1])
            steps.append(PCA(n_components=n, random_state=args.seed))
        model = make_pipeline(*steps, mlp(args)).fit(features[train], y[train])
        out.append(model.score(features[test], y[test]))
    return out


def metanet_scores(theta, y, splits, neuron_features, omega_0, args):
    """Held-out accuracy of the graph metanetwork per split, and its embedding size."""
    out, size = [], None
    for train, test in splits:
        # bench_weightspace's graph row, at this width; omega_0: its probes
        # run the INRs as they were fitted.
        model = classifier("graph", args, omega_0=omega_0)
        model.set_params(neuron_features=neuron_features)
        model.fit(theta[train], y[train])
        out.append(model.score(theta[test], y[test]))
        size = model.net_.module_.head.layers[0].in_features
    return out, size


def run_dataset(dataset, args, tmp) -> dict | None:
    data = load(dataset, args, tmp)
    if data is None:
        print(f"{dataset}: not installed ({FASHION_DIR} is missing); skipped.")
        return None
    images, y, splits, omega_0 = data
    tic = time.perf_counter()
    featurizer = INRFeaturizer(
        **INR, init="shared", lr=LR, n_steps=STEPS, omega_0=omega_0,
        memory=args.memory, random_state=args.seed,
    )  # fmt: skip
    theta = featurizer.fit_transform(images)
    fit_s = time.perf_counter() - tic
    pixels = images.reshape(len(images), -1)
    n_train = min(len(train) for train, _ in splits)
    results = {"fit_s": fit_s, "splits": len(splits), "n_train": n_train}
    for name, features in (("theta", theta), ("pixels", pixels)):
        for k in COMPONENTS:
            results[name, k] = scores(features, y, splits, k, args)
        results[name, "n"] = features.shape[1]
    if args.metanet:
        for width in NEURON_FEATURES:
            results["metanet", width] = metanet_scores(
                theta, y, splits, width, omega_0, args
            )
    results["seconds"] = time.perf_counter() - tic
    print(
        f"{dataset}: {len(y)} images, {len(splits)} split(s), INR fits "
        f"{fit_s:.0f} s, all {results['seconds']:.0f} s",
        flush=True,
    )
    return results


def print_table(results: dict) -> None:
    names = list(results)
    print()
    print("| features | k | " + " | ".join(names) + " |")
    print("|---|---:|" + "---:|" * len(names))
    for features in ("theta", "pixels"):
        for k in COMPONENTS:
            cells = []
            for name in names:
                r = results[name]
                if r is None:
                    cells.append("not installed")
                    continue
                s = r[features, k]
                cell = f"{np.mean(s):.3f}"
                if len(s) > 1:
                    cell += f" ± {np.std(s):.3f}"
                if k is not None and k > min(r["n_train"], r[features, "n"]):
                    cell += f" (k={min(r['n_train'], r[features, 'n'])})"
                cells.append(cell)
            shown = "all" if k is None else k
            print(f"| {features} | {shown} | " + " | ".join(cells) + " |")
    if not any(r is not None and ("metanet", 2) in r for r in results.values()):
        return
    print()
    print("| neuron_features | embedding size | " + " | ".join(names) + " |")
    print("|---:|---:|" + "---:|" * len(names))
    for width in NEURON_FEATURES:
        cells, size = [], None
        for name in names:
            r = results[name]
            if r is None:
                cells.append("not installed")
                continue
            s, size = r["metanet", width]
            spread = f" ± {np.std(s):.3f}" if len(s) > 1 else ""
            cells.append(f"{np.mean(s):.3f}{spread}")
        print(f"| {width} | {size} | " + " | ".join(cells) + " |")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", choices=DATASETS,
                        default=list(DATASETS))  # fmt: skip
    parser.add_argument("--patients", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=50,
                        help="classifier epochs (default 50)")  # fmt: skip
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--memory", default=None,
                        help="folder caching every INR fit (array store)")  # fmt: skip
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--metanet", action="store_true",
                        help="the graph metanetwork's embedding sizes too")  # fmt: skip
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(
        f"{datetime.date.today()}, {platform.platform()}, {os.cpu_count()} CPU "
        f"cores, torch {torch.__version__} ({args.threads} thread(s)); SIREN "
        f"2 -> 32 -> 32 -> 1, shared init, MSE, {STEPS} steps; StandardScaler "
        f"-> PCA(k) -> MLPClassifier(512, 512), {args.epochs} epochs; seed "
        f"{args.seed}",
        flush=True,
    )
    start = time.perf_counter()
    with threadpool_limits(args.threads), tempfile.TemporaryDirectory() as tmp:
        results = {name: run_dataset(name, args, tmp) for name in args.datasets}
    labels = {
        "cohort": f"cohort ({args.patients} patients, 5-fold grouped CV)",
        "digits": "digits (30 % held out)",
        "fashion": "FashionMNIST (3,000 / 2,000)",
    }
    print_table({labels[name]: r for name, r in results.items()})
    print(f"\nwall time of the whole run: {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
