"""What a reproduction will fit, counted before any work.

:func:`plan` counts the INR fits each stage of :func:`run_reproduction`
really runs. It replays the stages' fits on cache keys, without fitting: a fit
is keyed by its model, its image and where it starts (the shared init, the
image's own random init, or the theta of the previous fit of a
weight-transfer chain), as the runner's cache keys them, and a key met before
is a cache hit. So it counts what the code runs: the grouped CV's shared-init
pipeline is served by the shared-init fits, the test folds of the
weight-transfer pipeline too (``transform`` starts from the shared init), and
the weight-transfer chains of the training folds are refitted, but for their
heads (which start from the shared init) and for any chain prefix that an
earlier chain already fitted. One Adam step of one image costs about
``6 * n_params * n_pixels`` FLOPs (a forward GEMM and two backward GEMMs per
layer). :mod:`sklearn_inr.experiments._estimate` turns the plan into time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..core._networks import INRSpec
from ._protocols import (
    PROTOCOLS,
    fit_params,
    grouped_folds,
    paper_split,
    permute_within_groups,
    permuted_fold_targets,
    protocol_models,
)

__all__ = [
    "STAGES",
    "Stage",
    "classifier_cost",
    "classifier_weights",
    "flops_per_fit",
    "inr_spec",
    "plan",
]

#: The stages of :func:`run_reproduction` that fit INRs or classifiers, as
#: named in its ``timings``.
STAGES = ("shared-init INRs", "paper protocol", "grouped CV", "pixel baseline")
_CONDITIONS = ("images", "noise", "permuted")


@dataclass(frozen=True)
class Stage:
    """One stage of the reproduction, as :func:`plan` counts it.

    Attributes
    ----------
    name : str
        As in the run's ``timings``.
    fits : int
        INR fits the stage runs (cache hits not counted).
    chained_fits : int
        Of which fits in weight-transfer chains (one image per class at a
        time).
    flops : float
        FLOPs of those INR fits.
    classifier_fits : int
        MLP classifier fits (the pixel baseline's logistic regressions are
        not counted).
    classifier_steps : int
        Their Adam steps: epochs times batches, over all fits.
    classifier_flops : float
        Their FLOPs, roughly: ``6 x samples x epochs x`` the weights of the
        classifier's layers.
    note : str
        What the stage fits, and what the cache serves.
    work : dict
        FLOPs by ``(model key, "batch" or "chain")``, for :func:`estimate`.
    """

    name: str
    fits: int
    chained_fits: int
    flops: float
    classifier_fits: int
    classifier_steps: int
    classifier_flops: float
    note: str
    work: dict = field(default_factory=dict, repr=False)


def inr_spec(model_settings: dict) -> INRSpec:
    """The network of a preset's model entry (one channel: FLAIR)."""
    return INRSpec(
        model_settings["model"],
        hidden_features=model_settings["hidden_features"],
        hidden_layers=model_settings["hidden_layers"],
        omega_0=float(model_settings["omega_0"]),
    )


def flops_per_fit(model_settings: dict, image_shape, protocol="paper") -> float:
    """FLOPs of one INR fit: ``6 * n_params * n_pixels * n_steps``.

    With a ``target_psnr`` (the leak-free fits of the cpu presets),
    ``n_steps`` is a cap: the fits stop earlier, so this is an upper bound.
    """
    n_pixels = math.prod(image_shape)
    steps = fit_params(model_settings, protocol)["n_steps"]
    return 6.0 * inr_spec(model_settings).n_params * n_pixels * steps


def learned_init_flops(model_settings: dict, recipe: dict) -> float:
    """FLOPs of meta-learning a leak-free entry's ``"learned_init"``.

    Reptile runs ``meta_steps x meta_batch_size x inner_steps`` image-steps
    on the calibration slices (``image_size`` squared pixels).
    """
    image_steps = (
        recipe["meta_steps"] * recipe["meta_batch_size"] * recipe["inner_steps"]
    )
    n_pixels = recipe["image_size"] ** 2
    return 6.0 * inr_spec(model_settings).n_params * n_pixels * image_steps


def classifier_weights(settings: dict, n_features: int) -> int:
    sizes = [n_features, *settings["classifier"]["hidden_layer_sizes"], 1]
    return sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


def classifier_cost(settings: dict, n_features: int, n_train: int):
    """Adam steps and FLOPs of one classifier fit on ``n_train`` samples."""
    epochs, batch = (settings["classifier"][k] for k in ("max_epochs", "batch_size"))
    flops = 6.0 * n_train * epochs * classifier_weights(settings, n_features)
    return epochs * -(-n_train // batch), flops


class _Replay:
    """The cache of a run, on keys: counts the fits a sequence of calls runs."""

    def __init__(self):
        self.ids: dict[tuple, int] = {}
        self.fits: dict[tuple, int] = {}  # (model, kind) -> new fits

    def fit(self, model, image, start, kind="batch") -> int:
        """Fit ``image`` (``(source, index)``) from ``start``; its key's id."""
        key = (model, image, start)
        if key not in self.ids:
            self.ids[key] = len(self.ids)
            self.fits[model, kind] = self.fits.get((model, kind), 0) + 1
        return self.ids[key]

    def fit_all(self, model, source, rows, start):
        for row in rows:
            self.fit(model, (source, int(row)), start)

    def chains(self, model, source, rows, labels, head):
        """Weight transfer by class over ``rows`` in order (fit_class_chains).

        A chain's first image starts from ``head`` (``"shared"``: the shared
        init, keyed as the shared-init fits are; ``"random-theta"``: the
        image's own random draw, passed as a theta), each later one from
        the theta of the previous image of its class.
        """
        rows, labels = np.asarray(rows), np.asarray(labels)
        for label in np.unique(labels):
            start = head
            for row in rows[labels == label]:
                start = self.fit(model, (source, int(row)), start, "chain")

    def take(self) -> dict:
        fits, self.fits = self.fits, {}
        return fits


def plan(
    settings: dict,
    n_slices: int,
    image_shape,
    *,
    n_splits: int = 5,
    random_state: int = 0,
    target=None,
    groups=None,
) -> list[Stage]:
    """The INR fits each stage of :func:`run_reproduction` runs, and their FLOPs.

    Counts what the code runs on a fresh cache: the fits the run's cache
    serves (see the module's docstring) are not counted. Fits that diverge
    are not cached, so a run with divergences fits more; a rerun with a
    cache already holding some fits, fewer.

    Parameters
    ----------
    settings : dict
        A preset (:func:`get_preset`).
    n_slices : int
        Slices of the cohort.
    image_shape : tuple of (int, int)
        ``(H, W)`` of the slices as fitted.
    n_splits : int, default=5
        Folds of the grouped cross-validation.
    random_state : int, default=0
        The run's seed: it draws the folds and the label permutation, on
        which the chains' cache hits depend.
    target, groups : array-like of shape (n_slices,), default=None
        Labels and patients of the slices. None: the layout of
        :func:`~sklearn_inr.datasets.load_brats_slices`, one tumour then one
        no-tumour slice per patient.

    Returns
    -------
    stages : list of Stage
        In the order of :data:`STAGES`.

    Examples
    --------
    >>> from sklearn_inr.experiments import get_preset
    >>> from sklearn_inr.experiments._plan import plan
    >>> stages = plan(get_preset("paper"), 150, (240, 240))
    >>> [(s.name, s.fits) for s in stages]  # doctest: +NORMALIZE_WHITESPACE
    [('shared-init INRs', 600), ('paper protocol', 744), ('grouped CV', 3448),
     ('pixel baseline', 0)]
    """
    if target is None or groups is None:
        target = np.arange(n_slices) % 2 == 0
        groups = np.arange(n_slices) // 2
    target, groups = np.asarray(target).astype(int), np.asarray(groups)
    if not len(target) == len(groups) == n_slices:
        raise ValueError(
            f"target and groups must have {n_slices} entries, got {len(target)} "
            f"and {len(groups)}."
        )
    models = settings["models"]
    # Fits are replayed by (model, protocol): the two protocols' settings
    # differ (e.g. a fidelity for the leak-free fits), so do their cache keys.
    runs = protocol_models(settings)
    leak_free = runs["leak-free"]
    flops = {
        (name, protocol): flops_per_fit(models[name], image_shape, protocol)
        for name in models
        for protocol in PROTOCOLS
        if protocol == "paper" or name in leak_free
    }
    n_features = {name: inr_spec(models[name]).n_params for name in models}
    labels = {
        "images": target,
        "noise": target,
        "permuted": permute_within_groups(target, groups, random_state),
    }
    # The permuted-label control fits the real slices.
    source = {"images": "images", "noise": "noise", "permuted": "images"}
    every = np.arange(n_slices)
    replay = _Replay()
    stages = []

    def stage(name, note, classifiers=(), extra_work=None):
        """Close a stage; ``classifiers``: ``(model, n_train)`` of each fit;
        ``extra_work``: FLOPs by (model, kind) beyond the INR fits."""
        fits = replay.take()
        costs = [classifier_cost(settings, n_features[m], n) for m, n in classifiers]
        # Work by (model, kind): both protocols train the same network.
        work = dict(extra_work or {})
        for (model, kind), n in fits.items():
            key = (model[0], kind)
            work[key] = work.get(key, 0.0) + n * flops[model]
        stages.append(
            Stage(
                name=name,
                fits=sum(fits.values()),
                chained_fits=sum(n for (_, kind), n in fits.items() if kind == "chain"),
                flops=float(sum(work.values())),
                classifier_fits=len(costs),
                classifier_steps=int(sum(steps for steps, _ in costs)),
                classifier_flops=float(sum(flops for _, flops in costs)),
                note=note,
                work=work,
            )
        )

    # 1. Shared-init INRs of the slices and of the noise (after learning the
    # shared init on a calibration cohort, for the entries that ask).
    learning = {}
    for name in leak_free:
        recipe = models[name].get("leak_free") or {}
        if recipe.get("learned_init"):
            learning[name] = learned_init_flops(models[name], recipe["learned_init"])
        for condition in ("images", "noise"):
            replay.fit_all((name, "leak-free"), condition, every, "shared")
    names = ", ".join(models[name]["name"] for name in leak_free)
    note = f"{names or 'no model'} x (slices, noise), shared init"
    if learning:
        note += " meta-learned on a calibration cohort first (counted)"
    stage(STAGES[0], note, extra_work={(m, "batch"): f for m, f in learning.items()})

    # 2. The paper protocol: weight-transfer chains (from each chain head's
    # own random draw) or one random init per slice; then one split.
    parts, n_train = [], len(paper_split(n_slices, settings["split"], random_state)[0])
    paper_models = runs["paper"]
    for name in paper_models:
        model = models[name]
        transfer = model["paper_weight_transfer"]
        for condition in _CONDITIONS:
            key = (name, "paper")
            if transfer:
                replay.chains(
                    key, source[condition], every, labels[condition], "random-theta"
                )
            else:
                replay.fit_all(key, source[condition], every, "random")
        parts.append(
            model["name"] + (" chained by class" if transfer else " from random inits")
        )
    stage(
        STAGES[1],
        ", ".join(parts) + " (slices, noise, permuted)" if parts else "not run",
        [(m, n_train) for m in paper_models for _ in _CONDITIONS],
    )

    # 3. The pipelines in grouped CV: training folds through fit_transform
    # (chained by class with weight transfer), test folds through transform
    # (the shared init).
    folds = grouped_folds(target, groups, n_splits, random_state)
    # As the run does: the permuted-label control draws afresh in each fold.
    fold_labels = {c: [labels[c]] * len(folds) for c in _CONDITIONS}
    fold_labels["permuted"] = permuted_fold_targets(target, groups, folds, random_state)
    classifiers, chained = [], 0
    for transfer in (False, True):
        for name in runs["weight transfer"] if transfer else leak_free:
            key = (name, "leak-free")
            conditions = _CONDITIONS
            if transfer and not settings["weight_transfer_pipeline_controls"]:
                conditions = ("images",)
            for condition in conditions:
                for fold, (train_rows, test_rows) in enumerate(folds):
                    if transfer:
                        replay.chains(
                            key,
                            source[condition],
                            train_rows,
                            fold_labels[condition][fold][train_rows],
                            "shared",
                        )
                        chained += 1
                    else:
                        replay.fit_all(key, source[condition], train_rows, "shared")
                    replay.fit_all(key, source[condition], test_rows, "shared")
                    classifiers.append((name, len(train_rows)))
    # The task-aware init is learned in each fold (from its labels), and
    # every slice of the fold, training and test, is fitted from it. Its
    # meta-learning is not counted.
    learned = 0
    if settings.get("task_aware"):
        for name in leak_free:
            for condition in _CONDITIONS:
                for fold, (train_rows, test_rows) in enumerate(folds):
                    start = ("task", condition, fold)
                    rows = np.concatenate([train_rows, test_rows])
                    replay.fit_all((name, "leak-free"), source[condition], rows, start)
                    classifiers.append((name, len(train_rows)))
                    learned += 1
    note = "shared init: all cached; weight transfer: " + (
        f"{chained} training folds chained" if runs["weight transfer"] else "not run"
    )
    if learned:
        note += f"; task-aware: {learned} inits learned (not counted), all refitted"
    stage(STAGES[2], note, classifiers)

    # 4. Logistic regression on the pixels: no INR.
    stage(STAGES[3], "logistic regression on pixels, no INR (not estimated)")
    return stages
