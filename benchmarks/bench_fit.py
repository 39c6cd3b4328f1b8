"""Speed and memory of the INR fitting engine against a naive per-image loop.

For each size, three measurements run side by side in one invocation, each in
a fresh subprocess (so peak memory is its own):

- ``engine``: :func:`sklearn_inr.fit_inrs`, the batched hand-written kernel;
- ``naive``: one ``nn.Module`` per image with autograd and ``torch.optim.Adam``;
- ``torch.mm``: a plain matrix product of one hidden layer's shape, the
  machine's practical ceiling for the GEMMs that dominate the work;
- ``bf16``: the engine again with ``precision="bf16"`` (bfloat16 products,
  float32 everything else), and its speed-up over the float32 engine.

Work per image-step is counted as 6 x weights x pixels FLOPs (forward, and the
two backward products). The engine fits the images in two batches: on CPU
each batch trains on one thread and the batches run at once, one per core
(the naive loop and ``torch.mm`` use torch's threads instead). The engine's
time per step is the difference between a fit of ``1 + k`` steps and one of
1 step, divided by ``k``: the steady state of a long fit, without the one-off
set-up and final rendering. Peak
memory is the subprocess's peak resident size above its baseline (after
imports and a tiny warm-up fit), compared with the documented formula
(``sklearn_inr.core._engine.bytes_per_batch``).

Run: ``python benchmarks/bench_fit.py`` (about 3 minutes on 2 CPU cores), or
``--quick`` for the two small sizes only. ``--device cuda`` adds GPU numbers.
``--under-load`` instead times the engine on the quiet machine and again
while two CPU-bound processes (started by the script) compete for the
cores, and prints the slowdown (a fair share of 2 cores would be 2x).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import time

import numpy as np
import torch

# (label, image side, width, hidden_layers, images, batch, engine steps, naive steps)
SIZES = [
    ("32x32, width 64, 3 hidden", 32, 64, 3, 16, 8, 40, 40),
    ("32x32, paper net", 32, 256, 4, 8, 4, 10, 10),
    ("64x64, paper net", 64, 256, 4, 4, 2, 5, 5),
    ("240x240, paper net, 4 images", 240, 256, 4, 4, 2, 3, 2),
    # cpu-240's network, one image per batch (as its auto batch size gives).
    ("240x240, width 64, 3 hidden, 4 images", 240, 64, 3, 4, 1, 10, 3),
]


def _peak_rss_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _images(n, side):
    y, x = np.mgrid[0:side, 0:side] / (side - 1)
    phase = np.arange(n)[:, None, None] / n
    return (0.5 + 0.4 * np.sin(2 * np.pi * (x + phase)) * np.cos(np.pi * y)).astype(
        np.float32
    )


def _engine(queue, side, width, depth, n, batch, steps, device, precision="fp32"):
    from sklearn_inr import INRSpec, fit_inrs

    try:
        from sklearn_inr.core import bytes_per_batch
    except ImportError:  # a tree from before the layered layout (compare_trees)
        from sklearn_inr._engine import bytes_per_batch

    images = _images(n, side)
    kwargs = dict(
        hidden_features=width,
        hidden_layers=depth,
        lr=1e-4,
        batch_size=batch,
        device=device,
        precision=precision,
        random_state=0,
    )
    # Load what the first fit loads lazily, before the memory baseline.
    fit_inrs(_images(1, 4), hidden_features=4, hidden_layers=1, n_steps=1)
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    baseline = _peak_rss_bytes()
    seconds = []
    for n_steps in (1, 1 + steps):
        start = time.perf_counter()
        fit_inrs(images, n_steps=n_steps, **kwargs)
        if device == "cuda":
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - start)
    peak = (
        torch.cuda.max_memory_allocated()
        if device == "cuda"
        else max(0, _peak_rss_bytes() - baseline)
    )
    spec = INRSpec(hidden_features=width, hidden_layers=depth)
    # On CPU, up to one batch per torch thread is in flight at once.
    in_flight = 1 if device == "cuda" else min(torch.get_num_threads(), -(-n // batch))
    formula = in_flight * bytes_per_batch(spec, batch, side * side)
    queue.put(((seconds[1] - seconds[0]) / (n * steps), peak, formula))


def _naive(queue, side, width, depth, n, steps, device):
    import torch.nn.functional as F

    from sklearn_inr import INRSpec, make_coordinates, theta_to_module

    spec = INRSpec(hidden_features=width, hidden_layers=depth)
    images = torch.as_tensor(_images(n, side)).to(device)
    coords = make_coordinates((side, side), device=device)
    init = spec.init_theta(0)

    def run(n_images, n_steps):
        for image in images[:n_images]:
            net = theta_to_module(init, spec).to(device)
            optimizer = torch.optim.Adam(net.parameters(), lr=1e-4)
            target = image.reshape(-1, 1)
            for _ in range(n_steps):
                optimizer.zero_grad()
                F.binary_cross_entropy_with_logits(net(coords), target).backward()
                optimizer.step()

    run(1, 1)
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    run(n, steps)
    if device == "cuda":
        torch.cuda.synchronize()
    seconds_per_image_step = (time.perf_counter() - start) / (n * steps)
    queue.put((seconds_per_image_step,))


def _ceiling(queue, side, width, device):
    a = torch.randn(side * side, width, device=device)
    b = torch.randn(width, width, device=device)
    out = torch.empty(side * side, width, device=device)
    repeats = max(3, int(2e9 / (2 * side * side * width * width)))
    torch.mm(a, b, out=out)
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        torch.mm(a, b, out=out)
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / repeats
    queue.put((2 * side * side * width * width / seconds / 1e9,))


def _in_subprocess(target, *args):
    context = mp.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(queue, *args))
    process.start()
    result = queue.get()
    process.join()
    return result


def _busy(seconds):
    """A CPU-bound process: one core busy for ``seconds``."""
    end, count = time.monotonic() + seconds, 0
    while time.monotonic() < end:
        count += 1


def under_load(sizes, device, n_competitors=2):
    """Engine time quiet and beside ``n_competitors`` busy processes."""
    print(f"| size | quiet ms/img-step | loaded ms/img-step ({n_competitors} "
          "busy processes) | slowdown |")  # fmt: skip
    print("|---|---|---|---|")
    context = mp.get_context("spawn")
    for label, side, width, depth, n, batch, steps, _ in sizes:
        args = (side, width, depth, n, batch, steps, device)
        quiet = _in_subprocess(_engine, *args)[0]
        competitors = [
            context.Process(target=_busy, args=(3600,)) for _ in range(n_competitors)
        ]
        for process in competitors:
            process.start()
        try:
            loaded = _in_subprocess(_engine, *args)[0]
        finally:
            for process in competitors:
                process.terminate()
                process.join()
        print(
            f"| {label} | {quiet * 1e3:.2f} | {loaded * 1e3:.2f} | "
            f"{loaded / quiet:.2f}x |",
            flush=True,
        )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two small sizes only")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument(
        "--under-load",
        action="store_true",
        help="time the engine quiet and beside two busy processes",
    )
    args = parser.parse_args(argv)
    from sklearn_inr import INRSpec

    sizes = SIZES[:2] if args.quick else SIZES
    if args.under_load:
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
        under_load(sizes[:3], args.device)
        return
    print(
        f"torch {torch.__version__}, device {args.device}, "
        f"{torch.get_num_threads()} threads"
    )
    header = (
        "| size | engine ms/img-step | engine GFLOP/s | naive GFLOP/s | "
        "torch.mm GFLOP/s | engine/naive | engine/mm | peak MiB | "
        "formula MiB | bf16 ms/img-step | bf16 speed-up |"
    )
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for label, side, width, depth, n, batch, steps, naive_steps in sizes:
        flops = 6 * INRSpec(hidden_features=width, hidden_layers=depth).n_params
        flops *= side * side
        engine_s, peak, formula = _in_subprocess(
            _engine, side, width, depth, n, batch, steps, args.device
        )
        (naive_s,) = _in_subprocess(
            _naive, side, width, depth, min(n, 4), naive_steps, args.device
        )
        (ceiling,) = _in_subprocess(_ceiling, side, width, args.device)
        bf16_s, _, _ = _in_subprocess(
            _engine, side, width, depth, n, batch, steps, args.device, "bf16"
        )
        engine_gf, naive_gf = flops / engine_s / 1e9, flops / naive_s / 1e9
        print(
            f"| {label} | {engine_s * 1e3:.1f} | {engine_gf:.1f} | {naive_gf:.1f} | "
            f"{ceiling:.1f} | {naive_s / engine_s:.2f}x | "
            f"{engine_gf / ceiling:.0%} | {peak / 2**20:.0f} | {formula / 2**20:.0f} | "
            f"{bf16_s * 1e3:.1f} | {engine_s / bf16_s:.2f}x |"
        )


if __name__ == "__main__":
    main()
