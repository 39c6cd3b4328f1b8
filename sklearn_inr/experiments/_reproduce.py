"""The paper's experiment end to end, with a leak audit: run_reproduction.

Outputs are replaced all at once: results.json, report.md and the figures
are written to a staging folder beside ``out_dir`` (same parent, so the same
file system) and only then moved into ``out_dir``, with Ctrl-C held back
during the moves and the old files put back if a move fails. An interrupted
run leaves the previous complete outputs, never a truncated file or a new
results.json beside an old report.md. The fitted INRs go to ``cache_dir``
as they finish, so with a persistent cache (``sklearn-inr reproduce`` keeps
one in ``<out>/cache``) a rerun after an interruption resumes where it
stopped. Replacing the outputs moves only the output files: the cache and
anything else in ``out_dir`` stay where they are.
"""

from __future__ import annotations

import datetime
import platform
import shutil
import tempfile
import time
import warnings
from contextlib import ExitStack, contextmanager
from pathlib import Path

import numpy as np
import sklearn
import torch
from sklearn.exceptions import ConvergenceWarning

from .. import __version__
from ..fitting import resolve_device
from ._cohort import Cohort, RunState
from ._datasets import data_summary, resolve_dataset
from ._figures import write_figures
from ._outputs import replace_outputs, staging_dir
from ._progress import fingerprint, record_done
from ._protocols import make_classifier
from ._report import write_report
from ._report_tables import rounded, summary_table
from ._settings import get_preset
from ._stages import run_stages
from ._verdict import cohort_warning, verdict

__all__ = ["run_reproduction"]


class _Timer:
    """Wall time of each named stage, in seconds."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + (
                time.perf_counter() - start
            )


def run_reproduction(
    images,
    target,
    groups,
    *,
    settings: str | dict = "cpu",
    out_dir: str | Path = "sklearn_inr_results",
    n_splits: int = 5,
    random_state: int = 0,
    device: str = "auto",
    cache_dir: str | Path | None = None,
    data_description: str = "",
    dataset: str | dict | None = None,
    stage_seconds: dict | None = None,
    verbose: int = 1,
) -> dict:
    """Reproduce the paper's experiment and audit it for label leakage.

    Runs, for each INR model of ``settings`` (SIREN and ReLU):

    - the **paper protocol**: INRs fitted to all slices (TinySIREN with
      weight transfer by class, i.e. labels used to choose each fit's
      starting point), then one random 80/10/10 split, not grouped by
      patient, and the test accuracy of the classifier;
    - the **leak-free pipeline** ``INRFeaturizer -> StandardScaler ->
      MLPClassifier`` in :class:`~sklearn.model_selection.StratifiedGroupKFold`
      by patient, with the shared initialisation, and with
      ``warm_start_by_class=True`` inside the pipeline (labels of training
      folds only; test folds go through ``transform``);
    - the same protocols on **controls**: pure uniform noise with the same
      labels and groups, and the true images with labels permuted within
      each patient (drawn afresh in each fold of the grouped CV), or, where
      every patient holds one label (ACDC), the patients' labels shuffled
      among the patients; a protocol that beats chance on them measures
      labels;
    - a **pixel baseline**: logistic regression on the raw slices, same folds;
    - **reconstruction** scores: final BCE, BCE above the targets' entropy,
      MSE and PSNR.

    Any number of classes: every score has the accuracy, the balanced
    accuracy and the ROC AUC (binary for two classes, macro one-vs-rest for
    more), and chance is the majority class's share of the slices.

    It writes ``results.json`` (every number), ``report.md`` (generated from
    the same numbers) and PNG figures to ``out_dir``, all at once at the end:
    an interrupted run leaves the previous outputs complete and untouched.

    Parameters
    ----------
    images : ndarray of shape (n_slices, H, W)
        Intensities in [0, 1], e.g. ``load_brats_slices(...).images``.
    target : ndarray of shape (n_slices,)
        The class of each slice: for BraTS 1 tumour, 0 no tumour; for ACDC
        the group's index in ``load_acdc(...).target_names``.
    groups : ndarray of shape (n_slices,)
        Patient of each slice.
    settings : {"cpu", "paper", "tiny"} or dict, default="cpu"
        A preset name or a settings dict shaped like
        ``sklearn_inr.experiments.PRESETS["cpu"]``.
    out_dir : str or path-like, default="sklearn_inr_results"
        Folder for the outputs; created if needed. The outputs are first
        written to a hidden staging folder in its parent (in ``out_dir``
        itself when the parent is read-only or on another file system), then
        moved in; other files in ``out_dir`` are left alone.
    n_splits : int, default=5
        Folds of the grouped cross-validation.
    random_state : int, default=0
        Seeds the INR initialisations, the splits, the noise, the label
        permutation and the classifiers.
    device : {"auto", "cpu", "cuda"}, default="auto"
    cache_dir : str or path-like, default=None
        Folder caching each fitted INR (``INRFeaturizer(memory=...)``), so
        the cross-validation folds reuse the fits of the shared
        initialisation; created if needed. Entries are saved as the fits
        finish and keyed by the images and every setting, so a later call
        with the same folder reuses them: an interrupted run resumes, and a
        run with other settings or data fits its own. None: a temporary
        folder, removed at the end.
    data_description : str, default=""
        Where the data came from, for the report.
    dataset : {"brats", "acdc"}, dict or None, default=None
        What the data are, for the report, figures and ``results["data"]``:
        the title, the class names, what a slice is. A dict shaped like
        ``sklearn_inr.experiments._datasets.DATASETS["acdc"]`` describes
        other data (e.g. ``{"class_names": {0: "cat", 1: "dog"}}``). None:
        the settings' ``"dataset"`` (``get_preset(name, dataset)``), else
        ``"brats"``.
    stage_seconds : dict of str to float, default=None
        Wall times of stages run before this call (e.g. ``{"data": 4.2}``),
        reported with the others and counted in the total.
    verbose : int, default=1
        Progress bars per stage when > 0.

    Returns
    -------
    results : dict
        What ``results.json`` holds: ``settings``, ``data``,
        ``reconstruction``, ``scores``, ``verdict``, ``timings``,
        ``figures``, ``environment``.

    Warns
    -----
    UserWarning
        With fewer than 20 patients: the numbers are anecdotal (the report
        says so too).

    See Also
    --------
    sklearn_inr.cli.main : The ``sklearn-inr reproduce`` command.

    Examples
    --------
    >>> import tempfile
    >>> from sklearn_inr.datasets import load_brats_slices, make_brats_like
    >>> from sklearn_inr.experiments import run_reproduction
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     data = load_brats_slices(make_brats_like(tmp, 6, (32, 32, 12)), size=12)
    ...     results = run_reproduction(data.images, data.target, data.groups,
    ...                                settings="tiny", n_splits=2, out_dir=tmp,
    ...                                device="cpu", verbose=0)
    >>> sorted(results)
    ['data', 'date', 'environment', 'figures', 'reconstruction', 'scores', \
'settings', 'timings', 'verdict']
    >>> results["scores"][0]["label"]
    'Paper protocol (leaky): TinySIREN + weight transfer'
    """
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the install
        # Fail before minutes of fitting, not at the figures.
        raise ImportError(
            "The reproduction draws figures with matplotlib: pip install "
            "'sklearn-inr[plots]'."
        ) from exc
    settings = get_preset(settings) if isinstance(settings, str) else settings
    dataset = resolve_dataset(
        settings.get("dataset", "brats") if dataset is None else dataset
    )
    images = np.asarray(images, dtype=np.float32)
    target, groups = np.asarray(target), np.asarray(groups)
    if images.ndim != 3:
        raise ValueError(
            f"images must have shape (n_slices, H, W), got {images.shape}; load "
            "one modality."
        )
    if not len(images) == len(target) == len(groups):
        raise ValueError(
            f"images, target and groups must have the same length, got "
            f"{len(images)}, {len(target)} and {len(groups)}."
        )
    n_groups = len(np.unique(groups))
    if n_splits < 2 or n_splits > n_groups:
        raise ValueError(
            f"n_splits must be between 2 and the number of patients ({n_groups}), "
            f"got {n_splits}."
        )
    if cohort_warning(n_groups):
        warnings.warn(cohort_warning(n_groups), UserWarning, stacklevel=2)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    timer = _Timer()
    timer.seconds.update(stage_seconds or {})
    threads = torch.get_num_threads()
    with ExitStack() as stack:
        if cache_dir is None:
            memory = stack.enter_context(
                tempfile.TemporaryDirectory(prefix="sklearn_inr_cache_")
            )
        else:
            # Created now, so an unusable folder fails before minutes of fits.
            Path(cache_dir).mkdir(parents=True, exist_ok=True)
            memory = str(cache_dir)
        if settings.get("torch_threads"):
            torch.set_num_threads(settings["torch_threads"])
        try:
            raw = _run(
                images,
                target,
                groups,
                settings=settings,
                n_splits=n_splits,
                seed=random_state,
                device=device,
                memory=memory,
                timer=timer,
                verbose=verbose,
                # A kept cache records its finished tasks, for the estimate
                # of the next run (a rerun, a resume).
                progress=None if cache_dir is None else memory,
            )
        finally:
            torch.set_num_threads(threads)
    results = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "settings": {
            **settings,
            "n_splits": n_splits,
            "random_state": random_state,
            "device": device,
            "resolved_device": resolve_device(device).type,
        },
        "data": {
            "description": data_description,
            "n_slices": len(images),
            "n_patients": n_groups,
            "image_shape": list(images.shape[1:]),
            # Class names and counts, chance, and n_tumour / n_no_tumour for
            # BraTS (as before).
            **data_summary(dataset, target, groups),
        },
        "reconstruction": raw["reconstruction"],
        "scores": raw["scores"],
        "environment": {
            "sklearn_inr": __version__,
            "scikit-learn": sklearn.__version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
            "machine": platform.machine(),
            "torch_threads": settings.get("torch_threads") or threads,
        },
    }
    results = rounded(results)
    results["verdict"] = verdict(results)
    staging = staging_dir(out_dir)
    try:
        with timer.stage("figures"):
            results["figures"] = write_figures(staging, raw["figure_data"], results)
        timer.seconds["total"] = (
            time.perf_counter() - started + sum((stage_seconds or {}).values())
        )
        results["timings"] = rounded(timer.seconds)
        write_report(staging, results)
        # results.json last: it is the record of a complete run.
        names = [*results["figures"].values(), "report.md", "results.json"]
        replace_outputs(staging, out_dir, names)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if verbose > 0:
        print(summary_table(results))
    return results


def _run(
    images, target, groups, *, settings, n_splits, seed, device, memory, timer,
    verbose, progress=None,
):  # fmt: skip
    """All the fits, stage by stage; raw (unrounded) numbers and figure data."""
    cohort = Cohort.of(settings, target, groups, n_splits, seed)
    classifier = make_classifier(
        settings["classifier"], device=device, random_state=seed
    )
    state = RunState.of(
        cohort, images, device=device, memory=memory, verbose=verbose,
        classifier=classifier,
    )  # fmt: skip
    done = None
    if progress is not None:
        key = fingerprint(settings, len(images), images.shape[1:3], n_splits, seed)

        def done(stage, task):
            record_done(progress, key, stage, task)

    with warnings.catch_warnings():
        # The report states every fit's PSNR and flags the leak-free fits
        # that miss their target; pure noise and the paper's own short ReLU
        # fits cannot reach the estimators' 20 dB floor by design, and a
        # warning per stage would say only that.
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        run_stages(cohort, state, timer=timer, done=done)
    return {
        "reconstruction": state.reconstruction,
        "scores": state.scores,
        "figure_data": state.figure_data,
    }
