"""``sklearn-inr reproduce``: the arguments checked, the plan printed, the run.

:func:`run_reproduce` is what :func:`sklearn_inr.cli.main` calls for the
``reproduce`` subcommand, with the parsed arguments and the parser (to
report bad arguments, such as an unusable ``--data`` or ``--out``, with
exit code 2). See :mod:`sklearn_inr.cli` for what the command does.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import re
import sys
import tempfile
import time
from contextlib import ExitStack, nullcontext
from pathlib import Path

import joblib
import torch

from ._cli_data import DATA, assumed_layout, load_data, write_cohort
from .experiments import (
    DATASETS,
    data_seconds,
    estimate,
    format_plan,
    get_preset,
    plan,
    probe_throughput,
    run_reproduction,
)

__all__ = ["as_flags", "run_reproduce"]

# The loader's hints name its Python parameters; on the command line they are
# flags (or, for the slice thresholds, not offered: the defaults are used).
_FLAG_HINTS = (
    (re.escape("pass on_error='skip'"), "pass --on-error skip"),
    (re.escape("Point `root` at"), "Point --data at"),
    (
        r"write a synthetic cohort with "
        r"sklearn_inr\.datasets\.make_(brats|acdc)_like\(root\)",
        "drop --data to run on a synthetic cohort",
    ),
    # ACDC's: the classification needs every patient's group, and the command
    # line places its slices with slice_policy="lv".
    (
        re.escape("Pass require_labels=False to load it with target -1, or add"),
        "Classifying needs every patient's group: pass --on-error skip to leave "
        "it out, or add",
    ),
    (
        re.escape("Check the mask, use slice_policy='middle', or"),
        "Check the mask (the command line places its slices in the LV cavity), or",
    ),
    (r"; they are listed with the reason in the returned Bunch's `skipped`", ""),
    (
        re.escape("Lower brain_threshold or min_tumor_pixels to keep such patients."),
        "The command line keeps the loader's default brain_threshold and "
        "min_tumor_pixels; sklearn_inr.datasets.load_brats_slices can lower them.",
    ),
    (
        r"Lower brain_threshold=\S+ or min_tumor_pixels=\S+, or check the files\.",
        "Check the files (the command line keeps the loader's default "
        "brain_threshold and min_tumor_pixels).",
    ),
)

# How long to try to reach a --dask-scheduler before giving up.
_DASK_CONNECT_TIMEOUT = "10s"


def run_reproduce(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``sklearn-inr reproduce``: check the arguments, then run (or plan) it.

    Returns the exit status: 0, or 130 after Ctrl-C. Bad arguments go
    through ``parser.error`` (status 2), before any work.
    """
    if args.folds < 2:
        parser.error(f"argument --folds: must be at least 2, got {args.folds}")
    if args.n_patients is not None and args.n_patients < args.folds:
        parser.error(
            f"argument --n-patients: {args.n_patients} patients cannot fill "
            f"{args.folds} folds; use at least {args.folds} or fewer --folds"
        )
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("argument --device: cuda was requested but is not available")
    if args.data is not None and args.data.exists() and not args.data.is_dir():
        parser.error(
            f"argument --data: {str(args.data)!r} is a file, not a folder; pass "
            f"the folder holding {DATA[args.dataset]['folder']}"
        )
    cache = None if args.no_cache else (args.cache or args.out / "cache")
    # Checked now, not after minutes of fitting.
    problem = _folder_problem(args.out)
    if problem:
        parser.error(f"argument --out: {problem}")
    problem = cache is not None and _folder_problem(cache)
    if problem and args.cache is None:
        parser.error(
            f"argument --out: its cache folder {problem}, or move the cache "
            "with --cache DIR (or drop it with --no-cache)"
        )
    if problem:
        parser.error(f"argument --cache: {problem}")
    if cache is not None and args.dask_scheduler is not None:
        # Dask workers would resolve a relative path in their own folder.
        cache = Path(os.path.abspath(cache))
    reuse_freed_memory()
    try:
        with ExitStack() as stack:
            client = None
            if args.dask_scheduler is not None:
                client = stack.enter_context(_dask_client(args.dask_scheduler, parser))
            return _reproduce(args, parser, cache, client)
    except KeyboardInterrupt:
        # Ctrl-C is the user's choice, not a crash: no traceback, the
        # conventional status 128 + SIGINT, and how to pick up again.
        if cache is None:
            kept = "no fitted INRs kept (--no-cache); rerun to start over."
        else:
            n_kept = sum(1 for _ in Path(cache).rglob("*.npz"))
            kept = (
                f"{n_kept} fitted INRs kept in {cache}; rerun the same command to "
                "resume."
            )
        print(f"Interrupted: {kept}", file=sys.stderr)
        return 130


def reuse_freed_memory() -> bool:
    """Have glibc keep freed memory for reuse instead of unmapping it.

    glibc maps every allocation above 32 MB afresh and unmaps it when freed,
    so a training step whose tensors are that large (the CNN's activations
    on 240 x 240 slices, the gradient of the classifier's 67.6-million-weight
    first layer) pays page faults for all their pages, every step. Serving
    them from the heap, which keeps what was freed, made the CNN baseline
    train 1.38x as fast and the paper's classifier 1.19x
    (``benchmarks/bench_allocator.py``, 2 CPU cores). Set in this command's
    own process only, a batch job: a library must not change its host's
    allocator. Returns False (and changes nothing) without glibc.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        set_option = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_max = -1, -4  # from glibc's malloc.h
    # No mapped chunks: large blocks come from the heap, and up to 1 GiB
    # freed at its top is kept rather than given back.
    return bool(set_option(m_mmap_max, 0)) and bool(set_option(m_trim_threshold, 2**30))


def as_flags(text: str) -> str:
    """``text`` (a loader's message) with its Python-API hints said as flags."""
    for pattern, replacement in _FLAG_HINTS:
        text = re.sub(pattern, replacement, text)
    return text


def _folder_problem(path: Path) -> str | None:
    """Why ``path`` cannot be used as an output folder, or None if it can.

    ``path`` need not exist: its nearest existing ancestor must then be a
    writable folder, where it will be created. Writing is tried (a folder is
    made there and removed): permission bits do not stop root, and some
    folders (``/proc``, a read-only mount) refuse whatever they say.
    """
    if path.exists() and not path.is_dir():
        return f"{str(path)!r} is a file, not a folder; pass a folder path"
    existing = Path(os.path.abspath(path))
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        return (
            f"{str(path)!r} cannot be created: {str(existing)!r} is a file; pass "
            "a path under a folder"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{str(existing)!r} is not writable; pass a folder you can write to"
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".sklearn_inr_write_test_", dir=existing))
    except OSError as exc:
        where = f" (it would be created in {str(existing)!r})"
        if existing == Path(os.path.abspath(path)):
            where = ""
        return (
            f"{str(path)!r} is not writable{where}: {exc.strerror or exc}; pass a "
            "folder you can write to"
        )
    return None


def _dask_client(address: str, parser: argparse.ArgumentParser):
    """A ``distributed.Client`` connected to ``address``, or exit 2 saying why.

    Connected before any work, so a wrong address fails at once, not after
    the cohort is written.
    """
    try:
        from distributed import Client
    except ImportError:
        parser.error(
            "argument --dask-scheduler: needs dask.distributed, which is not "
            "installed; install it with pip install 'sklearn-inr[dask]' (or "
            "pip install 'dask[distributed]'), or drop --dask-scheduler to fit "
            "on this machine"
        )
    try:
        client = Client(address, timeout=_DASK_CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, ValueError) as exc:
        # OSError: nothing answered in time; ValueError: not an address.
        parser.error(
            f"argument --dask-scheduler: cannot reach a Dask scheduler at "
            f"{address!r} ({exc}); check the address (e.g. tcp://head-node:8786, "
            "as the scheduler prints it) and that the scheduler is running"
        )
    workers = client.scheduler_info().get("workers", {})
    threads = sum(worker.get("nthreads", 0) for worker in workers.values())
    print(
        f"Dask scheduler {address}: {len(workers)} workers, {threads} threads; "
        "the INR fits will run there.",
        file=sys.stderr,
    )
    if not workers:
        print(
            "warning: the Dask scheduler has no workers yet; the INR fits will "
            "wait until some join (dask worker ADDRESS).",
            file=sys.stderr,
        )
    return client


def _reproduce(
    args: argparse.Namespace,
    parser: argparse.ArgumentParser,
    cache: Path | None,
    client=None,
) -> int:
    uses_cuda = args.device == "cuda" or (
        args.device == "auto" and torch.cuda.is_available()
    )
    preset = args.preset or ("paper" if uses_cuda else "cpu")
    dataset, layout = args.dataset, DATA[args.dataset]
    pair = DATASETS[dataset]["pair"]
    try:
        settings = get_preset(preset, dataset)
    except ValueError as exc:
        parser.error(f"argument --preset: {exc} (--dataset {dataset})")
    n_patients = args.n_patients or settings["n_patients"]
    size = settings["image_size"]
    if args.data is None or args.dry_run:
        # The estimate comes before any work: before the synthetic cohort is
        # written (minutes at the paper's size), with its known layout.
        if args.data is None:
            shape = tuple(settings["cohort_shape"][:2])
            kind = "" if dataset == "brats" else f"{layout['layout']} "
            basis = f"a synthetic {kind}cohort of {n_patients} patients"
            if n_patients < args.folds:
                parser.error(
                    f"argument --folds: {args.folds} folds need at least "
                    f"{args.folds} patients, and the preset {preset!r} writes "
                    f"{n_patients}; raise --n-patients or lower --folds"
                )
        else:
            if not args.data.is_dir():
                parser.error(f"argument --data: {str(args.data)!r} does not exist")
            shape = layout["native"][:2]
            basis = (
                f"{args.data}, assuming {n_patients} patients with a {pair} each "
                "(the data are not read in a dry run)"
            )
        if size is not None:
            shape = (size, size)
        target, groups = assumed_layout(dataset, n_patients)
        _print_plan(
            settings, preset, 2 * n_patients, shape, basis, args, target, groups,
            loaded=False,
        )  # fmt: skip
        if args.dry_run:
            print(
                "Dry run: nothing of the run was fitted, generated or written "
                "(the estimate's probe fitted a few slices of a temporary "
                "cohort, now removed)."
            )
            return 0

    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="sklearn_inr_cohort_") as tmp:
        if args.data is None:
            shape = tuple(settings["cohort_shape"])
            voxels = " x ".join(map(str, shape))
            print(
                f"Writing a synthetic {layout['layout']}-layout cohort of "
                f"{n_patients} patients ({voxels} voxels) to a temporary folder...",
                file=sys.stderr,
            )
            root = write_cohort(dataset, tmp, n_patients, shape, args.seed)
            writer = "make_acdc_like" if dataset == "acdc" else "make_brats_like"
            description = (
                f"synthetic {layout['layout']}-layout cohort ({writer}, "
                f"{n_patients} patients, {voxels} voxels, seed {args.seed})"
            )
        else:
            root = args.data
            description = f"{layout['layout']} folder {args.data}"
        try:
            data = load_data(dataset, root, settings, n_patients, args.on_error)
        except (OSError, ValueError) as exc:
            # The loader names the file and the fix of every problem of the
            # data (a memory shortfall included); anything else is a bug of
            # ours, whose traceback is worth seeing.
            parser.error(f"argument --data: {as_flags(str(exc))}")
    load_seconds = time.perf_counter() - start
    n_loaded = len(set(data.groups.tolist()))
    if n_loaded < args.folds:
        parser.error(
            f"only {n_loaded} patients yielded a {pair}, too few for {args.folds} folds"
        )
    if args.n_patients is not None and n_loaded < args.n_patients:
        names = ", ".join(list(data.skipped)[:5])
        names += ", ..." if len(data.skipped) > 5 else ""
        print(
            f"warning: --n-patients {args.n_patients} asks for more patients than "
            f"{args.data or 'the cohort'} has: only {n_loaded} yield a {pair} "
            f"({len(data.skipped)} folders skipped{': ' if names else ''}{names}); "
            f"using {n_loaded}.",
            file=sys.stderr,
        )
    if args.data is not None or n_loaded != n_patients:
        # Only now is the real number of slices known.
        _print_plan(
            settings,
            preset,
            len(data.images),
            data.images.shape[1:3],
            f"{args.data or 'the cohort'} ({n_loaded} patients loaded)",
            args,
            data.target,
            data.groups,
            # The steps probe fits the run's own first slices.
            images=data.images,
        )
    modality = "ED and ES short-axis slices" if dataset == "acdc" else "FLAIR"
    description += f", {modality}, {n_loaded} patients loaded"
    print(
        f"Preset {preset!r}: {settings['description']}\n"
        f"Data: {description}; {len(data.images)} slices.",
        file=sys.stderr,
    )
    # The table's class names, in its display order (BraTS: tumour first);
    # the data's own names (target_names) for a dataset the table leaves
    # unnamed.
    described = dict(DATASETS[dataset])
    if "target_names" in data and not described.get("class_names"):
        described["class_names"] = dict(enumerate(map(str, data.target_names)))
    # The runner sends its chunks of INR fits to the active joblib backend:
    # with --dask-scheduler, the cluster's workers.
    backend = (
        nullcontext()
        if client is None
        else joblib.parallel_config(backend="dask", client=client)
    )
    with backend:
        results = run_reproduction(
            data.images,
            data.target,
            data.groups,
            settings=settings,
            out_dir=args.out,
            n_splits=args.folds,
            random_state=args.seed,
            device=args.device,
            cache_dir=cache,
            data_description=description,
            dataset=described,
            stage_seconds={"data": load_seconds},
            verbose=1,
        )
    kept = "" if cache is None else f" Fitted INRs are cached in {cache} for reruns."
    print(
        f"\n{results['verdict']['text']}\n\nWrote {args.out / 'report.md'}, "
        f"{args.out / 'results.json'} and figures in "
        f"{results['timings']['total']:.0f} s.{kept}"
    )
    return 0


def _print_plan(
    settings,
    preset,
    n_slices,
    image_shape,
    basis,
    args,
    target=None,
    groups=None,
    loaded=True,
    images=None,
) -> None:
    """Print what the run will fit and how long that should take (stdout).

    ``loaded``: the data are read already (no time left to write or load
    them); else ``target`` and ``groups`` are the layout assumed.
    """
    cache_dir = None if args.no_cache else (args.cache or args.out / "cache")
    stages = plan(
        settings,
        n_slices,
        tuple(image_shape),
        n_splits=args.folds,
        random_state=args.seed,
        target=target,
        groups=groups,
        cache_dir=cache_dir,
    )
    throughput = probe_throughput(
        settings, args.device, tuple(image_shape), n_images=n_slices,
        random_state=args.seed, images=images, memory=cache_dir,
    )  # fmt: skip
    title = (
        f"Plan of preset {preset!r} on {basis}: {n_slices} slices of "
        f"{' x '.join(map(str, image_shape))}, {args.folds}-fold grouped CV, "
        f"seed {args.seed}."
    )
    text = format_plan(
        stages,
        estimate(
            stages,
            throughput,
            data_seconds=None
            if loaded
            else data_seconds(
                n_slices // 2,
                settings["cohort_shape"]
                if args.data is None
                else DATA[args.dataset]["native"],
                args.data is None,
            ),
        ),
        throughput,
        settings=settings,
        image_shape=tuple(image_shape),
        title=title,
    )
    print(text, flush=True)
