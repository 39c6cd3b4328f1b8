"""Before and after: bench_fit's engine timing for two checkouts, in one run.

A refactor or an optimisation is measured before and after, on the same
machine, in one run. This script times :func:`bench_fit._engine` (the
steady-state ms per image-step of ``fit_inrs``) for the package of two
source trees, alternating them so that drifts of the machine's speed hit
both, and prints the median of ``--repeats`` runs of each::

    git worktree add /tmp/before <old commit>
    python benchmarks/compare_trees.py /tmp/before        # against this tree
    python benchmarks/compare_trees.py /tmp/before --quick --repeats 3
    python benchmarks/compare_trees.py /tmp/before --only 240x240 --precision bf16

Each timing runs in a fresh process whose ``PYTHONPATH`` points at the tree,
and the script checks that the package was imported from there.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_fit import SIZES  # noqa: E402

_CHILD = """
import json, sys
sys.path.insert(0, {benchmarks!r})
import bench_fit, sklearn_inr
seconds = bench_fit._in_subprocess(bench_fit._engine, *json.loads(sys.argv[1]))[0]
print(json.dumps([sklearn_inr.__file__, seconds]))
"""


def time_tree(tree: Path, args: list) -> float:
    """Seconds per image-step of the package in ``tree``."""
    environment = dict(os.environ, PYTHONPATH=str(tree))
    code = _CHILD.format(benchmarks=str(HERE))
    # Run in the tree: a ``python -c`` child imports from its working folder
    # first.
    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps(args)],
        env=environment, cwd=tree, capture_output=True, text=True, check=True,
    )  # fmt: skip
    path, seconds = json.loads(done.stdout.strip().splitlines()[-1])
    if not Path(path).resolve().is_relative_to(tree.resolve()):
        raise RuntimeError(f"sklearn_inr came from {path}, not from {tree}")
    return seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path, help="the old source tree")
    parser.add_argument(
        "after", type=Path, nargs="?", default=HERE.parent, help="default: this tree"
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="two small sizes only")
    parser.add_argument("--only", default="", help="sizes whose label has this")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    args = parser.parse_args(argv)
    trees = {"before": args.before, "after": args.after}
    print(f"precision {args.precision}")
    print(
        f"| size | batch | before ms/img-step, median of {args.repeats} (range) | "
        "after (range) | after/before speed |"
    )
    print("|---|---|---|---|---|")
    for label, side, width, depth, n, batch, steps, _ in SIZES[
        : 2 if args.quick else None
    ]:
        if args.only not in label:
            continue
        times = {"before": [], "after": []}
        for repeat in range(args.repeats):
            order = list(trees.items())
            for name, tree in order if repeat % 2 == 0 else order[::-1]:
                job = [side, width, depth, n, batch, steps, "cpu", args.precision]
                times[name].append(time_tree(tree, job) * 1e3)
        before, after = (statistics.median(times[k]) for k in ("before", "after"))
        print(
            f"| {label} | {batch} | {before:.2f} ({min(times['before']):.2f}-"
            f"{max(times['before']):.2f}) | {after:.2f} ({min(times['after']):.2f}-"
            f"{max(times['after']):.2f}) | {before / after:.2f}x |",
            flush=True,
        )


if __name__ == "__main__":
    main()
