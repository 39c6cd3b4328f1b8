"""Time to quality: a meta-learned initialisation against the shared one.

For each data set the images are split into a training part, on which
:func:`sklearn_inr.meta_learn_init` (Reptile) learns an initialisation
without labels, and held-out images, on which both initialisations are fitted
with the same Adam learning rate while the mean reconstruction PSNR is
recorded after every step:

- ``brats``: synthetic BraTS-layout slices (:func:`make_brats_like`, 40
  patients at 64x64x40, loaded with ``size=32``), split by patient;
- ``digits``: :func:`sklearn.datasets.load_digits` scaled to [0, 1].

The target is the PSNR the shared init reaches in 1000 steps; the tables give
the steps (and FLOPs, counted as 6 x parameters x pixels per image-step) that
the meta init needs to reach it, and the one-off cost of the meta-learning
(``meta_steps x meta_batch_size x inner_steps`` image-steps), with the number
of images after which it has paid for itself. Both learning rates are run:
the toolkit's default (the paper's 1e-4) and 1e-3, at which the shared init
reaches a much higher PSNR in 1000 steps (a harder target).

Run::

    python benchmarks/bench_meta.py           # about 1.5-3 min on 2 cores
    python benchmarks/bench_meta.py --quick   # digits only, fewer images

and read the markdown tables it prints.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch
from sklearn.datasets import load_digits
from threadpoolctl import threadpool_limits

from sklearn_inr import INRSpec, make_coordinates, meta_learn_init
from sklearn_inr.core import BatchedINR, make_adam

# 2 -> 32 -> 32 -> 32 -> 1 SIREN (2,241 parameters): large enough to reach
# 50 dB on these images, small enough for 1000-step fits on a laptop CPU.
WIDTH, DEPTH = 32, 2
N_STEPS = 1000
META = dict(meta_batch_size=8, inner_steps=10, meta_lr=1.0)
# Outer steps per data set: digits are diverse strokes on 64 pixels, so their
# init needs more steps, which cost little (80,000 image-steps of 8x8 = the
# price of fitting 80 digits for 1000 steps).
META_STEPS = {"brats": 200, "digits": 1000}
SHOWN_STEPS = (0, 1, 5, 10, 25, 50, 100, 250, 500, 1000)


def brats_images(n_patients):
    from sklearn_inr.datasets import load_brats_slices, make_brats_like

    with tempfile.TemporaryDirectory() as root:
        make_brats_like(root, n_patients=n_patients, shape=(64, 64, 40))
        bunch = load_brats_slices(root, size=32)
    # Split by patient: a patient's two slices are never on both sides.
    patients = np.unique(bunch.groups)
    train = np.isin(bunch.groups, patients[: len(patients) * 3 // 4])
    return bunch.images[train], bunch.images[~train], 30.0


def digits_images(n_train, n_test):
    images = (load_digits().images / 16.0).astype(np.float32)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(images))
    # omega_0=10: 8x8 digits have no fine detail (as in bench_digits.py).
    return images[order[:n_train]], images[order[-n_test:]], 10.0


@torch.no_grad()
def psnr_curve(images, theta0, spec, lr, n_steps):
    """Mean PSNR (dB) of the reconstructions after 0..n_steps Adam steps."""
    coords = make_coordinates(images.shape[1:])
    targets = torch.as_tensor(images.reshape(len(images), -1, 1))
    theta = torch.as_tensor(np.tile(theta0, (len(images), 1)))
    net = BatchedINR(spec, theta, coords)
    optimizer = make_adam(net.params, lr)
    curve = np.empty(n_steps + 1)
    for step in range(n_steps + 1):
        output = net.forward()
        mse = (torch.sigmoid(output) - targets).square().mean(dim=(1, 2))
        curve[step] = (-10 * torch.log10(mse.clamp_min(1e-20))).mean().item()
        if step < n_steps:
            net.backward(targets, "bce")
            optimizer.step()
    return curve


def run(name, train, test, omega_0, lr, rows, curves):
    spec = INRSpec(hidden_features=WIDTH, hidden_layers=DEPTH, omega_0=omega_0)
    shared = spec.init_theta(0)
    start = time.perf_counter()
    meta_steps = META_STEPS[name]
    meta = meta_learn_init(
        train,
        spec,
        init_theta=shared,
        inner_lr=lr,
        meta_steps=meta_steps,
        random_state=0,
        **META,
    )
    meta_wall = time.perf_counter() - start
    start = time.perf_counter()
    shared_curve = psnr_curve(test, shared, spec, lr, N_STEPS)
    fit_wall = time.perf_counter() - start
    meta_curve = psnr_curve(test, meta, spec, lr, N_STEPS)
    target = shared_curve[N_STEPS]
    reached = np.flatnonzero(meta_curve >= target)
    steps = int(reached[0]) if len(reached) else None
    flops_step = 6 * spec.n_params * test[0].size
    meta_image_steps = meta_steps * META["meta_batch_size"] * META["inner_steps"]
    rows.append(
        dict(
            data=f"{name} {test.shape[1]}x{test.shape[2]}",
            n=f"{len(train)} / {len(test)}",
            lr=lr,
            target=target,
            steps=steps,
            flops_step=flops_step,
            meta_flops=meta_image_steps * flops_step,
            meta_wall=meta_wall,
            fit_wall=fit_wall / len(test),
            meta_at_50=meta_curve[50],
        )
    )
    curves.append((f"{name}, lr={lr:g}", shared_curve, meta_curve))
    print(
        f"  {name} lr={lr:g}: shared {target:.1f} dB at {N_STEPS} steps; meta "
        f"reaches it in {steps} steps (meta-learning {meta_wall:.1f} s)",
        flush=True,
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="digits only")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    with threadpool_limits(args.threads):
        _run(args)


def _run(args):
    datasets = [("digits", *digits_images(400 if args.quick else 1000, 50))]
    if not args.quick:
        datasets.insert(0, ("brats", *brats_images(40)))
    print(
        f"SIREN {WIDTH}x{DEPTH}, Reptile meta_steps={META_STEPS} "
        f"meta_batch_size={META['meta_batch_size']} "
        f"inner_steps={META['inner_steps']} meta_lr={META['meta_lr']:g}",
        flush=True,
    )
    rows, curves = [], []
    for name, train, test, omega_0 in datasets:
        for lr in (1e-4, 1e-3):
            run(name, train, test, omega_0, lr, rows, curves)

    print("\nMean held-out PSNR (dB) after n Adam steps\n")
    print("| data, lr | init | " + " | ".join(map(str, SHOWN_STEPS)) + " |")
    print("|---|---|" + "---|" * len(SHOWN_STEPS))
    for label, shared_curve, meta_curve in curves:
        for init, curve in (("shared", shared_curve), ("meta", meta_curve)):
            cells = " | ".join(f"{curve[s]:.1f}" for s in SHOWN_STEPS)
            print(f"| {label} | {init} | {cells} |")

    print(f"\nSteps and FLOPs per image to reach shared's PSNR at {N_STEPS} steps\n")
    print(
        "| data | train / held-out | lr | target (dB) | shared steps | meta steps "
        "| step ratio | FLOPs/image shared | FLOPs/image meta | meta-learning "
        "FLOPs (once) | break-even images | meta-learning wall (s) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        shared_flops = N_STEPS * r["flops_step"]
        if r["steps"] is None:
            meta_steps, ratio, meta_flops, even = f"> {N_STEPS}", "< 1", "-", "-"
        else:
            steps = max(r["steps"], 1)
            meta_steps, ratio = str(r["steps"]), f"{N_STEPS / steps:.0f}x"
            meta_flops = f"{steps * r['flops_step']:.2e}"
            saved = shared_flops - steps * r["flops_step"]
            even = f"{r['meta_flops'] / saved:.1f}" if saved > 0 else "-"
        print(
            f"| {r['data']} | {r['n']} | {r['lr']:g} | {r['target']:.1f} | "
            f"{N_STEPS} | {meta_steps} | {ratio} | {shared_flops:.2e} | "
            f"{meta_flops} | {r['meta_flops']:.2e} | {even} | "
            f"{r['meta_wall']:.1f} |"
        )


if __name__ == "__main__":
    main()
