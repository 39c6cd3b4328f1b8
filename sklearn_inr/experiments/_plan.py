"""What a reproduction will fit, counted before any work.

:func:`plan` walks the stages of :data:`~._stages.STAGES`, the list
:func:`run_reproduction` runs, and replays each task's fits on cache keys,
without fitting: a fit is keyed by its model, its image and where it starts
(the shared init, the image's own random init, or the theta of the previous
fit of a weight-transfer chain), as the runner's cache keys them, and a key
met before is a cache hit. So it counts what the code runs: the grouped CV's
shared-init pipeline is served by the shared-init fits, the test folds of the
weight-transfer pipeline too (``transform`` starts from the shared init), and
the weight-transfer chains of the training folds are refitted, but for their
heads (which start from the shared init) and for any chain prefix that an
earlier chain already fitted. One Adam step of one image costs about
``6 * n_params * n_pixels`` FLOPs (a forward GEMM and two backward GEMMs per
layer). :mod:`sklearn_inr.experiments._estimate` turns the plan into time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._cohort import Cohort
from ._costs import (
    CACHE_HIT_SECONDS,
    classifier_cost,
    classifier_weights,
    flops_per_fit,
    learned_init_flops,
)
from ._progress import fingerprint, is_done, read_done
from ._protocols import fit_params, inr_spec
from ._stages import STAGE_NAMES, STAGES

__all__ = [
    "STAGE_NAMES",
    "StagePlan",
    "classifier_cost",
    "classifier_weights",
    "flops_per_fit",
    "learned_init_flops",
    "plan",
]


@dataclass(frozen=True)
class StagePlan:
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
    classifier_steps : float
        Their Adam steps (epochs times batches, over all fits), in steps of
        the classifier on the largest theta of the preset (what the
        estimate's probe times): a classifier on fewer inputs (compressed
        theta) counts its steps times its share of that one's weights.
    classifier_flops : float
        Their FLOPs, roughly: ``6 x samples x epochs x`` the weights of the
        classifier's layers.
    note : str
        What the stage fits, and what the cache serves.
    work : dict
        FLOPs by ``(model key, "batch" or "chain")``, for :func:`estimate`.
    tasks : tuple of (Task, int)
        Each task of the stage, in the order the run runs them, with the INR
        fits it runs.
    cached_fits : int
        Fits of tasks a previous run with this cache finished (recorded in
        its ``progress.json``): served by the cache, not counted in ``fits``.
    cache_reads : int
        Fits the cache serves (within the run, or from a previous one), each
        a file read.
    fixed_seconds : float
        Seconds of work not measured in FLOPs: the cache reads, the pixel
        baseline's fits, the learned inits' overhead (:mod:`._costs`).
    target_work : dict
        Of ``work``, the FLOPs (at the step cap) of fits of images that stop
        at a ``target_psnr``, by ``(model key, kind)``: :func:`estimate`
        prices them at the probed expected steps. Noise fits never reach a
        target and are not in it.
    unreachable_work : dict
        Of ``work``, the FLOPs (at the step cap) of noise fits that are given
        up on (``stop_unreachable``), by ``(model key, kind)``: priced at
        the probed steps of noise images.
    target_fits : int
        How many fits the two hold.
    """

    name: str
    fits: int
    chained_fits: int
    flops: float
    classifier_fits: int
    classifier_steps: float
    classifier_flops: float
    note: str
    work: dict = field(default_factory=dict, repr=False)
    tasks: tuple = field(default=(), repr=False)
    cached_fits: int = 0
    cache_reads: int = 0
    fixed_seconds: float = 0.0
    target_work: dict = field(default_factory=dict, repr=False)
    unreachable_work: dict = field(default_factory=dict, repr=False)
    target_fits: int = 0


class Replay:
    """The cache of a run, on keys: counts the fits a sequence of calls runs."""

    def __init__(self):
        self.ids: dict[tuple, int] = {}
        self.fits: dict[tuple, int] = {}  # (model, kind, source) -> new fits
        self.hits = 0  # fits a key met before serves (cache reads)

    @property
    def n_fits(self) -> int:
        """Fits counted so far (since the last :meth:`take`)."""
        return sum(self.fits.values())

    def fit(self, model, image, start, kind="batch") -> int:
        """Fit ``image`` (``(source, index)``) from ``start``; its key's id."""
        key = (model, image, start)
        if key in self.ids:
            self.hits += 1
        else:
            self.ids[key] = len(self.ids)
            # By source too: fits of noise never stop at a target PSNR.
            counted = (model, kind, image[0])
            self.fits[counted] = self.fits.get(counted, 0) + 1
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
    cache_dir=None,
) -> list[StagePlan]:
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
    cache_dir : str or path-like, default=None
        The run's cache folder. The tasks a previous run with that cache
        finished, with these settings, slices, folds and seed (its
        ``progress.json``), are counted as done: their fits are cache reads
        (``cached_fits``), not fits. None: a fresh cache.

    Returns
    -------
    stages : list of StagePlan
        In the order of :data:`STAGE_NAMES`.

    Examples
    --------
    >>> from sklearn_inr.experiments import get_preset, plan
    >>> stages = plan(get_preset("paper"), 150, (240, 240))
    >>> [(s.name, s.fits) for s in stages]  # doctest: +NORMALIZE_WHITESPACE
    [('shared-init INRs', 600), ('paper protocol', 744), ('grouped CV', 3448),
     ('compressed theta', 0), ('pixel baseline', 0), ('CNN baseline', 0)]
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
    cohort = Cohort.of(settings, target, groups, n_splits, random_state)
    models = cohort.models
    done = read_done(
        cache_dir,
        fingerprint(settings, n_slices, image_shape, n_splits, random_state),
    )
    replay = Replay()
    stages = []
    for stage in STAGES:
        tasks, classifiers = stage.tasks(cohort), []
        per_task, cached, hits, todo = [], 0, replay.hits, []
        for task in tasks:
            before, counts = replay.n_fits, dict(replay.fits)
            classifiers += stage.plan_task(cohort, task, replay)
            if is_done(done, stage.name, task):
                # Finished by a previous run: its new keys are in the cache.
                for kind, n in replay.fits.items():
                    new = n - counts.get(kind, 0)
                    replay.fits[kind], cached = n - new, cached + new
                    replay.hits += new
            else:
                todo.append(task)
            per_task.append((task, replay.n_fits - before))
        fits = replay.take()
        costs = _classifier_costs(settings, classifiers)
        # Work by (model, kind): both protocols train the same network. Fits
        # are replayed by (model, protocol): the two protocols' settings
        # differ (e.g. a fidelity for the leak-free fits), so do their keys.
        work = dict(stage.extra_work(cohort, cache_dir))
        target_work, target_fits = {}, 0
        unreachable_work = {}
        for (model, kind, source), n in fits.items():
            name, protocol = model
            flops = flops_per_fit(models[name], image_shape, protocol)
            work[name, kind] = work.get((name, kind), 0.0) + n * flops
            params = fit_params(models[name], protocol)
            if not params["target_psnr"]:
                continue
            if source != "noise":
                target_work[name, kind] = target_work.get((name, kind), 0.0) + n * flops
            elif params["stop_unreachable"]:
                unreachable_work[name, kind] = (
                    unreachable_work.get((name, kind), 0.0) + n * flops
                )
            else:
                continue
            target_fits += n
        stages.append(
            StagePlan(
                name=stage.name,
                fits=sum(fits.values()),
                chained_fits=sum(
                    n for (_, kind, _), n in fits.items() if kind == "chain"
                ),
                flops=float(sum(work.values())),
                classifier_fits=len(costs),
                classifier_steps=float(sum(steps for steps, _ in costs)),
                classifier_flops=float(sum(flops for _, flops in costs)),
                note=stage.note(cohort, tasks),
                work=work,
                tasks=tuple(per_task),
                cached_fits=cached,
                cache_reads=replay.hits - hits,
                fixed_seconds=(replay.hits - hits) * CACHE_HIT_SECONDS
                + stage.extra_seconds(cohort, image_shape, todo),
                target_work=target_work,
                unreachable_work=unreachable_work,
                target_fits=target_fits,
            )
        )
    return stages


def _classifier_costs(settings: dict, classifiers) -> list[tuple[float, float]]:
    """``(steps, FLOPs)`` of each classifier fit a stage's tasks listed.

    An entry is ``(model, n_train)`` (the classifier reads the model's
    theta) or ``(model, n_train, n_features)``. Steps are counted in steps
    of the classifier on the preset's largest theta, the one the estimate's
    probe times (:func:`~._estimate.probe_throughput`).
    """
    models = settings["models"]
    probed = classifier_weights(
        settings, max(inr_spec(model).n_params for model in models.values())
    )
    costs = []
    for model, n_train, *n_features in classifiers:
        n_inputs = n_features[0] if n_features else inr_spec(models[model]).n_params
        steps, flops = classifier_cost(settings, n_inputs, n_train)
        costs.append((steps * classifier_weights(settings, n_inputs) / probed, flops))
    return costs
