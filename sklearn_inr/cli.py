"""The ``sklearn-inr`` command line.

``sklearn-inr reproduce`` (or ``python -m sklearn_inr reproduce``) runs the
paper's experiment with a leak audit, on BraTS slice pairs or, with
``--dataset acdc``, on the five ACDC groups (:func:`sklearn_inr.experiments.
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

Usage errors never show a traceback: they exit 2 with one line naming the
flag, what was given and what is allowed (an unknown option gets the
closest one: ``--presets`` -> ``did you mean --preset?``). Warnings are
printed once each as ``warning: <message>``, with the loader's Python
hints (``on_error='skip'``, ``root``) said as flags (``--on-error skip``,
``--data``). ``--help`` and ``--version`` import neither torch nor
scikit-learn.
"""

from __future__ import annotations

import argparse
import difflib
import sys
import warnings
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path

from . import __version__

__all__ = [
    "DATASET_NAMES",
    "MAX_PATIENTS",
    "MAX_SEED",
    "PRESET_NAMES",
    "build_parser",
    "main",
]

# Nothing heavy is imported here: ``sklearn-inr --help`` and ``--version``
# answer without torch, scikit-learn or the experiments (seconds to import);
# the subcommand's module is imported when it runs. The preset names are
# repeated for the same reason (tests/test_cli.py checks them against
# ``sklearn_inr.experiments.PRESETS``), as are the datasets.
PRESET_NAMES = ("cpu", "cpu-240", "cpu-paper", "paper", "tiny")
DATASET_NAMES = ("brats", "acdc")
# The most patients --n-patients accepts: more than any BraTS release (1,251
# in 2021). Planning that many adds seconds and ~60 MB to a dry run; the
# plan's labels, folds and replayed cache keys grow with the patients, and
# 10**8 of them took 12 GB before printing anything.
MAX_PATIENTS = 10_000
# numpy takes seeds up to 2**32 - 1; the run derives others by adding
# offsets (its calibration cohort: seed + 1000), so stay well below.
MAX_SEED = 2**31 - 1


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _n_patients(text: str) -> int:
    value = _positive_int(text)
    if value > MAX_PATIENTS:
        raise argparse.ArgumentTypeError(
            f"at most {MAX_PATIENTS:,} patients, got {value:,}; pass a number "
            f"from 1 to {MAX_PATIENTS}"
        )
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(
            f"expected an integer from 0 to {MAX_SEED}, got {value}"
        )
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``sklearn-inr`` and its subcommands."""
    parser = argparse.ArgumentParser(
        prog="sklearn-inr",
        description="Implicit neural representations as scikit-learn features.",
    )
    parser.add_argument(
        "--version", action="version", version=f"sklearn-inr {__version__}"
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
        "--dataset",
        choices=DATASET_NAMES,
        default="brats",
        help="the task: 'brats' (tumour vs no-tumour FLAIR slices, two per "
        "patient) or 'acdc' (the five ACDC diagnostic groups from "
        "mid-ventricular ED and ES short-axis slices, two per patient); "
        "default: brats",
    )
    reproduce.add_argument(
        "--data",
        metavar="DIR",
        type=Path,
        help="a BraTS2021 Task 1 folder (BraTS2021_XXXXX case folders), or "
        "with --dataset acdc an ACDC folder (patientNNN folders, training or "
        "testing); other folders are listed and ignored; default: a synthetic "
        "cohort in the same layout, generated in a temporary folder",
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
        choices=PRESET_NAMES,
        help="settings: 'paper' (the paper's, for a GPU), 'cpu' (minutes on 2 "
        "cores), 'cpu-240' (240 x 240 slices, leak-free rows only, a width-64 "
        "TinySIREN; brats only), 'cpu-paper' (the same with the paper's own "
        "TinySIREN; brats only) or 'tiny' (smoke tests only; "
        "meaningless numbers); each has its own data sizes per --dataset; "
        "default: 'paper' when the run uses CUDA, else 'cpu'",
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
        "--seed",
        type=_seed,
        default=0,
        help=f"random seed, 0 to {MAX_SEED} (default: 0)",
    )
    reproduce.add_argument(
        "--n-patients",
        type=_n_patients,
        metavar="N",
        help=f"patients to use, at most {MAX_PATIENTS:,} (default: the "
        "preset's; brats: 40 for 'cpu', 75 for 'cpu-240', 'cpu-paper' and "
        "'paper'; acdc: "
        "50 for 'cpu', 100 for 'paper'); a warning says so when --data has "
        "fewer",
    )
    reproduce.add_argument(
        "--on-error",
        choices=("raise", "skip"),
        default="raise",
        help="what a patient of --data with a missing, corrupt or inconsistent "
        "file does: 'raise' stops with an error naming the file, 'skip' warns "
        "and loads the other patients (default: raise)",
    )
    reproduce.add_argument(
        "--dry-run",
        action="store_true",
        help="print the plan (INR fits and FLOPs per stage) and its estimated "
        "duration, from a few-second speed probe on --device, then exit: "
        "nothing is fitted, generated or written. With --data, the slices are "
        "assumed to be --n-patients (or the preset's) pairs (BraTS: tumour and "
        "no-tumour; ACDC: ED and ES, groups in turn), as the data are not read",
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
    reproduce.set_defaults(subparser=reproduce)
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
    >>> main(["reproduce", "--dataset", "acdc", "--out", "acdc"])  # doctest: +SKIP
    0
    """
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        _unrecognized(args.subparser, unknown)
    # Imported only now: torch, scikit-learn and the experiments take seconds.
    from ._cli_reproduce import as_flags, run_reproduce

    with _formatted_warnings(as_flags):
        return run_reproduce(args, args.subparser)


def _unrecognized(parser: argparse.ArgumentParser, unknown: list[str]) -> None:
    """Exit 2 naming the unknown arguments, with the closest option to each."""
    # argparse keeps no public list of a parser's options.
    options = [name for action in parser._actions for name in action.option_strings]
    hints = []
    for arg in unknown:
        if arg.startswith("-"):
            match = difflib.get_close_matches(arg.split("=", 1)[0], options, n=1)
            hints += [f"did you mean {match[0]}?"] if match else []
    hint = f" ({'; '.join(hints)})" if hints else ""
    parser.error(f"unrecognized arguments: {' '.join(unknown)}{hint}")


@contextmanager
def _formatted_warnings(translate=str):
    """Print each distinct warning once, as ``warning: <message>`` on stderr.

    Python's own format adds the category, the file and the source line
    that warned: noise to someone running a command. ``translate`` rewrites
    a message (Python-API hints into command-line flags). The warning
    filters are left as they are, so ``python -W error`` still applies.
    """
    seen = set()

    def show(message, category, filename, lineno, file=None, line=None):
        text = translate(str(message))
        if text not in seen:
            seen.add(text)
            print(f"warning: {text}", file=sys.stderr if file is None else file)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
