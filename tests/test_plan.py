"""What a reproduction will fit, counted before any work (experiments/_plan.py),
walking the stages the run runs (experiments/_stages.py)."""

import contextlib
import functools

import numpy as np
import pytest
from conftest import make_toy_cohort

from sklearn_inr.experiments import (
    STAGE_NAMES,
    STAGES,
    _reproduce,
    estimate,
    get_preset,
    plan,
    run_reproduction,
)
from sklearn_inr.experiments._costs import flops_per_fit, learned_init_flops
from sklearn_inr.experiments._stages import run_stages


def test_the_plan_and_the_run_walk_the_same_stages_and_fits(
    tmp_path, fit_counter, monkeypatch
):
    # The run records, task by task, the images the runner really trains
    # (cache hits never reach it); the plan must have walked the same stages
    # and tasks in the same order and counted the same fits for each, cache
    # included: the shared-init fits serving the grouped CV, the chain heads
    # and the chain prefixes already fitted, the permuted labels' reuse of
    # the slices' random-init fits, the task-aware refits.
    images, target, groups = make_toy_cohort(7)
    ran = []

    @contextlib.contextmanager
    def record(stage, task):
        before = fit_counter["images"]
        yield
        ran.append((stage, task, fit_counter["images"] - before))

    monkeypatch.setattr(
        _reproduce, "run_stages", functools.partial(run_stages, observer=record)
    )
    settings = get_preset("tiny")
    results = run_reproduction(
        images,
        target,
        groups,
        settings=settings,
        out_dir=tmp_path / "out",
        cache_dir=tmp_path / "cache",
        n_splits=3,
        random_state=1,
        device="cpu",
        verbose=0,
    )
    stages = plan(settings, len(images), (8, 8), n_splits=3, random_state=1)
    planned = [(s.name, task, fits) for s in stages for task, fits in s.tasks]
    assert planned == ran
    assert [s.name for s in stages] == list(STAGE_NAMES)
    assert STAGE_NAMES == tuple(stage.name for stage in STAGES)
    assert set(STAGE_NAMES) <= set(results["timings"])
    # Every stage, variant and condition of the tiny preset ran.
    assert {stage for stage, _, _ in ran} == set(STAGE_NAMES)
    assert {task.variant for _, task, _ in ran} == {
        "shared", "paper", "weight transfer", "task-aware", "pixels"
    }  # fmt: skip
    for s in stages:
        assert s.fits == sum(fits for _, fits in s.tasks)
    assert sum(s.fits for s in stages) == fit_counter["images"]
    # Given explicitly, the same labels and patients give the same plan.
    explicit = plan(
        settings, len(images), (8, 8), n_splits=3, random_state=1,
        target=target, groups=groups,
    )  # fmt: skip
    assert [s.tasks for s in explicit] == [s.tasks for s in stages]
    # The cache did serve fits: without it the run would fit far more.
    assert stages[2].fits < 3 * 2 * 3 * 3 * len(images)
    # Compressed theta reads the cache; the pixel baselines fit no INR.
    assert stages[3].fits == stages[4].fits == stages[5].fits == 0
    # The rows of the results are the stages' tasks, grouped.
    keys = [row["key"] for row in results["scores"]]
    assert keys == [
        "paper/siren", "paper/relu", "pipeline-shared/siren",
        "pipeline-shared/relu", "pipeline-weight-transfer/siren",
        "pipeline-weight-transfer/relu", "pipeline-task-aware/siren",
        "pipeline-task-aware/relu", "pipeline-pca/siren", "pipeline-pca/relu",
        "pixels/logistic", "pixels/cnn",
    ]  # fmt: skip
    # Issue 24: a rerun on this cache fits nothing; its plan says so (the run
    # recorded its finished tasks there), and its estimate is far below the
    # fresh one (cache reads, classifiers and figures only).
    rerun = plan(settings, len(images), (8, 8), n_splits=3, random_state=1,
                 cache_dir=tmp_path / "cache")  # fmt: skip
    assert sum(s.fits for s in rerun) == 0
    assert [s.cached_fits for s in rerun] == [s.fits for s in stages]
    assert sum(s.cache_reads for s in rerun) > sum(s.cache_reads for s in stages)
    slow = 1e6  # FLOP/s: INR fits dominate a fresh run's estimate
    fresh, cached = estimate(stages, slow), estimate(rerun, slow)
    assert cached["total"] < fresh["total"] / 3
    # Another seed has nothing recorded: priced in full.
    other = plan(settings, len(images), (8, 8), n_splits=3, random_state=2,
                 cache_dir=tmp_path / "cache")  # fmt: skip
    assert sum(s.cached_fits for s in other) == 0


def test_plan_of_the_paper_preset():
    settings = get_preset("paper")
    stages = {s.name: s for s in plan(settings, 150, (240, 240))}
    per_fit = flops_per_fit(settings["models"]["siren"], (240, 240))
    assert per_fit == 6.0 * 264_193 * 240 * 240 * 1000
    shared = stages["shared-init INRs"]
    assert (shared.fits, shared.chained_fits) == (600, 0)
    assert shared.flops == 600 * per_fit
    # SmallMLP_INR: slices and noise; TinySIREN: three chains, less the
    # prefixes the permuted labels share with the true ones.
    paper = stages["paper protocol"]
    assert 2 * 150 + 2 * 150 < paper.fits <= 2 * 150 + 3 * 150
    assert paper.chained_fits == paper.fits - 2 * 150
    # Only the weight-transfer chains of the training folds are fitted.
    cv = stages["grouped CV"]
    assert cv.chained_fits == cv.fits
    assert cv.fits < 2 * 3 * 5 * 120
    assert cv.classifier_fits == 2 * 2 * 3 * 5
    assert stages["paper protocol"].classifier_fits == 6


def test_plan_follows_the_settings():
    settings = get_preset("paper")
    settings["weight_transfer_pipeline_controls"] = False
    fewer = {s.name: s.fits for s in plan(settings, 150, (240, 240))}
    full = {s.name: s.fits for s in plan(get_preset("paper"), 150, (240, 240))}
    assert fewer["grouped CV"] < full["grouped CV"] / 2
    assert fewer["shared-init INRs"] == full["shared-init INRs"]
    with pytest.raises(ValueError, match="150 entries"):
        plan(settings, 150, (240, 240), target=np.zeros(10), groups=np.zeros(10))


def test_plan_of_the_cpu_240_preset_counts_its_learned_init():
    settings = get_preset("cpu-240")
    stages = {s.name: s for s in plan(settings, 150, (240, 240))}
    assert stages["paper protocol"].fits == stages["grouped CV"].fits == 0
    assert stages["paper protocol"].note == "not run"
    assert stages["shared-init INRs"].fits == 300  # slices and noise
    siren = settings["models"]["siren"]
    recipe = siren["leak_free"]["learned_init"]
    learning = learned_init_flops(siren, recipe)
    assert learning == 6.0 * 12_737 * 64 * 64 * 100 * 8 * 10
    fits = 300 * flops_per_fit(siren, (240, 240), "leak-free")
    assert stages["shared-init INRs"].flops == pytest.approx(fits + learning)


def test_plan_marks_the_fits_of_images_that_stop_at_a_target():
    settings = get_preset("cpu")
    stages = {s.name: s for s in plan(settings, 80, (64, 64))}
    shared = stages["shared-init INRs"]
    # TinySIREN's slices stop at 38 dB; its noise fits never do.
    assert shared.fits == 160 and shared.target_fits == 80
    assert shared.target_work["siren", "batch"] == pytest.approx(
        80 * flops_per_fit(settings["models"]["siren"], (64, 64), "leak-free")
    )
    # Weight-transfer chains of the slices: to the target too.
    cv = stages["grouped CV"]
    assert cv.target_fits == cv.fits > 0 and set(cv.target_work) == {("siren", "chain")}
    # The paper protocol has no target: nothing to price at expected steps.
    assert stages["paper protocol"].target_fits == 0
    assert stages["paper protocol"].target_work == {}
