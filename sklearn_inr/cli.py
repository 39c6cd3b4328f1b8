"""The ``sklearn-inr`` command line.

``sklearn-inr reproduce`` (or ``python -m sklearn_inr reproduce``) runs the
paper's experiment with a leak audit (:func:`sklearn_inr.experiments.
run_reproduction`) and writes ``results.json``, ``report.md`` and figures.
Subcommands live in :func:`build_parser`; each has a ``_run_<name>``
function taking the parsed arguments and the parser (to report bad
arguments with exit code 2).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from .experiments import PRESETS, get_preset, run_reproduction

__all__ = ["build_parser", "main"]


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``sklearn-inr`` and its subcommands."""
    parser = argparse.ArgumentParser(
        prog="sklearn-inr",
        description="Implicit neural representations as scikit-learn features.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    reproduce = commands.add_parser(
        "reproduce",
        help="reproduce the paper's experiment, with a leak audit",
        description=(
            "Fit one INR per MRI slice, classify the weights, and report the "
            "paper's protocol beside a leak-free grouped cross-validation, "
            "noise and permuted-label controls and a pixel baseline. Writes "
            "results.json, report.md and PNG figures to --out."
        ),
    )
    reproduce.add_argument(
        "--data",
        metavar="DIR",
        type=Path,
        help="a BraTS2021 Task 1 folder (BraTS2021_XXXXX case folders); default: "
        "a synthetic cohort in the same layout, generated in a temporary folder",
    )
    reproduce.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        default=Path("sklearn_inr_results"),
        help="output folder (default: ./sklearn_inr_results)",
    )
    reproduce.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        help="settings: 'paper' (the paper's, for a GPU), 'cpu' (minutes on 2 "
        "cores) or 'tiny' (smoke tests only; meaningless numbers); default: "
        "'paper' when the run uses CUDA, else 'cpu'",
    )
    reproduce.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default="auto",
        help="torch device for the INRs and the classifier (default: auto)",
    )
    reproduce.add_argument(
        "--folds",
        type=_positive_int,
        default=5,
        help="folds of the cross-validation grouped by patient, >= 2 (default: 5)",
    )
    reproduce.add_argument(
        "--seed", type=int, default=0, help="random seed (default: 0)"
    )
    reproduce.add_argument(
        "--n-patients",
        type=_positive_int,
        metavar="N",
        help="patients to use (default: the preset's; 40 for 'cpu', 75 for 'paper')",
    )
    reproduce.set_defaults(run=_run_reproduce, subparser=reproduce)
    return parser


def _run_reproduce(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .datasets import load_brats_slices, make_brats_like

    if args.folds < 2:
        parser.error(f"argument --folds: must be at least 2, got {args.folds}")
    if args.n_patients is not None and args.n_patients < args.folds:
        parser.error(
            f"argument --n-patients: {args.n_patients} patients cannot fill "
            f"{args.folds} folds; use at least {args.folds} or fewer --folds"
        )
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("argument --device: cuda was requested but is not available")
    uses_cuda = args.device == "cuda" or (
        args.device == "auto" and torch.cuda.is_available()
    )
    preset = args.preset or ("paper" if uses_cuda else "cpu")
    settings = get_preset(preset)
    n_patients = args.n_patients or settings["n_patients"]

    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="sklearn_inr_cohort_") as tmp:
        if args.data is None:
            shape = tuple(settings["cohort_shape"])
            print(
                f"Writing a synthetic BraTS-layout cohort of {n_patients} patients "
                f"({' x '.join(map(str, shape))} voxels) to a temporary folder...",
                file=sys.stderr,
            )
            root = make_brats_like(tmp, n_patients, shape, random_state=args.seed)
            description = (
                f"synthetic BraTS-layout cohort (make_brats_like, {n_patients} "
                f"patients, {' x '.join(map(str, shape))} voxels, seed {args.seed})"
            )
        else:
            root = args.data
            description = f"BraTS folder {args.data}"
        try:
            data = load_brats_slices(
                root, "flair", size=settings["image_size"], n_patients=n_patients
            )
        except (FileNotFoundError, ValueError) as exc:
            parser.error(f"argument --data: {exc}")
    n_loaded = len(set(data.groups.tolist()))
    if n_loaded < args.folds:
        parser.error(
            f"only {n_loaded} patients yielded a tumour/no-tumour slice pair, too "
            f"few for {args.folds} folds"
        )
    description += f", FLAIR, {n_loaded} patients loaded"
    print(
        f"Preset {preset!r}: {settings['description']}\n"
        f"Data: {description}; {len(data.images)} slices.",
        file=sys.stderr,
    )
    results = run_reproduction(
        data.images,
        data.target,
        data.groups,
        settings=settings,
        out_dir=args.out,
        n_splits=args.folds,
        random_state=args.seed,
        device=args.device,
        data_description=description,
        stage_seconds={"data": time.perf_counter() - start},
        verbose=1,
    )
    print(
        f"\n{results['verdict']['text']}\n\nWrote {args.out / 'report.md'}, "
        f"{args.out / 'results.json'} and figures in "
        f"{results['timings']['total']:.0f} s."
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``sklearn-inr`` with ``argv`` (default: ``sys.argv[1:]``).

    Parameters
    ----------
    argv : sequence of str, default=None
        Command-line arguments, e.g. ``["reproduce", "--preset", "cpu"]``.

    Returns
    -------
    status : int
        0 on success. Bad arguments exit with status 2 and a message
        (``SystemExit``), as argparse does.

    Examples
    --------
    >>> from sklearn_inr.cli import main
    >>> main(["reproduce", "--out", "results", "--folds", "3"])  # doctest: +SKIP
    0
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    return args.run(args, args.subparser)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
