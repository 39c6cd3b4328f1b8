"""What a fidelity costs: wall time, steps and FLOPs to reach 30, 35 and 40 dB.

Side by side in one run, for synthetic-cohort FLAIR slices (the embedded
default data) at 64 x 64 and 240 x 240, a width-64 SIREN (2 -> 64 -> 3 x
(64 -> 64) -> 1, lr 1e-3) and the paper's TinySIREN (256 x 4, lr 1e-4), each
from the shared initialisation and from a meta-learned one (Reptile, learned
on other slices of the cohort: its one-off cost is its own column), three
ways of stopping:

- ``target_psnr``: each image stops when it reaches the target (checked
  every 10 steps) and leaves its batch;
- ``fixed, enough``: one step count for every image, the smallest that
  gets every image to the target (the largest of the target run's step
  counts): the best a fixed count can do, known only afterwards;
- ``fixed 1000``: the paper's step count.

Work is counted as 6 x n_params x pixels FLOPs per image-step. Wall times
are measured, except the ``fixed, enough`` ones, which are the ``fixed
1000`` run's measured time per step times the step count. PSNR floor: the
lowest PSNR of the images. Every row runs in float32 and in bfloat16
(``precision="bf16"``: bfloat16 products, float32 everything else).

``--model`` adds INR families beside SIREN (any name of the model table:
``siren``, ``relu``, ``gauss``, ``fourier``; same width, depth, lr and
omega_0 = 30, which each family reads its own way).

Run: ``python benchmarks/bench_quality.py`` (about 30 minutes on 2 CPU
cores: the paper net runs only at 64 x 64 there), ``--quick`` (64 x 64,
width 64, about 4 minutes), ``--device cuda --full`` (every combination);
``--network``, ``--size``, ``--init``, ``--precision`` and ``--model`` pick
a subset. The families side by side, at the size of the user guide's table
(about 10 minutes on 2 CPU cores)::

    python benchmarks/bench_quality.py --quick --images 8 --init shared \
        --precision fp32 --model siren gauss fourier --targets 30 35 \
        --fixed-steps 0
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch

from sklearn_inr import INRSpec, fit_inrs, meta_learn_init
from sklearn_inr.core import model_names
from sklearn_inr.datasets import load_brats_slices, make_brats_like

NETWORKS = {
    "width 64": dict(hidden_features=64, hidden_layers=3, lr=1e-3),
    "paper": dict(hidden_features=256, hidden_layers=4, lr=1e-4),
}
# K-FAC's lr is its step size (1: a full damped Gauss-Newton step), not Adam's.
OPTIMIZER_LR = {"kfac": 1.0}
TARGETS = (30.0, 35.0, 40.0)
PAPER_STEPS = 1000


def cohort_slices(size, n_fit, n_meta, seed=0):
    """FLAIR slices of a synthetic cohort: ``n_fit`` to fit, ``n_meta`` to learn on."""
    n_patients = -(-(n_fit + n_meta) // 2)
    with tempfile.TemporaryDirectory() as tmp:
        # The default run's cohort at 64 x 64; BraTS' native size at 240.
        shape = (240, 240, 155) if size > 96 else (96, 96, 60)
        root = make_brats_like(tmp + "/cohort", n_patients, shape, seed)
        images = load_brats_slices(root, size=size).images
    return images[:n_fit], images[n_fit : n_fit + n_meta]


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start


def learn_init(meta_images, network, init_name, device, model="siren"):
    """The init of ``init_name`` and the seconds it took to learn (float32).

    Learned once per network and data, and shared by both precisions' rows.
    """
    if init_name != "meta":
        return "shared", 0.0
    settings = dict(network)
    lr = settings.pop("lr")
    return timed(
        meta_learn_init,
        meta_images,
        INRSpec(model, **settings),
        meta_steps=50,
        inner_steps=10,
        inner_lr=lr,
        meta_batch_size=8,
        random_state=0,
        device=device,
    )


def run(images, network, init, meta_seconds, device, n_steps_cap, precision,
        model="siren", targets=TARGETS, fixed_steps=PAPER_STEPS,
        optimizer="adam"):  # fmt: skip
    """Rows of the table for one (data, network, init, precision, model, optimizer).

    ``fixed_steps=0`` skips the fixed-count run (its columns then read nan).
    """
    settings = dict(network)
    adam_lr = settings.pop("lr")
    lr = OPTIMIZER_LR.get(optimizer, adam_lr)
    spec = INRSpec(model, **settings)
    n_pixels = int(np.prod(images.shape[1:3]))
    step_flops = 6.0 * spec.n_params * n_pixels
    common = dict(lr=lr, device=device, random_state=0, precision=precision,
                  model=model, optimizer=optimizer, **settings)  # fmt: skip
    if fixed_steps:
        fixed, fixed_seconds = timed(fit_inrs, images, n_steps=fixed_steps,
                                     init=init, **common)  # fmt: skip
        fixed_floor = float(fixed.psnr.min())
    else:
        fixed_seconds, fixed_floor = float("nan"), float("nan")
    seconds_per_step = fixed_seconds / max(fixed_steps, 1)
    rows = []
    for target in targets:
        result, seconds = timed(fit_inrs, images, n_steps=n_steps_cap, init=init,
                                target_psnr=target, **common)  # fmt: skip
        reached = result.psnr >= target
        enough = int(result.n_steps.max())
        rows.append(
            {
                "target": target,
                "reached": f"{int(reached.sum())}/{len(images)}",
                "target_psnr": (
                    seconds,
                    float(result.n_steps.mean()),
                    step_flops * result.n_steps.sum(),
                    float(result.psnr.min()),
                ),  # fmt: skip
                "fixed, enough": (
                    seconds_per_step * enough,
                    float(enough),
                    step_flops * enough * len(images),
                    None,
                ),
                "fixed 1000": (
                    fixed_seconds,
                    float(fixed_steps),
                    step_flops * fixed_steps * len(images),
                    fixed_floor,
                ),  # fmt: skip
                "meta_seconds": meta_seconds,
            }
        )
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="64x64, width 64")
    parser.add_argument("--full", action="store_true", help="every combination")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--images", type=int, default=4, help="slices fitted")
    parser.add_argument(
        "--precision", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"]
    )
    parser.add_argument(
        "--network", nargs="+", choices=sorted(NETWORKS), help="only these networks"
    )
    parser.add_argument(
        "--size", nargs="+", type=int, choices=[64, 240], help="only these sizes"
    )
    parser.add_argument(
        "--init", nargs="+", default=["shared", "meta"], choices=["shared", "meta"]
    )
    parser.add_argument(
        "--model", nargs="+", default=["siren"], choices=model_names(),
        help="INR families, side by side",
    )  # fmt: skip
    parser.add_argument(
        "--optimizer", nargs="+", default=["adam"], choices=["adam", "kfac"],
        help="optimizers, side by side (the last column compares with Adam's)",
    )  # fmt: skip
    parser.add_argument(
        "--max-steps", type=int, default=3000, help="step cap of every fit"
    )
    parser.add_argument("--targets", nargs="+", type=float, default=list(TARGETS))
    parser.add_argument(
        "--fixed-steps", type=int, default=PAPER_STEPS,
        help="step count of the fixed run (0: skip it)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    combos = [(64, "width 64"), (64, "paper"), (240, "width 64")]
    if args.full or (args.size and 240 in args.size and args.network
                     and "paper" in args.network):  # fmt: skip
        combos.append((240, "paper"))
    if args.quick:
        combos = [(64, "width 64")]
    combos = [
        (size, name)
        for size, name in combos
        if (args.size is None or size in args.size)
        and (args.network is None or name in args.network)
    ]
    print(
        f"torch {torch.__version__}, device {args.device}, "
        f"{torch.get_num_threads()} threads, {args.images} slices"
    )
    print(
        "| slices | model | network | init | precision | optimizer | target dB | "
        "reached | stopping | wall s | mean steps | TFLOP | PSNR floor dB | "
        "time / target_psnr time | time / Adam's | meta-learning s |"
    )
    print("|" + "---|" * 16)
    for size, name in combos:
        images, meta_images = cohort_slices(size, args.images, 16)
        if size > 96:
            # As cpu-240 learns its init: on 64 x 64 slices of other
            # patients (a 240 x 240 Reptile step of the paper net costs
            # minutes), applied to the 240 x 240 grid.
            meta_images = cohort_slices(64, 0, 16, seed=1)[1]
        for model in args.model:
            for init_name in args.init:
                init, meta_seconds = learn_init(
                    meta_images, NETWORKS[name], init_name, args.device, model
                )
                for precision in args.precision:
                    adam_rows = None
                    for optimizer in args.optimizer:
                        rows = run(images, NETWORKS[name], init, meta_seconds,
                                   args.device, n_steps_cap=args.max_steps,
                                   precision=precision, model=model,
                                   targets=args.targets,
                                   fixed_steps=args.fixed_steps,
                                   optimizer=optimizer)  # fmt: skip
                        adam_rows = rows if optimizer == "adam" else adam_rows
                        print_rows(rows, f"{size}x{size} | {model} | {name} | "
                                         f"{init_name} | {precision} | {optimizer}",
                                   adam_rows)  # fmt: skip


def print_rows(rows, prefix, adam_rows=None):
    """One line per target and stopping; the last ratio is to Adam's
    ``target_psnr`` wall time at the same target (when Adam ran first)."""
    stoppings = ("target_psnr", "fixed, enough", "fixed 1000")
    for index, row in enumerate(rows):
        baseline = row["target_psnr"][0]
        adam = None if adam_rows is None else adam_rows[index]["target_psnr"][0]
        for stopping in stoppings:
            seconds, steps, flops, floor = row[stopping]
            if np.isnan(seconds):
                continue  # the fixed run was skipped
            floor = "-" if floor is None else f"{floor:.1f}"
            versus_adam = "-" if adam is None else f"{seconds / adam:.2f}x"
            print(
                f"| {prefix} | {row['target']:g} | {row['reached']} | {stopping} | "
                f"{seconds:.1f} | {steps:.0f} | {flops / 1e12:.2f} | {floor} | "
                f"{seconds / baseline:.2f}x | {versus_adam} | "
                f"{row['meta_seconds']:.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
