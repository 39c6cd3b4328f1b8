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
from contextlib import ExitStack, contextmanager, nullcontext
from pathlib import Path

import numpy as np
import sklearn
import torch
from tqdm.auto import tqdm

from .. import __version__
from ..core._device import resolve_device
from ..plotting import weight_space_pca
from ._figures import write_figures
from ._outputs import replace_outputs, staging_dir
from ._protocols import (
    fit_featurizer,
    grouped_cv_score,
    grouped_folds,
    inr_pipeline,
    learned_init,
    make_classifier,
    make_featurizer,
    make_pixel_baseline,
    noise_images,
    paper_split,
    permute_within_groups,
    permuted_fold_targets,
    protocol_models,
    reconstruction_scores,
    single_split_score,
)
from ._report import cohort_warning, rounded, summary_table, verdict, write_report
from ._settings import get_preset

__all__ = ["run_reproduction"]

CONDITIONS = ("images", "noise", "permuted")
CONDITION_NAMES = {
    "images": "images",
    "noise": "pure noise",
    "permuted": "permuted labels",
}


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
      each patient (drawn afresh in each fold of the grouped CV); a
      protocol that beats chance on them measures labels;
    - a **pixel baseline**: logistic regression on the raw slices, same folds;
    - **reconstruction** scores: final BCE, BCE above the targets' entropy,
      MSE and PSNR.

    It writes ``results.json`` (every number), ``report.md`` (generated from
    the same numbers) and PNG figures to ``out_dir``, all at once at the end:
    an interrupted run leaves the previous outputs complete and untouched.

    Parameters
    ----------
    images : ndarray of shape (n_slices, H, W)
        Intensities in [0, 1], e.g. ``load_brats_slices(...).images``.
    target : ndarray of shape (n_slices,)
        1 for tumour, 0 for no tumour.
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
            "n_tumour": int(np.sum(target == 1)),
            "n_no_tumour": int(np.sum(target == 0)),
            "image_shape": list(images.shape[1:]),
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


def _mean_std(values) -> dict:
    """Mean, spread, median and 10th percentile of a per-slice score."""
    values = np.asarray(values, dtype=float)
    return {
        "mean": float(np.mean(values)),
        "std": float(np.std(values)),
        "median": float(np.median(values)),
        "p10": float(np.percentile(values, 10)),
    }


def _run(
    images, target, groups, *, settings, n_splits, seed, device, memory, timer, verbose
):
    """All the fits; returns raw (unrounded) numbers and what figures need."""
    models = settings["models"]
    classifier = make_classifier(
        settings["classifier"], device=device, random_state=seed
    )
    inputs = {
        "images": (images, target),
        "noise": (noise_images(images, seed), target),
        "permuted": (images, permute_within_groups(target, groups, seed)),
    }
    bar = {"disable": verbose <= 0, "leave": True}
    reconstruction = {name: {} for name in models}
    # What the figures need, kept small: theta of two slices to render, and
    # theta of every slice only as its 2-D PCA (all of it could be GBs).
    figure_data = {
        "loss": {},
        "reconstructions": {},
        "weight_space": {},
        "models": {name: models[name]["name"] for name in models},
        "target": target,
    }
    # A tumour and a no-tumour slice, of the first patient that has both.
    first = groups[0]
    pair = [
        int(np.flatnonzero((groups == first) & (target == label))[0])
        if np.any((groups == first) & (target == label))
        else int(np.flatnonzero(target == label)[0])
        for label in (1, 0)
    ]
    figure_data["pair"] = (images[pair], pair)

    # 1. Shared-init INRs of every slice, without labels. The cache then
    # serves every fold of the grouped CV (and the test folds of the
    # weight-transfer pipeline, which start from the same init).
    # Models whose preset entry has "leak_free": None run the paper protocol
    # only (e.g. a ReLU MLP the cpu preset cannot bring to a fidelity).
    runs = protocol_models(settings)
    leak_free = runs["leak-free"]
    with timer.stage("shared-init INRs"):
        # The shared init of each model: a draw from the seed, or one learned
        # without labels on a calibration cohort (other patients).
        shared = {}
        for name in leak_free:
            theta = learned_init(models[name], random_state=seed, memory=memory,
                                 device=device, verbose=verbose)  # fmt: skip
            shared[name] = "shared" if theta is None else theta
        tasks = [(m, c) for m in leak_free for c in ("images", "noise")]
        for name, condition in tqdm(tasks, desc="Shared-init INRs", **bar):
            featurizer = make_featurizer(
                models[name],
                device=device,
                memory=memory,
                random_state=seed,
                protocol="leak-free",
                init=shared[name],
                verbose=verbose,  # a bar per set of fits: minutes at 240 x 240
            )
            theta = fit_featurizer(featurizer, inputs[condition][0])  # fills the cache
            figure_data["weight_space"][name, "shared", condition] = weight_space_pca(
                theta, random_state=seed
            )
            if condition == "images":
                scores = reconstruction_scores(featurizer, images)
                reconstruction[name]["shared"] = {
                    k: _mean_std(v) for k, v in scores.items()
                }
                # A fit that stops at its target keeps its last loss after.
                target_psnr = featurizer.target_psnr
                label = "shared init" + (
                    f" (each slice stops at {target_psnr:g} dB)" if target_psnr else ""
                )
                figure_data["loss"][name, label] = (
                    featurizer.history_steps_,
                    featurizer.loss_history_,
                )
                figure_data["reconstructions"][name, "shared"] = (
                    featurizer,
                    theta[pair],
                )

    # 2. The paper protocol: INRs of all slices (weight transfer by class for
    # the models that used it, with each chain starting from a fresh network
    # as a new nn.Module would), then one random 80/10/10 split.
    split = paper_split(len(images), settings["split"], seed)
    scores = []
    # A preset may leave the paper protocol out (cpu-240: it is the cpu
    # preset's job); its stage is then neither run nor timed.
    paper_models = runs["paper"]
    with timer.stage("paper protocol") if paper_models else nullcontext():
        paper = {name: {} for name in models}
        tasks = [(m, c) for m in paper_models for c in CONDITIONS]
        for name, condition in tqdm(tasks, desc="Paper protocol", **bar):
            X, y = inputs[condition]
            transfer = models[name]["paper_weight_transfer"]
            featurizer = make_featurizer(
                models[name],
                device=device,
                memory=memory,
                random_state=seed,
                init="random",
                warm_start_by_class=transfer,
                verbose=verbose,
            )
            theta = fit_featurizer(featurizer, X, y if transfer else None)
            paper[name][condition] = single_split_score(classifier, theta, y, split)
            if condition != "permuted":
                figure_data["weight_space"][name, "paper", condition] = (
                    weight_space_pca(theta, random_state=seed)
                )
            if condition == "images":
                scores_ = reconstruction_scores(featurizer, images)
                reconstruction[name]["paper"] = {
                    k: _mean_std(v) for k, v in scores_.items()
                }
                fit = "weight transfer" if transfer else "fresh init per slice"
                figure_data["loss"][name, f"paper protocol ({fit})"] = (
                    featurizer.history_steps_,
                    featurizer.loss_history_,
                )
                figure_data["reconstructions"][name, "paper"] = (
                    featurizer,
                    theta[pair],
                )
        for name in paper_models:
            model = models[name]
            scores.append(
                {
                    "key": f"paper/{name}",
                    "protocol": "paper",
                    "model": name,
                    "label": "Paper protocol (leaky): "
                    + model["name"]
                    + (" + weight transfer" if model["paper_weight_transfer"] else ""),
                    "evaluation": "one {:.0f}/{:.0f}/{:.0f} random split, not "
                    "grouped".format(*(100 * f for f in settings["split"])),
                    "conditions": paper[name],
                }
            )

    # 3. The leak-free pipeline in grouped CV by patient.
    folds = grouped_folds(target, groups, n_splits, seed)
    # The permuted-label control draws its labels afresh in each fold.
    fold_targets = {"permuted": permuted_fold_targets(target, groups, folds, seed)}
    evaluation = f"{n_splits}-fold StratifiedGroupKFold by patient"
    with timer.stage("grouped CV"):
        # Each variant: how its featurizer starts each fit.
        variants = {"shared": {}}
        if runs["weight transfer"]:
            variants["weight transfer"] = {"warm_start_by_class": True}
        # The task-aware init reads the training folds' labels: it runs the
        # controls too, as it must pass them (None in a preset: not run).
        if settings.get("task_aware"):
            variants["task-aware"] = {"init": "task", **settings["task_aware"]}
        tasks = []
        for variant, extra in variants.items():
            for name in leak_free:
                conditions = CONDITIONS
                transfer = extra.get("warm_start_by_class", False)
                if transfer and not settings["weight_transfer_pipeline_controls"]:
                    conditions = ("images",)
                tasks += [(variant, name, c) for c in conditions]
        cv = {}
        for variant, name, condition in tqdm(tasks, desc="Grouped CV", **bar):
            X, y = inputs[condition]
            featurizer = make_featurizer(
                models[name],
                device=device,
                memory=memory,
                random_state=seed,
                protocol="leak-free",
                **{"init": shared[name], **variants[variant]},
            )
            pipeline = inr_pipeline(featurizer, classifier)
            cv.setdefault((variant, name), {})[condition] = grouped_cv_score(
                pipeline, X, y, folds, fold_targets.get(condition)
            )
        for (variant, name), conditions in cv.items():
            init = "shared init"
            if not isinstance(shared[name], str):
                init += " learned on other patients"
            start = {
                "shared": init,
                "weight transfer": f"{init} + weight transfer in folds",
                "task-aware": "task-aware init (training folds' labels in the loop)",
            }
            scores.append(
                {
                    "key": f"pipeline-{variant.replace(' ', '-')}/{name}",
                    "protocol": f"pipeline ({variant})",
                    "model": name,
                    "label": f"Leak-free pipeline: {models[name]['name']}, "
                    f"{start[variant]}",
                    "evaluation": evaluation,
                    "conditions": {c: conditions.get(c) for c in CONDITIONS},
                }
            )

    # 4. The obvious alternative: a linear model on the pixels.
    with timer.stage("pixel baseline"):
        pixel = {}
        for condition in tqdm(CONDITIONS, desc="Pixel baseline", **bar):
            X, y = inputs[condition]
            pixel[condition] = grouped_cv_score(
                make_pixel_baseline(),
                X.reshape(len(X), -1),
                y,
                folds,
                fold_targets.get(condition),
            )
        scores.append(
            {
                "key": "pixels/logistic",
                "protocol": "pixel baseline",
                "model": "logistic regression",
                "label": "Pixel baseline: logistic regression on raw slices",
                "evaluation": evaluation,
                "conditions": pixel,
            }
        )

    return {
        "reconstruction": reconstruction,
        "scores": scores,
        "figure_data": figure_data,
    }
