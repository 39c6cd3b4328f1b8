"""Weight-space features against pixels on FashionMNIST, digits and the cohort.

Every featurization of :class:`~sklearn_inr.INRFeaturizer` is compared with
the raw pixels, each behind the same classifier (``StandardScaler`` and
``MLPClassifier(hidden_layer_sizes=(512, 512))``), with the weight-space
literature's INR: a SIREN 2 -> 32 -> 32 -> 1 (``hidden_features=32``,
``hidden_layers=1``, 1,185 weights), MSE loss, 100 Adam steps per image.
The rows:

- ``pixels``: the images themselves;
- ``shared theta``: all weights, every image fitted from one random init;
- ``WeightStatistics``: per-layer statistics of the shared theta (no refit);
- ``meta theta``: all weights from a Reptile-learned init (no labels);
- ``shift``: 32 shift modulations of a meta-learned base (no labels);
- ``latent``: functa latents of a meta-learned base, map and inner rates;
- ``task theta``: all weights from MWT's task-aware init
  (:func:`~sklearn_inr.task_learn_init`: an init and 6 learned steps, a
  Transformer's cross-entropy in the loop, training labels only, 10 epochs
  of the training images at 16 a step, as MWT trains), each image taking
  the 6 learned steps and then Adam up to 100 steps
  (``INRFeaturizer(init="task")``);
- ``task-steps``: the same init, each image taking the 6 learned steps
  only (MWT's test time), read by the MLP;
- ``task-head``: the same 6-step offsets read by MWT's own classifier, the
  Transformer trained jointly with the init (no MLP);
- ``random theta``: each image from its own random init, read by
  :class:`~sklearn_inr.PermutationInvariantClassifier` (its own per-layer
  standardisation instead of the ``StandardScaler``);
- ``random-mlp``: the same theta behind the ``StandardScaler`` and MLP;
- ``graph``: the same random-init theta read by
  :class:`~sklearn_inr.GraphMetanetClassifier` (message passing over the
  INR's graph, invariant to permutations and sign flips of hidden neurons,
  with probe features: every neuron's activations at a 14 x 14 grid);
- ``graph-weights``: the same without probe features (theta's numbers
  only), the ablation;
- ``graph-shared``: the shared theta read by the metanetwork with probes;
- ``graph-aligned``: the same with ``aligned=True`` (a learned embedding
  per hidden neuron, each weight standardised on its own, and a readout of
  8 channels of every node and of every weight: no symmetry, since the
  neurons of shared-init INRs correspond), dropout 0.5 and a patience of
  10 epochs.

Every learned init is learned on the training images only; validation
images only go through ``transform``. The columns: validation accuracy, the
number of features, the median validation PSNR of the reconstructions, the
time of ``fit_transform`` on the training images (learning the init and
fitting every training image), and the time to featurize one new image
(``transform`` of the validation images, per image), and the wall time of
the row (featurizing, or reading the cache, and the classifier's fit and
predictions). With several splits
(``--cohort``) or classifier seeds (``--classifier-seeds``: each row's
classifier refitted with each seed on the same features) the accuracy is the
mean ± standard deviation over them. A row that fails says so in the table.

Modes (times on a shared 2-core machine, one torch thread):

- default: FashionMNIST, 3,000 training and 2,000 validation images drawn
  (stratified, seeded) from the 60,000 *training* images of the Debian
  package ``dataset-fashion-mnist``; the official test images (``t10k``)
  are never read. 23 minutes with every row (1,352 s measured, the shared
  fits read from the cache).
- ``--full``: 55,000 training and 5,000 validation images, for pixels and
  the featurizations given by ``--featurizations`` (the best two of the
  default table). 74 minutes (4,441 s, measured) for
  ``--featurizations shared meta``: about 30 minutes per featurization of
  weights (60,000 images at 25 to 28 ms each) and 4 for the pixel MLP.
  ``--full --rows task-steps task-head --task-epochs 5 --threads 2``: half
  MWT's budget (17,188 outer steps, 34 minutes on 2 threads), then the 6
  learned steps of every image.
- ``--digits``: scikit-learn's 1,797 digits (8x8), 30 % held out
  (stratified), ``omega_0=10``. 82 s (measured).
- ``--cohort``: the synthetic BraTS-layout cohort
  (:func:`~sklearn_inr.datasets.make_brats_like`, 30 patients, slices
  resized to 32 x 32), 5-fold ``StratifiedGroupKFold`` by patient, each
  featurizer learned on each training fold. 509 s (measured).

Run::

    python benchmarks/bench_weightspace.py                 # FashionMNIST, 3,000
    python benchmarks/bench_weightspace.py --full --featurizations shared meta
    python benchmarks/bench_weightspace.py --digits
    python benchmarks/bench_weightspace.py --cohort
    python benchmarks/bench_weightspace.py --rows random graph graph-shared
    python benchmarks/bench_weightspace.py --rows shared graph-aligned \
        --classifier-seeds 0 1 2

Install the data with ``sudo apt-get install dataset-fashion-mnist``.
``--memory DIR`` caches every fit in the package's array store, so a rerun
refits nothing. Read the markdown table it prints.
"""

from __future__ import annotations

import argparse
import gzip
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import StratifiedGroupKFold, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from sklearn_inr import (
    GraphMetanetClassifier,
    INRFeaturizer,
    INRSpec,
    MLPClassifier,
    PermutationInvariantClassifier,
    WeightStatistics,
    psnr,
    task_learn_init,
    unpack_task_init,
)
from sklearn_inr.fitting import FitSettings, SharedInit, WeightsTrainer, run_fits

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
# Only the training files: the t10k files are the official test set, kept
# for evaluation outside this benchmark.
FASHION_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")

# The weight-space literature's INR (functa, ScaleGMN, the model zoos):
# 2 -> 32 -> 32 -> 1, MSE, 100 full-batch Adam steps. lr=1e-3 gives about 28 dB
# median on FashionMNIST from the shared init (the issue's "28 dB" row).
INR = dict(hidden_features=32, hidden_layers=1, loss="mse", device="cpu")
STEPS, LR = 100, 1e-3
# One meta-learning budget for every learned init: 200 outer steps of 16
# images x 10 inner steps (32,000 image-steps, the cost of fitting 320
# images; about 3x that for the second-order task and latent learners).
META = dict(meta_steps=200, inner_steps=10, meta_batch_size=16)

FEATURIZATIONS = {
    "shared": dict(init="shared", lr=LR, n_steps=STEPS),
    "meta": dict(init="meta", lr=LR, n_steps=STEPS, **META),
    # Shifts start at zero and want a larger step than weights.
    "shift": dict(init="meta", features="shift", lr=1e-2, n_steps=STEPS, **META),
    # 32 latents for the 32 shifts of the one width -> width layer; the
    # learned per-latent rates start at lr, and each image takes inner_steps.
    "latent": dict(init="meta", features="latent", latent_dim=32, lr=1e-2, **META),
    "random": dict(init="random", lr=LR, n_steps=STEPS),
}
# MWT's recipe for the task rows (task_learn_init's defaults: 6 learned
# steps, classification weight 0.01, a 10-block Transformer) at its batch of
# 16 images; --task-epochs passes over the training images (MWT: 10).
MWT = dict(inner_steps=6, meta_batch_size=16)
TASK_ROWS = ("task", "task-steps", "task-head")
ROWS = ("pixels", "shared", "stats", "meta", "shift", "latent", *TASK_ROWS,
        "random", "random-mlp", "graph", "graph-weights", "graph-shared",
        "graph-aligned")  # fmt: skip
# Rows that read another row's features (fitted once for all).
SOURCES = {
    "stats": "shared",
    "random-mlp": "random",
    "graph": "random",
    "graph-weights": "random",
    "graph-shared": "shared",
    "graph-aligned": "shared",
}
LABELS = {
    "pixels": "pixels",
    "shared": "shared theta",
    "stats": "WeightStatistics of shared theta",
    "meta": "meta theta (Reptile)",
    "shift": "shift (meta base)",
    "latent": "latent (functa)",
    "task": "task theta (MWT init, 6 learned steps + Adam)",
    "task-steps": "task theta (MWT init, 6 learned steps only)",
    "task-head": "task offsets (6 learned steps), MWT's Transformer",
    "random": "random theta",
    "random-mlp": "random theta",
    "graph": "random theta",
    "graph-weights": "random theta, no probes",
    "graph-shared": "shared theta",
    "graph-aligned": "shared theta, aligned=True",
}
# The metanetwork's settings, chosen on the 3,000-image validation split
# (see docs/user_guide/choosing_features.rst for what was tried).
GRAPH = dict(
    probe_grid=14, neuron_features=64, edge_features=16, message_passing_layers=2,
    edge_updates=False, hidden_layer_sizes=(128,), dropout=0.3, lr=1e-3,
    max_epochs=40, early_stopping=True, n_iter_no_change=5,
)  # fmt: skip


# ---------------------------------------------------------------- data
def read_idx(path: Path) -> np.ndarray:
    """An IDX array (the MNIST file format): big-endian dims, then uint8 data."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    if raw[:2] != b"\x00\x00" or raw[2] != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file.")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def fashion_mnist(n_train: int, n_val: int, seed: int):
    """Stratified train/validation images from the 60,000 training images."""
    paths = [FASHION_DIR / name for name in FASHION_FILES]
    if not all(path.exists() for path in paths):
        return None
    images = read_idx(paths[0])
    y = read_idx(paths[1]).astype(np.int64)
    train, val = train_test_split(
        np.arange(len(y)), train_size=n_train, test_size=n_val, stratify=y,
        random_state=seed,
    )  # fmt: skip
    rows = np.concatenate([train, val])
    images = (images[rows] / 255.0).astype(np.float32)
    split = (np.arange(n_train), np.arange(n_train, n_train + n_val))
    return images, y[rows], [split]


def digits(seed: int):
    images = (load_digits().images / 16.0).astype(np.float32)
    y = load_digits().target
    split = train_test_split(
        np.arange(len(y)), test_size=0.3, stratify=y, random_state=seed
    )
    return images, y, [tuple(split)]


def cohort(seed: int, n_patients: int, workdir: str):
    from sklearn_inr.datasets import load_brats_slices, make_brats_like

    root = make_brats_like(workdir, n_patients=n_patients, shape=(64, 64, 40),
                           random_state=seed)  # fmt: skip
    bunch = load_brats_slices(root, size=32)
    cv = StratifiedGroupKFold(n_splits=5, shuffle=True, random_state=seed)
    splits = list(cv.split(bunch.images, bunch.target, bunch.groups))
    return bunch.images.astype(np.float32), bunch.target, splits


# ------------------------------------------------------------- models
def mlp(args) -> MLPClassifier:
    return MLPClassifier(
        hidden_layer_sizes=(512, 512), max_epochs=args.epochs,
        batch_size=args.batch_size, device="cpu", random_state=args.seed,
    )  # fmt: skip


class _Pretrained:
    """MWT's Transformer, trained with its init: ``fit`` does nothing."""

    def __init__(self, head, classes):
        self.head, self.classes = head, classes

    def fit(self, X, y):
        return self

    def score(self, X, y) -> float:
        with torch.no_grad():
            logits = self.head(torch.as_tensor(X, dtype=torch.float32))
        return float((self.classes[logits.argmax(dim=1).numpy()] == y).mean())


def classifier(row: str, args, pretrained=None, omega_0=30.0):
    if row == "task-head":
        return pretrained
    if row == "random":
        # Its own per-layer standardisation: a per-feature StandardScaler
        # would scale the same neuron differently in each position.
        return PermutationInvariantClassifier(
            hidden_features=INR["hidden_features"],
            hidden_layers=INR["hidden_layers"], neuron_features=128,
            hidden_layer_sizes=(512, 512), max_epochs=args.epochs,
            batch_size=args.batch_size, device="cpu", random_state=args.seed,
        )  # fmt: skip
    if row.startswith("graph"):
        # Its own per-layer scaling, which keeps both symmetries; its own
        # epochs, stopped on a tenth of the training images (not --epochs).
        params = dict(GRAPH, probe_grid=0) if row == "graph-weights" else GRAPH
        if row == "graph-aligned":
            # It reads every weight as well, and overfits sooner: more
            # dropout, more patience (chosen on the validation split of
            # --seed 0, before the per-weight scaling and the 8-channel
            # readout: 0.812 with the settings above, 0.822 with these;
            # 0.819-0.820 with lr 3e-4 or weight decay 1e-4 instead).
            params = dict(GRAPH, aligned=True, dropout=0.5, n_iter_no_change=10)
        return GraphMetanetClassifier(
            hidden_features=INR["hidden_features"],
            hidden_layers=INR["hidden_layers"], omega_0=omega_0, **params,
            batch_size=args.batch_size, device="cpu", random_state=args.seed,
        )  # fmt: skip
    if row == "stats":
        stats = WeightStatistics(
            hidden_features=INR["hidden_features"], hidden_layers=INR["hidden_layers"]
        )
        return make_pipeline(stats, StandardScaler(), mlp(args))
    return make_pipeline(StandardScaler(), mlp(args))


def featurize(name, images, y, train, val, args, omega_0):
    """Features of the training and validation images, PSNR and times."""
    params = dict(FEATURIZATIONS[name])
    if "meta_steps" in params:
        params["meta_steps"] = args.meta_steps
    featurizer = INRFeaturizer(
        **INR, **params, omega_0=omega_0, memory=args.memory, random_state=args.seed
    )
    start = time.perf_counter()
    # Only init="task" reads y, and only the training fold's. fit_transform
    # learns the init and fits the training images once (fit alone would fit
    # them too, to record train_psnr_).
    features_train = featurizer.fit_transform(images[train], y[train])
    trained = time.perf_counter()
    features_val = featurizer.transform(images[val])
    seconds = time.perf_counter() - trained
    quality = psnr(images[val], featurizer.inverse_transform(features_val))
    info = {
        "psnr": float(np.median(quality)),
        "train_s": trained - start,
        "fit_ms": 1000 * seconds / len(val),
    }
    return features_train, features_val, info


def featurize_task(images, y, train, val, args, omega_0, rows) -> dict:
    """The task ``rows``' features from one MWT init, and its Transformer."""
    spec = INRSpec(hidden_features=INR["hidden_features"],
                   hidden_layers=INR["hidden_layers"], omega_0=omega_0)  # fmt: skip
    meta_steps = max(1, round(args.task_epochs * len(train) / MWT["meta_batch_size"]))
    start = time.perf_counter()
    params, head = task_learn_init(
        images[train], y[train], spec, meta_steps=meta_steps, loss=INR["loss"],
        return_classifier=True, random_state=args.seed, device="cpu",
        verbose=1, **MWT,
    )  # fmt: skip
    learn_s = time.perf_counter() - start
    theta, step_sizes = unpack_task_init(params, spec)
    out = {}
    # task-head reads task-steps' fits; only the rows asked for are fitted
    # (100 steps of 60,000 images take half an hour).
    needed = {"task"} & set(rows)
    if {"task-steps", "task-head"} & set(rows):
        needed.add("task-steps")
    for row, n_steps in (("task", STEPS), ("task-steps", MWT["inner_steps"])):
        if row not in needed:
            continue
        settings = FitSettings(loss=INR["loss"], lr=LR, n_steps=n_steps)
        tic = time.perf_counter()
        result = run_fits(
            images[..., None], spec, settings, SharedInit(theta),
            WeightsTrainer(step_sizes=step_sizes), device="cpu", memory=args.memory,
        )  # fmt: skip
        info = {
            "psnr": float(np.median(result.psnr[val])),
            "train_s": learn_s,
            "fit_ms": 1000 * (time.perf_counter() - tic) / len(result.theta),
        }
        out[row] = (result.theta[train], result.theta[val], info)
    if "task-steps" in out:
        f_train, f_val, info = out["task-steps"]
        out["task-head"] = (f_train - theta, f_val - theta, info)
    out["pretrained"] = _Pretrained(head, np.unique(y[train]))
    return out


# ---------------------------------------------------------------- run
def evaluate(rows, images, y, splits, args, omega_0):
    """One result dict per row, averaged over the splits."""
    results = {}
    # Rows that read another row's theta (SOURCES) share its fit.
    done = {}
    for row in rows:
        scores, infos, n_features, error = [], [], None, None
        source = SOURCES.get(row, row)
        tic = time.perf_counter()
        try:
            for split, (train, val) in enumerate(splits):
                pretrained = None
                if source == "pixels":
                    f_train = images[train].reshape(len(train), -1)
                    f_val = images[val].reshape(len(val), -1)
                    info = {}
                elif source in TASK_ROWS:
                    task = done.get(("task-init", split)) or featurize_task(
                        images, y, train, val, args, omega_0, rows
                    )
                    done["task-init", split] = task
                    f_train, f_val, info = task[source]
                    pretrained = task["pretrained"]
                else:
                    out = done.get((source, split)) or featurize(
                        source, images, y, train, val, args, omega_0
                    )
                    done[source, split] = out
                    f_train, f_val, info = out
                # The classifier once per --classifier-seeds entry (the
                # features, fitted with --seed, stay the same).
                seeds = [args.seed] if row == "task-head" else args.classifier_seeds
                for seed in seeds:
                    seeded = argparse.Namespace(**{**vars(args), "seed": seed})
                    model = classifier(row, seeded, pretrained, omega_0)
                    model.fit(f_train, y[train])
                    scores.append(model.score(f_val, y[val]))
                infos.append(info)
                if row == "stats":
                    n_features = model[0].transform(f_val[:1]).shape[1]
                else:
                    n_features = f_val.shape[1]
        except Exception as exc:  # noqa: BLE001 - report it in the table
            error = f"failed: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
        result = {"scores": scores, "n_features": n_features, "error": error,
                  "seconds": time.perf_counter() - tic}  # fmt: skip
        for key in ("psnr", "train_s", "fit_ms"):
            values = [info[key] for info in infos if key in info]
            result[key] = float(np.mean(values)) if values else None
        results[row] = result
        shown = error or f"{np.mean(scores):.3f}"
        print(f"  {LABELS[row]}: {shown} ({result['seconds']:.0f} s)", flush=True)
    return results


def print_table(results):
    print()
    print(
        "| features | classifier | validation accuracy | features per image "
        "| median PSNR (dB) | learn init + fit training images (s) "
        "| fit one new image (ms) | row wall time (s) |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for row, r in results.items():
        if row == "random":
            model = "PermutationInvariantClassifier"
        elif row.startswith("graph"):
            model = "GraphMetanetClassifier"
        elif row == "task-head":
            model = "MWT's Transformer, trained with the init"
        else:
            model = "StandardScaler + MLPClassifier(512, 512)"
        if r["error"]:
            print(f"| {LABELS[row]} | {model} | {r['error']} | | | | | |")
            continue
        acc = f"{np.mean(r['scores']):.3f}"
        if len(r["scores"]) > 1:  # over splits and classifier seeds
            acc += f" ± {np.std(r['scores']):.3f}"

        def fmt(value, spec):
            return "-" if value is None else format(value, spec)

        print(
            f"| {LABELS[row]} | {model} | {acc} | {r['n_features']} "
            f"| {fmt(r['psnr'], '.1f')} | {fmt(r['train_s'], '.0f')} "
            f"| {fmt(r['fit_ms'], '.1f')} | {r['seconds']:.0f} |"
        )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--full",
        action="store_true",
        help="FashionMNIST, 55,000 training / 5,000 validation",
    )
    mode.add_argument("--digits", action="store_true", help="load_digits")
    mode.add_argument("--cohort", action="store_true",
                      help="synthetic cohort, grouped 5-fold CV")  # fmt: skip
    parser.add_argument(
        "--featurizations", nargs="+", choices=ROWS[1:], default=None,
        help="rows besides pixels (default: all; with --full, give the best "
        "two of the 3,000-image table)",
    )  # fmt: skip
    parser.add_argument(
        "--rows", nargs="+", choices=ROWS, default=None,
        help="exactly these rows, pixels included only if named (default: "
        "pixels and --featurizations)",
    )  # fmt: skip
    parser.add_argument("--n-train", type=int, default=3000)
    parser.add_argument("--n-val", type=int, default=2000)
    parser.add_argument("--patients", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=50,
                        help="classifier epochs (default 50)")  # fmt: skip
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument(
        "--classifier-seeds", nargs="+", type=int, default=None,
        help="fit each row's classifier once per seed (default: --seed) and "
        "report the mean and standard deviation",
    )  # fmt: skip
    parser.add_argument("--memory", default=None,
                        help="folder caching every INR fit (array store)")  # fmt: skip
    parser.add_argument("--meta-steps", type=int, default=META["meta_steps"],
                        help="outer steps of every learned init")  # fmt: skip
    parser.add_argument("--task-epochs", type=float, default=10,
                        help="passes over the training images of the task "
                        "init's learning, 16 images a step (MWT: 10)")  # fmt: skip
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--inr-width", type=int, default=INR["hidden_features"],
                        help="hidden_features of every INR (default 32)")  # fmt: skip
    parser.add_argument("--inr-hidden-layers", type=int,
                        default=INR["hidden_layers"],
                        help="hidden width -> width layers (default 1)")  # fmt: skip
    args = parser.parse_args(argv)
    # Every row reads the INR's shape from INR; set here, once, so that the
    # fits, the metanetworks and the task init see the same one.
    INR.update(hidden_features=args.inr_width, hidden_layers=args.inr_hidden_layers)
    if args.classifier_seeds is None:
        args.classifier_seeds = [args.seed]
    if args.full and not (args.featurizations or args.rows):
        parser.error("--full needs --featurizations (the best two of the default run)")
    torch.set_num_threads(args.threads)
    with threadpool_limits(args.threads), tempfile.TemporaryDirectory() as tmp:
        _run(args, tmp)


def _run(args, tmp):
    start = time.perf_counter()
    omega_0 = 30.0
    if args.digits:
        name, (images, y, splits) = "digits (8x8), 30 % held out", digits(args.seed)
        # 8x8 digits have no fine detail to need high frequencies.
        omega_0 = 10.0
    elif args.cohort:
        images, y, splits = cohort(args.seed, args.patients, tmp + "/cohort")
        name = (
            f"synthetic cohort, {args.patients} patients, {len(y)} slices at "
            "32x32, 5-fold StratifiedGroupKFold by patient"
        )
    else:
        n_train, n_val = (55000, 5000) if args.full else (args.n_train, args.n_val)
        data = fashion_mnist(n_train, n_val, args.seed)
        if data is None:
            print(
                f"FashionMNIST not found in {FASHION_DIR}. Install it with "
                "`sudo apt-get install dataset-fashion-mnist` (Debian, Ubuntu) "
                "and run again."
            )
            return
        images, y, splits = data
        name = (
            f"FashionMNIST, {n_train} training / {n_val} validation images "
            "from the 60,000 training images"
        )
    rows = args.rows or ["pixels", *(args.featurizations or ROWS[1:])]
    widths = [INR["hidden_features"]] * (INR["hidden_layers"] + 1)
    print(
        f"{name}; SIREN {' -> '.join(map(str, [2, *widths, 1]))}, "
        f"omega_0={omega_0:g}, MSE, "
        f"{STEPS} steps; classifier {args.epochs} epochs, batch "
        f"{args.batch_size}; seed {args.seed}, torch threads {args.threads}",
        flush=True,
    )
    results = evaluate(rows, images, y, splits, args, omega_0)
    print_table(results)
    print(f"\nwall time of the whole run: {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
