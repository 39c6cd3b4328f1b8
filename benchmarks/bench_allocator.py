"""What ``reproduce``'s allocator setting buys: training steps with and without it.

``sklearn-inr reproduce`` asks glibc to serve large blocks from its heap
(:func:`sklearn_inr._cli_reproduce.reuse_freed_memory`) instead of mapping
each afresh. This times, side by side in one run, each in its own fresh
process (the setting is process-wide): the paper's classifier
(``MLPClassifier``, one hidden layer of 256, on 264,193 theta features of
120 images, 5 epochs, batch 32) and the CNN baseline (``ConvNetClassifier``
on 120 slices of 240 x 240, 2 epochs), each twice.

Run: ``python benchmarks/bench_allocator.py`` (about a minute on 2 CPU
cores).
"""

from __future__ import annotations

import subprocess
import sys

CHILD = """
import sys, time, warnings
import numpy as np
warnings.filterwarnings("ignore")
if sys.argv[1] == "1":
    from sklearn_inr._cli_reproduce import reuse_freed_memory
    assert reuse_freed_memory()
from sklearn_inr import ConvNetClassifier, MLPClassifier
rng = np.random.default_rng(0)
y = rng.integers(0, 2, 120)
theta = rng.normal(size=(120, 264193)).astype(np.float32)
slices = rng.random((120, 240, 240)).astype(np.float32)
for name, clf, X in [
    ("classifier", MLPClassifier(max_epochs=5, random_state=0), theta),
    ("CNN", ConvNetClassifier(max_epochs=2, random_state=0), slices),
]:
    start = time.perf_counter()
    clf.fit(X, y)
    print(name, time.perf_counter() - start)
"""


def timings(reuse: bool) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, "1" if reuse else "0"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return {name: float(value) for name, value in map(str.split, out.splitlines())}


def main() -> None:
    rows = {False: [], True: []}
    for _ in range(2):
        for reuse in (False, True):
            rows[reuse].append(timings(reuse))
    print("| model | glibc default s | heap reuse s | speed-up |")
    print("|---|---|---|---|")
    for name in rows[False][0]:
        before = min(r[name] for r in rows[False])
        after = min(r[name] for r in rows[True])
        print(f"| {name} | {before:.2f} | {after:.2f} | {before / after:.2f}x |")


if __name__ == "__main__":
    main()
