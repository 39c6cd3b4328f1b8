"""The stages of a reproduction: one list that the plan, the estimate and the run walk.

Each stage says which tasks it runs for a preset (:meth:`Stage.tasks`), which
INR fits and classifier fits a task needs, on cache keys
(:meth:`Stage.plan_task`: what :func:`~sklearn_inr.experiments._plan.plan`
counts), and how to run it (:meth:`Stage.run_task`). :func:`run_stages` runs
them all, :func:`~sklearn_inr.experiments._plan.plan` replays them: both walk
:data:`STAGES` and the tasks each stage gives, so they cannot drift apart.
"""

from __future__ import annotations

from contextlib import nullcontext

import numpy as np
from tqdm.auto import tqdm

from ..plotting import weight_space_pca
from ._cnn_stage import CNNBaselineStage
from ._cohort import Cohort, RunState, Stage, Task, mean_std
from ._costs import learned_init_flops
from ._cv_stages import GroupedCVStage, PixelBaselineStage
from ._evaluation import single_split_score
from ._pca_stage import CompressedThetaStage
from ._protocols import (
    CONDITION_SOURCES,
    CONDITIONS,
    cached_learned_init,
    fit_featurizer,
    learned_init,
    make_featurizer,
    reconstruction_scores,
)

__all__ = ["STAGES", "STAGE_NAMES", "Stage", "run_stages"]


def _record_images_fit(state, name, fit, label, featurizer, theta) -> None:
    """Reconstruction scores, loss curves and reconstructions of a fit."""
    scores = reconstruction_scores(featurizer, state.images)
    state.reconstruction[name][fit] = {k: mean_std(v) for k, v in scores.items()}
    state.figure_data["loss"][name, label] = (
        featurizer.history_steps_,
        featurizer.loss_history_,
        featurizer.n_steps_,
    )
    # Every slice rendered, so the figure can show a typical patient.
    state.figure_data["reconstructions"][name, fit] = (
        featurizer.inverse_transform(theta),
        scores["psnr"],
    )


class SharedInitStage(Stage):
    """Shared-init INRs of every slice and of the noise, without labels.

    The cache then serves every fold of the grouped CV (and the test folds
    of the weight-transfer pipeline, which start from the same init). The
    shared init is a draw from the seed, or one learned without labels on a
    calibration cohort (other patients) for entries that ask.
    """

    name, desc = "shared-init INRs", "Shared-init INRs"

    def tasks(self, cohort):
        return [
            Task("shared", name, condition)
            for name in cohort.runs["leak-free"]
            for condition in ("images", "noise")
        ]

    def plan_task(self, cohort, task, replay):
        rows = np.arange(cohort.n_slices)
        replay.fit_all((task.model, "leak-free"), task.condition, rows, "shared")
        return []

    def _recipes(self, cohort) -> dict:
        recipes = {}
        for name in cohort.runs["leak-free"]:
            recipe = (cohort.models[name].get("leak_free") or {}).get("learned_init")
            if recipe:
                recipes[name] = recipe
        return recipes

    def extra_work(self, cohort, cache_dir=None):
        return {
            (name, "batch"): learned_init_flops(cohort.models[name], recipe)
            for name, recipe in self._recipes(cohort).items()
            if cached_learned_init(
                cohort.models[name], random_state=cohort.seed, memory=cache_dir
            )
            is None  # fmt: skip
        }

    def note(self, cohort, tasks):
        names = ", ".join(cohort.models[m]["name"] for m in cohort.runs["leak-free"])
        note = f"{names or 'no model'} x (slices, noise), shared init"
        if self._recipes(cohort):
            note += " meta-learned on a calibration cohort first (counted)"
        return note

    def prepare(self, cohort, state):
        for name in cohort.runs["leak-free"]:
            theta = learned_init(cohort.models[name], random_state=cohort.seed,
                                 memory=state.memory, device=state.device,
                                 verbose=state.verbose)  # fmt: skip
            state.shared[name] = "shared" if theta is None else theta

    def run_task(self, cohort, state, task):
        name, condition = task.model, task.condition
        featurizer = make_featurizer(
            cohort.models[name],
            device=state.device,
            memory=state.memory,
            random_state=cohort.seed,
            protocol="leak-free",
            init=state.shared[name],
            verbose=state.verbose,  # a bar per set of fits: minutes at 240 x 240
        )
        theta = fit_featurizer(featurizer, state.inputs[condition][0])
        state.figure_data["weight_space"][name, "shared", condition] = weight_space_pca(
            theta, random_state=cohort.seed
        )
        if condition == "images":
            # A fit that stops at its target keeps its last loss after.
            target_psnr = featurizer.target_psnr
            label = "shared init" + (
                f" (each slice stops at {target_psnr:g} dB)" if target_psnr else ""
            )
            _record_images_fit(state, name, "shared", label, featurizer, theta)


class PaperStage(Stage):
    """The paper protocol: INRs of all slices, then one random 80/10/10 split.

    Weight transfer by class for the models that used it, each chain
    starting from a fresh network as a new nn.Module would; a random init
    per slice for the others. A preset may leave it out (cpu-240: it is the
    cpu preset's job); it is then neither run nor timed.
    """

    name, desc, always_timed = "paper protocol", "Paper protocol", False

    def tasks(self, cohort):
        return [
            Task("paper", name, condition)
            for name in cohort.runs["paper"]
            for condition in CONDITIONS
        ]

    def plan_task(self, cohort, task, replay):
        key, source = (task.model, "paper"), CONDITION_SOURCES[task.condition]
        rows = np.arange(cohort.n_slices)
        if cohort.models[task.model]["paper_weight_transfer"]:
            labels = cohort.labels[task.condition]
            replay.chains(key, source, rows, labels, "random-theta")
        else:
            replay.fit_all(key, source, rows, "random")
        return [(task.model, len(cohort.split[0]))]

    def note(self, cohort, tasks):
        parts = [
            cohort.models[name]["name"]
            + (
                " chained by class"
                if cohort.models[name]["paper_weight_transfer"]
                else " from random inits"
            )
            for name in cohort.runs["paper"]
        ]
        return ", ".join(parts) + " (slices, noise, permuted)" if parts else "not run"

    def run_task(self, cohort, state, task):
        name, condition = task.model, task.condition
        X, y = state.inputs[condition]
        transfer = cohort.models[name]["paper_weight_transfer"]
        featurizer = make_featurizer(
            cohort.models[name],
            device=state.device,
            memory=state.memory,
            random_state=cohort.seed,
            init="random",
            warm_start_by_class=transfer,
            verbose=state.verbose,
        )
        theta = fit_featurizer(featurizer, X, y if transfer else None)
        state.results.setdefault(self.name, {})[task] = single_split_score(
            state.classifier, theta, y, cohort.split
        )
        if condition != "permuted":
            state.figure_data["weight_space"][name, "paper", condition] = (
                weight_space_pca(theta, random_state=cohort.seed)
            )
        if condition == "images":
            fit = "weight transfer" if transfer else "fresh init per slice"
            label = f"paper protocol ({fit})"
            _record_images_fit(state, name, "paper", label, featurizer, theta)

    def finish(self, cohort, state):
        results = state.results.get(self.name, {})
        evaluation = "one {:.0f}/{:.0f}/{:.0f} random split, not grouped".format(
            *(100 * f for f in cohort.settings["split"])
        )
        for name in cohort.runs["paper"]:
            model = cohort.models[name]
            state.scores.append(
                {
                    "key": f"paper/{name}",
                    "protocol": "paper",
                    "model": name,
                    "label": "Paper protocol (leaky): "
                    + model["name"]
                    + (" + weight transfer" if model["paper_weight_transfer"] else ""),
                    "evaluation": evaluation,
                    "conditions": {
                        c: results[Task("paper", name, c)] for c in CONDITIONS
                    },
                }
            )


#: The stages of a reproduction, in the order they run.
STAGES: tuple[Stage, ...] = (
    SharedInitStage(),
    PaperStage(),
    GroupedCVStage(),
    CompressedThetaStage(),
    PixelBaselineStage(),
    CNNBaselineStage(),
)
#: Their names, as in the run's ``timings`` and the plan's table.
STAGE_NAMES = tuple(stage.name for stage in STAGES)


def run_stages(
    cohort: Cohort, state: RunState, *, timer, observer=None, done=None
) -> None:
    """Run every stage's tasks in order, each stage timed by ``timer``.

    Parameters
    ----------
    cohort : Cohort
    state : RunState
        Filled with the stages' numbers.
    timer : object
        Its ``stage(name)`` context manager times each stage.
    observer : callable, default=None
        ``observer(stage_name, task)`` returns a context manager entered
        around each task (e.g. to record what each task fits).
    done : callable, default=None
        ``done(stage_name, task)`` is called after each task finishes (the
        run records it in its cache, for the next run's estimate).
    """
    bar = {"disable": state.verbose <= 0, "leave": True}
    for stage in STAGES:
        tasks = stage.tasks(cohort)
        timed = stage.always_timed or bool(tasks)
        with timer.stage(stage.name) if timed else nullcontext():
            stage.prepare(cohort, state)
            for task in tqdm(tasks, desc=stage.desc, **bar):
                with nullcontext() if observer is None else observer(stage.name, task):
                    stage.run_task(cohort, state, task)
                if done is not None:
                    done(stage.name, task)
            stage.finish(cohort, state)
