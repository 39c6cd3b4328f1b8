"""Throughput of INR featurization: one process, loky workers, a Dask cluster.

The same images and settings are fitted, side by side in one run, with

- ``n_jobs=1``: one process, torch using every core;
- ``n_jobs=2``: two loky worker processes, one torch thread per core each;
- a 2-worker Dask ``LocalCluster`` (processes) under
  ``joblib.parallel_config(backend="dask")``.

It prints images per second, the speed-up over ``n_jobs=1``, and the largest
theta difference from the ``n_jobs=1`` run relative to the update size
(``max |theta - init|``; the engine promises < 1e-3). Worker start-up is
excluded: each parallel set-up is warmed up on a small call first.

Run: ``python benchmarks/bench_scale.py`` (about a minute on 2 CPU cores;
needs the ``dask`` extra for the cluster row).
"""

from __future__ import annotations

import argparse
import time

import joblib
import numpy as np

from sklearn_inr import INRSpec, fit_inrs


def _images(n, side, seed=0):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:side, 0:side] / (side - 1)
    freq = rng.uniform(1, 4, size=(n, 1, 1))
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1, 1))
    return (0.5 + 0.4 * np.sin(freq * np.pi * x + phase) * np.cos(np.pi * y)).astype(
        np.float32
    )


def _timed(images, settings, **kwargs):
    fit_inrs(images[:4], **{**settings, "n_steps": 2}, **kwargs)  # warm up workers
    start = time.perf_counter()
    theta = fit_inrs(images, **settings, **kwargs).theta
    return len(images) / (time.perf_counter() - start), theta


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-images", type=int, default=64)
    parser.add_argument("--side", type=int, default=32)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--hidden-layers", type=int, default=3)
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args(argv)

    settings = dict(
        hidden_features=args.width,
        hidden_layers=args.hidden_layers,
        n_steps=args.steps,
        lr=1e-4,
        random_state=0,
    )
    images = _images(args.n_images, args.side)
    init = INRSpec(hidden_features=args.width, hidden_layers=args.hidden_layers)
    init = init.init_theta(0)
    print(
        f"{args.n_images} images {args.side}x{args.side}, SIREN width {args.width}, "
        f"{args.hidden_layers} hidden layers, {args.steps} steps, lr 1e-4, bce"
    )

    rows = []
    base_rate, base_theta = _timed(images, settings, n_jobs=1)
    update = np.abs(base_theta - init).max()
    rows.append(("n_jobs=1", base_rate, 0.0))
    rate, theta = _timed(images, settings, n_jobs=2)
    rows.append(("n_jobs=2 (loky)", rate, np.abs(theta - base_theta).max() / update))
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        print("(dask[distributed] is not installed: no cluster row)")
    else:
        with (
            LocalCluster(
                n_workers=2,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
            ) as cluster,
            Client(cluster),
        ):
            with joblib.parallel_config(backend="dask"):
                rate, theta = _timed(images, settings)
        rows.append(
            (
                "Dask LocalCluster, 2 workers",
                rate,
                np.abs(theta - base_theta).max() / update,
            )
        )

    print("| dispatch | images/s | speed-up | max diff / update size |")
    print("|---|---|---|---|")
    for name, rate, diff in rows:
        print(f"| {name} | {rate:.2f} | {rate / base_rate:.2f}x | {diff:.1e} |")


if __name__ == "__main__":
    main()
