"""What every stage of a reproduction reads, and the interface of a stage.

:class:`Cohort` is built once from a preset, the labels and the patients, by
the plan (which has no images) and by the run alike, so both see the same
folds, the same permuted labels and the same split. :class:`RunState` adds
what only the run has: the images, the estimators and what the stages
produce.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._evaluation import (
    grouped_folds,
    noise_images,
    paper_split,
    permute_labels,
    permuted_fold_targets,
)
from ._protocols import CONDITION_SOURCES, CONDITIONS, protocol_models

__all__ = ["Cohort", "RunState", "Stage", "Task", "mean_std"]


@dataclass(frozen=True)
class Task:
    """One unit of a stage's work: one model (or baseline) on one condition.

    Attributes
    ----------
    variant : str
        How the fits start, e.g. ``"shared"``, ``"paper"``,
        ``"weight transfer"``.
    model : str
        The preset's model key (``"siren"``), or the baseline's name.
    condition : {"images", "noise", "permuted"}
    """

    variant: str
    model: str
    condition: str


@dataclass(frozen=True)
class Cohort:
    """A preset, the labels and patients of its slices, and what they decide.

    Use :meth:`of`; the plan and the run both do.
    """

    settings: dict
    target: np.ndarray
    groups: np.ndarray
    n_splits: int
    seed: int
    runs: dict
    labels: dict
    folds: list
    fold_targets: dict
    split: tuple

    @classmethod
    def of(cls, settings, target, groups, n_splits: int, seed: int) -> Cohort:
        """Draw the permuted labels, the grouped folds and the paper's split."""
        target, groups = np.asarray(target), np.asarray(groups)
        # The permuted-label control of the paper split: one draw (within
        # patients, or across them where each patient holds one label).
        labels = {
            "images": target,
            "noise": target,
            "permuted": permute_labels(target, groups, seed),
        }
        folds = grouped_folds(target, groups, n_splits, seed)
        # The grouped CV's permuted-label control draws afresh in each fold.
        fold_targets = {"permuted": permuted_fold_targets(target, groups, folds, seed)}
        return cls(
            settings=settings,
            target=target,
            groups=groups,
            n_splits=n_splits,
            seed=seed,
            runs=protocol_models(settings),
            labels=labels,
            folds=folds,
            fold_targets=fold_targets,
            split=paper_split(len(target), settings["split"], seed),
        )

    @property
    def models(self) -> dict:
        return self.settings["models"]

    @property
    def n_slices(self) -> int:
        return len(self.target)

    @property
    def cv_evaluation(self) -> str:
        """How every grouped-CV row is evaluated, as the report says it."""
        return f"{self.n_splits}-fold StratifiedGroupKFold by patient"

    def fold_labels(self, condition: str, fold: int) -> np.ndarray:
        """The labels a grouped-CV fold trains and scores ``condition`` on."""
        if condition in self.fold_targets:
            return self.fold_targets[condition][fold]
        return self.labels[condition]


@dataclass
class RunState:
    """What the run has beyond the cohort, and what its stages produce.

    Attributes
    ----------
    inputs : dict
        ``(X, y)`` of each condition.
    shared : dict
        The shared init of each leak-free model: ``"shared"`` or a theta
        learned on a calibration cohort (set by the first stage).
    reconstruction, figure_data, scores, results
        Filled by the stages: per-slice reconstruction scores, what the
        figures need, the rows of the summary, and each stage's scores by
        task.
    """

    images: np.ndarray
    device: str
    memory: str
    verbose: int
    classifier: object
    inputs: dict = field(default_factory=dict)
    shared: dict = field(default_factory=dict)
    reconstruction: dict = field(default_factory=dict)
    figure_data: dict = field(default_factory=dict)
    scores: list = field(default_factory=list)
    results: dict = field(default_factory=dict)

    @classmethod
    def of(cls, cohort: Cohort, images, **kwargs) -> RunState:
        """The inputs of each condition, and what the figures need."""
        state = cls(images, **kwargs)
        sources = {"images": images, "noise": noise_images(images, cohort.seed)}
        state.inputs = {
            c: (sources[CONDITION_SOURCES[c]], cohort.labels[c]) for c in CONDITIONS
        }
        models = cohort.models
        state.reconstruction = {name: {} for name in models}
        # What the figures need, kept small: every slice's reconstruction
        # (an image each, smaller than its theta) and per-slice PSNR, to show
        # a typical patient; theta of every slice only as its 2-D PCA (all of
        # it could be GBs).
        state.figure_data = {
            "loss": {},
            "reconstructions": {},
            "weight_space": {},
            "models": {name: models[name]["name"] for name in models},
            "target": cohort.target,
            "groups": cohort.groups,
            "images": images,
        }
        return state


def mean_std(values) -> dict:
    """Mean, spread, median and 10th percentile of a per-slice score."""
    values = np.asarray(values, dtype=float)
    return {
        "mean": float(np.mean(values)),
        "std": float(np.std(values)),
        "median": float(np.median(values)),
        "p10": float(np.percentile(values, 10)),
    }


class Stage:
    """One stage of the reproduction, timed under :attr:`name`.

    Subclasses give its tasks, the fits of each task (for the plan) and how
    to run each task (for the run).
    """

    #: As in the run's ``timings`` and the plan's table.
    name = ""
    #: The progress bar's label.
    desc = ""
    #: Timed even when it has no task (a stage with none is skipped silently).
    always_timed = True

    def tasks(self, cohort: Cohort) -> list[Task]:
        """The tasks this stage runs for ``cohort``'s preset, in order."""
        raise NotImplementedError

    def plan_task(self, cohort: Cohort, task: Task, replay) -> list:
        """Replay ``task``'s INR fits on ``replay``; its classifier fits.

        Returns ``(model, n_train)`` of each MLP classifier the task fits,
        or ``(model, n_train, n_features)`` when it reads fewer numbers than
        the model's theta (compressed theta).
        """
        return []

    def extra_work(self, cohort: Cohort, cache_dir=None) -> dict:
        """FLOPs by ``(model, kind)`` beyond the INR fits (learned inits not
        in the cache ``cache_dir``)."""
        return {}

    def extra_seconds(self, cohort: Cohort, image_shape, tasks: list) -> float:
        """Seconds of work that FLOPs do not measure (see :mod:`._costs`),
        for ``tasks`` (those no previous run finished)."""
        return 0.0

    def note(self, cohort: Cohort, tasks: list[Task]) -> str:
        """What the stage fits, and what the cache serves (the plan's table)."""
        raise NotImplementedError

    def prepare(self, cohort: Cohort, state: RunState) -> None:
        """Run-only work before the tasks, timed with them."""

    def run_task(self, cohort: Cohort, state: RunState, task: Task) -> None:
        raise NotImplementedError

    def finish(self, cohort: Cohort, state: RunState) -> None:
        """Add the stage's rows to ``state.scores``."""
