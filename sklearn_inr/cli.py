"""The ``sklearn-inr`` command line.

``sklearn-inr reproduce`` (or ``python -m sklearn_inr reproduce``) runs the
paper's experiment with a leak audit (:func:`sklearn_inr.experiments.
run_reproduction`) and writes ``results.json``, ``report.md`` and figures
to ``--out``, all at once at the end, so an interrupted run leaves the
previous outputs complete. Fitted INRs are cached in ``<out>/cache``
(``--cache DIR`` moves it, ``--no-cache`` drops it), so rerunning the same
command after Ctrl-C resumes instead of starting over; Ctrl-C prints one
line saying so and exits with status 130. Before any work, it prints the
plan (the INR fits of each stage, counted with the cache) and its estimated
duration, from a short speed probe of the preset's networks
(``sklearn_inr.experiments._estimate``); without ``--data``, before the
synthetic cohort is written. ``--dry-run`` prints them and exits.
``--dask-scheduler ADDRESS`` runs the INR fits on an existing Dask cluster
(through joblib's ``"dask"`` backend), with the same results as a local run.
Subcommands live in :func:`build_parser`; each runs a ``run_<name>``
function (``sklearn_inr._cli_<name>``) taking the parsed arguments and the
parser (to report bad arguments, such as an unusable ``--data`` or
``--out``, with exit code 2).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from ._cli_reproduce import run_reproduce
from .experiments import PRESETS

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
            "results.json, report.md and PNG figures to --out, all at once at "
            "the end. Fitted INRs are cached (default: <out>/cache), so after "
            "Ctrl-C the same command resumes where it stopped. Before any work "
            "it prints the plan and its estimated duration per stage."
        ),
    )
    reproduce.add_argument(
        "--data",
        metavar="DIR",
        type=Path,
        help="a BraTS2021 Task 1 folder (BraTS2021_XXXXX case folders; other "
        "folders are listed and ignored); default: a synthetic cohort in the same "
        "layout, generated in a temporary folder",
    )
    reproduce.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        default=Path("sklearn_inr_results"),
        help="output folder, created if needed; its results.json, report.md and "
        "figures are replaced only once the new ones are complete, other files "
        "are kept (default: ./sklearn_inr_results)",
    )
    cache = reproduce.add_mutually_exclusive_group()
    cache.add_argument(
        "--cache",
        metavar="DIR",
        type=Path,
        help="folder keeping every fitted INR, so a rerun (e.g. after Ctrl-C) "
        "reuses them; entries are keyed by data and settings, so it can be "
        "shared between runs; delete it to reclaim the space (default: <out>/cache)",
    )
    cache.add_argument(
        "--no-cache",
        action="store_true",
        help="keep fitted INRs in a temporary folder only, removed at the end: "
        "nothing is left on disk, and an interrupted run starts over",
    )
    reproduce.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        help="settings: 'paper' (the paper's, for a GPU), 'cpu' (minutes on 2 "
        "cores), 'cpu-240' (240 x 240 slices, leak-free rows only, about 45 "
        "minutes on 2 cores) or 'tiny' (smoke tests only; meaningless numbers); "
        "default: "
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
        help="patients to use (default: the preset's; 40 for 'cpu', 75 for "
        "'cpu-240' and 'paper'); a warning says so when --data has fewer",
    )
    reproduce.add_argument(
        "--dry-run",
        action="store_true",
        help="print the plan (INR fits and FLOPs per stage) and its estimated "
        "duration, from a few-second speed probe on --device, then exit: "
        "nothing is fitted, generated or written. With --data, the slices are "
        "assumed to be --n-patients (or the preset's) pairs, as the data are "
        "not read",
    )
    reproduce.add_argument(
        "--dask-scheduler",
        metavar="ADDRESS",
        help="run the INR fits on an existing Dask cluster, e.g. "
        "tcp://head-node:8786, with the same results as a local run (needs "
        "dask.distributed: pip install 'sklearn-inr[dask]'). The data are "
        "read, and the classifiers trained, here; the workers write fitted "
        "INRs to the cache folder, so give --cache a folder they all reach "
        "(a shared file system) to resume after Ctrl-C. The plan's estimate "
        "is this machine's speed, and the default --preset is chosen from "
        "this machine's device: pass --preset paper for a GPU cluster",
    )
    reproduce.set_defaults(run=run_reproduce, subparser=reproduce)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``sklearn-inr`` with ``argv`` (default: ``sys.argv[1:]``).

    Parameters
    ----------
    argv : sequence of str, default=None
        Command-line arguments, e.g. ``["reproduce", "--preset", "cpu"]``.

    Returns
    -------
    status : int
        0 on success; 130 when interrupted with Ctrl-C (one line on stderr
        says what was kept and how to resume). Bad arguments, including a
        ``--data`` that is a file and an ``--out`` that cannot be written,
        exit with status 2 and a message (``SystemExit``), as argparse does.

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
