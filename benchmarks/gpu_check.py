"""The project's one GPU check: everything that needs CUDA, in about 5 minutes.

Run on a machine with a GPU (H100/H200 class), from the repository root::

    python benchmarks/gpu_check.py            # prints a summary at the end
    python benchmarks/gpu_check.py --out DIR  # also writes each step's log

It runs, one after the other, each with its own time limit:

1. the device-parametrized tests on CUDA (``pytest -k cuda``: the engine's
   gradients against autograd, every fitting path, rendering, the
   classifier, and a K-FAC fit against the same fit on the CPU, on
   ``cuda``);
2. ``benchmarks/bench_fit.py --device cuda --quick``;
3. ``benchmarks/bench_quality.py --device cuda --quick``;
4. the ``paper`` preset's plan and estimated duration
   (``sklearn-inr reproduce --preset paper --dry-run --device cuda``);
5. the ``cpu-paper`` preset's plan on the GPU (the paper's network at
   240 x 240, leak-free rows), for its duration there.

A step that fails or runs out of time is reported and the next one runs.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import torch

STEPS = [
    ("CUDA tests", [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                    "-k", "cuda", "tests"], 120),
    ("bench_fit", [sys.executable, "benchmarks/bench_fit.py", "--device", "cuda",
                   "--quick"], 60),
    ("bench_quality", [sys.executable, "benchmarks/bench_quality.py", "--device",
                       "cuda", "--quick"], 90),
    ("paper estimate", [sys.executable, "-m", "sklearn_inr", "reproduce",
                        "--preset", "paper", "--dry-run", "--device", "cuda"], 30),
    ("cpu-paper estimate", [sys.executable, "-m", "sklearn_inr", "reproduce",
                            "--preset", "cpu-paper", "--dry-run", "--device",
                            "cuda"], 60),
]  # fmt: skip


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="folder for each step's log")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("No CUDA device: nothing to check here (the CPU CI covers the rest).")
        return 1
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name(0)}", flush=True)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
    summary = []
    for name, command, limit in STEPS:
        start = time.perf_counter()
        try:
            done = subprocess.run(command, capture_output=True, text=True,
                                  timeout=limit)  # fmt: skip
            output, status = done.stdout + done.stderr, f"exit {done.returncode}"
        except subprocess.TimeoutExpired as expired:
            output = (expired.stdout or b"").decode() + (expired.stderr or b"").decode()
            status = f"timed out after {limit} s"
        seconds = time.perf_counter() - start
        print(f"\n## {name} ({status}, {seconds:.0f} s)\n{output[-6000:]}", flush=True)
        if args.out is not None:
            (args.out / f"{name.replace(' ', '_')}.log").write_text(output)
        summary.append((name, status, seconds))
    print("\n| step | result | seconds |\n|---|---|---|")
    for name, status, seconds in summary:
        print(f"| {name} | {status} | {seconds:.0f} |")
    return int(any(status != "exit 0" for _, status, _ in summary))


if __name__ == "__main__":
    sys.exit(main())
