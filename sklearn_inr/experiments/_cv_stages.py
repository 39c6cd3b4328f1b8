"""The stages that classify in grouped CV: leak-free pipeline, pixel baseline."""

from __future__ import annotations

import math

import numpy as np

from ._cohort import Stage, Task
from ._costs import LEARNED_INIT_SECONDS, pixel_fit_seconds
from ._evaluation import grouped_cv_score, inr_pipeline
from ._protocols import (
    CONDITION_SOURCES,
    CONDITIONS,
    make_featurizer,
    make_pixel_baseline,
)

__all__ = ["GroupedCVStage", "PixelBaselineStage"]


class GroupedCVStage(Stage):
    """The leak-free pipeline in grouped CV by patient, in up to three variants.

    ``"shared"``: every fit from the shared init (all served by the first
    stage's cache). ``"weight transfer"``: the training folds chained by
    class inside ``fit_transform`` (labels of training folds only; test folds
    go through ``transform``, from the shared init). ``"task-aware"``: an init
    learned in each fold from its labels (not counted), every slice refitted
    from it; it runs the controls too, as it must pass them.
    """

    name, desc = "grouped CV", "Grouped CV"

    @staticmethod
    def variants(cohort) -> dict:
        """Each variant: how its featurizer starts each fit."""
        variants = {"shared": {}}
        if cohort.runs["weight transfer"]:
            variants["weight transfer"] = {"warm_start_by_class": True}
        if cohort.settings.get("task_aware"):
            variants["task-aware"] = {"init": "task", **cohort.settings["task_aware"]}
        return variants

    def tasks(self, cohort):
        tasks = []
        for variant in self.variants(cohort):
            for name in cohort.runs["leak-free"]:
                conditions = CONDITIONS
                if (
                    variant == "weight transfer"
                    and not cohort.settings["weight_transfer_pipeline_controls"]
                ):
                    conditions = ("images",)
                tasks += [Task(variant, name, c) for c in conditions]
        return tasks

    def plan_task(self, cohort, task, replay):
        key, source = (task.model, "leak-free"), CONDITION_SOURCES[task.condition]
        classifiers = []
        for fold, (train, test) in enumerate(cohort.folds):
            if task.variant == "weight transfer":
                labels = cohort.fold_labels(task.condition, fold)[train]
                replay.chains(key, source, train, labels, "shared")
            elif task.variant == "task-aware":
                start = ("task", task.condition, fold)
                replay.fit_all(key, source, np.concatenate([train, test]), start)
            else:
                replay.fit_all(key, source, train, "shared")
            if task.variant != "task-aware":
                replay.fit_all(key, source, test, "shared")
            classifiers.append((task.model, len(train)))
        return classifiers

    def extra_seconds(self, cohort, image_shape, tasks):
        # A finished task's learned inits are in the cache: only the others.
        learned = sum(t.variant == "task-aware" for t in tasks)
        return learned * len(cohort.folds) * LEARNED_INIT_SECONDS

    def note(self, cohort, tasks):
        n_folds = len(cohort.folds)
        chained = n_folds * sum(t.variant == "weight transfer" for t in tasks)
        learned = n_folds * sum(t.variant == "task-aware" for t in tasks)
        note = "shared init: all cached; weight transfer: " + (
            f"{chained} training folds chained"
            if cohort.runs["weight transfer"]
            else "not run"
        )
        if learned:
            note += f"; task-aware: {learned} inits learned, all refitted"
        return note

    def run_task(self, cohort, state, task):
        name, condition = task.model, task.condition
        X, y = state.inputs[condition]
        featurizer = make_featurizer(
            cohort.models[name],
            device=state.device,
            memory=state.memory,
            random_state=cohort.seed,
            protocol="leak-free",
            **{"init": state.shared[name], **self.variants(cohort)[task.variant]},
        )
        pipeline = inr_pipeline(featurizer, state.classifier)
        state.results.setdefault(self.name, {})[task] = grouped_cv_score(
            pipeline, X, y, cohort.folds, cohort.fold_targets.get(condition)
        )

    def finish(self, cohort, state):
        rows = {}
        for task, score in state.results.get(self.name, {}).items():
            rows.setdefault((task.variant, task.model), {})[task.condition] = score
        for (variant, name), conditions in rows.items():
            init = "shared init"
            if not isinstance(state.shared[name], str):
                init += " learned on other patients"
            start = {
                "shared": init,
                "weight transfer": f"{init} + weight transfer in folds",
                "task-aware": "task-aware init (training folds' labels in the loop)",
            }
            state.scores.append(
                {
                    "key": f"pipeline-{variant.replace(' ', '-')}/{name}",
                    "protocol": f"pipeline ({variant})",
                    "model": name,
                    "label": f"Leak-free pipeline: {cohort.models[name]['name']}, "
                    f"{start[variant]}",
                    "evaluation": cohort.cv_evaluation,
                    "conditions": {c: conditions.get(c) for c in CONDITIONS},
                }
            )


class PixelBaselineStage(Stage):
    """The obvious alternative: a linear model on the pixels, same folds; no INR.

    A model of the raw slices in the grouped CV, with both controls, and one
    row of the report. A subclass changes :meth:`estimator`, :meth:`inputs`
    and :attr:`row` (the CNN baseline).
    """

    name, desc = "pixel baseline", "Pixel baseline"
    #: The row's key, model and label in the report.
    row = {
        "key": "pixels/logistic",
        "model": "logistic regression",
        "label": "Pixel baseline: logistic regression on raw slices",
    }

    def tasks(self, cohort):
        return [Task("pixels", "logistic", condition) for condition in CONDITIONS]

    def extra_seconds(self, cohort, image_shape, tasks):
        # Not cached: every task refits, finished before or not.
        n_pixels = math.prod(image_shape)
        fits = [pixel_fit_seconds(len(train), n_pixels) for train, _ in cohort.folds]
        return len(self.tasks(cohort)) * sum(fits)

    def note(self, cohort, tasks):
        return "logistic regression on pixels, no INR"

    def estimator(self, cohort, state):
        """The unfitted model, cloned in each fold."""
        return make_pixel_baseline()

    def inputs(self, X):
        """What the model reads of the slices: here one row of pixels each."""
        return X.reshape(len(X), -1)

    def run_task(self, cohort, state, task):
        X, y = state.inputs[task.condition]
        state.results.setdefault(self.name, {})[task] = grouped_cv_score(
            self.estimator(cohort, state),
            self.inputs(X),
            y,
            cohort.folds,
            cohort.fold_targets.get(task.condition),
        )

    def finish(self, cohort, state):
        results = state.results.get(self.name, {})
        if not results:  # left out by the preset
            return
        state.scores.append(
            {
                **self.row,
                "protocol": "pixel baseline",
                "evaluation": cohort.cv_evaluation,
                "conditions": {task.condition: s for task, s in results.items()},
            }
        )
