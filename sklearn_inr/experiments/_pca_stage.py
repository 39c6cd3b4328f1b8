"""The compressed-theta stage: the leak-free pipeline with PCA on theta.

The paper's future work asks for "PCA or GNN-based techniques for theta
feature compression". This stage measures the PCA half on the paper's task:
for each leak-free model, the shared-init pipeline of
:class:`~._cv_stages.GroupedCVStage` (the same featurizer, the same init, the
same cache: it refits no INR) with ``StandardScaler -> PCA -> classifier``
after it, in the same grouped folds and with the same controls (noise
images, per-fold permuted labels). PCA is a step of the pipeline, so it is
fitted on each training fold only and the test fold goes through its
``transform``.

A preset configures it under ``"theta_pca"``: a dict with ``n_components``
(a positive int), or ``None`` / ``False`` / absent to leave it out. A
training fold of ``n`` slices gives PCA at most ``n`` components (and theta
of ``p`` entries at most ``p``): a larger ``n_components`` is clipped to the
smallest training fold (and to ``p``), and the row's label says so.
"""

from __future__ import annotations

import numbers
from dataclasses import replace

from sklearn.decomposition import PCA
from sklearn.pipeline import Pipeline

from ._cohort import Task
from ._cv_stages import GroupedCVStage
from ._protocols import CONDITIONS, inr_spec

__all__ = ["CompressedThetaStage", "pca_components", "pca_params"]

_KEYS = ("n_components",)


def pca_params(cohort) -> dict | None:
    """The preset's ``"theta_pca"`` entry, checked; None: not run."""
    params = cohort.settings.get("theta_pca")
    if params is None or params is False:
        return None
    if not isinstance(params, dict) or set(params) != set(_KEYS):
        raise ValueError(
            f"The preset's 'theta_pca' must be a dict with the key 'n_components' "
            f"only, or None to leave the compressed-theta row out; got {params!r}."
        )
    k = params["n_components"]
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(
            f"theta_pca['n_components'] must be a positive int (the number of "
            f"PCA components theta is compressed to), got {k!r}. Give e.g. 16."
        )
    return {"n_components": int(k)}


def pca_components(cohort, model: str) -> int:
    """The components PCA keeps for ``model``'s theta in every fold.

    The preset's ``n_components``, at most the slices of the smallest
    training fold and the entries of theta (PCA finds no more). One number
    for all folds, so that every fold classifies the same number of
    features and the row's label states it.
    """
    smallest = min(len(train) for train, _ in cohort.folds)
    n_theta = inr_spec(cohort.models[model]).n_params
    return min(pca_params(cohort)["n_components"], smallest, n_theta)


class CompressedThetaStage(GroupedCVStage):
    """The shared-init leak-free pipeline with theta compressed by PCA.

    Everything but the classifier is :class:`GroupedCVStage`'s ``"shared"``
    variant: its tasks' fits (replayed by the plan as cache reads of the
    first stage's fits), its featurizer and folds, its row (re-keyed
    ``"pipeline-pca/<model>"``, protocol ``"pipeline (compressed)"``).
    """

    name, desc = "compressed theta", "Compressed theta"
    # Absent from the timings when the preset leaves it out.
    always_timed = False

    @staticmethod
    def variants(cohort) -> dict:
        return {"shared": {}}

    def tasks(self, cohort):
        if pca_params(cohort) is None:
            return []
        return [
            Task("shared", name, condition)
            for name in cohort.runs["leak-free"]
            for condition in CONDITIONS
        ]

    def note(self, cohort, tasks):
        if pca_params(cohort) is None:
            return "not run"
        ks = sorted({pca_components(cohort, name) for name in cohort.runs["leak-free"]})
        return (
            "shared init: all cached; StandardScaler -> PCA("
            + "/".join(map(str, ks))
            + ") -> classifier, PCA fitted in each training fold"
        )

    def plan_task(self, cohort, task, replay):
        # The shared variant's fits; its classifiers read k components.
        k = pca_components(cohort, task.model)
        return [
            (model, n_train, k)
            for model, n_train in super().plan_task(cohort, task, replay)
        ]

    def run_task(self, cohort, state, task):
        # The shared variant's run, with PCA before the classifier's last
        # step (after its StandardScaler). The copy shares state.results.
        steps = state.classifier.steps
        pca = PCA(
            n_components=pca_components(cohort, task.model), random_state=cohort.seed
        )
        classifier = Pipeline([*steps[:-1], ("pca", pca), steps[-1]])
        super().run_task(cohort, replace(state, classifier=classifier), task)

    def finish(self, cohort, state):
        first = len(state.scores)
        super().finish(cohort, state)
        asked = (pca_params(cohort) or {}).get("n_components")
        for row in state.scores[first:]:
            k = pca_components(cohort, row["model"])
            label = f"{row['label']}, theta compressed to {k} PCA components"
            if k < asked:
                label += (
                    f" ({asked} asked; PCA keeps at most the smallest training "
                    "fold's slices and theta's entries)"
                )
            row.update(
                key=f"pipeline-pca/{row['model']}",
                protocol="pipeline (compressed)",
                label=label,
            )
